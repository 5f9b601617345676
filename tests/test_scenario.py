"""Scenarios, the scheduling MILP and WNTR network runs, against the simulator's truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pumplib.errors import ArgumentError, SchemaError, UnknownNameError
from pumplib.scenario import (
    Scenario,
    StationModel,
    baseline_from_truth,
    compare,
    demand_from_simulation,
    load_scenarios,
    optimise_schedule,
    plot_compare,
    station_demand,
)


@pytest.fixture(scope="module")
def south(demo_registry):
    demand, truth = demand_from_simulation(demo_registry, "SOUTH", start="2026-03-10", days=2)
    return StationModel.from_registry(demo_registry, "SOUTH"), demand, truth


def test_model_reproduces_the_simulator_physics(south):
    model, _, truth = south
    tank = truth["S-T1.level"].to_numpy()
    for p in model.pumps:
        on = truth[f"{p.id}.run"].to_numpy().astype(bool)
        speed = truth[f"{p.id}.speed_ratio"].to_numpy()[on]
        q, head, _, power = p.operating_point(model.static_head + tank[on], speed)
        np.testing.assert_allclose(q, truth[f"{p.id}.flow"].to_numpy()[on], rtol=1e-9)
        np.testing.assert_allclose(head, truth[f"{p.id}.head"].to_numpy()[on], rtol=1e-9)
        np.testing.assert_allclose(power, truth[f"{p.id}.power"].to_numpy()[on], rtol=1e-9)


@pytest.mark.parametrize("station, days", [("SOUTH", 2), ("NORTH", 1)])
def test_optimised_schedule_beats_the_simulated_baseline(demo_registry, south, station, days):
    """Same demand, same tank limits, no draining: the MILP schedule costs less, at the
    level-controlled station and at the tariff-controlled one."""
    if station == "SOUTH":
        model, demand, truth = south
    else:
        demand, truth = demand_from_simulation(demo_registry, station, start="2026-03-10",
                                               days=days)
        model = StationModel.from_registry(demo_registry, station)
    base = baseline_from_truth(model, truth)
    res = optimise_schedule(model, demand, period="1h", level0=base["level0"],
                            end_level=base["final_level"], min_run=2, min_rest=2,
                            max_starts_per_day=4, margin=0.1, time_limit=15, mip_rel_gap=0.02)
    s = res.summary
    # replayed minute by minute through the level-dependent physics
    assert s["within_limits"]
    assert model.min_level <= res.replay.level.min() and res.replay.level.max() <= model.max_level
    assert s["final_level"] >= base["final_level"] - 1e-9
    assert s["unmet_m3"] == 0 and s["overflow_m3"] == 0
    assert s["volume_m3"] == pytest.approx(base["volume_m3"], rel=0.05)
    assert s["cost"] < 0.95 * base["cost"]
    # the schedule keeps its run/rest and start limits
    local_day = res.schedule.index.tz_convert(model.timezone).normalize()
    for p in model.pumps:
        on = (res.schedule[p.id] > 0).to_numpy().astype(int)
        starts = np.flatnonzero(np.diff(np.r_[0, on]) == 1)
        stops = np.flatnonzero(np.diff(np.r_[on, 0]) == -1)
        runs = stops - starts + 1
        assert (runs[:-1] >= 2).all()                    # the last run may end at the horizon
        rests = starts[1:] - stops[:-1] - 1
        assert (rests >= 2).all()
        per_day = pd.Series(np.diff(np.r_[0, on]) == 1, index=local_day).groupby(level=0).sum()
        assert per_day.max() <= 4
    # the optimiser moves energy out of the peak: much of it where the control is blind
    # to the tariff, still some where it already follows it
    top = max(float(p["price"]) for p in model.tariff.periods)
    price = model.prices(truth.index)
    base_peak = sum(truth[f"{p.id}.power"] for p in model.pumps)[price >= top].sum() / 60
    factor = 0.5 if model.control == "level" else 1.0
    assert s["peak_energy_share"] * s["energy_kwh"] < factor * base_peak


def test_schedule_options_are_validated(south):
    model, demand, _ = south
    with pytest.raises(ArgumentError, match="min_run"):
        optimise_schedule(model, demand, min_run=0)
    with pytest.raises(ArgumentError, match="margin"):
        optimise_schedule(model, demand, margin=0.6)


def test_what_if_scenarios_side_by_side(demo_registry, south, tmp_path):
    _, demand, _ = south
    p2 = demo_registry.asset("S-P2")
    better = {"curve": {**p2.curve, "bep_efficiency": 0.82}, "rated": dict(p2.rated)}
    flat = {"default_price": 0.15, "periods": []}
    scenarios = [Scenario("today", control="level"),
                 Scenario("tariff control", control="tariff"),
                 Scenario("growth +10 %", control="level", demand_factor=1.1),
                 Scenario("flat tariff", control="level", tariff=flat),
                 Scenario("new S-P2", control="level", replace={"S-P2": better}),
                 Scenario("VFD on S-P2", control="level", vfd=["S-P2"]),
                 Scenario("S-P1 worn 8 %", control="level", wear={"S-P1": 0.08}),
                 Scenario("night only", control="schedule",
                          schedule={"S-P1": ["22:00-07:00"], "S-P2": ["23:00-06:00"]})]
    t = compare(scenarios, demo_registry, "SOUTH", demand, level0=3.0)
    assert list(t.index) == [s.name for s in scenarios]
    night = t.loc["night only"]
    t = t.drop(index="night only")
    # a timetable blind to the tank: it runs dry in the day (the table says so)
    assert not night.within_limits and night.unmet_m3 > 0
    assert t.within_limits.all() and (t.unmet_m3 == 0).all()
    today = t.loc["today"]
    assert t.loc["growth +10 %", "volume_m3"] == pytest.approx(1.1 * today.volume_m3, rel=0.03)
    assert t.loc["growth +10 %", "energy_kwh"] > today.energy_kwh
    assert t.loc["tariff control", "cost"] < today.cost
    assert t.loc["tariff control", "peak_energy_share"] < today.peak_energy_share
    assert t.loc["flat tariff", "cost"] == pytest.approx(0.15 * today.energy_kwh, rel=1e-9)
    assert t.loc["new S-P2", "energy_kwh"] < today.energy_kwh
    assert t.loc["VFD on S-P2", "energy_kwh"] < today.energy_kwh
    # a worn pump costs what its lost efficiency says, on the days it leads
    assert t.loc["S-P1 worn 8 %", "energy_kwh"] > today.energy_kwh
    assert t.loc["today", "cost_change"] == 0.0
    fig = plot_compare(t, "level")
    assert len(fig) == len(scenarios)
    assert plot_compare(t, "summary") is not None
    # YAML specs, validated
    path = tmp_path / "s.yaml"
    path.write_text("scenarios:\n  - {name: a, control: level}\n  - {name: b, "
                    "demand_factor: 1.2}\n")
    assert [s.name for s in load_scenarios(path)] == ["a", "b"]
    with pytest.raises(SchemaError, match="demand_growth"):
        Scenario.from_dict({"name": "x", "demand_growth": 1.1})
    with pytest.raises(ArgumentError, match="'control'.*'smart'"):
        Scenario("x", control="smart")
    with pytest.raises(ArgumentError, match="needs a 'schedule'"):
        Scenario("x", control="schedule")
    with pytest.raises(UnknownNameError, match="S-P9"):
        compare([Scenario("x", vfd=["S-P9"])], demo_registry, "SOUTH", demand)


def test_station_demand_from_the_lake_matches_the_simulator(demo_store, demo_registry):
    measured = station_demand(demo_store, demo_registry, "SOUTH", start="2026-03-17",
                              end="2026-03-19T23:59", freq="1h")
    truth, _ = demand_from_simulation(demo_registry, "SOUTH", start="2026-03-17", days=3,
                                      control_step="1min")
    hourly = truth.resample("1h").mean()
    both = pd.concat([measured, hourly.rename("truth")], axis=1).dropna()
    assert len(both) > 60
    rel = (both.demand - both.truth).abs() / both.truth
    assert rel.median() < 0.05
    assert both.demand.sum() == pytest.approx(both.truth.sum(), rel=0.03)


def test_network_net3_with_tariff_and_efficiency_curves(demo_registry):
    from pumplib.scenario.network import compare_network, example_network, run_network

    assert example_network("Net3").is_file()
    out = run_network("Net3", hours=24)
    assert set(out.summary.index) == {"10", "335"}
    assert (out.summary.energy_kwh > 0).all()
    # flat default price: cost = energy × 0.15
    assert out.summary.cost.sum() == pytest.approx(0.15 * out.summary.energy_kwh.sum())
    # efficiency curves enter the cost: the same curve at a lower BEP efficiency costs
    # exactly the ratio of the efficiencies more energy; the other pump is untouched
    q_max = float(out.pumps.query("pump == '335'").flow_m3h.max())
    good = run_network("Net3", hours=24, efficiency={"335": {"bep_flow": q_max,
                                                             "bep_efficiency": 0.8}})
    worse = run_network("Net3", hours=24, efficiency={"335": {"bep_flow": q_max,
                                                              "bep_efficiency": 0.5}})
    assert worse.summary.loc["335", "energy_kwh"] == pytest.approx(
        good.summary.loc["335", "energy_kwh"] * 0.8 / 0.5, rel=1e-4)
    assert worse.summary.loc["10", "energy_kwh"] == pytest.approx(
        out.summary.loc["10", "energy_kwh"])
    tou = demo_registry.spec["tariffs"]["tou_large"]
    t = compare_network({"base": {}, "growth +10 %": {"demand_factor": 1.1},
                         "time of use": {"tariff": tou, "timezone": "Europe/Amsterdam"}},
                        hours=24)
    assert t.loc["growth +10 %", "volume_m3"] > t.loc["base", "volume_m3"]
    assert t.loc["time of use", "energy_kwh"] == pytest.approx(t.loc["base", "energy_kwh"])
    assert t.loc["time of use", "cost"] != pytest.approx(t.loc["base", "cost"])
    with pytest.raises(UnknownNameError, match="Net9"):
        example_network("Net9")
    with pytest.raises(ArgumentError, match="bep_flow"):
        run_network("Net3", hours=2, efficiency={"10": {"bep_flow": 0.0}})
    # a slower pump (affinity laws on its curve) delivers less head per hour it runs
    slow = run_network("Net3", hours=24, pump_speed={"335": 0.9})
    on = out.pumps.query("pump == '335' and flow_m3h > 0").head_gain_m.max()
    on_slow = slow.pumps.query("pump == '335' and flow_m3h > 0").head_gain_m.max()
    assert on_slow < on
    with pytest.raises(ArgumentError, match="pump_speed"):
        run_network("Net3", hours=2, pump_speed={"335": 2.0})


def test_cli_scenario_compare_and_optimise(tmp_path):
    import json

    from typer.testing import CliRunner

    from pumplib.cli import app

    from .conftest import ROOT

    reg = str(ROOT / "catalogs" / "assets.yaml")
    path = tmp_path / "s.yaml"
    path.write_text("- {name: today, control: level}\n- {name: tariff, control: tariff}\n")
    runner = CliRunner()
    page = tmp_path / "compare.html"
    res = runner.invoke(app, ["scenario", "compare", str(path), "--station", "SOUTH",
                              "--days", "1", "--registry", reg, "--plot", str(page), "--json"])
    assert res.exit_code == 0, res.output
    table = json.loads(res.stdout)
    assert table["tariff"]["cost"] < table["today"]["cost"]
    html = page.read_text()
    assert "<html" in html.lower() and "cdn.bokeh.org" not in html   # self-contained
    res = runner.invoke(app, ["optimise-schedule", "--station", "SOUTH", "--days", "1",
                              "--registry", reg, "--time-limit", "10", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["within_limits"] and out["optimised_cost"] < out["baseline_cost"]
    bad = runner.invoke(app, ["scenario", "run", str(path), "--station", "WEST",
                              "--registry", reg])
    assert bad.exit_code == 2 and "WEST" in bad.output
    res = runner.invoke(app, ["scenario", "network", "--hours", "6", "--tariff", "tou_large",
                              "--registry", reg, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["demand ×1"]["energy_kwh"] > 0


def test_schedule_against_the_stored_demand_forecast(demo_store_copy, demo_registry):
    """pumplib.forecast stores a demand forecast; the MILP schedules the next day on it."""
    from pumplib.forecast import forecast_lake
    from pumplib.scenario import forecast_demand, simulate_station, summarise

    forecast_lake(demo_store_copy, demo_registry, target="demand", level="1h", model="naive")
    fc = forecast_demand(demo_store_copy, "SOUTH")
    assert len(fc) == 24 and (fc > 0).all()
    assert fc.index[0] >= pd.Timestamp("2026-04-05T22:00Z")     # after the data
    model = StationModel.from_registry(demo_registry, "SOUTH")
    res = optimise_schedule(model, fc, level0=3.0, end_level=3.0, min_run=2, margin=0.1,
                            time_limit=15)
    rule = summarise(simulate_station(model, fc, policy="level", level0=3.0, step="1min"),
                     model)
    assert res.summary["within_limits"] and res.summary["final_level"] >= 3.0 - 1e-9
    assert res.summary["cost"] < rule["cost"]
    with pytest.raises(ArgumentError, match="WEST"):
        forecast_demand(demo_store_copy, "WEST")
