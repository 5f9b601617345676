"""The live service: an MQTT source, the write-ahead log and the committer in one process.

:class:`LiveService` runs in the foreground (``pumplib live run``; a container's
main process or a systemd unit): it connects to the broker, logs and
acknowledges messages, commits closed minutes to the raw lake, and on SIGTERM
or SIGINT stops receiving, logs and acknowledges what it holds, commits
everything in the log and returns 0. :func:`live_status` reads the log of a
store (read-only; nothing is created) for ``pumplib live status``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
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
_log = log

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
    """MQTT (and OPC UA) → write-ahead log → raw lake, until stopped.

    Parameters
    ----------
    broker : str, optional
        ``mqtt://host:port`` (:func:`pumplib.live.mqtt.parse_broker_url`); None: no
        MQTT source (then an OPC UA source must be configured).
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
    opcua : path, optional
        An OPC UA source file (:mod:`pumplib.live.opcua`; default: setting
        ``live.opcua``); its samples go into the same log.
    """

    def __init__(self, broker: str | None, store=None, registry=None, *, log=None,
                 client_id: str | None = None, on_commit: Sequence[OnCommit] = (),
                 cadence: str | None = None, opcua=None, hooks: Sequence[str] = (),
                 commit_process: bool | None = None):
        from .mqtt import default_client_id, parse_broker_url

        if broker is not None:
            parse_broker_url(broker)      # a bad URL is one line before anything opens
        self.broker = broker
        self.opcua = opcua if opcua is not None else config.get("live.opcua")
        if broker is None and self.opcua is None:
            raise LiveError("no source: give --broker mqtt://HOST:PORT, or an OPC UA source "
                            "file (--opcua, setting live.opcua)")
        self.store = os.fspath(config.get("store.url", override_with=store))
        self.registry = registry
        self.log_path = log_path(self.store, log)
        self.client_id = client_id or default_client_id(self.store)
        self.on_commit: list[OnCommit] = list(on_commit)
        for h in hooks:
            if h not in HOOKS:
                raise LiveError(f"unknown commit hook {h!r}; expected one of {sorted(HOOKS)}")
        self.hooks = list(hooks)
        self.commit_process = bool(config.get("live.commit_process",
                                              override_with=commit_process))
        self.committer_proc: subprocess.Popen | None = None
        self._commits: CommitLoop | None = None
        self.cadence = cadence
        idle = parse_duration(config.get("live.flush_idle"), "live.flush_idle")
        self.flush_idle_s = None if idle is None else idle.total_seconds()
        self.stopping = threading.Event()
        self.log: SampleLog | None = None
        self.committer: Committer | None = None
        self.source = None                 # the MQTT source
        self.opcua_source = None
        self._opcua_thread: threading.Thread | None = None
        self._opcua_stop = threading.Event()
        self.on_report: Callable[[CommitReport], None] | None = None

    def stop(self) -> None:
        """Ask :meth:`run` to flush, commit and return (thread- and signal-safe)."""
        self.stopping.set()

    def run(self, *, install_signals: bool | None = None, ready: threading.Event | None = None
            ) -> int:
        """Run until :meth:`stop` (or SIGTERM/SIGINT); return the exit status (0)."""
        from ..assets import AssetRegistry

        if install_signals is None:
            install_signals = threading.current_thread() is threading.main_thread()
        registry = self.registry if isinstance(self.registry, AssetRegistry) else \
            AssetRegistry.load(self.registry)
        if self.cadence is not None:
            cadence_seconds(self.cadence)     # checked before anything is created
        opcua_cfg = None
        if self.opcua is not None:
            from .opcua import load_config

            opcua_cfg = load_config(self.opcua, registry)
        old = {}
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                old[sig] = signal.signal(sig, lambda *_: self.stopping.set())
        self.log = SampleLog(self.log_path)
        failed = False
        in_process = not self.commit_process or bool(self.on_commit)
        lock = None
        try:
            if in_process:
                lock = _commit_lock(self.log_path)
                hooks = [*self.on_commit, *_named_hooks(self.hooks, self.store, self.registry)]
                self.committer = Committer(self.log, self.store, registry,
                                           cadence=self.cadence, on_commit=hooks)
                self.committer.recover()
                self._commits = CommitLoop(self.log, self.committer, self.flush_idle_s,
                                           self._report)
            else:
                self._spawn_committer(registry)
            self._start_sources(opcua_cfg)
            self._loop(ready)
            return 0
        except BaseException:
            failed = True
            raise
        finally:
            try:
                self._stop_sources()
                if self.committer_proc is not None:
                    self._stop_committer(failed)
                elif self.committer is not None and not failed:
                    self._report(self.committer.commit(None))     # flush: everything logged
                    flush_hooks(self.committer.on_commit)
            finally:
                if lock is not None:
                    lock.close()
                self._beat(running=False)
                self.log.close()
                for sig, handler in old.items():
                    signal.signal(sig, handler)

    def _start_sources(self, opcua_cfg) -> None:
        if self.broker is not None:
            from .mqtt import MqttSource

            self.source = MqttSource(self.broker, self.log, self.client_id).start()
        if opcua_cfg is not None:
            from .opcua import OpcUaSource, run_until_set

            self.opcua_source = OpcUaSource(opcua_cfg, self.log)
            self._opcua_thread = threading.Thread(
                target=run_until_set, args=(self.opcua_source, self._opcua_stop),
                name="pumplib-live-opcua", daemon=True)
            self._opcua_thread.start()

    def _stop_sources(self) -> None:
        if self.source is not None:
            self.source.stop()
        if self._opcua_thread is not None:
            self._opcua_stop.set()
            self._opcua_thread.join(30)

    def _connected(self) -> bool:
        """Every source subscribed."""
        mq = self.source is None or self.source.subscribed.is_set()
        ua = self._opcua_thread is None or (self.opcua_source is not None
                                            and self.opcua_source.connected.is_set())
        return mq and ua

    def _loop(self, ready: threading.Event | None) -> None:
        announced = False
        done = threading.Event()

        def beat() -> None:                     # also while a long commit runs
            while not done.wait(HEARTBEAT_S):
                self._beat(running=True)

        beater = threading.Thread(target=beat, name="pumplib-live-heartbeat", daemon=True)
        beater.start()
        try:
            self._ticks(ready, announced)
        finally:
            done.set()
            beater.join(10)

    def _ticks(self, ready: threading.Event | None, announced: bool) -> None:
        self._beat(running=True)
        while not self.stopping.is_set():
            if self.source is not None and self.source.error is not None:
                raise LiveError(f"live: the MQTT writer failed: {self.source.error}")
            if self._opcua_thread is not None and not self._opcua_thread.is_alive():
                raise LiveError("live: the OPC UA source stopped")
            if self._connected() and not announced:
                self._beat(running=True)        # status tells "connected" at once
                announced = True
                if ready is not None:
                    ready.set()
            elif not self._connected():
                announced = False
            if self.committer_proc is not None:
                rc = self.committer_proc.poll()
                if rc is not None:
                    raise LiveError(f"live: the committer process exited with status {rc}")
            else:
                self._commits.tick()
            self.stopping.wait(0.25)

    def _spawn_committer(self, registry) -> None:
        """Start the committer in a process of its own (it dies with this one)."""
        reg = self.registry
        if reg is not None and not isinstance(reg, str | os.PathLike):
            path = Path(f"{self.log_path}.registry.yaml")     # an object: its YAML
            path.write_text(registry.to_yaml())
            reg = path
        spec = {"parent_pid": os.getpid(), "store": self.store, "log": str(self.log_path),
                "registry": None if reg is None else os.fspath(reg), "cadence": self.cadence,
                "hooks": self.hooks, "quiet": self.on_report is None,
                "config": _jsonable_config()}
        self.committer_proc = subprocess.Popen([sys.executable, "-m", "pumplib.live", "commit"],
                                               stdin=subprocess.PIPE)
        # the spec is the first line; closing stdin later asks the committer to stop (also
        # before it is ready: end of file waits for it, where an early SIGTERM would kill it)
        self.committer_proc.stdin.write(json.dumps(spec).encode() + b"\n")
        self.committer_proc.stdin.flush()

    def _stop_committer(self, failed: bool) -> None:
        """SIGTERM: the committer finishes its commit, commits what the log holds, exits."""
        proc = self.committer_proc
        with contextlib.suppress(OSError):
            proc.stdin.close()
        if proc.poll() is None:
            try:
                rc = proc.wait(float(STOP_TIMEOUT_S))
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait(10)
        else:
            rc = proc.returncode
        if rc == -signal.SIGTERM:
            # stopped from outside too (systemd's default KillMode signals every process):
            # what it had not committed yet is in the log, for the next start
            log.warning("live: the committer process was terminated; the log keeps what it "
                        "had not committed")
        elif rc != 0 and not failed:
            raise LiveError(f"live: the committer process exited with status {rc}")

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
        src, ua = self.source, self.opcua_source
        self.log.set_state("service", json.dumps({
            "pid": os.getpid(), "running": running, "heartbeat_ns": time.time_ns(),
            "broker": str(src.url) if src is not None else self.broker,
            "opcua": None if self._opcua_thread is None else
            (ua.config.endpoint if ua is not None else str(self.opcua)),
            "client_id": self.client_id, "store": self.store,
            "connected": self._connected(),
            "connects": (src.connects if src is not None else 0)
            + (ua.connects if ua is not None else 0),
            "messages": src.messages if src is not None else 0}))


class CommitLoop:
    """When to commit: at each window the watermark passes, and after ``flush_idle_s``
    without a new arrival in the log (everything then); one tick a call."""

    def __init__(self, log: SampleLog, committer: Committer, flush_idle_s: float | None,
                 report: Callable[[CommitReport | None], None]):
        self.log, self.committer, self.flush_idle_s, self.report = \
            log, committer, flush_idle_s, report
        self.last_cut = (log.stats().get("last_commit") or {}).get("upto_ns")
        self.seen, self.seen_at = -1, time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        arrived = self.log.last_seq()
        if arrived != self.seen:
            self.seen, self.seen_at = arrived, now
        cut = self.committer.due_cut()
        if cut is not None and (self.last_cut is None or cut > self.last_cut):
            self.report(self.committer.commit(cut))
            self.last_cut = cut
        elif self.flush_idle_s is not None and now - self.seen_at >= self.flush_idle_s \
                and self.log.stats()["depth"]:
            self.report(self.committer.commit(None))
            self.seen_at = now

    def flush(self) -> None:
        self.report(self.committer.commit(None))


def flush_hooks(hooks: Sequence[OnCommit]) -> None:
    """At shutdown, bring hooks that hold work back up to date (``MinuteRows.flush``
    builds the day, week and month rows it builds hourly while running)."""
    for hook in hooks:
        flush = getattr(hook, "flush", None)
        if callable(flush):
            try:
                flush()
            except Exception as exc:  # noqa: BLE001 - shutdown goes on; the next run redoes it
                _log.warning("live: flushing %s at shutdown failed: %s", hook, exc)


#: commit hooks by name (``--rows``, ``--alerts``): built where the committer runs
HOOKS = ("rows", "alerts")
#: seconds the service waits for its committer's last commit on SIGTERM
STOP_TIMEOUT_S = 300


def _named_hooks(names: Sequence[str], store: str, registry) -> list[OnCommit]:
    out: list[OnCommit] = []
    for name in names:
        if name == "rows":
            from .minute import MinuteRows

            out.append(MinuteRows(store, registry=registry))
        elif name == "alerts":
            from .alerts import LiveAlerts

            out.append(LiveAlerts(store=store, registry=registry))
    return out


class _commit_lock:
    """One committer per log: an exclusive lock on ``<log>.commit.lock`` while it lives
    (the system releases it when the process dies, also by ``kill -9``)."""

    def __init__(self, log: Path):
        import fcntl

        self.fh = open(f"{log}.commit.lock", "a+")  # noqa: SIM115 - held for the lifetime
        fcntl.flock(self.fh, fcntl.LOCK_EX)

    def close(self) -> None:
        self.fh.close()


def _jsonable_config() -> dict:
    """This process's settings (``config.set`` included), for the committer process."""
    from .. import config as _cfg

    return json.loads(json.dumps(_cfg.config.config, default=str))


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    import ctypes

    # no prctl (not Linux): the committer loop's parent check ends it within a tick
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)   # the parent died before the request took effect


