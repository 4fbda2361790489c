// C# (mono / .NET) binding of the anychat-rs client library (libanychat.so),
// which exports the vendor's BRAC_* C functions. Only the call-flow
// functions are declared here: init and release, callbacks, connect, login,
// rooms, users, the video call and text messages.
//
// Library name
//   The P/Invoke name is "anychat" (AnyChatCoreSDK.LibraryName). On Linux,
//   mono and .NET look for libanychat.so on LD_LIBRARY_PATH (and the usual
//   loader paths): run with LD_LIBRARY_PATH=<directory of libanychat.so>.
//   To load the vendor-named library installed by scripts/install.sh
//   (libanychatcore.so.0) instead, either compile with
//   -define:ANYCHAT_VENDOR_LIBNAME (name "anychatcore") or, under mono,
//   ship a <program>.exe.config with
//     <configuration><dllmap dll="anychat" target="libanychatcore.so.0"/></configuration>
//
// Type mapping (vendor type → C on Linux → C#)
//   DWORD, WPARAM, LPARAM → unsigned int (32-bit)            → uint
//   int                   → int                              → int
//   BOOL                  → long: 64-bit on Linux x86_64 and
//                           aarch64 (LP64), 32-bit on Windows → IntPtr (pointer-sized)
//     C long is pointer-sized on every Unix (LP64 and ILP32), so IntPtr is
//     exact there. Windows (LLP64) has a 32-bit BOOL even on 64-bit: compile
//     with -define:ANYCHAT_WINDOWS, which makes BOOL an int there and the
//     callbacks __stdcall (the vendor's CALLBACK on Windows).
//     Helpers: AnyChatCoreSDK.TRUE / FALSE / ToBOOL(bool) / IsTrue(BOOL).
//   LPCTSTR (const char*) in → string (marshalled as a NUL-terminated
//                              narrow string: UTF-8 under mono on Linux)
//   char* out buffers        → byte[] + length (see the string helpers)
//   LPDWORD, DWORD*          → uint[] / ref uint
//   HWND, LPVOID             → IntPtr
//   LPCTSTR in a callback    → IntPtr (decode with AnyChatCoreSDK.PtrToString)
// Callbacks are delegates with [UnmanagedFunctionPointer(Cdecl)] (the
// vendor's CALLBACK is empty on Linux). They come from the SDK's network
// thread, not from the thread that called InitSDK; they may call the SDK
// again (reply to a call, enter a room) from inside. The Set...CallBack
// methods keep the delegate in a static field so that the garbage collector
// cannot collect it while native code still holds its function pointer.
// InitSDK hooks AppDomain.ProcessExit to call Release: without it, a mono
// program that exits with the SDK still running hangs in the runtime's
// shutdown (the network thread, attached to the runtime by its first
// callback, never ends). Calling Release yourself before exiting is still
// the clean way.

using System;
using System.Runtime.InteropServices;
using System.Text;
#if ANYCHAT_WINDOWS
using BOOL = System.Int32;
#else
using BOOL = System.IntPtr;
#endif

namespace AnyChat
{
    /// <summary>`WM_GV_*` notifications (BRAC_NotifyMessage_CallBack).</summary>
    [UnmanagedFunctionPointer(AnyChatCoreSDK.CallbackConvention)]
    public delegate void NotifyMessageCallBack(uint dwNotifyMsg, uint wParam, uint lParam, IntPtr lpUserValue);

    /// <summary>Video-call events: `lpUserStr` is a C string (may be NULL).</summary>
    [UnmanagedFunctionPointer(AnyChatCoreSDK.CallbackConvention)]
    public delegate void VideoCallEventCallBack(uint dwEventType, uint dwUserId, uint dwErrorCode, uint dwFlags,
        uint dwParam, IntPtr lpUserStr, IntPtr lpUserValue);

    /// <summary>Text messages: `lpMsgBuf` points to `dwLen` bytes (NUL-terminated).</summary>
    [UnmanagedFunctionPointer(AnyChatCoreSDK.CallbackConvention)]
    public delegate void TextMessageCallBack(uint dwFromUserid, uint dwToUserid, BOOL bSecret, IntPtr lpMsgBuf,
        uint dwLen, IntPtr lpUserValue);

