"""Chunks (one UTC day of one station) and their export rows in file order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import UnknownNameError, choices_message
from .constants import ROW_ORDERS
from .plant import TagSpec


@dataclass
class _RowOps:
    gaps: list[tuple[tuple[int, ...], int, int]] = field(default_factory=list)
    skews: list[tuple[tuple[int, ...], int, int, int]] = field(default_factory=list)
    dups: list[tuple[int, int, int]] = field(default_factory=list)
    ooo: list[tuple[int, int, int]] = field(default_factory=list)


@dataclass(eq=False)
class Chunk:
    """One UTC day of one station: sensor values, control truth and faults.

    Attributes
    ----------
    start : pandas.Timestamp
        UTC start of the day.
    station : str
        Station id.
    freq : pandas.Timedelta
        Sample interval.
    times : numpy.ndarray
        The sample grid (int64 ns since the epoch, UTC), length ``n``.
    tags, units, signals, assets : tuple of str
        Historian tag, delivered unit, canonical signal and asset of each row.
    values : numpy.ndarray
        ``(len(tags), n)`` float64 values in the delivered units after value
        faults (NaN = dropout), before row faults (gaps, skew, duplicates,
        out-of-order rows), which :meth:`long_arrays` applies.
    quality : numpy.ndarray
        ``(len(tags), n)`` OPC quality (192 good, 64 uncertain, 0 bad).
    state : pandas.DataFrame
        Noise-free control truth at the control step, canonical units, columns
        ``"<asset>.<quantity>"`` (e.g. ``N-P1.flow``, ``N-T1.level``).
    faults : pandas.DataFrame
        Truth rows of the faults touching this chunk (see :data:`TRUTH_COLUMNS`).
    catalog : tuple of TagSpec
        Every tag of the simulation (all stations), in export order.
    """

    start: pd.Timestamp
    station: str
    freq: pd.Timedelta
    timezone: str
    times: np.ndarray
    tags: tuple[str, ...]
    units: tuple[str, ...]
    signals: tuple[str, ...]
    assets: tuple[str, ...]
    values: np.ndarray
    quality: np.ndarray
    state: pd.DataFrame
    faults: pd.DataFrame
    catalog: tuple[TagSpec, ...] = field(default=(), repr=False)
    ops: _RowOps = field(default_factory=_RowOps, repr=False)

    def long_arrays(self, order: str = "time") -> tuple[np.ndarray, ...]:
        """Export rows in file order: ``(timestamp_ns, tag_index, value, quality)``.

        ``order="time"`` writes one row per tag for each sample time in turn,
        ``order="tag"`` all samples of a tag, then the next tag. Gap rows are
        absent, clock-skewed rows carry shifted timestamps (in their true
        place), duplicated rows follow their original and out-of-order windows
        of a tag are written in reverse time order.
        """
        return _long_rows([self], order)

    @property
    def frame(self) -> pd.DataFrame:
        """The export rows as a long DataFrame: timestamp (UTC), tag, value, quality."""
        ts, code, value, quality = self.long_arrays()
        return pd.DataFrame({
            "timestamp": pd.DatetimeIndex(ts.astype("datetime64[ns]"), tz="UTC"),
            "tag": pd.Categorical.from_codes(code, categories=list(self.tags)),
            "value": value, "quality": quality})

    @property
    def end(self) -> pd.Timestamp:
        """UTC end of the day (exclusive)."""
        return self.start + pd.Timedelta(days=1)


def _long_rows(chunks: Sequence[Chunk], order: str) -> tuple[np.ndarray, ...]:
    """Rows of chunks of the same day, their tags stacked: ``(ts, tag_index, value, quality)``.

    In ``"time"`` order the stations are merged: each sample time holds one
    row per tag of every chunk.
    """
    if order not in ROW_ORDERS:
        raise UnknownNameError(choices_message("row order", order, ROW_ORDERS))
    times = chunks[0].times
    n = len(times)
    values = chunks[0].values if len(chunks) == 1 else np.concatenate([c.values for c in chunks])
    quality = chunks[0].quality if len(chunks) == 1 else \
        np.concatenate([c.quality for c in chunks])
    n_tag = values.shape[0]
    first = np.cumsum([0] + [len(c.tags) for c in chunks])
    itype = np.int32 if n_tag * n < 2**31 else np.int64
    idx = np.arange(n_tag * n, dtype=itype).reshape(n_tag, n)
    counts = None
    for c, base in zip(chunks, first, strict=False):
        for row, i0, i1 in c.ops.ooo:
            idx[base + row, i0:i1 + 1] = idx[base + row, i0:i1 + 1][::-1].copy()
        if c.ops.dups or c.ops.gaps:
            counts = np.ones((n_tag, n), dtype=np.int8) if counts is None else counts
            for row, i0, i1 in c.ops.dups:
                counts[base + row, i0:i1 + 1] = 2
            for rows, i0, i1 in c.ops.gaps:
                counts[[base + r for r in rows], i0:i1 + 1] = 0
    flat = idx.ravel() if order == "tag" else idx.T.ravel()
    del idx
    take = flat if counts is None else np.repeat(flat, counts.ravel()[flat])
    del flat
    slot = take % n
    code = (take // n).astype(np.int32)
    ts = times[slot]
    for c, base in zip(chunks, first, strict=False):
        for rows, i0, i1, off in c.ops.skews:
            hit = np.isin(code, [base + r for r in rows]) & (slot >= i0) & (slot <= i1)
            ts[hit] += off
    return ts, code, values.ravel()[take], quality.ravel()[take]
