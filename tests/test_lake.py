from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import zarr
from typer.testing import CliRunner

from pumplib import LakeError, UnknownNameError, config
from pumplib.errors import ConfigError, ConflictError
from pumplib.ingest import ingest
from pumplib.lake import Lake, cadence_seconds, snap_cadence, storage_for

from .conftest import ROOT
from .naive import lake_cells
from .test_ingest import long_rows, write

T0 = int(pd.Timestamp("2026-03-09", tz="UTC").timestamp())


def test_write_read_roundtrip_and_merge_only_present_cells(tmp_path):
    lake = Lake(str(tmp_path / "s"), create=True)
    with lake.transaction("one") as tx:
        tx.write_block("1min", ["A", "B"], "flow", T0, np.array([[1.0, 2, 3], [4, 5, 6]]))
    with lake.transaction("two") as tx:
        tx.write_block("1min", ["B"], "flow", T0 + 60, np.array([[50.0, np.nan, 70]]))
    ds = lake.open_raw("1min")
    assert ds.flow.sel(asset="A").values[:3].tolist() == [1, 2, 3]
    assert np.isnan(ds.flow.sel(asset="A").values[3])
    assert ds.flow.sel(asset="B").values.tolist() == [4, 50, 6, 70]
    assert str(ds.time.values[0]) == "2026-03-09T00:00:00.000000000"
    assert ds.flow.attrs["units"] == "m3/h" and ds.flow.dims == ("asset", "time")
    assert [c.message for c in lake.log()] == ["two", "one", "Repository initialized"]


def test_readers_see_only_committed_data(tmp_path):
    lake = Lake(str(tmp_path / "s"), create=True)
    with lake.transaction("base") as tx:
        tx.write_block("1min", ["A"], "power", T0, np.array([[1.0]]))
    with pytest.raises(RuntimeError, match="boom"), lake.transaction("never") as tx:
        tx.write_block("1min", ["A"], "power", T0, np.array([[99.0]]))
        # a reader in the middle of the write sees the last commit
        assert Lake(str(tmp_path / "s")).open_raw().power.values.tolist() == [[1.0]]
        raise RuntimeError("boom")
    assert lake.open_raw().power.values.tolist() == [[1.0]]
    assert lake.log()[0].message == "base"


def test_time_travel_by_snapshot_and_time(tmp_path):
    lake = Lake(str(tmp_path / "s"), create=True)
    with lake.transaction("v1") as tx:
        tx.write_block("1h", ["A"], "level", T0, np.array([[1.0, 1.0]]))
    first = lake.tip()
    moment = lake.log()[0].written_at
    with lake.transaction("v2") as tx:
        tx.write_block("1h", ["A"], "level", T0, np.array([[2.0, 2.0]]))
    assert lake.open_raw("1h").level.values.tolist() == [[2.0, 2.0]]
    assert lake.open_raw("1h", snapshot=first).level.values.tolist() == [[1.0, 1.0]]
    assert lake.open_raw("1h", as_of=moment).level.values.tolist() == [[1.0, 1.0]]


def test_errors_name_valid_choices(tmp_path):
    lake = Lake("memory://errors")
    with pytest.raises(UnknownNameError, match="unknown cadence '2min'.*'1min'"):
        cadence_seconds("2min")
    with lake.transaction("x") as tx:
        tx.write_block("1h", ["A"], "level", T0, np.array([[1.0]]))
    with pytest.raises(UnknownNameError, match=r"unknown cadence '1s'.*Valid choices: '1h'"):
        lake.open_raw("1s")
    with pytest.raises(UnknownNameError, match="unknown signal 'flw'.*Did you mean 'flow'"), \
            lake.transaction("y") as tx:
        tx.write_block("1h", ["A"], "flw", T0, np.array([[1.0]]))
    with pytest.raises(LakeError, match="unsupported scheme 'ftp'"):
        storage_for("ftp://host/x")
    with pytest.raises(LakeError, match=r"^no lake at '.*missing': run `pumplib demo`[^\n]*$"):
        Lake(str(tmp_path / "missing"))              # reading: one line, nothing created
    assert not (tmp_path / "missing").exists()


