// A video call through the C# binding, one party per process:
//   mono CallTest.exe callee HOST PORT NAME
//   mono CallTest.exe caller HOST PORT NAME CALLEE_ID
// The callee prints "userid N" once logged in; the caller needs that id.
// Exit code 0 on success; 1 with a message on stderr on a failure or a
// timeout (20 s for the whole run).

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.InteropServices;
using AnyChat;
using SDK = AnyChat.AnyChatCoreSDK;

class Ev
{
    public string Kind;          // "notify", "call", "text"
    public uint A, B, C, D, E;   // notify: msg, wParam, lParam; call: event, user, code, flags, param; text: from, to
    public long Secret;          // text: bSecret as received
    public string S = "";        // call: user string; text: message

    public override string ToString()
    {
        switch (Kind)
        {
            case "notify": return "notify " + A + " " + B + " " + C;
            case "call": return "call event=" + A + " user=" + B + " code=" + C + " flags=" + D + " param=" + E + " str=" + S;
            default: return "text from=" + A + " to=" + B + " secret=" + Secret + " msg=" + S;
        }
    }
}

static class CallTest
{
    static readonly BlockingCollection<Ev> queue = new BlockingCollection<Ev>();
    static readonly List<Ev> backlog = new List<Ev>();
    static readonly Stopwatch clock = Stopwatch.StartNew();
    const int LimitMs = 20000;
    static string role = "?";
    static uint selfId;

    static void Say(string s)
    {
        Console.WriteLine(s);
        Console.Out.Flush();
    }

    // Environment.Exit would run the runtime's shutdown, which waits for the
    // SDK's network thread (attached to the runtime since it ran a callback)
    // and can hang while the SDK is running: end the process at once.
    [DllImport("libc", EntryPoint = "_exit")]
    static extern void _exit(int status);

    static void Fail(string why)
    {
        Console.Out.Flush();
        Console.Error.WriteLine("calltest " + role + ": FAILED: " + why);
        Console.Error.Flush();
        _exit(1);
    }

    static void Check(bool ok, string what)
    {
        if (!ok) Fail(what);
    }

    // ---- callbacks (SDK network thread)

    static void OnNotify(uint msg, uint wParam, uint lParam, IntPtr user)
    {
        queue.Add(new Ev { Kind = "notify", A = msg, B = wParam, C = lParam });
    }

    static void OnCall(uint ev, uint user, uint code, uint flags, uint param, IntPtr str, IntPtr userValue)
    {
        var e = new Ev { Kind = "call", A = ev, B = user, C = code, D = flags, E = param, S = SDK.PtrToString(str) };
        if (role == "callee" && ev == SDK.BRAC_VIDEOCALL_EVENT_REQUEST)
        {
            // Accept from inside the callback, as vendor apps do.
            uint r = SDK.VideoCallControl(SDK.BRAC_VIDEOCALL_EVENT_REPLY, user, 0, 0, 0, null);
            Say("ret reply " + r);
            if (r != 0) Fail("reply returned " + r);
        }
        if (role == "callee" && ev == SDK.BRAC_VIDEOCALL_EVENT_START)
        {
            uint r = SDK.EnterRoom(param, "", 0);
            Say("ret enter " + r);
            if (r != 0) Fail("enter room returned " + r);
        }
        queue.Add(e);
    }

    static void OnText(uint from, uint to, IntPtr secret, IntPtr msg, uint len, IntPtr userValue)
    {
        queue.Add(new Ev { Kind = "text", A = from, B = to, Secret = secret.ToInt64(), S = SDK.PtrToString(msg, (int)len) });
    }

    // ---- waiting

