"""Tests of pumplib.features: the safe expression language, units, YAML definitions
and their validation, the built-in catalog, and golden tables built from raw data."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from pumplib.errors import PumplibError, SchemaError, UnknownNameError
from pumplib.features import (
    LEVELS,
    blocks,
    build,
    catalog_from_dicts,
    compile_expression,
    evaluate_features,
    features_frame,
    incremental,
    load_catalog,
    materialize,
    parse,
    tuning,
    write_tables,
)
from pumplib.features import tables as table_io
from pumplib.features.definitions import builtin_dir
from pumplib.features.evaluate import FeatureEvaluator

from .naive import naive_aggregate

TZ = "Europe/Amsterdam"
UNITS = {"flow": "m3/h", "discharge_pressure": "bar", "suction_pressure": "bar", "power": "kW",
         "run_state": "1", "speed": "rpm", "bearing_temperature": "degC"}


def feat(**kw):
    base = {"name": "f", "version": 1, "unit": "1", "inputs": ["run_state"],
            "expression": "run_state", "aggregations": ["mean"]}
    base.update(kw)
    return base


# -- expression safety ----------------------------------------------------------------------
@pytest.mark.parametrize(("text", "message"), [
    ("flow.__class__", "attribute access is not allowed: 'flow.__class__'"),
    ("().__class__.__bases__", "attribute access is not allowed"),
    ("__import__('os').system('true')", "calling anything but a registered function"),
    ("__import__('os')", "names starting with '_' are not allowed"),
    ("__builtins__", "names starting with '_' are not allowed"),
    ("lambda: flow", "lambda expressions are not allowed"),
    ("import os", "Statements such as import or assignments are not allowed"),
    ("flow = 3", "not a valid expression"),
    ("open('/etc/passwd')", "unknown function 'open'. Valid choices: 'abs'"),
    ("getattr(flow, 'x')", "unknown function 'getattr'"),
    ("power.sum()", "calling anything but a registered function is not allowed"),
    ("flow[0]", "subscripts are not allowed"),
    ("[x for x in flow]", "comprehensions are not allowed"),
    ("flow if run_state else 0", "if-else expressions (use where()) are not allowed"),
    ("'text'", "constant of type str is not allowed"),
    ("clip(flow, 0)", "clip() takes 3 argument(s)"),
    ("clip(flow, lo=0, hi=1)", "keyword arguments are not allowed"),
    ("rolling_mean(flow, window='1h')", "keyword arguments are not allowed"),
    ("rolling_mean(flow, 15)", "must be a quoted string"),
    ("rolling_mean(flow, 'soon')", "'soon' is not a duration"),
    ("flow ** power", "a non-constant exponent is not allowed"),
    ("flow // 2", "operator FloorDiv is not allowed"),
    ("flow is None", "comparison Is is not allowed"),
    ("rated.__dict__", "attribute access is not allowed"),
    ("rated.powr", "unknown asset attribute 'rated.powr'. Did you mean 'rated.power'"),
    ("(flow := 1)", "assignments are not allowed"),
])
def test_unsafe_or_unknown_syntax_is_refused(text, message):
    with pytest.raises(SchemaError) as info:
        parse(text, source="x.yaml", key="expression")
    assert str(info.value).startswith("x.yaml: key 'expression': ")
    assert message in str(info.value)


def test_the_evaluator_is_our_own_walker():
    from pathlib import Path

    import pumplib.features.expr as E

    source = Path(E.__file__).read_text()
    assert not re.search(r"\b(eval|exec)\s*\(", source)
    assert "compile(" not in source.replace("compile_expression(", "")


@pytest.mark.parametrize(("text", "unit", "target"), [
    ("power / flow", "kWh/m³", "kWh/m3"),
    ("flow * (discharge_pressure - suction_pressure)", None, "kW"),
    ("q(1000, 'kg/m**3') * q(9.80665, 'm/s**2') * flow * q(10, 'm')", None, "kW"),
    ("discharge_pressure - q(10, 'mH2O')", "bar", "bar"),
    ("run_state > 0.5 and flow > 10 or not power > 3", "1", "1"),
    ("(run_state > 0.5) & ~(flow > 3) | (power > 1)", "1", "1"),
    ("integral(power)", "kWh", "kWh"),
    ("rolling_mean(flow, '15min') / rated.flow", "1", "1"),
    ("abs(flow / (curve.bep_flow * speed / rated.speed) - 1) <= 0.1", "1", "1"),
    ("power * tariff.price", None, "EUR/h"),
    ("sqrt(flow ** 2)", "m³/h", "L/s"),
])
def test_units_are_inferred_before_any_compute(text, unit, target):
    c = compile_expression(text, UNITS)
    if unit is not None:
        assert c.unit_text == unit
    c.factor_to(target)                # convertible, or SchemaError


@pytest.mark.parametrize(("text", "message"), [
    ("flow + discharge_pressure",
     "cannot add 'flow' [m³/h] and 'discharge_pressure' [bar]"),
    ("power - flow", "cannot subtract 'power' [kW] and 'flow' [m³/h]"),
    ("flow > discharge_pressure", "cannot compare 'flow' [m³/h] and 'discharge_pressure' [bar]"),
    ("minimum(flow, power)", "cannot minimum() with"),
    ("where(run_state > 0.5, flow, power)", "cannot where() with"),
    ("flow and run_state > 0.5", "'flow' [m³/h] is used as a truth value"),
    ("bearing_temperature * flow", "offset units"),
    ("q(1, 'furlongz')", "q(): unknown unit 'furlongz'"),
    ("flux / 2", "unknown input 'flux'. Did you mean 'flow'?"),
])
def test_unit_and_name_errors_name_file_key_and_units(text, message):
    with pytest.raises(SchemaError) as info:
        compile_expression(text, UNITS, source="f.yaml", key="expression")
    assert str(info.value).startswith("f.yaml: key 'expression': ")
    assert message in str(info.value)


def test_evaluation_is_lazy_converts_units_and_propagates_missing_values():
    import dask.array as da

    raw = {"flow": [[100.0, 200.0, np.nan, 0.0]], "power": [[10.0, 20.0, 5.0, 5.0]],
           "discharge_pressure": [[1.0, 1.0, 1.0, 1.0]], "run_state": [[1.0, 1.0, 0.0, np.nan]]}
    env = {k: xr.DataArray(da.from_array(np.array(v), chunks=(1, 2)), dims=("asset", "time"))
           for k, v in raw.items()}
    c = compile_expression("power / flow", UNITS)
    out = c.evaluate(env, 60, to="Wh/m3")
    assert isinstance(out.data, da.Array)
    np.testing.assert_allclose(out.values, [[100.0, 100.0, np.nan, np.nan]])   # 5/0 → NaN
    c = compile_expression("discharge_pressure - q(1, 'mH2O')", UNITS)
    np.testing.assert_allclose(c.evaluate(env, 60).values[0, 0], 1.0 - 0.0980665)
    c = compile_expression("run_state > 0.5 and flow > 150", UNITS)
    np.testing.assert_array_equal(c.evaluate(env, 60).values, [[0.0, 1.0, np.nan, np.nan]])
    c = compile_expression("where(run_state > 0.5, flow, 0)", UNITS)
    np.testing.assert_array_equal(c.evaluate(env, 60).values, [[100.0, 200.0, 0.0, np.nan]])
    c = compile_expression("integral(power)", UNITS)
    np.testing.assert_allclose(c.evaluate(env, 60).values, [[10 / 60, 30 / 60, 35 / 60, 40 / 60]])
    c = compile_expression("lag(power, '2min') + diff(power) * 0 + rolling_max(power, '2min')",
                           UNITS)
    # lag 2 min [nan, nan, 10, 20] + 0 + trailing 2-min max [10, 20, 20, 5]
    np.testing.assert_array_equal(c.evaluate(env, 60).values, [[np.nan, np.nan, 30.0, 25.0]])


# -- definitions ------------------------------------------------------------------------------
def test_builtin_catalog_loads_with_physics_units():
    cat = load_catalog(builtin_dir())
    want = {"head", "hydraulic_power", "wire_to_water_efficiency", "specific_energy",
            "normalised_specific_energy", "specific_energy_vs_floor", "bep_flow_ratio",
            "time_near_bep", "starts", "runtime", "energy", "energy_cost"}
    assert want <= set(cat)
    order = list(cat)
    assert order.index("head") < order.index("hydraulic_power") < \
        order.index("wire_to_water_efficiency")
    # rho·g·Q·H in kg/m³ · m/s² · m³/h · m = kg·m²/(h·s²) → kW: 1 / 3.6e6
    assert cat["hydraulic_power"].compiled.factor_to("kW")[0] == pytest.approx(1 / 3.6e6)
    assert cat["starts"].interpolation == "step"
    assert cat["wire_to_water_efficiency"].aggregations["1D"] == ("mean", "median", "min", "max")
    frame = features_frame(cat)
    assert frame.loc["energy_cost", "hash"] == cat["energy_cost"].hash


@pytest.mark.parametrize(("spec", "key", "message"), [
    (feat(inputs=["flwo"]), "inputs[0]", "unknown input 'flwo'. Did you mean 'flow'?"),
    (feat(expression="flow", inputs=["run_state"]), "expression",
     "name 'flow' is used but not listed in inputs"),
    (feat(unit="kW", inputs=["flow"], expression="flow"), "expression",
     "has the unit 'm³/h'"),
    (feat(expression="speling(run_state)"), "expression", "unknown function 'speling'"),
    (feat(aggregations=["meen"]), "aggregations[0]",
     "unknown aggregation 'meen'. Did you mean 'mean'"),
    (feat(levels=["1d"]), "levels", "unknown level '1d'."),
    (feat(aggregations={"1D": ["mean"], "2D": ["mean"]}), "aggregations.2D", "unknown level"),
    (feat(aggregations={"1W": ["median"]}), "aggregations.1W[0]",
     "'median' is not mergeable and is computed from raw samples only up to level '1D'"),
    (feat(condition="flow", inputs=["run_state", "flow"]), "condition",
     "'flow' has the unit 'm³/h'; a condition must be a truth value"),
    (feat(expression="__import__('os')"), "expression", "names starting with '_'"),
    (feat(colour="red"), "colour", "unknown key 'colour'"),
    (feat(name="Flow Rate"), "name", "not a lower-case identifier"),
    (feat(name="flow"), "name", "is a canonical signal"),
    (feat(name="rolling_mean"), "name", "is a function or attribute namespace"),
    (feat(min_coverage=1.5), "min_coverage", "expected a number in [0, 1]"),
    (feat(unit="furlongs_per_blob"), "unit", "unknown unit 'furlongs_per_blob'"),
    ({k: v for k, v in feat().items() if k != "expression"}, "expression", "is required"),
])
def test_definition_errors_name_file_key_and_choices(tmp_path, spec, key, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SchemaError) as info:
        load_catalog(path)
    assert str(info.value).startswith(f"{path}: key {key!r}: "), str(info.value)
    assert message in str(info.value)


def test_dependency_cycles_are_found(tmp_path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(feat(name="a", inputs=["b"],
                                                         expression="b")))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(feat(name="b", inputs=["c"],
                                                         expression="c")))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(feat(name="c", inputs=["a", "run_state"],
                                                         expression="a * run_state")))
    with pytest.raises(SchemaError, match=r"a.yaml: key 'inputs': dependency cycle between "
                                          r"features: a -> b -> c -> a"):
        load_catalog(tmp_path)
    with pytest.raises(SchemaError, match="cannot use itself"):
        catalog_from_dicts([feat(name="a", inputs=["a"], expression="a")])
    (tmp_path / "d.yaml").write_text(yaml.safe_dump({"features": [feat(name="c")]}))
    with pytest.raises(SchemaError, match=r"d.yaml: key 'features\[0\].name': feature 'c' is "
                                          r"also defined in"):
        load_catalog(tmp_path)


def test_hash_covers_meaning_not_description():
    base = feat(inputs=["power", "flow"], unit="kWh/m3", expression="power / flow")
    h = catalog_from_dicts([base])["f"].hash
    same = dict(base, description="new words", owner="someone", tags=["x"], version=2,
                expression="(power)/flow")
    assert catalog_from_dicts([same])["f"].hash == h
    for change in ({"expression": "power / flow * 2"}, {"condition": "flow > 1"},
                   {"aggregations": ["mean", "max"]}, {"unit": "Wh/m3"},
                   {"inputs": ["power", "flow", "run_state"]}):
        assert catalog_from_dicts([dict(base, **change)])["f"].hash != h, change
    # a change upstream changes the hash downstream
    up = feat(name="up", inputs=["power"], unit="kW", expression="power")
    down = feat(name="down", inputs=["up"], unit="kW", expression="up")
    h1 = catalog_from_dicts([up, down])["down"].hash
    h2 = catalog_from_dicts([dict(up, expression="power * 2"), down])["down"].hash
    assert h1 != h2


# -- golden tables ------------------------------------------------------------------------------
def _raw(start="2026-03-27T00:00Z", days=3, step="1min", chunks=None):
    """Two pumps of the test registry: running 06:00–22:00 UTC at a fixed duty point."""
    t = pd.date_range(start.replace("Z", ""), periods=int(days * 1440), freq=step)
    hours = t.hour.values
    run = ((hours >= 6) & (hours < 22)).astype(float)
    n = len(t)
    data = {
        "run_state": np.stack([run, run]),
        "flow": np.stack([180.0 * run, 150.0 * run]),
        "discharge_pressure": np.stack([np.full(n, 4.0), np.full(n, 4.5)]),
        "suction_pressure": np.stack([np.full(n, 0.5), np.full(n, 0.5)]),
        "power": np.stack([25.0 * run + 0.5, 30.0 * run + 0.5]),
        "speed": np.stack([1480.0 * run, 1332.0 * run]),
    }
    data["flow"][0, 100:160] = np.nan                   # a gap
    data["power"][1, 2000:2200] = np.nan                # a quality-masked period
    ds = xr.Dataset({k: (("asset", "time"), v) for k, v in data.items()},
                    coords={"asset": ["N-P1", "N-P2"], "time": t})
    return ds.chunk({"time": chunks}) if chunks else ds


@pytest.fixture(scope="module")
def tables():
    from pumplib.assets import AssetRegistry

    from .conftest import small_registry_dict

    reg = AssetRegistry.from_dict(small_registry_dict())
    return reg, build(_raw(), load_catalog(builtin_dir()), registry=reg, timezone=TZ)


def test_golden_tables_have_physics_values(tables):
    reg, out = tables
    assert set(out) == set(LEVELS)
    h = out["1h"]
    # 10:00 UTC on 27 Mar: running; P_hyd = Q·Δp = 0.05 m³/s · 3.5e5 Pa = 17.5 kW
    row = h.sel(time="2026-03-27T10:00")
    np.testing.assert_allclose(row.hydraulic_power_mean.values, [17.5, 150 / 3600 * 4e5 / 1e3])
    np.testing.assert_allclose(row.head_mean.values, [3.5e5 / 9806.65, 4e5 / 9806.65])
    np.testing.assert_allclose(row.wire_to_water_efficiency_mean.values[0], 17.5 / 25.5)
    np.testing.assert_allclose(row.specific_energy_mean.values, [25.5 / 180, 30.5 / 150])
    np.testing.assert_allclose(row.specific_energy_vs_floor_mean.values[0],
                               25.5 / 180 / (3.5e5 / 9806.65) / 0.00272)
    # affinity: pump 2 at 90 % speed has its BEP at 0.9 × 190 m³/h
    np.testing.assert_allclose(row.bep_flow_ratio_mean.values, [180 / 190, 150 / (0.9 * 190)])
    np.testing.assert_allclose(row.time_near_bep_duration.values, [3600.0, 0.0])
    # night: not running → conditioned features have no value, but full coverage
    night = h.sel(time="2026-03-27T04:00")
    assert np.isnan(night.specific_energy_mean.values).all()
    np.testing.assert_array_equal(night.specific_energy_coverage.values, [1.0, 1.0])
    assert h.energy_integral.attrs["units"] == "kWh"
    assert h.energy_cost_integral.attrs["units"] == "EUR"
    assert h.runtime_duration.attrs["units"] == "s"
    assert out["1D"].attrs["definition_hashes"]["energy"] == load_catalog(builtin_dir())[
        "energy"].hash


def test_golden_starts_runtime_energy_cost_per_local_day(tables):
    reg, out = tables
    ds = _raw()
    d = out["1D"]
    days = pd.DatetimeIndex(d.time.values).tz_localize("UTC").tz_convert(TZ)
    assert [x.strftime("%m-%d") for x in days] == ["03-27", "03-28", "03-29", "03-30"]
    # starts at 06:00 UTC each day; 27 Mar data start at 01:00 local, so no start before
    np.testing.assert_array_equal(d.starts_starts.values[0], [1.0, 1.0, 1.0, np.nan])
    times = ds.time.values.astype("datetime64[s]").astype(np.int64).tolist()
    for i, asset in enumerate(["N-P1", "N-P2"]):
        power = ds.power.values[i]
        price = reg.tariff_of(asset).price(ds.time.values, TZ, reg.holidays)
        cost = naive_aggregate(times, (power * price).tolist(), 60, "1D", TZ)
        energy = naive_aggregate(times, power.tolist(), 60, "1D", TZ)
        runtime = naive_aggregate(times, ds.run_state.values[i].tolist(), 60, "1D", TZ)
        cov = np.array(energy["coverage"])
        want_cost = np.where(cov >= 0.8, cost["integral_step"], np.nan)
        np.testing.assert_allclose(d.energy_cost_integral.values[i], want_cost, rtol=1e-12)
        np.testing.assert_allclose(d.energy_integral.values[i],
                                   np.where(cov >= 0.8, energy["integral_step"], np.nan),
                                   rtol=1e-12)
        np.testing.assert_allclose(d.energy_coverage.values[i], cov, rtol=1e-15)
        rcov = np.array(runtime["coverage"])
        np.testing.assert_array_equal(d.runtime_duration.values[i],
                                      np.where(rcov >= 0.8, runtime["duration"], np.nan))


def test_coverage_masks_values_below_min_coverage(tables):
    reg, out = tables
    h = out["1h"]
    # pump 1 flow gap 01:40–02:40 UTC on 27 Mar: 40 good samples in hour 01:00, 20 in 02:00
    for hour, cov in (("01:00", 40 / 60), ("02:00", 20 / 60), ("03:00", 1.0)):
        row = h.sel(time=f"2026-03-27T{hour}", asset="N-P1")
        assert float(row.hydraulic_power_coverage) == pytest.approx(cov)
        assert np.isnan(float(row.hydraulic_power_mean)) == (cov < 0.8)
        # a feature of a feature inherits the gap
        assert float(row.wire_to_water_efficiency_coverage) == pytest.approx(cov)
    # pump 2's masked power: energy has no value at the hours it covers
    masked = h.energy_coverage.sel(asset="N-P2").values
    assert (masked == 0).sum() == 2
    assert np.isnan(h.energy_integral.sel(asset="N-P2").values[masked < 0.8]).all()


def test_business_user_drops_a_yaml_and_reads_all_levels(tmp_path):
    folder = tmp_path / "features"
    shutil.copytree(builtin_dir(), folder)
    (folder / "pressure_ratio.yaml").write_text(
        "name: pressure_ratio\nversion: 1\nowner: ops\nunit: '1'\n"
        "inputs: [discharge_pressure, suction_pressure]\n"
        "expression: discharge_pressure / suction_pressure\n"
        "aggregations:\n"
        "  1min: [mean, max, count]\n  15min: [mean, max, count]\n"
        "  1h: [mean, max, count, quantile=0.9]\n  1D: [mean, max, count, quantile=0.9]\n"
        "  1W: [mean, max, count]\n  1M: [mean, max, count]\n"
        "min_coverage: 0.0\n")
    out = build(_raw(days=2), str(folder), features=["pressure_ratio"], timezone=TZ)
    assert set(out) == set(LEVELS)
    for lv in LEVELS:
        mean = out[lv].pressure_ratio_mean.values[0]
        np.testing.assert_allclose(mean, 8.0)
        assert {"pressure_ratio_max", "pressure_ratio_count", "pressure_ratio_coverage"} <= \
            set(out[lv].data_vars)
    np.testing.assert_array_equal(out["1M"].pressure_ratio_count.values, [[2880.0], [2880.0]])
    np.testing.assert_allclose(out["1D"].pressure_ratio_quantile_0_9.values, [[8.0] * 3, [9.0] * 3])
    assert "pressure_ratio_quantile_0_9" not in out["1W"]


def test_dask_build_is_lazy_and_equals_numpy_build(tables):
    import dask
    import dask.array as da

    reg, want = tables
    lazy = build(_raw(chunks=1000), load_catalog(builtin_dir()), registry=reg, timezone=TZ)
    assert isinstance(lazy["1M"].energy_cost_integral.data, da.Array)
    (got,) = dask.compute(lazy)
    done = materialize(lazy)
    for lv in LEVELS:
        xr.testing.assert_identical(got[lv], want[lv])
        xr.testing.assert_identical(done[lv], want[lv])


def test_build_from_a_lake_and_unknown_names(tmp_path):
    from pumplib.lake import Lake

    ds = _raw(days=1)
    lake = Lake(str(tmp_path / "store"), create=True)
    t0 = int(ds.time.values[0].astype("datetime64[s]").astype(np.int64))
    with lake.transaction("seed", {"kind": "test"}) as tx:
        for var in ("power", "run_state"):
            tx.write_block("1min", ["N-P1", "N-P2"], var, t0, ds[var].values)
    out = build(lake, load_catalog(builtin_dir()), ["1h", "1D"], features=["energy", "runtime"],
                cadence="1min", timezone=TZ)
    np.testing.assert_allclose(out["1D"].energy_integral.values[:, 0],
                               [25.0 * 16 + 0.5 * 23, 30.0 * 16 + 0.5 * 23], rtol=1e-12)
    assert out["1D"].attrs["raw_snapshot"] == lake.tip()
    raw_tip = lake.tip()
    snap = write_tables(lake, out)
    commit = lake.log(1)[0]
    assert commit.snapshot == snap and commit.metadata["raw_snapshot"] == raw_tip
    assert commit.metadata["definition_hashes"] == {
        n: load_catalog(builtin_dir())[n].hash for n in ("energy", "runtime")}
    assert commit.metadata["levels"] == ["1h", "1D"] and "pumplib_version" in commit.metadata
    for lv in ("1h", "1D"):
        back = lake.open_group(f"features/{lv}")
        xr.testing.assert_allclose(back.reset_coords(drop=True),
                                   out[lv].reset_coords(drop=True), rtol=0, atol=0)
        assert (back.time_end.values == out[lv].time_end.values).all()
        assert back.energy_integral.attrs["units"] == "kWh"
    assert lake.open_raw("1min").power.shape == (2, 1440)    # the raw lake is untouched
    # a new definition writes only its own columns next to the others
    extra = catalog_from_dicts([feat(name="peak_power", inputs=["power"], unit="kW",
                                     expression="power", aggregations=["max"])])
    write_tables(lake, build(lake, extra, ["1h", "1D"], cadence="1min", timezone=TZ))
    back = lake.open_group("features/1D")
    assert {"energy_integral", "runtime_duration", "peak_power_max"} <= set(back.data_vars)
    assert set(back.attrs["definition_hashes"]) == {"energy", "runtime", "peak_power"}
    np.testing.assert_array_equal(back.peak_power_max.values[:, 0], [25.5, 30.5])
    # other periods (here: half a day) rewrite the level and say what was dropped
    write_tables(lake, build(ds.isel(time=slice(0, 720)), extra, ["1h"], timezone=TZ))
    assert lake.log(1)[0].metadata["dropped"] == {
        "1h": ["energy_coverage", "energy_integral", "energy_max", "energy_mean",
               "runtime_coverage", "runtime_duration", "runtime_mean"]}
    assert set(lake.open_group("features/1h").data_vars) == {"peak_power_max",
                                                               "peak_power_coverage"}
    with pytest.raises(UnknownNameError, match="unknown feature 'enrgy'. Did you mean 'energy'"):
        build(ds, load_catalog(builtin_dir()), features=["enrgy"])
    with pytest.raises(UnknownNameError, match="unknown level '1d'"):
        build(ds, load_catalog(builtin_dir()), ["1d"])
    with pytest.raises(SchemaError, match=r"energy_cost.yaml: key 'expression': feature "
                                          r"'energy_cost' uses asset attributes \['tariff.price'\]"):
        build(ds, load_catalog(builtin_dir()), features=["energy_cost"])


def test_evaluate_features_marks_missing_signals_as_uncovered():
    cat = catalog_from_dicts([feat(name="vib", inputs=["vibration"], unit="mm/s",
                                   expression="vibration")])
    vals = evaluate_features(_raw(days=1), cat, timezone=TZ)
    assert vals.vib.isnull().all() and not vals.vib__good.any()


@pytest.mark.parametrize("module", ["pumplib.features", "pumplib.features.aggregations",
                                    "pumplib.features.expr", "pumplib.features.definitions",
                                    "pumplib.features.builder", "pumplib.features.evaluate",
                                    "pumplib.features.planning", "pumplib.features.taskgraph",
                                    "pumplib.features.tables"])
def test_docstring_examples_run(module, monkeypatch):
    import doctest
    import importlib

    from .conftest import ROOT

    monkeypatch.chdir(ROOT)
    res = doctest.testmod(importlib.import_module(module),
                          optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


def test_incremental_builds_equal_a_full_build(tmp_path):
    from pumplib.assets import AssetRegistry
    from pumplib.features import affected_range
    from pumplib.lake import Lake

    from .conftest import small_registry_dict

    reg = AssetRegistry.from_dict(small_registry_dict())
    cat = load_catalog(builtin_dir())
    feats = ["energy", "energy_cost", "runtime", "starts", "wire_to_water_efficiency"]
    levels = ["15min", "1h", "1D", "1W", "1M"]
    full = _raw(start="2026-03-25T00:00Z", days=9)       # Wed 25 Mar … Thu 2 Apr (UTC)

    def tables(ds, **kw):
        return build(ds, cat, levels, features=feats, registry=reg, timezone=TZ, **kw)

    def stored(lake):
        return {lv: lake.open_group(f"features/{lv}").load() for lv in levels}

    # a new day: build 8 days, then append the 9th incrementally
    inc, ref = Lake(str(tmp_path / "inc"), create=True), Lake(str(tmp_path / "ref"), create=True)
    write_tables(inc, tables(full.isel(time=slice(0, 8 * 1440))))
    day = ("2026-04-02T00:00Z", "2026-04-03T00:00Z")
    part = tables(full, changed=day)
    # the new day touches its minutes, hours, the day, its week (Mon 30 Mar) and its month
    assert pd.Timestamp(part["1D"].time.values[0]) == pd.Timestamp("2026-03-29T22:00")
    assert pd.Timestamp(part["1h"].time.values[0]) == pd.Timestamp("2026-03-29T22:00")
    assert pd.Timestamp(part["1M"].time.values[0]) == pd.Timestamp("2026-03-31T22:00")
    write_tables(inc, part)
    write_tables(ref, tables(full))
    a, b = stored(inc), stored(ref)
    for lv in levels:
        xr.testing.assert_equal(a[lv], b[lv])

    # late data in an old month: only that month's (and week's) rows are recomputed
    late = full.copy(deep=True)
    hour = (late.time >= np.datetime64("2026-03-26T10:00")) & \
        (late.time < np.datetime64("2026-03-26T11:00"))
    late["power"] = late.power.where(~hour, late.power * 1.5)
    part = tables(late, changed=("2026-03-26T10:00Z", "2026-03-26T11:00Z"))
    assert pd.Timestamp(part["1h"].time.values[-1]) < pd.Timestamp("2026-03-31T22:00")
    assert list(part["1M"].time.values) == [np.datetime64("2026-02-28T23:00", "ns")]
    assert len(part["1h"].time) < len(b["1h"].time)
    write_tables(inc, part)
    ref2 = Lake(str(tmp_path / "ref2"), create=True)
    write_tables(ref2, tables(late))
    a, b = stored(inc), stored(ref2)
    for lv in levels:
        xr.testing.assert_equal(a[lv], b[lv])
    assert not a["1D"].energy_integral.equals(stored(ref)["1D"].energy_integral)
    s, e = affected_range("2026-03-26T10:00Z", "2026-03-26T11:00Z", ["1h"], TZ)
    assert (e - s) == 3600


def test_incremental_build_reads_only_the_changed_days_and_equals_a_full_build(tmp_path,
                                                                               monkeypatch):
    """Day partials stored beside the golden tables: an appended day reads its own raw
    day and nothing before (the built-in expressions look at the sample at hand; the
    state before a start comes from the stored partials), week and month roll up from
    stored day partials; late data reads only its day. Both equal a full rebuild bit
    for bit."""
    from pumplib.assets import AssetRegistry
    from pumplib.features import builder
    from pumplib.lake import Lake

    from .conftest import small_registry_dict

    reg = AssetRegistry.from_dict(small_registry_dict())
    cat = load_catalog(builtin_dir())
    feats = ["energy_cost", "runtime", "starts", "wire_to_water_efficiency", "hydraulic_power"]
    full = _raw(start="2026-03-25T00:00Z", days=9)
    read = []
    evaluate = FeatureEvaluator.__init__      # what features are evaluated on

    def spy(self, ds, *a, **kw):
        read.append((pd.Timestamp(ds.time.values[0]), pd.Timestamp(ds.time.values[-1])))
        evaluate(self, ds, *a, **kw)

    def tables(ds, **kw):
        return build(ds, cat, LEVELS, features=feats, registry=reg, timezone=TZ, partials=True,
                     **kw)

    def stored(lake):
        return {lv: lake.open_group(f"features/{lv}").load()
                for lv in [*LEVELS, builder.PARTIALS_GROUP]}

    inc = Lake(str(tmp_path / "inc"), create=True)
    write_tables(inc, tables(full.isel(time=slice(0, 8 * 1440))))
    assert inc.open_group("features/_partials/1D").sizes["time"] == 9   # local days
    monkeypatch.setattr(FeatureEvaluator, "__init__", spy)
    part = tables(full, changed=("2026-04-02T00:00Z", "2026-04-03T00:00Z"), store=inc)
    # raw read: local day 2 Apr (from 1 Apr 22:00 UTC) to the data end
    assert set(read) == {(pd.Timestamp("2026-04-01T22:00"), pd.Timestamp("2026-04-02T23:59"))}
    assert pd.Timestamp(part["1M"].time.values[0]) == pd.Timestamp("2026-03-31T22:00")
    assert pd.Timestamp(part["1W"].time.values[0]) == pd.Timestamp("2026-03-29T22:00")
    write_tables(inc, part)
    ref = Lake(str(tmp_path / "ref"), create=True)
    monkeypatch.setattr(FeatureEvaluator, "__init__", evaluate)
    write_tables(ref, tables(full))
    a, b = stored(inc), stored(ref)
    for lv in a:
        xr.testing.assert_equal(a[lv], b[lv])

    # late data in March: reads that local day only, rewrites its rows, week and month
    late = full.copy(deep=True)
    hour = (late.time >= np.datetime64("2026-03-26T10:00")) & \
        (late.time < np.datetime64("2026-03-26T11:00"))
    late["power"] = late.power.where(~hour, late.power * 1.5)
    late["run_state"] = late.run_state.where(~hour, 0.0)
    read.clear()
    monkeypatch.setattr(FeatureEvaluator, "__init__", spy)
    part = tables(late, changed=("2026-03-26T10:00Z", "2026-03-26T11:00Z"), store=inc)
    assert set(read) == {(pd.Timestamp("2026-03-25T23:00"), pd.Timestamp("2026-03-26T23:00"))}
    assert {lv: len(t.time) for lv, t in part.items()} == {
        "1min": 120, "15min": 8, "1h": 2, "1D": 1, "1W": 1, "1M": 1, "_partials/1D": 1}
    write_tables(inc, part)
    monkeypatch.setattr(FeatureEvaluator, "__init__", evaluate)
    ref2 = Lake(str(tmp_path / "ref2"), create=True)
    write_tables(ref2, tables(late))
    a, b = stored(inc), stored(ref2)
    for lv in a:
        xr.testing.assert_equal(a[lv], b[lv])
    assert not a["1D"].starts_starts.equals(stored(ref)["1D"].starts_starts)


def test_blocks_engine_equals_the_dask_engine_bit_for_bit(monkeypatch):
    """The eager engine (day blocks on a thread pool) gives the lazy build's tables."""
    from pumplib.assets import AssetRegistry
    from pumplib.features import builder, materialize

    from .conftest import small_registry_dict

    reg = AssetRegistry.from_dict(small_registry_dict())
    cat = load_catalog(builtin_dir())
    ds = _raw(start="2026-03-28T07:13Z", days=3, chunks=1000)    # over the DST night
    lazy = materialize(build(ds, cat, registry=reg, timezone=TZ, partials=True))
    monkeypatch.setattr(blocks, "BLOCK_VALUES", 1)             # one local day per block
    eager = build(ds, cat, registry=reg, timezone=TZ, partials=True, engine="blocks")
    assert set(eager) == set(lazy) == {*LEVELS, builder.PARTIALS_GROUP}
    for lv in lazy:
        assert not hasattr(eager[lv]["starts_starts" if lv != builder.PARTIALS_GROUP
                                     else "starts__n"].data, "dask")
        xr.testing.assert_identical(eager[lv], lazy[lv])
    assert ds.sizes["asset"] > 1
    monkeypatch.setattr(blocks, "GROUP_VALUES", 1)             # one asset per group
    grouped = build(ds, cat, registry=reg, timezone=TZ, partials=True, engine="blocks")
    for lv in lazy:
        xr.testing.assert_identical(grouped[lv], lazy[lv])


