"""Seeded pump-station simulator with fault injection and ground truth.

The simulator turns an asset registry (utility → stations → pumps and a tank
per station) into historian-style sensor exports whose physics and faults are
known exactly, so every downstream step (ingest, quality rules, features,
forecasts) can be tested against ground truth.

How it works
------------
*Control* is simulated at a coarse step (``control_step``, default 1 min) one
UTC day at a time, looping over the steps of the day and vectorised across
pumps; the state (tank levels, pump states, bearing temperatures, weather,
wear) is carried from day to day. Each pump discharges through its own rising
main into the station's tank, so its operating point is the analytic
intersection of the pump curve ``H = H0·s² − k·Q²`` (:meth:`Asset.head_curve
<pumplib.assets.Asset.head_curve>`, affinity laws for the speed ratio ``s``)
with the system curve ``H = static_head + level + r·Q²``. The resistance ``r``
is implied by the registry: the rated point lies on the system curve at the
middle tank level. Pumps are staged by tank level with hysteresis, and the
set-points follow the station's time-of-use tariff (fill high when energy is
cheap or a peak is coming, let the tank drain in the peak); variable-speed
pumps set their speed (≥ 70 % of rated) so that the station follows demand.
Demand has daily and weekly shapes, registry holidays priced and behaving like
Sundays, a slow AR(1) weather factor and fast noise.

*Sensors* are then synthesised for the day at the requested rate (1 s to
1 min) from the control state, with realistic noise and resolution, and
delivered in the unit the registry declares for each tag (L/s, psi, degF …).

*Faults* are drawn from the seed up front (see :data:`FAULT_KINDS`) and
injected into the physics (impeller wear, cavitation, dry running) or into the
exported data (stuck, spike, dropout, gap, drift, wrong unit, clock skew,
duplicate and out-of-order rows). No two episodes overlap on one asset
(impeller wear aside) and none lasts more than a quarter of the span (wear
aside). The truth table lists each one with ``fault_id, kind, asset, signal,
start, end, params``; ``start`` and ``end`` are inclusive (first and last
affected sample, UTC).

Everything streams: :func:`simulate` yields one :class:`Chunk` per (day,
station) and :func:`write_exports` appends chunks to its files as they come,
so memory depends on one day × the pumps of one station (one day × the
exported pumps for files in time order), never on the span.

Examples
--------
>>> from pumplib.simulate import make_registry, simulate
>>> sim = simulate(make_registry(), start="2026-03-09", days=1, freq="1min", faults=())
>>> chunk = next(iter(sim))
>>> chunk.station, chunk.frame.columns.tolist()
('NORTH', ['timestamp', 'tag', 'value', 'quality'])
>>> len(chunk.frame) == 1440 * len(chunk.tags)
True
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from . import signals as _signals
from . import units as _units
from .assets import Asset, AssetRegistry, Tariff
from .errors import ConfigError, SchemaError, UnknownNameError, choices_message

# test-rig fault kinds with truth (rotor imbalance, cavitation, leak, impulse): their own room
from .simulate_faults import RIG_FAULT_KINDS, inject, rig_frame

__all__ = [
    "DEFAULT_FAULT_RATES",
    "FAULT_KINDS",
    "RIG_FAULT_KINDS",
    "FORMATS",
    "OPT_IN_FAULT_KINDS",
    "PUMP_SIGNALS",
    "ROW_ORDERS",
    "TANK_SIGNALS",
    "TRUTH_COLUMNS",
    "Chunk",
    "Export",
    "Simulation",
    "TagSpec",
    "main",
    "make_registry",
    "make_sample",
    "inject",
    "read_truth",
    "registry_yaml",
    "rig_frame",
    "simulate",
    "write_exports",
]

# -- physical constants --------------------------------------------------------
RHO = 998.2  # kg/m³, water at 20 °C
G = 9.80665  # m/s²
BAR_PER_M = RHO * G / 1e5  # bar per metre of water column
DAY_S = 86_400
DAY_NS = DAY_S * 10**9
S_NS = 10**9

# -- signals, quality, faults, formats ---------------------------------------
PUMP_SIGNALS = ("flow", "suction_pressure", "discharge_pressure", "power", "current", "speed",
                "vibration", "bearing_temperature", "run_state")
TANK_SIGNALS = ("level",)
_SIGNAL_CODE = {s: i for i, s in enumerate(PUMP_SIGNALS + TANK_SIGNALS)}
_TAG_SUFFIX = {"flow": "FLOW", "suction_pressure": "PS", "discharge_pressure": "PD",
               "power": "POWER", "current": "CURRENT", "speed": "SPEED", "vibration": "VIB",
               "bearing_temperature": "TBRG", "run_state": "RUN", "level": "LEVEL"}

QUALITY_GOOD, QUALITY_UNCERTAIN, QUALITY_BAD = 192, 64, 0

#: fault kinds, in the order they are drawn
FAULT_KINDS = ("stuck", "spike", "dropout", "gap", "drift", "wrong_unit", "clock_skew",
               "duplicate", "out_of_order", "impeller_wear", "cavitation", "dry_running")
#: expected episodes per eligible asset per 30 days (at least one per requested kind)
DEFAULT_FAULT_RATES: dict[str, float] = {
    "stuck": 1.0, "spike": 3.0, "dropout": 2.0, "gap": 1.0, "drift": 0.5, "wrong_unit": 0.5,
    "clock_skew": 0.5, "duplicate": 1.0, "out_of_order": 1.0, "impeller_wear": 0.2,
    "cavitation": 1.0, "dry_running": 0.5}
_PHYSICAL = ("impeller_wear", "cavitation", "dry_running")
#: kinds drawn only when asked for by name in ``faults=`` (never by default), after
#: the kinds of FAULT_KINDS, so that asking for them leaves the others' draws alone:
#: ``out_of_range`` replaces a tag's values by a physically impossible reading
#: (a negative flow, power, current, speed, vibration or level; -5 bar; 250 °C)
OPT_IN_FAULT_KINDS = ("out_of_range",)
_ALL_FAULT_KINDS = FAULT_KINDS + OPT_IN_FAULT_KINDS
#: duration range of an episode in seconds (log-uniform); spikes last one sample
_DURATION_S = {"stuck": (1800, 8 * 3600), "spike": (0, 0), "dropout": (60, 1800),
               "gap": (600, 4 * 3600), "drift": (12 * 3600, 4 * DAY_S),
               "wrong_unit": (2 * 3600, 2 * DAY_S), "clock_skew": (4 * 3600, 3 * DAY_S),
               "duplicate": (300, 3600), "out_of_order": (300, 1800),
               "impeller_wear": (10 * DAY_S, 28 * DAY_S), "cavitation": (1200, 7200),
               "dry_running": (300, 1800), "out_of_range": (60, 900)}
_SKEW_OFFSETS_S = (-300, -120, -60, -30, 30, 60, 90, 120, 300, 3600)

TRUTH_COLUMNS = ("fault_id", "kind", "asset", "signal", "start", "end", "params")
FORMATS = ("long_csv", "wide_csv", "long_parquet", "wide_parquet")
ROW_ORDERS = ("time", "tag")
LONG_CSV_HEADER = "timestamp,tag,value,quality"

#: decimals a historian keeps, by delivered unit
_DECIMALS = {"m3/h": 1, "L/s": 2, "L/min": 0, "bar": 3, "psi": 2, "kPa": 1, "kW": 1, "W": 0,
             "A": 1, "rpm": 0, "mm/s": 2, "in/s": 4, "degC": 1, "degF": 1, "m": 3, "cm": 1,
             "ft": 2, "1": 0}
#: the unit a misconfigured tag delivers instead (wrong-unit fault)
_ALT_UNITS = {"m3/h": "L/s", "L/s": "m3/h", "bar": "kPa", "psi": "bar", "degC": "degF",
              "degF": "degC", "m": "cm", "kW": "W", "mm/s": "in/s"}
#: historian units per station (index mod 3): several tags are not canonical
_UNIT_SCHEMES = ({"flow": "L/s"},
                 {"suction_pressure": "psi", "discharge_pressure": "psi",
                  "bearing_temperature": "degF"},
                 {})

# -- control constants ----------------------------------------------------------
_MIN_SPEED = 0.70  # VSD lower limit, fraction of rated speed
_ON_FRAC = np.array([0.70, 0.45, 0.20])  # lead pump start level (cheap, normal, peak)
_OFF_FRAC = np.array([0.93, 0.75, 0.40])  # lead pump stop level
_STAGE_ON, _STAGE_OFF = 0.12, 0.08  # lower set-points per assist stage
_PREFILL_NS = 2 * 3600 * S_NS  # fill up when a peak starts within this time
_LEVEL_TAU_H = 0.5  # VSD level-correction time constant
_BEARING_TAU_S = 1200.0
_DEMAND_SHARE = 0.42  # mean demand as a share of the station's rated capacity
_STANDARD_MOTORS = (3.0, 4.0, 5.5, 7.5, 11.0, 15.0, 18.5, 22.0, 30.0, 37.0, 45.0, 55.0, 75.0,
                    90.0, 110.0, 132.0)
_STREAM = {"registry": 1, "station": 2, "faults": 3, "demand": 4, "noise": 5}

_STATION_NAMES = (("NORTH", "N"), ("SOUTH", "S"), ("EAST", "E"), ("WEST", "W"),
                  ("CENTRAL", "C"), ("HARBOUR", "H"), ("RIVER", "R"), ("DUNE", "D"),
                  ("MEADOW", "M"), ("LAKE", "L"))
HOLIDAYS_NL_2026 = ("2026-01-01", "2026-04-03", "2026-04-05", "2026-04-06", "2026-04-27",
                    "2026-05-05", "2026-05-14", "2026-05-24", "2026-05-25", "2026-12-25",
                    "2026-12-26")
_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
_WEEKEND = ["sat", "sun"]
SAMPLE_SEED = 2026


# =============================================================================
# Registry generation
# =============================================================================
def make_registry(n_stations: int = 2, pumps_per_station: int | Sequence[int] = (3, 2),
                  seed: int = SAMPLE_SEED, timezone: str = "Europe/Amsterdam") -> dict:
    """Generate a realistic asset registry as a plain dict.

    Parameters
    ----------
    n_stations : int
        Number of booster stations (named NORTH, SOUTH, EAST, … then ST11, ST12 …).
    pumps_per_station : int or sequence of int
        Pumps per station; a sequence is cycled over the stations.
    seed : int
        Seed of the rated values; the same seed gives the same registry.
    timezone : str
        IANA time zone of the utility (tariffs, demand and calendars follow it).

    Returns
    -------
    dict
        A spec accepted by :meth:`pumplib.assets.AssetRegistry.from_dict`: each
        station has one tank (``N-T1``) and pumps (``N-P1`` …) with rated values
        (50–400 m³/h, 20–60 m, 5.5–90 kW motors, 1480/2960 rpm, BEP efficiency
        0.70–0.85), curves, motors and historian tags such as
        ``NORTH.P1.FLOW``; the first pump of each station is variable-speed.
        Some tags are delivered in non-canonical units (L/s, psi, degF).

    Examples
    --------
    >>> from pumplib.assets import AssetRegistry
    >>> reg = AssetRegistry.from_dict(make_registry(n_stations=2, pumps_per_station=(3, 2)))
    >>> [a.id for a in reg.pumps()]
    ['N-P1', 'N-P2', 'N-P3', 'S-P1', 'S-P2']
    >>> reg.tag("NORTH.P1.FLOW").unit
    'L/s'
    """
    if int(n_stations) < 1:
        raise ConfigError(f"option 'n_stations' given an invalid value: {n_stations!r}. "
                          "Expected an integer ≥ 1")
    counts = _pump_counts(int(n_stations), pumps_per_station)
    rng = _rng(seed, "registry")
    stations = [_make_station(i, counts[i], rng) for i in range(int(n_stations))]
    spec = {
        "version": 1,
        "utility": {"id": "aquanet", "name": "AquaNet demo water utility", "timezone": timezone,
                    "currency": "EUR"},
        "holidays": list(HOLIDAYS_NL_2026),
        "tariffs": _make_tariffs(),
        "stations": stations,
    }
    AssetRegistry.from_dict(spec, source="make_registry()")
    return spec


def _pump_counts(n_stations: int, pumps_per_station: int | Sequence[int]) -> list[int]:
    seq = [pumps_per_station] if isinstance(pumps_per_station, int) else list(pumps_per_station)
    if not seq or any(int(c) < 1 for c in seq):
        raise ConfigError(f"option 'pumps_per_station' given an invalid value: "
                          f"{pumps_per_station!r}. Expected positive integers")
    return [int(seq[i % len(seq)]) for i in range(n_stations)]


def _station_name(i: int) -> tuple[str, str]:
    if i < len(_STATION_NAMES):
        return _STATION_NAMES[i]
    return f"ST{i + 1:02d}", f"S{i + 1:02d}"


def _make_tariffs() -> dict:
    def tou(off, shoulder, peak, weekend, peak_start, peak_end):
        return {"currency": "EUR", "default_price": off, "periods": [
            {"name": "shoulder", "price": shoulder, "start": "07:00", "end": peak_start,
             "days": _WEEKDAYS},
            {"name": "peak", "price": peak, "start": peak_start, "end": peak_end,
             "days": _WEEKDAYS},
            {"name": "shoulder", "price": shoulder, "start": peak_end, "end": "23:00",
             "days": _WEEKDAYS},
            {"name": "weekend", "price": weekend, "start": "09:00", "end": "21:00",
             "days": _WEEKEND}]}

    return {"tou_standard": tou(0.09, 0.16, 0.31, 0.12, "17:00", "21:00"),
            "tou_large": tou(0.085, 0.15, 0.28, 0.11, "16:00", "20:00")}


def _make_station(i: int, n_pumps: int, rng: np.random.Generator) -> dict:
    name, prefix = _station_name(i)
    static = round(float(rng.uniform(10.0, 22.0)), 1)
    min_level, max_level = 0.5, round(float(rng.uniform(4.0, 6.0)), 1)
    mid = (min_level + max_level) / 2
    base_head = float(np.clip(static + mid + rng.uniform(8.0, 20.0), 20.0, 58.0))
    q_cap = min(400.0, 62.0 * 0.78 * 3.6e6 / (RHO * G * base_head * 1.1))
    base_flow = float(rng.uniform(60.0, max(q_cap, 61.0)))
    units = dict(_UNIT_SCHEMES[i % len(_UNIT_SCHEMES)])
    pumps = []
    for j in range(n_pumps):
        head = float(np.clip(base_head * rng.uniform(0.96, 1.04), static + mid + 5.0, 60.0))
        flow = float(np.clip(base_flow * rng.uniform(0.92, 1.08), 50.0, 400.0))
        vsd = j == 0 or bool(rng.random() < 0.2)
        pumps.append(_make_pump(name, prefix, j, head, flow, vsd, units, rng))
    capacity = sum(p["rated"]["flow"] for p in pumps)
    hours = float(rng.uniform(3.0, 5.0))
    area = round(hours * _DEMAND_SHARE * capacity / (max_level - min_level) / 10.0) * 10.0
    tank = {"id": f"{prefix}-T1", "kind": "tank", "name": f"{name.title()} reservoir",
            "tank": {"area": float(max(area, 50.0)), "min_level": min_level,
                     "max_level": max_level},
            "signals": {"level": {"tag": f"{name}.T1.LEVEL", "unit": units.get("level", "m")}}}
    return {"id": name, "name": f"{name.title()} booster station",
            "tariff": "tou_standard" if i % 2 == 0 else "tou_large", "static_head": static,
            # every second station runs on fixed level set-points, blind to the tariff: its
            # peak-hour pumping is avoidable (the truth behind the load-shift recommendation)
            "control": "tariff" if i % 2 == 0 else "level",
            "assets": [*pumps, tank]}


def _make_pump(station: str, prefix: str, j: int, head: float, flow: float, vsd: bool,
               units: Mapping[str, str], rng: np.random.Generator) -> dict:
    shutoff = head * rng.uniform(1.22, 1.38)
    bep_flow = flow * rng.uniform(0.96, 1.10)
    bep_eff = float(np.clip(0.70 + 0.10 * (flow - 50.0) / 350.0 + rng.uniform(0.0, 0.05),
                            0.70, 0.85))
    eff = bep_eff * (1.0 - ((flow - bep_flow) / bep_flow) ** 2)
    shaft = RHO * G * flow * head / 3.6e6 / eff
    motor = next(p for p in _STANDARD_MOTORS if p >= 1.15 * shaft)
    motor_eff = round(float(np.clip(0.86 + 0.02 * math.log(motor), 0.88, 0.96)), 3)
    speed = 2960 if flow < 150.0 else 1480
    sigs = {sig: {"tag": f"{station}.P{j + 1}.{_TAG_SUFFIX[sig]}",
                  "unit": units.get(sig, _signals.get(sig).unit)} for sig in PUMP_SIGNALS}
    return {
        "id": f"{prefix}-P{j + 1}", "kind": "pump", "name": f"{station.title()} pump {j + 1}",
        "pump_type": "variable_speed" if vsd else "fixed_speed",
        "rated": {"flow": round(flow, 1), "head": round(head, 1),
                  "power": round(shaft / motor_eff, 1), "speed": speed,
                  "efficiency": round(float(eff), 3)},
        "curve": {"shutoff_head": round(float(shutoff), 1), "bep_flow": round(float(bep_flow), 1),
                  "bep_efficiency": round(bep_eff, 3)},
        "motor": {"rated_power": motor, "efficiency": motor_eff, "voltage": 400,
                  "power_factor": round(float(rng.uniform(0.82, 0.88)), 2)},
        "signals": sigs,
    }


def registry_yaml(spec: Mapping) -> str:
    """Render a registry spec as readable YAML with a header comment.

    Examples
    --------
    >>> registry_yaml(make_registry()).splitlines()[0]
    '# Asset registry of the pumplib sample utility (generated, do not edit by hand).'
    """
    header = (
        "# Asset registry of the pumplib sample utility (generated, do not edit by hand).\n"
        "# Regenerate with:  python -m pumplib.simulate sample\n"
        "# Schema: pumplib/assets.py. Each signal's `unit` is the unit the historian\n"
        "# delivers (L/s, psi, degF …); ingest converts to the canonical units of\n"
        "# pumplib/data/signals.yaml. Holidays are priced like Sundays by the tariffs.\n")
    body = yaml.dump(dict(spec), Dumper=_RegistryDumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=None, width=100)
    return header + body


class _RegistryDumper(yaml.SafeDumper):
    """Safe YAML without anchors; times and dates always quoted."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    quoted = bool(re.fullmatch(r"\d\d:\d\d|\d{4}-\d\d-\d\d", value))
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'" if quoted else None)


