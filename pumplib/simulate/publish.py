"""Publish the simulator's stations live to an MQTT broker (``pumplib simulate publish``).

The simulator (:func:`pumplib.simulate.simulate`) is run one UTC day at a time,
exactly as for file exports, faults included; its export rows are then sent as
a station's historian would forward them: event time advances at ``speed``
times real time (or as fast as the broker takes them, ``speed=None``), and
each station sends one MQTT message per sample time (each second at 1 s)
holding every sample of that time (QoS 1, the MQTT payload format v1 below).

Each row goes out in the second of its true sample time, with its exported
timestamp: a clock-skewed row carries its skewed timestamp, a duplicated row
is sent twice, a gap sends nothing and an out-of-order window of a tag is held
back to the window's last second and sent there in reverse time order (an edge
buffer flushing late), so what a subscriber receives over a whole run is the
same multiset of ``(tag, timestamp, value)`` as the long export file.

MQTT payload format v1 (what :mod:`pumplib.live` decodes)
---------------------------------------------------------
Topic ``pumplib/<station>/<anything>`` (here ``pumplib/<station>/samples``);
payload JSON, one sample ``{"tag": "...", "ts": <epoch ms>, "value": <number|null>}``
or a batch ``{"samples": [{...}, ...]}``. This module sends batches, ``ts`` as
integer epoch milliseconds (UTC), ``null`` for a missing value (a dropout).
The tags are the asset registry's historian tags, so the live path maps them
to asset and signal as batch ingest does.

>>> report = publish("mqtt://127.0.0.1:1883", "catalogs/assets.yaml",
...                  speed=None, minutes=10, faults=("dry_running",))  # doctest: +SKIP
>>> report.samples, report.faults[["fault_id", "kind", "start", "published_at"]]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from ..assets import AssetRegistry
from ..errors import ArgumentError, PumplibError
from .chunk import Chunk
from .constants import DAY_NS, S_NS, SAMPLE_SEED
from .simulation import Simulation, simulate

__all__ = ["TOPIC_ROOT", "BrokerError", "PublishReport", "parse_broker", "parse_faults",
           "parse_speed", "publish", "second_batches", "encode_batch"]

#: first level of every topic of payload format v1
TOPIC_ROOT = "pumplib"
_MS = 1_000_000


class BrokerError(PumplibError, ConnectionError):
    """The MQTT broker cannot be reached, or refused the connection."""


# -- arguments ---------------------------------------------------------------------------

def parse_broker(url: str) -> tuple[str, int]:
    """``mqtt://HOST[:PORT]`` → ``(host, port)`` (port 1883 by default).

    Examples
    --------
    >>> parse_broker("mqtt://127.0.0.1:41873")
    ('127.0.0.1', 41873)
    """
    try:
        parts = urlsplit(str(url))
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme != "mqtt" or not parts.hostname or \
            parts.path not in ("", "/"):
        raise ArgumentError(f"broker URL {url!r} is not valid; expected mqtt://HOST[:PORT], "
                            "e.g. mqtt://127.0.0.1:1883")
    return parts.hostname, port or 1883


def parse_speed(value: Any) -> float | None:
    """A speed-up factor (> 0) or ``None`` for ``"max"`` (as fast as it goes).

    Examples
    --------
    >>> parse_speed("60"), parse_speed("max")
    (60.0, None)
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "max"):
        return None
    try:
        speed = float(value)
    except (TypeError, ValueError):
        speed = math.nan
    if not (math.isfinite(speed) and speed > 0):
        raise ArgumentError(f"speed {value!r} is not valid; expected a number > 0 (times real "
                            "time, e.g. 1 or 60) or 'max' (as fast as the broker takes them)")
    return speed


