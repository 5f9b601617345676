"""A plain table in, a forecast table out: no lake, no registry.

``HISTORY.csv`` has a ``time`` column (ISO 8601 with a UTC offset, e.g.
``2022-07-24T23:00:00+02:00``) and one numeric column per series; empty
cells are gaps. ``COV.csv`` has a ``time`` column covering the history and the
horizon, and numeric columns (weather known for the forecast period). The
result has ``time`` and, per series, the point forecast ``<series>`` and the
80 % interval ``<series>_q10``, ``<series>_q90``.

The model of each series is chosen by a rolling back-test on its history
(the lowest MAE among the candidates), without the user naming one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ArgumentError, SchemaError
from .levels import LEVELS

#: models tried by :func:`forecast_frame` (the baselines always run)
CANDIDATES = ("mstl", "gbm")
_STEPS = {"15min": pd.Timedelta("15min"), "1h": pd.Timedelta("1h"), "1D": pd.Timedelta("1D")}


def read_table(source, what: str = "history") -> pd.DataFrame:
    """A ``time`` + numeric columns table (CSV path or DataFrame) on its regular grid.

    Returns
    -------
    pandas.DataFrame
        UTC index (15min, 1h) or local dates (1D); ``attrs``: ``level``,
        ``timezone`` (the fixed offset of the last row), ``source``.

    Raises
    ------
    SchemaError
        One line naming the file, the column or line and what was expected.
    """
    name = str(source) if not isinstance(source, pd.DataFrame) else f"the {what} table"
    if isinstance(source, pd.DataFrame):
        df = source.copy()
        if "time" not in df.columns and df.index.name == "time":
            df = df.reset_index()
    else:
        path = Path(source)
        if not path.is_file():
            raise ArgumentError(f"{name}: no such file")
        try:
            df = pd.read_csv(path, dtype={"time": str})
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise SchemaError(f"{name}: not a readable CSV table ({exc})") from None
    if "time" not in df.columns:
        raise SchemaError(f"{name}: no 'time' column (columns: {list(df.columns)[:8]})")
    text = df["time"].astype(str)
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = parsed.isna() | ~text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(f"{name}, line {i + 2}, column 'time': {text.iloc[i]!r} is not an "
                          "ISO 8601 time with a UTC offset (e.g. 2022-07-24T23:00:00+02:00)")
    values = df.drop(columns="time")
    if values.shape[1] == 0:
        raise SchemaError(f"{name}: no series column beside 'time'")
    for col in values.columns:
        num = pd.to_numeric(values[col], errors="coerce")
        wrong = num.isna() & values[col].notna()
        if wrong.any():
            i = int(np.flatnonzero(wrong.to_numpy())[0])
            raise SchemaError(f"{name}, line {i + 2}, column {col!r}: {values[col].iloc[i]!r} "
                              "is not a number")
        values[col] = num.astype(float)
    if parsed.duplicated().any():
        i = int(np.flatnonzero(parsed.duplicated().to_numpy())[0])
        raise SchemaError(f"{name}, line {i + 2}, column 'time': {text.iloc[i]!r} repeats an "
                          "earlier time")
    idx = pd.DatetimeIndex(parsed)
    order = np.argsort(idx.asi8)
    idx, values = idx[order], values.iloc[order]
    if len(idx) < 3:
        raise SchemaError(f"{name}: {len(idx)} rows; a history needs many periods")
    step = pd.Series(idx[1:] - idx[:-1]).min()
    level = next((lv for lv, s in _STEPS.items() if s == step), None)
    if level is None and pd.Timedelta("23h") <= step <= pd.Timedelta("25h"):
        level = "1D"
    if level is None:
        raise SchemaError(f"{name}, column 'time': the step {step} is none of the levels "
                          f"{list(LEVELS)} (15min, 1h, 1D)")
    offset = text.iloc[order[-1]][-6:] if text.iloc[order[-1]][-1] != "Z" else "+00:00"
    if level == "1D":
        local = pd.DatetimeIndex([pd.Timestamp(t[:10]) for t in text.iloc[order]])
        idx = local
    out = pd.DataFrame(values.to_numpy(), index=idx, columns=[str(c) for c in values.columns])
    out.index.name = "time"
    out = out.asfreq(LEVELS[level]["freq"])
    out.attrs.update(level=level, timezone="UTC" if level != "1D" else None,
                     offset=offset, source=name)
    return out


def forecast_frame(history, horizon: int, covariates=None, holidays=None, *,
                   season=None, candidates: Sequence[str] = CANDIDATES,
                   test_periods: int | None = None) -> pd.DataFrame:
    """Forecast every series of a plain table; the model of each chosen by back-test.

    Parameters
    ----------
    history : str, Path or pandas.DataFrame
        ``time`` (ISO 8601 with offset) and one column per series; gaps allowed.
    horizon : int
        Periods to forecast after the last row.
    covariates : str, Path or pandas.DataFrame, optional
        ``time`` and numeric columns covering the history and the horizon.
    holidays : str or collection of dates, optional
        Country code of the ``holidays`` package (``"IT"``) or dates.
    season : int or list of int, optional
        Declared seasons (default by the level the time step shows).
    candidates : sequence of str
        Models tried besides the baselines ``naive`` and ``median4w``.
    test_periods : int, optional
        Back-test span (default four horizons, at least four of the longest seasons).

    Returns
    -------
    pandas.DataFrame
        ``time`` (tz-aware UTC; dates at 1D), then per series ``<s>``,
        ``<s>_q10``, ``<s>_q90``. ``attrs["models"]`` holds each series' model
        and ``attrs["backtest"]`` the back-test's per-series metrics.
    """
    from .backtest import backtest, forecast
    from .levels import seasons

    hist = read_table(history, "history")
    level = hist.attrs["level"]
    h = int(horizon)
    if h < 1:
        raise ArgumentError(f"horizon must be ≥ 1, got {horizon!r}")
    cov = None
    if covariates is not None:
        cov = read_table(covariates, "covariates")
        end = hist.index[-1] + h * hist.index.freq
        if cov.index[0] > hist.index[0] or cov.index[-1] < end:
            raise SchemaError(f"{cov.attrs['source']}, column 'time': covers {cov.index[0]} to "
                              f"{cov.index[-1]}, the history and horizon need "
                              f"{hist.index[0]} to {end}")
    ss = seasons(level, season)
    n_test = int(test_periods or max(4 * h, 4 * max(ss)))
    n_test = min(n_test, len(hist) - 3 * max(ss))
    if n_test < h:
        raise ArgumentError(f"{hist.attrs['source']}: {len(hist)} periods are too few to "
                            f"back-test a {h}-period forecast with season {max(ss)}")
    res = backtest(hist, level, candidates, season=ss, horizon=h, test_periods=n_test,
                   stride=h, covariates=cov, holidays=holidays, future=False)
    met = res.metrics["mae"].unstack("model")
    choice = met.idxmin(axis=1).to_dict()
    out = None
    for model in sorted(set(choice.values())):
        fc = forecast(hist, level, model, season=ss, horizon=h, covariates=cov,
                      holidays=holidays, future=False)
        fc = fc[fc.series.isin([s for s, m in choice.items() if m == model])]
        wide = fc.pivot(index="time", columns="series")
        cols = {}
        for s in wide.columns.get_level_values(1).unique():
            cols[s] = wide[("mean", s)]
            cols[f"{s}_q10"] = wide[("q10", s)]
            cols[f"{s}_q90"] = wide[("q90", s)]
        part = pd.DataFrame(cols)
        out = part if out is None else out.join(part, how="outer")
    order = [c for s in hist.columns if s in choice for c in (s, f"{s}_q10", f"{s}_q90")]
    out = out[order]
    idx = out.index
    out.index = idx.tz_localize("UTC") if level != "1D" else idx
    out.index.name = "time"
    out = out.reset_index()
    out.attrs.update(models=choice, backtest=res.metrics, level=level,
                     offset=hist.attrs["offset"])
    return out
