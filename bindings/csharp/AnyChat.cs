// The idiomatic layer over the exact-typed classes (AnyChat.Native.Core,
// AnyChat.Native.Server; constants from ANYCHATAPI.AnyChatCoreSDK): an SDK
// handle that is IDisposable, events instead of raw callbacks, strings as .NET strings (UTF-8 on the wire),
// errors as AnyChatException. One Client and one BusinessServer per process
// (the C API is one SDK per process).
//
// Events are raised on the SDK's network thread; handlers may call the SDK
// again (reply to a call, enter a room) and should be short.

using System;
using System.Runtime.InteropServices;
using ANYCHATAPI;
using AnyChat.Native;

namespace AnyChat
{
    /// <summary>A function returned a non-zero error code (GV_ERR_*, AC_ERROR_*).</summary>
    public class AnyChatException : Exception
    {
        public readonly string Function;
        public readonly uint Code;

        public AnyChatException(string function, uint code) : base(function + " failed: error " + code)
        {
            Function = function;
            Code = code;
        }

        internal static void Check(string function, uint code)
        {
            if (code != 0) throw new AnyChatException(function, code);
        }
    }

    public class NotifyEventArgs : EventArgs
    {
        public uint Message, WParam, LParam;
    }

    public class VideoCallEventArgs : EventArgs
    {
        public uint Event, UserId, ErrorCode, Flags, Param;
        public string UserStr;
    }

    public class TextMessageEventArgs : EventArgs
    {
        public uint FromUserId, ToUserId;
        public bool Secret;
        public string Text;
    }

    public class VideoFrameEventArgs : EventArgs
    {
        public uint UserId;
        /// <summary>A copy of the frame, in the pixel format asked for (RGB rows top-down).</summary>
        public byte[] Frame;
        public BITMAPINFOHEADER Header;
    }

    /// <summary>The client SDK (BRAC_*): initialised by the constructor, released by Dispose.</summary>
    public sealed class Client : IDisposable
    {
        static readonly object Lock = new object();
        static Client current;
        bool disposed;

        // The delegates handed to the library (AnyChatCoreSDK also keeps them).
        readonly Core.NotifyMessage_CallBack onNotify;
        readonly Core.VideoCallEvent_CallBack onVideoCall;
        readonly Core.TextMessage_CallBack onText;
        readonly Core.VideoData_CallBack onVideoData;

        public event EventHandler<NotifyEventArgs> Notify;
        public event EventHandler<VideoCallEventArgs> VideoCall;
        public event EventHandler<TextMessageEventArgs> TextMessage;
        /// <summary>Every user's decoded frames (one's own too while one's camera is open),
        /// when the constructor was given a video format.</summary>
        public event EventHandler<VideoFrameEventArgs> VideoFrame;

        /// <param name="videoFormat">A BRAC_PIX_FMT_* for VideoFrame, or -1 for none.</param>
        /// <param name="externalVideo">One's camera is fed by InputVideo instead of a device.</param>
        /// <param name="funcMode">BRAC_InitSDK's BRAC_FUNC_* flags.</param>
        public Client(int videoFormat = -1, bool externalVideo = false,
            uint funcMode = AnyChatCoreSDK.BRAC_FUNC_VIDEO_CBDATA | AnyChatCoreSDK.BRAC_FUNC_AUDIO_CBDATA)
        {
            lock (Lock)
            {
                if (current != null) throw new InvalidOperationException("one Client per process: dispose the other first");
                current = this;
            }
            onNotify = (m, w, l, u) => Raise(Notify, new NotifyEventArgs { Message = m, WParam = w, LParam = l });
            onVideoCall = (ev, uid, err, fl, par, s, u) => Raise(VideoCall, new VideoCallEventArgs
            {
                Event = ev, UserId = uid, ErrorCode = err, Flags = fl, Param = par,
                UserStr = Core.PtrToString(s)
            });
            onText = (from, to, secret, msg, len, u) => Raise(TextMessage, new TextMessageEventArgs
            {
                FromUserId = from, ToUserId = to, Secret = Core.IsTrue(secret),
                Text = Core.PtrToString(msg, (int)len)
            });
            onVideoData = (uid, buf, len, bmi, u) =>
            {
                var frame = new byte[len];
                Marshal.Copy(buf, frame, 0, (int)len);
                Raise(VideoFrame, new VideoFrameEventArgs { UserId = uid, Frame = frame, Header = bmi });
            };
            try
            {
                Check("SetNotifyMessageCallBack", Core.SetNotifyMessageCallBack(onNotify, IntPtr.Zero));
                Check("SetVideoCallEventCallBack", Core.SetVideoCallEventCallBack(onVideoCall, IntPtr.Zero));
                Check("SetTextMessageCallBack", Core.SetTextMessageCallBack(onText, IntPtr.Zero));
                if (videoFormat >= 0)
                    Check("SetVideoDataCallBack", Core.SetVideoDataCallBack(videoFormat, onVideoData, IntPtr.Zero));
                if (externalVideo) SetOption(AnyChatCoreSDK.BRAC_SO_CORESDK_EXTVIDEOINPUT, 1);
                Check("InitSDK", Core.InitSDK(IntPtr.Zero, funcMode));
            }
            catch
            {
                lock (Lock) current = null;
                throw;
            }
        }

        void Raise<T>(EventHandler<T> handler, T args) where T : EventArgs
        {
            if (handler == null) return;
            try
            {
                handler(this, args);
            }
            catch (Exception e)
            {
                // An exception must not unwind into native code.
                Console.Error.WriteLine("AnyChat event handler failed: " + e);
            }
        }

