"""The live path's local write-ahead log: samples are durable here before the broker is told.

A :class:`SampleLog` is one SQLite database in WAL mode with ``synchronous=FULL``:
:meth:`SampleLog.append` returns only after the transaction holding the samples
is fsync'd, so a sample acknowledged to the broker after ``append`` returned
survives ``kill -9`` and a power cut. Samples are keyed on ``(tag, ts_ns)``: a
redelivered sample (QoS 1 delivers at least once) is not stored twice. A
sample whose key is already stored with another value is a *conflicting
duplicate*; it is kept aside and handed to the committer, which quarantines it
with its reason, as batch ingest does with two rows of a file that disagree.

The committer reads :meth:`SampleLog.pending`, writes those samples into the
raw lake as one commit, then calls :meth:`SampleLog.mark_committed`, which
records the commit and deletes what it covered. A crash between the lake
commit and ``mark_committed`` leaves the samples pending: the next commit
writes the same cells again, which gives the same lake (replay is idempotent).

>>> import tempfile, pathlib
>>> log = SampleLog(pathlib.Path(tempfile.mkdtemp()) / "wal.sqlite")
>>> log.append([Sample("P1.flow", 1_700_000_000_000_000_000, 12.5)], source="mqtt:st1")
1
>>> log.append([Sample("P1.flow", 1_700_000_000_000_000_000, 12.5)], source="mqtt:st1")
0
>>> log.pending(upto_ns=1_700_000_060_000_000_000)[["tag", "value", "source"]]
       tag  value    source
0  P1.flow   12.5  mqtt:st1
>>> log.mark_committed(1_700_000_060_000_000_000, snapshot="1CECHNKREP0F1RSTCMT0")
>>> log.stats()["depth"]
0
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import config
from ..errors import PumplibError

__all__ = ["Sample", "SampleLog", "PENDING_COLUMNS"]

#: columns of :meth:`SampleLog.pending`
PENDING_COLUMNS = ("tag", "ts_ns", "value", "raw", "source", "seq", "conflict")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    tag TEXT NOT NULL, ts_ns INTEGER NOT NULL, value REAL, raw TEXT,
    source TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (tag, ts_ns)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conflicts (
    seq INTEGER PRIMARY KEY, tag TEXT NOT NULL, ts_ns INTEGER NOT NULL, value REAL, raw TEXT,
    source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY, received INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0, conflicts INTEGER NOT NULL DEFAULT 0,
    first_wall_ns INTEGER, last_wall_ns INTEGER, max_ts_ns INTEGER);
CREATE TABLE IF NOT EXISTS commits (
    id INTEGER PRIMARY KEY, upto_ns INTEGER NOT NULL, snapshot TEXT NOT NULL,
    samples INTEGER NOT NULL, wall_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS rejects (
    seq INTEGER PRIMARY KEY, source TEXT NOT NULL, wall_ns INTEGER NOT NULL, topic TEXT,
    raw TEXT, reason TEXT NOT NULL, timestamp TEXT, tag TEXT, UNIQUE (source, topic, raw, reason));
"""


class LogError(PumplibError, OSError):
    """The write-ahead log cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one historian tag at one moment, as a live source delivers it.

    Parameters
    ----------
    tag : str
        Historian tag, mapped to asset and signal by the asset registry
        (:meth:`pumplib.assets.AssetRegistry.tag`).
    ts_ns : int
        Event time, UTC epoch nanoseconds.
    value : float or None
        Numeric value in the tag's source unit; ``None`` is an empty value.
    raw : str, optional
        A value that was not a number, kept as received; it is quarantined
        downstream with its reason (``value`` is then ``None``).
    """

    tag: str
    ts_ns: int
    value: float | None
    raw: str | None = None


def _num(v) -> float | None:
    """A value as SQLite keeps it: a float, or None for empty (NaN too)."""
    if v is None or type(v) is float and v == v:
        return v
    v = float(v)
    return None if math.isnan(v) else v


def _now_ns() -> int:
    return time.time_ns()


