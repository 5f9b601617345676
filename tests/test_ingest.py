from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pumplib import IngestError, UnknownNameError, config
from pumplib.ingest import Format, detect_format, formats, get_format, ingest, register_format
from pumplib.lake import Lake
from pumplib.units import conversion

from .naive import lake_cells, naive_localize, naive_long_csv


def write(path, text):
    path.write_text(text)
    return path


def long_rows(n_min=10, start="2026-03-09T00:00:00Z"):
    t0 = pd.Timestamp(start)
    rows = ["timestamp,tag,value,quality"]
    for i in range(n_min):
        ts = (t0 + pd.Timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows += [f"{ts},N.P1.FLOW,{50 + i / 10},192", f"{ts},N.P1.KW,{20 + i},192",
                 f"{ts},N.P2.TB,{100 + i},192"]
    return rows


# -- formats ------------------------------------------------------------------------
def test_format_registry_names_choices():
    assert {"long_csv", "wide_csv", "long_parquet", "skab", "batadal"} <= set(formats())
    with pytest.raises(UnknownNameError, match=r"'long_cvs'.*Did you mean 'long_csv'"):
        get_format("long_cvs")


def test_declared_format_from_mapping_needs_no_code(tmp_path, registry, store):
    register_format({"name": "semicolon_wide", "container": "csv", "layout": "wide",
                     "delimiter": ";", "timestamp": "Time", "timezone": "UTC",
                     "quality": None})
    f = write(tmp_path / "x.csv", "Time;N.P1.KW;N.P2.KW\n2026-03-09 00:00:00;1.5;2\n"
                                  "2026-03-09 00:01:00;2.5;3\n")
    res = ingest(f, "semicolon_wide", store=store, registry=registry)
    assert res.samples_ingested == 4
    ds = Lake(store).open_raw("1min")
    assert ds.power.sel(asset="N-P1").values.tolist() == [1.5, 2.5]


def test_bad_format_declaration_names_key():
    from pumplib import SchemaError

    with pytest.raises(SchemaError, match=r"key 'layuot'.*Did you mean 'layout'"):
        Format.from_dict({"name": "x", "layuot": "wide"})
    with pytest.raises(SchemaError, match=r"unknown layout 'tall'.*'long', 'wide'"):
        Format.from_dict({"name": "x", "layout": "tall"})


def test_detect_format(tmp_path):
    assert detect_format(write(tmp_path / "a.csv", "\n".join(long_rows(1)))).name == "long_csv"
    assert detect_format(write(tmp_path / "b.csv", "timestamp,N.P1.KW\n")).name == "wide_csv"
    with pytest.raises(UnknownNameError, match="b.txt: line 1"):
        detect_format(write(tmp_path / "b.txt", "when,what\n"))


# -- long CSV against the naive reference ----------------------------------------------
def test_long_csv_matches_naive_reference(tmp_path, registry, store):
    rows = long_rows(30)
    rows.insert(7, rows[20])        # out of order: power at minute 6 early (line 8)
    f = write(tmp_path / "long.csv", "\n".join(rows) + "\n")
    res = ingest(f, "long_csv", store=store, registry=registry)
    fr = res.files[0]
    # the copy is a duplicate row, not a quarantined one; both accountings add up
    assert (fr.rows_read, fr.rows_ingested, fr.rows_quarantined, fr.rows_duplicate) == (
        91, 90, 0, 1)
    assert (fr.values_read, fr.samples_ingested, fr.samples_duplicate) == (91, 90, 1)
    assert fr.rows_balanced and fr.values_balanced
    assert fr.duplicates_dropped == 1 and fr.out_of_order_rows == 4
    assert fr.cadence == "1min"
    # the copy is quarantined (kept, with its reason); the rows that came after a
    # later time are ingested in their place and noted for the quality rules
    q = Lake(store).quarantine()
    assert q["line"].tolist() == [22] and q["reason"][0].startswith("duplicate row: same "
                                                                    "value as line 8")
    notes = Lake(store).ingest_notes()
    assert notes["line"].tolist() == [10, 13, 16, 19]     # power at minutes 2–5
    assert set(notes["asset"] + "/" + notes["signal"]) == {"N-P1/power"}
    assert notes["reason"].str.startswith("out-of-order row").all()
    ds = Lake(store).open_raw("1min")
    expect = naive_long_csv(f, registry, lambda i: conversion(i.unit, _canon(i.signal)), 60)
    got = lake_cells(ds)
    assert got.keys() == expect.keys()
    for k, v in expect.items():
        assert got[k] == pytest.approx(v, rel=1e-12)
    # units: L/s → m³/h and °F → °C, attrs CF-style
    assert ds.flow.attrs["units"] == "m3/h"
    assert ds.flow.sel(asset="N-P1").values[0] == pytest.approx(50 * 3.6)
    assert ds.bearing_temperature.sel(asset="N-P2").values[0] == pytest.approx((100 - 32) / 1.8)
    # source quality codes kept beside the values
    assert (ds.flow_sq.sel(asset="N-P1").values[:30] == 192).all()


def _canon(signal):
    from pumplib.signals import get

    return get(signal).unit


def test_gzip_csv_and_parquet_give_identical_lakes(tmp_path, registry):
    rows = long_rows(20)
    gz = tmp_path / "long.csv.gz"
    with gzip.open(gz, "wt") as f:
        f.write("\n".join(rows) + "\n")
    df = pd.read_csv(gz)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "long.parquet")
    a = ingest(gz, "long_csv", store=str(tmp_path / "a"), registry=registry)
    b = ingest(tmp_path / "long.parquet", "long_parquet", store=str(tmp_path / "b"),
               registry=registry)
    assert a.samples_ingested == b.samples_ingested == 60
    da, db = Lake(str(tmp_path / "a")).open_raw(), Lake(str(tmp_path / "b")).open_raw()
    assert lake_cells(da) == lake_cells(db)


