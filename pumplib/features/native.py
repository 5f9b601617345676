"""Native builds of the feature kernels: compiled once per machine, called through ctypes.

The two reductions of a feature build (:func:`pumplib.features.kernels.segment_partials`
and the fused pass behind :func:`pumplib.features.aggregations._fused_partials`) are
numba kernels. numba's first call in a process costs ~0.3-0.4 s of CPU, holding the
GIL, even when it loads the kernel from its cache; on two cores that is a quarter of a
14-day golden-table build and a third of an appended day's. The same loops in C
(``_kernels.c``) load in a millisecond. pumplib compiles them with the system C compiler
the first time they are asked for and keeps the shared library in a cache folder, named
by a hash of the source and the compiler flags; ctypes releases the GIL while they run.

Where no compiler is found, or the ``features.kernels`` setting is ``numba``,
:func:`library` returns None and the numba kernels run: the results are the same bit for
bit (the sums add one sample at a time in time order, no fast-math, no FMA contraction).

Settings
--------
``features.kernels``
    ``auto`` (default: native when a compiler is there, else numba), ``native``
    (an error when it cannot be built) or ``numba``.
``features.kernel_cache``
    Folder of the compiled library (default ``$XDG_CACHE_HOME/pumplib``, else
    ``~/.cache/pumplib``; ``PUMPLIB_FEATURES__KERNEL_CACHE`` overrides it).

Examples
--------
>>> import numpy as np
>>> from pumplib.features import kernels
>>> out = np.zeros((5, 1, 2))
>>> kernels.segment_partials(np.array([[1.0, 2.0, 5.0]]), np.array([0, 2, 3]), out, 0)
>>> out[:, 0].tolist()      # max, min, n, n_good, sum (native or numba: the same)
[[2.0, 5.0], [1.0, 5.0], [2.0, 1.0], [2.0, 1.0], [3.0, 5.0]]
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import sysconfig
import tempfile
import threading
from pathlib import Path

import numpy as np

from .. import config
from ..errors import ArgumentError, ConfigError, UnknownNameError, choices_message

__all__ = ["CHOICES", "FLAGS", "backend", "library"]

log = logging.getLogger(__name__)

#: values of the ``features.kernels`` setting
CHOICES = ("auto", "native", "numba")
#: compiler flags: optimised, position independent, IEEE arithmetic in source order
FLAGS = ("-O3", "-fPIC", "-shared", "-std=c99", "-fno-fast-math", "-ffp-contract=off")
SOURCE = Path(__file__).with_name("_kernels.c")

_LOCK = threading.Lock()
_LOADED: dict[tuple, ctypes.CDLL | None] = {}

_i64 = ctypes.c_int64
_ptr = ctypes.c_void_p


def backend() -> str:
    """The ``features.kernels`` setting, checked against :data:`CHOICES`."""
    choice = str(config.get("features.kernels", "auto"))
    if choice not in CHOICES:
        raise UnknownNameError(choices_message("features.kernels", choice, CHOICES))
    return choice


def _compiler() -> list[str] | None:
    """The C compiler command: ``$CC``, Python's build compiler, or ``cc``/``gcc``."""
    return _find_compiler(os.environ.get("CC"), os.environ.get("PATH"))


@functools.lru_cache(maxsize=8)
def _find_compiler(cc_env: str | None, path: str | None) -> list[str] | None:
    for cand in (cc_env, sysconfig.get_config_var("CC"), "cc", "gcc", "clang"):
        if not cand:
            continue
        parts = str(cand).split()
        if shutil.which(parts[0], path=path):
            return parts
    return None


def _cache_dir() -> Path:
    got = config.get("features.kernel_cache", None)
    if got:
        return Path(got).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pumplib"


