"""Golden tables in the lake: the writer, the stacked layout and its chunk codec.

A level is stored as the group ``features/<level>`` holding the axes
``asset``, ``time`` and ``time_end`` and one ``(column, asset, time)`` array
(:data:`VALUES`; its attributes name the columns and hold theirs), which
:meth:`pumplib.lake.Lake.open_group` shows as one variable per column. Older
lakes hold one array per variable; they are read and merged into as they are.
:class:`TableWriter` writes the levels of one commit on zarr's event loop while
the build computes; whole column chunks are encoded here with zarr's own Blosc
codec (:class:`_ChunkCodec`) and stored as they are. The day partials of every
feature (``features/_partials/1D``) are read back by :func:`read_stored_partials`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import PumplibError
from . import aggregations as A
from .planning import PARTIALS_GROUP

__all__ = ["STACKED", "VALUES", "TableWriter", "materialize", "read_stored_partials",
           "write_tables"]


def read_stored_partials(store, names: Iterable[str]) -> xr.Dataset | None:
    """The stored day partials of ``names`` (in memory), or None when there are none."""
    if store is None or not hasattr(store, "session"):
        return None
    from ..lake import open_root

    root = open_root(store.session().store, "r")
    path = f"features/{PARTIALS_GROUP}"
    if path not in root:
        return None
    g = root[path]
    names = set(names)
    times = {n: A.times_ns(g[n][:])
             for n in ("time", "time_end")}
    coords = {"asset": np.asarray(g["asset"][:]).astype(object), "time": times["time"],
              "time_end": ("time", times["time_end"])}
    if VALUES in g:
        arr = g[VALUES]
        return _partials_dataset(coords, arr.attrs, names, lambda idx: arr.get_orthogonal_selection(
            (idx, slice(None), slice(None))))
    arrays = {k: a for k, a in g.arrays() if a.attrs.get("feature") in names}
    with ThreadPoolExecutor(_READ_THREADS) as ex:      # many small arrays: overlap latency
        values = dict(zip(arrays, ex.map(lambda a: a[:], arrays.values()), strict=True))
    return xr.Dataset({k: (("asset", "time"), values[k], dict(a.attrs))
                       for k, a in arrays.items()},
                      coords={"asset": np.asarray(g["asset"][:]).astype(object),
                              "time": times["time"], "time_end": ("time", times["time_end"])})


def _partials_dataset(coords: Mapping, attrs: Mapping, names: set, read) -> xr.Dataset:
    """The day partials of features ``names`` from a stacked partials array with
    attributes ``attrs`` (its ``columns`` and ``column_attrs``): ``read(indices)`` gives
    those columns' values (column, asset, day)."""
    cattrs = attrs.get("column_attrs", {}) or {}
    cols = [(i, c) for i, c in enumerate(attrs.get("columns", []))
            if cattrs.get(c, {}).get("feature") in names]
    if not cols:
        return xr.Dataset(coords=coords)
    block = read(np.array([i for i, _ in cols]))
    return xr.Dataset({c: (("asset", "time"), block[j], dict(cattrs[c]))
                       for j, (_, c) in enumerate(cols)}, coords=coords)


def materialize(tables: Mapping[str, xr.Dataset]) -> dict[str, xr.Dataset]:
    """Compute every level in one ``dask.compute`` (shared partials computed once).

    The dask arrays are gathered and computed together, then put back into
    their Datasets: computing several Datasets in one ``dask.compute`` was
    seen to fail in graph optimisation (``Missing dependency``).
    """
    import dask

    arrays = {(lv, k): v.data for lv, ds in tables.items() for k, v in ds.variables.items()
              if hasattr(v.data, "dask")}
    (done,) = dask.compute(arrays) if arrays else ({},)
    out = {}
    for lv, ds in tables.items():
        ds = ds.copy()
        for (lv2, k), arr in done.items():
            if lv2 == lv:
                ds[k] = ds[k].copy(data=arr)
        out[lv] = ds
    return out


