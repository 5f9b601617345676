"""Levels and their periods: the regular UTC grid of raw samples, period bounds, edges.

``1min``, ``15min`` and ``1h`` follow the UTC grid; ``1D``, ``1W`` (Monday)
and ``1M`` (calendar month) start at local midnight in the utility's time
zone, so daylight-saving days have 23 or 25 hours. Everything here is in epoch
seconds (UTC); :mod:`pumplib.features.aggregations` re-exports it.

Examples
--------
>>> Grid(t0=0, dt=60, n=1440).end
86400
>>> level_bounds("1h", 0, 7200).tolist()
[0, 3600, 7200]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import PumplibError, UnknownNameError, choices_message

#: the golden-table levels, finest first
LEVELS: tuple[str, ...] = ("1min", "15min", "1h", "1D", "1W", "1M")
#: fixed-length levels (seconds), anchored at the Unix epoch (UTC)
FIXED_LEVELS: dict[str, int] = {"1min": 60, "15min": 900, "1h": 3600}
#: calendar levels, bounded by local midnight of the utility's time zone
CALENDAR_LEVELS: tuple[str, ...] = ("1D", "1W", "1M")


class AggregationError(PumplibError, ValueError):
    """An aggregation cannot be computed as asked (e.g. a median rolled up)."""


AggregationError.__module__ = "pumplib.features.aggregations"   # where it is public



@dataclass(frozen=True)
class Grid:
    """A regular UTC time grid: ``n`` samples from ``t0`` (epoch s) every ``dt`` seconds."""

    t0: int
    dt: int
    n: int

    @property
    def end(self) -> int:
        return self.t0 + self.dt * self.n

    @classmethod
    def from_times(cls, times) -> Grid:
        """The grid of a regular ``datetime64`` index (raises when it is not regular)."""
        a = np.asarray(times)
        if a.dtype.kind == "M":              # checked in the array's own unit: no copy
            unit, _ = np.datetime_data(a.dtype)
            t, per_s = a.view(np.int64), int(np.timedelta64(1, "s") // np.timedelta64(1, unit))
        else:
            t, per_s = np.asarray(pd.DatetimeIndex(times).as_unit("s").asi8, np.int64), 1
        if len(t) == 0:
            raise AggregationError("the time axis is empty")
        if len(t) == 1:
            raise AggregationError("a single time step does not define a grid step")
        d = int(t[1] - t[0])
        if d <= 0 or d % per_s or not _regular(t, d):
            raise AggregationError("the time axis is not a regular increasing grid of "
                                   "whole seconds")
        return cls(int(t[0]) // per_s, d // per_s, len(t))


def _regular(t: np.ndarray, d: int, piece: int = 1 << 16) -> bool:
    """Whether ``t[i + 1] - t[i] == d`` for every ``i``, checked in cache-sized pieces (the
    differences of a 16-day 1 s axis at once are an 11 MB array, paid in page faults)."""
    for i in range(0, len(t) - 1, piece):
        s = t[i:i + piece + 1]
        if not np.array_equal(s[1:] - s[:-1], np.broadcast_to(d, len(s) - 1)):
            return False
    return True


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise UnknownNameError(choices_message("level", level, LEVELS))


def times_ns(secs) -> pd.DatetimeIndex:
    """Epoch seconds as a nanosecond DatetimeIndex (no parsing, no cache: several times
    faster than ``pd.to_datetime(secs, unit="s")`` for the short axes of a build).

    Examples
    --------
    >>> times_ns([0, 86400]).strftime("%Y-%m-%d").tolist()
    ['1970-01-01', '1970-01-02']
    """
    return pd.DatetimeIndex(np.asarray(secs, dtype=np.int64).astype("datetime64[s]")
                            .astype("datetime64[ns]"))


def level_bounds(level: str, start: int, end: int, timezone: str = "UTC") -> np.ndarray:
    """Period boundaries (epoch seconds, UTC) of ``level`` covering ``[start, end)``.

    The first boundary is at or before ``start`` and the last at or after
    ``end``. Day, week (Monday) and month boundaries are local midnights of
    ``timezone``.

    Examples
    --------
    >>> import pandas as pd
    >>> s = int(pd.Timestamp("2026-03-28T12:00Z").timestamp())
    >>> b = level_bounds("1D", s, s + 2 * 86400, "Europe/Amsterdam")
    >>> (pd.to_datetime(b, unit="s").strftime("%d %H:%M").tolist(), int(b[2] - b[1]) // 3600)
    (['27 23:00', '28 23:00', '29 22:00', '30 22:00'], 23)
    """
    _check_level(level)
    if end <= start:
        raise AggregationError(f"empty time range [{start}, {end})")
    if level in FIXED_LEVELS:
        size = FIXED_LEVELS[level]
        lo = (start // size) * size
        hi = -((-end) // size) * size
        return np.arange(lo, hi + 1, size, dtype=np.int64)
    return _calendar_bounds(level, int(start), int(end), timezone).copy()


@functools.lru_cache(maxsize=256)
def _calendar_bounds(level: str, start: int, end: int, timezone: str) -> np.ndarray:
    """:func:`level_bounds` of a calendar level (a build asks the same ones often)."""
    first = pd.Timestamp(start, unit="s", tz="UTC").tz_convert(timezone)
    last = pd.Timestamp(end, unit="s", tz="UTC").tz_convert(timezone)
    d0 = first.tz_localize(None).normalize()
    d1 = last.tz_localize(None).normalize() + pd.Timedelta(days=1)
    if level == "1D":
        naive = pd.date_range(d0, d1 + pd.Timedelta(days=1), freq="D")
    elif level == "1W":
        w0 = d0 - pd.Timedelta(days=d0.day_of_week)
        naive = pd.date_range(w0, d1 + pd.Timedelta(days=7), freq="7D")
    else:
        m0 = d0.replace(day=1)
        naive = pd.date_range(m0, d1 + pd.offsets.MonthBegin(1), freq="MS")
    local = naive.tz_localize(timezone, nonexistent="shift_forward",
                              ambiguous=np.ones(len(naive), dtype=bool))
    b = np.asarray(local.tz_convert("UTC").as_unit("s").asi8, dtype=np.int64)
    i0 = np.searchsorted(b, start, side="right") - 1
    i1 = np.searchsorted(b, end, side="left")
    return b[max(i0, 0):i1 + 1]


def grid_edges(bounds: np.ndarray, grid: Grid) -> np.ndarray:
    """Indices into the grid of period boundaries, clipped to ``[0, grid.n]``."""
    inner = bounds[(bounds > grid.t0) & (bounds < grid.end)]
    if np.any((inner - grid.t0) % grid.dt):
        raise AggregationError(
            f"period boundaries fall between samples of the {grid.dt} s grid (e.g. "
            f"{pd.Timestamp(int(inner[(inner - grid.t0) % grid.dt != 0][0]), unit='s')} UTC); "
            "choose a level at least as coarse as the cadence")
    return np.clip((bounds - grid.t0) // grid.dt, 0, grid.n).astype(np.int64)


def _check_cadence(level: str, grid: Grid) -> None:
    if level in FIXED_LEVELS and FIXED_LEVELS[level] < grid.dt:
        raise AggregationError(
            f"level {level!r} is finer than the {grid.dt} s cadence of the data. Valid "
            f"levels here: {[lv for lv in LEVELS if FIXED_LEVELS.get(lv, 10**9) >= grid.dt]}")
