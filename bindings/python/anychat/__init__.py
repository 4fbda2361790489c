"""Python binding of the anychat-rs libraries (the vendor's ``BRAC_*`` client
and ``BRAS_*`` business-server C API).

Two layers:

* the C API as declared (``anychat._ffi``, generated from the C headers:
  every function, callback type, struct and constant). ``anychat.raw("BRAC_Connect")``
  gives a function with its ctypes prototype set; every constant is an
  attribute of this package (``anychat.WM_GV_CONNECT``);
* :class:`Client` and :class:`BusinessServer`: one SDK instance each (the C
  API is one per process), context managers that release it, callbacks as
  methods (``on_notify``, ``on_video_call``, ...) which by default put an
  :class:`Event` on a bounded queue (``events``; :meth:`Client.wait` takes
  from it), errors as :class:`AnyChatError`.

Strings: ``str`` arguments are encoded as UTF-8 (``bytes`` pass unchanged);
strings from the library are decoded as UTF-8 (invalid bytes replaced). The
library itself carries bytes unchanged.

Callbacks run on the SDK's threads (ctypes takes the GIL); they may call
the SDK again from inside (reply to a call, enter a room).
"""

import atexit
import ctypes
import queue
import threading
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, Union

from . import _ffi
from ._ffi import *  # noqa: F401,F403  (every constant, type and callback type)
from ._lib import c_string, function, load

__all__ = ["AnyChatError", "BusinessServer", "Client", "Event", "SELF", "c_string", "load", "raw", "sdk_version"]

#: "Myself" where a user id is expected (-1 as a DWORD).
SELF = 0xFFFFFFFF

StrLike = Union[str, bytes, None]


def raw(name: str) -> Callable[..., int]:
    """The C function ``name`` (``"BRAC_..."`` / ``"BRAS_..."``), its ctypes
    prototype set; callback arguments may be Python callables (kept alive
    while registered)."""
    return function(name)


def _b(s: StrLike) -> Optional[bytes]:
    if s is None:
        return None
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


class AnyChatError(Exception):
    """A function returned a non-zero error code (``GV_ERR_*``)."""

    def __init__(self, function_name: str, code: int):
        super().__init__(f"{function_name} failed: error {code}")
        self.function = function_name
        self.code = code


def _check(name: str, code: int) -> int:
    if code != 0:
        raise AnyChatError(name, code)
    return code


def _call(name: str, *args: Any) -> int:
    return _check(name, function(name)(*args))


def sdk_version() -> Tuple[int, int, str]:
    """(main, sub, build description) of the client library."""
    main, sub = _ffi.DWORD(0), _ffi.DWORD(0)
    buf = ctypes.create_string_buffer(256)
    _call("BRAC_GetSDKVersion", ctypes.byref(main), ctypes.byref(sub), buf, len(buf))
    return main.value, sub.value, buf.value.decode("utf-8", "replace")


class Event(NamedTuple):
    """One callback: ``kind`` is the method's name without ``on_``."""

    kind: str
    args: Tuple[Any, ...]


class _Events:
    """The bounded event queue and a wait that keeps what it skips."""

    def __init__(self, maxsize: int):
        self.events: "queue.Queue[Event]" = queue.Queue(maxsize)
        #: Events dropped because the queue was full.
        self.dropped = 0
        self._backlog: List[Event] = []

    def post(self, kind: str, *args: Any) -> None:
        try:
            self.events.put_nowait(Event(kind, args))
        except queue.Full:
            self.dropped += 1

    def wait(self, kind: str, match: Callable[..., bool] = lambda *a: True, timeout: float = 20.0) -> Event:
        """The first event of ``kind`` whose args satisfy ``match``; the
        events it passes over stay for later waits. TimeoutError after
        ``timeout`` seconds."""
        for i, e in enumerate(self._backlog):
            if e.kind == kind and match(*e.args):
                return self._backlog.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kind} event in {timeout} s; pending: {self._backlog[-5:]}")
            try:
                e = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if e.kind == kind and match(*e.args):
                return e
            self._backlog.append(e)
            if len(self._backlog) > self.events.maxsize:
                del self._backlog[0]
                self.dropped += 1


_instances: Dict[str, Any] = {}
_instances_lock = threading.Lock()


def _claim(which: str, obj: Any) -> None:
    with _instances_lock:
        if which in _instances:
            raise RuntimeError(f"one {which} per process: release the other first")
        _instances[which] = obj


def _unclaim(which: str, obj: Any) -> None:
    with _instances_lock:
        if _instances.get(which) is obj:
            del _instances[which]


