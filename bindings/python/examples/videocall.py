#!/usr/bin/env python3
"""A video call with pictures, text messages and a business server, on the
``anychat`` package; one role per process (the C API is one SDK per process):

    videocall.py bras                       business server (ANYCHAT_CORE_ADDR,
                                            ANYCHAT_BUSINESS_SECRET): refuses the
                                            first call request with
                                            AC_ERROR_VIDEOCALL_REJECT, lets the
                                            next ring; runs until stdin closes
    videocall.py callee HOST PORT NAME      prints "userid N", accepts the call
    videocall.py caller HOST PORT NAME N    calls N (refused), calls again

Both parties feed their camera with a picture of their own through external
input (320x240 RGB24: the caller's top half white, the callee's bottom half
white), open each other's camera, and check the peer's decoded frames in the
video data callback (RGB24, rows top-down: the white half where the peer
put it). Then each sends a text message; the caller hangs up once it drew
the callee's picture and got its text. Exit status 0 and "<role> done" on
success, else 1 with the reason on stderr (20 s limit).
"""

import sys
import threading
import time

import anychat as ac

W, H, FPS = 320, 240, 15
LIMIT = 20.0


def say(line):
    print(line, flush=True)


def picture(top_white):
    white, black = b"\xff" * (W * H // 2 * 3), b"\x00" * (W * H // 2 * 3)
    return white + black if top_white else black + white


def row_mean(frame, row):
    r = frame[row * W * 3:(row + 1) * W * 3]
    return sum(r) // len(r)


class Party(ac.Client):
    """A call party: counts good pictures of the peer as they arrive."""

    def __init__(self, peer_top_white):
        super().__init__(video_format=ac.BRAC_PIX_FMT_RGB24, external_video=True)
        self.peer_top_white = peer_top_white
        self.peer = None
        self.good = 0
        self.bad = 0
        self.drawn = threading.Event()

    def on_video_frame(self, user_id, frame, header):
        if self.peer is None or user_id != self.peer:
            return  # one's own picture (self-view)
        ok = (header.biWidth, header.biHeight, header.biBitCount) == (W, H, 24) and len(frame) == W * H * 3
        if ok:
            top, bottom = row_mean(frame, 0), row_mean(frame, H - 1)
            ok = (top >= 200 and bottom <= 50) if self.peer_top_white else (top <= 50 and bottom >= 200)
        if not ok:
            if self.bad == 0:
                say(f"bad picture {header.biWidth}x{header.biHeight} len={len(frame)}")
            self.bad += 1
        else:
            self.good += 1
            if self.good == 3:
                say(f"picture ok from {user_id}")
                self.drawn.set()


def feed(client, pic, stop):
    """Feeds one's camera at FPS until ``stop``."""
    start = time.monotonic()
    n = 0
    while not stop.is_set():
        t = time.monotonic() - start
        if t * FPS >= n:
            try:
                client.input_video(pic, int(t * 1000))
            except ac.AnyChatError:
                pass  # the camera is not open yet
            n += 1
        stop.wait(0.01)


def in_call(party, room, top_white):
    """Enters the call's room, opens both cameras, feeds the picture."""
    party.enter_room(room)
    party.wait("notify", lambda m, w, l: m == ac.WM_GV_ENTERROOM and l == 0, LIMIT)
    party.set_input_video_format(ac.BRAC_PIX_FMT_RGB24, W, H, FPS)
    party.camera(ac.SELF, True)
    party.camera(party.peer, True)
    stop = threading.Event()
    threading.Thread(target=feed, args=(party, picture(top_white), stop), daemon=True).start()
    return stop


def login(party, host, port, name):
    party.connect(host, int(port))
    party.login(name)
    e = party.wait("notify", lambda m, w, l: m == ac.WM_GV_LOGINSYSTEM, LIMIT)
    if e.args[2] != 0:
        raise SystemExit(f"login failed: {e.args[2]}")
    return e.args[1]


def callee(host, port, name):
    with Party(peer_top_white=True) as p:
        say(f"userid {login(p, host, port, name)}")
        req = p.wait("video_call", lambda ev, *a: ev == ac.BRAC_VIDEOCALL_EVENT_REQUEST, LIMIT)
        p.peer = req.args[1]
        say(f"rang from {p.peer} str={req.args[5]}")
        p.video_call(ac.BRAC_VIDEOCALL_EVENT_REPLY, p.peer, 0)
        start = p.wait("video_call", lambda ev, *a: ev == ac.BRAC_VIDEOCALL_EVENT_START, LIMIT)
        stop = in_call(p, start.args[4], top_white=False)
        if not p.drawn.wait(LIMIT):
            raise SystemExit(f"no good picture from the caller ({p.bad} bad)")
        p.send_text(p.peer, "héllo from the callee")
        text = p.wait("text", lambda f, *a: f == p.peer, LIMIT)
        say(f"text from {p.peer}: {text.args[3]}")
        p.wait("video_call", lambda ev, *a: ev == ac.BRAC_VIDEOCALL_EVENT_FINISH, LIMIT)
        say("finished")
        stop.set()
        if any(e.kind == "video_call" and e.args[0] == ac.BRAC_VIDEOCALL_EVENT_REQUEST for e in p._backlog):
            raise SystemExit("the refused request rang")
    say("callee done")


def caller(host, port, name, peer):
    with Party(peer_top_white=False) as p:
        login(p, host, port, name)
        p.peer = int(peer)
        flags = ac.BRAC_VIDEOCALL_FLAGS_AUDIO | ac.BRAC_VIDEOCALL_FLAGS_VIDEO
        p.video_call(ac.BRAC_VIDEOCALL_EVENT_REQUEST, p.peer, 0, flags, 0, "first")
        reply = p.wait("video_call", lambda ev, *a: ev == ac.BRAC_VIDEOCALL_EVENT_REPLY, LIMIT)
        if reply.args[2] != ac.AC_ERROR_VIDEOCALL_REJECT:
            raise SystemExit(f"the first call was not refused: REPLY({reply.args[2]})")
        say(f"refused {reply.args[2]}")
        p.video_call(ac.BRAC_VIDEOCALL_EVENT_REQUEST, p.peer, 0, flags, 0, "second")
        reply = p.wait("video_call", lambda ev, *a: ev == ac.BRAC_VIDEOCALL_EVENT_REPLY, LIMIT)
        if reply.args[2] != 0:
            raise SystemExit(f"the second call was refused: REPLY({reply.args[2]})")
        start = p.wait("video_call", lambda ev, *a: ev == ac.BRAC_VIDEOCALL_EVENT_START, LIMIT)
        say(f"started room {start.args[4]}")
        stop = in_call(p, start.args[4], top_white=True)
        if not p.drawn.wait(LIMIT):
            raise SystemExit(f"no good picture from the callee ({p.bad} bad)")
        p.send_text(p.peer, "héllo from the caller")
        text = p.wait("text", lambda f, *a: f == p.peer, LIMIT)
        say(f"text from {p.peer}: {text.args[3]}")
        stop.set()
        p.video_call(ac.BRAC_VIDEOCALL_EVENT_FINISH, p.peer)
        p.wait("video_call", lambda ev, *a: ev == ac.BRAC_VIDEOCALL_EVENT_FINISH, LIMIT)
    say("caller done")


class Vetoing(ac.BusinessServer):
    """Refuses the first call request, lets every later one ring."""

    def __init__(self):
        self.requests = 0
        super().__init__()

    def on_video_call_request(self, src, tar, flags, param, user_str):
        self.requests += 1
        answer = ac.AC_ERROR_VIDEOCALL_REJECT if self.requests == 1 else 0
        say(f"request {src}->{tar} str={user_str} -> {answer}")
        return answer

    def on_app_message(self, msg, wparam, lparam):
        if msg == ac.BRAS_MESSAGE_CORESERVERCONN:
            say("link up" if wparam == 0 else f"link down {wparam}")


def bras():
    with Vetoing():
        sys.stdin.read()  # until the test closes stdin
    say("bras done")


def main(argv):
    try:
        role = argv[1]
        if role == "bras":
            bras()
        elif role == "callee":
            callee(*argv[2:5])
        elif role == "caller":
            caller(*argv[2:6])
        else:
            raise SystemExit(f"unknown role {role}")
    except (SystemExit, ac.AnyChatError, TimeoutError) as e:
        if isinstance(e, SystemExit) and e.code in (None, 0):
            return 0
        print(f"{argv[1]}: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
