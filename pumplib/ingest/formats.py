"""Declared historian export formats and their registry.

A format is data, not code: which container (CSV or Parquet), which layout
(long ``timestamp, tag, value, quality`` rows or wide one-column-per-tag
rows), how timestamps are written and in which zone, and how columns map to
assets and signals. Adding a format means declaring one :class:`Format`
(in Python, in YAML via :meth:`Format.from_dict`, or through the
``pumplib.readers`` entry point group), never writing a new parser.

Examples
--------
>>> get_format("long_csv").layout
'long'
>>> fmt = Format.from_dict({"name": "plant_x", "container": "csv", "layout": "wide",
...                         "delimiter": ";", "timestamp": "Time", "timezone": "UTC"})
>>> register_format(fmt).name
'plant_x'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib.metadata import entry_points
from pathlib import Path

from ..errors import SchemaError, UnknownNameError, choices_message

LAYOUTS = ("long", "wide")
CONTAINERS = ("csv", "parquet")


@dataclass(frozen=True)
class ColumnRule:
    """Maps wide columns matching ``pattern`` to an asset and a signal.

    ``asset`` may use regex groups (``{1}``) and the file's ``{stem}`` and
    ``{parent}`` (its folder name).
    """

    pattern: str
    asset: str
    signal: str
    unit: str

    def match(self, column: str, stem: str, parent: str) -> tuple[str, str, str] | None:
        m = re.fullmatch(self.pattern, column)
        if not m:
            return None
        asset = self.asset.format("", *m.groups(), stem=stem, parent=parent)
        return asset, self.signal, self.unit


@dataclass(frozen=True)
class Format:
    """Declaration of one historian export format."""

    name: str
    container: str = "csv"
    layout: str = "long"
    description: str = ""
    delimiter: str = ","
    #: name of the timestamp column
    timestamp: str = "timestamp"
    #: strptime format; None means ISO 8601 (an offset such as ``Z`` is honoured)
    timestamp_format: str | None = None
    #: zone of timestamps without offset; None → setting ``ingest.source_timezone``
    timezone: str | None = None
    # long layout
    tag: str = "tag"
    value: str = "value"
    quality: str | None = "quality"
    # wide layout: rules for columns; without rules, column names are registry tags
    columns: tuple[ColumnRule, ...] = ()
    #: columns that are neither data nor labels (kept out on purpose)
    ignore_columns: tuple[str, ...] = ()
    #: fixed cadence, else inferred from the timestamps
    cadence: str | None = None
    #: glob patterns used when a folder is given
    patterns: tuple[str, ...] = ("*.csv", "*.csv.gz")
    #: strip blanks around column names (BATADAL has leading spaces)
    strip_names: bool = True

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise SchemaError(f"format {self.name!r}: key 'layout': "
                              + choices_message("layout", self.layout, LAYOUTS))
        if self.container not in CONTAINERS:
            raise SchemaError(f"format {self.name!r}: key 'container': "
                              + choices_message("container", self.container, CONTAINERS))

    @classmethod
    def from_dict(cls, spec: Mapping, source: str = "<dict>") -> Format:
        """Build a format from a YAML-style mapping, with clear key errors."""
        allowed = {f.name for f in fields(cls)}
        for k in spec:
            if k not in allowed:
                raise SchemaError(f"{source}: key {k!r}: " + choices_message("key", k, allowed))
        if "name" not in spec:
            raise SchemaError(f"{source}: key 'name' is required")
        kw = dict(spec)
        kw["columns"] = tuple(ColumnRule(**c) if isinstance(c, Mapping) else c
                              for c in spec.get("columns", ()) or ())
        for k in ("ignore_columns", "patterns"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)

    def map_column(self, column: str, stem: str, parent: str) -> tuple[str, str, str] | None:
        for rule in self.columns:
            hit = rule.match(column, stem, parent)
            if hit:
                return hit
        return None


SKAB_COLUMNS = (
    ColumnRule("Accelerometer1RMS", "skab-{parent}-{stem}", "vibration_accel_1", "g"),
    ColumnRule("Accelerometer2RMS", "skab-{parent}-{stem}", "vibration_accel_2", "g"),
    ColumnRule("Current", "skab-{parent}-{stem}", "current", "A"),
    ColumnRule("Pressure", "skab-{parent}-{stem}", "pressure", "bar"),
    ColumnRule("Temperature", "skab-{parent}-{stem}", "motor_temperature", "degC"),
    ColumnRule("Thermocouple", "skab-{parent}-{stem}", "fluid_temperature", "degC"),
    ColumnRule("Voltage", "skab-{parent}-{stem}", "voltage", "V"),
    ColumnRule("Volume Flow RateRMS", "skab-{parent}-{stem}", "flow", "L/min"),
    ColumnRule("anomaly", "skab-{parent}-{stem}", "anomaly_label", "1"),
    ColumnRule("changepoint", "skab-{parent}-{stem}", "changepoint_label", "1"),
)

BATADAL_COLUMNS = (
    ColumnRule(r"L_(T\d+)", "{1}", "level", "m"),
    ColumnRule(r"F_(PU\d+)", "{1}", "flow", "L/s"),
    ColumnRule(r"S_(PU\d+)", "{1}", "run_state", "1"),
    ColumnRule(r"F_(V\d+)", "{1}", "flow", "L/s"),
    ColumnRule(r"S_(V\d+)", "{1}", "run_state", "1"),
    ColumnRule(r"P_(J\d+)", "{1}", "pressure", "mH2O"),
    ColumnRule("ATT_FLAG", "ctown", "attack_label", "1"),
)

LONG_CSV = Format(
    name="long_csv", container="csv", layout="long",
    description="Historian long CSV: timestamp,tag,value,quality (one row per sample)")
WIDE_CSV = Format(
    name="wide_csv", container="csv", layout="wide", quality=None,
    description="Historian wide CSV: timestamp then one column per tag")
LONG_PARQUET = Format(
    name="long_parquet", container="parquet", layout="long", patterns=("*.parquet",),
    description="Parquet with columns timestamp, tag, value[, quality]")
WIDE_PARQUET = Format(
    name="wide_parquet", container="parquet", layout="wide", quality=None,
    patterns=("*.parquet",), description="Parquet with a timestamp column and one column per tag")
SKAB = Format(
    name="skab", container="csv", layout="wide", delimiter=";", timestamp="datetime",
    timestamp_format="%Y-%m-%d %H:%M:%S", timezone="Europe/Moscow", quality=None,
    columns=SKAB_COLUMNS, cadence="1s",
    description="Skoltech Anomaly Benchmark (SKAB) test-rig CSV; one asset per file")
BATADAL = Format(
    name="batadal", container="csv", layout="wide", timestamp="DATETIME",
    timestamp_format="%d/%m/%y %H", timezone="UTC", quality=None,
    columns=BATADAL_COLUMNS, cadence="1h",
    description="BATADAL C-Town SCADA CSV (hourly; tanks, pumps, valve, junctions)")

_BUILTIN = {f.name: f for f in (LONG_CSV, WIDE_CSV, LONG_PARQUET, WIDE_PARQUET, SKAB, BATADAL)}
_REGISTERED: dict[str, Format] = {}


@functools.lru_cache(maxsize=1)
def _entry_point_formats() -> dict[str, Format]:
    out = {}
    for ep in entry_points(group="pumplib.readers"):
        obj = ep.load()
        if isinstance(obj, Mapping):
            obj = Format.from_dict(obj, source=f"entry point {ep.name}")
        out[ep.name] = obj
    return out


def formats() -> dict[str, Format]:
    """All known formats: built-in, from entry points, and registered."""
    return {**_BUILTIN, **_entry_point_formats(), **_REGISTERED}


def register_format(fmt: Format | Mapping) -> Format:
    """Add a format for this process (a :class:`Format` or a mapping)."""
    if isinstance(fmt, Mapping):
        fmt = Format.from_dict(fmt)
    _REGISTERED[fmt.name] = fmt
    return fmt


def load_formats(path: str | Path) -> list[Format]:
    """Register every format declared in a YAML file (``formats: [..]``)."""
    import yaml

    path = Path(path)
    with open(path) as f:
        spec = yaml.safe_load(f) or {}
    if "formats" not in spec:
        raise SchemaError(f"{path}: key 'formats' is required")
    return [register_format(Format.from_dict(s, source=f"{path}: formats[{i}]"))
            for i, s in enumerate(spec["formats"])]


def detect_format(path: str | Path) -> Format:
    """Guess the built-in format of a file from its container and header."""
    import gzip

    path = Path(path)
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        cols = set(pq.ParquetFile(path).schema_arrow.names)
        return LONG_PARQUET if {"tag", "value"} <= cols else WIDE_PARQUET
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig") as f:
        header = f.readline().strip()
    cols = [c.strip() for c in header.split(",")]
    if header.startswith("datetime;") and "Accelerometer1RMS" in header:
        return SKAB
    if cols and cols[0] == "DATETIME" and any(c.startswith("L_T") for c in cols):
        return BATADAL
    if {"timestamp", "tag", "value"} <= set(cols):
        return LONG_CSV
    if cols and cols[0] == "timestamp":
        return WIDE_CSV
    raise UnknownNameError(
        f"{path}: line 1: cannot tell the format from the header {header[:80]!r}; name one "
        "with --format. " + choices_message("format", "auto", formats()))


def get_format(name: str | Format) -> Format:
    """Look a format up by name, with the valid choices on error."""
    if isinstance(name, Format):
        return name
    known = formats()
    if name not in known:
        raise UnknownNameError(choices_message("format", name, known))
    return known[name]


__all__ = ["BATADAL", "LONG_CSV", "LONG_PARQUET", "SKAB", "WIDE_CSV", "WIDE_PARQUET", "ColumnRule",
           "Format", "detect_format", "formats", "get_format", "load_formats", "register_format"]
