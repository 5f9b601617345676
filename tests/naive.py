"""Slow, obvious references that the fast code is tested against."""

from __future__ import annotations

import csv
import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np


def naive_long_csv(path, registry, scale_of, step_seconds):
    """Parse a long CSV row by row into {(asset, signal, epoch_s): value}; last row wins."""
    out = {}
    with open(path, newline="") as f:
        rows = csv.reader(f)
        next(rows)
        for ts, tag, value, _q in rows:
            t = dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
            cell = round(t / step_seconds) * step_seconds
            info = registry.tag(tag)
            if value == "":
                continue
            out[(info.asset, info.signal, int(cell))] = float(value) * scale_of(info)[0] + \
                scale_of(info)[1]
    return out


def naive_localize(wall: str, tz: str, first: bool) -> int:
    """Epoch seconds of a local wall time; ``first`` picks the summer-time reading."""
    t = dt.datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(tz), fold=0 if first else 1)
    return int(t.timestamp())


def lake_cells(ds, variables=None):
    """{(asset, signal, epoch_s): value} of every non-NaN cell of a lake Dataset."""
    out = {}
    times = ds.time.values.astype("datetime64[s]").astype(np.int64)
    for var in variables or [v for v in ds.data_vars if not v.endswith("_sq")]:
        arr = ds[var].values
        for i, a in enumerate(ds.asset.values):
            for j in np.flatnonzero(~np.isnan(arr[i])):
                out[(str(a), var, int(times[j]))] = float(arr[i, j])
    return out


# -- quality rules: one sample at a time, with plain loops (pumplib.quality) --------------
def naive_range(x, lo, hi):
    """True where a value is below ``lo`` or above ``hi`` (NaN limits switch a side off)."""
    return np.array([(not np.isnan(lo) and v < lo) or (not np.isnan(hi) and v > hi)
                     for v in x], dtype=bool)


def naive_hampel(x, half, n_sigma, min_dev, min_periods, max_width=2):
    """Spikes: runs of at most ``max_width`` Hampel outliers (|x - median| > thr =
    max(n_sigma * 1.4826 * MAD, min_dev) over x[t-half:t+half]) that differ by more
    than thr from the samples just before and after the run (where present)."""
    n = len(x)
    outlier = np.zeros(n, dtype=bool)
    thr = np.full(n, np.inf)
    for t in range(n):
        if np.isnan(x[t]):
            continue
        win = [x[j] for j in range(t - half, t + half + 1) if 0 <= j < n and not np.isnan(x[j])]
        if len(win) < min_periods:
            continue
        med = float(np.median(win))
        mad = float(np.median([abs(v - med) for v in win]))
        thr[t] = max(n_sigma * 1.4826 * mad, min_dev)
        outlier[t] = abs(x[t] - med) > thr[t]
    out = np.zeros(n, dtype=bool)
    t = 0
    while t < n:
        if not outlier[t]:
            t += 1
            continue
        end = t
        while end + 1 < n and outlier[end + 1]:
            end += 1
        if end - t + 1 <= max_width:
            border = [x[j] for j in (t - 1, end + 1) if 0 <= j < n and not np.isnan(x[j])]
            for k in range(t, end + 1):
                out[k] = all(abs(x[k] - b) > thr[k] for b in border)
        t = end + 1
    return out


def naive_flatline(x, cond, n_min, tol=0.0):
    """Samples in a run of at least ``n_min`` equal values (within ``tol``) while ``cond``."""
    n = len(x)
    out = np.zeros(n, dtype=bool)
    ok = [not np.isnan(x[t]) and bool(cond[t] > 0) for t in range(n)]
    t = 0
    while t < n:
        if not ok[t]:
            t += 1
            continue
        end = t
        while end + 1 < n and ok[end + 1] and abs(x[end + 1] - x[end]) <= tol:
            end += 1
        if end - t + 1 >= n_min:
            out[t:end + 1] = True
        t = end + 1
    return out