_RegistryDumper.add_representer(str, _represent_str)


# =============================================================================
# Argument normalisation
# =============================================================================
def _rng(seed: int, stream: str, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _STREAM[stream], *(int(k) for k in keys)])


def _as_registry(registry: AssetRegistry | Mapping | str | Path | None) -> AssetRegistry:
    if registry is None:
        return AssetRegistry.from_dict(make_registry(), source="make_registry()")
    if isinstance(registry, AssetRegistry):
        return registry
    if isinstance(registry, Mapping):
        return AssetRegistry.from_dict(dict(registry))
    return AssetRegistry.load(registry)


def _seconds(value: Any, name: str, lo: int = 1, hi: int = 3600) -> int:
    try:
        td = pd.Timedelta(seconds=value) if isinstance(value, int | float) else pd.Timedelta(value)
    except (ValueError, TypeError):
        td = None
    secs = None if td is None else td.total_seconds()
    if secs is None or secs != int(secs) or not lo <= secs <= hi or DAY_S % int(secs):
        raise ConfigError(f"option {name!r} given an invalid value: {value!r}. Expected a "
                          f"whole number of seconds from {lo} s to {hi} s that divides a day, "
                          "e.g. '1s', '10s', '1min'")
    return int(secs)


def _utc_ns(value: Any) -> int:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


def _fault_rates(faults: Any) -> dict[str, float]:
    if faults is None or (isinstance(faults, str) and faults == "default"):
        return dict(DEFAULT_FAULT_RATES)
    if isinstance(faults, str):
        faults = (faults,)
    rates = dict(faults) if isinstance(faults, Mapping) else \
        {k: DEFAULT_FAULT_RATES.get(k, 1.0 if k in OPT_IN_FAULT_KINDS else 0.0) for k in faults}
    for kind, rate in rates.items():
        if kind not in _ALL_FAULT_KINDS:
            raise UnknownNameError(choices_message("fault kind", kind, _ALL_FAULT_KINDS))
        if not float(rate) >= 0:
            raise ConfigError(f"option 'faults' given an invalid rate for {kind!r}: {rate!r}. "
                              "Expected a number ≥ 0 (episodes per asset per 30 days)")
    return {k: float(v) for k, v in rates.items() if float(v) > 0}


def _iso(ns: np.ndarray | int) -> np.ndarray:
    """UTC ISO 8601 strings with a ``Z`` and whole seconds."""
    arr = np.asarray(ns, dtype=np.int64).astype("datetime64[ns]")
    return np.char.add(np.datetime_as_string(arr, unit="s"), "Z")


# =============================================================================
# The plant: registry values as arrays for vectorised physics
# =============================================================================
@dataclass(frozen=True)
class TagSpec:
    """One exported tag: historian tag, asset, canonical signal, delivered unit, station."""

    tag: str
    asset: str
    signal: str
    unit: str
    station: str


@dataclass
class _Plant:
    """Registry values of the simulated stations, stacked into arrays."""

    registry: AssetRegistry
    stations: list[str]
    station_gidx: np.ndarray  # index of each station in the registry (RNG keys)
    tanks: list[Asset]
    pumps: list[Asset]
    sp: np.ndarray  # station (local index) of each pump
    pos: np.ndarray  # position of each pump within its station
    n_in_station: np.ndarray
    vsd: np.ndarray
    stacked: Asset  # pseudo-asset with array-valued curves: helpers broadcast over pumps
    h0: np.ndarray
    k: np.ndarray
    r: np.ndarray
    s_min: np.ndarray
    static: np.ndarray  # per station
    area: np.ndarray
    lmin: np.ndarray
    lmax: np.ndarray
    demand_base: np.ndarray
    supply_head: np.ndarray
    suction_k: np.ndarray  # suction loss m per (m³/h)² per pump
    vib0: np.ndarray
    bearing_rise: np.ndarray
    shaft_rated: np.ndarray
    motor_eff: np.ndarray
    motor_rated: np.ndarray
    volt_pf: np.ndarray  # √3·V·pf per pump
    tariffs: list[Tariff]
    tariff_control: np.ndarray  # per station: set-points follow the tariff (else level only)
    timezone: str
    holidays: np.ndarray  # datetime64[D]

    @classmethod
    def build(cls, reg: AssetRegistry, stations: Sequence[str] | None, seed: int) -> _Plant:
        all_st = list(reg.stations)
        chosen = all_st if stations is None else list(stations)
        for st in chosen:
            if st not in reg.stations:
                raise UnknownNameError(choices_message("station", st, all_st))
        tanks, pumps, sp, pos, nst = [], [], [], [], []
        for si, st in enumerate(chosen):
            assets = reg.station_assets(st)
            st_tanks = [a for a in assets if a.kind == "tank"]
            st_pumps = [a for a in assets if a.kind == "pump"]
            if not st_tanks or not st_pumps:
                raise SchemaError(f"{reg.source}: station {st!r} needs a tank and at least one "
                                  "pump to be simulated")
            for a in st_pumps:
                _check_pump(reg, a)
            _check_tank(reg, st_tanks[0])
            tanks.append(st_tanks[0])
            pumps.extend(st_pumps)
            sp.extend([si] * len(st_pumps))
            pos.extend(range(len(st_pumps)))
            nst.extend([len(st_pumps)] * len(st_pumps))
        sp_a = np.array(sp)
        rated = {k: np.array([float(p.rated[k]) for p in pumps]) for k in ("flow", "head", "speed")}
        curve = {k: np.array([float(p.curve[k]) for p in pumps])
                 for k in ("shutoff_head", "bep_flow", "bep_efficiency")}
        stacked = Asset(id="*", kind="pump", station="*", rated=rated, curve=curve)
        h0 = curve["shutoff_head"]
        k = (h0 - rated["head"]) / rated["flow"] ** 2
        static = np.array([float(reg.stations[st].get("static_head", 0.0)) for st in chosen])
        lmin = np.array([float(t.tank["min_level"]) for t in tanks])
        lmax = np.array([float(t.tank["max_level"]) for t in tanks])
        hs_mid = (static + (lmin + lmax) / 2)[sp_a]
        r = (rated["head"] - hs_mid) / rated["flow"] ** 2
        if np.any(r <= 0):
            bad = [p.id for p, ok in zip(pumps, r > 0, strict=True) if not ok]
            raise SchemaError(f"{reg.source}: pumps {bad}: rated head must exceed the station "
                              "static_head plus the middle tank level")
        hs_max = (static + lmax)[sp_a]
        if np.any(h0 <= hs_max):
            bad = [p.id for p, ok in zip(pumps, h0 > hs_max, strict=True) if not ok]
            raise SchemaError(f"{reg.source}: pumps {bad}: shutoff_head must exceed the station "
                              "static_head plus the tank max_level")
        s_min = np.clip(np.sqrt((hs_max + (k + r) * (0.25 * rated["flow"]) ** 2) / h0),
                        _MIN_SPEED, 1.0)
        eta_r = stacked.efficiency_curve(rated["flow"])
        shaft_rated = RHO * G * rated["flow"] * rated["head"] / 3.6e6 / eta_r
        motor_eff = np.array([float(p.motor["efficiency"]) for p in pumps])
        volt_pf = np.array([math.sqrt(3) * float(p.motor["voltage"]) * float(p.motor["power_factor"])
                            for p in pumps])
        gidx = np.array([all_st.index(st) for st in chosen])
        st_rng = [_rng(seed, "station", g) for g in gidx]
        n_st = len(chosen)
        supply = np.array([r_.uniform(3.0, 6.0) for r_ in st_rng])
        share = np.array([r_.uniform(0.9, 1.1) for r_ in st_rng])
        vib0 = np.empty(len(pumps))
        rise = np.empty(len(pumps))
        for si in range(n_st):
            idx = np.flatnonzero(sp_a == si)
            vib0[idx] = st_rng[si].uniform(1.0, 2.0, len(idx))
            rise[idx] = st_rng[si].uniform(22.0, 32.0, len(idx))
        capacity = np.bincount(sp_a, weights=rated["flow"], minlength=n_st)
        hol = np.array(sorted(reg.holidays), dtype="datetime64[D]") if reg.holidays else \
            np.array([], dtype="datetime64[D]")
        return cls(
            registry=reg, stations=chosen, station_gidx=gidx, tanks=tanks, pumps=pumps, sp=sp_a,
            pos=np.array(pos), n_in_station=np.array(nst),
            vsd=np.array([p.pump_type == "variable_speed" for p in pumps]), stacked=stacked,
            h0=h0, k=k, r=r, s_min=s_min, static=static,
            area=np.array([float(t.tank["area"]) for t in tanks]), lmin=lmin, lmax=lmax,
            demand_base=_DEMAND_SHARE * capacity * share, supply_head=supply,
            suction_k=0.6 / rated["flow"] ** 2, vib0=vib0, bearing_rise=rise,
            shaft_rated=shaft_rated, motor_eff=motor_eff,
            motor_rated=np.array([float(p.motor["rated_power"]) for p in pumps]), volt_pf=volt_pf,
            tariffs=[reg.tariff_of(st) for st in chosen],
            tariff_control=np.array([reg.stations[st].get("control", "tariff") == "tariff"
                                     for st in chosen]),
            timezone=str(reg.utility["timezone"]), holidays=hol)

    @property
    def n_pumps(self) -> int:
        return len(self.pumps)

    @property
    def n_stations(self) -> int:
        return len(self.stations)