    public static class AnyChatCoreSDK
    {
#if ANYCHAT_VENDOR_LIBNAME
        public const string LibraryName = "anychatcore";
#else
        public const string LibraryName = "anychat";
#endif
#if ANYCHAT_WINDOWS
        public const CallingConvention CallbackConvention = CallingConvention.StdCall;
#else
        public const CallingConvention CallbackConvention = CallingConvention.Cdecl;
#endif

        // ---- constants (values from the vendor's headers, see include/anychat.h)

        public const uint WM_GV = 1224;
        public const uint WM_GV_CONNECT = WM_GV + 1;
        public const uint WM_GV_LOGINSYSTEM = WM_GV + 2;
        public const uint WM_GV_ENTERROOM = WM_GV + 3;
        public const uint WM_GV_MICSTATECHANGE = WM_GV + 4;
        public const uint WM_GV_USERATROOM = WM_GV + 5;
        public const uint WM_GV_LINKCLOSE = WM_GV + 6;
        public const uint WM_GV_ONLINEUSER = WM_GV + 7;
        public const uint WM_GV_CAMERASTATE = WM_GV + 11;
        public const uint WM_GV_USERINFOUPDATE = WM_GV + 16;
        public const uint WM_GV_FRIENDSTATUS = WM_GV + 17;
        public const uint WM_GV_SDKWARNING = WM_GV + 41;

        public const uint BRAC_VIDEOCALL_EVENT_REQUEST = 1;
        public const uint BRAC_VIDEOCALL_EVENT_REPLY = 2;
        public const uint BRAC_VIDEOCALL_EVENT_START = 3;
        public const uint BRAC_VIDEOCALL_EVENT_FINISH = 4;

        public const uint BRAC_VIDEOCALL_FLAGS_AUDIO = 0x01;
        public const uint BRAC_VIDEOCALL_FLAGS_VIDEO = 0x02;
        public const uint BRAC_VIDEOCALL_FLAGS_FBSRCAUDIO = 0x10;
        public const uint BRAC_VIDEOCALL_FLAGS_FBSRCVIDEO = 0x20;
        public const uint BRAC_VIDEOCALL_FLAGS_FBTARAUDIO = 0x40;
        public const uint BRAC_VIDEOCALL_FLAGS_FBTARVIDEO = 0x80;
        public const uint BRAC_VIDEOCALL_FLAGS_ASSISTREQ = 0x100;
        public const uint BRAC_VIDEOCALL_FLAGS_CONTROLREQ = 0x200;

        public const uint AC_ERROR_VIDEOCALL_CANCEL = 100101;
        public const uint AC_ERROR_VIDEOCALL_OFFLINE = 100102;
        public const uint AC_ERROR_VIDEOCALL_BUSY = 100103;
        public const uint AC_ERROR_VIDEOCALL_REJECT = 100104;
        public const uint AC_ERROR_VIDEOCALL_TIMEOUT = 100105;
        public const uint AC_ERROR_VIDEOCALL_DISCONNECT = 100106;

        public const int BRAC_USERSTATE_NICKNAME = 6;
        public const int BRAC_USERSTATE_INTERNETIP = 8;
        public const int BRAC_USERSTATE_DEVICETYPE = 15;
        public const int BRAC_USERSTATE_SELFUSERSTATUS = 16;
        public const int BRAC_USERSTATE_SELFUSERID = 17;

        public const uint GV_ERR_SUCCESS = 0;
        public const uint GV_ERR_NOTINIT = 2;
        public const uint GV_ERR_NOTINROOM = 3;
        public const uint GV_ERR_FUNCNOTALLOW = 20;
        public const uint GV_ERR_FUNCOPTERROR = 21;
        public const uint GV_ERR_INVALID_USERID = 205;
        public const uint GV_ERR_NOTLOGIN = 208;

        /// <summary>"Myself" where a user id is expected.</summary>
        public const uint SELF = 0xFFFFFFFF;

