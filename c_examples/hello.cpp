// A vendor-style "hello" room client in C++: the shape of the vendor's own
// hello samples, against the vendor's header names, with no capture device
// (its camera is external input: a picture it feeds itself).
//
//   hello HOST PORT NAME ROOM PEERS [stepwise]
//
// What it does, as the vendor's samples do:
// - BRAC_ActiveCallLog(TRUE), BRAC_InitSDK with the usual function-mode
//   flags, then BRAC_Connect, BRAC_Login and BRAC_EnterRoom one after
//   another, without waiting for any callback;
// - on WM_GV_ENTERROOM: opens its own camera and microphone (-1) and starts
//   feeding its picture (RGB24 320x240, top half white, bottom half black,
//   top-down as on Linux) and a tone, through BRAC_SetSDKOption's external
//   input and BRAC_InputVideoData / BRAC_InputAudioData;
// - on WM_GV_ONLINEUSER (and WM_GV_USERATROOM): opens every other user's
//   camera and speaker;
// - draws every picture the video callbacks deliver (RGB24 through the
//   CBRAnyChatSDKProc helper, RGB32 through BRAC_SetVideoDataExCallBack),
//   checking that the first rows are the white ones and biHeight is
//   positive;
// - says hello by text chat (to the room when it enters, to each newcomer);
//   once it drew good pictures in both formats
//   from each of the PEERS other users, sends "done NAME" to the room, and
//   once every peer said done, leaves the room, logs out and releases.
//
// With "stepwise", it waits for WM_GV_CONNECT before BRAC_Login and for
// WM_GV_LOGINSYSTEM before BRAC_EnterRoom instead (as an app written for an
// SDK that does not hold the steps would).
//
// One line per event on stdout; exit status 0 when all of it happened
// within 30 s, else 1 with the reason on stderr.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "BRAnyChatCoreSDK.h"
#include "BRAnyChatSDKProc.h"

static const DWORD kWidth = 320;
static const DWORD kHeight = 240;
static const DWORD kFps = 15;
static const int kGoodFrames = 3;  // per peer and per format
static const int kTimeoutSecs = 30;
static const double kPi = 3.14159265358979323846;

// What was drawn of one user.
struct Peer {
    int good24 = 0, good32 = 0, bad = 0;
    bool said_hello = false, said_done = false;
};

class CHelloDlg : public CBRAnyChatSDKProc {
public:
    CHelloDlg(const std::string &name, DWORD room, int peers) : m_name(name), m_room(room), m_peers(peers) {}

    std::string m_name;
    DWORD m_room;
    int m_peers;
    DWORD m_selfId = 0;
    bool m_connected = false;
    bool m_inRoom = false;
    bool m_sentDone = false;
    bool m_failed = false;
    std::string m_why;
    std::map<DWORD, Peer> m_seen;  // other users, by id
    int m_selfFrames = 0;          // our own picture (self-view), drawn upright
    int m_selfBad = 0;             // our own picture, not upright
    int m_audio = 0;
    std::vector<unsigned char> m_canvas;  // what "draws" the last picture
    std::mutex m_lock;
    std::condition_variable m_cond;

    void Fail(const std::string &why) {
        std::lock_guard<std::mutex> g(m_lock);
        if (!m_failed) m_why = why;
        m_failed = true;
        m_cond.notify_all();
    }

    __attribute__((format(printf, 2, 3))) void Say(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        std::vprintf(fmt, ap);
        va_end(ap);
        std::putchar('\n');
        std::fflush(stdout);
    }

    // Opens a user's camera and speaker (a remote one, or -1: our own).
    void OpenDevices(DWORD userId) {
        DWORD cam = BRAC_UserCameraControl(userId, TRUE);
        DWORD mic = BRAC_UserSpeakControl(userId, TRUE);
        Say("open %d camera=%u speaker=%u", (int)userId, cam, mic);
    }

