"""OPC UA source of the live path (asyncua subscriptions), and a simulated OPC UA server.

:class:`OpcUaSource` subscribes to the node ids of a mapping node → historian
tag and appends each data-change notification to the live path's
:class:`~pumplib.live.wal.SampleLog` as a :class:`~pumplib.live.wal.Sample`,
with the server's ``SourceTimestamp`` as event time (its ``ServerTimestamp``
when a server sends none). Monitored items ask for the
``StatusValueTimestamp`` trigger and a queue, so a reading repeated with a new
timestamp, and several readings between two notifications, all arrive. A value
with a bad status is stored empty (``None``), as a dropout is; a value that is
not a number is kept as ``raw`` text for the quarantine. A lost connection is
retried with exponential backoff (0.5 s doubling to ``reconnect_max``); on
reconnection the server sends each node's current value again, which the log
stores once (it is idempotent on ``(tag, ts_ns)``).

OPC UA has no acknowledgement a source could hold back until a sample is
durable: samples wait at most ``flush_interval`` (0.2 s) in memory before
:meth:`SampleLog.append` makes them durable.

The mapping lives in a small YAML file, named by the setting ``live.opcua``
(:func:`configured` reads it) or given to :func:`load_config`::

    opcua:
      endpoint: opc.tcp://127.0.0.1:4840/pumplib/
      publishing_interval: 0.5     # seconds between notifications
      queue_size: 1000             # readings a node may queue between notifications
      reconnect_max: 30            # backoff cap, seconds
      nodes:                       # node id → historian tag of the asset registry
        "ns=2;s=NORTH.P1.FLOW": NORTH.P1.FLOW
      node_template: "ns=2;s={tag}"   # or: every registry tag at this node id

:class:`SimulatedServer` serves the simulator's stations as OPC UA variables
(``ns=<index of urn:pumplib:simulator>;s=<tag>``), for the tests and the demo.

>>> cfg = load_config("sources.yaml", registry="catalogs/assets.yaml")   # doctest: +SKIP
>>> run_source(cfg, SampleLog("live/wal.sqlite"), stop_event)             # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from asyncua import Client, Server, ua

from ..errors import ConfigError, PumplibError, UnknownNameError, choices_message
from ..serve import free_port
from .wal import Sample, SampleLog

__all__ = ["NAMESPACE", "OpcUaConfig", "OpcUaSource", "SimulatedServer", "configured",
           "load_config", "run_source", "run_until_set", "serve_simulated", "to_sample"]

_log = logging.getLogger(__name__)

#: namespace URI of the simulated server's variables
NAMESPACE = "urn:pumplib:simulator"
_KEYS = ("endpoint", "nodes", "node_template", "publishing_interval", "queue_size",
         "reconnect_max")
_NO_DATA_YET = ua.StatusCodes.BadWaitingForInitialData
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


class OpcUaError(PumplibError, ConnectionError):
    """The OPC UA server cannot be reached or refuses the subscription."""


# -- configuration ---------------------------------------------------------------------------

@dataclass(frozen=True)
class OpcUaConfig:
    """Where to subscribe and what each node is.

    Attributes
    ----------
    endpoint : str
        ``opc.tcp://HOST:PORT[/path]``.
    nodes : dict
        Node id string (``ns=2;s=…``, ``ns=2;i=…``) → historian tag.
    publishing_interval : float
        Seconds between the server's notifications.
    queue_size : int
        Readings a monitored item may queue between two notifications.
    reconnect_max : float
        Cap of the reconnection backoff, seconds.
    """

    endpoint: str
    nodes: dict[str, str]
    publishing_interval: float = 0.5
    queue_size: int = 1000
    reconnect_max: float = 30.0
    source: str = field(default="", compare=False)

    def __post_init__(self):
        if not self.source:
            object.__setattr__(self, "source", f"opcua:{self.endpoint}")


def load_config(spec: str | Path | Mapping, registry: Any = None) -> OpcUaConfig:
    """Read the ``opcua:`` block of a live-sources YAML file (or a dict holding it).

    Parameters
    ----------
    spec : path or mapping
        The YAML file, or its content.
    registry : AssetRegistry, path or None
        When given, every tag must be one of its historian tags, and
        ``node_template`` maps all of them.

    Raises
    ------
    ConfigError, UnknownNameError
        One line naming the file and the key, with the valid choices.
    """
    where = str(spec) if isinstance(spec, str | Path) else "opcua config"
    if isinstance(spec, str | Path):
        try:
            data = yaml.safe_load(Path(spec).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{spec}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(f"{spec}:{at} not valid YAML ({getattr(exc, 'problem', exc)})"
                              ) from None
    else:
        data = dict(spec)
    if not isinstance(data, Mapping) or not isinstance(data.get("opcua"), Mapping):
        raise ConfigError(f"{where}: no 'opcua:' block (a mapping with keys "
                          f"{', '.join(_KEYS)})")
    block = data["opcua"]
    for key in block:
        if key not in _KEYS:
            raise UnknownNameError(f"{where}: opcua: " + choices_message("key", key, _KEYS))
    endpoint = block.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith("opc.tcp://"):
        raise ConfigError(f"{where}: opcua.endpoint {endpoint!r} is not valid; expected "
                          "opc.tcp://HOST:PORT[/path]")
    tags = _registry_tags(registry)
    nodes: dict[str, str] = {}
    template = block.get("node_template")
    if template is not None:
        if not isinstance(template, str) or "{tag}" not in template:
            raise ConfigError(f"{where}: opcua.node_template {template!r} is not valid; expected "
                              "a node id with {tag}, e.g. 'ns=2;s={tag}'")
        if tags is None:
            raise ConfigError(f"{where}: opcua.node_template needs the asset registry "
                              "(its tags are the nodes)")
        nodes.update({template.replace("{tag}", t): t for t in tags})
    given = block.get("nodes") or {}
    if not isinstance(given, Mapping):
        raise ConfigError(f"{where}: opcua.nodes must map node ids to historian tags, "
                          "e.g. {'ns=2;s=NORTH.P1.FLOW': NORTH.P1.FLOW}")
    for node, tag in given.items():
        if tags is not None and tag not in tags:
            raise UnknownNameError(f"{where}: opcua.nodes[{node!r}]: "
                                   + choices_message("tag", tag, tags))
        nodes[str(node)] = str(tag)
    if not nodes:
        raise ConfigError(f"{where}: opcua: no nodes; give 'nodes' (node id → tag) or "
                          "'node_template'")
    for node in nodes:
        try:
            ua.NodeId.from_string(node)
        except (ValueError, ua.UaError, IndexError, KeyError) as exc:
            raise ConfigError(f"{where}: opcua.nodes: {node!r} is not a node id ({exc}); "
                              "expected e.g. 'ns=2;s=NORTH.P1.FLOW' or 'ns=2;i=1001'") from None
    kw = {}
    for key, lo in (("publishing_interval", 0.01), ("reconnect_max", 0.1), ("queue_size", 1)):
        if key in block:
            v = block[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= lo:
                raise ConfigError(f"{where}: opcua.{key} {v!r} is not valid; expected a number "
                                  f"≥ {lo}")
            kw[key] = int(v) if key == "queue_size" else float(v)
    return OpcUaConfig(endpoint=endpoint, nodes=nodes, **kw)


def configured(registry: Any = None) -> OpcUaConfig | None:
    """The OPC UA source of the setting ``live.opcua`` (a YAML file), or None if unset.

    ``registry`` defaults to the setting ``assets.registry``: every tag is checked
    against it.
    """
    from .. import config

    path = config.get("live.opcua")
    if path is None:
        return None
    return load_config(path, registry if registry is not None
                       else config.get("assets.registry"))


def _registry_tags(registry: Any) -> set[str] | None:
    if registry is None:
        return None
    from ..assets import AssetRegistry

    reg = registry if isinstance(registry, AssetRegistry) else \
        AssetRegistry.from_dict(dict(registry)) if isinstance(registry, Mapping) else \
        AssetRegistry.load(registry)
    return set(reg.tags)


# -- notifications → samples ------------------------------------------------------------------

def _ns(ts: _dt.datetime) -> int:
    """A datetime (naive = UTC) as integer epoch nanoseconds, exactly."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=_dt.UTC)
    d = ts - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1_000


