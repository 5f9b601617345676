"""Slow, obvious references for the features of the global forecaster (pumplib.forecast.gbm)."""

from __future__ import annotations

import math


def _mean(values):
    vals = [v for v in values if not math.isnan(v)]
    return sum(vals) / len(vals) if vals else math.nan


def naive_trailing_mean(cov, width, row, col):
    """Mean of cov[row - width + 1 .. row, col] (rows before the start and NaNs skipped)."""
    return _mean([float(cov[i, col]) for i in range(max(row - width + 1, 0), row + 1)])


def naive_profiles(y, series, target, step, m, s, n_lags=4, offday=None):
    """(week profile, day profile) of one target period, in units of the level, against
    the value r seasons before (r = 1 + step // m), as the global model sees them.

    week: mean of y at the same position of the longest season ±1 period over the
    ``n_lags`` seasons before the origin (periods at or after the origin left out); day: mean of y at the same position of the
    shortest season over the m // s shortest seasons before the origin. The unit is
    the absolute mean of y over the longest season before the origin. With ``offday``
    (a flag per period), only periods of the target's kind of day count.
    """
    n = len(y)
    origin = target - step

    def at(i):
        if not 0 <= i < n:
            return math.nan
        if offday is not None and offday[i] != offday[target]:
            return math.nan
        return float(y[i, series])

    def lag(i):
        return float(y[i, series]) if 0 <= i < n else math.nan

    r = 1 + step // m
    lags = [lag(target - (r + k) * m) for k in range(n_lags)]
    base = lags[0]
    if math.isnan(base):
        vals = sorted(v for v in lags if not math.isnan(v))
        base = (vals[len(vals) // 2] if len(vals) % 2 else
                (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2) if vals else math.nan
    level = _mean([lag(i) for i in range(max(origin - m, 0), origin)])
    scale = abs(level) if abs(level) > 1e-9 else 1.0
    week = _mean([at(i) for k in range(n_lags) for d in (-1, 0, 1)
                  if (i := target - (r + k) * m + d) < origin])     # only what came before
    first = target - s * (1 + step // s)
    day = _mean([at(first - i * s) for i in range(m // s)])
    return (week - base) / scale, (day - base) / scale