class SampleLog:
    """Local write-ahead log of live samples (SQLite, WAL mode, ``synchronous=FULL``).

    Safe to share between threads of one process (one connection behind a
    lock). Several processes may read it (:func:`read_stats`); one writes.

    Parameters
    ----------
    path : str or os.PathLike
        The database file; its folder is created.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                       timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            # the WAL file is cut back to this size after each checkpoint
            self._db.execute("PRAGMA journal_size_limit=67108864")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise LogError(f"write-ahead log {self.path}: {exc}") from None
        self._seq = row[0] if row else 0
        self._lock = threading.Lock()
        self._pending_seq: int | None = None
        # a sample stamped further in the future than batch ingest accepts does not move
        # the source's latest time (it is quarantined at the commit, as in batch)
        self._future_ns = int(pd.Timedelta(config.get("ingest.future_tolerance")).value)

    # -- writing ---------------------------------------------------------------------------

    def append(self, samples: Sequence[Sample], source: str) -> int:
        """Store samples durably; return how many were new.

        The samples are on disk (fsync'd) when this returns. A sample whose
        ``(tag, ts_ns)`` is already pending with the same value (or the same
        raw text) is a redelivery and is not stored again; one with another
        value is kept as a conflicting duplicate (see :meth:`pending`).

        Parameters
        ----------
        samples : sequence of Sample
        source : str
            Where they came from (``mqtt:<station>``, ``opcua:<endpoint>``…),
            counted per source in :meth:`stats`.
        """
        return self.append_batches({source: samples})

    def append_batches(self, batches: Mapping[str, Sequence[Sample]],
                       rejects: Sequence[tuple[str, dict]] = ()) -> int:
        """:meth:`append` of several sources and the rejects of their messages, in one
        durable transaction (one fsync); return how many samples were new.

        Parameters
        ----------
        batches : mapping of source → samples
        rejects : sequence of (source, dict)
            What could not become a sample: dicts with ``column`` (the topic),
            ``raw``, ``reason``, ``timestamp`` and ``tag``; the next commit writes
            them to the lake's quarantine. The same reject twice is kept once.
        """
        if not any(batches.values()) and not rejects:
            return 0
        now = _now_ns()
        new = 0
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                # another process may append to the same log: number on from what it wrote
                row = db.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
                self._seq = row[0] if row else 0
                for source, samples in batches.items():
                    if samples:
                        new += self._append(source, samples, now)
                for source, r in rejects:
                    self._seq += 1
                    db.execute("INSERT OR IGNORE INTO rejects VALUES (?,?,?,?,?,?,?,?)",
                               (self._seq, source, now, r.get("column"), r.get("raw"),
                                r["reason"], r.get("timestamp"), r.get("tag")))
                db.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (self._seq,))
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                self._seq = db.execute("SELECT coalesce(max(value), 0) FROM meta"
                                       " WHERE key='seq'").fetchone()[0]
                if isinstance(exc, sqlite3.Error):
                    raise LogError(f"write-ahead log {self.path}: {exc}") from None
                raise
        return new

    def _append(self, source: str, samples: Sequence[Sample], now: int) -> int:
        db = self._db
        seq0 = self._seq
        rows = [(s.tag, int(s.ts_ns), _num(s.value), s.raw, source, i)
                for i, s in enumerate(samples, start=seq0 + 1)]
        before = db.total_changes
        db.executemany("INSERT OR IGNORE INTO samples VALUES (?,?,?,?,?,?)", rows)
        new = db.total_changes - before
        conflicts = self._conflicts(rows) if new < len(rows) else 0
        dups = len(rows) - new - conflicts
        self._seq = seq0 + len(rows)
        db.execute(
            "INSERT INTO sources (source, received, duplicates, conflicts, first_wall_ns,"
            " last_wall_ns, max_ts_ns) VALUES (?,?,?,?,?,?,?) ON CONFLICT(source) DO UPDATE"
            " SET received=received+excluded.received,"
            " duplicates=duplicates+excluded.duplicates,"
            " conflicts=conflicts+excluded.conflicts, last_wall_ns=excluded.last_wall_ns,"
            " max_ts_ns=max(coalesce(max_ts_ns, excluded.max_ts_ns),"
            " coalesce(excluded.max_ts_ns, max_ts_ns))",
            (source, len(rows), dups, conflicts, now, now,
             max((r[1] for r in rows if r[1] <= now + self._future_ns), default=None)))
        return new

    def _conflicts(self, rows: list[tuple]) -> int:
        """Keep rows whose key is stored with another value; return their count."""
        db = self._db
        n = 0
        for tag, ts, v, raw, source, seq in rows:
            got = db.execute("SELECT value, raw, seq FROM samples WHERE tag=? AND ts_ns=?",
                             (tag, ts)).fetchone()
            if got is None or got[2] == seq:
                continue
            if got[0] == v and got[1] == raw or (got[0] is None and v is None and got[1] == raw):
                continue
            db.execute("INSERT INTO conflicts VALUES (?,?,?,?,?,?)", (seq, tag, ts, v, raw, source))
            n += 1
        return n

    # -- the committer's side --------------------------------------------------------------

    def pending(self, upto_ns: int | None = None) -> pd.DataFrame:
        """Samples not yet committed to the lake, event time before ``upto_ns``.

        Parameters
        ----------
        upto_ns : int, optional
            Exclusive upper bound of event time (UTC ns); ``None``: all.

        Returns
        -------
        pandas.DataFrame
            Columns ``tag, ts_ns, value, raw, source, seq, conflict`` in
            arrival order (``seq``); ``conflict`` is True for a conflicting
            duplicate (a second, different value for a stored key).
        """
        bound = "seq <= ?" + ("" if upto_ns is None else " AND ts_ns < ?")
        with self._lock:
            db = self._db
            # one read transaction: the arrival number and the rows agree, also when
            # another process appends (the committer may run in a process of its own)
            db.execute("BEGIN")
            try:
                row = db.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
                seq = row[0] if row else 0
                args = (seq,) if upto_ns is None else (seq, int(upto_ns))
                a = db.execute("SELECT tag, ts_ns, value, raw, source, seq FROM samples"
                               f" WHERE {bound}", args).fetchall()
                b = db.execute("SELECT tag, ts_ns, value, raw, source, seq FROM conflicts"
                               f" WHERE {bound}", args).fetchall()
            finally:
                db.execute("COMMIT")
            self._pending_seq = seq
        rows = a + b
        n = len(rows)
        cols = list(zip(*rows, strict=True)) if n else [()] * 6
        seq = np.fromiter(cols[5], dtype=np.int64, count=n)
        order = np.argsort(seq, kind="stable")       # arrival order
        conflict = np.zeros(n, dtype=bool)
        conflict[len(a):] = True
        return pd.DataFrame({
            "tag": np.array(cols[0], dtype=object)[order],
            "ts_ns": np.fromiter(cols[1], dtype=np.int64, count=n)[order],
            "value": np.array(cols[2], dtype=np.float64)[order],   # None → NaN
            "raw": np.array(cols[3], dtype=object)[order],
            "source": np.array(cols[4], dtype=object)[order],
            "seq": seq[order], "conflict": conflict[order]})

    def mark_committed(self, upto_ns: int, snapshot: str, *, upto_seq: int | None = None) -> None:
        """Record a lake commit and delete the samples it holds.

        Deletes samples with event time before ``upto_ns`` that arrived no later
        than the last :meth:`pending` call (or ``upto_seq``), so a sample
        appended while the commit was being written stays pending.

        Parameters
        ----------
        upto_ns : int
            The ``upto_ns`` given to :meth:`pending`.
        snapshot : str
            The lake snapshot that holds them.
        upto_seq : int, optional
            Last arrival number covered; default: as of the last :meth:`pending`.
        """
        with self._lock:
            seq = upto_seq if upto_seq is not None else self._pending_seq
            db = self._db
            if seq is None:
                row = db.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
                seq = row[0] if row else 0
            try:
                db.execute("BEGIN IMMEDIATE")
                n = db.execute("DELETE FROM samples WHERE ts_ns < ? AND seq <= ?",
                               (int(upto_ns), seq)).rowcount
                n += db.execute("DELETE FROM conflicts WHERE ts_ns < ? AND seq <= ?",
                                (int(upto_ns), seq)).rowcount
                db.execute("DELETE FROM rejects WHERE seq <= ?", (seq,))
                db.execute("DELETE FROM state WHERE key='inflight'")
                db.execute("INSERT INTO commits (upto_ns, snapshot, samples, wall_ns)"
                           " VALUES (?,?,?,?)", (int(upto_ns), str(snapshot), n, _now_ns()))
                db.execute("DELETE FROM commits WHERE id <= (SELECT max(id) FROM commits) - 1000")
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise LogError(f"write-ahead log {self.path}: {exc}") from None
            # copy the WAL into the database when no reader holds it back (SQLite also
            # does so every 1000 pages); journal_size_limit then cuts the WAL file back
            with _suppress():
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def rejects(self) -> pd.DataFrame:
        """Messages that held no sample (as of the last :meth:`pending`), oldest first:
        ``seq, source, wall_ns, column, raw, reason, timestamp, tag``."""
        with self._lock:
            seq = self._pending_seq if self._pending_seq is not None else self._seq
            rows = self._db.execute(
                "SELECT seq, source, wall_ns, topic, raw, reason, timestamp, tag FROM rejects"
                " WHERE seq <= ? ORDER BY seq", (seq,)).fetchall()
        return pd.DataFrame(rows, columns=["seq", "source", "wall_ns", "column", "raw", "reason",
                                           "timestamp", "tag"])

    def get_state(self, key: str) -> str | None:
        """A small text value kept with the log (cadence, the commit in flight…)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_state(self, key: str, value: str | None) -> None:
        """Set (or, with None, delete) a state value, durably."""
        with self._lock:
            if value is None:
                self._db.execute("DELETE FROM state WHERE key=?", (key,))
            else:
                self._db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, str(value)))

    def count_pending(self, upto_ns: int | None = None) -> int:
        """Samples pending with event time before ``upto_ns`` (None: all)."""
        where, args = ("", ()) if upto_ns is None else (" WHERE ts_ns < ?", (int(upto_ns),))
        with self._lock:
            return self._db.execute(f"SELECT count(*) FROM samples{where}", args).fetchone()[0]

    def ts_rank(self, k: int, upto_ns: int | None = None) -> int | None:
        """Event time of the ``k``-th oldest pending sample (0: the oldest), or None."""
        where, args = ("", ()) if upto_ns is None else (" WHERE ts_ns < ?", (int(upto_ns),))
        with self._lock:
            row = self._db.execute(f"SELECT ts_ns FROM samples{where} ORDER BY ts_ns LIMIT 1"
                                   " OFFSET ?", (*args, int(k))).fetchone()
        return None if row is None else row[0]

    def last_seq(self) -> int:
        """Arrival number of the last thing appended (by any process); 0 before any."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
        return row[0] if row else 0

    @property
    def last_pending_seq(self) -> int | None:
        """Arrival number up to which the last :meth:`pending` read."""
        return self._pending_seq

    def max_ts_ns(self, active_ns: int | None = None) -> int | None:
        """The watermark's base: the latest event time of the source that is furthest
        behind among those that sent something within the last ``active_ns`` of wall
        time (None: the latest event time of any source); None before any sample.

        A source whose clock lags (or that forwards a backlog) holds the minutes back
        rather than seeing its samples arrive late; a silent source holds back nothing.
        Samples stamped beyond ``ingest.future_tolerance`` from now never count.
        """
        with self._lock:
            if active_ns is None:
                row = self._db.execute("SELECT max(max_ts_ns) FROM sources").fetchone()
            else:
                row = self._db.execute(
                    "SELECT CASE WHEN count(*) THEN min(max_ts_ns) END FROM sources"
                    " WHERE max_ts_ns IS NOT NULL AND last_wall_ns >= ?",
                    (_now_ns() - int(active_ns),)).fetchone()
                if row is None or row[0] is None:
                    row = self._db.execute("SELECT max(max_ts_ns) FROM sources").fetchone()
        return row[0] if row else None

    def stats(self) -> dict:
        """Size, depth, last commit and per-source counts (see :func:`read_stats`)."""
        with self._lock:
            return _stats(self._db, self.path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SampleLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        return typ is not None and issubclass(typ, sqlite3.Error)


def _stats(db: sqlite3.Connection, path: Path) -> dict:
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
               if p.exists())
    depth, oldest, newest = db.execute(
        "SELECT count(*), min(ts_ns), max(ts_ns) FROM samples").fetchone()
    (conflicts,) = db.execute("SELECT count(*) FROM conflicts").fetchone()
    last = db.execute("SELECT upto_ns, snapshot, samples, wall_ns FROM commits"
                      " ORDER BY id DESC LIMIT 1").fetchone()
    (ncommits,) = db.execute("SELECT count(*) FROM commits").fetchone()
    (nrejects,) = db.execute("SELECT count(*) FROM rejects").fetchone()
    state = dict(db.execute("SELECT key, value FROM state").fetchall())
    sources = {}
    for src, rec, dup, conf, first, lastw, mts in db.execute(
            "SELECT source, received, duplicates, conflicts, first_wall_ns, last_wall_ns,"
            " max_ts_ns FROM sources ORDER BY source"):
        span = (lastw - first) / 1e9 if first is not None and lastw is not None else 0.0
        sources[src] = {"received": rec, "duplicates": dup, "conflicts": conf,
                        "first_wall_ns": first, "last_wall_ns": lastw, "max_ts_ns": mts,
                        "rate_per_s": rec / span if span > 0 else None}
    return {
        "path": str(path), "size_bytes": size, "depth": depth + conflicts,
        "conflicts": conflicts, "oldest_ts_ns": oldest, "newest_ts_ns": newest,
        "commits": ncommits, "rejects": nrejects, "state": state,
        "last_commit": None if last is None else {
            "upto_ns": last[0], "snapshot": last[1], "samples": last[2], "wall_ns": last[3]},
        "sources": sources,
    }


def read_stats(path: str | os.PathLike) -> dict | None:
    """:meth:`SampleLog.stats` of a log another process writes, read only; None if none.

    Opens the database read-only: reading creates nothing (no log, no folder).
    """
    path = Path(path)
    if not path.is_file():
        return None
    # with no writer running (no -wal file) the database is read as immutable, so SQLite
    # creates no -wal/-shm files beside it; with one, they exist already
    live = Path(f"{path}-wal").exists()
    mode = "mode=ro" if live else "mode=ro&immutable=1"
    try:
        db = sqlite3.connect(f"file:{path}?{mode}", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise LogError(f"write-ahead log {path}: {exc}") from None
    try:
        return _stats(db, path)
    except sqlite3.Error as exc:
        raise LogError(f"write-ahead log {path}: {exc}") from None
    finally:
        db.close()
