"""KPIs: what a page adds up over the pumps in scope, per period.

==========================  =================  ===================================================
kpi                         unit               from
==========================  =================  ===================================================
energy                      kWh                Σ ``energy_integral``
cost                        currency           Σ ``energy_cost_integral``
volume                      m³                 Σ energy / ``specific_energy_mean`` (per pump)
specific_energy             kWh/m³             energy / volume
specific_energy_per_head    kWh/m³/m           volume-weighted ``normalised_specific_energy_mean``
vs_floor                    ×                  specific_energy_per_head / 0.00272 (physics floor)
efficiency                  %                  energy-weighted ``wire_to_water_efficiency_mean``
near_bep                    % of runtime       Σ ``time_near_bep_duration`` / Σ ``runtime_duration``
starts                      count              Σ ``starts_starts``
runtime                     h                  Σ ``runtime_duration``
data_quality                0–100              daily quality score (``pumplib.dqscore`` or
                                               :func:`pumplib.quality.scores`), mean over signals
==========================  =================  ===================================================
"""

from __future__ import annotations

import pandas as pd

#: ρ g / 3.6e6: kWh to lift one m³ by one metre with a perfect pump and motor
FLOOR_KWH_M3_M = 0.00272

KPI_SPEC: dict[str, tuple[str, str]] = {
    "energy": ("Energy", "kWh"),
    "cost": ("Cost", "{currency}"),
    "volume": ("Volume pumped", "m³"),
    "specific_energy": ("Specific energy", "kWh/m³"),
    "specific_energy_per_head": ("Specific energy per metre of head", "kWh/m³/m"),
    "vs_floor": ("Against the physical floor (0.00272 kWh/m³/m)", "×"),
    "efficiency": ("Wire-to-water efficiency", "%"),
    "near_bep": ("Time near BEP", "% of runtime"),
    "starts": ("Starts", ""),
    "runtime": ("Runtime", "h"),
    "data_quality": ("Data-quality score", "/100"),
}
#: golden-table columns the KPIs need
COLUMNS = ["energy_integral", "energy_coverage", "energy_cost_integral", "specific_energy_mean",
           "normalised_specific_energy_mean", "wire_to_water_efficiency_mean",
           "time_near_bep_duration", "runtime_duration", "starts_starts"]


def aggregate(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """KPIs of a long golden-table frame, summed / weighted over assets per group."""
    f = frame.copy()
    se = f["specific_energy_mean"].where(f["specific_energy_mean"] > 0)
    f["volume"] = f["energy_integral"] / se
    f["_e_eff"] = f["energy_integral"] * f["wire_to_water_efficiency_mean"]
    f["_e_for_eff"] = f["energy_integral"].where(f["wire_to_water_efficiency_mean"].notna())
    f["_v_seh"] = f["volume"] * f["normalised_specific_energy_mean"]
    f["_v_for_seh"] = f["volume"].where(f["normalised_specific_energy_mean"].notna())
    g = f.groupby(by)
    s = g[["energy_integral", "energy_cost_integral", "volume", "_e_eff", "_e_for_eff",
           "_v_seh", "_v_for_seh", "time_near_bep_duration", "runtime_duration",
           "starts_starts"]].sum(min_count=1)
    out = pd.DataFrame(index=s.index)
    out["energy"] = s["energy_integral"]
    out["cost"] = s["energy_cost_integral"]
    out["volume"] = s["volume"]
    out["specific_energy"] = s["energy_integral"] / s["volume"].where(s["volume"] > 0)
    out["specific_energy_per_head"] = s["_v_seh"] / s["_v_for_seh"].where(s["_v_for_seh"] > 0)
    out["vs_floor"] = out["specific_energy_per_head"] / FLOOR_KWH_M3_M
    eff = s["_e_eff"] / s["_e_for_eff"].where(s["_e_for_eff"] > 0)
    out["efficiency"] = 100 * eff
    out["near_bep"] = 100 * s["time_near_bep_duration"] / s["runtime_duration"].where(
        s["runtime_duration"] > 0)
    out["starts"] = s["starts_starts"]
    out["runtime"] = s["runtime_duration"] / 3600.0
    out["coverage"] = g["energy_coverage"].mean()
    return out


def kpi_unit(kpi: str, currency: str) -> str:
    """The unit of a KPI (the registry's currency for money).

    Examples
    --------
    >>> kpi_unit("cost", "EUR"), kpi_unit("energy", "EUR")
    ('EUR', 'kWh')
    """
    return KPI_SPEC.get(kpi, (kpi, ""))[1].format(currency=currency)
