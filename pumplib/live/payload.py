"""MQTT payload format v1 (JSON) → :class:`~pumplib.live.wal.Sample`, with reasons for the rest.

Topic ``<prefix>/<station>/<anything>`` (``live.topic_prefix``, default
``pumplib``; Sparkplug B topics ``spBv1.0/…`` go to :mod:`pumplib.live.sparkplug`);
payload one sample or a batch::

    {"tag": "ST1.P1.FLOW", "ts": 1767225600000, "value": 12.5}
    {"samples": [{"tag": "...", "ts": "2026-01-01T01:00:00+01:00", "value": null}, ...]}

``ts`` is epoch milliseconds (an integer, or a number with a fraction) or an
ISO-8601 string. Strings without a zone are wall times of the station's time
zone (``live.timezones``, else ``live.timezone``, else
``ingest.source_timezone``) and are read by the batch ingest's own reader
(:class:`pumplib.ingest.readers.Reader`: its ISO parser, its handling of the
hour that repeats or does not exist when the clocks change). ``tag`` defaults
to the topic's last level. ``value`` is a number, ``null`` (empty), ``true``
/ ``false`` (1 / 0, as batch ingest reads booleans) or a string, kept as
received in :attr:`Sample.raw` for the committer to parse or quarantine as
batch ingest does.

What cannot become a sample (malformed JSON, a missing or unreadable time, a
topic outside the prefix) is a *reject*: a dict with the quarantine's columns
(``column, raw, reason, timestamp, tag``), stored in the write-ahead log and
written to the lake's quarantine by the next commit, never dropped silently.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from .. import config
from ..errors import PumplibError
from ..ingest.formats import Format
from ..ingest.readers import Reader
from .wal import Sample

__all__ = ["Decoder", "Decoded", "PayloadError", "LIVE_FORMAT", "split_topic"]

#: the declared format of live samples: a long layout whose columns are the payload keys
LIVE_FORMAT = Format(name="live", container="parquet", layout="long", timestamp="ts",
                     tag="tag", value="value", quality=None,
                     description="live samples (MQTT JSON v1, OPC UA) from the write-ahead log")

_MS = 1_000_000


class PayloadError(PumplibError, ValueError):
    """A message that holds no sample at all (its reason goes to the quarantine)."""


def split_topic(topic: str, prefix: str) -> tuple[str, str]:
    """``(station, last level)`` of ``<prefix>/<station>/<anything>``.

    >>> split_topic("pumplib/north/P1/flow", "pumplib")
    ('north', 'flow')
    """
    parts = topic.split("/")
    pre = [p for p in prefix.strip("/").split("/") if p]
    if len(parts) < len(pre) + 2 or parts[:len(pre)] != pre or not parts[len(pre)]:
        raise PayloadError(f"topic {topic!r} is not <{'/'.join(pre)}>/<station>/<anything>")
    return parts[len(pre)], parts[-1]


@dataclass
class Decoded:
    """Samples of one batch of messages, per station, and what was rejected."""

    samples: dict[str, list[Sample]] = field(default_factory=dict)
    rejects: list[dict] = field(default_factory=list)

    def count(self) -> int:
        return sum(len(v) for v in self.samples.values())


class Decoder:
    """Decode MQTT JSON v1 messages; one per live source (it remembers each station's
    reader, so the hour that repeats in autumn is told apart in arrival order as batch
    ingest tells it apart in file order).

    Parameters
    ----------
    prefix : str, optional
        Topic prefix (default: setting ``live.topic_prefix``).
    timezone : str, optional
        Zone of ISO times without an offset (default: ``live.timezone``, else
        ``ingest.source_timezone``).
    timezones : dict, optional
        Per-station zones (default: ``live.timezones``).
    """

    def __init__(self, prefix: str | None = None, timezone: str | None = None,
                 timezones: dict[str, str] | None = None):
        self.prefix = str(config.get("live.topic_prefix", override_with=prefix)).strip("/")
        self.timezone = (timezone or config.get("live.timezone")
                         or config.get("ingest.source_timezone"))
        self.timezones = dict(config.get("live.timezones") or {}) if timezones is None \
            else dict(timezones)
        self._readers: dict[str, Reader] = {}
        #: Sparkplug B decoder (created at the first spBv1.0 message)
        self.sparkplug = None
        self.sparkplug_aliases: dict | None = None

    def zone(self, station: str) -> str:
        return self.timezones.get(station, self.timezone)

    def _reader(self, station: str) -> Reader:
        r = self._readers.get(station)
        if r is None:
            r = self._readers[station] = Reader(
                Path(f"mqtt:{station}"), LIVE_FORMAT, None, self.zone(station),
                ambiguous=config.get("ingest.ambiguous"),
                nonexistent=config.get("ingest.nonexistent"))
        return r

    def decode(self, messages: list[tuple[str, bytes]]) -> Decoded:
        """Decode ``(topic, payload)`` pairs into samples per station and rejects."""
        out = Decoded()
        # ISO strings of each station are parsed together, by the batch reader
        iso: dict[str, list[tuple[str, str, object, str]]] = {}
        for topic, payload in messages:
            if topic.startswith("spBv1.0/"):
                if self.sparkplug is None:
                    from .sparkplug import SparkplugDecoder

                    self.sparkplug = SparkplugDecoder(self.sparkplug_aliases)
                self.sparkplug.decode(topic, payload, out.samples, out.rejects)
                continue
            try:
                station, last = split_topic(topic, self.prefix)
            except PayloadError as exc:
                out.rejects.append(_reject(topic, payload, str(exc)))
                continue
            try:
                doc = json.loads(payload)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                out.rejects.append(_reject(topic, payload, f"payload is not JSON: {exc}"))
                continue
            items = doc.get("samples") if isinstance(doc, dict) and "samples" in doc else [doc]
            if not isinstance(items, list):
                out.rejects.append(_reject(topic, payload, "'samples' is not a list"))
                continue
            got = out.samples.setdefault(station, [])
            for item in items:
                self._item(topic, last, item, got, iso.setdefault(station, []), out.rejects)
        for station, rows in iso.items():
            if rows:
                self._iso(station, rows, out)
        return out

    def _item(self, topic, last, item, got: list, iso: list, rejects: list) -> None:
        if type(item) is dict:            # the usual sample first: epoch ms and a number
            ts, value, tag = item.get("ts"), item.get("value"), item.get("tag", last)
            if type(ts) is int and type(tag) is str and tag:
                tv = type(value)
                if tv is float or value is None:
                    got.append(Sample(tag, ts * _MS, value))
                    return
                if tv is int:
                    got.append(Sample(tag, ts * _MS, float(value)))
                    return
        if not isinstance(item, dict):
            rejects.append(_reject(topic, item, "a sample is a JSON object with ts and value"))
            return
        tag = item.get("tag", last)
        ts = item.get("ts")
        if not isinstance(tag, str) or not tag:
            rejects.append(_reject(topic, item, "tag is not a non-empty string"))
            return
        value, raw = item.get("value"), None
        if isinstance(value, int | float):     # booleans too: 1.0 / 0.0
            value = float(value)
        elif isinstance(value, str):
            value, raw = None, value
        elif value is not None:
            rejects.append(_reject(topic, item, "value is not a number, null or a string",
                                   tag=tag))
            return
        if isinstance(ts, bool) or ts is None:
            rejects.append(_reject(topic, item, "missing timestamp" if ts is None else
                                   "ts is not epoch milliseconds or ISO 8601", tag=tag))
            return
        if isinstance(ts, int):
            got.append(Sample(tag, ts * _MS, value, raw))
        elif isinstance(ts, float):
            if not math.isfinite(ts):
                rejects.append(_reject(topic, item, f"ts {ts!r} is not a time", tag=tag))
                return
            whole = math.floor(ts)      # whole ms exactly, the fraction rounded to the ns
            got.append(Sample(tag, int(whole) * _MS + int(round((ts - whole) * _MS)), value, raw))
        elif isinstance(ts, str):
            iso.append((topic, tag, value, raw, ts, item))
        else:
            rejects.append(_reject(topic, item, "ts is not epoch milliseconds or ISO 8601",
                                   tag=tag))

    def _iso(self, station: str, rows: list, out: Decoded) -> None:
        """ISO strings through the batch reader's parser (zones, DST, bad strings)."""
        reader = self._reader(station)
        col = pa.array([r[4] for r in rows], type=pa.string())
        lines = np.arange(len(rows), dtype=np.int64)
        try:
            # per tag, as batch ingest tells the repeated autumn hour apart per key
            ns, valid = reader._times(col, lines, np.array([r[1] for r in rows], dtype=object))
        except PumplibError as exc:
            for r in rows:
                out.rejects.append(_reject(r[0], r[5], str(exc), tag=r[1]))
            return
        reasons = {rej["line"]: rej["reason"] for rej in reader.rejects}
        reader.rejects.clear()
        got = out.samples[station]
        for i, (topic, tag, value, raw, _ts, item) in enumerate(rows):
            if valid[i] and i not in reasons:
                got.append(Sample(tag, int(ns[i]), value, raw))
            else:
                out.rejects.append(_reject(topic, item, reasons.get(i, "unreadable timestamp"),
                                           tag=tag, timestamp=_ts))


def _reject(topic: str, raw, reason: str, tag: str | None = None,
            timestamp: str | None = None) -> dict:
    if isinstance(raw, bytes | bytearray):
        text = bytes(raw[:500]).decode("utf-8", "replace")
    else:
        text = raw if isinstance(raw, str) else json.dumps(raw, default=str)[:500]
    return {"column": topic, "raw": text, "reason": reason, "timestamp": timestamp, "tag": tag}
