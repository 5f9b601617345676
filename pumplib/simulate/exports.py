"""Historian-style exports streamed chunk by chunk: long and wide, CSV and Parquet."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import ConfigError, UnknownNameError, choices_message
from .chunk import Chunk, _long_rows
from .constants import DAY_NS, FORMATS, LONG_CSV_HEADER, ROW_ORDERS, TRUTH_COLUMNS, _iso
from .plant import TagSpec, _utc_ns
from .simulation import Simulation
from .truth import _write_truth


@dataclass(frozen=True)
class Export:
    """One output file of :func:`write_exports`.

    Parameters
    ----------
    path : str or Path
        Output file. ``.parquet`` → ``long_parquet``, ``.csv``/``.csv.gz`` →
        ``long_csv`` unless ``format`` says otherwise; ``.gz`` gzips a CSV.
    format : str, optional
        One of :data:`FORMATS`.
    stations : sequence of str, optional
        Only these stations.
    start, end : str or Timestamp, optional
        Only rows with ``start <= timestamp < end`` (UTC; naive is UTC).
    order : {"time", "tag"}
        Row order of long files. ``"time"`` (default): for each sample time one
        row per tag, all stations of a day merged, as an export by time range
        gives; memory holds one day of the exported stations. ``"tag"``: per
        day and station, all samples of a tag, then the next tag; memory holds
        one day of one station.
    """

    path: str | Path
    format: str | None = None
    stations: tuple[str, ...] | None = None
    start: Any = None
    end: Any = None
    order: str = "time"

    @property
    def resolved_format(self) -> str:
        fmt = self.format
        if fmt is None:
            name = str(self.path).lower()
            if name.endswith(".parquet"):
                fmt = "long_parquet"
            elif name.endswith((".csv", ".csv.gz")):
                fmt = "long_csv"
            else:
                raise ConfigError(f"cannot infer the export format of {str(self.path)!r}; "
                                  f"name one of {list(FORMATS)} with format=")
        if fmt not in FORMATS:
            raise UnknownNameError(choices_message("export format", fmt, FORMATS))
        return fmt


class _Rows:
    """Select rows of a chunk for an export (stations, time window)."""

    def __init__(self, export: Export):
        self.stations = None if export.stations is None else set(export.stations)
        self.lo = None if export.start is None else _utc_ns(export.start)
        self.hi = None if export.end is None else _utc_ns(export.end)

    def wants(self, chunk: Chunk) -> bool:
        if self.stations is not None and chunk.station not in self.stations:
            return False
        margin = 2 * DAY_NS  # clock skew can move rows across days
        t0 = int(chunk.times[0])
        return (self.lo is None or t0 + DAY_NS + margin > self.lo) and \
            (self.hi is None or t0 - margin < self.hi)

    def select(self, ts: np.ndarray, *cols: np.ndarray) -> tuple[np.ndarray, ...]:
        if self.lo is None and self.hi is None:
            return (ts, *cols)
        keep = np.ones(len(ts), dtype=bool)
        if self.lo is not None:
            keep &= ts >= self.lo
        if self.hi is not None:
            keep &= ts < self.hi
        return (ts[keep], *(c[keep] for c in cols))


class _LongWriter:
    """Base of the long writers: tag dictionary, row selection, row order.

    Subclasses implement ``_emit(ts, code, value, quality)`` and ``_close()``.
    """

    def __init__(self, export: Export, tags: Sequence[str]):
        if export.order not in ROW_ORDERS:
            raise UnknownNameError(choices_message("row order", export.order, ROW_ORDERS))
        self.export = export
        self.order = export.order
        self.rows = _Rows(export)
        self.tags = list(tags)
        self.code = {t: i for i, t in enumerate(self.tags)}
        self.n_rows = 0
        self.pending: list[Chunk] = []
        self.day: int | None = None

    def write(self, chunk: Chunk) -> None:
        if not self.rows.wants(chunk):
            return
        if self.order == "tag":
            self._rows([chunk])
            return
        day = int(chunk.times[0])
        if self.day is not None and day != self.day:
            self._rows(self.pending)
            self.pending = []
        self.day = day
        self.pending.append(chunk)

    def _rows(self, chunks: Sequence[Chunk]) -> None:
        ts, code, value, quality = _long_rows(chunks, self.order)
        tags = [t for c in chunks for t in c.tags]
        code = np.array([self.code[t] for t in tags], dtype=np.int32)[code]
        out = self.rows.select(ts, code, value, quality)
        self.n_rows += len(out[0])
        if len(out[0]):
            self._emit(*out)

    def close(self) -> None:
        if self.pending:
            self._rows(self.pending)
            self.pending = []
        self._close()


class _LongParquetWriter(_LongWriter):
    SCHEMA = pa.schema([("timestamp", pa.timestamp("ns", tz="UTC")),
                        ("tag", pa.dictionary(pa.int32(), pa.string())),
                        ("value", pa.float64()), ("quality", pa.uint8())])

    def __init__(self, export: Export, tags: Sequence[str], row_group_size: int,
                 compression_level: int | None):
        super().__init__(export, tags)
        self.row_group_size = int(row_group_size)
        self.dictionary = pa.array(self.tags, type=pa.string())
        self.buffer: list[tuple[np.ndarray, ...]] = []
        self.buffered = 0
        self.writer = pq.ParquetWriter(
            str(export.path), self.SCHEMA, compression="zstd",
            compression_level=compression_level, use_dictionary=["tag", "quality"],
            column_encoding={"timestamp": "DELTA_BINARY_PACKED"}, write_statistics=True)

    def _emit(self, *arrays: np.ndarray) -> None:
        """Write full row groups as they fill; keep the remainder (< one group)."""
        rg, n, pos = self.row_group_size, len(arrays[0]), 0
        if self.buffered + n < rg:
            self.buffer.append(tuple(a.copy() for a in arrays))
            self.buffered += n
            return
        if self.buffered:
            pos = rg - self.buffered
            self._write(*(np.concatenate([b[i] for b in self.buffer] + [arrays[i][:pos]])
                          for i in range(4)))
            self.buffer, self.buffered = [], 0
        while n - pos >= rg:
            self._write(*(a[pos:pos + rg] for a in arrays))
            pos += rg
        if pos < n:
            self.buffer, self.buffered = [tuple(a[pos:].copy() for a in arrays)], n - pos

    def _write(self, ts: np.ndarray, code: np.ndarray, value: np.ndarray,
               quality: np.ndarray) -> None:
        table = pa.Table.from_arrays([
            pa.array(ts, type=pa.timestamp("ns", tz="UTC")),
            pa.DictionaryArray.from_arrays(pa.array(code, type=pa.int32()), self.dictionary),
            pa.array(value, mask=np.isnan(value)), pa.array(quality, type=pa.uint8())],
            schema=self.SCHEMA)
        self.writer.write_table(table, row_group_size=self.row_group_size)

    def _close(self) -> None:
        if self.buffered:
            cols = [np.concatenate([b[i] for b in self.buffer]) for i in range(4)]
            self._write(*cols)
        self.writer.close()


class _TextSink:
    """A deterministic text output: plain or gzip (mtime 0, no file name)."""

    def __init__(self, path: Path, gzip_level: int):
        self.raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.out = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, mtime=0,
                                 compresslevel=gzip_level) if str(path).endswith(".gz") \
            else self.raw

    def write(self, data: bytes) -> None:
        self.out.write(data)

    def close(self) -> None:
        if self.out is not self.raw:
            self.out.close()
        self.raw.close()


_CSV_OPTS = pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=65536)
_CSV_SLICE = 500_000  # rows formatted at a time


def _time_strings(ts: np.ndarray, fmt) -> tuple[np.ndarray, pa.Array]:
    """Dictionary-encode timestamps: (indices into the dictionary, dictionary strings)."""
    uniq, inv = np.unique(ts, return_inverse=True)
    return inv.astype(np.int32), pa.array(fmt(uniq), type=pa.string())


class _LongCsvWriter(_LongWriter):
    def __init__(self, export: Export, tags: Sequence[str], gzip_level: int):
        super().__init__(export, tags)
        self.sink = _TextSink(Path(export.path), gzip_level)
        self.sink.write((LONG_CSV_HEADER + "\n").encode())
        self.dictionary = pa.array(self.tags, type=pa.string())

    def _emit(self, ts: np.ndarray, code: np.ndarray, value: np.ndarray,
              quality: np.ndarray) -> None:
        inv, strings = _time_strings(ts, _iso)
        for a in range(0, len(ts), _CSV_SLICE):  # bounded text buffers
            sl = slice(a, a + _CSV_SLICE)
            table = pa.table({
                "timestamp": pa.DictionaryArray.from_arrays(pa.array(inv[sl], type=pa.int32()),
                                                            strings),
                "tag": pa.DictionaryArray.from_arrays(pa.array(code[sl], type=pa.int32()),
                                                      self.dictionary),
                "value": pa.array(value[sl], mask=np.isnan(value[sl])),
                "quality": pa.array(quality[sl], type=pa.uint8())})
            buf = io.BytesIO()
            pacsv.write_csv(table, buf, _CSV_OPTS)
            self.sink.write(buf.getbuffer())

    def _close(self) -> None:
        self.sink.close()


class _WideWriter:
    """Wide exports: one row per timestamp, one column per tag, a day at a time."""

    def __init__(self, export: Export, specs: Sequence[TagSpec], gzip_level: int,
                 timezone: str):
        self.export = export
        self.rows = _Rows(export)
        self.tags = [s.tag for s in specs
                     if self.rows.stations is None or s.station in self.rows.stations]
        self.col = {t: i for i, t in enumerate(self.tags)}
        self.timezone = timezone
        self.pending: list[Chunk] = []
        self.day: int | None = None
        self.n_rows = 0
        self.csv = export.resolved_format == "wide_csv"
        if self.csv:
            self.sink = _TextSink(Path(export.path), gzip_level)
            self.sink.write((",".join(["timestamp", *self.tags]) + "\n").encode())
        else:
            fields = [("timestamp", pa.timestamp("ns", tz="UTC"))] + \
                [(t, pa.float64()) for t in self.tags]
            self.schema = pa.schema(fields)
            self.writer = pq.ParquetWriter(str(export.path), self.schema, compression="zstd",
                                           use_dictionary=False, write_statistics=True)

    def write(self, chunk: Chunk) -> None:
        if not self.rows.wants(chunk):
            return
        day = int(chunk.times[0])
        if self.day is not None and day != self.day:
            self._flush()
        self.day = day
        self.pending.append(chunk)

    def _flush(self) -> None:
        chunks, self.pending = self.pending, []
        parts = []
        for c in chunks:
            ts, code, value, _ = c.long_arrays("tag")
            cols = np.array([self.col.get(t, -1) for t in c.tags], dtype=np.int64)[code]
            parts.append((ts, cols, value))
        ts = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        value = np.concatenate([p[2] for p in parts])
        ts, cols, value = self.rows.select(ts, cols, value)
        keep = cols >= 0
        ts, cols, value = ts[keep], cols[keep], value[keep]
        if not len(ts):
            return
        uniq, inv = np.unique(ts, return_inverse=True)
        grid = np.full((len(uniq), len(self.tags)), np.nan)
        grid[inv, cols] = value
        order = self._row_order(chunks, uniq)
        uniq, grid = uniq[order], grid[order]
        self.n_rows += len(uniq)
        if self.csv:
            local = pd.DatetimeIndex(uniq.astype("datetime64[ns]"), tz="UTC") \
                .tz_convert(self.timezone).tz_localize(None)
            stamps = np.char.replace(np.datetime_as_string(local.values, unit="s"), "T", " ")
            arrays = [pa.array(stamps)] + [pa.array(grid[:, j], mask=np.isnan(grid[:, j]))
                                           for j in range(len(self.tags))]
            buf = io.BytesIO()
            pacsv.write_csv(pa.Table.from_arrays(arrays, names=["timestamp", *self.tags]), buf,
                            _CSV_OPTS)
            self.sink.write(buf.getvalue())
        else:
            arrays = [pa.array(uniq, type=pa.timestamp("ns", tz="UTC"))] + \
                [pa.array(grid[:, j], mask=np.isnan(grid[:, j])) for j in range(len(self.tags))]
            self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def _row_order(self, chunks: Sequence[Chunk], uniq: np.ndarray) -> np.ndarray:
        """Row order with the duplicate and out-of-order faults of the exported tags."""
        idx = np.arange(len(uniq))
        counts = np.ones(len(uniq), dtype=np.int64)
        for c in chunks:
            for kind, ops in (("dup", c.ops.dups), ("ooo", c.ops.ooo)):
                for row, i0, i1 in ops:
                    if c.tags[row] not in self.col:
                        continue
                    a, b = np.searchsorted(uniq, [c.times[i0], c.times[i1]], side="left")
                    b = b + 1 if b < len(uniq) and uniq[b] == c.times[i1] else b
                    if kind == "dup":
                        counts[a:b] = 2
                    else:
                        idx[a:b] = idx[a:b][::-1].copy()
        return np.repeat(idx, counts[idx])

    def close(self) -> None:
        if self.pending:
            self._flush()
        if self.csv:
            self.sink.close()
        else:
            self.writer.close()




def write_exports(source: Simulation | Iterable[Chunk],
                  exports: Export | str | Path | Sequence[Export | str | Path], *,
                  truth: str | Path | None = None, row_group_size: int = 1_000_000,
                  compression_level: int | None = None, gzip_level: int = 6) -> dict[str, int]:
    """Stream a simulation into historian-style files, one chunk at a time.

    Parameters
    ----------
    source : Simulation or iterable of Chunk
        What to write; a :class:`Simulation` is iterated once for all exports.
    exports : Export, path or sequence of them
        The files. Formats (:data:`FORMATS`):

        ``long_csv``
            header ``timestamp,tag,value,quality``; timestamp ISO 8601 UTC with
            ``Z`` and whole seconds (``2026-03-09T00:00:00Z``); value in the
            tag's registry unit, empty for a dropout; quality the OPC code
            (192 good, 64 uncertain, 0 bad). ``.csv.gz`` is gzipped
            deterministically (mtime 0). Rows in :attr:`Export.order`.
        ``wide_csv``
            header ``timestamp,<tag1>,<tag2>,…``; timestamp is the *local* wall
            time of the utility, ``YYYY-MM-DD HH:MM:SS`` without offset (so a
            DST day has 23 or 25 hours of rows); missing is an empty cell.
        ``long_parquet``
            columns ``timestamp`` (timestamp[ns, tz=UTC]), ``tag`` (dictionary
            string), ``value`` (float64, null for a dropout), ``quality``
            (uint8); zstd; row groups of ``row_group_size`` rows; rows in
            :attr:`Export.order`.
        ``wide_parquet``
            ``timestamp`` (timestamp[ns, tz=UTC]) and one float64 column per tag.
    truth : path, optional
        Also write the fault truth table as CSV (:data:`TRUTH_COLUMNS`).
    row_group_size : int
        Rows per Parquet row group (bounds memory while writing).
    compression_level : int, optional
        zstd level of the long Parquet file (pyarrow's default if None).
    gzip_level : int
        Level of ``.gz`` outputs.

    Returns
    -------
    dict
        Rows written per path (the truth table included).

    Examples
    --------
    >>> import tempfile, os
    >>> from pumplib.simulate import simulate
    >>> d = tempfile.mkdtemp()
    >>> sim = simulate(days=1, freq="1min", faults=("spike",))
    >>> out = write_exports(sim, [os.path.join(d, "x.parquet"),
    ...                           Export(os.path.join(d, "w.csv"), "wide_csv", stations=("NORTH",))],
    ...                     truth=os.path.join(d, "truth.csv"))
    >>> sorted(os.path.basename(p) for p in out)
    ['truth.csv', 'w.csv', 'x.parquet']
    """
    items = [exports] if isinstance(exports, Export | str | Path) else list(exports)
    targets = [e if isinstance(e, Export) else Export(e) for e in items]
    chunks = iter(source)
    first = next(chunks, None)
    specs = first.catalog if first is not None else ()
    tz = first.timezone if first is not None else "UTC"
    writers = [_make_writer(e, specs, tz, row_group_size, compression_level, gzip_level)
               for e in targets]
    seen_truth: dict[str, dict] = {}
    chunk = first
    while chunk is not None:
        for w in writers:
            w.write(chunk)
        for rec in chunk.faults.to_dict("records"):
            seen_truth.setdefault(rec["fault_id"], rec)
        chunk = next(chunks, None)
    for w in writers:
        w.close()
    result = {str(e.path): w.n_rows for e, w in zip(targets, writers, strict=True)}
    if truth is not None:
        rows = source.truth if isinstance(source, Simulation) else \
            pd.DataFrame(sorted(seen_truth.values(), key=lambda r: r["fault_id"]),
                         columns=list(TRUTH_COLUMNS))
        result[str(truth)] = _write_truth(truth, rows)
    return result


def _make_writer(export: Export, specs: Sequence[TagSpec], tz: str, row_group_size: int,
                 compression_level: int | None, gzip_level: int):
    fmt = export.resolved_format
    Path(export.path).parent.mkdir(parents=True, exist_ok=True)
    tags = [s.tag for s in specs]
    if fmt == "long_parquet":
        return _LongParquetWriter(export, tags, row_group_size, compression_level)
    if fmt == "long_csv":
        return _LongCsvWriter(export, tags, gzip_level)
    return _WideWriter(export, specs, gzip_level, tz)
