"""Verification of an accepted recommendation against a demand-normalised baseline."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..assets import AssetRegistry
from ..errors import ArgumentError
from ..lake import Lake
from .inputs import _hourly, _lake, _local_days, _registry, _series
from .rows import _currency
from .storage import _find


def verify(lake: Lake | str | os.PathLike, rec: str | Mapping | pd.Series, accepted_at, *,
           registry: AssetRegistry | str | os.PathLike | None = None,
           before_days: float = 7.0, after_days: float | None = None,
           method: str = "ratio") -> dict:
    """Measured saving of an accepted recommendation against a demand-normalised baseline.

    The baseline is the ``before_days`` before ``accepted_at``; the check runs
    over the ``after_days`` after it (default: up to the end of the data). The
    metric follows the kind: kWh per m³ per metre of head for pump efficiency
    (``efficiency_loss``, ``bep_drift``, ``efficient_pump``: wear and duty
    point do not hide behind a changed head), money per m³ for ``load_shift``.

    Parameters
    ----------
    rec : str or mapping
        A ``rec_id`` stored in the lake, or the recommendation row itself.
    method : {"ratio", "regression"}
        ``ratio``: (before − after) metric × the after-period normaliser;
        ``regression``: daily energy (or cost) regressed on daily volume·head (or
        volume) over the baseline, predicted for the after days.

    Returns
    -------
    dict
        ``rec_id, kind, assets, metric, before, after, metric_before,
        metric_after, saving_kwh, saving_money, saving_share, expected_share,
        days_before, days_after, method, currency``.
    """
    methods = ("ratio", "regression")
    if method not in methods:
        raise ArgumentError(f"option 'method' given an invalid value: {method!r}. "
                            f"Expected one of {list(methods)}")
    lk = _lake(lake)
    reg = _registry(registry)
    row = _find(lk, rec) if isinstance(rec, str) else dict(rec)
    kind = row["kind"]
    if kind == "data_quality":
        raise ArgumentError("a data_quality recommendation has no energy saving to verify")
    t_acc = pd.Timestamp(accepted_at)
    t_acc = t_acc.tz_localize("UTC") if t_acc.tzinfo is None else t_acc.tz_convert("UTC")
    t0 = t_acc - pd.Timedelta(days=float(before_days))
    t1 = None if after_days is None else t_acc + pd.Timedelta(days=float(after_days))
    frame = _hourly(lk, t0, t1)
    if kind in ("load_shift", "efficient_pump"):
        assets = [a.id for a in reg.station_assets(row["station"]) if a.kind == "pump"]
    else:
        assets = [row["asset"]]
    parts = []
    for a in assets:
        e = _series(frame, a, "energy_integral")
        c = _series(frame, a, "energy_cost_integral")
        se = _series(frame, a, "specific_energy_mean")
        head = _series(frame, a, "head_mean")
        vol = (e / se).where(se > 0).fillna(0.0)
        parts.append(pd.DataFrame({"energy": e.fillna(0.0), "cost": c.fillna(0.0),
                                   "volume": vol, "vh": (vol * head).fillna(0.0)}))
    df = sum(parts[1:], parts[0]) if parts else pd.DataFrame()
    df.index = pd.DatetimeIndex(df.index).tz_localize("UTC")
    before = df[df.index < t_acc.tz_convert("UTC").floor("h")]
    after = df[df.index >= t_acc.ceil("h")]
    if before.volume.sum() <= 0 or after.volume.sum() <= 0:
        raise ArgumentError(f"verify(): no pumped volume before or after {t_acc.isoformat()} "
                            f"for {assets}; widen before_days/after_days")
    money = kind == "load_shift"
    num, den = ("cost", "volume") if money else ("energy", "vh")
    metric = "cost per m³" if money else "kWh per m³ per m of head"
    m_before = before[num].sum() / before[den].sum()
    m_after = after[num].sum() / after[den].sum()
    if method == "ratio":
        saved = (m_before - m_after) * after[den].sum()
    else:
        tz = str(reg.utility["timezone"])
        db = before.groupby(_local_days(before.index, tz))[[num, den]].sum()
        da = after.groupby(_local_days(after.index, tz))[[num, den]].sum()
        db = db[db[den] > 0]
        slope, icpt = np.polyfit(db[den], db[num], 1) if len(db) >= 3 else (m_before, 0.0)
        saved = float((icpt + slope * da[den] - da[num]).sum())
    actual = float(after[num].sum())
    share = saved / (actual + saved) if (actual + saved) > 0 else np.nan
    price = float(after.cost.sum() / after.energy.sum()) if after.energy.sum() > 0 else 0.0
    exp = row.get("evidence", {}) or {}
    expected_share = exp.get("avoidable_share") if money else (
        1.0 - exp["latest_level"] if exp.get("latest_level") is not None and
        kind == "efficiency_loss" else None)
    return {"rec_id": row.get("rec_id"), "kind": kind, "assets": assets, "metric": metric,
            "before": [before.index.min().isoformat(), t_acc.isoformat()],
            "after": [t_acc.isoformat(), (after.index.max() + pd.Timedelta("1h")).isoformat()],
            "metric_before": float(m_before), "metric_after": float(m_after),
            "saving_kwh": float("nan") if money else float(saved),
            "saving_money": float(saved) if money else float(saved) * price,
            "saving_share": float(share),
            "expected_share": expected_share,
            "days_before": float(len(before) / 24.0), "days_after": float(len(after) / 24.0),
            "method": method, "currency": _currency(reg)}
