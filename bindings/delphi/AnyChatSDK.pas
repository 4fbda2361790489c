{ Delphi / Free Pascal binding of the anychat-rs client library
  (libanychat.so), which exports the vendor's BRAC_* C functions. Only the
  call-flow functions are declared: init and release, callbacks, connect,
  login, rooms, users, the video call and text messages.

  Compiles with Delphi and with Free Pascal (the unit switches FPC to
  Delphi mode itself).

  Library
    Free Pascal on Linux: external 'anychat' links with -lanychat; build
    with -Fl<directory of libanychat.so> and run with LD_LIBRARY_PATH set
    to that directory (the library has no SONAME, so the program records
    "libanychat.so"). Define ANYCHAT_VENDOR_LIBNAME to link the
    vendor-named library that scripts/install.sh installs
    (libanychatcore.so, -lanychatcore) instead.
    Delphi on Linux loads 'libanychat.so' (or 'libanychatcore.so.0').

  Type mapping (vendor type -> C on Linux -> Pascal)
    DWORD (unsigned int, 32-bit)  -> Cardinal. Not LongWord: Delphi's
                                     LongWord is 64-bit on Linux64.
    BOOL (C long)                 -> AC_BOOL: C long is 64-bit on Linux
                                     x86_64/aarch64 (LP64) and pointer-sized
                                     on every Unix, so NativeInt there
                                     (FPC and Delphi alike; PtrInt in FPC is
                                     the same type); on Windows (LLP64) the
                                     vendor's BOOL is a 32-bit int -> LongInt.
                                     Pass 0 / 1 (AC_FALSE / AC_TRUE), test <> 0.
                                     Not Pascal's Boolean/LongBool: those have
                                     the wrong size on Linux64.
    int                           -> Integer (32-bit in FPC and Delphi)
    LPCTSTR (const char* )        -> PAnsiChar (narrow bytes, carried
                                     unchanged; legacy apps may use GBK)
    LPDWORD, DWORD*               -> PDWORD / var DWORD
    HWND, LPVOID                  -> Pointer
  Calling conventions: the exported functions are extern "C": cdecl on
  every platform. The callbacks are the vendor's CALLBACK: empty (cdecl) on
  Linux, __stdcall on Windows; the callback types below say so with
  an IFDEF MSWINDOWS.

  Callbacks come from the SDK's network thread, not from the thread that
  called BRAC_InitSDK. Under Free Pascal on Unix a program that registers
  callbacks must list cthreads first in its uses clause (so the RTL can
  serve a thread it did not create) and should set IsMultiThread := True;
  keep callbacks short (copy the data, signal the main thread). They may
  call the SDK again from inside (reply to a call, enter a room). }

unit AnyChatSDK;

{$IFDEF FPC}
  {$MODE DELPHI}
  {$PACKRECORDS C}
{$ENDIF}

interface

const
{$IFDEF MSWINDOWS}
  AnyChatLib = 'anychat.dll';
{$ELSE}
  {$IFDEF FPC}
    {$IFDEF ANYCHAT_VENDOR_LIBNAME}
  AnyChatLib = 'anychatcore';
    {$ELSE}
  AnyChatLib = 'anychat';
    {$ENDIF}
  {$ELSE}
    {$IFDEF ANYCHAT_VENDOR_LIBNAME}
  AnyChatLib = 'libanychatcore.so.0';
    {$ELSE}
  AnyChatLib = 'libanychat.so';
    {$ENDIF}
  {$ENDIF}
{$ENDIF}

