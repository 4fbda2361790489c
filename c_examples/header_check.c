/*
 * header_check.c: include/anychat.h must compile, link and work from C and
 * from C++ alike. tests/c_examples.rs builds this file twice:
 *
 *   gcc -std=c11 -Wall -Wextra -Werror -pthread -I include header_check.c ...
 *   g++ -Wall -Wextra -Werror -pthread -I include -x c++ header_check.c ...
 *
 * and runs both programs. Linking the C++ build checks that the header
 * declares the functions extern "C" (otherwise their names are mangled and
 * the link fails); running it checks a few calls that need no server.
 */
#ifndef __cplusplus
#define _POSIX_C_SOURCE 200809L
#endif

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "anychat.h"

#ifdef __cplusplus
#define LANGUAGE "C++"
#define CHECK(cond) static_assert(cond, #cond)
#else
#define LANGUAGE "C"
#define CHECK(cond) _Static_assert(cond, #cond)
#endif

/* The ABI facts a legacy program relies on (see the spec's abi.md). */
CHECK(sizeof(DWORD) == 4);
CHECK(sizeof(LPVOID) == sizeof(void *));
CHECK(sizeof(TCHAR) == 1);
CHECK(WM_GV == 1224);
CHECK(WM_GV_LOGINSYSTEM == WM_GV + 2);
CHECK(WM_GV_ONLINEUSER == WM_GV + 7);
CHECK(BRAC_VIDEOCALL_EVENT_REQUEST == 1 && BRAC_VIDEOCALL_EVENT_FINISH == 4);
CHECK((BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO) == 3);
CHECK(AC_ERROR_VIDEOCALL_REJECT == 100104);
CHECK(GV_ERR_NOTINIT == 2 && GV_ERR_NOTLOGIN == 208);
CHECK(BRAC_CBTYPE_VIDEOCALLEVENT == 14);

static void on_notify(DWORD msg, DWORD wparam, DWORD lparam, LPVOID user) {
    printf("unexpected notify %u %u %u %p\n", (unsigned)msg, (unsigned)wparam, (unsigned)lparam, user);
}

static void on_video_call(DWORD event, DWORD user_id, DWORD error_code, DWORD flags, DWORD param, LPCTSTR user_str,
                          LPVOID user) {
    printf("unexpected call event %u %u %u %u %u %s %p\n", (unsigned)event, (unsigned)user_id, (unsigned)error_code,
           (unsigned)flags, (unsigned)param, user_str ? user_str : "", user);
}

static int failures;

static void expect(const char *what, DWORD got, DWORD want) {
    if (got != want) {
        printf("FAIL %s: returned %u, expected %u\n", what, (unsigned)got, (unsigned)want);
        failures++;
    }
}

int main(void) {
    BRAC_NotifyMessage_CallBack notify_cb = on_notify;
    BRAC_VideoCallEvent_CallBack call_cb = on_video_call;
    int dummy = 0;

    DWORD main_ver = 0, sub_ver = 0;
    TCHAR build[128];
    memset(build, 'x', sizeof build);
    expect("BRAC_GetSDKVersion", BRAC_GetSDKVersion(&main_ver, &sub_ver, build, (DWORD)sizeof build), 0);
    if (memchr(build, '\0', sizeof build) == NULL) {
        printf("FAIL BRAC_GetSDKVersion: the build text is not NUL-terminated\n");
        return 1;
    }

    /* Register, then unregister with NULL, without initialising the SDK. */
    expect("BRAC_SetNotifyMessageCallBack", BRAC_SetNotifyMessageCallBack(notify_cb, &dummy), 0);
    expect("BRAC_SetVideoCallEventCallBack", BRAC_SetVideoCallEventCallBack(call_cb, &dummy), 0);
    expect("BRAC_SetNotifyMessageCallBack(NULL)", BRAC_SetNotifyMessageCallBack(NULL, NULL), 0);
    expect("BRAC_SetVideoCallEventCallBack(NULL)", BRAC_SetVideoCallEventCallBack(NULL, NULL), 0);

    /* Calls before BRAC_InitSDK answer GV_ERR_NOTINIT. */
    expect("BRAC_Connect before init", BRAC_Connect("127.0.0.1", 8906), GV_ERR_NOTINIT);
    expect("BRAC_VideoCallControl before init",
           BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REQUEST, 1, 0, BRAC_VIDEOCALL_FLAGS_AUDIO, 0, NULL),
           GV_ERR_NOTINIT);
    expect("BRAC_Release before init", BRAC_Release(), GV_ERR_NOTINIT);

    /* Initialised but not logged in: GV_ERR_NOTLOGIN; then release. */
    expect("BRAC_InitSDK", BRAC_InitSDK(NULL, 0), 0);
    expect("BRAC_VideoCallControl before login",
           BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REQUEST, 1, 0, BRAC_VIDEOCALL_FLAGS_AUDIO, 0, NULL),
           GV_ERR_NOTLOGIN);
    expect("BRAC_Release", BRAC_Release(), 0);

    if (failures != 0) {
        return 1;
    }
    printf("header_check ok as %s: %s (version %u.%u)\n", LANGUAGE, build, (unsigned)main_ver, (unsigned)sub_ver);
    return 0;
}
