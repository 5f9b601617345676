"""Pump duty: running far from the best efficiency point, and the most efficient pump
(or combination) at comparable station flows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .inputs import _series
from .rows import _round, _row
from .wear import _energy_rate


def _bep_recs(frame, reg, horizon_days, ctx, *, band=(0.8, 1.2), min_near=0.3) -> list[dict]:
    out = []
    for pump in reg.pumps():
        r = _series(frame, pump.id, "bep_flow_ratio_mean")
        run = _series(frame, pump.id, "runtime_duration")
        near = _series(frame, pump.id, "time_near_bep_duration")
        if r.dropna().empty or run.sum() <= 0:
            continue
        w = run.reindex(r.index).fillna(0.0)
        ok = r.notna() & (w > 0)
        med = float(np.average(r[ok], weights=w[ok])) if ok.any() else np.nan
        share_near = float(near.sum() / run.sum()) if run.sum() > 0 else np.nan
        if not np.isfinite(med) or (band[0] <= med <= band[1]) or share_near >= min_near:
            continue
        loss = (med - 1.0) ** 2  # efficiency parabola: η/η_bep = 1 − (r − 1)²
        week_kwh, price = _energy_rate(frame, pump.id, days=28)
        saving = week_kwh * loss * horizon_days / 7.0
        side = "left of" if med < 1 else "right of"
        out.append(_row(
            "bep_drift", pump.id, pump.station,
            f"{pump.id}: runs {side} its best efficiency point (flow {med:.2f}×BEP, "
            f"{share_near * 100:.0f} % of run time within ±10 %)",
            evidence={"bep_flow_ratio_weighted_mean": _round(med),
                      "share_time_near_bep": _round(share_near),
                      "efficiency_shortfall": _round(loss),
                      "series": {"group": "features/1h", "asset": pump.id,
                                 "variables": ["bep_flow_ratio_mean",
                                               "time_near_bep_duration"]}},
            saving_kwh=saving, saving_money=saving * price,
            assumptions={"horizon_days": horizon_days,
                         "saving": "running at the BEP (speed set-point, impeller trim or a "
                                   "better-sized pump) recovers the parabola's shortfall",
                         "price": _round(price, 4)},
            confidence="medium", status="ongoing", period_start=None, ctx=ctx))
    return out


def station_hours(frame: pd.DataFrame, pump_ids: list[str],
                  full_hour_s: float = 3000.0) -> pd.DataFrame:
    """Hourly station rows: the running combination, energy, volume, flow and kWh/m³.

    Only hours in which every running pump ran (almost) the whole hour and no
    other pump ran part of it count: ``combo`` is the ``+``-joined pump ids.
    Volume per pump is its energy over its specific energy (both golden columns).
    """
    run = pd.DataFrame({p: _series(frame, p, "runtime_duration") for p in pump_ids}).fillna(0.0)
    energy = pd.DataFrame({p: _series(frame, p, "energy_integral") for p in pump_ids})
    se = pd.DataFrame({p: _series(frame, p, "specific_energy_mean") for p in pump_ids})
    volume = (energy / se).where(se > 0)
    full = run >= full_hour_s
    clean = ((run == 0) | full).all(axis=1) & full.any(axis=1)
    on_e = energy.where(full)
    on_v = volume.where(full)
    ok = clean & on_v.notna().eq(full).all(axis=1) & on_e.notna().eq(full).all(axis=1)
    combo = full.apply(lambda r: "+".join(p for p in pump_ids if r[p]), axis=1)
    out = pd.DataFrame({"combo": combo, "energy": on_e.sum(axis=1), "volume": on_v.sum(axis=1)})
    out = out[ok & (out.volume > 0)]
    out["flow"] = out.volume  # m³ in one hour = mean m³/h
    out["se"] = out.energy / out.volume
    return out


def _efficient_pump_recs(frame, reg, horizon_days, ctx, *, min_hours: int = 6,
                         min_gain: float = 0.02) -> list[dict]:
    """Per station: the combination (one pump or several) that pumps the same station flow
    with less energy per m³ than the one that ran; the largest saving is reported."""
    out = []
    span_days = max((frame.index.get_level_values("time").max()
                     - frame.index.get_level_values("time").min()) / pd.Timedelta("1D"), 1.0)
    for st in reg.stations:
        pumps = [a.id for a in reg.station_assets(st) if a.kind == "pump"]
        if len(pumps) < 2:
            continue
        hours = station_hours(frame, pumps)
        if hours.empty:
            continue
        width = max(float(hours.flow.median()) * 0.1, 1.0)
        hours["bin"] = np.floor(hours.flow / width).astype(int)
        table = hours.groupby(["combo", "bin"]).agg(energy=("energy", "sum"),
                                                     volume=("volume", "sum"),
                                                     n=("energy", "size"))
        table = table[table.n >= min_hours]
        table["se"] = table.energy / table.volume
        combos = table.index.get_level_values("combo").unique()
        best_saving, best = 0.0, None
        for worse in combos:
            w = table.xs(worse, level="combo")
            for better in combos:
                if worse == better:
                    continue
                b = table.xs(better, level="combo")
                common = w.index.intersection(b.index)
                if common.empty:
                    continue
                gain = (w.loc[common, "se"] - b.loc[common, "se"]).clip(lower=0)
                kwh = float((gain * w.loc[common, "volume"]).sum())
                rel = kwh / float(w.loc[common, "energy"].sum())
                if rel >= min_gain and kwh > best_saving:
                    best_saving, best = kwh, (worse, better, common, rel, w, b)
        if best is None:
            continue
        worse, better, common, rel, w, b = best
        worse_pumps, better_pumps = worse.split("+"), better.split("+")
        price = float(np.mean([_energy_rate(frame, p, days=28)[1] for p in worse_pumps]))
        saving = best_saving / span_days * horizon_days
        what = "pump" if len(worse_pumps) == len(better_pumps) == 1 else "combination"
        out.append(_row(
            "efficient_pump", worse if len(worse_pumps) == 1 else None, st,
            f"{st}: run {better} instead of {worse} at the same station flow "
            f"({rel * 100:.1f} % less energy per m³)",
            evidence={"worse": worse, "better": better, "worse_pumps": worse_pumps,
                      "better_pumps": better_pumps, "compared": what,
                      "flow_bins_m3h": [[_round(i * width, 1), _round((i + 1) * width, 1)]
                                        for i in common],
                      "specific_energy_worse": _round(float(w.loc[common, "energy"].sum()
                                                            / w.loc[common, "volume"].sum()), 4),
                      "specific_energy_better": _round(float(b.loc[common, "energy"].sum()
                                                             / b.loc[common, "volume"].sum()), 4),
                      "hours_worse": int(w.loc[common, "n"].sum()),
                      "hours_better": int(b.loc[common, "n"].sum()),
                      "series": {"group": "features/1h", "assets": sorted(set(worse_pumps)
                                                                         | set(better_pumps)),
                                 "variables": ["specific_energy_mean", "energy_integral",
                                               "runtime_duration"]}},
            saving_kwh=saving, saving_money=saving * price,
            assumptions={"horizon_days": horizon_days,
                         "comparable": "whole hours with exactly these pumps running, station "
                                       "flow in the same 10 % band",
                         "saving": f"the volume {worse} pumped at those flows, pumped at "
                                   f"{better}'s measured specific energy",
                         "caveat": "duty rotation for even wear is given up",
                         "price": _round(price, 4)},
            confidence="medium" if int(w.loc[common, "n"].sum()) >= 24 else "low",
            status="ongoing", period_start=None, ctx=ctx))
    return out
