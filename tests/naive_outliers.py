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
