// A legacy-style AnyChat client in C++, in the shape of the vendor's samples:
// a class derived from CBRAnyChatSDKProc, the vendor's header names, C++
// default arguments and DWORD& parameters, linked with -lanychatcore.
//
//   legacy_sample callee HOST PORT NAME
//   legacy_sample caller HOST PORT NAME CALLEE_ID
//
// The callee accepts the call from inside the video-call callback; both
// enter the call's room on START, list the online users, exchange a text
// message, and the caller finishes the call. Exit 0 when all of it happened.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "BRAnyChatCoreSDK.h"
#include "BRAnyChatSDKProc.h"

class CSampleDlg : public CBRAnyChatSDKProc {
public:
    explicit CSampleDlg(bool caller) : m_caller(caller) {}

    bool m_caller;
    DWORD m_selfId = 0;
    DWORD m_peerId = 0;
    DWORD m_roomId = 0;
    bool m_loggedIn = false;
    bool m_gotText = false;
    bool m_greeted = false;
    bool m_finished = false;
    bool m_failed = false;
    std::mutex m_lock;
    std::condition_variable m_cond;

    void Done(bool failed = false) {
        std::lock_guard<std::mutex> g(m_lock);
        if (failed) m_failed = true;
        m_cond.notify_all();
    }

    void OnAnyChatConnectMessage(BOOL bSuccess) override {
        std::printf("connect %ld\n", (long)bSuccess);
        if (!bSuccess) Done(true);
    }
    void OnAnyChatLoginMessage(DWORD dwUserId, DWORD dwErrorCode) override {
        std::printf("login %u %u\n", dwUserId, dwErrorCode);
        std::fflush(stdout);
        std::lock_guard<std::mutex> g(m_lock);
        m_selfId = dwUserId;
        m_loggedIn = dwErrorCode == 0;
        if (dwErrorCode != 0) m_failed = true;
        m_cond.notify_all();
    }
    void OnAnyChatEnterRoomMessage(DWORD dwRoomId, DWORD dwErrorCode) override {
        std::printf("enterroom %u %u\n", dwRoomId, dwErrorCode);
        if (dwErrorCode != 0) Done(true);
    }
    void OnAnyChatOnlineUserMessage(DWORD dwUserNum, DWORD dwRoomId) override {
        std::printf("onlineuser %u %u\n", dwUserNum, dwRoomId);
        CheckPeerPresent();
    }
    void OnAnyChatUserAtRoomMessage(DWORD dwUserId, BOOL bEnter) override {
        std::printf("useratroom %u %ld\n", dwUserId, (long)bEnter);
        if (bEnter) CheckPeerPresent();
    }
    void OnAnyChatLinkCloseMessage(DWORD dwErrorCode) override {
        std::printf("linkclose %u\n", dwErrorCode);
        Done(true);
    }
    void OnAnyChatTextMsgCallBack(DWORD dwFromUserid, DWORD dwToUserid, BOOL bSecret, LPCTSTR lpMsgBuf,
                                  DWORD dwLen) override {
        std::string text(lpMsgBuf, dwLen);
        std::printf("text %u->%u secret=%ld '%s'\n", dwFromUserid, dwToUserid, (long)bSecret, text.c_str());
        m_gotText = true;
        if (m_caller) {
            // The callee answered: hang up (default arguments for the rest).
            BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_FINISH, m_peerId, 0);
        } else {
            const char *reply = "hello back from the callee";
            BRAC_SendTextMessage(dwFromUserid, FALSE, reply, (DWORD)std::strlen(reply));
        }
    }

    // Once both are in the room: the caller greets the callee.
    void CheckPeerPresent() {
        DWORD num = 0;
        if (BRAC_GetOnlineUser(NULL, num) != 0 || num == 0) return;  // DWORD& parameter
        DWORD ids[16];
        num = 16;
        BRAC_GetOnlineUser(ids, num);
        bool present = false;
        for (DWORD i = 0; i < num; i++) present = present || ids[i] == m_peerId;
        TCHAR name[64] = {0};
        BRAC_GetUserName(m_peerId, name, sizeof name);
        std::printf("online %u peer=%s present=%d\n", num, name, present);
        if (present && m_caller && !m_greeted) {
            m_greeted = true;
            const char *hello = "hello from the caller";
            BRAC_SendTextMessage(m_peerId, FALSE, hello, (DWORD)std::strlen(hello));
        }
    }

    static void CALLBACK VideoCallEvent(DWORD dwEventType, DWORD dwUserId, DWORD dwErrorCode, DWORD dwFlags,
                                        DWORD dwParam, LPCTSTR lpUserStr, LPVOID lpUserValue) {
        CSampleDlg *self = static_cast<CSampleDlg *>(lpUserValue);
        std::printf("videocall %u user=%u code=%u flags=%u param=%u str=%s\n", dwEventType, dwUserId, dwErrorCode,
                    dwFlags, dwParam, lpUserStr ? lpUserStr : "");
        std::fflush(stdout);
        switch (dwEventType) {
        case BRAC_VIDEOCALL_EVENT_REQUEST:
            self->m_peerId = dwUserId;
            BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REPLY, dwUserId, 0);
            break;
        case BRAC_VIDEOCALL_EVENT_REPLY:
            if (dwErrorCode != 0) self->Done(true);
            break;
        case BRAC_VIDEOCALL_EVENT_START:
            self->m_roomId = dwParam;
            BRAC_EnterRoom(dwParam, "", 0);
            break;
        case BRAC_VIDEOCALL_EVENT_FINISH: {
            std::lock_guard<std::mutex> g(self->m_lock);
            self->m_finished = true;
            if (dwErrorCode != 0) self->m_failed = true;
            self->m_cond.notify_all();
            break;
        }
        default:
            break;
        }
    }

    template <class Pred> bool WaitFor(Pred pred, int seconds) {
        std::unique_lock<std::mutex> g(m_lock);
        return m_cond.wait_for(g, std::chrono::seconds(seconds), [&] { return m_failed || pred(); }) && !m_failed;
    }
};

