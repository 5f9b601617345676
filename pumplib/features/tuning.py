"""Process tuning for builds: glibc's malloc, the garbage collector, warm kernels.

None of this changes a value; it changes how fast a build runs in a process that
imported the scientific Python stack (see ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
import threading

import numpy as np

from .. import config
from ..errors import ConfigError
from . import aggregations as A

__all__ = ["gc_skips_older_objects", "trim_malloc", "tune_malloc", "warm_kernels"]


def warm_kernels():
    """Load the compiled kernels (numba's first call in a process takes about a second,
    mostly imports and reading its cache) on a background thread; returns the thread."""
    def warm():
        from . import kernels

        kernels.load()                               # raw chunks
        A._fused_partials(np.zeros((1, 2)), 2, None)  # blocks

    t = threading.Thread(target=warm, name="pumplib-warm-kernels", daemon=True)
    t.start()
    return t


@contextlib.contextmanager
def gc_skips_older_objects():
    """Within the block, garbage collections skip every object alive before it.

    A process that imported xarray, pandas, dask, zarr and pint holds a few hundred
    thousand objects; each full collection a build triggers (it makes many small
    containers) scanned them all, about 0.06 s of an appended day's 0.7 s.
    Objects made inside the block are collected as usual. Nothing changes when
    the collector is off or the caller has frozen objects already.
    """
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@functools.lru_cache(maxsize=1)
def tune_malloc() -> dict[str, int]:
    """Set glibc's malloc to the ``features.malloc_*`` settings, once per process (the
    first :func:`build_lake` calls it); what was set (empty where the C library is not
    glibc). A setting that is null, or named in the environment (``MALLOC_ARENA_MAX``,
    ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or in ``GLIBC_TUNABLES``),
    is left to glibc.

    - ``malloc_arena_max``: glibc gives a new thread an arena of its own (up to eight
      per core) and keeps it: a build's worker threads then start on memory the
      process never touched, a page fault per page, where one arena lets them reuse
      what the reader threads freed. Only builds ask for it, when they start: one
      arena from the process start made the feature benchmark's appended day slower
      (benchmarks/RESULTS.md, seventh session). Arenas that exist already are kept;
      new threads share them.
    - ``malloc_mmap_threshold`` and ``malloc_trim_threshold``: glibc maps every block
      above the mmap threshold on its own and unmaps it when freed, and gives the top
      of the heap back above the trim threshold; both start at 128 KiB and rise only
      once a large mapped block is freed (to at most 32 and 64 MiB). Until then each
      fetched chunk (3.3 MB), decode buffer and column is fresh memory, zeroed by the
      kernel page by page. The settings start a build where glibc would end up.
    """
    import ctypes
    import platform

    settings = {}
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    for key, (param, env, least, most) in _MALLOPT.items():
        value = config.get(f"features.{key}", None)
        if (value is None or str(value).strip().lower() in ("", "null", "none")
                or env in os.environ or f"glibc.{key.replace('_', '.', 1)}" in tunables):
            continue
        try:
            value = int(value)
        except (TypeError, ValueError):
            value = least - 1
        if not least <= value <= most:
            raise ConfigError(f"features.{key}: expected a whole number from {least} to "
                              f"{most} or null (glibc's default), got "
                              f"{config.get(f'features.{key}')!r}")
        settings[key] = (param, value)
    if not settings or not sys.platform.startswith("linux") \
            or platform.libc_ver()[0] != "glibc":
        return {}
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return {}
    return {key: value for key, (param, value) in settings.items()
            if mallopt(param, value) == 1}


#: ``features.<setting>``: glibc's mallopt parameter (malloc.h), the environment variable
#: that wins over it, and the values it takes
_MALLOPT = {"malloc_arena_max": (-8, "MALLOC_ARENA_MAX", 1, 1024),
            "malloc_mmap_threshold": (-3, "MALLOC_MMAP_THRESHOLD_", 0, 32 << 20),
            "malloc_trim_threshold": (-1, "MALLOC_TRIM_THRESHOLD_", 0, 1 << 40)}


def trim_malloc() -> bool:
    """Give the memory glibc's malloc keeps free back to the system (``malloc_trim(0)``;
    False where the C library is not glibc). A build in spans calls it between spans:
    with the high trim threshold :func:`tune_malloc` sets, the freed tables of one span
    would otherwise stay with the process and the next span's peak add to them
    (8 spans of 4 pumps × 7 days: 457 MB peak without, 341 MB with)."""
    import ctypes
    import platform

    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False
