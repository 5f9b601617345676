"""Matrix profiles (Stumpy) inside run-state windows: self-join, AB-join, multidimensional, streaming."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from .common import _check_m, _compress, run_segments


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