def naive_rate(x, limit, lag=1):
    """True on the later of two samples ``lag`` steps apart that differ by more than
    the limit."""
    out = np.zeros(len(x), dtype=bool)
    for t in range(lag, len(x)):
        if not np.isnan(x[t]) and not np.isnan(x[t - lag]):
            out[t] = abs(x[t] - x[t - lag]) > limit
    return out


def naive_gap(x, max_gap, max_hold=0):
    """Codes: 0 present/held, 1 missing, 2 in a gap longer than ``max_gap`` or stale."""
    n = len(x)
    out = np.zeros(n, dtype=np.uint8)
    for t in range(n):
        if not np.isnan(x[t]):
            continue
        if max_hold > 0:
            recent = any(not np.isnan(x[j]) for j in range(max(t - max_hold, 0), t))
            out[t] = 0 if recent else 2
            continue
        a = t
        while a - 1 >= 0 and np.isnan(x[a - 1]):
            a -= 1
        b = t
        while b + 1 < n and np.isnan(x[b + 1]):
            b += 1
        out[t] = 2 if (max_gap >= 0 and b - a + 1 > max_gap) else 1
    return out


def naive_source_bad(sq, good_mask=192):
    """True where a historian code is present (>= 0) and lacks the good bits."""
    return np.array([c >= 0 and (int(c) & good_mask) != good_mask for c in sq], dtype=bool)


def naive_physics(asset, flow, power, run_state, pd_bar, rules):
    """Per-sample physics checks of one pump: dict check -> bool array.

    ``rules`` holds plain numbers: flow_off_max, dry_power_min, dry_flow_max,
    eff_max, eff_tol, head_tol, min_flow.
    """
    n = len(flow)
    res = {k: np.zeros(n, dtype=bool) for k in ("flow_off", "dry_run", "efficiency", "head")}
    h0, hr, qr = asset.curve["shutoff_head"], asset.rated["head"], asset.rated["flow"]
    for t in range(n):
        q, p, rs, pdis = flow[t], power[t], run_state[t], pd_bar[t]
        running = (not np.isnan(rs)) and rs >= 0.5
        off = (not np.isnan(rs)) and rs < 0.5
        if off and q > rules["flow_off_max"]:
            res["flow_off"][t] = True
        if p > rules["dry_power_min"] and q < rules["dry_flow_max"]:
            res["dry_run"][t] = True
        if not running or np.isnan(q) or np.isnan(pdis) or q < rules["min_flow"]:
            continue
        head = pdis * 10.19716
        if p > 0:
            eta = 9.80665 * q * head / 3600.0 / p
            qb = asset.curve["bep_flow"]
            expect = max(asset.curve["bep_efficiency"] * (1 - ((q - qb) / qb) ** 2), 0.0)
            res["efficiency"][t] = eta > rules["eff_max"] or abs(eta - expect) > rules["eff_tol"]
        expect_h = h0 - (h0 - hr) / qr**2 * q**2
        res["head"][t] = abs(head - expect_h) > rules["head_tol"]
    return res


# -- feature aggregations: plain loops over local-time calendar periods (pumplib.features) --
def naive_level_periods(level, start_s, end_s, tz):
    """[(start_s, end_s)] of the periods of ``level`` that overlap [start_s, end_s).

    Days, weeks (Monday) and months start at local midnight of ``tz`` (zoneinfo).
    """
    fixed = {"1min": 60, "15min": 900, "1h": 3600}
    out = []
    if level in fixed:
        size = fixed[level]
        t = start_s - start_s % size
        while t < end_s:
            out.append((t, t + size))
            t += size
        return out
    zone = ZoneInfo(tz)
    day = dt.datetime.fromtimestamp(start_s, zone).date()
    if level == "1W":
        day -= dt.timedelta(days=day.weekday())
    elif level == "1M":
        day = day.replace(day=1)

    def nxt(d):
        if level == "1D":
            return d + dt.timedelta(days=1)
        if level == "1W":
            return d + dt.timedelta(days=7)
        return (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)

    def epoch(d):
        return int(dt.datetime(d.year, d.month, d.day, tzinfo=zone).timestamp())

    while epoch(day) < end_s:
        out.append((epoch(day), epoch(nxt(day))))
        day = nxt(day)
    return out


