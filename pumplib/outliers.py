"""Outlier discovery: matrix-profile discords and change detection, as events.

Two detectors that share one idea — compare every stretch of a pump's data
with the pump's *normal* behaviour, never with its stops or its bad samples:

* :func:`matrix_profile` / :func:`detect` — Stumpy matrix-profile discords per
  pump and signal, computed inside run-state windows (a pump stop, a gap or a
  sample the quality flags reject is NaN and never enters a subsequence), as a
  self-join or as an AB-join against a reference normal period, or
  multidimensional (:func:`multi_profile`, ``mstump``) across a pump's
  signals. :class:`StreamingProfile` keeps the profile up to date on new
  1-minute data with ``stumpi``; :func:`profiles` runs many pumps in
  parallel on Dask (one task per pump, ``stumped`` on a distributed client).
* :class:`ChangeDetector` — a level/rate detector fitted on a normal period:
  windowed means of each signal scored against the spread seen in the normal
  period (quantile-scaled), slow signals (temperatures) judged on their
  de-trended value so slow drift is not an alarm, hysteresis on the combined
  score. It runs the SKAB benchmark (``benchmarks/bench_skab.py``).

:func:`detect` combines both scores and returns events ``event_id, asset,
start, end, signals, score, severity, explanation`` (plus ``nearest_normal``);
:func:`detect_lake` runs it on the lake's good 1-minute data and stores the
events with :meth:`~pumplib.lake.Transaction.write_table` in one commit whose
metadata carries the lineage; :func:`events` reads them back.

Stumpy (and numba) are imported only inside functions: ``import pumplib``
stays light. The first matrix profile in a process pays numba's JIT (~25 s).

Examples
--------
>>> import numpy as np, pandas as pd
>>> t = pd.date_range("2026-03-01", periods=600, freq="1min")
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"vibration": 1 + 0.05 * rng.standard_normal(600),
...                    "run_state": 1.0}, index=t)
>>> df.iloc[300:330, 0] += 2.0                       # a burst of vibration
>>> ev = detect(df, m=15, asset="P1")                # doctest: +SKIP
>>> ev[["asset", "signals", "severity"]].iloc[0].tolist()  # doctest: +SKIP
['P1', 'vibration', 'high']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import ArgumentError, UnknownNameError, choices_message

#: columns of an events table, in order
EVENT_COLUMNS = ["event_id", "asset", "start", "end", "signals", "score", "severity",
                 "explanation", "nearest_normal"]
#: lake table group of outlier runs
GROUP = "outliers"
#: signals that describe the operating state, not the machine's behaviour
STATE_SIGNALS = ("run_state",)
METHODS = ("stump", "mstump", "none")
SEVERITIES = ("low", "medium", "high")


def _check_choice(kind: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ArgumentError(f"invalid {kind} {value!r}. Expected one of: "
                            + ", ".join(repr(c) for c in choices))


def _check_m(m, n: int | None = None) -> int:
    if not isinstance(m, int | np.integer) or isinstance(m, bool) or m < 3:
        raise ArgumentError(f"window length m must be an integer >= 3, got {m!r}")
    if n is not None and m > n:
        raise ArgumentError(f"window length m={m} is longer than the series ({n} samples); "
                            "choose a smaller m or a longer time range")
    return int(m)


# ---------------------------------------------------------------------------
# run-state windows
# ---------------------------------------------------------------------------
def run_segments(valid: np.ndarray | pd.Series, m: int = 1) -> list[tuple[int, int]]:
    """Half-open index ranges ``[start, stop)`` of consecutive True samples, at least ``m`` long.

    ``valid`` is True where a sample may enter a subsequence (pump running,
    value good). Shorter runs are dropped: no window of length ``m`` fits.

    Examples
    --------
    >>> run_segments([0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1], m=3)
    [(1, 4), (8, 12)]
    """
    v = np.asarray(valid, dtype=bool)
    if v.size == 0:
        return []
    d = np.diff(np.concatenate([[0], v.astype(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    stops = np.flatnonzero(d == -1)
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True) if b - a >= m]


def running_mask(frame: pd.DataFrame, run_signal: str = "run_state",
                 threshold: float = 0.5) -> np.ndarray:
    """True where the pump runs (``run_state > threshold``); all True without a run signal."""
    if run_signal in frame.columns:
        rs = frame[run_signal].to_numpy(dtype=float)
        return np.nan_to_num(rs, nan=0.0) > threshold
    return np.ones(len(frame), dtype=bool)


def _compress(x: np.ndarray, segments: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """The segments of ``x`` joined by one NaN each (so no window spans two), and the map
    from positions of the joined series back to ``x`` (-1 at the separators)."""
    parts, index = [], []
    for a, b in segments:
        parts.append(x[a:b])
        index.append(np.arange(a, b))
        parts.append(np.array([np.nan]))
        index.append(np.array([-1]))
    if not parts:
        return np.array([], dtype=float), np.array([], dtype=np.int64)
    return np.concatenate(parts[:-1]).astype(float), np.concatenate(index[:-1]).astype(np.int64)


# ---------------------------------------------------------------------------
# matrix profiles
# ---------------------------------------------------------------------------
@dataclass
class Profile:
    """A matrix profile mapped back onto the original sample positions.

    ``distance[i]`` is the z-normalised distance of the window starting at
    sample ``i`` to its nearest neighbour (``inf`` where no full valid window
    starts at ``i``); ``neighbour[i]`` is the sample position of that
    neighbour in the reference series (or in the series itself for a
    self-join), -1 where there is none.
    """

    distance: np.ndarray
    neighbour: np.ndarray
    m: int
    join: str = "self"
    normalize: bool = False

    def normalised(self) -> np.ndarray:
        """Distances per sample: ``/ sqrt(m)`` (RMS difference, in the signal's units) for
        raw distances, ``/ sqrt(2 m)`` (≈1 for unrelated noise) for z-normalised ones."""
        return self.distance / math.sqrt((2 if self.normalize else 1) * self.m)


def _stumpy():
    import stumpy

    return stumpy


def _norm_kw(normalize: bool) -> dict:
    # an integer p lets numba square instead of calling pow(): ~3x faster raw distances
    return {"normalize": True} if normalize else {"normalize": False, "p": 2}


def warm_up(normalize: bool = False) -> float:
    """Compile Stumpy's kernel for :func:`matrix_profile` on a tiny series; return seconds."""
    import time

    t = time.perf_counter()
    matrix_profile(np.random.default_rng(0).standard_normal(64), 8, normalize=normalize)
    return time.perf_counter() - t


def matrix_profile(x: np.ndarray | pd.Series, m: int, *, valid: np.ndarray | None = None,
                   reference: np.ndarray | pd.Series | None = None,
                   reference_valid: np.ndarray | None = None, normalize: bool = False,
                   client=None) -> Profile:
    """Matrix profile of ``x`` inside its valid windows (self-join, or AB-join).

    Parameters
    ----------
    x : array
        One signal; NaN samples never enter a window.
    m : int
        Window length in samples.
    valid : bool array, optional
        Where ``x`` may be used (pump running, sample good). The series is cut
        into runs of valid samples; runs shorter than ``m`` are dropped and
        only the valid runs are computed (stops cost nothing).
    reference : array, optional
        A normal period: each window of ``x`` is compared with the windows of
        ``reference`` (AB-join) instead of with the rest of ``x``.
    reference_valid : bool array, optional
        Like ``valid``, for ``reference``.
    normalize : bool
        z-normalise each window (shape only, ``stumpy.stump``) or not (default
        False: raw Euclidean distance, ``stumpy.aamp``, so a shift in level or
        spread — cavitation noise, a dry run — is a discord too).
    client : dask.distributed.Client, optional
        Compute with ``stumpy.stumped`` on this client (self-join and AB-join).

    Returns
    -------
    Profile

    Examples
    --------
    >>> x = np.sin(np.linspace(0, 60, 400)); x[200:210] += 1.5
    >>> p = matrix_profile(x, 20, normalize=True)    # doctest: +SKIP
    >>> d = np.where(np.isfinite(p.distance), p.distance, -1)    # doctest: +SKIP
    >>> 185 <= int(np.argmax(d)) <= 210                            # doctest: +SKIP
    True
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    m = _check_m(m)
    ok = np.isfinite(x) if valid is None else (np.asarray(valid, bool) & np.isfinite(x))
    dist = np.full(n, np.inf)
    nn = np.full(n, -1, dtype=np.int64)
    seg = run_segments(ok, m)
    if not seg:
        return Profile(dist, nn, m, "self" if reference is None else "ab", normalize)
    xa, ia = _compress(np.where(ok, x, np.nan), seg)
    st = _stumpy()
    if reference is None:
        if len(xa) < 2 * m:   # too short for a self-join
            return Profile(dist, nn, m, "self", normalize)
        if client is not None:
            mp = st.stumped(client, xa, m, **_norm_kw(normalize))
        else:
            mp = st.stump(xa, m, **_norm_kw(normalize))
        ib = ia
        join = "self"
    else:
        r = np.asarray(reference, dtype=float)
        rok = np.isfinite(r) if reference_valid is None else (
            np.asarray(reference_valid, bool) & np.isfinite(r))
        rseg = run_segments(rok, m)
        if not rseg:
            raise ArgumentError(f"the reference period has no valid run of {m} samples; "
                                "choose another reference or a smaller m")
        xb, ib = _compress(np.where(rok, r, np.nan), rseg)
        if client is not None:
            mp = st.stumped(client, xa, m, T_B=xb, ignore_trivial=False, **_norm_kw(normalize))
        else:
            mp = st.stump(xa, m, T_B=xb, ignore_trivial=False, **_norm_kw(normalize))
        join = "ab"
    d = np.asarray(mp[:, 0], dtype=float)
    j = np.asarray(mp[:, 1], dtype=np.int64)
    starts = ia[: len(d)]
    keep = starts >= 0
    # a window is valid only when all its samples map back (no separator inside)
    finite = np.isfinite(d)
    keep &= finite
    dist[starts[keep]] = d[keep]
    jj = j[keep]
    nn[starts[keep]] = np.where(jj >= 0, ib[np.clip(jj, 0, len(ib) - 1)], -1)
    return Profile(dist, nn, m, join, normalize)


def multi_profile(frame: pd.DataFrame, m: int, *, valid: np.ndarray | None = None,
                  normalize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Multidimensional matrix profile (``stumpy.mstump``) across a pump's signals.

    Returns ``(P, I)`` of shape ``(d, n)`` on the original sample positions:
    row ``k`` is the profile using the best ``k + 1`` signals (``inf`` where
    no full valid window starts), ``I`` the neighbour positions. Put the
    signals on comparable scales first when ``normalize`` is False.

    Examples
    --------
    >>> t = np.linspace(0, 40, 300)
    >>> df = pd.DataFrame({"a": np.sin(t), "b": np.cos(t)})
    >>> P, I = multi_profile(df, 20)                 # doctest: +SKIP
    >>> P.shape                                      # doctest: +SKIP
    (2, 300)
    """
    m = _check_m(m)
    X = frame.to_numpy(dtype=float).T
    d, n = X.shape
    ok = np.isfinite(X).all(axis=0)
    if valid is not None:
        ok &= np.asarray(valid, bool)
    P = np.full((d, n), np.inf)
    Iout = np.full((d, n), -1, dtype=np.int64)
    seg = run_segments(ok, m)
    if not seg:
        return P, Iout
    parts = [_compress(np.where(ok, X[k], np.nan), seg) for k in range(d)]
    Xa = np.vstack([p[0] for p in parts])
    ia = parts[0][1]
    if Xa.shape[1] < 2 * m:
        return P, Iout
    Pm, Im = _stumpy().mstump(Xa, m, normalize=normalize)
    starts = ia[: Pm.shape[1]]
    keep = (starts >= 0) & np.isfinite(Pm[-1])
    P[:, starts[keep]] = Pm[:, keep]
    Iout[:, starts[keep]] = np.where(Im[:, keep] >= 0, ia[np.clip(Im[:, keep], 0, len(ia) - 1)],
                                     -1)
    return P, Iout


class StreamingProfile:
    """A matrix profile kept up to date as new samples arrive (``stumpy.stumpi``).

    ``update(values)`` appends new samples (e.g. the last minutes of 1-min
    data) and returns, for each, the distance of the window ending at it to
    its nearest *earlier* window (the left matrix profile), normalised like
    :meth:`Profile.normalised`: a new discord is a high value. NaN samples
    (pump stopped, flagged) are accepted; windows holding one score ``inf``
    and are not reported.

    Examples
    --------
    >>> sp = StreamingProfile(np.sin(np.linspace(0, 50, 300)), m=20)   # doctest: +SKIP
    >>> sp.update([0.0, 5.0]).shape                                      # doctest: +SKIP
    (2,)
    """

    def __init__(self, history: np.ndarray | pd.Series, m: int, *, egress: bool = True,
                 normalize: bool = False):
        h = np.asarray(history, dtype=float)
        self.m = _check_m(m, len(h))
        if len(h) < 2 * self.m:
            raise ArgumentError(f"StreamingProfile needs a history of at least 2*m={2 * self.m} "
                                f"samples, got {len(h)}")
        self.normalize = bool(normalize)
        self._s = _stumpy().stumpi(h, self.m, egress=egress, normalize=normalize)

    @property
    def left_profile(self) -> np.ndarray:
        """The left matrix profile of the samples held (oldest first)."""
        return np.asarray(self._s.left_P_, dtype=float)

    def update(self, values: Iterable[float]) -> np.ndarray:
        """Append samples; return each new window's normalised left-profile distance."""
        out = []
        for v in np.asarray(list(values), dtype=float):
            self._s.update(float(v))
            out.append(float(self._s.left_P_[-1]))
        return np.asarray(out) / math.sqrt((2 if self.normalize else 1) * self.m)


def profiles(series: Mapping[str, np.ndarray], m: int, *, normalize: bool = False,
             client=None, scheduler: str | None = None) -> dict[str, Profile]:
    """Matrix profiles of many series (e.g. one per pump), in parallel on Dask.

    One Dask task per series. With a ``dask.distributed`` client (given, or
    the active default one) the tasks run on its workers; without one they
    run in this process one after the other (``scheduler="synchronous"``:
    Stumpy's numba kernels already use every core, and its default threading
    layer must not be entered from several threads at once).

    Examples
    --------
    >>> out = profiles({"P1": np.random.rand(200), "P2": np.random.rand(200)}, 10)  # doctest: +SKIP
    >>> sorted(out)                                                                   # doctest: +SKIP
    ['P1', 'P2']
    """
    import dask

    if client is None:
        client = _active_client()
    tasks = {k: dask.delayed(matrix_profile, pure=True)(np.asarray(v, float), m,
                                                        normalize=normalize)
             for k, v in series.items()}
    if client is not None:
        futures = client.compute(list(tasks.values()))
        results = client.gather(futures)
    else:
        results = dask.compute(*tasks.values(), scheduler=scheduler or "synchronous")
    return dict(zip(tasks, results, strict=True))


def _active_client():
    try:
        from distributed import default_client
    except ImportError:   # distributed is optional at run time
        return None
    try:
        return default_client()
    except ValueError:    # no client active
        return None


# ---------------------------------------------------------------------------
# change detection (level and rate against a normal period)
# ---------------------------------------------------------------------------
@dataclass
class ChangeDetector:
    """Windowed level/rate change detector fitted on a normal period.

    For each numeric signal, the mean over a window of ``window`` samples is
    compared with the same statistic over the normal (fit) period, scaled by
    the ``quantile`` of its absolute deviations there: a score of 1 is as far
    as the normal period's ``quantile`` went. *Slow* signals — lag-1
    autocorrelation above ``slow_autocorr`` in the fit period, like
    temperatures that drift with the seasons or the load — are judged on
    their de-trended value (window mean minus a ``detrend``-sample mean), so a
    slow drift is not a change but a sudden one is. The combined score is the
    maximum over signals; a row is an outlier from when the score passes
    ``on`` until it falls below ``off`` (hysteresis), and runs shorter than
    ``min_length`` rows are dropped.

    Parameters
    ----------
    window : int
        Samples per window (default 20).
    detrend : int
        Samples of the trend removed from slow signals (default 60).
    slow_autocorr : float
        Lag-1 autocorrelation above which a signal counts as slow (0.9).
    quantile : float
        Quantile of the normal period's absolute deviations used as scale (0.99).
    on, off : float
        Hysteresis thresholds on the combined score (2.4, 2.0).
    min_length : int
        Shortest reported run, in rows (1).
    center : bool
        Centred windows (uses later samples; for offline use). Default False:
        each score uses only the current and earlier rows.
    signals : sequence of str, optional
        Columns to use (default: every numeric column).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> wander = 0.5 * np.sin(np.linspace(0, 2 * np.pi, 400))     # slow, in the normal period
    >>> normal = pd.DataFrame({"flow": 32 + 0.4 * rng.standard_normal(400),
    ...                        "temp": 70 + wander + 0.01 * rng.standard_normal(400)})
    >>> test = pd.DataFrame({"flow": 32 + 0.4 * rng.standard_normal(300),
    ...                      "temp": 70 + np.linspace(0, 3, 300)})   # drifts past its range
    >>> test.loc[150:, "flow"] -= 3.0                # a valve closes
    >>> det = ChangeDetector().fit(normal)
    >>> pred = det.predict(test, context=normal)
    >>> bool(pred[:140].any()), round(float(pred[160:].mean()), 2)
    (False, 1.0)
    """

    window: int = 20
    detrend: int = 60
    slow_autocorr: float = 0.9
    quantile: float = 0.99
    on: float = 2.4
    off: float = 2.0
    min_length: int = 1
    center: bool = False
    signals: Sequence[str] | None = None
    stats_: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        for name in ("window", "detrend", "min_length"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise ArgumentError(f"ChangeDetector {name} must be a positive integer, "
                                    f"got {v!r}")
        if not 0 < self.quantile <= 1:
            raise ArgumentError(f"ChangeDetector quantile must be in (0, 1], got "
                                f"{self.quantile!r}")
        if not 0 < self.off <= self.on:
            raise ArgumentError(f"ChangeDetector needs 0 < off <= on, got on={self.on!r}, "
                                f"off={self.off!r}")

    # -- fitting -------------------------------------------------------------
    def _columns(self, df: pd.DataFrame) -> list[str]:
        if self.signals is not None:
            missing = [s for s in self.signals if s not in df.columns]
            if missing:
                raise UnknownNameError(choices_message("signal", missing[0], df.columns))
            return list(self.signals)
        return [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])
                and not pd.api.types.is_bool_dtype(df[c])]

    def _transform(self, x: pd.Series, slow: bool) -> pd.Series:
        mp = max(1, self.window // 2)
        r = x.rolling(self.window, min_periods=mp, center=self.center).mean()
        if slow:
            r = r - x.rolling(self.detrend, min_periods=max(1, self.detrend // 2),
                              center=self.center).mean()
        return r

    def fit(self, df: pd.DataFrame) -> ChangeDetector:
        """Learn each signal's normal window statistics from ``df`` (a normal period)."""
        cols = self._columns(df)
        if not cols:
            raise ArgumentError("ChangeDetector.fit(): no numeric signal columns in the frame")
        if len(df) < 2 * self.window:
            raise ArgumentError(f"ChangeDetector.fit(): the normal period has {len(df)} rows; "
                                f"it needs at least 2*window={2 * self.window}")
        self.stats_ = {}
        for c in cols:
            x = df[c].astype(float)
            if x.notna().sum() < 2 * self.window or x.std() == 0 or not np.isfinite(x.std()):
                continue   # a constant or empty signal says nothing about change
            ac = x.autocorr(1)
            slow = bool(np.isfinite(ac) and ac > self.slow_autocorr)
            r = self._transform(x, slow)
            warm = self.detrend if slow and not self.center else (
                0 if self.center else self.window)
            rt = r.iloc[warm:].dropna()
            if len(rt) < 2:
                rt = r.dropna()
            med = float(rt.median())
            scale = float((rt - med).abs().quantile(self.quantile))
            if not scale > 0:
                scale = float(x.std()) or 1.0
            self.stats_[c] = {"slow": slow, "median": med, "scale": scale,
                              "autocorr": float(ac) if np.isfinite(ac) else None}
        if not self.stats_:
            raise ArgumentError("ChangeDetector.fit(): every signal is constant or empty in the "
                                "normal period")
        return self

    # -- scoring -------------------------------------------------------------
    def _need_fit(self):
        if not self.stats_:
            raise ArgumentError("ChangeDetector is not fitted: call .fit(normal_frame) first")

    def scores(self, df: pd.DataFrame, context: pd.DataFrame | None = None) -> pd.DataFrame:
        """Per-signal scores (1 = the normal period's ``quantile`` deviation) for ``df``.

        ``context`` (e.g. the normal period just before ``df``) primes the
        windows so the first rows of ``df`` have full windows; it is not scored.
        """
        self._need_fit()
        missing = [c for c in self.stats_ if c not in df.columns]
        if missing:
            raise UnknownNameError(choices_message("signal", missing[0], df.columns))
        full = df if context is None else pd.concat(
            [context[list(self.stats_)], df[list(self.stats_)]], ignore_index=True)
        off = 0 if context is None else len(context)
        out = {}
        for c, s in self.stats_.items():
            r = self._transform(full[c].astype(float), s["slow"])
            out[c] = ((r - s["median"]).abs() / s["scale"]).iloc[off:].to_numpy()
        return pd.DataFrame(out, index=df.index)

    def score(self, df: pd.DataFrame, context: pd.DataFrame | None = None) -> pd.Series:
        """The combined score (max over signals) of each row."""
        sc = self.scores(df, context)
        return sc.max(axis=1, skipna=True).fillna(0.0)

    def predict(self, df: pd.DataFrame, context: pd.DataFrame | None = None) -> np.ndarray:
        """Boolean outlier flag per row of ``df`` (hysteresis on :meth:`score`)."""
        return hysteresis(self.score(df, context).to_numpy(), self.on, self.off,
                          self.min_length)


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


# ---------------------------------------------------------------------------
# events from one pump's data
# ---------------------------------------------------------------------------
def _robust_scale(v: np.ndarray, quantile: float) -> tuple[float, float]:
    f = v[np.isfinite(v)]
    if len(f) == 0:
        return 0.0, 1.0
    med = float(np.median(f))
    sc = float(np.quantile(np.abs(f - med), quantile))
    return med, (sc if sc > 0 else (float(np.std(f)) or 1.0))


def _centre_spread(base: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Median and robust spread (IQR / 1.349, else std, else 1) of each column."""
    centre = base.median()
    spread = (base.quantile(0.75) - base.quantile(0.25)) / 1.349
    spread = spread.where(spread > 0, base.std())
    return centre.fillna(0.0), spread.where(spread > 0, 1.0).fillna(1.0)


def _rate(v: np.ndarray, rv: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """First differences of ``v`` (and ``rv``) in units of the normal differences' spread."""
    dv = np.diff(v, prepend=np.nan)
    dr = None if rv is None else np.diff(rv, prepend=np.nan)
    base = dv if dr is None else dr
    f = base[np.isfinite(base)]
    if len(f) == 0:
        return dv, dr
    q1, q3 = np.quantile(f, [0.25, 0.75])
    sc = (q3 - q1) / 1.349
    if not sc > 0:
        sc = float(np.std(f)) or 1.0
    return dv / sc, (None if dr is None else dr / sc)


def _excess(d: np.ndarray, dref: np.ndarray, quantile: float) -> np.ndarray:
    """How far each distance lies beyond the normal ones, in units of their ``quantile``
    spread (0 at or below the normal median; NaN where there is no window)."""
    med, _ = _robust_scale(dref, 0.5)
    _, sc = _robust_scale(dref, quantile)
    return np.where(np.isfinite(d), np.maximum(d - med, 0) / sc, np.nan)


def _window_to_samples(d: np.ndarray, m: int) -> np.ndarray:
    """Score of the window starting at i, placed at its centre sample."""
    out = np.full(len(d), np.nan)
    h = m // 2
    if len(d) > h:
        out[h:] = d[: len(d) - h]
    return out


def _as_frame(data, asset: str | None) -> tuple[pd.DataFrame, str]:
    if isinstance(data, pd.DataFrame):
        return data, asset or str(data.attrs.get("asset", "asset"))
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover - xarray is a core dependency
        xr = None
    if xr is not None and isinstance(data, xr.Dataset):
        ds = data
        if "asset" in ds.dims:
            if ds.sizes["asset"] != 1:
                raise ArgumentError("detect() takes one asset; select it first "
                                    "(ds.sel(asset=...)) or use detect_lake()")
            ds = ds.isel(asset=0)
        name = asset or (str(ds["asset"].values) if "asset" in ds.coords else "asset")
        keep = [v for v in ds.data_vars if not str(v).endswith("_sq")]
        return ds[keep].to_dataframe()[keep], name
    raise ArgumentError(f"detect() takes a pandas DataFrame or a one-asset xarray Dataset, "
                        f"got {type(data).__name__}")


def detect(data, m: int = 30, *, asset: str | None = None, signals: Sequence[str] | None = None,
           reference: tuple | slice | pd.DataFrame | None = None, method: str = "stump",
           threshold: float = 4.0, quantile: float = 0.95, level: bool = True,
           normalize: bool = False, slow_autocorr: float = 0.99,
           min_length: int | None = None, run_signal: str = "run_state", client=None
           ) -> pd.DataFrame:
    """Outlier events of one pump: matrix-profile discords and level changes in run windows.

    Samples where the pump does not run (``run_state <= 0.5``) or that are
    NaN (missing, or masked because the quality flags reject them) never
    enter a window, so stops and gaps are not anomalies.

    For each signal two scores are made, each divided by the ``quantile`` of
    its own normal spread (so 1 = the edge of normal):

    * discord: the matrix-profile distance of the window around each sample
      to its nearest neighbour — in the rest of the data (self-join) or in
      the ``reference`` period (AB-join) — on signals put in robust units
      (median, IQR); ``method="mstump"`` adds the multidimensional profile
      across all signals (column ``*``);
    * level (``level=True``): the window mean against the running samples of
      the reference (a :class:`ChangeDetector` with centred windows), so a
      sustained shift that keeps its shape (cavitation noise, a dry run) is
      seen too.

    A sample is an outlier while its largest score exceeds ``threshold``
    (hysteresis down to ``threshold * 0.8``); neighbouring outliers closer
    than ``m`` samples merge into one event.

    Parameters
    ----------
    data : DataFrame or one-asset xarray.Dataset
        Time-indexed signals (good samples only; NaN elsewhere) and ``run_state``.
    m : int
        Window length in samples (default 30: half an hour of 1-min data).
    asset : str, optional
        Name written into the events.
    signals : sequence of str, optional
        Signals to score (default: every numeric column except ``run_state``).
    reference : (start, end), slice or DataFrame, optional
        The normal period. Default: the data itself (self-join; the level
        scale is then the data's own spread).
    method : {"stump", "mstump", "none"}
        Matrix profile per signal, plus the multidimensional one, or none
        (level scores only).
    threshold : float
        Score above which a sample is an outlier (default 4).
    quantile : float
        Quantile of the normal spread used as each score's unit (0.95).
    level : bool
        Also score window means (default True).
    normalize : bool
        z-normalised matrix profile (shape only) instead of raw distances
        (default False: level and spread changes count).
    slow_autocorr : float
        Signals whose lag-1 autocorrelation (running samples of the reference)
        exceeds this (0.99: temperatures) enter the matrix profile as their
        first difference, so slow drift and warm-ups from unusual start values
        are not discords; the level score de-trends them too.
    min_length : int, optional
        Shortest event in samples (default ``m // 3``).
    client : dask.distributed.Client, optional
        Compute matrix profiles with ``stumped`` on this client.

    Returns
    -------
    DataFrame
        One row per event: ``event_id, asset, start, end, signals, score,
        severity, explanation, nearest_normal`` (see :data:`EVENT_COLUMNS`).
    """
    frame, name = _as_frame(data, asset)
    _check_choice("method", method, METHODS)
    m = _check_m(m)
    if not threshold > 0:
        raise ArgumentError(f"threshold must be positive, got {threshold!r}")
    if min_length is None:
        min_length = max(1, m // 3)
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise ArgumentError("detect() needs a DatetimeIndex on the frame (time stamps)")
    cols = _signal_columns(frame, signals, run_signal)
    run = running_mask(frame, run_signal)
    x = _mask_rows(frame[cols].astype(float), run)
    ref_frame = _reference(frame, reference, cols, run_signal)
    n = len(x)
    if n < 2 * m:
        return empty_events()
    comps: dict[str, np.ndarray] = {}
    nbrs: dict[str, np.ndarray] = {}
    if method in ("stump", "mstump"):
        base = x if ref_frame is None else ref_frame[cols]
        centre, spread = _centre_spread(base)
        z_x = (x - centre) / spread
        z_ref = None if ref_frame is None else (ref_frame[cols] - centre) / spread
        for c in cols:
            v = z_x[c].to_numpy()
            if np.isfinite(v).sum() < 2 * m or not np.nanstd(v) > 0:
                continue
            rv = None if z_ref is None else z_ref[c].to_numpy()
            ac = base[c].autocorr(1)
            if np.isfinite(ac) and ac > slow_autocorr:
                # a slow signal (a temperature): its shapes are judged on its rate of
                # change, so a warm-up from an unusual start value is not a discord
                v, rv = _rate(v, rv)
            if z_ref is None:
                p = matrix_profile(v, m, normalize=normalize, client=client)
                dref = p.normalised()
            else:
                if np.isfinite(rv).sum() < 2 * m:
                    continue
                p = matrix_profile(v, m, reference=rv, normalize=normalize, client=client)
                dref = matrix_profile(rv, m, normalize=normalize, client=client).normalised()
            comps[f"{c}:discord"] = _window_to_samples(_excess(p.normalised(), dref,
                                                               quantile), m)
            nbrs[c] = p.neighbour
        if method == "mstump" and len(cols) > 1:
            usable = [c for c in cols if z_x[c].notna().any()]
            ok = z_x[usable].notna().all(axis=1).to_numpy()
            P, Im = multi_profile(z_x[usable].fillna(0.0), m, valid=ok, normalize=normalize)
            d = P[-1] / math.sqrt((2 if normalize else 1) * m)
            comps["*:discord"] = _window_to_samples(_excess(d, d, quantile), m)
            nbrs["*"] = Im[-1]
    if level:
        det = ChangeDetector(window=m, detrend=4 * m, quantile=quantile, center=True,
                             on=threshold, off=threshold * 0.8, signals=None)
        base = x if ref_frame is None else ref_frame[cols]
        usable = [c for c in cols if base[c].notna().sum() >= 2 * m and base[c].std() > 0]
        if usable:
            det.signals = usable
            det.fit(base[usable])
            sc = det.scores(x[usable])
            for c in usable:
                comps[f"{c}:level"] = np.where(run, sc[c].to_numpy(), np.nan)
    if not comps:
        return empty_events()
    S = pd.DataFrame(comps, index=frame.index)
    total = S.max(axis=1, skipna=True).fillna(0.0).to_numpy()
    flag = hysteresis(total, threshold, threshold * 0.8, 1)
    ref_index = frame.index if ref_frame is None else ref_frame.index
    return _events_from(flag, S, frame, x, name, m, threshold, min_length, nbrs, ref_index,
                        ref_frame)


def _mask_rows(df: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """``df`` with every row where ``keep`` is False set to NaN."""
    return df.where(np.repeat(np.asarray(keep, bool)[:, None], df.shape[1], axis=1))


def _signal_columns(frame: pd.DataFrame, signals, run_signal: str) -> list[str]:
    if signals is not None:
        for s in signals:
            if s not in frame.columns:
                raise UnknownNameError(choices_message("signal", s, frame.columns))
        return list(signals)
    return [c for c in frame.columns if c != run_signal and c not in STATE_SIGNALS
            and pd.api.types.is_numeric_dtype(frame[c]) and frame[c].notna().any()]


def _reference(frame: pd.DataFrame, reference, cols, run_signal) -> pd.DataFrame | None:
    if reference is None:
        return None
    if isinstance(reference, pd.DataFrame):
        missing = [c for c in cols if c not in reference.columns]
        if missing:
            raise UnknownNameError("the reference frame lacks a signal: "
                                   + choices_message("signal", missing[0], reference.columns))
        ref = reference
    else:
        if isinstance(reference, slice):
            sl = reference
        elif isinstance(reference, tuple | list) and len(reference) == 2:
            sl = slice(*reference)
        else:
            raise ArgumentError(f"reference must be (start, end), a slice or a DataFrame, got "
                                f"{reference!r}")
        ref = frame.loc[sl]
    if len(ref) == 0:
        raise ArgumentError(f"the reference period {reference!r} holds no samples")
    out = ref[cols].astype(float)
    if run_signal in ref.columns:
        out = _mask_rows(out, running_mask(ref, run_signal))
        out[run_signal] = ref[run_signal]
    return out


def _severity(score: float, threshold: float) -> str:
    if score >= 3 * threshold:
        return "high"
    if score >= 1.5 * threshold:
        return "medium"
    return "low"


def _events_from(flag, S: pd.DataFrame, frame, x: pd.DataFrame, asset: str, m: int,
                 threshold: float, min_length: int, nbrs: dict, ref_index, ref_frame
                 ) -> pd.DataFrame:
    runs = run_segments(flag, 1)
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] < m:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    rows = []
    mu, sd = _centre_spread(x if ref_frame is None else ref_frame[x.columns])
    for a, b in merged:
        if b - a < min_length:
            continue
        block = S.iloc[a:b]
        peak_row = int(np.nanargmax(block.max(axis=1).to_numpy()))
        score = float(np.nanmax(block.to_numpy()))
        per_sig: dict[str, float] = {}
        for col in block.columns:
            sig = col.split(":")[0]
            v = float(np.nanmax(block[col].to_numpy())) if block[col].notna().any() else 0.0
            per_sig[sig] = max(per_sig.get(sig, 0.0), v)
        moved = sorted((s for s, v in per_sig.items() if v > threshold and s != "*"),
                       key=lambda s: -per_sig[s])
        if not moved:
            moved = [max(per_sig, key=per_sig.get)]
        # nearest normal motif: the neighbour of the peak window of the top discord
        # signal — outside the event itself (a self-join may match the event's own tail)
        nn_time = None
        motif_sig = next((s for s in moved if s in nbrs), "*" if "*" in nbrs else None)
        if motif_sig is not None:
            nn_time = _nearest_normal(nbrs[motif_sig], a, b, a + peak_row, m, ref_index,
                                      ref_frame is None)
        # how much each signal moved: event mean vs normal, in robust sigmas
        ev_mean = x.iloc[a:b].mean()
        shift = ((ev_mean - mu) / sd).dropna()
        top = shift.reindex(moved).dropna()
        parts = [f"{s} {v:+.1f}σ" for s, v in top.items()]
        start_t, end_t = frame.index[a], frame.index[b - 1]
        kinds = sorted({c.split(":")[1] for c in block.columns
                        if block[c].max() > threshold and c.split(":")[0] in moved})
        text = (f"{', '.join(moved)} abnormal ({' and '.join(kinds) or 'score'}); "
                f"moved most: {', '.join(parts) if parts else 'shape only'}")
        if nn_time is not None:
            text += f"; nearest normal motif at {pd.Timestamp(nn_time).isoformat()}"
        rows.append({"asset": asset, "start": start_t, "end": end_t,
                     "signals": ",".join(moved), "score": round(score, 3),
                     "severity": _severity(score, threshold), "explanation": text,
                     "nearest_normal": nn_time})
    if not rows:
        return empty_events()
    ev = pd.DataFrame(rows)
    ev.insert(0, "event_id", [_event_id(r) for r in rows])
    return _normalise_events(ev)


def _nearest_normal(nb: np.ndarray, a: int, b: int, peak: int, m: int, ref_index,
                    self_join: bool):
    """Time of the nearest neighbour of the peak window, or of the event window closest to
    the peak whose neighbour lies outside the event (self-join); None if there is none."""
    lo, hi = max(a - m // 2, 0), min(max(b - m // 2, a - m // 2 + 1), len(nb))
    order = sorted(range(lo, hi), key=lambda i: abs(i - (peak - m // 2)))
    for i in order:
        j = int(nb[i])
        if j < 0:
            continue
        if self_join and a - m <= j < b:
            continue
        return ref_index[j]
    return None


def _event_id(row: Mapping) -> str:
    import hashlib

    key = f"{row['asset']}|{pd.Timestamp(row['start']).isoformat()}|{row['signals']}"
    return "OUT-" + hashlib.sha1(key.encode()).hexdigest()[:10]


def empty_events() -> pd.DataFrame:
    """An events table with no rows and the right columns."""
    return _normalise_events(pd.DataFrame({c: [] for c in EVENT_COLUMNS}))


def _normalise_events(ev: pd.DataFrame) -> pd.DataFrame:
    ev = ev.reindex(columns=EVENT_COLUMNS)
    for c in ("start", "end", "nearest_normal"):
        t = pd.to_datetime(ev[c])
        if getattr(t.dt, "tz", None) is None:
            t = t.dt.tz_localize("UTC")
        ev[c] = t
    ev["score"] = ev["score"].astype(float)
    for c in ("event_id", "asset", "signals", "severity", "explanation"):
        ev[c] = ev[c].astype(object)
    return ev.sort_values(["start", "asset"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------
# the lake
# ---------------------------------------------------------------------------
def _lake(lake):
    from .lake import Lake

    return lake if isinstance(lake, Lake) else Lake(lake)


def _pump_assets(ds, assets, run_signal: str) -> list[str]:
    have = [str(a) for a in ds.asset.values]
    if assets is not None:
        assets = [assets] if isinstance(assets, str) else list(assets)
        for a in assets:
            if a not in have:
                raise UnknownNameError(choices_message("asset", a, have))
        return assets
    if run_signal not in ds.data_vars:
        return have
    rs = ds[run_signal].notnull().any("time").compute()
    return [a for a, ok in zip(have, rs.values.tolist(), strict=True) if ok]


def _frame_of(ds_one) -> pd.DataFrame:
    frame = ds_one.to_dataframe()
    frame = frame[[c for c in frame.columns if c != "asset" and not str(c).endswith("_sq")]]
    frame = frame.loc[:, frame.notna().any()]
    if frame.index.tz is None:
        frame.index = frame.index.tz_localize("UTC")
    return frame


def _detect_one(ds_one, ref_one, asset: str, kw: dict) -> pd.DataFrame:
    frame = ds_one if isinstance(ds_one, pd.DataFrame) else _frame_of(ds_one)
    reference = None
    if ref_one is not None:
        reference = ref_one if isinstance(ref_one, pd.DataFrame) else _frame_of(ref_one)
        missing = [c for c in frame.columns if c not in reference.columns]
        for c in missing:          # a signal without reference data cannot be judged
            frame = frame.drop(columns=c)
    return detect(frame, asset=asset, reference=reference, **kw)


def detect_lake(lake, *, assets: Sequence[str] | str | None = None,
                signals: Sequence[str] | None = None, start=None, end=None,
                reference: tuple | None = None, cadence: str = "1min", m: int = 30,
                method: str = "stump", threshold: float = 4.0, quantile: float = 0.95,
                level: bool = True, normalize: bool = False, snapshot: str | None = None, run_id: str | None = None,
                write: bool = True, client=None, scheduler: str | None = None) -> pd.DataFrame:
    """Find outlier events in the lake's good data, per pump, and store them.

    Reads ``raw/<cadence>`` masked by the stored quality flags
    (:func:`pumplib.quality.good`: a flagged sample is NaN and never enters
    a window), runs :func:`detect` for each pump (assets that have a
    ``run_state``) as one Dask task per pump, and — with ``write=True`` —
    stores the events as table ``outliers/<run_id>`` in one commit whose
    metadata records the lineage: the raw snapshot read, the parameters and
    the versions of pumplib, stumpy and numpy.

    Parameters
    ----------
    lake : Lake or str
        The lake (or its URL).
    assets : str or sequence, optional
        Pumps to scan (default: every asset with a run state).
    signals : sequence, optional
        Signals to score (default: every signal the pump has).
    start, end : optional
        Time range to scan (UTC).
    reference : (start, end), optional
        A normal period for the AB-join (default: self-join over the range).
    cadence : str
        Raw grid (default ``"1min"``).
    m, method, threshold, quantile, level, normalize :
        As in :func:`detect`.
    snapshot : str, optional
        Read the lake as of this snapshot.
    run_id : str, optional
        Name of the stored table (default: a new ``outliers-…`` id).
    write : bool
        Store the events (default True).
    client : dask.distributed.Client, optional
        Run the per-pump tasks on it (default: the active client, if any;
        otherwise one after the other in this process).

    Returns
    -------
    DataFrame
        The events; ``.attrs`` holds ``run_id`` and ``snapshot`` (the commit).

    Examples
    --------
    >>> ev = detect_lake("./store", start="2026-03-12", end="2026-03-13")  # doctest: +SKIP
    >>> events("./store").columns[:4].tolist()                             # doctest: +SKIP
    ['event_id', 'asset', 'start', 'end']
    """
    import dask

    from .lake import new_run_id
    from .quality import good, open_quality

    lk = _lake(lake)
    _check_choice("method", method, METHODS)
    _check_m(m)
    raw = lk.open_raw(cadence, snapshot=snapshot)
    flags = open_quality(lk, cadence, snapshot=snapshot, like=raw)
    ds = good(raw, flags)
    names = _pump_assets(ds, assets, "run_state")
    ref_ds = None
    if reference is not None:
        r0, r1 = _ref_naive_utc(reference)
        ref_ds = ds.sel(time=slice(r0.tz_localize(None), r1.tz_localize(None)))
        if ref_ds.sizes["time"] == 0:
            raise ArgumentError(f"the reference period {reference!r} holds no samples")
    if start is not None or end is not None:
        ds = ds.sel(time=slice(_naive(start), _naive(end)))
    if signals is not None:
        keep = list(dict.fromkeys([*signals, "run_state"]))
        for s in signals:
            if s not in ds.data_vars:
                raise UnknownNameError(choices_message("signal", s, ds.data_vars))
        ds = ds[[v for v in keep if v in ds.data_vars]]
        if ref_ds is not None:
            ref_ds = ref_ds[[v for v in keep if v in ref_ds.data_vars]]
    kw = {"m": m, "method": method, "threshold": threshold, "quantile": quantile,
          "level": level, "normalize": normalize}
    if client is None:
        client = _active_client()
    if client is not None:
        # workers get plain frames (read here), never handles on the lake's session
        tasks = [dask.delayed(_detect_one, pure=False)(
            _frame_of(ds.sel(asset=a)),
            None if ref_ds is None else _frame_of(ref_ds.sel(asset=a)), a, kw) for a in names]
    else:
        tasks = [dask.delayed(_detect_one, pure=False)(
            ds.sel(asset=a), None if ref_ds is None else ref_ds.sel(asset=a), a, kw)
            for a in names]
    if client is not None:
        results = client.gather(client.compute(tasks))
    else:
        results = dask.compute(*tasks, scheduler=scheduler or "synchronous")
    frames = [r for r in results if len(r)]
    ev = _normalise_events(pd.concat(frames, ignore_index=True)) if frames else empty_events()
    rid = run_id or new_run_id("outliers")
    ev.attrs.update(run_id=rid, source_snapshot=raw.attrs.get("snapshot"))
    if write:
        params = {"assets": names, "signals": list(signals) if signals else None,
                  "start": _iso(start), "end": _iso(end),
                  "reference": [_iso(t) for t in reference] if reference else None,
                  "cadence": cadence, "m": m, "method": method, "threshold": threshold,
                  "quantile": quantile, "level": level, "normalize": normalize}
        meta = _lineage(raw.attrs.get("snapshot"), flags.attrs.get("snapshot"), params, rid,
                        len(ev))
        attrs = {"run_id": rid, "source_snapshot": raw.attrs.get("snapshot"), "params": params,
                 "columns": EVENT_COLUMNS}
        with lk.transaction(f"outliers: {len(ev)} events in {len(names)} pumps ({rid})",
                            meta) as tx:
            _replace_table(tx, rid, _to_table(ev), attrs)
        ev.attrs["snapshot"] = tx.snapshot
    return ev


def _replace_table(tx, name: str, frame: pd.DataFrame, attrs: dict) -> None:
    """Write ``outliers/<name>``; a run stored again under the same id (a resumed
    pipeline) replaces its table — the lake's history keeps the earlier one."""
    if GROUP in tx.root and name in tx.root[GROUP]:
        del tx.root[GROUP][name]
    tx.write_table(GROUP, name, frame, attrs)


def _lineage(source_snapshot, flags_snapshot, params, run_id, n) -> dict:
    versions = _versions()
    meta = {"kind": "outliers", "run_id": run_id, "events": n, "params": params,
            "source_snapshot": source_snapshot,
            "inputs": {"snapshots": [s for s in (source_snapshot,) if s]},
            "versions": versions, "outputs": [f"{GROUP}/{run_id}"]}
    try:
        from . import lineage as _lin
    except ImportError:   # lineage module not installed in this tree
        return meta
    stamp = _lin.stamp("outliers", inputs=meta["inputs"]["snapshots"], params=params,
                       run_id=run_id, outputs=meta["outputs"])
    stamp["versions"] = {**stamp.get("versions", {}), **versions}
    return {**stamp, "events": n, "source_snapshot": source_snapshot}


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for p in ("pumplib", "stumpy", "numba", "numpy", "pandas"):
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = "unknown"
    return out


def _to_table(ev: pd.DataFrame) -> pd.DataFrame:
    return ev.reset_index(drop=True)


def _naive(t):
    if t is None:
        return None
    ts = pd.Timestamp(t)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _ref_naive_utc(reference):
    if reference is None:
        return None
    if not (isinstance(reference, tuple | list) and len(reference) == 2):
        raise ArgumentError(f"reference must be (start, end), got {reference!r}")
    return tuple(_utc(t) for t in reference)


def _utc(t):
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _iso(t):
    return None if t is None else _utc(t).isoformat()


def runs(lake, snapshot: str | None = None) -> pd.DataFrame:
    """The stored outlier runs: ``run_id, events, snapshot, committed`` (newest first)."""
    lk = _lake(lake)
    rows = []
    for c in lk.log():
        if c.metadata.get("kind") == "outliers":
            rows.append({"run_id": c.metadata.get("run_id"), "events": c.metadata.get("events"),
                         "snapshot": c.snapshot, "committed": c.written_at,
                         "source_snapshot": c.metadata.get("source_snapshot")})
    return pd.DataFrame(rows, columns=["run_id", "events", "snapshot", "committed",
                                       "source_snapshot"])


def events(lake, run_id: str | None = None, *, snapshot: str | None = None,
           all_runs: bool = False) -> pd.DataFrame:
    """Outlier events stored by :func:`detect_lake`.

    Parameters
    ----------
    lake : Lake or str
    run_id : str, optional
        One run (default: the latest run).
    snapshot : str, optional
        Read as of this snapshot.
    all_runs : bool
        Every run, with a ``run_id`` column.

    Examples
    --------
    >>> events("./store").severity.value_counts()   # doctest: +SKIP
    """
    import zarr.errors

    lk = _lake(lake)
    try:
        tables = lk.tables(GROUP, snapshot=snapshot)
    except zarr.errors.GroupNotFoundError:   # a new lake: nothing committed yet
        tables = {}
    if not tables:
        return empty_events().assign(run_id=pd.Series(dtype=object))
    if all_runs:
        return _with_run([t.assign(run_id=k) for k, t in tables.items()])
    if run_id is None:
        order = [r for r in runs(lk)["run_id"].tolist() if r in tables]
        run_id = order[0] if order else sorted(tables)[-1]
    if run_id not in tables:
        raise UnknownNameError(choices_message("outlier run", run_id, tables))
    ev = _normalise_events(tables[run_id])
    ev["run_id"] = run_id
    return ev


def _with_run(frames: list[pd.DataFrame]) -> pd.DataFrame:
    out = []
    for f in frames:
        rid = f["run_id"].iloc[0] if len(f) else None
        e = _normalise_events(f.drop(columns="run_id"))
        e["run_id"] = rid
        out.append(e)
    return pd.concat(out, ignore_index=True) if out else empty_events()


def recall(ev: pd.DataFrame, truth: pd.DataFrame, kinds: Iterable[str] = ("cavitation",
                                                                          "dry_running")
           ) -> pd.DataFrame:
    """Which truth episodes of ``kinds`` an event overlaps (same asset, overlapping time).

    Returns the truth rows of those kinds with a ``found`` column and the
    ``event_id`` of the first overlapping event.
    """
    t = truth[truth["kind"].isin(list(kinds))].copy()
    ts = pd.to_datetime(t["start"], utc=True)
    te = pd.to_datetime(t["end"], utc=True)
    found, ids = [], []
    for a, s, e in zip(t["asset"], ts, te, strict=True):
        hit = ev[(ev["asset"] == a) & (ev["start"] <= e) & (ev["end"] >= s)]
        found.append(bool(len(hit)))
        ids.append(hit["event_id"].iloc[0] if len(hit) else None)
    t["found"] = found
    t["event_id"] = ids
    return t.reset_index(drop=True)


__all__ = ["EVENT_COLUMNS", "ChangeDetector", "Profile", "StreamingProfile", "detect",
           "detect_lake", "empty_events", "events", "hysteresis", "matrix_profile",
           "multi_profile", "profiles", "recall", "run_segments", "runs", "running_mask",
           "warm_up"]