def parse_faults(text: str | None) -> Any:
    """``--faults`` text → the ``faults=`` argument of :func:`pumplib.simulate.simulate`.

    ``"default"`` (every kind at its default rate), ``"none"``, or
    comma-separated kinds, each optionally with a rate in episodes per asset
    per 30 days (``"dry_running=300,stuck"``).

    Examples
    --------
    >>> parse_faults("none"), parse_faults("stuck,dry_running=30")
    ((), {'stuck': 1.0, 'dry_running': 30.0})
    """
    if text is None or text.strip() == "default":
        return None
    if text.strip() == "none":
        return ()
    from .constants import DEFAULT_FAULT_RATES, OPT_IN_FAULT_KINDS

    rates: dict[str, float] = {}
    for item in (p.strip() for p in text.split(",")):
        kind, eq, rate = item.partition("=")
        kind = kind.strip()
        if not eq:
            rates[kind] = DEFAULT_FAULT_RATES.get(kind, 1.0 if kind in OPT_IN_FAULT_KINDS
                                                  else 0.0) or 1.0
            continue
        try:
            rates[kind] = float(rate)
        except ValueError:
            raise ArgumentError(f"--faults: rate {rate!r} of {kind!r} is not a number; expected "
                                "KIND or KIND=RATE (episodes per asset per 30 days)") from None
    return rates


# -- the rows of one day, in send order ----------------------------------------------------

@dataclass
class _StationDay:
    """One station's export rows of one day, sorted by the second they are sent in."""

    station: str
    prefixes: list[str]          # '{"tag":"…","ts":' per tag code
    ts: np.ndarray               # int64 ns, the exported timestamp
    code: np.ndarray             # tag index into prefixes/tags
    value: np.ndarray            # float64, NaN = null
    tags: tuple[str, ...] = ()
    bounds: np.ndarray = field(default=None, repr=False)  # rows of slot s: bounds[s]:bounds[s+1]


def _station_day(chunk: Chunk, lo: int = 0, hi: int | None = None) -> _StationDay:
    """The chunk's long export rows sent in slots ``lo <= slot < hi``, in send order.

    A row is sent in the slot of its true sample time; the rows of an
    out-of-order window all wait for the window's last slot (see the module doc).
    """
    ts, code, value, _quality = chunk.long_arrays("time")
    times = chunk.times
    n = len(times)
    hi = n if hi is None else hi
    if chunk.ops.skews:      # the true slot of each row: the same rows with skew left out
        probe = replace(chunk, times=np.arange(n, dtype=np.int64),
                        ops=replace(chunk.ops, skews=[]))
        slot = probe.long_arrays("time")[0]
    else:
        step = int(times[1] - times[0]) if n > 1 else S_NS
        slot = (ts - times[0]) // step
    for row, i0, i1 in chunk.ops.ooo:
        slot[(code == row) & (slot >= i0) & (slot <= i1)] = i1
    keep = (slot >= lo) & (slot < hi)
    if not keep.all():
        ts, code, value, slot = ts[keep], code[keep], value[keep], slot[keep]
    if chunk.ops.ooo:
        order = np.argsort(slot, kind="stable")
        ts, code, value, slot = ts[order], code[order], value[order], slot[order]
    value = np.where(np.isfinite(value), value, np.nan)
    return _StationDay(
        station=chunk.station, tags=chunk.tags,
        prefixes=['{"tag":' + json.dumps(t) + ',"ts":' for t in chunk.tags],
        ts=ts, code=code.astype(np.int16 if len(chunk.tags) < 2**15 else np.int32), value=value,
        bounds=np.searchsorted(slot, np.arange(n + 1)))


