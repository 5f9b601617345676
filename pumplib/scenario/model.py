"""Station physics for scenarios: pump operating points, tank balance, control policies.

The physics is the simulator's (:mod:`pumplib.simulate`): each pump lifts
through its own rising main into the station tank, so its operating point is
the intersection of the pump curve ``H = H0·s² − k·Q²`` with the system curve
``H = static_head + level + r·Q²``; ``r`` is implied by the registry (the
rated point lies on the system curve at the middle tank level) and stays with
the pipe when a pump is replaced. Efficiency is the registry's parabola
through the BEP, scaled by speed (affinity laws); electrical power is
``ρ·g·Q·H / (η·3.6e6) / η_motor``.

Examples
--------
>>> from pumplib.assets import AssetRegistry
>>> from pumplib.simulate import make_registry
>>> st = StationModel.from_registry(AssetRegistry.from_dict(make_registry()), "SOUTH")
>>> q, h, eta, p = st.pumps[1].operating_point(st.static_head + 2.6)
>>> bool(q > 0 and p > 0)
True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..assets import AssetRegistry, Tariff
from ..errors import ArgumentError, SchemaError, UnknownNameError, choices_message

RHO_G = 998.2 * 9.80665  # N/m³, water at 20 °C (the simulator's)
POLICIES = ("level", "tariff", "schedule")
#: lead-pump start/stop levels as a share of the tank span (cheap, normal, peak)
ON_FRAC = (0.70, 0.45, 0.20)
OFF_FRAC = (0.93, 0.75, 0.40)
STAGE_ON, STAGE_OFF = 0.12, 0.08
LEVEL_TAU_H = 0.5


@dataclass(frozen=True)
class PumpModel:
    """One pump at one station: curve, system resistance, motor."""

    id: str
    h0: float            # shutoff head, m
    k: float             # curve coefficient, m/(m³/h)²
    r: float             # rising-main resistance, m/(m³/h)²
    rated_speed: float
    bep_flow: float
    bep_efficiency: float
    motor_efficiency: float = 0.93
    vsd: bool = False
    s_min: float = 0.7
    wear: float = 0.0    # efficiency lost (0–1)

    def operating_point(self, static_plus_level, speed_ratio=1.0):
        """Flow m³/h, head m, pump efficiency and electrical kW at a static head and speed."""
        hs = np.asarray(static_plus_level, dtype=float)
        s = np.asarray(speed_ratio, dtype=float)
        q = np.sqrt(np.maximum(self.h0 * s**2 - hs, 0.0) / (self.k + self.r))
        head = self.h0 * s**2 - self.k * q**2
        qb = self.bep_flow * np.maximum(s, 1e-9)
        eta = np.clip(self.bep_efficiency * (1.0 - ((q - qb) / qb) ** 2), 0.05, None) \
            * (1.0 - self.wear)
        p = RHO_G * q * head / 3.6e6 / eta / self.motor_efficiency
        return q, head, eta, np.where(q > 0, p, 0.0)

    def speed_for_flow(self, static_plus_level, flow):
        """Speed ratio delivering ``flow`` (clipped to [s_min, 1])."""
        s = np.sqrt((np.asarray(static_plus_level) + (self.k + self.r) * np.asarray(flow) ** 2)
                    / self.h0)
        return np.clip(s, self.s_min, 1.0)


@dataclass(frozen=True)
class StationModel:
    """A station: pumps, static head, tank and tariff (from the registry)."""

    id: str
    pumps: tuple[PumpModel, ...]
    static_head: float
    area: float
    min_level: float
    max_level: float
    tariff: Tariff
    timezone: str = "UTC"
    holidays: tuple = ()
    control: str = "tariff"
    meta: Mapping = field(default_factory=dict)

    @classmethod
    def from_registry(cls, registry: AssetRegistry, station: str) -> StationModel:
        """Build the model of ``station`` (its pumps need curves, its tank an area)."""
        if station not in registry.stations:
            raise UnknownNameError(choices_message("station", station, registry.stations))
        st = registry.stations[station]
        assets = registry.station_assets(station)
        tanks = [a for a in assets if a.kind == "tank" and a.tank]
        pumps = [a for a in assets if a.kind == "pump"]
        if not tanks or not pumps:
            raise SchemaError(f"{registry.source}: station {station!r} needs a tank and pumps "
                              "with curves for scenarios")
        t = tanks[0].tank
        static = float(st.get("static_head", 0.0))
        mid = (float(t["min_level"]) + float(t["max_level"])) / 2.0
        models = []
        for p in pumps:
            if not p.curve:
                raise SchemaError(f"{registry.source}: pump {p.id!r} has no curve")
            rated_q, rated_h = float(p.rated["flow"]), float(p.rated["head"])
            h0 = float(p.curve["shutoff_head"])
            r = (rated_h - (static + mid)) / rated_q**2
            if r <= 0:
                raise SchemaError(f"{registry.source}: pump {p.id!r}: rated head must exceed the "
                                  "static head plus the middle tank level")
            k = (h0 - rated_h) / rated_q**2
            hs_max = static + float(t["max_level"])
            s_min = float(np.clip(math.sqrt((hs_max + (k + r) * (0.25 * rated_q) ** 2) / h0),
                                  0.7, 1.0))
            models.append(PumpModel(
                id=p.id, h0=h0, k=k, r=r, rated_speed=float(p.rated["speed"]),
                bep_flow=float(p.curve["bep_flow"]),
                bep_efficiency=float(p.curve["bep_efficiency"]),
                motor_efficiency=float((p.motor or {}).get("efficiency", 0.93)),
                vsd=p.pump_type == "variable_speed", s_min=s_min))
        return cls(id=station, pumps=tuple(models), static_head=static, area=float(t["area"]),
                   min_level=float(t["min_level"]), max_level=float(t["max_level"]),
                   tariff=registry.tariff_of(station),
                   timezone=str(registry.utility["timezone"]), holidays=registry.holidays,
                   control=str(st.get("control", "tariff")))

    # -- what-if edits (each returns a new model) -----------------------------------------
    def pump(self, pump_id: str) -> PumpModel:
        for p in self.pumps:
            if p.id == pump_id:
                return p
        raise UnknownNameError(choices_message("pump", pump_id, [p.id for p in self.pumps]))

    def _swap(self, pump_id: str, new: PumpModel) -> StationModel:
        self.pump(pump_id)
        return dataclasses.replace(self, pumps=tuple(new if p.id == pump_id else p
                                                     for p in self.pumps))

    def replace_pump(self, pump_id: str, curve: Mapping, rated: Mapping,
                     motor_efficiency: float | None = None) -> StationModel:
        """A new pump (curve and rated point) on the same rising main."""
        old = self.pump(pump_id)
        for key in ("shutoff_head", "bep_flow", "bep_efficiency"):
            if key not in curve:
                raise ArgumentError(f"replace_pump(): curve needs {key!r}")
        for key in ("flow", "head"):
            if key not in rated:
                raise ArgumentError(f"replace_pump(): rated needs {key!r}")
        h0 = float(curve["shutoff_head"])
        k = (h0 - float(rated["head"])) / float(rated["flow"]) ** 2
        return self._swap(pump_id, dataclasses.replace(
            old, h0=h0, k=k, bep_flow=float(curve["bep_flow"]),
            bep_efficiency=float(curve["bep_efficiency"]), wear=0.0,
            rated_speed=float(rated.get("speed", old.rated_speed)),
            motor_efficiency=float(motor_efficiency or old.motor_efficiency)))

    def with_vfd(self, pump_id: str, drive_efficiency: float = 0.97) -> StationModel:
        """A variable-frequency drive on a fixed-speed pump (affinity laws; drive losses)."""
        old = self.pump(pump_id)
        return self._swap(pump_id, dataclasses.replace(
            old, vsd=True, motor_efficiency=old.motor_efficiency * drive_efficiency))

    def with_wear(self, pump_id: str, loss: float) -> StationModel:
        return self._swap(pump_id, dataclasses.replace(self.pump(pump_id), wear=float(loss)))

    def with_tariff(self, tariff: Tariff) -> StationModel:
        return dataclasses.replace(self, tariff=tariff)

    # -- helpers -----------------------------------------------------------------------------
    def prices(self, times: pd.DatetimeIndex) -> np.ndarray:
        return self.tariff.price(times, self.timezone, self.holidays)

    def modes(self, times: pd.DatetimeIndex) -> np.ndarray:
        """Control mode per time (0 cheap/prefill, 1 normal, 2 peak), as the simulator."""
        idx = pd.DatetimeIndex(times)
        now = self.prices(idx)
        later = self.prices(idx + pd.Timedelta("2h"))
        levels = [self.tariff.default_price, *(float(p["price"]) for p in self.tariff.periods)]
        lo, hi = min(levels), max(levels)
        if hi <= lo:
            return np.ones(len(idx), dtype=int)
        rel, rel_later = (now - lo) / (hi - lo), (later - lo) / (hi - lo)
        return np.where(rel >= 0.7, 2, np.where((rel <= 0.3) | (rel_later >= 0.7), 0, 1))


def _utc_index(index) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(index)
    return idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")


def simulate_station(model: StationModel, demand: pd.Series, *, policy: str = "level",
                     schedule: pd.DataFrame | None = None, level0: float | None = None,
                     step: str | pd.Timedelta = "5min") -> pd.DataFrame:
    """Run a station over a demand series and return its time series.

    Parameters
    ----------
    demand : pandas.Series
        Demand in m³/h on a regular UTC time index (held over each interval).
    policy : {"level", "tariff", "schedule"}
        ``level``: fixed set-points (45 %/75 % of the span for the lead pump);
        ``tariff``: set-points that follow the tariff like the simulator's tariff
        control; ``schedule``: on/off (and speed ratios) per pump from ``schedule``
        (columns = pump ids, values = speed ratio, 0 = off), e.g. from
        :func:`~pumplib.scenario.optimise_schedule`, held until its next row.
    level0 : float, optional
        Initial tank level (default 60 % of the span).
    step : str
        Simulation step.

    Returns
    -------
    pandas.DataFrame
        Per step: ``level`` (start of step), ``demand, inflow, overflow_m3,
        unmet_m3, price, power, cost`` and ``<pump>.flow``, ``<pump>.power``,
        ``<pump>.on``, ``<pump>.speed``. ``attrs['final_level']`` is the level at the end.
    """
    if policy not in POLICIES:
        raise ArgumentError(f"option 'policy' given an invalid value: {policy!r}. "
                            f"Expected one of {list(POLICIES)}")
    if policy == "schedule" and schedule is None:
        raise ArgumentError("policy='schedule' needs a schedule")
    dt = pd.Timedelta(step)
    idx_d = _utc_index(demand.index)
    if len(idx_d) < 2:
        raise ArgumentError("simulate_station() needs a demand series of at least 2 steps")
    d_step = idx_d[1] - idx_d[0]
    times = pd.date_range(idx_d[0], idx_d[-1] + d_step, freq=dt, inclusive="left")
    dem = pd.Series(np.asarray(demand, float), index=idx_d).reindex(times, method="ffill")
    dem = dem.to_numpy()
    price = model.prices(times)
    mode = model.modes(times) if policy == "tariff" else np.ones(len(times), dtype=int)
    sched = None
    if policy == "schedule":
        s_idx = _utc_index(schedule.index)
        missing = [p.id for p in model.pumps if p.id not in schedule.columns]
        if missing:
            raise ArgumentError(f"schedule lacks pumps {missing}")
        sched = pd.DataFrame(schedule.to_numpy(float), index=s_idx,
                             columns=schedule.columns).reindex(times, method="ffill").fillna(0.0)
    n = len(model.pumps)
    span = model.max_level - model.min_level
    lvl = model.min_level + 0.6 * span if level0 is None else float(level0)
    run = np.zeros(n, dtype=bool)
    h = dt / pd.Timedelta("1h")
    out = {k: np.zeros(len(times)) for k in ("level", "inflow", "overflow_m3", "unmet_m3",
                                             "power")}
    per = {f"{p.id}.{q}": np.zeros(len(times)) for p in model.pumps
           for q in ("flow", "power", "on", "speed")}
    # duty rotates daily (UTC days), as in the simulator: every pump leads some days
    day_key = (times.asi8 // (86_400 * 10**9)).astype(np.int64)
    for t in range(len(times)):
        rank = (np.arange(n) + day_key[t]) % n
        hs = model.static_head + lvl
        if sched is not None:
            speeds = sched.iloc[t].reindex([p.id for p in model.pumps]).to_numpy()
            run = speeds > 0
        else:
            m = mode[t]
            on_f = np.maximum(ON_FRAC[m] - STAGE_ON * rank, 0.04)
            off_f = np.maximum(OFF_FRAC[m] - STAGE_OFF * rank, on_f + 0.05)
            on_l, off_l = model.min_level + on_f * span, model.min_level + off_f * span
            run = np.where(lvl < on_l, True, np.where(lvl > off_l, False, run))
            target = model.min_level + (ON_FRAC[m] + OFF_FRAC[m]) / 2 * span
            fixed = sum(p.operating_point(hs)[0] for p, r in zip(model.pumps, run, strict=True)
                        if r and not p.vsd)
            want = dem[t] + (target - lvl) * model.area / LEVEL_TAU_H
            n_vsd = sum(1 for p, r in zip(model.pumps, run, strict=True) if r and p.vsd)
            qv = max(want - fixed, 0.0) / max(n_vsd, 1)
            speeds = np.array([(p.speed_for_flow(hs, qv) if p.vsd else 1.0) if r else 0.0
                               for p, r in zip(model.pumps, run, strict=True)])
        inflow = 0.0
        total_p = 0.0
        for p, s in zip(model.pumps, speeds, strict=True):
            if s <= 0:
                continue
            q, _, _, pw = p.operating_point(hs, s)
            q, pw = float(q), float(pw)
            inflow += q
            total_p += pw
            per[f"{p.id}.flow"][t], per[f"{p.id}.power"][t] = q, pw
            per[f"{p.id}.on"][t], per[f"{p.id}.speed"][t] = 1.0, float(s)
        out["level"][t] = lvl
        new = lvl + (inflow - dem[t]) * h / model.area
        out["overflow_m3"][t] = max(new - model.max_level - 0.2, 0.0) * model.area
        out["unmet_m3"][t] = max(0.0 - new, 0.0) * model.area
        lvl = float(np.clip(new, 0.0, model.max_level + 0.2))
        out["inflow"][t], out["power"][t] = inflow, total_p
    frame = pd.DataFrame({**out, **per}, index=times)
    frame.insert(1, "demand", dem)
    frame["price"] = price
    frame["cost"] = frame.power * h * price
    frame.attrs.update(final_level=lvl, step_hours=h, station=model.id, policy=policy)
    return frame


def summarise(frame: pd.DataFrame, model: StationModel) -> dict:
    """Energy, cost, volume, specific energy, peak share, starts, level range of a run."""
    h = float(frame.attrs.get("step_hours", 1.0))
    energy = float(frame.power.sum() * h)
    volume = float(frame.inflow.sum() * h)
    top = max([model.tariff.default_price, *(float(p["price"]) for p in model.tariff.periods)])
    peak = frame.price >= top - 1e-12
    starts = 0
    for p in model.pumps:
        on = frame[f"{p.id}.on"].to_numpy() > 0
        starts += int(np.sum(on[1:] & ~on[:-1]))
    return {"energy_kwh": energy, "cost": float(frame.cost.sum()), "volume_m3": volume,
            "specific_energy": energy / volume if volume > 0 else np.nan,
            "peak_energy_share": float(frame.power[peak].sum() * h / energy)
            if energy and top > model.tariff.default_price else 0.0,
            "starts": starts, "min_level": float(frame.level.min()),
            "max_level": float(max(frame.level.max(), frame.attrs.get("final_level", 0.0))),
            "final_level": float(frame.attrs.get("final_level", np.nan)),
            "overflow_m3": float(frame.overflow_m3.sum()), "unmet_m3": float(frame.unmet_m3.sum()),
            "within_limits": bool(frame.level.min() >= model.min_level - 1e-9
                                  and frame.level.max() <= model.max_level + 1e-9
                                  and frame.attrs.get("final_level", model.min_level)
                                  >= model.min_level - 1e-9
                                  and frame.attrs.get("final_level", 0) <= model.max_level + 1e-9)}


def tariff_from_spec(spec: Mapping | Tariff, name: str = "scenario",
                     currency: str = "EUR") -> Tariff:
    """A :class:`~pumplib.assets.Tariff` from a registry-style mapping."""
    if isinstance(spec, Tariff):
        return spec
    if "default_price" not in spec:
        raise ArgumentError(f"tariff {name!r} needs a default_price")
    return Tariff(name=name, default_price=float(spec["default_price"]),
                  periods=tuple(spec.get("periods", []) or []),
                  currency=spec.get("currency", currency))


def demand_from_simulation(registry: AssetRegistry, station: str, *, start="2026-03-10",
                           days: int = 2, seed: int = 2026, control_step: str = "1min",
                           faults=()) -> tuple[pd.Series, pd.DataFrame]:
    """Demand (m³/h per control step) of one station from the simulator, and its control truth.

    The truth frame holds the simulator's own schedule (``<pump>.power``,
    ``<tank>.level``, ``<tank>.price`` …): the baseline a scenario is compared with.
    """
    from ..simulate import simulate

    sim = simulate(registry, start=start, days=days, freq="1h", control_step=control_step,
                   seed=seed, faults=faults, stations=[station])
    state = pd.concat([c.state for c in sim])
    tank = next(a.id for a in registry.station_assets(station) if a.kind == "tank")
    return state[f"{tank}.demand"].rename("demand"), state


def baseline_from_truth(model: StationModel, state: pd.DataFrame) -> dict:
    """Energy and cost of the simulator's own schedule (control truth), priced by the model."""
    idx = _utc_index(state.index)
    h = (idx[1] - idx[0]) / pd.Timedelta("1h")
    power = sum(state[f"{p.id}.power"].to_numpy() for p in model.pumps)
    price = model.prices(idx)
    tank_col = next(c for c in state.columns if c.endswith(".level"))
    flows = sum(state[f"{p.id}.flow"].to_numpy() for p in model.pumps)
    runs = [state[f"{p.id}.run"].to_numpy().astype(bool) for p in model.pumps]
    starts = int(sum(np.sum(r[1:] & ~r[:-1]) for r in runs))
    return {"energy_kwh": float(power.sum() * h), "cost": float((power * price).sum() * h),
            "volume_m3": float(flows.sum() * h), "starts": starts,
            "level0": float(state[tank_col].iloc[0]),
            "final_level": float(state[tank_col].iloc[-1]
                                 + (flows[-1] - state[tank_col.replace(".level", ".demand")]
                                    .iloc[-1]) * h / model.area),
            "min_level": float(state[tank_col].min()), "max_level": float(state[tank_col].max())}


def pump_table(model: StationModel, levels: Sequence[float] | None = None) -> pd.DataFrame:
    """Flow, head, efficiency and power of each pump at full speed, over tank levels."""
    levels = list(levels) if levels is not None else list(
        np.linspace(model.min_level, model.max_level, 3))
    rows = []
    for p in model.pumps:
        for lv in levels:
            q, hd, eta, pw = p.operating_point(model.static_head + lv)
            rows.append({"pump": p.id, "level": lv, "flow": float(q), "head": float(hd),
                         "efficiency": float(eta), "power": float(pw),
                         "specific_energy": float(pw / q) if q > 0 else np.nan})
    return pd.DataFrame(rows)
