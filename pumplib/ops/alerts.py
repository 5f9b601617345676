"""Alert sources, and alerts as people pick them: unique labels, grouped by asset and severity.

Sources (each contributes nothing when its module is absent):

* ``outlier``: outlier events (:func:`pumplib.outliers.events`);
* ``quality``: asset-days whose worst daily quality score is below
  ``ops.quality_threshold``;
* ``forecast``: periods whose actual golden value leaves the stored forecast band;
* ``live``: the live path's streaming rule alerts (dry running, out of range, stuck,
  silent: :mod:`pumplib.live.alerts`), rows of the action-log database, read afresh on
  every call (they change between commits of the lake).

Every alert has a unique ``alert_id``; :func:`alert_options` gives every alert
its own label (the id ends it), so alerts with the same title never hide
each other in a picker, and :func:`alert_id_of` reads the id back from a label
(also from a label of an earlier list, e.g. one chosen just before a drill-down
replaced the list).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..errors import PumplibError, UnknownNameError
from ._common import empty, optional
from .views import local_day_start, local_text, period_end, utc_naive

ALERT_KINDS = ("outlier", "quality", "forecast", "live")
SEVERITIES = ("low", "medium", "high")
ALERT_COLUMNS = ["alert_id", "kind", "asset", "station", "start", "end", "severity", "score",
                 "title", "explanation", "signals", "source", "status", "assignee"]


def station_of(ops, asset) -> str | None:
    a = ops.registry.assets.get(str(asset))
    return a.station if a is not None else None


def outlier_alerts(ops) -> pd.DataFrame:
    mod = optional("pumplib.outliers")
    if mod is None or not hasattr(mod, "events"):
        return empty(ALERT_COLUMNS)
    ev = mod.events(ops.lake)
    if ev is None or len(ev) == 0:
        return empty(ALERT_COLUMNS)
    ev = ev.reset_index(drop=ev.index.name is None)
    rows = []
    for r in ev.to_dict("records"):
        sigs = r.get("signals")
        sigs = ", ".join(map(str, sigs)) if isinstance(sigs, (list, tuple, np.ndarray)) \
            else str(sigs or "")
        sev = str(r.get("severity") or "medium")
        rows.append({
            "alert_id": f"outlier:{r['event_id']}", "kind": "outlier",
            "asset": str(r["asset"]), "station": station_of(ops, r["asset"]),
            "start": utc_naive(r["start"]), "end": utc_naive(r["end"]),
            "severity": sev if sev in SEVERITIES else "medium",
            "score": float(r.get("score", np.nan)),
            "title": f"Unusual behaviour of {r['asset']} ({sigs})",
            "explanation": str(r.get("explanation") or ""), "signals": sigs,
            "source": str(r.get("run_id") or r.get("source") or "outliers")})
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)

def quality_alerts(ops) -> pd.DataFrame:
    q = ops.quality_days()
    if q.empty:
        return empty(ALERT_COLUMNS)
    pumps = {a.id for a in ops.registry.pumps()}
    bad = q[(q["score"] < ops.quality_threshold) & q["asset"].isin(pumps)]
    rows = []
    for (asset, day), g in bad.groupby(["asset", "day"], sort=True):
        start = local_day_start(day, ops.timezone)
        worst = g.sort_values("score")
        score = float(worst["score"].iloc[0])
        sigs = ", ".join(worst["signal"].astype(str))
        why = "; ".join(f"{s}: {sc:.0f} ({r})" for s, sc, r in
                        zip(worst["signal"], worst["score"], worst["reasons"].fillna(""),
                            strict=True))
        rows.append({
            "alert_id": f"quality:{asset}:{pd.Timestamp(day).date()}", "kind": "quality",
            "asset": asset, "station": station_of(ops, asset), "start": start,
            "end": period_end("1D", start, ops.timezone),
            "severity": "high" if score < 50 else "medium" if score < 70 else "low",
            "score": score,
            "title": f"Data quality of {asset} on {pd.Timestamp(day).date()}: {score:.0f}/100",
            "explanation": why, "signals": sigs, "source": "quality/1min"})
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)

def live_alerts(ops) -> pd.DataFrame:
    """The live path's alerts from the action-log database (status ``open`` or
    ``resolved``, until someone acts on them)."""
    mod = optional("pumplib.live.alerts")
    if mod is None:
        return empty(ALERT_COLUMNS)
    return mod.alert_frame(ops.actions)


def forecast_alerts(ops) -> pd.DataFrame:
    mod = optional("pumplib.forecast")
    if mod is None:
        return empty(ALERT_COLUMNS)
    fn = getattr(mod, "deviations", None)
    if fn is not None:
        dev = fn(ops.lake)
    elif hasattr(mod, "open_forecasts"):
        dev = forecast_deviations(ops, mod)
    else:
        return empty(ALERT_COLUMNS)
    if dev is None or len(dev) == 0:
        return empty(ALERT_COLUMNS)
    rows = []
    for r in dev.to_dict("records"):
        start = utc_naive(r["start"])
        end = utc_naive(r.get("end", start + pd.Timedelta("1h")))
        dv = float(r.get("deviation", np.nan))
        rows.append({
            "alert_id": f"forecast:{r['asset']}:{r.get('feature', '')}:{start.isoformat()}",
            "kind": "forecast", "asset": str(r["asset"]),
            "station": (str(r["asset"]) if r["asset"] in ops.registry.stations
                        else station_of(ops, r["asset"])), "start": start, "end": end,
            "severity": str(r.get("severity") or ("high" if abs(dv) > 4 else "medium")),
            "score": dv,
            "title": f"{r.get('feature', 'value')} of {r['asset']} off its forecast",
            "explanation": str(r.get("explanation") or
                               f"actual {r.get('actual', np.nan):.4g} vs forecast "
                               f"{r.get('forecast', np.nan):.4g} ({dv:+.1f} σ)"),
            "signals": str(r.get("feature", "")), "source": str(r.get("source", "forecasts"))})
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


def forecast_deviations(ops, mod) -> pd.DataFrame:
    """Periods where the actual golden value leaves the stored forecast band.

    The band is the lowest to the highest stored quantile of a target
    (``<target>_q10`` … ``<target>_q90``); a forecast series is a station (the
    sum of its pumps) or one asset. Only periods that have both a forecast and
    an actual value count (a forecast of the future has none yet).
    """
    golden_of = {"energy": "energy_integral", "cost": "energy_cost_integral"}
    rows = []
    for level in ("15min", "1h", "1D"):
        try:
            fc = mod.open_forecasts(ops.lake, level)
        except PumplibError:
            continue
        try:
            actual = ops.golden(level)
        except UnknownNameError:
            continue
        targets = sorted({str(v).rsplit("_", 1)[0] for v in fc.data_vars})
        for tgt in targets:
            col = golden_of.get(tgt, tgt)
            qs = sorted(str(v) for v in fc.data_vars
                        if str(v).startswith(f"{tgt}_q") and str(v)[len(tgt) + 2:].isdigit())
            if col not in actual.data_vars or len(qs) < 2:
                continue
            mid_name = f"{tgt}_q50" if f"{tgt}_q50" in fc else f"{tgt}_mean"
            lo, hi = fc[qs[0]].load(), fc[qs[-1]].load()
            mid = fc[mid_name].load() if mid_name in fc else (lo + hi) / 2
            t = pd.DatetimeIndex(fc.time.values)
            inside = t[(t >= pd.Timestamp(actual.time.values[0]))
                       & (t <= pd.Timestamp(actual.time.values[-1]))]
            if len(inside) == 0:
                continue
            for series in fc.asset.values.tolist():
                members = ([a.id for a in ops.registry.station_assets(series) if a.kind == "pump"]
                           if series in ops.registry.stations else [series])
                members = [m for m in members if m in set(actual.asset.values.tolist())]
                if not members:
                    continue
                act = actual[col].sel(asset=members, time=inside).sum("asset", min_count=1)
                act = act.to_series()
                lo_s = lo.sel(asset=series, time=inside).to_series()
                hi_s = hi.sel(asset=series, time=inside).to_series()
                mid_s = mid.sel(asset=series, time=inside).to_series()
                width = (hi_s - lo_s).where(hi_s > lo_s)
                out = (act > hi_s) | (act < lo_s)
                for when in act.index[out.fillna(False).to_numpy()]:
                    dev = float((act[when] - mid_s[when]) / width[when]) \
                        if pd.notna(width[when]) else np.nan
                    rows.append({"asset": series, "feature": tgt, "start": when,
                                 "end": period_end(level, when, ops.timezone),
                                 "deviation": dev, "actual": float(act[when]),
                                 "forecast": float(mid_s[when]),
                                 "severity": "high" if abs(dev) > 1.5 else "medium",
                                 "explanation": f"actual {act[when]:.4g} outside the forecast "
                                                f"band {lo_s[when]:.4g}–{hi_s[when]:.4g} "
                                                f"({qs[0]}–{qs[-1]}), median {mid_s[when]:.4g}",
                                 "source": f"forecasts/{level}"})
    return pd.DataFrame(rows)


# -- alerts as people pick them ---------------------------------------------------------------
_ID_RE = re.compile(r"\[([^\[\]]+)\]\s*$")


def group_order(alerts: pd.DataFrame) -> pd.DataFrame:
    """Alerts grouped by asset (A→Z), then severity (high first), newest first in a group."""
    if alerts.empty:
        return alerts
    sev = {s: i for i, s in enumerate(SEVERITIES)}
    key = alerts.assign(_sev=-pd.to_numeric(alerts["severity"].map(sev)).fillna(0),
                        _asset=alerts["asset"].astype(str))
    key = key.sort_values(["_asset", "_sev", "start"], ascending=[True, True, False],
                          kind="stable")
    return key.drop(columns=["_sev", "_asset"])


def alert_label(alert, timezone: str) -> str:
    """One alert's label: asset · severity · local start · title [alert_id] (unique).

    Examples
    --------
    >>> a = {"alert_id": "outlier:OUT-1", "asset": "N-P3", "severity": "high",
    ...      "start": pd.Timestamp("2026-03-12 18:46"), "title": "Unusual behaviour of N-P3"}
    >>> alert_label(a, "Europe/Amsterdam")
    'N-P3 · high · 2026-03-12 19:46 CET · Unusual behaviour of N-P3 [outlier:OUT-1]'
    """
    get = alert.get if isinstance(alert, dict) else (lambda k: getattr(alert, k))
    return (f"{get('asset')} · {get('severity')} · {local_text(get('start'), timezone)} · "
            f"{get('title')} [{get('alert_id')}]")


def alert_options(alerts: pd.DataFrame, timezone: str) -> dict[str, str]:
    """Label → alert_id for a picker: one entry per alert, grouped by asset and severity.

    Labels hold no status, so a picker keeps its choice when an action changes it.
    """
    out: dict[str, str] = {}
    for r in group_order(alerts).itertuples():
        out[alert_label(r, timezone)] = r.alert_id
    if len(out) != len(alerts):   # pragma: no cover - alert ids are unique by construction
        raise PumplibError("two alerts share an id; each alert must be selectable")
    return out


def alert_option_groups(alerts: pd.DataFrame, timezone: str) -> list[dict]:
    """The entries of :func:`alert_options` in groups: one per asset and severity.

    Returns ``[{"label": "N-P3 · high (2)", "options": [[label, alert_id], …]}, …]``
    (the shape of :class:`pumplib.ops.picker.GroupedPicker`).
    """
    groups: list[dict] = []
    for r in group_order(alerts).itertuples():
        key = f"{r.asset} · {r.severity}"
        if not groups or groups[-1]["key"] != key:
            groups.append({"key": key, "options": []})
        groups[-1]["options"].append([alert_label(r, timezone), r.alert_id])
    return [{"label": f"{g['key']} ({len(g['options'])})", "options": g["options"]}
            for g in groups]


def alert_id_of(label: str | None) -> str | None:
    """The alert id a label ends with (None when there is none).

    Examples
    --------
    >>> alert_id_of("N-P3 · high · 2026-03-12 19:46 CET · Unusual [outlier:OUT-1]")
    'outlier:OUT-1'
    >>> alert_id_of("--") is None
    True
    """
    if not label:
        return None
    m = _ID_RE.search(str(label))
    return m.group(1) if m else None


def alert_groups(alerts: pd.DataFrame) -> pd.DataFrame:
    """Counts of alerts per asset (rows) and severity (columns high, medium, low, total)."""
    cols = list(reversed(SEVERITIES))
    if alerts.empty:
        return pd.DataFrame(columns=[*cols, "total"], dtype=int)
    t = pd.crosstab(alerts["asset"].astype(str), alerts["severity"])
    t = t.reindex(columns=cols, fill_value=0)
    t["total"] = t.sum(axis=1)
    t.index.name = "asset"
    return t


def check_alert_kinds(kinds) -> None:
    from ..errors import choices_message

    for k in kinds:
        if k not in ALERT_KINDS:
            raise UnknownNameError(choices_message("alert kind", k, ALERT_KINDS))
