"""Command plug-ins of the ``pumplib`` CLI, one module per area.

Each module here defines ``register(app)`` and adds its typer commands or
sub-apps to the main app (``pumplib.cli.app``); it may also extend an
existing group, e.g. ``from pumplib.cli import features_app``. Modules are
registered in name order when :mod:`pumplib.cli` is imported, so the main
CLI file never has to change for a new area. Keep module-level imports
light: heavy packages (darts, torch, stumpy, sentence-transformers) are
imported inside the command functions.
"""

from __future__ import annotations

import importlib
import pkgutil


def register_all(app) -> None:
    """Import every module of this package and call its ``register(app)``."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        reg = getattr(mod, "register", None)
        if reg is None:
            raise AttributeError(f"pumplib.commands.{info.name} defines no register(app)")
        reg(app)
