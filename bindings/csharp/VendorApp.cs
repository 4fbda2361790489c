// An app written the way the vendor's C# demos are written, against the
// vendor-shaped classes only (`using ANYCHATAPI;`): int handlers, text as
// string in the callbacks, the vendor's nested BITMAPINFOHEADER, delegates held
// in fields, int user values, ref int / StringBuilder / int[] out-parameters,
// the business server's BRAS_* methods and callbacks.
//
//   VendorApp.exe offline                  version and an error before InitSDK
//   VendorApp.exe bras                     business server: assigns the user ids
//                                          (VerifyUser: alice 1001, bob 1002),
//                                          refuses the first call request, lets
//                                          the next ring; ends when stdin closes
//   VendorApp.exe callee HOST PORT NAME    logs in, answers a call
//   VendorApp.exe caller HOST PORT NAME ID calls ID (refused, then again)
//
// In the call both parties feed a 320x240 RGB24 picture through external
// input (the caller's top half white, the callee's bottom half), open both
// cameras, check three of the peer's frames, ask the SDK about the room and
// the peer, exchange a text message; the caller hangs up. Exit status 0 and
// "<role> done" on success, else 1 with the reason on stderr (20 s limit).

using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using ANYCHATAPI;

class VendorApp
{
    const int W = 320, H = 240, Fps = 15, LimitSecs = 20;

    // What the handlers saw, for the main thread: (kind, ints, text).
    class Ev
    {
        public string Kind, Text;
        public int[] V;
    }

    static readonly List<Ev> events = new List<Ev>();
    static int peer = -1, good, bad;
    static bool peerTopWhite;
    static readonly ManualResetEvent drawn = new ManualResetEvent(false);

    // Delegates in fields, as the vendor's demos keep them.
    static AnyChatCoreSDK.NotifyMessage_CallBack notifyCallBack = OnNotifyMessageCallBack;
    static AnyChatCoreSDK.VideoData_CallBack videoCallBack = OnVideoDataCallBack;
    static AnyChatCoreSDK.VideoCallEvent_CallBack videoCallEventCallBack = OnVideoCallEventCallBack;
    static AnyChatCoreSDK.TextMessage_CallBack textCallBack = OnTextMessageCallBack;

    static void Say(string s)
    {
        Console.WriteLine(s);
        Console.Out.Flush();
    }

    static void Post(string kind, string text, params int[] v)
    {
        lock (events)
        {
            events.Add(new Ev { Kind = kind, Text = text, V = v });
            Monitor.PulseAll(events);
        }
    }

