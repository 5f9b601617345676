"""Ingest historian exports into the raw lake, one commit per call.

The pipeline for each file: check it (text encoding, header, the columns the
format needs) → parse (streaming, bounded memory) → map tags to asset/signal
through the registry → convert to canonical units (pint) → UTC → snap to the
cadence grid → de-duplicate → merge into the lake. Rows that cannot be
ingested are kept in the quarantine with their reason; the rest is ingested. A
file whose content hash was ingested before is skipped; a file that cannot be
read at all is rejected with a one-line reason and the others go on.

Every file is accounted for in two units, each adding up:

- rows: ``rows_read = rows_ingested + rows_quarantined + rows_duplicate +
  rows_empty`` (a row with at least one ingested value is ingested; malformed
  rows are rows read, and quarantined);
- values: ``values_read = samples_ingested + samples_quarantined +
  samples_empty + samples_duplicate`` (one value a row in the long layout, one
  a mapped column and row in the wide layout).

Wide columns that map to no registry tag or column rule are listed once, by
name, in ``unmapped_columns``; their cells are not values read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import config
from .. import signals as _signals
from ..assets import AssetRegistry
from ..errors import ConflictError, IngestError, PumplibError, UnitError
from ..lake import QUARANTINE_COLUMNS, Lake, Transaction, cadence_seconds, new_run_id, snap_cadence
from ..units import conversion
from .buffer import GridBuffer
from .formats import Format, detect_format, get_format
from .readers import Reader, Records
from .text import sniff

#: lake group of the ingest notes (rows ingested out of time order), one table a run
NOTES_GROUP = "ingest_notes"

_AUTO = Format(name="auto", patterns=("*.csv", "*.csv.gz", "*.parquet"))

#: file statuses
STATUSES = ("ingested", "partial", "empty", "skipped", "rejected")

#: counts of a :class:`FileReport` that :class:`IngestResult` sums over files
COUNTS = ("rows_read", "rows_ingested", "rows_quarantined", "rows_duplicate", "rows_empty",
          "values_read", "samples_ingested", "samples_quarantined", "samples_empty",
          "samples_duplicate", "out_of_order_rows", "conflicts_quarantined", "ambiguous_times",
          "nonexistent_times")


@dataclass
class FileReport:
    """What happened to one source file.

    ``status`` is ``ingested`` (at least one sample), ``partial`` (the file
    broke off, e.g. truncated: what was read before is ingested, ``error``
    says where), ``empty`` (read, but nothing to ingest), ``skipped`` (the
    same content is in the lake) or ``rejected`` (not read at all: ``error``
    is the one-line reason).
    """

    path: str
    format: str
    sha256: str
    status: str = "ingested"
    error: str | None = None
    encoding: str | None = None
    rows_read: int = 0
    rows_ingested: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_empty: int = 0
    values_read: int = 0
    samples_ingested: int = 0
    samples_quarantined: int = 0
    samples_empty: int = 0
    samples_duplicate: int = 0
    #: wide columns mapped to no registry tag or column rule (their cells are not read)
    unmapped_columns: list[str] = field(default_factory=list)
    unmapped_hint: str | None = None
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

    @property
    def duplicates_dropped(self) -> int:
        """Exact duplicate samples dropped (the name before ``samples_duplicate``)."""
        return self.samples_duplicate

    @property
    def rows_balanced(self) -> bool:
        """``rows_read == rows_ingested + rows_quarantined + rows_duplicate + rows_empty``."""
        return self.rows_read == (self.rows_ingested + self.rows_quarantined
                                  + self.rows_duplicate + self.rows_empty)

    @property
    def values_balanced(self) -> bool:
        """``values_read == samples_ingested + samples_quarantined + samples_empty +
        samples_duplicate``."""
        return self.values_read == (self.samples_ingested + self.samples_quarantined
                                    + self.samples_empty + self.samples_duplicate)

    def to_dict(self) -> dict:
        return {**asdict(self), "duplicates_dropped": self.duplicates_dropped}


@dataclass
class IngestResult:
    """Outcome of one :func:`ingest` call (one lake commit), with totals over files."""

    run_id: str
    store: str
    snapshot: str | None
    files: list[FileReport]

    def __getattr__(self, name: str):
        if name in COUNTS:
            return sum(getattr(f, name) for f in self.files)
        raise AttributeError(name)

    @property
    def duplicates_dropped(self) -> int:
        return self.samples_duplicate

    @property
    def rejected(self) -> list[FileReport]:
        """Files not read at all, or broken off (``rejected``, ``partial``)."""
        return [f for f in self.files if f.status in ("rejected", "partial")]

    @property
    def exit_code(self) -> int:
        """0: every file read; 1: some file rejected or broken off, others read;
        2: no file could be read."""
        if not self.rejected:
            return 0
        return 2 if all(f.status == "rejected" for f in self.files) else 1

    def totals(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in COUNTS}

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "store": self.store, "snapshot": self.snapshot,
                **self.totals(), "duplicates_dropped": self.duplicates_dropped,
                "exit_code": self.exit_code,
                "files": [f.to_dict() for f in self.files]}


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
        found, error = _expand(Path(p), fmt)
        if error:
            raise IngestError(error)
        out.extend(found)
    return out


def _expand(p: Path, fmt: Format) -> tuple[list[Path], str | None]:
    if p.is_dir():
        found = sorted({f for pat in fmt.patterns for f in p.rglob(pat) if f.is_file()})
        if not found:
            return [], (f"{p}: folder holds no file matching {list(fmt.patterns)} "
                        f"for format {fmt.name!r}")
        return found, None
    if p.is_file():
        return [p], None
    return [], f"{p}: no such file or folder"


@dataclass
class _Job:
    path: Path
    fmt: Format | None
    error: str | None = None


def _plan(paths: Sequence[Path], format: str | Format) -> list[_Job]:
    """Each file with its format, or the one-line reason it cannot be read."""
    auto = isinstance(format, str) and format == "auto"
    fmt = None if auto else get_format(format)
    jobs: list[_Job] = []
    for p in paths:
        found, error = _expand(Path(p), _AUTO if auto else fmt)
        if error:
            jobs.append(_Job(Path(p), fmt, error))
        for f in found:
            if not auto:
                jobs.append(_Job(f, fmt, _not_text(f, fmt)))
                continue
            try:
                jobs.append(_Job(f, detect_format(f)))
            except PumplibError as exc:
                jobs.append(_Job(f, None, str(exc)))
    return jobs


def _not_text(path: Path, fmt: Format) -> str | None:
    """Why a file given to a CSV format cannot be read as text (checked before the store
    is opened), or None."""
    if fmt.container != "csv":
        return None
    try:
        sniff(path)
    except (IngestError, OSError) as exc:
        return str(exc) if isinstance(exc, IngestError) else f"{path}: cannot read: {exc}"
    return None


def ingest(paths: Sequence[str | os.PathLike] | str | os.PathLike, format: str | Format = "auto",
           *, store: str | os.PathLike | Lake | None = None,
           registry: AssetRegistry | str | os.PathLike | None = None,
           cadence: str | None = None, timezone: str | None = None,
           message: str | None = None, batch_rows: int | None = None,
           progress: bool | None = None,
           on_file: Callable[[FileReport], None] | None = None) -> IngestResult:
    """Ingest files into the lake as one commit.

    A file that cannot be read (binary, a missing column, an unknown format…)
    is reported with status ``rejected`` and its one-line reason, and the
    others are ingested; when no file can be read at all, nothing is written
    and :class:`~pumplib.errors.IngestError` is raised. A store that did not
    exist is created only when the call commits something.

    Parameters
    ----------
    paths : path or list of paths
        Files, or folders searched for the format's file patterns.
    format : str or Format
        A declared format name (see :func:`pumplib.ingest.formats.formats`), or
        ``auto`` (default): each file's format is detected from its content.
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
        Per file and in total: rows and values read, ingested, quarantined,
        duplicate and empty; unmapped columns; the new snapshot.

    Examples
    --------
    >>> res = ingest("data_samples/minute.parquet", "long_parquet",
    ...              store="./store")  # doctest: +SKIP
    >>> res.files[0].rows_quarantined  # doctest: +SKIP
    12
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    jobs = _plan([Path(p) for p in paths], format)
    good = [j for j in jobs if j.error is None]
    if not good:
        raise IngestError(_nothing_read(jobs))
    # everything a format needs is checked before the store is opened
    regs: dict[str, AssetRegistry | None] = {}
    tzs: dict[str, str] = {}
    for j in good:
        key = _fmt_key(j.fmt)
        if key not in regs:
            regs[key] = _registry(registry, j.fmt)
            tzs[key] = timezone or j.fmt.timezone or config.get("ingest.source_timezone")
            _check_tz(tzs[key])
    if cadence is not None:
        cadence_seconds(cadence)
    batch_rows = int(batch_rows or config.get("ingest.batch_rows"))
    show = config.get("ingest.progress") if progress is None else progress
    retries = int(config.get("ingest.commit_retries"))
    fresh = _fresh(store)
    try:
        lake = store if isinstance(store, Lake) else Lake(store, create=True)
    except BaseException:
        _remove_fresh(None, fresh)
        raise
    try:
        for attempt in range(retries + 1):
            try:
                res = _ingest_once(lake, jobs, regs, tzs, cadence, batch_rows, show, message,
                                   on_file)
                break
            except ConflictError:
                # another writer committed first; nothing of ours landed: start again on
                # top of its snapshot (files it ingested are then skipped)
                if attempt == retries:
                    raise
        else:
            raise AssertionError("unreachable")
        if res.snapshot is None and all(f.status == "rejected" for f in res.files):
            raise IngestError(_nothing_read(res.files))
    except BaseException:
        _remove_fresh(lake, fresh)
        raise
    if res.snapshot is None:
        _remove_fresh(lake, fresh)
    return res


