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


def naive_noise_spike(x, w):
    """Trailing-window median |second difference| (needs max(2, w // 2) of them) and largest
    spike: at each row the smaller of two opposite steps in a row (0 when they do not
    reverse), the window's largest; one row at a time."""
    x = np.asarray(x, float)
    n = len(x)
    noise, spike = np.full(n, np.nan), np.full(n, np.nan)

    def ok(*js):
        return all(j >= 0 and np.isfinite(x[j]) for j in js)

    d2 = [abs(x[j] - 2 * x[j - 1] + x[j - 2]) if ok(j, j - 1, j - 2) else None
          for j in range(n)]
    sp = []
    for j in range(n):
        if not ok(j, j - 1, j - 2):
            sp.append(None)
            continue
        a, b = x[j] - x[j - 1], x[j - 1] - x[j - 2]
        sp.append(min(abs(a), abs(b)) if np.sign(a) == -np.sign(b) else 0.0)
    for i in range(n):
        lo = max(0, i - w + 1)
        vals = [v for v in d2[lo: i + 1] if v is not None]
        if len(vals) >= max(2, w // 2):
            noise[i] = float(np.median(vals))
        s = [v for v in sp[lo: i + 1] if v is not None]
        if s:
            spike[i] = max(s)
    return noise, spike


def naive_far_threshold(F, keep, far, quantile=0.99, upper=None, floor=None):
    """The cross-fitted (1 - far) quantile of the largest |f - median| / scale, with the
    scale the ``quantile`` of |f - median| of the other half (sorted-list quantiles), at
    least ``floor[j]``; an ``upper[j]`` feature counts only above its median."""
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
            q = float(np.quantile([abs(v - m) for v in col], quantile))
            sc.append(max(q, floor[j]) if floor is not None else q)
        for i in score:
            zs = []
            for j in range(F.shape[1]):
                d = (F[i, j] - med[j]) / sc[j]
                zs.append(max(d, 0.0) if upper is not None and upper[j] else abs(d))
            scores.append(max(zs))
    return float(np.quantile(scores, 1 - far))


def naive_adaptive_centre(F, centre, on, rate):
    """The centre of :func:`pumplib.outliers.alarms.track` with ``adapt``, for rows that
    never alarm: each row moves it ``rate`` of the way to the row (a plain loop)."""
    c = [float(v) for v in centre]
    out = []
    for row in np.asarray(F, float):
        z = max(abs(row[j] - c[j]) for j in range(len(c)))
        assert z <= on, "the reference only covers rows without an alarm"
        c = [c[j] + rate * (row[j] - c[j]) for j in range(len(c))]
        out.append(list(c))
    return np.array(out)


def naive_wander_rate(F, keep, short, long):
    """Per feature: 2 (γ(long) − γ(short)) / (long − short), at least 0, with
    γ(L) = ½ × the mean of (f[t + L] − f[t])² over the pairs where both rows are kept."""
    F = np.asarray(F, float)

    def gamma(j, lag):
        sq = [(F[t + lag, j] - F[t, j]) ** 2 for t in range(len(F) - lag)
              if keep[t] and keep[t + lag]]
        return 0.5 * sum(sq) / len(sq)

    return np.array([max(0.0, 2 * (gamma(j, long) - gamma(j, short)) / (long - short))
                     for j in range(F.shape[1])])


def naive_capped_scale(F, centre, scale, spread, cap, rate):
    """The scale of :func:`pumplib.outliers.alarms.track` after each row that does not
    alarm: the centre moves ``rate`` of the way to the row, the mean absolute distance
    ``m`` (from ``spread``) the same way to |row − new centre|, and the scale is
    ``scale × min(cap, max(1, m / spread))`` (a plain loop, one feature)."""
    c, m, out = float(centre), float(spread), []
    for v in np.asarray(F, float):
        c = c + rate * (v - c)
        m = m + rate * (abs(v - c) - m)
        out.append(scale * min(cap, max(1.0, m / spread)))
    return np.array(out)
