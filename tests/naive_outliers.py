"""Slow, obvious references for :mod:`pumplib.outliers`."""

from __future__ import annotations

import math

import numpy as np


def naive_profile(x, m, valid=None, reference=None, exclusion=None):
    """Brute-force raw-Euclidean matrix profile of ``x`` (self-join, or AB-join).

    A window counts only when all its samples are valid and finite; a self-join
    skips neighbours within ``exclusion`` (default ``ceil(m / 4)``) samples.
    Returns ``(distance, neighbour)`` on the original positions (inf / -1 where
    there is no window).
    """
    x = np.asarray(x, float)
    ok = np.isfinite(x) if valid is None else (np.asarray(valid, bool) & np.isfinite(x))
    n = len(x)
    r = x if reference is None else np.asarray(reference, float)
    rok = ok if reference is None else np.isfinite(r)
    excl = math.ceil(m / 4) if exclusion is None else exclusion
    dist = np.full(n, np.inf)
    nb = np.full(n, -1)
    for i in range(n - m + 1):
        if not ok[i:i + m].all():
            continue
        for j in range(len(r) - m + 1):
            if not rok[j:j + m].all():
                continue
            if reference is None and abs(i - j) <= excl:
                continue
            d = math.sqrt(float(((x[i:i + m] - r[j:j + m]) ** 2).sum()))
            if d < dist[i]:
                dist[i], nb[i] = d, j
    return dist, nb


def naive_left_distance(x, m):
    """Distance of the last window of ``x`` to its nearest earlier window (raw Euclidean),
    skipping neighbours within ``ceil(m / 4)`` samples."""
    x = np.asarray(x, float)
    last = len(x) - m
    excl = math.ceil(m / 4)
    best = np.inf
    for j in range(last - excl):
        best = min(best, math.sqrt(float(((x[last:] - x[j:j + m]) ** 2).sum())))
    return best


def naive_window_features(x, w, slow=False, detrend=60):
    """Trailing-window mean (minus the ``detrend`` trend when ``slow``), std and max |step|,
    one row at a time (pandas' min_periods: mean/std need max(2, w // 2) values)."""
    x = np.asarray(x, float)
    n = len(x)
    mean, std, jump = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    need = max(2, w // 2)
    for i in range(n):
        win = x[max(0, i - w + 1): i + 1]
        win = win[np.isfinite(win)]
        if len(win) >= need:
            mean[i] = sum(win) / len(win)
            mu = mean[i]
            std[i] = math.sqrt(sum((v - mu) ** 2 for v in win) / (len(win) - 1))
            if slow:
                tr = x[max(0, i - detrend + 1): i + 1]
                tr = tr[np.isfinite(tr)]
                mean[i] = mean[i] - sum(tr) / len(tr) if len(tr) >= max(2, detrend // 2) \
                    else np.nan
        steps = [abs(x[j] - x[j - 1]) for j in range(max(1, i - w + 1), i + 1)
                 if np.isfinite(x[j]) and np.isfinite(x[j - 1])]
        if steps:
            jump[i] = max(steps)
    return mean, std, jump


def naive_far_threshold(F, keep, far, quantile=0.99):
    """The cross-fitted (1 - far) quantile of the largest |f - median| / scale, with the
    scale the ``quantile`` of |f - median| of the other half (sorted-list quantiles)."""
    F = np.asarray(F, float)
    rows = [i for i in range(len(F)) if keep[i]]
    half = len(rows) // 2
    parts = [(rows[:half], rows[half:]), (rows[half:], rows[:half])]
    scores = []
    for fit, score in parts:
        med, sc = [], []
        for j in range(F.shape[1]):
            col = sorted(F[i, j] for i in fit)
            m = float(np.median(col))
            med.append(m)
            sc.append(float(np.quantile([abs(v - m) for v in col], quantile)))
        for i in score:
            scores.append(max(abs(F[i, j] - med[j]) / sc[j] for j in range(F.shape[1])))
    return float(np.quantile(scores, 1 - far))