class Client(_Events):
    """The client SDK (``BRAC_*``), initialised on construction and released
    by :meth:`release` / the ``with`` block's end / the interpreter's exit.

    ``video_format``: a ``BRAC_PIX_FMT_*`` to receive every user's decoded
    video frames in :meth:`on_video_frame` (None: no video data callback).
    ``external_video``: feed one's camera with :meth:`input_video` instead
    of a capture device."""

    def __init__(self, func_mode: int = _ffi.BRAC_FUNC_VIDEO_CBDATA | _ffi.BRAC_FUNC_AUDIO_CBDATA,
                 video_format: Optional[int] = None, external_video: bool = False, max_events: int = 1024):
        super().__init__(max_events)
        _claim("client", self)
        self._released = False
        try:
            function("BRAC_SetNotifyMessageCallBack")(lambda m, w, l, _u: self.on_notify(m, w, l), None)
            function("BRAC_SetVideoCallEventCallBack")(
                lambda ev, uid, err, fl, par, s, _u: self.on_video_call(ev, uid, err, fl, par, c_string(s)), None)
            function("BRAC_SetTextMessageCallBack")(
                lambda f, t, sec, msg, n, _u: self.on_text(f, t, bool(sec), c_string(msg, n)), None)
            if video_format is not None:
                function("BRAC_SetVideoDataCallBack")(
                    video_format,
                    lambda uid, buf, n, bmi, _u: self.on_video_frame(uid, ctypes.string_at(buf, n), bmi), None)
            if external_video:
                self.set_option_int(_ffi.BRAC_SO_CORESDK_EXTVIDEOINPUT, 1)
            _call("BRAC_InitSDK", None, func_mode)
        except BaseException:
            _unclaim("client", self)
            raise
        atexit.register(self.release)

    # ---- callbacks: override, or read them from ``events``

    def on_notify(self, msg: int, wparam: int, lparam: int) -> None:
        """``WM_GV_*`` notifications."""
        self.post("notify", msg, wparam, lparam)

    def on_video_call(self, event: int, user_id: int, error_code: int, flags: int, param: int,
                      user_str: str) -> None:
        """``BRAC_VIDEOCALL_EVENT_*``: REQUEST, REPLY, START (param: room), FINISH."""
        self.post("video_call", event, user_id, error_code, flags, param, user_str)

    def on_text(self, from_id: int, to_id: int, secret: bool, text: str) -> None:
        self.post("text", from_id, to_id, secret, text)

    def on_video_frame(self, user_id: int, frame: bytes, header: "_ffi.BITMAPINFOHEADER") -> None:
        """A decoded frame (a copy) in the ``video_format`` asked for; RGB
        rows top-down, ``header.biHeight`` positive."""
        self.post("video_frame", user_id, frame, (header.biWidth, header.biHeight, header.biBitCount))

    # ---- functions

    def release(self) -> None:
        """``BRAC_Release``: no callback comes after it returns."""
        if not self._released:
            self._released = True
            function("BRAC_Release")()
            _unclaim("client", self)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def connect(self, host: str, port: int) -> None:
        _call("BRAC_Connect", _b(host), port)

    def login(self, name: StrLike, password: StrLike = "") -> None:
        _call("BRAC_Login", _b(name), _b(password), 0)

    def logout(self) -> None:
        _call("BRAC_Logout")

    def enter_room(self, room_id: int, password: StrLike = "") -> None:
        _call("BRAC_EnterRoom", room_id, _b(password), 0)

    def leave_room(self, room_id: int = SELF) -> None:
        _call("BRAC_LeaveRoom", room_id)

    def video_call(self, event: int, user_id: int, error_code: int = 0, flags: int = 0, param: int = 0,
                   user_str: StrLike = "") -> None:
        """``BRAC_VideoCallControl``: request, reply (error_code 0 accepts), finish."""
        _call("BRAC_VideoCallControl", event, user_id, error_code, flags, param, _b(user_str))

    def send_text(self, user_id: int, text: StrLike, secret: bool = False) -> None:
        data = _b(text) or b""
        _call("BRAC_SendTextMessage", user_id, int(secret), data, len(data))

    def camera(self, user_id: int, on: bool = True) -> None:
        """Opens (closes) a user's camera; SELF is one's own."""
        _call("BRAC_UserCameraControl", user_id, int(on))

    def speak(self, user_id: int, on: bool = True) -> None:
        _call("BRAC_UserSpeakControl", user_id, int(on))

    def set_option_int(self, option: int, value: int) -> None:
        v = ctypes.c_int(value)
        _call("BRAC_SetSDKOption", option, ctypes.cast(ctypes.byref(v), ctypes.c_char_p), ctypes.sizeof(v))

    def set_input_video_format(self, pix_fmt: int, width: int, height: int, fps: int) -> None:
        _call("BRAC_SetInputVideoFormat", pix_fmt, width, height, fps, 0)

    def input_video(self, frame: bytes, timestamp_ms: int = 0) -> None:
        """One frame of one's camera (external input)."""
        buf = (ctypes.c_ubyte * len(frame)).from_buffer_copy(frame)
        _call("BRAC_InputVideoData", buf, len(frame), timestamp_ms)

    def self_user_id(self) -> int:
        v = _ffi.DWORD(0)
        _call("BRAC_QueryUserState", SELF, _ffi.BRAC_USERSTATE_SELFUSERID,
              ctypes.cast(ctypes.byref(v), ctypes.c_char_p), ctypes.sizeof(v))
        return v.value

    def online_users(self) -> List[int]:
        """The other users in one's room."""
        n = _ffi.DWORD(0)
        _call("BRAC_GetOnlineUser", None, ctypes.byref(n))
        ids = (_ffi.DWORD * max(n.value, 1))()
        _call("BRAC_GetOnlineUser", ids, ctypes.byref(n))
        return list(ids[: n.value])

    def user_name(self, user_id: int) -> str:
        buf = ctypes.create_string_buffer(256)
        _call("BRAC_GetUserName", user_id, buf, len(buf))
        return buf.value.decode("utf-8", "replace")


