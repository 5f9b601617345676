"""Rolling back-tests and forecasts: every model from the same origins, scored per series.

One engine serves :func:`backtest` and :func:`forecast`: a model is asked for
``horizon`` periods at forecast *origins* (positions of the series' grid)
with only what was known there. Local models are refitted at each origin on
the recent window ``forecast.fit_window``; global models are fitted once on
everything before the first origin. Twice ``forecast.calibration`` origins
before the test span are forecast too: the residuals of the last
``forecast.calibration`` forecasts that have ended (test origins included)
calibrate each series' interval, and the misses of the intervals before an
origin adapt its width (:mod:`pumplib.forecast.intervals`: normalised,
adaptive split conformal).

Metrics
-------
``mae``; ``mase``: MAE over the in-sample MAE of the seasonal naive with the
longest declared season on the part before the test span (Hyndman &
Koehler); ``rel_mae``: MAE over the weekly (seasonal) naive's MAE on exactly
the same points, ``rel_mae_median4w`` the same against the median of the last
k seasons (below 1 beats the baseline); ``smape`` in percent; ``coverage``:
share of actuals inside the interval. Pooled figures sum the absolute errors
of all series; ``coverage_min``/``coverage_max`` are the extremes over series.
"""

from __future__ import annotations

import time as _time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from .frames import Panel, panel
from .intervals import ACI_GAIN, block_size, conformal_intervals
from .levels import _check_choice, _level, _step, calibration_origins, fit_window, seasons
from .models import (
    BASELINES,
    DARTS_GLOBAL,
    DEFAULT_QUANTILES,
    MODELS,
    darts_global_forecasts,
    local_forecast,
)


@dataclass
class BacktestResult:
    """What a back-test found.

    Attributes
    ----------
    metrics : pandas.DataFrame
        One row per ``(series, model)``: ``mae, mase, rel_mae,
        rel_mae_median4w, smape, coverage, points, forecasts``.
    pooled : pandas.DataFrame
        One row per model: the same over all series, plus ``coverage_min``,
        ``coverage_max``, ``series`` and ``seconds``.
    forecasts : pandas.DataFrame
        Long table of the scored forecasts: ``series, origin, time, step,
        model, actual, observed, mean, q<lo>, q<hi>``.

    The result reads like its pooled table too (``result.loc["naive", "mae"]``).
    """

    metrics: pd.DataFrame
    pooled: pd.DataFrame
    forecasts: pd.DataFrame

    def __getattr__(self, name):
        if name.startswith("_") or name in ("metrics", "pooled", "forecasts"):
            raise AttributeError(name)
        return getattr(self.pooled, name)

    def __getitem__(self, key):
        return self.pooled[key]


@dataclass
class _Context:
    level: str
    season: list[int]
    horizon: int
    frame: pd.DataFrame
    registry: object = None
    past_frames: dict | None = None
    future: bool = True
    covariates: pd.DataFrame | None = None
    holidays: object = None
    max_gap: int | None = None
    min_length: int | None = None
    quantiles: Sequence[float] = DEFAULT_QUANTILES
    params: dict | None = None
    median_k: int = 4


def _eligible(p: Panel, j: int, pos: int, need: int) -> bool:
    first = np.flatnonzero(~np.isnan(p.y[:, j]))
    return len(first) > 0 and first[0] + need <= pos and not np.isnan(p.y[pos - 1, j])


def _run_model(name: str, p: Panel, positions: list[int], fit_end: int,
               ctx: _Context) -> dict:
    """{(series j, origin position): forecast (horizon,)} of one model."""
    h, ss = ctx.horizon, ctx.season
    m = max(ss)
    need = 2 * m
    out = {}
    if name in ("gbm",):
        from .gbm import gbm_forecasts

        return gbm_forecasts(p, positions, fit_end, h, ss, ctx.level,
                             timezone=ctx.frame.attrs.get("timezone"), registry=ctx.registry,
                             covariates=ctx.covariates, holidays=ctx.holidays,
                             params=(ctx.params or {}).get(name))
    if name in DARTS_GLOBAL:
        origins = [p.index[q] for q in positions]
        rows = np.flatnonzero(~np.isnan(p.y).all(axis=1))
        filled = pd.DataFrame(p.y[:rows[-1] + 1], index=p.index[:rows[-1] + 1],
                              columns=p.names)     # short gaps (and a short end) filled
        filled.attrs.update(ctx.frame.attrs)
        res = darts_global_forecasts(
            name, filled, ctx.level, h, ss, origins, p.index[fit_end],
            registry=ctx.registry, past_frames=ctx.past_frames, future=ctx.future,
            max_gap=ctx.max_gap, min_length=ctx.min_length, quantiles=ctx.quantiles,
            params=(ctx.params or {}).get(name))
        col = {n: j for j, n in enumerate(p.names)}
        pos = {t: q for q, t in zip(positions, origins, strict=True)}
        return {(col[n], pos[t]): v for (n, t), v in res.items()}
    window = fit_window(ctx.level, ss)
    for j in range(len(p.names)):
        for q in positions:
            if not _eligible(p, j, q, need):
                continue
            hist = p.y[max(0, q - window):q, j]
            gaps = np.flatnonzero(np.isnan(hist))
            if len(gaps):
                hist = hist[gaps[-1] + 1:]
            if name not in ("naive", "median4w") and len(hist) < 2 * m:
                continue
            fc = local_forecast(name, hist, h, ss, k=ctx.median_k,
                                params=(ctx.params or {}).get(name))
            if np.isfinite(fc).all():
                out[(j, q)] = fc
    return out