def _nothing_read(items) -> str:
    """One line for a call where no file could be read (the reasons of the first few)."""
    errors = [i.error for i in items if i.error]
    if len(errors) == 1:
        return errors[0]
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"no file could be ingested: {' | '.join(errors[:3])}{more}"


def _fmt_key(fmt: Format) -> str:
    return f"{fmt.name}|{fmt.timestamp}|{fmt.timezone}|{id(fmt)}"


def _fresh(store) -> tuple | None:
    """What opening ``store`` with ``create=True`` would create: a local folder (its
    path and the names it held before, None when there was no folder), else None."""
    if isinstance(store, Lake):
        return None
    url = os.fspath(config.get("store.url", override_with=store))
    root = _local_root(url)
    if root is None or (root / "refs").is_dir():
        return None
    return root, (set(os.listdir(root)) if root.is_dir() else None)


def _local_root(url: str) -> Path | None:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if url.startswith("memory://") or parsed.scheme not in ("", "file"):
        return None
    return Path(parsed.path if parsed.scheme == "file" else url).expanduser()


def _remove_fresh(lake: Lake | None, fresh: tuple | None) -> None:
    """Remove the store this call created, if nothing was committed to it (its branch
    still at the initial snapshot): a failed ingest leaves no store behind."""
    if fresh is None:
        return
    root, before = fresh
    with contextlib.suppress(Exception):
        if lake is not None and len(lake.log(2)) != 1:
            return  # another writer committed meanwhile: the store is theirs too
        if before is None:
            shutil.rmtree(root, ignore_errors=True)
            return
        for name in set(os.listdir(root)) - before:
            p = root / name
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def _ingest_once(lake: Lake, jobs: list[_Job], regs: dict, tzs: dict, cadence: str | None,
                 batch_rows: int, show: bool, message: str | None,
                 on_file: Callable[[FileReport], None] | None) -> IngestResult:
    run_id = new_run_id("ingest")
    known = lake.source_hashes()
    reports: list[FileReport] = []
    quarantine: list[pd.DataFrame] = []
    notes: list[pd.DataFrame] = []
    names = sorted({j.fmt.name for j in jobs if j.fmt is not None})
    with lake.transaction(message or _message(names, [j.path for j in jobs]),
                          {"kind": "ingest", "run_id": run_id}) as tx:
        for job in _progress(jobs, show):
            rep = _ingest_job(tx, job, regs, tzs, cadence, batch_rows, run_id, show, known,
                              quarantine, notes)
            reports.append(rep)
            if on_file:
                on_file(rep)
        qframe = (pd.concat(quarantine, ignore_index=True) if quarantine
                  else pd.DataFrame(columns=QUARANTINE_COLUMNS))
        fmt_meta = names[0] if len(names) == 1 else names
        tx.write_quarantine(run_id, qframe, {"run_id": run_id, "format": fmt_meta})
        if notes:
            tx.write_table(NOTES_GROUP, run_id, pd.concat(notes, ignore_index=True),
                           {"run_id": run_id, "format": fmt_meta})
        # the lineage of this commit: what it was made from
        tx.metadata.update({
            "sources": [_source_meta(r) for r in reports if r.status in ("ingested", "partial")],
            "skipped": [r.path for r in reports if r.status == "skipped"],
            "empty": [r.path for r in reports if r.status == "empty"],
            "rejected": [{"path": r.path, "error": r.error} for r in reports
                         if r.status == "rejected"],
            "format": fmt_meta, "timezone": sorted(set(tzs.values()))[0] if len(set(
                tzs.values())) == 1 else sorted(set(tzs.values())),
            "quarantined_rows": int(len(qframe))})
    return IngestResult(run_id=run_id, store=lake.url, snapshot=tx.snapshot, files=reports)


