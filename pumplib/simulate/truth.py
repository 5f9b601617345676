"""Faults and their truth: the schedule drawn from the seed, each episode's parameters,
the truth table (written and read)."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import signals as _signals
from .. import units as _units
from ..errors import ConfigError, UnknownNameError, choices_message
from .constants import (
    _ALL_FAULT_KINDS,
    _ALT_UNITS,
    _DECIMALS,
    _DURATION_S,
    _PHYSICAL,
    _SKEW_OFFSETS_S,
    BAR_PER_M,
    DAY_NS,
    DEFAULT_FAULT_RATES,
    OPT_IN_FAULT_KINDS,
    QUALITY_BAD,
    S_NS,
    TRUTH_COLUMNS,
    _iso,
    _rng,
)
from .plant import TagSpec, _Plant


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


def _write_truth(path: str | Path, rows: pd.DataFrame) -> int:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(TRUTH_COLUMNS)
        for rec in rows.itertuples(index=False):
            w.writerow(list(rec))
    return len(rows)
