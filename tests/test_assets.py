from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from pumplib import SchemaError, UnknownNameError
from pumplib.assets import AssetRegistry

from .conftest import small_registry_dict


def test_lookups(registry):
    assert registry.tag("N.P1.FLOW").asset == "N-P1"
    assert [p.id for p in registry.pumps()] == ["N-P1", "N-P2"]
    assert [a.id for a in registry.station_assets("north")] == ["N-P1", "N-P2", "N-T1"]
    assert registry.to_frame().loc["N-P2", "pump_type"] == "variable_speed"
    with pytest.raises(UnknownNameError, match=r"test-registry: unknown tag 'N.P1.FLW'.*"
                                               r"Did you mean 'N.P1.FLOW'"):
        registry.tag("N.P1.FLW")
    with pytest.raises(UnknownNameError, match="unknown station 'south'"):
        registry.station_assets("south")


def test_pump_curves_follow_affinity_laws(registry):
    p = registry.asset("N-P1")
    assert p.head_curve(0) == pytest.approx(52.0)
    assert p.head_curve(200) == pytest.approx(40.0)               # rated point on the curve
    # affinity: Q ∝ n, H ∝ n²
    assert p.head_curve(100, speed=740) == pytest.approx(p.head_curve(200) / 4)
    q = np.linspace(10, 380, 200)
    eff = p.efficiency_curve(q)
    assert q[np.argmax(eff)] == pytest.approx(190, abs=2)
    assert eff.max() == pytest.approx(0.81, abs=1e-3)
    assert p.efficiency_curve(95, speed=740) == pytest.approx(0.81)


def test_tariff_prices_in_local_time_with_holidays(registry):
    tariff = registry.tariff_of("N-P1")
    t = pd.DatetimeIndex(["2026-03-09 05:59", "2026-03-09 06:00", "2026-03-09 20:00",
                          "2026-04-06 10:00", "2026-03-14 10:00"], tz="UTC")
    # Amsterdam is UTC+1 in March/early April (+2 after 29 March)
    prices = tariff.price(t, "Europe/Amsterdam", registry.holidays)
    assert prices.tolist() == [0.10, 0.30, 0.10, 0.10, 0.10]  # Easter Monday, Saturday off-peak


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda d: d.pop("tariffs"), r"key 'tariffs': is required"),
    (lambda d: d["stations"][0]["assets"][0].update(kind="pmp"),
     r"key 'stations\[0\].assets\[0\].kind': unknown asset kind 'pmp'. Did you mean 'pump'"),
    (lambda d: d["stations"][0]["assets"][0]["signals"].update(flw={"tag": "X", "unit": "L/s"}),
     r"key 'stations\[0\].assets\[0\].signals.flw': unknown signal 'flw'"),
    (lambda d: d["stations"][0]["assets"][0]["signals"]["flow"].update(unit="bar"),
     r"signals.flow.unit': cannot convert 'bar' to 'm3/h'"),
    (lambda d: d["stations"][0]["assets"][1]["signals"]["flow"].update(tag="N.P1.FLOW"),
     r"tag 'N.P1.FLOW' is also used at stations\[0\].assets\[0\].signals.flow"),
    (lambda d: d["stations"][0].update(tariff="cheap"),
     r"unknown tariff 'cheap'. Valid choices: 'tou'"),
    (lambda d: d["utility"].update(timezone="Europe/Amsterdan"),
     r"utility.timezone': unknown time zone 'Europe/Amsterdan'"),
    (lambda d: d["stations"][0]["assets"][0].update(colour="red"),
     r"assets\[0\].colour': unknown key 'colour'"),
])
def test_invalid_registry_names_file_and_key(mutate, match):
    spec = copy.deepcopy(small_registry_dict())
    mutate(spec)
    with pytest.raises(SchemaError, match="assets.yaml: key " + match.removeprefix("key ")
                       if match.startswith("key") else match):
        AssetRegistry.from_dict(spec, source="assets.yaml")


def test_load_from_file(registry_file):
    reg = AssetRegistry.load(registry_file)
    assert reg.source == str(registry_file.resolve())
    assert len(reg.tags) == 8
    with pytest.raises(SchemaError, match="does not exist"):
        AssetRegistry.load(registry_file.parent / "nope.yaml")
