"""Forecasts in the lake: ``forecasts/<level>`` beside the golden tables, with lineage.

The path from the lake to a stored forecast::

    frame = target_frame(lake, "energy", "1h", by="station", registry=reg)  # wide table
    result = backtest(frame, "1h", models=("theta", "gbm"), registry=reg)
    snap = forecast_lake(lake, reg, target="energy", level="1h", model="gbm")
    fc = open_forecasts(lake, "1h")               # asset × time, like a golden table
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import LakeError
from .backtest import backtest, forecast
from .frames import DEFAULT_PAST, past_covariate_frames, target_frame
from .levels import LEVELS, _as_lake, _level
from .models import DEFAULT_QUANTILES


@dataclass
class ForecastResult:
    """A stored forecast: the table, where it went and what made it."""

    frame: pd.DataFrame
    snapshot: str | None
    lineage: dict = field(default_factory=dict)
    skill: pd.DataFrame | None = None


def forecast_lake(lake, registry=None, *, target: str = "energy", level: str = "1h",
                  by: str = "station", model: str = "lightgbm", horizon: int | None = None,
                  quantiles: Sequence[float] = DEFAULT_QUANTILES,
                  past: Sequence[str] | None = DEFAULT_PAST, skill: bool = False,
                  backtest_models: Sequence[str] = ("naive", "lightgbm"),
                  snapshot: str | None = None, run_id: str | None = None,
                  params: dict | None = None, season=None, **frame_kw) -> ForecastResult:
    """Forecast a target from the lake and store it in ``forecasts/<level>`` (one commit).

    The group holds ``(asset, time)`` variables ``<target>_mean`` and
    ``<target>_q<NN>`` (asset = the series: a station or an asset id), beside
    earlier targets of the same level; its attrs and the commit metadata hold
    the lineage: source snapshot and table, model and parameters, quantiles,
    pumplib/darts/lightgbm versions, the run id and (``skill=True``) the
    back-test table.

    Parameters
    ----------
    lake : Lake or URL
    registry : AssetRegistry, optional
        Needed for ``by="station"``, demand and tariff/holiday covariates.
    target, level, by, model, horizon, quantiles, season
        See :func:`target_frame` and :func:`forecast`.
    past : sequence of str, optional
        Golden columns used as past covariates (LightGBM); ``None`` for none.
    skill : bool
        Also back-test ``backtest_models`` and record the pooled table
        (:attr:`BacktestResult.pooled`; the baselines always run).

    Returns
    -------
    ForecastResult

    Examples
    --------
    >>> res = forecast_lake("./store", reg, target="energy", level="1h")  # doctest: +SKIP
    >>> open_forecasts("./store", "1h").energy_q50.sel(asset="NORTH")     # doctest: +SKIP
    """
    import darts
    import lightgbm

    from .. import __version__
    from ..lake import new_run_id

    lake = _as_lake(lake)
    frame = target_frame(lake, target, level, by=by, registry=registry, snapshot=snapshot,
                         **frame_kw)
    pf = past_covariate_frames(lake, level, by=by, registry=registry, columns=past,
                               snapshot=snapshot) if past and model == "lightgbm" else None
    fc = forecast(frame, level, model, registry=registry, horizon=horizon, quantiles=quantiles,
                  past_frames=pf or None, params=params, season=season)
    table = None
    if skill:
        table = backtest(frame, level, backtest_models, registry=registry, horizon=horizon,
                         quantiles=quantiles, past_frames=pf or None, season=season,
                         model_params={model: params} if params else None)
    run_id = run_id or new_run_id("forecast")
    lineage = {
        "kind": "forecast", "run_id": run_id, "target": target, "level": level, "by": by,
        "model": model, "season": fc.attrs["season"], "horizon": fc.attrs["horizon"], "quantiles": fc.attrs["quantiles"],
        "params": params or {}, "past_covariates": sorted(next(iter(pf.values())).columns)
        if pf else [], "source": frame.attrs.get("source"),
        "source_snapshot": frame.attrs.get("snapshot"), "unit": frame.attrs.get("unit"),
        "skipped_series": fc.attrs.get("skipped", []),
        "versions": {"pumplib": __version__, "darts": darts.__version__,
                     "lightgbm": lightgbm.__version__},
        "gap_policy": {"max_gap": LEVELS[level]["max_gap"], "min_coverage":
                       frame_kw.get("min_coverage", 0.5)},
    }
    if table is not None:
        table = table.pooled
        lineage["skill"] = _no_nan(table.round(4).reset_index().to_dict(orient="records"))
    snap = _store_forecast(lake, fc, level, target, lineage, frame.attrs.get("timezone"))
    return ForecastResult(fc, snap, lineage, table)


def _no_nan(obj):
    """NaN and infinities become None (JSON has no NaN: Zarr attrs and commit metadata)."""
    if isinstance(obj, dict):
        return {k: _no_nan(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_no_nan(v) for v in obj]
    if isinstance(obj, float | np.floating) and not np.isfinite(obj):
        return None
    return obj


def _store_forecast(lake, fc: pd.DataFrame, level: str, target: str, lineage: dict,
                    tz: str | None) -> str | None:
    from ..lake import _jsonable

    times = pd.DatetimeIndex(fc["time"])
    if level == "1D":  # local dates → the UTC instant of local midnight, like features/1D
        times = times.tz_localize(tz or "UTC", nonexistent="shift_forward",
                                  ambiguous=False).tz_convert("UTC")
    elif times.tz is not None:
        times = times.tz_convert("UTC")
    else:
        times = times.tz_localize("UTC")
    fc = fc.assign(time=times.tz_localize(None))
    value_cols = [c for c in fc.columns if c == "mean" or (c.startswith("q") and c[1:].isdigit())]
    new = fc.set_index(["series", "time"])[value_cols]
    new.columns = [f"{target}_{c}" for c in value_cols]
    new_ds = xr.Dataset.from_dataframe(new).rename(series="asset")
    path = f"forecasts/{level}"
    old = lake.open_group(path)
    if old is not None:
        keep = [v for v in old.data_vars if not str(v).startswith(f"{target}_")]
        merged = xr.merge([old[keep].load(), new_ds], join="outer", compat="override") \
            if keep else new_ds
        merged.attrs = dict(old.attrs)
    else:
        merged = new_ds
    targets = dict(merged.attrs.get("targets", {}) or {})
    targets[target] = lineage
    meta = {**lineage}
    with lake.transaction(f"forecast {target} {level} ({lineage['model']})", meta) as tx:
        root = tx.root.require_group("forecasts")
        g = root.create_group(level, overwrite=True)
        assets = np.asarray(merged.asset.values).astype(str)
        secs = pd.DatetimeIndex(merged.time.values).as_unit("s").asi8
        a = g.create_array("asset", shape=assets.shape, chunks=(max(len(assets), 1),),
                           dtype=str, dimension_names=("asset",))
        a[:] = assets.astype(object)
        t = g.create_array("time", shape=secs.shape, chunks=(max(len(secs), 1),),
                           dtype="int64", dimension_names=("time",),
                           attributes={"units": "seconds since 1970-01-01T00:00:00",
                                       "calendar": "proleptic_gregorian",
                                       "long_name": "period start (UTC)"})
        t[:] = secs
        for name, var in merged.data_vars.items():
            tgt = str(name).rsplit("_", 1)[0]
            arr = g.create_array(str(name), shape=var.shape, chunks=var.shape,
                                 dtype="float64", fill_value=np.nan,
                                 dimension_names=("asset", "time"),
                                 attributes=_jsonable({
                                     "units": (targets.get(tgt) or {}).get("unit", ""),
                                     "long_name": f"forecast of {tgt} ({str(name).rsplit('_', 1)[1]})"}))
            arr[:] = np.asarray(var.transpose("asset", "time").values, dtype=np.float64)
        g.attrs.update(_jsonable({"level": level, "title": f"pumplib forecasts, level {level}",
                                  "targets": targets, "timezone": tz}))
    return tx.snapshot


def open_forecasts(lake, level: str = "1h", *, snapshot: str | None = None,
                   as_of: dt.datetime | None = None) -> xr.Dataset:
    """The stored forecasts of a level as a lazy ``(asset, time)`` Dataset.

    Read it like a golden table: ``open_forecasts(lake, "1h").energy_q90``.
    ``attrs["targets"]`` holds each target's lineage.
    """
    _level(level)
    lake = _as_lake(lake)
    ds = lake.open_group(f"forecasts/{level}", snapshot=snapshot, as_of=as_of)
    if ds is None:
        raise LakeError(f"{lake.url}: no forecasts at level {level!r} yet; run "
                        "pumplib.forecast.forecast_lake(...) or `pumplib forecast run`")
    return ds


def forecast_log(lake) -> pd.DataFrame:
    """Forecast commits, newest first: snapshot, time, target, level, model, source snapshot."""
    lake = _as_lake(lake)
    rows = [{"snapshot": c.snapshot, "written_at": c.written_at, "target": c.metadata.get("target"),
             "level": c.metadata.get("level"), "model": c.metadata.get("model"),
             "source_snapshot": c.metadata.get("source_snapshot"),
             "run_id": c.metadata.get("run_id")}
            for c in lake.log() if c.metadata.get("kind") == "forecast"]
    return pd.DataFrame(rows, columns=["snapshot", "written_at", "target", "level", "model",
                                       "source_snapshot", "run_id"])
