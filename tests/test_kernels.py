"""Tests of pumplib.features.kernels (fused read-and-reduce of raw lake chunks), the
chunk path of the eager engine, and the raw codec of the lake it reads fast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from pumplib import config
from pumplib.errors import ConfigError, PumplibError
from pumplib.features import aggregations as A
from pumplib.features import blocks, build, catalog_from_dicts, materialize, planning
from pumplib.features import kernels as K
from pumplib.features import tables as table_io
from pumplib.features.reading import direct_group
from pumplib.lake import Lake, raw_compressor

from .naive import naive_aggregate

TZ = "Europe/Amsterdam"


def _naive_fields(x, edges):
    """max, min, n, n_good, sum of each segment, the slow obvious way."""
    out = np.full((5, x.shape[0], len(edges) - 1), np.nan)
    for r in range(x.shape[0]):
        for i in range(len(edges) - 1):
            seg = x[r, edges[i]:edges[i + 1]]
            fin = seg[np.isfinite(seg)]
            out[2, r, i] = len(fin)
            out[3, r, i] = np.count_nonzero(~np.isnan(seg))
            out[4, r, i] = sum(fin.tolist(), 0.0)          # in time order
            if len(fin):
                out[0, r, i], out[1, r, i] = fin.max(), fin.min()
    return out


def test_segment_partials_equal_a_naive_loop():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 500))
    x[0, 50:130] = np.nan                                # a gap over a whole segment
    x[1, ::7] = np.nan
    x[2, 5], x[2, 6] = np.inf, -np.inf                   # not finite, but not missing
    edges = np.r_[0, 3, np.arange(60, 481, 60), 500]     # clipped first and last segments
    out = np.full((5, 3, len(edges) - 1), -1.0)
    K.segment_partials(x, edges, out, 0)
    ref = _naive_fields(x, edges)
    np.testing.assert_array_equal(out, ref)
    assert out[3, 2, 1] == 57 and out[2, 2, 1] == 55     # inf counts for coverage only
    assert np.isnan(out[0, 0, 2]) and out[2, 0, 2] == 0   # an empty minute


def test_kernel_partials_are_the_aggregation_module_partials():
    """The same fields as level_partials (the other engines), bit for bit."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3 * 3600)) * 1e3
    x[1, 100:250] = np.nan
    grid = A.Grid(1_774_000_800 + 37 * 60, 1, x.shape[1])   # starts mid-hour, ends mid-minute
    bounds = A.level_bounds("1min", grid.t0, grid.end, TZ)
    edges = A.grid_edges(bounds, grid)
    out = np.empty((5, 2, len(edges) - 1))
    K.segment_partials(x, edges, out, 0)
    ref = A.level_partials(x, grid, "1min", K.FIELDS, TZ, ~np.isnan(x))
    assert ref.fields == K.FIELDS
    np.testing.assert_array_equal(out, ref.data)