def encode_batch(prefixes: Sequence[str], ts_ns: np.ndarray, code: np.ndarray,
                 value: np.ndarray) -> bytes:
    """One payload-v1 batch: ``{"samples": [{"tag", "ts" (epoch ms), "value"}, …]}``.

    Examples
    --------
    >>> encode_batch(['{"tag":"P1.FLOW","ts":'], np.array([60_000_000_000]), np.array([0]),
    ...              np.array([np.nan]))
    b'{"samples":[{"tag":"P1.FLOW","ts":60000,"value":null}]}'
    """
    parts = [f'{prefixes[c]}{t},"value":{"null" if v != v else repr(v)}}}'
             for c, t, v in zip(code.tolist(), (ts_ns // _MS).tolist(), value.tolist(),
                                strict=True)]
    return ('{"samples":[' + ",".join(parts) + "]}").encode()


def second_batches(sim: Simulation, start_ns: int | None = None, end_ns: int | None = None
                   ) -> Iterator[tuple[int, list[tuple[_StationDay, slice]]]]:
    """Walk a simulation second by second: ``(send_ns, [(station rows, row slice), …])``.

    Only seconds with ``start_ns <= send_ns < end_ns`` are yielded, in time
    order; a station with no row in a second (a gap) is left out of it.
    """
    n_st = sim.plant.n_stations
    rows: list[_StationDay] = []
    for chunk in sim:                   # one (day, station) at a time: rows kept, chunk freed
        grid = chunk.times              # the day's sample times, the same for every station
        if end_ns is not None and int(grid[0]) >= end_ns:
            return
        lo = 0 if start_ns is None else int(np.searchsorted(grid, start_ns))
        hi = len(grid) if end_ns is None else int(np.searchsorted(grid, end_ns))
        rows.append(_station_day(chunk, lo, hi) if hi > lo else None)
        del chunk
        if len(rows) < n_st:
            continue
        day, rows = rows, []
        if hi <= lo:
            continue
        for s in range(lo, hi):
            batch = []
            for r in day:
                a, b = int(r.bounds[s]), int(r.bounds[s + 1])
                if b > a:
                    batch.append((r, slice(a, b)))
            if batch:
                yield int(grid[s]), batch


# -- the MQTT side ------------------------------------------------------------------------

class _Link:
    """A paho client driven from the publishing thread, with a bounded window of
    unacknowledged QoS 1 messages and reconnection with backoff.

    No network thread: :meth:`send` writes to the socket directly and
    :meth:`pump` reads the acknowledgements (one thread, no GIL hand-offs per
    message). A lost connection is retried from 0.5 s, doubling to 30 s; the
    client keeps every unacknowledged message and sends it again.
    """

    def __init__(self, host: str, port: int, client_id: str, window: int,
                 stop: threading.Event):
        import paho.mqtt.client as mqtt

        self._mqtt = mqtt
        self.where = f"{host}:{port}"
        self.window = max(1, int(window))
        self.stop = stop
        self.sent = self.acked = 0
        self.reconnects = 0
        self._up = False
        self._refused: str | None = None
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                        protocol=mqtt.MQTTv311, clean_session=True)
        c.max_inflight_messages_set(self.window)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        self.client = c
        try:
            c.connect(host, port, keepalive=30)
        except OSError as exc:
            raise BrokerError(f"cannot connect to the MQTT broker at {self.where}: "
                              f"{exc.strerror or exc}") from None
        deadline = time.monotonic() + 10
        while not self._up and self._refused is None and time.monotonic() < deadline:
            c.loop(0.1)
        if not self._up:
            c.disconnect()
            raise BrokerError(f"the MQTT broker at {self.where} did not accept the connection"
                              f"{': ' + self._refused if self._refused else ' within 10 s'}")

    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if reason_code.is_failure:
            self._refused = str(reason_code)
        else:
            self._up = True

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:
        self._up = False

    def _on_publish(self, client, userdata, mid, reason_code=None, properties=None) -> None:
        self.acked += 1

    def pump(self, timeout: float = 0.0) -> None:
        """Read acknowledgements (waiting up to ``timeout`` s); reconnect if the link is down."""
        rc = self.client.loop(timeout)
        if rc == self._mqtt.MQTT_ERR_SUCCESS:
            return
        delay = 0.5
        while not self.stop.is_set():
            try:
                self.client.reconnect()
                self.reconnects += 1
                return
            except OSError:
                if self.stop.wait(delay):
                    return
                delay = min(2 * delay, 30.0)

    def send(self, topic: str, payload: bytes) -> bool:
        """Send one QoS 1 message once the window has room; False if stopped first."""
        while self.sent - self.acked >= self.window:
            if self.stop.is_set():
                return False
            self.pump(0.2)
        info = self.client.publish(topic, payload, qos=1)
        if info.rc not in (self._mqtt.MQTT_ERR_SUCCESS, self._mqtt.MQTT_ERR_NO_CONN,
                           self._mqtt.MQTT_ERR_CONN_LOST):  # kept, sent again on reconnection
            raise BrokerError(f"publishing to {topic} failed: {self._mqtt.error_string(info.rc)}")
        self.sent += 1
        return True

    def wait_until(self, deadline: float) -> bool:
        """Serve the link until ``time.monotonic() >= deadline``; False if stopped first."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            if self.stop.is_set():
                return False
            self.pump(min(left, 0.5))

    def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the broker to acknowledge every message sent."""
        deadline = time.monotonic() + timeout
        while self.acked < self.sent and time.monotonic() < deadline:
            self.pump(0.1)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.client.disconnect()
            self.client.loop(0.1)


