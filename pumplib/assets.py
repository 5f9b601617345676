"""The asset registry: utility → stations → pumps and tanks.

The registry is a YAML file (``catalogs/assets.yaml``) that names every asset,
its rated values and curves, the historian tags of its signals with their
units, and the station tariffs. Everything downstream (ingest, quality rules,
features, recommendations) reads it through :class:`AssetRegistry`.

Schema (keys marked ``?`` are optional)::

    version: 1
    utility: {id, name, timezone, currency}
    holidays?: [YYYY-MM-DD, …]          # priced like Sundays by the tariffs
    tariffs:
      NAME:
        currency?: EUR
        default_price: 0.11             # per kWh, outside every period
        periods:                         # local time of the utility
          - {name, price, start: "HH:MM", end: "HH:MM", days: [mon, …]}
    stations:
      - id, name, tariff, tags?: [..], static_head?: m, control?: tariff|level
        assets:
          - id                          # unique across the utility
            kind: pump | tank | valve | junction | rig
            pump_type?: fixed_speed | variable_speed
            tags?: [..]
            rated?: {flow: m3/h, head: m, power: kW, speed: rpm, efficiency: 0-1}
            curve?: {shutoff_head: m, bep_flow: m3/h, bep_efficiency: 0-1}
            motor?: {rated_power: kW, efficiency: 0-1, voltage: V, power_factor: 0-1}
            tank?: {area: m2, min_level: m, max_level: m}
            signals:
              SIGNAL: {tag: HISTORIAN.TAG, unit: L/s}

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
"""

from __future__ import annotations

import datetime as dt
import functools
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

ASSET_KINDS = ("pump", "tank", "valve", "junction", "rig")
PUMP_TYPES = ("fixed_speed", "variable_speed")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_ASSET_KEYS = {"id", "kind", "name", "pump_type", "tags", "rated", "curve", "motor", "tank",
               "signals", "description"}
_STATION_KEYS = {"id", "name", "tariff", "tags", "assets", "static_head", "description", "control"}
#: how a station schedules its pumps: ``tariff`` (fill in cheap hours, drain in the peak) or
#: ``level`` (fixed tank set-points, blind to the tariff)
CONTROL_MODES = ("tariff", "level")
_TOP_KEYS = {"version", "utility", "holidays", "tariffs", "stations", "description"}


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

    def __init__(self, spec: dict, source: str = "<dict>"):
        self.source = source
        self.spec = spec
        _validate(spec, source)
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
        if not path.is_file():
            raise SchemaError(f"asset registry {path} does not exist; set assets.registry or "
                              "pass --registry (`pumplib simulate sample` writes one)")
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
        return [a for a in self.assets.values() if a.kind == "pump"]

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
    try:
        with open(path) as f:
            spec = yaml.safe_load(f)
    except FileNotFoundError:
        raise SchemaError(f"asset registry {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise SchemaError(f"{path}: not valid YAML: {exc}") from None
    return AssetRegistry(spec, path)


# -- validation ------------------------------------------------------------
def _fail(source: str, key: str, msg: str):
    raise SchemaError(f"{source}: key {key!r}: {msg}")


def _check_keys(source, where, d, allowed, required=()):
    if not isinstance(d, dict):
        _fail(source, where, f"expected a mapping, got {type(d).__name__}")
    for k in d:
        if k not in allowed:
            _fail(source, f"{where}.{k}", choices_message("key", k, allowed))
    for k in required:
        if k not in d:
            _fail(source, f"{where}.{k}", "is required")


def _validate(spec: Any, source: str) -> None:
    _check_keys(source, "<top>", spec, _TOP_KEYS, ("version", "utility", "tariffs", "stations"))
    if spec["version"] != 1:
        _fail(source, "version", f"unsupported version {spec['version']!r}. Valid choices: [1]")
    _check_keys(source, "utility", spec["utility"], {"id", "name", "timezone", "currency"},
                ("id", "timezone"))
    try:
        pd.Timestamp("2020-01-01", tz=spec["utility"]["timezone"])
    except Exception as exc:  # noqa: BLE001 - pytz/zoneinfo raise many types
        _fail(source, "utility.timezone", f"unknown time zone {spec['utility']['timezone']!r} ({exc})")
    for name, t in spec["tariffs"].items():
        _check_keys(source, f"tariffs.{name}", t, {"currency", "default_price", "periods",
                                                    "description"}, ("default_price",))
        for i, p in enumerate(t.get("periods", []) or []):
            where = f"tariffs.{name}.periods[{i}]"
            _check_keys(source, where, p, {"name", "price", "start", "end", "days"},
                        ("name", "price", "start", "end"))
            for d in p.get("days", []):
                if d not in DAYS:
                    _fail(source, f"{where}.days", choices_message("day", d, DAYS))
    seen: dict[str, str] = {}
    tags: dict[str, str] = {}
    sigs = _signals.signals()
    for i, st in enumerate(spec["stations"]):
        where = f"stations[{i}]"
        _check_keys(source, where, st, _STATION_KEYS, ("id", "tariff", "assets"))
        if st["tariff"] not in spec["tariffs"]:
            _fail(source, f"{where}.tariff", choices_message("tariff", st["tariff"], spec["tariffs"]))
        if st.get("control", "tariff") not in CONTROL_MODES:
            _fail(source, f"{where}.control", choices_message("control", st["control"],
                                                              CONTROL_MODES))
        for j, a in enumerate(st["assets"]):
            aw = f"{where}.assets[{j}]"
            _check_keys(source, aw, a, _ASSET_KEYS, ("id", "kind"))
            if a["id"] in seen:
                _fail(source, f"{aw}.id", f"asset id {a['id']!r} is also used at {seen[a['id']]}")
            seen[a["id"]] = aw
            if a["kind"] not in ASSET_KINDS:
                _fail(source, f"{aw}.kind", choices_message("asset kind", a["kind"], ASSET_KINDS))
            if a.get("pump_type") is not None and a["pump_type"] not in PUMP_TYPES:
                _fail(source, f"{aw}.pump_type", choices_message("pump type", a["pump_type"], PUMP_TYPES))
            if a["kind"] == "pump" and a.get("curve"):
                for k in ("shutoff_head", "bep_flow", "bep_efficiency"):
                    if k not in a["curve"]:
                        _fail(source, f"{aw}.curve.{k}", "is required for a pump curve")
                for k in ("flow", "head", "speed"):
                    if k not in (a.get("rated") or {}):
                        _fail(source, f"{aw}.rated.{k}", "is required with a pump curve")
            for sig, s in (a.get("signals") or {}).items():
                sw = f"{aw}.signals.{sig}"
                if sig not in sigs:
                    _fail(source, sw, choices_message("signal", sig, sigs))
                _check_keys(source, sw, s, {"tag", "unit", "description"}, ("tag", "unit"))
                if s["tag"] in tags:
                    _fail(source, f"{sw}.tag", f"tag {s['tag']!r} is also used at {tags[s['tag']]}")
                tags[s["tag"]] = sw
                try:
                    _units.conversion(s["unit"], sigs[sig].unit)
                except UnitError as exc:
                    _fail(source, f"{sw}.unit", str(exc))