def run_committer(spec: dict, stop: threading.Event | None = None) -> int:
    """The committer process of a :class:`LiveService` (``python -m pumplib.live commit``,
    its spec the first line on stdin): commit closed minutes until ``stop`` (the end of
    stdin) or SIGTERM, then everything; return 0."""
    from .. import config as _cfg
    from ..assets import AssetRegistry

    parent = int(spec["parent_pid"])
    _die_with_parent(parent)
    _cfg.config.config.update(spec["config"])
    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    registry = AssetRegistry.load(spec["registry"])
    log = SampleLog(spec["log"])
    lock = _commit_lock(log.path)
    try:
        hooks = _named_hooks(spec["hooks"], spec["store"], spec["registry"])
        committer = Committer(log, spec["store"], registry, cadence=spec["cadence"],
                              on_commit=hooks)
        committer.recover()

        def report(rep: CommitReport | None) -> None:
            if rep is None:
                return
            log_line = (f"committed {rep.samples} samples ({rep.quarantined} quarantined) up to "
                        f"{_iso(rep.stop_ns)} in {rep.seconds:.2f} s: {rep.snapshot}")
            _log.info("live: %s", log_line)
            if not spec.get("quiet"):
                sys.stdout.write(log_line + "\n")
                sys.stdout.flush()

        idle = parse_duration(_cfg.get("live.flush_idle"), "live.flush_idle")
        loop = CommitLoop(log, committer, None if idle is None else idle.total_seconds(),
                          report)
        beat = 0.0
        while not stop.is_set():
            if os.getppid() != parent:
                os._exit(1)                  # the service is gone: so is its committer
            loop.tick()
            if time.monotonic() - beat >= HEARTBEAT_S:
                log.set_state("committer", json.dumps({"pid": os.getpid(),
                                                       "heartbeat_ns": time.time_ns()}))
                beat = time.monotonic()
            stop.wait(0.25)
        loop.flush()
        flush_hooks(hooks)
        return 0
    finally:
        log.set_state("committer", None)
        lock.close()
        log.close()


