// A vendor-style call-center client in C++: the shape of the vendor's
// call-center samples, against the vendor's header names. Its business
// server (callcenter_server.c) fills its friend and group lists.
//
//   callcenter HOST PORT NAME agent|customer
//
// Both roles, as the vendor's samples do: BRAC_InitSDK with the usual
// function-mode flags, external video input (no capture device here: a
// picture it feeds itself, RGB24 320x240, top half white), then BRAC_Connect
// and BRAC_Login one after another without waiting; on the call's START,
// BRAC_EnterRoom(room); once in the room, its own camera and microphone and
// the peer's; every picture of the peer is drawn from the video callback and
// checked top-down.
//
// - A customer, on each WM_GV_USERINFOUPDATE and WM_GV_FRIENDSTATUS, lists
//   its groups (BRAC_GetUserGroups, BRAC_GetGroupName), finds the one
//   named "Agents", lists its friends in it (BRAC_GetGroupFriends), reads
//   each one's status (BRAC_GetFriendStatus) and nick name (BRAC_GetUserInfo
//   info 1), prints them, and calls the first agent online
//   (BRAC_VideoCallControl REQUEST, audio and video). Once it drew good
//   pictures of the agent and the agent said it drew its own ("I see you",
//   by text chat, as the customer says too), it sends "thank you" and FINISH.
// - An agent prints "ready" once logged in, answers the first REQUEST of a
//   friend in its "Customers" group with REPLY 0 (anyone else gets 100104),
//   and, in the call, draws the customer's picture until the FINISH.
// Both leave the room, log out and release after the FINISH.
//
// One line per event on stdout; exit status 0 when the call took place,
// pictures both ways, within 30 s; else 1 with the reason on stderr.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "BRAnyChatCoreSDK.h"
#include "BRAnyChatSDKProc.h"

static const DWORD kWidth = 320;
static const DWORD kHeight = 240;
static const DWORD kFps = 15;
static const int kGoodFrames = 3;
static const int kTimeoutSecs = 30;
static const DWORD kInfoNickName = 1;
static const DWORD kRejected = 100104;  // AC_ERROR_VIDEOCALL_REJECT

// The ids of a list read the vendor's two-step way: the count first, then
// the ids (DWORD& parameter).
template <typename F>
static std::vector<DWORD> ReadList(F get) {
    DWORD num = 0;
    if (get(NULL, num) != 0 || num == 0) return std::vector<DWORD>();
    std::vector<DWORD> ids(num);
    if (get(ids.data(), num) != 0) return std::vector<DWORD>();
    ids.resize(num);
    return ids;
}

class CCallCenterDlg : public CBRAnyChatSDKProc {
public:
    CCallCenterDlg(const std::string &name, bool agent) : m_name(name), m_agent(agent) {}

    std::string m_name;
    bool m_agent;
    DWORD m_selfId = 0;
    DWORD m_peer = 0;     // the other party of the call
    bool m_calling = false;
    bool m_inRoom = false;
    bool m_finished = false;
    bool m_failed = false;
    int m_good = 0, m_bad = 0;  // the peer's pictures
    bool m_peerSawUs = false;   // the peer said it drew ours
    bool m_finishSent = false;
    std::string m_why;
    std::mutex m_lock;
    std::condition_variable m_cond;

    __attribute__((format(printf, 2, 3))) void Say(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        std::vprintf(fmt, ap);
        va_end(ap);
        std::putchar('\n');
        std::fflush(stdout);
    }

    void Fail(const std::string &why) {
        std::lock_guard<std::mutex> g(m_lock);
        if (!m_failed) m_why = why;
        m_failed = true;
        m_cond.notify_all();
    }

    // ----- the friend and group lists (a customer) ---------------------------

    // The id of the group named `name`, 0 when there is none.
    DWORD FindGroup(const char *name) {
        for (DWORD group : ReadList([](LPDWORD ids, DWORD &num) { return BRAC_GetUserGroups(ids, num); })) {
            char groupName[64] = {0};
            if (BRAC_GetGroupName(group, groupName, sizeof groupName) == 0 && std::strcmp(groupName, name) == 0)
                return group;
        }
        return 0;
    }

