/*
 * callcenter_server.c: the business server of a call center, in the shape
 * of the vendor's call-center samples, on the BRAS_* API
 * (include/anychatserversdk.h, the vendor's header name).
 *
 * Usage: callcenter_server
 *
 * Users whose name starts with "agent-" are agents, every other user is a
 * customer. From inside its login callback, as the vendor's sample does,
 * it fills the newcomer's lists and adds the newcomer to everyone's:
 * - groups 1 "Agents" and 2 "Customers" (BRAS_USERINFO_CTRLCODE_ADDGROUP);
 * - every user online as a friend (ADDFRIEND), in the group of its role
 *   (SETGROUPRELATION), and the newcomer as a friend of each of them;
 * - the newcomer's infos: 1 its nick name (the part of its name after the
 *   dash), 2 its role ("agent" or "customer") (BRAS_SetUserInfo);
 * - SYNCDATA to each user changed, so their clients hear
 *   WM_GV_USERINFOUPDATE.
 * A user's logout takes it out of the list of users online (its friends see
 * it offline through WM_GV_FRIENDSTATUS; the core server does that).
 *
 * The library links to the core server named by ANYCHAT_CORE_ADDR
 * (default 127.0.0.1:8907). Every event is one line on stdout:
 *   link up | link down CODE
 *   login user=U name=N role=R friends=K | logout user=U
 *   request src=A tar=B -> 0 | START src=A tar=B room=R | FINISH src=A tar=B code=C
 *   error WHAT CODE   (a BRAS_* call that did not return 0)
 * It runs until standard input reaches end of file, then calls
 * BRAS_Release and exits with status 0.
 *
 * Build: gcc -std=c11 -Wall -Wextra -Werror -pthread -I include \
 *            c_examples/callcenter_server.c -o callcenter_server \
 *            -L <libdir> -lanychat -Wl,-rpath,<libdir>
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "anychatserversdk.h"

#define GROUP_AGENTS 1u
#define GROUP_CUSTOMERS 2u
#define INFO_NICKNAME 1u
#define INFO_ROLE 2u
#define MAX_ONLINE 64

/* The users online, in login order. Only the library's callback thread
 * touches it (the callbacks run one at a time on that one thread). */
static struct {
    DWORD id;
    int agent;
} g_online[MAX_ONLINE];
static int g_count;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    printf("%s\n", line);
    fflush(stdout);
}

/* Reports a BRAS_* call that failed. */
static void check(const char *what, DWORD r)
{
    if (r != 0) {
        say("error %s %u", what, (unsigned)r);
    }
}

static DWORD group_of(int agent)
{
    return agent ? GROUP_AGENTS : GROUP_CUSTOMERS;
}

/* Makes `friend_id` a friend of `user`, in the group of its role. */
static void add_friend(DWORD user, DWORD friend_id, int friend_is_agent)
{
    check("addfriend", BRAS_UserInfoControl(user, BRAS_USERINFO_CTRLCODE_ADDFRIEND, friend_id, 0, NULL));
    check("relation", BRAS_UserInfoControl(user, BRAS_USERINFO_CTRLCODE_SETGROUPRELATION,
                                           group_of(friend_is_agent), friend_id, NULL));
}

/* ----- callbacks ---------------------------------------------------------- */

static void on_app_message_ex(DWORD msg, DWORD wparam, DWORD lparam, LPVOID user)
{
    (void)lparam;
    (void)user;
    if (msg == BRAS_MESSAGE_CORESERVERCONN) {
        if (wparam == 0) {
            say("link up");
        } else {
            say("link down %u", (unsigned)wparam);
        }
    }
}

