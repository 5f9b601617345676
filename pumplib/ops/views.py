"""Views and drill-down: levels, periods of the local calendar, the shared selection.

A :class:`View` is what a page shows: a level (``1M`` … ``1min``) and an
optional UTC window. Calendar levels (day, week, month) follow the utility's
time zone, so a month starts at local midnight and the day clocks go forward
lasts 23 hours. Times are kept UTC (naive) inside; everything a person reads
is local (:func:`local`, :func:`window_text`, :func:`labels`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .. import config
from ..errors import ArgumentError, UnknownNameError, choices_message

LEVELS = ("1M", "1W", "1D", "1h", "15min", "1min")
TIERS = {"strategic": ("1M", "1W"), "tactical": ("1D",), "operational": ("1h", "15min"),
         "real-time": ("1min",)}
#: the level one drills down to from a period of each level
CHILD = {"1M": "1D", "1W": "1D", "1D": "1h", "1h": "15min", "15min": "1min"}


@dataclass(frozen=True)
class View:
    """What a page shows: a level and an optional UTC window ``[start, end)``.

    Examples
    --------
    >>> View("1D", "2026-03-01", "2026-04-01").tier
    'tactical'
    """

    level: str = "1M"
    start: pd.Timestamp | str | None = None
    end: pd.Timestamp | str | None = None

    def __post_init__(self):
        if self.level not in LEVELS:
            raise UnknownNameError(choices_message("level", self.level, LEVELS))
        for name in ("start", "end"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, utc_naive(v))

    @property
    def tier(self) -> str:
        return next(t for t, lv in TIERS.items() if self.level in lv)


@dataclass(frozen=True)
class Period:
    """One period of a level: UTC start/end and a local label."""

    level: str
    start: pd.Timestamp
    end: pd.Timestamp
    label: str


def period_end(level: str, start, timezone: str | None = None) -> pd.Timestamp:
    """End (UTC, exclusive) of the period of ``level`` starting at ``start`` (UTC).

    Calendar levels (1D, 1W, 1M) follow the local calendar, so a day across the
    change to summer time lasts 23 hours.

    Examples
    --------
    >>> str(period_end("1D", "2026-03-28 23:00", "Europe/Amsterdam"))
    '2026-03-29 22:00:00'
    >>> str(period_end("1M", "2026-02-28 23:00", "Europe/Amsterdam"))
    '2026-03-31 22:00:00'
    """
    if level not in LEVELS:
        raise UnknownNameError(choices_message("level", level, LEVELS))
    tz = timezone or config.get("utility.timezone")
    start = utc_naive(start)
    if level in ("1h", "15min", "1min"):
        return start + pd.Timedelta(level)
    local = start.tz_localize("UTC").tz_convert(tz)
    step = {"1D": pd.DateOffset(days=1), "1W": pd.DateOffset(weeks=1),
            "1M": pd.DateOffset(months=1)}[level]
    return (local + step).tz_convert("UTC").tz_localize(None)


def drill_down(view: View, start, timezone: str | None = None) -> View:
    """The finer view of the period of ``view.level`` that starts at ``start``.

    Examples
    --------
    >>> v = drill_down(View("1M"), "2026-02-28 23:00", "Europe/Amsterdam")
    >>> v.level, str(v.start), str(v.end)
    ('1D', '2026-02-28 23:00:00', '2026-03-31 22:00:00')
    """
    if view.level not in CHILD:
        raise ArgumentError(f"cannot drill down from level {view.level!r}: it is the finest. "
                            f"Levels that drill down: {list(CHILD)}")
    start = utc_naive(start)
    return View(CHILD[view.level], start, period_end(view.level, start, timezone))


def roll_up(view: View) -> View:
    """The coarsest view (the whole span at 1M): the way back up."""
    return View("1M")


# -- the shared selection model (pumplib.ui.Selection) ---------------------------------
def view_of(selection) -> View:
    """The :class:`View` of a :class:`pumplib.ui.Selection`: its level and time range.

    The selection is the single source of truth of the ops front ends (assets,
    level, time range); the view is derived from it. A level of ``auto`` is
    resolved with :meth:`~pumplib.ui.Selection.effective_level`.

    Examples
    --------
    >>> from pumplib.assets import AssetRegistry
    >>> from pumplib.simulate import make_registry
    >>> from pumplib.ui import Selection
    >>> sel = Selection(AssetRegistry.from_dict(make_registry()), data_start="2026-03-01",
    ...                 data_end="2026-04-01")
    >>> apply_view(sel, View("1D", "2026-03-09", "2026-03-16"))
    >>> view_of(sel)
    View(level='1D', start=Timestamp('2026-03-09 00:00:00'), end=Timestamp('2026-03-16 00:00:00'))
    """
    level = selection.level if selection.level != "auto" else selection.effective_level()
    return View(level, selection.start, selection.end)


def apply_view(selection, view: View) -> None:
    """Write ``view`` (level, start, end) into ``selection`` in one change.

    A view without a window (the whole span) leaves the selection without one
    (``start``/``end`` None). :meth:`~pumplib.ui.Selection.back` undoes it.
    """
    selection.set(level=view.level, start=view.start, end=view.end)


def drill_selection(selection, start, timezone: str | None = None) -> View:
    """Drill ``selection`` down from the period starting at ``start`` (see :func:`drill_down`).

    The ops calendar drill-down (a month becomes its local days, a day its
    hours …) applied through the shared model; returns the new view.

    Examples
    --------
    >>> from pumplib.assets import AssetRegistry
    >>> from pumplib.simulate import make_registry
    >>> from pumplib.ui import Selection
    >>> sel = Selection(AssetRegistry.from_dict(make_registry()), data_start="2026-03-01",
    ...                 data_end="2026-04-01", level="1M")
    >>> sel.set(start=None, end=None)
    >>> drill_selection(sel, "2026-02-28 23:00", "Europe/Amsterdam").level, sel.level
    ('1D', '1D')
    >>> _ = sel.back(); sel.level, sel.start
    ('1M', None)
    """
    view = drill_down(view_of(selection), start, timezone)
    apply_view(selection, view)
    return view


def replace_view(view: View, **kw) -> View:
    """A copy of ``view`` with fields replaced (validated)."""
    return replace(view, **kw)


# -- local time: what a person reads ---------------------------------------------------
def local(t, timezone: str) -> pd.Timestamp | pd.DatetimeIndex:
    """UTC (naive or aware) time(s) as local wall-clock time, naive (for chart axes).

    Examples
    --------
    >>> str(local("2026-03-12 18:46", "Europe/Amsterdam"))
    '2026-03-12 19:46:00'
    """
    if isinstance(t, (pd.DatetimeIndex, pd.Series, np.ndarray, list)):
        from ..ui.charts import local_times

        return pd.DatetimeIndex(local_times(t, timezone))
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.tz_convert(timezone).tz_localize(None)


def local_text(t, timezone: str, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """One UTC time as local text with the zone's abbreviation.

    Examples
    --------
    >>> local_text("2026-03-11 23:00", "Europe/Amsterdam")
    '2026-03-12 00:00 CET'
    >>> local_text(None, "Europe/Amsterdam")
    '–'
    """
    if t is None or (not isinstance(t, str) and pd.isna(t)):
        return "–"
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.tz_convert(timezone).strftime(fmt)


def window_text(view: View, timezone: str) -> str:
    """The view's window in local time, e.g. ``2026-03-12 00:00 → 2026-03-13 00:00 CET``.

    Examples
    --------
    >>> window_text(View("1h", "2026-03-11 23:00", "2026-03-12 23:00"), "Europe/Amsterdam")
    '2026-03-12 00:00 → 2026-03-13 00:00 CET'
    >>> window_text(View("1D", "2026-03-28 23:00", "2026-03-29 22:00"), "Europe/Amsterdam")
    '2026-03-29 00:00 CET → 2026-03-30 00:00 CEST'
    >>> window_text(View("1M"), "Europe/Amsterdam")
    'whole span'
    """
    if view.start is None and view.end is None:
        return "whole span"
    lo = local_text(view.start, timezone) if view.start is not None else "start"
    hi = local_text(view.end, timezone) if view.end is not None else "end"
    zl, zh = lo.rsplit(" ", 1)[-1], hi.rsplit(" ", 1)[-1]
    if view.start is not None and view.end is not None and zl == zh:
        lo = lo.rsplit(" ", 1)[0]
    return f"{lo} → {hi}"


def labels(t, level: str, timezone: str) -> list[str]:
    """Local labels of period starts (UTC naive) of ``level``.

    Examples
    --------
    >>> labels(pd.DatetimeIndex(["2026-02-28 23:00"]), "1M", "Europe/Amsterdam")
    ['2026-03']
    """
    loc = pd.DatetimeIndex(t).tz_localize("UTC").tz_convert(timezone)
    fmt = {"1M": "%Y-%m", "1W": "week of %Y-%m-%d", "1D": "%Y-%m-%d (%a)",
           "1h": "%Y-%m-%d %H:%M", "15min": "%Y-%m-%d %H:%M", "1min": "%Y-%m-%d %H:%M"}[level]
    return [x.strftime(fmt) for x in loc]


def window_mask(t: pd.DatetimeIndex, view: View) -> np.ndarray:
    m = np.ones(len(t), bool)
    if view.start is not None:
        m &= np.asarray(t >= view.start)
    if view.end is not None:
        m &= np.asarray(t < view.end)
    return m


def clamp(t: pd.DatetimeIndex, n: int) -> pd.DatetimeIndex:
    return t[-n:] if len(t) > n else t


def local_day_start(day, timezone: str) -> pd.Timestamp:
    d = pd.Timestamp(day).normalize()
    return d.tz_localize(timezone).tz_convert("UTC").tz_localize(None)


def utc_naive(t) -> pd.Timestamp:
    t = pd.Timestamp(t)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t
