"""Prediction intervals calibrated per series: split conformal on rolling back-test residuals.

For each series and forecast origin, the residuals ``actual - forecast`` of
the model's last ``n_cal`` earlier forecasts that had ended before the origin
(rolling: only what was known then) are pooled per *horizon block* (blocks of
``⌈horizon / 7⌉`` steps: a day of a week-ahead hourly forecast, one step of a
week-ahead daily forecast). The interval is the forecast plus the ``q_lo``
and ``q_hi`` quantiles of its block's residuals, so every model gets
intervals, each series its own width, and a step far ahead a wider one.

Examples
--------
>>> block_size(168), block_size(24), block_size(7)
(24, 4, 1)
"""

from __future__ import annotations

import numpy as np

#: fewest residuals a block needs before it gives an interval
MIN_RESIDUALS = 8


def block_size(horizon: int) -> int:
    """Steps per horizon block: ``⌈horizon / 7⌉``."""
    return max(1, -(-int(horizon) // 7))


def conformal_intervals(points: dict, y: np.ndarray, observed: np.ndarray, horizon: int,
                        n_cal: int, q_lo: float = 0.1, q_hi: float = 0.9,
                        targets=None) -> dict:
    """Interval bounds of forecasts from the residuals of earlier forecasts of the same series.

    Parameters
    ----------
    points : dict
        ``{(series j, origin position p): forecast (horizon,)}`` of one model,
        calibration origins included; ``p`` indexes rows of ``y``.
    y, observed : ndarray
        ``(periods, series)`` values and which are real (residuals use only these).
    horizon : int
    n_cal : int
        Earlier origins whose residuals calibrate one origin's interval.
    q_lo, q_hi : float
        Residual quantiles (0.1 and 0.9: an 80 % interval).
    targets : iterable of (j, p), optional
        The forecasts that need intervals (default all of ``points``).

    Returns
    -------
    dict
        ``{(j, p): (lo (horizon,), hi (horizon,))}``. A block with fewer than
        :data:`MIN_RESIDUALS` residuals uses all the origin's residuals; NaN
        where even those are fewer.
    """
    h = int(horizon)
    b = block_size(h)
    blocks = np.arange(h) // b
    n_blocks = int(blocks[-1]) + 1
    by_series: dict[int, list[int]] = {}
    for j, p in points:
        by_series.setdefault(j, []).append(p)
    resid = {}
    n = len(y)
    for (j, p), pt in points.items():
        rows = np.arange(p, min(p + h, n))
        r = np.full(h, np.nan)
        ok = observed[rows, j]
        r[:len(rows)][ok] = y[rows[ok], j] - pt[:len(rows)][ok]
        resid[(j, p)] = r
    out = {}
    for j, p in (targets if targets is not None else points):
        earlier = sorted(q for q in by_series.get(j, ()) if q + h <= p)[-int(n_cal):]
        lo = np.full(h, np.nan)
        hi = np.full(h, np.nan)
        if earlier:
            stack = np.stack([resid[(j, q)] for q in earlier])   # (origins, h)
            pooled = stack[~np.isnan(stack)]
            for blk in range(n_blocks):
                vals = stack[:, blocks == blk].ravel()
                vals = vals[~np.isnan(vals)]
                if len(vals) < MIN_RESIDUALS:   # a short history: all steps together
                    vals = pooled
                if len(vals) >= MIN_RESIDUALS:
                    lo[blocks == blk] = np.quantile(vals, q_lo)
                    hi[blocks == blk] = np.quantile(vals, q_hi)
        pt = points[(j, p)]
        out[(j, p)] = (pt + lo, pt + hi)
    return out