def test_raw_only_max_level_is_a_setting():
    from pumplib import config

    spec = {"name": "m", "version": 1, "unit": "kW", "inputs": ["power"],
            "expression": "power", "aggregations": {"1W": ["median"]}, "levels": ["1W"]}
    with pytest.raises(SchemaError, match="features.raw_only_max_level"):
        catalog_from_dicts([spec])
    with config.set({"features.raw_only_max_level": "1W"}):
        assert catalog_from_dicts([spec])["m"].aggregations["1W"] == ("median",)


def test_build_lake_takes_only_good_samples_and_stores_partials(tmp_path):
    """``build_lake`` reads the stored quality flags (unvalidated cells are not good)."""
    from pumplib.features import build_lake, history
    from pumplib.lake import Lake
    from pumplib.quality import open_quality

    lake = Lake(str(tmp_path / "lake"), create=True)
    with lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1"], "power", 0, np.full((1, 2880), 2.0))
    cat = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW", "inputs": ["power"],
                               "expression": "power", "aggregations": ["mean", "count"]}])
    build_lake(lake, cat, ["1h", "1D"], timezone="UTC")          # no quality run: not good
    assert lake.open_group("features/1D").p_count.values.tolist() == [[0.0, 0.0]]
    raw = lake.open_raw("1min")
    flags = open_quality(lake, "1min", like=raw)
    good = xr.zeros_like(flags)                                   # every sample validated good
    bad = good["power"].copy(data=np.r_[np.zeros(1440), np.full(1440, 2)][None].astype(
        good["power"].dtype))                                     # 2nd day flagged
    t = build(raw, cat, ["1h", "1D"], timezone="UTC", flags=good.assign(power=bad),
              engine="blocks")
    assert t["1D"].p_count.values.tolist() == [[1440.0, 0.0]]
    build_lake(lake, cat, ["1h", "1D"], timezone="UTC", quality=False)
    assert lake.open_group("features/1D").p_count.values.tolist() == [[1440.0, 1440.0]]
    assert lake.open_group("features/_partials/1D").sizes["time"] == 2
    with lake.transaction("raw") as tx:                           # one more day, incremental
        tx.write_block("1min", ["P1"], "power", 2880 * 60, np.full((1, 1440), 4.0))
    build_lake(lake, cat, ["1h", "1D"], timezone="UTC", quality=False,
               changed=("1970-01-03", "1970-01-04"))
    assert lake.open_group("features/1D").p_mean.values.tolist() == [[2.0, 2.0, 4.0]]
    hist = history(lake)
    assert hist.levels.tolist() == ["1h,1D"] * 3 and hist.features.tolist() == [1, 1, 1]
    assert hist.changed.iloc[0].startswith("1970-01-03T00:00:00+00:00") and \
        hist.changed.iloc[1] == ""


