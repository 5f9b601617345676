"""Data quality that blocks the analyses: coverage gaps, and meters that drift."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .inputs import _local_days, _series
from .rows import _iso, _round, _row

_BLOCKS = {"energy": ["load_shift", "efficient_pump", "efficiency_loss"],
           "specific_energy": ["efficient_pump", "verify"],
           "wire_to_water_efficiency": ["efficiency_loss"],
           "runtime": ["efficient_pump", "bep_drift"]}


def _quality_recs(frame, reg, tz, ctx, *, min_coverage: float = 0.8,
                  max_bad_days: float = 0.1) -> list[dict]:
    out = []
    times = frame.index.get_level_values("time")
    for pump in reg.pumps():
        problems = {}
        for feat, blocks in _BLOCKS.items():
            cov = _series(frame, pump.id, f"{feat}_coverage")
            if cov.empty:
                continue
            if feat in ("energy", "runtime"):
                hourly_ok = cov.fillna(0.0) >= min_coverage
            else:  # conditional features: only hours with the pump running count
                run = _series(frame, pump.id, "runtime_duration").reindex(cov.index).fillna(0)
                hourly_ok = (cov.fillna(0.0) >= min_coverage * 0.5) | (run < 600)
            days = _local_days(cov.index, tz)
            day_ok = pd.Series(hourly_ok.to_numpy()).groupby(days).mean() >= 0.9
            bad = int((~day_ok).sum())
            share = bad / max(len(day_ok), 1)
            if share > max_bad_days:
                problems[feat] = {"bad_days": bad, "days": int(len(day_ok)),
                                  "share": _round(share),
                                  "worst_days": [str(pd.Timestamp(d).date()) for d in
                                                 day_ok[~day_ok].index[:5]],
                                  "blocks": blocks}
        if not problems:
            continue
        worst = max(problems.values(), key=lambda p: p["share"])
        blocked = sorted({b for p in problems.values() for b in p["blocks"]})
        out.append(_row(
            "data_quality", pump.id, pump.station,
            f"{pump.id}: {worst['share'] * 100:.0f} % of days lack good data "
            f"({', '.join(problems)}) — blocks {', '.join(blocked)}",
            evidence={"features": problems,
                      "period": [_iso(times.min()), _iso(times.max() + pd.Timedelta("1h"))],
                      "series": {"group": "features/1h", "asset": pump.id,
                                 "variables": [f"{f}_coverage" for f in problems]}},
            saving_kwh=np.nan, saving_money=np.nan,
            assumptions={"coverage": f"an hour counts when ≥ {min_coverage:.0%} of its raw "
                                     "samples are good (conditional features: half that)",
                         "day": "a day counts when ≥ 90 % of its hours count",
                         "action": "check the sensors and historian tags; see "
                                   "`pumplib quality report`"},
            confidence="high" if worst["share"] > 0.25 else "medium", status="ongoing",
            period_start=None, ctx=ctx))
    return out


def _meter_recs(reg, daily_ratio, episodes, ctx, *, tolerance: float = 0.03) -> list[dict]:
    """Days a pump's efficiency disagrees with its own curve, outside wear: a meter drifts."""
    out = []
    for pump in reg.pumps():
        if pump.id not in daily_ratio:
            continue
        daily = daily_ratio[pump.id].dropna()
        inside = pd.Series(False, index=daily.index)
        ep = episodes.get(pump.id)
        if ep is not None:
            for _, e in ep.iterrows():
                inside |= (daily.index >= e["start"]) & (daily.index <= e["worn_until"])
        dev = (daily - 1.0)[~inside]
        bad = dev[dev.abs() >= tolerance]
        if bad.empty:
            continue
        days = [str(d.date()) for d in bad.index]
        out.append(_row(
            "data_quality", pump.id, pump.station,
            f"{pump.id}: measured efficiency disagrees with the pump curve by up to "
            f"{bad.abs().max() * 100:.0f} % on {len(bad)} day(s) without a trend — "
            "check the flow, power and pressure meters (drift?)",
            evidence={"check": "efficiency ratio (measured / curve at the duty point) "
                               f"outside 1 ± {tolerance}",
                      "days": days, "ratios": [_round(v) for v in 1.0 + bad.to_numpy()],
                      "period": [_iso(bad.index.min()), _iso(bad.index.max()
                                                            + pd.Timedelta("1D"))],
                      "blocks": ["efficiency_loss", "efficient_pump", "verify"],
                      "series": {"group": "features/1h", "asset": pump.id,
                                 "variables": ["wire_to_water_efficiency_mean",
                                               "bep_flow_ratio_mean"]}},
            saving_kwh=np.nan, saving_money=np.nan,
            assumptions={"reason": "a pump's efficiency changes slowly (wear) or not at all; "
                                   "a jump for a few days is a meter that reads wrong",
                         "tolerance": tolerance},
            confidence="medium" if bad.abs().max() < 2 * tolerance else "high",
            status="ongoing", period_start=bad.index.min(), ctx=ctx))
    return out
