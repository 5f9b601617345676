"""A full build on the workers of a ``dask.distributed`` cluster, each writing its own chunks.

:func:`~pumplib.features.builder.build_lake` builds here while a
``dask.distributed`` client is active (``engine=None``). The client only plans,
merges and commits; no table passes through it:

1. **Plan** (client): the raw grid's axes (metadata only), the feature plan
   (:func:`~pumplib.features.planning.block_specs`), every level's periods and
   columns, and the asset groups of the tasks (:func:`group_size`).
2. **Create** (client): in a fork of the commit's Icechunk session
   (``Session.fork``), every level of the build is created afresh: its ``asset``,
   ``time`` and ``time_end`` axes and its stacked ``(column, asset, time)`` array
   (:data:`~pumplib.features.tables.VALUES`) of the full shape, chunked by asset group.
   Only metadata and the axes are written; the workers never touch metadata.
3. **Build** (workers, one task per asset group): the task reads its raw rows of the
   snapshot the client planned from (straight from the lake), builds every level on
   day blocks with the in-process engine (:func:`~pumplib.features.blocks.build_blocks`,
   later spans :func:`~pumplib.features.spans.build_span`: each level once, weeks and
   months rolled up from the day partials), writes its rows of every level and of the
   day partials into its copy of the fork and returns the fork (a few kilobytes:
   Icechunk keeps the chunks in storage, the fork only their references).
4. **Merge and commit** (client): the returned forks are merged into the session
   and committed once, with the lineage a build in process records.

Asset groups hold whole chunks of golden-table rows, so no two tasks write one
chunk; they follow the raw lake's asset chunks (``lake.asset_chunk``), so no two
tasks decode one raw chunk. A task goes through a long history in spans of days
(``features.stream_pump_days``), so it holds a span, not its group's history. The
tables equal an in-process
build's (``tests/test_scaleout.py``); only their asset chunking differs (a chunk holds
one asset group, not the whole fleet).

An appended day (:func:`update_on_cluster`) goes the same way in two rounds: each task
builds its group's changed periods with the incremental engine over the day partials
stored for its rows and keeps its tables; the client grows the stored levels for the
periods the tasks report, in a fork; each task then writes its rows where it keeps
its tables.

:func:`~pumplib.features.builder.build_lake` comes here only where
:func:`~pumplib.features.builder.choose_engine` chose day blocks (not for ``integral()``,
a week or month of an aggregation that does not merge, or periods straddling local
midnight); a task whose engine declines all the same raises
:class:`EngineDeclined` on the client, nothing is committed,
and the caller builds another way.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from .. import config
from ..errors import PumplibError
from . import aggregations as A
from .planning import (
    PARTIALS_GROUP,
    EngineDeclined,
    feature_columns,
    partial_columns,
    plan_levels,
    table_attrs,
)
from .tables import _LONG_NAMES, _TIME_CHUNKS, VALUES, _column_chunk, _jsonable_attrs

__all__ = ["build_on_cluster", "group_size", "table_schema"]


def group_size(n_assets: int, raw_chunk: int, threads: int, most: int | None = None) -> int:
    """Assets per task of a cluster build: whole raw asset chunks (``raw_chunk`` assets),
    as few per task as keep ``threads`` busy; ``most`` (the ``features.cluster_assets``
    setting, 0 or None: automatic) sets it instead.

    Examples
    --------
    >>> group_size(5, 8, 2), group_size(20, 8, 2), group_size(200, 8, 4), group_size(5, 8, 2, 3)
    (5, 8, 48, 3)
    """
    if most:
        return max(1, min(int(most), n_assets))
    raw_chunk = max(1, int(raw_chunk))
    chunks = -(-n_assets // raw_chunk)
    per = max(1, chunks // max(1, int(threads)))
    return min(n_assets, per * raw_chunk)


def table_schema(data: xr.Dataset, catalog, specs: Mapping, wanted: Sequence[str],
                 levels: Sequence[str], timezone: str, grid: A.Grid) -> dict[str, dict]:
    """What :func:`~pumplib.features.blocks.build_blocks` returns for ``data``, without
    its values: per level (and :data:`PARTIALS_GROUP`) the column names in order, their
    attributes, the period starts and ends (epoch s) and the table's attributes."""
    one = np.zeros((1, 1))
    cols: dict[str, dict] = {}
    for d, lvs, _mergeable, fields in specs.values():
        for lv in lvs:
            vals = {a: one for a in (*d.aggregations[lv], "coverage")}
            got = feature_columns(d, lv, {**vals, "time": None, "time_end": None},
                                  lambda lv_, a_: one)
            got.pop("time"), got.pop("time_end")
            cols.setdefault(lv, {}).update({k: v.attrs for k, v in got.items()})
        if "1D" in plan_levels(lvs):
            p = A.Partials("1D", fields, np.zeros((len(fields), 1, 1)), np.array([0, 1]), grid)
            cols.setdefault(PARTIALS_GROUP, {}).update(
                {k: v.attrs for k, v in partial_columns(d, p).items()})
    base = table_attrs(data, catalog, wanted, timezone, grid.dt)
    out = {}
    for lv in [*levels, PARTIALS_GROUP]:
        if lv not in cols:
            continue
        bounds = A.level_bounds("1D" if lv == PARTIALS_GROUP else lv, grid.t0, grid.end,
                                timezone)
        out[lv] = {"columns": list(cols[lv]), "column_attrs": cols[lv],
                   "time": bounds[:-1], "time_end": bounds[1:],
                   "attrs": {"level": lv, **base}}
    return out


