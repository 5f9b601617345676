"""Control simulation at a coarse step, one day at a time: demand, prices, staging, pump physics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .constants import (
    _BEARING_TAU_S,
    _LEVEL_TAU_H,
    _OFF_FRAC,
    _ON_FRAC,
    _PHYSICAL,
    _PREFILL_NS,
    _STAGE_OFF,
    _STAGE_ON,
    BAR_PER_M,
    DAY_NS,
    DAY_S,
    RHO,
    S_NS,
    G,
    _rng,
)
from .plant import _Plant
from .truth import _Fault


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
