"""CLI: ``pumplib outliers detect|list|explain`` — matrix-profile outlier events."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ._options import JsonOpt, ProgressOpt, StoreOpt, cadence_option, check_time, time_option

outliers_app = typer.Typer(help="Outlier discovery (Stumpy matrix profile + change scores): "
                                "find events per pump, list them, explain one.",
                           no_args_is_help=True)

RunOpt = Annotated[str | None, typer.Option("--run", help="Outlier run id (default: the "
                                            "latest run).")]


def _json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _records(ev) -> list[dict]:
    return [{k: (v.isoformat() if hasattr(v, "isoformat") and v == v else
                 (None if v is None or v != v else v))
             for k, v in row.items()} for row in ev.to_dict(orient="records")]


def _table(ev, title: str):
    from rich.table import Table

    t = Table(title=title)
    for c in ("event_id", "asset", "start", "end", "signals", "score", "severity"):
        t.add_column(c)
    for r in ev.itertuples(index=False):
        t.add_row(r.event_id, r.asset, f"{r.start:%Y-%m-%d %H:%M}", f"{r.end:%Y-%m-%d %H:%M}",
                  r.signals, f"{r.score:.1f}", r.severity)
    return t


def detect_cmd(
    store: StoreOpt = None,
    assets: Annotated[list[str] | None, typer.Option("--asset", "-a", help="Pump id "
                                                     "(repeat; default: every pump).")] = None,
    signals: Annotated[list[str] | None, typer.Option("--signal", help="Signal to score "
                                                      "(repeat; default: all).")] = None,
    start: Annotated[str | None, time_option(help="First time scanned (UTC).")] = None,
    end: Annotated[str | None, time_option(help="Last time scanned (UTC).")] = None,
    reference: Annotated[str | None, typer.Option(help="Normal period START/END for the "
                                                  "AB-join, e.g. 2026-03-09/2026-03-11 "
                                                  "(default: self-join).")] = None,
    m: Annotated[int, typer.Option("-m", help="Window length in samples.")] = 30,
    method: Annotated[str, typer.Option(help="stump | mstump | none.")] = "stump",
    threshold: Annotated[float, typer.Option(help="Score above which a sample is an "
                                             "outlier.")] = 4.0,
    cadence: Annotated[str, cadence_option(help="Raw grid.")] = "1min",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do not store the events.")
                       ] = False,
    as_json: JsonOpt = False,
    progress: ProgressOpt = None,
) -> None:
    """Find outlier events per pump and store them in the lake (one commit)."""
    from pumplib import progress as bars
    from pumplib.cli import _exit_on_error, _log, out

    show = bars.wanted(progress, as_json=as_json)
    with _exit_on_error():
        from pumplib.errors import ArgumentError
        from pumplib.outliers import detect_lake

        ref = None
        if reference:
            parts = reference.split("/")
            if len(parts) != 2 or not all(parts):
                raise ArgumentError(f"--reference must be START/END, got {reference!r}")
            ref = (check_time(parts[0], "--reference START"),
                   check_time(parts[1], "--reference END"))
        lake = _checked_lake(store, cadence, assets, signals)
        if show:     # the wait explained where a person watches (never before an error)
            _log(as_json)("computing matrix profiles (the first call compiles numba, ~25 s)…")
        with bars.dask_tasks("outliers", show):
            ev = detect_lake(lake, assets=assets or None, signals=signals or None,
                             start=start, end=end, reference=ref, cadence=cadence, m=m,
                             method=method, threshold=threshold, write=not dry_run)
    if as_json:
        _json({"run_id": ev.attrs.get("run_id"), "snapshot": ev.attrs.get("snapshot"),
               "events": _records(ev)})
        return
    out.print(_table(ev, f"{len(ev)} outlier events, run {ev.attrs.get('run_id')}"
                     + (" (not stored)" if dry_run else "")))


def _checked_lake(store, cadence: str, assets, signals):
    """The lake, once its cadence, assets and signals are known to be there (one line if not)."""
    from pumplib.errors import UnknownNameError, choices_message

    from ._options import open_lake

    lake = open_lake(store, data=True)
    raw = lake.open_raw(cadence)
    have = [str(a) for a in raw.asset.values]
    for a in assets or []:
        if a not in have:
            raise UnknownNameError(choices_message("asset", a, have))
    sigs = [str(v) for v in raw.data_vars if not str(v).endswith("_sq")]
    for s in signals or []:
        if s not in sigs:
            raise UnknownNameError(choices_message("signal", s, sigs))
    return lake


def list_cmd(
    store: StoreOpt = None, run: RunOpt = None,
    asset: Annotated[str | None, typer.Option("--asset", "-a", help="Only this pump.")] = None,
    severity: Annotated[str | None, typer.Option(help="Only low | medium | high.")] = None,
    runs: Annotated[bool, typer.Option("--runs", help="List the stored runs instead.")
                    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List stored outlier events (latest run by default), or the runs."""
    from pumplib.cli import _exit_on_error, out

    with _exit_on_error():
        from pumplib.errors import UnknownNameError, choices_message
        from pumplib.outliers import SEVERITIES, events
        from pumplib.outliers import runs as list_runs

        from ._options import open_lake

        store = open_lake(store)
        if runs:
            r = list_runs(store)
            if as_json:
                _json(_records(r))
            else:
                out.print(r.to_string(index=False) if len(r) else "no outlier runs stored",
                          highlight=False)
            return
        if severity is not None and severity not in SEVERITIES:
            raise UnknownNameError(choices_message("severity", severity, SEVERITIES))
        ev = events(store, run)
        if run is not None and not len(ev):
            known = list_runs(store)["run_id"].tolist() if len(list_runs(store)) else []
            if run not in known:
                raise UnknownNameError(choices_message("outlier run", run, known) if known else
                                       f"unknown outlier run {run!r}: no outlier runs stored "
                                       "yet (`pumplib outliers detect` stores them)")
        if asset:
            if asset not in set(ev["asset"]):
                known = _assets(store)
                if asset not in known:
                    raise UnknownNameError(choices_message("asset", asset, known))
            ev = ev[ev["asset"] == asset]
        if severity:
            ev = ev[ev["severity"] == severity]
    if as_json:
        _json(_records(ev))
        return
    rid = ev["run_id"].iloc[0] if len(ev) else run
    out.print(_table(ev, f"{len(ev)} outlier events (run {rid})"))


