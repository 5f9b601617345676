"""``pumplib live demo``: a broker, the simulator, the live path and the operations app on one machine.

:class:`LiveDemo` starts, in this order:

1. **mosquitto** (:class:`Broker`): Debian's broker on a free localhost port, with
   persistence on, in a folder of its own under the demo's folder (default
   ``runs/live-demo/`` of the project, else a temporary folder);
2. **the live service** (:class:`pumplib.live.service.LiveService`) in a thread, on a
   fresh store in that folder, with the minute rows and the streaming alerts as commit
   hooks (``--rows --alerts``);
3. **the simulator's publisher** (:func:`pumplib.simulate.publish.publish`) in a
   thread: the registry's stations with their faults, first ``hours`` of history up to
   now at ``speed`` times real time, then on in real time (event time never runs
   ahead of the clock, so nothing is taken for a sample from the future);
4. once the first minutes are built, **the operations app** (marimo, or Voila) on
   the store (:func:`pumplib.serve.serve_ops`), whose live view redraws itself.

:meth:`LiveDemo.stop` (Ctrl-C or SIGTERM under :func:`main`) stops them in reverse:
the app, the publisher, the live service (which commits what its log holds) and the
broker.

Examples
--------
>>> with LiveDemo("./runs/live-demo", serve=None) as demo:     # doctest: +SKIP
...     demo.wait_for_minutes(5)
...     demo.store
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd

from .. import config
from ..errors import ArgumentError, PumplibError
from ..serve import free_port

__all__ = ["Broker", "DemoError", "LiveDemo", "main", "mosquitto_path"]

log = logging.getLogger("pumplib.live")
ROOT = Path(__file__).resolve().parents[2]
#: the demo's faults (episodes per pump per 30 days): a few within its first hours
DEMO_FAULTS = "dry_running=400,dropout=300,out_of_range=300,stuck=100,spike=30"


class DemoError(PumplibError, RuntimeError):
    """A part of the live demo could not start."""


def mosquitto_path(executable: str | os.PathLike | None = None) -> str:
    """The mosquitto binary: ``executable``, else on ``PATH``, else ``/usr/sbin/mosquitto``;
    raises :class:`DemoError` (one line naming ``make env``) when it is missing."""
    path = os.fspath(executable) if executable else (shutil.which("mosquitto")
                                                     or "/usr/sbin/mosquitto")
    if not os.access(path, os.X_OK):
        raise DemoError(f"mosquitto is missing ({path}): `make env` installs Debian's "
                        "mosquitto (or: apt-get install mosquitto)")
    return path


class Broker:
    """One mosquitto on a free 127.0.0.1 port, persistence on, in folder ``root``.

    ``start()`` waits until it listens; ``stop()`` sends SIGTERM (mosquitto saves its
    persistence file on the way out). A context manager.
    """

    def __init__(self, root: str | os.PathLike, port: int | None = None, *,
                 executable: str | os.PathLike | None = None, autosave: int = 5):
        self.executable = mosquitto_path(executable)
        self.autosave = int(autosave)
        self.root = Path(root).resolve()
        self.port = int(port or free_port())
        self.proc: subprocess.Popen | None = None
        self.conf = self.root / "mosquitto.conf"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> Broker:
        self.root.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.root}/\n"
            f"autosave_interval {self.autosave}\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 0\n"
            f"log_dest file {self.root / 'mosquitto.log'}\n"
            # as root, mosquitto drops to user "mosquitto", which cannot write here
            + ("user root\n" if os.geteuid() == 0 else ""))
        self.proc = subprocess.Popen([self.executable, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.root / "mosquitto.log")
                raise DemoError(f"mosquitto exited with status {self.proc.returncode}: "
                                + (tail.read_text()[-300:].strip() if tail.exists() else ""))
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            time.sleep(0.05)
        self.stop()
        raise DemoError(f"mosquitto did not listen on port {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port and persistence (a broker restart)."""
        self.stop()
        self.start()

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def default_folder() -> Path:
    """``runs/live-demo`` of the project (the folder of ``pumplib-project.yaml`` or the
    source checkout), else a new temporary folder."""
    runs = ROOT / "runs"
    if (ROOT / "pyproject.toml").exists() and os.access(ROOT, os.W_OK):
        return runs / "live-demo"
    import tempfile

    return Path(tempfile.mkdtemp(prefix="pumplib-live-demo-"))