def _create_tables(store, schema: Mapping, assets: np.ndarray, per: int) -> dict[str, list]:
    """Every level of ``schema`` created afresh under ``features/`` of the Icechunk
    session store ``store`` (axes written, values left to the tasks), its rows chunked
    ``per`` assets; returns the columns a stored level had that the build drops. All
    levels at once, in one trip to zarr's event loop."""
    import asyncio

    from zarr.core.sync import sync

    from ..lake import _jsonable, open_root_async, raw_compressor
    from .tables import _inspect_level

    comp = raw_compressor()

    async def level(features, lv, s):
        found = await _inspect_level(features, lv)
        before = found.get("columns") or []
        if found.get("group") is not None and found.get("arrays") is None:   # older layout
            before = [k async for k in found["group"].array_keys()
                      if k not in ("asset", "time", "time_end")]
        attrs = {k: v for k, v in s["attrs"].items() if k != "definition_hashes"}
        g = await features.create_group(lv, overwrite=True, attributes=_jsonable({
            **attrs, "definition_hashes": s["attrs"]["definition_hashes"],
            "title": f"pumplib golden table, level {lv}"}))
        axes = {"asset": (assets.astype(str).astype(object), str, None)}
        for axis in ("time", "time_end"):
            axes[axis] = (np.asarray(s[axis], dtype=np.int64), "int64", {
                "units": "seconds since 1970-01-01T00:00:00",
                "calendar": "proleptic_gregorian", "long_name": _LONG_NAMES[axis]})

        async def axis(name, val, dtype, attrs):   # as the lake writer makes them
            arr = await g.create_array(name, shape=val.shape, chunks=(max(len(val), 1),),
                                       dtype=dtype, attributes=attrs, dimension_names=(
                                           "asset" if name == "asset" else "time",))
            await arr.setitem(slice(None), val)

        n_time, n_cols = len(s["time"]), len(s["columns"])
        tc = max(min(n_time, _TIME_CHUNKS.get(lv.rsplit("/", 1)[-1], 1 << 30)), 1)
        await asyncio.gather(*(axis(k, *v) for k, v in axes.items()), g.create_array(
            VALUES, shape=(n_cols, len(assets), n_time),
            chunks=(_column_chunk(n_cols, per, tc), per, tc), dtype="float64",
            fill_value=np.nan, compressors=comp, dimension_names=("column", "asset", "time"),
            attributes={"columns": s["columns"], "coordinates": "time_end",
                        "column_attrs": {c: _jsonable_attrs(a)
                                         for c, a in s["column_attrs"].items()}}))
        return sorted(set(before) - set(s["columns"]))

    async def create():
        root = await open_root_async(store, "a")
        features = await root.require_group("features")
        got = await asyncio.gather(*(level(features, lv, s) for lv, s in schema.items()))
        return dict(zip(schema, got, strict=True))

    return sync(create())


