/*
 * callee.c: the answering side of a video call, written against the C ABI
 * of libanychat (include/anychat.h).
 *
 *   usage: callee HOST PORT USERNAME
 *
 * It logs in, prints "callee ready <userid>", and waits for a call. The
 * whole call is driven from inside the library's callbacks, as the vendor's
 * apps do: the Request is accepted (Reply 0) and, on Start, the call's room
 * is entered, both from inside the video-call callback. The program ends
 * when the caller finishes the call. Exit status 0 on success; 1 with a
 * message on stderr on any unexpected event, error code or time-out.
 *
 * Build (see tests/c_examples.rs):
 *   gcc -std=c11 -Wall -Wextra -Werror -pthread -I include c_examples/callee.c \
 *       -o callee -L target/debug -lanychat -Wl,-rpath,target/debug
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

/* What caller.c sends with its Request (carried unchanged by the server). */
#define EXPECTED_FLAGS (BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO)
#define EXPECTED_PARAM 12345u
#define EXPECTED_USER_STR "hello from caller.c"

/* Everything the callbacks and main share; guarded by `lock`. */
struct callee_state {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* broadcast on every change below */

    int failed;      /* an unexpected event or error happened */
    char error[256]; /* its description (the first one) */

    DWORD self_id;   /* != 0 once logged in */
    DWORD caller_id; /* != 0 once the Request arrived */
    DWORD room_id;   /* != 0 once Start arrived */
    int entered;     /* WM_GV_ENTERROOM(room_id, 0) arrived */
    int finished;    /* FINISH arrived */
};

/* The state the callbacks must get back as their user value. */
static struct callee_state *g_expected_state;

/* Records the first failure and wakes main. Call with `st->lock` held. */
static void fail_locked(struct callee_state *st, const char *fmt, ...) {
    if (!st->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->error, sizeof st->error, fmt, ap);
        va_end(ap);
        st->failed = 1;
    }
    pthread_cond_broadcast(&st->changed);
}

/* BRAC_NotifyMessage_CallBack: runs on the library's callback thread. */
static void on_notify(DWORD msg, DWORD wparam, DWORD lparam, LPVOID user) {
    struct callee_state *st = g_expected_state;
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
    case WM_GV_LINKCLOSE:
        fail_locked(st, "WM_GV_LINKCLOSE(%u): link closed", (unsigned)wparam);
        break;
    default:
        break; /* ONLINEUSER, USERATROOM, ...: printed only */
    }
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
}

/* BRAC_VideoCallEvent_CallBack: runs on the library's callback thread. The
 * library holds no lock of its own while it runs, so BRAC_ functions may be
 * called from here; this one calls them after releasing its own lock. */
