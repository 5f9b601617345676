"""Baselines an analyst tries first, on plain numpy arrays: one forecast from one history.

Every function takes the history before a forecast origin (oldest first, no
missing values at its end) and returns the next ``horizon`` values.

* :func:`seasonal_naive`: the value one season ago (``naive``; with the
  longest declared season, the *weekly naive* for hourly data).
* :func:`seasonal_median`: the median of the last ``k`` seasons at the same
  position (``median4w``: the last 4 weeks at the same hour of the week).
* :func:`mstl_forecast`: MSTL (Bandara et al., 2021; statsmodels) on the
  recent window: each season's last cycle repeated, plus the level of the
  deseasonalised series (its mean over the last shortest season).

Examples
--------
>>> import numpy as np
>>> y = np.arange(12.0)
>>> seasonal_naive(y, 5, 4)
array([ 8.,  9., 10., 11.,  8.])
>>> seasonal_median(y, 2, 4, k=2)
array([6., 7.])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The last season repeated: ``ŷ[t + i] = y[t - m + (i mod m)]``.

    Parameters
    ----------
    history : ndarray
        Values before the origin, oldest first (at least ``season``).
    horizon : int
    season : int
        Periods per season ``m``.
    """
    y = np.asarray(history, dtype=float)
    if len(y) < season:
        return np.full(horizon, np.nan)
    last = y[len(y) - season:]
    return last[np.arange(horizon) % season]


def seasonal_median(history: np.ndarray, horizon: int, season: int, k: int = 4) -> np.ndarray:
    """Median of the last ``k`` seasons at the same position (missing values skipped).

    Uses as many seasons as the history holds, up to ``k``.
    """
    y = np.asarray(history, dtype=float)
    n_seasons = min(int(k), len(y) // season)
    if n_seasons < 1:
        return np.full(horizon, np.nan)
    block = y[len(y) - n_seasons * season:].reshape(n_seasons, season)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(block, axis=0)
    return med[np.arange(horizon) % season]


def mstl_forecast(history: np.ndarray, horizon: int, seasons: Sequence[int]) -> np.ndarray:
    """MSTL decomposition of the history; each seasonal component's last cycle repeated
    plus the deseasonalised level (mean of the last shortest season).

    Seasons with fewer than two cycles in the history are left out; with none
    left, the seasonal naive of the longest season that fits is returned.
    """
    from statsmodels.tsa.seasonal import MSTL

    y = np.asarray(history, dtype=float)
    usable = [int(s) for s in sorted(seasons) if 2 * int(s) <= len(y)]
    if not usable:
        return np.full(horizon, np.nan)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = MSTL(y, periods=usable if len(usable) > 1 else usable[0],
                   stl_kwargs={"robust": False}).fit()
    seas = np.asarray(res.seasonal).reshape(len(y), -1)
    deseason = y - seas.sum(axis=1)
    level = deseason[len(y) - usable[0]:].mean()
    out = np.full(horizon, level)
    steps = np.arange(horizon)
    for c, m in enumerate(usable):
        last = seas[len(y) - m:, c]
        out = out + last[steps % m]
    return out
