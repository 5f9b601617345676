"""Reading a build's raw data: windows of raw signals, straight from the lake when they can be.

A Dataset opened with :meth:`~pumplib.lake.Lake.open_raw` carries its store,
snapshot, cadence and origin; the engines then read its zarr group directly
(one call per signal over all assets, chunks fetched and decoded concurrently)
instead of through xarray and dask, and the stored quality flags of the same
snapshot likewise. Anything else is read through xarray.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import xarray as xr

from ..errors import PumplibError

__all__ = ["direct_group", "flag_group", "raw_window", "window_reader"]


def direct_group(data: xr.Dataset, names: Sequence[str]):
    """``(zarr group raw/<cadence>, offset of data's first step)`` when the variables
    ``names`` of ``data`` were opened straight from a lake (``Lake.open_raw``) with the
    same assets; None otherwise."""
    store, snap = data.attrs.get("store"), data.attrs.get("snapshot")
    cad, origin = data.attrs.get("cadence"), data.attrs.get("origin")
    cut = data.attrs.get("raw_window_names") or {}

    def plain(n):                    # the lake's array, or raw_window's cut of it
        name = getattr(data[n].data, "name", None)
        return isinstance(name, str) and (name.startswith("open_dataset-") or cut.get(n) == name)

    if not (store and snap and cad and origin is not None and all(plain(n) for n in names)):
        return None
    try:
        g, assets = _raw_group(store, snap, cad)
        step = int(g.attrs["step_seconds"])
        t0 = int(np.datetime64(data["time"].values[0], "s").astype(np.int64))
        off = (t0 - int(g.attrs["origin"])) // step
        if assets == [str(a) for a in data["asset"].values]:
            return g, off
    except (KeyError, ValueError, OSError, PumplibError):
        return None  # not a plain lake layout: the caller reads through xarray instead
    return None


def raw_window(data: xr.Dataset, stop: int, start: int = 0) -> xr.Dataset:
    """Time steps ``[start, stop)`` of a Dataset opened with ``Lake.open_raw``, still read
    straight from the lake by :func:`window_reader` (the cut's arrays are named in its
    attributes: an array computed from them later has another name)."""
    out = data.isel(time=slice(int(start), int(stop)))
    known = data.attrs.get("raw_window_names") or {}
    out.attrs = dict(out.attrs)        # isel shares the attrs dict: never change the input's
    out.attrs["raw_window_names"] = {
        k: v.data.name for k, v in out.data_vars.items()
        if isinstance(getattr(data[k].data, "name", None), str)
        and (data[k].data.name.startswith("open_dataset-") or known.get(k) == data[k].data.name)}
    return out


@functools.lru_cache(maxsize=4)
def _raw_group(store: str, snapshot: str, cadence: str):
    """The zarr group ``raw/<cadence>`` of a lake at a snapshot, and its assets (a
    snapshot never changes: a build's several readers open it once, or take the group
    :meth:`~pumplib.lake.Lake.open_raw` opened)."""
    from ..lake import open_root, opened_grid, snapshot_session

    got = opened_grid(store, snapshot, f"raw/{cadence}")
    if got is not None:
        return got
    g = open_root(snapshot_session(store, snapshot).store, "r")[f"raw/{cadence}"]
    return g, [str(a) for a in g["asset"][:]]


def window_reader(data: xr.Dataset, names: Sequence[str], flags: xr.Dataset | None = None):
    """``read(i0, i1)``: the numpy-backed Dataset of ``names`` over time steps ``[i0, i1)``.

    Variables opened straight from a lake (``Lake.open_raw``) are read with one
    zarr call per signal over all assets (zarr fetches and decodes the chunks
    concurrently); anything else goes through xarray.
    """
    direct = direct_group(data, names)

    def read_raw(i0: int, i1: int) -> xr.Dataset:
        sub = data[list(names)].isel(time=slice(int(i0), int(i1)))
        if direct is None:
            import dask

            with dask.config.set(scheduler="synchronous"):
                return sub.load()
        g, off = direct

        def one(n):
            from .kernels import read_window

            return read_window(g[n], off + i0, off + i1)

        if len(names) > 1:           # one zarr call per signal; their fetches overlap
            with ThreadPoolExecutor(min(len(names), 2 * (os.cpu_count() or 1))) as ex:
                got = list(ex.map(one, names))
        else:
            got = [one(n) for n in names]
        arrays = {n: (("asset", "time"), x, data[n].attrs)
                  for n, x in zip(names, got, strict=True)}
        return xr.Dataset(arrays, coords=sub.coords, attrs=dict(data.attrs))

    if flags is None:
        return read_raw

    def read(i0: int, i1: int) -> xr.Dataset:
        import dask

        from ..quality import good

        blk = read_raw(i0, i1)
        have = [n for n in names if n in flags.data_vars]
        with dask.config.set(scheduler="synchronous"):
            fl = flags[have].isel(time=slice(int(i0), int(i1))).load()
        out = good(blk, fl)                 # NaN where a sample is not good
        out.attrs = dict(blk.attrs)
        return out
    return read


def flag_group(data: xr.Dataset, flags: xr.Dataset):
    """The zarr group of the quality flags stored at ``data``'s snapshot when ``flags``
    are those (``build_lake`` tags them) and share the raw grid's assets and origin;
    None otherwise (the flags are then applied block by block)."""
    path, snap = flags.attrs.get("quality_group"), flags.attrs.get("snapshot")
    if not path or snap != data.attrs.get("snapshot") or not data.attrs.get("store"):
        return None
    from ..lake import open_root, snapshot_session

    try:
        root = open_root(snapshot_session(data.attrs["store"], snap).store, "r")
        if path not in root:
            return None
        q, raw = root[path], root[f"raw/{data.attrs.get('cadence')}"]
        if (q.attrs.get("origin") != raw.attrs.get("origin")
                or [str(a) for a in q["asset"][:]] != [str(a) for a in raw["asset"][:]]):
            return None
    except (KeyError, OSError, PumplibError):
        return None
    return q
