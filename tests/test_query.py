"""pumplib.query: callable module, feature expansion, asset selection, automatic level, CLI."""

from __future__ import annotations

import doctest
import io

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import pumplib
from pumplib.errors import ArgumentError, UnknownNameError


@pytest.fixture(scope="module")
def reg():
    from pumplib.assets import AssetRegistry
    from pumplib.simulate import make_registry

    spec = make_registry(n_stations=2, pumps_per_station=(3, 2))
    spec["stations"][0]["assets"][1]["tags"] = ["critical"]
    spec["stations"][1]["tags"] = ["south-zone"]
    return AssetRegistry.from_dict(spec)


def test_module_is_callable_and_helpers_live_on_it():
    import pumplib.query as q

    assert callable(pumplib.query) and pumplib.query is q
    assert pumplib.query.select_assets is q.select_assets


def test_doctests():
    import pumplib.query as q

    res = doctest.testmod(q, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted >= 8


def test_select_assets_by_id_station_type_tag_and_phrase(reg):
    sel = pumplib.query.select_assets
    assert sel("N-P2", registry=reg) == ["N-P2"]
    assert sel("NORTH", registry=reg) == ["N-P1", "N-P2", "N-P3", "N-T1"]
    assert sel("north", kind="pump", registry=reg) == ["N-P1", "N-P2", "N-P3"]
    assert sel("variable_speed", registry=reg) == ["N-P1", "S-P1"]
    assert sel("variable-speed pumps at NORTH", registry=reg) == ["N-P1"]
    assert sel("all fixed-speed pumps in south", registry=reg) == ["S-P2"]
    assert sel("tag:critical", registry=reg) == ["N-P2"]
    assert sel("south-zone", kind="pump", registry=reg) == ["S-P1", "S-P2"]
    assert sel(["S-P2", "N-P1"], registry=reg) == ["N-P1", "S-P2"]   # registry order
    assert sel(None, pump_type="fixed_speed", station="SOUTH", registry=reg) == ["S-P2"]
    with pytest.raises(UnknownNameError, match=r"unknown asset 'N-P9'.*Did you mean.*'N-P1'"):
        sel("N-P9", registry=reg)
    with pytest.raises(UnknownNameError, match="unknown station 'east'.*'NORTH', 'SOUTH'"):
        sel("pumps at EAST", registry=reg)
    with pytest.raises(UnknownNameError, match="pump type"):
        sel(None, pump_type="turbo", registry=reg)
    with pytest.raises(KeyError):          # UnknownNameError is also a KeyError
        sel("tag:nope", registry=reg)


def test_choose_level_bounds_points():
    cl = pumplib.query.choose_level
    assert cl("2026-03-01", "2026-03-02") == "1min"
    assert cl("2026-03-01", "2026-04-01") == "15min"
    assert cl("2026-03-01", "2026-04-01", max_points=1000) == "1h"
    assert cl("2025-01-01", "2026-01-01", max_points=400) == "1D"
    assert cl("2000-01-01", "2026-01-01", max_points=10) == "1M"
    with pytest.raises(ArgumentError, match="not after"):
        cl("2026-03-02", "2026-03-01")
    with pytest.raises(ArgumentError, match="max_points"):
        cl("2026-03-01", "2026-03-02", max_points=0)


def test_feature_columns_expand_and_suggest():
    cols = ["energy_integral", "energy_mean", "energy_coverage", "runtime_duration",
            "runtime_coverage"]
    fc = pumplib.query.feature_columns
    assert fc("energy", cols) == ["energy_integral", "energy_mean", "energy_coverage"]
    assert fc(["runtime_duration", "energy_mean"], cols) == ["runtime_duration", "energy_mean"]
    with pytest.raises(UnknownNameError, match="Did you mean 'runtime'"):
        fc("runtim", cols)
    with pytest.raises(ArgumentError):
        fc([], cols)


def test_to_frame_long_and_wide():
    t = pd.date_range("2026-03-10", periods=3, freq="1h")
    ds = xr.Dataset({"a": (("asset", "time"), np.arange(6.0).reshape(2, 3))},
                    coords={"asset": ["P1", "P2"], "time": t})
    long = pumplib.query.to_frame(ds)
    assert list(long.columns) == ["time", "asset", "a"] and len(long) == 6
    assert long.loc[(long.asset == "P2") & (long.time == t[1]), "a"].item() == 4.0
    wide = pumplib.query.to_frame(ds, wide=True)
    assert wide[("a", "P1")].tolist() == [0.0, 1.0, 2.0]


def test_query_on_sample_lake(demo_store, demo_registry):
    ds = pumplib.query("energy", assets="NORTH", level="1D", start="2026-03-10",
                       end="2026-03-17", store=demo_store, registry=demo_registry)
    assert set(ds.data_vars) == {"energy_integral", "energy_mean", "energy_max",
                                 "energy_coverage"}
    assert list(ds["asset"].values) == ["N-P1", "N-P2", "N-P3", "N-T1"]
    # naive times are the utility's local days: 10 March local starts 09 Mar 23:00 UTC
    assert ds["time"].values[0] == np.datetime64("2026-03-09T23:00")
    assert ds.sizes["time"] == 7
    assert ds.energy_integral.chunks is not None           # lazy (dask) until asked
    # daily energy equals the sum of the hourly energy of the same local day
    h = pumplib.query("energy_integral", assets=["N-P2"], level="1h", start="2026-03-12",
                      end="2026-03-13", store=demo_store, registry=demo_registry)
    d = float(ds.energy_integral.sel(asset="N-P2").isel(time=2))
    assert h.sizes["time"] == 24
    assert float(h.energy_integral.sum()) == pytest.approx(d, rel=1e-9)
    frame = pumplib.query.to_frame(ds)
    assert len(frame) == 4 * 7 and {"time", "asset", "energy_integral"} <= set(frame)


def test_query_auto_level_and_errors(demo_store, demo_registry):
    kw = {"store": demo_store, "registry": demo_registry}
    ds = pumplib.query(["energy_integral"], assets="variable-speed pumps", start="2026-03-10",
                       end="2026-03-11", **kw)
    assert ds.attrs["level"] == "1min" and ds.attrs["level_chosen"] == "auto"
    assert list(ds["asset"].values) == ["N-P1", "S-P1"] and ds.sizes["time"] == 1440
    ds = pumplib.query("energy_integral", max_points=100, **kw)          # whole span
    assert ds.attrs["level"] == "1D" and ds.sizes["time"] <= 100
    with pytest.raises(UnknownNameError, match="Did you mean 'energy'"):
        pumplib.query("enrgy", level="1D", **kw)
    with pytest.raises(UnknownNameError, match="unknown level '2h'.*'1h'"):
        pumplib.query("energy", level="2h", **kw)
    with pytest.raises(UnknownNameError, match="N-P3"):
        pumplib.query("energy", assets="N-P4", level="1D", **kw)
    with pytest.raises(ArgumentError, match="not after"):
        pumplib.query("energy", level="1D", start="2026-03-12", end="2026-03-10", **kw)


def test_query_raw_and_point_in_time(demo_store, demo_registry):
    from pumplib.lake import Lake

    raw = pumplib.query.query_raw("power", "S-P1", "2026-03-09T01:00", "2026-03-09T02:00",
                                  cadence="1s", store=demo_store, timezone="UTC")
    assert raw.sizes == {"asset": 1, "time": 3600}
    first = Lake(demo_store).log()[-2].snapshot          # the first ingest: no golden table
    with pytest.raises(UnknownNameError, match="no golden table"):
        pumplib.query("energy", level="1D", snapshot=first, store=demo_store)


def test_cli_query_csv_parquet_and_errors(demo_store, tmp_path):
    from typer.testing import CliRunner

    from pumplib.cli import app

    r = CliRunner().invoke(app, ["query", "energy_integral", "--assets", "N-P1,N-P2",
                                 "--level", "1D", "--start", "2026-03-10", "--end", "2026-03-12",
                                 "--format", "csv", "--store", demo_store])
    assert r.exit_code == 0, r.output
    csv = r.stdout[r.stdout.index("time,asset"):]
    frame = pd.read_csv(io.StringIO(csv))
    assert list(frame.columns) == ["time", "asset", "energy_integral"] and len(frame) == 4
    out = tmp_path / "q.parquet"
    r = CliRunner().invoke(app, ["query", "runtime", "--assets", "pumps at SOUTH", "--start",
                                 "2026-03-10", "--end", "2026-03-11", "--format", "parquet",
                                 "--output", str(out), "--store", demo_store])
    assert r.exit_code == 0, r.output
    pq = pd.read_parquet(out)
    assert set(pq["asset"]) == {"S-P1", "S-P2"} and "runtime_duration" in pq
    r = CliRunner().invoke(app, ["query", "enrgy", "--store", demo_store])
    assert r.exit_code == 2 and "Did you mean 'energy'" in r.output
    r = CliRunner().invoke(app, ["query", "energy", "--format", "xlsx", "--store", demo_store])
    assert r.exit_code == 2 and "'parquet'" in r.output


def test_query_a_definition_version(demo_store, demo_registry):
    kw = {"level": "1D", "start": "2026-03-10", "end": "2026-03-12", "store": demo_store,
          "registry": demo_registry, "assets": ["N-P1"]}
    now = pumplib.query("energy", **kw).compute()
    v1 = pumplib.query("energy", version=1, **kw).compute()
    assert list(v1.data_vars) == list(now.data_vars)
    np.testing.assert_array_equal(v1.energy_integral.values, now.energy_integral.values)
