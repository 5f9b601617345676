"""The ``pumplib`` command line (also ``python -m pumplib``).

Every command has ``--help`` (``-h``); ``pumplib --version`` names the
versions. Errors print one clear line (file, line, key, valid choices) on a
line of their own and exit with status 2; ``--json`` output goes to stdout.
Long commands draw progress bars on stderr when it is a terminal, never when
piped or with ``--json`` (one rule: :func:`pumplib.progress.wanted`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from . import progress as _progress
from .commands._options import (
    JsonOpt,
    ProgressOpt,
    StoreOpt,
    cadence_option,
    check_input,
    check_output,
    check_time,
    open_lake,
    time_argument,
    time_option,
    zone_option,
)
from .errors import PumplibError

try:                      # typer vendors its own click (typer._click) …
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:       # … older typer releases use click itself
    from click.exceptions import NoArgsIsHelpError, UsageError


class _Root(typer.core.TyperGroup):
    """The root command: whatever a sub-command raises passes here.

    A pumplib error that a command did not catch still becomes one line and
    exit status 2 (never a traceback); any error first clears the progress
    bars still drawn, so what is printed next starts on a fresh line.
    """

    def invoke(self, ctx):
        with _exit_on_error():
            try:
                return super().invoke(ctx)
            except NoArgsIsHelpError:
                raise                        # a group called bare: its help, as before
            except UsageError as exc:        # a mistyped option, command or value
                _usage_error(exc)


def _usage_error(exc: UsageError) -> None:
    """A usage error of any command as one line: what is wrong, and where help is."""
    where = exc.ctx.command_path if exc.ctx is not None else "pumplib"
    msg = " ".join(str(exc.format_message()).split())
    print_error(f"{where}: {msg} (see `{where} -h`)")
    raise typer.Exit(exc.exit_code)


#: ``-h`` beside ``--help``; sub-commands and groups inherit it from the root
CONTEXT = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="pumplib: trusted features from pump-station sensor data.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  context_settings=CONTEXT, cls=_Root)
lake_app = typer.Typer(help="The raw lake: history, summary, quarantine, check and gc.",
                       no_args_is_help=True)
config_app = typer.Typer(help="Show pumplib settings.", no_args_is_help=True)
sim_app = typer.Typer(help="Pump-station simulator: sample data with known truth.",
                      no_args_is_help=True)
app.add_typer(lake_app, name="lake")
app.add_typer(config_app, name="config")
app.add_typer(sim_app, name="simulate")
quality_app = typer.Typer(help="Data quality: reports, overrides, flags, rules.",
                          no_args_is_help=True)
app.add_typer(quality_app, name="quality")

out = Console()
err = Console(stderr=True)



def version_line() -> str:
    """``pumplib X (python Y, zarr Z, icechunk W)``: what ``pumplib --version`` prints."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return (f"pumplib {__version__} (python {platform.python_version()}, zarr {v('zarr')}, "
            f"icechunk {v('icechunk')})")


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(version_line() + "\n")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the versions of pumplib, Python, zarr and icechunk, and exit.")] = False
          ) -> None:
    """pumplib: trusted features from pump-station sensor data."""


def print_error(message: str) -> None:
    """``error: MESSAGE`` on stderr, on a line of its own (bars cleared first), text as is."""
    from rich.markup import escape

    _progress.close_all()        # a bar still drawn would share the error's line
    err.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


def _fail(exc: Exception) -> None:
    print_error(str(exc))
    raise typer.Exit(2)


@contextlib.contextmanager
def _exit_on_error():
    """A pumplib error becomes one clear line on stderr and exit status 2.

    Any error (also an interrupt or a bug's traceback) first clears the
    progress bars still drawn, so what is printed next starts on a fresh line.
    """
    try:
        yield
    except PumplibError as exc:
        _fail(exc)
    except OSError as exc:
        if exc.filename is None or isinstance(exc, (BrokenPipeError, ConnectionError)):
            _progress.close_all()
            raise
        # a file or folder named on the command line that cannot be read or written
        print_error(f"{exc.filename}: {exc.strerror or type(exc).__name__}")
        raise typer.Exit(2) from None
    except BaseException:
        _progress.close_all()
        raise


