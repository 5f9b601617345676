"""``pumplib live run`` and ``pumplib live status``: the live path from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._options import StoreOpt, cadence_option

live_app = typer.Typer(help="The live path: MQTT samples into the raw lake each minute.",
                       no_args_is_help=True)

LogOpt = Annotated[Path | None, typer.Option("--log", help="Write-ahead log (default: "
                                             "<store>.live.sqlite beside a local store).")]


def register(app) -> None:
    app.add_typer(live_app, name="live")


@live_app.callback(invoke_without_command=True)
def live_main(ctx: typer.Context, demo: Annotated[bool, typer.Option(
        "--demo", help="Run `pumplib live demo` (a broker, the simulator, the live path "
        "and the app).")] = False) -> None:
    """The live path: MQTT samples into the raw lake each minute."""
    if ctx.invoked_subcommand is not None:
        return
    if demo:
        live_demo_cmd(folder=None, registry=None, speed=60.0, hours=6.0, voila=False,
                      port=None, no_browser=False)
    typer.echo(ctx.get_help())


@live_app.command("run")
def live_run_cmd(
    broker: Annotated[str | None, typer.Option(
        "--broker", "-b", help="Broker URL, e.g. mqtt://127.0.0.1:1883 (mqtts:// for TLS); "
        "optional with an OPC UA source.")] = None,
    store: StoreOpt = None,
    registry: Annotated[Path | None, typer.Option(
        help="Asset registry YAML (default: setting assets.registry).")] = None,
    log: LogOpt = None,
    client_id: Annotated[str | None, typer.Option(
        "--client-id", help="MQTT session id (default: live.client_id, else one derived "
        "from the store).")] = None,
    cadence: Annotated[str | None, cadence_option(
        "--cadence", help="Lake grid of the samples (default: live.cadence, else "
        "inferred).")] = None,
    opcua: Annotated[Path | None, typer.Option(
        "--opcua", help="OPC UA source file (node ids → tags; default: setting "
        "live.opcua).")] = None,
    rows: Annotated[bool, typer.Option(
        "--rows", help="After each commit, the minutes' quality flags and golden rows "
        "(pumplib.live.minute).")] = False,
    alerts: Annotated[bool, typer.Option(
        "--alerts", help="After each commit, streaming rule alerts into the action log "
        "(pumplib.live.alerts).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per commit.")] = False,
) -> None:
    """Run in the foreground: log every message before acknowledging it, commit each closed
    minute to the raw lake; SIGTERM or Ctrl-C flushes, commits and exits 0."""
    import logging
    import sys

    from pumplib.cli import _exit_on_error
    from pumplib.live.service import LiveService

    with _exit_on_error():
        hooks = [name for name, on in (("rows", rows), ("alerts", alerts)) if on]
        svc = LiveService(broker, store, registry, log=log, client_id=client_id,
                          cadence=cadence, opcua=opcua, hooks=hooks)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        live_log = logging.getLogger("pumplib.live")
        level = live_log.level
        live_log.addHandler(handler)
        live_log.setLevel(logging.WARNING)
        if not quiet:
            def line(rep):
                sys.stdout.write(f"committed {rep.samples} samples ({rep.quarantined} "
                                 f"quarantined) up to {_iso(rep.stop_ns)} in {rep.seconds:.2f} s:"
                                 f" {rep.snapshot}\n")
                sys.stdout.flush()
            svc.on_report = line
        srcs = " + ".join(str(x) for x in (svc.broker, svc.opcua) if x is not None)
        sys.stdout.write(f"live: {srcs} → {svc.store} (log {svc.log_path}, session "
                         f"{svc.client_id})\n")
        sys.stdout.flush()
        try:
            code = svc.run()
        finally:
            live_log.removeHandler(handler)     # the stream may not outlive the command
            live_log.setLevel(level)
    raise typer.Exit(code)


@live_app.command("status")
def live_status_cmd(
    store: StoreOpt = None,
    log: LogOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Lag, queue depth, log size, the last commit and per-source rates (reads only)."""
    from pumplib.cli import _exit_on_error, _json, out
    from pumplib.live.service import live_status

    with _exit_on_error():
        st = live_status(store, log)
    if json_out:
        _json(st)
        return
    state = ("running" if st["running"] else "not running") + (
        f" (pid {st['pid']}, {'connected to' if st['connected'] else 'not connected to'} "
        f"{st['broker']})" if st["running"] else "")
    out.print(f"live: {state}", highlight=False)
    out.print(f"  log {st['log']}: {st['log_bytes'] / 2**20:.1f} MiB, queue depth "
              f"{st['queue_depth']} samples, {st['rejects_pending']} rejects pending",
              highlight=False)
    lc = st["last_commit"]
    out.print("  last commit: " + ("none" if lc is None else
              f"{lc['snapshot']} ({lc['samples']} samples up to {lc['upto']}, "
              f"{lc['age_s']:.0f} s ago)"), highlight=False)
    out.print("  lag: " + ("-" if st["lag_s"] is None else f"{st['lag_s']:.1f} s of event time "
              "not yet committed"), highlight=False)
    for name, s in st["sources"].items():
        rate = "-" if s["rate_per_s"] is None else f"{s['rate_per_s']:.0f}/s"
        age = "-" if s["last_received_age_s"] is None else f"{s['last_received_age_s']:.0f} s ago"
        out.print(f"  {name}: {s['received']} received ({rate}), {s['duplicates']} redelivered,"
                  f" last {age}, latest {s['latest']}", highlight=False)


def _iso(ns: int) -> str:
    import pandas as pd

    return pd.Timestamp(ns, tz="UTC").isoformat()


@live_app.command("demo")
def live_demo_cmd(
    folder: Annotated[Path | None, typer.Option(
        "--dir", help="Folder of the demo's broker, store and logs (default: runs/live-demo "
        "of the project; made afresh).")] = None,
    registry: Annotated[Path | None, typer.Option(
        help="Asset registry YAML: the stations simulated (default: setting "
        "assets.registry).")] = None,
    speed: Annotated[float, typer.Option(help="Replay speed of the history (times real "
                                         "time).")] = 60.0,
    hours: Annotated[float, typer.Option(help="Hours of history replayed before real "
                                         "time.")] = 6.0,
    voila: Annotated[bool, typer.Option("--voila", help="Serve the Voila dashboard "
                                        "instead of the marimo app.")] = False,
    port: Annotated[int | None, typer.Option(help="The app's port (default: a free "
                                             "one).")] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a "
                                             "browser.")] = False,
) -> None:
    """A broker (mosquitto), the simulator publishing its stations (faults included), the
    live path (--rows --alerts) on a fresh store and the operations app with its live
    view; Ctrl-C or SIGTERM stops them all."""
    from pumplib.cli import _exit_on_error
    from pumplib.live.demo import main

    with _exit_on_error():
        code = main(folder, registry=registry, speed=speed, hours=hours,
                    serve="voila" if voila else "marimo", port=port,
                    open_browser=not no_browser)
    raise typer.Exit(code)
