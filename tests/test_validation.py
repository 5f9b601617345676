"""pumplib.validation: quality measures, predictive power, leakage, scorecards, Feature Lab helpers."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pumplib import validation as V
from pumplib.errors import SchemaError


def _da(values, freq="1h", start="2026-03-01", name=None):
    values = np.atleast_2d(np.asarray(values, dtype=float))
    t = pd.date_range(start, periods=values.shape[1], freq=freq)
    return xr.DataArray(values, dims=("asset", "time"), name=name,
                        coords={"asset": [f"P{i}" for i in range(values.shape[0])], "time": t})


def test_doctests():
    res = doctest.testmod(V, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted >= 8


def test_coverage_gaps_psi_consistency_by_hand():
    x = _da([[1, np.nan, np.nan, 4, np.nan, 6], [1, 2, 3, 4, 5, 6]])
    cov = V.coverage(x, _da([[1, 0, 0, 1, 0, 0.5], [1, 1, 1, 1, 1, 1]]))
    assert cov["valued"].tolist() == [0.5, 1.0]
    assert cov["raw_coverage"].tolist() == pytest.approx([2.5 / 6, 1.0])
    g = V.gaps(x)
    assert g.loc["P0", "n_gaps"] == 2 and g.loc["P0", "longest"] == 2
    assert g.loc["P0", "longest_start"] == pd.Timestamp("2026-03-01 01:00")
    assert g.loc["P1", "n_gaps"] == 0
    # a month drawn like the first is stable; a shifted month is not
    rng = np.random.default_rng(3)
    v = np.r_[rng.normal(0, 1, 31), rng.normal(0, 1, 30), rng.normal(2, 1, 31)]
    s = V.psi(_da(v, freq="1D"), timezone="UTC")
    assert list(s.index) == ["2026-03", "2026-04", "2026-05"]
    assert s.iloc[0] == 0 and s.iloc[1] < 0.25 < 1.0 < s.iloc[2]
    # states: one bin per value
    st = V.psi(_da(np.r_[np.zeros(20), np.ones(11), np.ones(30)], freq="1D"), timezone="UTC")
    assert st.iloc[1] > 1
    # a pump unlike its peers stands out
    base = np.sin(np.linspace(0, 12, 200))
    c = V.consistency(_da([base, base * 1.1, base * 0.9, rng.normal(size=200)]))
    assert c.loc["P1", "corr"] > 0.99 and abs(c.loc["P3", "corr"]) < 0.3
    assert c.loc["P1", "ratio"] == pytest.approx(1.1 * np.median(base) / np.median(base),
                                                 rel=0.2)


def test_lagged_correlation_and_mi_find_the_driver():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 400))
    y = np.concatenate([np.zeros((3, 2)), x[:, :-2]], axis=1) + rng.normal(0, 0.3, (3, 400))
    r = V.lagged_correlation(_da(x), _da(y), lags=range(5))
    assert r.abs().idxmax() == 2 and r[2] > 0.9 and abs(r[0]) < 0.2
    assert V.mutual_information(_da(x), _da(y), lag=2) > 0.5 > \
        V.mutual_information(_da(x), _da(y), lag=0)
    with pytest.raises(ValueError, match="negative"):
        V.lagged_correlation(_da(x), _da(y), lags=[-1])


def test_leakage_refused():
    rng = np.random.default_rng(1)
    y = np.cumsum(rng.normal(size=(2, 300)), axis=1) + rng.normal(size=(2, 300)) * 3
    values = _da(y, name="energy_integral")
    future = V.make_target(values, 1).rename("next_energy")
    with pytest.raises(V.LeakageError, match="target's future"):
        V.check_leakage(future, values, horizon=1)
    V.check_leakage(values.rename("energy_now"), values, horizon=1)    # its own past: fine
    with pytest.raises(V.LeakageError, match="horizon 0"):
        V.check_leakage(values, values, horizon=0)
    # a daily feature paired with hourly targets ends after the target hour starts
    daily = _da(y[:, :20], freq="1D").assign_coords(
        time_end=("time", pd.date_range("2026-03-02", periods=20, freq="1D")))
    with pytest.raises(V.LeakageError, match="coarser level"):
        V.check_leakage(daily, _da(y[:, :20], freq="1h"), horizon=1)


def test_driver_ranks_above_noise_on_simulated_plant(demo_store, demo_registry):
    """Runtime drives the energy a pump draws; pure noise does not."""
    import pumplib

    ds = pumplib.query(["runtime_mean", "energy_integral"], assets="pumps", level="1h",
                       store=demo_store, registry=demo_registry, coverage=False).load()
    rng = np.random.default_rng(7)
    noise = ds.runtime_mean.copy(data=rng.normal(size=ds.runtime_mean.shape))
    ranked = V.rank_features({"noise": noise, "runtime": ds.runtime_mean}, ds.energy_integral,
                             horizon=1)
    assert list(ranked.index) == ["runtime", "noise"]
    assert ranked.loc["runtime", "best_corr"] > 0.5 > abs(ranked.loc["noise", "best_corr"])
    assert ranked.loc["runtime", "mutual_information"] > 0.2 > \
        ranked.loc["noise", "mutual_information"]
    assert ranked.loc["noise", "skill_change"] < 0.02        # noise never helps the back-test
    leak = V.make_target(ds.energy_integral, 1)
    with pytest.raises(V.LeakageError):
        V.rank_features({"leak": leak}, ds.energy_integral, backtest=False)


def test_scorecard_saved_with_the_feature_version(demo_store_copy, demo_registry):
    card = V.scorecard("runtime_mean", target="energy_integral", level="1h",
                       store=demo_store_copy, registry=demo_registry, backtest=False)
    assert card.feature == "runtime" and card.version == 1 and card.definition_hash
    assert card.assets == ["N-P1", "N-P2", "N-P3", "S-P1", "S-P2"]
    assert card.leakage == "passed" and card.quality["valued_share"] > 0.95
    assert 0.95 < card.flags["GOOD"] <= 1.0                  # flags of the input run_state
    assert set(card.stability["psi_by_month"]) == {"2026-03", "2026-04"}
    assert card.predictive["best_corr"] > 0.5
    key = V.save_scorecard(card, demo_store_copy)
    assert key == f"runtime__v1__{card.definition_hash}"
    again = V.save_scorecard(card, demo_store_copy)          # re-scoring replaces it
    stored = V.load_scorecards(demo_store_copy, feature="runtime")
    assert list(stored.index) == [again] and stored.loc[key, "column"] == "runtime_mean"
    from pumplib.lake import Lake

    assert Lake(demo_store_copy).log()[0].metadata["kind"] == "scorecard"
    json.dumps(card.to_dict())                                # JSON-safe


def test_scorecard_cli(demo_store_copy):
    from typer.testing import CliRunner

    from pumplib.cli import app

    r = CliRunner().invoke(app, ["scorecard", "runtime_mean", "--store", demo_store_copy,
                                 "--no-backtest", "--save", "--json", "--level", "1D"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout[r.stdout.index("{"):])
    assert out["saved_as"].startswith("runtime__v1__") and out["leakage"] == "passed"
    r = CliRunner().invoke(app, ["scorecard", "runtime_mean", "--store", demo_store_copy,
                                 "--horizon", "0", "--no-backtest"])
    assert r.exit_code == 2 and "horizon 0" in r.output


SPEC = {"name": "pump_load", "unit": "1", "inputs": "power", "expression": "power / rated.power",
        "condition": "", "aggregations": "mean, max", "levels": "1h, 1D",
        "description": "Share of rated power drawn"}


def test_validate_preview_and_save_definition(demo_store, demo_registry, tmp_path):
    d, errors = V.validate_definition(SPEC)
    assert errors == [] and d.name == "pump_load" and d.levels == ("1h", "1D")
    _, errors = V.validate_definition({**SPEC, "inputs": "powr"})
    assert "unknown input 'powr'" in errors[0] and "'power'" in errors[0]
    _, errors = V.validate_definition({**SPEC, "expression": "power + flow",
                                       "inputs": "power, flow"})
    assert "cannot add" in errors[0]
    # the preview of an existing definition equals its golden table
    energy = {"name": "energy", "unit": "kW", "inputs": ["power"], "expression": "power",
              "interpolation": "step", "aggregations": ["integral", "mean", "max"],
              "min_coverage": 0.8}
    pv = V.preview_feature(energy, ["N-P2"], "2026-03-16", "2026-03-17", "1h",
                           store=demo_store, registry=demo_registry)
    import pumplib

    gold = pumplib.query("energy_integral", assets=["N-P2"], level="1h", start="2026-03-16",
                         end="2026-03-17", store=demo_store, timezone="UTC")
    assert pv.sizes["time"] == 24
    np.testing.assert_allclose(pv.energy_integral.values, gold.energy_integral.values,
                               rtol=1e-9)
    pv = V.preview_feature(SPEC, "N-P1", "2026-03-16", "2026-03-18", "1h", store=demo_store,
                           registry=demo_registry)
    load = pv.pump_load_mean.values
    assert np.nanmax(load) <= 1.3 and np.nanmin(load) >= 0 and np.isfinite(load).mean() > 0.9
    # save: a new file, then a new version with the old one archived
    p = V.save_definition(SPEC, tmp_path / "features")
    assert p.name == "pump_load.yaml"
    from pumplib.features.definitions import load_catalog

    assert load_catalog(p.parent)["pump_load"].version == 1
    p = V.save_definition({**SPEC, "aggregations": "mean"}, tmp_path / "features")
    assert load_catalog(p.parent)["pump_load"].version == 2
    assert (p.parent / "_versions" / "pump_load.v1.yaml").is_file()
    with pytest.raises(SchemaError, match="unknown input"):
        V.save_definition({**SPEC, "name": "other", "inputs": "powr"}, tmp_path / "features")
    assert not (tmp_path / "features" / "other.yaml").exists()
