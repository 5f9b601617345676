"""``pumplib lake gc`` and ``pumplib lake check``: the care of a lake.

Heavy imports stay inside the command functions.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ._options import JsonOpt, StoreOpt


def lake_gc(
    store: StoreOpt = None,
    older_than: Annotated[str | None, typer.Option(
        "--older-than", help="Expire snapshots older than this, e.g. 30d, 12h, or none "
        "(default: setting lake.retention). Never the branch tip or a tagged snapshot.")] = None,
    grace: Annotated[str | None, typer.Option(
        "--grace", help="Delete only unreferenced objects older than this, e.g. 1h "
        "(default: setting lake.gc_grace): a running writer's fresh chunks survive.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be expired and "
                                          "deleted; change nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Expire old snapshots and delete orphan chunks (e.g. of killed writers)."""
    from pumplib.cli import _exit_on_error, _json, out
    from pumplib.lake import Lake

    with _exit_on_error():
        rep = Lake(store, create=False).gc(older_than=older_than, grace=grace, dry_run=dry_run)
    if as_json:
        _json(rep.to_dict())
    else:
        out.print(rep.line(), highlight=False, soft_wrap=True)


def lake_check(
    store: StoreOpt = None,
    all_snapshots: Annotated[bool, typer.Option("--all", help="Every snapshot of the history, "
                                                "not only the tip.")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="Decode the metadata and list the "
                                        "chunks; do not read them.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Read every array of the lake; exit 1 with one line per broken array."""
    from pumplib.cli import _exit_on_error, _json, err, out
    from pumplib.lake import Lake

    with _exit_on_error():
        rep = Lake(store, create=False).check(all_snapshots=all_snapshots, quick=quick)
    if as_json:
        _json(rep.to_dict())
    else:
        for line in rep.broken:
            err.print(f"broken: {line}", highlight=False, markup=False, soft_wrap=True)
        out.print(rep.line(), highlight=False, soft_wrap=True)
    if not rep.ok:
        raise typer.Exit(1)


def register(app) -> None:
    """Add ``gc`` and ``check`` to the ``pumplib lake`` group."""
    from pumplib.cli import lake_app

    lake_app.command("gc")(lake_gc)
    lake_app.command("check")(lake_check)
