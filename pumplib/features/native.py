"""Native builds of the feature kernels: compiled when pumplib is installed, called through ctypes.

The two reductions of a feature build (:func:`pumplib.features.kernels.segment_partials`
and the fused pass behind :func:`pumplib.features.aggregations._fused_partials`) are
numba kernels. numba's first call in a process costs ~0.3-0.4 s of CPU, holding the
GIL, even when it loads the kernel from its cache; on two cores that is a quarter of a
14-day golden-table build and a third of an appended day's. The same loops in C
(``_kernels.c``) load in a millisecond. They are a build-time extension module,
``pumplib.features._kernels``, compiled by ``pip install`` (``pyproject.toml``,
``[[tool.setuptools.ext-modules]]``, marked optional); pumplib never runs a compiler
itself and writes nothing outside the package. ctypes releases the GIL while they run.

Where the extension was not built (no compiler at install time), or the
``features.kernels`` setting is ``numba``, :func:`library` returns None and the numba
kernels run: the results are the same bit for bit (the sums add one sample at a time in
time order, no fast-math, no FMA contraction).

Settings
--------
``features.kernels``
    ``auto`` (default: the C extension when it was built, else numba), ``native``
    (an error when it was not built) or ``numba``.

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
import importlib.util
import logging
import threading

import numpy as np

from .. import config
from ..errors import ArgumentError, ConfigError, UnknownNameError, choices_message

__all__ = ["CHOICES", "MODULE", "backend", "library"]

log = logging.getLogger(__name__)

#: values of the ``features.kernels`` setting
CHOICES = ("auto", "native", "numba")
#: the extension module built from ``_kernels.c`` at install time
MODULE = "pumplib.features._kernels"

_LOCK = threading.Lock()
_LOADED: dict[str, ctypes.CDLL | None] = {}

_i64 = ctypes.c_int64
_ptr = ctypes.c_void_p


def backend() -> str:
    """The ``features.kernels`` setting, checked against :data:`CHOICES`."""
    choice = str(config.get("features.kernels", "auto"))
    if choice not in CHOICES:
        raise UnknownNameError(choices_message("features.kernels", choice, CHOICES))
    return choice


def _module_path(name: str = MODULE) -> str | None:
    """The built extension's file, or None when it was not built."""
    try:
        spec = importlib.util.find_spec(name)
    except ImportError:
        return None
    return spec.origin if spec is not None and spec.has_location else None


def library() -> ctypes.CDLL | None:
    """The compiled kernels, or None when the numba kernels run (setting ``numba``, or
    ``auto`` where the extension was not built)."""
    choice = backend()
    if choice == "numba":
        return None
    if choice not in _LOADED:
        with _LOCK:
            if choice not in _LOADED:
                _LOADED[choice] = _load(_module_path(), choice)
    return _LOADED[choice]


def _load(path: str | None, choice: str) -> ctypes.CDLL | None:
    if path is None:
        msg = (f"the native feature kernels ({MODULE}) were not built when pumplib was "
               "installed (it needs a C compiler: reinstall with one, e.g. `make env`)")
        if choice == "native":
            raise ConfigError(f"features.kernels is 'native' but {msg}; choose 'auto' or "
                              "'numba'")
        log.info("%s; the feature kernels run on numba", msg)
        return None
    try:
        lib = ctypes.CDLL(path)
        lib.pumplib_segment.argtypes = [_ptr, _i64, _i64, _ptr, _i64, _ptr, _i64, _i64]
        lib.pumplib_fused.argtypes = [_ptr, _i64, _i64, _i64, _i64, _ptr, _i64, _i64, _i64,
                                      _ptr]
    except (OSError, AttributeError) as exc:
        if choice == "native":
            raise ConfigError(f"could not load the native feature kernels {path}: {exc}") \
                from exc
        log.info("could not load %s (%s); the feature kernels run on numba", path, exc)
        return None
    lib.pumplib_segment.restype = None
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
