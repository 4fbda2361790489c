/*
 * caller.c: the calling side of a video call, written against the C ABI of
 * libanychat (include/anychat.h).
 *
 *   usage: caller HOST PORT USERNAME CALLEE_USERID
 *
 * It logs in, calls CALLEE_USERID (Request with audio and video), waits for
 * Reply 0 ("ringing") and Start (whose dwParam is the call's room id),
 * enters that room, waits until the callee is in it too, then hangs up
 * (Finish) and waits for the server's Finish. Unlike callee.c, the library
 * is called from main here; the callbacks only record what happened and
 * wake main through a mutex and a condition variable. Exit status 0 on
 * success; 1 with a message on stderr on any unexpected event, error code
 * or time-out.
 *
 * Build (see tests/c_examples.rs):
 *   gcc -std=c11 -Wall -Wextra -Werror -pthread -I include c_examples/caller.c \
 *       -o caller -L target/debug -lanychat -Wl,-rpath,target/debug
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anychat.h"
#include "example_util.h"

/* The whole run must finish within this many seconds. */
#define OVERALL_TIMEOUT_SECS 20

/* What this program sends with its Request (callee.c checks them). */
#define CALL_FLAGS (BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO)
#define CALL_PARAM 12345u
#define CALL_USER_STR "hello from caller.c"

/* Everything the callbacks and main share; guarded by `lock`. */
struct caller_state {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* broadcast on every change below */

    int failed;      /* an unexpected event or error happened */
    char error[256]; /* its description (the first one) */

    DWORD callee_id;  /* set by main before the Request */
    DWORD self_id;    /* != 0 once logged in */
    int ringing;      /* REPLY(0) arrived */
    DWORD room_id;    /* != 0 once START arrived */
    int entered;      /* WM_GV_ENTERROOM(room_id, 0) arrived */
    int peer_present; /* the callee is in the room too */
    int finish_sent;  /* main sent FINISH */
    int finished;     /* FINISH(0) arrived */
};

/* The state the callbacks must get back as their user value. */
static struct caller_state *g_expected_state;

/* Records the first failure and wakes main. Call with `st->lock` held. */
static void fail_locked(struct caller_state *st, const char *fmt, ...) {
    if (!st->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->error, sizeof st->error, fmt, ap);
        va_end(ap);
        st->failed = 1;
    }
    pthread_cond_broadcast(&st->changed);
}

/* Takes the lock and records a failure. */
static void fail(struct caller_state *st, const char *what, DWORD code) {
    pthread_mutex_lock(&st->lock);
    fail_locked(st, "%s returned %u", what, (unsigned)code);
    pthread_mutex_unlock(&st->lock);
}

/* BRAC_NotifyMessage_CallBack: runs on the library's callback thread. */
static void on_notify(DWORD msg, DWORD wparam, DWORD lparam, LPVOID user) {
    struct caller_state *st = g_expected_state;
    pthread_mutex_lock(&st->lock);
    say("notify %s(%u) wparam=%u lparam=%u", notify_name(msg), (unsigned)msg, (unsigned)wparam, (unsigned)lparam);
    if (user != (LPVOID)st) {
        fail_locked(st, "notify callback got user value %p, registered %p", user, (void *)st);
    }
    switch (msg) {
    case WM_GV_CONNECT:
        if (wparam != 1) {
            fail_locked(st, "WM_GV_CONNECT(%u): cannot connect", (unsigned)wparam);
        }
        break;
    case WM_GV_LOGINSYSTEM:
        if (lparam != 0 || wparam == 0) {
            fail_locked(st, "WM_GV_LOGINSYSTEM(%u, %u): login failed", (unsigned)wparam, (unsigned)lparam);
        } else {
            st->self_id = wparam;
        }
        break;
    case WM_GV_ENTERROOM:
        if (st->room_id == 0 || wparam != st->room_id || lparam != 0) {
            fail_locked(st, "WM_GV_ENTERROOM(%u, %u): expected (%u, 0)", (unsigned)wparam, (unsigned)lparam,
                        (unsigned)st->room_id);
        } else {
            st->entered = 1;
        }
        break;
    case WM_GV_ONLINEUSER: /* wParam = users in the room, self included; lParam = room */
        if (st->entered && lparam == st->room_id && wparam >= 2) {
            st->peer_present = 1;
        }
        break;
    case WM_GV_USERATROOM: /* wParam = user, lParam = 1 entered / 0 left */
        if (st->entered && wparam == st->callee_id && lparam == 1) {
            st->peer_present = 1;
        }
        break;
    case WM_GV_LINKCLOSE:
        fail_locked(st, "WM_GV_LINKCLOSE(%u): link closed", (unsigned)wparam);
        break;
    default:
        break;
    }
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
}

