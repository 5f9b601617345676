"""The plant: registry values as arrays for vectorised physics, and run arguments checked."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..assets import Asset, AssetRegistry, Tariff
from ..errors import ConfigError, SchemaError, UnknownNameError, choices_message
from .constants import _DEMAND_SHARE, _MIN_SPEED, DAY_S, RHO, G, _rng


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
