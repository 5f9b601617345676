"""Alarms from scores: hysteresis (alarms that end)."""

from __future__ import annotations

import numpy as np

from .common import run_segments


def hysteresis(score: np.ndarray, on: float, off: float, min_length: int = 1) -> np.ndarray:
    """True from where ``score`` exceeds ``on`` until it falls to ``off`` or below.

    Examples
    --------
    >>> hysteresis(np.array([0, 3, 2.5, 1, 3, 0]), on=2.8, off=2.0).tolist()
    [False, True, True, False, True, False]
    """
    s = np.nan_to_num(np.asarray(score, dtype=float), nan=0.0)
    out = np.zeros(len(s), dtype=bool)
    state = False
    for i, v in enumerate(s):
        state = (v > off) if state else (v > on)
        out[i] = state
    if min_length > 1:
        for a, b in run_segments(out, 1):
            if b - a < min_length:
                out[a:b] = False
    return out
