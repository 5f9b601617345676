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
        if not isinstance(spec, Mapping):
            raise SchemaError(f"{source}: expected a mapping of format keys, got "
                              f"{type(spec).__name__}")
        allowed = {f.name for f in fields(cls)}
        for k in spec:
            if k not in allowed:
                raise SchemaError(f"{source}: key {k!r}: " + choices_message("key", k, allowed))
        if "name" not in spec:
            raise SchemaError(f"{source}: key 'name' is required")
        kw = dict(spec)
        rules = []
        for i, c in enumerate(spec.get("columns", ()) or ()):
            if isinstance(c, Mapping):
                need = {"pattern", "asset", "signal", "unit"}
                if set(c) != need:
                    raise SchemaError(f"{source}: columns[{i}]: expected keys {sorted(need)}, "
                                      f"got {sorted(c)}")
                c = ColumnRule(**c)
            rules.append(c)
        kw["columns"] = tuple(rules)
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
    """All known formats: built-in, from entry points, the project's folder of declared
    formats (setting ``ingest.formats_dir``, ``catalogs/formats``) and registered."""
    return {**_BUILTIN, **_entry_point_formats(), **project_formats(), **_REGISTERED}


_PROJECT_CACHE: dict[tuple, dict[str, Format]] = {}


def project_formats(folder: str | Path | None = None) -> dict[str, Format]:
    """The formats declared in the YAML files of the project's formats folder.

    Each ``*.yaml`` file holds one format (a mapping with ``name``) or several
    (``formats: [..]``); the folder is the ``ingest.formats_dir`` setting, taken
    from the project folder. A missing folder declares none. Files are read
    again when they change.
    """
    from .. import config

    folder = folder if folder is not None else config.get("ingest.formats_dir", None)
    if not folder or not Path(folder).is_dir():
        return {}
    files = sorted([*Path(folder).glob("*.yaml"), *Path(folder).glob("*.yml")])
    stamp = tuple((str(f), f.stat().st_mtime_ns) for f in files)
    if stamp not in _PROJECT_CACHE:
        found: dict[str, Format] = {}
        for f in files:
            for fmt in _read_formats(f):
                found[fmt.name] = fmt
        _PROJECT_CACHE.clear()
        _PROJECT_CACHE[stamp] = found
    return dict(_PROJECT_CACHE[stamp])


def _read_formats(path: Path) -> list[Format]:
    """The formats of one YAML file: ``formats: [..]`` or a single mapping with ``name``."""
    import yaml

    if not path.is_file():
        raise SchemaError(f"formats file {path} does not exist (--formats-file, or a file "
                          "of the ingest.formats_dir folder)")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        raise SchemaError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path}: cannot read the formats file: {exc}") from None
    if isinstance(spec, Mapping) and "formats" in spec:
        items = spec["formats"]
        if not isinstance(items, list):
            raise SchemaError(f"{path}: key 'formats': expected a list of formats")
        return [Format.from_dict(s, source=f"{path}: formats[{i}]") for i, s in
                enumerate(items)]
    if isinstance(spec, Mapping) and "name" in spec:
        return [Format.from_dict(spec, source=str(path))]
    raise SchemaError(f"{path}: expected a format (a mapping with 'name', 'layout'…) or "
                      "'formats: [..]'")


def register_format(fmt: Format | Mapping) -> Format:
    """Add a format for this process (a :class:`Format` or a mapping)."""
    if isinstance(fmt, Mapping):
        fmt = Format.from_dict(fmt)
    _REGISTERED[fmt.name] = fmt
    return fmt


def load_formats(path: str | Path) -> list[Format]:
    """Register every format declared in a YAML file (``formats: [..]`` or one format)."""
    return [register_format(f) for f in _read_formats(Path(path))]


def detect_format(path: str | Path) -> Format:
    """Guess the format of a file from its content: Parquet by its magic bytes, CSV by
    its header (any text encoding :func:`pumplib.ingest.text.sniff` reads).

    A wide CSV whose first column names a time (``Date-time CET-CEST (DD/MM/YYYY
    HH:mm)``) gets that column, the strptime format written in its parentheses and
    the zone it names (see :func:`local_time_format`).
    """
    from .text import head, looks_like, sniff

    path = Path(path)
    if path.name.lower().endswith(".parquet") or looks_like(head(path, 8)) == "a Parquet file":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            cols = set(pq.ParquetFile(path).schema_arrow.names)
        except (pa.ArrowException, OSError) as exc:
            raise SchemaError(f"{path}: not a readable Parquet file: "
                              f"{str(exc).splitlines()[0] if str(exc) else exc}") from None
        return LONG_PARQUET if {"tag", "value"} <= cols else WIDE_PARQUET
    lines = _first_lines(path, sniff(path), 2)
    header = lines[0] if lines else ""
    if not header.strip():
        from ..errors import IngestError

        raise IngestError(f"{path}: line 1: the file is empty (no header)")
    cols = [c.strip() for c in header.split(",")]
    if header.startswith("datetime;") and "Accelerometer1RMS" in header:
        return SKAB
    if cols and cols[0] == "DATETIME" and any(c.startswith("L_T") for c in cols):
        return BATADAL
    if {"timestamp", "tag", "value"} <= set(cols):
        return LONG_CSV
    if cols and cols[0] == "timestamp":
        return WIDE_CSV
    local = local_time_format(header, lines[1] if len(lines) > 1 else None)
    if local is not None:
        return local
    raise UnknownNameError(
        f"{path}: line 1: cannot tell the format from the header {header[:80]!r}; name one "
        "with --format. " + choices_message("format", "auto", formats()))


