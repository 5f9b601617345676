"""A real MQTT broker for the live-path tests: Debian's mosquitto on a free port.

The broker is :class:`pumplib.live.demo.Broker` (the demo's): its own folder
(config, persistence file, log), 127.0.0.1 only, retained and queued QoS 1
messages kept on disk (``persistence true``, saved every second here), so a
restart on the same folder keeps a persistent session's queue, as a utility's
broker would.

>>> with Mosquitto(tmp) as broker:          # doctest: +SKIP
...     broker.url                          # 'mqtt://127.0.0.1:41873'
...     broker.restart()                    # same port, same persistence
"""

from __future__ import annotations

import os
import shutil

import pytest

from pumplib.live.demo import Broker, free_port

__all__ = ["MOSQUITTO", "Mosquitto", "free_port", "have_mosquitto", "needs_mosquitto"]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def have_mosquitto() -> bool:
    return os.access(MOSQUITTO, os.X_OK)


needs_mosquitto = pytest.mark.skipif(
    not have_mosquitto(), reason=f"{MOSQUITTO} missing (make env installs Debian's mosquitto)")


class Mosquitto(Broker):
    """One mosquitto on a free localhost port, its persistence saved every second."""

    def __init__(self, root: str | os.PathLike, port: int | None = None):
        super().__init__(root, port, executable=MOSQUITTO if have_mosquitto() else None,
                         autosave=1)
