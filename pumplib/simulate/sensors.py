"""Sensor synthesis: control state to samples at the export rate, with noise, units and
data faults."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import signals as _signals
from .. import units as _units
from .chunk import Chunk, _RowOps
from .constants import (
    _DECIMALS,
    _PHYSICAL,
    _SIGNAL_CODE,
    DAY_NS,
    DAY_S,
    QUALITY_BAD,
    QUALITY_GOOD,
    QUALITY_UNCERTAIN,
    S_NS,
    TRUTH_COLUMNS,
    _rng,
)
from .physics import _ControlDay
from .plant import _Plant
from .truth import _Fault

if TYPE_CHECKING:
    from .simulation import Simulation

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
