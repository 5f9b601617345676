"""Care of a lake: expire old history, delete orphan objects, check every array reads.

:meth:`pumplib.lake.Lake.gc` and :meth:`pumplib.lake.Lake.check` (and the
commands ``pumplib lake gc`` and ``pumplib lake check``) call the functions
here.

* **gc** first expires snapshots older than the retention (``lake.retention``):
  they leave the branch's history, except the branch tip, tagged snapshots and
  the repository's first commit. It then deletes the objects no branch or tag
  reaches any more (chunks, manifests, snapshots, transaction logs), and only
  those older than a grace period (``lake.gc_grace``), so the chunks a writer
  still running has written, not yet committed, survive. A process killed
  mid-write leaves such orphan chunks behind; gc is what frees them.
* **check** reads every array of the lake at the tip (or at every snapshot of
  the history): its metadata, and every chunk (``quick``: the chunk index only).

Examples
--------
>>> import numpy as np
>>> from pumplib.lake import Lake
>>> lake = Lake("memory://care-doc")
>>> with lake.transaction("demo") as tx:
...     _ = tx.write_block("1min", ["P1"], "flow", 0, np.array([[1.0, 2.0]]))
>>> lake.check().ok
True
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import icechunk
import numpy as np
import pandas as pd
import zarr

from . import config
from .errors import ConfigError, LakeError

if TYPE_CHECKING:
    from .lake import Lake


def parse_duration(value, key: str) -> pd.Timedelta | None:
    """A duration setting or option (``"30d"``, ``"1h"``, ``"0s"``) as a Timedelta.

    ``None``, ``"none"`` or ``"never"`` give None. Anything else that is not a
    non-negative duration raises :class:`~pumplib.errors.ConfigError` naming ``key``.
    """
    if isinstance(value, pd.Timedelta | dt.timedelta):
        out = pd.Timedelta(value)
        if out >= pd.Timedelta(0):
            return out
    text = "" if value is None else str(value).strip().lower()
    if text in ("none", "never", "null", ""):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|min|h|d|w)", text)
    if m is None:
        raise ConfigError(f"{key}: {value!r} is not a duration. Expected a number and one of "
                          "s, min, h, d, w (e.g. 30d, 12h, 90min, 0s), or none")
    return pd.Timedelta(float(m[1]) * _UNITS[m[2]], unit="s")


_UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass
class GCReport:
    """What :func:`gc` expired and deleted (or would, with ``dry_run``)."""

    store: str
    dry_run: bool
    retention: str | None
    grace: str
    #: snapshots that left the history (ids, oldest first)
    snapshots_expired: list[str] = field(default_factory=list)
    chunks_deleted: int = 0
    manifests_deleted: int = 0
    snapshots_deleted: int = 0
    attributes_deleted: int = 0
    transaction_logs_deleted: int = 0
    bytes_deleted: int = 0
    #: bytes of a local store's folder before and after (None for object stores)
    bytes_before: int | None = None
    bytes_after: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """One line saying what was freed."""
        verb = "would free" if self.dry_run else "freed"
        out = (f"{self.store}: {verb} {self.chunks_deleted:,} chunks, "
               f"{self.manifests_deleted:,} manifests, {self.snapshots_deleted:,} snapshots "
               f"({_bytes(self.bytes_deleted)}); "
               f"{len(self.snapshots_expired):,} snapshots "
               f"{'would expire' if self.dry_run else 'expired'}")
        if self.bytes_before is not None and self.bytes_after is not None:
            out += f"; store {_bytes(self.bytes_before)} → {_bytes(self.bytes_after)}"
        return out


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"


def folder_bytes(path: str | os.PathLike) -> int:
    """Bytes of every file under a folder (a local store's size on disk)."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _kept(lake: Lake, tips: bool = True) -> set[str]:
    """Snapshots a gc never takes out of the history: branch tips (unless ``tips`` is
    false), tagged snapshots, the first commit."""
    repo = lake.repo
    kept = {repo.lookup_branch(b) for b in repo.list_branches()} if tips else set()
    kept |= {repo.lookup_tag(t) for t in repo.list_tags()}
    kept |= {s.id for s in repo.ancestry(branch="main") if s.parent_id is None}
    return kept


def _to_expire(lake: Lake, cutoff: dt.datetime, tips: bool = True) -> list[str]:
    """Snapshots of the branches' and tags' histories written before ``cutoff``
    (oldest first), less those :func:`_kept` keeps."""
    repo, kept = lake.repo, _kept(lake, tips)
    seen: dict[str, dt.datetime] = {}
    refs = [{"branch": b} for b in repo.list_branches()] + [{"tag": t} for t in repo.list_tags()]
    for ref in refs:
        for s in repo.ancestry(**ref):
            if s.id not in kept and s.written_at < cutoff:
                seen[s.id] = s.written_at
    return sorted(seen, key=seen.get)


def gc(lake: Lake, *, older_than=None, grace=None, dry_run: bool = False) -> GCReport:
    """Expire snapshots older than ``older_than`` and delete unreferenced objects older
    than ``grace`` (see the module docstring); ``dry_run`` changes nothing.

    Parameters
    ----------
    lake : Lake
    older_than : str or Timedelta, optional
        History retention, e.g. ``"30d"`` (default: setting ``lake.retention``;
        ``"none"`` expires nothing).
    grace : str or Timedelta, optional
        Only objects older than this are deleted (default: setting ``lake.gc_grace``).
    dry_run : bool
        Report what would be expired and deleted. The objects counted are those no
        snapshot reaches now: the ones the expiry would free come on top.
    """
    if lake.url.startswith("memory://"):
        raise LakeError(f"{lake.url}: an in-memory lake has nothing to collect")
    ret_key = "lake.retention" if older_than is None else "--older-than"
    retention = parse_duration(config.get("lake.retention", override_with=older_than), ret_key)
    grace_key = "lake.gc_grace" if grace is None else "--grace"
    grace_td = parse_duration(config.get("lake.gc_grace", override_with=grace), grace_key)
    grace_td = pd.Timedelta(0) if grace_td is None else grace_td
    now = _now()
    local = lake._local_root()
    rep = GCReport(store=lake.url, dry_run=dry_run,
                   retention=None if retention is None else str(older_than or
                                                               config.get("lake.retention")),
                   grace=str(grace if grace is not None else config.get("lake.gc_grace")),
                   bytes_before=folder_bytes(local) if local is not None else None)
    try:
        if retention is not None:
            cutoff = now - retention.to_pytimedelta()
            if _to_expire(lake, cutoff):
                # the record of what expires becomes the tip, so the old tip expires too
                rep.snapshots_expired = _to_expire(lake, cutoff, tips=False)
                if not dry_run:
                    _keep_record(lake, rep.snapshots_expired)
                    with lake._commit_lock():   # no commit lands while history is rewritten
                        lake.repo.expire_snapshots(cutoff)
        summary = lake.repo.garbage_collect(now - grace_td.to_pytimedelta(), dry_run=dry_run)
    except icechunk.IcechunkError as exc:
        from .lake import _first_line

        raise LakeError(f"{lake.url}: gc failed: {_first_line(exc)}") from None
    for name in ("chunks_deleted", "manifests_deleted", "snapshots_deleted",
                 "attributes_deleted", "transaction_logs_deleted", "bytes_deleted"):
        setattr(rep, name, int(getattr(summary, name)))
    rep.bytes_after = (folder_bytes(local) if local is not None and not dry_run
                       else rep.bytes_before)
    return rep


#: lake group of the records of expired commits (see :func:`_keep_record`)
HISTORY_GROUP = "expired_history"


def _keep_record(lake: Lake, expiring: list[str]) -> None:
    """Commit a table of the commits about to expire (id, time, message, metadata as
    JSON) to ``expired_history/<run id>``: the history forgets them, the lake does not
    (:meth:`pumplib.lake.Lake.source_hashes` still knows the files they ingested, so
    an old file given again is still skipped)."""
    import json

    from .lake import new_run_id

    rows = []
    for sid in expiring:
        info = lake.repo.lookup_snapshot(sid)
        rows.append({"snapshot": info.id, "written_at": info.written_at.isoformat(),
                     "message": info.message,
                     "metadata": json.dumps(dict(info.metadata or {}), default=str)})
    run_id = new_run_id("gc")
    with lake.transaction(f"gc: record of {len(rows)} expiring commit(s)",
                          {"kind": "gc", "run_id": run_id}) as tx:
        tx.write_table(HISTORY_GROUP, run_id, pd.DataFrame(rows), {"kind": "expired_history"})


@dataclass
class CheckReport:
    """What :func:`check` read, and what it could not."""

    store: str
    snapshots: list[str]
    arrays: int = 0
    chunks: int = 0
    #: one line per broken array: ``path at snapshot ID: reason``
    broken: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}

    def line(self) -> str:
        state = "sound" if self.ok else f"{len(self.broken)} broken array(s)"
        return (f"{self.store}: {state}: {self.arrays:,} arrays, {self.chunks:,} chunks read "
                f"in {len(self.snapshots)} snapshot(s)")