def _setup(frame, level, models, season, horizon, quantiles):
    level = level or frame.attrs.get("level")
    spec = _level(level)
    models = list(models)
    for name in models:
        _check_choice("model", name, MODELS)
    ss = seasons(level, season)
    h = int(horizon or spec["horizon"])
    if h < 1:
        raise ArgumentError(f"horizon must be ≥ 1, got {h}")
    qs = sorted({float(q) for q in quantiles})
    if not qs or not 0 < qs[0] < 0.5 < qs[-1] < 1:
        raise ArgumentError(f"quantiles need one below and one above 0.5 in (0, 1), got "
                            f"{list(quantiles)}")
    return level, ss, h, qs


def _qname(q: float) -> str:
    return f"q{round(q * 100):02d}"


def backtest(frame: pd.DataFrame, level: str | None = None,
             models: Sequence[str] = ("theta", "lightgbm"), *, season=None,
             registry=None, horizon: int | None = None, test_periods: int | None = None,
             stride: int | None = None, quantiles: Sequence[float] = DEFAULT_QUANTILES,
             past_frames: dict[str, pd.DataFrame] | None = None, future: bool = True,
             covariates: pd.DataFrame | None = None, holidays=None,
             max_gap: int | None = None, min_length: int | None = None,
             model_params: dict | None = None, calibration: int | None = None
             ) -> BacktestResult:
    """Back-test models on the last ``test_periods`` of every series.

    Parameters
    ----------
    frame : pandas.DataFrame
        One column per series on a regular time index (:func:`target_frame`,
        :func:`forecast_frame`'s table); gaps allowed.
    level : str, optional
        Default ``frame.attrs["level"]``.
    models : sequence of str
        Of :data:`MODELS`; the baselines ``naive`` (weekly naive for hourly
        data) and ``median4w`` always run.
    season : int or list of int, optional
        Declared seasons (default ``forecast.seasons`` of the level).
    horizon, stride : int, optional
        Forecast length and step between origins (default: the level's
        horizon; stride = horizon below a day, 1 at 1D).
    test_periods : int, optional
        Length of the test span (default 7 days of periods at 15min and 1h,
        4 horizons at 1D).
    quantiles : sequence of float
        The outer two are the interval's residual quantiles (0.1, 0.9: 80 %).
    past_frames : dict, optional
        Series name → past covariates (Darts LightGBM).
    future : bool
        Calendar/holiday/tariff covariates for the global models.
    covariates : pandas.DataFrame, optional
        Future-known covariates (weather) on the frame's time index, known
        for the forecast periods too (``gbm``).
    holidays : str or collection of dates, optional
        A country code of the ``holidays`` package (``"IT"``) or dates: off-days.
    model_params : dict, optional
        Model name → extra arguments.
    calibration : int, optional
        Earlier origins that calibrate intervals (default ``forecast.calibration``).

    Returns
    -------
    BacktestResult
    """
    from .. import config

    level, ss, h, qs = _setup(frame, level, models, season, horizon, quantiles)
    stride = int(stride or (1 if level == "1D" else h))
    n_test = int(test_periods or (4 * h if level == "1D"
                                  else 7 * int(pd.Timedelta("1D") / _step(level))))
    p = panel(frame, level, max_gap=max_gap)
    n = len(p.index)
    if n_test >= n:
        raise ArgumentError(f"test_periods={n_test} leaves no training data in {n} periods")
    n_cal = int(calibration or calibration_origins())
    s0 = n - n_test
    test = list(range(s0, n - h + 1, stride))
    cal = [s0 - stride * c for c in range(2 * n_cal, 0, -1) if s0 - stride * c > 2 * max(ss)]
    if not test:
        raise ArgumentError(f"test_periods={n_test} is shorter than the horizon {h}")
    ctx = _Context(level, ss, h, frame, registry, past_frames, future, covariates, holidays,
                   max_gap, min_length, qs, model_params,
                   int(config.get("forecast.median_k")))
    order = list(BASELINES) + [m for m in dict.fromkeys(models) if m not in BASELINES]
    results, seconds = {}, {}
    for name in order:
        t0 = _time.perf_counter()
        # Darts global models learn from everything before the test span (their
        # residuals at calibration origins before it are in-sample)
        fit_end = s0 if name in DARTS_GLOBAL else (cal + test)[0]
        results[name] = _run_model(name, p, cal + test, fit_end, ctx)
        seconds[name] = _time.perf_counter() - t0
    keys = set.intersection(*(set(k for k in r if k[1] >= s0) for r in results.values()))
    if not keys:
        raise ArgumentError("no series has a forecast origin in the test span that every "
                            "model could forecast; give more history or fewer models")
    bands = {name: conformal_intervals(results[name], p.y, p.observed, h, n_cal, qs[0],
                                       qs[-1], targets=keys, scale=max(ss), gain=ACI_GAIN,
                                       finite=True, block=block_size(h, n_cal))
             for name in order}
    metrics, pooled, fcs = _score(p, results, bands, keys, order, s0, ss, h, qs)
    pooled["seconds"] = [round(seconds[m], 3) for m in pooled.index]
    info = dict(level=level, horizon=h, stride=stride, test_start=str(p.index[s0]),
                season=ss, target=frame.attrs.get("target"), quantiles=qs,
                calibration=n_cal)
    for df in (metrics, pooled, fcs):
        df.attrs.update(info)
    return BacktestResult(metrics, pooled, fcs)


