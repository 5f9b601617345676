"""Load shifting out of the peak tariff hours, within the tank's level limits."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..assets import AssetRegistry
from ..errors import UnknownNameError, choices_message
from ..lake import Lake
from .inputs import _hourly, _lake, _local_days, _naive, _registry, _series
from .rows import _iso, _round, _row


def station_peak_days(lake: Lake | str | os.PathLike, registry: AssetRegistry | str | None,
                      station: str, *, reserve: float = 0.2, start=None, end=None,
                      frame: pd.DataFrame | None = None,
                      min_level_coverage: float = 0.9) -> pd.DataFrame:
    """Per local day: peak-hour energy, tank drawdown in the peak, and what was avoidable.

    The peak is the tariff's most expensive price. ``usable_m3`` is the tank
    volume between ``min_level`` and ``max_level`` less ``reserve`` of the span
    at each end; ``drawdown_m3`` is how much the tank level fell over the peak
    (from the good level samples). The tank could have supplied another
    ``usable − drawdown`` m³ in the peak, which caps the avoidable peak pumping:
    ``avoidable_kwh = min(peak_kwh, (usable − drawdown)·specific energy)``.

    Returns
    -------
    pandas.DataFrame
        Indexed by local day: ``peak_kwh, peak_cost, drawdown_m3, usable_m3,
        avoidable_m3, avoidable_kwh, specific_energy, peak_price, offpeak_price,
        level_coverage``; days without a peak or with too little level data are left out.
    """
    lake = _lake(lake)
    reg = _registry(registry)
    if station not in reg.stations:
        raise UnknownNameError(choices_message("station", station, reg.stations))
    tz = str(reg.utility["timezone"])
    if frame is None:
        frame = _hourly(lake, start, end)
    assets = reg.station_assets(station)
    pumps = [a.id for a in assets if a.kind == "pump"]
    tanks = [a for a in assets if a.kind == "tank" and a.tank]
    if not tanks:
        return pd.DataFrame()
    tank = tanks[0]
    tariff = reg.tariff_of(station)
    energy = pd.DataFrame({p: _series(frame, p, "energy_integral") for p in pumps})
    cost = pd.DataFrame({p: _series(frame, p, "energy_cost_integral") for p in pumps})
    se = pd.DataFrame({p: _series(frame, p, "specific_energy_mean") for p in pumps})
    volume = (energy / se).where(se > 0)
    idx = pd.DatetimeIndex(energy.index).tz_localize("UTC")
    price = tariff.price(idx, tz, reg.holidays)
    levels = [tariff.default_price, *(float(p["price"]) for p in tariff.periods)]
    top, low = max(levels), min(levels)
    if top <= low:
        return pd.DataFrame()
    peak = price >= top - 1e-12
    # tank level at 15 min from good samples (lazy read of one asset)
    lvl = _tank_level(lake, tank.id, idx.min(), idx.max() + pd.Timedelta("1h"))
    if lvl.dropna().empty:
        return pd.DataFrame()
    a = float(tank.tank["area"])
    span = float(tank.tank["max_level"]) - float(tank.tank["min_level"])
    usable = a * span * max(0.0, 1.0 - 2.0 * reserve)
    days = _local_days(idx, tz)
    rows = []
    for day in np.unique(days[peak]):
        sel = (days == day) & peak
        t0, t1 = idx[sel].min(), idx[sel].max() + pd.Timedelta("1h")
        win = lvl[(lvl.index >= t0) & (lvl.index <= t1)]
        expected = int((t1 - t0) / pd.Timedelta("15min")) + 1
        cov = float(win.notna().sum() / expected) if expected else 0.0
        if cov < min_level_coverage or win.dropna().empty:
            continue
        w = win.interpolate(limit_direction="both")
        drawdown = max(0.0, float(w.iloc[0] - w.iloc[-1])) * a
        e_peak = float(energy[sel].sum().sum())
        v_peak = float(volume[sel].sum().sum())
        se_st = e_peak / v_peak if v_peak > 0 else float(
            (energy.sum().sum()) / max(volume.sum().sum(), 1e-9))
        avoid_m3 = max(0.0, usable - drawdown)
        avoid_kwh = min(e_peak, avoid_m3 * se_st)
        rows.append({"day": pd.Timestamp(day), "peak_kwh": e_peak,
                     "peak_cost": float(cost[sel].sum().sum()), "peak_m3": v_peak,
                     "drawdown_m3": drawdown, "usable_m3": usable,
                     "avoidable_m3": min(avoid_m3, v_peak) if v_peak > 0 else 0.0,
                     "avoidable_kwh": avoid_kwh, "specific_energy": se_st,
                     "peak_price": top, "offpeak_price": low, "level_coverage": cov})
    return pd.DataFrame(rows).set_index("day") if rows else pd.DataFrame()


def _tank_level(lake: Lake, tank: str, t0, t1) -> pd.Series:
    """Good level samples of one tank, 15-min means, UTC index."""
    from ..quality import good

    try:
        raw = lake.open_raw("1min")
    except UnknownNameError:
        cads = lake.cadences()
        raw = lake.open_raw(cads[0])
    if "level" not in raw.data_vars or tank not in raw.asset.values:
        return pd.Series(dtype=float)
    ds = raw[["level"]].sel(asset=[tank], time=slice(_naive(t0), _naive(t1)))
    lvl = good(ds).level.sel(asset=tank).to_pandas()  # computes one asset, a few weeks
    lvl.index = pd.DatetimeIndex(lvl.index).tz_localize("UTC")
    return lvl.resample("15min").mean()


def _load_shift_recs(lake, frame, reg, horizon_days, ctx, *, reserve=0.2,
                     min_share: float = 0.25) -> list[dict]:
    out = []
    for st in reg.stations:
        days = station_peak_days(lake, reg, st, reserve=reserve, frame=frame)
        if days.empty or days.peak_kwh.sum() <= 0:
            continue
        share = float(days.avoidable_kwh.sum() / days.peak_kwh.sum())
        tank_use = float((days.drawdown_m3 / days.usable_m3).median())
        if share < min_share:
            continue
        price_gap = float(days.peak_price.iloc[0] - days.offpeak_price.iloc[0])
        per_day_kwh = float(days.avoidable_kwh.mean())
        n_days_all = len(np.unique(_local_days(frame.index.get_level_values("time"),
                                               str(reg.utility["timezone"]))))
        # peak days per calendar day (weekends and holidays have no peak)
        peak_rate = len(days) / max(n_days_all, 1)
        saving_kwh = per_day_kwh * peak_rate * horizon_days
        tank = next(a for a in reg.station_assets(st) if a.kind == "tank")
        out.append(_row(
            "load_shift", tank.id, st,
            f"{st}: fill {tank.id} before the peak and let it drain — "
            f"{share * 100:.0f} % of the peak-hour pumping is avoidable",
            evidence={"peak_days": len(days),
                      "period": [_iso(days.index.min()), _iso(days.index.max()
                                                              + pd.Timedelta("1D"))],
                      "peak_kwh_per_day": _round(days.peak_kwh.mean(), 1),
                      "avoidable_kwh_per_day": _round(per_day_kwh, 1),
                      "avoidable_share": _round(share),
                      "tank_drawdown_m3_median": _round(days.drawdown_m3.median(), 1),
                      "tank_usable_m3": _round(days.usable_m3.iloc[0], 1),
                      "tank_use_in_peak_median": _round(tank_use),
                      "peak_price": _round(days.peak_price.iloc[0], 4),
                      "offpeak_price": _round(days.offpeak_price.iloc[0], 4),
                      "control": reg.stations[st].get("control"),
                      "series": {"group": "features/1h", "assets": [a.id for a in
                                 reg.station_assets(st)],
                                 "variables": ["energy_integral", "energy_cost_integral"],
                                 "raw": {"group": "raw/1min", "asset": tank.id,
                                         "signal": "level"}}},
            saving_kwh=saving_kwh,
            saving_money=saving_kwh * price_gap,
            assumptions={"horizon_days": horizon_days,
                         "reserve": f"{reserve:.0%} of the tank span kept at each end",
                         "energy": "shifted, not saved: kWh are moved to the cheapest hours at "
                                   "the same specific energy (a fuller tank adds a little head)",
                         "saving_kwh_meaning": "peak-hour kWh moved to off-peak hours",
                         "price_gap": _round(price_gap, 4),
                         "refill": "pump capacity refills the tank in the cheap hours before "
                                   "the peak"},
            confidence="high" if share >= 0.5 and len(days) >= 10 else "medium",
            status="ongoing", period_start=None, ctx=ctx))
    return out
