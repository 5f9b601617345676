"""pumplib: trusted features from pump-station sensor data.

Heavy optional packages (torch, darts, sentence-transformers, stumpy) are
imported lazily by the modules that need them, never here.
"""

from __future__ import annotations

import importlib
import importlib.util

__version__ = "0.1.0"

from . import config  # noqa: E402  (the module: config.get, config.set)
from .errors import (  # noqa: E402
    ConfigError,
    IngestError,
    LakeError,
    PumplibError,
    SchemaError,
    UnitError,
    UnknownNameError,
)

_LAZY = {"Lake": ("pumplib.lake", "Lake"), "AssetRegistry": ("pumplib.assets", "AssetRegistry"),
         "get_features": ("pumplib.store", "get_features")}


def __getattr__(name: str):
    if name in _LAZY:
        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    if not name.startswith("_") and importlib.util.find_spec(f"pumplib.{name}") is not None:
        return importlib.import_module(f"pumplib.{name}")   # any submodule, imported lazily
    raise AttributeError(f"module 'pumplib' has no attribute {name!r}")


__all__ = ["AssetRegistry", "ConfigError", "IngestError", "Lake", "LakeError", "PumplibError",
           "SchemaError", "UnitError", "UnknownNameError", "__version__", "config"]
