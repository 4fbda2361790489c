"""ctypes binding of the anychat-rs client library (libanychat.so), which
exports the vendor's ``BRAC_*`` C functions. The call-flow functions are
declared: init and release, callbacks, connect, login, rooms, users, the
video call and text messages.

Loading: the path in the environment variable ``ANYCHAT_LIB`` if set, else
the library by name (``libanychat.so``, then the vendor name
``libanychatcore.so.0`` that ``scripts/install.sh`` installs), found by the
dynamic loader (``LD_LIBRARY_PATH``, ldconfig paths).

Type mapping (vendor type -> C on Linux -> ctypes):

* ``DWORD`` (unsigned int, 32-bit)            -> ``c_uint32``
* ``BOOL`` (C ``long``: 64-bit on Linux x86_64 / aarch64, 32-bit on
  Windows)                                    -> ``c_long`` (right on every platform)
* ``int``                                     -> ``c_int``
* ``LPCTSTR`` (const char*)                   -> ``c_char_p`` (pass ``bytes``; the helpers
  below encode ``str`` as UTF-8; the library carries bytes unchanged)
* ``char*`` out buffers                       -> ``create_string_buffer`` + length
* ``LPDWORD`` / ``DWORD*``                    -> ``POINTER(c_uint32)``
* ``HWND`` / ``LPVOID``                       -> ``c_void_p``
* a ``LPCTSTR`` given to a callback           -> ``c_void_p`` (decode with :func:`c_string`;
  ``c_char_p`` would also work but loses the length of binary text)

Callbacks are ``CFUNCTYPE`` (cdecl: the vendor's ``CALLBACK`` is empty on
Linux; ``WINFUNCTYPE``, i.e. stdcall, on Windows). They run on the SDK's
network thread (ctypes takes the GIL for them) and may call the SDK again
from inside (reply to a call, enter a room). The ``set_*_callback`` helpers
keep a reference to the ctypes function object: if it were garbage-collected
while registered, the library would call freed memory.
"""

import atexit
import ctypes
import ctypes.util
import os
from ctypes import POINTER, c_char_p, c_int, c_long, c_uint32, c_void_p

DWORD = c_uint32
BOOL = c_long
LPCTSTR = c_char_p
LPVOID = c_void_p
HWND = c_void_p

# ---- constants (values from the vendor's headers, see include/anychat.h)

WM_GV = 1224
WM_GV_CONNECT = WM_GV + 1
WM_GV_LOGINSYSTEM = WM_GV + 2
WM_GV_ENTERROOM = WM_GV + 3
WM_GV_MICSTATECHANGE = WM_GV + 4
WM_GV_USERATROOM = WM_GV + 5
WM_GV_LINKCLOSE = WM_GV + 6
WM_GV_ONLINEUSER = WM_GV + 7
WM_GV_CAMERASTATE = WM_GV + 11
WM_GV_USERINFOUPDATE = WM_GV + 16
WM_GV_FRIENDSTATUS = WM_GV + 17
WM_GV_SDKWARNING = WM_GV + 41

BRAC_VIDEOCALL_EVENT_REQUEST = 1
BRAC_VIDEOCALL_EVENT_REPLY = 2
BRAC_VIDEOCALL_EVENT_START = 3
BRAC_VIDEOCALL_EVENT_FINISH = 4

BRAC_VIDEOCALL_FLAGS_AUDIO = 0x01
BRAC_VIDEOCALL_FLAGS_VIDEO = 0x02
BRAC_VIDEOCALL_FLAGS_FBSRCAUDIO = 0x10
BRAC_VIDEOCALL_FLAGS_FBSRCVIDEO = 0x20
BRAC_VIDEOCALL_FLAGS_FBTARAUDIO = 0x40
BRAC_VIDEOCALL_FLAGS_FBTARVIDEO = 0x80
BRAC_VIDEOCALL_FLAGS_ASSISTREQ = 0x100
BRAC_VIDEOCALL_FLAGS_CONTROLREQ = 0x200

