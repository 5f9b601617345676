"""Outlier events of one pump: matrix-profile discords and alarm-detector scores, explained."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ArgumentError, UnknownNameError, choices_message
from .alarms import hysteresis
from .common import (
    EVENT_COLUMNS,
    METHODS,
    STATE_SIGNALS,
    _check_choice,
    _check_m,
    run_segments,
    running_mask,
)
from .detector import AlarmDetector
from .features import split_column
from .profile import matrix_profile, multi_profile


# ---------------------------------------------------------------------------
# events from one pump's data
# ---------------------------------------------------------------------------
def _robust_scale(v: np.ndarray, quantile: float) -> tuple[float, float]:
    f = v[np.isfinite(v)]
    if len(f) == 0:
        return 0.0, 1.0
    med = float(np.median(f))
    sc = float(np.quantile(np.abs(f - med), quantile))
    return med, (sc if sc > 0 else (float(np.std(f)) or 1.0))


def _centre_spread(base: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Median and robust spread (IQR / 1.349, else std, else 1) of each column."""
    centre = base.median()
    spread = (base.quantile(0.75) - base.quantile(0.25)) / 1.349
    spread = spread.where(spread > 0, base.std())
    return centre.fillna(0.0), spread.where(spread > 0, 1.0).fillna(1.0)


