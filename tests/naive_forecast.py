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



def naive_long_profile(y, series, target, step, m, s, offday=None):
    """Median of y at the target's position in the shortest season (its hour of the day;
    every period when s == m) over the 4 longest seasons before the origin, from periods
    of the target's kind of day only (with ``offday``)."""
    n = len(y)
    origin = target - step
    u = s if s < m else 1
    vals = []
    for i in range(max(origin - 4 * m, 0), origin):
        if (target - i) % u or not 0 <= i < n:
            continue
        if offday is not None and offday[i] != offday[target]:
            continue
        if not math.isnan(y[i, series]):
            vals.append(float(y[i, series]))
    vals.sort()
    if not vals:
        return math.nan
    k = len(vals)
    return vals[k // 2] if k % 2 else (vals[k // 2 - 1] + vals[k // 2]) / 2


def naive_anchor(y, series, target, step, m, s, kind, n_lags=4, offday=None):
    """The value the global model's target is the change against: ``lag`` (one season
    before, r seasons back; the lags' median where missing), ``median`` (of the n_lags
    seasons' values), ``profile`` (:func:`naive_long_profile`) or ``mean`` (of the 4
    longest seasons before the origin); the lag where the choice is missing."""
    n = len(y)
    origin = target - step
    r = 1 + step // m
    lags = [float(y[i, series]) if 0 <= (i := target - (r + k) * m) < n else math.nan
            for k in range(n_lags)]
    vals = sorted(v for v in lags if not math.isnan(v))
    med = ((vals[len(vals) // 2] if len(vals) % 2 else
            (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2) if vals else math.nan)
    lag = med if math.isnan(lags[0]) else lags[0]
    if kind == "median":
        pick = med
    elif kind == "profile":
        pick = naive_long_profile(y, series, target, step, m, s, offday)
    elif kind == "mean":
        pick = _mean([float(y[i, series]) for i in range(max(origin - 4 * m, 0), origin)])
    else:
        pick = lag
    return lag if math.isnan(pick) else pick


def naive_recent_level(y, series, target, step, m, offday=None):
    """One season (daily data): mean of y over the m periods before the origin, of the
    target's kind of day only (with ``offday``)."""
    origin = target - step
    return _mean([float(y[i, series]) for i in range(max(origin - m, 0), origin)
                  if offday is None or offday[i] == offday[target]])


def naive_long_weeks(y, series, target, step, m, weeks):
    """Median of y at the target's position of the longest season over ``weeks`` seasons,
    counted back from the last one before the origin."""
    r = 1 + step // m
    vals = sorted(float(y[i, series]) for k in range(weeks)
                  if 0 <= (i := target - (r + k) * m) < len(y) and not math.isnan(y[i, series]))
    if not vals:
        return math.nan
    k = len(vals)
    return vals[k // 2] if k % 2 else (vals[k // 2 - 1] + vals[k // 2]) / 2