def naive_aggregate(times, values, step, level, tz, good=None):
    """Every aggregation of one series per period of ``level``, one sample at a time.

    ``times`` are epoch seconds of a regular grid with ``step``; NaN values are
    missing. Returns ``{name: [value per period]}`` plus ``coverage``.
    Linear segments join adjacent good samples and belong to the period of
    their left sample; starts are 0→1 crossings of 0.5 between consecutive good
    samples, in the period of the 'on' sample.
    """
    import bisect
    import math
    import statistics

    n = len(values)
    if good is None:
        good = [not math.isnan(v) for v in values]
    start_of = [False] * n
    prev = None
    for i in range(n):
        v = values[i]
        if math.isnan(v):
            continue
        if prev is not None and prev <= 0.5 < v:
            start_of[i] = True
        prev = v
    names = ("count", "sum", "mean", "min", "max", "var", "std", "first", "last", "twa_step",
             "twa_linear", "integral_step", "integral_linear", "duration", "duration=2.0",
             "starts", "median", "quantile=0.9", "coverage")
    out = {k: [] for k in names}
    nan = float("nan")
    for p0, p1 in naive_level_periods(level, times[0], times[-1] + step, tz):
        idx = range(bisect.bisect_left(times, p0), bisect.bisect_left(times, p1))
        xs = [values[i] for i in idx if not math.isnan(values[i])]
        k = len(xs)
        segs = [(values[i] + values[i + 1]) / 2 for i in idx
                if i + 1 < n and not math.isnan(values[i]) and not math.isnan(values[i + 1])]
        mean = math.fsum(xs) / k if k else nan
        out["count"].append(float(k))
        out["sum"].append(math.fsum(xs) if k else nan)
        out["mean"].append(mean)
        out["min"].append(min(xs) if k else nan)
        out["max"].append(max(xs) if k else nan)
        var = math.fsum((x - mean) ** 2 for x in xs) / (k - 1) if k > 1 else nan
        out["var"].append(var)
        out["std"].append(math.sqrt(var) if k > 1 else nan)
        out["first"].append(xs[0] if k else nan)
        out["last"].append(xs[-1] if k else nan)
        out["twa_step"].append(mean)
        out["twa_linear"].append(math.fsum(segs) / len(segs) if segs else nan)
        out["integral_step"].append(math.fsum(xs) * step / 3600 if k else nan)
        out["integral_linear"].append(math.fsum(segs) * step / 3600 if segs else nan)
        out["duration"].append(float(sum(x > 0.5 for x in xs) * step) if k else nan)
        out["duration=2.0"].append(float(sum(x == 2.0 for x in xs) * step) if k else nan)
        out["starts"].append(float(sum(start_of[i] for i in idx)) if k else nan)
        out["median"].append(statistics.median(xs) if k else nan)
        if k:
            s = sorted(xs)
            pos = 0.9 * (k - 1)
            lo = int(math.floor(pos))
            hi = min(lo + 1, k - 1)
            out["quantile=0.9"].append(s[lo] + (s[hi] - s[lo]) * (pos - lo))
        else:
            out["quantile=0.9"].append(nan)
        out["coverage"].append(sum(good[i] for i in idx) / ((p1 - p0) / step))
    return out


# -- forecasting baselines and intervals: one value at a time (pumplib.forecast) ------------
def naive_seasonal_naive(y, origin, horizon, m):
    """ŷ[origin + i] = the value at the same position of the last full season before origin."""
    return np.array([y[origin - m + (i % m)] for i in range(horizon)], dtype=float)


