"""The lake's zarr layer: opening a raw grid in one trip to zarr's event loop, the
process's cache of read-only sessions and opened grids (one lock), the root group of a
session's store, the raw arrays' codec, stacked golden tables read back as columns, and
row selections in one zarr call. :mod:`pumplib.lake` builds on it and re-exports its
public names.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import numpy as np
import xarray as xr
import zarr

from . import config
from .errors import UnknownNameError, choices_message

#: read-only sessions by (lake URL, snapshot id), newest last: a snapshot never changes,
#: so the readers of one build (the lazy Dataset, the chunk reader, the quality flags)
#: share one session and what it has loaded (the snapshot, array metadata, manifests)
_SESSIONS: collections.OrderedDict[tuple[str, str], Any] = collections.OrderedDict()
_SESSIONS_MAX = 8
_SESSIONS_LOCK = threading.Lock()


#: raw grid groups :meth:`Lake.open_raw` opened, by (lake URL, snapshot id, group path):
#: ``(zarr group, asset ids)``, so a build's chunk readers take the group as it came
#: (one trip to zarr's event loop) instead of opening it again (three trips, ~10 ms)
_GRIDS: collections.OrderedDict[tuple[str, str, str], tuple] = collections.OrderedDict()


def opened_grid(url: str, snapshot: str, path: str) -> tuple | None:
    """``(zarr group, asset ids)`` of the raw grid ``path`` of the lake at ``url`` at
    ``snapshot`` when :meth:`Lake.open_raw` opened it in this process, else None."""
    with _SESSIONS_LOCK:
        return _GRIDS.get((url, snapshot, path))


def _remember_grid(url: str, snapshot: str, path: str, group, assets) -> None:
    with _SESSIONS_LOCK:
        _GRIDS[(url, snapshot, path)] = (group, [str(a) for a in assets])
        _GRIDS.move_to_end((url, snapshot, path))
        while len(_GRIDS) > _SESSIONS_MAX:
            _GRIDS.popitem(last=False)


def cached_session(url: str, snapshot: str):
    """The read-only session of ``url`` at ``snapshot`` a :class:`Lake` opened in this
    process (see :data:`_SESSIONS`), or None."""
    with _SESSIONS_LOCK:
        got = _SESSIONS.get((url, snapshot))
        if got is not None:
            _SESSIONS.move_to_end((url, snapshot))
        return got


def _remember_session(url: str, session) -> None:
    with _SESSIONS_LOCK:
        _SESSIONS[(url, session.snapshot_id)] = session
        _SESSIONS.move_to_end((url, session.snapshot_id))
        while len(_SESSIONS) > _SESSIONS_MAX:
            _SESSIONS.popitem(last=False)


#: Blosc compressor of new raw arrays: LZ4 with byte shuffle in 256 KiB blocks decodes
#: noisy float64 signals about 10x faster than Blosc zstd level 1 (the codec before
#: 2026-11-27) for about 3 % more bytes. Arrays written before keep their codec
#: (it is stored with each array), so older lakes read as they are.
RAW_CODEC = "lz4"
RAW_CODECS = ("lz4", "zstd", "lz4hc", "blosclz", "zlib")
RAW_BLOCKSIZE = 1 << 18


#: attributes xarray decodes (CF conventions); a raw grid with one is opened by xarray
_CF_KEYS = frozenset({"_FillValue", "missing_value", "scale_factor", "add_offset",
                      "calendar", "dtype", "_Unsigned", "coordinates"})


def _open_grid(store, path: str, url: str, snapshot: str | None) -> xr.Dataset | None:
    """The lazy Dataset of the raw grid group ``path`` of ``store`` (its ``(asset, time)``
    arrays as dask arrays chunked like the store, the ``asset`` coordinate, the group's
    attributes; no ``time`` coordinate yet), made from the zarr metadata directly; None
    when there is no such group or it holds anything else (then ``xr.open_zarr`` opens
    it, or the caller says what there is).

    What ``xr.open_zarr(..., chunks={})`` returns for such a group, at a fraction of its
    cost: the group, its arrays and the asset axis come in one trip to zarr's event loop
    (a feature build's writer keeps that loop busy meanwhile), without the backend's
    entry-point scan, chunk-manager lookups and CF decoding. The values are the zarr
    values in both (xarray decodes nothing on these arrays: no CF attributes, a fill
    value that is already NaN or a plain integer), which a test checks.
    """
    import dask.array as da
    from dask.base import tokenize
    from zarr.core.group import AsyncGroup
    from zarr.core.sync import sync

    async def nodes():
        try:
            root = await AsyncGroup.open(store, zarr_format=3, use_consolidated=False)
            g = await root.getitem(path)
        except (KeyError, FileNotFoundError):   # no such group, or no data at all yet
            return None
        if not isinstance(g, AsyncGroup):
            return None
        members = {name: node async for name, node in g.members()}
        asset = members.get("asset")
        values = await asset.getitem(slice(None)) if isinstance(asset, zarr.AsyncArray) \
            else None
        return g, members, values

    got = sync(nodes())
    if got is None:
        return None
    g, members, asset = got
    time = members.pop("time", None)
    members.pop("asset", None)
    if asset is None or np.ndim(asset) != 1 or not members:
        return None
    variables = {}
    for name, a in sorted(members.items()):         # listings come in any order
        if not isinstance(a, zarr.AsyncArray) or a.metadata.zarr_format != 3:
            return None
        attrs = dict(a.metadata.attributes)
        if (tuple(a.metadata.dimension_names or ()) != ("asset", "time")
                or not _CF_KEYS.isdisjoint(attrs) or " since " in str(attrs.get("units", ""))
                or (time is not None and a.shape[1] != time.shape[0])):
            return None
        # named like xarray's ("open_dataset-…"): the feature builder reads such
        # variables straight from the store
        # meta given: dask would otherwise read an empty selection of each array to make
        # it (a trip to zarr's event loop per signal, queued behind a build's writer)
        x = da.from_array(zarr.Array(a), chunks=a.chunks, fancy=False,
                          meta=np.empty((0, 0), dtype=a.dtype),
                          name=f"open_dataset-{name}-{tokenize(url, snapshot, path, name)}")
        variables[name] = xr.Variable(("asset", "time"), x, attrs)
    if snapshot is not None:
        _remember_grid(url, snapshot, path, zarr.Group(g), asset)
    return xr.Dataset(variables, coords={"asset": ("asset", asset)},
                      attrs=dict(g.metadata.attributes))


def open_root(store, mode: str = "r") -> zarr.Group:
    """The root group of an Icechunk session's store.

    Icechunk stores hold zarr v3 without consolidated metadata; saying so skips
    zarr's probing for v2 and consolidated metadata, which costs 5–9 ms per open.

    Read on a lake with no data yet (only the commit that created it: its
    first ingest failed or was killed), the root group does not exist; reading
    (``mode="r"``) then gets an empty group, so such a lake reads as an empty
    lake. Writing creates the root group.
    """
    try:
        return zarr.open_group(store=store, mode=mode, zarr_format=3, use_consolidated=False)
    except zarr.errors.GroupNotFoundError:
        if mode != "r":
            raise
        return _empty_root()


def _empty_root() -> zarr.Group:
    """An empty, in-memory root group: what a lake with no data yet holds."""
    return zarr.open_group(store=zarr.storage.MemoryStore(), mode="w", zarr_format=3)


async def open_root_async(store, mode: str = "r"):
    """:func:`open_root` on zarr's event loop: the root ``AsyncGroup``."""
    from zarr.api.asynchronous import open_group

    try:
        return await open_group(store=store, mode=mode, zarr_format=3, use_consolidated=False)
    except zarr.errors.GroupNotFoundError:
        if mode != "r":
            raise
        return await open_group(store=zarr.storage.MemoryStore(), mode="w", zarr_format=3)


def raw_compressor(level: int | None = None, shuffle: str = "shuffle") -> zarr.codecs.BloscCodec:
    """The Blosc codec of new raw signal arrays: ``lake.codec`` (default
    :data:`RAW_CODEC`) at ``lake.compression_level``, byte shuffle.

    Examples
    --------
    >>> raw_compressor(1).cname.value
    'lz4'
    """
    cname = str(config.get("lake.codec", RAW_CODEC))
    if cname not in RAW_CODECS:
        raise UnknownNameError(choices_message("lake.codec", cname, RAW_CODECS))
    level = int(config.get("lake.compression_level") if level is None else level)
    return zarr.codecs.BloscCodec(cname=cname, clevel=level, shuffle=shuffle,
                                  blocksize=RAW_BLOCKSIZE)


def _unstack_columns(ds: xr.Dataset) -> xr.Dataset:
    """A group written as one ``(column, asset, time)`` array ``_values`` (golden tables,
    ``pumplib.features.builder.STACKED``) as one variable per column, with its attributes."""
    if "_values" not in ds.variables or "columns" not in ds["_values"].attrs:
        return ds
    v = ds["_values"]
    cattrs = v.attrs.get("column_attrs", {}) or {}
    cols = {c: xr.Variable(v.dims[1:], v.data[i], dict(cattrs.get(c, {})))
            for i, c in enumerate(v.attrs["columns"])}
    out = ds.drop_vars("_values").assign(cols)
    if "time_end" in out.data_vars:
        out = out.set_coords("time_end")
    return out


def _row_slice(rows: np.ndarray) -> slice | None:
    """``rows`` as a slice when they are consecutive and ascending."""
    if len(rows) and rows[-1] - rows[0] == len(rows) - 1 and (np.diff(rows) == 1).all():
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return None


def _set_rows(arr: zarr.Array, rows: np.ndarray, lo: int, hi: int, block: np.ndarray) -> None:
    """``arr[rows, lo:hi] = block`` in one zarr call (``rows`` unique)."""
    sl = _row_slice(rows)
    if sl is not None:
        arr[sl, lo:hi] = block
        return
    order = np.argsort(rows)
    arr.set_orthogonal_selection((rows[order], slice(lo, hi)), block[order])


def _get_rows(arr: zarr.Array, rows: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``arr[rows, lo:hi]`` in one zarr call (``rows`` unique), in the order of ``rows``."""
    sl = _row_slice(rows)
    if sl is not None:
        return arr[sl, lo:hi]
    order = np.argsort(rows)
    out = np.empty((len(rows), hi - lo), dtype=arr.dtype)
    out[order] = arr.get_orthogonal_selection((rows[order], slice(lo, hi)))
    return out
