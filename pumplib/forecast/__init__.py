"""Forecasts of station energy, cost, flow and demand: baselines, models, back-tests, storage.

Rooms (one idea each):

==============  ==========================================================
``levels``      levels, declared seasons (``forecast.seasons``), fit window
``frames``      the target as a wide table from the lake, gap policy, covariates
``baselines``   seasonal naive, median of the last k seasons, MSTL (numpy)
``models``      the model names, local forecasts, Darts adapters
``gbm``         the global LightGBM on the change against one season ago
``intervals``   split-conformal intervals per series and horizon block
``backtest``    the rolling engine: :func:`backtest`, :func:`forecast`
``store``       ``forecasts/<level>`` in the lake, with lineage
``table``       :func:`forecast_frame`: a plain table in, a table out
==============  ==========================================================

Seasons are declared per target (``season=24`` or ``season=[24, 168]``) or
come from the settings by level (1h → [24, 168], 1D → [7], 15min → [96, 672]).
The seasonal naive (``naive``, the weekly naive for hourly data), the median
of the last 4 seasons (``median4w``) and the MASE scale use the longest.
Darts, LightGBM, statsmodels and torch are imported inside the functions.

Examples
--------
>>> import numpy as np, pandas as pd
>>> t = pd.date_range("2026-03-09", periods=10, freq="h", tz="UTC")
>>> frame = pd.DataFrame({"P1": [1.0, 2, np.nan, 4, 5, 6, np.nan, np.nan, np.nan, np.nan]},
...                      index=t)
>>> parts = fill_gaps(frame, "1h", max_gap=1, min_length=3)
>>> [(p.name, len(p.values), int(p.filled.sum())) for p in parts]
[('P1', 6, 1)]
"""

from __future__ import annotations

from .backtest import BacktestResult, backtest, forecast
from .frames import (
                     DEFAULT_PAST,
                     GOLDEN_TARGETS,
                     RAW_TARGETS,
                     Panel,
                     Segment,
                     calendar_covariates,
                     fill_gaps,
                     panel,
                     past_covariate_frames,
                     target_frame,
)
from .levels import LEVELS, seasons
from .models import BASELINES, DEFAULT_QUANTILES, GLOBAL_MODELS, MODELS, make_model
from .store import ForecastResult, forecast_lake, forecast_log, open_forecasts
from .table import forecast_frame, read_table

__all__ = ["BASELINES", "DEFAULT_PAST", "DEFAULT_QUANTILES", "GLOBAL_MODELS",
           "GOLDEN_TARGETS", "LEVELS", "MODELS", "RAW_TARGETS", "BacktestResult",
           "ForecastResult", "Panel", "Segment", "backtest", "calendar_covariates",
           "fill_gaps", "forecast", "forecast_frame", "forecast_lake", "forecast_log",
           "make_model", "open_forecasts", "panel", "past_covariate_frames", "read_table",
           "seasons", "target_frame"]
