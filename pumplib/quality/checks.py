"""Vectorised numpy kernels of the quality rules, and their Dask wrappers.

The engine runs the numba kernels of :mod:`pumplib.quality.kernels`, which
give exactly :func:`window_flags_block` (tested); these numpy kernels are the
fallback without numba and the readable statement of each rule.

Each kernel takes a 2-D block ``(asset, time)`` of float64 values and per-row
parameters (one entry per asset of the whole array; the block's rows are
found from Dask's ``block_info``) and returns a boolean block of the same
shape. NaN means missing. The Dask wrappers run a kernel with
``map_overlap``, giving every block the context (halo) the rule needs on both
sides, padded with NaN at the ends of the data, so a block's result does not
depend on where chunk boundaries fall. The slow references are in
``tests/naive.py``.

Examples
--------
>>> x = np.array([[1.0, 1, 1, 1, 5, 6]])
>>> flatline_block(x, np.ones_like(x), n_min=np.array([3]), tol=np.array([0.0])).tolist()
[[True, True, True, True, False, False]]
>>> rate_block(x, limit=np.array([2.0])).tolist()
[[False, False, False, False, True, False]]
"""

from __future__ import annotations

import functools

import dask.array as da
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MAD_SCALE = 1.4826  # MAD → standard deviation of a normal distribution


def _rows(block_info, n_rows: int) -> slice:
    if not block_info or 0 not in block_info:
        return slice(0, n_rows)
    lo, hi = block_info[0]["array-location"][0]
    return slice(lo, hi)