def test_snap_cadence():
    assert snap_cadence(1.0) == "1s" and snap_cadence(58) == "1min" and snap_cadence(3600) == "1h"


def test_summary_counts(tmp_path, registry):
    f = write(tmp_path / "a.csv", "\n".join(long_rows(4)) + "\n")
    store = str(tmp_path / "s")
    ingest(f, "long_csv", store=store, registry=registry)
    s = Lake(store).summary()
    c = s["cadences"]["1min"]
    assert c["assets"] == ["N-P1", "N-P2"] and c["samples"] == 12
    assert c["start"] == "2026-03-09T00:00:00+00:00" and c["end"] == "2026-03-09T00:03:00+00:00"
    assert s["commits"] == 2 and s["quarantined_rows"] == 0


# -- a process killed mid-write ------------------------------------------------------------
CHILD = textwrap.dedent("""
    import sys, time
    from pumplib.lake import Transaction
    from pumplib.ingest import ingest
    from pumplib.assets import AssetRegistry
    orig = Transaction.write_block
    def slow(self, *a, **k):
        n = orig(self, *a, **k)
        print("WROTE", flush=True)
        time.sleep(0.2)
        return n
    Transaction.write_block = slow
    ingest(sys.argv[1], "long_csv", store=sys.argv[2], registry=AssetRegistry.load(sys.argv[3]),
           batch_rows=50)
    print("COMMITTED", flush=True)
""")


def test_killed_ingest_leaves_lake_at_last_commit(tmp_path, registry_file, registry):
    store = str(tmp_path / "s")
    base = write(tmp_path / "base.csv", "\n".join(long_rows(20)) + "\n")
    ingest(base, "long_csv", store=store, registry=registry)
    lake = Lake(store)
    tip, before = lake.tip(), lake_cells(lake.open_raw())
    # a second file over other days and the same days
    rows = long_rows(600, "2026-03-08T22:00:00Z")
    big = write(tmp_path / "big.csv", "\n".join(rows) + "\n")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(big), store, str(registry_file)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "WROTE"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    lake = Lake(store)
    assert lake.tip() == tip
    assert lake_cells(lake.open_raw()) == before
    # the file was not recorded: ingesting it again works and lands whole
    res = ingest(big, "long_csv", store=store, registry=registry)
    assert res.files[0].status == "ingested" and res.files[0].samples_ingested == 1800


# -- object storage ---------------------------------------------------------------------------
@pytest.fixture
def s3_server(monkeypatch):
    pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
        Bucket="lake")
    yield endpoint
    server.stop()


@pytest.mark.s3
def test_same_api_on_s3_compatible_storage(tmp_path, registry, s3_server):
    url = f"s3://lake/utility-a?endpoint_url={s3_server}"
    f = write(tmp_path / "a.csv", "\n".join(long_rows(10)) + "\n")
    res = ingest(f, "long_csv", store=url, registry=registry)
    assert res.samples_ingested == 30
    local = str(tmp_path / "local")
    ingest(f, "long_csv", store=local, registry=registry)
    assert lake_cells(Lake(url).open_raw()) == lake_cells(Lake(local).open_raw())
    assert Lake(url).log()[0].metadata["sources"][0]["sha256"] == res.files[0].sha256
    # re-ingest is a no-op on S3 too
    assert ingest(f, "long_csv", store=url, registry=registry).files[0].status == "skipped"


