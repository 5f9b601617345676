"""The ``pumplib`` command line.

Every command has ``--help``. Errors print one clear line (file, line, key,
valid choices) and exit with status 2; ``--json`` output goes to stdout and
progress bars to stderr, so the two never mix.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .errors import PumplibError

app = typer.Typer(help="pumplib: trusted features from pump-station sensor data.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
lake_app = typer.Typer(help="Inspect the raw lake: history, summary, quarantine.",
                       no_args_is_help=True)
config_app = typer.Typer(help="Show pumplib settings.", no_args_is_help=True)
sim_app = typer.Typer(help="Pump-station simulator: sample data with known truth.",
                      no_args_is_help=True)
app.add_typer(lake_app, name="lake")
app.add_typer(config_app, name="config")
app.add_typer(sim_app, name="simulate")

out = Console()
err = Console(stderr=True)

StoreOpt = Annotated[str | None, typer.Option("--store", "-s", help="Store URL or folder "
                                              "(default: setting store.url).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


# -- ingest -----------------------------------------------------------------------
@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    format: Annotated[str, typer.Option("--format", "-f", help="Declared format name "
                                        "(see `pumplib formats`), or auto.")] = "auto",
    store: StoreOpt = None,
    registry: Annotated[Path | None, typer.Option(help="Asset registry YAML "
                                                  "(default: setting assets.registry).")] = None,
    cadence: Annotated[str | None, typer.Option(help="Grid cadence, e.g. 1s, 1min "
                                                "(default: declared or inferred).")] = None,
    timezone: Annotated[str | None, typer.Option(help="Zone of timestamps without offset.")] = None,
    formats_file: Annotated[Path | None, typer.Option("--formats-file",
                                                      help="YAML with extra format declarations."
                                                      )] = None,
    as_json: JsonOpt = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Ingest historian exports into the lake as one commit.

    Rejected rows go to the quarantine with their reason (`pumplib lake
    quarantine`); a file ingested before (same content) is skipped.
    """
    from .ingest import ingest as _ingest
    from .ingest import load_formats

    try:
        if formats_file:
            load_formats(formats_file)
        res = _ingest(paths, format, store=store, registry=registry, cadence=cadence,
                      timezone=timezone, progress=progress and not as_json)
    except PumplibError as exc:
        _fail(exc)
    if as_json:
        _json(res.to_dict())
        return
    t = Table(title=f"ingest {res.run_id} → {res.store} (snapshot {res.snapshot})")
    for col in ("file", "status", "rows read", "samples ingested", "rows quarantined", "cadence"):
        t.add_column(col, justify="right" if col.startswith(("rows", "samples")) else "left")
    for f in res.files:
        t.add_row(f.path, f.status, f"{f.rows_read:,}", f"{f.samples_ingested:,}",
                  f"{f.rows_quarantined:,}", f.cadence or "")
    out.print(t)


@app.command("formats")
def formats_cmd(as_json: JsonOpt = False) -> None:
    """List the declared source formats."""
    from .ingest import formats

    fm = formats()
    if as_json:
        _json({n: {"container": f.container, "layout": f.layout, "description": f.description}
               for n, f in fm.items()})
        return
    t = Table(title="formats")
    for c in ("name", "container", "layout", "description"):
        t.add_column(c)
    for n, f in sorted(fm.items()):
        t.add_row(n, f.container, f.layout, f.description)
    out.print(t)


# -- lake ---------------------------------------------------------------------------
@lake_app.command("log")
def lake_log(store: StoreOpt = None, limit: Annotated[int | None, typer.Option("-n")] = None,
             as_json: JsonOpt = False) -> None:
    """History of the lake, newest first: snapshot, time, message, sources."""
    from .lake import Lake

    try:
        commits = Lake(store, create=False).log(limit)
    except PumplibError as exc:
        _fail(exc)
    if as_json:
        _json([c.as_dict() for c in commits])
        return
    t = Table(title="lake log")
    for c in ("snapshot", "written (UTC)", "message", "sources"):
        t.add_column(c)
    for c in commits:
        srcs = c.metadata.get("sources") or []
        t.add_row(c.snapshot, c.written_at.strftime("%Y-%m-%d %H:%M:%S"), c.message,
                  ", ".join(Path(s["path"]).name for s in srcs[:4]) + (" …" if len(srcs) > 4 else ""))
    out.print(t)


@lake_app.command("summary")
def lake_summary(store: StoreOpt = None,
                 snapshot: Annotated[str | None, typer.Option(help="Time travel: a snapshot id."
                                                              )] = None,
                 as_json: JsonOpt = False) -> None:
    """Assets, signals, time span and samples per cadence; commits."""
    from .lake import Lake

    try:
        summ = Lake(store, create=False).summary(snapshot)
    except PumplibError as exc:
        _fail(exc)
    if as_json:
        _json(summ)
        return
    print_summary(summ)


