"""Series for forecasting: the target as a wide table, the gap policy, covariates.

Targets
-------
``energy`` (kWh per period) and ``cost`` (currency per period) are the golden
columns ``energy_integral`` and ``energy_cost_integral``; any other golden
column name works too (summed over a station's pumps). ``flow`` is the mean
pumped flow (m³/h) of the good raw samples; ``demand`` is what leaves the
station: pumped flow minus the change of the tank's stored volume
(tank area × d level / dt), in m³/h. Any raw signal name (``level``, ``flow``
…) with ``by="asset"`` forecasts that signal per asset (e.g. BATADAL tanks).

Gap policy
----------
1. A golden value whose coverage is below ``min_coverage`` (default 0.5) is
   missing; so is a raw period with fewer good samples than that share.
2. Gaps of at most ``max_gap`` periods (4 at 15min, 3 at 1h, 2 at 1D) are
   filled by time interpolation and *marked*: used as model inputs, never scored.
3. A longer gap cuts the series into segments (:func:`fill_gaps`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ArgumentError, LakeError, UnknownNameError, choices_message
from .levels import LEVELS, _as_lake, _check_choice, _level, _step, seasons

#: short names of golden columns (summed over a station's pumps)
GOLDEN_TARGETS = {"energy": "energy_integral", "cost": "energy_cost_integral"}
#: targets computed from the good raw samples
RAW_TARGETS = ("flow", "demand")
#: golden columns offered to LightGBM as past covariates when present
DEFAULT_PAST = ("runtime_duration", "starts_starts")
GROUPINGS = ("station", "asset")


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
    from .. import config

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
        from ..quality import good

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
              min_length: int | None = None, horizon: int | None = None,
              season=None) -> list[Segment]:
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
        Shortest segment kept (default two of the longest seasons plus one horizon).
    season : int or list of int, optional
        Declared seasons (default by level, see :func:`~pumplib.forecast.levels.seasons`).

    Returns
    -------
    list of Segment
        In column order, oldest segment first.
    """
    spec = _level(level)
    max_gap = spec["max_gap"] if max_gap is None else int(max_gap)
    min_length = (2 * max(seasons(level, season)) + int(horizon or spec["horizon"])) \
        if min_length is None else int(min_length)
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
                        station: str | None = None, timezone: str | None = None,
                        holidays=None) -> pd.DataFrame:
    """Future covariates known in advance: hour and weekday (local), off-day, tariff price.

    ``offday`` is 1 on weekends, on the registry's holidays and on ``holidays``
    (a country code of the ``holidays`` package such as ``"IT"``, or dates).
    ``price`` is the mean tariff price of the period (the station's tariff, or
    the first one).

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
    from .. import config

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
    off_dates = set(registry.holidays) if registry is not None else set()
    off_dates |= holiday_dates(holidays, sorted({d.year for d in dates}))
    dow = np.asarray(local.day_of_week, dtype=float)
    off = (dow >= 5) | np.array([d.date() in off_dates for d in dates])
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


def holiday_dates(holidays, years) -> set:
    """Dates of ``holidays``: a country code of the ``holidays`` package, or dates."""
    import datetime as dt

    if holidays is None:
        return set()
    if isinstance(holidays, str):
        import holidays as hol

        code, _, subdiv = holidays.partition("-")
        try:
            cal = hol.country_holidays(code.upper(), subdiv=subdiv or None, years=list(years))
        except NotImplementedError:
            raise ArgumentError(f"holidays: {holidays!r} is not a country code of the "
                                "holidays package (e.g. IT, NL, DE, US-CA)") from None
        return set(cal.keys())
    return {pd.Timestamp(d).date() if not isinstance(d, dt.date) else d for d in holidays}


def _extend_index(index: pd.DatetimeIndex, level: str, n: int) -> pd.DatetimeIndex:
    freq = LEVELS[level]["freq"]
    return pd.date_range(index[0], periods=len(index) + n, freq=freq, tz=index.tz)



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



@dataclass
class Panel:
    """The series of a frame as arrays, after the gap policy.

    ``y`` holds the values with short gaps filled (long gaps stay NaN);
    ``observed`` marks the real values (only these are scored).
    """

    index: pd.DatetimeIndex
    names: list[str]
    y: np.ndarray
    observed: np.ndarray


def panel(frame: pd.DataFrame, level: str, *, max_gap: int | None = None) -> Panel:
    """The frame on its regular grid (naive UTC, or local dates at 1D) with short gaps filled.

    Interior gaps of at most ``max_gap`` periods are interpolated in time; a
    short gap at the very end is carried forward from the last value (both
    marked as not observed). Longer gaps stay missing.
    """
    spec = _level(level)
    max_gap = spec["max_gap"] if max_gap is None else int(max_gap)
    if max_gap < 0:
        raise ArgumentError(f"max_gap must be ≥ 0, got {max_gap}")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise ArgumentError("the frame needs a DatetimeIndex (one row per period)")
    if frame.index.tz is not None:
        frame = frame.set_axis(frame.index.tz_convert("UTC").tz_localize(None))
    frame = frame.sort_index().asfreq(spec["freq"])
    raw = frame.to_numpy(dtype=float)
    y = raw.copy()
    for j in range(raw.shape[1]):
        miss = np.isnan(raw[:, j])
        if not miss.any():
            continue
        run_id = np.cumsum(np.r_[True, miss[1:] != miss[:-1]])
        run_len = pd.Series(miss).groupby(run_id).transform("size").to_numpy()
        short = miss & (run_len <= max_gap)
        col = pd.Series(raw[:, j], index=frame.index)
        filled = col.interpolate(method="time", limit_area="inside").to_numpy()
        y[short, j] = filled[short]
        tail = np.isnan(y[:, j]) & short
        if tail.any():   # a short gap at the end: the last value carried forward
            y[:, j] = np.where(tail, pd.Series(y[:, j]).ffill().to_numpy(), y[:, j])
    return Panel(pd.DatetimeIndex(frame.index, freq=spec["freq"]),
                 [str(c) for c in frame.columns], y, ~np.isnan(raw))
