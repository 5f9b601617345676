"""``pumplib serve ops``: the operations app (marimo) or dashboard (Voila) on a store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

serve_app = typer.Typer(help="Serve the apps: the operations app and dashboard.",
                        no_args_is_help=True)


def register(app) -> None:
    app.add_typer(serve_app, name="serve")


@serve_app.command("ops")
def serve_ops_cmd(
    store: Annotated[str | None, typer.Option("--store", "-s", help="Store URL or folder "
                                              "(default: setting store.url).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default: a free one).")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind; anything but localhost "
                                      "requires a token.")] = "127.0.0.1",
    voila: Annotated[bool, typer.Option("--voila", help="Serve the Voila dashboard "
                                        "instead of the marimo app.")] = False,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a "
                                             "browser.")] = False,
    registry: Annotated[Path | None, typer.Option(help="Asset registry YAML.")] = None,
    actions: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the action log "
                                                "(default: SQLite beside the store).")] = None,
    token: Annotated[str | None, typer.Option(help="Access token to require (default: "
                                              "random when not on localhost).")] = None,
    no_token: Annotated[bool, typer.Option("--no-token", help="Serve without a token even "
                                           "off localhost (only behind your own "
                                           "authentication).")] = False,
) -> None:
    """Start the operations app and print its URL; Ctrl-C stops it.

    A lake with no data yet (its first ingest failed) is one line, "no data yet:
    ingest files first", before any server starts.
    """
    from pumplib.cli import _exit_on_error
    from pumplib.serve import serve_ops

    with _exit_on_error():
        _refuse_an_empty_lake(store)
        serve_ops(store, port=port, host=host, kind="voila" if voila else "marimo",
                  open_browser=not no_browser, block=True, registry=registry, actions=actions,
                  token=token, protect=False if no_token else None)


def _refuse_an_empty_lake(store) -> None:
    """One line if the lake holds no data yet; a missing store is named by ``serve_ops``."""
    from pumplib.errors import LakeError
    from pumplib.lake import Lake

    from ._options import open_lake

    try:
        Lake(store, create=False)
    except LakeError:
        return
    open_lake(store, data=True)