    static bool Fatal(Ev e)
    {
        if (e.Kind == "notify" && e.A == SDK.WM_GV_LINKCLOSE) return true;
        if (e.Kind == "notify" && e.A == SDK.WM_GV_CONNECT && e.B == 0) return true;
        if (e.Kind == "notify" && e.A == SDK.WM_GV_LOGINSYSTEM && e.C != 0) return true;
        if (e.Kind == "call" && e.A == SDK.BRAC_VIDEOCALL_EVENT_REPLY && e.C != 0) return true;
        return false;
    }

    static Ev Wait(string what, Func<Ev, bool> match)
    {
        int i = backlog.FindIndex(e => match(e));
        if (i >= 0)
        {
            Ev found = backlog[i];
            backlog.RemoveAt(i);
            return found;
        }
        while (true)
        {
            int left = LimitMs - (int)clock.ElapsedMilliseconds;
            Ev e;
            if (left <= 0 || !queue.TryTake(out e, left)) Fail("timeout waiting for " + what);
            else
            {
                Say(e.ToString());
                if (match(e)) return e;
                if (Fatal(e)) Fail("while waiting for " + what + ": " + e);
                backlog.Add(e);
            }
        }
    }

    static Ev WaitNotify(uint msg, uint wParam, string name)
    {
        return Wait(name, e => e.Kind == "notify" && e.A == msg && e.B == wParam);
    }

    static Ev WaitCall(uint ev, uint peer, string name)
    {
        return Wait(name, e => e.Kind == "call" && e.A == ev && e.B == peer);
    }

    static void Ret(string what, uint r)
    {
        Say("ret " + what + " " + r);
        Check(r == 0, what + " returned " + r);
    }

    static int Main(string[] args)
    {
        if (args.Length < 4 || (args[0] == "caller" && args.Length < 5) || (args[0] != "caller" && args[0] != "callee"))
        {
            Console.Error.WriteLine("usage: CallTest.exe callee HOST PORT NAME | caller HOST PORT NAME CALLEE_ID");
            return 2;
        }
        role = args[0];
        string host = args[1];
        uint port = uint.Parse(args[2]);
        string name = args[3];
        Say("BOOL is " + SDK.SizeOfBOOL + " bytes");

        // Callbacks before InitSDK (the library keeps them).
        Ret("setnotify", SDK.SetNotifyMessageCallBack(OnNotify, IntPtr.Zero));
        Ret("setcall", SDK.SetVideoCallEventCallBack(OnCall, IntPtr.Zero));
        Ret("settext", SDK.SetTextMessageCallBack(OnText, IntPtr.Zero));
        Ret("init", SDK.InitSDK(IntPtr.Zero, 0));
        Ret("connect", SDK.Connect(host, port));
        Ret("login", SDK.Login(name, "", 0));
        WaitNotify(SDK.WM_GV_CONNECT, 1, "WM_GV_CONNECT(1)");
        Ev login = Wait("WM_GV_LOGINSYSTEM", e => e.Kind == "notify" && e.A == SDK.WM_GV_LOGINSYSTEM);
        Check(login.C == 0 && login.B != 0, "login failed: " + login);
        selfId = login.B;
        uint queried = 0;
        Ret("query", SDK.QueryUserState(SDK.SELF, SDK.BRAC_USERSTATE_SELFUSERID, ref queried, 4));
        Check(queried == selfId, "SELFUSERID " + queried + " != " + selfId);
        uint code;
        string me = SDK.GetUserName(SDK.SELF, out code);
        Check(code == 0 && me == name, "own name '" + me + "' code " + code);
        Say("userid " + selfId);

        if (role == "callee") RunCallee();
        else RunCaller(uint.Parse(args[4]));

        Ret("release", SDK.Release());
        Say(role + " done");
        return 0;
    }

