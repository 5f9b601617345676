"""Window features of each signal: level, spread and impulses.

A window *mean* alone dilutes what a pump's faults look like on a sensor:
two-phase flow (cavitation) makes the flow and the vibration noisy without
moving their means much, and a single impulse of a few samples is one
twentieth of a 20-sample mean. So each signal gets trailing-window features,
all in the signal's own units:

* ``mean``: the window mean; for a *slow* signal (a temperature that drifts
  with the load or the seasons) the window mean minus its ``detrend``-sample
  trend, so slow drift is not a change but a sudden one is;
* ``noise``: the median absolute second difference in the window
  (cavitation-like noise). A step (a speed set-point change) or a ramp (a
  warm-up) has second differences of zero but at its corners, so it leaves
  the median alone;
* ``spike``: the largest step that comes straight back (two opposite steps
  in a row, the smaller of the two) — a single impulse, not a control step
  that stays;
* ``std`` and ``jump``: the window standard deviation and the largest
  absolute first difference, the first versions of ``noise`` and ``spike``.
  Every step is noise or an impulse to them: on the sample lake, speed
  set-point changes and bearing warm-ups made 13 false events (19 against
  6), so they are no longer the default (:data:`DEFAULT_FEATURES`).

Every feature of a row uses only that row and earlier ones (``center=False``),
so the same numbers come out live and offline.

Examples
--------
>>> x = pd.DataFrame({"flow": [1.0, 1.0, 1.0, 5.0, 1.0, 1.0, 3.0, 3.0]})
>>> f = window_features(x, window=3, features=["jump", "spike"])
>>> f["flow:jump"].tolist()
[nan, 0.0, 0.0, 4.0, 4.0, 4.0, 4.0, 2.0]
>>> f["flow:spike"].tolist()          # the step to 3.0 stays: not a spike
[nan, nan, 0.0, 0.0, 4.0, 4.0, 4.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import ArgumentError, choices_message

#: the window features, in the order their columns are made
FEATURES = ("mean", "std", "jump", "noise", "spike")
#: the features :class:`~pumplib.outliers.AlarmDetector` uses unless told otherwise
DEFAULT_FEATURES = ("mean", "noise", "spike")
#: features that alarm only above their reference: less noise, or smaller steps, than
#: normal operation is not a pump fault
UPPER_FEATURES = ("std", "jump", "noise", "spike")
#: what each feature means, for explanations
FEATURE_WORDS = {"mean": "level", "std": "noise (window std)", "jump": "impulse (max |step|)",
                 "noise": "noise (median |2nd difference|)", "spike": "impulse (step and back)"}


def check_features(features: Iterable[str]) -> tuple[str, ...]:
    """The features asked for, checked against :data:`FEATURES`."""
    out = tuple(features)
    for f in out:
        if f not in FEATURES:
            raise ArgumentError(choices_message("window feature", f, FEATURES))
    if not out:
        raise ArgumentError("at least one window feature is needed; choose from "
                            + ", ".join(repr(f) for f in FEATURES))
    return out


def is_slow(x: pd.Series, autocorr: float) -> bool:
    """True when the lag-1 autocorrelation of ``x`` exceeds ``autocorr`` (a slow signal)."""
    ac = x.astype(float).autocorr(1)
    return bool(np.isfinite(ac) and ac > autocorr)


def window_features(frame: pd.DataFrame, window: int, *, slow: Sequence[str] = (),
                    detrend: int = 60, features: Sequence[str] = DEFAULT_FEATURES,
                    center: bool = False) -> pd.DataFrame:
    """Trailing-window features of every column of ``frame``.

    Parameters
    ----------
    frame : DataFrame
        Numeric signals, one column each (NaN: missing).
    window : int
        Samples per window.
    slow : sequence of str
        Columns whose ``mean`` is taken against their ``detrend``-sample trend.
    detrend : int
        Samples of the trend removed from slow signals.
    features : sequence of str
        Any of :data:`FEATURES`.
    center : bool
        Centred windows (use later samples; offline only).

    Returns
    -------
    DataFrame
        Columns ``<signal>:<feature>``, same index as ``frame``.
    """
    feats = check_features(features)
    mp = max(2, window // 2)
    out = {}
    for c in frame.columns:
        x = frame[c].astype(float)
        roll = x.rolling(window, min_periods=mp, center=center)
        for f in feats:
            if f == "mean":
                v = roll.mean()
                if c in slow:
                    v = v - x.rolling(detrend, min_periods=max(2, detrend // 2),
                                      center=center).mean()
            elif f == "std":
                v = roll.std()
            elif f == "jump":
                v = x.diff().abs().rolling(window, min_periods=1, center=center).max()
            elif f == "noise":     # median |second difference|: blind to steps and ramps
                v = x.diff().diff().abs().rolling(window, min_periods=mp,
                                                  center=center).median()
            else:   # spike: a step that comes back at once (not a control step that stays)
                d = x.diff()
                back = np.sign(d) == -np.sign(d.shift(1))
                v = (np.minimum(d.abs(), d.shift(1).abs()).where(back, 0.0)
                     .where(d.notna() & d.shift(1).notna())
                     .rolling(window, min_periods=1, center=center).max())
            out[f"{c}:{f}"] = v
    return pd.DataFrame(out, index=frame.index)


def resolution(x: pd.Series | np.ndarray) -> float:
    """The step a sensor resolves: the median of the non-zero absolute first differences
    (NaN when the signal never changes). A quantised sensor (a flow meter read in steps
    of 1/3 m³/h) cannot move its largest step or its noise by less than this.

    Examples
    --------
    >>> resolution(np.array([32.0, 32.0, 32.33, 32.0, 32.67, 32.67]))
    0.33
    """
    d = np.abs(np.diff(np.asarray(x, dtype=float)))
    d = d[np.isfinite(d) & (d > 0)]
    return float(np.round(np.median(d), 12)) if d.size else float("nan")


def split_column(col: str) -> tuple[str, str]:
    """``"flow:std"`` → ``("flow", "std")``."""
    sig, _, feat = col.rpartition(":")
    return sig, feat
