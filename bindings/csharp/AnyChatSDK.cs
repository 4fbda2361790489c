// The hand-written part of the two C# layers (the declarations are generated:
// AnyChatSDK.g.cs).
//
// AnyChat.Native.Core / Server: the exact C types. Library names, calling
// convention, BOOL and string helpers, the exit hook.
// ANYCHATAPI.AnyChatCoreSDK / AnyChatServerSDK: the vendor's C# surface. Its
// nested enums (PixelFormat, AudioDevice, VideoShowDriver) and structs
// (BITMAPINFOHEADER and WaveFormat with the vendor's 32-bit fields, filled from
// the native structs), the vendor's library-name constants and constant names.
//
// Library names
//   The P/Invoke name is "anychat" for both libraries: the library as cargo
//   builds it (libanychat.so, both APIs). Mono and .NET look for
//   libanychat.so on LD_LIBRARY_PATH and the loader's paths. Compile with
//   -define:ANYCHAT_VENDOR_LIBNAME for the vendor-named libraries that
//   scripts/install.sh installs ("anychatcore" -> libanychatcore.so for
//   BRAC_*, "anychatserversdk" -> libanychatserversdk.so for BRAS_*), or
//   map the name in a mono <program>.exe.config:
//     <configuration><dllmap dll="anychat" target="libanychatcore.so.0"/></configuration>
//
// Strings
//   UTF-8 both ways, on every platform: strings passed in are marshalled as
//   NUL-terminated UTF-8 (UnmanagedType.LPUTF8Str), strings given to a callback
//   and strings the library writes into a buffer (byte[], StringBuilder) are
//   decoded as UTF-8. The library carries the bytes unchanged, so every party
//   of a call sees the same text. (The vendor's class marshals with the
//   platform's ANSI code page: the same as UTF-8 on Linux and macOS.)
//
// BOOL
//   The C BOOL (and LONG) is C long: 64-bit on Linux x86_64 and aarch64
//   (LP64), 32-bit on Windows. The native layer declares it as IntPtr
//   (-define:ANYCHAT_WINDOWS: int, and callbacks __stdcall, the vendor's
//   CALLBACK on Windows); the vendor layer's int and bool go through it.
//
// Callbacks
//   Delegates carry [UnmanagedFunctionPointer(Cdecl)]. They come from the
//   SDK's network thread and may call the SDK again from inside. Every
//   Set...CallBack method keeps the delegate it is given (the vendor layer: the
//   native delegate that calls it) in a static table until it is replaced, so
//   the garbage collector cannot collect it while native code holds it.

using System;
using System.Runtime.InteropServices;
using System.Text;
#if ANYCHAT_WINDOWS
using BOOL = System.Int32;
using LONG = System.Int32;
#else
using BOOL = System.IntPtr;
using LONG = System.IntPtr;
#endif

namespace AnyChat.Native
{
    public static partial class Core
    {
#if ANYCHAT_VENDOR_LIBNAME
        public const string CoreLibrary = "anychatcore";
#else
        public const string CoreLibrary = "anychat";
#endif
#if ANYCHAT_WINDOWS
        public const CallingConvention CallbackConvention = CallingConvention.StdCall;
#else
        public const CallingConvention CallbackConvention = CallingConvention.Cdecl;
#endif
        /// <summary>"Myself" where a user id is expected (-1 as a DWORD).</summary>
        public const uint SELF = 0xFFFFFFFF;

#if ANYCHAT_WINDOWS
        public static BOOL ToBOOL(bool b) { return b ? 1 : 0; }
        public static bool IsTrue(BOOL b) { return b != 0; }
#else
        public static BOOL ToBOOL(bool b) { return new IntPtr(b ? 1 : 0); }
        public static bool IsTrue(BOOL b) { return b != IntPtr.Zero; }
#endif
        static bool exitHooked;

        /// <summary>InitSDK's first step: Release at the process's exit. Without it, a mono
        /// program that exits with the SDK still running hangs in the runtime's shutdown (the
        /// network thread, attached to the runtime by its first callback, never ends). Calling
        /// Release yourself before exiting is still the clean way.</summary>
        static void HookExit()
        {
            lock (typeof(Core))
            {
                if (exitHooked) return;
                exitHooked = true;
            }
            AppDomain.CurrentDomain.ProcessExit += (sender, e) => Release();
        }

        /// <summary>Size of the C BOOL (long) in bytes on this platform.</summary>
        public static int SizeOfBOOL { get { return Marshal.SizeOf(typeof(BOOL)); } }

        /// <summary>A C string (UTF-8) given to a callback; NULL gives "".</summary>
        public static string PtrToString(IntPtr p)
        {
            if (p == IntPtr.Zero) return "";
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            return PtrToString(p, n);
        }

        /// <summary>`len` bytes (UTF-8) given to a callback, up to the first NUL.</summary>
        public static string PtrToString(IntPtr p, int len)
        {
            if (p == IntPtr.Zero || len <= 0) return "";
            byte[] b = new byte[len];
            Marshal.Copy(p, b, 0, len);
            return BytesToString(b);
        }

        /// <summary>A buffer the library wrote a string into: UTF-8 up to the first NUL.</summary>
        public static string BytesToString(byte[] buf)
        {
            if (buf == null) return "";
            int n = Array.IndexOf(buf, (byte)0);
            return Encoding.UTF8.GetString(buf, 0, n < 0 ? buf.Length : n);
        }

