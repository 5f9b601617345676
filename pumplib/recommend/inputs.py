"""What recommendations read: the lake, the registry, the hourly golden table, the lineage."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..assets import AssetRegistry
from ..errors import ArgumentError
from ..lake import Lake
from .rows import GROUP

_FEATURES = ["energy_integral", "energy_cost_integral", "energy_coverage",
             "specific_energy_mean", "specific_energy_coverage", "wire_to_water_efficiency_mean",
             "wire_to_water_efficiency_coverage", "bep_flow_ratio_mean", "runtime_duration",
             "runtime_coverage", "time_near_bep_duration", "head_mean",
             "normalised_specific_energy_mean"]


def _lake(lake: Lake | str | os.PathLike) -> Lake:
    return lake if isinstance(lake, Lake) else Lake(lake, create=False)


def _registry(registry: AssetRegistry | str | os.PathLike | None) -> AssetRegistry:
    if isinstance(registry, AssetRegistry):
        return registry
    return AssetRegistry.load(registry)


def _hourly(lake: Lake, start=None, end=None, snapshot: str | None = None,
            as_of=None) -> pd.DataFrame:
    """Long frame (asset, time) of the hourly golden-table columns used here.

    Read through :func:`pumplib.store.get_features` (point-in-time reads with
    ``as_of``/``snapshot``); the lake group directly where that module is absent.
    """
    ds = lake.open_group("features/1h", snapshot=snapshot, as_of=as_of)
    if ds is None:
        raise ArgumentError(f"{lake.url}: no golden table features/1h; build the features "
                            "first (`pumplib features build`)")
    names = [n for n in _FEATURES if n in ds.data_vars]
    raw_snapshot = ds.attrs.get("raw_snapshot")
    try:
        from ..store import get_features
    except ImportError:
        get_features = None
    if get_features is not None:
        ds = get_features(names, start=_naive(start), end=_naive(end), level="1h",
                          as_of=as_of, snapshot=snapshot, store=lake)
    else:
        ds = ds[names].sel(time=slice(_naive(start), _naive(end)))
    frame = ds[names].to_dataframe()  # computes: a few thousand rows per asset
    frame = frame.drop(columns=[c for c in frame.columns if c not in names])
    frame.attrs = {"snapshot": ds.attrs.get("snapshot"), "raw_snapshot": raw_snapshot,
                   "definition_hashes": dict(ds.attrs.get("definition_hashes") or {})}
    return frame


def _naive(t) -> pd.Timestamp | None:
    if t is None:
        return None
    ts = pd.Timestamp(t)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def _series(frame: pd.DataFrame, asset: str, col: str) -> pd.Series:
    try:
        s = frame[col].xs(asset, level="asset")
    except KeyError:
        return pd.Series(dtype=float)
    return s.astype(float)


def _local_days(index: pd.DatetimeIndex, tz: str) -> np.ndarray:
    idx = pd.DatetimeIndex(index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx
    return np.asarray(idx.tz_convert(tz).tz_localize(None).normalize())


def _lineage(lake: Lake, frame: pd.DataFrame, registry: AssetRegistry, params: Mapping,
             run_id: str) -> dict:
    """Lineage of a run: :func:`pumplib.lineage.stamp` plus the snapshots read and the registry."""
    snaps = [x for x in (frame.attrs.get("snapshot"), frame.attrs.get("raw_snapshot")) if x]
    base = {"store": lake.url, "features_snapshot": frame.attrs.get("snapshot"),
            "raw_snapshot": frame.attrs.get("raw_snapshot"),
            "definition_hashes": dict(frame.attrs.get("definition_hashes", {})),
            "registry": str(registry.source),
            "registry_sha256": hashlib.sha256(registry.to_yaml().encode()).hexdigest()[:16],
            "params": dict(params)}
    try:
        from ..lineage import stamp
    except ImportError:  # a build without engineer A's lineage module: the same fields
        from ..lake import _jsonable, _version

        return _jsonable({"kind": "recommendations", "run_id": run_id,
                          "run_time": dt.datetime.now(dt.UTC).isoformat(),
                          "versions": {"pumplib": _version()}, "inputs": {"snapshots": snaps},
                          "outputs": [f"{GROUP}/{run_id}"], **base})
    st = stamp("recommendations", inputs=snaps, params=dict(params),
               definitions=base["definition_hashes"], run_id=run_id,
               outputs=[f"{GROUP}/{run_id}"])
    return {**st, **base}


def _default_store() -> str:
    from .. import config

    return config.get("store.url")