def write_tables(lake, tables: Mapping[str, xr.Dataset], message: str = "features build",
                 metadata: Mapping | None = None) -> str | None:
    """Store golden tables as ``features/<level>`` groups of the lake, in one commit.

    A level is stored as one ``(column, asset, time)`` array (:data:`STACKED`),
    so a build writes, and an appended day resizes, a handful of arrays rather
    than one per variable; ``lake.open_group`` shows each column as a variable
    with its attributes. Levels stored one array per variable (older lakes)
    are read and merged into as they are.

    * A level holding the same assets and periods: only the given features'
      variables are replaced (a new or changed definition rewrites just its
      own columns).
    * Tables of an incremental build (``build(..., changed=...)``): their
      periods are written in place (late data) or appended (new data); the
      other periods stay as they are.
    * Otherwise the level is rewritten whole and the variables of features
      not in ``tables`` are dropped (listed under ``dropped`` in the commit
      metadata).

    The commit metadata records the lineage: raw snapshot, levels, feature
    definition hashes (and pumplib's version, added by the lake). Read a
    level back with ``lake.open_group("features/1D")``.

    Returns the snapshot id of the commit.
    """
    with TableWriter(lake, list(tables), message, metadata) as w:
        for lv, ds in tables.items():
            w.put(lv, ds)
    return w.snapshot


