"""The main job on the bundled sample, checked against the simulator's truth."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pumplib.assets import AssetRegistry
from pumplib.ingest import ingest
from pumplib.lake import Lake
from pumplib.pipeline import run_demo, sample_files

from .conftest import ROOT

SAMPLE = ROOT / "data_samples"
REGISTRY = ROOT / "catalogs" / "assets.yaml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    store = str(tmp_path_factory.mktemp("demo") / "store")
    return store, run_demo(store=store, sample=SAMPLE, registry=REGISTRY, log=lambda m: None,
                           progress=False)


def _truth():
    t = pd.concat([pd.read_csv(SAMPLE / "truth.csv").assign(src="pumps_1min_4w.parquet"),
                   pd.read_csv(SAMPLE / "truth_1s.csv").assign(src="south_1s.csv.gz")])
    t["start"], t["end"] = pd.to_datetime(t["start"]), pd.to_datetime(t["end"])
    return t


def test_sample_formats_detected():
    assert {k: [p.name for p in v] for k, v in sample_files(SAMPLE).items()} == {
        "wide_csv": ["north_1min_wide.csv"], "long_parquet": ["pumps_1min_4w.parquet"],
        "long_csv": ["south_1s.csv.gz"]}


def test_demo_ingests_every_row(demo):
    store, out = demo
    files = {Path(f["path"]).name: f for i in out["ingests"] for f in i["files"]}
    assert {k: v["rows_read"] for k, v in files.items()} == {
        "north_1min_wide.csv": 2880, "pumps_1min_4w.parquet": 1_892_736,
        "south_1s.csv.gz": 1_597_062}
    for f in files.values():
        # every row is ingested, counted as an exact duplicate, or quarantined;
        # long dropout rows (no value, quality 0) are kept as quality codes
        assert f["samples_ingested"] + f["duplicates_dropped"] + f["conflicts_quarantined"] \
            == (f["rows_read"] * 28 if f["format"] == "wide_csv" else f["rows_read"])
    lake = out["lake"]
    # initial + 3 ingests + quality for 2 cadences + definition versions + 1 feature build
    assert lake["commits"] == 8
    kinds = [c.metadata.get("kind") for c in Lake(store).log()]
    assert kinds[:5] == ["features", "definitions", "quality", "quality", "ingest"]
    # the six golden levels, plus the day partials that incremental builds roll up
    assert set(out["features"]["levels"]) == {"1min", "15min", "1h", "1D", "1W", "1M",
                                              "_partials/1D"}
    assert sorted(lake["cadences"]["1min"]["assets"]) == ["N-P1", "N-P2", "N-P3", "N-T1", "S-P1",
                                                          "S-P2", "S-T1"]
    assert lake["cadences"]["1s"]["assets"] == ["S-P1", "S-P2", "S-T1"]
    assert lake["cadences"]["1min"]["start"] == "2026-03-09T00:00:00+00:00"


def test_quarantine_is_explained_by_the_truth(demo):
    """Every quarantined row lies in a fault window of the truth table: conflicting
    duplicates come from clock-skew faults, duplicate rows from duplicate-row
    faults (or skew); out-of-order rows are ingested and noted."""
    store, out = demo
    lake = Lake(store)
    q = lake.quarantine()
    truth = _truth()

    def explained(rows, kinds):
        w_all = truth[truth.kind.isin(kinds)]
        for r, t in zip(rows.itertuples(), pd.to_datetime(rows["timestamp"]), strict=True):
            w = w_all[(w_all.asset == r.asset) & (w_all.src == Path(r.source).name)]
            pad = pd.to_timedelta(w.params.str.extract(r'"offset_s":(\d+)')[0].fillna("0")
                                  .astype(int), unit="s")
            assert ((w.start - pad <= t) & (t <= w.end + pad)).any(), r

    kind = q["reason"].str.split(":").str[0]
    assert set(kind) == {"conflicting duplicate", "duplicate row"}
    explained(q[kind == "conflicting duplicate"], ["clock_skew"])
    explained(q[kind == "duplicate row"], ["duplicate", "clock_skew"])
    notes = lake.ingest_notes()
    assert len(notes) and notes["reason"].str.startswith("out-of-order row").all()
    explained(notes, ["out_of_order", "clock_skew"])
    # every row of every duplicate-row fault window is quarantined as a copy
    files = {Path(f["path"]).name: f for i in out["ingests"] for f in i["files"]}
    dup = truth[(truth.kind == "duplicate") & (truth.src == "pumps_1min_4w.parquet")]
    minutes = int(((dup.end - dup.start) / pd.Timedelta("1min") + 1).sum())
    assert files["pumps_1min_4w.parquet"]["duplicates_dropped"] >= minutes


def test_units_and_time_zones_agree_across_formats(demo, tmp_path):
    """The wide CSV (local wall time, across the DST change) and the long Parquet
    (UTC) of the same run give the same cells."""
    reg = AssetRegistry.load(REGISTRY)
    a = str(tmp_path / "wide")
    ingest(SAMPLE / "north_1min_wide.csv", "wide_csv", store=a, registry=reg,
           timezone="Europe/Amsterdam")
    wide = Lake(a).open_raw("1min")
    long = Lake(demo[0]).open_raw("1min").sel(asset=wide.asset, time=wide.time)
    assert str(wide.time.values[0]).startswith("2026-03-28T00:00")
    assert wide.sizes["time"] == 2880   # 2 days at 1 min, no hole or overlap at DST
    for v in ["flow", "power", "discharge_pressure", "level"]:
        x, y = wide[v].values, long[v].values
        both = ~np.isnan(x) & ~np.isnan(y)
        assert both.sum() > 2000 and np.array_equal(x[both], y[both]), v


def test_notebook_runs(demo, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / "01_raw_lake.ipynb", as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    old = os.environ.get("PUMPLIB_STORE__URL")
    os.environ["PUMPLIB_STORE__URL"] = demo[0]
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        if old is None:
            os.environ.pop("PUMPLIB_STORE__URL")
        else:
            os.environ["PUMPLIB_STORE__URL"] = old
    text = "".join(str(o) for c in nb.cells for o in c.get("outputs", []))
    assert "N-P1" in text or "flow" in text
    assert "conflicting duplicate" in text


def test_weekly_energy_matches_the_simulated_truth(demo):
    """End to end: historian exports → lake → quality → golden tables. The weekly
    energy of each pump agrees with the noise-free power of the simulator wherever
    the week's coverage is (almost) complete."""
    from pumplib.pipeline import feature_overview
    from pumplib.simulate import SAMPLE_SEED, simulate

    reg = AssetRegistry.load(REGISTRY)
    power = {}
    for chunk in simulate(reg, start="2026-03-09", days=28, freq="1min", seed=SAMPLE_SEED):
        for col in chunk.state.columns:
            if col.endswith(".power"):
                power.setdefault(col.split(".")[0], []).append(chunk.state[col])
    power = pd.DataFrame({a: pd.concat(v) for a, v in power.items()})
    local = power.index.tz_convert(reg.utility["timezone"])
    week = (local - pd.to_timedelta(local.day_of_week, unit="D")).normalize().strftime("%Y-%m-%d")
    truth = (power / 60).groupby(week).sum().stack().swaplevel()   # kWh per pump and week
    truth.index.names = ["asset", "period"]
    got = feature_overview(Lake(demo[0]), "1W", reg.utility["timezone"])
    both = got.join(truth.rename("truth"), how="inner")
    full = both[both["coverage"] >= 0.99]
    assert len(both) == 20 and len(full) >= 15
    rel = (full["energy_kwh"] / full["truth"] - 1).abs()
    assert rel.max() < 0.005, full.assign(rel=rel)
    # where quality flags removed samples, the energy is lower, never invented
    assert (both["energy_kwh"] <= both["truth"] * 1.005).all()
