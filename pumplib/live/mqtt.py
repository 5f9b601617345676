"""MQTT source: a persistent QoS 1 session whose messages are acknowledged only once logged.

paho-mqtt's network thread hands each message to a queue; a writer thread
decodes a batch of them (:class:`~pumplib.live.payload.Decoder`), stores the
samples and rejects in the write-ahead log in one fsync'd transaction
(:meth:`SampleLog.append_batches`) and only then acknowledges each message
(``client.ack(mid, 1)``, ``manual_ack=True``). A message not yet acknowledged
when the process dies is redelivered by the broker (the session is persistent:
``clean_session=False`` and a fixed client id), and the log stores it once.
Acknowledgements are only sent on the connection that delivered the message:
after a reconnect the broker redelivers what was unacknowledged, so a stale
packet id is never acknowledged on a new connection.

paho-mqtt is imported here only, never by ``import pumplib``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from .. import config
from ..errors import ArgumentError
from .payload import Decoder
from .wal import SampleLog

__all__ = ["BrokerURL", "MqttSource", "parse_broker_url", "default_client_id"]

log = logging.getLogger("pumplib.live")

_SCHEMES = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}


@dataclass(frozen=True)
class BrokerURL:
    """Where the broker is: host, port, TLS and credentials."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:   # never prints the password
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerURL:
    """``mqtt://[user[:password]@]host[:port]`` (``mqtts://`` for TLS).

    >>> parse_broker_url("mqtt://127.0.0.1:1884")
    BrokerURL(host='127.0.0.1', port=1884, tls=False, username=None, password=None)
    >>> parse_broker_url("http://x")
    Traceback (most recent call last):
    ...
    pumplib.errors.ArgumentError: --broker 'http://x': scheme 'http' is not one of mqtt, mqtts, tcp, ssl (e.g. mqtt://127.0.0.1:1883)
    """
    text = str(url).strip()
    p = urlparse(text)
    if p.scheme not in _SCHEMES:
        raise ArgumentError(f"--broker {url!r}: scheme {p.scheme or '(none)'!r} is not one of "
                            f"mqtt, mqtts, tcp, ssl (e.g. mqtt://127.0.0.1:1883)")
    try:
        port = p.port
    except ValueError:
        raise ArgumentError(f"--broker {url!r}: the port is not a number from 1 to 65535") \
            from None
    if not p.hostname:
        raise ArgumentError(f"--broker {url!r}: no host (e.g. mqtt://127.0.0.1:1883)")
    if p.path not in ("", "/") or p.query or p.fragment:
        raise ArgumentError(f"--broker {url!r}: a broker URL has no path or query "
                            "(topics are set by live.topic_prefix)")
    if port == 0:
        raise ArgumentError(f"--broker {url!r}: the port is not a number from 1 to 65535")
    return BrokerURL(p.hostname, port or _SCHEMES[p.scheme], p.scheme in ("mqtts", "ssl"),
                     unquote(p.username) if p.username else None,
                     unquote(p.password) if p.password else None)


def default_client_id(store_url: str) -> str:
    """``live.client_id``, else ``pumplib-live-<hash of the store URL>`` (stable, so the
    broker keeps the session's queue for the same store across restarts)."""
    cid = config.get("live.client_id")
    if cid:
        return str(cid)
    return "pumplib-live-" + hashlib.sha256(str(store_url).encode()).hexdigest()[:12]