CONCURRENT = textwrap.dedent("""
    import sys, time
    from pumplib.assets import AssetRegistry
    from pumplib.ingest import core, ingest
    from pumplib.lake import Transaction
    attempts = []
    once, wq = core._ingest_once, Transaction.write_quarantine
    def counted(*a, **k):
        attempts.append(1)
        return once(*a, **k)
    def slow(self, *a, **k):   # both writers hold an open session at the same time
        time.sleep(1.5)
        return wq(self, *a, **k)
    core._ingest_once, Transaction.write_quarantine = counted, slow
    res = ingest(sys.argv[1], "long_csv", store=sys.argv[2],
                 registry=AssetRegistry.load(sys.argv[3]), batch_rows=7)
    print(res.files[0].status, res.samples_ingested, len(attempts))
""")


def test_two_concurrent_ingests_both_land(tmp_path, registry_file):
    """Two processes ingest different files into one local lake at the same time:
    the later committer starts again on top of the other's snapshot."""
    store = str(tmp_path / "s")
    Lake(store, create=True)
    a = write(tmp_path / "a.csv", "\n".join(long_rows(120)) + "\n")
    b = write(tmp_path / "b.csv", "\n".join(long_rows(120, "2026-03-12T00:00:00Z")) + "\n")
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(f), store,
                               str(registry_file)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
             for f in (a, b)]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(o[:2] for o in outs) == [["ingested", "360"], ["ingested", "360"]]
    assert sorted(int(o[2]) for o in outs) == [1, 2]   # one of them had to start again
    lake = Lake(store)
    assert len(lake.log()) == 3
    assert lake.summary()["cadences"]["1min"]["samples"] == 720


def test_arrays_added_later_chunk_like_the_group_was_created(tmp_path):
    """The assets per chunk are fixed when a raw grid is created: a signal or a quality
    array added after the setting changed chunks like the arrays already there."""
    lake = Lake(str(tmp_path / "lake"), create=True)
    t0 = 1_774_000_800
    with config.set({"lake.asset_chunk": 1}), lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1", "P2", "P3"], "power", t0, np.ones((3, 100)))
    with config.set({"lake.asset_chunk": 8}), lake.transaction("more") as tx:
        tx.write_block("1min", ["P1", "P2", "P3"], "flow", t0, np.ones((3, 100)))
        flags = tx.derived_array("quality", "1min", "flow", "uint16", 0)
    root = zarr.open_group(store=lake.session().store, mode="r")
    assert root["raw/1min/power"].chunks[0] == root["raw/1min/flow"].chunks[0] == 1
    assert root["quality/1min/flow"].chunks[0] == flags.chunks[0] == 1
    with config.set({"lake.asset_chunk": 8}), lake.transaction("new grid") as tx:
        tx.write_block("1h", ["P1"], "power", t0, np.ones((1, 10)))
    root = zarr.open_group(store=lake.session().store, mode="r")
    assert root["raw/1h"].attrs["asset_chunk"] == 8 and root["raw/1h/power"].chunks[0] == 8


def test_readers_of_one_snapshot_share_its_session(tmp_path):
    """A snapshot never changes: a Lake remembers its read-only sessions by snapshot id
    (a few, newest kept), so a build's readers open it once; the tip is looked up anew."""
    from pumplib import lake as L
    from pumplib.lake import Lake

    lake = Lake(str(tmp_path / "lake"), create=True)
    with lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1"], "power", 0, np.full((1, 60), 1.0))
    tip = lake.session()                                  # the tip, remembered by its id
    assert L.cached_session(lake.url, tip.snapshot_id) is tip
    assert lake.session(tip.snapshot_id) is tip
    assert Lake(str(tmp_path / "lake")).session(tip.snapshot_id) is tip   # another Lake
    with lake.transaction("more") as tx:
        tx.write_block("1min", ["P1"], "power", 3600, np.full((1, 60), 2.0))
    assert lake.session().snapshot_id != tip.snapshot_id  # a new tip is seen
    from pumplib import lakeio

    for i in range(lakeio._SESSIONS_MAX):
        L._remember_session(f"memory://other-{i}", tip)
    assert L.cached_session(lake.url, tip.snapshot_id) is None          # oldest dropped