def test_build_lake_that_fails_commits_nothing(tmp_path):
    """The commit's transaction opens before the build computes: a build that fails
    leaves the lake as it was, and a build with nothing to write makes no commit."""
    from pumplib.features import build_lake
    from pumplib.lake import Lake

    lake = Lake(str(tmp_path / "lake"), create=True)
    with lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1"], "power", 0, np.full((1, 1440), 2.0))
    tip = lake.tip()
    cat = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW", "inputs": ["power"],
                               "expression": "power * rated.power / rated.power",
                               "aggregations": ["mean"]}])
    with pytest.raises(SchemaError, match="registry"):
        build_lake(lake, cat, ["1h"], timezone="UTC", quality=False)   # no registry given
    assert lake.tip() == tip and lake.open_group("features/1h") is None
    ok = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW", "inputs": ["power"],
                              "expression": "power", "aggregations": ["mean"]}])
    assert build_lake(lake, ok, ["1h"], timezone="UTC", quality=False,
                      changed=("1971-01-01", "1971-01-02")) is None   # outside the data
    assert lake.tip() == tip


def test_an_unchanged_build_writes_nothing(tmp_path):
    """A full build of what the lake already holds makes no commit; new raw data, new
    quality flags, other levels or definitions, another build's tables or ``force``
    build again."""
    from pumplib.features import build_lake
    from pumplib.lake import Lake

    lake = Lake(str(tmp_path / "lake"), create=True)
    with lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1"], "power", 0, np.full((1, 2880), 2.0))
    cat = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW", "inputs": ["power"],
                               "expression": "power", "aggregations": ["mean"]}])

    def full(**kw):
        kw = {"timezone": "UTC", "quality": False, **kw}
        before = lake.tip()
        snap = build_lake(lake, cat, kw.pop("levels", ["1h", "1D"]), **kw)
        assert (snap is None) == (lake.tip() == before)
        return snap

    assert full() is not None
    n = len(lake.log())
    assert full() is None and full() is None and len(lake.log()) == n
    assert full(force=True) is not None                   # asked for
    assert full() is None
    with lake.transaction("raw") as tx:                    # new raw data
        tx.write_block("1min", ["P1"], "power", 2880 * 60, np.full((1, 1440), 4.0))
    assert full() is not None and full() is None
    assert lake.open_group("features/1D").p_mean.values.tolist() == [[2.0, 2.0, 4.0]]
    assert full(levels=["1h"]) is not None                # other levels: other tables
    assert full() is not None                             # ... which changed features/
    assert full(timezone="Europe/Berlin") is not None     # another zone, other periods
    assert full(timezone="Europe/Berlin") is None
    cat2 = catalog_from_dicts([{"name": "p", "version": 2, "unit": "kW", "inputs": ["power"],
                                "expression": "power * 2", "aggregations": ["mean"]}])
    assert build_lake(lake, cat2, ["1h", "1D"], timezone="Europe/Berlin",
                      quality=False) is not None          # another definition
    with lake.transaction("a table of something else") as tx:   # other groups: no rebuild
        tx.write_table("notes", "n1", pd.DataFrame({"a": [1]}), {})
    assert build_lake(lake, cat2, ["1h", "1D"], timezone="Europe/Berlin",
                      quality=False) is None