int main(int argc, char **argv) {
    if (argc < 5 || (std::strcmp(argv[1], "caller") == 0 && argc < 6)) {
        std::fprintf(stderr, "usage: legacy_sample callee|caller HOST PORT NAME [CALLEE_ID]\n");
        return 2;
    }
    bool caller = std::strcmp(argv[1], "caller") == 0;
    DWORD dwMainVer = 0, dwSubVer = 0;
    TCHAR szCompileTime[100] = {0};
    BRAC_GetSDKVersion(dwMainVer, dwSubVer, szCompileTime, sizeof szCompileTime);  // DWORD& parameters
    std::printf("sdk %u.%u %s\n", dwMainVer, dwSubVer, szCompileTime);

    CSampleDlg dlg(caller);
    BRAC_SetVideoCallEventCallBack(CSampleDlg::VideoCallEvent, &dlg);
    BRAC_InitSDK(NULL, BRAC_FUNC_VIDEO_CBDATA | BRAC_FUNC_AUDIO_CBDATA | BRAC_FUNC_CONFIG_LOCALINI);
    BRAC_Connect(argv[2], (DWORD)std::atoi(argv[3]));
    BRAC_Login(argv[4], "", 0);
    if (!dlg.WaitFor([&] { return dlg.m_loggedIn; }, 10)) {
        std::fprintf(stderr, "login failed\n");
        return 1;
    }
    if (caller) {
        dlg.m_peerId = (DWORD)std::strtoul(argv[5], NULL, 10);
        DWORD rc = BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REQUEST, dlg.m_peerId, 0,
                                         BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO, 0, "legacy sample");
        if (rc != 0) {
            std::fprintf(stderr, "request returned %u\n", rc);
            return 1;
        }
    }
    bool ok = dlg.WaitFor([&] { return dlg.m_finished; }, 20);
    BRAC_LeaveRoom(-1);
    BRAC_Logout();
    BRAC_SetVideoCallEventCallBack(NULL);
    BRAC_Release();
    if (!ok || !dlg.m_gotText) {
        std::fprintf(stderr, "call did not complete (finished=%d text=%d)\n", dlg.m_finished, dlg.m_gotText);
        return 1;
    }
    std::printf("done\n");
    return 0;
}
