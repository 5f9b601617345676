"""The asset registry: utility → stations → assets (pumps, tanks, declared kinds).

The registry is a YAML file (``catalogs/assets.yaml``) that names every asset,
its rated values and curves, the historian tags of its signals with their
units, and the station tariffs. It may declare signals beyond the built-in
ones (rainfall, air temperature …) and asset kinds beyond the built-in ones
(a district metered area, a weather station …). Everything downstream
(ingest, quality rules, features, recommendations) reads it through
:class:`AssetRegistry`.

Schema (keys marked ``?`` are optional)::

    version: 1
    utility: {id, name?, timezone, currency?}
    holidays?: [YYYY-MM-DD, …]          # priced like Sundays by the tariffs
    signals?:                            # declared signals (pumplib.signals)
      NAME: {unit, long_name?, kind?: continuous|state|label,
             interpolation?: linear|step, valid_min?, valid_max?, description?}
    asset_kinds?:                        # declared asset kinds (or a list of names)
      NAME: {name?, description?}
    tariffs:
      NAME:
        currency?: EUR
        default_price: 0.11             # per kWh, outside every period
        periods?:                        # local time of the utility
          - {name, price, start: "HH:MM", end: "HH:MM", days?: [mon, …]}
    stations:
      - id, name?, tariff, tags?: [..], static_head?: m, control?: tariff|level
        assets:
          - id                          # unique across the utility
            kind: pump | tank | valve | junction | rig | a declared kind
            pump_type?: fixed_speed | variable_speed      # pumps only
            tags?: [..]
            rated?: {flow: m3/h, head: m, power: kW, speed: rpm, efficiency: 0-1}
            curve?: {shutoff_head: m, bep_flow: m3/h, bep_efficiency: 0-1}  # pumps only
            motor?: {rated_power: kW, efficiency: 0-1, voltage: V, power_factor: 0-1}
            tank?: {area: m2, min_level: m, max_level: m}
            signals:
              SIGNAL: {tag: HISTORIAN.TAG, unit: L/s}

Only assets of kind ``pump`` enter pump computations (:meth:`AssetRegistry.pumps`:
efficiency, BEP, starts, recommendations); other kinds carry signals only.

Every malformed input is one :class:`~pumplib.errors.SchemaError` line naming
the file, the line (when read from a file), the key path
(``stations[0].assets[2].rated.flow``) and what is expected; a YAML syntax
error names the line and column, and a caret excerpt follows.

Examples
--------
>>> reg = AssetRegistry.from_dict({
...     "version": 1,
...     "utility": {"id": "u", "name": "U", "timezone": "UTC", "currency": "EUR"},
...     "tariffs": {"flat": {"default_price": 0.2, "periods": []}},
...     "stations": [{"id": "s", "name": "S", "tariff": "flat", "assets": [
...         {"id": "P1", "kind": "pump", "signals": {"flow": {"tag": "S.P1.F", "unit": "L/s"}}}]}]})
>>> reg.tag("S.P1.F")
TagInfo(tag='S.P1.F', asset='P1', signal='flow', unit='L/s')
>>> AssetRegistry.from_dict({"version": 1, "utility": {"id": "u", "timezone": "UTC"},
...                          "tariffs": {}, "stations": 5}, source="registry.yaml")
Traceback (most recent call last):
...
pumplib.errors.SchemaError: registry.yaml: key 'stations': must be a list of stations \
(mappings with id, tariff and assets), got 5 (int)
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from . import signals as _signals
from . import units as _units
from .errors import SchemaError, UnitError, UnknownNameError, choices_message
from .signals import describe

#: the built-in asset kinds and their labels; a registry may declare more (``asset_kinds``)
BUILTIN_KINDS: dict[str, str] = {"pump": "Pump", "tank": "Tank", "valve": "Valve",
                                 "junction": "Junction", "rig": "Test rig"}
ASSET_KINDS = tuple(BUILTIN_KINDS)
PUMP_TYPES = ("fixed_speed", "variable_speed")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: keys only an asset of kind ``pump`` may have
PUMP_ONLY = ("pump_type", "curve")

_ASSET_KEYS = {"id", "kind", "name", "pump_type", "tags", "rated", "curve", "motor", "tank",
               "signals", "description"}
_STATION_KEYS = {"id", "name", "tariff", "tags", "assets", "static_head", "description", "control"}
#: how a station schedules its pumps: ``tariff`` (fill in cheap hours, drain in the peak) or
#: ``level`` (fixed tank set-points, blind to the tariff)
CONTROL_MODES = ("tariff", "level")
_TOP_KEYS = {"version", "utility", "holidays", "tariffs", "stations", "description", "signals",
             "asset_kinds"}
_UTILITY_KEYS = {"id", "name", "timezone", "currency"}
_TARIFF_KEYS = {"currency", "default_price", "periods", "description"}
_PERIOD_KEYS = {"name", "price", "start", "end", "days"}
_KIND_KEYS = {"name", "description"}
_TAG_KEYS = {"tag", "unit", "description"}
#: numeric attributes of an asset, per block (see pumplib.features.expr.ATTRIBUTES)
ATTRIBUTE_KEYS: dict[str, tuple[str, ...]] = {
    "rated": ("flow", "head", "power", "speed", "efficiency"),
    "curve": ("shutoff_head", "bep_flow", "bep_efficiency"),
    "motor": ("rated_power", "efficiency", "voltage", "power_factor"),
    "tank": ("area", "min_level", "max_level"),
}
_FRACTIONS = {"rated.efficiency", "curve.bep_efficiency", "motor.efficiency",
              "motor.power_factor"}
_POSITIVE = {"rated.flow", "rated.head", "rated.speed", "curve.shutoff_head", "curve.bep_flow",
             "tank.area"}


@dataclass(frozen=True)
class TagInfo:
    tag: str
    asset: str
    signal: str
    unit: str


@dataclass(frozen=True)
class Tariff:
    """A time-of-use tariff: a default price and priced periods (local time)."""

    name: str
    default_price: float
    periods: tuple[dict, ...] = ()
    currency: str = "EUR"

    def price(self, times: pd.DatetimeIndex | Iterable, timezone: str,
              holidays: Iterable[dt.date] = ()) -> np.ndarray:
        """Price per kWh at each (UTC) time; holidays are priced as Sundays."""
        idx = pd.DatetimeIndex(times)
        if idx.tz is None:
            idx = idx.tz_localize("UTC")
        local = idx.tz_convert(timezone)
        minutes = local.hour * 60 + local.minute
        dow = np.asarray(local.day_of_week)
        hol = set(pd.to_datetime(list(holidays)).date) if holidays else set()
        if hol:
            is_hol = np.array([d in hol for d in local.date])
            dow = np.where(is_hol, 6, dow)
        out = np.full(len(idx), self.default_price, dtype=float)
        for p in self.periods:
            days = np.isin(dow, [DAYS.index(d) for d in p.get("days", DAYS)])
            start, end = _hhmm(p["start"]), _hhmm(p["end"])
            if start <= end:
                inside = (minutes >= start) & (minutes < end)
            else:  # wraps midnight
                inside = (minutes >= start) | (minutes < end)
            out = np.where(days & inside, float(p["price"]), out)
        return out

    def period_name(self, times, timezone: str, holidays: Iterable[dt.date] = ()) -> np.ndarray:
        """Name of the period at each time (``"default"`` outside every period)."""
        idx = pd.DatetimeIndex(times)
        prices = self.price(idx, timezone, holidays)
        names = np.full(len(idx), "default", dtype=object)
        for p in self.periods:
            names = np.where(prices == float(p["price"]), p["name"], names)
        return names


def _hhmm(s: str) -> int:
    h, m = str(s).split(":")
    return int(h) * 60 + int(m)


@dataclass(frozen=True)
class Asset:
    id: str
    kind: str
    station: str
    name: str = ""
    pump_type: str | None = None
    tags: tuple[str, ...] = ()
    rated: Mapping[str, float] = field(default_factory=dict)
    curve: Mapping[str, float] = field(default_factory=dict)
    motor: Mapping[str, float] = field(default_factory=dict)
    tank: Mapping[str, float] = field(default_factory=dict)
    signals: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def is_pump(self) -> bool:
        """Whether pump computations (efficiency, BEP, starts, curves) apply to it."""
        return self.kind == "pump"

    # -- pump physics helpers (rated speed unless given) ------------------
    def head_curve(self, flow, speed=None):
        """Head [m] at ``flow`` [m³/h] from H = H0·s² − k·Q² (affinity laws)."""
        h0 = self.curve["shutoff_head"]
        k = (h0 - self.rated["head"]) / self.rated["flow"] ** 2
        s = 1.0 if speed is None else np.asarray(speed) / self.rated["speed"]
        return h0 * s**2 - k * np.asarray(flow) ** 2

    def efficiency_curve(self, flow, speed=None):
        """Pump efficiency (0–1) at ``flow``: a parabola through the BEP, scaled by speed."""
        s = 1.0 if speed is None else np.asarray(speed) / self.rated["speed"]
        qb = self.curve["bep_flow"] * s
        eta = self.curve["bep_efficiency"] * (1.0 - ((np.asarray(flow) - qb) / qb) ** 2)
        return np.clip(eta, 0.0, None)


class AssetRegistry:
    """Parsed and validated asset registry."""

    def __init__(self, spec: dict, source: str = "<dict>",
                 lines: Mapping[str, int] | None = None):
        self.source = source
        self.spec = spec
        declared, kinds = _validate(spec, source, lines)
        #: the signals this registry declares beyond the built-ins (see :mod:`pumplib.signals`)
        self.signals: dict[str, _signals.Signal] = declared
        #: every asset kind it knows, built-in and declared, with its label
        self.asset_kinds: dict[str, str] = kinds
        _signals.declare(declared, source)
        self.utility: dict = dict(spec["utility"])
        self.holidays: tuple[dt.date, ...] = tuple(
            pd.Timestamp(str(d)).date() for d in spec.get("holidays", []) or [])
        self.tariffs: dict[str, Tariff] = {
            name: Tariff(name=name, default_price=float(t["default_price"]),
                         periods=tuple(t.get("periods", []) or []),
                         currency=t.get("currency", self.utility.get("currency", "EUR")))
            for name, t in spec["tariffs"].items()}
        self.stations: dict[str, dict] = {}
        self.assets: dict[str, Asset] = {}
        self._tags: dict[str, TagInfo] = {}
        for st in spec["stations"]:
            self.stations[st["id"]] = {k: v for k, v in st.items() if k != "assets"}
            for a in st["assets"]:
                asset = Asset(
                    id=a["id"], kind=a["kind"], station=st["id"], name=a.get("name", a["id"]),
                    pump_type=a.get("pump_type"), tags=tuple(a.get("tags", []) or []),
                    rated=a.get("rated", {}) or {}, curve=a.get("curve", {}) or {},
                    motor=a.get("motor", {}) or {}, tank=a.get("tank", {}) or {},
                    signals=a.get("signals", {}) or {})
                self.assets[asset.id] = asset
                for sig, s in asset.signals.items():
                    self._tags[s["tag"]] = TagInfo(s["tag"], asset.id, sig, s["unit"])

    # -- construction -------------------------------------------------------
    @classmethod
    def from_dict(cls, spec: dict, source: str = "<dict>") -> AssetRegistry:
        return cls(spec, source)

    @classmethod
    def load(cls, path: str | Path | None = None) -> AssetRegistry:
        """Load ``path`` (default: the ``assets.registry`` setting)."""
        from . import config

        path = Path(path if path is not None else config.get("assets.registry"))
        if not path.exists():
            raise SchemaError(f"asset registry {path} does not exist; set assets.registry or "
                              "pass --registry (`pumplib simulate sample` writes one)")
        if not path.is_file():
            raise SchemaError(f"asset registry {path} is not a file (a YAML file is expected)")
        return _load_cached(str(path.resolve()), path.stat().st_mtime_ns)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.spec, sort_keys=False, allow_unicode=True)

    # -- lookups --------------------------------------------------------------
    def tag(self, tag: str) -> TagInfo:
        try:
            return self._tags[tag]
        except KeyError:
            raise UnknownNameError(
                f"{self.source}: " + choices_message("tag", tag, self._tags)) from None

    @property
    def tags(self) -> dict[str, TagInfo]:
        return dict(self._tags)

    def asset(self, asset_id: str) -> Asset:
        try:
            return self.assets[asset_id]
        except KeyError:
            raise UnknownNameError(
                f"{self.source}: " + choices_message("asset", asset_id, self.assets)) from None

    def pumps(self) -> list[Asset]:
        """The assets pump computations apply to (kind ``pump``), in registry order."""
        return [a for a in self.assets.values() if a.is_pump]

    def of_kind(self, kind: str) -> list[Asset]:
        """The assets of one kind (built-in or declared), in registry order."""
        if kind not in self.asset_kinds:
            raise UnknownNameError(
                f"{self.source}: " + choices_message("asset kind", kind, self.asset_kinds))
        return [a for a in self.assets.values() if a.kind == kind]

    def signal(self, name: str) -> _signals.Signal:
        """A signal by name, built-in or declared (:func:`pumplib.signals.get`)."""
        return _signals.get(name)

    def station_assets(self, station: str) -> list[Asset]:
        if station not in self.stations:
            raise UnknownNameError(choices_message("station", station, self.stations))
        return [a for a in self.assets.values() if a.station == station]

    def tariff_of(self, asset_or_station: str) -> Tariff:
        st = self.assets[asset_or_station].station if asset_or_station in self.assets \
            else asset_or_station
        return self.tariffs[self.stations[st]["tariff"]]

    def to_frame(self) -> pd.DataFrame:
        """One row per asset: station, kind, type, tags and rated values."""
        rows = []
        for a in self.assets.values():
            row = {"asset": a.id, "station": a.station, "kind": a.kind,
                   "pump_type": a.pump_type, "tags": ",".join(a.tags)}
            row.update({f"rated_{k}": v for k, v in a.rated.items()})
            rows.append(row)
        return pd.DataFrame(rows).set_index("asset")

    def tag_frame(self) -> pd.DataFrame:
        return pd.DataFrame([t.__dict__ for t in self._tags.values()]).set_index("tag")


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, mtime: int) -> AssetRegistry:
    spec, lines = load_yaml(path, with_lines=True)
    return AssetRegistry(spec, path, lines)


# -- reading YAML -------------------------------------------------------------
class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses duplicate keys and impossible dates with a mark."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:                    # unhashable: the base constructor says so
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {first.line + 1}); "
                            "the later one would silently win", key_node.start_mark)
        seen[key] = key_node.start_mark
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


def _construct_timestamp(loader: _StrictLoader, node: yaml.ScalarNode):
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:                # 2026-13-45 matches YAML's date pattern
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value!r} is not a date ({exc})", node.start_mark) from None


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def load_yaml(path: str | Path, with_lines: bool = False) -> Any:
    """Read a YAML file; every problem is one :class:`SchemaError` line naming the file.

    A syntax error names the line and column, and a caret excerpt of the line
    follows. Duplicate keys and impossible dates are errors too (PyYAML keeps
    the last duplicate silently). ``with_lines`` also returns the line of each
    key path (``{"stations[0].assets[2].rated.flow": 42, …}``) for messages.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "registry.yaml"
    >>> _ = p.write_text("version: 1\\nutility: {id: u, timezone: UTC}\\ntariffs: a: b\\n")
    >>> load_yaml(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pumplib.errors.SchemaError: ...registry.yaml, line 3, column 11: not valid YAML: mapping values are not allowed here
        tariffs: a: b
                  ^
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SchemaError(f"{path} does not exist") from None
    except OSError as exc:
        raise SchemaError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SchemaError(f"{path}, line {line}: not UTF-8 text (byte {data[exc.start]:#04x} at "
                          f"offset {exc.start}); save the file as UTF-8") from None
    if "\x00" in text:
        raise SchemaError(f"{path}: not a YAML text file (it holds NUL bytes)")
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise SchemaError(_yaml_message(str(path), exc, text)) from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        raise SchemaError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    finally:
        loader.dispose()
    if not with_lines:
        return data
    lines: dict[str, int] = {}
    if node is not None:
        _node_lines(node, "<top>", lines)
    return data, lines


def _node_lines(node: yaml.Node, path: str, out: dict[str, int]) -> None:
    """Record the line (1-based) of every key path under ``node``, as the checks name them."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                p = _join(path, key.value)
                out.setdefault(p, key.start_mark.line + 1)
                _node_lines(value, p, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            p = f"{path}[{i}]"
            out.setdefault(p, item.start_mark.line + 1)
            _node_lines(item, p, out)


def _yaml_message(path: str, exc: yaml.MarkedYAMLError, text: str) -> str:
    mark = exc.problem_mark or exc.context_mark
    problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
    msg = f"{path}, line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {problem}"
    if exc.context and exc.context_mark is not None and exc.problem_mark is not None:
        cm = exc.context_mark
        msg += (f" ({' '.join(exc.context.split())} at line {cm.line + 1}, "
                f"column {cm.column + 1})")
    lines = text.splitlines()
    if 0 <= mark.line < len(lines):
        src = lines[mark.line].replace("\t", " ")
        msg += f"\n    {src}\n    {' ' * min(mark.column, len(src))}^"
    return msg


# -- validation ------------------------------------------------------------
class _Check:
    """Type and value checks that fail with one line naming the file and key path."""

    def __init__(self, source: str, lines: Mapping[str, int] | None = None):
        self.source, self.lines = source, lines or {}

    def fail(self, key: str, msg: str):
        where = self.source
        line = self._line(key)
        if line is not None:
            where += f", line {line}"
        raise SchemaError(f"{where}: key {key!r}: {msg}")

    def _line(self, key: str) -> int | None:
        """The line of ``key``, else of the nearest enclosing key that the file has."""
        while key:
            if key in self.lines:
                return self.lines[key]
            cut = max(key.rfind("."), key.rfind("["))
            key = key[:cut] if cut > 0 else ""
        return None

    def mapping(self, key: str, value: Any, what: str, allowed: Iterable[str] | None = None,
                required: Iterable[str] = ()) -> Mapping:
        if not isinstance(value, Mapping):
            self.fail(key, f"must be {what}, got {describe(value)}")
        allowed = None if allowed is None else sorted(allowed)
        for k in value:
            if not isinstance(k, str):
                self.fail(key, f"has a key {describe(k)}; keys must be strings ({what})")
            if allowed is not None and k not in allowed:
                self.fail(_join(key, k), choices_message("key", k, allowed))
        for k in required:
            if value.get(k) is None:
                self.fail(_join(key, k), "is required")
        return value

    def sequence(self, key: str, value: Any, what: str) -> list:
        if not isinstance(value, list | tuple):
            self.fail(key, f"must be a list of {what}, got {describe(value)}")
        return list(value)

    def text(self, key: str, value: Any, what: str = "a string") -> str:
        if not isinstance(value, str) or not value.strip():
            hint = " (quote it in YAML)" if isinstance(value, int | float | bool | dt.date) else ""
            self.fail(key, f"must be {what}{hint}, got {describe(value)}")
        return value

    def texts(self, key: str, value: Any, what: str) -> list[str]:
        items = self.sequence(key, value, what)
        for i, v in enumerate(items):
            self.text(f"{key}[{i}]", v, f"one of the {what}, a string")
        return items

    def number(self, key: str, value: Any, lo: float | None = None, hi: float | None = None,
               positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            self.fail(key, f"must be a finite number, got {describe(value)}")
        if positive and value <= 0:
            self.fail(key, f"must be above 0, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.fail(key, f"must be between {lo} and {hi}, got {value!r}")
        return float(value)

    def choice(self, key: str, value: Any, what: str, choices: Iterable[str]) -> str:
        choices = list(choices)
        if not isinstance(value, str) or value not in choices:
            self.fail(key, choices_message(what, value, choices))
        return value


def _join(key: str, sub: str) -> str:
    return sub if key == "<top>" else f"{key}.{sub}"


def _validate(spec: Any, source: str, lines: Mapping[str, int] | None = None
              ) -> tuple[dict[str, _signals.Signal], dict[str, str]]:
    """Check a registry spec; return its declared signals and its asset kinds."""
    c = _Check(source, lines)
    if spec is None:
        c.fail("<top>", "the registry is empty; expected a mapping with keys "
                        "version, utility, tariffs and stations")
    c.mapping("<top>", spec, "a mapping with keys version, utility, tariffs and stations",
              _TOP_KEYS, ("version", "utility", "tariffs", "stations"))
    if isinstance(spec["version"], bool) or spec["version"] != 1:
        c.fail("version", f"unsupported version {describe(spec['version'])}. Valid choices: [1]")
    if spec.get("description") is not None:
        c.text("description", spec["description"])
    _check_utility(c, spec["utility"])
    for i, d in enumerate(c.sequence("holidays", spec.get("holidays") or [], "dates YYYY-MM-DD")):
        if not isinstance(d, dt.date):
            try:
                dt.date.fromisoformat(c.text(f"holidays[{i}]", d, "a date YYYY-MM-DD"))
            except ValueError:
                c.fail(f"holidays[{i}]", f"must be a date YYYY-MM-DD, got {describe(d)}")
    declared = _check_signals(c, spec.get("signals"))
    kinds = _check_kinds(c, spec.get("asset_kinds"))
    tariffs = c.mapping("tariffs", spec["tariffs"], "a mapping of tariff name → tariff")
    for name, t in tariffs.items():
        _check_tariff(c, f"tariffs.{name}", t)
    vocabulary = {**_signals.builtins(), **declared}
    stations = c.sequence("stations", spec["stations"],
                          "stations (mappings with id, tariff and assets)")
    seen_st: dict[str, str] = {}
    seen: dict[str, str] = {}
    tags: dict[str, str] = {}
    for i, st in enumerate(stations):
        where = f"stations[{i}]"
        c.mapping(where, st, "a station (a mapping with id, tariff and assets)", _STATION_KEYS,
                  ("id", "tariff", "assets"))
        sid = c.text(f"{where}.id", st["id"], "a station id (a string)")
        if sid in seen_st:
            c.fail(f"{where}.id", f"station id {sid!r} is also used at {seen_st[sid]}")
        seen_st[sid] = where
        if not isinstance(st["tariff"], str) or st["tariff"] not in tariffs:
            c.fail(f"{where}.tariff", choices_message("tariff", st["tariff"], tariffs))
        if st.get("control") is not None:
            c.choice(f"{where}.control", st["control"], "control", CONTROL_MODES)
        for k in ("name", "description"):
            if st.get(k) is not None:
                c.text(f"{where}.{k}", st[k])
        if st.get("tags") is not None:
            c.texts(f"{where}.tags", st["tags"], "station tags")
        if st.get("static_head") is not None:
            c.number(f"{where}.static_head", st["static_head"])
        assets = c.sequence(f"{where}.assets", st["assets"],
                            "assets (mappings with id, kind and signals)")
        for j, a in enumerate(assets):
            _check_asset(c, f"{where}.assets[{j}]", a, kinds, vocabulary, seen, tags)
    return declared, kinds


def _check_utility(c: _Check, u: Any) -> None:
    c.mapping("utility", u, "a mapping with id, name, timezone and currency", _UTILITY_KEYS,
              ("id", "timezone"))
    for k in ("id", "name", "currency"):
        if u.get(k) is not None:
            c.text(f"utility.{k}", u[k])
    tz = c.text("utility.timezone", u["timezone"], "an IANA time zone such as 'Europe/Amsterdam'")
    try:
        pd.Timestamp("2020-01-01", tz=tz)
    except Exception as exc:  # noqa: BLE001 - pytz/zoneinfo raise many types
        c.fail("utility.timezone", f"unknown time zone {tz!r} ({exc}); use an IANA name such "
                                   "as 'Europe/Amsterdam' or 'UTC'")


def _check_signals(c: _Check, spec: Any) -> dict[str, _signals.Signal]:
    """Declared signals, validated like the built-ins; a built-in may only be repeated."""
    if spec is None:
        return {}
    c.mapping("signals", spec, "a mapping of signal name → {unit, long_name, kind, "
                               "interpolation}")
    builtins = _signals.builtins()
    out: dict[str, _signals.Signal] = {}
    for name, s in spec.items():
        sig = _signals.Signal.from_spec(name, s, source=c.source, where=f"signals.{name}",
                                        fail=c.fail)
        if name in builtins:
            b = builtins[name]
            if not _signals.same_unit(sig.unit, b.unit):
                c.fail(f"signals.{name}.unit", f"{sig.unit!r} changes the unit of the built-in "
                                               f"signal {name!r} [{b.unit}]; give another name "
                                               f"(e.g. '{name}_2') or the unit {b.unit!r}")
            for k in ("kind", "interpolation", "long_name", "valid_min", "valid_max"):
                if k in s and getattr(sig, k) != getattr(b, k):
                    c.fail(f"signals.{name}.{k}", f"{getattr(sig, k)!r} changes the built-in "
                                                  f"signal {name!r} ({k} {getattr(b, k)!r}); "
                                                  "give another name")
            continue
        other = _signals.declared_elsewhere(name, c.source)
        if other is not None and not other.same_meaning(sig):
            c.fail(f"signals.{name}", f"signal {name!r} [{sig.unit}, {sig.kind}, "
                                      f"{sig.interpolation}] is declared by {other.source} as "
                                      f"[{other.unit}, {other.kind}, {other.interpolation}]; "
                                      "one process has one meaning per signal name")
        out[name] = sig
    return out


def _check_kinds(c: _Check, spec: Any) -> dict[str, str]:
    """Built-in and declared asset kinds (a mapping of name → {name, description}, or a list)."""
    kinds = dict(BUILTIN_KINDS)
    if spec is None:
        return kinds
    if isinstance(spec, list | tuple):
        spec = {k: None for k in c.texts("asset_kinds", spec, "asset kinds")}
    c.mapping("asset_kinds", spec, "a mapping of asset kind → {name, description} (or a list "
                                   "of kinds)")
    for kind, d in spec.items():
        where = f"asset_kinds.{kind}"
        if not _signals.NAME_RE.match(kind):
            c.fail(where, f"asset kind {kind!r} must be a lower-case identifier (letters, "
                          "digits, underscores), e.g. 'dma' or 'weather_station'")
        if kind in BUILTIN_KINDS:
            c.fail(where, f"{kind!r} is a built-in asset kind (built-ins: "
                          f"{', '.join(BUILTIN_KINDS)}); declare only new kinds")
        d = {} if d is None else c.mapping(where, d, "a mapping with name and description",
                                           _KIND_KEYS)
        for k in _KIND_KEYS & set(d):
            c.text(f"{where}.{k}", d[k])
        kinds[kind] = d.get("name") or kind.replace("_", " ").capitalize()
    return kinds


def _check_tariff(c: _Check, where: str, t: Any) -> None:
    c.mapping(where, t, "a tariff (a mapping with default_price and periods)", _TARIFF_KEYS,
              ("default_price",))
    c.number(f"{where}.default_price", t["default_price"])
    for k in ("currency", "description"):
        if t.get(k) is not None:
            c.text(f"{where}.{k}", t[k])
    periods = c.sequence(f"{where}.periods", t.get("periods") or [],
                         "periods (mappings with name, price, start, end and days)")
    for i, p in enumerate(periods):
        pw = f"{where}.periods[{i}]"
        c.mapping(pw, p, "a period (a mapping with name, price, start, end and days)",
                  _PERIOD_KEYS, ("name", "price", "start", "end"))
        c.text(f"{pw}.name", p["name"])
        c.number(f"{pw}.price", p["price"])
        for k in ("start", "end"):
            _check_hhmm(c, f"{pw}.{k}", p[k])
        for j, d in enumerate(c.sequence(f"{pw}.days", p.get("days", list(DAYS)), "days")):
            c.choice(f"{pw}.days[{j}]", d, "day", DAYS)


def _check_hhmm(c: _Check, key: str, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        c.fail(key, f"must be a time 'HH:MM' in quotes, got {describe(value)} (YAML reads an "
                    f"unquoted {value // 60:02d}:{value % 60:02d} as a number of minutes)")
    text = c.text(key, value, "a time 'HH:MM'")
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > 24 \
            or int(parts[1]) > 59 or (int(parts[0]) == 24 and int(parts[1]) != 0):
        c.fail(key, f"must be a time 'HH:MM' (00:00 to 24:00), got {describe(value)}")


def _check_asset(c: _Check, aw: str, a: Any, kinds: Mapping[str, str],
                 vocabulary: Mapping[str, _signals.Signal], seen: dict[str, str],
                 tags: dict[str, str]) -> None:
    c.mapping(aw, a, "an asset (a mapping with id, kind and signals)", _ASSET_KEYS,
              ("id", "kind"))
    aid = c.text(f"{aw}.id", a["id"], "an asset id (a string)")
    if aid in seen:
        c.fail(f"{aw}.id", f"asset id {aid!r} is also used at {seen[aid]}")
    seen[aid] = aw
    kind = c.choice(f"{aw}.kind", a["kind"], "asset kind", kinds)
    for k in ("name", "description"):
        if a.get(k) is not None:
            c.text(f"{aw}.{k}", a[k])
    if a.get("tags") is not None:
        c.texts(f"{aw}.tags", a["tags"], "asset tags")
    for k in PUMP_ONLY:
        if a.get(k) is not None and kind != "pump":
            c.fail(f"{aw}.{k}", f"only an asset of kind 'pump' has {k!r}; this one is of kind "
                                f"{kind!r}")
    if a.get("pump_type") is not None:
        c.choice(f"{aw}.pump_type", a["pump_type"], "pump type", PUMP_TYPES)
    for block, keys in ATTRIBUTE_KEYS.items():
        if a.get(block) is None:
            continue
        bw = f"{aw}.{block}"
        c.mapping(bw, a[block], f"a mapping of {', '.join(keys)} (numbers)", keys)
        for k, v in a[block].items():
            name = f"{block}.{k}"
            if v is None:
                continue
            if name in _FRACTIONS:
                c.number(f"{bw}.{k}", v, 0.0, 1.0)
            else:
                c.number(f"{bw}.{k}", v, positive=name in _POSITIVE)
    if kind == "pump" and a.get("curve"):
        for k in ("shutoff_head", "bep_flow", "bep_efficiency"):
            if a["curve"].get(k) is None:
                c.fail(f"{aw}.curve.{k}", "is required for a pump curve")
        for k in ("flow", "head", "speed"):
            if (a.get("rated") or {}).get(k) is None:
                c.fail(f"{aw}.rated.{k}", "is required with a pump curve")
    sigs = c.mapping(f"{aw}.signals", a.get("signals") or {},
                     "a mapping of signal name → {tag, unit}")
    for sig, s in sigs.items():
        sw = f"{aw}.signals.{sig}"
        if sig not in vocabulary:
            c.fail(sw, choices_message("signal", sig, vocabulary)
                   + " (declare new signals under the top-level key 'signals')")
        c.mapping(sw, s, "a mapping with tag and unit", _TAG_KEYS, ("tag", "unit"))
        tag = c.text(f"{sw}.tag", s["tag"], "a historian tag (a string)")
        if s.get("description") is not None:
            c.text(f"{sw}.description", s["description"])
        if tag in tags:
            c.fail(f"{sw}.tag", f"tag {tag!r} is also used at {tags[tag]}")
        tags[tag] = sw
        if not isinstance(s["unit"], str | int) or isinstance(s["unit"], bool):
            c.fail(f"{sw}.unit", f"must be a unit (a string such as 'L/s'), got "
                                 f"{describe(s['unit'])}")
        try:
            _units.conversion(str(s["unit"]), vocabulary[sig].unit)
        except UnitError as exc:
            c.fail(f"{sw}.unit", str(exc))