def _score(p: Panel, results, bands, keys, order, s0, ss, h, qs):
    m = max(ss)
    keys = sorted(keys, key=lambda k: (k[0], k[1]))
    scales = {}
    for j in {k[0] for k in keys}:
        y, ob = p.y[:s0, j], p.observed[:s0, j]
        d = np.abs(y[m:] - y[:-m])
        ok = ob[m:] & ob[:-m]
        scales[j] = float(d[ok].mean()) if ok.any() else np.nan
    rows, frames = [], []
    acc = {}
    for name in order:
        for j, q in keys:
            rows_ = np.arange(q, q + h)
            ok = p.observed[rows_, j]
            y = p.y[rows_, j]
            pt = results[name][(j, q)]
            lo, hi = bands[name][(j, q)]
            a = acc.setdefault((j, name), {"e": [], "sm": [], "in": [], "n": 0})
            e = np.abs(y - pt)[ok]
            a["e"].append(e)
            den = np.abs(y) + np.abs(pt)
            with np.errstate(invalid="ignore", divide="ignore"):
                a["sm"].append(np.where(den[ok] > 0, 200.0 * e / den[ok], 0.0))
            band = ok & np.isfinite(lo) & np.isfinite(hi)
            a["in"].append(((y >= lo) & (y <= hi))[band])
            a["n"] += 1
            frames.append(pd.DataFrame({
                "series": p.names[j], "origin": p.index[q], "time": p.index[rows_],
                "step": np.arange(1, h + 1), "model": name, "actual": y, "observed": ok,
                "mean": pt, _qname(qs[0]): lo, _qname(qs[-1]): hi}))
    cat = {k: {"e": np.concatenate(a["e"]), "sm": np.concatenate(a["sm"]),
               "in": np.concatenate(a["in"]), "n": a["n"]} for k, a in acc.items()}
    for (j, name), a in cat.items():
        base = cat[(j, "naive")]["e"].sum()
        med = cat[(j, "median4w")]["e"].sum()
        rows.append({"series": p.names[j], "model": name,
                     "mae": a["e"].mean() if len(a["e"]) else np.nan,
                     "mase": a["e"].mean() / scales[j] if scales[j] > 0 else np.nan,
                     "rel_mae": a["e"].sum() / base if base > 0 else np.nan,
                     "rel_mae_median4w": a["e"].sum() / med if med > 0 else np.nan,
                     "smape": a["sm"].mean() if len(a["sm"]) else np.nan,
                     "coverage": a["in"].mean() if len(a["in"]) else np.nan,
                     "points": len(a["e"]), "forecasts": a["n"]})
    metrics = pd.DataFrame(rows).set_index(["series", "model"]).sort_index()
    pooled_rows = []
    for name in order:
        parts = [cat[(j, name)] for j in sorted({k[0] for k in keys})]
        e = np.concatenate([c["e"] for c in parts])
        nb = np.concatenate([cat[(j, "naive")]["e"] for j in sorted({k[0] for k in keys})])
        md = np.concatenate([cat[(j, "median4w")]["e"] for j in sorted({k[0] for k in keys})])
        inside = np.concatenate([c["in"] for c in parts])
        per = metrics.xs(name, level="model")
        pooled_rows.append({
            "model": name, "mase": per["mase"].mean(),
            "rel_mae": e.sum() / nb.sum() if nb.sum() > 0 else np.nan,
            "rel_mae_median4w": e.sum() / md.sum() if md.sum() > 0 else np.nan,
            "smape": np.concatenate([c["sm"] for c in parts]).mean(),
            "coverage": inside.mean() if len(inside) else np.nan,
            "coverage_min": per["coverage"].min(), "coverage_max": per["coverage"].max(),
            "mae": e.mean() if len(e) else np.nan, "points": len(e),
            "forecasts": sum(c["n"] for c in parts), "series": len(parts)})
    pooled = pd.DataFrame(pooled_rows).set_index("model")
    return metrics, pooled, pd.concat(frames, ignore_index=True)