type
  DWORD = Cardinal;
  PDWORD = ^DWORD;
{$IFDEF MSWINDOWS}
  AC_BOOL = LongInt;
{$ELSE}
  AC_BOOL = NativeInt;
{$ENDIF}
  { The vendor's name. Shadows Windows.BOOL (LongBool) when this unit comes
    later in a uses clause; the binding's own declarations use AC_BOOL. }
  BOOL = AC_BOOL;

const
  AC_TRUE = AC_BOOL(1);
  AC_FALSE = AC_BOOL(0);

  { "Myself" where a user id is expected. }
  AC_SELF = DWORD($FFFFFFFF);

  WM_GV = 1224;
  WM_GV_CONNECT = WM_GV + 1;
  WM_GV_LOGINSYSTEM = WM_GV + 2;
  WM_GV_ENTERROOM = WM_GV + 3;
  WM_GV_MICSTATECHANGE = WM_GV + 4;
  WM_GV_USERATROOM = WM_GV + 5;
  WM_GV_LINKCLOSE = WM_GV + 6;
  WM_GV_ONLINEUSER = WM_GV + 7;
  WM_GV_CAMERASTATE = WM_GV + 11;
  WM_GV_USERINFOUPDATE = WM_GV + 16;
  WM_GV_FRIENDSTATUS = WM_GV + 17;
  WM_GV_SDKWARNING = WM_GV + 41;

  BRAC_VIDEOCALL_EVENT_REQUEST = 1;
  BRAC_VIDEOCALL_EVENT_REPLY = 2;
  BRAC_VIDEOCALL_EVENT_START = 3;
  BRAC_VIDEOCALL_EVENT_FINISH = 4;

  BRAC_VIDEOCALL_FLAGS_AUDIO = $01;
  BRAC_VIDEOCALL_FLAGS_VIDEO = $02;
  BRAC_VIDEOCALL_FLAGS_FBSRCAUDIO = $10;
  BRAC_VIDEOCALL_FLAGS_FBSRCVIDEO = $20;
  BRAC_VIDEOCALL_FLAGS_FBTARAUDIO = $40;
  BRAC_VIDEOCALL_FLAGS_FBTARVIDEO = $80;
  BRAC_VIDEOCALL_FLAGS_ASSISTREQ = $100;
  BRAC_VIDEOCALL_FLAGS_CONTROLREQ = $200;

  AC_ERROR_VIDEOCALL_CANCEL = 100101;
  AC_ERROR_VIDEOCALL_OFFLINE = 100102;
  AC_ERROR_VIDEOCALL_BUSY = 100103;
  AC_ERROR_VIDEOCALL_REJECT = 100104;
  AC_ERROR_VIDEOCALL_TIMEOUT = 100105;
  AC_ERROR_VIDEOCALL_DISCONNECT = 100106;

  BRAC_USERSTATE_NICKNAME = 6;
  BRAC_USERSTATE_INTERNETIP = 8;
  BRAC_USERSTATE_DEVICETYPE = 15;
  BRAC_USERSTATE_SELFUSERSTATUS = 16;
  BRAC_USERSTATE_SELFUSERID = 17;

  GV_ERR_SUCCESS = 0;
  GV_ERR_NOTINIT = 2;
  GV_ERR_NOTINROOM = 3;
  GV_ERR_FUNCNOTALLOW = 20;
  GV_ERR_FUNCOPTERROR = 21;
  GV_ERR_INVALID_USERID = 205;
  GV_ERR_NOTLOGIN = 208;

type
  { WM_GV_* notifications: (dwNotifyMsg, wParam, lParam, lpUserValue). }
  BRAC_NotifyMessage_CallBack = procedure(dwNotifyMsg, wParam, lParam: DWORD; lpUserValue: Pointer);
    {$IFDEF MSWINDOWS}stdcall{$ELSE}cdecl{$ENDIF};

  { Video-call events; lpUserStr may be nil. }
  BRAC_VideoCallEvent_CallBack = procedure(dwEventType, dwUserId, dwErrorCode, dwFlags, dwParam: DWORD;
    lpUserStr: PAnsiChar; lpUserValue: Pointer); {$IFDEF MSWINDOWS}stdcall{$ELSE}cdecl{$ENDIF};

  { Text messages: lpMsgBuf points to dwLen bytes (NUL-terminated). }
  BRAC_TextMessage_CallBack = procedure(dwFromUserid, dwToUserid: DWORD; bSecret: AC_BOOL; lpMsgBuf: PAnsiChar;
    dwLen: DWORD; lpUserValue: Pointer); {$IFDEF MSWINDOWS}stdcall{$ELSE}cdecl{$ENDIF};

function BRAC_InitSDK(hWnd: Pointer; dwFuncMode: DWORD): DWORD; cdecl; external AnyChatLib;
function BRAC_Release: DWORD; cdecl; external AnyChatLib;
function BRAC_SetNotifyMessageCallBack(lpFunction: BRAC_NotifyMessage_CallBack; lpUserValue: Pointer): DWORD;
  cdecl; external AnyChatLib;
function BRAC_SetVideoCallEventCallBack(lpFunction: BRAC_VideoCallEvent_CallBack; lpUserValue: Pointer): DWORD;
  cdecl; external AnyChatLib;
function BRAC_SetTextMessageCallBack(lpFunction: BRAC_TextMessage_CallBack; lpUserValue: Pointer): DWORD;
  cdecl; external AnyChatLib;
function BRAC_Connect(lpServerAddr: PAnsiChar; dwPort: DWORD): DWORD; cdecl; external AnyChatLib;
function BRAC_Login(lpUserName, lpPassword: PAnsiChar; dwPassEncType: DWORD): DWORD; cdecl; external AnyChatLib;
function BRAC_Logout: DWORD; cdecl; external AnyChatLib;
function BRAC_EnterRoom(dwRoomid: DWORD; lpRoomPass: PAnsiChar; dwPassEncType: DWORD): DWORD;
  cdecl; external AnyChatLib;
function BRAC_LeaveRoom(dwRoomid: DWORD): DWORD; cdecl; external AnyChatLib;
{ Two-step habit: nil array -> dwUserNum = count; else fills up to dwUserNum ids. }
function BRAC_GetOnlineUser(lpUserIDArray: PDWORD; var dwUserNum: DWORD): DWORD; cdecl; external AnyChatLib;
function BRAC_VideoCallControl(dwEventType, dwUserId, dwErrorCode, dwFlags, dwParam: DWORD;
  lpUserStr: PAnsiChar): DWORD; cdecl; external AnyChatLib;
function BRAC_GetUserName(dwUserid: DWORD; lpUserName: PAnsiChar; dwLen: DWORD): DWORD; cdecl; external AnyChatLib;
function BRAC_QueryUserState(dwUserId: DWORD; infoname: Integer; infoval: PAnsiChar; infolen: Integer): DWORD;
  cdecl; external AnyChatLib;
function BRAC_SendTextMessage(dwUserid: DWORD; bSecret: AC_BOOL; lpMsgBuf: PAnsiChar; dwLen: DWORD): DWORD;
  cdecl; external AnyChatLib;

{ Converts a Pascal Boolean to the C BOOL. }
function ToBOOL(b: Boolean): AC_BOOL;

implementation

function ToBOOL(b: Boolean): AC_BOOL;
begin
  if b then
    Result := 1
  else
    Result := 0;
end;

end.
