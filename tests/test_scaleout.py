"""Scale-out stays proven: a build on a ``dask.distributed`` cluster of worker
*processes*, reading the lake from S3-compatible storage (moto's server), stores
golden tables identical to the in-process build of a local lake."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_lake import s3_server  # noqa: F401  (the moto S3 server fixture)

ROOT = Path(__file__).resolve().parents[1]
LEVELS = ["15min", "1D", "1M"]


@pytest.mark.s3
def test_two_worker_processes_on_s3_build_what_one_process_builds_locally(
        tmp_path, s3_server):  # noqa: F811
    distributed = pytest.importorskip("distributed")
    from pumplib.assets import AssetRegistry
    from pumplib.features import build_lake, load_catalog
    from pumplib.ingest import ingest
    from pumplib.lake import Lake

    reg = AssetRegistry.load(ROOT / "catalogs" / "assets.yaml")
    cat = load_catalog(str(ROOT / "catalogs" / "features"))
    tz = reg.utility["timezone"]
    sample = ROOT / "data_samples" / "pumps_1min_4w.parquet"
    s3 = f"s3://lake/scaleout?endpoint_url={s3_server}"
    local = str(tmp_path / "local")
    for url in (s3, local):
        ingest(sample, "long_parquet", store=url, registry=reg, progress=False)
    build_lake(Lake(local), cat, LEVELS, registry=reg, timezone=tz, quality=False)

    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client, \
            distributed.get_task_stream(client) as tasks:
        snap = build_lake(Lake(s3), cat, LEVELS, registry=reg, timezone=tz, quality=False)
    assert snap is not None
    workers = {t["worker"] for t in tasks.data}
    assert len(workers) == 2, f"the build ran on {len(workers)} worker process(es)"

    for lv in LEVELS:
        want = Lake(local).open_group(f"features/{lv}").load().drop_attrs()
        got = Lake(s3).open_group(f"features/{lv}").load().drop_attrs()
        assert want.sizes["time"] > 0 and len(want.data_vars) > 20
        assert want.identical(got), lv