def print_summary(summ: dict) -> None:
    out.print(f"[bold]lake[/] {summ['store']}: {summ['commits']} commits, "
              f"{summ['quarantined_rows']:,} quarantined rows", highlight=False)
    for cad, s in summ["cadences"].items():
        out.print(f"[bold]{cad}[/]: {s['samples']:,} samples, {s['start']} → {s['end']}",
                  highlight=False)
        out.print(f"  {len(s['assets'])} assets: {', '.join(s['assets'])}", highlight=False)
        out.print(f"  {len(s['signals'])} signals: {', '.join(s['signals'])}", highlight=False)


@lake_app.command("quarantine")
def lake_quarantine(store: StoreOpt = None,
                    run: Annotated[str | None, typer.Option(help="Only this ingest run id.")] = None,
                    limit: Annotated[int, typer.Option("-n", help="Rows to show.")] = 50,
                    csv: Annotated[Path | None, typer.Option(help="Write all rows to a CSV file."
                                                             )] = None,
                    as_json: JsonOpt = False) -> None:
    """Rows rejected by ingests, with file, line, column and reason."""
    from .lake import Lake

    try:
        q = Lake(store, create=False).quarantine(run)
    except PumplibError as exc:
        _fail(exc)
    if csv:
        q.to_csv(csv, index=False)
        err.print(f"wrote {len(q):,} rows to {csv}")
    if as_json:
        _json({"rows": len(q), "shown": q.head(limit).to_dict(orient="records")})
        return
    t = Table(title=f"quarantine: {len(q):,} rows")
    for c in ("source", "line", "column", "raw", "reason"):
        t.add_column(c, overflow="fold")
    for r in q.head(limit).itertuples():
        t.add_row(Path(str(r.source)).name, str(r.line), str(r.column), str(r.raw)[:40],
                  str(r.reason))
    out.print(t)


# -- config ----------------------------------------------------------------------------
@config_app.command("show")
def config_show() -> None:
    """All settings after defaults, files and PUMPLIB_… variables."""
    from . import config

    _json(config.config.config)


@config_app.command("get")
def config_get(key: str) -> None:
    """One setting, e.g. `pumplib config get store.url`."""
    from . import config

    try:
        _json(config.get(key))
    except PumplibError as exc:
        _fail(exc)


# -- simulator ------------------------------------------------------------------------------
@sim_app.command("sample")
def simulate_sample(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the sample.")] = Path(
        "data_samples"),
    registry: Annotated[Path, typer.Option(help="Where to write the asset registry.")] = Path(
        "catalogs/assets.yaml"),
) -> None:
    """Regenerate the bundled sample (byte for byte) and its asset registry."""
    from . import simulate

    try:
        simulate.make_sample(out_dir=out_dir, registry_path=registry)
    except PumplibError as exc:
        _fail(exc)
    err.print(f"sample written to {out_dir} and registry to {registry}")


@sim_app.command("export", context_settings={"allow_extra_args": True,
                                             "ignore_unknown_options": True,
                                             "help_option_names": []})
def simulate_export(ctx: typer.Context) -> None:
    """Simulate and write historian exports (any size, streamed day by day).

    Takes the options of `python -m pumplib.simulate export`; run
    `pumplib simulate export -h` for them, e.g.
    `pumplib simulate export big.parquet --days 7 --freq 1s --n-stations 4`.
    """
    from . import simulate

    try:
        simulate.main(["export", *ctx.args])
    except PumplibError as exc:
        _fail(exc)


# -- main job ------------------------------------------------------------------------------------
@app.command()
def demo(
    store: StoreOpt = None,
    sample: Annotated[Path, typer.Option(help="Sample folder.")] = Path("data_samples"),
    registry: Annotated[Path, typer.Option(help="Asset registry.")] = Path("catalogs/assets.yaml"),
    regenerate: Annotated[bool, typer.Option(help="Simulate the sample again first.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The main job: (re)build the sample, ingest it, summarise the lake."""
    from .pipeline import run_demo

    try:
        summ = run_demo(store=store, sample=sample, registry=registry, regenerate=regenerate,
                        log=(lambda m: err.print(m)) if not as_json else (lambda m: None))
    except PumplibError as exc:
        _fail(exc)
    if as_json:
        _json(summ)
    else:
        print_summary(summ["lake"])


def main() -> None:
    app()


if __name__ == "__main__":
    main()