def _sorted_median(s: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    """Median of the first ``cnt`` entries of each sorted window (NaN sorted last)."""
    lo = np.clip((cnt - 1) // 2, 0, None)[..., None]
    hi = np.clip(cnt // 2, 0, None)[..., None]
    a = np.take_along_axis(s, lo, axis=-1)[..., 0]
    b = np.take_along_axis(s, hi, axis=-1)[..., 0]
    return np.where(cnt > 0, (a + b) / 2, np.nan)


def hampel_block(x: np.ndarray, half: np.ndarray, n_sigma: np.ndarray, min_dev: np.ndarray,
                 min_periods: np.ndarray, max_width: np.ndarray | None = None,
                 block_info=None) -> np.ndarray:
    """Spikes: short runs of Hampel outliers that stand apart from their neighbours.

    A sample is an outlier when ``|x - median| > thr = max(n_sigma · 1.4826 ·
    MAD, min_dev)`` over its centred window of ``2·half + 1`` samples (itself
    included, at least ``min_periods`` values). It is a spike when its run of
    consecutive outliers is at most ``max_width`` long (default 2) and it
    differs by more than ``thr`` from the samples bordering the run (where
    they have values): a brief pump run is a plateau, not a spike. Rows with
    ``half == 0`` are skipped.
    """
    rows = _rows(block_info, x.shape[0])
    half, n_sigma = half[rows], n_sigma[rows]
    min_dev, min_periods = min_dev[rows], min_periods[rows]
    width = np.full(len(half), 2) if max_width is None else max_width[rows]
    r, n = x.shape
    hit = np.zeros(x.shape, dtype=bool)
    thr = np.full(x.shape, np.inf)
    for h in np.unique(half):
        if h <= 0:
            continue
        sel = np.flatnonzero(half == h)
        xs = x[sel]
        w = 2 * h + 1
        padded = np.pad(xs, ((0, 0), (h, h)), constant_values=np.nan)
        win = sliding_window_view(padded, w, axis=-1)
        nan_c = np.cumsum(np.pad(np.isnan(padded), ((0, 0), (1, 0))), axis=-1)
        cnt = w - (nan_c[:, w:] - nan_c[:, :-w])
        # median: partition where the window is full (the usual case), sort elsewhere
        med = np.full(xs.shape, np.nan)
        full = cnt == w
        if full.any():
            med[full] = np.partition(win[full], h, axis=-1)[:, h]
        part = ~full & (cnt > 0)
        if part.any():
            med[part] = _sorted_median(np.sort(win[part], axis=-1), cnt[part])
        floor = np.nan_to_num(min_dev[sel, None], nan=0.0)
        with np.errstate(invalid="ignore"):
            dist = np.abs(xs - med)
            # the MAD is only needed where the deviation beats the floor
            cand = (dist > floor) & (cnt >= min_periods[sel, None])
        if not cand.any():
            continue
        ci = np.nonzero(cand)
        dev = np.sort(np.abs(win[ci] - med[ci][:, None]), axis=-1)
        mad = _sorted_median(dev, cnt[ci])
        t = np.maximum(n_sigma[sel][ci[0]] * MAD_SCALE * mad, floor[ci[0], 0])
        rows_hit = sel[ci[0]]
        hit[rows_hit, ci[1]] = dist[ci] > t
        thr[rows_hit, ci[1]] = t
    if not hit.any():
        return hit
    idx = np.arange(n)[None, :]
    before = np.maximum.accumulate(np.where(~hit, idx, -1), axis=1)   # last non-outlier ≤ t
    after = np.minimum.accumulate(np.where(~hit, idx, n)[:, ::-1], axis=1)[:, ::-1]
    short = (after - before - 1) <= width[:, None]
    xb = np.pad(x, ((0, 0), (1, 1)), constant_values=np.nan)  # index -1 and n → NaN
    left = np.take_along_axis(xb, before + 1, axis=1)
    right = np.take_along_axis(xb, after + 1, axis=1)
    with np.errstate(invalid="ignore"):
        apart = ~(np.abs(x - left) <= thr) & ~(np.abs(x - right) <= thr)
    return hit & short & apart


def flatline_block(x: np.ndarray, cond: np.ndarray, n_min: np.ndarray, tol: np.ndarray,
                   block_info=None) -> np.ndarray:
    """Samples in a run of ≥ ``n_min`` consecutive equal (within ``tol``) values where ``cond``.

    A run is broken by a change larger than ``tol``, a NaN, or a sample
    where ``cond`` is false (or NaN). Rows with ``n_min == 0`` are skipped.
    """
    rows = _rows(block_info, x.shape[0])
    n_min, tol = n_min[rows], tol[rows]
    r, n = x.shape
    valid = ~np.isnan(x) & (np.nan_to_num(cond, nan=0.0) > 0)
    same = np.zeros_like(valid)
    with np.errstate(invalid="ignore"):
        same[:, 1:] = valid[:, 1:] & valid[:, :-1] & (np.abs(np.diff(x, axis=1))
                                                       <= tol[:, None])
    seg = np.cumsum(~same, axis=1) + np.arange(r)[:, None] * (n + 1)
    lengths = np.bincount(seg[valid], minlength=r * (n + 1))
    return valid & (lengths[seg] >= n_min[:, None]) & (n_min[:, None] > 0)


def rate_block(x: np.ndarray, limit: np.ndarray, lag: np.ndarray | None = None,
               block_info=None) -> np.ndarray:
    """``|x[t] - x[t-lag]| > limit`` (``lag`` steps, default 1), flagged on the later sample."""
    rows = _rows(block_info, x.shape[0])
    limit = limit[rows]
    lag = np.ones(len(limit), np.int64) if lag is None else np.asarray(lag)[rows]
    out = np.zeros(x.shape, dtype=bool)
    for k in np.unique(lag):
        sel = lag == k
        with np.errstate(invalid="ignore"):
            out[sel, k:] = np.abs(x[sel, k:] - x[sel, :-k]) > limit[sel, None]
    return out


def gap_block(x: np.ndarray, max_gap: np.ndarray, max_hold: np.ndarray,
              block_info=None) -> np.ndarray:
    """Codes per sample: 0 present or held, 1 missing, 2 missing inside a long gap or stale.

    Rows with ``max_hold > 0`` hold a value for ``max_hold`` steps after it
    (report by exception); a NaN later than that is missing and stale (2).
    Other rows: a NaN is missing (1), and inside a run of more than
    ``max_gap`` NaNs it is a gap (2); ``max_gap < 0`` switches gaps off.
    """
    rows = _rows(block_info, x.shape[0])
    max_gap, max_hold = max_gap[rows], max_hold[rows]
    r, n = x.shape
    miss = np.isnan(x)
    # steps since the last valid sample (n+1 when none in the block)
    idx = np.where(~miss, np.arange(n)[None, :], -n - 1)
    last = np.maximum.accumulate(idx, axis=1)
    since = np.arange(n)[None, :] - last
    hold_rows = max_hold[:, None] > 0
    held = miss & (since <= max_hold[:, None]) & hold_rows
    # length of each run of NaN
    brk = np.ones_like(miss)
    brk[:, 1:] = ~(miss[:, 1:] & miss[:, :-1])
    seg = np.cumsum(brk, axis=1) + np.arange(r)[:, None] * (n + 1)
    lengths = np.bincount(seg[miss], minlength=r * (n + 1))
    long = miss & (lengths[seg] > max_gap[:, None]) & (max_gap[:, None] >= 0) & ~hold_rows
    code = np.where(miss & ~held, 1, 0).astype(np.uint8)
    stale = miss & ~held & (max_hold[:, None] > 0)
    code[long | stale] = 2
    return code


def window_flags_block(x: np.ndarray, cond: np.ndarray | None = None, *, spike: dict,
                       flatline: dict,
                       rate: np.ndarray, gap: dict, bits: dict, block_info=None,
                       rate_lag: np.ndarray | None = None) -> np.ndarray:
    """All window rules of one signal on one block, as ``uint16`` flag bits.

    One task per block instead of one per rule: the spike, flat-line, rate and
    gap kernels above run on the same overlapped block; ``bits`` maps
    ``"spike", "flatline", "rate", "missing", "gap"`` to their flag values.
    """
    out = np.zeros(x.shape, dtype=np.uint16)
    kw = {"block_info": block_info}
    if spike["half"].max(initial=0) > 0:
        out[hampel_block(x, **spike, **kw)] |= bits["spike"]
    if flatline["n_min"].max(initial=0) > 0:
        cond = np.ones_like(x) if cond is None else cond
        out[flatline_block(x, cond, **flatline, **kw)] |= bits["flatline"]
    if np.isfinite(rate).any():
        out[rate_block(x, rate, rate_lag, **kw)] |= bits["rate"]
    code = gap_block(x, **gap, **kw)
    out[code >= 1] |= bits["missing"]
    out[code >= 2] |= bits["gap"]
    return out


def run_overlap(kernel, arrays: list, halo: int, dtype=bool, **params):
    """Run a kernel over Dask arrays ``(asset, time)`` with ``halo`` steps of context.

    The result has the chunks of the first array. Per-row parameters are
    numpy arrays over the whole asset axis, passed as keywords.
    """
    func = functools.partial(kernel, **params)
    base = arrays[0]
    arrays = [a.astype(np.float64) for a in arrays]
    if halo <= 0:
        return da.map_blocks(func, *arrays, dtype=dtype)
    tchunks = arrays[0].chunks[1]
    if halo >= arrays[0].shape[1]:
        # the context spans the whole series: one block holds it all
        arrays = [a.rechunk({1: -1}) for a in arrays]
        return da.map_blocks(func, *arrays, dtype=dtype).rechunk(base.chunks)
    if min(tchunks) < halo:
        size = max(halo, max(tchunks))
        arrays = [a.rechunk({1: size}) for a in arrays]
    out = da.map_overlap(func, *arrays, depth={0: 0, 1: halo}, boundary=np.nan, trim=True,
                         dtype=dtype, meta=np.array((), dtype=dtype))
    return out.rechunk(base.chunks)
