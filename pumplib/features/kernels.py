"""Compiled kernels of the feature build: fused read-and-reduce of raw lake chunks.

A feature whose expression is one raw signal (no condition, no unit
conversion) needs no evaluation: its values are the stored samples. For such
features the builder skips the ``(assets × time)`` blocks of the eager engine
and reduces every raw Zarr chunk straight to the partials of the finest fixed
level (usually 1 minute): a thread takes one signal over one chunk column
(all assets, one chunk of time), fetches its chunks' bytes from the store in
one batch and decodes them in place into a reused buffer (zarr's own selection
when the codecs are not a plain Blosc/Zstd chain, :func:`_chunk_decoder`), and a
compiled kernel that releases the GIL (C through ctypes, or numba:
:mod:`pumplib.features.native`) computes ``n``, ``n_good``, ``sum``, ``min`` and
``max`` of every period in one pass. Each chunk is decoded once, and nothing
larger than one chunk column is held per thread. Coarser levels roll up from
these partials exactly as in the other engines
(:func:`pumplib.features.aggregations.rollup`), so the results are bit-for-bit
the same.

Examples
--------
>>> import numpy as np
>>> x = np.array([[1.0, np.nan, 3.0, 4.0, np.inf]])
>>> out = np.zeros((5, 1, 2))
>>> segment_partials(x, np.array([0, 3, 5]), out, 0)
>>> out[:, 0].tolist()    # max, min, n, n_good, sum of [1, nan, 3] and [4, inf]
[[3.0, 4.0], [1.0, 4.0], [2.0, 1.0], [2.0, 2.0], [4.0, 4.0]]
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from zarr.core.buffer import default_buffer_prototype

__all__ = ["FIELDS", "array_partials", "chunk_partials_from_lake", "read_window",
           "segment_partials"]

#: signals whose chunks one worker fetches in one batch (per time chunk)
SIGNALS_PER_FETCH = 4

#: partial fields the chunk kernel computes, in the order of its output (sorted, as
#: :class:`~pumplib.features.aggregations.Partials` of these fields hold them)
FIELDS = ("max", "min", "n", "n_good", "sum")


@functools.lru_cache(maxsize=1)
def _segment_kernel():
    """The numba kernel (used where the native build is not: :mod:`.native`)."""
    import numba

    @numba.njit(nogil=True, cache=True)
    def kernel(x, edges, out, o0):  # pragma: no cover - compiled
        rows = x.shape[0]
        nper = edges.shape[0] - 1
        for r in range(rows):
            for i in range(nper):
                n = 0.0
                ng = 0.0
                s = 0.0
                lo = np.inf
                hi = -np.inf
                for j in range(edges[i], edges[i + 1]):
                    v = x[r, j]
                    if v == v:                   # not NaN: good
                        ng += 1.0
                        if abs(v) < np.inf:      # finite: a value
                            n += 1.0
                            s += v
                            lo = min(lo, v)
                            hi = max(hi, v)
                out[0, r, o0 + i] = hi if n > 0 else np.nan
                out[1, r, o0 + i] = lo if n > 0 else np.nan
                out[2, r, o0 + i] = n
                out[3, r, o0 + i] = ng
                out[4, r, o0 + i] = s
    return kernel


def _run_segment(x: np.ndarray, edges: np.ndarray, out: np.ndarray, o0: int) -> None:
    """The segment kernel, native when it is built (:mod:`pumplib.features.native`), else
    numba; ``x`` float64 with unit time stride, ``edges`` int64."""
    from . import native

    lib = native.library()
    if lib is not None and x.strides[-1] == 8:
        native.segment(lib, x, np.ascontiguousarray(edges, dtype=np.int64), out, o0)
    else:
        _segment_kernel()(x, edges, out, o0)


def load() -> None:
    """Load the kernels a build runs (native, or numba's from its cache) before threads
    ask for them."""
    from . import native

    if native.library() is None:
        _segment_kernel()(np.zeros((1, 2)), np.array([0, 2]), np.empty((5, 1, 1)), 0)


def segment_partials(x: np.ndarray, edges: np.ndarray, out: np.ndarray, o0: int) -> None:
    """``max, min, n, n_good, sum`` of the periods ``x[:, edges[i]:edges[i+1]]`` into
    ``out[:, :, o0 + i]`` (one pass, no temporaries; releases the GIL).

    ``n`` counts finite samples (they enter ``sum``, ``min`` and ``max``, added
    in time order like every other path), ``n_good`` samples that are not NaN
    (the coverage of a bare signal: its not-null mask).
    """
    _run_segment(np.ascontiguousarray(x, dtype=np.float64),
                 np.ascontiguousarray(edges, dtype=np.int64), out, int(o0))


def chunk_partials_from_lake(group, names: Sequence[str], offset: int, n: int,
                             edges: np.ndarray, k: int, workers: int | None = None,
                             flags=None) -> dict[str, np.ndarray] | None:
    """Partials of fixed-length periods of raw signals, reduced chunk by chunk.

    Parameters
    ----------
    group : zarr.Group
        A raw group of the lake (``raw/<cadence>``), arrays ``(asset, time)``.
    names : sequence of str
        Signals (arrays of ``group``).
    offset : int
        Index on the lake's time axis of the first step of the grid.
    n : int
        Steps of the grid.
    edges : ndarray of int
        Period edges into the grid (``grid_edges`` of the level's bounds).
        Every chunk boundary inside the grid must be one of them.
    k : int
        Samples of a full period. Periods clipped by the grid's ends are
        reduced like the other engines reduce them
        (:func:`~pumplib.features.aggregations.combine_partials`), so every path
        sums a period's samples in one order.
    workers : int, optional
        Threads (default: the CPU count).
    flags : zarr.Group, optional
        The quality flags of ``group``'s grid (``quality/<cadence>``): only
        samples :func:`pumplib.quality.flags.is_good` calls good enter; a signal
        or step without flags is not good.

    Returns
    -------
    dict name -> ndarray ``(5, assets, periods)`` of :data:`FIELDS`, or None
    when the chunk boundaries are not period edges.
    """
    edges = np.asarray(edges, dtype=np.int64)
    if not names:
        return {}
    arrs = {s: group[s] for s in names}
    cs = {int(a.chunks[-1]) for a in arrs.values()}
    if len(cs) != 1:
        return None
    cs = cs.pop()
    first = offset // cs
    last = -(-(offset + n) // cs)
    cuts = np.clip(np.arange(first, last + 1, dtype=np.int64) * cs - offset, 0, n)
    if not np.all(np.isin(cuts, edges)):
        return None
    n_assets = next(iter(arrs.values())).shape[0]
    nper = len(edges) - 1
    out = {s: np.empty((len(FIELDS), n_assets, nper)) for s in names}
    spans = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]

    local = threading.local()
    proto = default_buffer_prototype()
    direct = {s: _chunk_decoder(a) for s, a in arrs.items()}
    # signals read straight from the store go in groups: one fetch per group and chunk
    # column (fewer round trips to the event loop); the others one by one through zarr
    fast = [s for s in names if direct[s] is not None]
    groups = [tuple(fast[i:i + SIGNALS_PER_FETCH]) for i in range(0, len(fast), SIGNALS_PER_FETCH)]
    jobs = ([(grp, a, b) for grp in groups for a, b in spans]
            + [(s, a, b) for s in names if direct[s] is None for a, b in spans])

    def job(item):
        s, a, b = item
        p0 = int(np.searchsorted(edges, a))
        p1 = int(np.searchsorted(edges, b))
        if isinstance(s, tuple):             # whole chunks, decoded straight into a buffer
            c = (offset + a) // cs
            lo = offset + a - c * cs
            fetched = _fetch_chunk_columns([arrs[x] for x in s], c)
            for x, encoded in zip(s, fetched, strict=True):
                _reduce_column(arrs[x], encoded, direct[x], local, edges[p0:p1 + 1] - a + lo,
                               out[x], p0, flags, x, (offset + a, offset + b))
            return
        arr = arrs[s]
        buf = getattr(local, "buf", None)    # one buffer per thread: no page faults per chunk
        if buf is None or buf.shape != (n_assets, b - a) or buf.dtype != arr.dtype:
            buf = local.buf = np.empty((n_assets, b - a), dtype=arr.dtype)
        arr.get_basic_selection((slice(None), slice(offset + a, offset + b)),
                                out=proto.nd_buffer.from_numpy_array(buf))
        x = buf if flags is None else _good_only(buf, flags, s, offset + a, offset + b)
        segment_partials(x, edges[p0:p1 + 1] - a, out[s], p0)

    # zarr and Icechunk fetch on their own threads: two jobs per core keep them busy
    workers = workers or max(1, 2 * (os.cpu_count() or 1))
    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(job, jobs))
    else:
        for item in jobs:
            job(item)
    clipped = np.flatnonzero(np.diff(edges) != k)      # at most the first and the last
    if len(clipped):
        from .aggregations import chunk_partials, combine_partials

        for s in names:
            for i in clipped:
                a, b = int(edges[i]), int(edges[i + 1])
                x = arrs[s][:, offset + a:offset + b]
                if flags is not None:
                    x = _good_only(x, flags, s, offset + a, offset + b)
                p = combine_partials(chunk_partials(x, FIELDS, ~np.isnan(x)),
                                     np.array([0, b - a]))
                out[s][:, :, i] = np.stack([p[f] for f in FIELDS])[..., 0]
    return out


def _chunk_decoder(arr):
    """A function ``decode(encoded, out)`` of the chunks of ``arr`` when they can be read
    without zarr's codec pipeline (a float64 array on a regular grid, little-endian
    bytes, then one Blosc or Zstd codec or none, no sharding); None otherwise.

    Reading the chunk bytes from the store and decoding them into a reused
    buffer costs about half of what a zarr selection of the same chunks costs
    (no intermediate arrays, no event-loop hop per chunk)."""
    import numcodecs
    from zarr.codecs import BloscCodec, BytesCodec, ZstdCodec

    try:
        codecs = tuple(arr.metadata.codecs)
        regular = len(arr.chunks) == 2 and arr.metadata.chunk_key_encoding is not None
    except (AttributeError, TypeError, NotImplementedError):
        return None                          # zarr v2 metadata, or an irregular grid
    if (not regular or arr.dtype != np.float64 or not codecs
            or not isinstance(codecs[0], BytesCodec)
            or getattr(codecs[0].endian, "value", codecs[0].endian) not in ("little", None)
            or len(codecs) > 2):
        return None
    if len(codecs) == 1:
        def plain(enc, out):
            out.reshape(-1).view(np.uint8)[:] = np.frombuffer(enc, dtype=np.uint8)
        return plain
    comp = codecs[1]
    if isinstance(comp, BloscCodec):
        return numcodecs.Blosc().decode       # the Blosc header carries the settings
    if isinstance(comp, ZstdCodec):
        return numcodecs.Zstd().decode
    return None


def _fetch_chunk_columns(arrs, c: int) -> list[list]:
    """The encoded chunks of time chunk ``c`` of every asset of each array of ``arrs``
    (all fetched from the store in one batch); None for a chunk never written."""
    import asyncio

    from zarr.core.sync import sync

    keys = [[f"{a.path}/{a.metadata.encode_chunk_key((i, c))}"
             for i in range(-(-a.shape[0] // int(a.chunks[0])))] for a in arrs]
    proto = default_buffer_prototype()

    async def fetch():
        return await asyncio.gather(*[a.store_path.store.get(k, proto)
                                      for a, ks in zip(arrs, keys, strict=True) for k in ks])

    flat = iter(sync(fetch()))
    return [[next(flat) for _ in ks] for ks in keys]


def _reduce_column(arr, encoded: list, decode, local, edges: np.ndarray, out: np.ndarray,
                   o0: int, flags, name: str, steps: tuple[int, int]) -> None:
    """Reduce one array's time chunk (the encoded chunks of every asset chunk) into
    ``out[:, :, o0:]``, one asset chunk at a time: each is decoded into this thread's
    chunk-sized buffer and reduced while it is still in the cache. Chunks never
    written hold the fill value; with ``flags``, samples that are not good are NaN
    (``steps``: the lake's steps ``[lo, hi)`` that ``edges`` span)."""
    n_assets = arr.shape[0]
    ac, cs = (int(x) for x in arr.chunks)
    tmp = getattr(local, "tmp", None)
    if tmp is None or tmp.shape != (ac, cs):
        tmp = local.tmp = np.empty((ac, cs))
    small = getattr(local, "small", None)
    if small is None:
        small = local.small = {}
    fill = arr.metadata.fill_value
    width = len(edges) - 1
    lo = int(edges[0])
    # the flags of every asset in one read; each asset chunk takes its rows
    fl = None if flags is None else _flag_block(flags, name, *steps, n_assets)
    for i, got in enumerate(encoded):
        r0, r1 = i * ac, min(n_assets, (i + 1) * ac)
        block = tmp[:r1 - r0]
        if got is None:
            block[:] = np.nan if fill is None else float(fill)
        else:                                # stored chunks are whole (padded at the end)
            decode(got.as_numpy_array(), tmp)
        if fl is not None:
            _keep_good(block[:, lo:lo + steps[1] - steps[0]], fl[r0:r1])
        part = small.get((r1 - r0, width))
        if part is None:
            part = small[(r1 - r0, width)] = np.empty((5, r1 - r0, width))
        _run_segment(block, edges, part, 0)
        out[:, r0:r1, o0:o0 + width] = part


def read_window(arr, lo: int, hi: int, local=None) -> np.ndarray:
    """``arr[:, lo:hi]`` of a raw ``(asset, time)`` array, read like
    :func:`chunk_partials_from_lake` reads (chunk bytes from the store, decoded in place)
    when its chunks allow it, else through zarr.

    Each chunk is decoded into one reused chunk-sized buffer and its part of the
    window copied out, so the memory touched besides the result is one chunk.
    """
    decode = _chunk_decoder(arr)
    if decode is None:
        return arr[:, lo:hi]
    local = local if local is not None else threading.local()
    n_assets = arr.shape[0]
    ac, cs = (int(x) for x in arr.chunks)
    tmp = getattr(local, "tmp", None)
    if tmp is None or tmp.shape != (ac, cs):
        tmp = local.tmp = np.empty((ac, cs))
    fill = arr.metadata.fill_value
    out = np.empty((n_assets, hi - lo))
    for c in range(lo // cs, -(-hi // cs)):
        a, b = max(lo, c * cs), min(hi, (c + 1) * cs)
        for i, got in enumerate(_fetch_chunk_columns([arr], c)[0]):
            r0, r1 = i * ac, min(n_assets, (i + 1) * ac)
            if got is None:
                out[r0:r1, a - lo:b - lo] = np.nan if fill is None else float(fill)
                continue
            decode(got.as_numpy_array(), tmp)
            out[r0:r1, a - lo:b - lo] = tmp[:r1 - r0, a - c * cs:b - c * cs]
    return out


def array_partials(x: np.ndarray, edges: np.ndarray, k: int) -> np.ndarray:
    """:data:`FIELDS` partials ``(5, assets, periods)`` of the periods
    ``x[:, edges[i]:edges[i+1]]`` of values already in memory (an incremental
    build's raw block), reduced as :func:`chunk_partials_from_lake` reduces them.

    Periods shorter than ``k`` samples (clipped by the ends of ``x``) are reduced
    like the other engines reduce them
    (:func:`~pumplib.features.aggregations.combine_partials`).

    Examples
    --------
    >>> x = np.array([[1.0, 2.0, np.nan, 4.0, 5.0]])
    >>> array_partials(x, np.array([0, 2, 4, 5]), 2)[:, 0].tolist()
    [[2.0, 4.0, 5.0], [1.0, 4.0, 5.0], [2.0, 1.0, 1.0], [2.0, 1.0, 1.0], [3.0, 4.0, 5.0]]
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.int64)
    out = np.empty((len(FIELDS), x.shape[0], len(edges) - 1))
    segment_partials(x, edges, out, 0)
    clipped = np.flatnonzero(np.diff(edges) != k)
    if len(clipped):
        from .aggregations import chunk_partials, combine_partials

        for i in clipped:
            a, b = int(edges[i]), int(edges[i + 1])
            xs = x[:, a:b]
            p = combine_partials(chunk_partials(xs, FIELDS, ~np.isnan(xs)), np.array([0, b - a]))
            out[:, :, i] = np.stack([p[f] for f in FIELDS])[..., 0]
    return out


def _good_only(x: np.ndarray, flags, name: str, lo: int, hi: int) -> np.ndarray:
    """``x`` (steps ``[lo, hi)`` of the lake's grid) with every sample that is not good
    by the stored flags set to NaN (in place)."""
    return _keep_good(x, _flag_block(flags, name, lo, hi, x.shape[0]))


def _flag_block(flags, name: str, lo: int, hi: int, rows: int) -> np.ndarray:
    """The stored flags of signal ``name`` over steps ``[lo, hi)`` (``rows`` assets);
    steps or signals without flags are unchecked."""
    from ..quality.flags import UNCHECKED

    f = np.full((rows, hi - lo), UNCHECKED, dtype=np.uint16)
    if name in flags:
        arr = flags[name]
        stop = min(hi, arr.shape[-1])
        if stop > lo:
            f[:, :stop - lo] = arr[:, lo:stop]
    return f


def _keep_good(x: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``x`` with every sample its flags ``f`` do not call good set to NaN (in place)."""
    from ..quality.flags import is_good

    x[~is_good(f, x)] = np.nan
    return x


def stack_fields(parts: np.ndarray, fields: Sequence[str]) -> np.ndarray:
    """The ``fields`` (a subset of :data:`FIELDS`) of one kernel output, in that order
    (the output itself, no copy, when they are all of them)."""
    if tuple(fields) == FIELDS:
        return parts
    return parts[[FIELDS.index(f) for f in fields]]