def test_open_raw_makes_one_trip_to_zarrs_event_loop(tmp_path, monkeypatch):
    """Opening a grid of eight signals waits on zarr's event loop once, not once per
    signal (dask makes each array's meta by reading an empty selection unless given
    one): a feature build's writer keeps that loop busy, so every trip queues."""
    import zarr.core.array
    import zarr.core.sync

    lake = Lake(str(tmp_path / "lake"), create=True)
    with lake.transaction("raw") as tx:
        for sig in ("flow", "power", "speed", "current", "voltage", "level", "pressure",
                    "vibration"):
            tx.write_block("1min", ["P1", "P2"], sig, 1_774_000_800, np.ones((2, 30)))
    lake.session()                               # the session itself is not counted
    trips = []
    for mod in (zarr.core.sync, zarr.core.array):
        real = mod.sync
        monkeypatch.setattr(mod, "sync", lambda *a, real=real, **k: trips.append(1)
                            or real(*a, **k))
    ds = lake.open_raw("1min")
    assert len(ds.data_vars) == 8 and len(trips) == 1


def test_open_raw_equals_xarrays_open_of_the_grid(tmp_path):
    """``open_raw`` makes the Dataset of a raw grid from the zarr metadata itself (one
    trip to zarr's event loop, no xarray backend): the same variables, values, attributes
    and dask chunks as ``xr.open_zarr`` of the group, source quality codes included;
    other ``chunks=`` still go through xarray, and a missing cadence names the others."""
    import xarray as xr

    lake = Lake(str(tmp_path / "lake"), create=True)
    t0 = 1_774_000_800
    rng = np.random.default_rng(3)
    vals = rng.normal(size=(3, 500))
    vals[1, 100:150] = np.nan
    sq = np.where(rng.random((3, 500)) < 0.1, 2, -1).astype(np.int16)
    with config.set({"lake.chunk_samples": 200, "lake.asset_chunk": 2}), \
            lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1", "P2", "P3"], "power", t0, vals, sq=sq)
        tx.write_block("1min", ["P1", "P3"], "flow", t0 + 6000, np.ones((2, 50)))
    ds = lake.open_raw("1min")
    ref = xr.open_zarr(lake.session().store, group="raw/1min", consolidated=False, chunks={},
                       drop_variables=["time"])
    assert sorted(ds.data_vars) == sorted(ref.data_vars) == ["flow", "power", "power_sq"]
    assert list(ds.data_vars) == sorted(ds.data_vars)            # a stable order
    for name in ref.data_vars:
        a, b = ds[name], ref[name]
        assert a.dims == b.dims and a.dtype == b.dtype and a.attrs == b.attrs
        assert a.data.chunks == b.data.chunks and a.data.name.startswith("open_dataset-")
        np.testing.assert_array_equal(a.values, b.values)
    off = (t0 - ds.attrs["origin"]) // 60
    np.testing.assert_array_equal(ds.power.values[:, off:off + 500], vals)
    np.testing.assert_array_equal(ds.power_sq.values[:, off:off + 500], sq)
    assert ds.attrs == {**ref.attrs, "snapshot": lake.session().snapshot_id,
                        "store": lake.url}
    assert ds.asset.values.tolist() == ["P1", "P2", "P3"] and ds.asset.dtype == object
    assert ds.time.values[0] == np.datetime64(ds.attrs["origin"], "s")
    assert ds.time.values[off] == np.datetime64(t0, "s")
    assert ds.indexes["time"].equals(pd.DatetimeIndex(ds.time.values))
    for name in ref.data_vars:                   # dask's meta, without reading the store
        assert type(ds[name].data._meta) is type(ref[name].data._meta)
        assert ds[name].data._meta.dtype == ref[name].data._meta.dtype
    other = lake.open_raw("1min", chunks={"time": 400})           # through xarray
    assert other.power.data.chunks[1][0] == 400
    np.testing.assert_array_equal(other.power.values[:, off:off + 500], vals)
    with pytest.raises(UnknownNameError, match="1min"):
        lake.open_raw("1h")