    void OnAnyChatConnectMessage(BOOL bSuccess) override {
        Say("connect %ld", (long)bSuccess);
        if (!bSuccess) {
            Fail("cannot connect");
            return;
        }
        std::lock_guard<std::mutex> g(m_lock);
        m_connected = true;
        m_cond.notify_all();
    }
    void OnAnyChatLoginMessage(DWORD dwUserId, DWORD dwErrorCode) override {
        Say("login %u %u", dwUserId, dwErrorCode);
        if (dwErrorCode != 0) {
            Fail("login failed");
            return;
        }
        std::lock_guard<std::mutex> g(m_lock);
        m_selfId = dwUserId;
        m_cond.notify_all();
    }
    void OnAnyChatEnterRoomMessage(DWORD dwRoomId, DWORD dwErrorCode) override {
        Say("enterroom %u %u", dwRoomId, dwErrorCode);
        if (dwErrorCode != 0) {
            Fail("cannot enter the room");
            return;
        }
        // Our own camera and microphone once in the room.
        OpenDevices((DWORD)-1);
        std::string hello = "hello from " + m_name;
        BRAC_SendTextMessage(0, FALSE, hello.c_str(), (DWORD)hello.size());
        std::lock_guard<std::mutex> g(m_lock);
        m_inRoom = true;
        m_cond.notify_all();
    }
    void OnAnyChatOnlineUserMessage(DWORD dwUserNum, DWORD dwRoomId) override {
        Say("onlineuser %u %u", dwUserNum, dwRoomId);
        DWORD num = 0;
        BRAC_GetOnlineUser(NULL, num);  // DWORD& parameter: the count first
        if (num == 0) return;
        std::vector<DWORD> ids(num);
        BRAC_GetOnlineUser(ids.data(), num);
        for (DWORD i = 0; i < num; i++) OpenDevices(ids[i]);
    }
    void OnAnyChatUserAtRoomMessage(DWORD dwUserId, BOOL bEnter) override {
        Say("useratroom %u %ld", dwUserId, (long)bEnter);
        if (bEnter) {
            OpenDevices(dwUserId);
            // A newcomer missed the hello we said to the room.
            std::string hello = "hello from " + m_name;
            BRAC_SendTextMessage(dwUserId, FALSE, hello.c_str(), (DWORD)hello.size());
        }
    }
    void OnAnyChatLinkCloseMessage(DWORD dwErrorCode) override {
        Say("linkclose %u", dwErrorCode);
        Fail("link closed");
    }

    void OnAnyChatTextMsgCallBack(DWORD dwFromUserid, DWORD dwToUserid, BOOL bSecret, LPCTSTR lpMsgBuf,
                                  DWORD dwLen) override {
        std::string text(lpMsgBuf, dwLen);
        Say("text %u->%u secret=%ld '%s'", dwFromUserid, dwToUserid, (long)bSecret, text.c_str());
        std::lock_guard<std::mutex> g(m_lock);
        if (dwFromUserid == m_selfId) return;  // our own, if the room echoes it
        Peer &p = m_seen[dwFromUserid];
        if (text.compare(0, 6, "hello ") == 0) p.said_hello = true;
        if (text.compare(0, 5, "done ") == 0) p.said_done = true;
        CheckDoneLocked();
    }

    // "Draws" a picture: checks it as an app building an image straight from
    // the buffer would show it (first row at the top), then copies it.
    void Draw(DWORD userId, const unsigned char *buf, DWORD len, const BITMAPINFOHEADER &bmi, int bytesPerPixel) {
        long w = (long)bmi.biWidth, h = (long)bmi.biHeight;
        bool ok = w == (long)kWidth && h == (long)kHeight && bmi.biBitCount == 8 * bytesPerPixel &&
                  len == (DWORD)(w * h * bytesPerPixel);
        int top = -1, bottom = -1;
        if (ok) {
            top = RowMean(buf, w, bytesPerPixel, 0);
            bottom = RowMean(buf, w, bytesPerPixel, h - 1);
            ok = top >= 200 && bottom <= 50;
        }
        std::lock_guard<std::mutex> g(m_lock);
        m_canvas.assign(buf, buf + len);
        if (userId == m_selfId) {
            if (!ok) {
                if (m_selfBad++ == 0) Say("bad self-view rgb%d %ldx%ld len=%u top=%d", 8 * bytesPerPixel, w, h, len, top);
            } else if (++m_selfFrames == 2 * kGoodFrames) {
                Say("self-view drawn top=%d bottom=%d", top, bottom);
            }
            CheckDoneLocked();
            return;
        }
        Peer &p = m_seen[userId];
        int &good = bytesPerPixel == 3 ? p.good24 : p.good32;
        if (ok) {
            if (++good == kGoodFrames) {
                Say("drawn %u rgb%d %ldx%ld top=%d bottom=%d", userId, 8 * bytesPerPixel, w, h, top, bottom);
            }
        } else if (p.bad++ == 0) {
            Say("bad picture from %u rgb%d %ldx%ld len=%u top=%d bottom=%d", userId, 8 * bytesPerPixel, w, h, len, top,
                bottom);
        }
        CheckDoneLocked();
    }

