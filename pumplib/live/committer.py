"""Commit the write-ahead log into the raw lake at each minute's close, through batch ingest's code.

The committer turns the log's pending samples into the batch ingest's
:class:`~pumplib.ingest.readers.Records` with :class:`SampleReader` (a
:class:`~pumplib.ingest.readers.Reader` whose "file" is a frame of samples) and
hands it to the ingest's own per-file pipeline
(:func:`pumplib.ingest.core._ingest_file`): registry tag mapping, pint unit
conversion, the future-time check, grid snapping, de-duplication (the later of
two samples for one cell wins, the other is quarantined with its reason) and
the quarantine of values that are not numbers. There is no second
implementation of any of it.

Event time and commits
----------------------
The *watermark* is the latest event time the log has seen minus
``live.grace``. Time before the watermark, cut at a multiple of
``live.commit_every`` (the minute), is *closed*: :meth:`Committer.commit_due`
writes every pending sample before that cut (late samples of earlier minutes
too) as ONE Icechunk commit, then marks them committed in the log, which
deletes them. The cut is half a grid step before the minute, so a sample that
snaps to the minute's first cell waits for that minute's commit.

Durability and replay
---------------------
Before the lake commit the log records the commit in flight (its run id, cut
and last arrival number); after it, :meth:`SampleLog.mark_committed` deletes
what it held and clears that record, in one SQLite transaction. A crash in
between leaves the record: :meth:`Committer.recover` finds the run id in the
lake's history and marks the samples committed (the commit landed), or leaves
them pending (it did not) to be written again. Writing a cell again writes the
same value, so replay is idempotent either way. Writers to one store are
serialised by the lake (commit lock, rebase); a true conflict with another
writer (a batch ingest of the same chunk) is retried from the log.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import config
from ..assets import AssetRegistry
from ..errors import ConflictError, PumplibError
from ..ingest import core as _core
from ..ingest.core import FileReport
from ..ingest.readers import Reader
from ..lake import QUARANTINE_COLUMNS, Lake, cadence_seconds, new_run_id
from ..lakecare import parse_duration
from .payload import LIVE_FORMAT
from .wal import SampleLog

__all__ = ["Committer", "CommitReport", "SampleReader", "ingest_samples"]

log = logging.getLogger("pumplib.live")

#: hook called after each raw commit: ``hook(lake, start_ns, stop_ns)``
OnCommit = Callable[[Lake, int, int], None]

_MIN_NS = 60 * 10**9


class CommitError(PumplibError, RuntimeError):
    """A live commit could not be written; its samples stay in the log."""


@dataclass
class SampleReader(Reader):
    """A batch-ingest :class:`Reader` over a frame of live samples instead of a file.

    The frame has the log's columns (``tag, ts_ns, value, raw, seq``); each
    sample's arrival number (``seq``) stands for the file's line, so a
    quarantined sample names it. Numeric values and raw strings go through
    the reader's own value parser in two tables, raw strings (``"12.5"``,
    ``"Bad"``) as a CSV column would.
    """

    frame: pd.DataFrame | None = None

    def prepare(self) -> None:
        """Nothing to open: the samples are in memory."""

    def close(self) -> None:
        pass

    def __iter__(self):
        f = self.frame
        if f is None or not len(f):
            return
        raw = f["raw"].notna().to_numpy()
        step = max(int(self.batch_rows), 1)
        for part, is_raw in ((f[~raw], False), (f[raw], True)):
            for i in range(0, len(part), step):
                chunk = part.iloc[i:i + step]
                table = pa.table({
                    "tag": pa.array(chunk["tag"].to_numpy(dtype=object), type=pa.string()),
                    "ts": pa.array(chunk["ts_ns"].to_numpy(dtype=np.int64),
                                   type=pa.timestamp("ns", tz="UTC")),
                    "value": (pa.array(chunk["raw"].to_numpy(dtype=object), type=pa.string())
                              if is_raw else
                              pa.array(chunk["value"].to_numpy(dtype=np.float64),
                                       type=pa.float64(), from_pandas=False)),
                })
                self.stats.rows_read += table.num_rows
                rec = self._long(table, chunk["seq"].to_numpy(dtype=np.int64))
                if rec is not None and len(rec):
                    yield rec


def ingest_samples(tx, frame: pd.DataFrame, registry: AssetRegistry, cadence: str,
                   run_id: str, source: str = "live") -> tuple[FileReport, pd.DataFrame,
                                                               pd.DataFrame]:
    """Write a frame of samples into a lake transaction exactly as batch ingest writes a file.

    Parameters
    ----------
    tx : pumplib.lake.Transaction
    frame : pandas.DataFrame
        ``tag, ts_ns, value, raw, seq`` (and ``source``), in arrival order.
    registry : AssetRegistry
    cadence : str
        Lake grid to write to.
    run_id : str
        Names the quarantine rows.

    Returns
    -------
    (FileReport, quarantine, notes)
        The ingest's counts, the quarantined samples (``line`` is the arrival
        number, ``source`` where the sample came from) and the out-of-order notes.
    """
    rep = FileReport(path=source, format=LIVE_FORMAT.name, sha256="")
    batch_rows = int(config.get("ingest.batch_rows"))
    reader = SampleReader(Path(source), LIVE_FORMAT, registry, "UTC", batch_rows=batch_rows,
                          frame=frame)
    q, notes = _core._ingest_file(tx, Path(source), LIVE_FORMAT, registry, "UTC", cadence,
                                  batch_rows, rep, run_id, reader=reader)
    if len(q) and "source" in frame:
        src = dict(zip(frame["seq"].to_numpy(), frame["source"].to_numpy(), strict=True))
        q["source"] = [src.get(int(ln), source) for ln in q["line"]]
    return rep, q, notes


@dataclass
class CommitReport:
    """One live commit: its snapshot, what it held and how long it took."""

    snapshot: str | None
    run_id: str
    start_ns: int | None
    stop_ns: int
    samples: int
    ingested: int
    quarantined: int
    seconds: float
    retries: int = 0
    hooks_failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class Committer:
    """Write the log's closed minutes into the raw lake, one commit each time.

    Parameters
    ----------
    log : SampleLog
    store : str, path or Lake
    registry : AssetRegistry or path, optional
        Default: setting ``assets.registry``.
    cadence : str, optional
        Lake grid (default: ``live.cadence``, else inferred at the first commit
        and kept in the log).
    on_commit : sequence of callables, optional
        Called after each raw commit as ``hook(lake, start_ns, stop_ns)``: the
        earliest event time committed and the commit's exclusive upper bound.
        A hook that raises is logged and named in the report; the samples stay
        committed.
    """

    def __init__(self, log: SampleLog, store, registry=None, *, cadence: str | None = None,
                 grace=None, commit_every=None, on_commit: Sequence[OnCommit] = ()):
        self.log = log
        self.lake = store if isinstance(store, Lake) else Lake(store, create=True)
        self.registry = registry if isinstance(registry, AssetRegistry) else \
            AssetRegistry.load(registry)
        self.grace_ns = _ns(config.get("live.grace", override_with=grace), "live.grace")
        self.every_ns = _ns(config.get("live.commit_every", override_with=commit_every),
                            "live.commit_every")
        active = config.get("live.source_active")
        self.active_ns = None if parse_duration(active, "live.source_active") is None else \
            _ns(active, "live.source_active")
        if self.every_ns <= 0:
            raise PumplibError(f"live.commit_every must be a positive duration, got "
                               f"{config.get('live.commit_every')!r}")
        cad = cadence or config.get("live.cadence") or log.get_state("cadence")
        if cad is not None:
            cadence_seconds(cad)
        self.cadence: str | None = cad
        self.on_commit: list[OnCommit] = list(on_commit)
        #: the latest commits' reports (the last 100)
        self.reports: deque[CommitReport] = deque(maxlen=100)

    # -- when ---------------------------------------------------------------------------------
    def watermark(self) -> int | None:
        """Latest event time seen minus the grace (UTC ns), or None before any sample."""
        top = self.log.max_ts_ns(self.active_ns)
        return None if top is None else top - self.grace_ns

    def due_cut(self) -> int | None:
        """The commit window boundary the watermark has passed, or None."""
        wm = self.watermark()
        if wm is None:
            return None
        return (wm // self.every_ns) * self.every_ns

    def commit_due(self) -> CommitReport | None:
        """Commit everything before the last closed window, if anything is pending there."""
        cut = self.due_cut()
        if cut is None:
            return None
        return self.commit(cut)

    # -- commit ------------------------------------------------------------------------------
    def recover(self) -> str | None:
        """Settle a commit a crash interrupted; return its snapshot if it had landed."""
        rec = self.log.get_state("inflight")
        if rec is None:
            return None
        run_id, cut, seq = rec.split(" ")
        for c in self.lake.log(200):
            if c.metadata.get("run_id") == run_id:
                self.log.mark_committed(int(cut), c.snapshot, upto_seq=int(seq))
                log.info("live: commit %s had landed (%s); log truncated", run_id, c.snapshot)
                return c.snapshot
        self.log.set_state("inflight", None)
        log.info("live: commit %s had not landed; its samples are written again", run_id)
        return None

    def commit(self, cut: int | None = None) -> CommitReport | None:
        """Write pending samples with event time before ``cut`` (None: all) as one commit,
        or, past ``live.max_commit_samples``, as several (oldest windows first, so memory
        stays bounded after an outage of the lake); the hooks run after each.

        Returns the last commit's report; None when nothing was pending.
        """
        last = None
        while True:
            sub = self._bounded(cut)
            rep = self._commit_once(sub)
            last = rep or last
            if sub == cut or rep is None:
                return last

    def _bounded(self, cut: int | None) -> int | None:
        """``cut``, or an earlier window boundary that keeps a commit under the limit."""
        limit = int(config.get("live.max_commit_samples"))
        bound = None if cut is None or self.cadence is None else cut - self._half_step()
        if limit <= 0 or self.log.count_pending(bound) <= limit:
            return cut
        first, nth = self.log.ts_rank(0, bound), self.log.ts_rank(limit, bound)
        sub = (nth // self.every_ns) * self.every_ns
        if sub <= first:                         # one window holds more: it goes whole
            sub = (first // self.every_ns + 1) * self.every_ns
        return sub if cut is None or sub < cut else cut

    def _commit_once(self, cut: int | None) -> CommitReport | None:
        """One lake commit of what is pending before ``cut`` (see the module's notes)."""
        self.recover()
        t0 = time.perf_counter()
        if self.cadence is None:
            peek = self.log.pending(cut)
            if not len(peek):
                return None
            # the grid of the first samples, as batch ingest infers a file's (without those
            # it quarantines as future), kept with the log
            ts = peek["ts_ns"].to_numpy()
            limit = pd.Timestamp.now(tz="UTC") + pd.Timedelta(config.get(
                "ingest.future_tolerance"))
            self.cadence = _core._infer_cadence(ts[ts <= limit.value])
            self.log.set_state("cadence", self.cadence)
        bound = None if cut is None else cut - self._half_step()
        frame = self.log.pending(bound)
        rejects = self.log.rejects()
        seq = self.log.last_pending_seq
        if not len(frame) and not len(rejects):
            return None
        if cut is None:
            stop = int(frame["ts_ns"].max()) + 1 if len(frame) else 0
            mark = stop
        else:
            stop, mark = cut, bound
        run_id = new_run_id("live")
        self.log.set_state("inflight", f"{run_id} {mark} {seq}")
        tries = max(int(config.get("lake.redo_tries")), 0) + 3
        for attempt in range(tries + 1):
            try:
                rep, snap = self._write(frame, rejects, run_id, stop)
                break
            except ConflictError:
                if attempt == tries:
                    self.log.set_state("inflight", None)
                    raise
                time.sleep(0.05 * (attempt + 1))
        self.log.mark_committed(mark, snap or "", upto_seq=seq)
        start = int(frame["ts_ns"].min()) if len(frame) else None
        out = CommitReport(snapshot=snap, run_id=run_id, start_ns=start, stop_ns=stop,
                           samples=len(frame), ingested=rep.samples_ingested,
                           quarantined=rep.samples_quarantined + len(rejects),
                           seconds=time.perf_counter() - t0, retries=attempt)
        if snap is not None and start is not None:
            for hook in self.on_commit:
                try:
                    hook(self.lake, start, stop)
                except Exception as exc:  # noqa: BLE001 - a hook never undoes the commit
                    log.exception("live: on_commit hook %r failed", hook)
                    out.hooks_failed.append(f"{getattr(hook, '__name__', hook)}: {exc}")
        self.reports.append(out)
        return out

    def _half_step(self) -> int:
        return cadence_seconds(self.cadence) * 10**9 // 2

    def _write(self, frame: pd.DataFrame, rejects: pd.DataFrame, run_id: str, stop: int):
        sources = sorted(set(frame["source"])) if len(frame) else []
        start = int(frame["ts_ns"].min()) if len(frame) else None
        msg = (f"live: {len(frame)} samples from {len(sources)} source(s) up to "
               f"{pd.Timestamp(stop, tz='UTC').isoformat()}")
        meta = {"kind": "live", "run_id": run_id,
                "live": {"samples": len(frame), "sources": sources, "cadence": self.cadence,
                         "start": None if start is None else pd.Timestamp(start, tz="UTC")
                         .isoformat(), "stop": pd.Timestamp(stop, tz="UTC").isoformat(),
                         "log": str(self.log.path)}}
        with self.lake.transaction(msg, meta) as tx:
            if len(frame):
                rep, q, notes = ingest_samples(tx, frame, self.registry, self.cadence, run_id)
                if rep.status == "partial":
                    # the ingest broke off (e.g. a registry unit pint cannot convert): nothing
                    # is committed and the samples stay in the log until it is fixed
                    raise CommitError(f"live commit {run_id}: {rep.error}")
            else:
                rep = FileReport(path="live", format=LIVE_FORMAT.name, sha256="")
                q = notes = pd.DataFrame(columns=QUARANTINE_COLUMNS)
            if len(rejects):
                r = rejects.rename(columns={"seq": "line"}).assign(
                    run_id=run_id, asset=None, signal=None)
                q = pd.concat([q, r[QUARANTINE_COLUMNS]], ignore_index=True) if len(q) \
                    else r[QUARANTINE_COLUMNS]
            q = q.astype({"line": "int64"})
            tx.write_quarantine(run_id, q[QUARANTINE_COLUMNS].reset_index(drop=True),
                                {"run_id": run_id, "format": LIVE_FORMAT.name})
            if len(notes):
                tx.write_table(_core.NOTES_GROUP, run_id, notes,
                               {"run_id": run_id, "format": LIVE_FORMAT.name})
            tx.metadata["live"] = {**meta["live"], "ingested": rep.samples_ingested,
                                   "quarantined": int(len(q))}
        return rep, tx.snapshot


def _ns(value, key: str) -> int:
    td = parse_duration(value, key)
    return 0 if td is None else int(td.value)
