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


class PumplibWarning(UserWarning):
    """Root of every pumplib warning: something worked, but not as the caller may think."""


class NoDataWarning(PumplibWarning):
    """A read found no data in the range asked for; the message names the range that has.

    A warning rather than an error, so a loop over windows or a scheduled run
    goes on past an empty window; make it an error where an empty result is a
    bug::

        warnings.simplefilter("error", pumplib.errors.NoDataWarning)
    """


def close_matches(name: str, choices: Iterable[str], n: int = 3,
                  cutoff: float = 0.5) -> list[str]:
    """Return up to ``n`` entries of ``choices`` that look like ``name``, ignoring case.

    Names stay case-sensitive where they are used (``1min`` is not ``1M``); only
    the suggestion ignores case, so a wrong case always suggests the right name.
    ``cutoff`` is difflib's similarity bound (0–1): the default lists loose matches
    for "did you mean"; a higher one keeps only near-certain ones (``pumplib.qa``
    corrects a typo in a question when exactly one word passes 0.8).

    Examples
    --------
    >>> close_matches("1d", ["1min", "15min", "1h", "1D", "1W", "1M"])
    ['1D', '1W', '1M']
    >>> close_matches("north", ["NORTH", "SOUTH", "N-P1"])
    ['NORTH', 'SOUTH']
    >>> close_matches("enrgy", ["energy", "energy_cost"], cutoff=0.8)
    ['energy']
    """
    by_folded: dict[str, list[str]] = {}
    for c in dict.fromkeys(str(c) for c in choices):
        by_folded.setdefault(c.casefold(), []).append(c)
    near = difflib.get_close_matches(str(name).casefold(), list(by_folded), n=n, cutoff=cutoff)
    return [c for key in near for c in by_folded[key]][:n]


def choices_message(kind: str, name: object, choices: Iterable[str], limit: int = 20) -> str:
    """Format ``unknown <kind> 'x'. Did you mean …? Valid choices: …``."""
    choices = sorted({str(c) for c in choices})
    msg = f"unknown {kind} {name!r}."
    near = close_matches(str(name), choices)
    if near:
        msg += f" Did you mean {', '.join(repr(c) for c in near)}?"
    shown = ", ".join(repr(c) for c in choices[:limit])
    more = f" … ({len(choices) - limit} more)" if len(choices) > limit else ""
    msg += f" Valid choices: {shown}{more}" if choices else f" There is no {kind} yet."
    return msg