def test_streaming_small_batches_equals_one_batch(tmp_path, registry):
    f = write(tmp_path / "long.csv", "\n".join(long_rows(300)) + "\n")
    one = ingest(f, "long_csv", store=str(tmp_path / "one"), registry=registry)
    many = ingest(f, "long_csv", store=str(tmp_path / "many"), registry=registry, batch_rows=37)
    assert one.samples_ingested == many.samples_ingested == 900
    assert lake_cells(Lake(str(tmp_path / "one")).open_raw()) == lake_cells(
        Lake(str(tmp_path / "many")).open_raw())


# -- bad input: named file, line, column, choices; quarantined; the rest ingested -----------
def test_bad_rows_are_quarantined_with_line_and_reason(tmp_path, registry, store):
    rows = long_rows(5)
    rows[3] = "2026-03-09T00:01:00Z,N.P1.FLOW,abc,192"          # bad value (line 4)
    rows[5] = "2026-03-09T00:0X:00Z,N.P1.KW,1,192"              # bad timestamp (line 6)
    rows[7] = "2026-03-09T00:02:00Z,N.P1.FLWO,3,192"            # unknown tag (line 8)
    rows.insert(9, "2026-03-09T00:02:00Z,N.P1.KW")               # malformed row (line 10)
    rows.append("2099-01-01T00:00:00Z,N.P1.KW,5,192")           # future (last line)
    f = write(tmp_path / "bad.csv", "\n".join(rows) + "\n")
    res = ingest(f, "long_csv", store=store, registry=registry)
    fr = res.files[0]
    assert fr.rows_quarantined == 5
    assert fr.samples_ingested == 15 - 3
    q = Lake(store).quarantine().sort_values("line")
    assert q["line"].tolist() == [4, 6, 8, 10, len(rows)]
    assert set(q["source"]) == {str(f)}
    reasons = q["reason"].tolist()
    assert "'abc' is not a number" in reasons[0]
    assert "unparseable timestamp" in reasons[1] and "ISO 8601" in reasons[1]
    assert "unknown tag 'N.P1.FLWO'" in reasons[2] and "Did you mean 'N.P1.FLOW'" in reasons[2]
    assert "malformed row" in reasons[3]
    assert "future" in reasons[4]
    assert q["column"].tolist()[:3] == ["value", "timestamp", "tag"]
    assert q["raw"].tolist()[0] == "abc"


