"""Clock skew between the signals of one pump.

A pump's on/off transitions show in several of its signals at once: the run
state, power, current, flow and speed all step together. When one signal's
time stamps are off (a tag served by another RTU whose clock drifted, a
historian that stamps at arrival), its transitions lead or lag the others by
the skew. :func:`clock_skew` finds, per asset, signal and window (default one
day of the grid), the lag that best aligns the signal's transitions with those
of a reference signal of the same pump (run state, else power, else flow): it
matches each reference transition to the nearest transition of the signal
with the same direction within ``max_lag`` and takes the median offset. A
window is skewed when enough transitions (``min_transitions``) agree on an
offset (two thirds within one step of the median) larger than
``tolerance``. The result feeds :func:`~pumplib.quality.evaluate`
(``skew=``), which sets ``TIMESTAMP`` on the skewed signal over the window.

Only skews *between* signals of one pump show this way: a clock error that
moves every signal of an asset together leaves them aligned (the
simulator's ``clock_skew`` fault is of that kind); it shows at the edges of
the episode as a hole and as conflicting duplicate rows, which ingest
quarantines and the TIMESTAMP rule flags.

Examples
--------
>>> import pandas as pd, xarray as xr
>>> t = pd.date_range("2026-03-09", periods=600, freq="1min")
>>> run = ((np.arange(600) // 50) % 2).astype(float)
>>> flow = 100 * np.roll(run, 2)                     # flow stamped 2 min late
>>> ds = xr.Dataset({"run_state": (("asset", "time"), [run]),
...                  "flow": (("asset", "time"), [flow])},
...                 coords={"asset": ["P1"], "time": t})
>>> clock_skew(ds)[["asset", "signal", "reference", "lag_s", "transitions"]].to_dict("records")
[{'asset': 'P1', 'signal': 'flow', 'reference': 'run_state', 'lag_s': 120.0, 'transitions': 11}]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

#: signals whose level steps when the pump starts and stops
STATE_SIGNALS = ("run_state", "power", "current", "flow", "speed")
#: reference signals, in order of preference
REFERENCES = ("run_state", "power", "flow")
COLUMNS = ["asset", "signal", "reference", "start", "end", "lag_s", "transitions"]


def _steps(value, step_s: float) -> int:
    """A duration (samples or a time string) in grid steps."""
    if isinstance(value, int | np.integer):
        return int(value)
    return int(round(pd.Timedelta(str(value)).total_seconds() / step_s))


def _seconds(value, step_s: float) -> float:
    if isinstance(value, int | np.integer):
        return float(value) * step_s
    return pd.Timedelta(str(value)).total_seconds()


def _states(x: np.ndarray, sig: str) -> np.ndarray:
    """On/off per sample (1/0, NaN where missing): above half the series' high level."""
    if sig == "run_state":
        thr = 0.5
    else:
        with np.errstate(all="ignore"):
            hi = np.nanpercentile(x, 95) if np.isfinite(x).any() else np.nan
        if not np.isfinite(hi) or hi <= 0:
            return np.full(x.shape, np.nan)
        thr = 0.5 * hi
    return np.where(np.isnan(x), np.nan, (x >= thr).astype(float))


def _transitions(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (first sample of the new state) and directions (+1 on, -1 off).

    Missing samples are bridged: a transition is a change between the
    states of two consecutive valid samples.
    """
    idx = np.flatnonzero(~np.isnan(s))
    if len(idx) < 2:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    v = s[idx]
    ch = np.flatnonzero(v[1:] != v[:-1]) + 1
    return idx[ch], np.where(v[ch] > 0, 1, -1)


def _match(ta, da_, tb, db, max_lag: int) -> np.ndarray:
    """Offset of the nearest same-direction transition of b for each transition of a."""
    out = np.full(len(ta), np.nan)
    for d in (1, -1):
        a = ta[da_ == d]
        b = tb[db == d]
        if not len(a) or not len(b):
            continue
        j = np.clip(np.searchsorted(b, a), 1, len(b)) - 1
        cand = np.stack([b[j], b[np.minimum(j + 1, len(b) - 1)]])
        off = cand - a[None, :]
        best = off[np.argmin(np.abs(off), axis=0), np.arange(len(a))]
        best = np.where(np.abs(best) <= max_lag, best, np.nan)
        out[da_ == d] = best
    return out


def clock_skew(ds: xr.Dataset, *, window="1D", max_lag="1h", tolerance="30s",
               min_transitions: int = 3, signals: Sequence[str] | None = None) -> pd.DataFrame:
    """Windows in which a signal's time stamps are offset from its pump's other signals.

    Parameters
    ----------
    ds : xarray.Dataset
        Raw data ``(asset, time)`` on a regular grid (computed here).
    window : duration
        Windows of the grid (from its first step) that are judged one by one.
    max_lag : duration
        Largest offset looked for.
    tolerance : duration
        Offsets up to this are physical delays, not skew (always less than one step).
    min_transitions : int
        Matched reference transitions needed in a window to judge it.
    signals : list of str, optional
        Signals to check (default those of :data:`STATE_SIGNALS` in ``ds``).

    Returns
    -------
    pandas.DataFrame
        Columns ``asset, signal, reference, start, end`` (UTC, naive, the
        window's first and last step), ``lag_s`` (positive: the signal is
        stamped late) and ``transitions`` (matched ones that agree).
    """
    have = [s for s in STATE_SIGNALS if s in ds.data_vars]
    if signals is not None:
        have = [s for s in have if s in signals or s in REFERENCES]
    if len(have) < 2 or ds.sizes.get("time", 0) < 2:
        return pd.DataFrame(columns=COLUMNS)
    times = ds.time.values
    step_s = float(ds.attrs.get("step_seconds")
                   or (times[1] - times[0]) / np.timedelta64(1, "s"))
    w = max(_steps(window, step_s), 1)
    lag = max(_steps(max_lag, step_s), 1)
    tol = _seconds(tolerance, step_s)
    data = {s: np.asarray(ds[s].transpose("asset", "time").values, dtype=float) for s in have}
    rows = []
    for i, asset in enumerate(str(a) for a in ds.asset.values):
        states = {s: _states(data[s][i], s) for s in have}
        ref = next((r for r in REFERENCES if r in states and np.isfinite(states[r]).any()
                    and len(_transitions(states[r])[0]) >= min_transitions), None)
        if ref is None:
            continue
        tr_ref = _transitions(states[ref])
        for sig in have:
            if sig == ref or (signals is not None and sig not in signals):
                continue
            tr = _transitions(states[sig])
            if not len(tr[0]):
                continue
            off = _match(*tr_ref, *tr, lag)
            for w0 in range(0, len(times), w):
                sel = (tr_ref[0] >= w0) & (tr_ref[0] < w0 + w) & ~np.isnan(off)
                o = off[sel]
                if len(o) < min_transitions:
                    continue
                med = float(np.median(o))
                agree = int(np.sum(np.abs(o - med) <= 1))
                if agree * 3 < 2 * len(o) or abs(med) * step_s <= tol or med == 0:
                    continue
                rows.append({"asset": asset, "signal": sig, "reference": ref,
                             "start": pd.Timestamp(times[w0]),
                             "end": pd.Timestamp(times[min(w0 + w, len(times)) - 1]),
                             "lag_s": med * step_s, "transitions": agree})
    return pd.DataFrame(rows, columns=COLUMNS)