    // The mean of the colour bytes of row `row` (counted in memory).
    static int RowMean(const unsigned char *buf, long w, int bytesPerPixel, long row) {
        long stride = w * bytesPerPixel, sum = 0;
        for (long x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) sum += buf[row * stride + x * bytesPerPixel + c];
        return (int)(sum / (3 * w));
    }

    void OnAnyChatVideoDataCallBack(DWORD dwUserid, LPVOID lpBuf, DWORD dwLen, LPBITMAPINFOHEADER lpbmiHeader) override {
        Draw(dwUserid, static_cast<const unsigned char *>(lpBuf), dwLen, *lpbmiHeader, 3);
    }
    static void CALLBACK VideoDataEx(DWORD dwUserid, LPVOID lpBuf, DWORD dwLen, BITMAPINFOHEADER bmiHeader,
                                     DWORD dwTimeStamp, LPVOID lpUserValue) {
        (void)dwTimeStamp;
        static_cast<CHelloDlg *>(lpUserValue)->Draw(dwUserid, static_cast<const unsigned char *>(lpBuf), dwLen,
                                                    bmiHeader, 4);
    }
    void OnAnyChatAudioDataCallBack(DWORD dwUserid, LPVOID lpBuf, DWORD dwLen, LPWAVEFORMATEX lpWaveFormatEx) override {
        (void)dwUserid, (void)lpBuf, (void)dwLen, (void)lpWaveFormatEx;
        std::lock_guard<std::mutex> g(m_lock);
        m_audio++;
    }

    // Once every peer's pictures were drawn in both formats: "done" to the
    // room; the run ends when every peer said done too. Call with m_lock.
    void CheckDoneLocked() {
        int drawn = 0, done = 0;
        for (auto &kv : m_seen) {
            drawn += kv.second.good24 >= kGoodFrames && kv.second.good32 >= kGoodFrames;
            done += kv.second.said_done;
        }
        if (!m_sentDone && drawn >= m_peers && m_selfFrames >= 2 * kGoodFrames) {
            m_sentDone = true;
            std::string msg = "done " + m_name;
            BRAC_SendTextMessage(0, FALSE, msg.c_str(), (DWORD)msg.size());
            Say("sent done");
        }
        if (m_sentDone && done >= m_peers) m_cond.notify_all();
    }

    bool Finished() {
        int done = 0;
        for (auto &kv : m_seen) done += kv.second.said_done;
        return m_sentDone && done >= m_peers;
    }
};