def test_build_lake_leaves_the_garbage_collector_as_it_found_it(tmp_path, monkeypatch):
    """Collections skip the objects alive before a build, and only during it; a caller's
    own frozen objects stay frozen, and a failed build unfreezes too."""
    import gc

    from pumplib.features import build_lake
    from pumplib.lake import Lake

    lake = Lake(str(tmp_path / "lake"), create=True)
    with lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1"], "power", 0, np.full((1, 1440), 2.0))
    cat = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW", "inputs": ["power"],
                               "expression": "power", "aggregations": ["mean"]}])
    seen = []
    put = table_io.TableWriter.put

    def spy(*a, **kw):
        seen.append(gc.get_freeze_count())
        return put(*a, **kw)

    monkeypatch.setattr(table_io.TableWriter, "put", spy)
    assert gc.get_freeze_count() == 0
    build_lake(lake, cat, ["1h"], timezone="UTC", quality=False)
    assert seen[-1] > 0 and gc.get_freeze_count() == 0 and gc.isenabled()
    gc.freeze()                                   # the caller froze objects of its own
    try:
        frozen = gc.get_freeze_count()           # (it only drops as frozen objects die)
        build_lake(lake, cat, ["1h"], timezone="UTC", quality=False)
        assert 0 < seen[-1] <= frozen and 0 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()
    with pytest.raises(UnknownNameError):
        build_lake(lake, cat, ["1h"], timezone="UTC", quality=False, cadence="5min")
    assert gc.get_freeze_count() == 0


