"""Efficiency relative to the pump curve and its steady fall over weeks (impeller wear)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..assets import Asset, AssetRegistry
from .inputs import _local_days, _series
from .rows import _iso, _round, _row


def efficiency_ratio(frame: pd.DataFrame, pump: Asset) -> pd.Series:
    """Measured wire-to-water efficiency over the curve's promise at the operating point.

    The expected value is ``bep_efficiency·(1 − (r − 1)²)·motor_efficiency`` with
    ``r`` the measured ``bep_flow_ratio`` (flow over the speed-corrected BEP flow),
    so variable-speed pumps and changing duty points do not look like wear.
    1.0 = as new; 0.92 = 8 % of the energy is lost to wear.

    Parameters
    ----------
    frame : pandas.DataFrame
        Hourly golden-table rows indexed by ``(asset, time)``.
    pump : pumplib.assets.Asset
        The pump (needs ``curve.bep_efficiency``; motor efficiency defaults to 1).

    Returns
    -------
    pandas.Series
        Hourly ratio (NaN where the pump did not run near a sensible duty point).
    """
    w2w = _series(frame, pump.id, "wire_to_water_efficiency_mean")
    r = _series(frame, pump.id, "bep_flow_ratio_mean")
    if w2w.empty or r.empty or "bep_efficiency" not in pump.curve:
        return pd.Series(dtype=float)
    motor = float(pump.motor.get("efficiency", 1.0)) if pump.motor else 1.0
    expected = float(pump.curve["bep_efficiency"]) * (1.0 - (r - 1.0) ** 2) * motor
    return (w2w / expected).where((r > 0.5) & (r < 1.5) & (expected > 0.05))


def _theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Theil–Sen slope and Kendall's tau of ``y`` against ``x``."""
    i, j = np.triu_indices(len(x), 1)
    dx, dy = x[j] - x[i], y[j] - y[i]
    ok = dx != 0
    slope = float(np.median(dy[ok] / dx[ok])) if ok.any() else 0.0
    sgn = np.sign(dx) * np.sign(dy)
    tau = float(sgn.sum() / max(len(sgn), 1))
    return slope, tau


def _gradual(x: np.ndarray, y: np.ndarray, drop: float, min_days: float) -> bool:
    """Wear takes time: from leaving the start level to the bottom is ≥ ``min_days / 2``."""
    base = float(np.median(y[:3]))
    smooth = pd.Series(y).rolling(3, center=True, min_periods=1).median().to_numpy()
    left = np.flatnonzero(smooth < base - 0.25 * drop)
    if not len(left):
        return False
    bottom = int(np.argmin(smooth))
    return x[bottom] - x[left[0]] >= 0.5 * min_days