def live_status(store=None, log=None, *, now_ns: int | None = None) -> dict:
    """Lag, queue depth, log size, the last commit and per-source rates of a store's live log.

    Reads the log read-only (nothing is created). Raises
    :class:`~pumplib.errors.PumplibError` when the store has no live log.
    """
    path = log_path(store, log)
    st = read_stats(path)
    if st is None:
        raise LiveError(f"the live log {path} does not exist (start `pumplib live run "
                        "--store ...` first, or name the log with --log)")
    now = time.time_ns() if now_ns is None else now_ns
    svc = json.loads(st["state"].get("service") or "null") or {}
    com = json.loads(st["state"].get("committer") or "null") or {}
    com_beat = com.get("heartbeat_ns")
    beat = svc.get("heartbeat_ns")
    alive = bool(svc.get("running")) and beat is not None and now - beat < 5 * HEARTBEAT_S * 1e9
    last = st["last_commit"]
    out = {
        "log": st["path"], "log_bytes": st["size_bytes"], "queue_depth": st["depth"],
        "rejects_pending": st["rejects"], "cadence": st["state"].get("cadence"),
        "running": alive, "pid": svc.get("pid"), "broker": svc.get("broker"),
        "committer_pid": com.get("pid") if com_beat is not None
        and now - com_beat < 5 * HEARTBEAT_S * 1e9 else None,
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
