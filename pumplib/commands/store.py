"""``pumplib catalog …``, ``pumplib lineage …`` and ``pumplib features versions NAME``.

Heavy imports stay inside the command functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._options import JsonOpt, ProgressOpt, StoreOpt, check_output, open_lake, time_option

catalog_app = typer.Typer(help="Intake catalogs of the lake and the features: list, search, "
                               "show, generate.", no_args_is_help=True)

DirOpt = Annotated[Path | None, typer.Option("--dir", help="Folder of the generated catalogs "
                                              "(default: setting catalog.dir).")]
LiveOpt = Annotated[str | None, typer.Option("--store", "-s", help="Read live from this store "
                                             "instead of the generated catalog files.")]
CatalogOpt = Annotated[Path | None, typer.Option("--catalog", help="Folder of feature YAML "
                                                 "definitions (default: catalogs/features).")]


def _frame_out(frame, as_json: bool, title: str, columns: list[str]) -> None:
    from rich.table import Table

    from pumplib.cli import _json, out

    if as_json:
        _json(frame.astype(object).where(frame.notna(), None).to_dict(orient="records"))
        return
    if frame.empty:
        out.print(f"{title}: nothing", highlight=False)
        return
    t = Table(title=title)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in frame[columns].itertuples(index=False):
        t.add_row(*["" if v is None or v != v else str(v) for v in r])
    out.print(t)


@catalog_app.command("list")
def catalog_list(dir: DirOpt = None, store: LiveOpt = None,
                 as_json: JsonOpt = False) -> None:
    """Every catalog entry: features (unit, version, levels) and lake groups."""
    from pumplib import catalog
    from pumplib.cli import _exit_on_error

    with _exit_on_error():
        frame = catalog.entries(dir, store=store)
    _frame_out(frame, as_json, f"{len(frame)} catalog entries",
               ["name", "catalog", "unit", "version", "levels", "tags", "description"])


@catalog_app.command("search")
def catalog_search(query: Annotated[list[str], typer.Argument(help="Words to find.")],
                   dir: DirOpt = None, store: LiveOpt = None,
                   as_json: JsonOpt = False) -> None:
    """Find entries by words in names, descriptions, tags, units and assets."""
    from pumplib import catalog
    from pumplib.cli import _exit_on_error

    with _exit_on_error():
        frame = catalog.search(" ".join(query), dir, store=store)
    _frame_out(frame, as_json, f"{len(frame)} match(es) for {' '.join(query)!r}",
               ["name", "catalog", "matched", "fields", "unit", "description"])


@catalog_app.command("show")
def catalog_show(name: Annotated[str, typer.Argument(help="Entry name (a feature or e.g. "
                                                     "features_1D).")],
                 dir: DirOpt = None, store: LiveOpt = None) -> None:
    """All metadata of one entry (YAML)."""
    import yaml

    from pumplib import catalog
    from pumplib.cli import _exit_on_error, out

    with _exit_on_error():
        meta = catalog.show(name, dir, store=store)
    out.print(yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(),
              highlight=False, markup=False)


@catalog_app.command("generate")
def catalog_generate(store: StoreOpt = None, dir: DirOpt = None,
                     catalog: CatalogOpt = None,
                     no_record: Annotated[bool, typer.Option(
                         "--no-record", help="Do not record definition versions in the lake "
                         "first (leave it untouched).")] = False) -> None:
    """Write catalogs/lake.yaml and catalogs/features.yaml (Intake 2) from the lake."""
    from pumplib import catalog as cat
    from pumplib.cli import _exit_on_error, out

    with _exit_on_error():
        files = cat.generate(store, dir, catalog, record=not no_record)
    for f in files:
        out.print(f"wrote {f}", highlight=False)


def lineage_cmd(
    feature: Annotated[str | None, typer.Argument(help="Feature whose upstream to show.")] = None,
    level: Annotated[str | None, typer.Option("--level", "-l", help="Golden-table level.")]
    = None,
    downstream: Annotated[str | None, typer.Option(
        "--downstream", help="A signal: show what is affected if it was wrong.")] = None,
    asset: Annotated[str | None, typer.Option("--asset", help="Asset of --downstream.")] = None,
    start: Annotated[str | None, time_option("--start", help="Start (UTC) of --downstream.")]
    = None,
    end: Annotated[str | None, time_option("--end", help="End (UTC) of --downstream.")] = None,
    svg: Annotated[Path | None, typer.Option("--svg", help="Also draw the graph here (SVG).")]
    = None,
    png: Annotated[Path | None, typer.Option("--png", help="Also draw the graph here (PNG).")]
    = None,
    openlineage: Annotated[Path | None, typer.Option(
        "--openlineage", help="Write OpenLineage run events (JSON lines) here.")] = None,
    store: StoreOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Lineage of a feature down to the source files, or what a wrong sensor affects."""
    from pumplib import lineage
    from pumplib.cli import _exit_on_error, out
    from pumplib.errors import ArgumentError

    with _exit_on_error():
        for path, option in ((svg, "--svg"), (png, "--png"), (openlineage, "--openlineage")):
            check_output(path, option)
        open_lake(store, data=True)
        cat = None
        if catalog is not None:
            from pumplib.features import load_catalog

            cat = load_catalog(catalog)
        if downstream is not None:
            missing = [n for n, v in (("--asset", asset), ("--start", start), ("--end", end))
                       if v is None]
            if missing:
                raise ArgumentError(f"--downstream needs {', '.join(missing)}")
            imp = lineage.downstream(downstream, asset, start, end, store, catalog=cat)
            out.print(imp.text(), highlight=False, markup=False)
            lg = imp.lineage
        elif feature is not None:
            lg = lineage.upstream(feature, level, store, catalog=cat)
            out.print(lg.text(), highlight=False, markup=False)
        else:
            raise ArgumentError("name a FEATURE, or --downstream SIGNAL --asset A --start S "
                                "--end E")
        if svg is not None:
            lg.to_svg(svg)
            out.print(f"drew {svg}", highlight=False)
        if png is not None:
            lg.to_png(png)
            out.print(f"drew {png}", highlight=False)
        if openlineage is not None:
            events = lg.to_openlineage()
            for e in events:
                lineage.validate_openlineage(e)
            lineage.write_openlineage(events, openlineage)
            out.print(f"wrote {len(events)} OpenLineage run event(s) to {openlineage}",
                      highlight=False)