# -- publishing ---------------------------------------------------------------------------

@dataclass
class PublishReport:
    """What :func:`publish` sent.

    Attributes
    ----------
    broker : str
    samples, messages : int
        Samples and MQTT messages handed to the client (QoS 1).
    acked_messages : int
        Messages the broker acknowledged (PUBACK) before the end.
    wall_s : float
        Seconds from the first message to the last acknowledgement.
    speed : float or None
        Event seconds per wall second; None: as fast as it goes.
    first_ns, last_ns : int or None
        Event time (UTC ns) of the first and the last second sent.
    faults : pandas.DataFrame
        The injected faults that start in the published window: the simulator's
        truth columns (``start``/``end`` as UTC timestamps), ``station``, and
        ``published_at``, the wall-clock time (UTC) at which the fault's
        first second was sent (NaT if the run stopped before it).
    stopped : bool
        True if ``stop_event`` ended the run early.
    reconnects : int
        Times the connection to the broker was lost and made again.
    """

    broker: str
    samples: int = 0
    messages: int = 0
    acked_messages: int = 0
    wall_s: float = 0.0
    speed: float | None = None
    first_ns: int | None = None
    last_ns: int | None = None
    faults: pd.DataFrame = field(default_factory=pd.DataFrame)
    stopped: bool = False
    reconnects: int = 0

    @property
    def samples_per_s(self) -> float:
        """Samples sent per wall-clock second."""
        return self.samples / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict:
        """JSON-ready: counts, rate, event span and the faults (ISO times)."""
        def iso(ns):
            return None if ns is None else pd.Timestamp(ns, tz="UTC").isoformat()
        faults = []
        for rec in self.faults.to_dict("records"):
            faults.append({k: (None if v is pd.NaT else v.isoformat())
                           if isinstance(v, pd.Timestamp) or v is pd.NaT else v
                           for k, v in rec.items()})
        return {"broker": self.broker, "samples": self.samples, "messages": self.messages,
                "acked_messages": self.acked_messages, "wall_s": round(self.wall_s, 3),
                "samples_per_s": round(self.samples_per_s, 1),
                "speed": "max" if self.speed is None else self.speed,
                "first_ts": iso(self.first_ns), "last_ts": iso(self.last_ns),
                "stopped": self.stopped, "reconnects": self.reconnects, "faults": faults}


def _fault_table(sim: Simulation, start_ns: int, end_ns: int) -> pd.DataFrame:
    truth = sim.truth
    station = {s.asset: s.station for s in sim.specs}
    truth["start"] = pd.to_datetime(truth["start"], utc=True).dt.as_unit("ns")
    truth["end"] = pd.to_datetime(truth["end"], utc=True).dt.as_unit("ns")
    start_i = truth["start"].astype("int64")
    keep = (start_i >= start_ns) & (start_i < end_ns)
    truth = truth[keep.to_numpy()].reset_index(drop=True)
    truth["station"] = truth["asset"].map(station)
    truth["published_at"] = pd.Series(pd.NaT, index=truth.index, dtype="datetime64[ns, UTC]")
    return truth


