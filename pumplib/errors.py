"""One error root for pumplib.

Every error pumplib raises derives from :class:`PumplibError` *and* from the
builtin exception that matches it, so callers can catch either::

    try:
        pumplib.ingest.ingest(paths, format="long_csv", store="lake")
    except ValueError:          # or PumplibError, or IngestError
        ...
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PumplibError(Exception):
    """Root of every pumplib error."""


class ArgumentError(PumplibError, ValueError):
    """A function was called with a missing or invalid argument."""


class ConfigError(PumplibError, ValueError):
    """A configuration key or value is invalid."""


class SchemaError(PumplibError, ValueError):
    """A declared file (asset registry, rules, features) breaks its schema."""


class UnknownNameError(PumplibError, KeyError):
    """A name (format, tag, signal, asset, unit…) is not known."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class IngestError(PumplibError, ValueError):
    """A source file cannot be ingested."""


class LakeError(PumplibError, RuntimeError):
    """The raw lake cannot be opened, read or written."""


class ConflictError(LakeError):
    """Another writer committed to the lake first; nothing of this write landed."""


class UnitError(PumplibError, ValueError):
    """A unit is unknown or not convertible to the canonical unit."""


def close_matches(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` entries of ``choices`` that look like ``name``."""
    choices = [str(c) for c in choices]
    return difflib.get_close_matches(str(name), choices, n=n, cutoff=0.5)


def choices_message(kind: str, name: object, choices: Iterable[str], limit: int = 20) -> str:
    """Format ``unknown <kind> 'x'. Did you mean …? Valid choices: …``."""
    choices = sorted({str(c) for c in choices})
    msg = f"unknown {kind} {name!r}."
    near = close_matches(str(name), choices)
    if near:
        msg += f" Did you mean {', '.join(repr(c) for c in near)}?"
    shown = ", ".join(repr(c) for c in choices[:limit])
    more = f" … ({len(choices) - limit} more)" if len(choices) > limit else ""
    msg += f" Valid choices: {shown}{more}"
    return msg