def _spy_incremental(monkeypatch) -> list[bool]:
    """Each incremental build's outcome, as ``build`` dispatches to it: True when it built
    the tables, False when it declined (the stored day partials could not serve)."""
    from pumplib.features import builder
    from pumplib.features.planning import EngineDeclined

    served: list[bool] = []
    real = builder.build_incremental

    def spy(*a, **k):
        try:
            got = real(*a, **k)
        except EngineDeclined:
            served.append(False)
            raise
        served.append(True)
        return got

    monkeypatch.setattr(builder, "build_incremental", spy)
    return served


def _lake_from(path, ds):
    """A lake holding ``ds``'s signals at 1 min (NaN cells hold nothing)."""
    from pumplib.lake import Lake

    lake = Lake(str(path), create=True)
    t0 = int(pd.Timestamp(ds.time.values[0]).tz_localize("UTC").timestamp())
    with lake.transaction("raw") as tx:
        for k in ds.data_vars:
            tx.write_block("1min", [str(a) for a in ds.asset.values], k, t0, ds[k].values)
    return lake


def _appended_day(tmp_path, features=None, edit=None, catalog=None):
    """A lake built (``build_lake``, built-in catalog or ``catalog``) over 25 Mar – 1 Apr
    with the raw data of the local day of 2 Apr appended after, and ``check(lake)``: the
    tables of every level of ``lake`` after its incremental build of that day equal a
    rebuild. ``edit(raw)`` changes the raw data first. Returns ``(lake, build keywords,
    check)``."""
    from pumplib.assets import AssetRegistry
    from pumplib.features import build_lake, builder

    from .conftest import small_registry_dict

    cat = catalog if catalog is not None else load_catalog(builtin_dir())
    full = _raw(start="2026-03-25T00:00Z", days=9)
    if edit is not None:
        full = edit(full.copy(deep=True))
    inc = _lake_from(tmp_path / "inc", full.isel(time=slice(0, 8 * 1440 - 120)))  # to 1 Apr 22Z
    kw = dict(catalog=cat, levels=LEVELS, registry=AssetRegistry.from_dict(
        small_registry_dict()), timezone=TZ, cadence="1min", quality=False,
        features=features)
    build_lake(inc, **kw)
    with inc.transaction("raw") as tx:                         # the local day of 2 Apr
        rest = full.isel(time=slice(8 * 1440 - 120, 9 * 1440 - 120))
        t0 = int(pd.Timestamp(rest.time.values[0]).tz_localize("UTC").timestamp())
        for k in rest.data_vars:
            tx.write_block("1min", ["N-P1", "N-P2"], k, t0, rest[k].values)

    def check(lake):
        ref = _lake_from(tmp_path / "ref", full.isel(time=slice(0, 9 * 1440 - 120)))
        build_lake(ref, **kw)
        for lv in [*LEVELS, builder.PARTIALS_GROUP]:
            xr.testing.assert_equal(lake.open_group(f"features/{lv}").load(),
                                    ref.open_group(f"features/{lv}").load())

    return inc, kw, check