    // Lists the agents among its friends and calls the first one online.
    void LookForAnAgent() {
        if (m_agent) return;
        {
            std::lock_guard<std::mutex> g(m_lock);
            if (m_calling || m_selfId == 0) return;
        }
        DWORD group = FindGroup("Agents");
        if (group == 0) return;
        std::vector<DWORD> agents =
            ReadList([group](LPDWORD ids, DWORD &num) { return BRAC_GetGroupFriends(group, ids, num); });
        Say("agents %u", (unsigned)agents.size());
        for (DWORD agent : agents) {
            DWORD status = 0;
            DWORD r = BRAC_GetFriendStatus(agent, status);
            char nick[64] = {0};
            BRAC_GetUserInfo(agent, kInfoNickName, nick, sizeof nick);
            Say("agent %u nick=%s status=%u (%u)", agent, nick, status, r);
            if (r != 0 || status != 1) continue;
            {
                std::lock_guard<std::mutex> g(m_lock);
                if (m_calling) return;
                m_calling = true;
                m_peer = agent;
            }
            r = BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REQUEST, agent, 0,
                                      BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO, 0, "a question");
            Say("request %u -> %u", agent, r);
            if (r != 0) Fail("the request failed");
            return;
        }
    }

    // Whether `user` is a friend of ours in the group named `group`.
    bool InGroup(DWORD user, const char *group) {
        DWORD id = FindGroup(group);
        if (id == 0) return false;
        for (DWORD u : ReadList([id](LPDWORD ids, DWORD &num) { return BRAC_GetGroupFriends(id, ids, num); }))
            if (u == user) return true;
        return false;
    }

    // ----- notifications ---------------------------------------------------------

    void OnAnyChatNotifyMessageCallBack(DWORD dwNotifyMsg, DWORD wParam, DWORD lParam) override {
        if (dwNotifyMsg == WM_GV_USERINFOUPDATE) {
            Say("userinfoupdate %u %u", wParam, lParam);
            LookForAnAgent();
        } else if (dwNotifyMsg == WM_GV_FRIENDSTATUS) {
            Say("friendstatus %u %u", wParam, lParam);
            LookForAnAgent();
        }
    }
    void OnAnyChatConnectMessage(BOOL bSuccess) override {
        Say("connect %ld", (long)bSuccess);
        if (!bSuccess) Fail("cannot connect");
    }
    void OnAnyChatLoginMessage(DWORD dwUserId, DWORD dwErrorCode) override {
        Say("login %u %u", dwUserId, dwErrorCode);
        if (dwErrorCode != 0) {
            Fail("login failed");
            return;
        }
        {
            std::lock_guard<std::mutex> g(m_lock);
            m_selfId = dwUserId;
        }
        if (m_agent) Say("ready %u", dwUserId);
        LookForAnAgent();
    }
    void OnAnyChatEnterRoomMessage(DWORD dwRoomId, DWORD dwErrorCode) override {
        Say("enterroom %u %u", dwRoomId, dwErrorCode);
        if (dwErrorCode != 0) {
            Fail("cannot enter the call's room");
            return;
        }
        OpenDevices((DWORD)-1);
        std::lock_guard<std::mutex> g(m_lock);
        m_inRoom = true;
        m_cond.notify_all();
    }
    void OnAnyChatOnlineUserMessage(DWORD dwUserNum, DWORD dwRoomId) override {
        Say("onlineuser %u %u", dwUserNum, dwRoomId);
        for (DWORD user : ReadList([](LPDWORD ids, DWORD &num) { return BRAC_GetOnlineUser(ids, num); }))
            OpenDevices(user);
    }
    void OnAnyChatUserAtRoomMessage(DWORD dwUserId, BOOL bEnter) override {
        Say("useratroom %u %ld", dwUserId, (long)bEnter);
        if (bEnter) OpenDevices(dwUserId);
    }
    void OnAnyChatLinkCloseMessage(DWORD dwErrorCode) override {
        Say("linkclose %u", dwErrorCode);
        Fail("link closed");
    }
    void OpenDevices(DWORD userId) {
        DWORD cam = BRAC_UserCameraControl(userId, TRUE);
        DWORD mic = BRAC_UserSpeakControl(userId, TRUE);
        Say("open %d camera=%u speaker=%u", (int)userId, cam, mic);
    }

    // ----- the call ----------------------------------------------------------------

    static void CALLBACK VideoCallEvent(DWORD dwEventType, DWORD dwUserId, DWORD dwErrorCode, DWORD dwFlags,
                                        DWORD dwParam, LPCTSTR lpUserStr, LPVOID lpUserValue) {
        static_cast<CCallCenterDlg *>(lpUserValue)
            ->OnVideoCallEvent(dwEventType, dwUserId, dwErrorCode, dwFlags, dwParam, lpUserStr);
    }

    void OnVideoCallEvent(DWORD event, DWORD user, DWORD code, DWORD flags, DWORD param, LPCTSTR str) {
        Say("call event=%u user=%u code=%u flags=%u param=%u str=%s", event, user, code, flags, param,
            str ? str : "");
        switch (event) {
        case BRAC_VIDEOCALL_EVENT_REQUEST: {
            bool first;
            {
                std::lock_guard<std::mutex> g(m_lock);
                first = !m_calling;
                if (first) {
                    m_calling = true;
                    m_peer = user;
                }
            }
            bool customer = InGroup(user, "Customers");
            DWORD answer = first && customer ? 0 : kRejected;
            DWORD r = BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REPLY, user, answer, flags, 0, NULL);
            Say("reply %u customer=%d -> %u", answer, customer ? 1 : 0, r);
            if (first && answer != 0) Fail("a call from someone who is no customer");
            break;
        }
        case BRAC_VIDEOCALL_EVENT_REPLY:
            if (code != 0) Fail("the agent did not answer");
            break;
        case BRAC_VIDEOCALL_EVENT_START:
            Say("enterroom ret %u", BRAC_EnterRoom(param, "", 0));
            break;
        case BRAC_VIDEOCALL_EVENT_FINISH: {
            std::lock_guard<std::mutex> g(m_lock);
            m_finished = true;
            m_cond.notify_all();
            break;
        }
        default:
            break;
        }
    }

    // Draws the peer's picture: checks it as an app building an image straight
    // from the buffer would show it (first row at the top).
    void OnAnyChatVideoDataCallBack(DWORD dwUserid, LPVOID lpBuf, DWORD dwLen, LPBITMAPINFOHEADER bmi) override {
        const unsigned char *buf = static_cast<const unsigned char *>(lpBuf);
        long w = (long)bmi->biWidth, h = (long)bmi->biHeight;
        bool ok = w == (long)kWidth && h == (long)kHeight && dwLen == (DWORD)(w * h * 3);
        if (ok) ok = RowMean(buf, w, 0) >= 200 && RowMean(buf, w, h - 1) <= 50;
        {
            std::lock_guard<std::mutex> g(m_lock);
            if (dwUserid != m_peer || m_peer == 0) return;
            if (!ok) {
                if (m_bad++ == 0) Say("bad picture from %u %ldx%ld len=%u", dwUserid, w, h, dwLen);
                return;
            }
            if (++m_good != kGoodFrames) return;
        }
        Say("drawn %u %ldx%ld", dwUserid, w, h);
        const char *seen = "I see you";
        BRAC_SendTextMessage(dwUserid, FALSE, seen, (DWORD)std::strlen(seen));
        FinishWhenBothSeen();
    }

    // The customer hangs up once each party drew the other's pictures.
    void FinishWhenBothSeen() {
        DWORD peer;
        {
            std::lock_guard<std::mutex> g(m_lock);
            if (m_agent || m_good < kGoodFrames || !m_peerSawUs || m_finishSent) return;
            m_finishSent = true;
            peer = m_peer;
        }
        const char *thanks = "thank you";
        BRAC_SendTextMessage(peer, FALSE, thanks, (DWORD)std::strlen(thanks));
        Say("finish -> %u", BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_FINISH, peer, 0, 0, 0, NULL));
    }
    static int RowMean(const unsigned char *buf, long w, long row) {
        long sum = 0;
        for (long i = 0; i < w * 3; i++) sum += buf[row * w * 3 + i];
        return (int)(sum / (3 * w));
    }

    void OnAnyChatTextMsgCallBack(DWORD dwFromUserid, DWORD dwToUserid, BOOL bSecret, LPCTSTR lpMsgBuf,
                                  DWORD dwLen) override {
        std::string text(lpMsgBuf, dwLen);
        Say("text %u->%u secret=%ld '%s'", dwFromUserid, dwToUserid, (long)bSecret, text.c_str());
        if (text == "I see you") {
            {
                std::lock_guard<std::mutex> g(m_lock);
                if (dwFromUserid != m_peer) return;
                m_peerSawUs = true;
            }
            FinishWhenBothSeen();
        }
    }
};