def test_missing_column_and_unit_errors_name_file_and_choices(tmp_path, registry, store):
    f = write(tmp_path / "h.csv", "time,tag,value\n")
    with pytest.raises(IngestError, match=r"h.csv: line 1: column 'timestamp' is missing.*'time'"):
        ingest(f, "long_csv", store=store, registry=registry)
    with pytest.raises(IngestError, match="no such file"):
        ingest(tmp_path / "nope.csv", "long_csv", store=store, registry=registry)
    with pytest.raises(IngestError, match="unknown time zone 'Mars/Base'"):
        ingest(f, "long_csv", store=store, registry=registry, timezone="Mars/Base")
    with pytest.raises(UnknownNameError, match="unknown cadence '7s'"):
        ingest(f, "long_csv", store=store, registry=registry, cadence="7s")
    assert not Path(store).exists()  # nothing committed, so no store left behind


def test_wide_unknown_column_reported_once_by_name(tmp_path, registry, store):
    f = write(tmp_path / "w.csv", "timestamp,N.P1.KW,MYSTERY,N.P1.KWW\n"
                                  "2026-03-09 00:00:00,1,7,3\n2026-03-09 00:01:00,2,,4\n")
    res = ingest(f, "wide_csv", store=store, registry=registry, timezone="UTC")
    fr = res.files[0]
    assert res.samples_ingested == 2 and fr.rows_ingested == 2
    # named once each, with a hint; not quarantined cell by cell, not values read
    assert fr.unmapped_columns == ["MYSTERY", "N.P1.KWW"]
    assert "did you mean 'N.P1.KW' for 'N.P1.KWW'" in fr.unmapped_hint
    assert fr.values_read == 2 and fr.rows_balanced and fr.values_balanced
    assert Lake(store).quarantine().empty
    assert Lake(store).log()[0].metadata["sources"][0]["unmapped_columns"] == [
        "MYSTERY", "N.P1.KWW"]


def test_conflicting_duplicates_keep_later_and_quarantine_earlier(tmp_path, registry, store):
    rows = long_rows(3)
    rows.append("2026-03-09T00:00:00Z,N.P1.KW,99,192")   # conflicts with line 3 (value 20)
    rows.append("2026-03-09T00:01:00Z,N.P1.KW,21,192")   # exact duplicate of line 6
    f = write(tmp_path / "d.csv", "\n".join(rows) + "\n")
    res = ingest(f, "long_csv", store=store, registry=registry, batch_rows=4)
    fr = res.files[0]
    assert fr.duplicates_dropped == 1 and fr.conflicts_quarantined == 1
    ds = Lake(store).open_raw("1min")
    assert ds.power.sel(asset="N-P1").values[0] == 99
    q = Lake(store).quarantine()
    assert q.iloc[0]["line"] == 3 and q.iloc[0]["raw"] == "20.0"
    assert "line 11 has 99.0" in q.iloc[0]["reason"]


# -- time zones and DST ------------------------------------------------------------------
def test_wide_local_time_across_both_dst_changes(tmp_path, registry, store):
    tz = "Europe/Amsterdam"
    # spring: 02:00 → 03:00 on 2026-03-29 (02:30 does not exist)
    # autumn: 03:00 → 02:00 on 2026-10-25 (02:00–02:59 happens twice)
    walls = ["2026-03-29 01:30:00", "2026-03-29 02:30:00", "2026-03-29 03:30:00",
             "2026-10-25 01:30:00", "2026-10-25 02:30:00", "2026-10-25 02:30:00",
             "2026-10-25 03:30:00"]
    body = "".join(f"{w},{i}\n" for i, w in enumerate(walls))
    f = write(tmp_path / "dst.csv", "timestamp,N.P1.KW\n" + body)
    res = ingest(f, "wide_csv", store=store, registry=registry, timezone=tz, cadence="30min"
                 if "30min" in config.get("lake.cadences") else "15min")
    fr = res.files[0]
    assert fr.nonexistent_times == 1 and fr.ambiguous_times == 2
    assert fr.samples_ingested == 7 and fr.rows_quarantined == 0
    ds = Lake(store).open_raw()
    s = ds.power.sel(asset="N-P1").to_series().dropna()
    got = dict(zip(s.values.astype(int), s.index.astype("datetime64[s]").astype(np.int64),
                   strict=True))
    assert got[0] == naive_localize(walls[0], tz, True)
    assert got[1] == naive_localize("2026-03-29 03:00:00", tz, True)     # shifted forward
    assert got[4] == naive_localize(walls[4], tz, True)                  # first: summer time
    assert got[5] == naive_localize(walls[5], tz, False)                 # repeat: winter time
    assert got[5] - got[4] == 3600