def check(lake: Lake, *, all_snapshots: bool = False, quick: bool = False) -> CheckReport:
    """Read every array of the lake at the branch tip (or at every snapshot of its history).

    Each array's metadata is decoded and every chunk read and decoded (``quick``:
    the chunks are listed, not read). An array that fails goes to
    :attr:`CheckReport.broken` with the snapshot and the reason, one line each.
    """
    from .lake import _first_line, open_root

    snaps = [c.snapshot for c in lake.log()] if all_snapshots else [lake.tip()]
    rep = CheckReport(store=lake.url, snapshots=snaps)
    for snap in snaps:
        try:
            root = open_root(lake.repo.readonly_session(snapshot_id=snap).store, "r")
            members = list(root.members(max_depth=None))
        except Exception as exc:   # noqa: BLE001 (any failure is a finding, named)
            rep.broken.append(f"/ at snapshot {snap}: {_first_line(exc)}")
            continue
        for path, node in sorted(members, key=lambda m: m[0]):
            if not isinstance(node, zarr.Array):
                continue
            rep.arrays += 1
            try:
                rep.chunks += _read_array(node, quick)
            except Exception as exc:   # noqa: BLE001
                rep.broken.append(f"{path} at snapshot {snap}: {_first_line(exc)}")
    return rep


#: bytes read at once by :func:`check` (a run of chunks of one array)
_BAND_BYTES = 64 << 20


def _read_array(arr: zarr.Array, quick: bool) -> int:
    """Read (or, ``quick``, list) every chunk of ``arr``; the number of chunks stored.

    Chunks are read in runs along the last axis of at most :data:`_BAND_BYTES`, so
    memory stays bounded whatever the array's size.
    """
    stored = int(arr.nchunks_initialized)
    if quick or arr.size == 0:
        return stored
    if arr.ndim == 0:
        np.asarray(arr[...])
        return stored
    try:
        item = int(np.dtype(arr.dtype).itemsize) or 16
    except TypeError:
        item = 16
    per = max(1, _BAND_BYTES // max(int(np.prod(arr.chunks)) * item, 1))
    span = per * arr.chunks[-1]
    grid = [range(0, n, c) for n, c in zip(arr.shape[:-1], arr.chunks[:-1], strict=True)]
    for starts in itertools.product(*grid):
        sel = tuple(slice(s, s + c) for s, c in zip(starts, arr.chunks[:-1], strict=True))
        for lo in range(0, arr.shape[-1], span):
            np.asarray(arr[(*sel, slice(lo, lo + span))])
    return stored