AC_ERROR_VIDEOCALL_CANCEL = 100101
AC_ERROR_VIDEOCALL_OFFLINE = 100102
AC_ERROR_VIDEOCALL_BUSY = 100103
AC_ERROR_VIDEOCALL_REJECT = 100104
AC_ERROR_VIDEOCALL_TIMEOUT = 100105
AC_ERROR_VIDEOCALL_DISCONNECT = 100106

BRAC_USERSTATE_NICKNAME = 6
BRAC_USERSTATE_INTERNETIP = 8
BRAC_USERSTATE_DEVICETYPE = 15
BRAC_USERSTATE_SELFUSERSTATUS = 16
BRAC_USERSTATE_SELFUSERID = 17

GV_ERR_SUCCESS = 0
GV_ERR_NOTINIT = 2
GV_ERR_NOTINROOM = 3
GV_ERR_FUNCNOTALLOW = 20
GV_ERR_FUNCOPTERROR = 21
GV_ERR_INVALID_USERID = 205
GV_ERR_NOTLOGIN = 208

#: "Myself" where a user id is expected.
SELF = 0xFFFFFFFF

# ---- callback types

_FUNCTYPE = ctypes.WINFUNCTYPE if os.name == "nt" else ctypes.CFUNCTYPE

#: (dwNotifyMsg, wParam, lParam, lpUserValue)
NotifyMessageCallBack = _FUNCTYPE(None, DWORD, DWORD, DWORD, LPVOID)
#: (dwEventType, dwUserId, dwErrorCode, dwFlags, dwParam, lpUserStr, lpUserValue)
VideoCallEventCallBack = _FUNCTYPE(None, DWORD, DWORD, DWORD, DWORD, DWORD, c_void_p, LPVOID)
#: (dwFromUserid, dwToUserid, bSecret, lpMsgBuf, dwLen, lpUserValue)
TextMessageCallBack = _FUNCTYPE(None, DWORD, DWORD, BOOL, c_void_p, DWORD, LPVOID)


def _load():
    path = os.environ.get("ANYCHAT_LIB")
    if path:
        return ctypes.CDLL(path)
    names = ["libanychat.so", "libanychatcore.so.0", "libanychatcore.so"]
    for n in ("anychat", "anychatcore"):
        found = ctypes.util.find_library(n)
        if found:
            names.append(found)
    errors = []
    for n in names:
        try:
            return ctypes.CDLL(n)
        except OSError as e:
            errors.append(str(e))
    raise OSError("cannot load the AnyChat library (set ANYCHAT_LIB or LD_LIBRARY_PATH): " + "; ".join(errors))


lib = _load()


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


BRAC_InitSDK = _fn("BRAC_InitSDK", DWORD, HWND, DWORD)
BRAC_Release = _fn("BRAC_Release", DWORD)
BRAC_SetNotifyMessageCallBack = _fn("BRAC_SetNotifyMessageCallBack", DWORD, NotifyMessageCallBack, LPVOID)
BRAC_SetVideoCallEventCallBack = _fn("BRAC_SetVideoCallEventCallBack", DWORD, VideoCallEventCallBack, LPVOID)
BRAC_SetTextMessageCallBack = _fn("BRAC_SetTextMessageCallBack", DWORD, TextMessageCallBack, LPVOID)
BRAC_Connect = _fn("BRAC_Connect", DWORD, LPCTSTR, DWORD)
BRAC_Login = _fn("BRAC_Login", DWORD, LPCTSTR, LPCTSTR, DWORD)
BRAC_Logout = _fn("BRAC_Logout", DWORD)
BRAC_EnterRoom = _fn("BRAC_EnterRoom", DWORD, DWORD, LPCTSTR, DWORD)
BRAC_LeaveRoom = _fn("BRAC_LeaveRoom", DWORD, DWORD)
BRAC_GetOnlineUser = _fn("BRAC_GetOnlineUser", DWORD, POINTER(DWORD), POINTER(DWORD))
BRAC_VideoCallControl = _fn("BRAC_VideoCallControl", DWORD, DWORD, DWORD, DWORD, DWORD, DWORD, LPCTSTR)
BRAC_GetUserName = _fn("BRAC_GetUserName", DWORD, DWORD, c_char_p, DWORD)
BRAC_QueryUserState = _fn("BRAC_QueryUserState", DWORD, DWORD, c_int, c_void_p, c_int)
BRAC_SendTextMessage = _fn("BRAC_SendTextMessage", DWORD, DWORD, BOOL, LPCTSTR, DWORD)