def test_feature_chunk_readers_take_the_grid_open_raw_opened(tmp_path, monkeypatch):
    """The feature builder's chunk readers take the raw group ``open_raw`` opened (its
    group and assets, by lake, snapshot and path) instead of opening it again."""
    from pumplib import lake as lake_mod
    from pumplib.features import builder

    lake = Lake(str(tmp_path / "lake"), create=True)
    with lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1", "P2"], "power", 1_774_000_800, np.ones((2, 120)))
    ds = lake.open_raw("1min")
    snap = lake.session().snapshot_id
    group, assets = lake_mod.opened_grid(lake.url, snap, "raw/1min")
    assert assets == ["P1", "P2"] and group["power"].shape == ds.power.shape
    opened = []
    monkeypatch.setattr(lake_mod, "open_root", lambda *a, **k: opened.append(a))
    builder._raw_group.cache_clear()
    got, off = builder._direct_group(ds, ["power"])
    assert got is group and off == 0 and not opened
    assert lake_mod.opened_grid(lake.url, "another snapshot", "raw/1min") is None


def test_docstring_examples_run():
    import doctest

    from pumplib import lake as L
    from pumplib import lakeio

    for mod in (L, lakeio):
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert res.failed == 0 and res.attempted > 0, mod.__name__


# -- a lake with no data yet ------------------------------------------------------------------
def test_lake_with_only_its_first_commit_reads_as_an_empty_lake(tmp_path):
    """What a failed or killed first ingest leaves: the repository and its first commit."""
    lake = Lake(str(tmp_path / "s"), create=True)
    assert len(lake.log()) == 1
    assert lake.cadences() == []
    s = lake.summary()
    assert s["cadences"] == {} and s["quarantined_rows"] == 0 and s["commits"] == 1
    assert lake.quarantine().empty and list(lake.quarantine().columns)[:2] == ["run_id", "source"]
    assert lake.tables("quarantine") == {} and lake.ingest_notes().empty
    assert lake.open_group("features/1D") is None and lake.source_hashes() == {}
    for cad in (None, "1min"):
        with pytest.raises(UnknownNameError, match=r"^the lake at .* has no data yet: ingest "
                                                   r"some files first$"):
            lake.open_raw(cad)
    assert lake.check().ok
    # the first write makes the root group
    with lake.transaction("first") as tx:
        tx.write_block("1min", ["P1"], "flow", T0, np.array([[1.0]]))
    assert lake.cadences() == ["1min"]


# -- concurrent writers in one process: rebased, not redone ---------------------------------
def _open_tx(lake, message):
    cm = lake.transaction(message)
    return cm, cm.__enter__()


def _close_tx(cm):
    cm.__exit__(None, None, None)


def test_a_writer_of_other_arrays_is_rebased_not_redone(tmp_path):
    lake = Lake(str(tmp_path / "s"), create=True)
    with lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1", "P2"], "flow", T0, np.ones((2, 5)))
    base = lake.tip()
    a, ta = _open_tx(lake, "ingest more")      # both read the same tip
    b, tb = _open_tx(lake, "a table")
    ta.write_block("1min", ["P1"], "power", T0, np.full((1, 5), 7.0))
    tb.write_table("tables", "t1", pd.DataFrame({"x": [1, 2]}), {})
    _close_tx(a)
    _close_tx(b)                               # rebased over a's commit
    assert tb.rebased_over == [ta.snapshot] and ta.rebased_over == []
    log = lake.log()
    assert [c.message for c in log[:2]] == ["a table", "ingest more"]
    assert {c.metadata["base_snapshot"] for c in log[:2]} == {base}
    ds = lake.open_raw("1min")
    assert float(ds.power.sel(asset="P1").max()) == 7.0
    assert lake.tables("tables")["t1"].x.tolist() == [1, 2]


