// Compiles against AnyChat.dll as an app written for the vendor's C# SDK
// would: `using ANYCHATAPI;`, the class AnyChatCoreSDK, int ids and int user
// values, the vendor's delegate names, ref int out-parameters. Run, it only
// checks what needs no server: the version and an error before InitSDK.

using System;
using System.Text;
using ANYCHATAPI;

class VendorStyle
{
    static void OnNotify(uint dwNotifyMsg, uint wParam, uint lParam, IntPtr userValue)
    {
        if (dwNotifyMsg == AnyChatCoreSDK.WM_GV_CONNECT) Console.WriteLine("connected " + wParam);
    }

    static void OnVideoData(uint userId, IntPtr buf, uint len, BITMAPINFOHEADER bmi, IntPtr userValue)
    {
        Console.WriteLine("frame " + bmi.Width + "x" + bmi.Height);
    }

    static int Main()
    {
        uint main = 0, sub = 0;
        var build = new byte[128];
        AnyChatCoreSDK.GetSDKVersion(ref main, ref sub, build, (uint)build.Length);
        int userNum = 0;
        int notInit = AnyChatCoreSDK.GetOnlineUser(null, ref userNum);
        int camera = 0;
        AnyChatCoreSDK.GetCameraState(-1, ref camera);
        int mode = AnyChatCoreSDK.BRAC_FUNC_VIDEO_CBDATA | AnyChatCoreSDK.BRAC_FUNC_AUDIO_CBDATA;
        AnyChatCoreSDK.SetNotifyMessageCallBack(OnNotify, 0);
        AnyChatCoreSDK.SetVideoDataCallBack(AnyChatCoreSDK.BRAC_PIX_FMT_RGB24, OnVideoData, 0);
        int one = 1;
        AnyChatCoreSDK.SetSDKOption(AnyChatCoreSDK.BRAC_SO_CORESDK_EXTVIDEOINPUT, ref one, sizeof(int));
        if (Environment.GetEnvironmentVariable("ANYCHAT_VENDOR_STYLE_CONNECT") == "1")
        {
            // What a vendor app goes on with (only with ANYCHAT_VENDOR_STYLE_CONNECT=1: the test has no server for it).
            AnyChatCoreSDK.InitSDK(IntPtr.Zero, mode);
            AnyChatCoreSDK.Connect("127.0.0.1", 8906);
            AnyChatCoreSDK.Login("alice", "", 0);
            AnyChatCoreSDK.EnterRoom(1, "", 0);
            AnyChatCoreSDK.UserCameraControl(-1, 1);
            AnyChatCoreSDK.SendTextMessage(-1, 0, "hello", 5);
            AnyChatCoreSDK.VideoCallControl(AnyChatCoreSDK.BRAC_VIDEOCALL_EVENT_REQUEST, 2, 0, 0, 0, "");
            AnyChatCoreSDK.LeaveRoom(-1);
            AnyChatCoreSDK.Logout();
            AnyChatCoreSDK.Release();
        }
        Console.WriteLine("version " + main + "." + sub + " " + AnyChatCoreSDK.BytesToString(build));
        Console.WriteLine("before init " + notInit);
        return notInit == AnyChatCoreSDK.GV_ERR_NOTINIT ? 0 : 1;
    }
}