def _json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _log(as_json: bool = False):
    """Progress lines on stderr, above any bar drawn (none with ``--json``)."""
    if as_json:
        return lambda m: None
    return _progress.above(lambda m: err.print(m, highlight=False, markup=False,
                                               soft_wrap=True))


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
                                                      help="YAML with extra format declarations "
                                                      "(the project's catalogs/formats/ is read "
                                                      "without it).")] = None,
    as_json: JsonOpt = False,
    progress: ProgressOpt = None,
) -> None:
    """Ingest historian exports into the lake as one commit.

    Rejected rows go to the quarantine with their reason (`pumplib lake
    quarantine`); a file ingested before (same content) is skipped. A file
    that cannot be read is reported as rejected and the others are ingested.
    Exit status: 0 every file read; 1 some file rejected or broken off, the
    others ingested; 2 nothing could be read (one line on stderr).
    """
    from .ingest import ingest as _ingest
    from .ingest import load_formats

    with _exit_on_error():
        if formats_file:
            load_formats(formats_file)
        res = _ingest(paths, format, store=store, registry=registry, cadence=cadence,
                      timezone=timezone,
                      progress=_progress.wanted(progress, as_json=as_json))
    if as_json:
        _json(res.to_dict())
    else:
        _ingest_table(res)
    for f in res.rejected:
        print_error(f.error)
    if res.exit_code:
        raise typer.Exit(res.exit_code)


def _ingest_table(res) -> None:
    """The ingest report in 80 columns: rows, then values, a line a file and a total
    line, each adding up (read = ingested + quarantined + duplicate + empty); notes on
    skipped files and unmapped columns below (a rejected file's reason is its error line).
    """
    from rich.markup import escape

    out.print(f"ingest {res.run_id} → {res.store} (snapshot {res.snapshot})",
              highlight=False, markup=False)
    many = len(res.files) > 1
    for unit, keys in (("rows", ("rows_read", "rows_ingested", "rows_quarantined",
                                 "rows_duplicate", "rows_empty")),
                       ("values", ("values_read", "samples_ingested", "samples_quarantined",
                                   "samples_duplicate", "samples_empty"))):
        t = Table(box=None, pad_edge=False, header_style="bold")
        t.add_column("file", overflow="fold", ratio=1)
        if unit == "rows":
            t.add_column("status")
        for head in (f"{unit} read", "ingested", "quarantined", "duplicate", "empty"):
            t.add_column(head, justify="right", no_wrap=True)
        if unit == "rows":
            t.add_column("cadence", no_wrap=True)
        for f in res.files:
            cells = [f"{getattr(f, k):,}" for k in keys]
            t.add_row(escape(f.path), *([f.status] if unit == "rows" else []), *cells,
                      *([f.cadence or ""] if unit == "rows" else []))
        if many:
            t.add_row("total", *([""] if unit == "rows" else []),
                      *(f"{getattr(res, k):,}" for k in keys),
                      *([""] if unit == "rows" else []), style="bold")
        out.print(t)
    for f in res.files:
        if f.skipped_because:
            out.print(f"{f.path}: skipped, {f.skipped_because}", highlight=False, markup=False)
        if f.unmapped_columns:
            out.print(f"{f.path}: unmapped columns: {f.unmapped_hint}", highlight=False,
                      markup=False)


@app.command("formats")
def formats_cmd(as_json: JsonOpt = False) -> None:
    """List the declared source formats (built in, the project's catalogs/formats/,
    entry points)."""
    from .ingest import formats

    with _exit_on_error():
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
def lake_log(store: StoreOpt = None,
             limit: Annotated[int | None, typer.Option("-n", min=1, help="Newest N commits.")
                              ] = None,
             as_json: JsonOpt = False) -> None:
    """History of the lake, newest first: snapshot, time, message, sources."""
    with _exit_on_error():
        commits = open_lake(store).log(limit)
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
    """Assets, signals, time span and samples per cadence; commits.

    A lake with no data yet (its first ingest failed or was killed) is an empty
    summary, exit status 0.
    """
    with _exit_on_error():
        summ = open_lake(store).summary(snapshot)
    if as_json:
        _json(summ)
        return
    print_summary(summ)


def print_summary(summ: dict) -> None:
    out.print(f"[bold]lake[/] {summ['store']}: {summ['commits']} commits, "
              f"{summ['quarantined_rows']:,} quarantined rows", highlight=False)
    if not summ["cadences"]:
        out.print("no data yet: ingest files first", highlight=False)
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
    from .errors import UnknownNameError, choices_message

    with _exit_on_error():
        check_output(csv, "--csv")
        lake = open_lake(store)
        q = lake.quarantine(run)
        if run is not None and not len(q):
            runs = [c.metadata.get("run_id") for c in lake.log()]
            runs = [r for r in runs if r]
            if run not in runs:
                raise UnknownNameError(choices_message("ingest run", run, runs))
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