def naive_seasonal_median(y, origin, horizon, m, k):
    """Median of y[origin - r*m + (i mod m)] for r = 1..k (missing values skipped)."""
    out = []
    for i in range(horizon):
        vals = [y[origin - r * m + (i % m)] for r in range(1, k + 1)
                if origin - r * m + (i % m) >= 0]
        vals = sorted(v for v in vals if not np.isnan(v))
        n = len(vals)
        out.append(np.nan if n == 0 else (vals[n // 2] if n % 2 else
                                          (vals[n // 2 - 1] + vals[n // 2]) / 2))
    return np.array(out)


def naive_conformal(points, y, horizon, n_cal, q_lo, q_hi, block, series, origin):
    """Interval of one forecast from the residuals of the series' last n_cal forecasts that
    ended before its origin, pooled per block of steps (loops; np.quantile's default)."""
    earlier = sorted(p for (j, p) in points if j == series and p + horizon <= origin)[-n_cal:]
    pt = points[(series, origin)]
    lo, hi = np.full(horizon, np.nan), np.full(horizon, np.nan)
    for b0 in range(0, horizon, block):
        res = [y[p + i, series] - points[(series, p)][i] for p in earlier
               for i in range(b0, min(b0 + block, horizon)) if not np.isnan(y[p + i, series])]
        if len(res) >= 8:
            for i in range(b0, min(b0 + block, horizon)):
                lo[i] = pt[i] + np.quantile(res, q_lo)
                hi[i] = pt[i] + np.quantile(res, q_hi)
    return lo, hi



def naive_adaptive_conformal(points, y, horizon, n_cal, q_lo, q_hi, block, season, gain,
                             series, origin, finite=False):
    """Normalised adaptive conformal interval of one forecast, by recursion over origins.

    Residuals are divided by the mean |y| of the ``season`` periods before their origin
    (the interval multiplied back by the origin's own). The miss rate used at origin p is
    α + gain·Σ(α - miss(q)) over the earlier forecasts q that ended by p and were
    calibrated on n_cal forecasts, α = 1 - (q_hi - q_lo), clipped to [0, 1]. With
    ``finite``, of n sorted residuals the bounds are the ⌊(n+1)·ql⌋-th and ⌈(n+1)·qh⌉-th
    (1-based, clipped to 1..n) instead of np.quantile's interpolation.
    """
    import math

    mine = sorted(p for (j, p) in points if j == series)
    alpha = 1 - (q_hi - q_lo)

    def level(p):
        v = [abs(y[i, series]) for i in range(max(0, p - season), p)
             if not np.isnan(y[i, series])]
        return sum(v) / len(v) if v and sum(v) / len(v) > 1e-9 else 1.0

    def earlier(p):
        return [q for q in mine if q + horizon <= p][-n_cal:]

    def interval(p):
        a = alpha + gain * sum(alpha - miss(q) for q in mine
                               if q + horizon <= p and len(earlier(q)) >= n_cal
                               and miss(q) is not None)
        a = min(max(a, 0.0), 1.0)
        ql, qh = q_lo * a / alpha, 1 - (1 - q_hi) * a / alpha
        pt = points[(series, p)]
        lo, hi = np.full(horizon, np.nan), np.full(horizon, np.nan)
        def resid(steps):
            return [(y[q + i, series] - points[(series, q)][i]) / level(q) for q in earlier(p)
                    for i in steps if not np.isnan(y[q + i, series])]

        for b0 in range(0, horizon, block):
            res = resid(range(b0, min(b0 + block, horizon)))
            if len(res) < 8:          # too few in the block: every step of the forecasts
                res = resid(range(horizon))
            if len(res) >= 8:
                if finite:
                    srt, n = sorted(res), len(res)
                    k_lo = min(max(math.floor((n + 1) * ql + 1e-9), 1), n)
                    k_hi = min(max(math.ceil((n + 1) * qh - 1e-9), 1), n)
                    r_lo, r_hi = srt[k_lo - 1], srt[k_hi - 1]
                else:
                    r_lo, r_hi = np.quantile(res, ql), np.quantile(res, qh)
                for i in range(b0, min(b0 + block, horizon)):
                    lo[i] = pt[i] + level(p) * r_lo
                    hi[i] = pt[i] + level(p) * r_hi
        return lo, hi

    memo = {}

    def miss(q):
        if q not in memo:
            lo, hi = interval(q)
            ins = [lo[i] <= y[q + i, series] <= hi[i] for i in range(horizon)
                   if q + i < len(y) and not np.isnan(y[q + i, series]) and not np.isnan(lo[i])]
            memo[q] = 1 - sum(ins) / len(ins) if ins else None
        return memo[q]

    return interval(origin)
