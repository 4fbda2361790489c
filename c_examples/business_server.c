/*
 * business_server.c: a small business server on the BRAS_* API of
 * libanychat (include/anychatserver.h).
 *
 * Usage: business_server CALLEE_ID_TO_REFUSE [CODE]
 *
 * The library links to the core server named by the environment variable
 * ANYCHAT_CORE_ADDR (default 127.0.0.1:8907; secret in
 * ANYCHAT_BUSINESS_SECRET) and keeps reconnecting when the link drops.
 * Every video-call Request whose target is CALLEE_ID_TO_REFUSE is refused
 * with CODE (default 100104, AC_ERROR_VIDEOCALL_REJECT): the caller receives
 * REPLY(CODE) and the callee never rings. Every other Request proceeds.
 *
 * Every event is logged as one line on stdout:
 *   link up | link down CODE
 *   request src=A tar=B flags=F param=P str=S -> ANSWER
 *   REPLY|START|FINISH src=A tar=B code=C flags=F param=P str=S
 *   login user=U name=N level=L ip=I | logout user=U code=C
 *   enter user=U room=R | leave user=U room=R
 * It runs until standard input reaches end of file, then calls
 * BRAS_Release and exits with status 0.
 *
 * Build: gcc -std=c11 -Wall -Wextra -Werror -pthread -I include \
 *            c_examples/business_server.c -o business_server \
 *            -L <libdir> -lanychat -Wl,-rpath,<libdir>
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "anychatserver.h"

#define DEFAULT_REFUSE_CODE 100104u /* AC_ERROR_VIDEOCALL_REJECT */

/* Set once in main before BRAS_InitSDK, only read by the callbacks. */
static DWORD g_refused_user;
static DWORD g_refuse_code = DEFAULT_REFUSE_CODE;

/* One line on stdout, flushed at once (stdout is a pipe under test).
 * Callbacks run on the library's thread, main on its own: each line is
 * written by one printf-family call, which locks the stream. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    printf("%s\n", line);
    fflush(stdout);
}

static const char *str_or_empty(LPCTSTR s)
{
    return s != NULL ? s : "";
}

static const char *event_name(DWORD event)
{
    switch (event) {
    case BRAS_VIDEOCALL_EVENT_REQUEST: return "REQUEST";
    case BRAS_VIDEOCALL_EVENT_REPLY: return "REPLY";
    case BRAS_VIDEOCALL_EVENT_START: return "START";
    case BRAS_VIDEOCALL_EVENT_FINISH: return "FINISH";
    default: return "EVENT?";
    }
}

/* ----- callbacks ---------------------------------------------------------- */

static void on_app_message_ex(DWORD msg, DWORD wparam, DWORD lparam, LPVOID user)
{
    (void)user;
    if (msg == BRAS_MESSAGE_CORESERVERCONN) {
        if (wparam == 0) {
            say("link up");
        } else {
            say("link down %u", (unsigned)wparam);
        }
    } else {
        say("appmsg %u %u %u", (unsigned)msg, (unsigned)wparam, (unsigned)lparam);
    }
}

static DWORD on_video_call(DWORD event, DWORD src, DWORD tar, DWORD code, DWORD flags, DWORD param,
                           LPCTSTR user_str, LPVOID user)
{
    (void)user;
    if (event == BRAS_VIDEOCALL_EVENT_REQUEST) {
        /* The return value decides: 0 lets the call ring, anything else
         * is the error code the caller receives. */
        DWORD answer = (tar == g_refused_user) ? g_refuse_code : 0;
        say("request src=%u tar=%u flags=%u param=%u str=%s -> %u", (unsigned)src, (unsigned)tar,
            (unsigned)flags, (unsigned)param, str_or_empty(user_str), (unsigned)answer);
        return answer;
    }
    /* REPLY, START (param = room id) and FINISH (src 0: ended by the core
     * server): for information only. */
    say("%s src=%u tar=%u code=%u flags=%u param=%u str=%s", event_name(event), (unsigned)src,
        (unsigned)tar, (unsigned)code, (unsigned)flags, (unsigned)param, str_or_empty(user_str));
    return 0;
}