def _assets(lake) -> list[str]:
    """Every asset of the lake's raw grids."""
    from ._options import lake_cadences

    return sorted({str(a) for cad in lake_cadences(lake) for a in lake.open_raw(cad).asset.values})


def explain_cmd(
    event_id: Annotated[str, typer.Argument(help="Event id, e.g. OUT-1a2b3c4d5e.")],
    store: StoreOpt = None, run: RunOpt = None, as_json: JsonOpt = False,
) -> None:
    """Explain one event: what moved, how much, and the nearest normal motif."""
    from pumplib.cli import _exit_on_error, out

    with _exit_on_error():
        from pumplib.errors import UnknownNameError, choices_message
        from pumplib.outliers import events

        from ._options import open_lake

        ev = events(open_lake(store), run)
        if not len(ev):
            raise UnknownNameError(f"unknown event {event_id!r}: no outlier events stored yet "
                                   "(`pumplib outliers detect` finds and stores them)")
        hit = ev[ev["event_id"] == event_id]
        if not len(hit):
            raise UnknownNameError(choices_message("event", event_id, ev["event_id"]))
        rec = _records(hit)[0]
    if as_json:
        _json(rec)
        return
    for k in ("event_id", "asset", "start", "end", "signals", "score", "severity",
              "nearest_normal", "run_id"):
        out.print(f"{k:>15}: {rec.get(k)}", highlight=False)
    out.print(f"{'explanation':>15}: {rec['explanation']}", highlight=False, soft_wrap=True)


def register(app) -> None:
    outliers_app.command("detect")(detect_cmd)
    outliers_app.command("list")(list_cmd)
    outliers_app.command("explain")(explain_cmd)
    app.add_typer(outliers_app, name="outliers")
