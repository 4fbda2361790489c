/*
 * call_log.c: turns the library's call log on with BRAC_ActiveCallLog(TRUE),
 * as vendor apps do before BRAC_InitSDK, connects and logs in, then turns
 * it off and makes a few more calls, which must not reach the log.
 *
 *   usage: call_log HOST PORT USERNAME [on|off]
 *
 * With "off" (the default is "on") it never calls BRAC_ActiveCallLog: the
 * environment alone (ANYCHAT_LOG_FILE, ANYCHAT_LOG_STDERR) decides. It
 * prints "logged in <id>" once logged in, "log off <code>" after turning
 * the log off, and "call_log done" at the end. Exit status 0 on success.
 *
 * Build (see tests/c_examples.rs):
 *   gcc -std=c11 -Wall -Wextra -Werror -pthread -I include c_examples/call_log.c \
 *       -o call_log -L target/debug -lanychat -Wl,-rpath,target/debug
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anychat.h"
#include "example_util.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_changed = PTHREAD_COND_INITIALIZER;
static DWORD g_self_id;  /* != 0 once logged in */
static int g_failed;

static void on_notify(DWORD msg, DWORD wparam, DWORD lparam, LPVOID user) {
    (void)user;
    pthread_mutex_lock(&g_lock);
    say("notify %s wparam=%u lparam=%u", notify_name(msg), (unsigned)wparam, (unsigned)lparam);
    if ((msg == WM_GV_CONNECT && wparam != 1) || (msg == WM_GV_LOGINSYSTEM && lparam != 0) ||
        msg == WM_GV_LINKCLOSE) {
        g_failed = 1;
    } else if (msg == WM_GV_LOGINSYSTEM) {
        g_self_id = wparam;
    }
    pthread_cond_broadcast(&g_changed);
    pthread_mutex_unlock(&g_lock);
}

static int check(const char *what, DWORD code) {
    if (code != 0) {
        fprintf(stderr, "call_log: %s returned %u\n", what, (unsigned)code);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: call_log HOST PORT USERNAME [on|off]\n");
        return 2;
    }
    int use_call = argc < 5 || strcmp(argv[4], "off") != 0;
    if (use_call && !check("BRAC_ActiveCallLog(TRUE)", BRAC_ActiveCallLog(TRUE))) {
        return 1;
    }
    BRAC_SetNotifyMessageCallBack(on_notify, NULL);
    if (!check("BRAC_InitSDK", BRAC_InitSDK(NULL, 0)) ||
        !check("BRAC_Connect", BRAC_Connect(argv[1], (DWORD)atoi(argv[2]))) ||
        !check("BRAC_Login", BRAC_Login(argv[3], "", 0))) {
        return 1;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 20;
    pthread_mutex_lock(&g_lock);
    while (!g_failed && g_self_id == 0) {
        if (pthread_cond_timedwait(&g_changed, &g_lock, &deadline) != 0) {
            break;
        }
    }
    DWORD self_id = g_self_id;
    pthread_mutex_unlock(&g_lock);
    if (self_id == 0) {
        fprintf(stderr, "call_log: not logged in\n");
        return 1;
    }
    say("logged in %u", (unsigned)self_id);
    if (use_call) {
        say("log off %u", (unsigned)BRAC_ActiveCallLog(FALSE));
    }
    /* After the log was turned off: none of these may be in it. */
    TCHAR name[64];
    check("BRAC_GetUserName", BRAC_GetUserName(self_id, name, sizeof name));
    check("BRAC_Logout", BRAC_Logout());
    check("BRAC_Release", BRAC_Release());
    say("call_log done");
    return 0;
}
