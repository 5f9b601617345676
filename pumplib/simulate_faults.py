"""Mechanical and hydraulic pump faults, injected with truth into a test-rig frame.

The SKAB development files hold one fault kind (a valve closing at the pump
inlet). The faults below are the others a detector must see, modelled on
what each does to the signals of a centrifugal-pump rig (SKAB's columns:
two vibration RMS channels, motor current, pressure, two temperatures,
voltage, flow):

``rotor_imbalance``
    Both vibration RMS channels rise by ``25 % × severity`` (ramped in over
    10 rows) and the current by ``2 % × severity``; their noise is unchanged.
``cavitation``
    Two-phase flow: the flow gets extra noise of ``3 × severity`` its normal
    spread and falls ``2 % × severity``; the vibration and the
    pressure get noise of ``2 × severity`` their spread. The means barely
    move: window means dilute it, window std sees it.
``leak``
    Flow rises ``5 % × severity`` and pressure falls ``3 × severity`` its
    spread, ramped in over 60 rows; the current rises ``1.5 % × severity``.
``impulse``
    Three single-row spikes on the first vibration channel, each
    ``8 × severity`` its normal step spread, in one episode.

:func:`rig_frame` makes normal operation of such a rig (seeded), and
:func:`inject` puts one fault into any frame with those signals and returns
the faulty frame with its truth (``kind, start, end, severity`` as row
positions and times).

Examples
--------
>>> normal = rig_frame(600, seed=1)
>>> faulty, truth = inject(normal, "cavitation", start=300, length=120, seed=1)
>>> truth["kind"], truth["start"], truth["end"]
('cavitation', 300, 420)
>>> bool(faulty["Volume Flow RateRMS"].iloc[300:420].std()
...      > 2 * normal["Volume Flow RateRMS"].iloc[300:420].std())
True
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .errors import ArgumentError, UnknownNameError, choices_message

#: the fault kinds :func:`inject` knows
RIG_FAULT_KINDS = ("rotor_imbalance", "cavitation", "leak", "impulse")

#: SKAB's column of each role
SKAB_SIGNALS = {"vibration": ("Accelerometer1RMS", "Accelerometer2RMS"),
                "current": ("Current",), "pressure": ("Pressure",),
                "flow": ("Volume Flow RateRMS",)}


def rig_frame(n: int, seed: int = 0, start: str = "2026-03-01", freq: str = "1s"
              ) -> pd.DataFrame:
    """Normal operation of a SKAB-like pump rig: ``n`` rows of the SKAB columns (seeded).

    Noise is autocorrelated (AR(1)), the temperatures wander slowly, the
    pressure is quantised like SKAB's coarse sensor.
    """
    if not isinstance(n, int | np.integer) or n < 1:
        raise ArgumentError(f"rig_frame n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)

    def ar(sd, phi=0.7):
        e = rng.standard_normal(n) * sd * np.sqrt(1 - phi ** 2)
        out = np.empty(n)
        prev = 0.0
        for i in range(n):
            prev = phi * prev + e[i]
            out[i] = prev
        return out

    slow = np.cumsum(rng.standard_normal(n)) / np.sqrt(max(n, 1))
    t = pd.date_range(start, periods=n, freq=freq)
    return pd.DataFrame({
        "Accelerometer1RMS": 0.0275 + ar(0.0006),
        "Accelerometer2RMS": 0.040 + ar(0.0008),
        "Current": 1.0 + ar(0.12, 0.5),
        "Pressure": np.round((0.03 + ar(0.03, 0.9)) / 0.0547) * 0.0547,
        "Temperature": 68 + 0.6 * slow + ar(0.02, 0.9),
        "Thermocouple": 24.5 + 0.3 * slow + ar(0.01, 0.9),
        "Voltage": 231 + ar(6.0, 0.5),
        "Volume Flow RateRMS": 32 + ar(0.4, 0.8)}, index=t)


def _step_spread(x: np.ndarray) -> float:
    d = np.diff(x[np.isfinite(x)])
    s = 1.4826 * np.median(np.abs(d - np.median(d))) if d.size else 0.0
    return float(s) if s > 0 else float(np.nanstd(x) or 1.0)


def _spread(x: np.ndarray) -> float:
    f = x[np.isfinite(x)]
    s = 1.4826 * np.median(np.abs(f - np.median(f))) if f.size else 0.0
    return float(s) if s > 0 else float(np.std(f) or 1.0)


def inject(frame: pd.DataFrame, kind: str, start: int, length: int, *, severity: float = 1.0,
           seed: int = 0, signals: Mapping[str, tuple[str, ...]] | None = None
           ) -> tuple[pd.DataFrame, dict]:
    """A copy of ``frame`` with one fault of ``kind`` in rows ``[start, start + length)``.

    Parameters
    ----------
    frame : DataFrame
        Normal operation (rows in time order).
    kind : str
        One of :data:`RIG_FAULT_KINDS`.
    start, length : int
        Row position and rows of the fault.
    severity : float
        Scales the fault (1: the sizes in the module docstring).
    seed : int
        Seeds the fault's noise and impulse positions.
    signals : mapping, optional
        Columns of each role (``vibration, current, pressure, flow``); default
        :data:`SKAB_SIGNALS`.

    Returns
    -------
    (DataFrame, dict)
        The faulty frame, and the truth: ``kind, start, end, severity,
        start_time, end_time`` (``end`` exclusive) and, for ``impulse``, ``rows``.
    """
    if kind not in RIG_FAULT_KINDS:
        raise UnknownNameError(choices_message("fault kind", kind, RIG_FAULT_KINDS))
    n = len(frame)
    if not (start >= 0 and length >= 1 and start + length <= n):
        raise ArgumentError(f"the fault rows [{start}, {start + length}) do not fit in "
                            f"{n} rows")
    if not severity > 0:
        raise ArgumentError(f"severity must be positive, got {severity!r}")
    roles = dict(SKAB_SIGNALS if signals is None else signals)
    for cols in roles.values():
        for c in cols:
            if c not in frame.columns:
                raise UnknownNameError(choices_message("signal", c, frame.columns))
    rng = np.random.default_rng([int(seed), RIG_FAULT_KINDS.index(kind)])
    out = frame.copy()
    sl = slice(start, start + length)
    ramp = lambda k: np.minimum(1.0, np.arange(1, length + 1) / k)  # noqa: E731

    def add(col, delta):
        j = out.columns.get_loc(col)
        out.iloc[sl, j] = out.iloc[sl, j].to_numpy(float) + delta

    truth = {"kind": kind, "start": int(start), "end": int(start + length),
             "severity": float(severity), "start_time": frame.index[start],
             "end_time": frame.index[start + length - 1]}
    if kind == "rotor_imbalance":
        for c in roles["vibration"]:
            add(c, 0.25 * severity * ramp(10) * frame[c].iloc[sl].to_numpy(float))
        for c in roles["current"]:
            add(c, 0.02 * severity * ramp(10) * np.nanmedian(frame[c]))
    elif kind == "cavitation":
        for c in roles["flow"]:
            x = frame[c].to_numpy(float)
            add(c, 3 * severity * _spread(x) * rng.standard_normal(length)
                - 0.02 * severity * np.nanmedian(x))
        for c in (*roles["vibration"], *roles["pressure"]):
            add(c, 2 * severity * _spread(frame[c].to_numpy(float))
                * rng.standard_normal(length))
    elif kind == "leak":
        for c in roles["flow"]:
            add(c, 0.05 * severity * ramp(60) * np.nanmedian(frame[c]))
        for c in roles["pressure"]:
            add(c, -3 * severity * ramp(60) * _spread(frame[c].to_numpy(float)))
        for c in roles["current"]:
            add(c, 0.015 * severity * ramp(60) * np.nanmedian(frame[c]))
    else:   # impulse: three single-row spikes on the first vibration channel
        c = roles["vibration"][0]
        rows = np.sort(rng.choice(length, size=min(3, length), replace=False))
        delta = np.zeros(length)
        delta[rows] = 8 * severity * _step_spread(frame[c].to_numpy(float))
        add(c, delta)
        truth["rows"] = [int(start + r) for r in rows]
    return out, truth