// Feeds our camera until `stop`: the half-white picture, in real time.
static void Feed(std::atomic<bool> *stop) {
    std::vector<unsigned char> picture(kWidth * kHeight * 3, 0);
    std::memset(picture.data(), 255, kWidth * (kHeight / 2) * 3);  // the first rows: the top
    DWORD ms = 0;
    while (!*stop) {
        BRAC_InputVideoData(picture.data(), (DWORD)picture.size(), ms);
        ms += 1000 / kFps;
        std::this_thread::sleep_for(std::chrono::milliseconds(1000 / kFps));
    }
}

int main(int argc, char **argv) {
    if (argc != 5 || (std::strcmp(argv[4], "agent") != 0 && std::strcmp(argv[4], "customer") != 0)) {
        std::fprintf(stderr, "usage: %s HOST PORT NAME agent|customer\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = std::atoi(argv[2]);
    std::string name = argv[3];
    bool agent = std::strcmp(argv[4], "agent") == 0;

    DWORD funcMode = BRAC_FUNC_VIDEO_CBDATA | BRAC_FUNC_AUDIO_CBDATA | BRAC_FUNC_CHKDEPENDMODULE |
                     BRAC_FUNC_AUDIO_VOLUMECALC | BRAC_FUNC_NET_SUPPORTUPNP | BRAC_FUNC_FIREWALL_OPEN |
                     BRAC_FUNC_CONFIG_LOCALINI;
    std::printf("init %u\n", BRAC_InitSDK(NULL, funcMode));
    int on = 1;
    BRAC_SetSDKOption(BRAC_SO_CORESDK_EXTVIDEOINPUT, (const char *)&on, sizeof on);
    std::printf("inputformat %u\n", BRAC_SetInputVideoFormat(BRAC_PIX_FMT_RGB24, kWidth, kHeight, kFps, 0));

    CCallCenterDlg dlg(name, agent);
    BRAC_SetVideoCallEventCallBack(CCallCenterDlg::VideoCallEvent, &dlg);
    std::printf("connect ret %u\n", BRAC_Connect(host, port));
    std::printf("login ret %u\n", BRAC_Login(name.c_str(), "", 0));

    std::atomic<bool> stop(false);
    std::thread feeder;
    bool ok;
    {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kTimeoutSecs);
        std::unique_lock<std::mutex> g(dlg.m_lock);
        ok = dlg.m_cond.wait_until(g, deadline, [&] { return dlg.m_failed || dlg.m_inRoom; }) && !dlg.m_failed;
        if (ok) {
            feeder = std::thread(Feed, &stop);
            ok = dlg.m_cond.wait_until(g, deadline, [&] { return dlg.m_failed || dlg.m_finished; }) &&
                 !dlg.m_failed;
        }
        if (ok && dlg.m_good < kGoodFrames) {
            ok = false;
            dlg.m_why = "the call ended before the peer's pictures were drawn";
        }
        if (!ok && dlg.m_why.empty()) dlg.m_why = dlg.m_inRoom ? "no FINISH in time" : "no call in time";
        std::printf("pictures good=%d bad=%d\n", dlg.m_good, dlg.m_bad);
    }
    stop = true;
    if (feeder.joinable()) feeder.join();

    BRAC_UserCameraControl((DWORD)-1, FALSE);
    BRAC_UserSpeakControl((DWORD)-1, FALSE);
    std::printf("leaveroom %u\n", BRAC_LeaveRoom((DWORD)-1));
    std::printf("logout %u\n", BRAC_Logout());
    std::printf("release %u\n", BRAC_Release());
    if (!ok) {
        std::fprintf(stderr, "callcenter: %s\n", dlg.m_why.c_str());
        return 1;
    }
    std::printf("callcenter done\n");
    return 0;
}
