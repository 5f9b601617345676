"""pumplib settings (donfig).

Defaults are packaged in ``pumplib/pumplib.yaml``; ``PUMPLIB_…`` environment
variables and ``~/.config/pumplib/*.yaml`` override them.

Examples
--------
>>> from pumplib import config
>>> config.get("lake.chunk_samples")
86400
>>> with config.set({"utility.timezone": "UTC"}):
...     config.get("utility.timezone")
'UTC'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from donfig import Config

from .errors import ConfigError, choices_message

_DEFAULTS_FILE = Path(__file__).with_name("pumplib.yaml")


def _load_defaults() -> dict[str, Any]:
    with open(_DEFAULTS_FILE) as f:
        return yaml.safe_load(f)["pumplib"]


config = Config("pumplib", defaults=[_load_defaults()])

# allowed values for enumerated keys
CHOICES: dict[str, tuple[str, ...]] = {
    "ingest.ambiguous": ("infer", "earliest", "latest", "quarantine"),
    "ingest.nonexistent": ("shift_forward", "quarantine"),
    "lake.codec": ("lz4", "zstd", "lz4hc", "blosclz", "zlib"),
}

_MISSING = object()


def defaults() -> dict[str, Any]:
    """The packaged defaults as a nested dict."""
    return _load_defaults()


def get(key: str, default: Any = _MISSING, override_with: Any = None) -> Any:
    """Read a setting, validated; ``override_with`` wins when not None."""
    if override_with is not None:
        value = override_with
    else:
        try:
            value = config.get(key) if default is _MISSING else config.get(key, default)
        except KeyError:
            raise ConfigError(
                choices_message("configuration key", key, _flat_keys(defaults()))
            ) from None
    return validate(key, value)


def validate(key: str, value: Any) -> Any:
    """Check one value against :data:`CHOICES`; return it unchanged."""
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(
            f"option {key!r} given an invalid value: {value!r}. "
            f"Expected one of {list(CHOICES[key])}"
        )
    return value


def set(*args: Any, **kwargs: Any):  # noqa: A001 - mirrors dask.config.set
    """Temporarily or permanently set values (``with config.set({...}):``)."""
    for key, value in (args[0] if args else {}).items():
        validate(key, value)
    return config.set(*args, **kwargs)


def refresh() -> None:
    """Re-read defaults and ``PUMPLIB_…`` environment variables."""
    config.clear()
    config.update_defaults(_load_defaults())
    config.refresh()


def _flat_keys(d: dict, prefix: str = "") -> list[str]:
    out: list[str] = []
    for k, v in d.items():
        out.append(prefix + k)
        if isinstance(v, dict):
            out.extend(_flat_keys(v, prefix + k + "."))
    return out


def env_overrides() -> dict[str, str]:
    """The ``PUMPLIB_…`` variables in the environment."""
    return {k: v for k, v in os.environ.items() if k.startswith("PUMPLIB_")}
