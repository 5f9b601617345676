"""Models: which exist, the Darts adapters (lazy imports) and one local forecast step.

``naive`` (seasonal naive with the longest declared season: the weekly naive
for hourly data), ``median4w`` (median of the last ``forecast.median_k``
seasons at the same position), ``mstl`` (statsmodels MSTL on the recent
window), ``theta`` and ``ets`` (Darts Theta and Holt-Winters, additive
season = the longest declared season, fitted on the recent window
``forecast.fit_window``) are *local*: one series, refitted at each origin.
``gbm`` (:mod:`pumplib.forecast.gbm`), ``lightgbm`` (Darts, quantile
regression) and ``nlinear`` (Darts on torch, CPU) are *global*: one model for
all series. Darts, LightGBM, statsmodels and torch are imported inside the
functions.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from .baselines import mstl_forecast, seasonal_median, seasonal_naive
from .frames import Segment, _extend_index, calendar_covariates
from .levels import _check_choice, _level, seasons

MODELS = ("naive", "median4w", "mstl", "theta", "ets", "gbm", "lightgbm", "nlinear")
#: the baselines every back-test scores the models against
BASELINES = ("naive", "median4w")
#: models fitted on many series at once
GLOBAL_MODELS = ("gbm", "lightgbm", "nlinear")
#: global models from Darts (segments, Darts series)
DARTS_GLOBAL = ("lightgbm", "nlinear")
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)


def local_forecast(name: str, history: np.ndarray, horizon: int, season: Sequence[int],
                   *, k: int = 4, params: dict | None = None) -> np.ndarray:
    """One forecast of a local model from the history before the origin.

    Parameters
    ----------
    name : {"naive", "median4w", "mstl", "theta", "ets"}
    history : ndarray
        Values before the origin, oldest first, no missing values (the fit window).
    horizon : int
    season : sequence of int
        Declared seasons (the longest is used by naive, median4w, theta, ets).
    k : int
        Seasons in the median (``median4w``).

    Returns
    -------
    ndarray
        ``horizon`` values; NaN where the history is too short for the model.
    """
    m = max(season)
    if name == "naive":
        return seasonal_naive(history, horizon, m)
    if name == "median4w":
        return seasonal_median(history, horizon, m, k)
    if name == "mstl":
        return mstl_forecast(history, horizon, season)
    if name in ("theta", "ets"):
        if len(history) < 2 * m + 2:
            return np.full(horizon, np.nan)
        from darts import TimeSeries

        ts = TimeSeries.from_values(np.asarray(history, dtype=np.float64))
        mdl = make_model(name, "1h", season=[m], **(params or {}))
        with _quiet():
            mdl.fit(ts)
            return mdl.predict(horizon).values(copy=False)[:, 0].astype(float)
    raise ValueError(f"{name!r} is not a local model")


def make_model(name: str, level: str, *, horizon: int | None = None,
               quantiles: Sequence[float] = DEFAULT_QUANTILES, past: bool = False,
               future: bool = True, random_state: int = 0, season=None, **params):
    """A configured Darts model for ``level``.

    Parameters
    ----------
    name : {"naive", "theta", "ets", "lightgbm", "nlinear"}
        The Darts models (the others are not Darts models).
    level : str
    season : int or list of int, optional
        Declared seasons (default by level); theta, ets and the naive use the
        longest, LightGBM lags 1–3 and one and two of each season.
    horizon : int, optional
        Output chunk of global models (default the level's horizon).
    quantiles : sequence of float
        Quantiles of LightGBM's quantile regression (include 0.5).
    past, future : bool
        Whether past / future covariates will be given (LightGBM).
    **params
        Override model arguments (e.g. ``n_estimators=200``).
    """
    _check_choice("Darts model", name, ("naive", "theta", "ets", "lightgbm", "nlinear"))
    spec = _level(level)
    ss = seasons(level, season)
    m, h = max(ss), int(horizon or spec["horizon"])
    from darts.models import ExponentialSmoothing, NaiveSeasonal, Theta

    if name == "naive":
        return NaiveSeasonal(K=m)
    if name == "theta":
        from darts.utils.utils import SeasonalityMode

        return Theta(seasonality_period=m, season_mode=SeasonalityMode.ADDITIVE, **params)
    if name == "ets":
        from darts.utils.utils import ModelMode, SeasonalityMode

        return ExponentialSmoothing(trend=ModelMode.NONE, seasonal=SeasonalityMode.ADDITIVE,
                                    seasonal_periods=m, **params)
    if name == "lightgbm":
        from darts.models import LightGBMModel

        qs = sorted({float(q) for q in quantiles} | {0.5})
        daily = level == "1D"   # short histories: fewer lags, smaller leaves
        lags = sorted({-k for k in ((1, 2, m) if daily else
                                    (1, 2, 3, *ss, *(2 * s for s in ss)))})
        kw = dict(lags=lags, output_chunk_length=h, multi_models=False,
                  likelihood="quantile", quantiles=qs, random_state=random_state,
                  n_estimators=150, learning_rate=0.05, num_leaves=7 if daily else 15,
                  min_child_samples=3 if daily else 10, verbose=-1,
                  # one thread: these fits are small, and OpenMP spinning on a busy
                  # machine made them 10–60× slower (see benchmarks/RESULTS.md)
                  num_threads=1)
        if past:
            kw["lags_past_covariates"] = [-1, -m]
        kw.update(params)
        if future:
            # one model for every step: Darts shifts all lags back by
            # ``output_chunk_length - 1 - step``, so lag ``h - 1`` is the step's own period
            kw.setdefault("lags_future_covariates", [0] if kw["multi_models"] else [h - 1])
        return LightGBMModel(**kw)
    from darts.models import NLinearModel  # torch: only when asked for

    kw = dict(input_chunk_length=2 * min(ss), output_chunk_length=h, n_epochs=20, batch_size=64,
              random_state=random_state, const_init=True,
              pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False,
                                 "enable_model_summary": False, "logger": False,
                                 "enable_checkpointing": False})
    kw.update(params)
    return NLinearModel(**kw)


def _quiet():
    """Silence the chatty warnings of statsmodels/lightgbm/darts inside a fit."""
    import contextlib
    import logging

    @contextlib.contextmanager
    def cm():
        loggers = [logging.getLogger(n) for n in ("darts", "lightning", "pytorch_lightning",
                                                  "lightning.pytorch", "lightgbm")]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            for lg, lv in zip(loggers, levels, strict=True):
                lg.setLevel(lv)
    return cm()



# -- Darts global models --------------------------------------------------------------------
@dataclass
class _Inputs:
    """Darts series of segments with their covariates."""

    segments: list[Segment]
    series: list
    past: list | None
    future: list | None


def _inputs(segments: list[Segment], level: str, horizon: int, registry=None,
            past_frames: dict[str, pd.DataFrame] | None = None, future: bool = True,
            timezone: str | None = None) -> _Inputs:
    from darts import TimeSeries

    series, pasts, futures = [], [], []
    for seg in segments:
        series.append(seg.to_series())
        if future:
            idx = _extend_index(seg.index, level, horizon)
            cov = calendar_covariates(idx, level, registry=registry, station=seg.name,
                                      timezone=timezone)
            futures.append(TimeSeries.from_dataframe(cov.set_axis(idx), freq=idx.freq))
        if past_frames:
            pf = past_frames.get(seg.name)
            if pf is None:
                pf = pd.DataFrame({"none": 0.0}, index=seg.index)
            if pf.index.tz is not None:
                pf = pf.set_axis(pf.index.tz_convert("UTC").tz_localize(None))
            pf = pf.reindex(seg.index).interpolate(method="time", limit_direction="both")
            pasts.append(TimeSeries.from_dataframe(pf.fillna(0.0), freq=seg.index.freq))
    return _Inputs(segments, series, pasts or None, futures or None)


def _fit_global(model, name: str, train: _Inputs) -> None:
    """Fit a global model on the training segments long enough for its lags."""
    need = model.min_train_series_length
    keep = [i for i, ts in enumerate(train.series) if len(ts) >= need]
    if not keep:
        raise ArgumentError(f"no training segment has the {need} periods {name} needs; "
                            "give more history or a shorter test span")
    kw = {}
    if name == "lightgbm":
        kw = {"past_covariates": [train.past[i] for i in keep] if train.past else None,
              "future_covariates": [train.future[i] for i in keep] if train.future else None}
    with _quiet():
        model.fit([train.series[i] for i in keep], **kw)


def darts_global_forecasts(name: str, frame, level: str, horizon: int, season,
                           origins, fit_end, *, registry=None, past_frames=None,
                           future: bool = True, max_gap=None, min_length=None,
                           quantiles=DEFAULT_QUANTILES, params: dict | None = None) -> dict:
    """{(series name, origin time): point forecast} of a Darts global model.

    Fitted once on the segments before ``fit_end`` (all series together), then
    asked at each origin with what was known there (the segment that holds the
    period before the origin, and its covariates).
    """
    from .frames import fill_gaps

    tz = frame.attrs.get("timezone")
    segs = fill_gaps(frame, level, max_gap=max_gap, min_length=min_length, horizon=horizon,
                     season=season)
    m = max(seasons(level, season))
    train_segs = []
    for s in segs:
        keep = s.index < fit_end
        if keep.sum() >= 2 * m + horizon + 1:
            train_segs.append(Segment(s.name, s.index[keep], s.values[keep], s.filled[keep]))
    use_future = future and name == "lightgbm"
    use_past = past_frames if name == "lightgbm" else None
    inputs = _inputs(segs, level, horizon, registry, use_past, use_future, tz)
    train = _inputs(train_segs, level, horizon, registry, use_past, use_future, tz)
    model = make_model(name, level, horizon=horizon, quantiles=quantiles,
                       past=inputs.past is not None, future=inputs.future is not None,
                       season=season, **(params or {}))
    _fit_global(model, name, train)
    need = max(model.min_train_series_length, 2 * m)
    out = {}
    for origin in origins:
        picks = [i for i, s in enumerate(segs)
                 if s.index[0] + need * s.index.freq <= origin <= s.index[-1] + s.index.freq]
        if not picks:
            continue
        kw = {}
        if name == "lightgbm":
            kw = dict(past_covariates=[inputs.past[i] for i in picks] if inputs.past else None,
                      future_covariates=[inputs.future[i] for i in picks] if inputs.future
                      else None, predict_likelihood_parameters=True)
        with _quiet():
            preds = model.predict(horizon, series=[
                inputs.series[i].drop_after(origin) if origin <= segs[i].index[-1]
                else inputs.series[i] for i in picks], **kw)
        for i, fc in zip(picks, preds, strict=True):
            vals = fc.values(copy=False)
            point = vals[:, vals.shape[1] // 2] if vals.shape[1] > 1 else vals[:, 0]
            out[(segs[i].name, pd.Timestamp(origin))] = np.asarray(point, dtype=float)
    return out