def _rate(v: np.ndarray, rv: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """First differences of ``v`` (and ``rv``) in units of the normal differences' spread."""
    dv = np.diff(v, prepend=np.nan)
    dr = None if rv is None else np.diff(rv, prepend=np.nan)
    base = dv if dr is None else dr
    f = base[np.isfinite(base)]
    if len(f) == 0:
        return dv, dr
    q1, q3 = np.quantile(f, [0.25, 0.75])
    sc = (q3 - q1) / 1.349
    if not sc > 0:
        sc = float(np.std(f)) or 1.0
    return dv / sc, (None if dr is None else dr / sc)


def _excess(d: np.ndarray, dref: np.ndarray, quantile: float) -> np.ndarray:
    """How far each distance lies beyond the normal ones, in units of their ``quantile``
    spread (0 at or below the normal median; NaN where there is no window)."""
    med, _ = _robust_scale(dref, 0.5)
    _, sc = _robust_scale(dref, quantile)
    return np.where(np.isfinite(d), np.maximum(d - med, 0) / sc, np.nan)


def _window_to_samples(d: np.ndarray, m: int) -> np.ndarray:
    """Score of the window starting at i, placed at its centre sample."""
    out = np.full(len(d), np.nan)
    h = m // 2
    if len(d) > h:
        out[h:] = d[: len(d) - h]
    return out


def _as_frame(data, asset: str | None) -> tuple[pd.DataFrame, str]:
    if isinstance(data, pd.DataFrame):
        return data, asset or str(data.attrs.get("asset", "asset"))
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover - xarray is a core dependency
        xr = None
    if xr is not None and isinstance(data, xr.Dataset):
        ds = data
        if "asset" in ds.dims:
            if ds.sizes["asset"] != 1:
                raise ArgumentError("detect() takes one asset; select it first "
                                    "(ds.sel(asset=...)) or use detect_lake()")
            ds = ds.isel(asset=0)
        name = asset or (str(ds["asset"].values) if "asset" in ds.coords else "asset")
        keep = [v for v in ds.data_vars if not str(v).endswith("_sq")]
        return ds[keep].to_dataframe()[keep], name
    raise ArgumentError(f"detect() takes a pandas DataFrame or a one-asset xarray Dataset, "
                        f"got {type(data).__name__}")


def detect(data, m: int = 30, *, asset: str | None = None, signals: Sequence[str] | None = None,
           reference: tuple | slice | pd.DataFrame | None = None, method: str = "stump",
           threshold: float = 4.0, quantile: float = 0.95, level: bool = True,
           normalize: bool = False, slow_autocorr: float = 0.99,
           min_length: int | None = None, run_signal: str = "run_state", client=None
           ) -> pd.DataFrame:
    """Outlier events of one pump: matrix-profile discords and level changes in run windows.

    Samples where the pump does not run (``run_state <= 0.5``) or that are
    NaN (missing, or masked because the quality flags reject them) never
    enter a window, so stops and gaps are not anomalies.

    For each signal two scores are made, each divided by the ``quantile`` of
    its own normal spread (so 1 = the edge of normal):

    * discord: the matrix-profile distance of the window around each sample
      to its nearest neighbour — in the rest of the data (self-join) or in
      the ``reference`` period (AB-join) — on signals put in robust units
      (median, IQR); ``method="mstump"`` adds the multidimensional profile
      across all signals (column ``*``);
    * level (``level=True``): an :class:`AlarmDetector` fitted on the running
      samples of the reference (screened for faults first): each signal's
      trailing ``m``-sample window mean, noise (median absolute second
      difference) and spikes (a step that comes straight back). The last two
      count only upwards, and control steps and ramps are neither. Each is
      scaled by the ``quantile`` of its absolute deviation, against a
      reference that follows slow wander outside alarms. A sustained shift that keeps its shape (a dry run),
      cavitation-like noise and single impulses are seen. Its alarms start at
      ``threshold``, end after 10 rows at or below ``threshold * 0.8``, and
      re-baseline after a confirmed event that ended in a new state.

    A sample is an outlier while its largest discord exceeds ``threshold``
    (hysteresis down to ``threshold * 0.8``) or the level detector alarms;
    neighbouring outliers closer than ``m`` samples merge into one event.

    Parameters
    ----------
    data : DataFrame or one-asset xarray.Dataset
        Time-indexed signals (good samples only; NaN elsewhere) and ``run_state``.
    m : int
        Window length in samples (default 30: half an hour of 1-min data).
    asset : str, optional
        Name written into the events.
    signals : sequence of str, optional
        Signals to score (default: every numeric column except ``run_state``).
    reference : (start, end), slice or DataFrame, optional
        The normal period. Default: the data itself (self-join; the level
        scale is then the data's own spread).
    method : {"stump", "mstump", "none"}
        Matrix profile per signal, plus the multidimensional one, or none
        (level scores only).
    threshold : float
        Score above which a sample is an outlier (default 4).
    quantile : float
        Quantile of the normal spread used as each score's unit (0.95).
    level : bool
        Also run the level/noise/impulse alarm detector (default True).
    normalize : bool
        z-normalised matrix profile (shape only) instead of raw distances
        (default False: level and spread changes count).
    slow_autocorr : float
        Signals whose lag-1 autocorrelation (running samples of the reference)
        exceeds this (0.99: temperatures) enter the matrix profile as their
        first difference, so slow drift and warm-ups from unusual start values
        are not discords. (The level detector de-trends a signal's window
        mean when its lag-1 autocorrelation exceeds 0.9.)
    min_length : int, optional
        Shortest event in samples (default ``m // 3``).
    client : dask.distributed.Client, optional
        Compute matrix profiles with ``stumped`` on this client.

    Returns
    -------
    DataFrame
        One row per event: ``event_id, asset, start, end, signals, score,
        severity, explanation, nearest_normal`` (see :data:`EVENT_COLUMNS`).
    """
    frame, name = _as_frame(data, asset)
    _check_choice("method", method, METHODS)
    m = _check_m(m)
    if not threshold > 0:
        raise ArgumentError(f"threshold must be positive, got {threshold!r}")
    if min_length is None:
        min_length = max(1, m // 3)
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise ArgumentError("detect() needs a DatetimeIndex on the frame (time stamps)")
    cols = _signal_columns(frame, signals, run_signal)
    run = running_mask(frame, run_signal)
    x = _mask_rows(frame[cols].astype(float), run)
    ref_frame = _reference(frame, reference, cols, run_signal)
    if len(x) < 2 * m:
        return empty_events()
    comps: dict[str, np.ndarray] = {}
    nbrs: dict[str, np.ndarray] = {}
    if method in ("stump", "mstump"):
        _discord_components(x, ref_frame, cols, m, method, quantile, normalize, slow_autocorr,
                            client, comps, nbrs)
    alarm = np.zeros(len(x), bool)
    if level:
        base = x if ref_frame is None else ref_frame[cols]
        lv, alarm = _level_components(x, base, run, m, threshold, quantile)
        comps.update(lv)
    if not comps:
        return empty_events()
    S = pd.DataFrame(comps, index=frame.index)
    discords = S[[c for c in S.columns if c.endswith(":discord")]]
    total = discords.max(axis=1, skipna=True).fillna(0.0).to_numpy()
    flag = hysteresis(total, threshold, threshold * 0.8, 1) | alarm
    ref_index = frame.index if ref_frame is None else ref_frame.index
    return _events_from(flag, S, frame, x, name, m, threshold, min_length, nbrs, ref_index,
                        ref_frame)


def _discord_components(x: pd.DataFrame, ref_frame: pd.DataFrame | None, cols: list[str],
                        m: int, method: str, quantile: float, normalize: bool,
                        slow_autocorr: float, client, comps: dict, nbrs: dict) -> None:
    """Matrix-profile discord score of each signal (and ``*``: the multidimensional one with
    ``method="mstump"``) into ``comps``, and each profile's nearest neighbours into ``nbrs``."""
    base = x if ref_frame is None else ref_frame[cols]
    centre, spread = _centre_spread(base)
    z_x = (x - centre) / spread
    z_ref = None if ref_frame is None else (ref_frame[cols] - centre) / spread
    for c in cols:
        v = z_x[c].to_numpy()
        if np.isfinite(v).sum() < 2 * m or not np.nanstd(v) > 0:
            continue
        rv = None if z_ref is None else z_ref[c].to_numpy()
        ac = base[c].autocorr(1)
        if np.isfinite(ac) and ac > slow_autocorr:
            # a slow signal (a temperature): its shapes are judged on its rate of
            # change, so a warm-up from an unusual start value is not a discord
            v, rv = _rate(v, rv)
        if z_ref is None:
            p = matrix_profile(v, m, normalize=normalize, client=client)
            dref = p.normalised()
        else:
            if np.isfinite(rv).sum() < 2 * m:
                continue
            p = matrix_profile(v, m, reference=rv, normalize=normalize, client=client)
            dref = matrix_profile(rv, m, normalize=normalize, client=client).normalised()
        comps[f"{c}:discord"] = _window_to_samples(_excess(p.normalised(), dref, quantile), m)
        nbrs[c] = p.neighbour
    if method == "mstump" and len(cols) > 1:
        usable = [c for c in cols if z_x[c].notna().any()]
        ok = z_x[usable].notna().all(axis=1).to_numpy()
        P, Im = multi_profile(z_x[usable].fillna(0.0), m, valid=ok, normalize=normalize)
        d = P[-1] / math.sqrt((2 if normalize else 1) * m)
        comps["*:discord"] = _window_to_samples(_excess(d, d, quantile), m)
        nbrs["*"] = Im[-1]


#: the event explanation's word for each AlarmDetector feature
FEATURE_KINDS = {"mean": "level", "std": "noise", "jump": "impulse", "noise": "noise",
                 "spike": "impulse"}


def _level_components(x: pd.DataFrame, base: pd.DataFrame, run: np.ndarray, m: int,
                      threshold: float, quantile: float
                      ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each usable signal's score from an :class:`AlarmDetector` fitted on ``base``, and the
    detector's alarm flags (False where the pump does not run).

    The detector sees level, noise and impulses over trailing ``m``-sample windows,
    screens its fit window, and adapts its reference outside alarms. Each feature is
    scaled by the ``quantile`` of its absolute deviation in the (screened) fit, so 1 is
    the edge of normal as for the discords, and the detector alarms at ``threshold``
    (clearing at 0.8 × ``threshold``; its alarms end and re-baseline as in
    :func:`~pumplib.outliers.alarms.track`). Each feature's distance is one
    component (NaN where the pump stops).

    Components are named ``<signal>:level``, ``<signal>:noise`` and
    ``<signal>:impulse`` (the window mean, noise and spike features), so an event's
    explanation says which of them moved.
    """
    usable = [c for c in x.columns if base[c].notna().sum() >= 4 * m and base[c].std() > 0]
    none = np.zeros(len(x), bool)
    if not usable or base[usable].notna().any(axis=1).sum() < 4 * m:
        return {}, none
    det = AlarmDetector(window=m, scale_quantile=quantile, threshold=threshold,
                        signals=usable).fit(base[usable])
    t, f = det.run(x[det.signals_])
    z = np.where(det.upper_, np.maximum(t.z, 0.0), np.abs(t.z))
    z = np.where(np.isfinite(z), z, -np.inf)
    comps = {}
    for j, col in enumerate(f.columns):
        sig, feat = split_column(col)
        v = np.where(run & np.isfinite(z[:, j]), z[:, j], np.nan)
        comps[f"{sig}:{FEATURE_KINDS.get(feat, feat)}"] = v
    return comps, t.alarm & np.asarray(run, bool)


def _mask_rows(df: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """``df`` with every row where ``keep`` is False set to NaN."""
    return df.where(np.repeat(np.asarray(keep, bool)[:, None], df.shape[1], axis=1))


def _signal_columns(frame: pd.DataFrame, signals, run_signal: str) -> list[str]:
    if signals is not None:
        for s in signals:
            if s not in frame.columns:
                raise UnknownNameError(choices_message("signal", s, frame.columns))
        return list(signals)
    return [c for c in frame.columns if c != run_signal and c not in STATE_SIGNALS
            and pd.api.types.is_numeric_dtype(frame[c]) and frame[c].notna().any()]


def _reference(frame: pd.DataFrame, reference, cols, run_signal) -> pd.DataFrame | None:
    if reference is None:
        return None
    if isinstance(reference, pd.DataFrame):
        missing = [c for c in cols if c not in reference.columns]
        if missing:
            raise UnknownNameError("the reference frame lacks a signal: "
                                   + choices_message("signal", missing[0], reference.columns))
        ref = reference
    else:
        if isinstance(reference, slice):
            sl = reference
        elif isinstance(reference, tuple | list) and len(reference) == 2:
            sl = slice(*reference)
        else:
            raise ArgumentError(f"reference must be (start, end), a slice or a DataFrame, got "
                                f"{reference!r}")
        ref = frame.loc[sl]
    if len(ref) == 0:
        raise ArgumentError(f"the reference period {reference!r} holds no samples")
    out = ref[cols].astype(float)
    if run_signal in ref.columns:
        out = _mask_rows(out, running_mask(ref, run_signal))
        out[run_signal] = ref[run_signal]
    return out


def _severity(score: float, threshold: float) -> str:
    if score >= 3 * threshold:
        return "high"
    if score >= 1.5 * threshold:
        return "medium"
    return "low"


def _events_from(flag, S: pd.DataFrame, frame, x: pd.DataFrame, asset: str, m: int,
                 threshold: float, min_length: int, nbrs: dict, ref_index, ref_frame
                 ) -> pd.DataFrame:
    runs = run_segments(flag, 1)
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] < m:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    rows = []
    mu, sd = _centre_spread(x if ref_frame is None else ref_frame[x.columns])
    for a, b in merged:
        if b - a < min_length:
            continue
        block = S.iloc[a:b]
        peak_row = int(np.nanargmax(block.max(axis=1).to_numpy()))
        score = float(np.nanmax(block.to_numpy()))
        per_sig: dict[str, float] = {}
        for col in block.columns:
            sig = col.split(":")[0]
            v = float(np.nanmax(block[col].to_numpy())) if block[col].notna().any() else 0.0
            per_sig[sig] = max(per_sig.get(sig, 0.0), v)
        moved = sorted((s for s, v in per_sig.items() if v > threshold and s != "*"),
                       key=lambda s: -per_sig[s])
        if not moved:
            moved = [max(per_sig, key=per_sig.get)]
        # nearest normal motif: the neighbour of the peak window of the top discord
        # signal — outside the event itself (a self-join may match the event's own tail)
        nn_time = None
        motif_sig = next((s for s in moved if s in nbrs), "*" if "*" in nbrs else None)
        if motif_sig is not None:
            nn_time = _nearest_normal(nbrs[motif_sig], a, b, a + peak_row, m, ref_index,
                                      ref_frame is None)
        # how much each signal moved: event mean vs normal, in robust sigmas
        ev_mean = x.iloc[a:b].mean()
        shift = ((ev_mean - mu) / sd).dropna()
        top = shift.reindex(moved).dropna()
        parts = [f"{s} {v:+.1f}σ" for s, v in top.items()]
        start_t, end_t = frame.index[a], frame.index[b - 1]
        kinds = sorted({c.split(":")[1] for c in block.columns
                        if block[c].max() > threshold and c.split(":")[0] in moved})
        text = (f"{', '.join(moved)} abnormal ({' and '.join(kinds) or 'score'}); "
                f"moved most: {', '.join(parts) if parts else 'shape only'}")
        if nn_time is not None:
            text += f"; nearest normal motif at {pd.Timestamp(nn_time).isoformat()}"
        rows.append({"asset": asset, "start": start_t, "end": end_t,
                     "signals": ",".join(moved), "score": round(score, 3),
                     "severity": _severity(score, threshold), "explanation": text,
                     "nearest_normal": nn_time})
    if not rows:
        return empty_events()
    ev = pd.DataFrame(rows)
    ev.insert(0, "event_id", [_event_id(r) for r in rows])
    return _normalise_events(ev)


def _nearest_normal(nb: np.ndarray, a: int, b: int, peak: int, m: int, ref_index,
                    self_join: bool):
    """Time of the nearest neighbour of the peak window, or of the event window closest to
    the peak whose neighbour lies outside the event (self-join); None if there is none."""
    lo, hi = max(a - m // 2, 0), min(max(b - m // 2, a - m // 2 + 1), len(nb))
    order = sorted(range(lo, hi), key=lambda i: abs(i - (peak - m // 2)))
    for i in order:
        j = int(nb[i])
        if j < 0:
            continue
        if self_join and a - m <= j < b:
            continue
        return ref_index[j]
    return None


def _event_id(row: Mapping) -> str:
    import hashlib

    key = f"{row['asset']}|{pd.Timestamp(row['start']).isoformat()}|{row['signals']}"
    return "OUT-" + hashlib.sha1(key.encode()).hexdigest()[:10]


def empty_events() -> pd.DataFrame:
    """An events table with no rows and the right columns."""
    return _normalise_events(pd.DataFrame({c: [] for c in EVENT_COLUMNS}))


def _normalise_events(ev: pd.DataFrame) -> pd.DataFrame:
    ev = ev.reindex(columns=EVENT_COLUMNS)
    for c in ("start", "end", "nearest_normal"):
        t = pd.to_datetime(ev[c])
        if getattr(t.dt, "tz", None) is None:
            t = t.dt.tz_localize("UTC")
        ev[c] = t
    ev["score"] = ev["score"].astype(float)
    for c in ("event_id", "asset", "signals", "severity", "explanation"):
        ev[c] = ev[c].astype(object)
    return ev.sort_values(["start", "asset"], kind="stable").reset_index(drop=True)