// Feeds our camera and microphone until `stop`: the half-white picture and
// a 440 Hz tone (16 kHz mono, 20 ms chunks), in real time.
static void Feed(std::atomic<bool> *stop, int *videoOk) {
    std::vector<unsigned char> picture(kWidth * kHeight * 3, 0);
    std::memset(picture.data(), 255, kWidth * (kHeight / 2) * 3);  // the first rows: the top
    std::vector<short> tone(320);
    auto start = std::chrono::steady_clock::now();
    long frames = 0, chunks = 0;
    while (!*stop) {
        double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        DWORD ms = (DWORD)(t * 1000);
        if (t * kFps >= frames) {
            if (BRAC_InputVideoData(picture.data(), (DWORD)picture.size(), ms) == 0) (*videoOk)++;
            frames++;
        }
        if (t * 50 >= chunks) {
            for (size_t i = 0; i < tone.size(); i++)
                tone[i] = (short)(4000 * std::sin(2 * kPi * 440 * (chunks * 320 + i) / 16000.0));
            BRAC_InputAudioData(reinterpret_cast<LPBYTE>(tone.data()), (DWORD)(tone.size() * sizeof(short)), ms);
            chunks++;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

int main(int argc, char **argv) {
    if (argc < 6) {
        std::fprintf(stderr, "usage: hello HOST PORT NAME ROOM PEERS [stepwise]\n");
        return 2;
    }
    bool stepwise = argc > 6 && std::strcmp(argv[6], "stepwise") == 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kTimeoutSecs);
    DWORD dwMainVer = 0, dwSubVer = 0;
    TCHAR szCompileTime[100] = {0};
    BRAC_GetSDKVersion(dwMainVer, dwSubVer, szCompileTime, sizeof szCompileTime);
    std::printf("sdk %u.%u %s\n", dwMainVer, dwSubVer, szCompileTime);

    BRAC_ActiveCallLog(TRUE);
    CHelloDlg dlg(argv[3], (DWORD)std::atoi(argv[4]), std::atoi(argv[5]));
    BRAC_SetVideoDataExCallBack(BRAC_PIX_FMT_RGB32, CHelloDlg::VideoDataEx, &dlg);

    // No devices: our camera and microphone are external input.
    int one = 1;
    BRAC_SetSDKOption(BRAC_SO_CORESDK_EXTVIDEOINPUT, (const char *)&one, sizeof one);
    BRAC_SetSDKOption(BRAC_SO_CORESDK_EXTAUDIOINPUT, (const char *)&one, sizeof one);

    DWORD dwFuncMode = BRAC_FUNC_VIDEO_CBDATA | BRAC_FUNC_AUDIO_CBDATA | BRAC_FUNC_CONFIG_LOCALINI |
                       BRAC_FUNC_FIREWALL_OPEN | BRAC_FUNC_CHKDEPENDMODULE | BRAC_FUNC_AUDIO_VOLUMECALC |
                       BRAC_FUNC_AUDIO_AUTOVOLUME | BRAC_FUNC_NET_SUPPORTUPNP;
    std::printf("init %u\n", BRAC_InitSDK(NULL, dwFuncMode));
    std::printf("inputformat %u %u\n", BRAC_SetInputVideoFormat(BRAC_PIX_FMT_RGB24, kWidth, kHeight, kFps, 0),
                BRAC_SetInputAudioFormat(1, 16000, 16, 0));

    // One after another, without waiting: the SDK runs each step once the
    // previous one completed. (Stepwise: each after the previous one's
    // notification.)
    auto waitFor = [&](const char *what, bool CHelloDlg::*flag) {
        std::unique_lock<std::mutex> g(dlg.m_lock);
        dlg.m_cond.wait_until(g, deadline, [&] { return dlg.m_failed || dlg.*flag; });
        std::printf("waited for %s\n", what);
    };
    std::printf("connect ret %u\n", BRAC_Connect(argv[1], (DWORD)std::atoi(argv[2])));
    if (stepwise) waitFor("the connection", &CHelloDlg::m_connected);
    std::printf("login ret %u\n", BRAC_Login(argv[3], "", 0));
    if (stepwise) {
        std::unique_lock<std::mutex> g(dlg.m_lock);
        dlg.m_cond.wait_until(g, deadline, [&] { return dlg.m_failed || dlg.m_selfId != 0; });
    }
    std::printf("enterroom ret %u\n", BRAC_EnterRoom(dlg.m_room, "", 0));
    std::fflush(stdout);

    std::atomic<bool> stop(false);
    int videoOk = 0;
    std::thread feeder;
    bool ok;
    {
        std::unique_lock<std::mutex> g(dlg.m_lock);
        ok = dlg.m_cond.wait_until(g, deadline, [&] { return dlg.m_failed || dlg.m_inRoom; }) && !dlg.m_failed;
        if (ok) {
            feeder = std::thread(Feed, &stop, &videoOk);
            ok = dlg.m_cond.wait_until(g, deadline, [&] { return dlg.m_failed || dlg.Finished(); }) && !dlg.m_failed;
        }
        if (!ok && dlg.m_why.empty()) {
            dlg.m_why = dlg.m_inRoom ? "no pictures or no done from every peer in time" : "not in the room in time";
        }
        for (auto &kv : dlg.m_seen)
            std::printf("peer %u rgb24=%d rgb32=%d bad=%d hello=%d done=%d\n", kv.first, kv.second.good24,
                        kv.second.good32, kv.second.bad, kv.second.said_hello, kv.second.said_done);
        std::printf("self-view frames %d bad %d, audio frames %d\n", dlg.m_selfFrames, dlg.m_selfBad, dlg.m_audio);
    }
    stop = true;
    if (feeder.joinable()) feeder.join();
    std::printf("fed %d video frames\n", videoOk);

    BRAC_UserCameraControl((DWORD)-1, FALSE);
    BRAC_UserSpeakControl((DWORD)-1, FALSE);
    std::printf("leaveroom %u\n", BRAC_LeaveRoom((DWORD)-1));
    std::printf("logout %u\n", BRAC_Logout());
    std::printf("release %u\n", BRAC_Release());
    if (!ok) {
        std::fprintf(stderr, "hello: %s\n", dlg.m_why.c_str());
        return 1;
    }
    std::printf("hello done\n");
    return 0;
}