def test_ambiguous_policy_quarantine(tmp_path, registry, store):
    f = write(tmp_path / "dst.csv", "timestamp,N.P1.KW\n2026-10-25 02:30:00,1\n"
                                    "2026-10-25 04:00:00,2\n")
    with config.set({"ingest.ambiguous": "quarantine"}):
        res = ingest(f, "wide_csv", store=store, registry=registry, timezone="Europe/Amsterdam",
                     cadence="15min")
    assert res.files[0].rows_quarantined == 1
    assert "ambiguous wall time" in Lake(store).quarantine().iloc[0]["reason"]
    from pumplib import ConfigError

    with pytest.raises(ConfigError, match=r"'ingest.ambiguous' given an invalid value: 'maybe'"):
        config.set({"ingest.ambiguous": "maybe"})


def test_offsets_mixed_with_naive_times(tmp_path, registry, store):
    f = write(tmp_path / "m.csv", "timestamp,tag,value,quality\n"
                                  "2026-03-09T01:00:00+01:00,N.P1.KW,1,192\n"
                                  "2026-03-09T00:01:00Z,N.P1.KW,2,192\n"
                                  "2026-03-09 01:02:00,N.P1.KW,3,192\n"
                                  "yesterday,N.P1.KW,4,192\n")
    res = ingest(f, "long_csv", store=store, registry=registry, timezone="Europe/Amsterdam")
    assert res.files[0].samples_ingested == 3 and res.files[0].rows_quarantined == 1
    s = Lake(store).open_raw().power.sel(asset="N-P1").to_series().dropna()
    assert s.index.strftime("%H:%M").tolist() == ["00:00", "00:01", "00:02"]