def to_sample(tag: str, value: Any, dv: ua.DataValue) -> Sample | None:
    """One notification as a Sample.

    None when it carries no timestamp at all, or says the node has had no
    reading yet (``BadWaitingForInitialData``, what a server reports before
    its first value): neither is a reading at any moment.
    """
    status = dv.StatusCode
    ts = dv.SourceTimestamp or dv.ServerTimestamp
    if ts is None or status is not None and status.value == _NO_DATA_YET:
        return None
    if status is not None and status.is_bad() or value is None:
        return Sample(tag, _ns(ts), None)
    if isinstance(value, bool | int | float):
        v = float(value)
        return Sample(tag, _ns(ts), v if math.isfinite(v) else None)
    try:
        return Sample(tag, _ns(ts), float(str(value)))
    except ValueError:
        return Sample(tag, _ns(ts), None, raw=str(value))


class _Handler:
    """asyncua's callback: notifications into the source's buffer."""

    def __init__(self, source: OpcUaSource, tags: dict):
        self.source = source
        self.tags = tags

    def datachange_notification(self, node, val, data) -> None:
        tag = self.tags.get(node.nodeid)
        if tag is None:
            return
        s = to_sample(tag, val, data.monitored_item.Value)
        self.source.received += 1
        if s is None:
            self.source.untimed += 1
        else:
            self.source._buffer.append(s)

    def status_change_notification(self, status) -> None:
        self.source._lost.set()


