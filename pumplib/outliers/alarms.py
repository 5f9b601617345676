"""Alarms from scores: hysteresis, alarms that end, a reference that re-baselines."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import ArgumentError
from .common import run_segments


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


#: states of :func:`track`
NORMAL, ALARM, SETTLE = 0, 1, 2


@dataclass
class Tracked:
    """What :func:`track` returns: per-row alarm flag, score and state, and the re-baselines.

    ``rebaselines`` lists ``(row, centre)``: from ``row`` on, scores are taken
    against the new ``centre`` (one value per feature). ``z`` holds each row's
    signed distance of every feature from the reference in force at that row
    (adapted, re-baselined), in scale units: ``score`` is its largest
    (one-sided for ``upper`` features) value.
    """

    alarm: np.ndarray
    score: np.ndarray
    state: np.ndarray
    rebaselines: list[tuple[int, np.ndarray]] = field(default_factory=list)
    z: np.ndarray | None = None


def _nanmedian(a: np.ndarray) -> np.ndarray:
    """Column medians ignoring NaN; NaN (no warning) for a column with no value (a pump
    that did not run through the block)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=0)


def _zmax(row: np.ndarray, centre: np.ndarray, scale: np.ndarray,
          upper: np.ndarray | None = None) -> float:
    """Largest distance of ``row`` from ``centre`` in ``scale`` units; ``upper`` features
    count only above their centre (more noise, a larger impulse)."""
    z = (row - centre) / scale
    z = np.where(upper, np.maximum(z, 0.0), np.abs(z)) if upper is not None else np.abs(z)
    z = z[np.isfinite(z)]
    return float(z.max()) if z.size else 0.0


def _follow(f: np.ndarray, c: np.ndarray, s: np.ndarray, rate: float, m, m0, s0,
            top) -> np.ndarray:
    """One row of :func:`track`'s slow following: the centre ``c`` (in place) and the
    mean absolute distance ``m`` (in place) move ``rate`` of the way to the row ``f``; the
    scale grows with ``m / m0``, never below the fitted ``s0`` nor above ``top`` times it."""
    ok = np.isfinite(f)
    c[ok] += rate * (f[ok] - c[ok])
    if m is None:
        return s
    m[ok] += rate * (np.abs(f[ok] - c[ok]) - m[ok])
    with np.errstate(all="ignore"):
        return s0 * np.minimum(top, np.maximum(1.0, np.where(m0 > 0, m / m0, 1.0)))


def _settled(block: np.ndarray, s: np.ndarray, off: float, centre) -> np.ndarray | None:
    """The new reference centre when the rows ``block`` held still (its two halves'
    medians within ``off`` of each other), else None."""
    h = len(block) // 2
    with np.errstate(all="ignore"):
        drift = _zmax(_nanmedian(block[:h]), _nanmedian(block[h:]), s)
    if drift > off:
        return None
    c = _nanmedian(block)
    return np.where(np.isfinite(c), c, np.asarray(centre, float))