static void on_login(DWORD user_id, LPCTSTR name, DWORD level, LPCTSTR ip, LPVOID user)
{
    const char *dash;
    int agent, i;
    (void)level;
    (void)ip;
    (void)user;
    if (name == NULL) {
        name = "";
    }
    agent = strncmp(name, "agent-", 6) == 0;
    dash = strchr(name, '-');

    /* The newcomer's groups, friends and infos. */
    check("addgroup", BRAS_UserInfoControl(user_id, BRAS_USERINFO_CTRLCODE_ADDGROUP, GROUP_AGENTS, 0, "Agents"));
    check("addgroup",
          BRAS_UserInfoControl(user_id, BRAS_USERINFO_CTRLCODE_ADDGROUP, GROUP_CUSTOMERS, 0, "Customers"));
    for (i = 0; i < g_count; i++) {
        add_friend(user_id, g_online[i].id, g_online[i].agent);
    }
    check("setinfo", BRAS_SetUserInfo(user_id, INFO_NICKNAME, dash != NULL ? dash + 1 : name, 0));
    check("setinfo", BRAS_SetUserInfo(user_id, INFO_ROLE, agent ? "agent" : "customer", 0));
    check("sync", BRAS_UserInfoControl(user_id, BRAS_USERINFO_CTRLCODE_SYNCDATA, 0, 0, NULL));

    /* The newcomer in everyone's lists. */
    for (i = 0; i < g_count; i++) {
        add_friend(g_online[i].id, user_id, agent);
        check("sync", BRAS_UserInfoControl(g_online[i].id, BRAS_USERINFO_CTRLCODE_SYNCDATA, 0, 0, NULL));
    }
    say("login user=%u name=%s role=%s friends=%d", (unsigned)user_id, name, agent ? "agent" : "customer", g_count);
    if (g_count < MAX_ONLINE) {
        g_online[g_count].id = user_id;
        g_online[g_count].agent = agent;
        g_count++;
    }
}

static void on_logout(DWORD user_id, LPVOID user)
{
    int i;
    (void)user;
    for (i = 0; i < g_count; i++) {
        if (g_online[i].id == user_id) {
            memmove(&g_online[i], &g_online[i + 1], (size_t)(g_count - i - 1) * sizeof g_online[0]);
            g_count--;
            break;
        }
    }
    say("logout user=%u", (unsigned)user_id);
}

static DWORD on_video_call(DWORD event, DWORD src, DWORD tar, DWORD code, DWORD flags, DWORD param,
                           LPCTSTR user_str, LPVOID user)
{
    (void)flags;
    (void)user_str;
    (void)user;
    switch (event) {
    case BRAS_VIDEOCALL_EVENT_REQUEST:
        say("request src=%u tar=%u -> 0", (unsigned)src, (unsigned)tar);
        break;
    case BRAS_VIDEOCALL_EVENT_START:
        say("START src=%u tar=%u room=%u", (unsigned)src, (unsigned)tar, (unsigned)param);
        break;
    case BRAS_VIDEOCALL_EVENT_FINISH:
        say("FINISH src=%u tar=%u code=%u", (unsigned)src, (unsigned)tar, (unsigned)code);
        break;
    default:
        break;
    }
    return 0;
}

/* ----- main ------------------------------------------------------------------ */

int main(void)
{
    char buf[256];
    DWORD r;

    if (BRAS_SetOnServerAppMessageExCallBack(on_app_message_ex, NULL) != 0 ||
        BRAS_SetOnUserLoginActionCallBack(on_login, NULL) != 0 ||
        BRAS_SetOnUserLogoutActionCallBack(on_logout, NULL) != 0 ||
        BRAS_SetOnVideoCallEventCallBack(on_video_call, NULL) != 0) {
        fprintf(stderr, "callcenter_server: cannot register the callbacks\n");
        return 1;
    }
    r = BRAS_InitSDK(0);
    if (r != 0) {
        fprintf(stderr, "callcenter_server: BRAS_InitSDK failed: %u\n", (unsigned)r);
        return 1;
    }
    while (fgets(buf, sizeof buf, stdin) != NULL) {
    }
    r = BRAS_Release();
    say("callcenter_server done (release %u)", (unsigned)r);
    return 0;
}
