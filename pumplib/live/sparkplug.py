"""Sparkplug B payloads (``spBv1.0/<group>/<type>/<edge node>[/<device>]``) → samples.

The payload is decoded by protobuf (``google.protobuf``, pinned) with a message
class built at import from a descriptor of the Sparkplug B ``Payload`` and
``Metric`` fields the live path reads (Eclipse Tahu's ``sparkplug_b.proto``,
package ``org.eclipse.tahu.protobuf``; the fields it does not read, such as
metadata, property sets, data sets and templates, are skipped as unknown
fields, as protobuf does with any newer field).

- ``NBIRTH`` / ``DBIRTH`` declare each metric's name and alias; ``NDATA`` /
  ``DDATA`` may then carry the alias only. The alias table of each edge node
  and device is kept, and written to the log's state so a restart still knows
  it (until the next birth replaces it).
- A metric's name is the historian tag; its time is the metric's ``timestamp``,
  else the payload's (epoch ms, UTC); ``is_null`` is an empty value; numbers and
  booleans are values (the signed integer types are read back from their two's
  complement); strings are kept as raw text (parsed or quarantined at the
  commit, as a CSV cell is).
- The station of a sample is the edge node id: its source is ``mqtt:<edge node>``.
- ``NDEATH``, ``DDEATH``, ``NCMD``, ``DCMD`` and ``STATE`` carry no readings.

Topics are subscribed when the setting ``live.sparkplug`` is true.
"""

from __future__ import annotations

import json

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from .wal import Sample

__all__ = ["PREFIX", "SparkplugDecoder", "payload_class"]

PREFIX = "spBv1.0"
_MS = 1_000_000
_DATA = {"NDATA", "DDATA", "NBIRTH", "DBIRTH"}
_NO_READINGS = {"NDEATH", "DDEATH", "NCMD", "DCMD", "STATE"}
# Sparkplug B data types: signed integers in int_value / long_value as two's complement
_SIGNED32 = {1, 2, 3}           # Int8, Int16, Int32
_SIGNED64 = {4}                 # Int64
_STRINGS = {12, 14, 15}         # String, Text, UUID

_F = descriptor_pb2.FieldDescriptorProto
_FIELDS = {
    "Metric": [("name", 1, _F.TYPE_STRING), ("alias", 2, _F.TYPE_UINT64),
               ("timestamp", 3, _F.TYPE_UINT64), ("datatype", 4, _F.TYPE_UINT32),
               ("is_historical", 5, _F.TYPE_BOOL), ("is_transient", 6, _F.TYPE_BOOL),
               ("is_null", 7, _F.TYPE_BOOL), ("int_value", 10, _F.TYPE_UINT32),
               ("long_value", 11, _F.TYPE_UINT64), ("float_value", 12, _F.TYPE_FLOAT),
               ("double_value", 13, _F.TYPE_DOUBLE), ("boolean_value", 14, _F.TYPE_BOOL),
               ("string_value", 15, _F.TYPE_STRING), ("bytes_value", 16, _F.TYPE_BYTES)],
    "Payload": [("timestamp", 1, _F.TYPE_UINT64), ("seq", 3, _F.TYPE_UINT64),
                ("uuid", 4, _F.TYPE_STRING), ("body", 5, _F.TYPE_BYTES)],
}
_VALUE_FIELDS = ("int_value", "long_value", "float_value", "double_value", "boolean_value",
                 "string_value", "bytes_value")


def _build():
    fd = descriptor_pb2.FileDescriptorProto(name="pumplib_sparkplug_b.proto",
                                            package="org.eclipse.tahu.protobuf", syntax="proto2")
    payload = fd.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    metric.oneof_decl.add(name="value")
    for msg, name in ((metric, "Metric"), (payload, "Payload")):
        for fname, number, ftype in _FIELDS[name]:
            f = msg.field.add(name=fname, number=number, type=ftype, label=_F.LABEL_OPTIONAL)
            if fname in _VALUE_FIELDS:
                f.oneof_index = 0
    payload.field.add(name="metrics", number=2, type=_F.TYPE_MESSAGE, label=_F.LABEL_REPEATED,
                      type_name=".org.eclipse.tahu.protobuf.Payload.Metric")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload"))