def test_build_lake_appends_a_day_into_levels_grown_while_it_computes(tmp_path, monkeypatch):
    """``build_lake(changed=)``: each stored level grows for the new periods while the day
    is computed (``_TableWriter.prepare``), and the tables equal a full rebuild."""
    from pumplib.features import build_lake, builder

    inc, kw, check = _appended_day(
        tmp_path, ["energy_cost", "runtime", "starts", "wire_to_water_efficiency"])
    got = []
    prepare = table_io.TableWriter._prepare

    async def spy(self, lv, *a):
        got.append((lv, await prepare(self, lv, *a)))
        return got[-1][1]

    plans = []
    merge_plan = table_io._merge_plan

    def count(*a, **k):
        plans.append(1)
        return merge_plan(*a, **k)

    monkeypatch.setattr(table_io.TableWriter, "_prepare", spy)
    monkeypatch.setattr(table_io, "_merge_plan", count)
    build_lake(inc, changed=("2026-04-01T22:00Z", "2026-04-02T22:00Z"), **kw)
    assert sorted(lv for lv, _ in got) == sorted([*LEVELS, builder.PARTIALS_GROUP])
    assert all(p is not None for _, p in got)                   # every level grew early
    assert len(plans) == len(got)          # and took exactly the periods prepared for it
    monkeypatch.undo()
    check(inc)


def test_appended_day_counts_a_start_across_a_gap_longer_than_its_raw_context(tmp_path):
    """A pump off before a sensor gap longer than the incremental build's raw context
    (three hours without run state) and on from the first minute of the appended day:
    the start is counted at that minute, hour and day, as a rebuild counts it (the state
    before the gap comes from the stored day partials)."""
    from pumplib.features import build_lake

    def edit(raw):
        t = pd.DatetimeIndex(raw.time.values)
        run = raw.run_state.values
        run[0, (t >= "2026-04-01T17:00") & (t < "2026-04-01T19:00")] = 0.0
        run[0, (t >= "2026-04-01T19:00") & (t < "2026-04-01T22:00")] = np.nan
        run[0, (t >= "2026-04-01T22:00") & (t < "2026-04-01T23:00")] = 1.0
        return raw

    inc, kw, check = _appended_day(tmp_path, ["starts", "runtime"], edit)
    build_lake(inc, changed=("2026-04-01T22:00Z", "2026-04-02T22:00Z"), **kw)
    got = inc.open_group("features/1min").sel(time="2026-04-01T22:00")
    assert got.starts_starts.values.tolist()[0] == 1.0
    check(inc)


def test_raw_context_is_read_only_for_expressions_that_look_back(monkeypatch):
    """``incremental_context``: none for expressions of the sample at hand (built-in
    pointwise functions, conditions too), an hour for a difference or a function
    registered without ``pointwise=True``, the longest window or lag rounded up to
    hours; an input's look-back counts for the features built on it."""
    from pumplib.features import incremental_context
    from pumplib.features.expr import FUNCTIONS, Function

    monkeypatch.setitem(FUNCTIONS, "twice", Function(
        "twice", "x", lambda u, a: u[0], lambda a, s: a[0] * 2, doc="twice"))

    def feat(name, expression, inputs=("power",), **kw):
        return {"name": name, "version": 1, "unit": "kW", "inputs": list(inputs),
                "expression": expression, "aggregations": ["mean"], **kw}

    cat = catalog_from_dicts([
        feat("plain", "clip(abs(power), q(0, 'kW'), q(50, 'kW'))",
             condition="where(run_state > 0.5, 1, 0) > 0.5", inputs=["power", "run_state"]),
        feat("d", "diff(power)"),
        feat("mine", "twice(power)"),
        feat("lagged", "lag(power, '150min')"),
        feat("on_d", "d * 2", inputs=["d"]),
    ])
    assert incremental_context(cat, ["plain"]) == 0
    assert incremental_context(cat, ["d"]) == incremental_context(cat, ["mine"]) == 3600
    assert incremental_context(cat, ["plain", "lagged"]) == 3 * 3600
    assert incremental_context(cat, ["on_d"]) == 3600


def test_appended_day_with_windows_lags_diffs_and_linear_interpolation_equals_a_rebuild(
        tmp_path, monkeypatch):
    """Expressions that look back (a rolling window, a lag, a difference) and time
    integrals and means with linear interpolation (which reach into the period before
    the appended day) give the same tables after an appended day as a full rebuild, at
    every level, bit for bit (values in eighths: every sum is exact)."""
    from pumplib.features import build_lake

    def feat(name, expression, aggregations, **kw):
        return {"name": name, "version": 1, "unit": kw.pop("unit", "kW"),
                "inputs": kw.pop("inputs", ["power"]), "expression": expression,
                "aggregations": aggregations, "min_coverage": 0.0, **kw}

    cat = catalog_from_dicts([
        feat("p_roll", "rolling_mean(power, '30min')", ["mean", "max"]),
        feat("p_lag", "power - lag(power, '15min')", ["mean", "min"]),
        feat("p_diff", "diff(power)", ["max", "count"]),
        feat("p_lin", "power", ["twa", "integral"], interpolation="linear"),
        feat("p_starts", "run_state", ["starts"], unit="1", inputs=["run_state"]),
    ])

    def edit(raw):
        i = np.arange(raw.sizes["time"])
        raw["power"] = raw.power + 0.125 * ((i * 7) % 17)
        raw["power"][:, 5000:5030] = np.nan                    # a gap
        return raw

    inc, kw, check = _appended_day(tmp_path, edit=edit, catalog=cat)
    served = _spy_incremental(monkeypatch)
    build_lake(inc, changed=("2026-04-01T22:00Z", "2026-04-02T22:00Z"), **kw)
    monkeypatch.undo()
    assert served == [True]                     # by the stored day partials, not from raw
    check(inc)


def test_incremental_day_evaluates_each_feature_once_after_its_inputs_and_equals_a_rebuild(
        tmp_path, monkeypatch):
    """An appended day's features are a graph of tasks (``_TaskGraph``) the workers take
    as they become ready: every feature is evaluated once, after the features it uses
    (on whichever worker), each aggregated once and each bare signal reduced once by the
    chunk kernel, no evaluated value outlives its last dependent, the stored day partials
    are read through the writer's transaction, and the tables of every level equal a full
    rebuild."""
    import threading
    import time

    from pumplib.features import build_lake, builder

    inc, kw, check = _appended_day(tmp_path)
    cat = kw["catalog"]
    spans, aggregated, bare, held = {}, [], [], []
    evaluate, aggregate = FeatureEvaluator.evaluate, builder.A.aggregate_array
    kernel = incremental.kernel_aggregate

    def spy_evaluate(self, name, out):
        t0 = time.perf_counter()
        held.append(len([k for k in out if not k.endswith("__good")]))
        got = evaluate(self, name, out)
        spans.setdefault(name, []).append((t0, time.perf_counter(),
                                           threading.current_thread().name))
        return got

    def spy_aggregate(values, *a, **k):
        aggregated.append(values)
        return aggregate(values, *a, **k)

    def spy_kernel(*a, **k):
        bare.append(a[0])
        return kernel(*a, **k)

    def no_session(*a):
        raise AssertionError("the stored day partials come through the writer's transaction")

    chunked = incremental._chunked

    def spy_chunked(*a, **k):                # bare signals reduced straight from the lake
        got = chunked(*a, **k)
        bare.extend(got)
        return got

    monkeypatch.setattr(incremental, "_chunked", spy_chunked)
    monkeypatch.setattr(FeatureEvaluator, "evaluate", spy_evaluate)
    monkeypatch.setattr(builder.A, "aggregate_array", spy_aggregate)
    monkeypatch.setattr(incremental, "kernel_aggregate", spy_kernel)
    monkeypatch.setattr(incremental, "read_stored_partials", no_session)
    build_lake(inc, changed=("2026-04-01T22:00Z", "2026-04-02T22:00Z"), **kw)
    monkeypatch.undo()
    assert all(len(v) == 1 for v in spans.values())                  # once each
    assert len(aggregated) == len(spans)        # every evaluated feature is one of the build's
    assert len(spans) + len(bare) == len(list(cat))
    for name, [(start, _, _)] in spans.items():                       # after its inputs
        for dep in cat[name].feature_inputs(cat):
            assert spans[dep][0][1] <= start, (name, dep)
    assert {"head", "wire_to_water_efficiency", "specific_energy_vs_floor"} <= set(spans)
    # released once their dependents are evaluated: five features have dependents (the
    # last evaluation would see them all otherwise), and a specific energy is released
    # with its only dependent evaluated, before that one's own dependent is
    assert len({d for n in spans for d in cat[n].feature_inputs(cat)}) == 5
    assert max(held) < 5
    check(inc)