def _check_pump(reg: AssetRegistry, a: Asset) -> None:
    need = {"curve": ("shutoff_head", "bep_flow", "bep_efficiency"),
            "rated": ("flow", "head", "speed"),
            "motor": ("efficiency", "voltage", "power_factor", "rated_power")}
    for part, keys in need.items():
        missing = [k for k in keys if k not in (getattr(a, part) or {})]
        if missing:
            raise SchemaError(f"{reg.source}: pump {a.id!r} needs {part}.{missing[0]} to be "
                              f"simulated (required: {', '.join(f'{part}.{k}' for k in keys)})")


def _check_tank(reg: AssetRegistry, a: Asset) -> None:
    missing = [k for k in ("area", "min_level", "max_level") if k not in (a.tank or {})]
    if missing:
        raise SchemaError(f"{reg.source}: tank {a.id!r} needs tank.{missing[0]} to be simulated")


# =============================================================================
# Faults
# =============================================================================
@dataclass
class _Fault:
    fid: str
    kind: str
    asset: str
    signal: str  # canonical signal, or "*" for the whole asset
    start: int  # ns, inclusive
    end: int  # ns, inclusive
    params: dict
    station: str = ""

    def row(self) -> dict:
        return {"fault_id": self.fid, "kind": self.kind, "asset": self.asset,
                "signal": self.signal, "start": str(_iso(self.start)),
                "end": str(_iso(self.end)),
                "params": json.dumps(self.params, sort_keys=True, separators=(",", ":"))}


def _full_scale(plant: _Plant, spec: TagSpec) -> float:
    """A typical full-scale span of a tag in canonical units."""
    if spec.signal == "level":
        si = plant.stations.index(spec.station)
        return float(plant.lmax[si])
    p = next(i for i, a in enumerate(plant.pumps) if a.id == spec.asset)
    return {"flow": 1.3 * plant.stacked.rated["flow"][p], "suction_pressure": 1.0,
            "discharge_pressure": 1.2 * BAR_PER_M * plant.h0[p],
            "power": plant.motor_rated[p] / plant.motor_eff[p],
            "current": 1.2 * plant.motor_rated[p] / plant.motor_eff[p] * 1000 / plant.volt_pf[p],
            "speed": plant.stacked.rated["speed"][p], "vibration": 10.0,
            "bearing_temperature": 40.0}.get(spec.signal, 1.0)


def _eligible(kind: str, plant: _Plant, specs: Sequence[TagSpec]) -> list[tuple[str, str]]:
    pump_ids = {a.id for a in plant.pumps}
    assets = list(dict.fromkeys(s.asset for s in specs))
    if kind in _PHYSICAL:
        return [(a, "*") for a in assets if a in pump_ids]
    if kind in ("gap", "clock_skew"):
        return [(a, "*") for a in assets]
    if kind in ("dropout", "duplicate", "out_of_order"):
        return [(s.asset, s.signal) for s in specs]
    if kind == "wrong_unit":
        return [(s.asset, s.signal) for s in specs if s.unit in _ALT_UNITS]
    return [(s.asset, s.signal) for s in specs if s.signal != "run_state"]