class MqttSource:
    """Subscribe to ``<prefix>/#`` with QoS 1 and log every message before its ack.

    Parameters
    ----------
    url : str
        Broker URL (:func:`parse_broker_url`).
    sample_log : SampleLog
        The write-ahead log every message's samples go into before its ack.
    client_id : str
        Persistent session id (:func:`default_client_id`).
    decoder : Decoder, optional
    batch_messages : int, optional
        Messages per log transaction at most (default ``live.batch_messages``).
    """

    def __init__(self, url: str, sample_log: SampleLog, client_id: str, *,
                 decoder: Decoder | None = None, batch_messages: int | None = None):
        self.url = parse_broker_url(url)
        self.log = sample_log
        self.client_id = client_id
        self.decoder = decoder or Decoder()
        self.batch = int(config.get("live.batch_messages", override_with=batch_messages))
        self._q: queue.Queue = queue.Queue(maxsize=max(self.batch * 20, 1000))
        self._gen = 0                 # connection generation: acks go to the one that delivered
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.error: BaseException | None = None
        self.messages = 0
        self.acked = 0
        self.connects = 0
        self._client = None

    # -- paho callbacks (network thread) -----------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("live: broker %s refused the connection: %s", self.url, reason_code)
            return
        self._gen += 1
        self.connects += 1
        self.connected.set()
        prefix = self.decoder.prefix
        topics = [(f"{prefix}/#", 1)]
        if config.get("live.sparkplug"):
            topics.append(("spBv1.0/#", 1))
        client.subscribe(topics)
        log.info("live: connected to %s (session present: %s)", self.url,
                 getattr(flags, "session_present", None))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [str(rc) for rc in reason_codes if rc.is_failure]
        if refused:     # e.g. an ACL: say so, and stay "not connected" in status
            log.warning("live: broker %s refused the subscription: %s", self.url,
                        ", ".join(refused))
            return
        self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        self.subscribed.clear()
        self._gen += 1   # what was delivered before is redelivered: never ack it now
        if not self._stop.is_set():
            log.warning("live: disconnected from %s (%s); reconnecting", self.url, reason_code)

    def _on_message(self, client, userdata, msg) -> None:
        # blocks when the writer is behind: TCP pushes back on the broker, memory stays bounded
        self._q.put((self._gen, msg.mid, msg.qos, msg.topic, msg.payload))

    # -- writer thread ----------------------------------------------------------------------
    def _drain(self) -> list:
        try:
            first = self._q.get(timeout=0.2)
        except queue.Empty:
            return []
        out = [first]
        while len(out) < self.batch:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                break
        return out

    def _write_loop(self) -> None:
        try:
            while True:
                items = self._drain()
                if not items:
                    if self._stop.is_set():
                        return
                    continue
                self._write(items)
        except BaseException as exc:  # noqa: BLE001 - reported by the service
            self.error = exc
            log.exception("live: the MQTT writer stopped")

    def _write(self, items: list) -> None:
        dec = self.decoder.decode([(t, p) for _, _, _, t, p in items])
        batches = {f"mqtt:{st}": s for st, s in dec.samples.items()}
        rejects = [("mqtt", r) for r in dec.rejects]
        self.log.append_batches(batches, rejects)
        sp = self.decoder.sparkplug
        if sp is not None and sp.changed:      # aliases a restart must still know
            self.log.set_state("sparkplug_aliases", sp.state())
            sp.changed = False
        # durable now: acknowledge, on the connection that delivered each message only
        client = self._client
        for gen, mid, qos, _, _ in items:
            if qos and gen == self._gen and client is not None:
                client.ack(mid, qos)
                self.acked += 1
        self.messages += len(items)

    # -- life ---------------------------------------------------------------------------------
    def start(self) -> MqttSource:
        """Connect (in the background; reconnects with backoff) and start logging."""
        import json

        import paho.mqtt.client as mqtt

        known = self.log.get_state("sparkplug_aliases")
        if known and self.decoder.sparkplug_aliases is None:
            self.decoder.sparkplug_aliases = json.loads(known)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             clean_session=False, protocol=mqtt.MQTTv311, manual_ack=True)
        if self.url.username:
            client.username_pw_set(self.url.username, self.url.password)
        if self.url.tls:
            client.tls_set()
        client.reconnect_delay_set(int(config.get("live.reconnect_min")),
                                   int(config.get("live.reconnect_max")))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        self._writer = threading.Thread(target=self._write_loop, name="pumplib-live-writer",
                                        daemon=True)
        self._writer.start()
        client.connect_async(self.url.host, self.url.port, int(config.get("live.keepalive")))
        client.loop_start()
        return self

    def wait_subscribed(self, timeout: float) -> bool:
        return self.subscribed.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop receiving, log and acknowledge what was received, then disconnect."""
        client = self._client
        if client is None:
            return
        # no new messages (the subscription stays: the persistent session keeps queueing
        # for the next start); the network thread still sends the acks the writer queues
        client.on_message = None
        self._stop.set()
        if self._writer is not None:
            self._writer.join(timeout)
        time.sleep(0.05)  # let the network thread send the last acks
        with contextlib.suppress(Exception):
            client.disconnect()
        client.loop_stop()
        self._client = None
