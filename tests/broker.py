"""A real MQTT broker for the live-path tests: Debian's mosquitto on a free port.

Each broker gets its own directory (config, persistence file, log), listens on
127.0.0.1 only and keeps retained and queued QoS 1 messages on disk
(``persistence true``), so a broker restart on the same directory keeps a
persistent session's queue, as a utility's broker would.

>>> with Mosquitto(tmp) as broker:          # doctest: +SKIP
...     broker.url                          # 'mqtt://127.0.0.1:41873'
...     broker.restart()                    # same port, same persistence
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have_mosquitto() -> bool:
    return os.access(MOSQUITTO, os.X_OK)


needs_mosquitto = pytest.mark.skipif(
    not have_mosquitto(), reason=f"{MOSQUITTO} missing (make env installs Debian's mosquitto)")


class Mosquitto:
    """Start, stop and restart one mosquitto on a free localhost port."""

    def __init__(self, root: str | os.PathLike, port: int | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        conf = self.root / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.root}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 0\n"
            f"log_dest file {self.root / 'mosquitto.log'}\n"
            # started as root, mosquitto drops to user "mosquitto", which cannot write the
            # persistence file or log here: it would keep no session across a restart
            + ("user root\n" if os.geteuid() == 0 else ""))
        self.conf = conf

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> Mosquitto:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.root / "mosquitto.log")
                raise RuntimeError(f"mosquitto exited {self.proc.returncode}: "
                                   f"{log.read_text()[-500:] if log.exists() else ''}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        """SIGTERM (mosquitto saves its persistence file on the way out)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
