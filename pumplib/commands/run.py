"""``pumplib run pipeline|list``, ``pumplib schedule`` and ``pumplib forecast …``.

Heavy packages (papermill, darts, lightgbm) are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._options import JsonOpt, ProgressOpt, StoreOpt, open_lake

run_app = typer.Typer(help="Scheduled runs: the pipeline notebooks, executed with papermill.",
                      no_args_is_help=True)
forecast_app = typer.Typer(help="Forecasts (Darts): back-tests and stored forecasts.",
                           no_args_is_help=True)

RunsOpt = Annotated[Path | None, typer.Option("--runs-dir", help="Folder of run folders "
                                              "(default: <store>/../runs).")]
ParamsOpt = Annotated[list[str] | None, typer.Option(
    "--params", "-p", help="Notebook parameter KEY=VALUE (JSON values parsed); repeatable.")]
RegistryOpt = Annotated[Path | None, typer.Option("--registry", help="Asset registry YAML "
                                                  "(default: setting assets.registry).")]


def register(app) -> None:
    app.add_typer(run_app, name="run")
    app.add_typer(forecast_app, name="forecast")
    app.command("schedule")(schedule)


@run_app.command("pipeline")
def run_pipeline_cmd(
    params: ParamsOpt = None, store: StoreOpt = None, runs_dir: RunsOpt = None,
    resume: Annotated[str | None, typer.Option("--resume", help="Run id to resume from its "
                                               "failed step.")] = None,
    steps: Annotated[list[str] | None, typer.Option("--step", help="Run only this step "
                                                    "(repeatable).")] = None,
    as_json: JsonOpt = False, progress: ProgressOpt = None,
) -> None:
    """Run the pipeline notebooks (ingest → … → recommendations) in order.

    Executed notebooks and a manifest.json go to <runs-dir>/<run_id>/. A failed
    step stops the run with exit status 2, naming the step, cell and error.
    """
    from pumplib import progress as bars
    from pumplib.cli import _exit_on_error, _json, _log, out, print_error
    from pumplib.runner import parse_params, run_pipeline

    with _exit_on_error():
        p = parse_params(params or [])
        with bars.task("pipeline", bars.wanted(progress, as_json=as_json), unit="step") as tick:
            res = run_pipeline(store=store, params=p, runs_dir=runs_dir, resume=resume,
                               steps=steps, log=_log(), progress=tick)
    if as_json:
        _json(res.to_dict())
    else:
        for s in res.steps:
            out.print(f"{s.step:<20} {s.status:<8} "
                      f"{'' if s.seconds is None else f'{s.seconds:7.1f} s'}", highlight=False)
        out.print(f"run {res.run_id}: {res.status} → {res.run_dir}", highlight=False)
    if res.status != "ok":
        print_error(res.error_message())
        raise typer.Exit(2)


@run_app.command("list")
def run_list_cmd(store: StoreOpt = None, runs_dir: RunsOpt = None,
                 as_json: JsonOpt = False) -> None:
    """Pipeline runs, newest first.

    Runs are listed from the runs folder even where the store was never made (a
    first run that failed); with neither a lake nor a run there, one line says so.
    """
    from pumplib.cli import _exit_on_error, _json, out
    from pumplib.errors import ArgumentError
    from pumplib.runner import default_runs_dir, list_runs

    with _exit_on_error():
        if runs_dir is not None and not runs_dir.is_dir():
            raise ArgumentError(f"--runs-dir {str(runs_dir)!r}: no such folder")
        df = list_runs(runs_dir, store=store)
        if df.empty and runs_dir is None and not default_runs_dir(store).is_dir():
            open_lake(store)          # a mistyped store: one line, nothing created
    if as_json:
        _json(df.to_dict(orient="records"))
    elif df.empty:
        out.print("no runs yet")
    else:
        out.print(df.to_string(index=False), highlight=False)


def schedule(
    every: Annotated[str, typer.Option("--every", help="hourly, daily, weekly or a cron "
                                       "expression.")] = "daily",
    params: ParamsOpt = None, store: StoreOpt = None, runs_dir: RunsOpt = None,
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Folder the job runs in "
                                                 "(default: here).")] = None,
) -> None:
    """Print the crontab lines that run the pipeline on a schedule (`crontab -e` them)."""
    from pumplib.cli import _exit_on_error, out
    from pumplib.runner import cron_lines, parse_params

    with _exit_on_error():
        lines = cron_lines(every, store=store, params=parse_params(params or []),
                           runs_dir=runs_dir, workdir=workdir)
    for line in lines:
        out.print(line, highlight=False, soft_wrap=True)


@forecast_app.command("run")
def forecast_run_cmd(
    target: Annotated[str, typer.Option("--target", help="energy, cost, flow, demand, a golden "
                                        "column or a raw signal.")] = "energy",
    level: Annotated[str, typer.Option("--level", help="15min, 1h or 1D.")] = "1h",
    model: Annotated[str, typer.Option("--model", help="naive, theta, ets, lightgbm, "
                                       "nlinear.")] = "lightgbm",
    by: Annotated[str, typer.Option("--by", help="station or asset.")] = "station",
    horizon: Annotated[int | None, typer.Option("--horizon", min=1)] = None,
    skill: Annotated[bool, typer.Option("--skill", help="Also back-test vs the seasonal "
                                        "naive.")] = False,
    store: StoreOpt = None, registry: RegistryOpt = None, as_json: JsonOpt = False,
    progress: ProgressOpt = None,
) -> None:
    """Forecast a target and store it in forecasts/<level> (one commit with lineage)."""
    from pumplib import progress as bars
    from pumplib.cli import _exit_on_error, _json, out

    with _exit_on_error():
        from pumplib.forecast import forecast_lake

        open_lake(store, data=True)
        reg = _registry(registry, by, target)
        with bars.activity(f"forecast {target} {level} ({model})",
                           bars.wanted(progress, as_json=as_json)):
            res = forecast_lake(store, reg, target=target, level=level, model=model, by=by,
                                horizon=horizon, skill=skill)
    if as_json:
        _json({"snapshot": res.snapshot, "lineage": res.lineage,
               "forecast": res.frame.astype({"time": str}).to_dict(orient="records")})
        return
    out.print(res.frame.to_string(index=False, max_rows=40), highlight=False)
    if res.skill is not None:
        out.print(res.skill.round(3).to_string(), highlight=False)
    out.print(f"stored in forecasts/{level} → snapshot {res.snapshot}", highlight=False)


@forecast_app.command("backtest")
def forecast_backtest_cmd(
    target: Annotated[str, typer.Option("--target")] = "energy",
    level: Annotated[str, typer.Option("--level")] = "1h",
    models: Annotated[list[str] | None, typer.Option("--model", help="Repeatable; the "
                                                     "seasonal naive always runs.")] = None,
    by: Annotated[str, typer.Option("--by")] = "station",
    horizon: Annotated[int | None, typer.Option("--horizon", min=1)] = None,
    test_periods: Annotated[int | None, typer.Option("--test-periods", min=1)] = None,
    store: StoreOpt = None, registry: RegistryOpt = None, as_json: JsonOpt = False,
    progress: ProgressOpt = None,
) -> None:
    """Back-test models on the last periods: MASE, relative MAE, sMAPE, interval coverage."""
    from pumplib import progress as bars
    from pumplib.cli import _exit_on_error, _json, out

    with _exit_on_error():
        from pumplib.forecast import backtest, past_covariate_frames, target_frame

        open_lake(store, data=True)
        reg = _registry(registry, by, target)
        with bars.activity(f"back-test {target} {level}", bars.wanted(progress, as_json=as_json)):
            frame = target_frame(store, target, level, by=by, registry=reg)
            pf = past_covariate_frames(store, level, by=by, registry=reg)
            table = backtest(frame, level, models or ["theta", "lightgbm"], registry=reg,
                             horizon=horizon, test_periods=test_periods,
                             past_frames=pf or None)
    if as_json:
        _json(table.reset_index().to_dict(orient="records"))
    else:
        out.print(table.round(3).to_string(), highlight=False)


def _registry(path, by, target):
    """The registry; optional for per-asset raw targets (e.g. BATADAL: calendar only)."""
    from pumplib.assets import AssetRegistry
    from pumplib.errors import SchemaError

    if path is None and by == "asset" and target != "demand":
        try:
            return AssetRegistry.load()
        except SchemaError:   # no registry file: calendar covariates without holidays
            return None
    return AssetRegistry.load(path)