def _first_lines(path: Path, kind, n: int) -> list[str]:
    from .text import utf8_stream

    with utf8_stream(path, kind) as s:
        data = s.read(1 << 20)
    text = data.decode("utf-8", errors="replace")
    return [ln.rstrip("\r") for ln in text.split("\n")[:n]]


#: words of a column that holds the time, in a few languages
_TIME_WORDS = re.compile(r"(?i)\b(date|time|datetime|date-time|timestamp|datum|zeit|tijd|"
                         r"fecha|hora|data|ora|heure)\b")
#: zone labels seen in historian headers → IANA zones
ZONE_LABELS = {
    "UTC": "UTC", "GMT": "UTC", "Z": "UTC",
    "CET": "Europe/Berlin", "CEST": "Europe/Berlin", "CET-CEST": "Europe/Berlin",
    "CET/CEST": "Europe/Berlin", "MEZ": "Europe/Berlin", "MEZ/MESZ": "Europe/Berlin",
    "EET": "Europe/Athens", "EET-EEST": "Europe/Athens", "EET/EEST": "Europe/Athens",
    "WET": "Europe/Lisbon", "WET-WEST": "Europe/Lisbon", "WET/WEST": "Europe/Lisbon",
    "GMT-BST": "Europe/London", "GMT/BST": "Europe/London",
}
_TOKENS = (("YYYY", "%Y"), ("yyyy", "%Y"), ("YY", "%y"), ("yy", "%y"), ("MM", "%m"),
           ("DD", "%d"), ("dd", "%d"), ("HH", "%H"), ("hh", "%H"), ("mm", "%M"),
           ("ss", "%S"), ("SS", "%S"))


def local_time_format(header: str, first_row: str | None = None) -> Format | None:
    """A wide CSV format for a header whose first column is a (local) time, or None.

    The column may say how its times are written, in parentheses
    (``DD/MM/YYYY HH:mm`` → ``%d/%m/%Y %H:%M``; kept only when the first data
    row parses with it), and in which zone (``CET-CEST`` → ``Europe/Berlin``,
    ``UTC``, or an IANA name such as ``Europe/Rome``); without a zone the
    ``ingest.source_timezone`` setting (or ``--timezone``) applies.

    Examples
    --------
    >>> f = local_time_format("Date-time CET-CEST (DD/MM/YYYY HH:mm),DMA 1 (L/s)",
    ...                       "01/01/2021 00:00,3.7")
    >>> (f.timestamp_format, f.timezone, f.layout)
    ('%d/%m/%Y %H:%M', 'Europe/Berlin', 'wide')
    """
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    delim = max(counts, key=counts.get)
    if not counts[delim]:
        return None
    first = header.split(delim)[0].strip().strip('"')
    if not _TIME_WORDS.search(first):
        return None
    fmt_text = None
    m = re.search(r"\(([^()]*)\)", first)
    if m and re.search(r"YY|yy|DD|dd|HH|hh", m.group(1)):
        fmt_text = m.group(1).strip()
        for token, code in _TOKENS:
            fmt_text = fmt_text.replace(token, code)
        if first_row is not None:
            import datetime as dt

            try:
                dt.datetime.strptime(first_row.split(delim)[0].strip().strip('"'), fmt_text)
            except ValueError:
                fmt_text = None
    outside = re.sub(r"\([^()]*\)", " ", first)
    tz = None
    iana = re.search(r"\b[A-Z][A-Za-z_]+/[A-Z][A-Za-z_]+(?:/[A-Za-z_]+)?\b", first)
    if iana and _is_zone(iana.group(0)):
        tz = iana.group(0)
    else:
        for word in reversed(_TIME_WORDS.sub(" ", outside).split()):
            if word.strip("()[],") in ZONE_LABELS:
                tz = ZONE_LABELS[word.strip("()[],")]
                break
    return Format(name="wide_csv", container="csv", layout="wide", delimiter=delim,
                  timestamp=first, timestamp_format=fmt_text, timezone=tz, quality=None,
                  description=f"wide CSV with a local-time column {first!r} (detected)")


def _is_zone(name: str) -> bool:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
        return True
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False


def get_format(name: str | Format) -> Format:
    """Look a format up by name, with the valid choices on error."""
    if isinstance(name, Format):
        return name
    known = formats()
    if name not in known:
        raise UnknownNameError(choices_message("format", name, known))
    return known[name]


__all__ = ["BATADAL", "LONG_CSV", "LONG_PARQUET", "SKAB", "WIDE_CSV", "WIDE_PARQUET", "ColumnRule",
           "Format", "detect_format", "formats", "get_format", "load_formats",
           "local_time_format", "project_formats", "register_format"]
