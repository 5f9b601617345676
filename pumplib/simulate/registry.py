"""Generate a realistic asset registry (:func:`make_registry`) and write it as YAML."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .. import signals as _signals
from ..assets import AssetRegistry
from ..errors import ConfigError
from .constants import (
    _DEMAND_SHARE,
    _STANDARD_MOTORS,
    _STATION_NAMES,
    _TAG_SUFFIX,
    _UNIT_SCHEMES,
    _WEEKDAYS,
    _WEEKEND,
    HOLIDAYS_NL_2026,
    PUMP_SIGNALS,
    RHO,
    SAMPLE_SEED,
    G,
    _rng,
)


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



def _as_registry(registry: AssetRegistry | Mapping | str | Path | None) -> AssetRegistry:
    if registry is None:
        return AssetRegistry.from_dict(make_registry(), source="make_registry()")
    if isinstance(registry, AssetRegistry):
        return registry
    if isinstance(registry, Mapping):
        return AssetRegistry.from_dict(dict(registry))
    return AssetRegistry.load(registry)