def test_array_partials_clip_the_ends_like_level_partials():
    """The in-memory kernel of incremental builds: periods clipped at both ends
    (a block starting and ending mid-minute) reduce like the other engines'."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 2 * 3600 + 17)) * 1e3
    x[0, :30] = np.nan                                  # a clipped first period with a gap
    x[2, -5:] = np.inf
    grid = A.Grid(1_774_000_800 + 37 * 60 + 23, 1, x.shape[1])
    bounds = A.level_bounds("1min", grid.t0, grid.end, TZ)
    edges = A.grid_edges(bounds, grid)
    assert np.diff(edges)[0] != 60 and np.diff(edges)[-1] != 60
    out = K.array_partials(x, edges, 60)
    ref = A.level_partials(x, grid, "1min", K.FIELDS, TZ, ~np.isnan(x))
    np.testing.assert_array_equal(out, ref.data)

def _lake_with_signals(path, step="1min", start="2026-03-28T07:13Z", steps=3 * 1440):
    rng = np.random.default_rng(5)
    lake = Lake(str(path), create=True)
    t0 = int(pd.Timestamp(start).timestamp())
    power = 20 + rng.normal(size=(2, steps))
    power[0, 50:400] = np.nan                           # a gap over a chunk boundary
    power[1, 1000] = np.inf
    flow = 150 + 10 * rng.normal(size=(2, steps))
    with lake.transaction("raw") as tx:
        tx.write_block(step, ["P1", "P2"], "power", t0, power)
        tx.write_block(step, ["P1", "P2"], "flow", t0, flow)
    return lake


def _bare_catalog():
    return catalog_from_dicts([
        {"name": "p", "version": 1, "unit": "kW", "inputs": ["power"], "expression": "power",
         "aggregations": ["mean", "min", "max", "count", "sum"]},
        {"name": "fl", "version": 1, "unit": "m3/h", "inputs": ["flow"], "expression": "flow",
         "aggregations": ["mean", "count"], "levels": ["15min", "1h", "1D", "1M"]},
        # not for the chunk path: a unit conversion, a condition, a median
        {"name": "q_ls", "version": 1, "unit": "L/s", "inputs": ["flow"],
         "expression": "flow", "aggregations": ["mean"]},
        {"name": "p_run", "version": 1, "unit": "kW", "inputs": ["power", "flow"],
         "expression": "power", "condition": "flow > 150", "aggregations": ["mean"]},
        {"name": "p_med", "version": 1, "unit": "kW", "inputs": ["power"],
         "expression": "power", "aggregations": ["median"], "levels": ["1h", "1D"]},
    ])


@pytest.mark.parametrize("chunk_samples", [720, 86400])
def test_chunk_path_equals_the_dask_engine_bit_for_bit(tmp_path, monkeypatch, chunk_samples):
    """Bare signals read chunk by chunk (12-h chunks: several per local day, over the DST
    night) give the lazy build's tables; the other features take the block path."""
    with config.set({"lake.chunk_samples": chunk_samples}):
        lake = _lake_with_signals(tmp_path / "lake")
    cat = _bare_catalog()
    raw = lake.open_raw("1min")
    grid = A.Grid.from_times(raw["time"].values)
    specs = planning.block_specs(cat, list(cat), list(A.LEVELS))
    assert set(blocks.chunk_features(cat, specs, raw, grid, TZ)) == {"p", "fl"}
    calls = []
    orig = K.chunk_partials_from_lake

    def spy(*a, **kw):
        calls.append(a[1])
        return orig(*a, **kw)

    monkeypatch.setattr(K, "chunk_partials_from_lake", spy)
    eager = build(raw, cat, registry=None, timezone=TZ, partials=True, engine="blocks")
    assert sorted(calls) == [["flow"], ["power"]] or sorted(calls) == [["flow", "power"]]
    lazy = materialize(build(lake.open_raw("1min"), cat, timezone=TZ, partials=True))
    assert set(eager) == set(lazy)
    for lv in lazy:
        xr.testing.assert_identical(eager[lv], lazy[lv])
    # and against the slow reference from raw samples
    secs = pd.DatetimeIndex(raw.time.values).as_unit("s").asi8.tolist()
    for i in range(1):                    # the naive loop takes inf (row 1) as a value
        ref = naive_aggregate(secs, raw.power.values[i].tolist(), 60, "1D", TZ)
        np.testing.assert_allclose(eager["1D"].p_mean.values[i], ref["mean"], rtol=1e-12)
        np.testing.assert_array_equal(eager["1D"].p_count.values[i], ref["count"])
        np.testing.assert_allclose(eager["1D"].p_coverage.values[i], ref["coverage"])


@pytest.mark.parametrize("cname", ["lz4", "zstd"])
def test_direct_chunk_reads_equal_zarr_reads(tmp_path, monkeypatch, cname):
    """Chunk bytes fetched from the store and decoded in place (several assets per chunk,
    a padded last asset chunk, chunks never written, Blosc lz4 or zstd) give the same
    partials as zarr's own reads, and those equal the naive loop."""
    rng = np.random.default_rng(8)
    t0 = int(pd.Timestamp("2026-03-28T00:00Z").timestamp())
    x = 20 + rng.normal(size=(5, 3 * 1440))
    x[1, 100:900] = np.nan
    x[2, 40] = np.inf
    lake = Lake(str(tmp_path / "lake"), create=True)
    settings = {"lake.asset_chunk": 2, "lake.chunk_samples": 1440, "lake.codec": cname}
    with config.set(settings), lake.transaction("raw") as tx:
        tx.write_block("1min", ["P1", "P2", "P3"], "power", t0, x[:3])
        tx.write_block("1min", ["P4", "P5"], "power", t0, x[3:, :1440])   # day 1 only
    g = zarr.open_group(store=lake.session().store, mode="r")["raw/1min"]
    assert g["power"].chunks == (2, 1440)
    assert K._chunk_decoder(g["power"]) is not None
    x[3:, 1440:] = np.nan                                # never written: the fill value
    edges = np.arange(0, 3 * 1440 + 1, 15)
    direct = K.chunk_partials_from_lake(g, ["power"], 0, 3 * 1440, edges, 15)["power"]
    for lo, hi in ((0, 3 * 1440), (100, 3000), (1500, 1600)):    # windows across chunks
        np.testing.assert_array_equal(K.read_window(g["power"], lo, hi), g["power"][:, lo:hi])
    monkeypatch.setattr(K, "_chunk_decoder", lambda arr: None)
    via_zarr = K.chunk_partials_from_lake(g, ["power"], 0, 3 * 1440, edges, 15)["power"]
    np.testing.assert_array_equal(direct, via_zarr)
    np.testing.assert_array_equal(direct, _naive_fields(x, edges))