def test_incremental_day_reads_the_new_day_with_its_quality_flags_and_equals_a_rebuild(
        tmp_path, monkeypatch):
    """An appended day's raw read applies the stored quality flags: a spike-flagged hour
    of the new day leaves, a signal without flags is not good; the incremental tables
    equal a full rebuild's, with the same flags."""
    from pumplib.features import build_lake
    from pumplib.quality.flags import UNCHECKED, Flag

    cat = catalog_from_dicts([
        {"name": "p", "version": 1, "unit": "kW", "inputs": ["power"], "expression": "power",
         "aggregations": ["mean", "count"]},
        {"name": "sp", "version": 1, "unit": "kWh/m3", "inputs": ["power", "flow"],
         "expression": "power / flow", "condition": "flow > 1",
         "aggregations": ["mean", "count"]}])
    full = _raw(start="2026-03-25T00:00Z", days=8)

    def flagged(path, days):
        lake = _lake_from(path, full.isel(time=slice(0, days * 1440)))
        with lake.transaction("flags") as tx:
            arr = tx.derived_array("quality", "1min", "power", "uint16", UNCHECKED)
            f = np.zeros(arr.shape, dtype=np.uint16)
            if days == 8:
                f[0, 7 * 1440 + 600:7 * 1440 + 660] = int(Flag.SPIKE)   # on the new day
            arr[:] = f
        return lake

    kw = {"levels": LEVELS, "timezone": "UTC", "cadence": "1min"}
    inc = flagged(tmp_path / "inc", 7)
    build_lake(inc, cat, **kw)
    with inc.transaction("raw: one more day") as tx:
        for k in ("power", "flow"):
            tx.write_block("1min", [str(a) for a in full.asset.values], k,
                           int(pd.Timestamp("2026-04-01T00:00Z").timestamp()),
                           full[k].values[:, 7 * 1440:])
        arr = tx.derived_array("quality", "1min", "power", "uint16", UNCHECKED)
        f = np.zeros(arr.shape, dtype=np.uint16)
        f[0, 7 * 1440 + 600:7 * 1440 + 660] = int(Flag.SPIKE)
        arr[:] = f
    read = []
    reader = incremental.window_reader

    def spy(data, names, flags=None):
        read.append((sorted(names), flags is not None))
        return reader(data, names, flags)

    monkeypatch.setattr(incremental, "window_reader", spy)
    served = _spy_incremental(monkeypatch)
    build_lake(inc, cat, changed=("2026-04-01T00:00Z", "2026-04-02T00:00Z"), **kw)
    monkeypatch.undo()
    assert served == [True]                                    # by the stored day partials
    assert read == [(["flow", "power"], True)]                  # the new day, flagged
    ref = flagged(tmp_path / "ref", 8)
    build_lake(ref, cat, **kw)
    for lv in LEVELS:
        xr.testing.assert_equal(inc.open_group(f"features/{lv}").load(),
                                ref.open_group(f"features/{lv}").load())
    day = inc.open_group("features/1D").load()
    assert day.p_count.values[:, -1].tolist() == [1440 - 60, 1440]     # the spike left
    assert float(day.sp_count.sum()) == 0.0                    # flow has no flags: not good


def test_incremental_day_that_stored_partials_cannot_serve_is_recomputed_from_raw(
        tmp_path, monkeypatch):
    """A definition changed since the stored day partials were made: the incremental
    path hands nothing on, and the build recomputes the affected periods from raw data
    instead: the new
    day, its week and its month equal a rebuild with the changed definition, the days
    before keep what was stored."""
    import yaml

    from pumplib.features import build_lake

    inc, kw, _check = _appended_day(tmp_path)
    docs = []
    for path in sorted(builtin_dir().glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        docs += doc.get("features", [doc])
    for doc in docs:
        if doc["name"] == "head":
            doc["version"] = 2
            doc["expression"] = ("(discharge_pressure - suction_pressure) / "
                                 "(q(998, \"kg/m**3\") * q(9.80665, \"m/s**2\"))")
    kw = {**kw, "catalog": catalog_from_dicts(docs)}
    served = _spy_incremental(monkeypatch)
    build_lake(inc, changed=("2026-04-01T22:00Z", "2026-04-02T22:00Z"), **kw)
    monkeypatch.undo()
    assert served == [False]                                  # the stored ones could not
    ref = _lake_from(tmp_path / "ref", _raw(start="2026-03-25T00:00Z", days=9).isel(
        time=slice(0, 9 * 1440 - 120)))
    build_lake(ref, **kw)
    for lv, n in {"1min": 1440, "15min": 96, "1h": 24, "1D": 1, "1W": 1, "1M": 1}.items():
        got, want = inc.open_group(f"features/{lv}").load(), ref.open_group(
            f"features/{lv}").load()
        xr.testing.assert_equal(got.isel(time=slice(-n, None)), want.isel(time=slice(-n, None)))
    day = inc.open_group("features/1D").load()
    assert float(day.head_mean.values[0, 0]) < float(day.head_mean.values[0, -1])   # 1000 kg/m3


def test_incremental_day_whose_raw_read_fails_raises_it_and_commits_nothing(
        tmp_path, monkeypatch):
    """A raw read that fails while the stored day partials load: the build raises the
    read's error and the lake keeps its last commit."""
    from pumplib.features import build_lake

    inc, kw, _check = _appended_day(tmp_path)
    before = inc.log(1)[0].snapshot

    def failing(data, names, flags=None):
        def read(i0, i1):
            raise OSError("flow: the store went away")
        return read

    monkeypatch.setattr(incremental, "window_reader", failing)
    with pytest.raises(OSError, match="flow: the store went away"):
        build_lake(inc, changed=("2026-04-01T22:00Z", "2026-04-02T22:00Z"), **kw)
    assert inc.log(1)[0].snapshot == before


def test_task_graph_runs_chains_first_on_every_worker_and_stops_when_one_fails():
    """``_TaskGraph`` hands out ready tasks, the longest chain of work first, makes a
    worker wait while every untaken task waits on one in progress, and wakes the
    waiting workers when another failed."""
    import threading

    from pumplib.features.taskgraph import TaskGraph

    deps = {"a": [], "b": ["a"], "c": ["b"], "x": [], "y": []}
    g = TaskGraph(deps, {"a": 1, "b": 1, "c": 1, "x": 2.5, "y": 0.5})
    assert g.take() == "a"                      # chain a-b-c (3) before x (2.5)
    assert g.take() == "x"
    assert g.take() == "y"
    taken = []
    waiter = threading.Thread(target=lambda: taken.append(g.take()))
    waiter.start()                              # b waits on a
    waiter.join(0.2)
    assert waiter.is_alive() and not taken
    assert g.done("a") == []                    # a's dependent b is not done yet
    waiter.join(5)
    assert taken == ["b"]
    assert g.done("b") == ["a"] and g.done("x") == [] and g.done("y") == []
    assert g.take() == "c" and g.done("c") == ["b"] and g.take() is None

    g = TaskGraph({"a": [], "b": ["a"]}, {"a": 1, "b": 1})
    assert g.take() == "a"
    taken = []
    waiter = threading.Thread(target=lambda: taken.append(g.take()))
    waiter.start()
    g.fail()                                    # a's worker failed: b never becomes ready
    waiter.join(5)
    assert taken == [None]


def test_stored_levels_are_chunked_by_a_day_or_a_week_so_an_appended_day_rewrites_little(
        tmp_path, monkeypatch):
    """A stored level's chunks hold a day of minutes and a week of quarter hours and of
    hours (a shorter table: its length), whatever the history, so an appended day
    encodes one or two chunks per column group that hold at most a week
    (``benchmarks/bench_table_append.py``)."""
    from pumplib.lake import open_root

    cat = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW", "inputs": ["power"],
                               "expression": "power", "aggregations": ["mean", "max"]}])
    raw = _raw(start="2026-03-02T00:00Z", days=9)
    lake = _lake_from(tmp_path / "lake", raw)
    write_tables(lake, build(raw.isel(time=slice(0, 8 * 1440)), cat, ["1min", "15min", "1h"],
                             timezone=TZ))
    root = open_root(lake.session().store)
    chunks = {lv: root[f"features/{lv}/{table_io.VALUES}"].chunks[-1]
              for lv in ("1min", "15min", "1h")}
    assert chunks == {"1min": 1440, "15min": 7 * 96, "1h": 7 * 24}
    written = []
    put = table_io._put_column_chunk

    async def spy(arr, codec, ci, cols, lo, old_n):
        written.append((arr.path.split("/")[1], int(arr.chunks[-1]), lo, cols[0].shape[-1]))
        return await put(arr, codec, ci, cols, lo, old_n)

    monkeypatch.setattr(table_io, "_put_column_chunk", spy)
    day = build(raw, cat, ["1min", "15min", "1h"], timezone=TZ,
                changed=("2026-03-10T00:00Z", "2026-03-11T00:00Z"))
    write_tables(lake, day)
    assert sorted({w[0] for w in written}) == ["15min", "1h", "1min"]
    for lv, tc, lo, width in written:                          # one day of each level
        assert width * {"1min": 60, "15min": 900, "1h": 3600}[lv] == 86400
        assert (lo + width - 1) // tc - lo // tc <= 1          # in one or two chunks
    full = build(raw, cat, ["1min", "15min", "1h"], timezone=TZ)
    for lv in ("1min", "15min", "1h"):
        xr.testing.assert_equal(lake.open_group(f"features/{lv}").load(), full[lv].load())
    short = _lake_from(tmp_path / "short", raw.isel(time=slice(0, 3 * 1440)))
    write_tables(short, build(raw.isel(time=slice(0, 3 * 1440)), cat, ["15min"],
                              timezone=TZ))
    root = open_root(short.session().store)
    assert root[f"features/15min/{table_io.VALUES}"].chunks[-1] == 3 * 96


