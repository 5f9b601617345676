"""CLI: ``pumplib recommend``, ``pumplib scenario run|compare``, ``pumplib optimise-schedule``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ._options import JsonOpt, StoreOpt, check_input, check_period, open_lake, time_option

RegistryOpt = Annotated[Path | None, typer.Option("--registry", help="Asset registry YAML "
                                                  "(default: setting assets.registry).")]
StationOpt = Annotated[str, typer.Option("--station", help="Station id, e.g. SOUTH.")]
DaysOpt = Annotated[int, typer.Option("--days", min=1, help="Horizon in days (demand from "
                                      "the simulator, or from the lake with --store).")]
StartOpt = Annotated[str, time_option("--start", help="First day of the horizon (UTC).")]

scenario_app = typer.Typer(help="What-if runs of a station (tariff, demand growth, pump "
                                "replacement, VFD, schedule), side by side.",
                           no_args_is_help=True)


def _json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _errors():
    from pumplib.cli import _exit_on_error

    return _exit_on_error()


def recommend_cmd(store: StoreOpt = None, registry: RegistryOpt = None,
                  kinds: Annotated[list[str] | None, typer.Option(
                      "--kind", help="load_shift | efficient_pump | efficiency_loss | "
                                     "bep_drift | data_quality (repeat; default all).")] = None,
                  start: Annotated[str | None, time_option(help="First time analysed.")] = None,
                  end: Annotated[str | None, time_option(help="Last time analysed.")] = None,
                  write: Annotated[bool, typer.Option("--write/--no-write", help="Store the run "
                                                      "in the lake (one commit).")] = True,
                  as_json: JsonOpt = False) -> None:
    """Ranked actions with evidence, estimated savings (per year) and lineage."""
    from pumplib.assets import AssetRegistry
    from pumplib.recommend import recommend

    with _errors():
        lake = open_lake(store, data=True)
        reg = AssetRegistry.load(registry)
        recs = recommend(lake, reg, kinds=kinds, start=start, end=end, write=write)
    if as_json:
        _json(json.loads(recs.to_json(orient="records", date_format="iso")))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{len(recs)} recommendation(s), savings per year")
    for c in ("rank", "kind", "asset", "saving_kwh", "saving_money", "confidence", "title"):
        t.add_column(c)
    for r in recs.itertuples():
        t.add_row(str(r.rank), r.kind, str(r.asset),
                  "" if r.saving_kwh != r.saving_kwh else f"{r.saving_kwh:,.0f}",
                  "" if r.saving_money != r.saving_money else f"{r.saving_money:,.0f} {r.currency}",
                  r.confidence, r.title)
    Console().print(t)


def _demand(reg, station, days, start, store):
    from pumplib.scenario import demand_from_simulation, station_demand

    if store:
        store = open_lake(store, data=True)
        import pandas as pd

        t0 = pd.Timestamp(start)
        d = station_demand(store, reg, station, start=t0, end=t0 + pd.Timedelta(days=days))
        return d.interpolate(limit_direction="both"), None
    return demand_from_simulation(reg, station, start=start, days=days, control_step="5min")


def _compare(path: Path, station: str, days: int, start: str, store, registry):
    from pumplib.assets import AssetRegistry
    from pumplib.scenario import compare, load_scenarios

    check_input(path, "PATH", "scenarios file")
    reg = AssetRegistry.load(registry)
    demand, _ = _demand(reg, station, days, start, store)
    return compare(load_scenarios(path), reg, station, demand)


def scenario_run(path: Annotated[Path, typer.Argument(help="Scenarios YAML (a list).")],
                 station: StationOpt = "SOUTH", days: DaysOpt = 2,
                 start: StartOpt = "2026-03-10", store: StoreOpt = None,
                 registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """Run the first scenario of a YAML file and print its summary."""
    from pumplib.assets import AssetRegistry
    from pumplib.scenario import load_scenarios, run

    with _errors():
        check_input(path, "PATH", "scenarios file")
        reg = AssetRegistry.load(registry)
        demand, _ = _demand(reg, station, days, start, store)
        res = run(load_scenarios(path)[0], reg, station, demand)
    if as_json:
        _json(res.summary)
        return
    for k, v in res.summary.items():
        typer.echo(f"{k:>20}: {v:.3f}" if isinstance(v, float) else f"{k:>20}: {v}")


def scenario_compare(path: Annotated[Path, typer.Argument(help="Scenarios YAML (a list).")],
                     station: StationOpt = "SOUTH", days: DaysOpt = 2,
                     start: StartOpt = "2026-03-10", store: StoreOpt = None,
                     registry: RegistryOpt = None,
                     plot: Annotated[Path | None, typer.Option(
                         "--plot", help="Also write an HTML page of the tank level and the "
                                        "cost per scenario (hvplot, self-contained).")] = None,
                     as_json: JsonOpt = False) -> None:
    """Run every scenario of a YAML file and print them side by side."""
    with _errors():
        table = _compare(path, station, days, start, store, registry)
        if plot is not None:
            import holoviews as hv
            from bokeh.resources import INLINE

            from pumplib.scenario import plot_compare

            layout = (plot_compare(table, "level") + plot_compare(table, "summary")).cols(1)
            hv.save(layout, str(plot), resources=INLINE)
    if as_json:
        _json(json.loads(table.to_json(orient="index")))
        return
    cols = ["control", "energy_kwh", "cost", "cost_change", "specific_energy",
            "peak_energy_share", "starts", "min_level", "max_level", "within_limits"]
    typer.echo(table[cols].round(3).to_string())


def optimise_cmd(station: StationOpt = "SOUTH", days: DaysOpt = 2,
                 start: StartOpt = "2026-03-10", registry: RegistryOpt = None,
                 period: Annotated[str, typer.Option(help="Scheduling period.")] = "1h",
                 min_run: Annotated[int, typer.Option(help="Minimum run, periods.")] = 2,
                 min_rest: Annotated[int, typer.Option(help="Minimum rest, periods.")] = 1,
                 max_starts: Annotated[int, typer.Option(help="Starts per pump per day.")] = 4,
                 time_limit: Annotated[float, typer.Option(min=0.1, help="Solver seconds.")
                                       ] = 20.0,
                 as_json: JsonOpt = False) -> None:
    """Cheapest schedule (MILP, HiGHS) against the simulator's demand, vs its own schedule."""
    from pumplib.assets import AssetRegistry
    from pumplib.scenario import StationModel, baseline_from_truth, optimise_schedule

    with _errors():
        check_period(period, "--period")
        reg = AssetRegistry.load(registry)
        demand, truth = _demand(reg, station, days, start, None)
        model = StationModel.from_registry(reg, station)
        base = baseline_from_truth(model, truth)
        res = optimise_schedule(model, demand, period=period, level0=base["level0"],
                                end_level=base["final_level"], min_run=min_run,
                                min_rest=min_rest, max_starts_per_day=max_starts,
                                time_limit=time_limit, margin=0.1, mip_rel_gap=0.02)
    out = {"station": station, "baseline_cost": base["cost"],
           "optimised_cost": res.summary["cost"],
           "saving_share": 1.0 - res.summary["cost"] / base["cost"],
           "within_limits": res.summary["within_limits"], "solver": res.status,
           "schedule": {str(k): v for k, v in res.schedule.T.to_dict().items()}}
    if as_json:
        _json(out)
        return
    typer.echo(res.schedule.to_string())
    typer.echo(f"baseline cost {base['cost']:.2f}, optimised {res.summary['cost']:.2f} "
               f"({out['saving_share']:.1%} less), within limits: {out['within_limits']}")


