"""The raw lake: an Icechunk repository of Zarr v3 groups, one per cadence.

Layout of one store root (local folder, ``s3://bucket/prefix`` or ``memory://``)::

    raw/<cadence>/            xarray Dataset, dims (asset, time)
        asset  (asset)        asset ids (str)
        time   (time)         int64 seconds since 1970-01-01 UTC, regular grid
        <signal> (asset, time)     float64, canonical units, NaN = missing
        <signal>_sq (asset, time)  int16 source quality code, -1 = none
    quarantine/<run_id>       rejected rows of one ingest (a Parquet blob) + attrs

Every write goes through :meth:`Lake.transaction`, which is one Icechunk
commit: readers only ever see committed snapshots, and a process killed
mid-write leaves the branch at its last commit. The commit metadata names the
sources and parameters of the write; that is the lineage.

The time grid of a cadence is anchored at the Unix epoch and chunked in spans
of ``lake.chunk_samples`` steps, so chunk boundaries never move: data later
than the grid extends it, earlier data prepends whole chunks.

Examples
--------
>>> lake = Lake("memory://")
>>> with lake.transaction("demo", {"kind": "example"}) as tx:
...     _ = tx.write_block("1min", ["P1"], "flow", 0, np.array([[1.0, 2.0]]))
>>> lake.open_raw("1min").flow.values.tolist()
[[1.0, 2.0]]
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import io
import json
import os
import random
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import icechunk
import numpy as np
import pandas as pd
import xarray as xr
import zarr

from . import config
from . import signals as _signals
from .errors import ConflictError, LakeError, UnknownNameError, choices_message
from .lakeio import (  # noqa: F401  (re-exported: callers import them from here)
    _CF_KEYS,
    RAW_BLOCKSIZE,
    RAW_CODEC,
    RAW_CODECS,
    _empty_root,
    _get_rows,
    _open_grid,
    _remember_grid,
    _remember_session,
    _row_slice,
    _set_rows,
    _unstack_columns,
    cached_session,
    open_root,
    open_root_async,
    opened_grid,
    raw_compressor,
)

BRANCH = "main"
SQ_FILL = -1
EPOCH_UNITS = "seconds since 1970-01-01T00:00:00"

with contextlib.suppress(Exception):  # older icechunk builds lack the filter
    icechunk.set_logs_filter("error")


def cadence_seconds(cadence: str) -> int:
    """Seconds of one step of ``cadence`` (``"1s"``, ``"1min"``, ``"1h"``…)."""
    allowed = config.get("lake.cadences")
    if cadence not in allowed:
        raise UnknownNameError(choices_message("cadence", cadence, allowed))
    return int(pd.Timedelta(cadence).total_seconds())


def snap_cadence(step_seconds: float) -> str:
    """The allowed cadence nearest (in log scale) to a sampling step."""
    allowed = config.get("lake.cadences")
    secs = np.array([pd.Timedelta(c).total_seconds() for c in allowed])
    step = max(float(step_seconds), 1e-3)
    return allowed[int(np.argmin(np.abs(np.log(secs) - np.log(step))))]


# -- store URLs ---------------------------------------------------------------
def _local_path(url: str) -> Path | None:
    """The folder of a local store URL (``./path``, ``file:///path``); None for others."""
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file") or re.match(r"^[A-Za-z]:[\\/]", url):
        return Path(parsed.path if scheme == "file" else url).expanduser().resolve()
    return None


def _first_line(exc: Exception) -> str:
    """An Icechunk error's message without its trace context (one line)."""
    lines = [ln.strip(" |x`->") for ln in str(exc).splitlines()]
    return next((ln for ln in lines if ln), type(exc).__name__)


def _no_lake_message(url: str, from_settings: bool) -> str:
    local = _local_path(url)
    where = f"no lake at {str(local) if local is not None else url!r}"
    if from_settings:
        where += f" ({config.describe_path('store.url')})"
    return (f"{where}: run `pumplib demo` (or `pumplib ingest`) to create it, or point "
            f"PUMPLIB_STORE__URL or --store at an existing lake")


def storage_for(url: str | os.PathLike) -> icechunk.Storage:
    """Normalise a store URL once, at the boundary, into Icechunk storage.

    ``./path`` or ``file:///path``: a local folder. ``memory://``: in memory
    (tests). ``s3://bucket/prefix[?endpoint_url=http://host:port]``: S3 or an
    S3-compatible server; credentials from the ``AWS_*`` variables.
    """
    url = os.fspath(url)
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if (local := _local_path(url)) is not None:
        return icechunk.local_filesystem_storage(str(local))
    if scheme == "memory":
        return icechunk.in_memory_storage()
    if scheme == "s3":
        if not parsed.netloc:
            raise LakeError(f"store URL {os.fspath(url)!r} names no bucket: use "
                            "s3://BUCKET/PREFIX[?endpoint_url=http://host:port]")
        q = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        endpoint = q.get("endpoint_url") or config.get("store.endpoint_url")
        allow_http = bool(endpoint and endpoint.startswith("http://")) or bool(
            config.get("store.allow_http"))
        return icechunk.s3_storage(
            bucket=parsed.netloc, prefix=parsed.path.lstrip("/") or None,
            region=q.get("region") or config.get("store.region"), endpoint_url=endpoint,
            allow_http=allow_http, force_path_style=bool(endpoint),
            access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
            secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
            anonymous=False if os.environ.get("AWS_ACCESS_KEY_ID") else None,
            from_env=None if os.environ.get("AWS_ACCESS_KEY_ID") else True,
        )
    raise LakeError(
        f"store URL {url!r} has an unsupported scheme {scheme!r}. "
        "Valid choices: a local path, 'file://', 's3://', 'memory://'")


_MEMORY_REPOS: dict[str, icechunk.Repository] = {}


def snapshot_session(url: str, snapshot: str):
    """The read-only session of the lake at ``url`` at ``snapshot``: the one a
    :class:`Lake` of this process opened already, else a new one."""
    return cached_session(url, snapshot) or Lake(url, create=False).session(snapshot)


def redo_on_conflict(fn=None, *, tries: int | None = None):
    """Run a writer again when its commit met a true conflict (decorator or call).

    :meth:`Lake.transaction` rebases a commit over the commits other writers made
    meanwhile; only where both wrote the same chunk or array metadata (two
    feature builds of the same levels, say) does it raise
    :class:`~pumplib.errors.ConflictError`. A writer decorated with this is then
    run again from the start, on top of the other's commit (it reads the new
    tip), up to ``tries`` times (default: setting ``lake.redo_tries``); the last
    conflict is raised as it is.

    Examples
    --------
    >>> @redo_on_conflict
    ... def write(lake):
    ...     with lake.transaction("demo") as tx:
    ...         tx.write_block("1min", ["P1"], "flow", 0, np.array([[1.0]]))
    """
    if fn is None:
        return functools.partial(redo_on_conflict, tries=tries)

    @functools.wraps(fn)
    def again(*args, **kwargs):
        n = max(int(config.get("lake.redo_tries") if tries is None else tries), 0)
        for attempt in range(n + 1):
            try:
                return fn(*args, **kwargs)
            except ConflictError:
                if attempt == n:
                    raise
                time.sleep(0.05 * (attempt + 1) * (1 + random.random()))
        raise AssertionError("unreachable")

    return again


@dataclass(frozen=True)
class Commit:
    """One entry of the lake's history."""

    snapshot: str
    written_at: dt.datetime
    message: str
    metadata: dict

    def as_dict(self) -> dict:
        return {"snapshot": self.snapshot, "written_at": self.written_at.isoformat(),
                "message": self.message, "metadata": self.metadata}


class Lake:
    """A versioned store of raw pump-station data.

    Parameters
    ----------
    url : str or path, optional
        Store location; defaults to the ``store.url`` setting.
    create : bool
        Create the repository if it does not exist (default False: reading never
        creates anything; ingest and the main job create the lake they write).
    """

    def __init__(self, url: str | os.PathLike | None = None, *, create: bool = False):
        self.url = os.fspath(config.get("store.url", override_with=url))
        if not create and _local_path(self.url) is not None \
                and not (_local_path(self.url) / "refs").is_dir():
            raise LakeError(_no_lake_message(self.url, url is None))
        storage = storage_for(self.url)
        try:
            if self.url.startswith("memory://"):
                # one in-memory repository per URL within a process
                if self.url not in _MEMORY_REPOS:
                    _MEMORY_REPOS[self.url] = icechunk.Repository.create(storage)
                self.repo = _MEMORY_REPOS[self.url]
            elif create:
                self.repo = self._open_or_create(storage)
            else:
                self.repo = icechunk.Repository.open(storage)
        except icechunk.IcechunkError as exc:
            try:
                missing = not create and not icechunk.Repository.exists(storage)
            except icechunk.IcechunkError:      # the storage itself is unreachable
                missing = False
            if missing:
                raise LakeError(_no_lake_message(self.url, url is None)) from None
            raise LakeError(f"cannot open the lake at {self.url!r}: {_first_line(exc)}") \
                from None

    def _open_or_create(self, storage: icechunk.Storage) -> icechunk.Repository:
        """Open the repository, creating it when there is none.

        Two processes creating one store at once race on its first branch
        reference ("branch update conflict"), or one finds the other's half-made
        repository ("can only be created in clean prefixes"), although the
        repository it wanted exists a moment later. It opens that one instead
        (after a short, random wait, ``lake.open_tries`` times at most).
        """
        tries = max(int(config.get("lake.open_tries")), 1)
        for attempt in range(tries):
            try:
                return icechunk.Repository.open_or_create(storage)
            except icechunk.IcechunkError:
                if attempt == tries - 1:
                    raise
                time.sleep(0.05 * (attempt + 1) * (1 + random.random()))
                with contextlib.suppress(icechunk.IcechunkError):
                    if icechunk.Repository.exists(storage):
                        return icechunk.Repository.open(storage)
        raise AssertionError("unreachable")

    def __repr__(self) -> str:
        return f"Lake({self.url!r})"

    # -- reading ------------------------------------------------------------
    def session(self, snapshot: str | None = None, as_of: dt.datetime | None = None):
        """A read-only Icechunk session at a snapshot, a time, or the branch tip."""
        if snapshot is not None and (got := cached_session(self.url, snapshot)) is not None:
            return got
        try:
            if snapshot is not None:
                session = self.repo.readonly_session(snapshot_id=snapshot)
            elif as_of is not None:
                session = self.repo.readonly_session(branch=BRANCH, as_of=_utc(as_of))
            else:
                session = self.repo.readonly_session(branch=BRANCH)
        except icechunk.IcechunkError as exc:
            raise LakeError(f"{self.url}: cannot open snapshot {snapshot or as_of}: "
                            f"{_first_line(exc)}") from None
        _remember_session(self.url, session)
        return session

    def cadences(self, snapshot: str | None = None) -> list[str]:
        """Cadences that hold raw data."""
        root = open_root(self.session(snapshot).store, "r")
        if "raw" not in root:
            return []
        order = config.get("lake.cadences")
        names = [n for n, _ in root["raw"].groups()]
        return sorted(names, key=lambda c: order.index(c) if c in order else len(order))

    def open_raw(self, cadence: str | None = None, *, snapshot: str | None = None,
                 as_of: dt.datetime | None = None, chunks: Any = None) -> xr.Dataset:
        """Open one cadence of raw data as a lazy xarray Dataset.

        Parameters
        ----------
        cadence : str, optional
            Which grid (e.g. ``"1min"``); may be omitted when there is one.
        snapshot, as_of : optional
            Time travel: a snapshot id or a moment (the snapshot current then).
        """
        session = self.session(snapshot, as_of)
        ds = None
        if cadence is not None and (chunks is None or chunks == {}):
            # a named grid of plain arrays: opened in one trip to zarr's event loop
            ds = _open_grid(session.store, f"raw/{cadence}", self.url, session.snapshot_id)
        # a named cadence is looked up directly (listing the grids costs more than opening
        # one); the grids are listed when none is named or the name is not there
        if ds is None and (cadence is None
                           or f"raw/{cadence}" not in open_root(session.store, "r")):
            available = self.cadences(session.snapshot_id)
            if not available:
                raise UnknownNameError(f"the lake at {self.url} has no data yet: ingest some "
                                       "files first")
            if cadence is None and len(available) == 1:
                cadence = available[0]
            elif cadence is None:
                raise UnknownNameError(
                    f"{self.url}: choose a cadence. " + choices_message("cadence", None, available))
            elif cadence not in available:
                raise UnknownNameError(f"{self.url}: no raw data at this cadence. "
                                       + choices_message("cadence", cadence, available))
            if chunks is None or chunks == {}:
                ds = _open_grid(session.store, f"raw/{cadence}", self.url,
                                session.snapshot_id)
        if ds is None:
            ds = xr.open_zarr(session.store, group=f"raw/{cadence}", consolidated=False,
                              chunks=chunks if chunks is not None else {},
                              drop_variables=["time"])
        origin, step = ds.attrs.get("origin"), ds.attrs.get("step_seconds")
        if origin is not None and step is not None:
            # the grid is origin + i * step by construction (chunk boundaries never move):
            # made here instead of read and decoded (1.3 M values for 15 days at 1 s)
            ns = np.arange(ds.sizes.get("time", 0), dtype=np.int64)   # one array, in place
            ns *= int(step) * 1_000_000_000
            ns += int(origin) * 1_000_000_000
            times = ns.view("datetime64[ns]")
        else:                                # an empty grid: its (empty) stored axis
            times = np.asarray(open_root(session.store, "r")[f"raw/{cadence}/time"][:],
                               dtype="datetime64[s]").astype("datetime64[ns]")
        # the index takes the axis as it is (pandas copies an array it is given otherwise:
        # 11 MB per copy for 16 days at 1 s)
        index = xr.indexes.PandasIndex(pd.Index(times, copy=False, name="time"), "time")
        ds = ds.assign_coords(xr.Coordinates.from_xindex(index)).assign_coords(
            asset=ds.asset.astype(object))
        ds.attrs.update(snapshot=session.snapshot_id, store=self.url)
        return ds

    def open_group(self, path: str, *, snapshot: str | None = None,
                   as_of: dt.datetime | None = None, chunks: Any = None) -> xr.Dataset | None:
        """Open any ``(asset, time)`` group (e.g. ``quality/1min``) lazily; None if absent."""
        session = self.session(snapshot, as_of)
        root = open_root(session.store, "r")
        if path not in root:
            return None
        ds = xr.open_zarr(session.store, group=path, consolidated=False,
                          chunks=chunks if chunks is not None else {})
        ds = _unstack_columns(ds)
        ds = ds.assign_coords(asset=ds.asset.astype(object))
        ds.attrs.update(snapshot=session.snapshot_id, store=self.url)
        return ds

    def log(self, limit: int | None = None) -> list[Commit]:
        """History of the main branch, newest first."""
        out = []
        for i, snap in enumerate(self.repo.ancestry(branch=BRANCH)):
            if limit is not None and i >= limit:
                break
            out.append(Commit(snap.id, snap.written_at, snap.message, dict(snap.metadata or {})))
        return out

    def tip(self) -> str:
        return self.repo.lookup_branch(BRANCH)

    def source_hashes(self) -> dict[str, dict]:
        """Content hashes of every source file committed so far → its record."""
        seen: dict[str, dict] = {}
        for frame in self.tables("expired_history").values():   # commits gc expired
            for rec in frame.itertuples():
                for src in json.loads(rec.metadata).get("sources", []) or []:
                    if src.get("sha256"):
                        seen[src["sha256"]] = {**src, "snapshot": rec.snapshot}
        for c in reversed(self.log()):
            for src in c.metadata.get("sources", []) or []:
                if src.get("sha256"):
                    seen[src["sha256"]] = {**src, "snapshot": c.snapshot}
        return seen

    def quarantine(self, run_id: str | None = None, snapshot: str | None = None) -> pd.DataFrame:
        """Rows rejected by ingests (all runs, or one), with their reasons."""
        tables = self.tables("quarantine", snapshot=snapshot)
        frames = [t for name, t in tables.items() if run_id is None or name == run_id]
        return pd.concat(frames, ignore_index=True) if frames else _empty_quarantine()

    def tables(self, group: str, snapshot: str | None = None) -> dict[str, pd.DataFrame]:
        """Tables stored with :meth:`Transaction.write_table` under ``group``, by name."""
        root = open_root(self.session(snapshot).store, "r")
        if group not in root:
            return {}
        return {name: pd.read_parquet(io.BytesIO(arr[:].tobytes()))
                for name, arr in sorted(root[group].arrays())}

    def ingest_notes(self, snapshot: str | None = None) -> pd.DataFrame:
        """Rows ingests took in but noted (out of time order), same columns as the quarantine."""
        tables = self.tables("ingest_notes", snapshot=snapshot)
        if not tables:
            return _empty_quarantine()
        return pd.concat(tables.values(), ignore_index=True)

    def summary(self, snapshot: str | None = None) -> dict:
        """Assets, signals, time span and sample counts per cadence, and commits."""
        out: dict[str, Any] = {"store": self.url, "commits": len(self.log()), "cadences": {}}
        for cad in self.cadences(snapshot):
            ds = self.open_raw(cad, snapshot=snapshot)
            sigs = [v for v in ds.data_vars if not v.endswith("_sq")]
            counts = {s: int(ds[s].notnull().sum().compute()) for s in sigs}
            out["cadences"][cad] = {
                "assets": [str(a) for a in ds.asset.values],
                "signals": sigs,
                "start": _iso(ds.attrs.get("data_start")),
                "end": _iso(ds.attrs.get("data_end")),
                "steps": int(ds.sizes["time"]),
                "samples": int(sum(counts.values())),
            }
        q = self.quarantine(snapshot=snapshot)
        out["quarantined_rows"] = len(q)
        return out

    # -- writing ------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, message: str, metadata: dict | None = None) -> Iterator[Transaction]:
        """One atomic commit: everything written inside lands together or not at all.

        When another writer committed to the branch meanwhile, the commit is
        rebased on top of it (Icechunk's rebase with a conflict detector), so a
        writer never redoes its work because of a writer of other arrays or
        other chunks. The commit metadata records ``base_snapshot``, the
        snapshot the writer read; :attr:`Transaction.rebased_over` lists the
        commits it was rebased over. Where both wrote the same chunk or the
        same array or group metadata (a true conflict), nothing of this write
        lands and :class:`~pumplib.errors.ConflictError` names the other
        writer's commit.
        """
        session = self.repo.writable_session(BRANCH)
        base = session.snapshot_id
        tx = Transaction(self, session)
        yield tx
        if not session.has_uncommitted_changes:
            tx.snapshot = None
            return
        meta = {"pumplib_version": _version(), "committed_at": _now().isoformat(),
                "base_snapshot": base, **(metadata or {}), **tx.metadata}
        tries = max(int(config.get("lake.rebase_tries")), 1)
        try:
            with self._commit_lock():
                tx.snapshot = session.commit(message, metadata=_jsonable(meta),
                                             rebase_with=icechunk.ConflictDetector(),
                                             rebase_tries=tries)
        except icechunk.RebaseFailedError as exc:
            paths = sorted({c.path for c in exc.conflicts})
            raise ConflictError(self._conflict_message(exc.snapshot, paths)) from None
        except icechunk.ConflictError:
            raise ConflictError(self._conflict_message(self.tip(), [])) from None
        tx.rebased_over = self._commits_between(base, tx.snapshot)

    def _conflict_message(self, other: str, paths: Sequence[str]) -> str:
        """One line naming the commit this write conflicts with (and what both wrote)."""
        try:
            info = self.repo.lookup_snapshot(other)
            who = (f"commit {info.id} ({info.message!r}, "
                   f"{info.written_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC)")
        except icechunk.IcechunkError:
            who = f"commit {other}"
        shown = ", ".join(paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
        what = f" also wrote {shown}" if paths else " committed first"
        return (f"{self.url}: another writer's {who}{what}; nothing of this write landed, "
                "run it again")

    def _commits_between(self, base: str, snapshot: str) -> list[str]:
        """Snapshot ids between ``base`` (excluded) and ``snapshot``'s parent, oldest first."""
        out = []
        for i, snap in enumerate(self.repo.ancestry(snapshot_id=snapshot)):
            if snap.id == base:
                break
            if i:
                out.append(snap.id)
        return out[::-1]

    # -- care -----------------------------------------------------------------
    def gc(self, *, older_than=None, grace=None, dry_run: bool = False):
        """Expire snapshots older than ``older_than`` (default: setting
        ``lake.retention``; never the branch tip or a tagged snapshot) and delete
        the objects no snapshot reaches that are older than ``grace`` (default:
        ``lake.gc_grace``), e.g. the chunks of a killed writer. Returns a
        :class:`pumplib.lakecare.GCReport` (counts and bytes freed)."""
        from .lakecare import gc

        return gc(self, older_than=older_than, grace=grace, dry_run=dry_run)

    def check(self, *, all_snapshots: bool = False, quick: bool = False):
        """Read every array at the tip (or at every snapshot): metadata and every chunk
        (``quick``: chunks listed only). Returns a :class:`pumplib.lakecare.CheckReport`
        whose ``broken`` lists one line per array that cannot be read."""
        from .lakecare import check

        return check(self, all_snapshots=all_snapshots, quick=quick)

    @contextlib.contextmanager
    def _commit_lock(self):
        """Serialise commits to a local folder across processes (object stores need none:
        they have conditional writes; a local file system does not)."""
        root = self._local_root()
        if root is None:
            yield
            return
        import fcntl

        with open(root / ".pumplib-commit.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _local_root(self) -> Path | None:
        parsed = urlparse(self.url)
        if parsed.scheme in ("", "file") and not self.url.startswith("memory://"):
            return Path(parsed.path if parsed.scheme == "file" else self.url).expanduser()
        return None


class Transaction:
    """Writes within one uncommitted Icechunk session (see :meth:`Lake.transaction`)."""

    def __init__(self, lake: Lake, session):
        self.lake = lake
        self.session = session
        self.snapshot: str | None = None
        #: commits of other writers this one was rebased over (oldest first)
        self.rebased_over: list[str] = []
        #: extra commit metadata, merged in at commit time (the lineage)
        self.metadata: dict = {}
        self._groups: dict[str, zarr.Group] = {}

    @functools.cached_property
    def root(self) -> zarr.Group:
        """The root group of the session's store, opened on first use (a writer that
        works on zarr's event loop opens it there, beside what the caller does)."""
        return open_root(self.session.store, "a")

    # grid --------------------------------------------------------------------
    def group(self, cadence: str, create: bool = True) -> zarr.Group | None:
        if cadence in self._groups:
            return self._groups[cadence]
        path = f"raw/{cadence}"
        step = cadence_seconds(cadence)
        if path in self.root:
            g = self.root[path]
        elif not create:
            return None
        else:
            g = self.root.require_group(path)
            span = int(config.get("lake.chunk_samples"))
            g.attrs.update({"cadence": cadence, "step_seconds": step, "chunk_samples": span,
                            "asset_chunk": int(config.get("lake.asset_chunk")),
                            "origin": None, "title": f"pumplib raw lake, {cadence} grid"})
            g.create_array("asset", shape=(0,), chunks=(4096,), dtype=str,
                           dimension_names=("asset",))
            g.create_array("time", shape=(0,), chunks=(span,), dtype="int64",
                           dimension_names=("time",),
                           attributes={"units": EPOCH_UNITS, "calendar": "proleptic_gregorian",
                                       "standard_name": "time", "long_name": "time (UTC)"})
        self._groups[cadence] = g
        return g

    @staticmethod
    def _asset_chunk(g: zarr.Group) -> int:
        """Assets per chunk of the arrays of raw group ``g``: fixed when the group was
        created (``lake.asset_chunk`` then), so arrays added later, and the derived
        groups on its grid, chunk like the ones already there."""
        got = g.attrs.get("asset_chunk")
        if got:
            return int(got)
        for _, arr in g.arrays():            # lakes from before the attribute
            if len(arr.shape) == 2:
                return int(arr.chunks[0])
        return int(config.get("lake.asset_chunk"))

    def grid(self, cadence: str) -> tuple[int | None, int, int]:
        """``(origin_seconds, step_seconds, n_steps)`` of a cadence (origin None if empty)."""
        g = self.group(cadence, create=False)
        if g is None:
            return None, cadence_seconds(cadence), 0
        return g.attrs.get("origin"), int(g.attrs["step_seconds"]), int(g["time"].shape[0])

    def assets(self, cadence: str) -> list[str]:
        g = self.group(cadence, create=False)
        return [] if g is None else [str(a) for a in g["asset"][:]]

    def ensure_assets(self, cadence: str, assets: Sequence[str]) -> np.ndarray:
        """Indices of ``assets`` on the asset axis, appending new ones."""
        g = self.group(cadence)
        known = self.assets(cadence)
        new = [a for a in dict.fromkeys(assets) if a not in known]
        if new:
            n = len(known) + len(new)
            for _, arr in g.arrays():
                if arr.metadata.dimension_names and arr.metadata.dimension_names[0] == "asset":
                    arr.resize((n, *arr.shape[1:]))
            g["asset"][len(known):] = np.array(new, dtype=object)
            known += new
        pos = {a: i for i, a in enumerate(known)}
        return np.array([pos[a] for a in assets], dtype=np.int64)

    def ensure_time(self, cadence: str, start_s: int, end_s: int) -> int:
        """Extend the grid to cover ``[start_s, end_s]`` (seconds, on the grid); return origin."""
        g = self.group(cadence)
        step = int(g.attrs["step_seconds"])
        span = int(g.attrs["chunk_samples"]) * step
        origin = g.attrs.get("origin")
        n = g["time"].shape[0]
        if origin is None:
            # anchor at the start of the (UTC) day of the first sample, so a
            # grid holds at most a day of leading gaps
            origin = (start_s // 86400) * 86400 if step <= 86400 else start_s
            g.attrs["origin"] = int(origin)
        if start_s < origin:
            shift_chunks = -((start_s - origin) // span)  # whole chunks, rounded up
            self._prepend(g, shift_chunks)
            origin -= shift_chunks * span
            n = g["time"].shape[0]
        need = (end_s - origin) // step + 1
        if need > n:
            new_n = need
            for _, arr in g.arrays():
                dims = arr.metadata.dimension_names or ()
                if dims and dims[-1] == "time":
                    arr.resize((*arr.shape[:-1], new_n))
            g["time"][n:new_n] = origin + np.arange(n, new_n, dtype=np.int64) * step
        lo_attr, hi_attr = g.attrs.get("data_start"), g.attrs.get("data_end")
        g.attrs["data_start"] = int(start_s if lo_attr is None else min(lo_attr, start_s))
        g.attrs["data_end"] = int(end_s if hi_attr is None else max(hi_attr, end_s))
        return int(origin)

    def _prepend(self, g: zarr.Group, n_chunks: int) -> None:
        """Shift every time-dimensioned array right by whole chunks (rare: old data)."""
        chunk = int(g.attrs["chunk_samples"])
        shift = n_chunks * chunk
        step = int(g.attrs["step_seconds"])
        for _, arr in g.arrays():
            dims = arr.metadata.dimension_names or ()
            if not dims or dims[-1] != "time":
                continue
            old_n = arr.shape[-1]
            arr.resize((*arr.shape[:-1], old_n + shift))
            for lo in range(((old_n - 1) // chunk) * chunk if old_n else -1, -1, -chunk):
                hi = min(lo + chunk, old_n)
                block = arr[..., lo:hi]
                arr[..., lo + shift:hi + shift] = block
            fill = arr.metadata.fill_value
            arr[..., :shift] = fill
        g.attrs["origin"] = int(g.attrs["origin"]) - shift * step
        g["time"][:] = g.attrs["origin"] + np.arange(g["time"].shape[0], dtype=np.int64) * step

    def signal_array(self, cadence: str, signal: str, sq: bool = False) -> zarr.Array:
        g = self.group(cadence)
        name = f"{signal}_sq" if sq else signal
        if name in g:
            return g[name]
        meta = _signals.get(signal)
        n_asset, n_time = g["asset"].shape[0], g["time"].shape[0]
        chunk = (self._asset_chunk(g), int(g.attrs["chunk_samples"]))
        level = int(config.get("lake.compression_level"))
        if sq:
            attrs = {"long_name": f"Source quality code of {signal}",
                     "flag_meaning": "historian/OPC code: 192 good, 64 uncertain, 0 bad; -1 none",
                     "signal": signal}
            return g.create_array(name, shape=(n_asset, n_time), chunks=chunk, dtype="int16",
                                  fill_value=SQ_FILL, dimension_names=("asset", "time"),
                                  compressors=raw_compressor(level), attributes=attrs)
        return g.create_array(name, shape=(n_asset, n_time), chunks=chunk, dtype="float64",
                              fill_value=np.nan, dimension_names=("asset", "time"),
                              compressors=raw_compressor(level), attributes=meta.attrs())

    def write_block(self, cadence: str, assets: Sequence[str], signal: str, start_s: int,
                    values: np.ndarray, present: np.ndarray | None = None,
                    sq: np.ndarray | None = None) -> int:
        """Merge a dense block ``values[asset, step]`` starting at ``start_s`` into the lake.

        Values are written where ``present`` is true and the value is not NaN,
        source quality codes where ``sq`` is not -1; every other cell keeps
        what the lake held. Returns the number of cells that carried a value
        or a quality code.
        """
        values = np.asarray(values, dtype=np.float64)
        vmask = ~np.isnan(values) if present is None else (present & ~np.isnan(values))
        qmask = None if sq is None else (sq != SQ_FILL)
        touched = vmask if qmask is None else (vmask | qmask)
        if not touched.any():
            return 0
        step = cadence_seconds(cadence)
        if start_s % step:
            raise LakeError(f"block start {start_s} is not on the {cadence} grid")
        # only the time span that has data is touched
        cols = np.flatnonzero(touched.any(axis=0))
        c0, c1 = int(cols[0]), int(cols[-1]) + 1
        origin = self.ensure_time(cadence, start_s + c0 * step, start_s + (c1 - 1) * step)
        rows = self.ensure_assets(cadence, list(assets))
        lo = (start_s - origin) // step
        arrays = [(self.signal_array(cadence, signal), values, vmask)]
        if sq is not None:
            arrays.append((self.signal_array(cadence, signal, sq=True), sq, qmask))
        unique = len(np.unique(rows)) == len(rows)
        for arr, new, mask in arrays:
            if not unique:  # the same asset twice (two tags): row by row, later wins
                for i, row in enumerate(rows):
                    p = mask[i, c0:c1]
                    if not p.any():
                        continue
                    if p.all():
                        arr[row, lo + c0:lo + c1] = new[i, c0:c1]
                    else:
                        old = arr[row, lo + c0:lo + c1]
                        arr[row, lo + c0:lo + c1] = np.where(p, new[i, c0:c1], old)
                continue
            # whole 2-D blocks in one call each, so zarr encodes and stores the
            # chunks concurrently: rows fully present are written as they are,
            # rows partly present are merged with what the lake holds
            m = mask[:, c0:c1]
            full = m.all(axis=1)
            part = m.any(axis=1) & ~full
            if full.all():  # the usual case: the block as it is, no copy
                _set_rows(arr, rows, lo + c0, lo + c1, new[:, c0:c1])
            elif full.any():
                _set_rows(arr, rows[full], lo + c0, lo + c1, new[full, c0:c1])
            if part.any():
                sel = rows[part]
                old = _get_rows(arr, sel, lo + c0, lo + c1)
                _set_rows(arr, sel, lo + c0, lo + c1, np.where(m[part], new[part, c0:c1], old))
        return int(touched.sum())

    def origin(self, cadence: str, first_s: int) -> int:
        """The grid origin of a cadence, fixing it from ``first_s`` for a new grid."""
        origin, _, _ = self.grid(cadence)
        if origin is None:
            origin = self.ensure_time(cadence, first_s, first_s)
        return int(origin)

    def read_block(self, cadence: str, asset_rows: np.ndarray, signal: str, start_s: int,
                   n: int) -> np.ndarray | None:
        """What the (uncommitted) lake holds for a block, or None if nothing there."""
        g = self.group(cadence, create=False)
        if g is None or signal not in g:
            return None
        origin, step, size = self.grid(cadence)
        lo = (start_s - origin) // step
        if lo >= size:
            return None
        return g[signal].get_orthogonal_selection((asset_rows, slice(lo, lo + n)))

    def write_quarantine(self, run_id: str, frame: pd.DataFrame, attrs: dict) -> None:
        """Store rejected rows of one run (kept forever, listed by ``Lake.quarantine``)."""
        if not frame.empty:
            self.write_table("quarantine", run_id, frame, attrs)


    # derived groups on the raw grid (quality flags) -------------------------------
    def derived_group(self, kind: str, cadence: str) -> zarr.Group:
        """``<kind>/<cadence>`` with the same assets and time grid as ``raw/<cadence>``.

        Created on first use; brought in step with the raw grid (new assets,
        a longer grid, or whole chunks prepended) every time it is asked for.
        Arrays of derived groups are written by :meth:`derived_array`.
        """
        raw = self.group(cadence, create=False)
        if raw is None:
            raise LakeError(f"{self.lake.url}: no raw data at cadence {cadence!r}")
        path = f"{kind}/{cadence}"
        if path in self.root:
            g = self.root[path]
        else:
            g = self.root.require_group(path)
            g.attrs.update({k: raw.attrs.get(k) for k in ("cadence", "step_seconds",
                                                           "chunk_samples", "origin")})
            g.attrs["title"] = f"pumplib {kind}, {cadence} grid"
            span = int(raw.attrs["chunk_samples"])
            g.create_array("asset", shape=(0,), chunks=(4096,), dtype=str,
                           dimension_names=("asset",))
            g.create_array("time", shape=(0,), chunks=(span,), dtype="int64",
                           dimension_names=("time",), attributes=dict(raw["time"].attrs))
        # same origin: prepend whole chunks when the raw grid grew backwards
        r_origin, g_origin = raw.attrs.get("origin"), g.attrs.get("origin")
        if g_origin is None:
            g.attrs["origin"] = r_origin
        elif r_origin < g_origin:
            span = int(raw.attrs["chunk_samples"]) * int(raw.attrs["step_seconds"])
            self._prepend(g, (g_origin - r_origin) // span)
        n_raw, n = raw["time"].shape[0], g["time"].shape[0]
        if n_raw > n:
            for _, arr in g.arrays():
                dims = arr.metadata.dimension_names or ()
                if dims and dims[-1] == "time":
                    arr.resize((*arr.shape[:-1], n_raw))
            g["time"][n:n_raw] = raw["time"][n:n_raw]
        assets = [str(a) for a in raw["asset"][:]]
        known = [str(a) for a in g["asset"][:]]
        if len(assets) > len(known):
            for _, arr in g.arrays():
                dims = arr.metadata.dimension_names or ()
                if dims and dims[0] == "asset":
                    arr.resize((len(assets), *arr.shape[1:]))
            g["asset"][len(known):] = np.array(assets[len(known):], dtype=object)
        g.attrs["data_start"] = raw.attrs.get("data_start")
        g.attrs["data_end"] = raw.attrs.get("data_end")
        return g

    def derived_array(self, kind: str, cadence: str, name: str, dtype: str, fill_value,
                      attrs: dict | None = None) -> zarr.Array:
        """An ``(asset, time)`` array of a derived group, chunked like the raw data."""
        g = self.derived_group(kind, cadence)
        if name in g:
            return g[name]
        chunk = (self._asset_chunk(self.group(cadence, create=False)),
                 int(g.attrs["chunk_samples"]))
        level = int(config.get("lake.compression_level"))
        return g.create_array(name, shape=(g["asset"].shape[0], g["time"].shape[0]),
                              chunks=chunk, dtype=dtype, fill_value=fill_value,
                              dimension_names=("asset", "time"),
                              compressors=zarr.codecs.BloscCodec(cname="zstd", clevel=level,
                                                                shuffle="bitshuffle"),
                              attributes=_jsonable(attrs or {}))

    def write_table(self, group: str, name: str, frame: pd.DataFrame, attrs: dict) -> None:
        """Store a small table as a Parquet blob at ``<group>/<name>`` (like the quarantine)."""
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False, compression="zstd")
        raw = np.frombuffer(buf.getvalue(), dtype=np.uint8)
        g = self.root.require_group(group)
        arr = g.create_array(name, shape=raw.shape, chunks=(max(len(raw), 1),),
                             dtype="uint8", attributes=_jsonable({**attrs, "rows": len(frame)}))
        arr[:] = raw


QUARANTINE_COLUMNS = ["run_id", "source", "line", "column", "timestamp", "tag", "asset", "signal",
                      "raw", "reason"]


def _empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "line" else object)
                         for c in QUARANTINE_COLUMNS})


def new_run_id(prefix: str = "run") -> str:
    """A sortable, unique id: ``<prefix>-YYYYmmddTHHMMSS-xxxxxxxx``."""
    return f"{prefix}-{_now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _iso(seconds: int | None) -> str | None:
    return None if seconds is None else pd.Timestamp(seconds, unit="s", tz="UTC").isoformat()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(t) -> dt.datetime:
    ts = pd.Timestamp(t)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").to_pydatetime()


def _version() -> str:
    from . import __version__

    return __version__


def _jsonable(obj: Any) -> Any:
    """Make metadata JSON-safe (numpy scalars, timestamps, paths)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, pd.Timestamp | dt.datetime | dt.date):
        return obj.isoformat()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


# register the stateless ``ds.pump`` accessor for Datasets read from the lake
from . import accessor as _accessor  # noqa: E402,F401
