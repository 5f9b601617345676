"""The chart data behind a recommendation."""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd

from ..assets import AssetRegistry
from ..lake import Lake
from .inputs import _hourly, _lake, _local_days, _registry, _series
from .load_shift import station_peak_days
from .pumps import station_hours
from .storage import _find
from .wear import daily_efficiency_ratio


def evidence_frame(lake: Lake | str | os.PathLike, rec: str | Mapping | pd.Series, *,
                   registry: AssetRegistry | str | os.PathLike | None = None) -> pd.DataFrame:
    """The series a recommendation's evidence refers to, ready for a chart.

    ``efficiency_loss`` and meter ``data_quality``: the daily efficiency ratio of
    the pump (column ``ratio``); ``load_shift``: the station's peak days
    (:func:`station_peak_days`); ``efficient_pump``: hourly specific energy of the
    two pumps compared (``<pump>`` columns); ``bep_drift``: the hourly BEP flow
    ratio; coverage ``data_quality``: daily coverage per feature.
    """
    lk = _lake(lake)
    reg = _registry(registry)
    row = _find(lk, rec) if isinstance(rec, str) else dict(rec)
    kind, ev = row["kind"], row.get("evidence") or {}
    params = (row.get("lineage") or {}).get("params") or {}
    start, end = params.get("start"), params.get("end")
    if kind == "load_shift":
        return station_peak_days(lk, reg, row["station"], start=start, end=end,
                                 reserve=float(params.get("reserve", 0.2)))
    frame = _hourly(lk, start, end)
    if kind == "efficient_pump":
        pumps = [a.id for a in reg.station_assets(row["station"]) if a.kind == "pump"]
        hours = station_hours(frame, pumps)
        return pd.DataFrame({c: hours.se.where(hours.combo == c)
                             for c in (ev["worse"], ev["better"])}).dropna(how="all")
    if kind == "bep_drift":
        return _series(frame, row["asset"], "bep_flow_ratio_mean").to_frame("bep_flow_ratio")
    if kind == "data_quality" and "features" in ev:
        tz = str(reg.utility["timezone"])
        cols = {}
        for feat in ev["features"]:
            cov = _series(frame, row["asset"], f"{feat}_coverage")
            cols[feat] = cov.groupby(_local_days(cov.index, tz)).mean()
        return pd.DataFrame(cols)
    daily = daily_efficiency_ratio(frame, reg)
    if row["asset"] not in daily:
        return pd.DataFrame(columns=["ratio"])
    return daily[[row["asset"]]].rename(columns={row["asset"]: "ratio"})


def plot_evidence(lake, rec, *, registry=None):
    """An hvplot chart of :func:`evidence_frame` (imported lazily)."""
    import hvplot.pandas  # noqa: F401

    row = _find(_lake(lake), rec) if isinstance(rec, str) else dict(rec)
    df = evidence_frame(lake, row, registry=registry)
    title = str(row.get("title", row["kind"]))[:90]
    if row["kind"] == "load_shift":
        return df[["peak_kwh", "avoidable_kwh"]].hvplot.bar(rot=45, title=title,
                                                           ylabel="kWh per day")
    return df.hvplot.line(title=title)
