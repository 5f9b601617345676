from __future__ import annotations

import numpy as np
import pytest

from pumplib import UnitError
from pumplib.units import conversion, convert


@pytest.mark.parametrize(("src", "dst", "value", "expect"), [
    ("L/s", "m3/h", 1.0, 3.6),
    ("L/min", "m3/h", 1.0, 0.06),
    ("gpm", "m3/h", 1.0, 0.2271247),
    ("psi", "bar", 14.5037738, 1.0),
    ("kPa", "bar", 100.0, 1.0),
    ("mH2O", "bar", 10.0, 0.980665),
    ("degF", "degC", 212.0, 100.0),
    ("K", "degC", 273.15, 0.0),
    ("g", "m/s2", 1.0, 9.80665),
    ("in/s", "mm/s", 1.0, 25.4),
    ("W", "kW", 1500.0, 1.5),
    ("hp", "kW", 1.0, 0.745699872),
    ("%", "1", 50.0, 0.5),
])
def test_conversions(src, dst, value, expect):
    assert convert(np.array([value]), src, dst)[0] == pytest.approx(expect, rel=1e-6)


def test_incompatible_and_unknown_units():
    with pytest.raises(UnitError, match=r"cannot convert 'bar' to 'm3/h'"):
        conversion("bar", "m3/h")
    with pytest.raises(UnitError, match=r"unknown unit 'furlongs/fortnite'.*Known spellings"):
        conversion("furlongs/fortnite", "m3/h")


def test_units_of_declared_signals():
    """Units a registry may declare (rainfall, air temperature, DMA inflow) and their spellings."""
    from pumplib.signals import same_unit

    assert conversion("in", "mm") == pytest.approx((25.4, 0.0))
    assert conversion("mm/h", "mm/min")[0] == pytest.approx(1 / 60)
    assert conversion("°F", "degC")[1] == pytest.approx(-160 / 9)
    assert same_unit("m3/h", "m³/h") and same_unit("degC", "°C") and same_unit("1", "%") is False
    assert not same_unit("L/s", "m3/h") and not same_unit("mm", "nonsense-unit")