def library() -> ctypes.CDLL | None:
    """The compiled kernels (built on first use), or None when the numba kernels run
    (setting ``numba``, or ``auto`` without a working compiler)."""
    choice = backend()
    if choice == "numba":
        return None
    cc = _compiler()
    key = (choice, tuple(cc or ()), str(_cache_dir()))
    if key in _LOADED:
        return _LOADED[key]
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load(cc, choice)
    return _LOADED[key]


def _load(cc: list[str] | None, choice: str) -> ctypes.CDLL | None:
    if cc is None:
        if choice == "native":
            raise ConfigError("features.kernels is 'native' but no C compiler was found "
                              "(set CC, or choose 'auto' or 'numba')")
        log.info("no C compiler: the feature kernels run on numba")
        return None
    src = SOURCE.read_bytes()
    tag = hashlib.sha256(src + " ".join([*cc, *FLAGS]).encode()).hexdigest()[:16]
    suffix = sysconfig.get_config_var("SHLIB_SUFFIX") or ".so"
    target = _cache_dir() / f"pumplib-kernels-{tag}{suffix}"
    try:
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            # build beside the target, then rename: concurrent builds never see half a file
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=target.suffix)
            os.close(fd)
            try:
                subprocess.run([*cc, *FLAGS, "-o", tmp, str(SOURCE), "-lm"], check=True,
                               capture_output=True, timeout=120)
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        lib = ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        msg = (f"could not build the native feature kernels from {SOURCE} with {cc[0]}: "
               f"{exc} {detail.decode(errors='replace')[-500:]}")
        if choice == "native":
            raise ConfigError(msg) from exc
        log.info("%s; the feature kernels run on numba", msg)
        return None
    lib.pumplib_segment.argtypes = [_ptr, _i64, _i64, _ptr, _i64, _ptr, _i64, _i64]
    lib.pumplib_segment.restype = None
    lib.pumplib_fused.argtypes = [_ptr, _i64, _i64, _i64, _i64, _ptr, _i64, _i64, _i64, _ptr]
    lib.pumplib_fused.restype = None
    return lib


def segment(lib: ctypes.CDLL, x: np.ndarray, edges: np.ndarray, out: np.ndarray,
            o0: int) -> None:
    """``pumplib_segment`` on numpy arrays: ``x`` float64 with unit stride along time,
    ``edges`` int64 contiguous, ``out`` ``(5, rows, width)`` float64 C-contiguous."""
    if x.ndim != 2 or x.strides[1] != 8 or x.strides[0] % 8 or out.shape[1] != x.shape[0]:
        raise ArgumentError("segment: x must be (rows, time) float64 with unit time stride")
    if not out.flags.c_contiguous or out.dtype != np.float64 or len(edges) < 1:
        raise ArgumentError("segment: out must be a C-contiguous float64 (5, rows, periods)")
    if len(edges) > 1 and (edges[0] < 0 or edges[-1] > x.shape[1]
                           or o0 + len(edges) - 1 > out.shape[2]):
        raise ArgumentError("segment: edges or o0 out of range")
    lib.pumplib_segment(x.ctypes.data, x.shape[0], x.strides[0] // 8, edges.ctypes.data,
                        len(edges) - 1, out.ctypes.data, out.shape[2], int(o0))


def fused(lib: ctypes.CDLL, x2: np.ndarray, g2: np.ndarray, k: int, out: np.ndarray) -> bool:
    """``pumplib_fused`` on numpy arrays; False (nothing done) when a stride of ``x2`` is
    not a whole number of elements (the numba kernel takes those)."""
    if x2.dtype != np.float64 or x2.strides[0] % 8 or x2.strides[1] % 8:
        return False
    g2 = g2.view(np.uint8) if g2.dtype == np.bool_ else (g2 != 0).view(np.uint8)
    lib.pumplib_fused(x2.ctypes.data, x2.shape[0], x2.shape[1], x2.strides[0] // 8,
                      x2.strides[1] // 8, g2.ctypes.data, g2.strides[0], g2.strides[1],
                      int(k), out.ctypes.data)
    return True
