"""The live service: an MQTT source, the write-ahead log and the committer in one process.

:class:`LiveService` runs in the foreground (``pumplib live run``; a container's
main process or a systemd unit): it connects to the broker, logs and
acknowledges messages, commits closed minutes to the raw lake, and on SIGTERM
or SIGINT stops receiving, logs and acknowledges what it holds, commits
everything in the log and returns 0. :func:`live_status` reads the log of a
store (read-only; nothing is created) for ``pumplib live status``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import config
from ..errors import PumplibError
from ..lake import _local_path, cadence_seconds
from ..lakecare import parse_duration
from .committer import CommitReport, Committer, OnCommit
from .wal import SampleLog, read_stats

__all__ = ["LiveService", "live_status", "log_path"]

log = logging.getLogger("pumplib.live")

#: seconds between heartbeats the service writes to its log (status tells a running one)
HEARTBEAT_S = 2.0


class LiveError(PumplibError, RuntimeError):
    """The live service cannot go on (its source or log failed)."""


def log_path(store: str | os.PathLike | None = None, log: str | os.PathLike | None = None
             ) -> Path:
    """The write-ahead log of a store: ``log``, else setting ``live.log``, else
    ``<store>.live.sqlite`` beside a local store, else ``./pumplib-live-<hash>.sqlite``."""
    chosen = log or config.get("live.log")
    if chosen:
        return Path(chosen).expanduser()
    url = os.fspath(config.get("store.url", override_with=store))
    local = _local_path(url)
    if local is not None:
        return local.parent / (local.name + ".live.sqlite")
    return Path(f"pumplib-live-{hashlib.sha256(url.encode()).hexdigest()[:12]}.sqlite").resolve()


class LiveService:
    """MQTT → write-ahead log → raw lake, until stopped.

    Parameters
    ----------
    broker : str
        ``mqtt://host:port`` (:func:`pumplib.live.mqtt.parse_broker_url`).
    store : str or path, optional
        The lake (default: setting ``store.url``); created at the first commit.
    registry : AssetRegistry or path, optional
        Default: setting ``assets.registry``.
    log : path, optional
        The write-ahead log (default: :func:`log_path`).
    client_id : str, optional
        MQTT session id (default: :func:`pumplib.live.mqtt.default_client_id`).
    on_commit : sequence of callables
        ``hook(lake, start_ns, stop_ns)`` after each raw commit (the minute rows plug in
        here); more can be appended to :attr:`on_commit` before :meth:`run`.
    """

    def __init__(self, broker: str, store=None, registry=None, *, log=None,
                 client_id: str | None = None, on_commit: Sequence[OnCommit] = (),
                 cadence: str | None = None):
        from .mqtt import default_client_id, parse_broker_url

        parse_broker_url(broker)          # a bad URL is one line before anything opens
        self.broker = broker
        self.store = os.fspath(config.get("store.url", override_with=store))
        self.registry = registry
        self.log_path = log_path(self.store, log)
        self.client_id = client_id or default_client_id(self.store)
        self.on_commit: list[OnCommit] = list(on_commit)
        self.cadence = cadence
        idle = parse_duration(config.get("live.flush_idle"), "live.flush_idle")
        self.flush_idle_s = None if idle is None else idle.total_seconds()
        self.stopping = threading.Event()
        self.log: SampleLog | None = None
        self.committer: Committer | None = None
        self.source = None
        self.on_report: Callable[[CommitReport], None] | None = None

    def stop(self) -> None:
        """Ask :meth:`run` to flush, commit and return (thread- and signal-safe)."""
        self.stopping.set()

    def run(self, *, install_signals: bool | None = None, ready: threading.Event | None = None
            ) -> int:
        """Run until :meth:`stop` (or SIGTERM/SIGINT); return the exit status (0)."""
        from ..assets import AssetRegistry
        from .mqtt import MqttSource

        if install_signals is None:
            install_signals = threading.current_thread() is threading.main_thread()
        registry = self.registry if isinstance(self.registry, AssetRegistry) else \
            AssetRegistry.load(self.registry)
        if self.cadence is not None:
            cadence_seconds(self.cadence)     # checked before anything is created
        old = {}
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                old[sig] = signal.signal(sig, lambda *_: self.stopping.set())
        self.log = SampleLog(self.log_path)
        try:
            self.committer = Committer(self.log, self.store, registry, cadence=self.cadence,
                                       on_commit=self.on_commit)
            self.committer.recover()
            self.source = MqttSource(self.broker, self.log, self.client_id).start()
            self._loop(ready)
            return 0
        finally:
            try:
                if self.source is not None:
                    self.source.stop()
                if self.committer is not None and self.source is not None \
                        and self.source.error is None:
                    self._report(self.committer.commit(None))     # flush: everything logged
            finally:
                self._beat(running=False)
                self.log.close()
                for sig, handler in old.items():
                    signal.signal(sig, handler)

    def _loop(self, ready: threading.Event | None) -> None:
        src, com = self.source, self.committer
        last_cut = (self.log.stats().get("last_commit") or {}).get("upto_ns")
        last_beat = 0.0
        announced = False
        seen, seen_at = -1, time.monotonic()
        while not self.stopping.is_set():
            if src.error is not None:
                raise LiveError(f"live: the MQTT writer failed: {src.error}")
            now = time.monotonic()
            if now - last_beat >= HEARTBEAT_S:
                self._beat(running=True)
                last_beat = now
            if src.subscribed.is_set() and not announced:
                self._beat(running=True)        # status tells "connected" at once
                announced = True
                if ready is not None:
                    ready.set()
            elif not src.subscribed.is_set():
                announced = False
            if src.messages != seen:
                seen, seen_at = src.messages, now
            cut = com.due_cut()
            if cut is not None and (last_cut is None or cut > last_cut):
                self._report(com.commit(cut))
                last_cut = cut
            elif self.flush_idle_s is not None and now - seen_at >= self.flush_idle_s \
                    and self.log.stats()["depth"]:
                self._report(com.commit(None))
                seen_at = now
            self.stopping.wait(0.25)

    def _report(self, rep: CommitReport | None) -> None:
        if rep is None:
            return
        log.info("live: committed %d samples (%d quarantined) in %.2f s: %s", rep.samples,
                 rep.quarantined, rep.seconds, rep.snapshot)
        if self.on_report is not None:
            self.on_report(rep)

    def _beat(self, running: bool) -> None:
        if self.log is None:
            return
        src = self.source
        self.log.set_state("service", json.dumps({
            "pid": os.getpid(), "running": running, "heartbeat_ns": time.time_ns(),
            "broker": str(src.url) if src is not None else self.broker,
            "client_id": self.client_id, "store": self.store,
            "connected": bool(src is not None and src.connected.is_set()),
            "connects": src.connects if src is not None else 0,
            "messages": src.messages if src is not None else 0}))


def live_status(store=None, log=None, *, now_ns: int | None = None) -> dict:
    """Lag, queue depth, log size, the last commit and per-source rates of a store's live log.

    Reads the log read-only (nothing is created). Raises
    :class:`~pumplib.errors.PumplibError` when the store has no live log.
    """
    path = log_path(store, log)
    st = read_stats(path)
    if st is None:
        raise LiveError(f"no live log at {path} (start `pumplib live run --store ...` first, "
                        "or name it with --log)")
    now = time.time_ns() if now_ns is None else now_ns
    svc = json.loads(st["state"].get("service") or "null") or {}
    beat = svc.get("heartbeat_ns")
    alive = bool(svc.get("running")) and beat is not None and now - beat < 5 * HEARTBEAT_S * 1e9
    last = st["last_commit"]
    out = {
        "log": st["path"], "log_bytes": st["size_bytes"], "queue_depth": st["depth"],
        "rejects_pending": st["rejects"], "cadence": st["state"].get("cadence"),
        "running": alive, "pid": svc.get("pid"), "broker": svc.get("broker"),
        "connected": bool(svc.get("connected")) and alive,
        "heartbeat_age_s": None if beat is None else (now - beat) / 1e9,
        "commits": st["commits"],
        "last_commit": None if last is None else {
            "snapshot": last["snapshot"], "samples": last["samples"],
            "upto": _iso(last["upto_ns"]), "age_s": (now - last["wall_ns"]) / 1e9},
        "oldest_pending": _iso(st["oldest_ts_ns"]), "newest_pending": _iso(st["newest_ts_ns"]),
        # event time seen but not yet committed
        "lag_s": _lag(st, last),
        "sources": {name: {"received": s["received"], "duplicates": s["duplicates"],
                           "conflicts": s["conflicts"], "rate_per_s": s["rate_per_s"],
                           "last_received_age_s": None if s["last_wall_ns"] is None
                           else (now - s["last_wall_ns"]) / 1e9,
                           "latest": _iso(s["max_ts_ns"])}
                    for name, s in st["sources"].items()},
    }
    return out


def _lag(st: dict, last: dict | None) -> float | None:
    newest = max((s["max_ts_ns"] for s in st["sources"].values() if s["max_ts_ns"] is not None),
                 default=None)
    if newest is None:
        return None
    if not st["depth"]:
        return 0.0
    done = last["upto_ns"] if last else (st["oldest_ts_ns"] or newest)
    return max(newest - done, 0) / 1e9


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    import pandas as pd

    return pd.Timestamp(ns, tz="UTC").isoformat()
