"""pumplib.catalog: generated Intake catalogs that intake itself opens (lazily), search, CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import intake
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from pumplib import catalog
from pumplib import store as fs
from pumplib.errors import ArgumentError, UnknownNameError

ROOT = Path(__file__).resolve().parents[1]

FEATURE_KEYS = {"description", "unit", "owner", "tags", "version", "definition_hash", "levels",
                "aggregations", "quality_policy", "created", "updated",
                "last_build_snapshot", "raw_snapshot", "assets", "columns"}


@pytest.fixture(scope="module")
def cats(demo_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("catalogs")
    files = catalog.generate(demo_store, out, record=False)      # the fixture is read-only
    assert [f.name for f in files] == ["lake.yaml", "features.yaml"]
    return out


def test_intake_opens_the_generated_catalogs_lazily(cats, demo_store):
    feats = intake.from_yaml_file(str(cats / "features.yaml"))
    assert "specific_energy" in feats.entries and "energy" in feats.entries
    ds = feats["specific_energy"].read(level="1D")
    assert hasattr(ds.specific_energy_mean.data, "dask")               # lazy
    want = fs.get_features("specific_energy", level="1D", store=demo_store)
    np.testing.assert_array_equal(ds.specific_energy_mean.values,
                                  want.specific_energy_mean.values)
    lake = intake.from_yaml_file(str(cats / "lake.yaml"))
    assert {"raw_1min", "raw_1s", "quality_1min", "features_1h", "features_1M"} <= set(
        lake.entries)
    raw = lake["raw_1min"].read()
    assert hasattr(raw.power.data, "dask") and raw.sizes["asset"] == 7
    q = lake["quality_1min"].read()
    assert q.power.dtype == np.uint16
    # the store is named relative to the catalog folder, so catalogs travel with the repo
    text = (cats / "features.yaml").read_text()
    assert text.startswith("# pumplib features")
    doc = yaml.safe_load(text)
    assert doc["version"] == 2
    assert doc["entries"]["energy"]["kwargs"]["url"].startswith("{CATALOG_DIR}/")
    assert doc["entries"]["energy"]["reader"] == "pumplib.catalog:FeatureReader"


def test_feature_entries_carry_their_metadata(cats, demo_store):
    from pumplib.lake import Lake

    meta = catalog.show("specific_energy", cats)
    assert set(meta) >= FEATURE_KEYS
    assert meta["unit"] == "kWh/m3" and meta["owner"] == "energy"
    assert meta["quality_policy"]["min_coverage"] == 0.5
    assert meta["quality_policy"]["condition"].startswith("run_state > 0.5")
    assert meta["levels"] == ["1min", "15min", "1h", "1D", "1W", "1M"]
    assert meta["aggregations"]["1D"] == ["mean", "min", "max"]
    build = Lake(demo_store).log()[0]
    assert meta["last_build_snapshot"] == build.snapshot
    assert meta["raw_snapshot"] == build.metadata["raw_snapshot"]
    assert meta["definition_hash"] == build.metadata["definition_hashes"]["specific_energy"]
    assert meta["up_to_date"] is True
    assert meta["assets"] == ["N-P1", "N-P2", "N-P3", "S-P1", "S-P2"]   # pumps, not tanks
    lake_meta = catalog.show("features_1D", cats)
    assert lake_meta["group"] == "features/1D" and "specific_energy" in lake_meta["features"]
    with pytest.raises(UnknownNameError, match="specific_energy"):
        catalog.show("specific_enrgy", cats)


def test_list_and_search(cats, demo_store):
    frame = catalog.entries(cats)
    assert len(frame[frame.catalog == "features"]) == 12
    assert frame.set_index("name").loc["energy", "version"] == 1
    hits = catalog.search("energy per volume", cats)
    assert hits.name.iloc[0] == "specific_energy" and hits.matched.iloc[0] == 3
    units = catalog.search("kWh/m3", cats, which="features")
    assert set(units.name) == {"specific_energy", "normalised_specific_energy",
                               "specific_energy_vs_floor"}
    assert "unit" in units.set_index("name").loc["specific_energy", "fields"]
    tank = catalog.search("S-T1", cats)                # tanks: lake groups, no pump feature
    assert set(tank.catalog) == {"lake"}
    tagged = catalog.search("reliability", cats, which="features")
    assert {"runtime", "starts"} <= set(tagged.name)
    live = catalog.search("energy per volume", store=demo_store)
    assert live.name.iloc[0] == "specific_energy"
    with pytest.raises(ArgumentError):
        catalog.search("  ", cats)
    with pytest.raises(UnknownNameError, match="features"):
        catalog.search("x", cats, which="nope")


def test_read_helper_and_missing_catalog(cats, tmp_path):
    ds = catalog.read("features_1W", cats)
    assert "energy_integral" in ds and hasattr(ds.energy_integral.data, "dask")
    with pytest.raises(ArgumentError, match="catalog generate"):
        catalog.entries(tmp_path)


def test_cli_catalog_commands(cats, demo_store, tmp_path):
    from pumplib.cli import app

    r = CliRunner()
    res = r.invoke(app, ["catalog", "search", "energy", "per", "volume", "--dir", str(cats),
                         "--json"])
    assert res.exit_code == 0, res.output
    assert res.stdout.lstrip().startswith("[") and '"specific_energy"' in res.stdout
    res = r.invoke(app, ["catalog", "show", "energy", "--dir", str(cats)])
    assert res.exit_code == 0 and "definition_hash:" in res.stdout
    res = r.invoke(app, ["catalog", "list", "--dir", str(cats), "--json"])
    assert res.exit_code == 0 and '"raw_1min"' in res.stdout
    res = r.invoke(app, ["catalog", "show", "nope", "--dir", str(cats)])
    assert res.exit_code == 2 and "nope" in res.output
    out = tmp_path / "cats"
    res = r.invoke(app, ["catalog", "generate", "--store", demo_store, "--dir", str(out),
                         "--no-record"])
    assert res.exit_code == 0 and (out / "features.yaml").exists()


def test_generate_records_definition_versions(demo_store_copy, tmp_path):
    from pumplib.lake import Lake

    lake = Lake(demo_store_copy)
    n = len(lake.log())
    # the main job recorded the definitions; a described change records metadata only
    defs = tmp_path / "features"
    shutil.copytree(ROOT / "catalogs" / "features", defs)
    f = defs / "energy.yaml"
    f.write_text(f.read_text().replace("description: ", "description: (edited) ", 1))
    catalog.generate(lake, tmp_path / "c1", catalog=defs)
    assert len(lake.log()) == n + 1 and lake.log(1)[0].metadata["kind"] == "definitions"
    assert fs.definition_history("energy", lake).change.tolist() == ["created", "metadata"]
    meta = catalog.show("energy", tmp_path / "c1")
    hist = fs.definition_history("energy", lake)
    assert (meta["created"], meta["updated"]) == tuple(hist.recorded_at)
    assert fs.record_definitions(defs, store=lake).empty   # nothing changed: no commit
    assert len(lake.log()) == n + 1
