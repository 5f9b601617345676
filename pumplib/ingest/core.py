"""Ingest historian exports into the raw lake, one commit per call.

The pipeline for each file: parse (streaming, bounded memory) → map tags to
asset/signal through the registry → convert to canonical units (pint) →
UTC → snap to the cadence grid → de-duplicate → merge into the lake. Rows that
cannot be ingested are kept in the quarantine with their reason; the rest is
ingested. A file whose content hash was ingested before is skipped.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import config
from .. import signals as _signals
from ..assets import AssetRegistry
from ..errors import ConflictError, IngestError, UnitError
from ..lake import QUARANTINE_COLUMNS, Lake, Transaction, cadence_seconds, new_run_id, snap_cadence
from ..units import conversion
from .formats import Format, detect_format, get_format
from .readers import NO_QUALITY, Reader, Records

#: lake group of the ingest notes (rows ingested out of time order), one table a run
NOTES_GROUP = "ingest_notes"

_AUTO = Format(name="auto", patterns=("*.csv", "*.csv.gz", "*.parquet"))


@dataclass
class FileReport:
    """What happened to one source file."""

    path: str
    format: str
    sha256: str
    status: str = "ingested"          # ingested | skipped (already in the lake) | empty
    rows_read: int = 0
    samples_ingested: int = 0
    rows_quarantined: int = 0
    duplicates_dropped: int = 0
    out_of_order_rows: int = 0
    conflicts_quarantined: int = 0
    ambiguous_times: int = 0
    nonexistent_times: int = 0
    cadence: str | None = None
    start: str | None = None
    end: str | None = None
    assets: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    skipped_because: str | None = None


@dataclass
class IngestResult:
    """Outcome of one :func:`ingest` call (one lake commit)."""

    run_id: str
    store: str
    snapshot: str | None
    files: list[FileReport]

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def samples_ingested(self) -> int:
        return sum(f.samples_ingested for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "store": self.store, "snapshot": self.snapshot,
                "rows_read": self.rows_read, "samples_ingested": self.samples_ingested,
                "rows_quarantined": self.rows_quarantined,
                "files": [asdict(f) for f in self.files]}


def file_sha256(path: Path, block: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def expand_paths(paths: Iterable[str | os.PathLike], fmt: Format) -> list[Path]:
    """Files named, and the files of named folders matching the format's patterns."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted({f for pat in fmt.patterns for f in p.rglob(pat) if f.is_file()})
            if not found:
                raise IngestError(f"{p}: folder holds no file matching {list(fmt.patterns)} "
                                  f"for format {fmt.name!r}")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise IngestError(f"{p}: no such file or folder")
    return out


