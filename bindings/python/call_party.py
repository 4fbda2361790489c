#!/usr/bin/env python3
"""A video call through the Python binding, one party per process:

    call_party.py callee HOST PORT NAME
    call_party.py caller HOST PORT NAME CALLEE_ID

The callee prints ``userid N`` once logged in; the caller needs that id.
Exit code 0 on success; 1 with a message on stderr on a failure or a
timeout (20 s for the whole run).
"""

import ctypes
import os
import queue
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anychat as ac  # noqa: E402

LIMIT = 20.0
START = time.monotonic()
events = queue.Queue()
backlog = []
role = "?"


def say(s):
    print(s, flush=True)


def fail(why):
    print(f"call_party {role}: FAILED: {why}", file=sys.stderr, flush=True)
    os._exit(1)  # also from a callback thread


def check(ok, what):
    if not ok:
        fail(what)


def ret(what, code):
    say(f"ret {what} {code}")
    check(code == 0, f"{what} returned {code}")


# ---- callbacks (SDK network thread)


def on_notify(msg, wparam, lparam, _user):
    events.put(("notify", msg, wparam, lparam))


def on_call(event, user, code, flags, param, user_str, _user_value):
    if role == "callee" and event == ac.BRAC_VIDEOCALL_EVENT_REQUEST:
        # Accept from inside the callback, as vendor apps do.
        r = ac.video_call_control(ac.BRAC_VIDEOCALL_EVENT_REPLY, user, 0)
        say(f"ret reply {r}")
        if r != 0:
            fail(f"reply returned {r}")
    if role == "callee" and event == ac.BRAC_VIDEOCALL_EVENT_START:
        r = ac.enter_room(param)
        say(f"ret enter {r}")
        if r != 0:
            fail(f"enter room returned {r}")
    events.put(("call", event, user, code, flags, param, ac.c_string(user_str)))


def on_text(from_id, to_id, secret, msg, length, _user):
    events.put(("text", from_id, to_id, secret, ac.c_string(msg, length)))


# Module-level references (the helpers keep theirs too).
NOTIFY = on_notify
CALL = on_call
TEXT = on_text


def fatal(e):
    if e[0] == "notify" and e[1] == ac.WM_GV_LINKCLOSE:
        return True
    if e[0] == "notify" and e[1] == ac.WM_GV_CONNECT and e[2] == 0:
        return True
    if e[0] == "notify" and e[1] == ac.WM_GV_LOGINSYSTEM and e[3] != 0:
        return True
    return e[0] == "call" and e[1] == ac.BRAC_VIDEOCALL_EVENT_REPLY and e[3] != 0


def wait(what, match):
    for i, e in enumerate(backlog):
        if match(e):
            return backlog.pop(i)
    while True:
        left = LIMIT - (time.monotonic() - START)
        try:
            if left <= 0:
                raise queue.Empty
            e = events.get(timeout=left)
        except queue.Empty:
            fail(f"timeout waiting for {what}")
        say(" ".join(str(x) for x in e))
        if match(e):
            return e
        if fatal(e):
            fail(f"while waiting for {what}: {e}")
        backlog.append(e)


def wait_call(event, peer, what):
    return wait(what, lambda e: e[0] == "call" and e[1] == event and e[2] == peer)


def run_callee(self_id):
    req = wait("REQUEST", lambda e: e[0] == "call" and e[1] == ac.BRAC_VIDEOCALL_EVENT_REQUEST)
    caller = req[2]
    flags = ac.BRAC_VIDEOCALL_FLAGS_AUDIO | ac.BRAC_VIDEOCALL_FLAGS_VIDEO
    check(req[4:] == (flags, 42, "hello"), f"request carries flags/param/string unchanged: {req}")
    start = wait_call(ac.BRAC_VIDEOCALL_EVENT_START, caller, "START")
    room = start[5]
    check(room != 0, "START without a room id")
    entered = wait("WM_GV_ENTERROOM(room)", lambda e: e[0] == "notify" and e[1] == ac.WM_GV_ENTERROOM and e[2] == room)
    check(entered[3] == 0, f"enter room failed: {entered}")
    text = wait("text from the caller", lambda e: e[0] == "text" and e[1] == caller)
    check(text[2:] == (self_id, 1, "hello from caller"), f"text: {text}")
    ret("text", ac.send_text_message(caller, "hello from callee", secret=False))
    fin = wait_call(ac.BRAC_VIDEOCALL_EVENT_FINISH, caller, "FINISH")
    check(fin[3] == 0 and fin[5:] == (7, "bye"), f"finish: {fin}")


