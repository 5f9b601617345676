"""Units: one pint registry, historian unit spellings, canonical conversions.

Examples
--------
>>> from pumplib.units import conversion
>>> scale, offset = conversion("L/s", "m3/h")
>>> round(scale, 6), offset
(3.6, 0.0)
>>> conversion("psi", "bar")[0]  # doctest: +ELLIPSIS
0.0689475...
"""

from __future__ import annotations

import functools

import pint

from .errors import UnitError

#: historian spellings → pint expressions
ALIASES: dict[str, str] = {
    "m3/h": "m**3/h", "m³/h": "m**3/h", "m3/hr": "m**3/h", "cmh": "m**3/h",
    "m3/s": "m**3/s", "m³/s": "m**3/s",
    "l/s": "L/s", "L/s": "L/s", "lps": "L/s",
    "l/min": "L/min", "L/min": "L/min", "lpm": "L/min",
    "gpm": "gallon/minute", "mgd": "1e6 gallon/day",
    "bar": "bar", "mbar": "mbar", "psi": "psi", "kpa": "kPa", "kPa": "kPa", "Pa": "Pa",
    "mH2O": "mH2O", "mh2o": "mH2O", "m H2O": "mH2O", "mwc": "mH2O",
    "kW": "kW", "kw": "kW", "W": "W", "MW": "MW", "hp": "hp",
    "A": "A", "V": "V", "kV": "kV",
    "rpm": "rpm", "RPM": "rpm", "Hz": "Hz",
    "mm/s": "mm/s", "in/s": "inch/s", "ips": "inch/s",
    "m/s2": "m/s**2", "m/s²": "m/s**2", "g": "g0", "G": "g0",
    "degC": "degC", "°C": "degC", "C": "degC", "degF": "degF", "°F": "degF", "K": "K",
    "m": "m", "ft": "ft", "cm": "cm", "mm": "mm",
    "%": "percent", "1": "dimensionless", "": "dimensionless", "-": "dimensionless",
}


@functools.lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The shared pint registry, with water-column and gravity units added."""
    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    ureg.define("mH2O = 9806.65 * Pa = m_H2O")
    ureg.define("g0 = 9.80665 * m / s**2")
    return ureg


@functools.lru_cache(maxsize=1024)          # pint units are immutable; errors are not cached
def parse(unit: str) -> pint.Unit:
    """Parse a historian unit string into a pint unit, with a clear error."""
    expr = ALIASES.get(unit, ALIASES.get(str(unit).strip(), str(unit).strip()))
    try:
        return registry().parse_units(expr)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, ValueError,
            AttributeError, TypeError) as exc:
        raise UnitError(
            f"unknown unit {unit!r} ({exc}). Known spellings: {', '.join(sorted(ALIASES))}"
        ) from None


@functools.lru_cache(maxsize=512)
def conversion(source: str, target: str) -> tuple[float, float]:
    """Return ``(scale, offset)`` with ``target = source * scale + offset``.

    Raises :class:`~pumplib.errors.UnitError` when the dimensions differ.
    """
    src, dst = parse(source), parse(target)
    ureg = registry()
    try:
        zero = ureg.Quantity(0.0, src).to(dst).magnitude
        one = ureg.Quantity(1.0, src).to(dst).magnitude
    except pint.errors.DimensionalityError:
        raise UnitError(
            f"cannot convert {source!r} to {target!r}: {src.dimensionality} is not "
            f"{dst.dimensionality}"
        ) from None
    return float(one - zero), float(zero)


def convert(values, source: str, target: str):
    """Convert an array (or scalar) from ``source`` to ``target`` units."""
    scale, offset = conversion(source, target)
    if scale == 1.0 and offset == 0.0:
        return values
    return values * scale + offset