        // ---- BOOL helpers

#if ANYCHAT_WINDOWS
        public static readonly BOOL TRUE = 1;
        public static readonly BOOL FALSE = 0;
        public static BOOL ToBOOL(bool b) { return b ? 1 : 0; }
        public static bool IsTrue(BOOL b) { return b != 0; }
#else
        public static readonly BOOL TRUE = new IntPtr(1);
        public static readonly BOOL FALSE = IntPtr.Zero;
        public static BOOL ToBOOL(bool b) { return b ? TRUE : FALSE; }
        public static bool IsTrue(BOOL b) { return b != IntPtr.Zero; }
#endif
        /// <summary>Size of the C BOOL (long) in bytes on this platform.</summary>
        public static int SizeOfBOOL { get { return Marshal.SizeOf(typeof(BOOL)); } }

        // ---- the exported functions (all extern "C": cdecl)

        [DllImport(LibraryName, EntryPoint = "BRAC_InitSDK", CallingConvention = CallingConvention.Cdecl)]
        private static extern uint BRAC_InitSDK(IntPtr hWnd, uint dwFuncMode);

        [DllImport(LibraryName, EntryPoint = "BRAC_Release", CallingConvention = CallingConvention.Cdecl)]
        public static extern uint Release();

        private static readonly object exitHookLock = new object();
        private static bool exitHooked;

        /// <summary>BRAC_InitSDK. Also makes sure that BRAC_Release runs when the
        /// process exits: once the SDK's network thread has run a callback it
        /// is attached to the runtime, and mono's shutdown (returning from
        /// Main, Environment.Exit) waits for it forever if the SDK still runs.</summary>
        public static uint InitSDK(IntPtr hWnd, uint dwFuncMode)
        {
            lock (exitHookLock)
            {
                if (!exitHooked)
                {
                    exitHooked = true;
                    AppDomain.CurrentDomain.ProcessExit += (sender, e) => Release();
                }
            }
            return BRAC_InitSDK(hWnd, dwFuncMode);
        }

        [DllImport(LibraryName, EntryPoint = "BRAC_SetNotifyMessageCallBack", CallingConvention = CallingConvention.Cdecl)]
        private static extern uint BRAC_SetNotifyMessageCallBack(NotifyMessageCallBack lpFunction, IntPtr lpUserValue);

        [DllImport(LibraryName, EntryPoint = "BRAC_SetVideoCallEventCallBack", CallingConvention = CallingConvention.Cdecl)]
        private static extern uint BRAC_SetVideoCallEventCallBack(VideoCallEventCallBack lpFunction, IntPtr lpUserValue);

        [DllImport(LibraryName, EntryPoint = "BRAC_SetTextMessageCallBack", CallingConvention = CallingConvention.Cdecl)]
        private static extern uint BRAC_SetTextMessageCallBack(TextMessageCallBack lpFunction, IntPtr lpUserValue);

        [DllImport(LibraryName, EntryPoint = "BRAC_Connect", CallingConvention = CallingConvention.Cdecl)]
        public static extern uint Connect(string lpServerAddr, uint dwPort);

        [DllImport(LibraryName, EntryPoint = "BRAC_Login", CallingConvention = CallingConvention.Cdecl)]
        public static extern uint Login(string lpUserName, string lpPassword, uint dwPassEncType);

        [DllImport(LibraryName, EntryPoint = "BRAC_Logout", CallingConvention = CallingConvention.Cdecl)]
        public static extern uint Logout();

        [DllImport(LibraryName, EntryPoint = "BRAC_EnterRoom", CallingConvention = CallingConvention.Cdecl)]
        public static extern uint EnterRoom(uint dwRoomid, string lpRoomPass, uint dwPassEncType);

        [DllImport(LibraryName, EntryPoint = "BRAC_LeaveRoom", CallingConvention = CallingConvention.Cdecl)]
        public static extern uint LeaveRoom(uint dwRoomid);

        /// <summary>Two-step habit: pass null to learn the count, then an array.</summary>
        [DllImport(LibraryName, EntryPoint = "BRAC_GetOnlineUser", CallingConvention = CallingConvention.Cdecl)]
        public static extern uint GetOnlineUser([In, Out] uint[] lpUserIDArray, ref uint dwUserNum);

        [DllImport(LibraryName, EntryPoint = "BRAC_VideoCallControl", CallingConvention = CallingConvention.Cdecl)]
        public static extern uint VideoCallControl(uint dwEventType, uint dwUserId, uint dwErrorCode, uint dwFlags,
            uint dwParam, string lpUserStr);