    static void RunCallee()
    {
        Ev req = Wait("REQUEST", e => e.Kind == "call" && e.A == SDK.BRAC_VIDEOCALL_EVENT_REQUEST);
        uint caller = req.B;
        Check(req.D == (SDK.BRAC_VIDEOCALL_FLAGS_AUDIO | SDK.BRAC_VIDEOCALL_FLAGS_VIDEO) && req.E == 42 && req.S == "hello",
            "request carries flags/param/string unchanged: " + req);
        Ev start = WaitCall(SDK.BRAC_VIDEOCALL_EVENT_START, caller, "START");
        uint room = start.E;
        Check(room != 0, "START without a room id");
        Ev entered = WaitNotify(SDK.WM_GV_ENTERROOM, room, "WM_GV_ENTERROOM(room)");
        Check(entered.C == 0, "enter room failed: " + entered);
        // The caller sends a secret text once both are in the room.
        Ev text = Wait("text from the caller", e => e.Kind == "text" && e.A == caller);
        Check(text.S == "hello from caller" && text.Secret == 1 && text.B == selfId, "text: " + text);
        Ret("text", SDK.SendTextMessage(caller, false, "hello from callee"));
        Ev fin = WaitCall(SDK.BRAC_VIDEOCALL_EVENT_FINISH, caller, "FINISH");
        Check(fin.C == 0 && fin.E == 7 && fin.S == "bye", "finish: " + fin);
    }

    static void RunCaller(uint callee)
    {
        Ret("request", SDK.VideoCallControl(SDK.BRAC_VIDEOCALL_EVENT_REQUEST, callee, 0,
            SDK.BRAC_VIDEOCALL_FLAGS_AUDIO | SDK.BRAC_VIDEOCALL_FLAGS_VIDEO, 42, "hello"));
        Ev ringing = WaitCall(SDK.BRAC_VIDEOCALL_EVENT_REPLY, callee, "REPLY(0)");
        Check(ringing.C == 0, "reply: " + ringing);
        Ev start = WaitCall(SDK.BRAC_VIDEOCALL_EVENT_START, callee, "START");
        uint room = start.E;
        Check(room != 0, "START without a room id");
        Ret("enter", SDK.EnterRoom(room, "", 0));
        Ev entered = WaitNotify(SDK.WM_GV_ENTERROOM, room, "WM_GV_ENTERROOM(room)");
        Check(entered.C == 0, "enter room failed: " + entered);
        // Whoever enters second sees two users listed; the first sees the other arrive.
        Wait("the callee in the room", e => e.Kind == "notify" &&
            ((e.A == SDK.WM_GV_ONLINEUSER && e.B == 2 && e.C == room) ||
             (e.A == SDK.WM_GV_USERATROOM && e.B == callee && e.C == 1)));
        uint code;
        uint[] users = SDK.GetOnlineUsers(out code);
        Check(code == 0 && users.Length == 1 && users[0] == callee, "online users: code " + code);
        string peerName = SDK.GetUserName(callee, out code);
        Check(code == 0 && !string.IsNullOrEmpty(peerName), "peer name: code " + code);
        Say("peer " + callee + " " + peerName);
        // A BOOL with only bit 32 set: true only if it reaches the library as a
        // 64-bit C long (it does on LP64 Linux; on 32-bit BOOL platforms it is 1).
        IntPtr secret = SDK.SizeOfBOOL == 8 ? new IntPtr(1L << 32) : new IntPtr(1);
        byte[] msg = System.Text.Encoding.UTF8.GetBytes("hello from caller");
        Ret("text", SDK.SendTextMessage(callee, secret, msg, (uint)msg.Length));
        Ev answer = Wait("text from the callee", e => e.Kind == "text" && e.A == callee);
        Check(answer.S == "hello from callee" && answer.Secret == 0 && answer.B == selfId, "text: " + answer);
        Ret("finish", SDK.VideoCallControl(SDK.BRAC_VIDEOCALL_EVENT_FINISH, callee, 0, 0, 7, "bye"));
        Ev fin = WaitCall(SDK.BRAC_VIDEOCALL_EVENT_FINISH, callee, "FINISH");
        Check(fin.C == 0, "finish: " + fin);
    }
}
