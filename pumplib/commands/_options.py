"""Options shared by the commands of several modules, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

ProgressOpt = Annotated[bool | None, typer.Option(
    "--progress/--no-progress",
    help="Draw progress bars on stderr (default: only on a terminal, never with --json).")]