class TableWriter:
    """Writes golden tables to one lake commit while the caller goes on computing.

    On entry the transaction opens; :meth:`inspect` starts reading what is stored
    at the ``planned`` levels (on zarr's event loop, in the background; the first
    :meth:`put` starts it otherwise); :meth:`put` hands one level's table to the
    loop and returns at once; on exit every write is awaited and the commit made
    (none when nothing was put or the caller failed). An incremental build puts its
    minute, quarter-hour and hour tables while it still computes its day, week and
    month tables.
    """

    def __init__(self, lake, planned: Sequence[str], message: str,
                 metadata: Mapping | None = None):
        self.lake, self.planned, self.message = lake, list(planned), message
        self.metadata = dict(metadata or {})
        self.snapshot: str | None = None
        self._futures: dict[str, object] = {}
        self._prepared: dict[str, object] = {}

    def __enter__(self) -> TableWriter:
        from zarr.core.sync import _get_loop

        from ..lake import raw_compressor

        self._stack = contextlib.ExitStack()
        self._tx = self._stack.enter_context(self.lake.transaction(self.message, {}))
        self._loop = _get_loop()
        self._comp = raw_compressor()     # LZ4: half the CPU of zarr's default zstd
        self._hashes: dict[str, str] = {}
        self._raw_snapshot = None
        self._dropped: dict[str, list[str]] = {}
        self._ready = None
        return self

    def inspect(self) -> None:
        """Start reading what is stored at the planned levels (:meth:`put` does it first
        when this was not called)."""
        if self._ready is None:
            self._ready = self._submit(self._inspect_all())

    def _submit(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def _inspect_all(self):
        from ..lake import open_root_async

        # the transaction's root is opened here, on the loop, not before the build starts
        root = await open_root_async(self._tx.session.store, "a")
        features = await root.require_group("features")
        # what is stored first, before anything is written: Icechunk lists a group
        # synchronously on the event loop, which must not wait on a write in flight
        # (that deadlocks); the writes list nothing
        found = dict(zip(self.planned, await asyncio.gather(
            *(_inspect_level(features, lv) for lv in self.planned)), strict=True))
        for lv, f in found.items():          # one level at a time: only these list
            if f.get("group") is not None and f.get("arrays") is None:
                found[lv] = await _inspect_level(features, lv, listing=True)
        # column groups in flight at once, over all levels: encoding is CPU-bound (zarr
        # runs it on threads) and each group holds its stacked columns (~27 MB for 8
        # columns of 20 pumps x 2 weeks of minutes)
        return features, found, asyncio.Semaphore(2 * (os.cpu_count() or 1))

    async def _write(self, lv: str, ds: xr.Dataset, hashes: Mapping) -> None:
        features, found, limit = await asyncio.wrap_future(self._ready)
        prepared = (await asyncio.wrap_future(self._prepared[lv])
                    if lv in self._prepared else None)
        await _write_level(features, lv, ds, found[lv], hashes, self._comp, self._dropped,
                           limit, prepared)

    def prepare(self, lv: str, assets: Sequence[str], times, time_ends) -> None:
        """Start making room at level ``lv`` for the periods ``times``/``time_ends``
        (epoch seconds) its table, put later, holds: a stored level that takes them
        (appended or late periods) grows now, while the caller computes."""
        self.inspect()
        if lv not in self.planned or lv in self._futures or lv in self._prepared:
            raise PumplibError(f"internal: level {lv!r} is not planned, or was prepared "
                               f"or put already (planned: {self.planned})")
        secs = {"time": np.asarray(times, np.int64),
                "time_end": np.asarray(time_ends, np.int64)}
        self._prepared[lv] = self._submit(self._prepare(lv, np.asarray(assets, str), secs))

    async def _prepare(self, lv: str, assets: np.ndarray, secs: Mapping):
        """``(time axis after the merge, the periods made room for, end of the last
        period)``, or None when the level is not stored yet, is stored another way or
        cannot take the periods (its write then does what it does unprepared)."""
        _features, found, _limit = await asyncio.wrap_future(self._ready)
        f = found[lv]
        if f.get("axes") is None or VALUES not in (f.get("arrays") or {}):
            return None
        if np.array_equal(f["axes"][1], secs["time"]):
            return None                      # the same periods: nothing grows
        plan = _merge_plan(f["arrays"], f["axes"], assets, secs, f.get("last_end"))
        if plan is None:
            return None
        merged, grow, last_end = plan
        await grow()
        return merged, secs["time"], last_end

    def __call__(self, lv: str, ds: xr.Dataset) -> None:
        """:meth:`put`: the writer is an ``emit`` for :func:`build`."""
        self.put(lv, ds)

    def put(self, lv: str, ds: xr.Dataset) -> None:
        """Start writing ``ds`` as level ``lv`` (one of the planned levels)."""
        self.inspect()
        if lv not in self.planned or lv in self._futures:
            raise PumplibError(f"internal: level {lv!r} is not planned or was put twice "
                               f"(planned: {self.planned})")
        if any(A._is_dask(v.data) for v in ds.variables.values()):
            ds = materialize({lv: ds})[lv]
        self._hashes.update(ds.attrs.get("definition_hashes", {}))
        self._raw_snapshot = ds.attrs.get("raw_snapshot", self._raw_snapshot)
        self._futures[lv] = self._submit(self._write(lv, ds, dict(self._hashes)))

    def __contains__(self, lv: str) -> bool:
        return lv in self._futures

    def stored_partials(self, names: Iterable[str]):
        """A future of the stored day partials of features ``names`` (an ``xarray.Dataset``,
        None when none are stored), read from the transaction on the loop before anything
        is written: :func:`read_stored_partials` without a session, a group lookup or an axis
        read of its own (the inspection has them)."""
        self.inspect()
        return self._submit(self._stored_partials(set(names)))

    async def _stored_partials(self, names: set):
        _features, found, _limit = await asyncio.wrap_future(self._ready)
        f = found.get(PARTIALS_GROUP) or {}
        arrays = f.get("arrays") or {}
        if f.get("axes") is None or "time_end" not in arrays:
            return None
        if VALUES not in arrays:                 # one array per variable (older lakes)
            return await asyncio.to_thread(read_stored_partials, self.lake, names)
        arr = arrays[VALUES]
        ends, values = await asyncio.gather(arrays["time_end"].getitem(slice(None)),
                                            arr.getitem(slice(None)))
        assets, times = f["axes"]
        coords = {"asset": np.asarray(assets, dtype=object), "time": A.times_ns(times),
                  "time_end": ("time", A.times_ns(ends))}
        return _partials_dataset(coords, arr.attrs, names, lambda idx: np.asarray(values)[idx])

    def _wait(self) -> None:
        """Every write ended (a failure raised once all have)."""
        from concurrent.futures import wait

        if self._ready is None:              # nothing was inspected, nothing put
            return
        wait([self._ready, *self._prepared.values(), *self._futures.values()])
        self._ready.result()
        for f in [*self._prepared.values(), *self._futures.values()]:
            f.result()

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            self._wait()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        if exc_type is not None or not self._futures:
            # the caller failed, or nothing was put: no commit
            self._tx.session.discard_changes()
            return bool(self._stack.__exit__(exc_type, exc, tb))
        unfilled = sorted(set(self._prepared) - set(self._futures))
        if unfilled:                         # grown levels must get their values
            self._tx.session.discard_changes()
            self._stack.__exit__(None, None, None)
            raise PumplibError(f"internal: levels {unfilled} were prepared for new periods "
                               "but got no table; nothing was committed")
        self._tx.metadata.update({"kind": "features", "levels": list(self._futures),
                                  "definition_hashes": self._hashes,
                                  "raw_snapshot": self._raw_snapshot, **self.metadata})
        if any(self._dropped.values()):
            self._tx.metadata["dropped"] = {lv: v for lv, v in self._dropped.items() if v}
        self._stack.__exit__(None, None, None)
        self.snapshot = self._tx.snapshot
        return False


async def _inspect_level(root, lv: str, listing: bool = False) -> dict:
    """A stored level: its group, asset and time axes, arrays and columns (empty when
    there is no such level). Without ``listing`` the arrays of the stacked layout are
    looked up by name and ``arrays`` is None for any other layout."""
    try:
        g = await root.getitem(lv)           # one lookup (contains() then getitem() is two)
    except KeyError:
        return {}
    if listing:
        arrays = {k: a async for k, a in g.arrays()}
    else:
        async def get(name):
            try:
                return await g.getitem(name)
            except KeyError:
                return None

        names = ("asset", "time", "time_end", VALUES)
        got = dict(zip(names, await asyncio.gather(*(get(n) for n in names)), strict=True))
        if got[VALUES] is None:
            return {"group": g, "arrays": None}
        arrays = {k: a for k, a in got.items() if a is not None}
    if "asset" not in arrays or "time" not in arrays:
        return {"group": g, "arrays": arrays, "columns": []}
    n = arrays["time"].shape[0]
    end = arrays.get("time_end")
    av, tv, last_end = await asyncio.gather(
        arrays["asset"].getitem(slice(None)), arrays["time"].getitem(slice(None)),
        end.getitem(slice(n - 1, n)) if end is not None and n else asyncio.sleep(0))
    columns = (list(arrays[VALUES].attrs.get("columns", [])) if VALUES in arrays else
               [k for k in arrays if k not in ("asset", "time", "time_end")])
    return {"group": g, "arrays": arrays, "columns": columns,
            "axes": ([str(x) for x in np.asarray(av)], np.asarray(tv)),
            "last_end": None if last_end is None else int(np.asarray(last_end)[0])}


async def _write_level(root, lv: str, ds: xr.Dataset, found: dict, hashes: Mapping, comp,
                       dropped: dict, limit, prepared=None) -> None:
    """Write level ``lv`` (see :func:`write_tables`) under the async group ``root``;
    ``found`` is what :func:`_inspect_level` saw of it; ``prepared`` what
    ``TableWriter._prepare`` made room for (None: nothing)."""
    assets = np.asarray(ds["asset"].values).astype(str)
    secs = {n: np.asarray(pd.DatetimeIndex(ds[n].values).as_unit("s").asi8)
            for n in ("time", "time_end")}
    g, axes, arrays = found.get("group"), found.get("axes"), found.get("arrays", {})
    stored = None
    old_n = len(axes[1]) if axes is not None else 0   # periods stored before this write
    last_end = found.get("last_end")
    if (prepared is not None and axes[0] == list(assets)
            and np.array_equal(prepared[1], secs["time"])):
        stored = prepared[0]                 # the arrays grew for these periods already
    else:
        if prepared is not None:             # other periods after all: merged with those
            axes, last_end = (axes[0], prepared[0]), prepared[2]
        if axes is not None and axes[0] == list(assets) and np.array_equal(axes[1],
                                                                           secs["time"]):
            stored = axes[1]                 # same periods: replace the given columns
        elif axes is not None and "changed" in ds.attrs:
            plan = _merge_plan(arrays, axes, assets, secs, last_end)
            if plan is not None:
                stored, grow, _ = plan
                await grow()
    columns = found.get("columns", [])
    if stored is None:                       # new level, or the axes changed: rewrite it
        if g is not None:
            dropped[lv] = sorted(set(columns) - set(ds.data_vars))
        g = await root.create_group(lv, overwrite=True)
        arrays, columns = {}, []

        async def axis(name, val, dtype, dims, attrs=None):
            arr = await g.create_array(name, shape=val.shape, chunks=(max(len(val), 1),),
                                       dtype=dtype, dimension_names=dims, attributes=attrs)
            await arr.setitem(slice(None), val)

        await asyncio.gather(
            axis("asset", assets.astype(object), str, ("asset",)),
            *(axis(name, val, "int64", ("time",),
                   {"units": "seconds since 1970-01-01T00:00:00",
                    "calendar": "proleptic_gregorian", "long_name": _LONG_NAMES[name]})
              for name, val in secs.items()))
        stored, old_n = secs["time"], 0
    attrs = {k: v for k, v in ds.attrs.items() if k != "definition_hashes"}
    known = dict(g.attrs.get("definition_hashes", {}) or {})
    lo = int(np.searchsorted(stored, secs["time"][0])) if len(secs["time"]) else 0
    tchunk = _TIME_CHUNKS.get(lv.rsplit("/", 1)[-1], 1 << 30)
    work = [_update_attrs(g, {**attrs, "definition_hashes": {**known, **hashes},
                              "title": f"pumplib golden table, level {lv}"})]
    if STACKED and (VALUES in arrays or not columns):
        work.append(_put_stacked(g, arrays.get(VALUES), ds, len(stored), lo, tchunk, comp,
                                 limit, old_n))
    else:                                    # one array per variable (older lakes)
        work += [_put_variable(g, arrays.get(k), k, v, len(assets), len(stored), lo, tchunk,
                               comp, limit) for k, v in ds.data_vars.items()]
    await asyncio.gather(*work)


async def _put_variable(g, arr, k: str, v: xr.Variable, n_assets: int, n_time: int, lo: int,
                        tchunk: int, comp, limit) -> None:
    """Write one variable as its own array (the layout of older lakes)."""
    vals = np.asarray(v.values, dtype=np.float64)
    attrs = {**_jsonable_attrs(v.attrs), "coordinates": "time_end"}
    chunks = (max(n_assets, 1), max(min(n_time, tchunk), 1))
    async with limit:
        if vals.shape[1] == n_time:
            arr = await g.create_array(k, shape=vals.shape, chunks=chunks, dtype="float64",
                                       fill_value=np.nan, compressors=comp,
                                       dimension_names=("asset", "time"), overwrite=True,
                                       attributes=attrs)
            await arr.setitem(slice(None), vals)
            return
        if arr is not None:                  # merged periods: write only their region
            await _update_attrs(arr, attrs)
        else:
            arr = await g.create_array(k, shape=(n_assets, n_time), chunks=chunks,
                                       dtype="float64", fill_value=np.nan, compressors=comp,
                                       dimension_names=("asset", "time"), attributes=attrs)
        await arr.setitem((slice(None), slice(lo, lo + vals.shape[1])), vals)


#: write levels as one ``(column, asset, time)`` array (:data:`VALUES`) instead of one
#: array per variable: ~600 arrays of a build become ~7, so an appended day resizes
#: and writes a handful of arrays; ``Lake.open_group`` shows the columns as variables
STACKED = True
#: the array of a stacked level (its attributes name the columns and hold theirs)
VALUES = "_values"
#: the least columns per chunk of a new stacked array: a build stores ~8x fewer chunks (a
#: feature's mean, min, max, count and coverage mostly share one), which is most of its
#: write time
COLUMN_CHUNK = 8
#: uncompressed bytes a chunk of a new stacked array holds at least, where its level has
#: few periods per chunk: days, weeks and months put every column in one or two chunks
#: instead of ten (each chunk written costs a store round trip, however small)
CHUNK_BYTES = 1 << 20


def _column_chunk(n_columns: int, n_assets: int, n_periods: int) -> int:
    """Columns per chunk of a new stacked array (a multiple of :data:`COLUMN_CHUNK`)
    whose chunks hold ``n_assets`` × ``n_periods`` values per column.

    Examples
    --------
    >>> _column_chunk(80, 20, 2880), _column_chunk(80, 20, 336), _column_chunk(80, 20, 14)
    (8, 24, 80)
    """
    per_column = max(n_assets * n_periods * 8, 1)
    k = -(-CHUNK_BYTES // per_column)          # columns that fill CHUNK_BYTES
    c = COLUMN_CHUNK
    return max(c, min(-(-k // c) * c, -(-n_columns // c) * c))


def _runs(pos: Sequence[int]) -> list[tuple[int, int, int]]:
    """Contiguous runs of sorted positions: ``(first position, index in pos, length)``."""
    out: list[tuple[int, int, int]] = []
    for i, p in enumerate(pos):
        if out and out[-1][0] + out[-1][2] == p:
            out[-1] = (out[-1][0], out[-1][1], out[-1][2] + 1)
        else:
            out.append((p, i, 1))
    return out


async def _put_stacked(g, arr, ds: xr.Dataset, n_time: int, lo: int, tchunk: int, comp,
                       limit, old_n: int = 0) -> None:
    """Write the variables of ``ds`` into the stacked array of level group ``g`` (created
    when absent; new columns appended), whole or at periods ``[lo, lo + len)``; periods
    from ``old_n`` on held nothing before."""
    names = list(ds.data_vars)
    n_assets = ds.sizes["asset"]
    tc = max(min(n_time, tchunk), 1)
    chunks = (_column_chunk(len(names), n_assets, tc), max(n_assets, 1), tc)
    if arr is None:
        arr = await g.create_array(VALUES, shape=(len(names), n_assets, n_time), chunks=chunks,
                                   dtype="float64", fill_value=np.nan, compressors=comp,
                                   dimension_names=("column", "asset", "time"),
                                   attributes={"columns": names, "column_attrs": {},
                                               "coordinates": "time_end"})
        columns: list[str] = list(names)
    else:
        columns = list(arr.attrs.get("columns", []))
        new = [n for n in names if n not in columns]
        if new:
            columns += new
            await arr.resize((len(columns), *arr.shape[1:]))
    order = sorted(zip((columns.index(n) for n in names), names, strict=True))
    width = ds.sizes["time"]
    codec = _chunk_codec(arr)
    # one group of columns per column chunk: groups touch disjoint chunks, so they are
    # written concurrently, and a group is stacked on its own (memory: a few columns)
    cc = int(arr.chunks[0])
    groups: dict[int, list[tuple[int, str]]] = {}
    for p, n in order:
        groups.setdefault(p // cc, []).append((p, n))

    async def put_group(ci, members):
        async with limit:
            cols = [np.asarray(ds.variables[n].values, dtype=np.float64) for _, n in members]
            ps = [p for p, _ in members]
            whole = ps == list(range(ci * cc, min((ci + 1) * cc, len(columns))))
            if whole and codec is not None:      # every column of its chunks
                await _put_column_chunk(arr, codec, ci, cols, lo, old_n)
                return
            block = np.stack(cols)
            for p0, i, k in _runs(ps):            # runs of one group: in turn
                await arr.setitem((slice(p0, p0 + k), slice(None), slice(lo, lo + width)),
                                  block[i:i + k])

    await asyncio.gather(*(put_group(ci, m) for ci, m in groups.items()))
    cattrs = dict(arr.attrs.get("column_attrs", {}) or {})
    for n in names:
        cattrs[n] = _jsonable_attrs(ds.variables[n].attrs)
    await _update_attrs(arr, {"columns": columns, "column_attrs": cattrs})


async def _put_column_chunk(arr, codec, ci: int, cols: Sequence[np.ndarray], lo: int,
                            old_n: int) -> None:
    """Write ``cols`` (every column of column chunk ``ci``, each assets × periods ``[lo,
    lo + width)``) into ``arr``: each time chunk they touch is assembled here (what it
    held before decoded first, unless they cover it or it held nothing: periods from
    ``old_n`` on), encoded with ``codec`` (:func:`_chunk_codec`) and stored as it is."""
    from zarr.core.buffer import default_buffer_prototype

    cc, ac, tc = (int(x) for x in arr.chunks)
    n_assets, width = cols[0].shape
    hi = lo + width
    store, proto = arr.store_path.store, default_buffer_prototype()

    async def one(j):
        c0, c1 = j * tc, min((j + 1) * tc, arr.shape[-1])
        a, b = max(lo, c0), min(hi, c1)
        key = f"{arr.path}/{arr.metadata.encode_chunk_key((ci, 0, j))}"
        covered = a == c0 and b == c1
        old = None
        if not covered and c0 < old_n:       # periods stored there before: kept
            old = await store.get(key, prototype=proto)

        def assemble_and_encode():
            full = np.empty((cc, ac, tc))
            if old is not None:
                codec.decode_into(old.to_bytes(), full)
            elif not (covered and len(cols) == cc and n_assets == ac and c1 - c0 == tc):
                full.fill(np.nan)                # the fill value wherever nothing is written
            for i, c in enumerate(cols):
                full[i, :n_assets, a - c0:b - c0] = c[:, a - lo:b - lo]
            return codec.encode(full)

        if cc * ac * tc * 8 <= _INLINE_BYTES:    # a thread hop costs more than the work
            data = assemble_and_encode()
        else:
            data = await asyncio.to_thread(assemble_and_encode)
        await store.set(key, proto.buffer.from_bytes(data))

    if width:
        await asyncio.gather(*(one(j) for j in range(lo // tc, -(-hi // tc))))


#: chunks up to this size are assembled and encoded on the event loop itself
_INLINE_BYTES = 1 << 16


class _ChunkCodec:
    """Encode and decode a whole ``float64`` chunk of a stacked array exactly as zarr
    stores it: little-endian bytes, then zarr's own Blosc codec object."""

    def __init__(self, blosc):
        self._blosc = blosc

    def encode(self, chunk: np.ndarray) -> bytes:
        return self._blosc.encode(
            np.ascontiguousarray(chunk, dtype="<f8").view(np.uint8).reshape(-1))

    def decode_into(self, raw: bytes, out: np.ndarray) -> None:
        """Decode the stored bytes ``raw`` into ``out`` (a C-contiguous chunk buffer)."""
        size = int.from_bytes(raw[4:8], "little")   # Blosc's header: uncompressed size
        if size != out.nbytes:
            raise PumplibError(f"internal: a stored chunk holds {size} bytes, not the "
                               f"{out.nbytes} of its chunk shape")
        self._blosc.decode(raw, out=out.view(np.uint8).reshape(-1))
        if sys.byteorder == "big":              # stored little-endian
            out.byteswap(inplace=True)


def _chunk_codec(arr) -> _ChunkCodec | None:
    """The :class:`_ChunkCodec` of ``arr`` when it is a ``float64`` array stored as little-
    endian bytes and one Blosc codec, chunked with one chunk over its second axis; None
    otherwise (zarr writes those)."""
    from zarr.codecs import BloscCodec, BytesCodec

    try:
        codecs = tuple(arr.metadata.codecs)
        regular = len(arr.chunks) == 3 and int(arr.chunks[1]) >= arr.shape[1]
    except (AttributeError, TypeError, NotImplementedError):
        return None                              # zarr v2 metadata, or an irregular grid
    if (not regular or arr.dtype != np.float64 or len(codecs) != 2
            or not isinstance(codecs[0], BytesCodec)
            or getattr(codecs[0].endian, "value", codecs[0].endian) not in ("little", None)
            or not isinstance(codecs[1], BloscCodec)):
        return None
    blosc = getattr(codecs[1], "_blosc_codec", None)   # zarr's own numcodecs Blosc
    if blosc is None:                            # (another zarr version): zarr writes
        return None
    return _ChunkCodec(blosc)


_LONG_NAMES = {"time": "period start (UTC)", "time_end": "period end (UTC)"}
#: periods per chunk of a golden-table array (assets × periods): a day of minutes, a week
#: of quarter hours or hours (a table shorter than that: its length), so an appended day
#: rewrites one or two chunks per column group that hold at most a week, not the history
#: (the columns per chunk grow to fill ~1 MiB, :func:`_column_chunk`)
_TIME_CHUNKS = {"1min": 1440, "15min": 7 * 96, "1h": 7 * 24, "1D": 3660}
#: threads that read the arrays of one level (older lakes: one array per variable)
_READ_THREADS = 8


async def _update_attrs(node, attrs: Mapping) -> None:
    """Merge ``attrs`` into a zarr node's attributes in one metadata write (none when
    nothing changes; ``attrs.update`` writes once per key)."""
    import json

    from ..lake import _jsonable

    old = dict(node.attrs)
    try:                                     # plain equality first: most writes change
        if all(k in old and bool(old[k] == v) for k, v in attrs.items()):
            return                           # nothing here (an appended day's columns)
    except (TypeError, ValueError):          # (arrays among the values)
        pass
    new = _jsonable(dict(attrs))
    if all(k in old and json.dumps(old[k], sort_keys=True) == json.dumps(v, sort_keys=True)
           for k, v in new.items()):
        return
    await node.update_attributes(new)


def _merge_plan(arrays: Mapping, axes: tuple[list[str], np.ndarray], assets: np.ndarray,
                secs: Mapping[str, np.ndarray], last_end: int | None):
    """How a level's ``arrays`` take the periods ``secs`` (late data: already there;
    appended data: the time axis grows): ``(time axis after the merge, grow, end of its
    last period)``, where ``grow()`` is the coroutine that resizes the arrays and writes
    the new axis values; None when they cannot be merged (other assets, periods before
    the stored ones, a hole in between: ``last_end`` is the end of the last stored
    period)."""
    stored_assets, stored = axes
    if stored_assets != [str(a) for a in assets] or "time_end" not in arrays:
        return None
    new = secs["time"]
    if len(stored) == 0 or len(new) == 0 or new[0] < stored[0]:
        return None
    lo = int(np.searchsorted(stored, new[0]))
    if lo < len(stored) and stored[lo] != new[0]:
        return None
    overlap = stored[lo:lo + len(new)]
    if not np.array_equal(overlap, new[:len(overlap)]):
        return None
    if lo == len(stored) and last_end != int(new[0]):
        return None                          # a hole between stored and new periods
    size = max(len(stored), lo + len(new))
    region = slice(lo, lo + len(new))
    axis_values = {"time": new, "time_end": secs["time_end"]}

    async def grow_and_set(name, arr):       # each array on its own: one chain per array
        if size > arr.shape[-1]:
            await arr.resize((*arr.shape[:-1], size))
        if name in axis_values:
            await arr.setitem(region, axis_values[name])

    async def grow():
        await asyncio.gather(*(grow_and_set(k, arr) for k, arr in arrays.items()
                               if (arr.metadata.dimension_names or ())[-1:] == ("time",)))

    merged = np.empty(size, dtype=stored.dtype)
    merged[:len(stored)] = stored
    merged[region] = new
    return merged, grow, (int(secs["time_end"][-1]) if region.stop >= len(stored) else last_end)


def _jsonable_attrs(attrs: Mapping) -> dict:
    out = {}
    for k, v in attrs.items():
        out[k] = v.item() if isinstance(v, np.generic) else v
    return out
