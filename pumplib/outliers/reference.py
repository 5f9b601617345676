"""The reference a detector learns: a screened fit window, robust scales, a FAR threshold.

Three small steps, each testable against an obvious reference
(``tests/naive_outliers.py``):

* :func:`screen` — the fit window is screened for faults before it is learnt:
  a row whose window feature lies more than ``z`` robust standard deviations
  (``1.4826 × MAD``) from that feature's median in the fit window is dropped,
  with ``pad`` rows either side (its window spills over them). A fault inside
  the fit window is then not learnt as normal.
* :func:`robust_centre_scale` — median and ``1.4826 × MAD`` of each feature on
  the kept rows (a floor of a small share of the feature's typical size keeps
  a flat feature from dividing by zero).
* :func:`far_threshold` — the alarm threshold set from a target false-alarm
  rate: the ``1 − target_far`` quantile of the combined score on the kept
  rows, *cross-fitted*: each half of the fit window is scored against the
  centre and scale learnt on the other half, so the threshold sees the
  out-of-sample spread that new data will have, not the optimistic in-sample
  one.
* :func:`wander_rate` — how fast each feature wanders in the fit window: the
  slope of its variogram between a short and a long lag, as the variance a
  random walk adds per row. A stationary feature (a pressure that only
  jitters about one value) has none; a drifting one (a vibration level, a
  flow that dips) has some. :func:`widening_cap` turns it into the most the
  alarm tracker may widen that feature's scale (see
  :func:`~pumplib.outliers.alarms.track`).

Examples
--------
>>> f = pd.DataFrame({"a": np.r_[np.zeros(50), 9.0, np.zeros(49)] + np.arange(100) % 3})
>>> keep = screen(f, z=6.0, pad=2)
>>> int((~keep).sum())
5
"""

from __future__ import annotations

import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd

from ..errors import ArgumentError

MAD_TO_SD = 1.4826