def scenario_network(inp: Annotated[str, typer.Option("--inp", help="An EPANET .inp file or a "
                                                       "network bundled with wntr.")] = "Net3",
                     hours: Annotated[int, typer.Option(help="Simulated hours.")] = 24,
                     demand_factor: Annotated[list[float] | None, typer.Option(
                         "--demand-factor", help="Demand multipliers to compare (repeat).")
                     ] = None,
                     tariff: Annotated[str | None, typer.Option(
                         help="A tariff of the registry (default: flat 0.15 per kWh).")] = None,
                     registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """EPANET network runs (WNTR) costed with efficiency curves and a time-of-use tariff."""
    from pumplib.scenario.network import compare_network

    with _errors():
        from pumplib.errors import ArgumentError

        bad = [f for f in demand_factor or [] if not f > 0]
        if bad:
            raise ArgumentError(f"--demand-factor {bad[0]:g}: expected a multiplier above 0, "
                                "e.g. 1.2 for 20 % more demand")
        common: dict = {"hours": hours}
        if tariff is not None:
            from pumplib.assets import AssetRegistry
            from pumplib.errors import UnknownNameError, choices_message

            reg = AssetRegistry.load(registry)
            if tariff not in reg.tariffs:
                raise UnknownNameError(choices_message("tariff", tariff, reg.tariffs))
            common.update(tariff=reg.tariffs[tariff], timezone=str(reg.utility["timezone"]))
        runs = {f"demand ×{f:g}": {"demand_factor": f} for f in (demand_factor or [1.0])}
        table = compare_network(runs, inp, **common)
    if as_json:
        _json(json.loads(table.to_json(orient="index")))
        return
    typer.echo(table.round(3).to_string())


def register(app) -> None:
    app.command("recommend")(recommend_cmd)
    scenario_app.command("run")(scenario_run)
    scenario_app.command("compare")(scenario_compare)
    scenario_app.command("network")(scenario_network)
    app.add_typer(scenario_app, name="scenario")
    app.command("optimise-schedule")(optimise_cmd)