def track(features: np.ndarray, centre: np.ndarray, scale: np.ndarray, on: float, off: float,
          *, clear: int = 10, confirm: int = 60, learn: int = 20, settle: int = 60,
          rebaseline: bool = True, upper: np.ndarray | None = None,
          adapt: int = 0, spread: np.ndarray | None = None,
          cap: np.ndarray | None = None) -> Tracked:
    """Alarms that end, and a reference that re-baselines after a confirmed event.

    Each row's score is its largest ``|feature − centre| / scale``. An alarm
    starts when the score passes ``on`` and ends when it has stayed at or
    below ``off`` for ``clear`` rows (the state came back to normal).

    With ``rebaseline``, an alarm that has lasted ``confirm`` rows is a
    confirmed event: the event's own state is learnt (feature medians of its
    last ``learn`` rows). When the rows then leave that event state too —
    more than ``on`` from it and less than half its distance from the
    reference, for ``clear`` rows, while still above ``off`` — the event has
    ended in a *new* state (another operating point, or a repair): the alarm
    ends, and once the new state has held still for ``settle`` rows (its two
    halves' medians within ``off`` of each other) the reference centre moves
    to it (scales are kept). Otherwise a detector stays on for good once the
    plant leaves the state it was fitted on.

    Parameters
    ----------
    features : array (n, k)
        Window features per row (NaN: unknown, ignored).
    centre, scale : array (k,)
        The reference, from :func:`~pumplib.outliers.reference.robust_centre_scale`.
    on, off : float
        Alarm thresholds on the score (``off <= on``).
    clear, confirm, learn, settle : int
        Rows, as above.
    rebaseline : bool
        Move the reference after a confirmed event that ended in a new state.
    upper : array (k,) of bool, optional
        Features that alarm only above their centre (noise, impulses): less
        noise than the reference is not a fault.
    adapt : int
        With ``adapt > 0`` the reference centre follows slow wander of normal
        operation: on each row without an alarm it moves ``1/adapt`` of the way
        to that row's features (an exponential mean over about ``adapt`` rows).
        It is frozen during an alarm, so a fault is not learnt. 0: fixed.
        The scale follows too, but only upwards: each feature's mean absolute
        distance from the centre is tracked the same way, and when normal
        operation gets noisier than it was in the fit window (``spread``, the
        fit window's mean absolute distance) the scale grows in proportion; it
        never shrinks below the fitted scale.
    spread : array (k,), optional
        The fit window's mean absolute distance of each feature from its
        centre (needed for the scale to follow; without it only the centre does).
    cap : array (k,), optional
        The most each feature's scale may widen (a factor ≥ 1; ``inf``: no
        limit), e.g. :func:`~pumplib.outliers.reference.widening_cap`: only as
        far as the wander its fit window shows predicts. Without a cap a fault
        that ramps in slowly widens the scale itself and is never reached.

    Examples
    --------
    >>> f = np.r_[np.zeros(20), np.full(30, 9.0), np.zeros(30)][:, None]
    >>> t = track(f, np.zeros(1), np.ones(1), on=3, off=2, clear=5)
    >>> int(t.alarm.argmax()), int(t.alarm.sum())
    (20, 34)
    """
    if not 0 < off <= on:
        raise ArgumentError(f"alarm thresholds need 0 < off <= on, got on={on!r}, off={off!r}")
    F = np.asarray(features, dtype=float)
    n = len(F)
    c = np.asarray(centre, dtype=float).copy()
    s = np.asarray(scale, dtype=float)
    up = None if upper is None else np.asarray(upper, bool)
    if not isinstance(adapt, int | np.integer) or adapt < 0:
        raise ArgumentError(f"adapt must be a non-negative integer, got {adapt!r}")
    rate = 1.0 / adapt if adapt else 0.0
    s0 = s.copy()
    m0 = None if spread is None else np.asarray(spread, dtype=float)
    m = None if m0 is None else m0.copy()
    top = np.inf if cap is None else np.maximum(np.asarray(cap, dtype=float), 1.0)
    alarm = np.zeros(n, bool)
    score = np.zeros(n)
    state = np.zeros(n, np.int8)
    zs = np.full(F.shape, np.nan)
    out = Tracked(alarm, score, state, z=zs)
    st, onset, below, away, evt, start = NORMAL, 0, 0, 0, None, 0
    for i in range(n):
        with np.errstate(all="ignore"):
            zs[i] = (F[i] - c) / s
        score[i] = z = _zmax(F[i], c, s, up)
        if st == NORMAL:
            if z > on:
                st, onset, below, away, evt = ALARM, i, 0, 0, None
            elif rate:
                s = _follow(F[i], c, s, rate, m, m0, s0, top)
        elif st == ALARM:
            below = below + 1 if z <= off else 0
            if below >= clear:
                st = NORMAL
            elif rebaseline:
                if evt is None and i - onset + 1 >= confirm:
                    evt = _nanmedian(F[max(onset, i - learn + 1): i + 1])
                    evt_z = _zmax(evt, c, s, up)
                if evt is not None:
                    # left the event state, and half-way back towards the reference
                    back = _zmax(F[i], evt, s, up) > on and z < 0.5 * evt_z
                    away = away + 1 if back else 0
                    if away >= clear:
                        st, start = SETTLE, i + 1
        elif st == SETTLE and i - start + 1 >= settle:
            new = _settled(F[start: i + 1], s, off, centre)
            if new is not None:
                c = new
                out.rebaselines.append((i + 1, c.copy()))
                st = NORMAL
            else:
                start = i + 1 - settle // 2      # not still yet: keep watching
        alarm[i] = st == ALARM
        state[i] = st
    return out