    static Ev Wait(string kind, Func<Ev, bool> match, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(LimitSecs);
        lock (events)
        {
            while (true)
            {
                for (int i = 0; i < events.Count; i++)
                {
                    if (events[i].Kind == kind && match(events[i]))
                    {
                        var e = events[i];
                        events.RemoveAt(i);
                        return e;
                    }
                }
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) throw new Exception("no " + what + " in time");
                Monitor.Wait(events, left);
            }
        }
    }

    static void Check(string what, int ret)
    {
        if (ret != 0) throw new Exception(what + " failed: " + ret);
    }

    // ---- the client's handlers

    static void OnNotifyMessageCallBack(int dwNotifyMsg, int wParam, int lParam, int userValue)
    {
        if (userValue != 42) Say("bad user value " + userValue);
        Post("notify", null, dwNotifyMsg, wParam, lParam);
    }

    static void OnVideoCallEventCallBack(int dwEventType, int dwUserId, int dwErrorCode, int dwFlags, int dwParam, string lpUserStr, int lpUserValue)
    {
        Post("call", lpUserStr, dwEventType, dwUserId, dwErrorCode, dwFlags, dwParam);
    }

    static void OnTextMessageCallBack(int fromuserId, int touserId, bool isserect, string message, int len, int userValue)
    {
        Post("text", message, fromuserId, touserId, isserect ? 1 : 0);
    }

    static void OnVideoDataCallBack(int userId, IntPtr buf, int len, AnyChatCoreSDK.BITMAPINFOHEADER bitMap, int userValue)
    {
        if (userId != peer) return;  // one's own picture
        bool ok = bitMap.biWidth == W && bitMap.biHeight == H && bitMap.biBitCount == 24 && len == W * H * 3;
        if (ok)
        {
            var f = new byte[len];
            Marshal.Copy(buf, f, 0, len);
            int top = RowMean(f, 0), bottom = RowMean(f, H - 1);
            ok = peerTopWhite ? (top >= 200 && bottom <= 50) : (top <= 50 && bottom >= 200);
        }
        if (!ok)
        {
            if (bad++ == 0) Say("bad picture " + bitMap.biWidth + "x" + bitMap.biHeight + " len=" + len);
        }
        else if (++good == 3)
        {
            Say("picture ok from " + userId);
            drawn.Set();
        }
    }

    static int RowMean(byte[] f, int row)
    {
        long sum = 0;
        for (int i = row * W * 3; i < (row + 1) * W * 3; i++) sum += f[i];
        return (int)(sum / (W * 3));
    }

    static byte[] Picture(bool topWhite)
    {
        var p = new byte[W * H * 3];
        int half = W * H / 2 * 3;
        for (int i = topWhite ? 0 : half; i < (topWhite ? half : p.Length); i++) p[i] = 255;
        return p;
    }

    // ---- the client

    static int Start(string host, string port, string name)
    {
        ulong funcMode = AnyChatCoreSDK.BRAC_FUNC_VIDEO_CBDATA | AnyChatCoreSDK.BRAC_FUNC_AUDIO_AUTOPLAY
            | AnyChatCoreSDK.BRAC_FUNC_CHKDEPENDMODULE | AnyChatCoreSDK.BRAC_FUNC_AUDIO_VOLUMECALC
            | AnyChatCoreSDK.BRAC_FUNC_NET_SUPPORTUPNP | AnyChatCoreSDK.BRAC_FUNC_FIREWALL_OPEN
            | AnyChatCoreSDK.BRAC_FUNC_AUDIO_AUTOVOLUME | AnyChatCoreSDK.BRAC_FUNC_CONFIG_LOCALINI;
        Check("InitSDK", AnyChatCoreSDK.InitSDK(IntPtr.Zero, funcMode));
        Check("SetNotifyMessageCallBack", AnyChatCoreSDK.SetNotifyMessageCallBack(notifyCallBack, 42));
        Check("SetVideoDataCallBack", AnyChatCoreSDK.SetVideoDataCallBack(AnyChatCoreSDK.PixelFormat.BRAC_PIX_FMT_RGB24, videoCallBack, 0));
        Check("SetVideoCallEventCallBack", AnyChatCoreSDK.SetVideoCallEventCallBack(videoCallEventCallBack, 0));
        Check("SetTextMessageCallBack", AnyChatCoreSDK.SetTextMessageCallBack(textCallBack, 0));
        int ext = 1;
        Check("SetSDKOption", AnyChatCoreSDK.SetSDKOption(AnyChatCoreSDK.BRAC_SO_CORESDK_EXTVIDEOINPUT, ref ext, sizeof(int)));
        Check("Connect", AnyChatCoreSDK.Connect(host, int.Parse(port)));
        Check("Login", AnyChatCoreSDK.Login(name, "", 0));
        var login = Wait("notify", e => e.V[0] == AnyChatCoreSDK.WM_GV_LOGINSYSTEM, "WM_GV_LOGINSYSTEM");
        if (login.V[2] != 0) throw new Exception("login failed: " + login.V[2]);
        int selfId = -1;
        Check("QueryUserState", AnyChatCoreSDK.QueryUserState(-1, AnyChatCoreSDK.BRAC_USERSTATE_SELFUSERID, ref selfId, sizeof(int)));
        if (selfId != login.V[1]) throw new Exception("BRAC_USERSTATE_SELFUSERID " + selfId + " != " + login.V[1]);
        return login.V[1];
    }

    /// <summary>Enters the call's room, opens both cameras, feeds the picture (until the
    /// returned event is set), asks about the room and the peer.</summary>
    static ManualResetEvent InCall(int room, bool topWhite, string peerName)
    {
        Check("EnterRoom", AnyChatCoreSDK.EnterRoom(room, "", 0));
        Wait("notify", e => e.V[0] == AnyChatCoreSDK.WM_GV_ENTERROOM && e.V[2] == 0, "WM_GV_ENTERROOM");
        Check("SetInputVideoFormat", AnyChatCoreSDK.SetInputVideoFormat(AnyChatCoreSDK.PixelFormat.BRAC_PIX_FMT_RGB24, W, H, Fps, 0));
        Check("UserCameraControl", AnyChatCoreSDK.UserCameraControl(-1, true));
        Check("UserCameraControl", AnyChatCoreSDK.UserCameraControl(peer, true));
        Check("UserSpeakControl", AnyChatCoreSDK.UserSpeakControl(-1, 1));
        var stop = new ManualResetEvent(false);
        var pic = Picture(topWhite);
        var feeder = new Thread(() =>
        {
            var start = DateTime.UtcNow;
            long n = 0;
            while (!stop.WaitOne(10))
            {
                double t = (DateTime.UtcNow - start).TotalSeconds;
                if (t * Fps >= n)
                {
                    AnyChatCoreSDK.InputVideoData(pic, pic.Length, (int)(t * 1000));
                    n++;
                }
            }
        });
        feeder.IsBackground = true;
        feeder.Start();
        // Who else is in the room: the vendor's count-then-fill with int[] and ref int.
        var deadline = DateTime.UtcNow.AddSeconds(LimitSecs);
        int[] users;
        while (true)
        {
            int num = 0;
            Check("GetOnlineUser", AnyChatCoreSDK.GetOnlineUser(null, ref num));
            users = new int[num];
            Check("GetOnlineUser", AnyChatCoreSDK.GetOnlineUser(users, ref num));
            if (Array.IndexOf(users, peer) >= 0) break;
            if (DateTime.UtcNow > deadline) throw new Exception("the peer is not in the room");
            Thread.Sleep(50);  // polling is what this API offers (WM_GV_USERATROOM may have passed)
        }
        var userName = new StringBuilder(64);
        Check("GetUserName", AnyChatCoreSDK.GetUserName(peer, userName, userName.Capacity));
        if (userName.ToString() != peerName) throw new Exception("GetUserName: '" + userName + "' != '" + peerName + "'");
        Say("in room " + room + " with " + userName + " (" + users.Length + " other users)");
        return stop;
    }

    static void Exchange(string text)
    {
        if (!drawn.WaitOne(LimitSecs * 1000)) throw new Exception("no good picture from " + peer + " (" + bad + " bad)");
        int camera = 0;
        Check("GetCameraState", AnyChatCoreSDK.GetCameraState(peer, ref camera));
        if (camera != AnyChatCoreSDK.GV_CAMERA_STATE_OPEN) throw new Exception("peer's camera state " + camera);
        Check("SendTextMessage", AnyChatCoreSDK.SendTextMessage(peer, false, text, text.Length));
        var t = Wait("text", e => e.V[0] == peer, "text");
        Say("text from " + peer + ": " + t.Text);
    }

    static void Finish()
    {
        AnyChatCoreSDK.LeaveRoom(-1);
        AnyChatCoreSDK.Logout();
        AnyChatCoreSDK.Release();
    }

    static void Callee(string host, string port, string name)
    {
        peerTopWhite = true;
        Say("userid " + Start(host, port, name));
        var req = Wait("call", e => e.V[0] == AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REQUEST, "REQUEST");
        peer = req.V[1];
        Say("rang from " + peer + " str=" + req.Text);
        Check("VideoCallControl", AnyChatCoreSDK.VideoCallControl(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REPLY, peer, 0, 0, 0, ""));
        var start = Wait("call", e => e.V[0] == AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_START, "START");
        var stop = InCall(start.V[4], false, "alice");
        Exchange("héllo from the callee");
        Wait("call", e => e.V[0] == AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_FINISH, "FINISH");
        Say("finished");
        stop.Set();
        Finish();
        Say("callee done");
    }

    static void Caller(string host, string port, string name, string peerId)
    {
        peerTopWhite = false;
        Start(host, port, name);
        peer = int.Parse(peerId);
        int flags = AnyChatCoreSDK.BRAC_VIDEOCALL_FLAGS_AUDIO | AnyChatCoreSDK.BRAC_VIDEOCALL_FLAGS_VIDEO;
        Check("VideoCallControl", AnyChatCoreSDK.VideoCallControl(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REQUEST, peer, 0, flags, 0, "first"));
        var reply = Wait("call", e => e.V[0] == AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REPLY, "REPLY");
        if (reply.V[2] != AnyChatCoreSDK.AC_ERROR_VIDEOCALL_REJECT) throw new Exception("the first call was not refused: " + reply.V[2]);
        Say("refused " + reply.V[2]);
        Check("VideoCallControl", AnyChatCoreSDK.VideoCallControl(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REQUEST, peer, 0, flags, 0, "second"));
        reply = Wait("call", e => e.V[0] == AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REPLY, "REPLY");
        if (reply.V[2] != 0) throw new Exception("the second call was refused: " + reply.V[2]);
        var start = Wait("call", e => e.V[0] == AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_START, "START");
        Say("started room " + start.V[4]);
        var stop = InCall(start.V[4], true, "bob");
        Exchange("héllo from the caller");
        stop.Set();
        Check("VideoCallControl", AnyChatCoreSDK.VideoCallControl(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_FINISH, peer, 0, 0, 0, ""));
        Wait("call", e => e.V[0] == AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_FINISH, "FINISH");
        Finish();
        Say("caller done");
    }

    // ---- the business server (the vendor's server demo: handlers with int
    // parameters, string text, ref int out-values, BRAS_-named methods)

    static int requests;
    static AnyChatServerSDK.OnServerAppMessageExCallBack appMessageCallBack = OnServerAppMessageEx;
    static AnyChatServerSDK.VerifyUserCallBack verifyUserCallBack = OnVerifyUser;
    static AnyChatServerSDK.OnUserLoginActionCallBack loginCallBack = OnUserLoginAction;
    static AnyChatServerSDK.OnVideoCallEventCallBack videoCallCallBack = OnVideoCallEvent;

    static void OnServerAppMessageEx(int dwNotifyMessage, int wParam, int lParam, int userValue)
    {
        if (dwNotifyMessage == AnyChatServerSDK.BRAS_MESSAGE_CORESERVERCONN) Say(wParam == 0 ? "link up" : "link down " + wParam);
    }

    static int OnVerifyUser(string userName, string password, ref int userID, ref int userLevel, IntPtr nickName, int len, int userValue)
    {
        userID = userName == "alice" ? 1001 : userName == "bob" ? 1002 : 0;
        userLevel = 1;
        byte[] nick = Encoding.UTF8.GetBytes(userName + " (vendor app)\0");
        Marshal.Copy(nick, 0, nickName, Math.Min(nick.Length, len));
        Say("verify " + userName + " -> " + userID);
        return userID == 0 ? AnyChatServerSDK.GV_ERR_CERTIFY_FAIL : 0;
    }

    static void OnUserLoginAction(int userId, string userName, int level, string addr, int userValue)
    {
        Say("login " + userName + " " + userId + " level " + level);
    }

    static int OnVideoCallEvent(int dwEventType, int dwSrcUserId, int dwTarUserId, int dwErrorCode, int dwFlags, int dwParam, string lpUserStr, int lpUserValue)
    {
        if (dwEventType != AnyChatServerSDK.BRAS_VIDEOCALL_EVENT_REQUEST) return 0;
        int answer = Interlocked.Increment(ref requests) == 1 ? AnyChatServerSDK.AC_ERROR_VIDEOCALL_REJECT : 0;
        Say("request " + dwSrcUserId + "->" + dwTarUserId + " str=" + lpUserStr + " -> " + answer);
        return answer;
    }

    static void Bras()
    {
        int main = 0, sub = 0;
        var built = new StringBuilder(128);
        AnyChatServerSDK.BRAS_GetSDKVersion(ref main, ref sub, built, built.Capacity);
        Say("server sdk " + main + "." + sub + " " + built);
        Check("BRAS_SetOnServerAppMessageExCallBack", AnyChatServerSDK.BRAS_SetOnServerAppMessageExCallBack(appMessageCallBack, 0));
        Check("BRAS_SetVerifyUserCallBack", AnyChatServerSDK.BRAS_SetVerifyUserCallBack(verifyUserCallBack, 0));
        Check("BRAS_SetOnUserLoginActionCallBack", AnyChatServerSDK.BRAS_SetOnUserLoginActionCallBack(loginCallBack, 0));
        Check("BRAS_SetOnVideoCallEventCallBack", AnyChatServerSDK.BRAS_SetOnVideoCallEventCallBack(videoCallCallBack, 0));
        Check("BRAS_InitSDK", AnyChatServerSDK.BRAS_InitSDK(0));
        Console.In.ReadToEnd();  // until stdin closes
        AnyChatServerSDK.BRAS_Release();
        Say("bras done");
    }

    static int Offline()
    {
        int main = 0, sub = 0;
        var built = new StringBuilder(128);
        AnyChatCoreSDK.GetSDKVersion(ref main, ref sub, built, built.Capacity);
        int userNum = 0;
        int notInit = AnyChatCoreSDK.GetOnlineUser(null, ref userNum);
        Say("version " + main + "." + sub + " " + built);
        Say("before init " + notInit);
        return notInit == AnyChatCoreSDK.GV_ERR_NOTINIT ? 0 : 1;
    }

    static int Main(string[] args)
    {
        try
        {
            switch (args.Length > 0 ? args[0] : "")
            {
                case "offline": return Offline();
                case "bras": Bras(); break;
                case "callee": Callee(args[1], args[2], args[3]); break;
                case "caller": Caller(args[1], args[2], args[3], args[4]); break;
                default: throw new Exception("usage: VendorApp.exe offline | bras | callee HOST PORT NAME | caller HOST PORT NAME ID");
            }
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
    }
}
