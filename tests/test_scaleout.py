"""Scale-out stays proven: a build on a ``dask.distributed`` cluster of worker
*processes*, reading the lake from S3-compatible storage (moto's server), stores
golden tables identical to the in-process build of a local lake, for a full build
(each worker writes its own asset group's chunks into an Icechunk fork, a long history
in spans of days; the client merges the forks and commits once) and for an appended
day after it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from .test_lake import s3_server  # noqa: F401  (the moto S3 server fixture)

ROOT = Path(__file__).resolve().parents[1]
LEVELS = ["15min", "1D", "1W", "1M"]
#: attributes that name the lake a table was written to (two lakes here)
LAKE_ATTRS = ("raw_snapshot", "snapshot", "store")


def _tables(lake, snapshot: str | None = None) -> dict:
    """Every stored level of ``lake`` (and the day partials), loaded, without the
    attributes that name the lake."""
    out = {}
    for lv in [*LEVELS, "_partials/1D"]:
        ds = lake.open_group(f"features/{lv}", snapshot=snapshot).load()
        out[lv] = ds.drop_attrs(deep=False).assign_attrs(
            {k: v for k, v in ds.attrs.items() if k not in LAKE_ATTRS})
    return out


def _assert_same(want: dict, got: dict, what: str) -> None:
    for lv, ds in want.items():
        assert ds.sizes["time"] > 0 and len(ds.data_vars) > 20, (what, lv)
        assert ds.identical(got[lv]), f"{what}: level {lv} differs"


@pytest.mark.s3
def test_two_worker_processes_on_s3_build_what_one_process_builds_locally(
        tmp_path, s3_server):  # noqa: F811
    distributed = pytest.importorskip("distributed")
    from pumplib import config
    from pumplib.assets import AssetRegistry
    from pumplib.features import build_lake, load_catalog
    from pumplib.ingest import ingest
    from pumplib.lake import Lake

    reg = AssetRegistry.load(ROOT / "catalogs" / "assets.yaml")
    cat = load_catalog(str(ROOT / "catalogs" / "features"))
    tz = reg.utility["timezone"]
    frame = pd.read_parquet(ROOT / "data_samples" / "pumps_1min_4w.parquet")
    last = frame["timestamp"].max().floor("D")
    first_part, last_day = tmp_path / "a.parquet", tmp_path / "b.parquet"
    frame[frame["timestamp"] < last].to_parquet(first_part)
    frame[frame["timestamp"] >= last].to_parquet(last_day)
    day = (last, frame["timestamp"].max() + pd.Timedelta("1min"))
    s3 = f"s3://lake/scaleout?endpoint_url={s3_server}"
    local = str(tmp_path / "local")
    with config.set({"lake.asset_chunk": 2}):     # raw chunks of 2 assets
        for url in (s3, local):
            ingest(first_part, "long_parquet", store=url, registry=reg, progress=False)
    kw = {"registry": reg, "timezone": tz, "quality": False}
    build_lake(Lake(local), cat, LEVELS, **kw)
    n_assets = Lake(local).open_raw().sizes["asset"]
    assert n_assets == 7

    # tasks of 3 assets: rows 0-2 and 6- start on a raw chunk (read straight from the
    # lake through a view of their rows), rows 3-5 do not (read through xarray); each
    # task of 3 builds its 26 days in spans of 10 days (30 pump-days)
    with config.set({"features.cluster_assets": 3, "features.stream_pump_days": 30}), \
            distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                     dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as tasks:
            snap = build_lake(Lake(s3), cat, LEVELS, **kw)
        full_tasks = list(tasks.data)
        for url in (s3, local):
            ingest(last_day, "long_parquet", store=url, registry=reg, progress=False)
        with distributed.get_task_stream(client) as tasks:
            build_lake(Lake(s3), cat, LEVELS, changed=day, **kw)
        day_tasks = sorted(t["key"].split("-")[0] for t in tasks.data)
    assert snap is not None
    # one task per asset group, each on a worker process; nothing else ran on the cluster
    # (no table was computed there for the client to gather)
    assert sorted(t["key"].split("-")[0] for t in full_tasks) == ["build_group"] * 3
    workers = {t["worker"] for t in full_tasks}
    assert len(workers) == 2, f"the build ran on {len(workers)} worker process(es)"
    meta = next(c.metadata for c in Lake(s3).log() if c.snapshot == snap)
    assert meta["kind"] == "features" and meta["levels"] == [*LEVELS, "_partials/1D"]
    assert meta["definition_hashes"] == {n: d.hash for n, d in cat.items()}

    want = _tables(Lake(local))
    _assert_same(want, _tables(Lake(s3), snapshot=snap), "full build")

    build_lake(Lake(local), cat, LEVELS, changed=day, **kw)
    _assert_same(_tables(Lake(local)), _tables(Lake(s3)), "appended day")
    # the appended day on the workers too: a task per group builds, reports its periods
    # and writes its rows (where it keeps its tables)
    assert day_tasks == ["_table_shapes"] * 3 + ["update_group"] * 3 + ["write_group"] * 3


def test_a_cluster_build_takes_only_the_samples_the_quality_flags_call_good(tmp_path):
    """Quality flags on a local lake: each task applies its rows' flags block by block."""
    distributed = pytest.importorskip("distributed")
    from pumplib import config
    from pumplib.assets import AssetRegistry
    from pumplib.features import build_lake, load_catalog
    from pumplib.ingest import ingest
    from pumplib.lake import Lake
    from pumplib.quality import validate

    reg = AssetRegistry.load(ROOT / "catalogs" / "assets.yaml")
    cat = load_catalog(str(ROOT / "catalogs" / "features"))
    frame = pd.read_parquet(ROOT / "data_samples" / "pumps_1min_4w.parquet")
    days = tmp_path / "days.parquet"
    frame[frame["timestamp"] < frame["timestamp"].min() + pd.Timedelta("3D")].to_parquet(days)
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    for url in (one, two):
        ingest(days, "long_parquet", store=url, registry=reg, progress=False)
        validate(Lake(url), registry=reg)
    kw = {"registry": reg, "timezone": reg.utility["timezone"], "quality": True}
    build_lake(Lake(one), cat, LEVELS, **kw)
    with config.set({"features.cluster_assets": 4}), \
            distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                     dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client, \
            distributed.get_task_stream(client) as tasks:
        build_lake(Lake(two), cat, LEVELS, **kw)
    assert sorted(t["key"].split("-")[0] for t in tasks.data) == ["build_group"] * 2
    want, got = _tables(Lake(one)), _tables(Lake(two))
    assert want["15min"].to_array().notnull().sum() > 1000      # good samples made values
    _assert_same(want, got, "quality flags")


def test_cluster_docstring_examples_run():
    import doctest

    import pumplib.features.cluster as module

    res = doctest.testmod(module)
    assert res.failed == 0 and res.attempted > 0