# ---- helpers

_keep = {}


def _b(s):
    if s is None:
        return None
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def c_string(ptr, length=None):
    """Decodes a C string (or ``length`` bytes) the library passed to a
    callback; NULL gives ``""``."""
    if not ptr:
        return ""
    raw = ctypes.string_at(ptr) if length is None else ctypes.string_at(ptr, length)
    return raw.decode("utf-8", "replace")


def _set(kind, setter, cftype, func, user_value):
    cb = cftype(func) if func is not None else cftype()
    _keep[kind] = cb  # the library holds the pointer: keep the object alive
    return setter(cb, user_value)


def set_notify_message_callback(func, user_value=None):
    """``func(msg, wparam, lparam, user_value)``; None removes it."""
    return _set("notify", BRAC_SetNotifyMessageCallBack, NotifyMessageCallBack, func, user_value)


def set_video_call_event_callback(func, user_value=None):
    """``func(event, user_id, error_code, flags, param, user_str_ptr, user_value)``."""
    return _set("videocall", BRAC_SetVideoCallEventCallBack, VideoCallEventCallBack, func, user_value)


def set_text_message_callback(func, user_value=None):
    """``func(from_id, to_id, secret, msg_ptr, length, user_value)``."""
    return _set("text", BRAC_SetTextMessageCallBack, TextMessageCallBack, func, user_value)


_exit_hooked = False


def init_sdk(func_mode=0):
    """``BRAC_InitSDK``; also registers ``BRAC_Release`` with :mod:`atexit`, so
    that no callback reaches a finalising interpreter if the program exits
    without calling :func:`release`."""
    global _exit_hooked
    if not _exit_hooked:
        _exit_hooked = True
        atexit.register(BRAC_Release)
    return BRAC_InitSDK(None, func_mode)


def release():
    return BRAC_Release()


def connect(host, port):
    return BRAC_Connect(_b(host), port)


def login(name, password=""):
    return BRAC_Login(_b(name), _b(password), 0)


def logout():
    return BRAC_Logout()


def enter_room(room_id, password=""):
    return BRAC_EnterRoom(room_id, _b(password), 0)


def leave_room(room_id=SELF):
    return BRAC_LeaveRoom(room_id)


def video_call_control(event, user_id, error_code=0, flags=0, param=0, user_str=None):
    return BRAC_VideoCallControl(event, user_id, error_code, flags, param, _b(user_str))


def send_text_message(user_id, text, secret=False):
    """``secret`` is passed as the C ``long`` BOOL (an int or a bool)."""
    data = _b(text)
    return BRAC_SendTextMessage(user_id, int(secret), data, len(data))


def get_online_users():
    """``(code, [user ids])`` of the other users in this client's room."""
    n = DWORD(0)
    code = BRAC_GetOnlineUser(None, ctypes.byref(n))
    if code != 0:
        return code, []
    ids = (DWORD * max(n.value, 1))()
    code = BRAC_GetOnlineUser(ids, ctypes.byref(n))
    return code, list(ids[: n.value]) if code == 0 else []


def get_user_name(user_id):
    """``(code, name)``; ``user_id`` SELF is this client."""
    buf = ctypes.create_string_buffer(256)
    code = BRAC_GetUserName(user_id, buf, len(buf))
    return code, buf.value.decode("utf-8", "replace") if code == 0 else None


def query_user_state_dword(user_id, info):
    """``(code, value)`` of a DWORD-valued ``BRAC_USERSTATE_*`` info."""
    v = DWORD(0)
    code = BRAC_QueryUserState(user_id, info, ctypes.byref(v), ctypes.sizeof(v))
    return code, v.value


def query_user_state_string(user_id, info):
    """``(code, text)`` of a string-valued ``BRAC_USERSTATE_*`` info."""
    buf = ctypes.create_string_buffer(256)
    code = BRAC_QueryUserState(user_id, info, buf, len(buf))
    return code, buf.value.decode("utf-8", "replace")