_CACHE_LOCK = threading.Lock()
#: what :func:`_unpickle` made in this worker process, by the SHA-256 of its pickle (a
#: catalog's units take ~0.2 CPU s to unpickle: once per process, not once per task)
_SHIPPED: dict[str, object] = {}


def _unpickle(blob: bytes):
    """An object pickled on the client (:func:`pickle.dumps`), unpickled on a worker while
    pint's application registry is pumplib's (feature units such as ``EUR/kWh`` live
    there; pint unpickles units into its application registry; the process's own is
    put back after); the same pickle again gives the same object."""
    import hashlib
    import pickle

    import pint

    from .expr import _ureg

    key = hashlib.sha256(blob).hexdigest()
    with _CACHE_LOCK:
        if key not in _SHIPPED:
            before = pint.get_application_registry().get()
            pint.set_application_registry(_ureg())
            try:
                got = pickle.loads(blob)
            finally:
                pint.set_application_registry(before)
            while len(_SHIPPED) >= 4:
                _SHIPPED.pop(next(iter(_SHIPPED)))
            _SHIPPED[key] = got
        return _SHIPPED[key]


_LAKES: dict[str, object] = {}


def _lake(url: str):
    """This worker process's :class:`~pumplib.lake.Lake` of ``url`` (opened once)."""
    from ..lake import Lake

    with _CACHE_LOCK:
        if url not in _LAKES:
            _LAKES[url] = Lake(url)
        return _LAKES[url]


def build_group(fork, url: str, snapshot: str, cadence: str | None, rows: tuple[int, int],
                shipped: bytes, levels: Sequence[str], wanted: Sequence[str], timezone: str,
                quality: bool, pump_days: int = 0):
    """One task of a cluster build (runs on a worker): the tables of the assets ``rows``
    (``[first, stop)`` on the raw asset axis) of the lake at ``url`` at raw ``snapshot``
    with the feature catalog and asset registry ``shipped`` (pickled together),
    built on day blocks and written into their rows of the levels the client created in
    ``fork`` (an Icechunk ``ForkSession``); returns the fork.

    A group history longer than ``pump_days`` (the client's
    ``features.stream_pump_days``; 0: one go) goes in spans of whole local days, as an
    in-process build does (:mod:`~pumplib.features.stream`): the first on day blocks,
    each later one over the day partials of the spans before it
    (:func:`~pumplib.features.spans.build_span`), each written before the next, so the
    task holds a span, not the history."""
    from zarr import open_group

    from .planning import block_specs
    from .stream import stream_spans
    from .tuning import tune_malloc

    tune_malloc()
    catalog, registry = _unpickle(shipped)
    lake = _lake(url)
    data = lake.open_raw(cadence, snapshot=snapshot)
    flags = None
    if quality:
        from ..quality import open_quality

        flags = open_quality(lake, data.attrs.get("cadence"), snapshot=snapshot, like=data)
        flags.attrs.update(quality_group=f"quality/{data.attrs.get('cadence')}",
                           snapshot=snapshot)
    r0, r1 = rows
    if (r0, r1) != (0, data.sizes["asset"]):
        data = _asset_rows(data, r0, r1, flags is None)
        flags = None if flags is None else flags.isel(asset=slice(r0, r1))
    grid = A.Grid.from_times(data["time"].values)
    specs = block_specs(catalog, wanted, levels)
    root = open_group(store=fork.store, mode="r+", zarr_format=3, use_consolidated=False)
    spans = stream_spans(grid.t0, grid.end, r1 - r0, int(pump_days or 0), timezone) \
        if pump_days else [(grid.t0, grid.end)]
    stored = None
    for k, (start, end) in enumerate(spans):
        tables = _span(data, flags, grid, catalog, specs, wanted, levels, registry, timezone,
                       None if k == 0 else start, None if k == len(spans) - 1 else end,
                       stored)
        got = tables.get(PARTIALS_GROUP)
        if k < len(spans) - 1 and got is not None:     # the day partials so far
            stored = got if stored is None else xr.concat(
                [stored.isel(time=slice(0, int(np.searchsorted(
                    stored["time"].values, got["time"].values[0])))), got], dim="time")
        for lv in list(tables):
            _write_rows(root[f"features/{lv}"], lv, tables.pop(lv), r0)
    return fork