class LiveDemo:
    """Broker, live service, simulator and app (see the module). A context manager.

    Parameters
    ----------
    folder : path, optional
        Where the broker, store, log and action log live (default: :func:`default_folder`);
        the store and log there are made afresh.
    registry : path, optional
        The stations to simulate and map (default: setting ``assets.registry``).
    speed : float
        Event seconds per wall second while the history is replayed.
    hours : float
        History published before real time (ends now).
    faults : str
        The simulator's faults (``--faults`` text; default every kind at a rate that
        shows some within the hour).
    serve : {"marimo", "voila", None}
        The app to serve once the first minutes are built; None: none.
    port : int, optional
        The app's port (default: a free one).
    """

    def __init__(self, folder=None, *, registry=None, speed: float = 60.0, hours: float = 6.0,
                 faults: str = DEMO_FAULTS,
                 serve: str | None = "marimo", port: int | None = None,
                 mosquitto: str | None = None, log=print):
        from ..simulate.publish import parse_faults, parse_speed

        if parse_speed(speed) is None:
            raise ArgumentError("the demo replays its history at a speed > 0 (e.g. 60)")
        if not (float(hours) > 0):
            raise ArgumentError(f"hours must be > 0, got {hours!r}")
        if serve not in ("marimo", "voila", None):
            raise ArgumentError(f"app {serve!r} is not valid; expected marimo or voila")
        self.faults = parse_faults(faults)
        self.folder = Path(folder).resolve() if folder else default_folder().resolve()
        self.registry = Path(config.get("assets.registry", override_with=registry)).resolve()
        if not self.registry.is_file():
            raise ArgumentError(f"asset registry {self.registry} does not exist")
        self.speed, self.hours = float(speed), float(hours)
        self.serve, self.port, self.say = serve, port, log or (lambda _m: None)
        self.broker = Broker(self.folder / "broker", executable=mosquitto)
        self.store = str(self.folder / "store")
        self.log_file = self.folder / "store.live.sqlite"
        self.url: str | None = None
        self.service = None
        self.reports: list = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- start ------------------------------------------------------------------------------
    def start(self, timeout: float = 600.0) -> LiveDemo:
        """Start everything; return once the app answers (or the first minutes are built
        when ``serve`` is None)."""
        from .service import LiveService

        self.folder.mkdir(parents=True, exist_ok=True)
        for old in (self.folder / "store", self.folder / "broker"):
            shutil.rmtree(old, ignore_errors=True)
        for old in self.folder.glob("store.*sqlite*"):     # the log and the action log
            old.unlink()
        self.broker.start()
        self.say(f"live demo: mosquitto at {self.broker.url} (folder {self.broker.root})")
        self.service = LiveService(self.broker.url, self.store, str(self.registry),
                                   log=self.log_file, hooks=("rows", "alerts"),
                                   client_id="pumplib-live-demo")
        self.service.on_report = self.reports.append
        ready = threading.Event()
        self._spawn(self._run_service, ready, name="pumplib-demo-live")
        if not ready.wait(60):
            self.stop()
            raise DemoError(f"the live service did not connect to {self.broker.url}")
        self._spawn(self._publish, name="pumplib-demo-publisher")
        self.say(f"live demo: publishing {self.hours:g} h of the simulated stations at "
                 f"{self.speed:g}x real time, then in real time (faults included)")
        self.wait_for_minutes(1, timeout=timeout)
        if self.serve is not None:
            from ..serve import serve_ops

            self.url = serve_ops(self.store, port=self.port, kind=self.serve, block=False,
                                 registry=self.registry, timeout=timeout, warm=False)
            self.say(f"pumplib operations ({self.serve}) at {self.url} — live view: "
                     "'Live: the last hour'; Ctrl-C stops the demo")
        return self

    def _spawn(self, target, *args, name: str) -> None:
        def guarded():
            try:
                target(*args)
            except BaseException as exc:  # noqa: BLE001 - reported by wait/stop
                self.errors.append(exc)
                log.exception("live demo: %s failed", name)
                self._stop.set()
        t = threading.Thread(target=guarded, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _run_service(self, ready: threading.Event) -> None:
        self.service.run(install_signals=False, ready=ready)

    def _publish(self) -> None:
        from ..simulate.publish import publish

        now = pd.Timestamp.now("UTC").floor("min")
        start = now - pd.Timedelta(hours=self.hours)
        minutes = self.hours * 60
        while not self._stop.is_set():
            publish(self.broker.url, str(self.registry), speed=self.speed, start=start,
                    minutes=minutes, faults=self.faults, stop_event=self._stop,
                    client_id="pumplib-demo-sim")
            # then real time, a day per run; the next run starts where this one ended
            start = start + pd.Timedelta(minutes=minutes)
            self.speed, minutes = 1.0, 24 * 60.0

    # -- state ------------------------------------------------------------------------------
    def minutes_built(self) -> int:
        """1-minute rows in the store so far (0 before the first build)."""
        from ..errors import LakeError
        from ..lake import Lake

        try:
            ds = Lake(self.store, create=False).open_group("features/1min")
        except (LakeError, FileNotFoundError, OSError):
            return 0
        if ds is None or "energy_coverage" not in ds:
            return 0
        cov = ds["energy_coverage"].max("asset").values
        return int((cov > 0).sum())

    def wait_for_minutes(self, n: int, timeout: float = 600.0) -> int:
        """Wait until ``n`` 1-minute rows are built; raises :class:`DemoError` when a part
        failed or ``timeout`` seconds passed."""
        deadline = time.monotonic() + timeout
        while True:
            if self.errors:
                raise DemoError(f"live demo: {self.errors[0]}")
            got = self.minutes_built()
            if got >= n:
                return got
            if time.monotonic() > deadline:
                raise DemoError(f"live demo: {got} of {n} minutes built within {timeout:.0f} s")
            time.sleep(0.5)

    # -- stop -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the app, the publisher, the live service (its last commit) and the broker."""
        self._stop.set()
        if self.url is not None:
            from ..serve import stop as stop_server

            with contextlib.suppress(Exception):
                stop_server(self.url)
            self.url = None
        if self.service is not None:
            self.service.stop()
        for t in self._threads:
            t.join(120)
        self._threads = []
        self.broker.stop()

    def __enter__(self) -> LiveDemo:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(folder=None, *, registry=None, speed: float = 60.0, hours: float = 6.0,
         serve: str = "marimo", port: int | None = None, open_browser: bool = True) -> int:
    """``pumplib live demo``: run until Ctrl-C or SIGTERM, then stop everything; 0."""
    stop = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):     # only the main thread sets handlers
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    demo = LiveDemo(folder, registry=registry, speed=speed, hours=hours, serve=serve,
                    port=port)
    try:
        demo.start()
        if open_browser and demo.url:
            import webbrowser

            webbrowser.open(demo.url)
        while not stop.wait(1.0):
            if demo.errors:
                raise DemoError(f"live demo: {demo.errors[0]}")
    finally:
        print("live demo: stopping (the live path commits what its log holds)", flush=True)
        demo.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
