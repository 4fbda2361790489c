// A video call with pictures, text messages and a business server, on the
// idiomatic layer (AnyChat.Client, AnyChat.BusinessServer); one role per
// process (the C API is one SDK per process):
//
//   VideoCall.exe bras                      business server (ANYCHAT_CORE_ADDR,
//                                           ANYCHAT_BUSINESS_SECRET): refuses the first
//                                           call request with AC_ERROR_VIDEOCALL_REJECT,
//                                           lets the next ring; runs until stdin closes
//   VideoCall.exe callee HOST PORT NAME     prints "userid N", accepts the call
//   VideoCall.exe caller HOST PORT NAME N   calls N (refused), calls again
//   VideoCall.exe symbols                   resolves every declared function in the
//                                           libraries, prints the counts
//
// Both parties feed their camera with a picture of their own through external
// input (320x240 RGB24: the caller's top half white, the callee's bottom half
// white), open each other's camera and check the peer's decoded frames in the
// video data callback. Then each sends a text message; the caller hangs up
// once it drew the callee's picture and got its text. Exit status 0 and
// "<role> done" on success, else 1 with the reason on stderr (20 s limit).

using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Threading;
using ANYCHATAPI;
using AnyChat;
using AnyChat.Native;

class Failure : Exception
{
    public Failure(string m) : base(m) { }
}

/// <summary>Events from the SDK's thread, waited for by the main thread; a wait keeps
/// what it passes over.</summary>
class Events
{
    readonly List<object> items = new List<object>();
    const int Max = 1024;

    public void Post(object e)
    {
        lock (items)
        {
            if (items.Count < Max) items.Add(e);
            Monitor.PulseAll(items);
        }
    }

    public T Wait<T>(Func<T, bool> match, string what) where T : class
    {
        var deadline = DateTime.UtcNow.AddSeconds(VideoCall.LimitSecs);
        lock (items)
        {
            while (true)
            {
                for (int i = 0; i < items.Count; i++)
                {
                    var e = items[i] as T;
                    if (e != null && match(e))
                    {
                        items.RemoveAt(i);
                        return e;
                    }
                }
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) throw new Failure("no " + what + " in time");
                Monitor.Wait(items, left);
            }
        }
    }

    public bool Any<T>(Func<T, bool> match) where T : class
    {
        lock (items) return items.OfType<T>().Any(match);
    }
}

static class VideoCall
{
    public const int LimitSecs = 20;
    const int W = 320, H = 240, Fps = 15;

    static void Say(string s)
    {
        Console.WriteLine(s);
        Console.Out.Flush();
    }

    static byte[] Picture(bool topWhite)
    {
        var p = new byte[W * H * 3];
        int half = W * H / 2 * 3;
        for (int i = topWhite ? 0 : half; i < (topWhite ? half : p.Length); i++) p[i] = 255;
        return p;
    }

    static int RowMean(byte[] f, int row)
    {
        long sum = 0;
        for (int i = row * W * 3; i < (row + 1) * W * 3; i++) sum += f[i];
        return (int)(sum / (W * 3));
    }

    class Party
    {
        public readonly Client Client;
        public readonly Events Events = new Events();
        public volatile uint Peer = uint.MaxValue;
        public int Good, Bad;
        public readonly ManualResetEvent Drawn = new ManualResetEvent(false);
        readonly bool peerTopWhite;

        public Party(bool peerTopWhite)
        {
            this.peerTopWhite = peerTopWhite;
            Client = new Client(AnyChatCoreSDK.BRAC_PIX_FMT_RGB24, true);
            Client.Notify += (s, e) => Events.Post(e);
            Client.VideoCall += (s, e) => Events.Post(e);
            Client.TextMessage += (s, e) => Events.Post(e);
            Client.VideoFrame += (s, e) => OnFrame(e);
        }

        void OnFrame(VideoFrameEventArgs e)
        {
            if (e.UserId != Peer) return;  // one's own picture (self-view)
            bool ok = e.Header.Width == W && e.Header.Height == H && e.Header.biBitCount == 24 && e.Frame.Length == W * H * 3;
            if (ok)
            {
                int top = RowMean(e.Frame, 0), bottom = RowMean(e.Frame, H - 1);
                ok = peerTopWhite ? (top >= 200 && bottom <= 50) : (top <= 50 && bottom >= 200);
            }
            if (!ok)
            {
                if (Bad++ == 0) Say("bad picture " + e.Header.Width + "x" + e.Header.Height + " len=" + e.Frame.Length);
            }
            else if (++Good == 3)
            {
                Say("picture ok from " + e.UserId);
                Drawn.Set();
            }
        }

        public uint Login(string host, string port, string name)
        {
            Client.Connect(host, int.Parse(port));
            Client.Login(name);
            var e = Events.Wait<NotifyEventArgs>(n => n.Message == AnyChatCoreSDK.WM_GV_LOGINSYSTEM, "WM_GV_LOGINSYSTEM");
            if (e.LParam != 0) throw new Failure("login failed: " + e.LParam);
            return e.WParam;
        }

        public VideoCallEventArgs WaitCall(uint ev, string what)
        {
            return Events.Wait<VideoCallEventArgs>(e => e.Event == ev, what);
        }