def run_caller(self_id, callee):
    flags = ac.BRAC_VIDEOCALL_FLAGS_AUDIO | ac.BRAC_VIDEOCALL_FLAGS_VIDEO
    ret("request", ac.video_call_control(ac.BRAC_VIDEOCALL_EVENT_REQUEST, callee, 0, flags, 42, "hello"))
    ringing = wait_call(ac.BRAC_VIDEOCALL_EVENT_REPLY, callee, "REPLY(0)")
    check(ringing[3] == 0, f"reply: {ringing}")
    start = wait_call(ac.BRAC_VIDEOCALL_EVENT_START, callee, "START")
    room = start[5]
    check(room != 0, "START without a room id")
    ret("enter", ac.enter_room(room))
    entered = wait("WM_GV_ENTERROOM(room)", lambda e: e[0] == "notify" and e[1] == ac.WM_GV_ENTERROOM and e[2] == room)
    check(entered[3] == 0, f"enter room failed: {entered}")
    # Whoever enters second sees two users listed; the first sees the other arrive.
    wait(
        "the callee in the room",
        lambda e: e[0] == "notify"
        and ((e[1] == ac.WM_GV_ONLINEUSER and e[2:] == (2, room)) or (e[1] == ac.WM_GV_USERATROOM and e[2:] == (callee, 1))),
    )
    code, users = ac.get_online_users()
    check(code == 0 and users == [callee], f"online users: {code} {users}")
    code, peer_name = ac.get_user_name(callee)
    check(code == 0 and peer_name, f"peer name: {code}")
    say(f"peer {callee} {peer_name}")
    # A BOOL with only bit 32 set: true only if it reaches the library as a
    # 64-bit C long (LP64 Linux); where BOOL is 32-bit, plain 1.
    secret = 1 << 32 if ctypes.sizeof(ac.BOOL) == 8 else 1
    ret("text", ac.send_text_message(callee, "hello from caller", secret=secret))
    answer = wait("text from the callee", lambda e: e[0] == "text" and e[1] == callee)
    check(answer[2:] == (self_id, 0, "hello from callee"), f"text: {answer}")
    ret("finish", ac.video_call_control(ac.BRAC_VIDEOCALL_EVENT_FINISH, callee, 0, 0, 7, "bye"))
    fin = wait_call(ac.BRAC_VIDEOCALL_EVENT_FINISH, callee, "FINISH")
    check(fin[3] == 0, f"finish: {fin}")


def main(argv):
    global role
    if len(argv) < 5 or argv[1] not in ("caller", "callee") or (argv[1] == "caller" and len(argv) < 6):
        print("usage: call_party.py callee HOST PORT NAME | caller HOST PORT NAME CALLEE_ID", file=sys.stderr)
        return 2
    role, host, port, name = argv[1], argv[2], int(argv[3]), argv[4]
    say(f"BOOL is {ctypes.sizeof(ac.BOOL)} bytes")
    # Callbacks before InitSDK (the library keeps them).
    ret("setnotify", ac.set_notify_message_callback(NOTIFY))
    ret("setcall", ac.set_video_call_event_callback(CALL))
    ret("settext", ac.set_text_message_callback(TEXT))
    ret("init", ac.init_sdk())
    ret("connect", ac.connect(host, port))
    ret("login", ac.login(name))
    wait("WM_GV_CONNECT(1)", lambda e: e[0] == "notify" and e[1] == ac.WM_GV_CONNECT and e[2] == 1)
    login = wait("WM_GV_LOGINSYSTEM", lambda e: e[0] == "notify" and e[1] == ac.WM_GV_LOGINSYSTEM)
    check(login[3] == 0 and login[2] != 0, f"login failed: {login}")
    self_id = login[2]
    code, queried = ac.query_user_state_dword(ac.SELF, ac.BRAC_USERSTATE_SELFUSERID)
    check(code == 0 and queried == self_id, f"SELFUSERID {code} {queried} != {self_id}")
    code, me = ac.get_user_name(ac.SELF)
    check(code == 0 and me == name, f"own name {me!r} code {code}")
    say(f"userid {self_id}")
    if role == "callee":
        run_callee(self_id)
    else:
        run_caller(self_id, int(argv[5]))
    ret("release", ac.release())
    say(f"{role} done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