def publish(broker: str, registry: AssetRegistry | Mapping | str | Path | None = None, *,
            speed: float | str | None = 60.0, start: Any = None, days: int | None = None,
            minutes: float | None = None, freq: Any = "1s", seed: int = SAMPLE_SEED,
            faults: Any = None, stations: Sequence[str] | None = None,
            signals: Sequence[str] | None = None, topic_root: str | None = None,
            client_id: str | None = None, window: int = 2000,
            stop_event: threading.Event | None = None,
            on_fault: Callable[[dict], None] | None = None) -> PublishReport:
    """Publish simulated stations live to an MQTT broker (payload format v1, QoS 1).

    Parameters
    ----------
    broker : str
        ``mqtt://HOST[:PORT]``.
    registry : AssetRegistry, dict, path or None
        The utility to simulate; its historian tags are the tags sent. None: a
        generated registry (:func:`pumplib.simulate.make_registry`).
    speed : float, "max" or None
        Event seconds per wall-clock second (60: an hour in a minute); "max"
        or None: as fast as the broker acknowledges.
    start : str or Timestamp, optional
        Event time of the first sample (naive = UTC; to the millisecond); default:
        now, to the minute.
    days, minutes : optional
        How much event time to publish (one of them; default one day).
    freq, seed, faults, stations, signals
        As for :func:`pumplib.simulate.simulate` (``faults`` also takes the
        ``--faults`` text, see :func:`parse_faults`).
    topic_root : str, optional
        Topic prefix: topics are ``<root>/<station>/samples`` (default: setting
        ``live.topic_prefix``, ``pumplib``, what the live path subscribes to).
    client_id : str, optional
        MQTT client id (default: a random ``pumplib-sim-…``).
    window : int
        Most messages in flight (sent, not yet acknowledged) at once.
    stop_event : threading.Event, optional
        Set it to stop early; what was sent is still drained and reported.
    on_fault : callable, optional
        Called with a fault's row (a dict) when its first second is sent.

    Returns
    -------
    PublishReport
    """
    host, port = parse_broker(broker)
    rate = parse_speed(speed)
    if days is not None and minutes is not None:
        raise ArgumentError("give either days or minutes, not both")
    if days is not None and not (isinstance(days, int) and days >= 1):
        raise ArgumentError(f"days {days!r} is not valid; expected an integer ≥ 1")
    if minutes is not None and not (isinstance(minutes, int | float) and minutes > 0):
        raise ArgumentError(f"minutes {minutes!r} is not valid; expected a number > 0")
    if isinstance(faults, str):
        faults = parse_faults(faults)
    # the payload's epoch milliseconds are exact: the run starts on a whole millisecond
    start_ts = pd.Timestamp.now("UTC").floor("min") if start is None or start == "now" \
        else pd.Timestamp(start).floor("ms")
    span_ns = int(minutes * 60 * S_NS) if minutes is not None else int(days or 1) * DAY_NS
    n_days = max(1, -(-span_ns // DAY_NS))
    sim = simulate(registry, start=start_ts, days=n_days, freq=freq, seed=seed, faults=faults,
                   stations=stations, signals=signals)
    start_ns = sim.start_ns
    end_ns = start_ns + span_ns
    report = PublishReport(broker=f"mqtt://{host}:{port}", speed=rate,
                           faults=_fault_table(sim, start_ns, end_ns))
    if topic_root is None:
        from .. import config

        topic_root = str(config.get("live.topic_prefix", default=TOPIC_ROOT))
    topic_root = topic_root.strip("/") or TOPIC_ROOT
    stop = stop_event if stop_event is not None else threading.Event()
    link = _Link(host, port, client_id or f"pumplib-sim-{uuid.uuid4().hex[:8]}", window, stop)
    try:
        _run(link, sim, start_ns, end_ns, rate, topic_root, report, stop, on_fault)
    finally:
        link.drain(30.0)
        report.acked_messages = link.acked
        report.reconnects = link.reconnects
        link.close()
    return report


def _run(link: _Link, sim: Simulation, start_ns: int, end_ns: int, rate: float | None,
         topic_root: str, report: PublishReport, stop: threading.Event,
         on_fault: Callable[[dict], None] | None) -> None:
    faults = report.faults
    f_start = faults["start"].astype("int64").to_numpy()
    f_order = np.argsort(f_start, kind="stable")
    f_next = 0
    topics: dict[str, str] = {}
    wall0 = None
    for send_ns, batch in second_batches(sim, start_ns, end_ns):
        if wall0 is None:     # the clock starts with the first message (the first day simulated)
            wall0 = time.monotonic()
        if stop.is_set():
            report.stopped = True
            break
        if rate is not None and not link.wait_until(wall0 + (send_ns - start_ns) / S_NS / rate):
            report.stopped = True
            break
        for rows, sl in batch:
            topic = topics.get(rows.station)
            if topic is None:
                topic = topics[rows.station] = f"{topic_root}/{rows.station}/samples"
            payload = encode_batch(rows.prefixes, rows.ts[sl], rows.code[sl], rows.value[sl])
            if not link.send(topic, payload):
                report.stopped = True
                break
            report.messages += 1
            report.samples += sl.stop - sl.start
        if report.stopped:
            break
        link.pump(0.0)
        if report.first_ns is None:
            report.first_ns = send_ns
        report.last_ns = send_ns
        while f_next < len(f_order) and f_start[f_order[f_next]] <= send_ns:
            i = int(f_order[f_next])
            faults.loc[i, "published_at"] = pd.Timestamp.now("UTC")
            if on_fault is not None:
                on_fault(faults.loc[i].to_dict())
            f_next += 1
    link.drain(30.0)
    report.wall_s = 0.0 if wall0 is None else time.monotonic() - wall0


def main(broker: str, registry: Any = None, *, speed: Any = "60", start: Any = None,
         days: int | None = None, minutes: float | None = None, freq: Any = "1s",
         seed: int = SAMPLE_SEED, faults: str = "default", stations: str | None = None,
         as_json: bool = False) -> PublishReport:
    """``pumplib simulate publish``: publish until done, SIGINT or SIGTERM; print the counts.

    Each injected fault is printed (stdout) when its first second is sent:
    ``fault F0003 dry_running N-P2 * event 2026-03-09T01:02:00+00:00 sent
    2026-12-07T17:50:01.123+00:00``; then one line with the totals, or with
    ``as_json`` only :meth:`PublishReport.to_dict` as JSON.
    """
    import signal
    import sys

    stop = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):    # only the main thread may set handlers
            previous[sig] = signal.signal(sig, lambda *_: stop.set())

    def said(row: dict) -> None:
        if not as_json:
            sys.stdout.write(f"fault {row['fault_id']} {row['kind']} {row['asset']} "
                             f"{row['signal']} event {row['start'].isoformat()} sent "
                             f"{row['published_at'].isoformat()}\n")
            sys.stdout.flush()

    try:
        report = publish(broker, registry, speed=speed, start=start, days=days, minutes=minutes,
                         freq=freq, seed=seed, faults=parse_faults(faults),
                         stations=stations.split(",") if stations else None, stop_event=stop,
                         on_fault=said)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict()) + "\n")
    else:
        d = report.to_dict()
        sys.stdout.write(
            f"published {report.samples:,} samples in {report.messages:,} messages to "
            f"{report.broker} ({report.acked_messages:,} acknowledged) in {report.wall_s:.1f} s "
            f"({d['samples_per_s']:,.0f} samples/s), event time {d['first_ts']} to "
            f"{d['last_ts']}, {int(report.faults['published_at'].notna().sum())} faults injected"
            f"{' (stopped)' if report.stopped else ''}\n")
    return report
