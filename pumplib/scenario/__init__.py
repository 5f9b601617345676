"""Scenario modelling: what-if runs of a station over a horizon, side by side.

A :class:`Scenario` changes the station (tariff, demand growth, a replaced
pump, a VFD retrofit, worn or repaired pumps) and its control (``level``,
``tariff`` or an ``optimised`` schedule from the MILP of
:mod:`pumplib.scenario.schedule_milp`); :func:`run` plays it over a demand
series through the station physics (:mod:`pumplib.scenario.model`) and
:func:`compare` puts several runs side by side (a table; :func:`plot_compare`
draws them with hvplot). Network-level what-ifs on EPANET networks live in
:mod:`pumplib.scenario.network` (WNTR).

Examples
--------
>>> from pumplib.assets import AssetRegistry
>>> from pumplib.simulate import make_registry
>>> reg = AssetRegistry.from_dict(make_registry())
>>> demand, _ = demand_from_simulation(reg, "SOUTH", days=1, control_step="15min")
>>> table = compare([Scenario("today", control="level"),
...                  Scenario("tariff control", control="tariff"),
...                  Scenario("growth +10 %", control="level", demand_factor=1.1)],
...                 reg, "SOUTH", demand)
>>> bool(table.loc["growth +10 %", "energy_kwh"] > table.loc["today", "energy_kwh"])
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..assets import AssetRegistry
from ..errors import ArgumentError, SchemaError, choices_message
from .model import (
    PumpModel,
    StationModel,
    baseline_from_truth,
    demand_from_simulation,
    pump_table,
    simulate_station,
    summarise,
    tariff_from_spec,
)
from .schedule_milp import ScheduleError, ScheduleResult, optimise_schedule

__all__ = ["CONTROLS", "PumpModel", "Scenario", "ScenarioResult", "ScheduleError",
           "ScheduleResult", "StationModel", "baseline_from_truth", "compare",
           "demand_from_simulation", "forecast_demand", "load_scenarios", "optimise_schedule",
           "plot_compare", "pump_table", "run", "simulate_station", "station_demand",
           "summarise", "tariff_from_spec", "timetable"]

CONTROLS = ("level", "tariff", "optimised", "schedule")
_KEYS = {"name", "control", "demand_factor", "tariff", "replace", "vfd", "wear",
         "schedule_options", "schedule", "description"}


@dataclass
class Scenario:
    """One what-if.

    Attributes
    ----------
    name : str
    control : {"level", "tariff", "optimised", "schedule"} or None
        How pumps are switched; ``None`` uses the station's registry ``control``;
        ``schedule`` runs the pumps in the fixed local-time windows of ``schedule``.
    demand_factor : float
        Demand growth (1.1 = +10 %).
    tariff : mapping, optional
        A registry-style tariff (``default_price``, ``periods``) replacing the station's.
    replace : mapping, optional
        ``{pump_id: {"curve": {...}, "rated": {...}}}``: a new pump on the same main.
    vfd : sequence of str
        Pumps given a variable-frequency drive.
    wear : mapping, optional
        ``{pump_id: efficiency_loss}`` (0.08 = 8 % worse), e.g. to price a repair.
    schedule_options : mapping
        Keyword arguments of :func:`optimise_schedule` for ``control="optimised"``.
    schedule : mapping, optional
        ``{pump_id: ["22:00-06:00", …]}``: local-time windows a pump runs at full
        speed (``control="schedule"``); a changed timetable, whatever the tank does.
    """

    name: str
    control: str | None = None
    demand_factor: float = 1.0
    tariff: Mapping | None = None
    replace: Mapping[str, Mapping] = field(default_factory=dict)
    vfd: Sequence[str] = ()
    wear: Mapping[str, float] = field(default_factory=dict)
    schedule_options: Mapping[str, Any] = field(default_factory=dict)
    schedule: Mapping[str, Sequence[str]] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self):
        if self.control is not None and self.control not in CONTROLS:
            raise ArgumentError(f"scenario {self.name!r}: option 'control' given an invalid "
                                f"value: {self.control!r}. Expected one of {list(CONTROLS)}")
        if self.control == "schedule" and not self.schedule:
            raise ArgumentError(f"scenario {self.name!r}: control 'schedule' needs a "
                                "'schedule' of local-time windows per pump")
        if float(self.demand_factor) <= 0:
            raise ArgumentError(f"scenario {self.name!r}: option 'demand_factor' given an "
                                f"invalid value: {self.demand_factor!r}. Expected > 0")

    @classmethod
    def from_dict(cls, spec: Mapping) -> Scenario:
        for k in spec:
            if k not in _KEYS:
                raise SchemaError(f"scenario {spec.get('name', '?')!r}: "
                                  + choices_message("key", k, _KEYS))
        if "name" not in spec:
            raise SchemaError("a scenario needs a 'name'")
        return cls(**dict(spec))

    def to_dict(self) -> dict:
        return asdict(self)

    def apply(self, model: StationModel) -> StationModel:
        """The station as this scenario changes it."""
        m = model
        if self.tariff is not None:
            m = m.with_tariff(tariff_from_spec(self.tariff, f"{self.name} tariff",
                                               model.tariff.currency))
        for pid, spec in (self.replace or {}).items():
            m = m.replace_pump(pid, spec.get("curve", {}), spec.get("rated", {}),
                               spec.get("motor_efficiency"))
        for pid in self.vfd or ():
            m = m.with_vfd(pid)
        for pid, loss in (self.wear or {}).items():
            m = m.with_wear(pid, loss)
        return m


def load_scenarios(path: str | os.PathLike) -> list[Scenario]:
    """Scenarios from a YAML file: a list of mappings (or ``{scenarios: [...]}``)."""
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if isinstance(data, Mapping):
        data = data.get("scenarios")
    if not isinstance(data, list):
        raise SchemaError(f"{path}: expected a list of scenarios (or a 'scenarios:' key)")
    return [Scenario.from_dict(d) for d in data]


@dataclass
class ScenarioResult:
    scenario: Scenario
    series: pd.DataFrame
    summary: dict
    schedule: pd.DataFrame | None = None


def run(scenario: Scenario, registry: AssetRegistry, station: str, demand: pd.Series, *,
        level0: float | None = None, step: str = "5min") -> ScenarioResult:
    """Play ``scenario`` over ``demand`` (m³/h, UTC index) at ``station``."""
    base = StationModel.from_registry(registry, station)
    model = scenario.apply(base)
    d = demand * float(scenario.demand_factor)
    control = scenario.control or base.control
    schedule = None
    if control == "optimised":
        opts = {"level0": level0, **dict(scenario.schedule_options)}
        res = optimise_schedule(model, d, replay_step=step, **opts)
        series, schedule = res.replay, res.schedule
    elif control == "schedule":
        schedule = timetable(model, scenario.schedule, d.index, step)
        series = simulate_station(model, d, policy="schedule", schedule=schedule,
                                  level0=level0, step=step)
    else:
        series = simulate_station(model, d, policy=control, level0=level0, step=step)
    summary = summarise(series, model)
    summary.update(control=control, currency=model.tariff.currency)
    return ScenarioResult(scenario=scenario, series=series, summary=summary, schedule=schedule)


def timetable(model: StationModel, windows: Mapping[str, Sequence[str]],
              index: pd.DatetimeIndex, step: str = "5min") -> pd.DataFrame:
    """Speed ratio per pump (1 inside its ``"HH:MM-HH:MM"`` local-time windows, else 0)."""
    idx = pd.DatetimeIndex(index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx
    times = pd.date_range(idx[0], idx[-1] + (idx[1] - idx[0]), freq=step, inclusive="left")
    local = times.tz_convert(model.timezone)
    minutes = np.asarray(local.hour * 60 + local.minute)
    out = pd.DataFrame(0.0, index=times, columns=[p.id for p in model.pumps])
    for pid, spans in windows.items():
        model.pump(pid)
        for span in spans:
            try:
                a, b = (int(x.split(":")[0]) * 60 + int(x.split(":")[1])
                        for x in str(span).split("-"))
            except ValueError:
                raise ArgumentError(f"schedule window {span!r} of {pid}: expected "
                                    "'HH:MM-HH:MM'") from None
            inside = (minutes >= a) & (minutes < b) if a <= b else (minutes >= a) | (minutes < b)
            out.loc[inside, pid] = 1.0
    return out


def compare(scenarios: Sequence[Scenario], registry: AssetRegistry, station: str,
            demand: pd.Series, *, level0: float | None = None,
            step: str = "5min") -> pd.DataFrame:
    """Run every scenario and return one row each, the first being the reference.

    Returns
    -------
    pandas.DataFrame
        Indexed by scenario name: ``control, energy_kwh, cost, volume_m3,
        specific_energy, peak_energy_share, starts, min_level, max_level,
        final_level, overflow_m3, unmet_m3, within_limits, currency`` and
        ``cost_change``/``energy_change`` against the first scenario.
        ``attrs['results']`` holds the :class:`ScenarioResult` objects (series for plots).
    """
    if not scenarios:
        raise ArgumentError("compare() needs at least one scenario")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ArgumentError(f"scenario names must be unique, got {names}")
    results = [run(s, registry, station, demand, level0=level0, step=step) for s in scenarios]
    df = pd.DataFrame([r.summary for r in results], index=pd.Index(names, name="scenario"))
    ref = df.iloc[0]
    for c in ("cost", "energy_kwh"):
        df[f"{c.split('_')[0]}_change"] = df[c] / ref[c] - 1.0 if ref[c] else np.nan
    df.attrs["results"] = results
    return df


def plot_compare(table: pd.DataFrame, what: str = "level"):
    """hvplot overlay of a quantity over time for each scenario of :func:`compare`.

    ``what`` is a column of the run series (``level``, ``power``, ``cost``, ``inflow`` …);
    ``"summary"`` gives a bar chart of cost per scenario.
    """
    import hvplot.pandas  # noqa: F401

    results = table.attrs.get("results")
    if not results:
        raise ArgumentError("plot_compare() needs the table returned by compare()")
    if what == "summary":
        return table.reset_index().hvplot.bar(x="scenario", y="cost", title="cost per scenario")
    cols = results[0].series.columns
    if what not in cols:
        raise ArgumentError(choices_message("series", what, cols))
    wide = pd.DataFrame({r.scenario.name: r.series[what] for r in results})
    wide.index = wide.index.tz_convert(None)
    return wide.hvplot.line(title=f"{what} by scenario", ylabel=what)


def station_demand(lake, registry: AssetRegistry, station: str, *, start=None, end=None,
                   freq: str = "15min") -> pd.Series:
    """Station demand (m³/h) measured in the lake: pumped inflow less the tank's rise.

    Good samples only (quality flags); periods missing flow or level are NaN.
    """
    from ..lake import Lake
    from ..quality import good

    lk = lake if isinstance(lake, Lake) else Lake(lake, create=False)
    assets = registry.station_assets(station)
    pumps = [a.id for a in assets if a.kind == "pump"]
    tank = next((a for a in assets if a.kind == "tank" and a.tank), None)
    if tank is None:
        raise SchemaError(f"station {station!r} has no tank with an area")
    raw = lk.open_raw("1min")[["flow", "level"]]
    ds = raw.sel(asset=[*pumps, tank.id], time=slice(start, end))
    g = good(ds).resample(time=freq).mean()
    inflow = g.flow.sel(asset=pumps).sum("asset", min_count=len(pumps)).to_pandas()
    level = g.level.sel(asset=tank.id).to_pandas()
    step_h = pd.Timedelta(freq) / pd.Timedelta("1h")
    rise = level.shift(-1) - level
    demand = inflow - rise * float(tank.tank["area"]) / step_h
    demand.index = pd.DatetimeIndex(demand.index).tz_localize("UTC")
    return demand.rename("demand")


def forecast_demand(lake, station: str, *, level: str = "1h", column: str | None = None,
                    snapshot: str | None = None) -> pd.Series:
    """A station's stored demand forecast (``pumplib.forecast``), m³/h on a UTC index.

    ``column`` defaults to ``demand_mean`` (else the median quantile ``demand_q50``);
    the forecasts come from ``pumplib.forecast.forecast_lake(lake, target="demand")``.
    Feed it to :func:`optimise_schedule` to schedule against the forecast.
    """
    from ..forecast import open_forecasts

    ds = open_forecasts(lake, level, snapshot=snapshot)
    names = [c for c in ((column,) if column else ("demand_mean", "demand_q50"))
             if c in ds.data_vars]
    if not names:
        raise ArgumentError(choices_message("forecast column", column or "demand_mean",
                                            list(ds.data_vars)))
    if station not in ds.asset.values:
        raise ArgumentError(choices_message("forecast series", station,
                                            [str(a) for a in ds.asset.values]))
    s = ds[names[0]].sel(asset=station).to_pandas().astype(float)
    s.index = pd.DatetimeIndex(s.index).tz_localize("UTC")
    return s.dropna().rename("demand")

