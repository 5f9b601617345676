"""Numba kernels of the window rules: spike, flat-line, rate, missing and gaps in one pass.

:func:`window_flags` gives exactly the flags of
:func:`pumplib.quality.checks.window_flags_block` (the vectorised numpy
version, itself tested against the loops in ``tests/naive.py``), with one
compiled loop per row instead of a dozen full-array numpy passes:

* Hampel spikes: a sample can only be an outlier when its deviation from the
  window median beats the floor ``min_deviation``. Counting, in one sweep of
  the window, the values within the floor above and below the sample proves
  ``|x - median| <= floor`` for almost every sample of a real signal without
  finding the median; only the rest sort their window (at most
  ``2·half + 1`` values) for the exact median and MAD. The test uses the same
  floating-point differences as the exact path, so the result is identical.
* flat-lines, gaps and stale holds: run lengths in one forward sweep;
* rate: the difference with the previous sample.

numba is imported when a kernel is first used, not with :mod:`pumplib`;
compiled code is cached on disk (``cache=True``). The kernels release the
GIL, so Dask's threads run blocks in parallel.

Examples
--------
>>> x = np.array([[1.0, 1, 1, 9, 1, 1, 1, np.nan]])
>>> p = params(1, spike=dict(half=np.array([2]), n_sigma=np.array([3.0]),
...            min_dev=np.array([1.0]), min_periods=np.array([3]), max_width=np.array([2])))
>>> window_flags(x, None, p, BITS).tolist()
[[0, 0, 0, 8, 0, 0, 0, 1]]
"""

from __future__ import annotations

import threading

import numpy as np

MAD_SCALE = 1.4826
#: default bits (pumplib.quality.Flag values): spike, flatline, rate, missing, gap
BITS = {"spike": 8, "flatline": 16, "rate": 32, "missing": 1, "gap": 2}

_lock = threading.Lock()
_compiled: dict = {}


def params(n_rows: int, spike: dict | None = None, flatline: dict | None = None,
           rate: np.ndarray | None = None, gap: dict | None = None,
           rate_lag: np.ndarray | None = None) -> dict:
    """Per-row parameter arrays (the engine's plan), with the rules switched off by default."""
    def arr(d, key, default, dtype):
        v = (d or {}).get(key)
        return np.full(n_rows, default, dtype) if v is None else np.asarray(v, dtype)

    return {
        "half": arr(spike, "half", 0, np.int64),
        "n_sigma": arr(spike, "n_sigma", np.nan, np.float64),
        "floor": np.nan_to_num(arr(spike, "min_dev", np.nan, np.float64), nan=0.0),
        "min_periods": arr(spike, "min_periods", 0, np.int64),
        "max_width": arr(spike, "max_width", 2, np.int64),
        "n_min": arr(flatline, "n_min", 0, np.int64),
        "tol": np.nan_to_num(arr(flatline, "tol", 0.0, np.float64)),
        "rate": (np.full(n_rows, np.nan) if rate is None
                 else np.asarray(rate, np.float64)),
        "rate_lag": (np.ones(n_rows, np.int64) if rate_lag is None
                     else np.asarray(rate_lag, np.int64)),
        "max_gap": arr(gap, "max_gap", -1, np.int64),
        "max_hold": arr(gap, "max_hold", 0, np.int64),
    }


def _hampel_kernel(jit):
    """The Hampel spike kernel of one row, with the insertion sort of its exact medians."""
    @jit
    def insertion_sort(a, m):
        for i in range(1, m):
            v = a[i]
            j = i - 1
            while j >= 0 and a[j] > v:
                a[j + 1] = a[j]
                j -= 1
            a[j + 1] = v

    @jit
    def hampel_row(x, h, n_sigma, floor, min_periods, max_width, out, bit):
        n = x.shape[0]
        w = 2 * h + 1
        hit = np.zeros(n, np.bool_)
        thr = np.empty(n)
        buf = np.empty(w)
        dev = np.empty(w)
        scale = n_sigma * MAD_SCALE
        any_hit = False
        # pass 1, vectorised over time (one sweep per window offset): valid values
        # in each window, and how many lie within the floor above / below x[t]
        cnt = np.zeros(n, np.int32)
        c_le = np.zeros(n, np.int32)
        c_ge = np.zeros(n, np.int32)
        for j in range(-h, h + 1):
            t0 = -j if j < 0 else 0
            t1 = n - j if j > 0 else n
            # slices and int32 increments: the loop vectorises (SIMD), several times faster
            a, b, c = cnt[t0:t1], c_le[t0:t1], c_ge[t0:t1]
            xs, xx = x[t0 + j:t1 + j], x[t0:t1]
            for i in range(t1 - t0):  # branch-free: NaN compares false
                v = xs[i]
                xt = xx[i]
                a[i] += np.int32(v == v)
                b[i] += np.int32(v - xt <= floor)
                c[i] += np.int32(xt - v <= floor)
        # pass 2: the exact median and MAD only where pass 1 cannot rule x[t] out
        for t in range(n):
            xt = x[t]
            if xt != xt or cnt[t] < min_periods:
                continue
            c = cnt[t]
            lo = (c - 1) // 2
            hi = c // 2
            # the sorted values lo..hi lie within the floor of x: so does the median
            if c_le[t] >= hi + 1 and c_ge[t] >= c - lo:
                continue
            lo_j = t - h if t - h > 0 else 0
            hi_j = t + h + 1 if t + h + 1 < n else n
            m = 0
            for j in range(lo_j, hi_j):
                v = x[j]
                if v == v:
                    buf[m] = v
                    m += 1
            insertion_sort(buf, m)
            med = (buf[lo] + buf[hi]) / 2
            dist = abs(xt - med)
            if not dist > floor:
                continue
            for k in range(m):
                dev[k] = abs(buf[k] - med)
            insertion_sort(dev, m)
            mad = (dev[lo] + dev[hi]) / 2
            tt = scale * mad
            if tt < floor:
                tt = floor
            if dist > tt:
                hit[t] = True
                thr[t] = tt
                any_hit = True
        if not any_hit:
            return
        t = 0
        while t < n:
            if not hit[t]:
                t += 1
                continue
            e = t
            while e + 1 < n and hit[e + 1]:
                e += 1
            if e - t + 1 <= max_width:
                left = x[t - 1] if t > 0 else np.nan
                right = x[e + 1] if e + 1 < n else np.nan
                for k in range(t, e + 1):
                    tk = thr[k]
                    if not (abs(x[k] - left) <= tk) and not (abs(x[k] - right) <= tk):
                        out[k] |= bit
            t = e + 1

    return hampel_row