def _ingest_job(tx: Transaction, job: _Job, regs: dict, tzs: dict, cadence, batch_rows: int,
                run_id: str, show: bool, known: dict, quarantine: list, notes: list
                ) -> FileReport:
    """One file of a call: skipped, rejected (nothing written) or read."""
    fmt = job.fmt
    rep = FileReport(path=str(job.path), format=fmt.name if fmt else "?", sha256="")
    if job.error:
        rep.status, rep.error = "rejected", job.error
        return rep
    try:
        rep.sha256 = file_sha256(job.path)
    except OSError as exc:
        rep.status, rep.error = "rejected", f"{job.path}: cannot read: {exc.strerror or exc}"
        return rep
    if rep.sha256 in known:
        rep.status = "skipped"
        rep.skipped_because = (f"same content as {known[rep.sha256].get('path')} "
                               f"(snapshot {known[rep.sha256].get('snapshot')})")
        return rep
    key = _fmt_key(fmt)
    try:
        q, n = _ingest_file(tx, job.path, fmt, regs[key], tzs[key], cadence, batch_rows, rep,
                            run_id, show=show)
    except _Rejected as exc:
        rep.status, rep.error = "rejected", str(exc)
        return rep
    if len(q):
        quarantine.append(q)
    if len(n):
        notes.append(n)
    if rep.status in ("ingested", "partial"):
        known[rep.sha256] = {"path": str(job.path), "snapshot": "this commit"}
    return rep