# -- re-ingest and overlap ------------------------------------------------------------------
def test_reingest_is_a_noop_and_overlap_updates_only_overlap(tmp_path, registry, store):
    f1 = write(tmp_path / "a.csv", "\n".join(long_rows(10)) + "\n")
    r1 = ingest(f1, "long_csv", store=store, registry=registry)
    lake = Lake(store)
    n_commits = len(lake.log())
    r2 = ingest(f1, "long_csv", store=store, registry=registry)
    assert r2.files[0].status == "skipped" and r2.snapshot is None
    assert len(lake.log()) == n_commits
    before = lake_cells(lake.open_raw())
    # a second export overlapping minutes 5–14 with corrected power values
    rows = ["timestamp,tag,value,quality"]
    for i in range(5, 15):
        ts = (pd.Timestamp("2026-03-09T00:00:00Z") + pd.Timedelta(minutes=i)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        rows.append(f"{ts},N.P1.KW,{1000 + i},192")
    f2 = write(tmp_path / "b.csv", "\n".join(rows) + "\n")
    ingest(f2, "long_csv", store=store, registry=registry)
    after = lake_cells(lake.open_raw())
    changed = {k for k in after if before.get(k) != after[k]}
    t0 = int(pd.Timestamp("2026-03-09T00:00:00Z").timestamp())
    assert changed == {("N-P1", "power", t0 + 60 * i) for i in range(5, 15)}
    assert all(after[k] == before[k] for k in before if k[1] != "power")
    # time travel: the first snapshot still shows the old values
    old = lake.open_raw(snapshot=r1.snapshot)
    assert lake_cells(old) == before


def test_commit_metadata_names_sources(tmp_path, registry, store):
    f = write(tmp_path / "a.csv", "\n".join(long_rows(3)) + "\n")
    res = ingest(f, "long_csv", store=store, registry=registry)
    c = Lake(store).log()[0]
    assert c.snapshot == res.snapshot
    src = c.metadata["sources"][0]
    assert src["path"] == str(f) and len(src["sha256"]) == 64
    assert (src["rows_read"], src["samples_ingested"], src["rows_quarantined"]) == (9, 9, 0)
    assert c.metadata["pumplib_version"] and c.metadata["kind"] == "ingest"
    assert "long.csv" not in c.message and "a.csv" in c.message
    json.dumps(c.metadata)


def test_earlier_data_prepends_whole_chunks(tmp_path, registry, store):
    late = write(tmp_path / "late.csv", "\n".join(long_rows(3, "2026-03-20T00:00:00Z")) + "\n")
    early = write(tmp_path / "early.csv", "\n".join(long_rows(3, "2026-01-01T00:00:00Z")) + "\n")
    ingest(late, "long_csv", store=store, registry=registry)
    before = lake_cells(Lake(store).open_raw())
    ingest(early, "long_csv", store=store, registry=registry)
    after = lake_cells(Lake(store).open_raw())
    assert before.items() <= after.items() and len(after) == 18


# -- real data ---------------------------------------------------------------------------
@pytest.mark.realdata
def test_skab_files_one_asset_each(shared_data, store):
    res = ingest(shared_data / "skab-dev", "skab", store=store)
    assert len(res.files) == 17
    by = {f.path.split("skab-dev/")[1]: f for f in res.files}
    assert by["anomaly-free.csv"].rows_read == 9405
    assert by["anomaly-free.csv"].samples_ingested == 9405 * 8
    assert all(f.rows_quarantined == 0 for f in res.files)
    ds = Lake(store).open_raw("1s")
    assert ds.sizes["asset"] == 17
    # labels are kept as signals; volume flow converted from L/min to m³/h
    src = pd.read_csv(shared_data / "skab-dev/valve1/0.csv", sep=";")
    a = ds.sel(asset="skab-valve1-0")
    assert int(np.nansum(a.anomaly_label.values)) == int(src["anomaly"].sum())
    assert np.nanmean(a.flow.values) == pytest.approx(src["Volume Flow RateRMS"].mean() * 0.06)
    assert np.count_nonzero(~np.isnan(a.current.values)) == len(src)


@pytest.mark.realdata
def test_batadal_hourly_counts(shared_data, store):
    res = ingest(shared_data / "batadal", "batadal", store=store)
    rows = {f.path.split("/")[-1]: f.rows_read for f in res.files}
    assert rows == {"dataset03.csv": 8761, "dataset04.csv": 4177, "test_dataset.csv": 2089}
    ds = Lake(store).open_raw("1h")
    pu1 = ds.run_state.sel(asset="PU1")
    assert float(np.nanmin(pu1.sel(time=slice("2014", "2016")).values)) == 1.0  # PU1 runs
    assert int((pu1.sel(time=slice("2017", None)).values == 0).sum()) == 10  # but 10 h in 2017
    d4 = ds.sel(time=slice("2016-07-04", "2016-12-25"))
    src = pd.read_csv(shared_data / "batadal/dataset04.csv", skipinitialspace=True)
    src.columns = src.columns.str.strip()
    assert int((d4.attack_label.sel(asset="ctown").values == 1).sum()) == int(
        (src["ATT_FLAG"] == 1).sum())
    # pressure heads in metres of water become bar
    assert d4.pressure.sel(asset="J280").values[0] == pytest.approx(
        src["P_J280"].iloc[0] * 0.0980665)


def test_memory_is_bounded_by_batches_not_file_size(tmp_path, registry):
    """Twice the days must not need more memory (numpy buffers, traced): windows the
    time-ordered stream has passed are written and freed."""
    import tracemalloc

    tags = ["N.P1.KW", "N.P2.KW", "N.P1.FLOW", "N.P2.FLOW"]

    def export(days):
        t = pd.date_range("2026-03-09", periods=days * 86400, freq="1s", tz="UTC")
        ts = np.repeat(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(), len(tags))
        df = pd.DataFrame({"timestamp": ts, "tag": np.tile(tags, len(t)),
                           "value": np.arange(len(ts)) % 97, "quality": 192})
        path = tmp_path / f"d{days}.csv"
        df.to_csv(path, index=False)
        return path

    peaks = {}
    for days in (2, 4):
        f = export(days)
        tracemalloc.start()
        res = ingest(f, "long_csv", store=str(tmp_path / f"s{days}"), registry=registry,
                     batch_rows=20_000)
        peaks[days] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert res.samples_ingested == days * 86400 * len(tags)
    assert peaks[4] < 1.25 * peaks[2], peaks