def test_a_true_conflict_names_the_other_writers_commit(tmp_path):
    lake = Lake(str(tmp_path / "s"), create=True)
    with lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1"], "flow", T0, np.ones((1, 5)))
    a, ta = _open_tx(lake, "first writer")
    b, tb = _open_tx(lake, "second writer")
    ta.write_block("1min", ["P1"], "flow", T0, np.full((1, 5), 2.0))
    tb.write_block("1min", ["P1"], "flow", T0, np.full((1, 5), 3.0))
    _close_tx(a)
    with pytest.raises(ConflictError) as got:
        _close_tx(b)
    msg = str(got.value)
    assert "\n" not in msg and ta.snapshot in msg and "'first writer'" in msg
    assert "/raw/1min/flow" in msg and "nothing of this write landed" in msg
    assert lake.tip() == ta.snapshot
    assert float(lake.open_raw("1min").flow.max()) == 2.0


def test_redo_on_conflict_runs_a_writer_again_on_top(tmp_path):
    from pumplib.lake import redo_on_conflict

    lake = Lake(str(tmp_path / "s"), create=True)
    with lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1"], "flow", T0, np.ones((1, 5)))
    calls = []

    @redo_on_conflict(tries=2)
    def writer():
        calls.append(1)
        with lake.transaction("mine") as tx:
            tx.write_block("1min", ["P1"], "flow", T0, np.full((1, 5), 5.0))
            if len(calls) == 1:                # another writer commits the same chunk meanwhile
                with lake.transaction("theirs") as other:
                    other.write_block("1min", ["P1"], "flow", T0, np.full((1, 5), 4.0))
        return tx.snapshot

    snap = writer()
    assert len(calls) == 2 and snap == lake.tip()
    assert [c.message for c in lake.log()[:2]] == ["mine", "theirs"]
    assert float(lake.open_raw("1min").flow.max()) == 5.0


# -- gc and check -------------------------------------------------------------------------------
def _orphan(lake):
    """Chunks a killed writer leaves: written to the store, never committed."""
    s = lake.repo.writable_session("main")
    arr = zarr.open_group(s.store, mode="a")["raw/1min/flow"]
    arr[:] = np.random.default_rng(0).random(arr.shape)


def test_gc_frees_orphan_chunks_and_expires_history_but_the_tip_and_tags(tmp_path, registry):
    from pumplib.lakecare import folder_bytes

    store = str(tmp_path / "s")
    f = write(tmp_path / "a.csv", "\n".join(long_rows(300)) + "\n")
    ingest(f, "long_csv", store=store, registry=registry)
    lake = Lake(store)
    for i in range(3):
        with lake.transaction(f"edit {i}") as tx:
            tx.write_block("1min", ["N-P1"], "flow", T0, np.full((1, 10), float(i)))
    lake.repo.create_tag("keep", lake.log()[1].snapshot)
    tagged, tip = lake.log()[1].snapshot, lake.tip()
    before_cells = lake_cells(lake.open_raw())
    _orphan(lake)
    size = folder_bytes(store)
    # the grace keeps fresh objects: nothing is deleted yet
    dry = lake.gc(older_than="none", dry_run=True)
    assert dry.chunks_deleted == 0 and dry.snapshots_expired == []
    got = lake.gc(older_than="none", grace="0s")
    assert got.chunks_deleted >= 1 and got.bytes_deleted > 0
    assert got.bytes_after == folder_bytes(store) < size
    assert lake.tip() == tip and len(lake.log()) == 5
    # history: everything older than now leaves, but the tip, the tag and the first commit
    got = lake.gc(older_than="0s", grace="0s")
    assert tagged not in got.snapshots_expired and got.snapshots_expired
    kept = [c.message for c in lake.log()]
    assert kept[0].startswith("gc: record of") and kept[-1] == "Repository initialized"
    assert len(kept) == 2
    assert [s.id for s in lake.repo.ancestry(tag="keep")][0] == tagged
    assert lake_cells(lake.open_raw()) == before_cells and lake.check(all_snapshots=True).ok
    # files ingested by expired commits are still known: not ingested twice
    assert ingest(f, "long_csv", store=store, registry=registry).files[0].status == "skipped"