def _span(data, flags, grid: A.Grid, catalog, specs, wanted, levels, registry, timezone,
          start: int | None, end: int | None, stored) -> dict[str, xr.Dataset]:
    """The tables of one span of a task (see :func:`build_group`): the raw data up to
    ``end`` and one sample more (None: all), the days from ``start`` on (None: all,
    a full build) over the ``stored`` day partials of the days before."""
    from .blocks import build_blocks
    from .reading import raw_window
    from .spans import build_span

    if end is not None:
        n = (int(end) + grid.dt - grid.t0) // grid.dt
        whole = data.copy()
        whole.attrs = dict(data.attrs)           # raw_window sets its cut's names there
        data, grid = raw_window(whole, n), A.Grid(grid.t0, grid.dt, n)
        if flags is not None:
            attrs, flags = dict(flags.attrs), flags.isel(time=slice(0, n))
            flags.attrs = attrs
    if start is None:
        return build_blocks(data, catalog, specs, wanted, levels, registry, timezone, True,
                            flags)
    return build_span(data, catalog, specs, wanted, levels, registry, timezone, int(start),
                      stored, flags, grid)


def _asset_rows(data: xr.Dataset, r0: int, r1: int, direct: bool) -> xr.Dataset:
    """Assets ``[r0, r1)`` of a raw Dataset opened with ``Lake.open_raw``. With ``direct``
    (no quality flags to apply) and ``r0`` on a raw asset chunk boundary, the engines
    still read them straight from the lake (the fused chunk kernels, one fetch per
    chunk, :mod:`~pumplib.features.reading`): the rows' view of the raw group
    (:class:`_RowGroup`) is registered as the grid this cut was opened from."""
    from ..lake import _remember_grid

    out = data.isel(asset=slice(r0, r1))
    store, snap, cad = (data.attrs.get(k) for k in ("store", "snapshot", "cadence"))
    first = next(iter(data.data_vars.values())).data
    chunk = int(first.chunks[0][0]) if hasattr(first, "chunks") else 0
    if not (direct and store and snap and cad and chunk and r0 % chunk == 0):
        return out                           # read through xarray: zarr reads the rows
    from .reading import _raw_group

    group, _assets = _raw_group(store, snap, cad)
    key = f"{store}#assets={r0}:{r1}"        # not a URL: only this process's grid cache
    _remember_grid(key, snap, f"raw/{cad}", _RowGroup(group, r0, r1),
                   out["asset"].values)
    # a new attribute dict (isel shares the parent's); the cut's arrays named as raw_window
    # names its cuts, so they are still read straight from the lake
    out.attrs = {**data.attrs, "store": key, "raw_window_names": {
        k: v.data.name for k, v in out.data_vars.items()
        if isinstance(getattr(v.data, "name", None), str)}}
    return out


class _RowGroup:
    """Rows ``[r0, r1)`` of every array of a raw zarr group, as the chunk readers use a
    group (``attrs``, ``g[name]``); ``r0`` is on an asset chunk boundary."""

    def __init__(self, group, r0: int, r1: int):
        self._group, self._rows = group, (r0, r1)
        self.attrs = group.attrs

    def __getitem__(self, name: str) -> _RowArray:
        return _RowArray(self._group[name], *self._rows)