        /// <summary>A string as a NUL-terminated UTF-8 buffer (for char* parameters); null
        /// gives null.</summary>
        public static byte[] StringToBytes(string s)
        {
            if (s == null) return null;
            byte[] b = Encoding.UTF8.GetBytes(s);
            Array.Resize(ref b, b.Length + 1);
            return b;
        }
    }

    public static partial class Server
    {
#if ANYCHAT_VENDOR_LIBNAME
        public const string ServerLibrary = "anychatserversdk";
#else
        public const string ServerLibrary = "anychat";
#endif
        public const CallingConvention CallbackConvention = Core.CallbackConvention;

        static bool exitHooked;

        /// <summary>InitSDK's first step: Release at the process's exit (see Core).</summary>
        static void HookExit()
        {
            lock (typeof(Server))
            {
                if (exitHooked) return;
                exitHooked = true;
            }
            AppDomain.CurrentDomain.ProcessExit += (sender, e) => Release();
        }
    }

    public partial struct BITMAPINFOHEADER
    {
        /// <summary>biWidth as an int (LONG is C long).</summary>
        public int Width { get { return (int)(long)biWidth; } }
        /// <summary>biHeight as an int: positive, rows top-down on Linux (see README).</summary>
        public int Height { get { return (int)(long)biHeight; } }
    }
}

namespace ANYCHATAPI
{
    public static partial class AnyChatCoreSDK
    {
        /// <summary>The library's P/Invoke name.</summary>
        public const string AnyChatCoreSDKDll = AnyChat.Native.Core.CoreLibrary;

        // Constant names as the vendor's class spells them.
        public const int BRAC_SO_AUDIO_CPATUREMODE = BRAC_SO_AUDIO_CAPTUREMODE;
        public const int BRAC_STREAMINFO_ADUIOCHANNELS = BRAC_STREAMINFO_AUDIOCHANNELS;

        /// <summary>A video frame's format as the vendor's class declares it (32-bit
        /// fields), filled from the C struct the library passes (whose LONG fields are C long).</summary>
        [StructLayout(LayoutKind.Sequential)]
        public struct BITMAPINFOHEADER
        {
            public int biSize;
            public int biWidth;
            public int biHeight;
            public short biPlanes;
            public short biBitCount;
            public int biCompression;
            public int biSizeImage;
            public int biXPelsPerMeter;
            public int biYPelsPerMeter;
            public int biClrUsed;
            public int biClrImportant;

            internal static BITMAPINFOHEADER From(AnyChat.Native.BITMAPINFOHEADER h)
            {
                return new BITMAPINFOHEADER
                {
                    biSize = unchecked((int)h.biSize),
                    biWidth = h.Width,
                    biHeight = h.Height,
                    biPlanes = unchecked((short)h.biPlanes),
                    biBitCount = unchecked((short)h.biBitCount),
                    biCompression = unchecked((int)h.biCompression),
                    biSizeImage = unchecked((int)h.biSizeImage),
                    biXPelsPerMeter = unchecked((int)(long)h.biXPelsPerMeter),
                    biYPelsPerMeter = unchecked((int)(long)h.biYPelsPerMeter),
                    biClrUsed = unchecked((int)h.biClrUsed),
                    biClrImportant = unchecked((int)h.biClrImportant),
                };
            }
        }

        /// <summary>An audio format as the vendor's class declares it, filled from the C
        /// WAVEFORMATEX the library passes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        public struct WaveFormat
        {
            public short wFormatTag;
            public short nChannels;
            public uint nSamplesPerSec;
            public uint nAvgBytesPerSec;
            public short nBlockAlign;
            public short wBitsPerSample;
            public short cbSize;

            internal static WaveFormat From(AnyChat.Native.WAVEFORMATEX w)
            {
                return new WaveFormat
                {
                    wFormatTag = unchecked((short)w.wFormatTag),
                    nChannels = unchecked((short)w.nChannels),
                    nSamplesPerSec = w.nSamplesPerSec,
                    nAvgBytesPerSec = w.nAvgBytesPerSec,
                    nBlockAlign = unchecked((short)w.nBlockAlign),
                    wBitsPerSample = unchecked((short)w.wBitsPerSample),
                    cbSize = unchecked((short)w.cbSize),
                };
            }
        }

        /// <summary>The ids of the users in a room (the vendor's array-returning form of
        /// BRAC_GetRoomOnlineUsers); an empty array when the call fails.</summary>
        public static int[] GetRoomOnlineUsers(int roomid)
        {
            int n = 0;
            if (GetRoomOnlineUsers(roomid, null, ref n) != 0 || n <= 0) return new int[0];
            int[] ids = new int[n];
            if (GetRoomOnlineUsers(roomid, ids, ref n) != 0) return new int[0];
            if (n < ids.Length) Array.Resize(ref ids, n);
            return ids;
        }

        /// <summary>A C string (UTF-8) given to a callback as an IntPtr; NULL gives "".</summary>
        public static string PtrToString(IntPtr p) { return AnyChat.Native.Core.PtrToString(p); }
        /// <summary>A buffer the library wrote a string into: UTF-8 up to the first NUL.</summary>
        public static string BytesToString(byte[] buf) { return AnyChat.Native.Core.BytesToString(buf); }
        /// <summary>A string as a NUL-terminated UTF-8 buffer.</summary>
        public static byte[] StringToBytes(string s) { return AnyChat.Native.Core.StringToBytes(s); }
    }

    public static partial class AnyChatServerSDK
    {
        /// <summary>The library's P/Invoke name.</summary>
        public const string AnyChatServerSDKDll = AnyChat.Native.Server.ServerLibrary;
    }
}
