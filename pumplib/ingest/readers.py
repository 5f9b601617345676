"""Streaming parsers: any declared :class:`~pumplib.ingest.formats.Format` → record batches.

A reader turns one file into a stream of :class:`Records` (long form, one
sample a row: UTC time, key, value in the source unit, source quality code and
the source line) plus the rows it had to reject, each with its reason. Memory
is bounded by the batch size, whatever the file size.
"""

from __future__ import annotations

import csv
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..assets import AssetRegistry
from ..errors import IngestError, UnknownNameError, choices_message, close_matches
from .formats import Format
from .text import TextKind, head, looks_like, recode, sniff, utf8_stream

_OFFSET_RE = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")
NO_QUALITY = -1


@dataclass(frozen=True)
class Key:
    """Where a column or tag lands: asset, signal and the unit it arrives in."""

    asset: str
    signal: str
    unit: str
    tag: str


@dataclass
class Records:
    """One batch of parsed samples (numpy arrays of equal length)."""

    time_ns: np.ndarray      # int64, UTC
    key: np.ndarray          # int32 index into Reader.keys
    value: np.ndarray        # float64, source unit
    quality: np.ndarray      # int16, -1 = none
    line: np.ndarray         # int64, 1-based source line (CSV) or row (Parquet)
    #: samples its source row gave (wide layout); None: one a row (long layout)
    row_n: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.time_ns)

    def take(self, mask: np.ndarray) -> Records:
        return Records(self.time_ns[mask], self.key[mask], self.value[mask],
                       self.quality[mask], self.line[mask],
                       None if self.row_n is None else self.row_n[mask])


@dataclass
class Stats:
    """Counts of one file as the reader saw it.

    Rows: every data row (malformed ones too); ``rows_empty`` held no value.
    Values: one a row in the long layout, one a mapped column and row in the
    wide layout; each is yielded, empty or quarantined here.
    """

    rows_read: int = 0
    rows_empty: int = 0
    #: rows that gave at least one sample to the caller
    rows_yielding: int = 0
    values_read: int = 0
    values_empty: int = 0
    values_quarantined: int = 0
    ambiguous: int = 0
    nonexistent: int = 0


class RowLedger:
    """The rows that lost a value, to tell rows by what became of them.

    A row counts as ingested when at least one of its values is; a row that
    lost every value it yielded (or was rejected whole) is quarantined, or a
    duplicate when only exact copies were dropped. Only rows with a loss are
    kept, so memory follows the quarantine, not the file.
    """

    QUARANTINED, DUPLICATE = 1, 2

    def __init__(self):
        self.lines: dict[int, list[int]] = {}    # line -> [yielded, lost, flags]

    def mark(self, line: int, flag: int, yielded: int = 0, lost: int = 0) -> None:
        e = self.lines.get(line)
        if e is None:
            self.lines[line] = [yielded, lost, flag]
        else:
            e[0] = max(e[0], yielded)
            e[1] += lost
            e[2] |= flag

    def set_yielded(self, line: int, yielded: int) -> None:
        e = self.lines.get(line)
        if e is not None:
            e[0] = max(e[0], yielded)

    def counts(self) -> tuple[int, int, int]:
        """Rows quarantined, rows dropped as exact duplicates, and rows among them that
        had given samples (all lost later)."""
        quarantined = duplicate = lost_all = 0
        for yielded, lost, flags in self.lines.values():
            if lost >= yielded:
                lost_all += yielded > 0
                if flags & self.QUARANTINED:
                    quarantined += 1
                else:
                    duplicate += 1
        return quarantined, duplicate, lost_all