def _run_kernels(jit):
    """The run-length kernels of one row: flat-lines, rate of change, missing and gaps."""
    @jit
    def flatline_row(x, cond, has_cond, n_min, tol, out, bit):
        n = x.shape[0]
        t = 0
        while t < n:
            v = x[t]
            ok = v == v and (not has_cond or cond[t] > 0)
            if not ok:
                t += 1
                continue
            e = t
            while e + 1 < n:
                u = x[e + 1]
                if not (u == u and (not has_cond or cond[e + 1] > 0)):
                    break
                if not (abs(u - x[e]) <= tol):
                    break
                e += 1
            if e - t + 1 >= n_min:
                for k in range(t, e + 1):
                    out[k] |= bit
            t = e + 1

    @jit
    def rate_row(x, limit, lag, out, bit):
        for t in range(lag, x.shape[0]):
            if abs(x[t] - x[t - lag]) > limit:
                out[t] |= bit

    @jit
    def gap_row(x, max_gap, max_hold, out, b_missing, b_gap):
        n = x.shape[0]
        if max_hold > 0:
            last = -n - 1
            for t in range(n):
                if x[t] == x[t]:
                    last = t
                elif t - last > max_hold:
                    out[t] |= b_missing | b_gap   # missing and stale
            return
        t = 0
        while t < n:
            if x[t] == x[t]:
                t += 1
                continue
            e = t
            while e + 1 < n and x[e + 1] != x[e + 1]:
                e += 1
            b = b_missing | b_gap if (max_gap >= 0 and e - t + 1 > max_gap) else b_missing
            for k in range(t, e + 1):
                out[k] |= b
            t = e + 1

    return flatline_row, rate_row, gap_row


def _build():
    import numba

    jit = numba.njit(cache=True, nogil=True, fastmath=False)
    hampel_row = _hampel_kernel(jit)
    flatline_row, rate_row, gap_row = _run_kernels(jit)

    @jit
    def window_flags(x, cond, has_cond, half, n_sigma, floor, min_periods, max_width, n_min,
                     tol, rate, rate_lag, max_gap, max_hold, b_spike, b_flat, b_rate, b_missing,
                     b_gap):
        r, n = x.shape
        out = np.zeros((r, n), np.uint16)
        for i in range(r):
            row = out[i]
            if half[i] > 0:
                hampel_row(x[i], half[i], n_sigma[i], floor[i], min_periods[i], max_width[i],
                           row, b_spike)
            if n_min[i] > 0:
                flatline_row(x[i], cond[i], has_cond, n_min[i], tol[i], row, b_flat)
            if rate[i] == rate[i]:
                rate_row(x[i], rate[i], rate_lag[i], row, b_rate)
            gap_row(x[i], max_gap[i], max_hold[i], row, b_missing, b_gap)
        return out

    return window_flags


def available() -> bool:
    """Whether numba can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def _kernel():
    if "window_flags" not in _compiled:
        with _lock:
            if "window_flags" not in _compiled:
                _compiled["window_flags"] = _build()
    return _compiled["window_flags"]


def warm() -> None:
    """Compile (or load from the cache) the kernels now, e.g. before timing."""
    x = np.array([[1.0, np.nan, 1.0, 5.0]])
    window_flags(x, x, params(1, spike={"half": [1], "n_sigma": [1.0], "min_periods": [1]},
                              flatline={"n_min": [2]}, rate=[1.0], gap={"max_gap": [0]}), BITS)


def window_flags(x: np.ndarray, cond: np.ndarray | None, p: dict, bits: dict,
                 rows: slice | None = None) -> np.ndarray:
    """``uint16`` window flags of a 2-D block ``(asset, time)``.

    ``p`` holds per-row parameters (see :func:`params`); ``rows`` selects the
    rows of ``p`` that the block's rows are (default all).
    """
    rows = slice(None) if rows is None else rows
    x = np.ascontiguousarray(x, dtype=np.float64)
    has_cond = cond is not None
    c = np.ascontiguousarray(cond, dtype=np.float64) if has_cond else np.empty((x.shape[0], 0))
    if x.size == 0:
        return np.zeros(x.shape, np.uint16)
    f = _kernel()
    q = {k: np.ascontiguousarray(v[rows]) for k, v in p.items()}
    return f(x, c, has_cond, q["half"], q["n_sigma"], q["floor"], q["min_periods"],
             q["max_width"], q["n_min"], q["tol"], q["rate"], q["rate_lag"], q["max_gap"],
             q["max_hold"],
             np.uint16(bits["spike"]), np.uint16(bits["flatline"]), np.uint16(bits["rate"]),
             np.uint16(bits["missing"]), np.uint16(bits["gap"]))