def test_arrays_the_direct_reader_cannot_decode_go_through_zarr(tmp_path):
    """Sharded or big-endian arrays have no direct decoder (zarr reads them)."""
    root = zarr.open_group(str(tmp_path / "z"), mode="w")
    sharded = root.create_array("s", shape=(4, 100), chunks=(1, 10), shards=(2, 100),
                                dtype="float64")
    big = root.create_array("b", shape=(4, 100), chunks=(1, 10), dtype=">f8")
    plain = root.create_array("p", shape=(4, 100), chunks=(1, 10), dtype="float64",
                              compressors=None)
    assert K._chunk_decoder(sharded) is None and K._chunk_decoder(big) is None
    assert K._chunk_decoder(plain) is not None          # no compressor: bytes as they are
    plain[:] = np.arange(400.0).reshape(4, 100)
    edges = np.arange(0, 101, 10)
    got = K.chunk_partials_from_lake(root, ["p"], 0, 100, edges, 10)["p"]
    np.testing.assert_array_equal(got, _naive_fields(plain[:], edges))


def test_chunks_that_do_not_nest_fall_back_to_blocks(tmp_path):
    """1-s data in 90-s chunks: chunk edges are not minute edges, the block path runs."""
    with config.set({"lake.chunk_samples": 90}):
        lake = _lake_with_signals(tmp_path / "lake", step="1s", start="2026-03-29T00:59:00Z",
                                  steps=3 * 3600)
    raw = lake.open_raw("1s")
    g, off = direct_group(raw, ["power"])
    grid = A.Grid.from_times(raw["time"].values)
    edges = A.grid_edges(A.level_bounds("1min", grid.t0, grid.end, TZ), grid)
    assert K.chunk_partials_from_lake(g, ["power"], off, grid.n, edges, 60) is None
    cat = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW", "inputs": ["power"],
                               "expression": "power", "aggregations": ["mean", "max"],
                               "levels": ["1min", "1h", "1D"]}])
    eager = build(raw, cat, timezone=TZ, engine="blocks")
    lazy = materialize(build(lake.open_raw("1s"), cat, timezone=TZ))
    for lv in lazy:
        xr.testing.assert_identical(eager[lv], lazy[lv])


def test_new_raw_arrays_use_lz4_and_old_zstd_arrays_still_read(tmp_path):
    lake = _lake_with_signals(tmp_path / "lake", steps=1440)
    root = zarr.open_group(store=lake.session().store, mode="r")
    codec = root["raw/1min/power"].metadata.codecs[-1]
    assert codec.cname.value == "lz4" and codec.shuffle.value == "shuffle"
    # an array written with the codec of older lakes (Blosc zstd) reads as before
    with lake.transaction("old codec") as tx:
        g = tx.root["raw/1min"]
        old = g.create_array("current", shape=g["power"].shape, chunks=g["power"].chunks,
                             dtype="float64", fill_value=np.nan,
                             dimension_names=("asset", "time"),
                             compressors=zarr.codecs.BloscCodec(cname="zstd", clevel=1,
                                                               shuffle="shuffle"),
                             attributes={"units": "A"})
        old[:] = np.arange(old.size, dtype=float).reshape(old.shape)
    ds = lake.open_raw("1min")
    assert ds.current.values[1, -1] == ds.current.size - 1
    with config.set({"lake.codec": "zstd"}):
        assert raw_compressor(3).cname.value == "zstd"
    with pytest.raises(ConfigError, match="lz4"), config.set({"lake.codec": "snappy"}):
        raw_compressor()