@dataclass
class Reader:
    """Parse one file of a declared format.

    :meth:`prepare` checks the file (its text encoding, its header, the
    columns the format needs) before anything is read; iterating yields
    :class:`Records`. Rejected rows accumulate in :attr:`rejects` (dicts with
    line, column, raw text and reason) and are drained by the caller after
    each batch; :attr:`stats` and :attr:`ledger` count rows and values.
    """

    path: Path
    fmt: Format
    registry: AssetRegistry | None
    timezone: str
    batch_rows: int = 1_000_000
    ambiguous: str = "infer"
    nonexistent: str = "shift_forward"
    keys: list[Key] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    ledger: RowLedger = field(default_factory=RowLedger)
    #: the text encoding of a CSV file (``utf-8``, ``utf-16``, ``cp1252``…)
    encoding: str | None = None
    #: wide columns that map to no registry tag or column rule, in file order
    unmapped: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._key_of: dict[tuple, int] = {}
        self._tag_cache: dict[str, int] = {}
        self._seen_ambiguous: set = set()
        self._skipped_lines: list[int] = []
        self._colkeys: dict[str, int] = {}       # wide: mapped column -> key
        self._source = None                       # what prepare() opened
        self._text: TextKind | None = None
        self._recode_as: str | None = None
        self.stem = self.path.name.split(".")[0]
        self.parent = self.path.parent.name

    # -- keys -----------------------------------------------------------------
    def _key(self, asset: str, signal: str, unit: str, tag: str) -> int:
        k = (asset, signal, unit)
        if k not in self._key_of:
            self._key_of[k] = len(self.keys)
            self.keys.append(Key(asset, signal, unit, tag))
        return self._key_of[k]

    def key_for_tag(self, tag: str) -> int:
        """Key index of a registry tag, or -1 when unknown."""
        if tag in self._tag_cache:
            return self._tag_cache[tag]
        if self.registry is None:
            raise IngestError(f"{self.path}: format {self.fmt.name!r} maps columns by tag, "
                              "so an asset registry is needed (--registry)")
        try:
            info = self.registry.tag(tag)
            k = self._key(info.asset, info.signal, info.unit, tag)
        except UnknownNameError:
            k = -1
        self._tag_cache[tag] = k
        return k

    def reject(self, line, column, raw, reason, timestamp=None, tag=None, *,
               yielded: int = 0, lost: int = 0) -> None:
        """Quarantine a row or value with its reason (``lost``: samples already yielded)."""
        self.rejects.append({"line": int(line), "column": column, "raw": _s(raw),
                             "reason": reason, "timestamp": _s(timestamp), "tag": _s(tag)})
        self.ledger.mark(int(line), RowLedger.QUARANTINED, yielded, lost)

    def _values_per_row(self) -> int:
        return 1 if self.fmt.layout == "long" else len(self._colkeys)

    # -- opening ----------------------------------------------------------------
    def prepare(self) -> None:
        """Check the file before reading it: one :class:`IngestError` line on trouble."""
        if self._source is not None:
            return
        if not self.path.is_file():
            raise IngestError(f"{self.path}: file not found")
        if self.fmt.container == "csv":
            self._source = self._open_csv()
        else:
            self._source = self._open_parquet()

    def close(self) -> None:
        """Close the file (iteration closes it at its end)."""
        if self._source is not None and hasattr(self._source[0], "__exit__"):
            self._source[0].__exit__(None, None, None)

    def __iter__(self) -> Iterator[Records]:
        self.prepare()
        batches = self._csv_tables() if self.fmt.container == "csv" else self._parquet_tables()
        try:
            for table, first_line in batches:
                self.stats.rows_read += table.num_rows
                if table.num_rows == 0:
                    continue
                lines = self._lines(first_line, table.num_rows)
                start = len(self.rejects)
                if self.fmt.layout == "long":
                    rec = self._long(table, lines)
                else:
                    rec = self._wide(table, lines, start)
                if rec is not None and len(rec):
                    yield rec
        finally:
            self.close()

    def _columns(self, names: list[str]) -> list[str]:
        return [n.strip() for n in names] if self.fmt.strip_names else list(names)

    def _require(self, names: list[str], needed: list[str]) -> None:
        for col in needed:
            if col not in names:
                raise IngestError(
                    f"{self.path}: line 1: column {col!r} is missing for format "
                    f"{self.fmt.name!r}. " + choices_message("column", col, names))
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise IngestError(f"{self.path}: line 1: duplicate column names {dup}")
        if self.fmt.layout == "wide":
            self._map_columns(names)

    def _map_columns(self, names: list[str]) -> None:
        """Wide layout: each column's key, from the format's rules or the registry."""
        fmt = self.fmt
        for name in names:
            if name == fmt.timestamp or name in fmt.ignore_columns:
                continue
            hit = fmt.map_column(name, self.stem, self.parent) if fmt.columns else None
            if hit is not None:
                self._colkeys[name] = self._key(*hit, tag=name)
            elif not fmt.columns and (k := self.key_for_tag(name)) >= 0:
                self._colkeys[name] = k
            else:
                self.unmapped.append(name)

    def unmapped_hint(self) -> str:
        """Why the unmapped columns map to nothing (the rules or close registry tags)."""
        if self.fmt.columns:
            pats = [r.pattern for r in self.fmt.columns]
            return f"no column rule of format {self.fmt.name!r} matches ({pats})"
        known = self.registry.tags if self.registry is not None else {}
        near = {n: close_matches(n, known) for n in self.unmapped}
        near = {n: m for n, m in near.items() if m}
        hint = "not a tag of the asset registry"
        if near:
            hint += "; did you mean " + ", ".join(f"{m[0]!r} for {n!r}" for n, m in
                                                  list(near.items())[:5]) + "?"
        return hint

    def _open_csv(self):
        fmt = self.fmt
        self._text = sniff(self.path)
        self.encoding = self._text.label
        # The file is cut into blocks at line ends by hand and each block is
        # parsed by all cores (pyarrow's streaming reader reads ahead without
        # bound, several GB on a big file, and is single-threaded when it must
        # number bad rows). Only a block that holds a malformed row is parsed
        # again on one thread, where pyarrow reports line numbers.
        blocks = _LineBlocks(utf8_stream(self.path, self._text),
                             max(1 << 20, self.batch_rows * 48))
        try:
            header = blocks.read_header(self.path)
            if header is None:
                raise IngestError(f"{self.path}: line 1: the file is empty (no header)")
            text = header.decode("utf-8", errors="replace").rstrip("\r")
            if not text.strip():
                raise IngestError(f"{self.path}: line 1: the header is blank")
            names = self._columns(next(csv.reader([text], delimiter=fmt.delimiter)))
            self._require(names, [fmt.timestamp] + ([fmt.tag, fmt.value]
                                                    if fmt.layout == "long" else []))
        except BaseException:
            blocks.__exit__(None, None, None)
            raise
        types = {n: pa.string() for n in names}
        if fmt.layout == "long":
            types[fmt.tag] = pa.dictionary(pa.int32(), pa.string())
        convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                       quoted_strings_can_be_null=True)
        return blocks, names, convert

    def _open_parquet(self):
        what = looks_like(head(self.path, 64))
        if what != "a Parquet file":
            kind = what or "text"
            raise IngestError(f"{self.path}: not a Parquet file (looks like {kind}); name a "
                              "CSV format for text (long_csv, wide_csv…), see `pumplib formats`")
        try:
            # no pre-buffering: it reads the column chunks of the whole file ahead
            pf = pq.ParquetFile(self.path, pre_buffer=False)
        except (pa.ArrowException, OSError) as exc:
            raise IngestError(f"{self.path}: not a readable Parquet file: "
                              f"{_first_line(exc)}") from None
        names = self._columns(pf.schema_arrow.names)
        self._require(names, [self.fmt.timestamp] + ([self.fmt.tag, self.fmt.value]
                                                     if self.fmt.layout == "long" else []))
        typ = pf.schema_arrow.types[names.index(self.fmt.timestamp)]
        if not (pa.types.is_timestamp(typ) or pa.types.is_string(typ)
                or pa.types.is_large_string(typ)):
            raise IngestError(f"{self.path}: column {self.fmt.timestamp!r} has type {typ}, "
                              "expected timestamps or text")
        return pf, names

    def _broken(self, exc: BaseException, where: str) -> StreamBroken:
        return StreamBroken(f"{self.path}: {where}: the file breaks off: {_first_line(exc)}")

    def _csv_tables(self) -> Iterator[tuple[pa.Table, int]]:
        fmt = self.fmt
        blocks, names, convert = self._source
        ncol = len(names)
        nval = self._values_per_row()
        row0 = 0
        line0 = 1  # lines before the current block (the header)
        pool = pa.default_memory_pool()
        while True:
            try:
                chunk = next(blocks)
            except StopIteration:
                return
            except (pa.ArrowException, OSError, EOFError, ValueError, zlib.error) as exc:
                raise self._broken(exc, f"after line {line0}") from None
            if not len(chunk):
                continue
            table, bad = self._parse_any(chunk, names, convert, line0)
            for number, text, actual in sorted(bad, key=lambda b: b[0]):
                self._skipped_lines.append(line0 + number)
                self.reject(line0 + number, None, text,
                            f"malformed row: expected {ncol} fields ({fmt.delimiter!r}-separated), "
                            f"got {actual}")
            # malformed rows are rows read; each of their values is quarantined
            self.stats.rows_read += len(bad)
            self.stats.values_read += len(bad) * nval
            self.stats.values_quarantined += len(bad) * nval
            # pyarrow numbers rows as lines without the blank ones; so do we
            line0 += table.num_rows + len(bad)
            del chunk  # the raw block is freed here, and so is the parser's scratch memory
            pool.release_unused()
            yield table, row0
            row0 += table.num_rows

    def _parse_any(self, chunk, names, convert, line0):
        """Parse a block; text that is not UTF-8 after all is decoded again (cp1252 when
        the sniffed start was plain ASCII, else bad bytes become U+FFFD)."""
        if self._recode_as:
            chunk = recode(chunk, self._recode_as)
        for attempt in (0, 1):
            try:
                table, bad = self._parse_block(chunk, names, convert, threads=True)
                if any(b[0] is None for b in bad):
                    table, bad = self._parse_block(chunk, names, convert, threads=False)
                return table, bad
            except pa.ArrowInvalid as exc:
                if attempt or "utf8" not in str(exc).lower().replace("-", ""):
                    raise self._broken(exc, f"after line {line0}") from None
                if self._recode_as is None and self._text is not None and self._text.ascii_only:
                    self._recode_as = "cp1252"
                    self.encoding = "cp1252"
                chunk = recode(chunk, self._recode_as or "utf-8")
        raise AssertionError("unreachable")

    def _parse_block(self, chunk, names: list[str], convert, threads: bool):
        bad: list[tuple] = []

        def on_invalid(row) -> str:
            bad.append((row.number, row.text, row.actual_columns))
            return "skip"

        table = pacsv.read_csv(
            pa.py_buffer(chunk),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=threads,
                                           block_size=max(1 << 20, len(chunk) // 8 + 1)),
            parse_options=pacsv.ParseOptions(delimiter=self.fmt.delimiter,
                                             invalid_row_handler=on_invalid),
            convert_options=convert)
        return table, bad

    def _parquet_tables(self) -> Iterator[tuple[pa.Table, int]]:
        pf, names = self._source
        row0 = 0
        batches = pf.iter_batches(batch_size=self.batch_rows)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                raise self._broken(exc, f"after row {row0}") from None
            t = pa.Table.from_batches([batch]).rename_columns(names)
            yield t, row0
            row0 += t.num_rows

    def _lines(self, row0: int, n: int) -> np.ndarray:
        """Source line numbers of data rows ``row0 … row0+n`` (skipped rows accounted)."""
        r = np.arange(row0, row0 + n, dtype=np.int64)
        if self.fmt.container == "parquet":
            return r + 1  # 1-based row number
        if not self._skipped_lines:
            return r + 2  # header is line 1
        s = np.sort(np.asarray(self._skipped_lines, dtype=np.int64))
        pos = s - 2 - np.arange(len(s))
        return r + 2 + np.searchsorted(pos, r, side="right")

    # -- timestamps ---------------------------------------------------------------
    def _times(self, col: pa.Array, lines: np.ndarray, tags=None) -> tuple[np.ndarray, np.ndarray]:
        """UTC nanoseconds and a validity mask; invalid rows are rejected."""
        fmt = self.fmt
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        if pa.types.is_timestamp(col.type):
            ts = col.cast(pa.timestamp("ns", tz=col.type.tz)) if col.type.tz else col.cast(
                pa.timestamp("ns"))
            aware = ts.type.tz is not None
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            ts, aware = self._parse_strings(col, lines)
        else:
            raise IngestError(f"{self.path}: column {fmt.timestamp!r} has type {col.type}, "
                              "expected timestamps or text")
        if not aware:
            ts = self._localize(ts, lines, tags)
        if col.null_count:
            for i in np.flatnonzero(np.asarray(col.is_null().to_numpy(zero_copy_only=False))):
                self.reject(lines[i], fmt.timestamp, None, "missing timestamp")
        ns = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
        if ts.null_count == 0:  # the usual case: no copy, no mask to apply
            return ns, np.ones(len(ns), dtype=bool)
        valid = ~np.asarray(ts.is_null().to_numpy(zero_copy_only=False))
        ns = np.where(valid, ns, 0).astype(np.int64)
        return ns, valid

    def _parse_strings(self, col: pa.Array, lines: np.ndarray) -> tuple[pa.Array, bool]:
        fmt = self.fmt
        if fmt.timestamp_format:
            ts = pc.strptime(col, format=fmt.timestamp_format, unit="ns", error_is_null=True)
            self._reject_bad_times(col, ts, lines, f"expected format {fmt.timestamp_format!r}")
            return ts, "%z" in fmt.timestamp_format
        for typ, aware in ((pa.timestamp("ns", tz="UTC"), True), (pa.timestamp("ns"), False)):
            try:
                return pc.cast(col, typ), aware
            except pa.ArrowInvalid:
                continue
        # slow path: a mix of offsets, naive times and garbage
        s = pd.Series(col.to_pandas(), dtype=object)
        has_off = s.str.contains(_OFFSET_RE, na=False)
        ns = np.full(len(s), np.iinfo(np.int64).min, dtype=np.int64)  # NaT
        off = has_off.to_numpy()
        if off.any():
            t = pd.to_datetime(s[off], format="ISO8601", utc=True, errors="coerce")
            ns[off] = t.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy(
                dtype="datetime64[ns]").view(np.int64)
        naive = (~has_off & s.notna()).to_numpy()
        loc = None
        if naive.any():
            loc = pd.to_datetime(s[naive], format="ISO8601", errors="coerce")
            ns[naive] = loc.astype("datetime64[ns]").to_numpy().view(np.int64)
        nat = ns == np.iinfo(np.int64).min
        parsed = pa.array(ns, type=pa.int64(), mask=nat)
        self._reject_bad_times(col, parsed, lines, "expected ISO 8601, e.g. 2026-03-09T00:00:00Z")
        if loc is not None:
            arr = self._localize(pa.array(loc.astype("datetime64[ns]")), lines[naive], None)
            ns[naive] = arr.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).fill_null(
                np.iinfo(np.int64).min).to_numpy(zero_copy_only=False)
        nat = ns == np.iinfo(np.int64).min
        return pa.array(ns, type=pa.int64(), mask=nat).cast(pa.timestamp("ns", tz="UTC")), True

    def _reject_bad_times(self, raw: pa.Array, parsed: pa.Array, lines: np.ndarray, hint: str):
        bad = np.asarray(pc.and_(parsed.is_null(), raw.is_valid()).to_numpy(zero_copy_only=False))
        for i in np.flatnonzero(bad):
            self.reject(lines[i], self.fmt.timestamp, raw[i].as_py(),
                        f"unparseable timestamp {raw[i].as_py()!r}: {hint}")

    def _localize(self, naive: pa.Array, lines: np.ndarray, tags) -> pa.Array:
        """Wall times of ``self.timezone`` → UTC, with DST gaps and repeats handled."""
        tz = self.timezone
        if tz in ("UTC", "Etc/UTC", "GMT"):
            return naive.cast(pa.timestamp("ns", tz="UTC"))
        early = pc.assume_timezone(naive, tz, ambiguous="earliest", nonexistent="earliest")
        late = pc.assume_timezone(naive, tz, ambiguous="latest", nonexistent="latest")
        e = early.cast(pa.int64()).to_numpy(zero_copy_only=False)
        la = late.cast(pa.int64()).to_numpy(zero_copy_only=False)
        valid = ~np.asarray(naive.is_null().to_numpy(zero_copy_only=False))
        diff = np.where(valid, la - e, 0)
        if not diff.any():
            return early
        out = e.copy()
        nonexist = diff > 0
        nonexist &= diff < 60 * 10**9
        ambig = diff >= 60 * 10**9
        keep = valid.copy()
        if nonexist.any():
            self.stats.nonexistent += int(nonexist.sum())
            if self.nonexistent == "shift_forward":
                out[nonexist] = la[nonexist]
            else:
                for i in np.flatnonzero(nonexist):
                    self.reject(lines[i], self.fmt.timestamp, str(naive[i].as_py()),
                                f"wall time does not exist in {tz} (clocks went forward)")
                keep &= ~nonexist
        if ambig.any():
            self.stats.ambiguous += int(ambig.sum())
            idx = np.flatnonzero(ambig)
            if self.ambiguous == "latest":
                out[idx] = la[idx]
            elif self.ambiguous == "quarantine":
                for i in idx:
                    self.reject(lines[i], self.fmt.timestamp, str(naive[i].as_py()),
                                f"ambiguous wall time in {tz} (clocks went back)")
                keep[idx] = False
            elif self.ambiguous == "infer":
                # in file order, the first occurrence of a wall time (per tag) is
                # summer time, the repeat is winter time
                wall = naive.cast(pa.int64()).to_numpy(zero_copy_only=False)
                for i in idx:
                    k = (wall[i], None if tags is None else tags[i])
                    if k in self._seen_ambiguous:
                        out[i] = la[i]
                    else:
                        self._seen_ambiguous.add(k)
        arr = pa.array(out, type=pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
        return pc.if_else(pa.array(keep), arr, pa.nulls(len(arr), arr.type))

    # -- values -------------------------------------------------------------------
    def _values(self, col: pa.Array, lines: np.ndarray, column: str, tags=None) -> tuple[
            np.ndarray, np.ndarray]:
        """Float values and a mask of rows that are valid (empty cells are NaN, valid)."""
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        if pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or pa.types.is_boolean(
                col.type):
            v = _nan_filled(col.cast(pa.float64()))
        else:
            try:
                v = _nan_filled(pc.cast(col, pa.float64()))
            except pa.ArrowInvalid:
                s = pd.Series(col.to_pandas(), dtype=object)
                num = pd.to_numeric(s.str.strip(), errors="coerce")
                v = num.to_numpy(dtype=np.float64, na_value=np.nan)
                bad = num.isna() & s.notna() & (s.str.strip() != "") & ~s.str.strip().str.lower().isin(
                    ["nan", "null", "none"])
                for i in np.flatnonzero(bad.to_numpy()):
                    self.reject(lines[i], column, s.iloc[i], f"value {s.iloc[i]!r} is not a number",
                                tag=None if tags is None else tags[i])
                ok = ~bad.to_numpy()
                v = np.ascontiguousarray(np.asarray(v, dtype=np.float64))
                for i in np.flatnonzero(np.isinf(v)):
                    self.reject(lines[i], column, v[i], "value is infinite",
                                tag=None if tags is None else tags[i])
                    ok[i] = False
                return v, ok
        v = np.asarray(v, dtype=np.float64)
        inf = np.isinf(v)
        for i in np.flatnonzero(inf):
            self.reject(lines[i], column, v[i], "value is infinite",
                        tag=None if tags is None else tags[i])
        return v, ~inf

    def _quality(self, table: pa.Table, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = self.fmt.quality
        n = table.num_rows
        if not q or q not in table.column_names:
            return np.full(n, NO_QUALITY, dtype=np.int16), np.ones(n, dtype=bool)
        col = table.column(q)
        if col.null_count == 0 and (pa.types.is_integer(col.type) or pa.types.is_string(col.type)):
            # fast path: integer codes or their text, all in range; anything else
            # (blanks, decimals, junk, negative codes) takes the general path below
            try:
                a = pc.cast(col, pa.int16()).to_numpy()
            except pa.ArrowInvalid:
                a = None
            if a is not None and not (a < 0).any():
                return a, np.ones(n, dtype=bool)
        v, ok = self._values(col, lines, q)
        bad = ok & ~np.isnan(v) & ((v < 0) | (v > 32767) | (v != np.round(v)))
        for i in np.flatnonzero(bad):
            self.reject(lines[i], q, v[i], f"quality code {v[i]!r} is not an integer 0–32767")
        out = np.where(np.isnan(v) | bad, NO_QUALITY, v).astype(np.int16)
        return out, ok & ~bad

    # -- layouts --------------------------------------------------------------------
    def _long(self, table: pa.Table, lines: np.ndarray) -> Records | None:
        fmt = self.fmt
        tagcol = table.column(fmt.tag).combine_chunks()
        if not pa.types.is_dictionary(tagcol.type):
            tagcol = pc.dictionary_encode(tagcol.cast(pa.string()))
        dict_keys = np.array([self.key_for_tag(str(t)) for t in tagcol.dictionary.to_pylist()] + [-1],
                             dtype=np.int32)
        idx = tagcol.indices
        codes = (idx.fill_null(len(dict_keys) - 1) if idx.null_count else idx).to_numpy(
            zero_copy_only=False)
        key = dict_keys[codes]
        tags_np = None

        def tags() -> np.ndarray:
            nonlocal tags_np
            if tags_np is None:
                tags_np = np.asarray(tagcol.dictionary.to_pylist() + [None], dtype=object)[codes]
            return tags_np

        ns, tvalid = self._times(table.column(fmt.timestamp), lines, key)
        value, vvalid = self._values(table.column(fmt.value), lines, fmt.value, None)
        quality, qvalid = self._quality(table, lines)
        unknown = key < 0
        if unknown.any():
            t = tags()
            known_tags = self.registry.tags if self.registry is not None else {}
            for i in np.flatnonzero(unknown):
                self.reject(lines[i], fmt.tag, t[i],
                            "missing tag" if t[i] is None else
                            choices_message("tag", t[i], known_tags, limit=5),
                            timestamp=None, tag=t[i])
        ok = tvalid & vvalid & qvalid & ~unknown
        n = len(ok)
        self.stats.values_read += n
        self._ensure_marked(lines, ok)
        self.stats.values_quarantined += n - int(np.count_nonzero(ok))
        # a row with no value and no quality code holds nothing: empty, not ingested
        empty = np.isnan(value)
        if empty.any():
            empty &= ok & (quality == NO_QUALITY)
            n_empty = int(np.count_nonzero(empty))
            self.stats.values_empty += n_empty
            self.stats.rows_empty += n_empty
            if n_empty:
                ok = ok & ~empty
        self.stats.rows_yielding += int(np.count_nonzero(ok))
        if ok.all():
            return Records(ns, key, value, quality, lines)
        return Records(ns[ok], key[ok], value[ok], quality[ok], lines[ok])

    def _ensure_marked(self, lines: np.ndarray, ok: np.ndarray) -> None:
        """Every row dropped here is in the ledger (its reason is in the quarantine)."""
        for i in np.flatnonzero(~ok):
            if int(lines[i]) not in self.ledger.lines:
                self.reject(lines[i], None, None, "row could not be read")

    def _wide(self, table: pa.Table, lines: np.ndarray, first_reject: int) -> Records | None:
        fmt = self.fmt
        ns, tvalid = self._times(table.column(fmt.timestamp), lines, None)
        n = len(ns)
        parts = []
        yielded = np.zeros(n, dtype=np.int32)
        n_empty = np.zeros(n, dtype=np.int32)
        for name, k in self._colkeys.items():
            value, vvalid = self._values(table.column(name), lines, name)
            empty = np.isnan(value) & vvalid
            ok = tvalid & vvalid & ~np.isnan(value)
            yielded += ok
            n_empty += empty
            parts.append((k, ok, value))
        m = len(parts)
        self.stats.values_read += n * m
        self.stats.values_empty += int(n_empty.sum())
        self.stats.values_quarantined += n * m - int(n_empty.sum()) - int(yielded.sum())
        self.stats.rows_empty += int(np.count_nonzero((n_empty == m) & tvalid))
        self.stats.rows_yielding += int(np.count_nonzero(yielded))
        # rows that lost a value here: how many samples they still gave
        for r in self.rejects[first_reject:]:
            i = int(np.searchsorted(lines, r["line"]))
            if i < n and lines[i] == r["line"]:
                self.ledger.set_yielded(r["line"], int(yielded[i]))
        self._ensure_marked(lines, tvalid)
        if not parts:
            return None
        keys = np.concatenate([np.full(n, k, dtype=np.int32) for k, _, _ in parts])
        ok = np.concatenate([o for _, o, _ in parts])
        vals = np.concatenate([v for _, _, v in parts])
        rec = Records(np.tile(ns, m), keys, vals, np.full(n * m, NO_QUALITY, dtype=np.int16),
                      np.tile(lines, m), np.tile(yielded, m))
        return rec.take(ok)


def _nan_filled(arr: pa.Array) -> np.ndarray:
    """float64 values with nulls as NaN (no copy when there are no nulls)."""
    return (arr.fill_null(np.nan) if arr.null_count else arr).to_numpy(zero_copy_only=False)


def _s(x) -> str | None:
    if x is None:
        return None
    if isinstance(x, float) and np.isnan(x):
        return None
    return str(x)


Progress = Callable[[int], None]


class _LineBlocks:
    """The data lines of a UTF-8 text stream after its header, in blocks of about
    ``size`` bytes that end at a line end (the last one may not).

    Each block is read straight into a fresh buffer and handed out as a memoryview
    that nothing here keeps, so a block is freed as soon as its reader drops it.
    """

    #: a header line longer than this is no CSV header
    HEADER_MAX = 1 << 20

    def __init__(self, stream, size: int):
        self.stream = stream
        self.size = size
        self.carry = b""

    def __enter__(self) -> _LineBlocks:
        return self

    def __exit__(self, *exc) -> None:
        self.stream.close()

    def read_header(self, path: Path) -> bytes | None:
        """The first line (without its line end); None for an empty file."""
        buf = b""
        while True:
            nl = buf.find(b"\n")
            if nl >= 0:
                self.carry = buf[nl + 1:]
                return buf[:nl]
            if len(buf) > self.HEADER_MAX:
                raise IngestError(f"{path}: line 1 is longer than {self.HEADER_MAX:,} bytes "
                                  "without a line end: not a CSV header")
            piece = self.stream.read(1 << 16)
            if not piece:
                self.carry = b""
                return buf or None
            buf += piece

    def __iter__(self) -> _LineBlocks:
        return self

    def __next__(self) -> memoryview:
        while True:
            carry = self.carry
            buf = bytearray(len(carry) + self.size)
            buf[:len(carry)] = carry
            got = self.stream.readinto(memoryview(buf)[len(carry):]) if self.size else 0
            if not got:
                self.carry, self.size = b"", 0
                if carry:
                    return memoryview(carry)
                raise StopIteration
            n = len(carry) + got
            cut = buf.rfind(b"\n", 0, n) + 1
            if cut == 0:
                self.carry = bytes(buf[:n])
                continue
            self.carry = bytes(buf[cut:n])
            return memoryview(buf)[:cut]


class StreamBroken(IngestError):
    """A file breaks off while it is read (truncated, corrupt compression)."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