# -- quality ---------------------------------------------------------------------------------
CadenceOpt = Annotated[str | None, cadence_option(help="Raw grid, e.g. 1min (default: the "
                                                "only one).")]


@app.command()
def validate(
    store: StoreOpt = None,
    cadence: CadenceOpt = None,
    rules: Annotated[Path | None, typer.Option(help="Rules YAML (default: setting "
                                               "quality.rules).")] = None,
    registry: Annotated[Path | None, typer.Option(help="Asset registry YAML.")] = None,
    start: Annotated[str | None, time_option(help="Only from this time (UTC).")] = None,
    end: Annotated[str | None, time_option(help="Only up to this time (UTC).")] = None,
    new: Annotated[bool, typer.Option("--new", help="Only what was ingested since the last "
                                      "validation.")] = False,
    as_json: JsonOpt = False,
    progress: ProgressOpt = None,
) -> None:
    """Evaluate the quality rules and commit per-sample flags to quality/<cadence>.

    A lake with no data yet is one line, "no data yet: ingest files first" (exit 2).
    """
    from .quality import validate as _validate
    from .quality import validate_new as _validate_new

    show = _progress.wanted(progress, as_json=as_json)
    with _exit_on_error():
        lake = open_lake(store, data=True)
        cads = [cadence] if cadence else lake.cadences()
        results = []
        for cad in cads:
            with _progress.task(f"validate {cad}", show) as tick:
                kw = {"rules": rules, "registry": registry, "progress": tick}
                res = (_validate_new(lake, cad, **kw) if new else
                       _validate(lake, cad, start=start, end=end, **kw))
            results.append(res or {"cadence": cad, "snapshot": None, "note": "nothing new"})
    if as_json:
        _json(results)
        return
    for r in results:
        counts = {k: v for k, v in (r.get("flag_counts") or {}).items() if v}
        out.print(f"[bold]{r['cadence']}[/]: snapshot {r['snapshot']}  "
                  f"{r.get('start')} → {r.get('end')}", highlight=False)
        if counts:
            out.print("  flags: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()),
                      highlight=False)