def test_stacked_levels_read_as_variables_and_legacy_levels_still_merge(tmp_path,
                                                                       monkeypatch):
    """A level is one (column, asset, time) array; ``open_group`` shows its columns as
    variables, identical to the one-array-per-variable layout of older lakes, and an
    incremental build still merges into a level stored the old way."""
    lake = _lake_with_signals(tmp_path / "lake")
    cat = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW", "inputs": ["power"],
                               "expression": "power", "aggregations": ["mean", "max"],
                               "levels": ["1h", "1D"]}])
    raw = lake.open_raw("1min")
    full = build(raw, cat, timezone=TZ, engine="blocks", partials=True)
    first = build(raw.isel(time=slice(0, 1440)), cat, timezone=TZ, engine="blocks",
                  partials=True)
    end = pd.Timestamp(raw.time.values[-1]) + pd.Timedelta("1min")
    part = build(raw, cat, timezone=TZ, changed=(pd.Timestamp(raw.time.values[1440]), end),
                 store=None)
    stores = {}
    for stacked in (True, False):
        monkeypatch.setattr(table_io, "STACKED", stacked)
        out = Lake(str(tmp_path / f"s{stacked}"), create=True)
        table_io.write_tables(out, full)
        stores[stacked] = out
        root = zarr.open_group(store=out.session().store, mode="r")
        assert (table_io.VALUES in root["features/1D"]) is stacked
    for lv in full:
        a, b = (stores[s].open_group(f"features/{lv}").load() for s in (True, False))
        for ds in (a, b):
            del ds.attrs["snapshot"], ds.attrs["store"]
        xr.testing.assert_identical(a, b)
        assert list(a.data_vars) == list(full[lv].data_vars)
    # an older lake (one array per variable) takes an appended day the old way
    legacy = Lake(str(tmp_path / "legacy"), create=True)
    monkeypatch.setattr(table_io, "STACKED", False)
    table_io.write_tables(legacy, first)
    monkeypatch.setattr(table_io, "STACKED", True)
    table_io.write_tables(legacy, part)
    for lv in ("1h", "1D"):
        xr.testing.assert_identical(legacy.open_group(f"features/{lv}").p_mean.load(),
                                    stores[True].open_group(f"features/{lv}").p_mean.load())


@pytest.mark.parametrize("asset_chunk", [1, 8])
def test_chunk_path_applies_the_stored_quality_flags(tmp_path, monkeypatch, asset_chunk):
    """build_lake (quality on) reads the stored flags chunk by chunk: a spike-flagged
    hour leaves, a person's MANUAL_GOOD brings a flagged hour back, a signal without
    flags is not good; the tables equal the block path's (each asset in its own raw
    chunk, or both in one)."""
    from pumplib.features import build_lake
    from pumplib.quality import open_quality
    from pumplib.quality.flags import UNCHECKED, Flag

    with config.set({"lake.chunk_samples": 720, "lake.asset_chunk": asset_chunk}):
        lake = _lake_with_signals(tmp_path / "lake")
        with lake.transaction("flags") as tx:
            arr = tx.derived_array("quality", "1min", "power", "uint16", UNCHECKED)
            f = np.zeros(arr.shape, dtype=np.uint16)
            f[:, :600] = UNCHECKED                     # not validated yet
            f[0, 2000:2060] = int(Flag.SPIKE)
            f[1, 3000:3060] = int(Flag.SPIKE | Flag.MANUAL_GOOD)
            arr[:] = f
    cat = catalog_from_dicts([
        {"name": "p", "version": 1, "unit": "kW", "inputs": ["power"], "expression": "power",
         "aggregations": ["mean", "count"], "levels": ["1min", "1h", "1D"]},
        {"name": "fl", "version": 1, "unit": "m3/h", "inputs": ["flow"], "expression": "flow",
         "aggregations": ["count"], "levels": ["1h", "1D"]}])
    calls = []
    orig = K.chunk_partials_from_lake
    monkeypatch.setattr(K, "chunk_partials_from_lake",
                        lambda *a, **kw: calls.append(kw.get("flags")) or orig(*a, **kw))
    build_lake(lake, cat, ["1min", "1h", "1D"], timezone=TZ)
    assert calls and all(c is not None for c in calls)
    raw = lake.open_raw("1min")
    ref = build(raw, cat, ["1min", "1h", "1D"], timezone=TZ, engine="blocks",
                flags=open_quality(lake, "1min", like=raw))      # untagged: block path
    for lv in ("1min", "1h", "1D"):
        got = lake.open_group(f"features/{lv}").load()
        for k in ref[lv].data_vars:
            xr.testing.assert_equal(got[k].reset_coords(drop=True),
                                    ref[lv][k].reset_coords(drop=True))
    day = lake.open_group("features/1D").load()
    assert float(day.fl_count.sum()) == 0.0                         # flow has no flags
    counts = ref["1min"].p_count
    minute = pd.Timestamp(raw.time.values[2000])
    assert float(counts.sel(asset="P1", time=minute)) == 0.0        # spike: not good
    assert float(counts.sel(asset="P2", time=pd.Timestamp(raw.time.values[3000]))) == 1.0