def test_table_writer_takes_other_periods_than_prepared_and_commits_no_unfilled_growth(
        tmp_path):
    """A table whose periods differ from the prepared ones is still merged right; a level
    prepared but never given its table makes the writer commit nothing."""

    cat = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW", "inputs": ["power"],
                               "expression": "power", "aggregations": ["mean", "max"]}])
    raw = _raw(start="2026-03-25T00:00Z", days=3)
    lake = _lake_from(tmp_path / "lake", raw)
    full = build(raw, cat, ["1h"], timezone=TZ)
    write_tables(lake, {"1h": full["1h"].isel(time=slice(0, 40))})
    part = full["1h"].isel(time=slice(30, 60))
    part.attrs["changed"] = [0, 1]
    secs = pd.DatetimeIndex(full["1h"].time.values).as_unit("s").asi8
    assets = [str(a) for a in raw.asset.values]
    with table_io.TableWriter(lake, ["1h"], "other periods") as w:
        w.prepare("1h", assets, secs[40:50], secs[41:51])     # fewer than the table holds
        w.put("1h", part)
    xr.testing.assert_equal(lake.open_group("features/1h").load(),
                            full["1h"].isel(time=slice(0, 60)).load())
    tip = lake.tip()
    day = build(raw, cat, ["1D"], timezone=TZ)["1D"]
    with (pytest.raises(PumplibError, match="prepared for new periods but got no table"),
          table_io.TableWriter(lake, ["1h", "1D"], "unfilled") as w):
        w.prepare("1h", assets, secs[60:62], secs[61:63])
        w.put("1D", day)
    assert lake.tip() == tip and lake.open_group("features/1h").sizes["time"] == 60


def test_first_build_tunes_glibc_malloc_unless_told_not_to(monkeypatch):
    """``features.malloc_arena_max``, ``malloc_mmap_threshold`` and
    ``malloc_trim_threshold`` are set once per process by the first ``build_lake``
    (Linux with glibc); null, or the setting in the environment (its ``MALLOC_*``
    variable or ``GLIBC_TUNABLES``), leaves it to glibc; anything else is an error
    naming the setting and the values it takes."""
    import platform
    import sys

    from pumplib import config
    from pumplib.errors import ConfigError

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    tuning.tune_malloc.cache_clear()
    try:
        for off in (None, "null"):                       # (an environment variable: text)
            with config.set({"features.malloc_arena_max": off}):
                assert "malloc_arena_max" not in tuning.tune_malloc()
            tuning.tune_malloc.cache_clear()
        for key, bad in (("malloc_arena_max", "many"), ("malloc_arena_max", 0),
                         ("malloc_mmap_threshold", 1 << 30)):
            with (config.set({f"features.{key}": bad}),
                  pytest.raises(ConfigError, match=f"features.{key}: expected a whole "
                                                   f"number from .*{bad!r}")):
                tuning.tune_malloc()
            tuning.tune_malloc.cache_clear()
        monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
        monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000000")
        assert tuning.tune_malloc() == ({"malloc_mmap_threshold": 32 << 20} if glibc
                                          else {})
        tuning.tune_malloc.cache_clear()
        monkeypatch.delenv("MALLOC_ARENA_MAX")
        monkeypatch.delenv("GLIBC_TUNABLES")
        got = tuning.tune_malloc()
        assert got == ({"malloc_arena_max": 1, "malloc_mmap_threshold": 32 << 20,
                        "malloc_trim_threshold": 64 << 20} if glibc else {})
        assert tuning.tune_malloc() is got                    # once per process
    finally:
        tuning.tune_malloc.cache_clear()


def test_build_chooses_its_engine_in_one_place(tmp_path):
    """``choose_engine`` names the engine from the inputs and options, with its reason:
    blocks when asked (or by default without a dask cluster), dask for ``integral()``
    and for hours straddling local midnight unless every feature is a bare raw signal,
    incremental for a changed range over a store; a blocks engine that declines at run
    time (bare signals not read from a lake, in such a zone) leaves the tables to dask,
    the same tables."""
    from pumplib.features import builder

    raw = _raw(days=2)
    grid = builder.A.Grid.from_times(raw.time.values)
    plain = catalog_from_dicts([feat(name="p", inputs=["power"], unit="kW",
                                     expression="power * 2", levels=["1h", "1D"])])
    bare = catalog_from_dicts([feat(name="p", inputs=["power"], unit="kW",
                                    expression="power", levels=["1h", "1D"])])
    summed = catalog_from_dicts([feat(name="p", inputs=["power"], unit="kW*h",
                                      expression="integral(power)", levels=["1h", "1D"])])

    def choose(cat, timezone=TZ, **kw):
        return builder.choose_engine(raw, cat, ["p"], ["1h", "1D"], timezone, grid, **kw)

    assert choose(plain, engine="blocks").name == "blocks"
    assert choose(plain, engine=None).name == "blocks"          # no dask.distributed client
    assert choose(plain) == ("dask", "asked for", None)
    assert choose(summed, engine="blocks").name == "dask"
    kolkata = choose(plain, "Asia/Kolkata", engine="blocks")
    assert kolkata.name == "dask" and "straddle local midnight" in kolkata.reason
    assert choose(bare, "Asia/Kolkata", engine="blocks").name == "blocks"
    changed = ("2026-03-28T00:00Z", "2026-03-29T00:00Z")
    assert choose(plain, changed=changed).name == "dask"        # no store of day partials
    assert choose(plain, changed=changed, store=object()).name == "incremental"
    assert choose(summed, changed=changed, store=object()).name == "dask"
    assert choose(plain, changed=("2030-01-01", "2030-01-02"),
                  store=object()) == ("incremental", "the changed range holds no raw data", {})
    with pytest.raises(UnknownNameError, match="engine 'eager'. Valid choices: 'blocks', 'dask'"):
        choose(plain, engine="eager")
    eager = build(raw, bare, ["1h", "1D"], timezone="Asia/Kolkata", engine="blocks")
    lazy = materialize(build(raw, bare, ["1h", "1D"], timezone="Asia/Kolkata"))
    for lv in lazy:
        xr.testing.assert_identical(eager[lv], lazy[lv])


def test_feature_rooms_stay_small_and_import_downward():
    """Every module of ``pumplib.features`` is under 1,000 lines with no function over
    120, and the modules import each other (lazy imports included) without a cycle."""
    import ast
    from pathlib import Path

    import pumplib.features as F

    folder = Path(F.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.py")):
        src = path.read_text()
        assert len(src.splitlines()) <= 1000, path.name
        tree = ast.parse(src)
        graph[path.stem] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno - node.lineno < 120, (path.name, node.name)
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
                graph[path.stem] |= {n.split(".")[0] for n in names}
    graph.pop("__init__")
    seen: dict[str, int] = {}

    def visit(m, path):
        assert seen.get(m) != 1, f"import cycle: {' -> '.join([*path, m])}"
        if seen.get(m) == 2:
            return
        seen[m] = 1
        for n in sorted(graph.get(m, ())):
            visit(n, [*path, m])
        seen[m] = 2

    for m in graph:
        visit(m, [])
    assert {"evaluate", "planning", "blocks", "incremental", "tables", "tuning"} <= set(graph)