/* BRAC_VideoCallEvent_CallBack: runs on the library's callback thread. */
static void on_video_call(DWORD event, DWORD user_id, DWORD error_code, DWORD flags, DWORD param, LPCTSTR user_str,
                          LPVOID user) {
    struct caller_state *st = g_expected_state;
    pthread_mutex_lock(&st->lock);
    say("call %s user=%u code=%u flags=%u param=%u str=%s", event_name(event), (unsigned)user_id,
        (unsigned)error_code, (unsigned)flags, (unsigned)param, user_str ? user_str : "(null)");
    if (user != (LPVOID)st) {
        fail_locked(st, "video-call callback got user value %p, registered %p", user, (void *)st);
    }
    if (user_id != st->callee_id) {
        fail_locked(st, "%s names user %u, not the callee %u", event_name(event), (unsigned)user_id,
                    (unsigned)st->callee_id);
    } else if (flags != CALL_FLAGS) { /* every event carries the Request's flags */
        fail_locked(st, "%s with flags=%u, not the Request's %u", event_name(event), (unsigned)flags,
                    (unsigned)CALL_FLAGS);
    }
    switch (event) {
    case BRAC_VIDEOCALL_EVENT_REPLY:
        if (error_code != 0) {
            fail_locked(st, "the call failed: REPLY(%u)", (unsigned)error_code);
        } else if (st->ringing) {
            fail_locked(st, "a second REPLY(0)");
        } else {
            st->ringing = 1;
        }
        break;
    case BRAC_VIDEOCALL_EVENT_START:
        if (!st->ringing || param == 0 || st->room_id != 0) {
            fail_locked(st, "unexpected START param=%u (ringing=%d)", (unsigned)param, st->ringing);
        } else {
            st->room_id = param;
        }
        break;
    case BRAC_VIDEOCALL_EVENT_FINISH:
        if (!st->finish_sent || error_code != 0) {
            fail_locked(st, "unexpected FINISH code=%u (finish sent: %d)", (unsigned)error_code, st->finish_sent);
        } else {
            st->finished = 1;
        }
        break;
    default:
        fail_locked(st, "unexpected event %s(%u) code=%u", event_name(event), (unsigned)event, (unsigned)error_code);
        break;
    }
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
}

static int logged_in(const struct caller_state *st) { return st->self_id != 0; }
static int started(const struct caller_state *st) { return st->room_id != 0; }
static int both_in_room(const struct caller_state *st) { return st->entered && st->peer_present; }
static int finished(const struct caller_state *st) { return st->finished; }

/* Waits until `done(st)`, a failure, or `deadline` (CLOCK_MONOTONIC, the
 * clock of `st->changed`). Returns 0 when done. */
static int wait_for(struct caller_state *st, int (*done)(const struct caller_state *), const struct timespec *deadline,
                    const char *what) {
    pthread_mutex_lock(&st->lock);
    while (!st->failed && !done(st)) {
        int rc = pthread_cond_timedwait(&st->changed, &st->lock, deadline);
        if (rc == ETIMEDOUT && !st->failed && !done(st)) {
            fail_locked(st, "timed out after %d s waiting for %s", OVERALL_TIMEOUT_SECS, what);
        } else if (rc != 0 && rc != ETIMEDOUT) {
            fail_locked(st, "pthread_cond_timedwait: %s", strerror(rc));
        }
    }
    int failed = st->failed;
    pthread_mutex_unlock(&st->lock);
    return failed ? -1 : 0;
}

static int parse_u32(const char *s, unsigned long max, DWORD *out) {
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > max) {
        return -1;
    }
    *out = (DWORD)v;
    return 0;
}