        /// <summary>Enters the call's room, opens both cameras, feeds the picture until the
        /// returned event is set.</summary>
        public ManualResetEvent InCall(uint room, bool topWhite)
        {
            Client.EnterRoom(room);
            Events.Wait<NotifyEventArgs>(n => n.Message == AnyChatCoreSDK.WM_GV_ENTERROOM && n.LParam == 0, "WM_GV_ENTERROOM");
            Client.SetInputVideoFormat(AnyChatCoreSDK.BRAC_PIX_FMT_RGB24, W, H, Fps);
            Client.Camera(Core.SELF, true);
            Client.Camera(Peer, true);
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
                        Client.InputVideo(pic, (uint)(t * 1000));
                        n++;
                    }
                }
            });
            feeder.IsBackground = true;
            feeder.Start();
            return stop;
        }

        public void Exchange(string text)
        {
            if (!Drawn.WaitOne(LimitSecs * 1000)) throw new Failure("no good picture from " + Peer + " (" + Bad + " bad)");
            Client.SendText(Peer, text);
            var t = Events.Wait<TextMessageEventArgs>(e => e.FromUserId == Peer, "text");
            Say("text from " + Peer + ": " + t.Text);
        }
    }

    static void Callee(string host, string port, string name)
    {
        var p = new Party(true);
        using (p.Client)
        {
            Say("userid " + p.Login(host, port, name));
            var req = p.WaitCall(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REQUEST, "REQUEST");
            p.Peer = req.UserId;
            Say("rang from " + p.Peer + " str=" + req.UserStr);
            p.Client.VideoCallControl(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REPLY, p.Peer);
            var start = p.WaitCall(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_START, "START");
            var stop = p.InCall(start.Param, false);
            p.Exchange("héllo from the callee");
            p.WaitCall(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_FINISH, "FINISH");
            Say("finished");
            stop.Set();
            if (p.Events.Any<VideoCallEventArgs>(e => e.Event == AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REQUEST))
                throw new Failure("the refused request rang");
        }
        Say("callee done");
    }

    static void Caller(string host, string port, string name, string peer)
    {
        var p = new Party(false);
        using (p.Client)
        {
            p.Login(host, port, name);
            p.Peer = uint.Parse(peer);
            uint flags = AnyChatCoreSDK.BRAC_VIDEOCALL_FLAGS_AUDIO | AnyChatCoreSDK.BRAC_VIDEOCALL_FLAGS_VIDEO;
            p.Client.VideoCallControl(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REQUEST, p.Peer, 0, flags, 0, "first");
            var reply = p.WaitCall(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REPLY, "REPLY");
            if (reply.ErrorCode != AnyChatCoreSDK.AC_ERROR_VIDEOCALL_REJECT) throw new Failure("the first call was not refused: REPLY(" + reply.ErrorCode + ")");
            Say("refused " + reply.ErrorCode);
            p.Client.VideoCallControl(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REQUEST, p.Peer, 0, flags, 0, "second");
            reply = p.WaitCall(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REPLY, "REPLY");
            if (reply.ErrorCode != 0) throw new Failure("the second call was refused: REPLY(" + reply.ErrorCode + ")");
            var start = p.WaitCall(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_START, "START");
            Say("started room " + start.Param);
            var stop = p.InCall(start.Param, true);
            p.Exchange("héllo from the caller");
            stop.Set();
            p.Client.VideoCallControl(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_FINISH, p.Peer);
            p.WaitCall(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_FINISH, "FINISH");
        }
        Say("caller done");
    }

    static void Bras()
    {
        int requests = 0;
        using (var server = new BusinessServer())
        {
            server.Link += (s, up) => Say(up ? "link up" : "link down");
            server.CallFilter = r =>
            {
                uint answer = Interlocked.Increment(ref requests) == 1 ? AnyChatServerSDK.AC_ERROR_VIDEOCALL_REJECT : 0u;
                Say("request " + r.SrcUserId + "->" + r.TarUserId + " str=" + r.UserStr + " -> " + answer);
                return answer;
            };
            server.Start();
            Console.In.ReadToEnd();  // until the test closes stdin
        }
        Say("bras done");
    }

    /// <summary>Every DllImport of the native classes resolves in the library; the counts of
    /// the entry points and delegates, and of the vendor classes' delegates.</summary>
    static void Symbols()
    {
        foreach (var t in new[] { typeof(AnyChat.Native.Core), typeof(AnyChat.Native.Server) })
        {
            var imports = t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
                .Where(m => m.GetCustomAttributes(typeof(DllImportAttribute), false).Length > 0).ToList();
            foreach (var m in imports) Marshal.Prelink(m);
            int entryPoints = imports.Select(m => ((DllImportAttribute)m.GetCustomAttributes(typeof(DllImportAttribute), false)[0]).EntryPoint)
                .Distinct().Count();
            int delegates = t.GetNestedTypes().Count(n => n.IsSubclassOf(typeof(Delegate)));
            Say(t.Name + " functions " + entryPoints + " delegates " + delegates);
        }
        foreach (var t in new[] { typeof(AnyChatCoreSDK), typeof(AnyChatServerSDK) })
        {
            int delegates = t.GetNestedTypes().Count(n => n.IsSubclassOf(typeof(Delegate)));
            int constants = t.GetFields(BindingFlags.Static | BindingFlags.Public).Count(f => f.IsLiteral);
            Say(t.Name + " delegates " + delegates + " constants " + constants);
        }
        Say("symbols done");
    }

    static int Main(string[] args)
    {
        try
        {
            switch (args.Length > 0 ? args[0] : "")
            {
                case "bras": Bras(); break;
                case "callee": Callee(args[1], args[2], args[3]); break;
                case "caller": Caller(args[1], args[2], args[3], args[4]); break;
                case "symbols": Symbols(); break;
                default: throw new Failure("usage: VideoCall.exe bras | callee HOST PORT NAME | caller HOST PORT NAME ID | symbols");
            }
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine((args.Length > 0 ? args[0] : "") + ": " + (e is Failure ? e.Message : e.ToString()));
            return 1;
        }
    }
}
