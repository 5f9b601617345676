"""Forecast levels and their seasons: the grid, the declared seasons, the fit window.

A *season* is a number of periods after which the pattern repeats: 24 and 168
for hourly demand (the day and the week), 7 for daily data. Seasons are
declared per target (``season=`` on :func:`~pumplib.forecast.backtest`,
:func:`~pumplib.forecast.forecast` …) or come from the settings
``forecast.seasons`` by level. The longest declared season drives the
seasonal naive (the weekly naive for hourly data), the median of the last k
seasons and the MASE scale.

Examples
--------
>>> seasons("1h")
[24, 168]
>>> seasons("1h", 24)
[24]
>>> seasons("1D", [7])
[7]
>>> fit_window("1h", [24, 168])
1344
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..errors import ArgumentError, UnknownNameError, choices_message

#: grid and gap policy per level (seasons: ``forecast.seasons``)
LEVELS: dict[str, dict] = {
    "15min": {"horizon": 96, "max_gap": 4, "freq": "15min"},
    "1h": {"horizon": 24, "max_gap": 3, "freq": "h"},
    # a fixed 24 h step on local dates (Darts cannot step pandas' calendar ``Day``)
    "1D": {"horizon": 7, "max_gap": 2, "freq": "24h"},
}


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
    from ..lake import Lake

    return lake if isinstance(lake, Lake) else Lake(lake)


def seasons(level: str, season: int | Sequence[int] | None = None) -> list[int]:
    """The declared seasons of a target, shortest first.

    Parameters
    ----------
    level : {"15min", "1h", "1D"}
    season : int or sequence of int, optional
        Periods per season; default the setting ``forecast.seasons.<level>``.

    Returns
    -------
    list of int
        Sorted, without repeats; each at least 2.
    """
    from .. import config

    _level(level)
    if season is None:
        season = config.get("forecast.seasons").get(level)
        if season is None:
            raise ArgumentError(f"setting forecast.seasons has no entry for level {level!r}; "
                                "give season=… or add it")
    values = [season] if isinstance(season, int | float | str) else list(season)
    try:
        out = sorted({int(v) for v in values})
    except (TypeError, ValueError):
        raise ArgumentError(f"season must be an int or a list of ints (periods), got "
                            f"{season!r}") from None
    if not out or out[0] < 2:
        raise ArgumentError(f"season must be ≥ 2 periods, got {season!r}")
    return out


def fit_window(level: str, season: Sequence[int]) -> int:
    """Periods of recent history local models are fitted on (``forecast.fit_window``).

    The setting is a duration (``8W``, ``56D``); the window is never shorter
    than three of the longest seasons.
    """
    from .. import config

    raw = config.get("forecast.fit_window")
    try:
        span = pd.Timedelta(str(raw).replace("w", "W"))
    except ValueError:
        raise ArgumentError(f"setting forecast.fit_window: {raw!r} is not a duration "
                            "(e.g. 8W, 56D)") from None
    return max(int(span / _step(level)), 3 * max(season))


def calibration_origins() -> int:
    """Earlier forecast origins whose residuals calibrate intervals (``forecast.calibration``)."""
    from .. import config

    n = int(config.get("forecast.calibration"))
    if n < 1:
        raise ArgumentError(f"setting forecast.calibration must be ≥ 1, got {n}")
    return n