class _Rejected(IngestError):
    """A file refused before anything of it was written."""


def _source_meta(r: FileReport) -> dict:
    meta = {"path": r.path, "sha256": r.sha256, "format": r.format, "status": r.status}
    meta.update({k: getattr(r, k) for k in COUNTS[:10]})
    meta.update({"encoding": r.encoding, "unmapped_columns": r.unmapped_columns,
                 "cadence": r.cadence, "start": r.start, "end": r.end})
    if r.error:
        meta["error"] = r.error
    return meta


def _message(names: list[str], files: list[Path]) -> str:
    shown = ", ".join(f.name for f in files[:3]) + (" …" if len(files) > 3 else "")
    return f"ingest {len(files)} file(s) ({', '.join(names) or '?'}): {shown}"


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
                 show: bool = False, reader: Reader | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    # ``reader``: another source of Records than the file (the live path's log)
    if reader is None:
        reader = Reader(path, fmt, reg, tz, batch_rows=batch_rows,
                        ambiguous=config.get("ingest.ambiguous"),
                        nonexistent=config.get("ingest.nonexistent"))
    conv: dict[int, tuple[float, float]] = {}
    try:
        reader.prepare()
        for k, key in enumerate(reader.keys):   # columns known from the header
            conv[k] = _conversion(path, key)
    except IngestError as exc:
        reader.close()
        raise _Rejected(str(exc)) from None
    rep.encoding = reader.encoding
    rep.unmapped_columns = list(reader.unmapped)
    rep.unmapped_hint = reader.unmapped_hint() if reader.unmapped else None
    rejects: list[dict] = []
    notes: list[dict] = []
    buf: GridBuffer | None = None
    future_ns = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(config.get("ingest.future_tolerance"))
                 ).value
    tmin, tmax = None, None
    bar = _row_bar(path, fmt, show)
    try:
        for rec in reader:
            if bar is not None:
                bar.update(reader.stats.rows_read - bar.n)
            rec = _convert(rec, reader, conv, path)
            rec = _drop_future(rec, reader, future_ns, rep)
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
    except IngestError as exc:
        # the file breaks off (truncated, corrupt): what was read before is kept
        if not reader.stats.rows_read:
            raise _Rejected(str(exc)) from None
        rep.status, rep.error = "partial", str(exc)
    finally:
        if bar is not None:
            bar.close()
    if buf is not None:
        try:
            buf.flush_all()
        finally:
            buf.close()  # the scratch file of spilled windows, if any
        rep.samples_ingested = buf.written
        rep.assets = sorted({reader.keys[k].asset for k in buf.keys_seen})
        rep.signals = sorted({reader.keys[k].signal for k in buf.keys_seen})
        rejects.extend(buf.rejects)
        notes = buf.notes
    rejects.extend(reader.rejects)
    _account(rep, reader)
    if rep.status == "ingested" and not rep.samples_ingested:
        rep.status = "empty"
    rep.start = None if tmin is None else pd.Timestamp(tmin, tz="UTC").isoformat()
    rep.end = None if tmax is None else pd.Timestamp(tmax, tz="UTC").isoformat()
    q = pd.DataFrame(rejects, columns=["line", "column", "raw", "reason", "timestamp", "tag",
                                       "asset", "signal"])
    rep.reasons = dict(Counter(_reason_kind(r) for r in q["reason"])) if len(q) else {}
    q.insert(0, "source", str(path))
    q.insert(0, "run_id", run_id)
    nf = pd.DataFrame(notes, columns=[
        "line", "column", "raw", "reason", "timestamp", "tag", "asset", "signal"])
    nf.insert(0, "source", str(path))
    nf.insert(0, "run_id", run_id)
    return q[QUARANTINE_COLUMNS], nf[QUARANTINE_COLUMNS]


