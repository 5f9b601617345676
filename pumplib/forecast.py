"""Forecasts of station energy, cost, flow and demand with Darts; back-tests; lake storage.

The path from the lake to a stored forecast::

    frame = target_frame(lake, "energy", "1h", by="station", registry=reg)  # wide table
    parts = fill_gaps(frame, "1h")                # the gap policy (below): complete indexes
    table = backtest(frame, "1h", models=("naive", "theta", "lightgbm"), registry=reg)
    snap = forecast_lake(lake, reg, target="energy", level="1h", model="lightgbm")
    fc = open_forecasts(lake, "1h")               # asset × time, like a golden table

Targets
-------
``energy`` (kWh per period) and ``cost`` (currency per period) are the golden
columns ``energy_integral`` and ``energy_cost_integral``; any other golden
column name works too (summed over a station's pumps). ``flow`` is the mean
pumped flow (m³/h) of the good raw samples; ``demand`` is what leaves the
station: pumped flow minus the change of the tank's stored volume
(tank area × d level / dt), in m³/h. Any raw signal name (``level``, ``flow``
…) with ``by="asset"`` forecasts that signal per asset (e.g. BATADAL tanks).
``by="station"`` sums the pumps of each station (registry needed);
``by="asset"`` keeps one series per asset. Many series are fitted by one
global model (LightGBM) at once.

Levels and seasons
------------------
``15min`` and ``1h`` series are indexed in UTC (a regular grid; the daily
pattern is carried by local-time calendar covariates); ``1D`` series are
indexed by local calendar date of the utility (a DST day is still one day),
labelled in the lake like ``features/1D`` (the UTC instant of local midnight).
Season and default horizon: 96 and 96 (15min), 24 and 24 (1h), 7 and 7 (1D).

Gap policy (Darts needs complete indexes)
-----------------------------------------
1. A golden value whose coverage (share of good raw samples) is below
   ``min_coverage`` (default 0.5) is treated as missing; so is a raw period
   with fewer good samples than that share.
2. Gaps of at most ``max_gap`` periods (default: 4 at 15min, 3 at 1h, 2 at 1D)
   are filled by time interpolation and *marked*: filled points are used as
   model inputs but never scored in back-tests.
3. A longer gap cuts the series into segments; each segment of at least
   ``min_length`` periods (default two seasons + one horizon) is its own
   training series of the global model; shorter ones are dropped. The
   forecast starts after the last segment of each series; a series whose last
   segment is too short is not forecast (reported in the commit metadata).

Models
------
``naive`` (seasonal naive, the baseline), ``theta`` (Darts Theta, additive
season), ``ets`` (Holt-Winters exponential smoothing, additive), ``lightgbm``
(global, quantile regression for ``quantiles``; past covariates: golden
columns such as runtime; future covariates: hour and weekday (local),
weekend-or-holiday from the registry, tariff price from
:meth:`pumplib.assets.Tariff.price`) and ``nlinear`` (Darts NLinear on torch,
CPU). NLinear is not a default: in ``bench_forecast`` it took 50–1500× the time
of LightGBM and beat it in 3 of 10 cases, all daily, by 0.02–0.08 relative MAE
(``benchmarks/RESULTS.md``).
Darts, LightGBM and torch are imported inside the functions.

Metrics
-------
``mase``: mean absolute error of the forecast over the mean absolute error of
the in-sample seasonal naive (lag = season) on the training part, per series,
averaged over series (Hyndman & Koehler). ``rel_mae``: the model's MAE over
the seasonal naive's MAE on exactly the same forecast points (below 1 beats
the baseline). ``smape`` in percent; ``coverage``: share of actuals inside
the outer quantiles.

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

import datetime as dt
import time as _time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from .errors import ArgumentError, LakeError, UnknownNameError, choices_message

#: season (periods) and default horizon per level
LEVELS: dict[str, dict] = {
    "15min": {"season": 96, "horizon": 96, "max_gap": 4, "freq": "15min"},
    "1h": {"season": 24, "horizon": 24, "max_gap": 3, "freq": "h"},
    # a fixed 24 h step on local dates (Darts cannot step pandas' calendar ``Day``)
    "1D": {"season": 7, "horizon": 7, "max_gap": 2, "freq": "24h"},
}
#: short names of golden columns (summed over a station's pumps)
GOLDEN_TARGETS = {"energy": "energy_integral", "cost": "energy_cost_integral"}
#: targets computed from the good raw samples
RAW_TARGETS = ("flow", "demand")
MODELS = ("naive", "theta", "ets", "lightgbm", "nlinear")
#: models fitted on many series at once
GLOBAL_MODELS = ("lightgbm", "nlinear")
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)
#: golden columns offered to LightGBM as past covariates when present
DEFAULT_PAST = ("runtime_duration", "starts_starts")
GROUPINGS = ("station", "asset")


def _level(level: str) -> dict:
    if level not in LEVELS:
        raise UnknownNameError(choices_message("forecast level", level, LEVELS))
    return LEVELS[level]


def _step(level: str) -> pd.Timedelta:
    """Length of one period of ``level``."""
    return pd.Timedelta(pd.tseries.frequencies.to_offset(_level(level)["freq"]))


def _check_choice(kind: str, value, choices) -> None:
    if value not in choices:
        raise ArgumentError(choices_message(kind, value, choices))


def _as_lake(lake):
    from .lake import Lake

    return lake if isinstance(lake, Lake) else Lake(lake)


# =============================================================================
# Series from the lake
# =============================================================================
def target_frame(lake, target: str = "energy", level: str = "1h", *, by: str = "station",
                 registry=None, assets: Sequence[str] | None = None,
                 min_coverage: float = 0.5, cadence: str | None = None,
                 quality: bool | None = None, timezone: str | None = None,
                 snapshot: str | None = None) -> pd.DataFrame:
    """The target as a wide table: one column per series, one row per period.

    Parameters
    ----------
    lake : Lake or URL
    target : str
        ``energy``, ``cost``, ``flow``, ``demand``, a golden column
        (``runtime_duration`` …) or a raw signal (``level`` …).
    level : {"15min", "1h", "1D"}
    by : {"station", "asset"}
        Sum pumps per station (needs ``registry``) or one series per asset.
    registry : AssetRegistry, optional
        Stations, tank areas and the time zone.
    assets : sequence of str, optional
        Keep only these assets (before grouping).
    min_coverage : float
        Periods with a smaller share of good samples are missing (gap policy).
    cadence : str, optional
        Raw grid of raw targets (default the finest that is at most ``level``).
    quality : bool, optional
        Raw targets: use only good samples (default: when flags are stored).
    timezone : str, optional
        Local zone of 1D days (default the registry's, else ``utility.timezone``).
    snapshot : str, optional
        Read the lake at this snapshot.

    Returns
    -------
    pandas.DataFrame
        UTC ``DatetimeIndex`` (15min, 1h) or local dates (1D); ``attrs`` hold
        ``target``, ``level``, ``unit``, ``source`` and ``snapshot``.
    """
    from . import config

    spec = _level(level)
    _check_choice("grouping 'by'", by, GROUPINGS)
    if not 0.0 <= float(min_coverage) <= 1.0:
        raise ArgumentError(f"min_coverage must lie in [0, 1], got {min_coverage!r}")
    if by == "station" and registry is None:
        raise ArgumentError("by='station' needs the asset registry (registry=…)")
    lake = _as_lake(lake)
    tz = timezone or (registry.utility.get("timezone") if registry is not None else None) \
        or config.get("utility.timezone")
    column = GOLDEN_TARGETS.get(target, target)
    golden = lake.open_group(f"features/{level}", snapshot=snapshot)
    if target not in RAW_TARGETS and golden is not None and column in golden:
        frame, unit, snap = _golden_frame(golden, column, min_coverage, assets)
        source = f"features/{level}:{column}"
    else:
        raw_cads = lake.cadences(snapshot)
        signal = "flow" if target == "demand" else target
        if cadence is None:
            fine = [c for c in raw_cads
                    if pd.Timedelta(c) <= (_step(level) if level != "1D" else pd.Timedelta("1h"))]
            cadence = fine[-1] if fine else None
        if cadence is None or cadence not in raw_cads:
            known = sorted(GOLDEN_TARGETS) + list(RAW_TARGETS) + (
                sorted(golden.data_vars) if golden is not None else [])
            raise UnknownNameError(
                f"{lake.url}: target {target!r} is neither a golden column at {level} nor a "
                f"raw signal on a grid at most {level} (raw cadences {raw_cads}). "
                + choices_message("target", target, known))
        frame, unit, snap = _raw_frame(lake, target, signal, cadence, level, tz, registry,
                                       min_coverage, quality, assets, snapshot)
        source = f"raw/{cadence}:{signal}"
    if level == "1D" and not isinstance(frame.index, pd.DatetimeIndex | pd.PeriodIndex):
        raise LakeError("internal: 1D frame without dates")
    if level == "1D" and frame.index.tz is not None:
        frame.index = frame.index.tz_convert(tz).tz_localize(None).normalize()
    if by == "station":
        frame = _by_station(frame, registry, target)
    frame = frame.loc[:, frame.notna().any()].sort_index()
    frame = frame.asfreq(spec["freq"])
    frame.index.name = "time"
    frame.columns.name = "series"
    frame.attrs.update(target=target, level=level, unit=unit, source=source, snapshot=snap,
                       by=by, timezone=tz)
    return frame


def _golden_frame(ds: xr.Dataset, column: str, min_coverage: float, assets):
    if assets is not None:
        ds = ds.sel(asset=[a for a in assets if a in ds.asset.values])
    val = ds[column].compute()
    feature = column.rsplit("_", 1)[0]
    cov_name = f"{feature}_coverage"
    if cov_name in ds:
        val = val.where(ds[cov_name].compute() >= min_coverage)
    frame = val.to_pandas().T
    frame.index = pd.DatetimeIndex(frame.index).tz_localize("UTC")
    frame.columns = [str(c) for c in frame.columns]
    return frame, str(ds[column].attrs.get("units", "")), ds.attrs.get("snapshot")


def _raw_frame(lake, target, signal, cadence, level, tz, registry, min_coverage, quality,
               assets, snapshot):
    ds = lake.open_raw(cadence, snapshot=snapshot)
    snap = ds.attrs.get("snapshot")
    want = [signal] + (["level"] if target == "demand" and "level" in ds else [])
    missing = [s for s in want if s not in ds]
    if missing:
        golden = lake.open_group(f"features/{level}", snapshot=snapshot)
        known = sorted(GOLDEN_TARGETS) + list(RAW_TARGETS) + sorted(
            str(v) for v in ds.data_vars if not str(v).endswith("_sq")) + (
            sorted(golden.data_vars) if golden is not None else [])
        raise UnknownNameError(
            f"{lake.url}: target {target!r} is neither a golden column at {level} nor a raw "
            f"signal of raw/{cadence}. " + choices_message("target", target,
                                                            list(dict.fromkeys(known))))
    has_flags = lake.open_group(f"quality/{cadence}", snapshot=snapshot) is not None
    if quality is True and not has_flags:
        raise LakeError(f"{lake.url}: quality=True but raw/{cadence} was never validated")
    sub = ds[want]
    if quality is None and has_flags or quality:
        from .quality import good

        sub = good(ds, None)[want]
    if assets is not None:
        sub = sub.sel(asset=[a for a in assets if a in sub.asset.values])
    step = pd.Timedelta(cadence)
    rule = LEVELS[level]["freq"]
    per = _step(level)
    expected = max(int(per / step), 1)
    val = sub[signal].to_pandas().T  # time × asset
    val.columns = [str(c) for c in val.columns]
    val.index = pd.DatetimeIndex(val.index).tz_localize("UTC")
    unit = str(ds[signal].attrs.get("units", ""))
    if target == "demand":
        if registry is None:
            raise ArgumentError("target 'demand' needs the asset registry (tank areas)")
        lev = sub["level"].to_pandas().T
        lev.columns = [str(c) for c in lev.columns]
        lev.index = val.index
        pumps = [a.id for a in registry.pumps() if a.id in val.columns]
        out = {}
        for st in registry.stations:
            members = [a for a in registry.station_assets(st)]
            p = [a.id for a in members if a.id in pumps]
            tanks = [a for a in members if a.kind == "tank" and a.id in lev.columns]
            if not p:
                continue
            q = val[p].sum(axis=1, min_count=len(p))
            for tank in tanks:
                area = float(tank.tank.get("area", 0.0))
                dl = lev[tank.id].diff() / (step / pd.Timedelta("1h"))  # m per hour
                q = q - area * dl
            out[st] = q
        val = pd.DataFrame(out)
        unit = "m3/h"
    if level == "1D":
        local = val.index.tz_convert(tz)
        grouper = local.tz_localize(None).normalize()
        counts = val.notna().groupby(grouper).sum()
        size = val.groupby(grouper).size()
        means = val.groupby(grouper).mean()
        ok = counts.ge(min_coverage * size.to_numpy()[:, None])
        frame = means.where(ok)
        frame.index = pd.DatetimeIndex(frame.index)
    else:
        r = val.resample(rule)
        means, counts = r.mean(), r.count()
        frame = means.where(counts >= min_coverage * expected)
    return frame, unit, snap


def _by_station(frame: pd.DataFrame, registry, target: str) -> pd.DataFrame:
    """Sum asset columns per station (stations already as columns pass through)."""
    if set(frame.columns) <= set(registry.stations):
        return frame
    out = {}
    for st in registry.stations:
        cols = [a.id for a in registry.station_assets(st) if a.id in frame.columns
                and a.kind == "pump"]
        if cols:
            # a station total is missing when any of its pumps is missing
            out[st] = frame[cols].sum(axis=1, min_count=len(cols))
    return pd.DataFrame(out, index=frame.index)


# =============================================================================
# Gap policy
# =============================================================================
@dataclass
class Segment:
    """A gap-free stretch of one series: values, and which were filled."""

    name: str
    index: pd.DatetimeIndex
    values: np.ndarray
    filled: np.ndarray

    def to_series(self):
        """A Darts ``TimeSeries`` of the values (float32 free: float64)."""
        from darts import TimeSeries

        return TimeSeries.from_times_and_values(self.index, self.values.astype(np.float64),
                                                columns=[self.name])


def fill_gaps(frame: pd.DataFrame, level: str, *, max_gap: int | None = None,
              min_length: int | None = None, horizon: int | None = None) -> list[Segment]:
    """Split and fill series following the gap policy (module docstring).

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`target_frame` (one column per series, a regular index).
    level : str
        The level (sets the defaults).
    max_gap : int, optional
        Longest run of missing periods filled by time interpolation.
    min_length : int, optional
        Shortest segment kept (default two seasons plus one horizon).

    Returns
    -------
    list of Segment
        In column order, oldest segment first.
    """
    spec = _level(level)
    max_gap = spec["max_gap"] if max_gap is None else int(max_gap)
    min_length = (2 * spec["season"] + int(horizon or spec["horizon"])) if min_length is None \
        else int(min_length)
    if max_gap < 0 or min_length < 1:
        raise ArgumentError(f"max_gap must be ≥ 0 and min_length ≥ 1, got {max_gap}, "
                            f"{min_length}")
    frame = frame.asfreq(spec["freq"]) if frame.index.freq is None else frame
    if frame.index.tz is not None:  # Darts works on naive UTC
        frame = frame.set_axis(frame.index.tz_convert("UTC").tz_localize(None))
        frame = frame.asfreq(spec["freq"])
    out: list[Segment] = []
    for name in frame.columns:
        s = frame[name]
        miss = s.isna().to_numpy()
        # runs of missing values
        run_id = np.cumsum(np.r_[True, miss[1:] != miss[:-1]])
        run_len = pd.Series(miss).groupby(run_id).transform("size").to_numpy()
        long_gap = miss & (run_len > max_gap)
        seg_id = np.cumsum(np.r_[True, long_gap[1:] != long_gap[:-1]])
        for sid in np.unique(seg_id[~long_gap]):
            sel = (seg_id == sid) & ~long_gap
            part = s[sel]
            # trim missing ends (cannot be interpolated)
            first, last = part.first_valid_index(), part.last_valid_index()
            if first is None:
                continue
            part = part.loc[first:last]
            if len(part) < min_length:
                continue
            filled = part.isna().to_numpy()
            values = part.interpolate(method="time").to_numpy()
            out.append(Segment(str(name), pd.DatetimeIndex(part.index, freq=spec["freq"]),
                               values, filled))
    return out


# =============================================================================
# Covariates
# =============================================================================
def calendar_covariates(index: pd.DatetimeIndex, level: str, *, registry=None,
                        station: str | None = None, timezone: str | None = None
                        ) -> pd.DataFrame:
    """Future covariates known in advance: hour and weekday (local), off-day, tariff price.

    ``offday`` is 1 on weekends and on the registry's holidays. ``price`` is the
    mean tariff price of the period (the station's tariff, or the first one).

    Examples
    --------
    >>> idx = pd.date_range("2026-04-03", periods=3, freq="D")   # Good Friday
    >>> calendar_covariates(idx, "1D", timezone="UTC")[["dow_sin", "offday"]].round(2)
    ... # doctest: +NORMALIZE_WHITESPACE
                dow_sin  offday
    time
    2026-04-03    -0.43     0.0
    2026-04-04    -0.97     1.0
    2026-04-05    -0.78     1.0
    """
    from . import config

    tz = timezone or (registry.utility.get("timezone") if registry is not None else None) \
        or config.get("utility.timezone")
    idx = pd.DatetimeIndex(index)
    if level == "1D":
        local = idx.tz_localize(None) if idx.tz is not None else idx
        dates = local.normalize()
    else:
        utc = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        local = utc.tz_convert(tz)
        dates = local.tz_localize(None).normalize()
    holidays = set(registry.holidays) if registry is not None else set()
    dow = np.asarray(local.day_of_week, dtype=float)
    off = (dow >= 5) | np.array([d.date() in holidays for d in dates])
    cov = {"dow_sin": np.sin(2 * np.pi * dow / 7), "dow_cos": np.cos(2 * np.pi * dow / 7),
           "offday": off.astype(float)}
    if level != "1D":
        hour = np.asarray(local.hour + local.minute / 60.0, dtype=float)
        cov["hour_sin"] = np.sin(2 * np.pi * hour / 24)
        cov["hour_cos"] = np.cos(2 * np.pi * hour / 24)
    if registry is not None and registry.tariffs:
        tariff = (registry.tariff_of(station) if station is not None and (
            station in registry.stations or station in registry.assets)
            else next(iter(registry.tariffs.values())))
        if level == "1D":
            hours = pd.date_range(dates.min(), dates.max() + pd.Timedelta("1D"), freq="h",
                                  inclusive="left", tz=tz)
            p = pd.Series(tariff.price(hours.tz_convert("UTC"), tz, registry.holidays),
                          index=hours.tz_localize(None).normalize())
            cov["price"] = p.groupby(level=0).mean().reindex(dates).to_numpy()
        else:
            cov["price"] = tariff.price(utc, tz, registry.holidays)
    out = pd.DataFrame(cov, index=pd.DatetimeIndex(index, name="time"))
    return out


def _extend_index(index: pd.DatetimeIndex, level: str, n: int) -> pd.DatetimeIndex:
    freq = LEVELS[level]["freq"]
    return pd.date_range(index[0], periods=len(index) + n, freq=freq, tz=index.tz)


# =============================================================================
# Models
# =============================================================================
def make_model(name: str, level: str, *, horizon: int | None = None,
               quantiles: Sequence[float] = DEFAULT_QUANTILES, past: bool = False,
               future: bool = True, random_state: int = 0, **params):
    """A configured Darts model for ``level``.

    Parameters
    ----------
    name : {"naive", "theta", "ets", "lightgbm", "nlinear"}
    level : str
    horizon : int, optional
        Output chunk of global models (default the level's horizon).
    quantiles : sequence of float
        Quantiles of LightGBM's quantile regression (include 0.5).
    past, future : bool
        Whether past / future covariates will be given (LightGBM).
    **params
        Override model arguments (e.g. ``n_estimators=200``).
    """
    _check_choice("model", name, MODELS)
    spec = _level(level)
    m, h = spec["season"], int(horizon or spec["horizon"])
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
        lags = sorted({-k for k in ((1, 2, m) if daily else (1, 2, 3, m, 2 * m, 7 * m))})
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

    kw = dict(input_chunk_length=2 * m, output_chunk_length=h, n_epochs=20, batch_size=64,
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


# =============================================================================
# Back-testing
# =============================================================================
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


def _naive_scale(values: np.ndarray, filled: np.ndarray, m: int) -> float:
    """In-sample MAE of the seasonal naive (lag ``m``) on observed points."""
    if len(values) <= m:
        return np.nan
    d = np.abs(values[m:] - values[:-m])
    ok = ~(filled[m:] | filled[:-m])
    return float(d[ok].mean()) if ok.any() else np.nan


def _min_history(level: str, horizon: int) -> int:
    """Periods of history every model needs before a forecast origin (LightGBM's lags)."""
    m = _level(level)["season"]
    return max(2 * m + 1, (m if level == "1D" else 7 * m) + horizon)


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


def _forecast_model(name: str, inputs: _Inputs, train: _Inputs, level: str, horizon: int,
                    start: pd.Timestamp, stride: int, quantiles, params: dict):
    """{(segment i, origin): (point (h,), lo (h,) or None, hi (h,) or None)} for one model."""
    out = {}
    model = make_model(name, level, horizon=horizon, quantiles=quantiles,
                       past=inputs.past is not None, future=inputs.future is not None,
                       **params.get(name, {}))
    qs = sorted({float(q) for q in quantiles} | {0.5})
    if name in GLOBAL_MODELS:
        _fit_global(model, name, train)
    need = _min_history(level, horizon)
    for i, (seg, ts) in enumerate(zip(inputs.segments, inputs.series, strict=True)):
        if seg.index[-1] < start + (horizon - 1) * seg.index.freq:
            continue
        # the same origins for every model: enough history for all, on the stride grid
        first = start
        earliest = seg.index[0] + need * seg.index.freq
        if earliest > first:
            steps = -(-(earliest - first) // seg.index.freq)
            first = first + (-(-steps // stride) * stride) * seg.index.freq
        if first > seg.index[-1] - (horizon - 1) * seg.index.freq:
            continue
        kw = dict(forecast_horizon=horizon, start=first, stride=stride, last_points_only=False,
                  overlap_end=False, verbose=False, show_warnings=False)
        if name in GLOBAL_MODELS:
            kw["retrain"] = False
            if name == "lightgbm":
                kw.update(past_covariates=inputs.past[i] if inputs.past else None,
                          future_covariates=inputs.future[i] if inputs.future else None,
                          predict_likelihood_parameters=True)
        else:
            kw["retrain"] = True
        with _quiet():
            fcs = model.historical_forecasts(ts, **kw)
        for fc in fcs:
            vals = fc.values(copy=False)
            if name == "lightgbm":
                cols = list(fc.components)
                if len(cols) == len(qs):     # quantile models fitted apart may cross
                    vals = np.sort(vals, axis=1)
                pick = {q: vals[:, j] for j, q in enumerate(qs)} if len(cols) == len(qs) \
                    else {0.5: vals[:, 0]}
                point = pick[0.5]
                lo, hi = pick.get(qs[0]), pick.get(qs[-1])
                if lo is not None and qs[0] == 0.5:
                    lo = hi = None
                out[(i, fc.start_time())] = (point, lo, hi)
            else:
                out[(i, fc.start_time())] = (vals[:, 0], None, None)
    return out


def backtest(frame: pd.DataFrame, level: str | None = None,
             models: Sequence[str] = ("naive", "theta", "lightgbm"), *, registry=None,
             horizon: int | None = None, test_periods: int | None = None,
             stride: int | None = None, quantiles: Sequence[float] = DEFAULT_QUANTILES,
             past_frames: dict[str, pd.DataFrame] | None = None, future: bool = True,
             max_gap: int | None = None, min_length: int | None = None,
             model_params: dict | None = None) -> pd.DataFrame:
    """Back-test models on the last ``test_periods`` of every series.

    Local models (naive, theta, ets) are refitted at every forecast origin on
    the history before it; global models (lightgbm, nlinear) are fitted once
    on everything before the test span (all series together) and then
    forecast from each origin with what was known there. Points the gap
    policy filled are never scored.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`target_frame`.
    level : str, optional
        Default ``frame.attrs["level"]``.
    models : sequence of str
        Of :data:`MODELS`; the seasonal naive is always run (it is the baseline).
    horizon, stride : int, optional
        Forecast length and step between origins (default: the level's
        horizon; stride = horizon below a day, 1 at 1D).
    test_periods : int, optional
        Length of the test span (default 7 days of periods at 15min and 1h,
        4 horizons at 1D).
    quantiles : sequence of float
        Quantiles of probabilistic models; the outer two give ``coverage``.
    past_frames : dict, optional
        Series name → past covariates (DataFrame on the frame's index).
    future : bool
        Give calendar/holiday/tariff future covariates (see :func:`calendar_covariates`).
    model_params : dict, optional
        Model name → extra arguments for :func:`make_model`.

    Returns
    -------
    pandas.DataFrame
        One row per model: ``mase, rel_mae, smape, coverage, mae, points,
        forecasts, series, seconds``.
    """
    level = level or frame.attrs.get("level")
    spec = _level(level)
    for m in models:
        _check_choice("model", m, MODELS)
    h = int(horizon or spec["horizon"])
    stride = int(stride or (1 if level == "1D" else h))
    n_test = int(test_periods or (4 * h if level == "1D"
                                  else 7 * int(pd.Timedelta("1D") / _step(level))))
    if n_test >= len(frame):
        raise ArgumentError(f"test_periods={n_test} leaves no training data in {len(frame)} "
                            "periods")
    start = frame.index[-n_test]
    if start.tz is not None:
        start = start.tz_convert("UTC").tz_localize(None)
    segs = fill_gaps(frame, level, max_gap=max_gap, min_length=min_length, horizon=h)
    if not segs:
        raise ArgumentError("no series segment is long enough for the gap policy "
                            f"(min_length={min_length}); lower it or give more data")
    tz = frame.attrs.get("timezone")
    inputs = _inputs(segs, level, h, registry, past_frames, future, tz)
    # what global models may learn from: every segment cut before the test span
    train_segs = []
    for s in segs:
        keep = s.index < start
        if keep.sum() >= 2 * spec["season"] + h + 1:
            train_segs.append(Segment(s.name, s.index[keep], s.values[keep], s.filled[keep]))
    train = _inputs(train_segs, level, h, registry, past_frames, future, tz)
    params = model_params or {}
    order = ["naive"] + [m for m in dict.fromkeys(models) if m != "naive"]
    results, seconds = {}, {}
    for name in order:
        t0 = _time.perf_counter()
        results[name] = _forecast_model(name, inputs, train, level, h, start, stride,
                                        quantiles, params)
        seconds[name] = _time.perf_counter() - t0
    # score every model on the points all models forecast (same origins)
    common = set.intersection(*(set(r) for r in results.values())) if results else set()
    m = spec["season"]
    scales = {i: _naive_scale(s.values[s.index < start], s.filled[s.index < start], m)
              for i, s in enumerate(segs)}
    rows = []
    for name in order:
        err, nerr, sm, inside, n_int = [], [], [], 0, 0
        per_series: dict[int, list] = {}
        for key in sorted(common, key=lambda k: (k[0], k[1])):
            i, origin = key
            seg = segs[i]
            pos = seg.index.get_loc(origin)
            y = seg.values[pos:pos + h]
            ok = ~seg.filled[pos:pos + h]
            point, lo, hi = results[name][key]
            base = results["naive"][key][0]
            e = np.abs(y - point)[ok]
            err.append(e)
            nerr.append(np.abs(y - base)[ok])
            denom = np.abs(y) + np.abs(point)
            with np.errstate(invalid="ignore", divide="ignore"):
                sm.append(np.where(denom[ok] > 0, 200.0 * e / denom[ok], 0.0))
            per_series.setdefault(i, []).append(e)
            if lo is not None and hi is not None:
                inside += int(((y >= lo) & (y <= hi))[ok].sum())
                n_int += int(ok.sum())
        e_all = np.concatenate(err) if err else np.array([])
        n_all = np.concatenate(nerr) if nerr else np.array([])
        mases = [np.concatenate(v).mean() / scales[i] for i, v in per_series.items()
                 if np.isfinite(scales[i]) and scales[i] > 0]
        rows.append({
            "model": name,
            "mase": float(np.mean(mases)) if mases else np.nan,
            "rel_mae": float(e_all.mean() / n_all.mean()) if len(e_all) and n_all.mean() > 0
            else np.nan,
            "smape": float(np.concatenate(sm).mean()) if sm else np.nan,
            "coverage": inside / n_int if n_int else np.nan,
            "mae": float(e_all.mean()) if len(e_all) else np.nan,
            "points": int(len(e_all)),
            "forecasts": len(common),
            "series": len(per_series),
            "seconds": round(seconds[name], 3),
        })
    out = pd.DataFrame(rows).set_index("model")
    out.attrs.update(level=level, horizon=h, stride=stride, test_start=str(start),
                     target=frame.attrs.get("target"), quantiles=list(quantiles))
    return out


def past_covariate_frames(lake, level: str, *, by: str = "station", registry=None,
                          columns: Sequence[str] = DEFAULT_PAST, snapshot: str | None = None,
                          min_coverage: float = 0.5) -> dict[str, pd.DataFrame]:
    """Golden columns as past covariates: series name → DataFrame (one column each).

    Columns the golden table lacks are skipped; an empty dict when none is there.
    """
    lake = _as_lake(lake)
    golden = lake.open_group(f"features/{level}", snapshot=snapshot)
    if golden is None:
        return {}
    frames = {}
    for col in columns:
        if col not in golden:
            continue
        frames[col] = target_frame(lake, col, level, by=by, registry=registry,
                                   snapshot=snapshot, min_coverage=min_coverage)
    out: dict[str, pd.DataFrame] = {}
    for col, fr in frames.items():
        for name in fr.columns:
            out.setdefault(name, pd.DataFrame(index=fr.index))[col] = fr[name]
    return out


# =============================================================================
# Forecast and store
# =============================================================================
@dataclass
class ForecastResult:
    """A stored forecast: the table, where it went and what made it."""

    frame: pd.DataFrame
    snapshot: str | None
    lineage: dict = field(default_factory=dict)
    skill: pd.DataFrame | None = None


def forecast(frame: pd.DataFrame, level: str | None = None, model: str = "lightgbm", *,
             registry=None, horizon: int | None = None,
             quantiles: Sequence[float] = DEFAULT_QUANTILES,
             past_frames: dict[str, pd.DataFrame] | None = None, future: bool = True,
             max_gap: int | None = None, min_length: int | None = None,
             params: dict | None = None) -> pd.DataFrame:
    """Fit on everything and forecast ``horizon`` periods after each series' last segment.

    Returns
    -------
    pandas.DataFrame
        Long table: ``series, time, mean, q<..>`` (quantile columns for
        probabilistic models; ``mean`` is the median there).
    """
    level = level or frame.attrs.get("level")
    spec = _level(level)
    _check_choice("model", model, MODELS)
    h = int(horizon or spec["horizon"])
    segs = fill_gaps(frame, level, max_gap=max_gap, min_length=min_length, horizon=h)
    tz = frame.attrs.get("timezone")
    inputs = _inputs(segs, level, h, registry, past_frames if model == "lightgbm" else None,
                     future and model == "lightgbm", tz)
    qs = sorted({float(q) for q in quantiles} | {0.5})
    last = {}
    for i, s in enumerate(segs):
        last[s.name] = i  # segments are oldest first: keep the latest per series
    mdl = make_model(model, level, horizon=h, quantiles=quantiles,
                     past=inputs.past is not None, future=inputs.future is not None,
                     **(params or {}))
    rows = []
    if model in GLOBAL_MODELS:
        _fit_global(mdl, model, inputs)
        idx = list(last.values())
        pkw = {}
        if model == "lightgbm":
            pkw = dict(past_covariates=[inputs.past[i] for i in idx] if inputs.past else None,
                       future_covariates=[inputs.future[i] for i in idx] if inputs.future
                       else None, predict_likelihood_parameters=True)
        with _quiet():
            preds = mdl.predict(h, series=[inputs.series[i] for i in idx], **pkw)
        pairs = list(zip(idx, preds, strict=True))
    else:
        pairs = []
        for i in last.values():
            local = make_model(model, level, horizon=h, **(params or {}))
            with _quiet():
                local.fit(inputs.series[i])
                pairs.append((i, local.predict(h)))
    for i, fc in pairs:
        vals = fc.values(copy=False)
        df = pd.DataFrame({"series": segs[i].name, "time": fc.time_index})
        if model == "lightgbm" and vals.shape[1] == len(qs):
            vals = np.sort(vals, axis=1)   # rearranged: quantiles fitted apart may cross
            for j, q in enumerate(qs):
                df[f"q{round(q * 100):02d}"] = vals[:, j]
            df["mean"] = df["q50"]
        else:
            df["mean"] = vals[:, 0]
        rows.append(df)
    if not rows:
        raise ArgumentError("no series has a last segment long enough to forecast "
                            f"(min_length={min_length})")
    out = pd.concat(rows, ignore_index=True)
    out.attrs.update(frame.attrs, model=model, horizon=h, quantiles=qs,
                     skipped=sorted(set(frame.columns) - set(last)))
    return out


def forecast_lake(lake, registry=None, *, target: str = "energy", level: str = "1h",
                  by: str = "station", model: str = "lightgbm", horizon: int | None = None,
                  quantiles: Sequence[float] = DEFAULT_QUANTILES,
                  past: Sequence[str] | None = DEFAULT_PAST, skill: bool = False,
                  backtest_models: Sequence[str] = ("naive", "lightgbm"),
                  snapshot: str | None = None, run_id: str | None = None,
                  params: dict | None = None, **frame_kw) -> ForecastResult:
    """Forecast a target from the lake and store it in ``forecasts/<level>`` (one commit).

    The group holds ``(asset, time)`` variables ``<target>_mean`` and
    ``<target>_q<NN>`` (asset = the series: a station or an asset id), beside
    earlier targets of the same level; its attrs and the commit metadata hold
    the lineage: source snapshot and table, model and parameters, quantiles,
    pumplib/darts/lightgbm versions, the run id and (``skill=True``) the
    back-test table.

    Parameters
    ----------
    lake : Lake or URL
    registry : AssetRegistry, optional
        Needed for ``by="station"``, demand and tariff/holiday covariates.
    target, level, by, model, horizon, quantiles
        See :func:`target_frame` and :func:`forecast`.
    past : sequence of str, optional
        Golden columns used as past covariates (LightGBM); ``None`` for none.
    skill : bool
        Also back-test ``backtest_models`` and record the table.

    Returns
    -------
    ForecastResult

    Examples
    --------
    >>> res = forecast_lake("./store", reg, target="energy", level="1h")  # doctest: +SKIP
    >>> open_forecasts("./store", "1h").energy_q50.sel(asset="NORTH")     # doctest: +SKIP
    """
    import darts
    import lightgbm

    from . import __version__
    from .lake import new_run_id

    lake = _as_lake(lake)
    frame = target_frame(lake, target, level, by=by, registry=registry, snapshot=snapshot,
                         **frame_kw)
    pf = past_covariate_frames(lake, level, by=by, registry=registry, columns=past,
                               snapshot=snapshot) if past and model == "lightgbm" else None
    fc = forecast(frame, level, model, registry=registry, horizon=horizon, quantiles=quantiles,
                  past_frames=pf or None, params=params)
    table = None
    if skill:
        table = backtest(frame, level, backtest_models, registry=registry, horizon=horizon,
                         quantiles=quantiles, past_frames=pf or None,
                         model_params={model: params} if params else None)
    run_id = run_id or new_run_id("forecast")
    lineage = {
        "kind": "forecast", "run_id": run_id, "target": target, "level": level, "by": by,
        "model": model, "horizon": fc.attrs["horizon"], "quantiles": fc.attrs["quantiles"],
        "params": params or {}, "past_covariates": sorted(next(iter(pf.values())).columns)
        if pf else [], "source": frame.attrs.get("source"),
        "source_snapshot": frame.attrs.get("snapshot"), "unit": frame.attrs.get("unit"),
        "skipped_series": fc.attrs.get("skipped", []),
        "versions": {"pumplib": __version__, "darts": darts.__version__,
                     "lightgbm": lightgbm.__version__},
        "gap_policy": {"max_gap": LEVELS[level]["max_gap"], "min_coverage":
                       frame_kw.get("min_coverage", 0.5)},
    }
    if table is not None:
        lineage["skill"] = _no_nan(table.round(4).reset_index().to_dict(orient="records"))
    snap = _store_forecast(lake, fc, level, target, lineage, frame.attrs.get("timezone"))
    return ForecastResult(fc, snap, lineage, table)


def _no_nan(obj):
    """NaN and infinities become None (JSON has no NaN: Zarr attrs and commit metadata)."""
    if isinstance(obj, dict):
        return {k: _no_nan(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_no_nan(v) for v in obj]
    if isinstance(obj, float | np.floating) and not np.isfinite(obj):
        return None
    return obj


def _store_forecast(lake, fc: pd.DataFrame, level: str, target: str, lineage: dict,
                    tz: str | None) -> str | None:
    from .lake import _jsonable

    times = pd.DatetimeIndex(fc["time"])
    if level == "1D":  # local dates → the UTC instant of local midnight, like features/1D
        times = times.tz_localize(tz or "UTC", nonexistent="shift_forward",
                                  ambiguous=False).tz_convert("UTC")
    elif times.tz is not None:
        times = times.tz_convert("UTC")
    else:
        times = times.tz_localize("UTC")
    fc = fc.assign(time=times.tz_localize(None))
    value_cols = [c for c in fc.columns if c == "mean" or (c.startswith("q") and c[1:].isdigit())]
    new = fc.set_index(["series", "time"])[value_cols]
    new.columns = [f"{target}_{c}" for c in value_cols]
    new_ds = xr.Dataset.from_dataframe(new).rename(series="asset")
    path = f"forecasts/{level}"
    old = lake.open_group(path)
    if old is not None:
        keep = [v for v in old.data_vars if not str(v).startswith(f"{target}_")]
        merged = xr.merge([old[keep].load(), new_ds], join="outer", compat="override") \
            if keep else new_ds
        merged.attrs = dict(old.attrs)
    else:
        merged = new_ds
    targets = dict(merged.attrs.get("targets", {}) or {})
    targets[target] = lineage
    meta = {**lineage}
    with lake.transaction(f"forecast {target} {level} ({lineage['model']})", meta) as tx:
        root = tx.root.require_group("forecasts")
        g = root.create_group(level, overwrite=True)
        assets = np.asarray(merged.asset.values).astype(str)
        secs = pd.DatetimeIndex(merged.time.values).as_unit("s").asi8
        a = g.create_array("asset", shape=assets.shape, chunks=(max(len(assets), 1),),
                           dtype=str, dimension_names=("asset",))
        a[:] = assets.astype(object)
        t = g.create_array("time", shape=secs.shape, chunks=(max(len(secs), 1),),
                           dtype="int64", dimension_names=("time",),
                           attributes={"units": "seconds since 1970-01-01T00:00:00",
                                       "calendar": "proleptic_gregorian",
                                       "long_name": "period start (UTC)"})
        t[:] = secs
        for name, var in merged.data_vars.items():
            tgt = str(name).rsplit("_", 1)[0]
            arr = g.create_array(str(name), shape=var.shape, chunks=var.shape,
                                 dtype="float64", fill_value=np.nan,
                                 dimension_names=("asset", "time"),
                                 attributes=_jsonable({
                                     "units": (targets.get(tgt) or {}).get("unit", ""),
                                     "long_name": f"forecast of {tgt} ({str(name).rsplit('_', 1)[1]})"}))
            arr[:] = np.asarray(var.transpose("asset", "time").values, dtype=np.float64)
        g.attrs.update(_jsonable({"level": level, "title": f"pumplib forecasts, level {level}",
                                  "targets": targets, "timezone": tz}))
    return tx.snapshot


def open_forecasts(lake, level: str = "1h", *, snapshot: str | None = None,
                   as_of: dt.datetime | None = None) -> xr.Dataset:
    """The stored forecasts of a level as a lazy ``(asset, time)`` Dataset.

    Read it like a golden table: ``open_forecasts(lake, "1h").energy_q50``.
    ``attrs["targets"]`` holds each target's lineage.
    """
    _level(level)
    lake = _as_lake(lake)
    ds = lake.open_group(f"forecasts/{level}", snapshot=snapshot, as_of=as_of)
    if ds is None:
        raise LakeError(f"{lake.url}: no forecasts at level {level!r} yet; run "
                        "pumplib.forecast.forecast_lake(...) or `pumplib forecast run`")
    return ds


def forecast_log(lake) -> pd.DataFrame:
    """Forecast commits, newest first: snapshot, time, target, level, model, source snapshot."""
    lake = _as_lake(lake)
    rows = [{"snapshot": c.snapshot, "written_at": c.written_at, "target": c.metadata.get("target"),
             "level": c.metadata.get("level"), "model": c.metadata.get("model"),
             "source_snapshot": c.metadata.get("source_snapshot"),
             "run_id": c.metadata.get("run_id")}
            for c in lake.log() if c.metadata.get("kind") == "forecast"]
    return pd.DataFrame(rows, columns=["snapshot", "written_at", "target", "level", "model",
                                       "source_snapshot", "run_id"])


__all__ = ["DEFAULT_PAST", "DEFAULT_QUANTILES", "GOLDEN_TARGETS", "LEVELS", "MODELS",
           "RAW_TARGETS", "ForecastResult", "Segment", "backtest", "calendar_covariates",
           "fill_gaps", "forecast", "forecast_lake", "forecast_log", "make_model",
           "open_forecasts", "past_covariate_frames", "target_frame"]