static void on_login(DWORD user_id, LPCTSTR name, DWORD level, LPCTSTR ip, LPVOID user)
{
    (void)user;
    say("login user=%u name=%s level=%u ip=%s", (unsigned)user_id, str_or_empty(name), (unsigned)level,
        str_or_empty(ip));
}

static void on_logout(DWORD user_id, DWORD code, LPVOID user)
{
    (void)user;
    say("logout user=%u code=%u", (unsigned)user_id, (unsigned)code);
}

static void on_enter_room(DWORD user_id, DWORD room_id, LPVOID user)
{
    (void)user;
    say("enter user=%u room=%u", (unsigned)user_id, (unsigned)room_id);
}

static void on_leave_room(DWORD user_id, DWORD room_id, LPVOID user)
{
    (void)user;
    say("leave user=%u room=%u", (unsigned)user_id, (unsigned)room_id);
}

/* ----- main ------------------------------------------------------------------ */

/* Parses a DWORD in decimal; returns 0 on success. */
static int parse_dword(const char *text, DWORD *out)
{
    char *end = NULL;
    unsigned long v;
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v > 0xFFFFFFFFul) {
        return -1;
    }
    *out = (DWORD)v;
    return 0;
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s CALLEE_ID_TO_REFUSE [CODE]\n"
            "  refuses video calls to CALLEE_ID_TO_REFUSE with CODE (default %u);\n"
            "  connects to ANYCHAT_CORE_ADDR (default 127.0.0.1:8907); runs until stdin ends\n",
            argv0, DEFAULT_REFUSE_CODE);
    return 2;
}

int main(int argc, char **argv)
{
    const char *addr;
    DWORD main_ver = 0, sub_ver = 0, r;
    char buf[256];

    if (argc < 2 || argc > 3 || parse_dword(argv[1], &g_refused_user) != 0 ||
        (argc == 3 && parse_dword(argv[2], &g_refuse_code) != 0)) {
        return usage(argv[0]);
    }

    BRAS_GetSDKVersion(&main_ver, &sub_ver, NULL, 0);
    addr = getenv("ANYCHAT_CORE_ADDR");
    say("business_server %u.%u: core server %s; refusing calls to %u with %u", (unsigned)main_ver,
        (unsigned)sub_ver, addr != NULL ? addr : "127.0.0.1:8907 (default)", (unsigned)g_refused_user,
        (unsigned)g_refuse_code);

    /* Callbacks first, so that none of the first events is missed. */
    if (BRAS_SetOnServerAppMessageExCallBack(on_app_message_ex, NULL) != 0 ||
        BRAS_SetOnVideoCallEventCallBack(on_video_call, NULL) != 0 ||
        BRAS_SetOnUserLoginActionCallBack(on_login, NULL) != 0 ||
        BRAS_SetOnUserLogoutActionExCallBack(on_logout, NULL) != 0 ||
        BRAS_SetOnUserEnterRoomActionCallBack(on_enter_room, NULL) != 0 ||
        BRAS_SetOnUserLeaveRoomActionCallBack(on_leave_room, NULL) != 0) {
        fprintf(stderr, "business_server: cannot register the callbacks\n");
        return 1;
    }
    r = BRAS_InitSDK(0);
    if (r != 0) {
        fprintf(stderr, "business_server: BRAS_InitSDK failed: %u\n", (unsigned)r);
        return 1;
    }
    say("init ok");

    /* The library's own thread does the work; this one waits for stdin's end. */
    while (fgets(buf, sizeof buf, stdin) != NULL) {
    }

    r = BRAS_Release();
    say("business_server done (release %u)", (unsigned)r);
    return 0;
}