class BusinessServer(_Events):
    """A business server (``BRAS_*``) linked to the core server at
    ``ANYCHAT_CORE_ADDR`` with the secret ``ANYCHAT_BUSINESS_SECRET`` (the
    library reads both from the environment). Override
    :meth:`on_video_call_request` to let calls ring (0) or refuse them (an
    error code the caller receives)."""

    def __init__(self, max_events: int = 1024):
        super().__init__(max_events)
        _claim("server", self)
        self._released = False
        try:
            function("BRAS_SetOnServerAppMessageExCallBack")(lambda m, w, l, _u: self.on_app_message(m, w, l), None)
            function("BRAS_SetOnVideoCallEventCallBack")(self._video_call, None)
            function("BRAS_SetOnUserLoginActionCallBack")(
                lambda uid, name, level, ip, _u: self.on_login(uid, c_string(name), level, c_string(ip)), None)
            function("BRAS_SetOnUserLogoutActionExCallBack")(lambda uid, code, _u: self.on_logout(uid, code), None)
            _call("BRAS_InitSDK", 0)
        except BaseException:
            _unclaim("server", self)
            raise
        atexit.register(self.release)

    def _video_call(self, event: int, src: int, tar: int, code: int, flags: int, param: int, s: Optional[int],
                    _u: Any) -> int:
        user_str = c_string(s)
        if event == _ffi.BRAS_VIDEOCALL_EVENT_REQUEST:
            try:
                answer = int(self.on_video_call_request(src, tar, flags, param, user_str))
            except Exception as e:  # an exception must not cross into C: refuse the call
                self.post("error", repr(e))
                answer = _ffi.GV_ERR_FUNCOPTERROR
            self.post("video_call", event, src, tar, answer, flags, param, user_str)
            return answer
        self.post("video_call", event, src, tar, code, flags, param, user_str)
        return 0

    def on_video_call_request(self, src: int, tar: int, flags: int, param: int, user_str: str) -> int:
        """0 lets the call ring; anything else is the error the caller gets."""
        return 0

    def on_app_message(self, msg: int, wparam: int, lparam: int) -> None:
        """``BRAS_MESSAGE_*``: CORESERVERCONN with wparam 0 is the link up."""
        self.post("app_message", msg, wparam, lparam)

    def on_login(self, user_id: int, name: str, level: int, ip: str) -> None:
        self.post("login", user_id, name, level, ip)

    def on_logout(self, user_id: int, code: int) -> None:
        self.post("logout", user_id, code)

    def release(self) -> None:
        if not self._released:
            self._released = True
            function("BRAS_Release")()
            _unclaim("server", self)

    def __enter__(self) -> "BusinessServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def video_call(self, event: int, user_id: int, error_code: int = 0, flags: int = 0, param: int = 0,
                   user_str: StrLike = "") -> None:
        _call("BRAS_VideoCallControl", event, user_id, error_code, flags, param, _b(user_str))

    def send_buf_to_user(self, user_id: int, data: bytes) -> None:
        _call("BRAS_SendBufToUser", user_id, data, len(data))
