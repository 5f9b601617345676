"""Network scenarios through WNTR/EPANET, with what WNTR leaves out of the cost.

EPANET prices pump energy with one global price and efficiency; here each
pump's hydraulic power ``ρ·g·Q·H`` (flow and head gain from the EPANET run)
is divided by an efficiency *curve* (a parabola through a best efficiency
point, by default the middle of the pump's head curve) and priced by a
time-of-use :class:`~pumplib.assets.Tariff`.

Examples
--------
>>> out = run_network("Net3", hours=24)                    # doctest: +SKIP
>>> out.summary[["energy_kwh", "cost"]]                     # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..assets import Tariff
from ..errors import ArgumentError, UnknownNameError, choices_message

RHO_G = 998.2 * 9.80665


def example_network(name: str = "Net3") -> Path:
    """Path of a network bundled with the installed ``wntr`` package (no download)."""
    import wntr

    folder = Path(wntr.__file__).parent / "library" / "networks"
    path = folder / (name if name.endswith(".inp") else f"{name}.inp")
    if not path.is_file():
        raise UnknownNameError(choices_message("example network", name,
                                               [p.stem for p in folder.glob("*.inp")]))
    return path


@dataclass
class NetworkResult:
    """Per pump and time step: flow, head gain, efficiency, power, price, cost; and a summary."""

    name: str
    pumps: pd.DataFrame
    summary: pd.DataFrame
    tanks: pd.DataFrame


def _bep(pump) -> tuple[float, float]:
    """(BEP flow m³/s, head m): the middle of the pump's head curve."""
    pts = list(pump.get_pump_curve().points)
    if len(pts) >= 3:
        q, h = pts[len(pts) // 2]
    elif len(pts) == 1:  # one-point curve: EPANET's design point
        q, h = pts[0]
    else:
        q, h = pts[-1]
    return float(q), float(h)


def run_network(inp: str | os.PathLike = "Net3", *, hours: int = 24,
                tariff: Tariff | Mapping | None = None, timezone: str = "UTC",
                start: str = "2026-03-09", demand_factor: float = 1.0,
                pump_speed: Mapping[str, float] | None = None,
                efficiency: Mapping[str, Mapping[str, float]] | None = None,
                motor_efficiency: float = 0.93, name: str | None = None) -> NetworkResult:
    """Run an EPANET network and cost its pumps with efficiency curves and a tariff.

    Parameters
    ----------
    inp : str or path
        An ``.inp`` file, or the name of a network bundled with wntr (``"Net3"``).
    hours : int
        Simulated duration (hourly hydraulic steps).
    tariff : Tariff or mapping, optional
        Time-of-use tariff (registry-style mapping); default a flat 0.15 per kWh.
    timezone, start : str
        Where and when the clock of the simulation starts (the tariff's local time).
    demand_factor : float
        Multiplier of all demands (demand growth).
    pump_speed : mapping, optional
        Relative speed per pump id (VFD set-point; affinity laws in EPANET).
    efficiency : mapping, optional
        Per pump ``{"bep_flow": m³/h, "bep_efficiency": 0-1}``; default the middle
        of its head curve at 75 %.

    Returns
    -------
    NetworkResult
    """
    import wntr

    from .model import tariff_from_spec

    path = Path(inp) if Path(str(inp)).suffix == ".inp" else example_network(str(inp))
    if int(hours) < 1:
        raise ArgumentError(f"option 'hours' given an invalid value: {hours!r}. Expected ≥ 1")
    wn = wntr.network.WaterNetworkModel(str(path))
    wn.options.time.duration = int(hours) * 3600
    wn.options.time.hydraulic_timestep = 3600
    wn.options.time.report_timestep = 3600
    wn.options.hydraulic.demand_multiplier = float(demand_factor)
    for pid, speed in (pump_speed or {}).items():
        if pid not in wn.pump_name_list:
            raise UnknownNameError(choices_message("pump", pid, wn.pump_name_list))
        if not 0.3 <= float(speed) <= 1.2:
            raise ArgumentError(f"pump_speed[{pid!r}] given an invalid value: {speed!r}. "
                                "Expected a speed ratio in [0.3, 1.2]")
        # affinity laws on the head curve itself: EPANET resets a pump's speed setting to 1
        # whenever a control opens it, so a base speed alone would not hold
        pump = wn.get_link(pid)
        pts = [(q * speed, h * speed**2) for q, h in pump.get_pump_curve().points]
        name = f"{pump.pump_curve_name}_speed_{pid}"
        wn.add_curve(name, "HEAD", pts)
        pump.pump_curve_name = name
    with tempfile.TemporaryDirectory() as tmp:
        res = wntr.sim.EpanetSimulator(wn).run_sim(file_prefix=os.path.join(tmp, "run"))
    tar = tariff_from_spec(tariff, "network") if tariff is not None else Tariff(
        "flat", 0.15)
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize(timezone) if t0.tzinfo is None else t0
    secs = res.link["flowrate"].index.to_numpy()
    times = t0.tz_convert("UTC") + pd.to_timedelta(secs, unit="s")
    price = tar.price(times, timezone)
    heads = res.node["head"]
    frames = []
    for pid in wn.pump_name_list:
        pump = wn.get_link(pid)
        q = res.link["flowrate"][pid].to_numpy().clip(min=0.0)  # m³/s
        gain = (heads[pump.end_node_name] - heads[pump.start_node_name]).to_numpy()
        spec = (efficiency or {}).get(pid, {})
        q_bep, _ = _bep(pump)
        speed = float((pump_speed or {}).get(pid, 1.0))
        qb = float(spec.get("bep_flow", q_bep * 3600.0)) / 3600.0 * speed
        eta_b = float(spec.get("bep_efficiency", 0.75))
        if qb <= 0 or not 0 < eta_b <= 1:
            raise ArgumentError(f"pump {pid!r}: efficiency needs bep_flow > 0 and "
                                f"0 < bep_efficiency ≤ 1, got {dict(spec)}")
        eta = np.clip(eta_b * (1.0 - ((q - qb) / qb) ** 2), 0.2, None)
        p_h = RHO_G * q * np.maximum(gain, 0.0) / 1000.0  # kW
        power = np.where(q > 1e-6, p_h / eta / motor_efficiency, 0.0)
        frames.append(pd.DataFrame({"pump": pid, "time": times, "flow_m3h": q * 3600.0,
                                    "head_gain_m": gain, "efficiency": np.where(q > 1e-6, eta,
                                                                                np.nan),
                                    "power_kw": power, "price": price}))
    pumps = pd.concat(frames, ignore_index=True)
    step_h = 1.0
    # each report step holds until the next: the last row closes the horizon
    pumps["energy_kwh"] = pumps.power_kw * step_h
    pumps.loc[pumps.time == pumps.time.max(), "energy_kwh"] = 0.0
    pumps["cost"] = pumps.energy_kwh * pumps.price
    summary = pumps.groupby("pump").agg(energy_kwh=("energy_kwh", "sum"), cost=("cost", "sum"),
                                        volume_m3=("flow_m3h", lambda s: s.iloc[:-1].sum()),
                                        mean_efficiency=("efficiency", "mean"))
    summary["specific_energy"] = summary.energy_kwh / summary.volume_m3.replace(0, np.nan)
    tanks = heads[wn.tank_name_list].copy()
    tanks.index = times
    return NetworkResult(name=name or path.stem, pumps=pumps, summary=summary, tanks=tanks)


def compare_network(runs: Mapping[str, Mapping], inp: str | os.PathLike = "Net3",
                    **common) -> pd.DataFrame:
    """Several :func:`run_network` variants side by side (one row per variant, totals)."""
    rows = []
    for label, kw in runs.items():
        out = run_network(inp, **{**common, **kw, "name": label})
        s = out.summary
        rows.append({"scenario": label, "energy_kwh": float(s.energy_kwh.sum()),
                     "cost": float(s.cost.sum()), "volume_m3": float(s.volume_m3.sum()),
                     "specific_energy": float(s.energy_kwh.sum() / s.volume_m3.sum())
                     if s.volume_m3.sum() > 0 else np.nan})
    df = pd.DataFrame(rows).set_index("scenario")
    base = df.iloc[0]
    for c in ("energy_kwh", "cost"):
        df[f"{c}_change"] = df[c] / base[c] - 1.0 if base[c] else np.nan
    return df
