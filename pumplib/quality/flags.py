"""The quality flag bitmask: one ``uint16`` per sample and signal.

Each bit says why a sample is not trusted. ``0`` means "checked, nothing
found". Bits combine: ``Flag.RANGE | Flag.SPIKE`` is a sample that is both out
of range and a spike. :data:`UNCHECKED` fills cells that no validation run has
reached yet, so a reader never mistakes "not validated" for "good".

=====  ==================  ==========================================================
bit    name                meaning
=====  ==================  ==========================================================
0      MISSING             no value (NaN) where one is expected, and not held
1      GAP                 part of a gap longer than allowed, or a held value beyond
                           its maximum hold (stale)
2      RANGE               outside the physical range of the signal or pump
3      SPIKE               robust outlier (Hampel: far from the local median in MADs)
4      FLATLINE            value stuck longer than allowed while it should move
5      RATE                changed faster than physically possible
6      TIMESTAMP           time stamp doubtful: conflicting duplicates, out of order,
                           future or skewed (from the ingest commit's quarantine)
7      PHYSICS_FLOW_OFF    flow while the pump is off
8      PHYSICS_DRY_RUN     power drawn with (almost) no flow: closed valve or dry run
9      PHYSICS_EFFICIENCY  wire-to-water efficiency above 100 % or far off the curve
10     PHYSICS_HEAD        measured head inconsistent with the pump's H-Q curve
11     SOURCE_BAD          the historian marked the sample bad or uncertain
12     MANUAL_BAD          a person marked the period bad (override)
13     MANUAL_GOOD         a person marked the period good: overrides automatic flags
14     UNCHECKED           no validation run covered this cell (fill value in the lake)
15     NOT_EXPECTED        no value is expected here: the asset does not declare the
                           signal, or the cell lies outside the signal's data span
=====  ==================  ==========================================================

Examples
--------
>>> int(Flag.RANGE | Flag.SPIKE)
12
>>> explain(12)
'RANGE: outside the physical range; SPIKE: robust outlier against the local window'
>>> names(12)
['RANGE', 'SPIKE']
>>> is_good(np.array([0, 4, 4 | 8192, 1 | 8192], dtype="uint16")).tolist()
[True, False, True, False]
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import numpy as np

from ..errors import UnknownNameError, choices_message

DTYPE = np.uint16


class Flag(enum.IntFlag):
    """Quality flag bits (see the module docstring for the table)."""

    MISSING = 1 << 0
    GAP = 1 << 1
    RANGE = 1 << 2
    SPIKE = 1 << 3
    FLATLINE = 1 << 4
    RATE = 1 << 5
    TIMESTAMP = 1 << 6
    PHYSICS_FLOW_OFF = 1 << 7
    PHYSICS_DRY_RUN = 1 << 8
    PHYSICS_EFFICIENCY = 1 << 9
    PHYSICS_HEAD = 1 << 10
    SOURCE_BAD = 1 << 11
    MANUAL_BAD = 1 << 12
    MANUAL_GOOD = 1 << 13
    UNCHECKED = 1 << 14
    NOT_EXPECTED = 1 << 15


#: what each bit means, in words (used by :func:`explain` and reports)
DESCRIPTIONS: dict[Flag, str] = {
    Flag.MISSING: "no value where one is expected",
    Flag.GAP: "inside a gap longer than allowed, or held beyond its maximum hold",
    Flag.RANGE: "outside the physical range",
    Flag.SPIKE: "robust outlier against the local window",
    Flag.FLATLINE: "value stuck longer than allowed",
    Flag.RATE: "changed faster than physically possible",
    Flag.TIMESTAMP: "doubtful time stamp (conflicting duplicate, order, future or skew)",
    Flag.PHYSICS_FLOW_OFF: "flow while the pump is off",
    Flag.PHYSICS_DRY_RUN: "power drawn with almost no flow (closed valve or dry running)",
    Flag.PHYSICS_EFFICIENCY: "wire-to-water efficiency above 100 % or far off the curve",
    Flag.PHYSICS_HEAD: "head inconsistent with the pump curve",
    Flag.SOURCE_BAD: "the historian marked it bad or uncertain",
    Flag.MANUAL_BAD: "marked bad by a person",
    Flag.MANUAL_GOOD: "marked good by a person (overrides automatic flags)",
    Flag.UNCHECKED: "not validated yet",
    Flag.NOT_EXPECTED: "no value expected (signal not declared, or outside its data span)",
}

UNCHECKED = int(Flag.UNCHECKED)
#: bits that make a sample unusable unless MANUAL_GOOD overrides them
NOT_EXPECTED = int(Flag.NOT_EXPECTED)
#: bits MANUAL_GOOD cannot override: a missing, unexpected or unvalidated value stays unusable
ALWAYS_BAD = int(Flag.MISSING | Flag.UNCHECKED | Flag.MANUAL_BAD | Flag.NOT_EXPECTED)
#: bits that make a sample unusable unless MANUAL_GOOD overrides them
AUTOMATIC_BAD = int(sum(f for f in Flag if f != Flag.MANUAL_GOOD and not f & ALWAYS_BAD))


def flag(name: str | int | Flag) -> Flag:
    """A flag from its name (case-insensitive) or value.

    Examples
    --------
    >>> flag("spike") is Flag.SPIKE
    True
    """
    if isinstance(name, Flag):
        return name
    if isinstance(name, int | np.integer):
        return Flag(int(name))
    key = str(name).upper()
    if key not in Flag.__members__:
        raise UnknownNameError(choices_message("quality flag", name, Flag.__members__))
    return Flag[key]


def names(value: int) -> list[str]:
    """Names of the bits set in ``value``, lowest bit first.

    Examples
    --------
    >>> names(0)
    []
    >>> names(Flag.MISSING | Flag.GAP)
    ['MISSING', 'GAP']
    """
    value = int(value)
    return [f.name for f in Flag if value & f]


def explain(value: int) -> str:
    """Say in words what a flag value means.

    Examples
    --------
    >>> explain(0)
    'good: checked, no problem found'
    >>> explain(Flag.PHYSICS_DRY_RUN)
    'PHYSICS_DRY_RUN: power drawn with almost no flow (closed valve or dry running)'
    >>> explain(70000)
    Traceback (most recent call last):
    ...
    pumplib.errors.ArgumentError: flag value 70000 is out of range: expected 0 … 65535 (a uint16 bitmask; `pumplib quality flags` lists the bits)
    """
    value = int(value)
    if not 0 <= value <= 0xFFFF:
        from ..errors import ArgumentError

        raise ArgumentError(f"flag value {value} is out of range: expected 0 … 65535 (a uint16 "
                            "bitmask; `pumplib quality flags` lists the bits)")
    if value == 0:
        return "good: checked, no problem found"
    parts = [f"{f.name}: {DESCRIPTIONS[f]}" for f in Flag if value & f]
    return "; ".join(parts)


def is_good(flags, values=None):
    """True where a sample may be used (works on numpy, dask and xarray).

    A sample is good when none of the automatic bits is set, or when a person
    marked it good (``MANUAL_GOOD``); it is never good when it is missing,
    unvalidated or marked bad. With ``values``, NaN values are never good.
    """
    auto_ok = (flags & AUTOMATIC_BAD) == 0
    manual_ok = (flags & Flag.MANUAL_GOOD) != 0
    ok = (auto_ok | manual_ok) & ((flags & ALWAYS_BAD) == 0)
    if values is not None:
        ok = ok & (values == values)
    return ok


def table() -> list[dict]:
    """The flag table as rows ``{bit, value, name, description}`` (for reports and docs)."""
    return [{"bit": int(f).bit_length() - 1, "value": int(f), "name": f.name,
             "description": DESCRIPTIONS[f]} for f in Flag]


def combine(values: Iterable) -> int:
    """OR of flag names or values.

    Examples
    --------
    >>> combine(["range", "spike"])
    12
    """
    out = 0
    for v in values:
        out |= int(flag(v))
    return out