/* The call itself, once the SDK is initialised. Returns 0 on success. */
static int run_call(struct caller_state *st, const char *host, DWORD port, const char *name,
                    const struct timespec *deadline) {
    DWORD r;
    if ((r = BRAC_Connect(host, port)) != 0) {
        fail(st, "BRAC_Connect", r);
        return -1;
    }
    if ((r = BRAC_Login(name, "", 0)) != 0) {
        fail(st, "BRAC_Login", r);
        return -1;
    }
    if (wait_for(st, logged_in, deadline, "WM_GV_LOGINSYSTEM") != 0) {
        return -1;
    }

    /* Dial. The callee answers from its callback; the server then sends
     * Start, with the call's room id, to both. */
    r = BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REQUEST, st->callee_id, 0, CALL_FLAGS, CALL_PARAM, CALL_USER_STR);
    say("ret request %u", (unsigned)r);
    if (r != GV_ERR_SUCCESS) {
        fail(st, "BRAC_VideoCallControl(REQUEST)", r);
        return -1;
    }
    if (wait_for(st, started, deadline, "REPLY(0) and START") != 0) {
        return -1;
    }

    pthread_mutex_lock(&st->lock);
    DWORD room = st->room_id;
    pthread_mutex_unlock(&st->lock);
    r = BRAC_EnterRoom(room, "", 0);
    say("ret enterroom %u", (unsigned)r);
    if (r != GV_ERR_SUCCESS) {
        fail(st, "BRAC_EnterRoom", r);
        return -1;
    }
    if (wait_for(st, both_in_room, deadline, "WM_GV_ENTERROOM and the callee in the room") != 0) {
        return -1;
    }

    /* The library's view of the room agrees (the two-step habit). */
    DWORD ids[8];
    DWORD n = 0;
    if ((r = BRAC_GetOnlineUser(NULL, &n)) != 0) {
        fail(st, "BRAC_GetOnlineUser(NULL)", r);
        return -1;
    }
    n = sizeof ids / sizeof ids[0];
    if ((r = BRAC_GetOnlineUser(ids, &n)) != 0) {
        fail(st, "BRAC_GetOnlineUser", r);
        return -1;
    }
    int seen = 0;
    for (DWORD i = 0; i < n; i++) {
        seen |= ids[i] == st->callee_id;
    }
    say("online users in room %u: %u (callee %s)", (unsigned)room, (unsigned)n, seen ? "present" : "missing");
    if (!seen) {
        pthread_mutex_lock(&st->lock);
        fail_locked(st, "BRAC_GetOnlineUser does not list the callee %u", (unsigned)st->callee_id);
        pthread_mutex_unlock(&st->lock);
        return -1;
    }

    /* Hang up; the server sends FINISH(0) to both parties. */
    pthread_mutex_lock(&st->lock);
    st->finish_sent = 1; /* before the call: FINISH may come back at once */
    pthread_mutex_unlock(&st->lock);
    r = BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_FINISH, st->callee_id, 0, 0, 0, NULL);
    say("ret finish %u", (unsigned)r);
    if (r != GV_ERR_SUCCESS) {
        fail(st, "BRAC_VideoCallControl(FINISH)", r);
        return -1;
    }
    return wait_for(st, finished, deadline, "FINISH");
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s HOST PORT USERNAME CALLEE_USERID\n", argv[0]);
        return 2;
    }
    DWORD port = 0;
    DWORD callee = 0;
    if (parse_u32(argv[2], 65535, &port) != 0) {
        fprintf(stderr, "caller: bad port '%s'\n", argv[2]);
        return 2;
    }
    if (parse_u32(argv[4], 0xFFFFFFFEul, &callee) != 0) {
        fprintf(stderr, "caller: bad user id '%s'\n", argv[4]);
        return 2;
    }

    static struct caller_state state;
    struct caller_state *st = &state;
    pthread_condattr_t attr;
    if (pthread_mutex_init(&st->lock, NULL) != 0 || pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 || pthread_cond_init(&st->changed, &attr) != 0) {
        fprintf(stderr, "caller: cannot set up the mutex and condition variable\n");
        return 1;
    }
    pthread_condattr_destroy(&attr);
    st->callee_id = callee;
    g_expected_state = st;

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += OVERALL_TIMEOUT_SECS;

    BRAC_NotifyMessage_CallBack notify_cb = on_notify;
    BRAC_VideoCallEvent_CallBack call_cb = on_video_call;
    DWORD r;
    if ((r = BRAC_SetNotifyMessageCallBack(notify_cb, st)) != 0 ||
        (r = BRAC_SetVideoCallEventCallBack(call_cb, st)) != 0) {
        fprintf(stderr, "caller: registering the callbacks returned %u\n", (unsigned)r);
        return 1;
    }
    if ((r = BRAC_InitSDK(NULL, 0)) != 0) {
        fprintf(stderr, "caller: BRAC_InitSDK returned %u\n", (unsigned)r);
        return 1;
    }

    (void)run_call(st, argv[1], port, argv[3], &deadline);

    r = BRAC_Release();
    say("ret release %u", (unsigned)r);
    if (r != GV_ERR_SUCCESS) {
        fail(st, "BRAC_Release", r);
    }
    /* No callback runs after BRAC_Release returns: the state is ours alone. */
    if (st->failed) {
        fprintf(stderr, "caller: error: %s\n", st->error);
        return 1;
    }
    pthread_cond_destroy(&st->changed);
    pthread_mutex_destroy(&st->lock);
    say("caller done: call to %u in room %u finished", (unsigned)st->callee_id, (unsigned)st->room_id);
    return 0;
}
