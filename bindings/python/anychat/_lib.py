"""Loading the libraries and binding the generated declarations.

The client library (``BRAC_*``): the file ``ANYCHAT_LIB`` names if set,
else in the directory ``ANYCHAT_LIB_DIR`` names (if set), else through the
dynamic loader's search (``LD_LIBRARY_PATH``, ldconfig paths):
``libanychatcore.so.0``, ``libanychatcore.so`` (the names
``scripts/install.sh`` installs), ``libanychat.so`` (cargo's build).
The business-server library (``BRAS_*``): ``ANYCHAT_SERVER_LIB``, else
``libanychatserversdk.so.0``, ``libanychatserversdk.so``, ``libanychat.so``
the same way.
"""

import ctypes
import ctypes.util
import os
import threading
from typing import Any, Callable, Dict, List, Optional

from . import _ffi

_NAMES = {
    "core": ("ANYCHAT_LIB", ["libanychatcore.so.0", "libanychatcore.so", "libanychat.so"], ["anychatcore", "anychat"]),
    "server": ("ANYCHAT_SERVER_LIB", ["libanychatserversdk.so.0", "libanychatserversdk.so", "libanychat.so"],
               ["anychatserversdk", "anychat"]),
}
_loaded: Dict[str, ctypes.CDLL] = {}
_lock = threading.Lock()


def load(which: str = "core") -> ctypes.CDLL:
    """The library ``"core"`` (BRAC_*) or ``"server"`` (BRAS_*), loaded once."""
    with _lock:
        if which in _loaded:
            return _loaded[which]
        env, names, short = _NAMES[which]
        candidates: List[str] = []
        if os.environ.get(env):
            candidates.append(os.environ[env])
        else:
            d = os.environ.get("ANYCHAT_LIB_DIR")
            if d:
                candidates += [os.path.join(d, n) for n in names]
            candidates += names
            candidates += [f for f in (ctypes.util.find_library(n) for n in short) if f]
        errors = []
        for c in candidates:
            try:
                lib = ctypes.CDLL(c)
            except OSError as e:
                errors.append(str(e))
                continue
            _bind(lib, which)
            _loaded[which] = lib
            return lib
        raise OSError(f"cannot load the AnyChat {which} library (set {env} or ANYCHAT_LIB_DIR, or "
                      "LD_LIBRARY_PATH): " + "; ".join(errors))


def _bind(lib: ctypes.CDLL, which: str) -> None:
    for name, (w, restype, params, _doc) in _ffi.FUNCTIONS.items():
        if w != which:
            continue
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = [t for t, _ in params]


# Callback objects handed to the library, by "function.parameter": a ctypes
# function object collected while the library holds its pointer would be a
# call into freed memory.
_keep: Dict[str, Any] = {}


def function(name: str) -> Callable[..., int]:
    """The C function ``name`` with its argument types set. Arguments that
    are callback types accept a Python callable (wrapped) or None, and the
    wrapper is kept alive until the same function registers another."""
    which, _restype, params, doc = _ffi.FUNCTIONS[name]
    f = getattr(load(which), name)
    cb_slots = [(i, t, n) for i, (t, n) in enumerate(params) if t in _ffi.CALLBACKS.values()]
    if not cb_slots:
        return f

    def call(*args: Any) -> int:
        args_l = list(args)
        for i, t, n in cb_slots:
            if i < len(args_l):
                a = args_l[i]
                if a is None:
                    a = t()
                elif not isinstance(a, t):
                    a = t(a)
                args_l[i] = a
                _keep[f"{name}.{n}"] = a
        return f(*args_l)

    call.__name__ = name
    call.__doc__ = doc
    return call


def c_string(ptr: Optional[int], length: Optional[int] = None) -> str:
    """A C string (or ``length`` bytes) the library passed to a callback,
    decoded as UTF-8; NULL gives ``""``."""
    if not ptr:
        return ""
    raw = ctypes.string_at(ptr) if length is None else ctypes.string_at(ptr, length)
    return raw.decode("utf-8", "replace")