def wear_episodes(daily: pd.Series, *, min_days: int = 7, min_points: int = 6,
                  min_drop: float = 0.03, max_tau: float = -0.6,
                  max_days: int = 120) -> pd.DataFrame:
    """Sustained declines of a daily efficiency ratio (impeller wear).

    Every window of at least ``min_days`` days (``min_points`` valid days) is
    scored with a Theil–Sen slope and Kendall's tau; a window is a decline when
    tau ≤ ``max_tau`` and the fitted drop ≥ ``min_drop``. Overlapping declines
    are merged into the longest one. Short dips (a sensor drifting for a few
    days) are shorter than ``min_days`` and do not count. Windows longer than
    ``max_days`` are not scored (the cost grows with the fourth power of the span).

    Parameters
    ----------
    daily : pandas.Series
        Daily median efficiency ratio indexed by day (NaN allowed).

    Returns
    -------
    pandas.DataFrame
        Columns ``start, end`` (the decline), ``days, slope_per_week, tau, drop,
        level_start, level_end`` and ``worn_until`` (the last day still near the bottom).

    Examples
    --------
    >>> idx = pd.date_range("2026-03-01", periods=20, freq="D")
    >>> y = pd.Series(np.r_[np.ones(5), np.linspace(1, 0.9, 15)], index=idx)
    >>> ep = wear_episodes(y)
    >>> len(ep), round(float(ep["drop"][0]), 2)
    (1, 0.09)
    """
    s = daily.dropna()
    cols = ["start", "end", "days", "slope_per_week", "tau", "drop", "level_start", "level_end",
            "worn_until"]
    if len(s) < min_points:
        return pd.DataFrame(columns=cols)
    x = (s.index - s.index[0]) / pd.Timedelta("1D")
    x = np.asarray(x, dtype=float)
    y = s.to_numpy(float)
    best: list[tuple] = []
    n = len(s)
    # window ends on a stride that keeps about 60 candidates (a year of days: every 6th);
    # the kept windows are trimmed to the decline at day resolution below
    stride = max(1, n // 60)
    ends = sorted(set(range(0, n, stride)) | {n - 1})
    for a in ends:
        for b in ends:
            if b < a + min_points - 1 or x[b] - x[a] < min_days:
                continue
            if x[b] - x[a] > max_days:
                break
            slope, tau = _theil_sen(x[a:b + 1], y[a:b + 1])
            drop = -slope * (x[b] - x[a])
            if tau <= max_tau and drop >= min_drop and _gradual(x[a:b + 1], y[a:b + 1],
                                                                 drop, min_days):
                best.append((a, b, slope, tau, drop))
    if not best:
        return pd.DataFrame(columns=cols)
    # strongest evidence first (points × tau², favouring long clean declines over long
    # windows that also hold a recovery); keep those not overlapping a kept one
    best.sort(key=lambda t: (-(t[1] - t[0] + 1) * t[3] ** 2, t[0]))
    kept: list[tuple] = []
    for cand in best:
        if all(cand[1] < k[0] or cand[0] > k[1] for k in kept):
            kept.append(cand)
    rows = []
    for a, b, slope, tau, _fit_drop in sorted(kept):
        # levels from the data at both ends (the fitted line over-reaches when the window
        # also holds a flat stretch before the wear starts), then the window trimmed to
        # the decline: from the last day at the start level to the first at the bottom
        lvl0, lvl1 = float(np.median(y[a:a + 3])), float(np.median(y[b - 2:b + 1]))
        d = lvl0 - lvl1
        sm = pd.Series(y[a:b + 1]).rolling(3, center=True, min_periods=1).median().to_numpy()
        left = np.flatnonzero(sm < lvl0 - 0.1 * d)
        i0 = a + max(int(left[0]) - 1, 0) if len(left) else a
        low = np.flatnonzero(sm[i0 - a:] <= lvl1 + 0.02 * d)
        i1 = i0 + int(low[0]) if len(low) else b
        if i1 - i0 >= 2:
            slope, tau = _theil_sen(x[i0:i1 + 1], y[i0:i1 + 1])
        # still worn: the days after the decline that stay near its bottom
        j = i1
        while j + 1 < n and y[j + 1] <= lvl1 + 0.5 * d:
            j += 1
        rows.append({"start": s.index[i0], "end": s.index[i1], "days": float(x[i1] - x[i0]),
                     "slope_per_week": slope * 7.0, "tau": tau, "drop": d,
                     "level_start": lvl0, "level_end": lvl1, "worn_until": s.index[j]})
    return pd.DataFrame(rows, columns=cols)


def daily_efficiency_ratio(frame: pd.DataFrame, registry: AssetRegistry) -> pd.DataFrame:
    """Daily (local days) median of :func:`efficiency_ratio`, one column per pump."""
    tz = str(registry.utility["timezone"])
    out = {}
    for pump in registry.pumps():
        ratio = efficiency_ratio(frame, pump)
        if ratio.dropna().empty:
            continue
        daily = ratio.groupby(_local_days(ratio.index, tz)).median()
        daily.index = pd.DatetimeIndex(daily.index)
        out[pump.id] = daily
    return pd.DataFrame(out)


def _wear_recs(frame, reg, daily_ratio, horizon_days, ctx, episodes_out) -> list[dict]:
    out = []
    for pump in reg.pumps():
        if pump.id not in daily_ratio:
            continue
        daily = daily_ratio[pump.id].dropna()
        episodes = wear_episodes(daily)
        episodes_out[pump.id] = episodes
        if episodes.empty:
            continue
        ep = episodes.iloc[-1]
        last_day = daily.dropna().index[-1]
        recent = daily.dropna().iloc[-3:]
        ongoing = (last_day - ep["worn_until"]) <= pd.Timedelta("2D")
        recovered = (not ongoing) and float(recent.median()) > ep["level_end"] + 0.5 * ep["drop"]
        deficit = max(0.0, 1.0 - (float(ep["level_end"]) if not recovered
                                  else float(recent.median())))
        week_kwh, price = _energy_rate(frame, pump.id, days=14)
        rate = -float(ep["slope_per_week"])  # deficit growth per week
        saving_kwh = week_kwh * deficit * horizon_days / 7.0
        wait_week = week_kwh * (deficit + rate / 2.0) * price
        wait_month = sum(week_kwh * (deficit + rate * (k + 0.5)) * price for k in range(4))
        status = "ongoing" if ongoing else ("recovered" if recovered else "stalled")
        confidence = "high" if (ep["tau"] <= -0.8 and ep["days"] >= 10) else "medium"
        if status == "recovered":
            confidence = "low"
        title = (f"{pump.id}: efficiency fell {ep['drop'] * 100:.1f} % over {ep['days']:.0f} days "
                 f"(impeller wear?) — inspect and repair"
                 if status != "recovered" else
                 f"{pump.id}: efficiency fell {ep['drop'] * 100:.1f} % over {ep['days']:.0f} days, "
                 "then recovered — confirm the repair")
        out.append(_row(
            "efficiency_loss", pump.id, pump.station, title,
            evidence={
                "metric": "wire-to-water efficiency / curve efficiency at the measured BEP ratio",
                "period": [_iso(ep["start"]), _iso(ep["worn_until"] + pd.Timedelta("1D"))],
                "decline_end": _iso(ep["end"] + pd.Timedelta("1D")),
                "level_start": _round(ep["level_start"]), "level_end": _round(ep["level_end"]),
                "drop": _round(ep["drop"]), "slope_per_week": _round(ep["slope_per_week"], 4),
                "kendall_tau": _round(ep["tau"]), "days": _round(ep["days"], 1),
                "latest_level": _round(recent.median()), "status": status,
                "energy_kwh_per_week": _round(week_kwh, 1),
                "cost_of_waiting_week": _round(wait_week, 2),
                "cost_of_waiting_month": _round(wait_month, 2),
                "series": {"group": "features/1h", "asset": pump.id,
                           "variables": ["wire_to_water_efficiency_mean",
                                         "bep_flow_ratio_mean"],
                           "daily_ratio": {str(k.date()): _round(v) for k, v in
                                           daily.dropna().items()}}},
            saving_kwh=saving_kwh, saving_money=saving_kwh * price,
            assumptions={"horizon_days": horizon_days,
                         "energy_basis": "the pump's energy of the last 14 days, per week",
                         "price": _round(price, 4),
                         "saving": "repair restores the curve efficiency (deficit → 0)",
                         "deficit": _round(deficit),
                         "wait_model": "the deficit keeps growing at the fitted slope"},
            confidence=confidence, status=status, period_start=ep["start"], ctx=ctx))
    return out


def _energy_rate(frame, asset: str, days: int = 14) -> tuple[float, float]:
    """Energy per week over the last ``days`` days and the mean price paid per kWh."""
    e = _series(frame, asset, "energy_integral")
    c = _series(frame, asset, "energy_cost_integral")
    if e.dropna().empty:
        return 0.0, 0.0
    last = e.dropna().index[-1]
    sel = e.index > last - pd.Timedelta(days=days)
    kwh = float(e[sel].sum())
    span_days = max(float((e[sel].dropna().index.size) / 24.0), 1.0)
    total_e, total_c = float(e.sum()), float(c.sum())
    price = total_c / total_e if total_e > 0 else 0.0
    return kwh / span_days * 7.0, price