def _account(rep: FileReport, reader: Reader) -> None:
    """Rows and values of a file, from the reader's counts and its row ledger."""
    st = reader.stats
    quarantined, duplicate, lost = reader.ledger.counts()
    rep.rows_read = st.rows_read
    rep.rows_quarantined, rep.rows_duplicate = quarantined, duplicate
    rep.rows_empty = st.rows_empty
    rep.rows_ingested = st.rows_yielding - lost
    rep.values_read = st.values_read
    rep.samples_empty = st.values_empty
    rep.samples_quarantined += st.values_quarantined
    rep.ambiguous_times = st.ambiguous
    rep.nonexistent_times = st.nonexistent


def _convert(rec: Records, reader: Reader, conv: dict, path: Path) -> Records:
    """Values in canonical units (one scale and offset a key, vectorised)."""
    scale = np.ones(len(reader.keys))
    offset = np.zeros(len(reader.keys))
    for k, key in enumerate(reader.keys):
        if k not in conv:
            conv[k] = _conversion(path, key)
        scale[k], offset[k] = conv[k]
    value = scale[rec.key]
    value *= rec.value
    value += offset[rec.key]
    rec.value = value
    return rec


def _drop_future(rec: Records, reader: Reader, future_ns: int, rep: FileReport) -> Records:
    """Samples stamped in the future are quarantined."""
    fut = rec.time_ns > future_ns
    if not fut.any():
        return rec
    for i in np.flatnonzero(fut):
        reader.reject(rec.line[i], reader.fmt.timestamp,
                      pd.Timestamp(rec.time_ns[i], tz="UTC"), "timestamp is in the future",
                      tag=reader.keys[rec.key[i]].tag,
                      yielded=1 if rec.row_n is None else int(rec.row_n[i]), lost=1)
    rep.samples_quarantined += int(np.count_nonzero(fut))
    return rec.take(~fut)


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