@quality_app.command("report")
def quality_report(
    store: StoreOpt = None,
    cadence: CadenceOpt = None,
    out_json: Annotated[Path | None, typer.Option("--out", help="Write the JSON report here."
                                                  )] = None,
    html: Annotated[Path | None, typer.Option(help="Write the HTML page here.")] = None,
    timezone: Annotated[str | None, zone_option(help="Zone of the days (default: the "
                                                "utility's).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Scores per asset, signal and day, with reasons; JSON and HTML reports."""
    from .quality import open_quality, report, report_html, scores

    with _exit_on_error():
        check_output(out_json, "--out")
        check_output(html, "--html")
        flags = open_quality(open_lake(store, data=True), cadence)
        rep = report(flags, timezone=timezone, path=out_json)
        if html:
            report_html(flags, html, timezone=timezone)
            err.print(f"wrote {html}")
        table = scores(flags, timezone=timezone)
    if as_json:
        _json(rep)
        return
    worst = table.sort_values("score").head(20)
    t = Table(title=f"lowest quality scores ({len(table):,} asset·signal·days)")
    for c in ["asset", "signal", "day", "score", "reasons"]:
        t.add_column(c, overflow="fold")
    for r in worst.reset_index().itertuples():
        t.add_row(str(r.asset), str(r.signal), str(r.day)[:10], f"{r.score:.0f}",
                  str(r.reasons))
    out.print(t)


@quality_app.command("override")
def quality_override(
    asset: Annotated[str, typer.Argument(help="Asset id.")],
    start: Annotated[str, time_argument(help="Start (UTC unless it has an offset).")],
    end: Annotated[str, time_argument(help="End (inclusive).")],
    status: Annotated[str, typer.Argument(help="bad or good.")],
    reason: Annotated[str, typer.Option(help="Why (kept with the override).")],
    signal: Annotated[str, typer.Option(help="One signal, or * for all.")] = "*",
    store: StoreOpt = None,
    cadence: CadenceOpt = None,
    user: Annotated[str | None, typer.Option(help="Who decided.")] = None,
) -> None:
    """Mark a period as bad or good with a reason (a versioned commit).

    Without --cadence, the one raw grid that holds ASSET is marked.
    """
    from .quality import add_override

    with _exit_on_error():
        rec = add_override(open_lake(store, data=True), asset, start, end,
                           status, reason, signal=signal, cadence=cadence, user=user)
    _json(rec)


@quality_app.command("overrides")
def quality_overrides(store: StoreOpt = None, cadence: CadenceOpt = None,
                      as_json: JsonOpt = False) -> None:
    """List manual overrides."""
    from .quality import overrides

    with _exit_on_error():
        frame = overrides(open_lake(store), cadence)
    if as_json:
        _json(frame.to_dict(orient="records"))
    else:
        out.print(frame.to_string(index=False) if len(frame) else "no overrides")


@quality_app.command("flags")
def quality_flags() -> None:
    """The quality flag bitmask: bit, name, meaning."""
    import pandas as pd

    from .quality import flag_table

    out.print(pd.DataFrame(flag_table()).to_string(index=False), highlight=False)


@quality_app.command("explain")
def quality_explain(value: Annotated[int, typer.Argument(help="A flag value, e.g. 12.")]
                    ) -> None:
    """Say in words what a flag value means."""
    from .quality import explain

    with _exit_on_error():
        out.print(explain(value), highlight=False)


@quality_app.command("check-rules")
def quality_check_rules(path: Annotated[Path, typer.Argument(help="Rules YAML.")]) -> None:
    """Validate a rules file without computing anything."""
    from .quality import Rules

    with _exit_on_error():
        check_input(path, "PATH", "rules file")
        r = Rules.load(path)
    out.print(f"{path}: valid (sha256 {r.sha256[:12]})")


def _default_store() -> str:
    from . import config

    return config.get("store.url")


# -- features -----------------------------------------------------------------------------------
features_app = typer.Typer(help="Feature definitions and golden tables.", no_args_is_help=True)
app.add_typer(features_app, name="features")
CatalogOpt = Annotated[Path | None, typer.Option("--catalog", help="Folder of feature YAML "
                                                 "definitions (default: catalogs/features).")]


@features_app.command("list")
def features_list(catalog: CatalogOpt = None, as_json: JsonOpt = False) -> None:
    """Feature definitions: unit, levels, aggregations, version and hash."""
    from .features import features_frame, load_catalog

    with _exit_on_error():
        frame = features_frame(load_catalog(catalog))
    if as_json:
        _json(frame.reset_index().to_dict(orient="records"))
        return
    t = Table(title=f"{len(frame)} features")
    for c in ("feature", "version", "unit", "levels", "hash"):
        t.add_column(c, overflow="fold")
    for r in frame.reset_index().itertuples():
        t.add_row(r.feature, str(r.version), str(r.unit), r.levels, str(r.hash)[:12])
    out.print(t)


@features_app.command("validate")
def features_validate(catalog: CatalogOpt = None) -> None:
    """Check every definition (inputs, units, cycles, syntax) without computing."""
    from .features import load_catalog

    with _exit_on_error():
        cat = load_catalog(catalog)
    out.print(f"{len(cat)} feature definitions are valid")


@features_app.command("build")
def features_build(
    store: StoreOpt = None,
    catalog: CatalogOpt = None,
    registry: Annotated[Path | None, typer.Option(help="Asset registry YAML.")] = None,
    cadence: CadenceOpt = None,
    levels: Annotated[list[str] | None, typer.Option("--level", help="Levels to build "
                                                     "(repeat; default all six).")] = None,
    feature: Annotated[list[str] | None, typer.Option("--feature", help="Only these features "
                                                      "(repeat).")] = None,
    since: Annotated[str | None, time_option(help="Incremental: raw data changed from this "
                                             "time (UTC) …")] = None,
    until: Annotated[str | None, time_option(help="… up to this time (default: now).")] = None,
    no_quality: Annotated[bool, typer.Option("--no-quality", help="Take every raw sample, not "
                                             "only good ones.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Build even when nothing changed "
                                        "since the last build.")] = False,
    as_json: JsonOpt = False,
    progress: ProgressOpt = None,
) -> None:
    """Build golden tables from the good samples and store them (one commit).

    A build that would write the same tables again (nothing changed since the last
    build) writes nothing and says so.
    """
    from .assets import AssetRegistry
    from .pipeline import build_features

    with _exit_on_error():
        changed = None
        if since:
            import pandas as pd

            changed = (since, until or pd.Timestamp.now(tz="UTC").isoformat())
            t0, t1 = (pd.Timestamp(t) for t in changed)
            t0, t1 = (t.tz_convert(None) if t.tzinfo else t for t in (t0, t1))   # naive UTC
            if t1 <= t0:
                from .errors import ArgumentError

                raise ArgumentError(f"--until {changed[1]!r} is not after --since {since!r}")
        res = build_features(open_lake(store, data=True), AssetRegistry.load(registry),
                             cadence=cadence, catalog=catalog, levels=levels or None,
                             features=feature or None, changed=changed,
                             quality=not no_quality, force=force,
                             log=_log(as_json),
                             progress=_progress.wanted(progress, as_json=as_json))
    if as_json:
        _json(res)
    else:
        if res["snapshot"] is None and res.get("up_to_date"):
            out.print(f"up to date with snapshot {res['up_to_date']}: nothing built "
                      "(--force rebuilds)", highlight=False)
        else:
            out.print(f"built {', '.join(res['levels']) or 'nothing new'} → snapshot "
                      f"{res['snapshot']}", highlight=False)


@features_app.command("history")
def features_history(store: StoreOpt = None,
                     limit: Annotated[int | None, typer.Option("-n", min=1, help="Newest N "
                                                               "builds.")] = None,
                     as_json: JsonOpt = False) -> None:
    """Feature builds, newest first: snapshot, time, message, levels and changed range
    (``--json`` adds the raw snapshot, the number of features and every definition
    hash)."""
    from rich.table import Table

    from .features import history

    with _exit_on_error():
        frame = history(open_lake(store), limit)
    if as_json:
        _json(frame.astype(str).to_dict(orient="records"))
        return
    if not len(frame):
        out.print("no feature builds", highlight=False)
        return
    import pandas as pd

    def short(changed: str) -> str:        # "2026-03-29T22:00:00+00:00 – …" -> "03-29 22:00 – …"
        return " – ".join(f"{pd.Timestamp(x):%m-%d %H:%M}" for x in changed.split(" – ")
                          if x)

    t = Table(title="feature builds, newest first (times UTC)")
    t.add_column("snapshot", no_wrap=True)
    t.add_column("written", no_wrap=True)
    t.add_column("message", overflow="fold")
    t.add_column("levels", overflow="fold")
    t.add_column("changed")
    for r in frame.itertuples(index=False):
        t.add_row(r.snapshot, f"{r.written_at:%m-%d %H:%M}", r.message,
                  r.levels.replace(",", ", "), short(r.changed))
    out.print(t, highlight=False)


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

    with _exit_on_error():
        _json(config.get(key))


# -- simulator ------------------------------------------------------------------------------
@sim_app.command("sample")
def simulate_sample(
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for the sample "
                                                 "(default: setting demo.sample).")] = None,
    registry: Annotated[Path | None, typer.Option(help="Where to write the asset registry "
                                                  "(default: setting assets.registry).")
                        ] = None,
) -> None:
    """Regenerate the bundled sample (byte for byte) and its asset registry."""
    from . import config, simulate

    with _exit_on_error():
        out_dir = Path(config.get("demo.sample", override_with=out_dir))
        registry = Path(config.get("assets.registry", override_with=registry))
        simulate.make_sample(out_dir=out_dir, registry_path=registry)
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
    from unittest import mock

    from . import simulate
    from .errors import ArgumentError

    def one_line(parser, message):     # argparse's usage block → one error line
        raise ArgumentError(f"pumplib simulate export: {message} "
                            "(see `pumplib simulate export -h`)")

    with _exit_on_error(), mock.patch.object(simulate.argparse.ArgumentParser, "error",
                                             one_line):
        args = list(ctx.args)
        for i, arg in enumerate(args):        # the first day, checked before simulating
            if arg.startswith("--start="):
                check_time(arg.partition("=")[2], "--start")
            elif arg == "--start" and i + 1 < len(args):
                check_time(args[i + 1], "--start")
        simulate.main(["export", *args])


@sim_app.command("publish")
def simulate_publish(
    broker: Annotated[str, typer.Option(help="The MQTT broker, mqtt://HOST[:PORT].")],
    speed: Annotated[str, typer.Option(help="Times real time (60: an hour a minute) or 'max'.")
                     ] = "60",
    registry: Annotated[Path | None, typer.Option(help="Asset registry whose stations are "
                                                  "simulated (default: setting "
                                                  "assets.registry).")] = None,
    start: Annotated[str | None, typer.Option(help="Event time of the first sample "
                                              "(default: now).")] = None,
    days: Annotated[int | None, typer.Option(help="Days of event time (default 1).")] = None,
    minutes: Annotated[float | None, typer.Option(help="Minutes of event time, instead of "
                                                  "--days.")] = None,
    freq: Annotated[str, typer.Option(help="Sample interval, 1s to 1h.")] = "1s",
    seed: Annotated[int, typer.Option(help="Seed of the data and faults.")] = 2026,
    faults: Annotated[str, typer.Option(help="'default', 'none' or KIND[=RATE],… (episodes "
                                        "per asset per 30 days).")] = "default",
    stations: Annotated[str | None, typer.Option(help="Comma-separated stations.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish the simulator's stations live to an MQTT broker (QoS 1, payload format v1).

    Prints each injected fault when its first sample is sent, then the totals.
    """
    from . import config
    from .simulate import publish as _publish

    with _exit_on_error():
        if start not in (None, "now"):
            check_time(start, "--start")
        _publish.main(broker, config.get("assets.registry", override_with=registry),
                      speed=speed, start=start, days=days, minutes=minutes, freq=freq, seed=seed,
                      faults=faults, stations=stations, as_json=as_json)


# -- main job ------------------------------------------------------------------------------------
@app.command()
def demo(
    store: StoreOpt = None,
    sample: Annotated[Path | None, typer.Option(help="Sample folder (default: setting "
                                                "demo.sample).")] = None,
    registry: Annotated[Path | None, typer.Option(help="Asset registry (default: setting "
                                                  "assets.registry).")] = None,
    catalogs: Annotated[Path | None, typer.Option(help="Where the Intake catalogs go "
                                                  "(default: setting catalog.dir).")] = None,
    regenerate: Annotated[bool, typer.Option(help="Simulate the sample again first.")] = False,
    serve: Annotated[bool, typer.Option(help="Serve the operations app when done "
                                        "(--no-serve: stop after the pipeline).")] = True,
    host: Annotated[str, typer.Option(help="Interface the app binds (not localhost: "
                                      "token protection on).")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port of the app (default: a free one).")
                    ] = None,
    index: Annotated[bool, typer.Option(help="Bring the Q&A index up to date.")] = True,
    as_json: JsonOpt = False,
    progress: ProgressOpt = None,
) -> None:
    """The main job: the sample through the whole pipeline, then the operations app.

    Simulates the sample if missing, runs the pipeline notebooks (ingest → validate →
    features → forecast → outliers → recommendations; executed copies in runs/),
    writes the Intake catalogs, indexes the Q&A, prints a summary and serves the
    operations app, printing its URL (Ctrl-C stops it).
    """
    from .pipeline import run_main_job

    with _exit_on_error():
        summ = run_main_job(store=store, sample=sample, registry=registry,
                            catalogs_dir=catalogs, regenerate=regenerate, index=index,
                            log=_log(as_json),
                            progress=_progress.wanted(progress, as_json=as_json))
    if as_json:
        _json(summ)
    else:
        print_summary(summ["lake"])
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_colwidth", 70):
            if summ.get("overview"):
                frame = pd.DataFrame(summ["overview"]).rename(columns={"period": "week"})
                out.print("[bold]pumps per week[/] (golden table 1W, weeks from Monday local "
                          "time; coverage = share of good samples)", highlight=False)
                out.print(frame.to_string(index=False), highlight=False, soft_wrap=True)
            if summ.get("recommendations"):
                out.print("[bold]top recommendations[/] (savings per year)", highlight=False)
                out.print(pd.DataFrame(summ["recommendations"]).round(0).to_string(index=False),
                          highlight=False, soft_wrap=True)
        run = summ["run"]
        out.print(f"pipeline run {run['run_id']}: {run['status']} in {run['seconds']:.0f} s, "
                  f"notebooks in {run['run_dir']}; {summ['outlier_events']} outlier events; "
                  f"catalogs {', '.join(summ['catalogs'])}", highlight=False)
    if serve:
        from .serve import serve_ops

        with _exit_on_error():
            serve_ops(store, host=host, port=port, registry=registry, block=True,
                      log=lambda m: out.print(m, highlight=False))


from .commands import register_all  # noqa: E402  (plug-ins extend the groups above)

register_all(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