def _mad_scale(v: np.ndarray, quantile: float | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Column medians and ``1.4826 × MAD`` (or the ``quantile`` of the absolute deviations)
    of a 2-D array (NaN ignored), with a floor."""
    with np.errstate(all="ignore"):
        med = np.nanmedian(v, axis=0)
        dev = np.abs(v - med)
        mad = (MAD_TO_SD * np.nanmedian(dev, axis=0) if quantile is None
               else np.nanquantile(dev, quantile, axis=0))
        sd = np.nanstd(v, axis=0)
        # a feature that is (almost) constant in the fit window — a coarse sensor, a
        # quantised value — gets a scale from its std, or from its size
        floor = np.maximum(1e-3 * np.abs(med), 1e-9)
        scale = np.where(mad > floor, mad, np.where(sd > floor, sd, floor))
    return np.nan_to_num(med, nan=0.0), np.nan_to_num(scale, nan=1.0)


def screen(features: pd.DataFrame, z: float = 6.0, pad: int = 0,
           min_keep: float = 0.5, floor: np.ndarray | None = None) -> np.ndarray:
    """Rows of the fit window to learn from: those with no extreme feature.

    Parameters
    ----------
    features : DataFrame
        Window features of the fit window (rows × features).
    z : float
        Robust z-score (vs the column median, in ``1.4826 × MAD``) above which a
        row is a suspect fault.
    pad : int
        Rows dropped either side of a suspect row (the window length: its
        window holds the fault too).
    min_keep : float
        Share of rows that must stay; if screening would keep fewer, only the
        quietest ``min_keep`` share (smallest largest-z) is kept.
    floor : array, optional
        Least robust SD of each feature (the resolution of a quantised sensor,
        as in :func:`robust_centre_scale`). Without it, a quantised feature
        that sits on one value in most rows (a flow meter's largest step,
        1.0 in nine windows of ten) has a MAD near zero, and every window with
        one step more is "20 SDs" out: on SKAB's anomaly-free recording a
        third of a normal fit window was screened away that way, and the
        quietest half that was then kept set a biased reference.

    Returns
    -------
    numpy.ndarray of bool
        True for rows kept (rows with a NaN feature are not kept).
    """
    if not z > 0:
        raise ArgumentError(f"screen z must be positive, got {z!r}")
    v = features.to_numpy(dtype=float)
    med, scale = _mad_scale(v)
    if floor is not None:
        scale = np.maximum(scale, np.nan_to_num(np.asarray(floor, float), nan=0.0))
    zz = np.abs(v - med) / scale
    worst = np.nanmax(np.where(np.isfinite(zz), zz, -np.inf), axis=1) if v.size else \
        np.zeros(len(v))
    finite = np.isfinite(v).all(axis=1)
    bad = finite & (worst > z)
    if pad > 0 and bad.any():
        k = np.convolve(bad.astype(int), np.ones(2 * pad + 1, int), mode="same") > 0
        bad = k
    keep = finite & ~bad
    need = int(np.ceil(min_keep * finite.sum()))
    if keep.sum() < need:
        order = np.argsort(np.where(finite, worst, np.inf), kind="stable")
        keep = np.zeros(len(v), bool)
        keep[order[:need]] = True
    return keep


def robust_centre_scale(features: pd.DataFrame, keep: np.ndarray | None = None,
                        quantile: float | None = None, floor: np.ndarray | None = None
                        ) -> tuple[pd.Series, pd.Series]:
    """Median and robust scale of each feature on ``keep`` rows: ``1.4826 × MAD``, or with
    ``quantile`` the quantile of the absolute deviations from the median (floored; a
    ``floor`` per feature — the resolution of a quantised sensor — is a lower bound)."""
    v = features.to_numpy(dtype=float)
    if keep is not None:
        v = v[np.asarray(keep, bool)]
    med, scale = _mad_scale(v, quantile)
    if floor is not None:
        scale = np.maximum(scale, np.nan_to_num(np.asarray(floor, float), nan=0.0))
    return (pd.Series(med, index=features.columns), pd.Series(scale, index=features.columns))


def combined(features: pd.DataFrame, centre: pd.Series, scale: pd.Series,
             upper: np.ndarray | None = None) -> pd.Series:
    """The combined score of each row: the largest ``|feature − centre| / scale``
    (for ``upper`` features only the part above the centre)."""
    z = (features[centre.index] - centre) / scale
    if upper is not None:
        up = np.asarray(upper, bool)
        z = pd.DataFrame(np.where(up, np.maximum(z.to_numpy(), 0.0), np.abs(z.to_numpy())),
                         index=z.index, columns=z.columns)
    else:
        z = z.abs()
    return z.max(axis=1, skipna=True).fillna(0.0)


def far_threshold(features: pd.DataFrame, keep: np.ndarray, target_far: float,
                  quantile: float | None = None, upper: np.ndarray | None = None,
                  floor: np.ndarray | None = None) -> float:
    """Threshold whose exceedance rate on the (screened) fit window is ``target_far``.

    The ``1 − target_far`` quantile of the combined score of the kept rows,
    each half scored against the centre and scale of the other half
    (cross-fitting; see the module docstring).
    """
    if not 0 < target_far < 1:
        raise ArgumentError(f"target_far must be in (0, 1), got {target_far!r}")
    keep = np.asarray(keep, bool)
    idx = np.flatnonzero(keep)
    if len(idx) < 4:
        raise ArgumentError(f"the screened fit window keeps {len(idx)} rows; it needs at least 4")
    half = len(idx) // 2
    a, b = idx[:half], idx[half:]
    scores = []
    for fit_rows, score_rows in ((a, b), (b, a)):
        c, s = robust_centre_scale(features.iloc[fit_rows], quantile=quantile, floor=floor)
        scores.append(combined(features.iloc[score_rows], c, s, upper).to_numpy())
    return float(np.quantile(np.concatenate(scores), 1.0 - target_far))


def wander_rate(features: pd.DataFrame, keep: np.ndarray | None = None, short: int = 20,
                long: int | None = None) -> pd.Series:
    """Variance per row that each feature's slow wander adds, from its variogram.

    The variogram ``γ(L) = ½ mean((f[t+L] − f[t])²)`` of a random walk with
    per-row variance ``q`` plus stationary noise is ``γ(short) + ½ q (L −
    short)`` beyond the noise's memory. So ``q = 2 (γ(long) − γ(short)) /
    (long − short)``, at least 0: 0 for a feature that only jitters about one
    level, however much it jitters. From one short fit window it is a rough
    estimate: for a 400-row random walk of rate 1 it came out 0–2.5 over five
    seeds (one wander path is one sample of it).

    Parameters
    ----------
    features : DataFrame
        Window features of the fit window, in time order.
    keep : array of bool, optional
        Rows to use (others are NaN; pairs with a NaN are skipped).
    short : int
        The short lag: the window length (a trailing-window feature's own memory).
    long : int, optional
        The long lag (default: half the rows).

    Returns
    -------
    Series
        ``q`` per feature (0 where it cannot be measured).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f = pd.DataFrame({"jitter": rng.standard_normal(400),
    ...                   "walk": np.cumsum(rng.standard_normal(400))})
    >>> q = wander_rate(f, short=20)
    >>> bool(q["jitter"] < 0.01), bool(q["walk"] > 0.1)    # the walk's own rate is 1
    (True, True)
    """
    v = features.to_numpy(dtype=float).copy()
    if keep is not None:
        v[~np.asarray(keep, bool)] = np.nan
    n = len(v)
    long = n // 2 if long is None else int(long)
    if not 0 < short < long < n:
        return pd.Series(0.0, index=features.columns)

    def gamma(lag):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return 0.5 * np.nanmean((v[lag:] - v[:-lag]) ** 2, axis=0)

    q = 2.0 * (gamma(long) - gamma(short)) / (long - short)
    return pd.Series(np.nan_to_num(np.maximum(q, 0.0), nan=0.0), index=features.columns)


def widening_cap(scale: np.ndarray, rate: np.ndarray, horizon: int,
                 quantile: float | None = 0.99) -> np.ndarray:
    """The most a feature's scale may widen: the spread its wander predicts over ``horizon``.

    ``scale`` is the fitted scale (the ``quantile`` of the absolute deviation,
    ``z`` standard deviations of a normal feature; ``1.4826 × MAD``, ``z = 1``,
    without a quantile). A random walk adds ``rate × horizon`` of variance
    over ``horizon`` rows, so the same quantile of the deviation after it is
    ``sqrt(scale² + z² × rate × horizon)``; the cap is that over ``scale``
    (1: no widening, for a feature that does not wander).

    Examples
    --------
    >>> widening_cap(np.array([1.0, 1.0]), np.array([0.0, 0.01]), 500, quantile=None)
    array([1.        , 2.44948974])
    """
    z = 1.0 if quantile is None else NormalDist().inv_cdf(0.5 + quantile / 2)
    s = np.asarray(scale, dtype=float)
    with np.errstate(all="ignore"):
        cap = np.sqrt(1.0 + z * z * np.asarray(rate, float) * horizon / (s * s))
    return np.where(np.isfinite(cap), np.maximum(cap, 1.0), 1.0)