class _RowArray:
    """Rows ``[r0, r1)`` of a raw ``(asset, time)`` zarr array: its shape, chunk keys and
    selections are those of the rows; everything else is the array's."""

    def __init__(self, arr, r0: int, r1: int):
        self._arr, self._r0, self._r1 = arr, r0, r1
        self.shape = (r1 - r0, *arr.shape[1:])
        self.metadata = _RowMetadata(arr.metadata, r0 // int(arr.chunks[0]))

    def __getattr__(self, name: str):
        return getattr(self._arr, name)

    def _rows(self, sel):
        rows, *rest = sel
        if rows != slice(None):
            raise PumplibError(f"internal: a row view reads whole rows, not {rows!r}")
        return (slice(self._r0, self._r1), *rest)

    def get_basic_selection(self, sel, **kwargs):
        return self._arr.get_basic_selection(self._rows(sel), **kwargs)

    def __getitem__(self, sel):
        return self._arr[self._rows(sel)]


class _RowMetadata:
    """The metadata of a :class:`_RowArray`: chunk keys shifted by its first asset chunk."""

    def __init__(self, metadata, shift: int):
        self._metadata, self._shift = metadata, shift

    def __getattr__(self, name: str):
        return getattr(self._metadata, name)

    def encode_chunk_key(self, coords):
        return self._metadata.encode_chunk_key((coords[0] + self._shift, *coords[1:]))


def _write_rows(g, lv: str, ds: xr.Dataset, r0: int) -> None:
    """Write the columns of table ``ds`` into rows ``[r0, r0 + assets)`` of the stacked
    array of level group ``g`` (only chunk data: the client made the array and its
    axes, which must be the table's). Rows that are one asset chunk (a task's group)
    are written whole chunk by whole chunk, encoded here as the lake writer encodes
    them (:class:`~pumplib.features.tables._ChunkCodec`); other rows through zarr."""
    from zarr.core.sync import sync

    arr = g[VALUES]
    columns = list(arr.attrs.get("columns", []))
    secs = np.asarray(ds["time"].values.astype("datetime64[s]").astype(np.int64))
    planned = np.asarray(g["time"][:])
    lo = int(np.searchsorted(planned, secs[0])) if len(secs) else 0
    if columns != list(ds.data_vars) or not np.array_equal(planned[lo:lo + len(secs)], secs):
        raise PumplibError(f"internal: the table {lv!r} a task built does not fit the level "
                           f"the client planned ({len(ds.data_vars)} columns and "
                           f"{len(secs)} periods, planned {len(columns)} and "
                           f"{len(planned)})")
    cols = [np.asarray(ds.variables[c].values, dtype=np.float64) for c in columns]
    cc, ac, _tc = (int(x) for x in arr.chunks)
    r1 = r0 + ds.sizes["asset"]
    codec = _blosc_codec(arr)
    if codec is not None and r0 % ac == 0 and (r1 - r0 == ac or r1 == arr.shape[1]):
        sync(_put_chunks(arr, codec, cols, r0 // ac, lo))
        return
    for c0 in range(0, len(columns), cc):
        arr[c0:c0 + cc, r0:r1, lo:lo + len(secs)] = np.stack(cols[c0:c0 + cc])


def _blosc_codec(arr):
    """The :class:`~pumplib.features.tables._ChunkCodec` of a stacked array stored as
    little-endian ``float64`` bytes and one Blosc codec (as the client makes them); None
    otherwise."""
    from zarr.codecs import BloscCodec, BytesCodec

    from .tables import _ChunkCodec

    codecs = tuple(arr.metadata.codecs)
    if (arr.dtype != np.float64 or len(codecs) != 2 or not isinstance(codecs[0], BytesCodec)
            or getattr(codecs[0].endian, "value", codecs[0].endian) not in ("little", None)
            or not isinstance(codecs[1], BloscCodec)
            or getattr(codecs[1], "_blosc_codec", None) is None):
        return None
    return _ChunkCodec(codecs[1]._blosc_codec)


async def _put_chunks(arr, codec, cols: Sequence[np.ndarray], ai: int, lo: int = 0) -> None:
    """Store the chunks of asset chunk ``ai`` of the stacked array ``arr`` that the
    columns ``cols`` (each the chunk's rows × periods ``[lo, lo + width)``) touch, each
    assembled and encoded on a thread (at most two per core at once: a chunk is ~1 MiB);
    a chunk they cover in part keeps what it held (an earlier span's periods)."""
    import asyncio
    import os

    from zarr.core.buffer import default_buffer_prototype

    cc, ac, tc = (int(x) for x in arr.chunks)
    rows, width = cols[0].shape
    hi = lo + width
    store, proto = arr.store_path.store, default_buffer_prototype()
    limit = asyncio.Semaphore(2 * (os.cpu_count() or 1))

    def encode(ci: int, j: int, old) -> bytes:
        part = cols[ci * cc:(ci + 1) * cc]
        c0, c1 = j * tc, min((j + 1) * tc, arr.shape[-1])
        a, b = max(lo, c0), min(hi, c1)
        full = np.empty((cc, ac, tc))
        if old is not None:
            codec.decode_into(old.to_bytes(), full)
        elif len(part) < cc or rows < ac or (a, b) != (c0, c0 + tc):
            full.fill(np.nan)                # the fill value where nothing is written
        for i, c in enumerate(part):
            full[i, :rows, a - c0:b - c0] = c[:, a - lo:b - lo]
        return codec.encode(full)

    async def one(ci: int, j: int) -> None:
        async with limit:
            key = f"{arr.path}/{arr.metadata.encode_chunk_key((ci, ai, j))}"
            c0, c1 = j * tc, min((j + 1) * tc, arr.shape[-1])
            old = None if (lo <= c0 and hi >= c1) else await store.get(key, prototype=proto)
            data = await asyncio.to_thread(encode, ci, j, old)
            await store.set(key, proto.buffer.from_bytes(data))

    if width:
        await asyncio.gather(*(one(ci, j) for ci in range(-(-len(cols) // cc))
                               for j in range(lo // tc, -(-hi // tc))))


def build_on_cluster(client, lake, data: xr.Dataset, catalog, specs: Mapping,
                     levels: Sequence[str], wanted: Sequence[str], registry, timezone: str,
                     grid: A.Grid, quality: bool, message: str | None,
                     metadata: Mapping) -> str | None:
    """A full build of ``lake`` on the workers of ``client`` (see the module), committed
    once; returns the snapshot id. ``data`` is the lake's raw grid as
    :meth:`~pumplib.lake.Lake.open_raw` opened it (lazy: only its axes are read here),
    ``specs`` the day-block plan of the features ``wanted``
    (:func:`~pumplib.features.builder.choose_engine` chose ``"blocks"``), ``grid`` its
    time grid. A task's :class:`EngineDeclined` is raised
    here, and nothing is committed."""
    import pickle

    snapshot = data.attrs.get("snapshot")
    cadence = data.attrs.get("cadence")
    schema = table_schema(data, catalog, specs, wanted, levels, timezone, grid)
    n = data.sizes["asset"]
    first = next(iter(data.data_vars.values())).data
    raw_chunk = int(data.attrs.get("asset_chunk") or first.chunks[0][0])
    per = group_size(n, raw_chunk, sum(client.nthreads().values()),
                     config.get("features.cluster_assets"))
    hashes = {n_: catalog[n_].hash for n_ in wanted}
    shipped = pickle.dumps((catalog, registry))
    with lake.transaction(message or "features build", {}) as tx:
        fork = tx.session.fork()
        dropped = _create_tables(fork.store, schema, np.asarray(data["asset"].values), per)
        pump_days = int(config.get("features.stream_pump_days", 0) or 0)
        futures = [client.submit(build_group, fork, lake.url, snapshot, cadence,
                                 (r0, min(n, r0 + per)), shipped, levels, wanted, timezone,
                                 quality, pump_days, pure=False)
                   for r0 in range(0, n, per)]
        try:
            forks = client.gather(futures)
        except BaseException:
            client.cancel(futures)               # the others' writes are left to gc
            raise
        tx.session.merge(*forks)
        tx.metadata.update({"kind": "features", "levels": list(schema),
                            "definition_hashes": hashes, "raw_snapshot": snapshot,
                            "cadence": cadence, "quality": bool(quality),
                            **metadata})
        if any(dropped.values()):
            tx.metadata["dropped"] = {lv: v for lv, v in dropped.items() if v}
    return tx.snapshot


# -- an appended day ---------------------------------------------------------------------
def update_on_cluster(client, lake, data: xr.Dataset, catalog, specs: Mapping,
                      levels: Sequence[str], wanted: Sequence[str], registry, timezone: str,
                      grid: A.Grid, changed: tuple[int, int], quality: bool,
                      message: str | None, metadata: Mapping) -> str | None:
    """An incremental build (``changed``, epoch seconds) of ``lake`` on the workers of
    ``client``, committed once: each task builds its asset group's changed periods with
    the incremental engine over the stored day partials of its rows and keeps the tables;
    the client grows the stored levels for the new periods (from the periods the tasks
    report) in a fork; each task then writes its rows into a copy of the fork, on the
    worker that holds its tables. Raises
    :class:`EngineDeclined` (nothing committed) where a stored
    level is not one the cluster wrote or an engine declines."""
    import pickle

    from distributed import wait

    snapshot, cadence = data.attrs.get("snapshot"), data.attrs.get("cadence")
    n = data.sizes["asset"]
    with lake.transaction(message or "features incremental build", {}) as tx:
        base = tx.session.snapshot_id
        per = _stored_group_size(tx.session.store, [*levels, PARTIALS_GROUP])
        if per is None:
            raise EngineDeclined("the stored levels are not chunked by asset group")
        shipped = pickle.dumps((catalog, registry))
        built = [client.submit(update_group, lake.url, snapshot, base, cadence,
                               (r0, min(n, r0 + per)), shipped, levels, wanted, timezone,
                               changed, quality, pure=False) for r0 in range(0, n, per)]
        try:
            wait(built)
            shapes = client.gather([client.submit(_table_shapes, b, pure=False)
                                    for b in built])
            if any(list(sh) != list(shapes[0]) or any(
                    not np.array_equal(sh[lv]["time"], shapes[0][lv]["time"]) for lv in sh)
                   for sh in shapes[1:]):
                raise EngineDeclined("the tasks' tables hold different periods")
            fork = tx.session.fork()
            hashes = {n_: catalog[n_].hash for n_ in wanted}
            _grow_tables(fork.store, shapes[0], np.asarray(data["asset"].values), hashes)
            forks = client.gather([client.submit(write_group, fork, b, (r0, min(n, r0 + per)),
                                                 pure=False)
                                   for b, r0 in zip(built, range(0, n, per), strict=True)])
        except BaseException:
            client.cancel(built)
            raise
        tx.session.merge(*forks)
        tx.metadata.update({"kind": "features", "levels": list(shapes[0]),
                            "definition_hashes": hashes, "raw_snapshot": snapshot,
                            "cadence": cadence, "quality": bool(quality),
                            "changed": [int(c) for c in changed], **metadata})
    return tx.snapshot


def _stored_group_size(store, levels: Sequence[str]) -> int | None:
    """The assets per chunk of every stored stacked level (one number), else None."""
    import zarr

    root = zarr.open_group(store=store, mode="r", zarr_format=3, use_consolidated=False)
    sizes = set()
    for lv in levels:
        path = f"features/{lv}/{VALUES}"
        if path in root:
            sizes.add(int(root[path].chunks[1]))
    return sizes.pop() if len(sizes) == 1 else None


class _Stored:
    """What the incremental engine asks of a writer, on a worker: the stored day
    partials of a task's rows (a done future), and a place for the tables it hands on."""

    def __init__(self, partials):
        self._partials = partials

    def stored_partials(self, names):
        from concurrent.futures import Future

        done = Future()
        done.set_result(self._partials)
        return done

    def __call__(self, lv, ds):              # the tables come back from the engine anyway
        pass


def update_group(url: str, snapshot: str, base: str, cadence: str, rows: tuple[int, int],
                 shipped: bytes, levels: Sequence[str], wanted: Sequence[str],
                 timezone: str, changed: tuple[int, int], quality: bool) -> dict:
    """The changed periods of the assets ``rows`` (a task of :func:`update_on_cluster`):
    the incremental engine over the day partials stored at snapshot ``base``."""
    from .incremental import build_incremental
    from .planning import block_specs
    from .tables import read_stored_partials

    catalog, registry = _unpickle(shipped)
    lake = _lake(url)
    data = lake.open_raw(cadence, snapshot=snapshot)
    flags = None
    if quality:
        from ..quality import open_quality

        flags = open_quality(lake, cadence, snapshot=snapshot, like=data)
        flags.attrs.update(quality_group=f"quality/{cadence}", snapshot=snapshot)
    r0, r1 = rows
    specs = block_specs(catalog, wanted, levels)
    with_days = [n for n, sp in specs.items()
                 if any(lv in A.CALENDAR_LEVELS for lv in sp[1])]

    class _AtBase:                           # the lake as the base snapshot holds it
        def session(self):
            return lake.session(base)

    stored = read_stored_partials(_AtBase(), with_days) if with_days else None
    if (r0, r1) != (0, data.sizes["asset"]):
        data = _asset_rows(data, r0, r1, flags is None)
        flags = None if flags is None else flags.isel(asset=slice(r0, r1))
        stored = None if stored is None else stored.isel(asset=slice(r0, r1))
    grid = A.Grid.from_times(data["time"].values)
    return build_incremental(data, catalog, specs, wanted, levels, registry, timezone,
                             changed, None, True, flags, _Stored(stored), grid)


def _table_shapes(tables: Mapping[str, xr.Dataset]) -> dict:
    """Per level: the periods (epoch s), the columns and their attributes, the table's
    attributes: what the client needs of a task's tables to make room for them."""
    out = {}
    for lv, ds in tables.items():
        out[lv] = {n: np.asarray(ds[n].values.astype("datetime64[s]").astype(np.int64))
                   for n in ("time", "time_end")}
        out[lv].update(columns=list(ds.data_vars), attrs=dict(ds.attrs),
                       column_attrs={c: dict(ds[c].attrs) for c in ds.data_vars})
    return out


def _grow_tables(store, shapes: Mapping, assets: np.ndarray, hashes: Mapping) -> None:
    """Make room in the stored levels of the Icechunk session store ``store`` for the
    periods ``shapes`` (:func:`_table_shapes`), as the lake writer merges an incremental
    build's tables (appended periods grow the arrays; late ones are there), with their
    attributes; raises :class:`EngineDeclined` where a level
    is missing or holds other columns."""
    from zarr.core.sync import sync

    from ..lake import open_root_async
    from .tables import _inspect_level, _merge_plan, _update_attrs

    async def grow():
        root = await open_root_async(store, "a")
        features = await root.require_group("features")
        for lv, s in shapes.items():
            found = await _inspect_level(features, lv)
            arrays = found.get("arrays") or {}
            if VALUES not in arrays or list(arrays[VALUES].attrs.get("columns", [])) != \
                    s["columns"]:
                raise EngineDeclined(f"the stored level {lv!r} holds other columns")
            secs = {"time": s["time"], "time_end": s["time_end"]}
            if not np.array_equal(found["axes"][1], s["time"]):
                plan = _merge_plan(arrays, found["axes"], assets.astype(str), secs,
                                   found.get("last_end"))
                if plan is None:
                    raise EngineDeclined(f"the new periods of {lv!r} do not join the stored")
                await plan[1]()
            g = found["group"]
            known = dict(g.attrs.get("definition_hashes", {}) or {})
            attrs = {k: v for k, v in s["attrs"].items() if k != "definition_hashes"}
            await _update_attrs(g, {**attrs, "definition_hashes": {**known, **hashes},
                                    "title": f"pumplib golden table, level {lv}"})
            cattrs = dict(arrays[VALUES].attrs.get("column_attrs", {}) or {})
            cattrs.update({c: _jsonable_attrs(a) for c, a in s["column_attrs"].items()})
            await _update_attrs(arrays[VALUES], {"column_attrs": cattrs})

    sync(grow())


def write_group(fork, tables: Mapping[str, xr.Dataset], rows: tuple[int, int]):
    """Write a task's ``tables`` (:func:`update_group`) into its rows of the levels the
    client grew in ``fork``; returns the fork."""
    from zarr import open_group

    root = open_group(store=fork.store, mode="r+", zarr_format=3, use_consolidated=False)
    for lv, ds in tables.items():
        _write_rows(root[f"features/{lv}"], lv, ds, rows[0])
    return fork