def forecast(frame: pd.DataFrame, level: str | None = None, model: str = "lightgbm", *,
             season=None, registry=None, horizon: int | None = None,
             quantiles: Sequence[float] = DEFAULT_QUANTILES,
             past_frames: dict[str, pd.DataFrame] | None = None, future: bool = True,
             covariates: pd.DataFrame | None = None, holidays=None,
             max_gap: int | None = None, min_length: int | None = None,
             params: dict | None = None, calibration: int | None = None) -> pd.DataFrame:
    """Forecast ``horizon`` periods after the end of the frame, with calibrated intervals.

    The model also forecasts from ``2 × calibration`` origins one horizon
    apart before the end (global models fitted on what precedes them, then
    refitted on everything); the residuals of the last ``calibration`` give
    each series' interval, the misses of the earlier intervals adapt its
    width (:mod:`pumplib.forecast.intervals`).

    Returns
    -------
    pandas.DataFrame
        Long table ``series, time, mean, q<lo>, q<hi>``; series that cannot be
        forecast (too little recent history) are listed in ``attrs["skipped"]``.
    """
    level, ss, h, qs = _setup(frame, level or frame.attrs.get("level"), [model], season,
                              horizon, quantiles)
    from .. import config

    last = frame.notna().any(axis=1).to_numpy().nonzero()[0]
    if len(last):   # periods missing in every series at the end are forecast too
        frame = frame.iloc[:last[-1] + 1]
    p = panel(frame, level, max_gap=max_gap)
    n = len(p.index)
    ext = pd.date_range(p.index[0], periods=n + h, freq=p.index.freq)
    nan = np.full((h, len(p.names)), np.nan)
    p = Panel(pd.DatetimeIndex(ext, freq=p.index.freq), p.names, np.vstack([p.y, nan]),
              np.vstack([p.observed, np.zeros_like(nan, dtype=bool)]))
    n_cal = int(calibration or calibration_origins())
    cal = [n - h * c for c in range(2 * n_cal, 0, -1) if n - h * c > 2 * max(ss)]
    ctx = _Context(level, ss, h, frame, registry, past_frames, future, covariates, holidays,
                   max_gap, min_length, qs, {model: params} if params else None,
                   int(config.get("forecast.median_k")))
    points = {}
    if cal:
        try:
            points = _run_model(model, p, cal, cal[0], ctx)
        except ArgumentError:   # too little history before the calibration origins
            points = _run_model(model, p, cal, n, ctx)
    points.update(_run_model(model, p, [n], n, ctx))
    targets = [k for k in points if k[1] == n]
    bands = conformal_intervals(points, p.y, p.observed, h, n_cal, qs[0], qs[-1],
                                targets=targets, scale=max(ss), gain=ACI_GAIN,
                                finite=True, block=block_size(h, n_cal))
    rows = []
    times = p.index[n:n + h]
    for j, _ in sorted(targets):
        lo, hi = bands[(j, n)]
        rows.append(pd.DataFrame({"series": p.names[j], "time": times,
                                  "mean": points[(j, n)], _qname(qs[0]): lo,
                                  _qname(qs[-1]): hi}))
    if not rows:
        raise ArgumentError(f"no series has the recent history {model} needs to forecast "
                            f"(at least {2 * max(ss)} periods before the end)")
    out = pd.concat(rows, ignore_index=True)
    out.attrs.update(frame.attrs, model=model, horizon=h, quantiles=qs, season=ss,
                     skipped=sorted(set(p.names) - {p.names[j] for j, _ in targets}))
    return out