        static void Check(string f, uint code) { AnyChatException.Check(f, code); }

        public void Connect(string host, int port) { Check("Connect", Core.Connect(host, (uint)port)); }
        public void Login(string name, string password = "") { Check("Login", Core.Login(name, password, 0u)); }
        public void Logout() { Check("Logout", Core.Logout()); }
        public void EnterRoom(uint roomId, string password = "") { Check("EnterRoom", Core.EnterRoom(roomId, password, 0u)); }
        public void LeaveRoom(uint roomId = Core.SELF) { Check("LeaveRoom", Core.LeaveRoom(roomId)); }

        /// <summary>BRAC_VideoCallControl: request, reply (errorCode 0 accepts), finish.</summary>
        public void VideoCallControl(uint ev, uint userId, uint errorCode = 0, uint flags = 0, uint param = 0, string userStr = "")
        {
            Check("VideoCallControl", Core.VideoCallControl(ev, userId, errorCode, flags, param, userStr));
        }

        public void SendText(uint userId, string text, bool secret = false)
        {
            byte[] b = System.Text.Encoding.UTF8.GetBytes(text);
            Check("SendTextMessage", Core.SendTextMessage(userId, Core.ToBOOL(secret), text, (uint)b.Length));
        }

        /// <summary>Opens (closes) a user's camera; SELF is one's own.</summary>
        public void Camera(uint userId, bool open) { Check("UserCameraControl", Core.UserCameraControl(userId, Core.ToBOOL(open))); }

        public void SetOption(int option, int value)
        {
            byte[] b = BitConverter.GetBytes(value);
            Check("SetSDKOption", Core.SetSDKOption(option, b, b.Length));
        }

        public void SetInputVideoFormat(int pixFmt, int width, int height, int fps)
        {
            Check("SetInputVideoFormat", Core.SetInputVideoFormat(pixFmt, (uint)width, (uint)height, (uint)fps, 0u));
        }

        /// <summary>One frame of one's camera (external input).</summary>
        public uint InputVideo(byte[] frame, uint timestampMs) { return Core.InputVideoData(frame, (uint)frame.Length, timestampMs); }

        public string UserName(uint userId)
        {
            var buf = new byte[256];
            Check("GetUserName", Core.GetUserName(userId, buf, (uint)buf.Length));
            return Core.BytesToString(buf);
        }

        /// <summary>BRAC_Release: no event comes after it returns.</summary>
        public void Dispose()
        {
            lock (Lock)
            {
                if (disposed) return;
                disposed = true;
            }
            Core.Release();
            lock (Lock) current = null;
        }
    }

    /// <summary>A video-call request the business server decides on.</summary>
    public class CallRequest
    {
        public uint SrcUserId, TarUserId, Flags, Param;
        public string UserStr;
    }

    /// <summary>The business server (BRAS_*), linked to the core server at ANYCHAT_CORE_ADDR
    /// with the secret ANYCHAT_BUSINESS_SECRET (both read from the environment). Set CallFilter
    /// and the events, then Start.</summary>
    public sealed class BusinessServer : IDisposable
    {
        bool disposed;
        readonly Server.OnServerAppMessageEx_CallBack onAppMessage;
        readonly Server.OnVideoCallEvent_CallBack onVideoCall;

        /// <summary>Decides each call request: 0 lets it ring, anything else is the error the
        /// caller receives. Unset: every call rings.</summary>
        public Func<CallRequest, uint> CallFilter;
        /// <summary>The link to the core server: true when up.</summary>
        public event EventHandler<bool> Link;
        public event EventHandler<VideoCallEventArgs> VideoCall;

        public BusinessServer()
        {
            onAppMessage = (msg, w, l, u) =>
            {
                var h = Link;
                if (msg == AnyChatServerSDK.BRAS_MESSAGE_CORESERVERCONN && h != null) Safe(() => h(this, w == 0));
            };
            onVideoCall = (ev, src, tar, code, flags, param, s, u) =>
            {
                string str = Core.PtrToString(s);
                uint answer = 0;
                if (ev == AnyChatServerSDK.BRAS_VIDEOCALL_EVENT_REQUEST && CallFilter != null)
                {
                    answer = AnyChatServerSDK.GV_ERR_FUNCOPTERROR;
                    Safe(() => answer = CallFilter(new CallRequest { SrcUserId = src, TarUserId = tar, Flags = flags, Param = param, UserStr = str }));
                }
                var h = VideoCall;
                if (h != null)
                    Safe(() => h(this, new VideoCallEventArgs { Event = ev, UserId = src, ErrorCode = ev == 1 ? answer : code, Flags = flags, Param = param, UserStr = str }));
                return answer;
            };
            AnyChatException.Check("SetOnServerAppMessageExCallBack", Server.SetOnServerAppMessageExCallBack(onAppMessage, IntPtr.Zero));
            AnyChatException.Check("SetOnVideoCallEventCallBack", Server.SetOnVideoCallEventCallBack(onVideoCall, IntPtr.Zero));
        }

        /// <summary>BRAS_InitSDK: links to the core server (Link says when it is up).</summary>
        public void Start()
        {
            AnyChatException.Check("InitSDK", Server.InitSDK(0u));
        }

        static void Safe(Action a)
        {
            try { a(); }
            catch (Exception e) { Console.Error.WriteLine("AnyChat business handler failed: " + e); }
        }

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            Server.Release();
        }
    }
}
