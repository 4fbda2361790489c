"""pytest: the installed ``anychat`` package against the library, no server
needed (the call between processes is tests/bindings.rs's, with
examples/videocall.py)."""

import ctypes

import pytest

import anychat
from anychat import _ffi


def test_every_function_resolves_with_its_prototype():
    for name, (which, restype, params, _doc) in _ffi.FUNCTIONS.items():
        f = anychat.raw(name)
        lib = anychat.load(which)
        raw = getattr(lib, name)
        assert raw.restype is restype and len(raw.argtypes) == len(params), name
        assert callable(f)
    assert sum(1 for n in _ffi.FUNCTIONS if n.startswith("BRAC_")) == 111
    assert sum(1 for n in _ffi.FUNCTIONS if n.startswith("BRAS_")) == 34


def test_constants_and_callback_types():
    assert len(_ffi.CONSTANTS) == 658
    assert anychat.WM_GV_CONNECT == anychat.WM_GV + 1 == 1225
    assert anychat.AC_ERROR_VIDEOCALL_REJECT == 100104
    assert len(_ffi.CALLBACKS) == 42


def test_types_have_the_c_widths():
    assert ctypes.sizeof(_ffi.DWORD) == 4
    assert ctypes.sizeof(_ffi.BOOL) == ctypes.sizeof(ctypes.c_long)
    assert ctypes.sizeof(_ffi.WAVEFORMATEX) == 20
    long = ctypes.sizeof(ctypes.c_long)
    # biSize, then three LONG, two WORD, ... laid out as C does
    assert _ffi.BITMAPINFOHEADER.biWidth.offset == long
    assert ctypes.sizeof(_ffi.BITMAPINFOHEADER) == (40 if long == 4 else 64)


def test_version_and_errors_before_init():
    main, sub, build = anychat.sdk_version()
    assert (main, sub) >= (0, 1) and build
    with pytest.raises(anychat.AnyChatError) as e:
        anychat._call("BRAC_Logout")
    assert e.value.code == anychat.GV_ERR_NOTINIT


def test_client_is_a_context_manager_and_one_per_process():
    with anychat.Client() as c:
        with pytest.raises(RuntimeError):
            anychat.Client()
        assert c.self_user_id() in (0, anychat.SELF)
    # released: a new one may start
    with anychat.Client():
        pass


def test_callbacks_are_kept_alive_while_registered():
    seen = []
    anychat.raw("BRAC_SetNotifyMessageCallBack")(lambda *a: seen.append(a), None)
    assert "BRAC_SetNotifyMessageCallBack.lpFunction" in anychat._lib._keep
    anychat.raw("BRAC_SetNotifyMessageCallBack")(None, None)