_PAYLOAD = None


def payload_class():
    """The protobuf class of a Sparkplug B ``Payload`` (built once)."""
    global _PAYLOAD
    if _PAYLOAD is None:
        _PAYLOAD = _build()
    return _PAYLOAD


class SparkplugDecoder:
    """Decode Sparkplug B messages; remembers each node's and device's aliases.

    Parameters
    ----------
    aliases : dict, optional
        ``{"group/node[/device]": {alias: name}}`` from an earlier run.
    """

    def __init__(self, aliases: dict | None = None):
        self.aliases: dict[str, dict[int, str]] = {
            k: {int(a): n for a, n in v.items()} for k, v in (aliases or {}).items()}
        self.changed = False

    def state(self) -> str:
        """The alias tables as JSON (for the log's state)."""
        return json.dumps(self.aliases)

    def decode(self, topic: str, payload: bytes, samples: dict, rejects: list) -> None:
        """Add the samples of one message to ``samples[station]``, problems to ``rejects``."""
        from google.protobuf.message import DecodeError

        from .payload import _reject

        parts = topic.split("/")
        if len(parts) not in (4, 5) or parts[0] != PREFIX:
            rejects.append(_reject(topic, payload, "topic is not spBv1.0/<group>/<type>/"
                                   "<edge node>[/<device>]"))
            return
        kind, node = parts[2], parts[3]
        if kind in _NO_READINGS:
            return
        if kind not in _DATA:
            rejects.append(_reject(topic, payload, f"Sparkplug message type {kind!r} is not one "
                                   "of NBIRTH, DBIRTH, NDATA, DDATA (nor a death, command or "
                                   "state)"))
            return
        try:
            msg = payload_class().FromString(payload)
        except DecodeError as exc:
            rejects.append(_reject(topic, payload, f"not a Sparkplug B payload: {exc}"))
            return
        key = "/".join([parts[1], node] + parts[4:])
        table = self.aliases.setdefault(key, {})
        if kind.endswith("BIRTH"):
            table.clear()           # a birth declares the aliases afresh
            self.changed = True
        got = samples.setdefault(node, [])
        for m in msg.metrics:
            name = m.name if m.HasField("name") else None
            if m.HasField("alias"):
                if name:
                    if table.get(m.alias) != name:
                        table[m.alias] = name
                        self.changed = True
                else:
                    name = table.get(m.alias)
            if not name:
                why = (f"metric alias {m.alias} has no name: no birth certificate of {key} "
                       "seen" if m.HasField("alias") else "metric has neither name nor alias")
                rejects.append(_reject(topic, _metric_text(m), why))
                continue
            if m.HasField("timestamp"):
                ts = m.timestamp
            elif msg.HasField("timestamp"):
                ts = msg.timestamp
            else:
                rejects.append(_reject(topic, _metric_text(m), "missing timestamp", tag=name))
                continue
            value, raw = _value(m)
            got.append(Sample(name, int(ts) * _MS, value, raw))


def _value(m) -> tuple[float | None, str | None]:
    if m.is_null:
        return None, None
    which = m.WhichOneof("value")
    if which is None:
        return None, None
    v = getattr(m, which)
    if which == "int_value":
        return float(v - (1 << 32) if m.datatype in _SIGNED32 and v >= 1 << 31 else v), None
    if which == "long_value":
        return float(v - (1 << 64) if m.datatype in _SIGNED64 and v >= 1 << 63 else v), None
    if which in ("float_value", "double_value", "boolean_value"):
        return float(v), None
    if which == "string_value":
        return None, v
    return None, repr(v)[:200]          # bytes: not a reading; quarantined as text


def _metric_text(m) -> str:
    return str(m).replace("\n", " ")[:500]