static void on_video_call(DWORD event, DWORD user_id, DWORD error_code, DWORD flags, DWORD param, LPCTSTR user_str,
                          LPVOID user) {
    struct callee_state *st = g_expected_state;
    const char *s = user_str ? user_str : "(null)";
    int reply_to = 0;    /* accept the call of this user */
    DWORD enter_room = 0; /* enter this room */

    pthread_mutex_lock(&st->lock);
    say("call %s user=%u code=%u flags=%u param=%u str=%s", event_name(event), (unsigned)user_id,
        (unsigned)error_code, (unsigned)flags, (unsigned)param, s);
    if (user != (LPVOID)st) {
        fail_locked(st, "video-call callback got user value %p, registered %p", user, (void *)st);
    }
    switch (event) {
    case BRAC_VIDEOCALL_EVENT_REQUEST:
        if (st->caller_id != 0) {
            fail_locked(st, "a second REQUEST (from %u)", (unsigned)user_id);
        } else if (user_id == 0 || user_id == st->self_id) {
            fail_locked(st, "REQUEST from user %u", (unsigned)user_id);
        } else if (flags != EXPECTED_FLAGS || param != EXPECTED_PARAM || strcmp(s, EXPECTED_USER_STR) != 0) {
            fail_locked(st, "REQUEST with flags=%u param=%u str=%s, expected flags=%u param=%u str=%s",
                        (unsigned)flags, (unsigned)param, s, (unsigned)EXPECTED_FLAGS, (unsigned)EXPECTED_PARAM,
                        EXPECTED_USER_STR);
        } else {
            st->caller_id = user_id;
            reply_to = 1;
        }
        break;
    case BRAC_VIDEOCALL_EVENT_START:
        if (st->caller_id == 0 || user_id != st->caller_id || param == 0 || st->room_id != 0) {
            fail_locked(st, "unexpected START user=%u param=%u (caller %u)", (unsigned)user_id, (unsigned)param,
                        (unsigned)st->caller_id);
        } else if (flags != EXPECTED_FLAGS) {
            fail_locked(st, "START with flags=%u, expected the Request's %u", (unsigned)flags,
                        (unsigned)EXPECTED_FLAGS);
        } else {
            st->room_id = param;
            enter_room = param;
        }
        break;
    case BRAC_VIDEOCALL_EVENT_FINISH:
        if (user_id != st->caller_id || error_code != 0 || flags != EXPECTED_FLAGS) {
            fail_locked(st, "unexpected FINISH user=%u code=%u flags=%u (caller %u)", (unsigned)user_id,
                        (unsigned)error_code, (unsigned)flags, (unsigned)st->caller_id);
        } else if (!st->entered) {
            fail_locked(st, "FINISH before WM_GV_ENTERROOM");
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

    /* Re-entrant calls into the library, from inside its callback. */
    if (reply_to) {
        DWORD r = BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REPLY, user_id, 0, 0, 0, NULL);
        say("ret reply %u", (unsigned)r);
        if (r != GV_ERR_SUCCESS) {
            pthread_mutex_lock(&st->lock);
            fail_locked(st, "BRAC_VideoCallControl(REPLY, %u, 0) returned %u", (unsigned)user_id, (unsigned)r);
            pthread_mutex_unlock(&st->lock);
        }
    }
    if (enter_room != 0) {
        DWORD r = BRAC_EnterRoom(enter_room, "", 0);
        say("ret enterroom %u", (unsigned)r);
        if (r != GV_ERR_SUCCESS) {
            pthread_mutex_lock(&st->lock);
            fail_locked(st, "BRAC_EnterRoom(%u) returned %u", (unsigned)enter_room, (unsigned)r);
            pthread_mutex_unlock(&st->lock);
        }
    }
}

static int ready_to_report(const struct callee_state *st) { return st->self_id != 0; }
static int call_done(const struct callee_state *st) { return st->finished; }

/* Waits, with `st->lock` held, until `done(st)`, a failure, or `deadline`
 * (CLOCK_MONOTONIC, the clock of `st->changed`). Returns 0 when done. */
static int wait_for(struct callee_state *st, int (*done)(const struct callee_state *), const struct timespec *deadline,
                    const char *what) {
    while (!st->failed && !done(st)) {
        int rc = pthread_cond_timedwait(&st->changed, &st->lock, deadline);
        if (rc == ETIMEDOUT && !st->failed && !done(st)) {
            fail_locked(st, "timed out after %d s waiting for %s", OVERALL_TIMEOUT_SECS, what);
        } else if (rc != 0 && rc != ETIMEDOUT) {
            fail_locked(st, "pthread_cond_timedwait: %s", strerror(rc));
        }
    }
    return st->failed ? -1 : 0;
}

static int parse_port(const char *s, DWORD *port) {
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > 65535) {
        return -1;
    }
    *port = (DWORD)v;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s HOST PORT USERNAME\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    const char *name = argv[3];
    DWORD port = 0;
    if (parse_port(argv[2], &port) != 0) {
        fprintf(stderr, "callee: bad port '%s'\n", argv[2]);
        return 2;
    }

    static struct callee_state state;
    struct callee_state *st = &state;
    pthread_condattr_t attr;
    if (pthread_mutex_init(&st->lock, NULL) != 0 || pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 || pthread_cond_init(&st->changed, &attr) != 0) {
        fprintf(stderr, "callee: cannot set up the mutex and condition variable\n");
        return 1;
    }
    pthread_condattr_destroy(&attr);
    g_expected_state = st;

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += OVERALL_TIMEOUT_SECS;

    /* Callbacks may be registered before BRAC_InitSDK. */
    BRAC_NotifyMessage_CallBack notify_cb = on_notify;
    BRAC_VideoCallEvent_CallBack call_cb = on_video_call;
    DWORD r;
    int status = 0;
    if ((r = BRAC_SetNotifyMessageCallBack(notify_cb, st)) != 0 ||
        (r = BRAC_SetVideoCallEventCallBack(call_cb, st)) != 0) {
        fprintf(stderr, "callee: registering the callbacks returned %u\n", (unsigned)r);
        return 1;
    }
    if ((r = BRAC_InitSDK(NULL, 0)) != 0) {
        fprintf(stderr, "callee: BRAC_InitSDK returned %u\n", (unsigned)r);
        return 1;
    }
    if ((r = BRAC_Connect(host, port)) != 0) {
        fprintf(stderr, "callee: BRAC_Connect returned %u\n", (unsigned)r);
        BRAC_Release();
        return 1;
    }
    if ((r = BRAC_Login(name, "", 0)) != 0) {
        fprintf(stderr, "callee: BRAC_Login returned %u\n", (unsigned)r);
        BRAC_Release();
        return 1;
    }

    pthread_mutex_lock(&st->lock);
    if (wait_for(st, ready_to_report, &deadline, "WM_GV_LOGINSYSTEM") == 0) {
        say("callee ready %u", (unsigned)st->self_id);
        /* Everything else happens in the callbacks; wait for the end. */
        (void)wait_for(st, call_done, &deadline, "the call to be requested, started and finished");
    }
    status = st->failed;
    pthread_mutex_unlock(&st->lock);

    r = BRAC_Release();
    say("ret release %u", (unsigned)r);
    if (r != 0 && !status) {
        pthread_mutex_lock(&st->lock);
        fail_locked(st, "BRAC_Release returned %u", (unsigned)r);
        pthread_mutex_unlock(&st->lock);
        status = 1;
    }
    /* No callback runs after BRAC_Release returns: the state is ours alone. */
    if (status) {
        fprintf(stderr, "callee: error: %s\n", st->error);
        return 1;
    }
    pthread_cond_destroy(&st->changed);
    pthread_mutex_destroy(&st->lock);
    say("callee done: call from %u in room %u finished", (unsigned)st->caller_id, (unsigned)st->room_id);
    return 0;
}
