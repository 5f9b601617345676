"""Shared pieces of the outlier rooms: event columns, argument checks, run-state windows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import ArgumentError

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


def _active_client():
    try:
        from distributed import default_client
    except ImportError:   # distributed is optional at run time
        return None
    try:
        return default_client()
    except ValueError:    # no client active
        return None
