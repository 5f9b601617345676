"""Recommendations: ranked actions with evidence, estimated savings and lineage.

:func:`recommend` reads the golden tables (``features/1h``), the raw tank
levels (good samples only) and the asset registry, and returns one row per
action, ranked by the money it would save:

``load_shift``
    A station pumps in the most expensive tariff hours although its tank could
    have covered that demand within its level limits (less a reserve at both
    ends). The estimate is the peak-hour pumping the tank's unused volume could
    have replaced, priced at the difference between the peak and the cheapest
    price.
``efficient_pump``
    Within a station, a pump or a combination of pumps with a higher measured
    specific energy (kWh/m³) than another *at the same station flow*; the
    saving is its volume pumped at the better one's specific energy.
``efficiency_loss``
    Wire-to-water efficiency relative to what the pump's own curve promises at
    the measured operating point (the flow ratio to the speed-corrected BEP)
    falls steadily over weeks: impeller wear. The saving is the energy lost
    at the current deficit; the cost of waiting per week and month is given.
``bep_drift``
    A pump runs far from its best efficiency point most of the time.
``data_quality``
    Missing or flagged data that blocks the other analyses.

The columns are a contract with the operations app (:data:`COLUMNS`; then
:data:`EXTRA_COLUMNS`, where ``finding`` is ``ongoing``, ``stalled`` or
``recovered``: the state of what was found, not what people decided); savings
are per ``horizon_days`` (default one year, extrapolated from the analysed
period). :func:`store_recommendations` writes a run as one lake commit (table
group ``recommendations``), :func:`load_recommendations` reads it back, and
:func:`verify` measures the saving of an accepted recommendation against a
demand-normalised baseline.

Examples
--------
>>> recs = recommend("./store", "catalogs/assets.yaml")          # doctest: +SKIP
>>> recs[["kind", "asset", "saving_money", "currency"]].head()  # doctest: +SKIP
>>> store_recommendations("./store", recs)                        # doctest: +SKIP
>>> verify("./store", recs.rec_id[0], "2026-04-01T18:00Z")        # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .assets import Asset, AssetRegistry
from .errors import ArgumentError, UnknownNameError, choices_message
from .lake import Lake, new_run_id

__all__ = ["COLUMNS", "EXTRA_COLUMNS", "GROUP", "KINDS", "daily_efficiency_ratio",
           "efficiency_ratio", "evidence_frame", "load_recommendations", "plot_evidence",
           "recommend", "station_hours", "station_peak_days", "store_recommendations",
           "verify",
           "wear_episodes"]

#: the columns of a recommendations frame (contract with pumplib.ops / the operations app)
COLUMNS = ["rec_id", "kind", "asset", "station", "title", "evidence", "saving_kwh",
           "saving_money", "currency", "assumptions", "confidence", "lineage"]
#: extra columns after the contract ones
EXTRA_COLUMNS = ["rank", "finding", "horizon_days", "created_at", "run_id"]
KINDS = ("load_shift", "efficient_pump", "efficiency_loss", "bep_drift", "data_quality")
#: the lake table group of stored runs
GROUP = "recommendations"
_JSON_COLUMNS = ("evidence", "assumptions", "lineage")
_FEATURES = ["energy_integral", "energy_cost_integral", "energy_coverage",
             "specific_energy_mean", "specific_energy_coverage", "wire_to_water_efficiency_mean",
             "wire_to_water_efficiency_coverage", "bep_flow_ratio_mean", "runtime_duration",
             "runtime_coverage", "time_near_bep_duration", "head_mean",
             "normalised_specific_energy_mean"]
_RHO_G = 1000.0 * 9.80665 / 3.6e6  # kWh per m³ per m of head for a lossless pump


# =============================================================================
# Inputs
# =============================================================================
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
        from .store import get_features
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
        from .lineage import stamp
    except ImportError:  # a build without engineer A's lineage module: the same fields
        from .lake import _jsonable, _version

        return _jsonable({"kind": "recommendations", "run_id": run_id,
                          "run_time": dt.datetime.now(dt.UTC).isoformat(),
                          "versions": {"pumplib": _version()}, "inputs": {"snapshots": snaps},
                          "outputs": [f"{GROUP}/{run_id}"], **base})
    st = stamp("recommendations", inputs=snaps, params=dict(params),
               definitions=base["definition_hashes"], run_id=run_id,
               outputs=[f"{GROUP}/{run_id}"])
    return {**st, **base}


def _rec_id(kind: str, key: str, period_start: Any) -> str:
    """Stable id: the same finding in a re-run keeps its id (accept/dismiss stay attached)."""
    day = pd.Timestamp(period_start).strftime("%Y-%m-%d") if period_start is not None else ""
    raw = f"{kind}|{key}|{day}"
    return f"rec-{kind[:4]}-{hashlib.sha1(raw.encode()).hexdigest()[:10]}"


def _round(x, nd=3):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return None
    return round(float(x), nd)


def _iso(t) -> str | None:
    if t is None or pd.isna(t):
        return None
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.isoformat()


# =============================================================================
# Efficiency relative to the pump curve (impeller wear)
# =============================================================================
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


# =============================================================================
# Operating far from the best efficiency point
# =============================================================================
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


# =============================================================================
# The most efficient pump at comparable flows
# =============================================================================
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


# =============================================================================
# Load shifting out of the peak tariff hours
# =============================================================================
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
    from .quality import good

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


# =============================================================================
# Data quality that blocks analyses
# =============================================================================
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


# =============================================================================
# The public entry points
# =============================================================================
def _row(kind, asset, station, title, *, evidence, saving_kwh, saving_money, assumptions,
         confidence, status, period_start, ctx) -> dict:
    key = asset or station
    return {"rec_id": _rec_id(kind, f"{station}/{key}", period_start), "kind": kind,
            "asset": asset, "station": station, "title": title, "evidence": evidence,
            "saving_kwh": float(saving_kwh) if saving_kwh is not None else np.nan,
            "saving_money": float(saving_money) if saving_money is not None else np.nan,
            "currency": ctx["currency"], "assumptions": assumptions, "confidence": confidence,
            "lineage": ctx["lineage"], "finding": status,
            "horizon_days": ctx["horizon_days"], "created_at": ctx["created_at"],
            "run_id": ctx["run_id"]}


def recommend(lake: Lake | str | os.PathLike | None = None,
              registry: AssetRegistry | str | os.PathLike | None = None, *,
              kinds: Iterable[str] | None = None, start=None, end=None,
              horizon_days: float = 365.0, reserve: float = 0.2,
              snapshot: str | None = None, as_of=None, write: bool = False) -> pd.DataFrame:
    """Ranked recommendations for every station and pump of the registry.

    Parameters
    ----------
    lake : Lake or str
        The store (golden tables ``features/1h`` and ``raw/1min`` levels are read).
    registry : AssetRegistry or path, optional
        The asset registry (default: the ``assets.registry`` setting).
    kinds : iterable of str, optional
        Subset of :data:`KINDS` (default: all).
    start, end : optional
        Period to analyse (default: everything in the golden tables).
    horizon_days : float
        Savings are given for this many days (default one year), extrapolated
        from the analysed period.
    reserve : float
        Share of the tank span kept unused at each end by the load-shift estimate.
    snapshot, as_of : optional
        Read the golden tables at this lake snapshot, or as they were at that
        moment (what was known then).
    write : bool
        Also store the run in the lake (:func:`store_recommendations`).

    Returns
    -------
    pandas.DataFrame
        One row per action, best first: :data:`COLUMNS` then :data:`EXTRA_COLUMNS`.
        ``evidence``, ``assumptions`` and ``lineage`` are dicts.

    Examples
    --------
    >>> recs = recommend("./store", "catalogs/assets.yaml")   # doctest: +SKIP
    >>> recs.loc[recs.kind == "efficiency_loss", "asset"].tolist()  # doctest: +SKIP
    ['S-P1']
    """
    chosen = list(KINDS) if kinds is None else list(kinds)
    for k in chosen:
        if k not in KINDS:
            raise ArgumentError(f"option 'kinds' given an invalid value: {k!r}. "
                                f"Expected one of {list(KINDS)}")
    if not 0.0 <= float(reserve) < 0.5:
        raise ArgumentError(f"option 'reserve' given an invalid value: {reserve!r}. "
                            "Expected a share of the tank span in [0, 0.5)")
    if float(horizon_days) <= 0:
        raise ArgumentError(f"option 'horizon_days' given an invalid value: {horizon_days!r}. "
                            "Expected a positive number of days")
    lk = _lake(lake if lake is not None else _default_store())
    reg = _registry(registry)
    tz = str(reg.utility["timezone"])
    frame = _hourly(lk, start, end, snapshot, as_of)
    params = {"kinds": chosen, "start": _iso(start), "end": _iso(end),
              "horizon_days": horizon_days, "reserve": reserve, "snapshot": snapshot,
              "as_of": _iso(as_of)}
    run_id = new_run_id("rec")
    ctx = {"currency": _currency(reg), "lineage": _lineage(lk, frame, reg, params, run_id),
           "horizon_days": float(horizon_days),
           "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "run_id": run_id}
    rows: list[dict] = []
    if "load_shift" in chosen:
        rows += _load_shift_recs(lk, frame, reg, horizon_days, ctx, reserve=reserve)
    if "efficient_pump" in chosen:
        rows += _efficient_pump_recs(frame, reg, horizon_days, ctx)
    daily_ratio = daily_efficiency_ratio(frame, reg)
    episodes: dict[str, pd.DataFrame] = {}
    wear = _wear_recs(frame, reg, daily_ratio, horizon_days, ctx, episodes)
    if "efficiency_loss" in chosen:
        rows += wear
    if "bep_drift" in chosen:
        rows += _bep_recs(frame, reg, horizon_days, ctx)
    if "data_quality" in chosen:
        rows += _quality_recs(frame, reg, tz, ctx)
        rows += _meter_recs(reg, daily_ratio, episodes, ctx)
    recs = _frame(rows)
    if write:
        store_recommendations(lk, recs)
    return recs


def _default_store() -> str:
    from . import config

    return config.get("store.url")


def _currency(reg: AssetRegistry) -> str:
    return str(reg.utility.get("currency") or "EUR")


_CONF_ORDER = {"high": 0, "medium": 1, "low": 2}


def _frame(rows: list[dict]) -> pd.DataFrame:
    cols = COLUMNS + EXTRA_COLUMNS
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=float if c.startswith("saving") else object)
                             for c in cols})
    df = pd.DataFrame(rows)
    # rank: money first (data-quality problems, which have none, after), then confidence
    df["_dq"] = df.kind.eq("data_quality")
    df["_conf"] = df.confidence.map(_CONF_ORDER).fillna(3)
    df = df.sort_values(["_dq", "saving_money", "_conf"], ascending=[True, False, True],
                        na_position="last").drop(columns=["_dq", "_conf"])
    df["rank"] = np.arange(1, len(df) + 1)
    return df[cols].reset_index(drop=True)


# =============================================================================
# Storage
# =============================================================================
def store_recommendations(lake: Lake | str | os.PathLike, recs: pd.DataFrame,
                          run_id: str | None = None) -> str:
    """Write a recommendations frame as one lake commit; returns the snapshot id.

    The table lands at ``recommendations/<run_id>`` (dict columns as JSON
    text); the commit metadata carries the run's lineage.
    """
    lk = _lake(lake)
    if recs.empty:
        raise ArgumentError("store_recommendations() got an empty frame: nothing to store")
    run_id = run_id or str(recs["run_id"].iloc[0])
    table = recs.copy()
    for c in _JSON_COLUMNS:
        table[c] = table[c].map(lambda v: json.dumps(v, default=str, sort_keys=True))
    lineage = recs["lineage"].iloc[0] if isinstance(recs["lineage"].iloc[0], Mapping) else {}
    # the stamp's keys at the top (kind, run_id, inputs, outputs, definition_hashes …, as
    # every artefact commit has them) and the whole lineage once more under "lineage"
    meta = {**{k: v for k, v in dict(lineage).items() if k != "params"},
            "kind": "recommendations", "run_id": run_id, "rows": len(recs),
            "kinds": sorted(set(recs.kind)), "lineage": dict(lineage)}
    with lk.transaction(f"recommendations {run_id}: {len(recs)} action(s)", meta) as tx:
        tx.write_table(GROUP, run_id, table, {"run_id": run_id, "lineage": dict(lineage)})
    return tx.snapshot


def load_recommendations(lake: Lake | str | os.PathLike, run_id: str | None = None, *,
                         snapshot: str | None = None) -> pd.DataFrame:
    """A stored run (default: the latest), with the dict columns parsed back."""
    lk = _lake(lake)
    tables = lk.tables(GROUP, snapshot=snapshot)
    if not tables:
        return _frame([])
    if run_id is None:
        run_id = sorted(tables)[-1]
    if run_id not in tables:
        raise UnknownNameError(choices_message("recommendations run", run_id, tables))
    df = tables[run_id]
    for c in _JSON_COLUMNS:
        df[c] = df[c].map(json.loads)
    return df


def _find(lake: Lake, rec_id: str) -> Mapping:
    tables = lake.tables(GROUP)
    for name in sorted(tables, reverse=True):
        hit = tables[name][tables[name].rec_id == rec_id]
        if len(hit):
            row = hit.iloc[0].to_dict()
            for c in _JSON_COLUMNS:
                row[c] = json.loads(row[c]) if isinstance(row[c], str) else row[c]
            return row
    known = sorted({r for t in tables.values() for r in t.rec_id})
    raise UnknownNameError(choices_message("recommendation", rec_id, known))


# =============================================================================
# Chart data behind a recommendation
# =============================================================================
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


# =============================================================================
# Verification of an accepted recommendation
# =============================================================================
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
