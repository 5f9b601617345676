"""pumplib.store: point-in-time reads, training sets, versioned definitions, rebuilds."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pumplib import lineage
from pumplib import store as fs
from pumplib.errors import ArgumentError, LakeError, UnknownNameError
from pumplib.features import build_lake, catalog_from_dicts
from pumplib.lake import Lake

ROOT = Path(__file__).resolve().parents[1]
ENERGY = {"name": "energy", "version": 1, "unit": "kW", "inputs": ["power"],
          "expression": "power", "interpolation": "step", "aggregations": ["integral", "mean"]}


# --- get_features on the sample lake ---------------------------------------------------
def test_feature_names_expand_columns_select_and_reads_are_lazy(demo_store):
    ds = fs.get_features(["energy", "starts_starts"], ["N-P1", "S-P1"], "2026-03-10",
                         "2026-03-12", level="1h", store=demo_store)
    assert sorted(ds.data_vars) == ["energy_coverage", "energy_integral", "energy_max",
                                    "energy_mean", "starts_starts"]
    assert all(hasattr(ds[v].data, "dask") for v in ds.data_vars)       # nothing computed
    assert ds.asset.values.tolist() == ["N-P1", "S-P1"]
    # half-open [start, end): 48 hourly periods starting 2026-03-10 00:00 UTC
    assert ds.sizes["time"] == 48
    assert pd.Timestamp(ds.time.values[0]) == pd.Timestamp("2026-03-10")
    assert pd.Timestamp(ds.time.values[-1]) == pd.Timestamp("2026-03-11 23:00")
    raw = Lake(demo_store).open_group("features/1h")
    want = raw.energy_integral.sel(asset="S-P1", time=slice("2026-03-10", "2026-03-11 23:00"))
    np.testing.assert_array_equal(ds.energy_integral.sel(asset="S-P1").values, want.values)
    assert ds.attrs["snapshot"] == Lake(demo_store).tip()
    assert set(ds.attrs["definition_hashes"]) == {"energy", "starts"}
    # a large selection keeps the stored chunking; same values
    big = fs.get_features(["energy", "starts_starts"], ["N-P1", "S-P1"], "2026-03-10",
                          "2026-03-12", level="1h", store=demo_store, whole_chunk_bytes=0)
    xr.testing.assert_identical(big.compute(), ds.compute())


def test_get_features_errors_name_the_choices(demo_store):
    with pytest.raises(UnknownNameError, match="energyy.*energy"):
        fs.get_features("energyy", level="1D", store=demo_store)
    with pytest.raises(UnknownNameError, match="N-P9.*N-P1"):
        fs.get_features("energy", "N-P9", level="1D", store=demo_store)
    with pytest.raises(UnknownNameError, match="2h.*1h"):
        fs.get_features("energy", level="2h", store=demo_store)
    with pytest.raises(LakeError, match="nothing was committed"):
        fs.get_features("energy", level="1D", store=demo_store, as_of="2000-01-01")
    with pytest.raises(ArgumentError, match="one feature"):
        fs.get_features(["energy", "runtime"], level="1D", store=demo_store, version=1)


def test_pumplib_get_features_is_the_store_function():
    import pumplib

    assert pumplib.get_features is fs.get_features


# --- point in time, with late data -----------------------------------------------------------
def _small_lake(path: str, hours: int = 6):
    """Two pumps with constant power over the last ``hours`` whole hours (UTC)."""
    lake = Lake(path, create=True)
    end = (int(time.time()) // 3600 - 1) * 3600            # an hour that has ended
    start = end - hours * 3600
    n = (end - start) // 60
    power = np.vstack([np.full(n, 10.0), np.full(n, 20.0)])
    with lake.transaction("ingest test", {"kind": "ingest", "sources": [
            {"path": "test.csv", "sha256": "0" * 64, "cadence": "1min"}]}) as tx:
        tx.write_block("1min", ["P1", "P2"], "power", start, power)
    return lake, start, end


def test_point_in_time_read_with_late_data(tmp_path):
    lake, start, end = _small_lake(str(tmp_path / "pit"))
    with pytest.raises(LakeError, match="no golden tables"):
        fs.get_features("energy", store=lake)
    cat = catalog_from_dicts([ENERGY])
    first = build_lake(lake, cat, ["1h"], timezone="UTC", quality=False)
    time.sleep(0.05)
    known_at = pd.Timestamp.now(tz="UTC")
    time.sleep(0.05)
    # late data: the last hour of P1 is corrected (power 10 → 40 kW)
    late_start = end - 3600
    with lake.transaction("late ingest", {"kind": "ingest", "sources": [
            {"path": "late.csv", "sha256": "1" * 64, "cadence": "1min"}]}) as tx:
        tx.write_block("1min", ["P1"], "power", late_start, np.full((1, 60), 40.0))
    second = build_lake(lake, cat, ["1h"], timezone="UTC", quality=False)
    assert first != second

    t_last = pd.Timestamp(late_start, unit="s", tz="UTC")
    before = fs.get_features("energy_integral", "P1", t_last, t_last + pd.Timedelta("1h"),
                             level="1h", store=lake, as_of=known_at)
    after = fs.get_features("energy_integral", "P1", t_last, t_last + pd.Timedelta("1h"),
                            level="1h", store=lake)
    assert before.attrs["snapshot"] == first and after.attrs["snapshot"] == second
    assert float(before.energy_integral.values.item()) == pytest.approx(10.0)   # kWh in 1 h
    assert float(after.energy_integral.values.item()) == pytest.approx(40.0)
    # what the late data changed: exactly that hour of P1 (integral and mean)
    ch = fs.changes("energy", "1h", before=known_at, store=lake)
    assert sorted(ch.column) == ["energy_integral", "energy_mean"]
    assert set(ch.asset) == {"P1"} and set(ch.time) == {t_last.tz_localize(None)}
    assert ch.set_index("column").loc["energy_mean", ["before", "after"]].tolist() == [10, 40]
    assert ch.attrs == {"before": first, "after": second}
    assert fs.changes("energy", "1h", before=second, store=lake).empty

    # a training set: the event before the late commit sees the old value, the later one
    # the corrected value; P2 (not corrected) is the same for both
    events = pd.DataFrame({"asset": ["P1", "P1", "P2"],
                           "time": [known_at, pd.Timestamp.now(tz="UTC"), known_at],
                           "label": [0, 1, 0]})
    ts = fs.training_set(events, "energy", "1h", store=lake)
    assert ts.energy_integral.tolist() == pytest.approx([10.0, 40.0, 20.0])
    assert ts.feature_snapshot.tolist() == [first, second, first]
    assert (ts.feature_period_end <= ts.time).all()
    assert ts.label.tolist() == [0, 1, 0]
    # an event before anything was committed knows nothing
    early = fs.training_set(pd.DataFrame({"asset": ["P1"], "time": ["2001-01-01"]}),
                            "energy_integral", "1h", store=lake)
    assert np.isnan(early.energy_integral.iloc[0]) and early.feature_snapshot.iloc[0] is None


def test_training_set_takes_only_periods_that_ended(tmp_path):
    lake, start, end = _small_lake(str(tmp_path / "periods"), hours=3)
    cat = catalog_from_dicts([ENERGY])
    build_lake(lake, cat, ["1h"], timezone="UTC", quality=False)
    t0 = pd.Timestamp(start, unit="s", tz="UTC")
    events = pd.DataFrame({
        "asset": ["P1", "P1", "P2", "nope"],
        # inside the first hour: no period has ended yet; inside the second: the first one;
        # exactly at the end of the second hour: the second one
        "time": [t0 + pd.Timedelta("30min"), t0 + pd.Timedelta("90min"),
                 t0 + pd.Timedelta("2h"), t0 + pd.Timedelta("2h")]})
    ts = fs.training_set(events, ["energy_integral"], "1h", store=lake, point_in_time=False)
    assert np.isnan(ts.energy_integral[0])
    assert ts.feature_period_start[1] == t0
    assert ts.feature_period_start[2] == t0 + pd.Timedelta("1h")
    assert ts.energy_integral[1:3].tolist() == pytest.approx([10.0, 20.0])
    assert np.isnan(ts.energy_integral[3])                    # unknown asset: no values
    stale = fs.training_set(events.iloc[[2]], "energy_integral", "1h", store=lake,
                            point_in_time=False, max_age="10min")
    assert stale.energy_integral.tolist() == pytest.approx([20.0])
    gone = fs.training_set(events.assign(time=t0 + pd.Timedelta("10h")).iloc[[2]],
                           "energy_integral", "1h", store=lake, point_in_time=False,
                           max_age="1h")
    assert np.isnan(gone.energy_integral.iloc[0])
    with pytest.raises(ArgumentError, match="when"):
        fs.training_set(events, "energy", "1h", store=lake, time="when")


# --- versioned definitions ------------------------------------------------------------------
def test_edit_definition_rebuild_new_version_old_readable_lineage(demo_store_copy, tmp_path,
                                                                    demo_registry):
    from pumplib import catalog

    defs = tmp_path / "features"
    shutil.copytree(ROOT / "catalogs" / "features", defs)
    lake = Lake(demo_store_copy)
    old_build = lake.log()[0]
    assert old_build.metadata["kind"] == "features"
    old_hash = old_build.metadata["definition_hashes"]["energy"]

    # the main job recorded version 1 of every definition before its build
    assert set(fs.definition_history(store=lake).change) == {"created"}
    first = fs.sync(defs, lake, registry=demo_registry)
    assert first["changes"].empty and first["rebuilt"] == []
    old_values = fs.get_features("energy_integral", level="1D", store=lake).load()

    # a change of meaning: a new version and a rebuild of that feature only
    f = defs / "energy.yaml"
    f.write_text(f.read_text().replace("expression: power", "expression: power * 2"))
    res = fs.sync(defs, lake, registry=demo_registry)
    row = res["changes"].set_index("feature").loc["energy"]
    assert (row.version, row.change) == (2, "meaning") and len(res["changes"]) == 1
    assert res["rebuilt"] == ["energy"]
    new_hash = row.hash
    assert new_hash != old_hash

    # the new version in the catalog
    out = tmp_path / "catalogs"
    catalog.generate(lake, out, catalog=defs)
    entry = catalog.show("energy", out)
    assert entry["version"] == 2 and entry["definition_hash"] == new_hash
    assert entry["up_to_date"] and entry["last_build_snapshot"] == res["snapshot"]

    # the old version is still readable, by version and by snapshot
    v1 = fs.get_features("energy_integral", level="1D", store=lake, version=1)
    v2 = fs.get_features("energy_integral", level="1D", store=lake, version=2)
    by_snap = fs.get_features("energy_integral", level="1D", store=lake,
                              snapshot=old_build.snapshot)
    assert v1.attrs["snapshot"] == old_build.snapshot
    np.testing.assert_array_equal(v1.energy_integral.values, old_values.energy_integral.values)
    np.testing.assert_array_equal(by_snap.energy_integral.values, v1.energy_integral.values)
    np.testing.assert_allclose(v2.energy_integral.values, 2 * v1.energy_integral.values)
    assert v2.energy_integral.attrs["version"] == 2
    assert v2.energy_integral.attrs["definition_hash"] == new_hash

    # lineage of the new table: the new definition hash and the same raw data
    meta = lineage.table_lineage("features/1D", lake)
    assert meta["snapshot"] == res["snapshot"]
    assert meta["definition_hashes"]["energy"] == new_hash
    assert meta["run_id"] and meta["versions"]["pumplib"]
    raw_old = lineage.raw_source(old_build.metadata["raw_snapshot"], lake)
    assert lineage.raw_source(meta["raw_snapshot"], lake) == raw_old
    assert lake.log()[[c.snapshot for c in lake.log()].index(raw_old)].metadata["kind"] in (
        "quality", "ingest")
    up = lineage.upstream("energy", "1D", lake, catalog=None)
    assert new_hash in up.title and f"definition:energy@{new_hash}" in up.graph
    assert "signal:power" in up.graph          # inputs of the recorded definition
    events = lineage.openlineage_events(lake)
    assert {"pumplib.definitions", "pumplib.features"} <= {e["job"]["name"] for e in events}
    for e in events:
        lineage.validate_openlineage(e)
    assert f"commit:{raw_old}" in up.graph

    # a description-only change: metadata, same version, no rebuild
    f.write_text(f.read_text().replace("Electrical energy", "Electric energy"))
    res3 = fs.sync(defs, lake, registry=demo_registry)
    assert res3["changes"].change.tolist() == ["metadata"]
    assert res3["changes"].version.tolist() == [2] and res3["rebuilt"] == []
    hist = fs.definition_history("energy", lake)
    assert hist.version.tolist() == [1, 2, 2]
    assert json.loads(hist.spec.iloc[-1])["description"].startswith("Electric energy")
    diff = fs.version_diff("energy", lake)
    assert "- expression: power\n" in diff + "\n" and "+ expression: power * 2" in diff

    # rebuilding version 1 from the raw snapshot its build recorded: bit-identical
    rebuilt = fs.rebuild("energy", 1, lake, registry=demo_registry)
    for lv, ds in rebuilt.items():
        stored = fs.get_features("energy", level=lv, store=lake, version=1)
        for col in stored.data_vars:
            a, b = stored[col].values, ds[col].values
            assert a.shape == b.shape and a.tobytes() == b.tobytes(), (lv, col)
    with pytest.raises(UnknownNameError, match="version"):
        fs.rebuild("energy", 7, lake)


def test_versions_of_unrecorded_builds_come_from_the_stored_attributes(demo_store):
    from pumplib.features import build_lake
    from pumplib.features.definitions import catalog_from_dicts

    # a lake whose build never recorded its definitions (build_lake alone)
    lake = Lake("memory://unrecorded-versions")
    with lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1"], "power", 0, np.full((1, 2880), 2.0))
    cat = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW", "inputs": ["power"],
                               "expression": "power", "aggregations": ["mean"]}])
    snap = build_lake(lake, cat, ["1h", "1D"], timezone="UTC", quality=False)
    v = fs.versions("p", lake)
    assert v.version.tolist() == [1] and v.change.tolist() == ["built"]
    assert v.last_build.iloc[0] == snap
    assert "not recorded" in fs.version_diff("p", lake)
    # the main job records them: version 1, created, last built by the newest build
    v = fs.versions("specific_energy", demo_store)
    assert v.version.tolist() == [1] and v.change.tolist() == ["created"]
    assert v.last_build.iloc[0] == Lake(demo_store).log()[0].snapshot
    with pytest.raises(UnknownNameError):
        fs.versions("no_such_feature", demo_store)


def test_cli_features_sync_and_versions(demo_store_copy, tmp_path):
    from typer.testing import CliRunner

    from pumplib.cli import app

    defs = tmp_path / "features"
    shutil.copytree(ROOT / "catalogs" / "features", defs)
    r = CliRunner()
    args = ["--store", demo_store_copy, "--catalog", str(defs), "--registry",
            str(ROOT / "catalogs" / "assets.yaml")]
    res = r.invoke(app, ["features", "sync", *args, "--no-rebuild"])
    assert res.exit_code == 0, res.output   # the main job recorded them already
    assert "no definition changed" in res.stdout, res.stdout
    res = r.invoke(app, ["features", "sync", *args])
    assert res.exit_code == 0 and "no definition changed" in res.stdout
    f = defs / "starts.yaml"
    f.write_text(f.read_text().replace("tags: [", "tags: [counting, "))
    res = r.invoke(app, ["features", "sync", *args])
    assert res.exit_code == 0 and "starts: v1" in res.stdout and "(metadata)" in res.stdout
    res = r.invoke(app, ["features", "versions", "starts", "--store", demo_store_copy])
    assert res.exit_code == 0 and "+ tags:" in res.stdout and "counting" in res.stdout
    res = r.invoke(app, ["features", "versions", "nope", "--store", demo_store_copy])
    assert res.exit_code == 2 and "nope" in res.output


def test_levels_stored_one_array_per_column_read_the_same(tmp_path):
    """Older lakes keep one Zarr array per column (no stacked ``_values``)."""
    lake = Lake(str(tmp_path / "old"), create=True)
    times = np.arange(4, dtype=np.int64) * 3600
    vals = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    with lake.transaction("old-style level", {"kind": "features", "levels": ["1h"],
                                              "definition_hashes": {"energy": "h1"}}) as tx:
        g = tx.root.require_group("features").require_group("1h")
        g.attrs.update({"definition_hashes": {"energy": "h1"}, "timezone": "UTC"})
        a = g.create_array("asset", shape=(2,), dtype=str, dimension_names=("asset",))
        a[:] = np.array(["P1", "P2"], dtype=object)
        for name, v in (("time", times), ("time_end", times + 3600)):
            arr = g.create_array(name, shape=(4,), dtype="int64", dimension_names=("time",),
                                 attributes={"units": "seconds since 1970-01-01T00:00:00"})
            arr[:] = v
        for col, data in (("energy_integral", vals), ("energy_coverage", vals * 0 + 1)):
            arr = g.create_array(col, shape=(2, 4), dtype="float64", fill_value=np.nan,
                                 dimension_names=("asset", "time"),
                                 attributes={"feature": "energy", "version": 1,
                                             "definition_hash": "h1",
                                             "coordinates": "time_end"})
            arr[:] = data
    ds = fs.get_features("energy", "P2", "1970-01-01 01:00", "1970-01-01 03:00", level="1h",
                         store=lake)
    assert sorted(ds.data_vars) == ["energy_coverage", "energy_integral"]
    assert hasattr(ds.energy_integral.data, "dask")
    assert ds.energy_integral.values.tolist() == [[6.0, 7.0]]
    assert pd.DatetimeIndex(ds.time_end.values).hour.tolist() == [2, 3]
    big = fs.get_features("energy_integral", level="1h", store=lake, whole_chunk_bytes=0)
    np.testing.assert_array_equal(big.energy_integral.values, vals)     # the chunked path


def test_rebuild_of_a_feature_using_asset_attributes_loads_the_registry(demo_store,
                                                                         monkeypatch):
    monkeypatch.chdir(ROOT)             # the default registry: catalogs/assets.yaml
    rebuilt = fs.rebuild("energy_cost", None, demo_store, levels=["1D"])
    stored = fs.get_features("energy_cost_integral", level="1D", store=demo_store)
    a, b = stored.energy_cost_integral.values, rebuilt["1D"].energy_cost_integral.values
    assert np.isfinite(a).any() and a.tobytes() == b.tobytes()