def test_stacked_levels_share_chunks_between_columns_and_a_subset_rewrites_its_own(tmp_path):
    """Columns of a stacked level share chunks (COLUMN_CHUNK or more per chunk); writing one
    feature's columns again (a changed definition) replaces those and keeps the others."""
    lake = _lake_with_signals(tmp_path / "lake")
    cat = _bare_catalog()
    raw = lake.open_raw("1min")
    full = materialize(build(raw, cat, ["1h", "1D"], timezone=TZ, engine="blocks"))
    table_io.write_tables(lake, full)
    root = zarr.open_group(store=lake.session().store, mode="r")
    arr = root["features/1h"][table_io.VALUES]
    assert arr.chunks[0] == table_io._column_chunk(arr.shape[0], arr.shape[1], arr.chunks[2])
    assert arr.chunks[0] >= table_io.COLUMN_CHUNK                    # columns share chunks
    again = {lv: ds[[k for k in ds.data_vars if k.startswith("fl_")]] * 2.0
             for lv, ds in full.items()}
    for lv, ds in again.items():
        ds.attrs = full[lv].attrs
        for k in ds.data_vars:
            ds[k].attrs = full[lv][k].attrs
    table_io.write_tables(lake, again)
    for lv in full:
        got = lake.open_group(f"features/{lv}").load()
        for k in full[lv].data_vars:
            want = again[lv][k] if k.startswith("fl_") else full[lv][k]
            np.testing.assert_array_equal(got[k].values, want.values)


def test_whole_chunks_written_directly_are_the_bytes_zarr_writes(tmp_path):
    """Chunks of a stacked level are assembled and encoded by pumplib and stored as they
    are: the same bytes zarr stores (edge chunks padded with the fill value), for whole
    chunks, for chunks that held nothing before and for chunks merged with the periods
    they held (decoded first)."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    from pumplib.lake import raw_compressor

    store = zarr.storage.MemoryStore()
    g = zarr.open_group(store=store, mode="w")
    x = np.random.default_rng(0).normal(size=(10, 3, 50))
    x[0, 1, 7] = np.nan
    ref = g.create_array("ref", shape=x.shape, chunks=(8, 3, 20), dtype="float64",
                         fill_value=np.nan, compressors=raw_compressor())
    ref[:] = x
    arr = g.create_array("new", shape=x.shape, chunks=(8, 3, 20), dtype="float64",
                         fill_value=np.nan, compressors=raw_compressor())
    aa = arr._async_array
    codec = table_io._chunk_codec(aa)
    for ci in (0, 1):                            # every column of each column chunk
        cols = list(x[ci * 8:(ci + 1) * 8])
        sync(table_io._put_column_chunk(aa, codec, ci, cols, 0, 0))
    proto = default_buffer_prototype()

    def same_bytes(keys):
        for key in keys:
            assert sync(store.get(f"new/{key}", proto)).to_bytes() == \
                sync(store.get(f"ref/{key}", proto)).to_bytes(), key

    same_bytes(("c/0/0/0", "c/0/0/2", "c/1/0/1", "c/1/0/2"))
    # periods [30, 50) again, 1.0 added: chunk 1 (20-40) holds periods 20-29 already,
    # so it is decoded and merged; chunk 2 (40-50) is covered whole
    y = x + 1.0
    sync(table_io._put_column_chunk(aa, codec, 0, list(y[:8, :, 30:]), 30, 50))
    want = x.copy()
    want[:8, :, 30:] = y[:8, :, 30:]
    np.testing.assert_array_equal(arr[:], want)
    ref[:8, :, 30:] = y[:8, :, 30:]
    same_bytes(("c/0/0/1", "c/0/0/2"))
    # the last column chunk (2 of its 8 columns) merged into a chunk zarr never stored
    # (all fill value): the rows beyond stay the fill value
    z = np.full((2, 3, 50), np.nan)
    arr[8:, :, :] = z
    ref[8:, :, :] = z
    assert sync(store.get("new/c/1/0/0", proto)) is None
    sync(table_io._put_column_chunk(aa, codec, 1, list(y[8:, :, 5:12]), 5, 50))
    ref[8:, :, 5:12] = y[8:, :, 5:12]
    np.testing.assert_array_equal(arr[:], ref[:])
    same_bytes(("c/1/0/0",))
    with pytest.raises(PumplibError, match="bytes, not the"):
        codec.decode_into(sync(store.get("new/c/1/0/0", proto)).to_bytes(), np.empty(7))
    assert table_io._chunk_codec(g.create_array(
        "other", shape=(4, 5), chunks=(2, 5), dtype="float64")._async_array) is None