def test_gc_settings_and_options_are_checked(tmp_path):
    lake = Lake(str(tmp_path / "s"), create=True)
    with pytest.raises(ConfigError, match=r"^--grace: '3x' is not a duration"):
        lake.gc(grace="3x")
    with config.set({"lake.retention": "soon"}), \
            pytest.raises(ConfigError, match=r"^lake.retention: 'soon' is not a duration"):
        lake.gc()


def test_check_names_each_broken_array_in_one_line(tmp_path):
    from pumplib.cli import app

    store = tmp_path / "s"
    lake = Lake(str(store), create=True)
    with lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1"], "flow", T0, np.ones((1, 5)))
        tx.write_block("1min", ["P1"], "power", T0, np.ones((1, 5)))
    runner = CliRunner()
    ok = runner.invoke(app, ["lake", "check", "--store", str(store)])
    assert ok.exit_code == 0 and "sound" in ok.output
    # lose the chunk of one array
    flow_chunk = lake.session().store
    chunks = sorted((store / "chunks").iterdir(), key=lambda p: p.stat().st_mtime)
    assert flow_chunk is not None and chunks
    for c in chunks:
        c.unlink()
    rep = Lake(str(store)).check()
    assert not rep.ok and len(rep.broken) >= 2
    assert all(line.count("\n") == 0 and " at snapshot " in line for line in rep.broken)
    assert any(line.startswith("raw/1min/flow at snapshot") for line in rep.broken)
    assert Lake(str(store)).check(quick=True).ok     # the chunk index is intact
    bad = runner.invoke(app, ["lake", "check", "--store", str(store)])
    assert bad.exit_code == 1 and "broken: raw/1min/flow at snapshot" in bad.output
    js = runner.invoke(app, ["lake", "check", "--store", str(store), "--json"])
    assert js.exit_code == 1 and '"ok": false' in js.output


def test_lake_gc_command_says_what_it_freed(tmp_path):
    from pumplib.cli import app

    store = tmp_path / "s"
    lake = Lake(str(store), create=True)
    with lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1"], "flow", T0, np.ones((1, 50)))
    _orphan(lake)
    runner = CliRunner()
    dry = runner.invoke(app, ["lake", "gc", "--store", str(store), "--grace", "0s", "--dry-run"])
    assert dry.exit_code == 0 and "would free 1 chunks" in dry.output
    got = runner.invoke(app, ["lake", "gc", "--store", str(store), "--grace", "0s", "--json"])
    assert got.exit_code == 0 and '"chunks_deleted": 1' in got.output
    bad = runner.invoke(app, ["lake", "gc", "--store", str(store), "--older-than", "tomorrow"])
    assert bad.exit_code == 2 and "--older-than: 'tomorrow' is not a duration" in bad.output


# -- a mistyped object store -------------------------------------------------------------------
@pytest.mark.s3
def test_missing_repository_on_s3_is_one_line_and_creates_nothing(s3_server):
    import boto3

    from pumplib.cli import app

    url = f"s3://lake/no-such-lake?endpoint_url={s3_server}"
    with pytest.raises(LakeError, match=r"^no lake at 's3://lake/no-such-lake\?endpoint_url="):
        Lake(url)
    res = CliRunner().invoke(app, ["lake", "summary", "--store", url])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.output.strip().count("\n") <= 1 and "no lake at" in res.output
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    assert s3.list_objects_v2(Bucket="lake", Prefix="no-such-lake").get("KeyCount", 0) == 0