def ingest(paths: Sequence[str | os.PathLike] | str | os.PathLike, format: str | Format, *,
           store: str | os.PathLike | Lake | None = None,
           registry: AssetRegistry | str | os.PathLike | None = None,
           cadence: str | None = None, timezone: str | None = None,
           message: str | None = None, batch_rows: int | None = None,
           progress: bool | None = None,
           on_file: Callable[[FileReport], None] | None = None) -> IngestResult:
    """Ingest files into the lake as one commit.

    Parameters
    ----------
    paths : path or list of paths
        Files, or folders searched for the format's file patterns.
    format : str or Format
        A declared format name (see :func:`pumplib.ingest.formats.formats`).
    store : URL, path or Lake, optional
        The lake; default is the ``store.url`` setting.
    registry : AssetRegistry or path, optional
        Maps tags to assets and signals; default is the ``assets.registry``
        setting. Formats with column rules (SKAB, BATADAL) need none.
    cadence : str, optional
        Grid to write to; default: declared by the format or inferred.
    timezone : str, optional
        Zone of timestamps without an offset; default: the format's, else the
        ``ingest.source_timezone`` setting.

    Returns
    -------
    IngestResult
        Per-file rows read, ingested and quarantined, and the new snapshot.

    Examples
    --------
    >>> res = ingest("data_samples/minute.parquet", "long_parquet",
    ...              store="./store")  # doctest: +SKIP
    >>> res.files[0].rows_quarantined  # doctest: +SKIP
    12
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    if format == "auto":
        groups: dict[str, list[Path]] = {}
        for f in expand_paths(paths, _AUTO):
            groups.setdefault(detect_format(f).name, []).append(f)
        if len(groups) != 1:
            raise IngestError(f"--format auto found several formats {sorted(groups)}; ingest "
                              "each group with its own call or name the format")
        (format, paths), = groups.items()
    fmt = get_format(format)
    files = expand_paths(paths, fmt)
    lake = store if isinstance(store, Lake) else Lake(store, create=True)
    reg = _registry(registry, fmt)
    tz = timezone or fmt.timezone or config.get("ingest.source_timezone")
    _check_tz(tz)
    if cadence is not None:
        cadence_seconds(cadence)
    batch_rows = int(batch_rows or config.get("ingest.batch_rows"))
    show = config.get("ingest.progress") if progress is None else progress
    retries = int(config.get("ingest.commit_retries"))
    for attempt in range(retries + 1):
        try:
            return _ingest_once(lake, files, fmt, reg, tz, cadence, batch_rows, show, message,
                                on_file)
        except ConflictError:
            # another writer committed first; nothing of ours landed: start again on
            # top of its snapshot (files it ingested are then skipped)
            if attempt == retries:
                raise
    raise AssertionError("unreachable")


def _ingest_once(lake: Lake, files: list[Path], fmt: Format, reg: AssetRegistry | None, tz: str,
                 cadence: str | None, batch_rows: int, show: bool, message: str | None,
                 on_file: Callable[[FileReport], None] | None) -> IngestResult:
    run_id = new_run_id("ingest")
    known = lake.source_hashes()
    reports: list[FileReport] = []
    quarantine: list[pd.DataFrame] = []
    notes: list[pd.DataFrame] = []
    with lake.transaction(message or _message(fmt, files),
                          {"kind": "ingest", "run_id": run_id}) as tx:
        for path in _progress(files, show):
            digest = file_sha256(path)
            rep = FileReport(path=str(path), format=fmt.name, sha256=digest)
            if digest in known:
                rep.status = "skipped"
                rep.skipped_because = (f"same content as {known[digest].get('path')} "
                                       f"(snapshot {known[digest].get('snapshot')})")
            else:
                q, n = _ingest_file(tx, path, fmt, reg, tz, cadence, batch_rows, rep, run_id,
                                 show=show)
                if len(q):
                    quarantine.append(q)
                if len(n):
                    notes.append(n)
                known[digest] = {"path": str(path), "snapshot": "this commit"}
            reports.append(rep)
            if on_file:
                on_file(rep)
        qframe = (pd.concat(quarantine, ignore_index=True) if quarantine
                  else pd.DataFrame(columns=QUARANTINE_COLUMNS))
        tx.write_quarantine(run_id, qframe, {"run_id": run_id, "format": fmt.name})
        if notes:
            tx.write_table(NOTES_GROUP, run_id, pd.concat(notes, ignore_index=True),
                           {"run_id": run_id, "format": fmt.name})
        # the lineage of this commit: what it was made from
        tx.metadata.update({
            "sources": [_source_meta(r) for r in reports if r.status != "skipped"],
            "skipped": [r.path for r in reports if r.status == "skipped"],
            "format": fmt.name, "timezone": tz, "quarantined_rows": int(len(qframe))})
    return IngestResult(run_id=run_id, store=lake.url, snapshot=tx.snapshot, files=reports)


def _source_meta(r: FileReport) -> dict:
    return {"path": r.path, "sha256": r.sha256, "rows_read": r.rows_read,
            "samples_ingested": r.samples_ingested, "rows_quarantined": r.rows_quarantined,
            "cadence": r.cadence, "start": r.start, "end": r.end}


def _message(fmt: Format, files: list[Path]) -> str:
    names = ", ".join(f.name for f in files[:3]) + (" …" if len(files) > 3 else "")
    return f"ingest {len(files)} file(s) ({fmt.name}): {names}"


def _registry(registry, fmt: Format) -> AssetRegistry | None:
    if isinstance(registry, AssetRegistry):
        return registry
    if registry is not None:
        return AssetRegistry.load(registry)
    if fmt.layout == "wide" and fmt.columns:
        return None  # the format maps its own columns
    return AssetRegistry.load()


def _check_tz(tz: str) -> None:
    try:
        pd.Timestamp("2020-01-01").tz_localize(tz)
    except Exception as exc:  # noqa: BLE001 - zoneinfo raises several types
        raise IngestError(f"unknown time zone {tz!r} ({exc}); use an IANA name such as "
                          "'Europe/Amsterdam' or 'UTC'") from None


def _progress(files, show):
    if not show:
        return files
    from tqdm.auto import tqdm

    return tqdm(files, desc="ingest", unit="file")


# -- one file --------------------------------------------------------------------
def _ingest_file(tx: Transaction, path: Path, fmt: Format, reg: AssetRegistry | None, tz: str,
                 cadence: str | None, batch_rows: int, rep: FileReport, run_id: str,
                 show: bool = False) -> pd.DataFrame:
    reader = Reader(path, fmt, reg, tz, batch_rows=batch_rows,
                    ambiguous=config.get("ingest.ambiguous"),
                    nonexistent=config.get("ingest.nonexistent"))
    rejects: list[dict] = []
    notes: list[dict] = []
    buf: GridBuffer | None = None
    future_ns = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(config.get("ingest.future_tolerance"))
                 ).value
    conv: dict[int, tuple[float, float]] = {}
    tmin, tmax = None, None
    bar = _row_bar(path, fmt, show)
    for rec in reader:
        if bar is not None:
            bar.update(reader.stats.rows_read - bar.n)
        # unit conversion per key, vectorised
        scale = np.ones(len(reader.keys))
        offset = np.zeros(len(reader.keys))
        for k, key in enumerate(reader.keys):
            if k not in conv:
                conv[k] = _conversion(path, key)
            scale[k], offset[k] = conv[k]
        value = scale[rec.key]
        value *= rec.value
        value += offset[rec.key]
        # timestamps in the future
        fut = rec.time_ns > future_ns
        if fut.any():
            for i in np.flatnonzero(fut):
                reader.reject(rec.line[i], fmt.timestamp, pd.Timestamp(rec.time_ns[i], tz="UTC"),
                              "timestamp is in the future", tag=reader.keys[rec.key[i]].tag)
            keep = ~fut
            rec = Records(rec.time_ns[keep], rec.key[keep], value[keep], rec.quality[keep],
                          rec.line[keep])
        else:
            rec.value = value
        if buf is None:
            cad = cadence or fmt.cadence or _infer_cadence(rec.time_ns)
            buf = GridBuffer(tx, cad, reader, rep, run_id)
            rep.cadence = cad
        buf.add(rec)
        if len(rec):
            lo, hi = int(rec.time_ns.min()), int(rec.time_ns.max())
            tmin = lo if tmin is None else min(tmin, lo)
            tmax = hi if tmax is None else max(tmax, hi)
        rejects.extend(reader.rejects)
        reader.rejects.clear()
        buf.flush_before_current()
    if bar is not None:
        bar.close()
    if buf is not None:
        buf.flush_all()
        rep.samples_ingested = buf.written
        rep.assets = sorted({reader.keys[k].asset for k in buf.keys_seen})
        rep.signals = sorted({reader.keys[k].signal for k in buf.keys_seen})
        rejects.extend(buf.rejects)
        notes = buf.notes
    else:
        rep.status = "empty"
    rejects.extend(reader.rejects)
    rep.rows_read = reader.stats.rows_read
    rep.ambiguous_times = reader.stats.ambiguous
    rep.nonexistent_times = reader.stats.nonexistent
    rep.start = None if tmin is None else pd.Timestamp(tmin, tz="UTC").isoformat()
    rep.end = None if tmax is None else pd.Timestamp(tmax, tz="UTC").isoformat()
    q = pd.DataFrame(rejects, columns=["line", "column", "raw", "reason", "timestamp", "tag",
                                       "asset", "signal"])
    rep.rows_quarantined = int(q["line"].nunique()) if len(q) else 0
    rep.reasons = dict(Counter(_reason_kind(r) for r in q["reason"])) if len(q) else {}
    q.insert(0, "source", str(path))
    q.insert(0, "run_id", run_id)
    nf = pd.DataFrame(notes, columns=[
        "line", "column", "raw", "reason", "timestamp", "tag", "asset", "signal"])
    nf.insert(0, "source", str(path))
    nf.insert(0, "run_id", run_id)
    return q[QUARANTINE_COLUMNS], nf[QUARANTINE_COLUMNS]


def _row_bar(path: Path, fmt: Format, show: bool):
    """A rows progress bar for files big enough to take more than a second or two."""
    if not show or path.stat().st_size < 32 * 2**20:
        return None
    from tqdm.auto import tqdm

    total = None
    if fmt.container == "parquet":
        import pyarrow.parquet as pq

        total = pq.ParquetFile(path).metadata.num_rows
    return tqdm(total=total, desc=path.name, unit="row", unit_scale=True, leave=False)


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0].split("'")[0].strip()


def _conversion(path: Path, key) -> tuple[float, float]:
    target = _signals.get(key.signal).unit
    try:
        return conversion(key.unit, target)
    except UnitError as exc:
        raise IngestError(f"{path}: tag {key.tag!r} ({key.asset}/{key.signal}): {exc}") from None


def _infer_cadence(time_ns: np.ndarray) -> str:
    t = np.unique(time_ns)
    if len(t) < 2:
        return config.get("lake.cadences")[0]
    return snap_cadence(float(np.median(np.diff(t))) / 1e9)


class GridBuffer:
    """Dense per-window buffers between parsing and the lake.

    Samples are scattered into arrays aligned with the lake's chunks, one
    window (chunk span) per (asset, signal). Windows that the stream has moved
    past are merged into the lake and freed, so memory is bounded by the
    number of open windows, not the file size. Within one file the later of
    two rows for the same cell wins; the other is quarantined unless it holds
    the same value (then it is a plain duplicate and counted).
    """

    def __init__(self, tx: Transaction, cadence: str, reader: Reader, rep: FileReport,
                 run_id: str):
        self.tx, self.cadence, self.reader, self.rep = tx, cadence, reader, rep
        self.step_ns = cadence_seconds(cadence) * 10**9
        self.span = int(config.get("lake.chunk_samples"))
        self.windows: dict[tuple[int, int], _Window] = {}  # (window, key) → buffer
        self.written = 0
        self.keys_seen: set[int] = set()
        self.rejects: list[dict] = []
        #: rows ingested but worth knowing about (out of time order), for quality
        self.notes: list[dict] = []
        self._last_cell: dict[int, int] = {}
        self.has_quality = bool(reader.fmt.quality)
        self.max_bytes = int(config.get("ingest.buffer_mb")) * 2**20
        self.origin_cell: int | None = None
        self._current = None
        self._big_lines = False

    def _out_of_order(self, k: int, cells: np.ndarray, lines: np.ndarray) -> None:
        """Note rows (in file order, one key) that come after a later time of the same key."""
        prev = self._last_cell.get(k, np.iinfo(np.int64).min)
        if cells[0] > prev and (len(cells) == 1 or (cells[1:] > cells[:-1]).all()):
            self._last_cell[k] = int(cells[-1])
            return
        run = np.maximum.accumulate(np.r_[prev, cells])
        late = np.flatnonzero(cells < run[:-1])
        self._last_cell[k] = int(run[-1])
        key = self.reader.keys[k]
        for i in late:
            t = pd.Timestamp(int(cells[i]) * self.step_ns, tz="UTC")
            self.notes.append({
                "line": int(lines[i]), "column": self.reader.fmt.timestamp, "raw": t.isoformat(),
                "reason": f"out-of-order row: {key.asset}/{key.signal} at {t.isoformat()} comes "
                          f"after a later time; ingested in its place",
                "timestamp": t.isoformat(), "tag": key.tag, "asset": key.asset,
                "signal": key.signal})
        self.rep.out_of_order_rows += len(late)

    def add(self, rec: Records) -> None:
        if not len(rec):
            return
        cell = rec.time_ns / self.step_ns
        np.rint(cell, out=cell)
        cell = cell.astype(np.int64)  # steps since epoch
        cmin, cmax = int(cell.min()), int(cell.max())
        if self.origin_cell is None:
            step_s = self.step_ns // 10**9
            self.origin_cell = self.tx.origin(self.cadence, cmin * step_s) // step_s
        # windows are aligned with the lake's chunks
        w0 = (cmin - self.origin_cell) // self.span
        self._current = (cmax - self.origin_cell) // self.span
        nkeys = len(self.reader.keys)
        if w0 == self._current:  # the usual case: the batch lies in one window
            gid = rec.key
        else:
            win = (cell - self.origin_cell) // self.span
            gid = (win - w0) * nkeys + rec.key
        dtype = np.int16 if gid.max() < 2**15 else np.int64
        order = np.argsort(gid.astype(dtype), kind="stable")  # radix sort for small ints
        g_sorted = gid[order]
        bounds = np.flatnonzero(np.diff(g_sorted)) + 1
        starts = np.r_[0, bounds]
        ends = np.r_[bounds, len(order)]
        self._big_lines = bool(rec.line.max() > _Window.LINE_MAX)
        # gather once in group order; each group is then a slice
        if w0 != self._current:  # groups split by window: check time order per key first
            korder = np.argsort(rec.key.astype(dtype), kind="stable")
            kk = rec.key[korder]
            kb = np.r_[0, np.flatnonzero(np.diff(kk)) + 1, len(kk)]
            for a, b in zip(kb[:-1], kb[1:], strict=True):
                self._out_of_order(int(kk[a]), cell[korder[a:b]], rec.line[korder[a:b]])
        cell, value, quality, line = cell[order], rec.value[order], rec.quality[order], \
            rec.line[order]
        for s, e in zip(starts, ends, strict=True):
            g = int(g_sorted[s])
            w, k = w0 + g // nkeys, g % nkeys
            self.keys_seen.add(k)
            wb = self.windows.get((w, k))
            if wb is None:
                wb = self.windows[(w, k)] = _Window(self.span)
            if w0 == self._current:  # one group per key, in file order
                self._out_of_order(k, cell[s:e], line[s:e])
            pos = cell[s:e] - (self.origin_cell + w * self.span)
            self._scatter(wb, pos, value[s:e], quality[s:e], line[s:e], w, k)
        if self.nbytes() > self.max_bytes:
            cur = self._current
            self._flush(lambda w: w < cur)
            if self.nbytes() > self.max_bytes:
                self.flush_all()

    def _scatter(self, wb: _Window, pos, value, quality, line, w, k) -> None:
        if self._big_lines and wb.line.dtype != np.int64:
            wb.line = wb.line.astype(np.int64)  # a file of more than 2**31 lines
        # rows of a group keep file order: strictly increasing positions (time
        # order, the usual case) cannot repeat a cell
        increasing = len(pos) == 1 or (pos[1:] > pos[:-1]).all()
        if increasing and pos[-1] - pos[0] == len(pos) - 1:
            # a gapless run of steps (the usual case): slices, not fancy indexing
            sl = slice(int(pos[0]), int(pos[-1]) + 1)
            if not wb.present[sl].any():
                wb.value[sl] = value
                wb.quality[sl] = quality
                wb.line[sl] = line
                wb.present[sl] = True
                return
        dup_in_batch = not increasing and (np.bincount(pos)[pos] > 1).any()
        if dup_in_batch or wb.present[pos].any():
            self._resolve_duplicates(wb, pos, value, quality, line, w, k)
            return
        wb.value[pos] = value
        wb.quality[pos] = quality
        wb.line[pos] = line
        wb.present[pos] = True

    def _resolve_duplicates(self, wb, pos, value, quality, line, w, k) -> None:
        key = self.reader.keys[k]
        for p, v, q, ln in zip(pos, value, quality, line, strict=True):
            if wb.present[p]:
                old_v = wb.value[p]
                same = (old_v == v) or (np.isnan(old_v) and np.isnan(v))
                t = pd.Timestamp((self.origin_cell + w * self.span + int(p)) * self.step_ns,
                                 tz="UTC")
                if same:
                    # the copy is kept in the quarantine, the first row in the lake
                    self.rep.duplicates_dropped += 1
                    self.rejects.append({
                        "line": int(ln), "column": self.reader.fmt.value, "raw": str(v),
                        "reason": f"duplicate row: same value as line {int(wb.line[p])} for "
                                  f"{key.asset}/{key.signal} at {t.isoformat()}",
                        "timestamp": t.isoformat(), "tag": key.tag, "asset": key.asset,
                        "signal": key.signal})
                    continue
                else:
                    self.rejects.append({
                        "line": int(wb.line[p]), "column": self.reader.fmt.value, "raw": str(old_v),
                        "reason": f"conflicting duplicate: line {ln} has {float(v)!r} for the same "
                                  f"{key.asset}/{key.signal} at {t.isoformat()} and wins "
                                  "(the later row)",
                        "timestamp": t.isoformat(), "tag": key.tag, "asset": key.asset,
                        "signal": key.signal})
                    self.rep.conflicts_quarantined += 1
            wb.value[p], wb.quality[p], wb.line[p], wb.present[p] = v, q, ln, True

    def nbytes(self) -> int:
        """Memory of the open windows and of blocks still waiting for the writer."""
        return len(self.windows) * self.span * _Window.CELL_BYTES

    def flush_before_current(self) -> None:
        """Write windows the (time-ordered) stream has moved past."""
        if self._current is not None:
            cur = self._current
            self._flush(lambda w: w < cur)

    def flush_all(self) -> None:
        self._flush(lambda w: True)

    def _flush(self, which: Callable[[int], bool]) -> None:
        todo = sorted(k for k in self.windows if which(k[0]))
        by_sig: dict[tuple[int, str], list[tuple[str, _Window]]] = {}
        for w, k in todo:
            key = self.reader.keys[k]
            by_sig.setdefault((w, key.signal), []).append((key.asset, self.windows.pop((w, k))))
        step_s = self.step_ns // 10**9
        for w, signal in list(by_sig):
            items = by_sig.pop((w, signal))  # windows are freed as their block is made
            assets = [a for a, _ in items]
            values = np.stack([b.value for _, b in items])
            present = np.stack([b.present for _, b in items])
            sq = np.stack([b.quality for _, b in items]) if self.has_quality else None
            del items
            self.written += int(present.sum())
            self.tx.write_block(self.cadence, assets, signal,
                                (self.origin_cell + w * self.span) * step_s, values, present, sq)


class _Window:
    __slots__ = ("line", "present", "quality", "value")
    CELL_BYTES = 8 + 2 + 4 + 1  # value, quality, line, present
    LINE_MAX = np.iinfo(np.int32).max

    def __init__(self, span: int):
        self.value = np.full(span, np.nan)
        self.quality = np.full(span, NO_QUALITY, dtype=np.int16)
        self.line = np.zeros(span, dtype=np.int32)  # widened to int64 when a line needs it
        self.present = np.zeros(span, dtype=bool)