def _draw_faults(plant: _Plant, specs: Sequence[TagSpec], rates: Mapping[str, float],
                 t0: int, days: int, freq_s: int, step_s: int, seed: int) -> list[_Fault]:
    """Draw the fault schedule of a run from the seed (no two episodes overlap on an asset)."""
    rng = _rng(seed, "faults")
    span = days * DAY_NS
    by_spec = {(s.asset, s.signal): s for s in specs}
    station_of = {s.asset: s.station for s in specs}
    busy: dict[tuple[str, bool], list[tuple[int, int]]] = {}
    drawn: list[_Fault] = []
    for kind in _ALL_FAULT_KINDS:
        if kind not in rates:
            continue
        cands = _eligible(kind, plant, specs)
        if not cands:
            continue
        n_assets = len({a for a, _ in cands})
        count = max(1, int(rng.poisson(rates[kind] * n_assets * days / 30.0)))
        grid = (step_s if kind in _PHYSICAL else freq_s) * S_NS
        for _ in range(count):
            for _attempt in range(40):
                asset, signal = cands[int(rng.integers(len(cands)))]
                lo, hi = _DURATION_S[kind]
                dur = 0 if hi == 0 else float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
                longest = span // grid - 2 if kind == "impeller_wear" else span // grid // 4
                n = int(np.clip(round(dur * S_NS / grid), 1, max(longest, 1)))
                start = t0 + int(rng.integers(1, span // grid - n)) * grid
                end = start + (n - 1) * grid
                params = _fault_params(kind, plant, by_spec.get((asset, signal)), asset, freq_s,
                                       [s.signal for s in specs if s.asset == asset], rng)
                key = (asset, kind == "impeller_wear")
                # keep a margin, and keep clear of the rows a clock skew moves
                margin = 2 * max(step_s, freq_s) * S_NS + abs(params.get("offset_s", 0)) * S_NS
                if any(start <= e + margin and end >= s - margin for s, e in busy.get(key, [])):
                    continue
                busy.setdefault(key, []).append((start - margin, end + margin))
                drawn.append(_Fault("", kind, asset, signal, start, end, params,
                                    station_of[asset]))
                break
    drawn.sort(key=lambda f: (f.start, _ALL_FAULT_KINDS.index(f.kind), f.asset, f.signal))
    for i, f in enumerate(drawn):
        f.fid = f"F{i + 1:04d}"
    return drawn


def _fault_params(kind: str, plant: _Plant, spec: TagSpec | None, asset: str, freq_s: int,
                  asset_signals: list[str], rng: np.random.Generator) -> dict:
    if spec is not None:
        scale = abs(_units.conversion(_signals.get(spec.signal).unit, spec.unit)[0])
        fs = _full_scale(plant, spec) * scale
        dec = _DECIMALS.get(spec.unit, 3)
    if kind == "spike":
        sign = 1.0 if rng.random() < 0.7 else -1.0
        return {"delta": round(sign * float(rng.uniform(0.4, 1.0)) * fs, dec), "unit": spec.unit}
    if kind == "drift":
        sign = 1.0 if rng.random() < 0.5 else -1.0
        return {"total": round(sign * float(rng.uniform(0.05, 0.15)) * fs, dec),
                "unit": spec.unit}
    if kind == "wrong_unit":
        alt = _ALT_UNITS[spec.unit]
        sc, off = _units.conversion(spec.unit, alt)
        return {"declared_unit": spec.unit, "actual_unit": alt, "scale": sc, "offset": off}
    if kind == "stuck":
        return {"hold": "first_sample"}
    if kind == "dropout":
        return {"quality": QUALITY_BAD}
    if kind == "gap":
        return {"signals": asset_signals}
    if kind == "clock_skew":
        off = _SKEW_OFFSETS_S[int(rng.integers(len(_SKEW_OFFSETS_S)))]
        k = round(off / freq_s) or (1 if off > 0 else -1)
        return {"offset_s": int(k * freq_s)}
    if kind == "duplicate":
        return {"copies": 2}
    if kind == "out_of_range":
        canonical = _signals.get(spec.signal).unit
        value = {"degC": 250.0, "bar": -5.0}.get(canonical, -0.5 * _full_scale(plant, spec))
        sc, off = _units.conversion(canonical, spec.unit)
        return {"value": round(value * sc + off, dec), "unit": spec.unit}
    if kind == "out_of_order":
        return {"order": "reversed"}
    sigs = [s for s in ("flow", "discharge_pressure", "power", "current", "vibration",
                        "bearing_temperature", "suction_pressure", "run_state")
            if s in asset_signals]
    if kind == "impeller_wear":
        w = round(float(rng.uniform(0.06, 0.15)), 3)
        return {"max_efficiency_loss": w, "max_head_loss": round(0.5 * w, 4),
                "signals": [s for s in sigs if s != "run_state"]}
    if kind == "cavitation":
        return {"suction_drop_m": round(float(rng.uniform(2.5, 4.5)), 2),
                "head_loss": round(float(rng.uniform(0.05, 0.10)), 3),
                "vibration_gain": round(float(rng.uniform(2.5, 4.0)), 2), "signals": sigs}
    return {"power_fraction": round(float(rng.uniform(0.2, 0.3)), 3), "signals": sigs}


def read_truth(path: str | Path) -> pd.DataFrame:
    """Read a truth table written by :func:`write_exports`.

    ``start`` and ``end`` become UTC timestamps and ``params`` a dict.

    Examples
    --------
    >>> truth = read_truth("data_samples/truth.csv")  # doctest: +SKIP
    >>> truth.loc[truth.kind == "wrong_unit", "params"].iloc[0]["scale"]  # doctest: +SKIP
    3.6
    """
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in ("start", "end"):
        df[col] = pd.to_datetime(df[col], utc=True)
    df["params"] = df["params"].map(json.loads)
    return df


# =============================================================================
# Control simulation (coarse step, one day at a time)
# =============================================================================
@dataclass
class _State:
    level: np.ndarray
    run: np.ndarray
    bearing: np.ndarray
    weather: np.ndarray
    fast: np.ndarray
    demand_prev: np.ndarray

    @classmethod
    def initial(cls, plant: _Plant) -> _State:
        return cls(level=plant.lmin + 0.6 * (plant.lmax - plant.lmin),
                   run=np.zeros(plant.n_pumps, dtype=bool),
                   bearing=np.full(plant.n_pumps, 18.0), weather=np.zeros(plant.n_stations),
                   fast=np.zeros(plant.n_stations), demand_prev=plant.demand_base.copy())


@dataclass
class _ControlDay:
    times: np.ndarray  # (m,) int64 ns
    level: np.ndarray  # (m+1, S): start of each step, plus the start of the next day
    inflow: np.ndarray  # (m, S) m³/h
    demand: np.ndarray
    overflow: np.ndarray  # (m, S) m³ spilled in the step
    price: np.ndarray
    mode: np.ndarray
    ambient: np.ndarray
    pump: dict[str, np.ndarray]  # (m, P) each


def _linear_recursion(e: np.ndarray, phi: float, x0: np.ndarray) -> np.ndarray:
    """``x[t] = phi·x[t-1] + e[t]`` along axis 0 (``x[-1] = x0``), vectorised in blocks."""
    m = e.shape[0]
    out = np.empty_like(e)
    block = m if phi >= 1.0 else max(1, int(30.0 / -math.log(phi)))
    prev = np.asarray(x0, dtype=float)
    for b0 in range(0, m, block):
        seg = e[b0:b0 + block]
        j = np.arange(1, len(seg) + 1, dtype=float)[:, None]
        powers = phi**j
        prev = prev + np.zeros(seg.shape[1:])
        out[b0:b0 + len(seg)] = powers * (prev + np.cumsum(seg / powers, axis=0))
        prev = out[b0 + len(seg) - 1]
    return out


def _raw_shapes(hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unnormalised weekday and weekend demand shapes over the local hour."""
    def g(mu, sd):
        return np.exp(-(((hours - mu) / sd) ** 2))

    weekday = 0.62 + 0.80 * g(7.5, 1.1) + 0.30 * g(12.5, 2.5) + 0.55 * g(19.3, 1.8) \
        - 0.20 * g(3.5, 1.5)
    weekend = 0.60 + 0.55 * g(9.8, 1.8) + 0.35 * g(13.0, 2.5) + 0.50 * g(19.0, 2.0) \
        - 0.20 * g(4.0, 1.5)
    return weekday, weekend


_SHAPE_MEANS = tuple(float(s.mean()) for s in _raw_shapes(np.arange(0, 24, 1 / 60)))


def _demand_shape(hours: np.ndarray, offday: np.ndarray) -> np.ndarray:
    """Daily demand shape: mean 1 on weekdays, 0.97 on weekends and holidays."""
    weekday, weekend = _raw_shapes(hours)
    return np.where(offday, 0.97 * weekend / _SHAPE_MEANS[1], weekday / _SHAPE_MEANS[0])


def _calendar(plant: _Plant, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local hour of day and a weekend-or-holiday mask."""
    local = pd.DatetimeIndex(times.astype("datetime64[ns]"), tz="UTC").tz_convert(plant.timezone)
    hours = np.asarray(local.hour + local.minute / 60 + local.second / 3600, dtype=float)
    days = np.asarray(local.tz_localize(None).values.astype("datetime64[D]"))
    offday = (np.asarray(local.day_of_week) >= 5) | np.isin(days, plant.holidays)
    return hours, offday


def _prices(plant: _Plant, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Price per kWh (m, S) and control mode (0 cheap/prefill, 1 normal, 2 peak)."""
    idx = pd.DatetimeIndex(times.astype("datetime64[ns]"), tz="UTC")
    ahead = pd.DatetimeIndex((times + _PREFILL_NS).astype("datetime64[ns]"), tz="UTC")
    price = np.empty((len(times), plant.n_stations))
    mode = np.empty((len(times), plant.n_stations), dtype=np.int8)
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    hol = [pd.Timestamp(d).date() for d in plant.holidays.astype(str)]
    for si, tariff in enumerate(plant.tariffs):
        if tariff.name not in cache:
            now = tariff.price(idx, plant.timezone, hol)
            later = tariff.price(ahead, plant.timezone, hol)
            levels = [tariff.default_price, *(float(p["price"]) for p in tariff.periods)]
            lo, hi = min(levels), max(levels)
            rel = (now - lo) / (hi - lo) if hi > lo else np.full(len(now), 0.5)
            rel_later = (later - lo) / (hi - lo) if hi > lo else rel
            peak, cheap = rel >= 0.7, (rel <= 0.3) | (rel_later >= 0.7)
            cache[tariff.name] = (now, np.where(peak, 2, np.where(cheap, 0, 1)))
        price[:, si], mode[:, si] = cache[tariff.name]
        if not plant.tariff_control[si]:
            mode[:, si] = 1              # level control: normal set-points round the clock
    return price, mode


def _fault_masks(plant: _Plant, faults: Sequence[_Fault], times: np.ndarray) -> dict:
    """Per-step physical fault arrays (m, P)."""
    m, n = len(times), plant.n_pumps
    out = {"wear": np.zeros((m, n)), "head_loss": np.zeros((m, n)), "cav": np.zeros((m, n), bool),
           "dry": np.zeros((m, n), bool), "cav_drop": np.zeros((m, n)),
           "cav_gain": np.ones((m, n)), "dry_frac": np.zeros((m, n))}
    index = {a.id: i for i, a in enumerate(plant.pumps)}
    for f in faults:
        if f.kind not in _PHYSICAL or f.asset not in index:
            continue
        p = index[f.asset]
        inside = (times >= f.start) & (times <= f.end)
        if not inside.any():
            continue
        if f.kind == "impeller_wear":
            ramp = np.clip((times - f.start) / max(f.end - f.start, 1), 0.0, 1.0)
            w = np.where(inside, ramp, 0.0)
            out["wear"][:, p] += w * f.params["max_efficiency_loss"]
            out["head_loss"][:, p] += w * f.params["max_head_loss"]
        elif f.kind == "cavitation":
            out["cav"][:, p] |= inside
            out["head_loss"][:, p] += inside * f.params["head_loss"]
            out["cav_drop"][:, p] += inside * f.params["suction_drop_m"]
            out["cav_gain"][:, p] = np.where(inside, f.params["vibration_gain"],
                                             out["cav_gain"][:, p])
        else:
            out["dry"][:, p] |= inside
            out["dry_frac"][:, p] = np.where(inside, f.params["power_fraction"],
                                             out["dry_frac"][:, p])
    return out


def _demand(plant: _Plant, state: _State, times: np.ndarray, hours: np.ndarray,
            offday: np.ndarray, step_s: int, seed: int, day_key: int) -> tuple[np.ndarray, ...]:
    """Demand (m, S) in m³/h and the ambient temperature (m, S) in °C."""
    m, n_st = len(times), plant.n_stations
    eps_w = np.empty((m, n_st))
    eps_f = np.empty((m, n_st))
    for si, g in enumerate(plant.station_gidx):
        rng = _rng(seed, "demand", day_key, g, step_s)
        eps_w[:, si] = rng.standard_normal(m)
        eps_f[:, si] = rng.standard_normal(m)
    phi_w = math.exp(-step_s / (3 * DAY_S))  # weather: temperature anomaly, σ 3 K, τ 3 days
    phi_f = math.exp(-step_s / 900.0)  # fast demand noise, σ 3 %, τ 15 min
    weather = _linear_recursion(3.0 * math.sqrt(1 - phi_w**2) * eps_w, phi_w, state.weather)
    fast = _linear_recursion(0.03 * math.sqrt(1 - phi_f**2) * eps_f, phi_f, state.fast)
    state.weather, state.fast = weather[-1].copy(), fast[-1].copy()
    shape = _demand_shape(hours, offday)[:, None]
    demand = plant.demand_base * shape * (1.0 + 0.015 * weather) * (1.0 + fast)
    ambient = 16.0 + 0.5 * weather + 1.5 * np.sin(2 * np.pi * (hours[:, None] - 9.0) / 24.0)
    return np.maximum(demand, 0.0), ambient


def _control_day(plant: _Plant, state: _State, t0: int, step_s: int, seed: int,
                 faults: Sequence[_Fault]) -> _ControlDay:
    """Simulate one day of control at ``step_s``; updates ``state`` in place."""
    m = DAY_S // step_s
    times = t0 + np.arange(m, dtype=np.int64) * step_s * S_NS
    day_key = t0 // DAY_NS
    hours, offday = _calendar(plant, times)
    demand, ambient = _demand(plant, state, times, hours, offday, step_s, seed, day_key)
    price, mode = _prices(plant, times)
    fm = _fault_masks(plant, faults, times)
    sp, span = plant.sp, plant.lmax - plant.lmin
    rank = (plant.pos + day_key) % plant.n_in_station  # duty rotates daily
    mode_p = mode[:, sp]
    on_f = np.maximum(_ON_FRAC[mode_p] - _STAGE_ON * rank, 0.04)
    off_f = np.maximum(_OFF_FRAC[mode_p] - _STAGE_OFF * rank, on_f + 0.05)
    on_lvl = plant.lmin[sp] + on_f * span[sp]
    off_lvl = plant.lmin[sp] + off_f * span[sp]
    target = plant.lmin + (_ON_FRAC[mode] + _OFF_FRAC[mode]) / 2 * span
    h0e_all = plant.h0 * (1.0 - fm["head_loss"])
    forced = fm["cav"] | fm["dry"]
    kr = plant.k + plant.r
    dt_h = step_s / 3600.0
    lmax_phys = plant.lmax + 0.2
    n_st = plant.n_stations
    level = np.empty((m + 1, n_st))
    run_a = np.empty((m, plant.n_pumps), dtype=bool)
    speed_a = np.empty((m, plant.n_pumps))
    flow_a = np.empty((m, plant.n_pumps))
    inflow_a = np.empty((m, n_st))
    overflow = np.zeros((m, n_st))
    lvl, run, dprev = state.level.copy(), state.run.copy(), state.demand_prev.copy()
    for t in range(m):
        lp = lvl[sp]
        run = np.where(lp < on_lvl[t], True, np.where(lp > off_lvl[t], False, run)) | forced[t]
        hs = plant.static[sp] + lp
        h0e, dry = h0e_all[t], fm["dry"][t]
        qfix = np.sqrt(np.maximum(h0e - hs, 0.0) / kr)
        fixed_on = run & ~plant.vsd & ~dry
        qfix_sum = np.bincount(sp, weights=qfix * fixed_on, minlength=n_st)
        want = dprev + (target[t] - lvl) * plant.area / _LEVEL_TAU_H
        n_vsd = np.bincount(sp, weights=run & plant.vsd, minlength=n_st)
        qv = (np.maximum(want - qfix_sum, 0.0) / np.maximum(n_vsd, 1.0))[sp]
        s_vsd = np.clip(np.sqrt((hs + kr * qv**2) / h0e), plant.s_min, 1.0)
        s = np.where(run, np.where(plant.vsd & ~dry, s_vsd, 1.0), 0.0)
        q = np.where(run & ~dry, np.sqrt(np.maximum(h0e * s**2 - hs, 0.0) / kr), 0.0)
        inflow = np.bincount(sp, weights=q, minlength=n_st)
        level[t] = lvl
        new = lvl + (inflow - demand[t]) * dt_h / plant.area
        overflow[t] = np.maximum(new - lmax_phys, 0.0) * plant.area
        lvl = np.clip(new, 0.0, lmax_phys)
        run_a[t], speed_a[t], flow_a[t], inflow_a[t] = run, s, q, inflow
        dprev = demand[t]
    level[m] = lvl
    pump = _pump_physics(plant, state, run_a, speed_a, flow_a, level[:-1], ambient, fm, step_s)
    state.level, state.run, state.demand_prev = lvl, run, dprev
    return _ControlDay(times=times, level=level, inflow=inflow_a, demand=demand,
                       overflow=overflow, price=price, mode=mode, ambient=ambient, pump=pump)


def _pump_physics(plant: _Plant, state: _State, run: np.ndarray, s: np.ndarray, q: np.ndarray,
                  level: np.ndarray, ambient: np.ndarray, fm: dict, step_s: int) -> dict:
    """Head, efficiency, powers, current, pressures, vibration, temperature (m, P)."""
    st = plant.stacked
    sp = plant.sp
    dry = fm["dry"] & run
    wet = run & ~dry
    rpm = s * st.rated["speed"]
    rpm_eval = np.where(wet, rpm, st.rated["speed"])  # the helpers divide by the speed ratio
    head = np.where(wet, st.head_curve(q, rpm_eval) - plant.h0 * fm["head_loss"] * s**2, 0.0)
    head = np.where(dry, 0.02 * plant.h0 * s**2, head)
    qb = st.curve["bep_flow"] * s
    eta_loss = (1.0 - fm["wear"]) * (1.0 - 0.04 * fm["cav"])
    eta = np.where(wet, st.efficiency_curve(q, rpm_eval) * eta_loss, 0.0)
    p_h = RHO * G * q * head / 3.6e6
    # at (near) zero flow P_h/eta → ρ·g·H·Q_bep/(3.6e6·2·η_bep): the limit of the parabola
    limit = RHO * G * head * qb / (3.6e6 * 2.0 * st.curve["bep_efficiency"] * eta_loss)
    shaft = np.where(q > 0.02 * np.maximum(qb, 1e-9), p_h / np.maximum(eta, 1e-12), limit)
    shaft = np.where(wet, shaft, 0.0)
    shaft = np.where(dry, fm["dry_frac"] * plant.shaft_rated * s**3, shaft)
    p_el = shaft / plant.motor_eff
    current = p_el * 1000.0 / plant.volt_pf
    supply = plant.supply_head[sp] - fm["cav_drop"]
    suction = BAR_PER_M * (supply - plant.suction_k * q**2)
    discharge = suction + BAR_PER_M * head
    off_bep = ((q - qb) / np.maximum(qb, 1e-9)) ** 2
    vib = plant.vib0 * (0.6 + 0.4 * s**2) * (1.0 + 2.0 * off_bep) * fm["cav_gain"] \
        + 12.0 * fm["wear"] + 2.0 * dry
    vib = np.where(run, vib, 0.08)
    amb = ambient[:, sp]
    target = amb + np.where(run, plant.bearing_rise * (shaft / plant.shaft_rated) ** 0.8
                            + 4.0 * fm["cav"] + 18.0 * dry + 30.0 * fm["wear"], 0.0)
    a = math.exp(-step_s / _BEARING_TAU_S)
    m = len(q)
    bearing = np.empty_like(target)
    bearing[0] = state.bearing
    if m > 1:
        bearing[1:] = _linear_recursion((1 - a) * target[:-1], a, state.bearing)
    state.bearing = a * bearing[-1] + (1 - a) * target[-1]
    return {"run": run, "speed": rpm, "speed_ratio": s, "flow": q, "head": head,
            "efficiency": eta, "hydraulic_power": p_h, "shaft_power": shaft, "power": p_el,
            "current": current, "suction_pressure": suction, "discharge_pressure": discharge,
            "vibration": vib, "bearing_temperature": bearing, "wear": fm["wear"],
            "cavitation": fm["cav"] & run, "dry_running": dry}


# =============================================================================
# Chunks: one day of one station
# =============================================================================
@dataclass
class _RowOps:
    gaps: list[tuple[tuple[int, ...], int, int]] = field(default_factory=list)
    skews: list[tuple[tuple[int, ...], int, int, int]] = field(default_factory=list)
    dups: list[tuple[int, int, int]] = field(default_factory=list)
    ooo: list[tuple[int, int, int]] = field(default_factory=list)


@dataclass(eq=False)
class Chunk:
    """One UTC day of one station: sensor values, control truth and faults.

    Attributes
    ----------
    start : pandas.Timestamp
        UTC start of the day.
    station : str
        Station id.
    freq : pandas.Timedelta
        Sample interval.
    times : numpy.ndarray
        The sample grid (int64 ns since the epoch, UTC), length ``n``.
    tags, units, signals, assets : tuple of str
        Historian tag, delivered unit, canonical signal and asset of each row.
    values : numpy.ndarray
        ``(len(tags), n)`` float64 values in the delivered units after value
        faults (NaN = dropout), before row faults (gaps, skew, duplicates,
        out-of-order rows), which :meth:`long_arrays` applies.
    quality : numpy.ndarray
        ``(len(tags), n)`` OPC quality (192 good, 64 uncertain, 0 bad).
    state : pandas.DataFrame
        Noise-free control truth at the control step, canonical units, columns
        ``"<asset>.<quantity>"`` (e.g. ``N-P1.flow``, ``N-T1.level``).
    faults : pandas.DataFrame
        Truth rows of the faults touching this chunk (see :data:`TRUTH_COLUMNS`).
    catalog : tuple of TagSpec
        Every tag of the simulation (all stations), in export order.
    """

    start: pd.Timestamp
    station: str
    freq: pd.Timedelta
    timezone: str
    times: np.ndarray
    tags: tuple[str, ...]
    units: tuple[str, ...]
    signals: tuple[str, ...]
    assets: tuple[str, ...]
    values: np.ndarray
    quality: np.ndarray
    state: pd.DataFrame
    faults: pd.DataFrame
    catalog: tuple[TagSpec, ...] = field(default=(), repr=False)
    ops: _RowOps = field(default_factory=_RowOps, repr=False)

    def long_arrays(self, order: str = "time") -> tuple[np.ndarray, ...]:
        """Export rows in file order: ``(timestamp_ns, tag_index, value, quality)``.

        ``order="time"`` writes one row per tag for each sample time in turn,
        ``order="tag"`` all samples of a tag, then the next tag. Gap rows are
        absent, clock-skewed rows carry shifted timestamps (in their true
        place), duplicated rows follow their original and out-of-order windows
        of a tag are written in reverse time order.
        """
        return _long_rows([self], order)

    @property
    def frame(self) -> pd.DataFrame:
        """The export rows as a long DataFrame: timestamp (UTC), tag, value, quality."""
        ts, code, value, quality = self.long_arrays()
        return pd.DataFrame({
            "timestamp": pd.DatetimeIndex(ts.astype("datetime64[ns]"), tz="UTC"),
            "tag": pd.Categorical.from_codes(code, categories=list(self.tags)),
            "value": value, "quality": quality})

    @property
    def end(self) -> pd.Timestamp:
        """UTC end of the day (exclusive)."""
        return self.start + pd.Timedelta(days=1)


def _long_rows(chunks: Sequence[Chunk], order: str) -> tuple[np.ndarray, ...]:
    """Rows of chunks of the same day, their tags stacked: ``(ts, tag_index, value, quality)``.

    In ``"time"`` order the stations are merged: each sample time holds one
    row per tag of every chunk.
    """
    if order not in ROW_ORDERS:
        raise UnknownNameError(choices_message("row order", order, ROW_ORDERS))
    times = chunks[0].times
    n = len(times)
    values = chunks[0].values if len(chunks) == 1 else np.concatenate([c.values for c in chunks])
    quality = chunks[0].quality if len(chunks) == 1 else \
        np.concatenate([c.quality for c in chunks])
    n_tag = values.shape[0]
    first = np.cumsum([0] + [len(c.tags) for c in chunks])
    itype = np.int32 if n_tag * n < 2**31 else np.int64
    idx = np.arange(n_tag * n, dtype=itype).reshape(n_tag, n)
    counts = None
    for c, base in zip(chunks, first, strict=False):
        for row, i0, i1 in c.ops.ooo:
            idx[base + row, i0:i1 + 1] = idx[base + row, i0:i1 + 1][::-1].copy()
        if c.ops.dups or c.ops.gaps:
            counts = np.ones((n_tag, n), dtype=np.int8) if counts is None else counts
            for row, i0, i1 in c.ops.dups:
                counts[base + row, i0:i1 + 1] = 2
            for rows, i0, i1 in c.ops.gaps:
                counts[[base + r for r in rows], i0:i1 + 1] = 0
    flat = idx.ravel() if order == "tag" else idx.T.ravel()
    del idx
    take = flat if counts is None else np.repeat(flat, counts.ravel()[flat])
    del flat
    slot = take % n
    code = (take // n).astype(np.int32)
    ts = times[slot]
    for c, base in zip(chunks, first, strict=False):
        for rows, i0, i1, off in c.ops.skews:
            hit = np.isin(code, [base + r for r in rows]) & (slot >= i0) & (slot <= i1)
            ts[hit] += off
    return ts, code, values.ravel()[take], quality.ravel()[take]


# =============================================================================
# Sensor synthesis
# =============================================================================
def _interp(a: np.ndarray, i0: np.ndarray, i1: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(m, p) control values → (p, n) samples, linear with weights ``w`` (p, n)."""
    lo, hi = a[i0].T, a[i1].T
    return lo + w * (hi - lo)


def _synthesise(sim: Simulation, ctl: _ControlDay, si: int, carry: dict,
                faults: Sequence[_Fault]) -> Chunk:
    plant, lay = sim.plant, sim._layout[si]
    freq_s, step_s = sim.freq_s, sim.control_step_s
    n, m = DAY_S // freq_s, len(ctl.times)
    t0 = int(ctl.times[0])
    times = t0 + np.arange(n, dtype=np.int64) * freq_s * S_NS
    pos = np.arange(n) * (freq_s / step_s)
    i0 = np.minimum(pos.astype(np.int64), m - 1)
    frac = pos - i0
    i1 = np.minimum(i0 + 1, m - 1)
    frac = np.where(i1 == i0, 0.0, frac)
    pidx = lay["pumps"]
    run = ctl.pump["run"][:, pidx]
    w = frac[None, :] * (run[i0] == run[i1]).T  # hold across start/stop
    day_key = t0 // DAY_NS
    gidx = int(plant.station_gidx[si])

    def noise(sig: str, shape: tuple[int, ...]) -> np.ndarray:
        rng = _rng(sim.seed, "noise", day_key, gidx, _SIGNAL_CODE[sig], freq_s)
        return rng.standard_normal(shape)

    canon: dict[str, np.ndarray] = {}
    needed = lay["signals"]
    p = len(pidx)
    run_f = run[i0].T  # (p, n) hold
    cav_f = ctl.pump["cavitation"][:, pidx][i0].T
    qr = plant.stacked.rated["flow"][pidx][:, None]
    if "flow" in needed:
        q = _interp(ctl.pump["flow"][:, pidx], i0, i1, w)
        q = q + (0.004 * qr + 0.2) * noise("flow", (p, n))
        canon["flow"] = np.where(run_f & (q > 0.02 * qr), q, 0.0)
    for sig, sd, sd_cav in (("suction_pressure", 0.004, 0.08), ("discharge_pressure", 0.008, 0.2)):
        if sig in needed:
            v = _interp(ctl.pump[sig][:, pidx], i0, i1, w)
            canon[sig] = v + (sd + sd_cav * cav_f) * noise(sig, (p, n))
    if "power" in needed:
        v = _interp(ctl.pump["power"][:, pidx], i0, i1, w)
        sd = 0.004 * plant.motor_rated[pidx][:, None]
        canon["power"] = np.where(run_f, np.maximum(v + sd * noise("power", (p, n)), 0.0), 0.0)
    if "current" in needed:
        v = _interp(ctl.pump["current"][:, pidx], i0, i1, w)
        sd = 0.004 * (plant.motor_rated / plant.motor_eff * 1000 / plant.volt_pf)[pidx][:, None]
        canon["current"] = np.where(run_f, np.maximum(v + sd * noise("current", (p, n)), 0.0), 0.0)
    if "speed" in needed:
        v = _interp(ctl.pump["speed"][:, pidx], i0, i1, w)
        canon["speed"] = np.where(run_f, v + noise("speed", (p, n)), 0.0)
    if "vibration" in needed:
        v = _interp(ctl.pump["vibration"][:, pidx], i0, i1, w)
        canon["vibration"] = v * np.exp((0.06 + 0.25 * cav_f) * noise("vibration", (p, n)))
    if "bearing_temperature" in needed:
        v = _interp(ctl.pump["bearing_temperature"][:, pidx], i0, i1, frac[None, :])
        canon["bearing_temperature"] = v + 0.05 * noise("bearing_temperature", (p, n))
    if "run_state" in needed:
        canon["run_state"] = run_f.astype(float)
    level = None
    if "level" in needed:
        lv = ctl.level[:, si]
        level = lv[i0] + frac * (lv[i0 + 1] - lv[i0]) if m else np.zeros(n)
        level = level + 0.004 * noise("level", (n,))
    values = np.empty((len(lay["specs"]), n))
    for row, (spec, j) in enumerate(zip(lay["specs"], lay["col"], strict=True)):
        src = level if spec.signal == "level" else canon[spec.signal][j]
        scale, offset = _units.conversion(_signals.get(spec.signal).unit, spec.unit)
        values[row] = np.round(src * scale + offset, _DECIMALS.get(spec.unit, 3))
    quality = np.full(values.shape, QUALITY_GOOD, dtype=np.uint8)
    ops = _apply_faults(sim, lay, times, values, quality, carry, faults)
    chunk_faults = pd.DataFrame([f.row() for f in faults], columns=list(TRUTH_COLUMNS))
    return Chunk(start=pd.Timestamp(t0, unit="ns", tz="UTC"), station=plant.stations[si],
                 freq=pd.Timedelta(seconds=freq_s), timezone=plant.timezone, times=times,
                 tags=tuple(s.tag for s in lay["specs"]), units=tuple(s.unit for s in lay["specs"]),
                 signals=tuple(s.signal for s in lay["specs"]),
                 assets=tuple(s.asset for s in lay["specs"]), values=values, quality=quality,
                 state=_state_frame(plant, ctl, si, pidx), faults=chunk_faults,
                 catalog=sim.specs, ops=ops)


def _apply_faults(sim: Simulation, lay: dict, times: np.ndarray, values: np.ndarray,
                  quality: np.ndarray, carry: dict, faults: Sequence[_Fault]) -> _RowOps:
    """Inject data faults into ``values``/``quality``; return the row operations."""
    ops = _RowOps()
    step = sim.freq_s * S_NS
    t0, n = int(times[0]), len(times)
    rows_of_asset = lay["rows_of_asset"]
    row_of = lay["row_of"]
    for f in faults:
        if f.kind in _PHYSICAL:
            continue
        i0 = max(0, -(-(f.start - t0) // step))
        i1 = min(n - 1, (f.end - t0) // step)
        if f.kind in ("gap", "dropout"):  # the first sample after the outage is uncertain
            after = (f.end - t0) // step + 1
            rows = rows_of_asset[f.asset] if f.kind == "gap" else [row_of[f.asset, f.signal]]
            if 0 <= after < n:
                quality[rows, after] = QUALITY_UNCERTAIN
        if i0 > i1:
            continue
        if f.kind == "gap":
            ops.gaps.append((tuple(rows_of_asset[f.asset]), i0, i1))
        elif f.kind == "clock_skew":
            ops.skews.append((tuple(rows_of_asset[f.asset]), i0, i1,
                              f.params["offset_s"] * S_NS))
        elif f.kind == "duplicate":
            ops.dups.append((row_of[f.asset, f.signal], i0, i1))
        elif f.kind == "out_of_order":
            ops.ooo.append((row_of[f.asset, f.signal], i0, i1))
        else:
            _value_fault(f, row_of[f.asset, f.signal], lay, times, i0, i1, values, quality, carry)
    return ops


def _value_fault(f: _Fault, row: int, lay: dict, times: np.ndarray, i0: int, i1: int,
                 values: np.ndarray, quality: np.ndarray, carry: dict) -> None:
    sl = slice(i0, i1 + 1)
    spec = lay["specs"][row]
    dec = _DECIMALS.get(spec.unit, 3)
    if f.kind == "stuck":
        if f.fid not in carry:
            carry[f.fid] = values[row, i0]
        values[row, sl] = carry[f.fid]
    elif f.kind == "spike":
        values[row, sl] = np.round(values[row, sl] + f.params["delta"], dec)
    elif f.kind == "drift":
        ramp = (times[sl] - f.start) / max(f.end - f.start, 1)
        values[row, sl] = np.round(values[row, sl] + f.params["total"] * ramp, dec)
    elif f.kind == "wrong_unit":
        alt = _DECIMALS.get(f.params["actual_unit"], 3)
        values[row, sl] = np.round(values[row, sl] * f.params["scale"] + f.params["offset"], alt)
    elif f.kind == "dropout":
        values[row, sl] = np.nan
        quality[row, sl] = QUALITY_BAD
    elif f.kind == "out_of_range":
        values[row, sl] = f.params["value"]


def _state_frame(plant: _Plant, ctl: _ControlDay, si: int, pidx: np.ndarray) -> pd.DataFrame:
    idx = pd.DatetimeIndex(ctl.times.astype("datetime64[ns]"), tz="UTC", name="timestamp")
    tank = plant.tanks[si].id
    cols: dict[str, np.ndarray] = {
        f"{tank}.level": ctl.level[:-1, si], f"{tank}.inflow": ctl.inflow[:, si],
        f"{tank}.demand": ctl.demand[:, si], f"{tank}.overflow": ctl.overflow[:, si],
        f"{tank}.price": ctl.price[:, si], f"{tank}.mode": ctl.mode[:, si],
        f"{tank}.ambient_temperature": ctl.ambient[:, si]}
    for p in pidx:
        aid = plant.pumps[p].id
        for q, arr in ctl.pump.items():
            cols[f"{aid}.{q}"] = arr[:, p]
    return pd.DataFrame(cols, index=idx)


# =============================================================================
# The simulation
# =============================================================================
class Simulation:
    """A configured simulation run: iterate it for :class:`Chunk` s, one per (day, station).

    Build it with :func:`simulate`. Iterating again replays the same run.

    Attributes
    ----------
    registry : pumplib.assets.AssetRegistry
    specs : tuple of TagSpec
        Every exported tag, in export order.
    truth : pandas.DataFrame
        The fault schedule (:data:`TRUTH_COLUMNS`), drawn from the seed.
    """

    def __init__(self, registry: AssetRegistry, *, start: Any, days: int, freq: Any,
                 control_step: Any, seed: int, faults: Any, stations: Sequence[str] | None,
                 signals: Sequence[str] | None):
        if int(days) < 1:
            raise ConfigError(f"option 'days' given an invalid value: {days!r}. "
                              "Expected an integer ≥ 1")
        if int(seed) < 0:
            raise ConfigError(f"option 'seed' given an invalid value: {seed!r}. "
                              "Expected an integer ≥ 0")
        known = PUMP_SIGNALS + TANK_SIGNALS
        for s in signals or ():
            if s not in known:
                raise UnknownNameError(choices_message("simulated signal", s, known))
        self.registry = registry
        self.seed = int(seed)
        self.days = int(days)
        self.start_ns = _utc_ns(start)
        self.freq_s = _seconds(freq, "freq")
        self.control_step_s = _seconds(control_step, "control_step", 1, 3600)
        self.plant = _Plant.build(registry, stations, self.seed)
        self.signal_filter = tuple(signals) if signals else known
        self._layout = [self._station_layout(si) for si in range(self.plant.n_stations)]
        self.specs: tuple[TagSpec, ...] = tuple(s for lay in self._layout for s in lay["specs"])
        self._faults = _draw_faults(self.plant, self.specs, _fault_rates(faults), self.start_ns,
                                    self.days, self.freq_s, self.control_step_s, self.seed)

    def _station_layout(self, si: int) -> dict:
        plant = self.plant
        pidx = np.flatnonzero(plant.sp == si)
        specs, col = [], []
        for j, p in enumerate(pidx):
            a = plant.pumps[p]
            for sig, s in a.signals.items():
                if sig in PUMP_SIGNALS and sig in self.signal_filter:
                    specs.append(TagSpec(s["tag"], a.id, sig, s["unit"], plant.stations[si]))
                    col.append(j)
        tank = plant.tanks[si]
        for sig, s in tank.signals.items():
            if sig in TANK_SIGNALS and sig in self.signal_filter:
                specs.append(TagSpec(s["tag"], tank.id, sig, s["unit"], plant.stations[si]))
                col.append(-1)
        rows_of_asset: dict[str, list[int]] = {}
        for r, s in enumerate(specs):
            rows_of_asset.setdefault(s.asset, []).append(r)
        return {"pumps": pidx, "specs": specs, "col": col, "rows_of_asset": rows_of_asset,
                "row_of": {(s.asset, s.signal): r for r, s in enumerate(specs)},
                "signals": {s.signal for s in specs}}

    # -- public views --------------------------------------------------------
    @property
    def truth(self) -> pd.DataFrame:
        """The fault schedule, one row per episode (:data:`TRUTH_COLUMNS`)."""
        return pd.DataFrame([f.row() for f in self._faults], columns=list(TRUTH_COLUMNS))

    @property
    def tags(self) -> list[str]:
        """Exported historian tags, in export order."""
        return [s.tag for s in self.specs]

    def tag_table(self) -> pd.DataFrame:
        """One row per exported tag: asset, signal, delivered unit, station."""
        return pd.DataFrame([s.__dict__ for s in self.specs]).set_index("tag")

    @property
    def start(self) -> pd.Timestamp:
        """First instant of the run (UTC)."""
        return pd.Timestamp(self.start_ns, unit="ns", tz="UTC")

    @property
    def n_samples(self) -> int:
        """Samples on the grid (before gaps and duplicates)."""
        return len(self.specs) * self.days * (DAY_S // self.freq_s)

    def __repr__(self) -> str:
        return (f"<Simulation {self.plant.n_stations} stations, {self.plant.n_pumps} pumps, "
                f"{self.days} days from {self.start.isoformat()} at {self.freq_s} s, "
                f"{len(self._faults)} faults>")

    def __iter__(self) -> Iterator[Chunk]:
        state = _State.initial(self.plant)
        carry: dict[str, float] = {}
        starts = np.array([f.start for f in self._faults], dtype=np.int64)
        ends = np.array([f.end for f in self._faults], dtype=np.int64)
        stations = np.array([f.station for f in self._faults], dtype=object)
        margin = max(self.freq_s, self.control_step_s) * S_NS
        for d in range(self.days):
            t0 = self.start_ns + d * DAY_NS
            near = (starts <= t0 + DAY_NS + margin) & (ends >= t0 - margin)
            day_faults = [self._faults[i] for i in np.flatnonzero(near)]
            ctl = _control_day(self.plant, state, t0, self.control_step_s, self.seed, day_faults)
            for si, st in enumerate(self.plant.stations):
                mine = [f for f, s in zip(day_faults, stations[near], strict=True) if s == st]
                yield _synthesise(self, ctl, si, carry, mine)


def simulate(registry: AssetRegistry | Mapping | str | Path | None = None, *,
             start: Any = "2026-03-09", days: int = 1, freq: Any = "1min",
             control_step: Any = "1min", seed: int = SAMPLE_SEED, faults: Any = None,
             stations: Sequence[str] | None = None,
             signals: Sequence[str] | None = None) -> Simulation:
    """Simulate pump stations; iterate the result for one chunk per (UTC day, station).

    Parameters
    ----------
    registry : AssetRegistry, dict, path or None
        The utility; ``None`` uses :func:`make_registry` with its defaults.
    start : str or Timestamp
        First instant (a naive time is UTC); days are counted from it.
    days : int
        Number of days.
    freq : str, int or Timedelta
        Sample interval of the sensors, 1 s to 1 h (e.g. ``"1s"``, ``"1min"``).
    control_step : str, int or Timedelta
        Step of the control simulation (default 1 min).
    seed : int
        Seed of everything random (demand, noise, faults). Same seed → same data.
    faults : None, sequence of str, mapping or ``()``
        ``None``: every kind of :data:`FAULT_KINDS` at :data:`DEFAULT_FAULT_RATES`;
        a sequence of kinds at their default rates; a mapping ``{kind: rate}``
        (episodes per eligible asset per 30 days; at least one per kind);
        ``()`` for clean data. The opt-in kinds of :data:`OPT_IN_FAULT_KINDS`
        (``out_of_range``) are drawn only when named here (default rate 1).
    stations : sequence of str, optional
        Simulate only these stations.
    signals : sequence of str, optional
        Export only these signals (of :data:`PUMP_SIGNALS` and :data:`TANK_SIGNALS`);
        the physics is unchanged.

    Returns
    -------
    Simulation
        Iterable of :class:`Chunk`; ``.truth`` holds the fault schedule.

    Examples
    --------
    >>> sim = simulate(days=2, freq="1min", faults={"stuck": 1.0})
    >>> sim.truth.kind.unique().tolist()
    ['stuck']
    >>> df = pd.concat(c.frame for c in sim)
    >>> df.columns.tolist()
    ['timestamp', 'tag', 'value', 'quality']
    """
    return Simulation(_as_registry(registry), start=start, days=days, freq=freq,
                      control_step=control_step, seed=seed, faults=faults, stations=stations,
                      signals=signals)


# =============================================================================
# Exports
# =============================================================================
@dataclass(frozen=True)
class Export:
    """One output file of :func:`write_exports`.

    Parameters
    ----------
    path : str or Path
        Output file. ``.parquet`` → ``long_parquet``, ``.csv``/``.csv.gz`` →
        ``long_csv`` unless ``format`` says otherwise; ``.gz`` gzips a CSV.
    format : str, optional
        One of :data:`FORMATS`.
    stations : sequence of str, optional
        Only these stations.
    start, end : str or Timestamp, optional
        Only rows with ``start <= timestamp < end`` (UTC; naive is UTC).
    order : {"time", "tag"}
        Row order of long files. ``"time"`` (default): for each sample time one
        row per tag, all stations of a day merged, as an export by time range
        gives; memory holds one day of the exported stations. ``"tag"``: per
        day and station, all samples of a tag, then the next tag; memory holds
        one day of one station.
    """

    path: str | Path
    format: str | None = None
    stations: tuple[str, ...] | None = None
    start: Any = None
    end: Any = None
    order: str = "time"

    @property
    def resolved_format(self) -> str:
        fmt = self.format
        if fmt is None:
            name = str(self.path).lower()
            if name.endswith(".parquet"):
                fmt = "long_parquet"
            elif name.endswith((".csv", ".csv.gz")):
                fmt = "long_csv"
            else:
                raise ConfigError(f"cannot infer the export format of {str(self.path)!r}; "
                                  f"name one of {list(FORMATS)} with format=")
        if fmt not in FORMATS:
            raise UnknownNameError(choices_message("export format", fmt, FORMATS))
        return fmt


class _Rows:
    """Select rows of a chunk for an export (stations, time window)."""

    def __init__(self, export: Export):
        self.stations = None if export.stations is None else set(export.stations)
        self.lo = None if export.start is None else _utc_ns(export.start)
        self.hi = None if export.end is None else _utc_ns(export.end)

    def wants(self, chunk: Chunk) -> bool:
        if self.stations is not None and chunk.station not in self.stations:
            return False
        margin = 2 * DAY_NS  # clock skew can move rows across days
        t0 = int(chunk.times[0])
        return (self.lo is None or t0 + DAY_NS + margin > self.lo) and \
            (self.hi is None or t0 - margin < self.hi)

    def select(self, ts: np.ndarray, *cols: np.ndarray) -> tuple[np.ndarray, ...]:
        if self.lo is None and self.hi is None:
            return (ts, *cols)
        keep = np.ones(len(ts), dtype=bool)
        if self.lo is not None:
            keep &= ts >= self.lo
        if self.hi is not None:
            keep &= ts < self.hi
        return (ts[keep], *(c[keep] for c in cols))


class _LongWriter:
    """Base of the long writers: tag dictionary, row selection, row order.

    Subclasses implement ``_emit(ts, code, value, quality)`` and ``_close()``.
    """

    def __init__(self, export: Export, tags: Sequence[str]):
        if export.order not in ROW_ORDERS:
            raise UnknownNameError(choices_message("row order", export.order, ROW_ORDERS))
        self.export = export
        self.order = export.order
        self.rows = _Rows(export)
        self.tags = list(tags)
        self.code = {t: i for i, t in enumerate(self.tags)}
        self.n_rows = 0
        self.pending: list[Chunk] = []
        self.day: int | None = None

    def write(self, chunk: Chunk) -> None:
        if not self.rows.wants(chunk):
            return
        if self.order == "tag":
            self._rows([chunk])
            return
        day = int(chunk.times[0])
        if self.day is not None and day != self.day:
            self._rows(self.pending)
            self.pending = []
        self.day = day
        self.pending.append(chunk)

    def _rows(self, chunks: Sequence[Chunk]) -> None:
        ts, code, value, quality = _long_rows(chunks, self.order)
        tags = [t for c in chunks for t in c.tags]
        code = np.array([self.code[t] for t in tags], dtype=np.int32)[code]
        out = self.rows.select(ts, code, value, quality)
        self.n_rows += len(out[0])
        if len(out[0]):
            self._emit(*out)

    def close(self) -> None:
        if self.pending:
            self._rows(self.pending)
            self.pending = []
        self._close()


class _LongParquetWriter(_LongWriter):
    SCHEMA = pa.schema([("timestamp", pa.timestamp("ns", tz="UTC")),
                        ("tag", pa.dictionary(pa.int32(), pa.string())),
                        ("value", pa.float64()), ("quality", pa.uint8())])

    def __init__(self, export: Export, tags: Sequence[str], row_group_size: int,
                 compression_level: int | None):
        super().__init__(export, tags)
        self.row_group_size = int(row_group_size)
        self.dictionary = pa.array(self.tags, type=pa.string())
        self.buffer: list[tuple[np.ndarray, ...]] = []
        self.buffered = 0
        self.writer = pq.ParquetWriter(
            str(export.path), self.SCHEMA, compression="zstd",
            compression_level=compression_level, use_dictionary=["tag", "quality"],
            column_encoding={"timestamp": "DELTA_BINARY_PACKED"}, write_statistics=True)

    def _emit(self, *arrays: np.ndarray) -> None:
        """Write full row groups as they fill; keep the remainder (< one group)."""
        rg, n, pos = self.row_group_size, len(arrays[0]), 0
        if self.buffered + n < rg:
            self.buffer.append(tuple(a.copy() for a in arrays))
            self.buffered += n
            return
        if self.buffered:
            pos = rg - self.buffered
            self._write(*(np.concatenate([b[i] for b in self.buffer] + [arrays[i][:pos]])
                          for i in range(4)))
            self.buffer, self.buffered = [], 0
        while n - pos >= rg:
            self._write(*(a[pos:pos + rg] for a in arrays))
            pos += rg
        if pos < n:
            self.buffer, self.buffered = [tuple(a[pos:].copy() for a in arrays)], n - pos

    def _write(self, ts: np.ndarray, code: np.ndarray, value: np.ndarray,
               quality: np.ndarray) -> None:
        table = pa.Table.from_arrays([
            pa.array(ts, type=pa.timestamp("ns", tz="UTC")),
            pa.DictionaryArray.from_arrays(pa.array(code, type=pa.int32()), self.dictionary),
            pa.array(value, mask=np.isnan(value)), pa.array(quality, type=pa.uint8())],
            schema=self.SCHEMA)
        self.writer.write_table(table, row_group_size=self.row_group_size)

    def _close(self) -> None:
        if self.buffered:
            cols = [np.concatenate([b[i] for b in self.buffer]) for i in range(4)]
            self._write(*cols)
        self.writer.close()


class _TextSink:
    """A deterministic text output: plain or gzip (mtime 0, no file name)."""

    def __init__(self, path: Path, gzip_level: int):
        self.raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.out = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, mtime=0,
                                 compresslevel=gzip_level) if str(path).endswith(".gz") \
            else self.raw

    def write(self, data: bytes) -> None:
        self.out.write(data)

    def close(self) -> None:
        if self.out is not self.raw:
            self.out.close()
        self.raw.close()


_CSV_OPTS = pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=65536)
_CSV_SLICE = 500_000  # rows formatted at a time


def _time_strings(ts: np.ndarray, fmt) -> tuple[np.ndarray, pa.Array]:
    """Dictionary-encode timestamps: (indices into the dictionary, dictionary strings)."""
    uniq, inv = np.unique(ts, return_inverse=True)
    return inv.astype(np.int32), pa.array(fmt(uniq), type=pa.string())


class _LongCsvWriter(_LongWriter):
    def __init__(self, export: Export, tags: Sequence[str], gzip_level: int):
        super().__init__(export, tags)
        self.sink = _TextSink(Path(export.path), gzip_level)
        self.sink.write((LONG_CSV_HEADER + "\n").encode())
        self.dictionary = pa.array(self.tags, type=pa.string())

    def _emit(self, ts: np.ndarray, code: np.ndarray, value: np.ndarray,
              quality: np.ndarray) -> None:
        inv, strings = _time_strings(ts, _iso)
        for a in range(0, len(ts), _CSV_SLICE):  # bounded text buffers
            sl = slice(a, a + _CSV_SLICE)
            table = pa.table({
                "timestamp": pa.DictionaryArray.from_arrays(pa.array(inv[sl], type=pa.int32()),
                                                            strings),
                "tag": pa.DictionaryArray.from_arrays(pa.array(code[sl], type=pa.int32()),
                                                      self.dictionary),
                "value": pa.array(value[sl], mask=np.isnan(value[sl])),
                "quality": pa.array(quality[sl], type=pa.uint8())})
            buf = io.BytesIO()
            pacsv.write_csv(table, buf, _CSV_OPTS)
            self.sink.write(buf.getbuffer())

    def _close(self) -> None:
        self.sink.close()


class _WideWriter:
    """Wide exports: one row per timestamp, one column per tag, a day at a time."""

    def __init__(self, export: Export, specs: Sequence[TagSpec], gzip_level: int,
                 timezone: str):
        self.export = export
        self.rows = _Rows(export)
        self.tags = [s.tag for s in specs
                     if self.rows.stations is None or s.station in self.rows.stations]
        self.col = {t: i for i, t in enumerate(self.tags)}
        self.timezone = timezone
        self.pending: list[Chunk] = []
        self.day: int | None = None
        self.n_rows = 0
        self.csv = export.resolved_format == "wide_csv"
        if self.csv:
            self.sink = _TextSink(Path(export.path), gzip_level)
            self.sink.write((",".join(["timestamp", *self.tags]) + "\n").encode())
        else:
            fields = [("timestamp", pa.timestamp("ns", tz="UTC"))] + \
                [(t, pa.float64()) for t in self.tags]
            self.schema = pa.schema(fields)
            self.writer = pq.ParquetWriter(str(export.path), self.schema, compression="zstd",
                                           use_dictionary=False, write_statistics=True)

    def write(self, chunk: Chunk) -> None:
        if not self.rows.wants(chunk):
            return
        day = int(chunk.times[0])
        if self.day is not None and day != self.day:
            self._flush()
        self.day = day
        self.pending.append(chunk)

    def _flush(self) -> None:
        chunks, self.pending = self.pending, []
        parts = []
        for c in chunks:
            ts, code, value, _ = c.long_arrays("tag")
            cols = np.array([self.col.get(t, -1) for t in c.tags], dtype=np.int64)[code]
            parts.append((ts, cols, value))
        ts = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        value = np.concatenate([p[2] for p in parts])
        ts, cols, value = self.rows.select(ts, cols, value)
        keep = cols >= 0
        ts, cols, value = ts[keep], cols[keep], value[keep]
        if not len(ts):
            return
        uniq, inv = np.unique(ts, return_inverse=True)
        grid = np.full((len(uniq), len(self.tags)), np.nan)
        grid[inv, cols] = value
        order = self._row_order(chunks, uniq)
        uniq, grid = uniq[order], grid[order]
        self.n_rows += len(uniq)
        if self.csv:
            local = pd.DatetimeIndex(uniq.astype("datetime64[ns]"), tz="UTC") \
                .tz_convert(self.timezone).tz_localize(None)
            stamps = np.char.replace(np.datetime_as_string(local.values, unit="s"), "T", " ")
            arrays = [pa.array(stamps)] + [pa.array(grid[:, j], mask=np.isnan(grid[:, j]))
                                           for j in range(len(self.tags))]
            buf = io.BytesIO()
            pacsv.write_csv(pa.Table.from_arrays(arrays, names=["timestamp", *self.tags]), buf,
                            _CSV_OPTS)
            self.sink.write(buf.getvalue())
        else:
            arrays = [pa.array(uniq, type=pa.timestamp("ns", tz="UTC"))] + \
                [pa.array(grid[:, j], mask=np.isnan(grid[:, j])) for j in range(len(self.tags))]
            self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def _row_order(self, chunks: Sequence[Chunk], uniq: np.ndarray) -> np.ndarray:
        """Row order with the duplicate and out-of-order faults of the exported tags."""
        idx = np.arange(len(uniq))
        counts = np.ones(len(uniq), dtype=np.int64)
        for c in chunks:
            for kind, ops in (("dup", c.ops.dups), ("ooo", c.ops.ooo)):
                for row, i0, i1 in ops:
                    if c.tags[row] not in self.col:
                        continue
                    a, b = np.searchsorted(uniq, [c.times[i0], c.times[i1]], side="left")
                    b = b + 1 if b < len(uniq) and uniq[b] == c.times[i1] else b
                    if kind == "dup":
                        counts[a:b] = 2
                    else:
                        idx[a:b] = idx[a:b][::-1].copy()
        return np.repeat(idx, counts[idx])

    def close(self) -> None:
        if self.pending:
            self._flush()
        if self.csv:
            self.sink.close()
        else:
            self.writer.close()


def _write_truth(path: str | Path, rows: pd.DataFrame) -> int:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(TRUTH_COLUMNS)
        for rec in rows.itertuples(index=False):
            w.writerow(list(rec))
    return len(rows)


def write_exports(source: Simulation | Iterable[Chunk],
                  exports: Export | str | Path | Sequence[Export | str | Path], *,
                  truth: str | Path | None = None, row_group_size: int = 1_000_000,
                  compression_level: int | None = None, gzip_level: int = 6) -> dict[str, int]:
    """Stream a simulation into historian-style files, one chunk at a time.

    Parameters
    ----------
    source : Simulation or iterable of Chunk
        What to write; a :class:`Simulation` is iterated once for all exports.
    exports : Export, path or sequence of them
        The files. Formats (:data:`FORMATS`):

        ``long_csv``
            header ``timestamp,tag,value,quality``; timestamp ISO 8601 UTC with
            ``Z`` and whole seconds (``2026-03-09T00:00:00Z``); value in the
            tag's registry unit, empty for a dropout; quality the OPC code
            (192 good, 64 uncertain, 0 bad). ``.csv.gz`` is gzipped
            deterministically (mtime 0). Rows in :attr:`Export.order`.
        ``wide_csv``
            header ``timestamp,<tag1>,<tag2>,…``; timestamp is the *local* wall
            time of the utility, ``YYYY-MM-DD HH:MM:SS`` without offset (so a
            DST day has 23 or 25 hours of rows); missing is an empty cell.
        ``long_parquet``
            columns ``timestamp`` (timestamp[ns, tz=UTC]), ``tag`` (dictionary
            string), ``value`` (float64, null for a dropout), ``quality``
            (uint8); zstd; row groups of ``row_group_size`` rows; rows in
            :attr:`Export.order`.
        ``wide_parquet``
            ``timestamp`` (timestamp[ns, tz=UTC]) and one float64 column per tag.
    truth : path, optional
        Also write the fault truth table as CSV (:data:`TRUTH_COLUMNS`).
    row_group_size : int
        Rows per Parquet row group (bounds memory while writing).
    compression_level : int, optional
        zstd level of the long Parquet file (pyarrow's default if None).
    gzip_level : int
        Level of ``.gz`` outputs.

    Returns
    -------
    dict
        Rows written per path (the truth table included).

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> sim = simulate(days=1, freq="1min", faults=("spike",))
    >>> out = write_exports(sim, [os.path.join(d, "x.parquet"),
    ...                           Export(os.path.join(d, "w.csv"), "wide_csv", stations=("NORTH",))],
    ...                     truth=os.path.join(d, "truth.csv"))
    >>> sorted(os.path.basename(p) for p in out)
    ['truth.csv', 'w.csv', 'x.parquet']
    """
    items = [exports] if isinstance(exports, Export | str | Path) else list(exports)
    targets = [e if isinstance(e, Export) else Export(e) for e in items]
    chunks = iter(source)
    first = next(chunks, None)
    specs = first.catalog if first is not None else ()
    tz = first.timezone if first is not None else "UTC"
    writers = [_make_writer(e, specs, tz, row_group_size, compression_level, gzip_level)
               for e in targets]
    seen_truth: dict[str, dict] = {}
    chunk = first
    while chunk is not None:
        for w in writers:
            w.write(chunk)
        for rec in chunk.faults.to_dict("records"):
            seen_truth.setdefault(rec["fault_id"], rec)
        chunk = next(chunks, None)
    for w in writers:
        w.close()
    result = {str(e.path): w.n_rows for e, w in zip(targets, writers, strict=True)}
    if truth is not None:
        rows = source.truth if isinstance(source, Simulation) else \
            pd.DataFrame(sorted(seen_truth.values(), key=lambda r: r["fault_id"]),
                         columns=list(TRUTH_COLUMNS))
        result[str(truth)] = _write_truth(truth, rows)
    return result


def _make_writer(export: Export, specs: Sequence[TagSpec], tz: str, row_group_size: int,
                 compression_level: int | None, gzip_level: int):
    fmt = export.resolved_format
    Path(export.path).parent.mkdir(parents=True, exist_ok=True)
    tags = [s.tag for s in specs]
    if fmt == "long_parquet":
        return _LongParquetWriter(export, tags, row_group_size, compression_level)
    if fmt == "long_csv":
        return _LongCsvWriter(export, tags, gzip_level)
    return _WideWriter(export, specs, gzip_level, tz)


# =============================================================================
# The bundled sample
# =============================================================================
SAMPLE_FILES = {
    "minute": "pumps_1min_4w.parquet",
    "wide": "north_1min_wide.csv",
    "second": "south_1s.csv.gz",
    "truth": "truth.csv",
    "truth_second": "truth_1s.csv",
    "readme": "README.md",
}


def make_sample(out_dir: str | Path = "data_samples",
                registry_path: str | Path = "catalogs/assets.yaml",
                seed: int = SAMPLE_SEED) -> dict[str, Path]:
    """Regenerate the bundled sample data and registry, byte for byte.

    Writes ``registry_path`` (the registry of :func:`make_registry`: 2
    stations, 5 pumps) and into ``out_dir``:

    * ``pumps_1min_4w.parquet``: long Parquet, all tags, 4 weeks at 1 min from
      2026-03-09 (spans the 2026-03-29 Europe/Amsterdam DST change and the
      Good Friday/Easter holidays), with faults;
    * ``north_1min_wide.csv``: wide CSV (local wall time) of station NORTH for
      2026-03-28 and 2026-03-29 UTC, cut from the same run;
    * ``truth.csv``: the faults of that run;
    * ``south_1s.csv.gz``: gzipped long CSV of station SOUTH for 2026-03-09 at
      1 s, with its own faults in ``truth_1s.csv``;
    * ``README.md``: what each file is.

    Examples
    --------
    >>> paths = make_sample("data_samples", "catalogs/assets.yaml")  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['minute', 'readme', 'registry', 'second', 'truth', 'truth_second', 'wide']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reg_path = Path(registry_path)
    reg_path.parent.mkdir(parents=True, exist_ok=True)
    spec = make_registry(seed=SAMPLE_SEED)
    reg_path.write_text(registry_yaml(spec), encoding="utf-8")
    reg = AssetRegistry.from_dict(spec, source=str(reg_path))
    paths = {k: out / v for k, v in SAMPLE_FILES.items()}
    minute = simulate(reg, start="2026-03-09", days=28, freq="1min", seed=seed)
    counts = write_exports(minute, [
        Export(paths["minute"]),
        Export(paths["wide"], "wide_csv", stations=("NORTH",), start="2026-03-28",
               end="2026-03-30")], truth=paths["truth"])
    second = simulate(reg, start="2026-03-09", days=1, freq="1s", seed=seed,
                      stations=("SOUTH",))
    counts.update(write_exports(second, paths["second"], truth=paths["truth_second"]))
    paths["readme"].write_text(_sample_readme(minute, second, counts, paths), encoding="utf-8")
    paths["registry"] = reg_path
    return paths


def _sample_readme(minute: Simulation, second: Simulation, counts: Mapping[str, int],
                   paths: Mapping[str, Path]) -> str:
    def n(key: str) -> str:
        return f"{counts[str(paths[key])]:,}"

    kinds = ", ".join(f"`{k}`" for k in FAULT_KINDS)
    return f"""# Sample data

Generated by `python -m pumplib.simulate sample` (seed {minute.seed}); regenerating gives
the same bytes. The utility is described by `catalogs/assets.yaml`: stations NORTH
(pumps N-P1…N-P3, tank N-T1) and SOUTH (S-P1, S-P2, tank S-T1), time zone
{minute.plant.timezone}, time-of-use tariffs and Dutch holidays. Values are in the unit each
tag declares in the registry: NORTH flows are in L/s, SOUTH pressures in psi and bearing
temperatures in degF; everything else is canonical (m3/h, bar, kW, A, rpm, mm/s, degC, m).

| file | format | content | rows |
| --- | --- | --- | --- |
| `{SAMPLE_FILES['minute']}` | long Parquet | all {len(minute.specs)} tags, 1 min, 2026-03-09 → 2026-04-06 (UTC) | {n('minute')} |
| `{SAMPLE_FILES['wide']}` | wide CSV | NORTH, 1 min, 2026-03-28 → 2026-03-30 (UTC), same run | {n('wide')} |
| `{SAMPLE_FILES['truth']}` | CSV | faults of the 1 min run | {n('truth')} |
| `{SAMPLE_FILES['second']}` | long CSV, gzip | SOUTH, 1 s, 2026-03-09 (UTC) | {n('second')} |
| `{SAMPLE_FILES['truth_second']}` | CSV | faults of the 1 s run | {n('truth_second')} |

## Formats

* **long CSV**: header `timestamp,tag,value,quality`; timestamp ISO 8601 UTC such as
  `2026-03-09T00:00:00Z`; quality is the OPC code (192 good, 64 uncertain, 0 bad);
  a dropout is a row with an empty value and quality 0, a gap has no rows. Rows are
  in time order, one row per tag for each sample time (the same for the Parquet
  file), except where faults put them out of order.
* **wide CSV**: header `timestamp,<tag>,…`; timestamp is the local wall time of
  {minute.plant.timezone} as `YYYY-MM-DD HH:MM:SS` without offset, so the rows jump
  from 01:59 to 03:00 on 2026-03-29 (DST); a missing value is an empty cell.
* **long Parquet**: `timestamp` timestamp[ns, tz=UTC], `tag` dictionary string,
  `value` float64 (null for a dropout), `quality` uint8; zstd.
* **truth CSV**: `fault_id,kind,asset,signal,start,end,params`; `start`/`end` are
  the first and last affected sample (inclusive, UTC ISO); `signal` is `*` for
  faults of a whole asset; `params` is JSON (e.g. the wrong unit's `scale`, the
  spike's `delta`, the skew's `offset_s`).

## Faults

Kinds: {kinds}. Stuck values stay constant; spikes add `delta`; dropouts are empty
values with quality 0 and gaps missing rows (the next sample has quality 64); drift
adds an offset growing linearly to `total`; wrong-unit values are `value·scale +
offset` of the declared unit; clock skew shifts an asset's timestamps by `offset_s`;
duplicate rows repeat each row of the window; out-of-order windows are written in
reverse time order. Impeller wear lowers head and efficiency over weeks (more power
per m³), cavitation raises vibration and makes the pressures fluctuate, dry running
keeps run_state at 1 with flow ≈ 0 and low power. Noise-free truth of the physics
is available from `pumplib.simulate.simulate(...)` chunks (`chunk.state`).
"""


# =============================================================================
# Command line
# =============================================================================
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pumplib.simulate sample|export`` (see ``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m pumplib.simulate",
                                     description="Seeded pump-station simulator.")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help="regenerate data_samples/ and catalogs/assets.yaml")
    s.add_argument("--out-dir", default="data_samples")
    s.add_argument("--registry", default="catalogs/assets.yaml")
    e = sub.add_parser("export", help="simulate and write exports")
    e.add_argument("paths", nargs="+", help="output files (.parquet, .csv, .csv.gz)")
    e.add_argument("--format", choices=FORMATS, help="format of every path (default: suffix)")
    e.add_argument("--registry", help="registry YAML (default: a generated one)")
    e.add_argument("--n-stations", type=int, default=2, help="stations of a generated registry")
    e.add_argument("--pumps-per-station", type=int, default=None)
    e.add_argument("--start", default="2026-03-09")
    e.add_argument("--days", type=int, default=1)
    e.add_argument("--freq", default="1min")
    e.add_argument("--seed", type=int, default=SAMPLE_SEED)
    e.add_argument("--signals", help="comma-separated signals to export")
    e.add_argument("--faults", default="default",
                   help="'default', 'none' or comma-separated fault kinds")
    e.add_argument("--truth", help="also write the truth table here")
    e.add_argument("--order", choices=ROW_ORDERS, default="time", help="row order of long files")
    args = parser.parse_args(argv)
    if args.command == "sample":
        paths = make_sample(args.out_dir, args.registry)
        for p in paths.values():
            print(f"{p}  {p.stat().st_size:,} bytes")
        return 0
    if args.registry:
        registry: Any = args.registry
    else:
        pps = args.pumps_per_station if args.pumps_per_station is not None else (3, 2)
        registry = make_registry(n_stations=args.n_stations, pumps_per_station=pps)
    faults: Any = None if args.faults == "default" else \
        (() if args.faults == "none" else tuple(args.faults.split(",")))
    sim = simulate(registry, start=args.start, days=args.days, freq=args.freq, seed=args.seed,
                   faults=faults, signals=args.signals.split(",") if args.signals else None)
    counts = write_exports(sim, [Export(p, args.format, order=args.order) for p in args.paths],
                           truth=args.truth)
    for path, rows in counts.items():
        print(f"{path}  {rows:,} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