def features_versions(
    name: Annotated[str, typer.Argument(help="Feature name.")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Versions of a feature definition with a readable diff between them."""
    from pumplib import store as fs
    from pumplib.cli import _exit_on_error, _json, out

    with _exit_on_error():
        v = fs.versions(name, store)
        if as_json:
            _json(v.astype(object).where(v.notna(), None).to_dict(orient="records"))
            return
        text = fs.version_diff(name, store)
    out.print(text, highlight=False, markup=False)
    out.print(v[["version", "hash", "change", "first_build", "last_build"]].to_string(
        index=False), highlight=False, markup=False)


def features_sync(store: StoreOpt = None, catalog: CatalogOpt = None,
                  registry: Annotated[Path | None, typer.Option(help="Asset registry YAML.")]
                  = None,
                  no_rebuild: Annotated[bool, typer.Option("--no-rebuild", help="Only record "
                                                           "the definition versions.")] = False,
                  progress: ProgressOpt = None) -> None:
    """Record definition versions in the lake and rebuild features whose meaning changed."""
    from pumplib import progress as bars
    from pumplib import store as fs
    from pumplib.assets import AssetRegistry
    from pumplib.cli import _exit_on_error, out

    with _exit_on_error():
        reg = AssetRegistry.load(registry)
        with bars.activity("features sync", bars.wanted(progress)):
            res = fs.sync(catalog, store, registry=reg, rebuild=not no_rebuild)
    ch = res["changes"]
    if ch.empty:
        out.print("no definition changed", highlight=False)
    for r in ch.itertuples():
        out.print(f"{r.feature}: v{r.version} #{r.hash} ({r.change})", highlight=False)
    if res["rebuilt"]:
        out.print(f"rebuilt {', '.join(res['rebuilt'])} → snapshot {res['snapshot']}",
                  highlight=False)


def register(app) -> None:
    from pumplib.cli import features_app

    app.add_typer(catalog_app, name="catalog")
    app.command("lineage")(lineage_cmd)
    # `features history` (in cli.py) lists builds; definition versions are `features versions`
    features_app.command("versions")(features_versions)
    features_app.command("sync")(features_sync)