# -- the source -----------------------------------------------------------------------------

class OpcUaSource:
    """Subscribe to the configured nodes and append what they report to a SampleLog.

    Parameters
    ----------
    config : OpcUaConfig
    log : SampleLog
    flush_interval : float
        Most seconds a notification waits in memory before it is appended.

    Attributes
    ----------
    received, appended, untimed, connects : int
        Notifications received, new samples appended, notifications that are
        no reading (no timestamp, or no value yet; dropped), successful
        connections.
    last_error : str or None
    connected : threading.Event
        Set while subscribed.
    """

    def __init__(self, config: OpcUaConfig, log: SampleLog, *, flush_interval: float = 0.2):
        self.config = config
        self.log = log
        self.flush_interval = flush_interval
        self.received = self.appended = self.untimed = self.connects = 0
        self.last_error: str | None = None
        self.connected = threading.Event()
        self._buffer: list[Sample] = []
        self._lost = asyncio.Event()

    async def _flush(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self.appended += await asyncio.to_thread(self.log.append, batch, self.config.source)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Subscribe, and re-subscribe after any loss with backoff, until ``stop`` is set."""
        stop = stop or asyncio.Event()
        delay = 0.5
        while not stop.is_set():
            try:
                await self._session(stop)
                delay = 0.5
            except (TimeoutError, OSError, ua.UaError, ConnectionError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                _log.info("OPC UA %s: %s; retrying in %.1f s", self.config.endpoint,
                          self.last_error, delay)
            finally:
                self.connected.clear()
                await self._flush()
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(2 * delay, self.config.reconnect_max)

    async def _session(self, stop: asyncio.Event) -> None:
        cfg = self.config
        client = Client(cfg.endpoint, timeout=4, watchdog_intervall=1.0)
        self._lost = asyncio.Event()

        async def lost(exc):
            self._lost.set()

        client.connection_lost_callback = lost
        await client.connect()
        try:
            ids = {ua.NodeId.from_string(n): t for n, t in cfg.nodes.items()}
            sub = await client.create_subscription(cfg.publishing_interval * 1000,
                                                   _Handler(self, ids))
            flt = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
            # Subscription._subscribe is the one call that takes a filter for many nodes
            results = await sub._subscribe([client.get_node(n) for n in ids], mfilter=flt,
                                           queuesize=cfg.queue_size, sampling_interval=0.0)
            bad = [n for n, r in zip(cfg.nodes, results, strict=True)
                   if isinstance(r, ua.StatusCode)]
            if bad:
                _log.warning("OPC UA %s: cannot monitor %s", cfg.endpoint, ", ".join(bad[:10]))
            self.connects += 1
            self.connected.set()
            while not stop.is_set() and not self._lost.is_set():
                await asyncio.sleep(self.flush_interval)
                await self._flush()
                if client.uaclient.state.name not in ("CONNECTED",):
                    break
            if not stop.is_set():
                raise ConnectionError("connection lost")
        finally:
            self.connected.clear()
            await self._flush()
            with contextlib.suppress(TimeoutError, OSError, ua.UaError, ConnectionError, RuntimeError):
                await asyncio.wait_for(client.disconnect(), 2)


def run_source(config: OpcUaConfig, log: SampleLog,
               stop_event: threading.Event | None = None, *,
               flush_interval: float = 0.2) -> OpcUaSource:
    """Run an :class:`OpcUaSource` in this thread until ``stop_event`` is set (blocking).

    Returns the source (its counters) when stopped.
    """
    source = OpcUaSource(config, log, flush_interval=flush_interval)
    run_until_set(source, stop_event or threading.Event())
    return source


def run_until_set(source: OpcUaSource, stop_event: threading.Event) -> None:
    """Run ``source`` on an event loop of this thread until ``stop_event`` is set."""

    async def main():
        async with _stopped_by(stop_event) as stop:
            await source.run(stop)

    asyncio.run(main())


@contextlib.asynccontextmanager
async def _stopped_by(stop_event: threading.Event):
    """An asyncio event set once the thread event ``stop_event`` is (polled every 0.1 s)."""
    stop = asyncio.Event()

    async def watch():
        while not stop_event.is_set():
            await asyncio.sleep(0.1)
        stop.set()

    watcher = asyncio.create_task(watch())
    try:
        yield stop
    finally:
        watcher.cancel()


# -- a simulated server -----------------------------------------------------------------------

class SimulatedServer:
    """An asyncua server whose variables are the simulator's historian tags.

    Every tag of the registry is a Double variable ``ns=<idx>;s=<tag>`` under
    ``Objects/<station>``. :meth:`write` sets values with their source
    timestamps; :meth:`play` replays the simulator live (see
    :func:`pumplib.simulate.publish.second_batches`).

    Parameters
    ----------
    registry : AssetRegistry, dict, path or None
        As for :func:`pumplib.simulate.simulate` (None: a generated one).
    host, port : str, int
        Where to listen (port None: a free one).

    Examples
    --------
    >>> async with SimulatedServer(reg, port=4840) as srv:          # doctest: +SKIP
    ...     srv.endpoint, srv.config().nodes
    ...     await srv.play(speed=60, start="2026-03-09", minutes=10)
    """

    def __init__(self, registry: Any = None, *, host: str = "127.0.0.1", port: int | None = None):
        from ..simulate.registry import _as_registry

        self.registry = _as_registry(registry)
        self.host = host
        self.port = port or free_port()
        self.endpoint = f"opc.tcp://{host}:{self.port}/pumplib/"
        self.server: Server | None = None
        self.ns = 2
        self._ids: dict[str, ua.NodeId] = {}

    async def start(self) -> SimulatedServer:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("pumplib simulated stations")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.ns = await server.register_namespace(NAMESPACE)
        objects = server.nodes.objects
        folders: dict[str, Any] = {}
        for tag, info in sorted(self.registry.tags.items()):
            station = self.registry.assets[info.asset].station
            if station not in folders:
                folders[station] = await objects.add_object(self.ns, station)
            nid = ua.NodeId(tag, self.ns)
            node = await folders[station].add_variable(nid, tag,
                                                       ua.Variant(0.0, ua.VariantType.Double))
            # no reading yet: a subscriber's first notification says so (and is not stored)
            await node.write_value(ua.DataValue(
                ua.Variant(None), ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData)))
            self._ids[tag] = nid
        await server.start()
        self.server = server
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def restart(self, down_s: float = 0.0) -> None:
        """Stop listening, stay away ``down_s`` seconds, listen again (same nodes and values):
        a server that goes away and comes back."""
        await self.server.stop()
        await asyncio.sleep(down_s)
        await self.server.start()

    async def __aenter__(self) -> SimulatedServer:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def config(self, **kw) -> OpcUaConfig:
        """A source configuration that subscribes to every tag served."""
        return OpcUaConfig(endpoint=self.endpoint,
                           nodes={ids.to_string(): tag for tag, ids in self._ids.items()}, **kw)

    async def write(self, samples: Iterable[tuple[str, int, float | None]]) -> int:
        """Set ``(tag, ts_ns, value)`` readings in order; None is a bad-status reading."""
        n = 0
        for tag, ts_ns, value in samples:
            when = _EPOCH + _dt.timedelta(microseconds=int(ts_ns) // 1000)
            if value is None or value != value:
                dv = ua.DataValue(ua.Variant(None), ua.StatusCode(ua.StatusCodes.BadNoCommunication),
                                  SourceTimestamp=when, ServerTimestamp=when)
            else:
                dv = ua.DataValue(ua.Variant(float(value), ua.VariantType.Double),
                                  SourceTimestamp=when, ServerTimestamp=when)
            await self.server.write_attribute_value(self._ids[tag], dv)
            n += 1
        return n

    async def play(self, *, speed: float | None = 60.0, start: Any = "2026-03-09",
                   days: int | None = None, minutes: float | None = None, freq: Any = "1s",
                   seed: int | None = None, faults: Any = None,
                   stop: asyncio.Event | None = None) -> int:
        """Replay the simulator into the variables at ``speed``× real time; return the count."""
        import pandas as pd

        from ..simulate.constants import DAY_NS, S_NS, SAMPLE_SEED
        from ..simulate.publish import second_batches
        from ..simulate.simulation import simulate

        span = int(minutes * 60 * S_NS) if minutes is not None else int(days or 1) * DAY_NS
        sim = simulate(self.registry, start=pd.Timestamp(start), days=max(1, -(-span // DAY_NS)),
                       freq=freq, seed=SAMPLE_SEED if seed is None else seed, faults=faults)
        t0, n, wall0 = sim.start_ns, 0, None
        for send_ns, batch in second_batches(sim, t0, t0 + span):
            if stop is not None and stop.is_set():
                break
            wall0 = time.monotonic() if wall0 is None else wall0
            if speed:
                delay = wall0 + (send_ns - t0) / S_NS / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            for rows, sl in batch:
                n += await self.write(
                    (rows.tags[c], t, None if v != v else v) for c, t, v in
                    zip(rows.code[sl].tolist(), rows.ts[sl].tolist(), rows.value[sl].tolist(),
                        strict=True))
            await asyncio.sleep(0)
        return n


def serve_simulated(registry: Any = None, *, host: str = "127.0.0.1", port: int = 4840,
                    speed: float | None = 60.0, start: Any = None, days: int | None = None,
                    minutes: float | None = None, freq: Any = "1s", faults: Any = None,
                    stop_event: threading.Event | None = None,
                    ready: threading.Event | None = None, linger: float | None = 2.0) -> int:
    """Serve the simulator's stations over OPC UA at ``speed``× real time (blocking).

    Returns the number of readings written once the run has ended and the
    server has gone on serving its last values for ``linger`` seconds (so
    subscribers get the last notifications; None: until ``stop_event``), or
    as soon as ``stop_event`` is set. ``ready`` is set once the server listens.
    """
    import pandas as pd

    stop_event = stop_event or threading.Event()
    start = pd.Timestamp.now("UTC").floor("min") if start is None else start

    async def main() -> int:
        async with SimulatedServer(registry, host=host, port=port) as srv:
            if ready is not None:
                ready.set()
            async with _stopped_by(stop_event) as stop:
                n = await srv.play(speed=speed, start=start, days=days, minutes=minutes,
                                   freq=freq, faults=faults, stop=stop)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), linger)
                return n

    try:
        return asyncio.run(main())
    except OSError as exc:
        raise OpcUaError(f"cannot serve OPC UA at {host}:{port}: {exc.strerror or exc}"
                         ) from None
