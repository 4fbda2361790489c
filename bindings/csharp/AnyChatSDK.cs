// The hand-written part of the vendor's classes AnyChatCoreSDK and
// AnyChatServerSDK (the declarations are generated: AnyChatSDK.g.cs):
// library names, calling convention, BOOL and string helpers.
//
// Library names
//   The P/Invoke name is "anychat" for both classes: the library as cargo
//   builds it (libanychat.so, both APIs). Mono and .NET look for
//   libanychat.so on LD_LIBRARY_PATH and the loader's paths. Compile with
//   -define:ANYCHAT_VENDOR_LIBNAME for the vendor-named libraries that
//   scripts/install.sh installs ("anychatcore" -> libanychatcore.so for
//   BRAC_*, "anychatserversdk" -> libanychatserversdk.so for BRAS_*), or
//   map the name in a mono <program>.exe.config:
//     <configuration><dllmap dll="anychat" target="libanychatcore.so.0"/></configuration>
//
// Strings
//   Strings passed in (LPCTSTR) are marshalled as NUL-terminated UTF-8
//   (UnmanagedType.LPUTF8Str); the library carries the bytes unchanged, so
//   every party of a call sees the same UTF-8. Strings the library writes
//   into a buffer are byte[] (AnyChatCoreSDK.BytesToString decodes UTF-8 up
//   to the first NUL); strings given to a callback are IntPtr
//   (AnyChatCoreSDK.PtrToString).
//
// BOOL
//   The vendor's BOOL (and LONG) is C long: 64-bit on Linux x86_64 and
//   aarch64 (LP64), pointer-sized on every Unix, 32-bit on Windows. It is
//   IntPtr here; -define:ANYCHAT_WINDOWS makes it int and the callbacks
//   __stdcall (the vendor's CALLBACK on Windows). ToBOOL / IsTrue convert.
//
// Callbacks
//   Delegates carry [UnmanagedFunctionPointer(Cdecl)]. They come from the
//   SDK's network thread and may call the SDK again from inside. Every
//   Set...CallBack method keeps the delegate it is given in a static table
//   until it is replaced, so the garbage collector cannot collect it while
//   native code holds its function pointer.

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

namespace ANYCHATAPI
{
    public static partial class AnyChatCoreSDK
    {
#if ANYCHAT_VENDOR_LIBNAME
        public const string CoreLibrary = "anychatcore";
#else
        public const string CoreLibrary = "anychat";
#endif
        /// <summary>The vendor's constant name for the library.</summary>
        public const string AnyChatCoreSDKDll = CoreLibrary;
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
            lock (typeof(AnyChatCoreSDK))
            {
                if (exitHooked) return;
                exitHooked = true;
            }
            AppDomain.CurrentDomain.ProcessExit += (sender, e) => Release();
        }

        /// <summary>Size of the C BOOL (long) in bytes on this platform.</summary>
        public static int SizeOfBOOL { get { return Marshal.SizeOf(typeof(BOOL)); } }

        /// <summary>The vendor's SetSDKOption for an int option.</summary>
        public static int SetSDKOption(int optname, ref int optval, int optlen)
        {
            byte[] b = BitConverter.GetBytes(optval);
            return unchecked((int)SetSDKOption(optname, b, Math.Min(optlen, b.Length)));
        }

        /// <summary>The vendor's GetSDKOption for an int option.</summary>
        public static int GetSDKOption(int optname, ref int optval, int optlen)
        {
            byte[] b = new byte[4];
            int r = unchecked((int)GetSDKOption(optname, b, Math.Min(optlen, b.Length)));
            optval = BitConverter.ToInt32(b, 0);
            return r;
        }

        /// <summary>A C string (UTF-8) given to a callback; NULL gives "".</summary>
        public static string PtrToString(IntPtr p)
        {
            if (p == IntPtr.Zero) return "";
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            return PtrToString(p, n);
        }

        /// <summary>`len` bytes (UTF-8) given to a callback.</summary>
        public static string PtrToString(IntPtr p, int len)
        {
            if (p == IntPtr.Zero || len <= 0) return "";
            byte[] b = new byte[len];
            Marshal.Copy(p, b, 0, len);
            return Encoding.UTF8.GetString(b);
        }

        /// <summary>A buffer the library wrote a string into: UTF-8 up to the first NUL.</summary>
        public static string BytesToString(byte[] buf)
        {
            int n = Array.IndexOf(buf, (byte)0);
            return Encoding.UTF8.GetString(buf, 0, n < 0 ? buf.Length : n);
        }

        /// <summary>A string as a NUL-terminated UTF-8 buffer (for char* parameters).</summary>
        public static byte[] StringToBytes(string s)
        {
            byte[] b = Encoding.UTF8.GetBytes(s ?? "");
            Array.Resize(ref b, b.Length + 1);
            return b;
        }
    }

    public static partial class AnyChatServerSDK
    {
#if ANYCHAT_VENDOR_LIBNAME
        public const string ServerLibrary = "anychatserversdk";
#else
        public const string ServerLibrary = "anychat";
#endif
        public const CallingConvention CallbackConvention = AnyChatCoreSDK.CallbackConvention;

        static bool exitHooked;

        /// <summary>InitSDK's first step: Release at the process's exit (see AnyChatCoreSDK).</summary>
        static void HookExit()
        {
            lock (typeof(AnyChatServerSDK))
            {
                if (exitHooked) return;
                exitHooked = true;
            }
            AppDomain.CurrentDomain.ProcessExit += (sender, e) => Release();
        }

        public static BOOL ToBOOL(bool b) { return AnyChatCoreSDK.ToBOOL(b); }
        public static bool IsTrue(BOOL b) { return AnyChatCoreSDK.IsTrue(b); }
        public static string PtrToString(IntPtr p) { return AnyChatCoreSDK.PtrToString(p); }
        public static string PtrToString(IntPtr p, int len) { return AnyChatCoreSDK.PtrToString(p, len); }
    }

    public partial struct BITMAPINFOHEADER
    {
        /// <summary>biWidth as an int (LONG is C long).</summary>
        public int Width { get { return (int)(long)biWidth; } }
        /// <summary>biHeight as an int: positive, rows top-down on Linux (see README).</summary>
        public int Height { get { return (int)(long)biHeight; } }
    }
}