        [DllImport(LibraryName, EntryPoint = "BRAC_GetUserName", CallingConvention = CallingConvention.Cdecl)]
        public static extern uint GetUserName(uint dwUserid, [Out] byte[] lpUserName, uint dwLen);

        [DllImport(LibraryName, EntryPoint = "BRAC_QueryUserState", CallingConvention = CallingConvention.Cdecl)]
        public static extern uint QueryUserState(uint dwUserId, int infoname, [Out] byte[] infoval, int infolen);

        /// <summary>For the DWORD-valued infos (SELFUSERID, SELFUSERSTATUS, DEVICETYPE).</summary>
        [DllImport(LibraryName, EntryPoint = "BRAC_QueryUserState", CallingConvention = CallingConvention.Cdecl)]
        public static extern uint QueryUserState(uint dwUserId, int infoname, ref uint infoval, int infolen);

        [DllImport(LibraryName, EntryPoint = "BRAC_SendTextMessage", CallingConvention = CallingConvention.Cdecl)]
        public static extern uint SendTextMessage(uint dwUserid, BOOL bSecret, byte[] lpMsgBuf, uint dwLen);

        // ---- callback registration: the delegate stays referenced here

        // Written, never read: their only job is to keep the delegates reachable.
#pragma warning disable 0414
        private static NotifyMessageCallBack notifyCallBack;
        private static VideoCallEventCallBack videoCallCallBack;
        private static TextMessageCallBack textCallBack;
#pragma warning restore 0414

        public static uint SetNotifyMessageCallBack(NotifyMessageCallBack lpFunction, IntPtr lpUserValue)
        {
            notifyCallBack = lpFunction;
            return BRAC_SetNotifyMessageCallBack(lpFunction, lpUserValue);
        }

        public static uint SetVideoCallEventCallBack(VideoCallEventCallBack lpFunction, IntPtr lpUserValue)
        {
            videoCallCallBack = lpFunction;
            return BRAC_SetVideoCallEventCallBack(lpFunction, lpUserValue);
        }

        public static uint SetTextMessageCallBack(TextMessageCallBack lpFunction, IntPtr lpUserValue)
        {
            textCallBack = lpFunction;
            return BRAC_SetTextMessageCallBack(lpFunction, lpUserValue);
        }

        // ---- convenience helpers (strings are UTF-8 here; the library carries bytes unchanged)

        public static uint SendTextMessage(uint dwUserid, bool bSecret, string text)
        {
            byte[] b = Encoding.UTF8.GetBytes(text);
            return SendTextMessage(dwUserid, ToBOOL(bSecret), b, (uint)b.Length);
        }

        /// <summary>The name of a user, or null with the error code in `code`.</summary>
        public static string GetUserName(uint dwUserid, out uint code)
        {
            byte[] buf = new byte[256];
            code = GetUserName(dwUserid, buf, (uint)buf.Length);
            return code == 0 ? CString(buf) : null;
        }

        /// <summary>The other users in this client's room.</summary>
        public static uint[] GetOnlineUsers(out uint code)
        {
            uint n = 0;
            code = GetOnlineUser(null, ref n);
            if (code != 0) return null;
            uint[] ids = new uint[n];
            code = GetOnlineUser(ids, ref n);
            if (code != 0) return null;
            Array.Resize(ref ids, (int)n);
            return ids;
        }

        /// <summary>Decodes a NUL-terminated C string given by the library (NULL → "").</summary>
        public static string PtrToString(IntPtr p)
        {
            if (p == IntPtr.Zero) return "";
            int len = 0;
            while (Marshal.ReadByte(p, len) != 0) len++;
            return PtrToString(p, len);
        }

        /// <summary>Decodes `len` bytes at `p` (NULL → "").</summary>
        public static string PtrToString(IntPtr p, int len)
        {
            if (p == IntPtr.Zero || len <= 0) return "";
            byte[] b = new byte[len];
            Marshal.Copy(p, b, 0, len);
            return Encoding.UTF8.GetString(b);
        }

        private static string CString(byte[] buf)
        {
            int len = Array.IndexOf(buf, (byte)0);
            return Encoding.UTF8.GetString(buf, 0, len < 0 ? buf.Length : len);
        }
    }
}
