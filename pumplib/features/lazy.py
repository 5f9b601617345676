"""The lazy engine: evaluate every feature, then aggregate it, with dask when the data are dask.

The reference engine: any catalog, any level, any time zone, and nothing is
computed while the input is dask-backed (:func:`~pumplib.features.materialize`
computes every level in one go). An incremental build without stored day
partials (or one they cannot serve) recomputes every period the change
touches from the raw data of those periods plus
:data:`~pumplib.features.planning.INCREMENTAL_CONTEXT` before.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from . import aggregations as A
from .definitions import FeatureCatalog, FeatureDefinition
from .evaluate import evaluate_features
from .planning import (
    INCREMENTAL_CONTEXT,
    PARTIALS_GROUP,
    affected_range,
    epoch_pair,
    feature_columns,
    mergeable_aggregations,
    partial_columns,
    plan_levels,
    table_attrs,
)

__all__ = ["build_lazy"]


def build_lazy(data: xr.Dataset, catalog: FeatureCatalog, wanted: Sequence[str],
               levels: Sequence[str], registry, timezone: str, grid: A.Grid, *,
               changed: tuple | None = None, partials: bool = False,
               flags: xr.Dataset | None = None) -> dict[str, xr.Dataset]:
    """:func:`~pumplib.features.build` with ``engine="dask"``: the tables of the features
    ``wanted`` at ``levels`` (``grid`` is data's); with ``changed``, only the periods
    that hold raw data of ``[start, end)``."""
    keep = None
    if flags is not None:
        from ..quality import good

        attrs = dict(data.attrs)
        data = good(data, flags)
        data.attrs = attrs
    if changed is not None:
        used = sorted({lv for w in wanted for lv in catalog[w].levels if lv in levels})
        keep = affected_range(changed[0], changed[1], used or levels, timezone)
        ctx = int(pd.Timedelta(INCREMENTAL_CONTEXT).total_seconds())
        i0 = max(0, (keep[0] - ctx - grid.t0) // grid.dt)
        i1 = min(grid.n, -(-(keep[1] - grid.t0) // grid.dt) + 1)
        if i1 - i0 < 2:
            return {}
        data = data.isel(time=slice(int(i0), int(i1)))
        grid = A.Grid.from_times(data["time"].values)
    values = evaluate_features(data, catalog, wanted, registry=registry, timezone=timezone)
    tables: dict[str, dict[str, xr.Variable]] = {lv: {} for lv in [*levels, PARTIALS_GROUP]}
    coords: dict[str, dict] = {}
    for name in wanted:
        d = catalog[name]
        lvs = [lv for lv in levels if lv in d.levels]
        if not lvs:
            continue
        res, days = _aggregate_feature(d, values[name], values[f"{name}__good"], grid, lvs,
                                       timezone)
        for lv, vals in res.items():
            coords[lv] = {"time": vals.pop("time"), "time_end": ("time", vals.pop("time_end"))}
            tables[lv].update(vals)
        if partials and days is not None:
            coords[PARTIALS_GROUP] = {"time": days.times, "time_end": (
                "time", A.times_ns(days.bounds[1:]))}
            tables[PARTIALS_GROUP].update(partial_columns(d, days))
    out = {}
    for lv in [*levels, PARTIALS_GROUP]:
        if lv not in coords:
            continue
        table = xr.Dataset(tables[lv], coords={"asset": data["asset"].values, **coords[lv]},
                           attrs={"level": lv, **table_attrs(data, catalog, wanted, timezone,
                                                             grid.dt)})
        if keep is not None:
            start = pd.DatetimeIndex(table["time"].values).as_unit("s").asi8
            end = pd.DatetimeIndex(table["time_end"].values).as_unit("s").asi8
            inside = np.flatnonzero((start >= keep[0]) & (end <= keep[1]))
            if len(inside) == 0:
                continue
            table = table.isel(time=slice(int(inside[0]), int(inside[-1]) + 1))
            table.attrs["changed"] = [int(changed_s) for changed_s in epoch_pair(changed)]
        out[lv] = table
    return out


def _aggregate_feature(d: FeatureDefinition, value: xr.DataArray, good: xr.DataArray,
                       grid: A.Grid, levels: Sequence[str], timezone: str
                       ) -> tuple[dict[str, dict], A.Partials | None]:
    """Columns of ``d`` at ``levels``, and its day partials (None without calendar levels)."""
    mergeable = mergeable_aggregations(d, levels)
    lvs = plan_levels(levels)
    res = A.aggregate_array(value.data, grid, lvs, mergeable, timezone, good.data,
                            d.interpolation, keep_partials=("1D",))
    out = {lv: feature_columns(d, lv, res[lv],
                               lambda lv, a: A.raw_aggregate(value.data, grid, lv, a, timezone))
           for lv in levels}
    return out, res["1D"].get("_partials") if "1D" in res else None
