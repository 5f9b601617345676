"""A corpus of broken and awkward exports, generated here: every file's rows and values
add up, bad files are one line (exit 2) and never stop a batch, encodings are read."""

from __future__ import annotations

import io
import json
import os
import random
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from pumplib import IngestError, config
from pumplib.assets import AssetRegistry
from pumplib.cli import app
from pumplib.ingest import detect_format, formats, ingest
from pumplib.lake import Lake

from .conftest import small_registry_dict

runner = CliRunner()
TZ = "Europe/Amsterdam"
LEVEL_TAG = "Behälter.Niveau"          # an umlaut in a tag
TEMP_TAG = "N.P2.Lagertemp °F"         # and a degree sign


def corpus_registry_dict() -> dict:
    spec = small_registry_dict()
    assets = spec["stations"][0]["assets"]
    assets[1]["signals"]["bearing_temperature"]["tag"] = TEMP_TAG
    assets[2]["signals"]["level"]["tag"] = LEVEL_TAG
    return spec


@pytest.fixture
def creg():
    return AssetRegistry.from_dict(corpus_registry_dict(), source="corpus-registry")


@pytest.fixture
def creg_file(tmp_path):
    p = tmp_path / "assets.yaml"
    p.write_text(yaml.safe_dump(corpus_registry_dict(), sort_keys=False, allow_unicode=True),
                 encoding="utf-8")
    return p


def _long(rows: list[str]) -> str:
    return "timestamp,tag,value,quality\n" + "".join(r + "\n" for r in rows)


def _wide_text(day: str) -> str:
    rows = [f"{day} 0{h}:00:00,{h + 1},{2.5 + h},{100 + h}" for h in range(3)]
    return f"timestamp,N.P1.KW,{LEVEL_TAG},{TEMP_TAG}\n" + "\n".join(rows) + "\n"


#: name -> (expected status, {report field: value}) for the files that are read
READ = {
    "plain.csv": ("ingested", {"rows_read": 3, "rows_ingested": 3, "samples_ingested": 3}),
    "bom.csv": ("ingested", {"encoding": "utf-8 (BOM)", "samples_ingested": 9}),
    "utf16le.csv": ("ingested", {"encoding": "utf-16", "samples_ingested": 9}),
    "utf16be.csv": ("ingested", {"encoding": "utf-16", "samples_ingested": 9}),
    "latin1.csv": ("ingested", {"encoding": "cp1252", "samples_ingested": 9}),
    "crlf.csv": ("ingested", {"rows_read": 4, "samples_ingested": 4, "rows_quarantined": 0}),
    # L5 copies L3 (duplicate); L6 conflicts with L4 and wins (L4 quarantined)
    "dups.csv": ("ingested", {"rows_read": 5, "rows_ingested": 3, "rows_quarantined": 1,
                              "rows_duplicate": 1, "samples_duplicate": 1,
                              "samples_quarantined": 1, "conflicts_quarantined": 1}),
    "out_of_order.csv": ("ingested", {"rows_read": 4, "rows_ingested": 4,
                                      "out_of_order_rows": 2}),
    # one row with a field too many, one with a field too few: rows read, quarantined
    "extra_missing.csv": ("ingested", {"rows_read": 6, "rows_ingested": 4,
                                       "rows_quarantined": 2, "values_read": 6,
                                       "samples_quarantined": 2}),
    # 4 rows x 2 mapped columns; COMMENT is unmapped
    "nonnumeric_inf.csv": ("ingested", {"rows_read": 4, "rows_ingested": 2,
                                        "rows_quarantined": 1, "rows_empty": 1,
                                        "values_read": 8, "samples_ingested": 3,
                                        "samples_quarantined": 2, "samples_empty": 3,
                                        "unmapped_columns": ["COMMENT"]}),
    "bad_timestamps.csv": ("ingested", {"rows_read": 5, "rows_ingested": 2,
                                        "rows_quarantined": 3}),
    # spring: a 02:00 that does not exist lands on 03:00 and loses to the real 03:00 row;
    # autumn: 02:00 twice (summer, then winter time)
    "dst.csv": ("ingested", {"rows_read": 9, "rows_ingested": 8, "rows_quarantined": 1,
                             "nonexistent_times": 1, "ambiguous_times": 2,
                             "samples_ingested": 8}),
    # cut in the middle of its last line: that row is malformed, the rest is read
    "truncated.csv": ("ingested", {"rows_read": 4, "rows_ingested": 3, "rows_quarantined": 1}),
    "header_only.csv": ("empty", {"rows_read": 0, "values_read": 0}),
}

#: name -> words of its one-line refusal
REFUSED = {
    "elf.csv": "not a text CSV (looks like an ELF binary)",
    "parquet_as.csv": "not a text CSV (looks like a Parquet file)",
    "random.csv": "not a text CSV (looks like binary data",
    "garbage.csv.gz": "not a text CSV (looks like corrupt gzip data",
    "utf16_nobom.csv": "not a text CSV (looks like binary data: it holds NUL bytes",
    "empty.csv": "line 1: the file is empty",
}


@pytest.fixture
def corpus(tmp_path):
    """The corpus files in ``tmp_path/corpus`` (generated, nothing committed)."""
    d = tmp_path / "corpus"
    d.mkdir()
    t = [f"2026-03-09T00:0{i}:00Z" for i in range(8)]
    (d / "plain.csv").write_text(_long([f"{t[i]},N.P1.KW,{i},192" for i in range(3)]))
    (d / "bom.csv").write_bytes(b"\xef\xbb\xbf" + _wide_text("2026-03-10").encode())
    (d / "utf16le.csv").write_bytes(b"\xff\xfe" + _wide_text("2026-03-11").encode("utf-16-le"))
    (d / "utf16be.csv").write_bytes(b"\xfe\xff" + _wide_text("2026-03-12").encode("utf-16-be"))
    (d / "latin1.csv").write_bytes(_wide_text("2026-03-13").encode("cp1252"))
    (d / "crlf.csv").write_bytes(_long([f"{t[i]},N.P1.FLOW,{i},192" for i in range(4)])
                                 .replace("\n", "\r\n").encode())
    (d / "dups.csv").write_text(_long([
        f"{t[0]},N.P2.KW,1,192", f"{t[1]},N.P2.KW,2,192", f"{t[2]},N.P2.KW,3,192",
        f"{t[1]},N.P2.KW,2,192", f"{t[2]},N.P2.KW,9,192"]))
    (d / "out_of_order.csv").write_text(_long([
        f"{t[5]},N.P1.RUN,1,192", f"{t[3]},N.P1.RUN,0,192", f"{t[4]},N.P1.RUN,1,192",
        f"{t[6]},N.P1.RUN,1,192"]))
    (d / "extra_missing.csv").write_text(_long([
        f"{t[0]},N.P1.PD,10,192", f"{t[1]},N.P1.PD,11,192,extra", f"{t[2]},N.P1.PD,12,192",
        f"{t[3]},N.P1.PD", f"{t[4]},N.P1.PD,14,192", f"{t[5]},N.P1.PD,15,192"]))
    (d / "nonnumeric_inf.csv").write_text(
        "timestamp,N.P2.FLOW,N.P1.KW,COMMENT\n"
        "2026-03-14 00:00:00,1,2,x\n2026-03-14 00:01:00,abc,3,y\n"
        "2026-03-14 00:02:00,inf,,z\n2026-03-14 00:03:00,,,w\n")
    (d / "bad_timestamps.csv").write_text(_long([
        "2026-03-15T00:00:00Z,N.P2.FLOW,1,192", "2026-13-01T00:00:00Z,N.P2.FLOW,2,192",
        ",N.P2.FLOW,3,192", "yesterday,N.P2.FLOW,4,192", "2026-03-15T00:04:00Z,N.P2.FLOW,5,192"]))
    walls = ["2026-03-29 00:00", "2026-03-29 01:00", "2026-03-29 02:00", "2026-03-29 03:00",
             "2026-03-29 04:00", "2026-10-25 01:00", "2026-10-25 02:00", "2026-10-25 02:00",
             "2026-10-25 03:00"]
    (d / "dst.csv").write_text("timestamp,N.P1.FLOW\n" + "".join(
        f"{w}:00,{i}\n" for i, w in enumerate(walls)))
    full = _long([f"2026-03-16T00:0{i}:00Z,N.P2.FLOW,{i},192" for i in range(4)])
    (d / "truncated.csv").write_text(full[:-12])
    (d / "header_only.csv").write_text("timestamp,tag,value,quality\n")
    # refused
    rnd = random.Random(21)
    (d / "elf.csv").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(rnd.randrange(256)
                                                              for _ in range(4000)))
    buf = io.BytesIO()
    pq.write_table(pa.table({"timestamp": [1, 2], "tag": ["a", "b"], "value": [1.0, 2.0]}), buf)
    (d / "parquet_as.csv").write_bytes(buf.getvalue())
    (d / "random.csv").write_bytes(bytes(rnd.randrange(256) for _ in range(3000)))
    (d / "garbage.csv.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
    (d / "utf16_nobom.csv").write_bytes(_long([f"{t[0]},N.P1.KW,1,192"]).encode("utf-16-le"))
    (d / "empty.csv").write_bytes(b"")
    return d


def _balanced(rep) -> None:
    assert rep.rows_read == (rep.rows_ingested + rep.rows_quarantined + rep.rows_duplicate
                             + rep.rows_empty), rep
    assert rep.values_read == (rep.samples_ingested + rep.samples_quarantined
                               + rep.samples_empty + rep.samples_duplicate), rep


def test_corpus_every_file_adds_up_and_bad_files_do_not_stop_the_batch(corpus, creg, store):
    names = sorted(READ) + sorted(REFUSED)
    res = ingest([corpus / n for n in names], "auto", store=store, registry=creg, timezone=TZ)
    by = {os.path.basename(f.path): f for f in res.files}
    assert set(by) == set(names)
    for name, (status, want) in READ.items():
        rep = by[name]
        assert rep.status == status, (name, rep.error)
        _balanced(rep)
        got = {k: getattr(rep, k) for k in want}
        assert got == want, name
    for name, words in REFUSED.items():
        rep = by[name]
        assert rep.status == "rejected" and rep.error.startswith(str(corpus / name)), name
        assert "\n" not in rep.error, rep.error
        if name != "parquet_as.csv":   # auto reads it as Parquet, then finds no timestamps
            assert words in rep.error, rep.error
        assert rep.rows_read == rep.values_read == 0
    # totals add up as well, and equal the sums over files
    _balanced(res)
    assert res.rows_read == sum(f.rows_read for f in res.files) > 0
    assert res.exit_code == 1
    # the encodings were decoded: umlaut and degree-sign tags map to their assets
    for name in ("bom.csv", "utf16le.csv", "utf16be.csv", "latin1.csv"):
        assert by[name].unmapped_columns == [] and "N-T1" in by[name].assets
    ds = Lake(store).open_raw("1h")
    lv = ds.level.sel(asset="N-T1").to_series().dropna()
    assert len(lv) == 12 and sorted(set(lv.round(1))) == [2.5, 3.5, 4.5]
    # the metadata of the one commit names the rejected files and their reasons
    meta = Lake(store).log()[0].metadata
    assert {os.path.basename(r["path"]) for r in meta["rejected"]} == set(REFUSED)
    # nothing silent: each quarantined row has an entry with its reason
    q = Lake(store).quarantine()
    rows_q = q.groupby("source")["line"].nunique()
    for name in ("bad_timestamps.csv", "extra_missing.csv", "truncated.csv"):
        assert rows_q[str(corpus / name)] == by[name].rows_quarantined


def test_dst_file_lands_on_the_right_utc_hours(corpus, creg, store):
    ingest(corpus / "dst.csv", "wide_csv", store=store, registry=creg, timezone=TZ)
    s = Lake(store).open_raw("1h").flow.sel(asset="N-P1").to_series().dropna() / 3.6
    got = {round(v): t.strftime("%m-%d %H:%M") for t, v in s.items()}
    assert got == {0: "03-28 23:00", 1: "03-29 00:00", 3: "03-29 01:00", 4: "03-29 02:00",
                   5: "10-24 23:00", 6: "10-25 00:00", 7: "10-25 01:00", 8: "10-25 02:00"}


def test_the_issue_file_read_13_now_counts_every_row(tmp_path, registry, store):
    """The 15-line file of issue 21 (read 13, ingested 10, quarantined 5) adds up now."""
    t = [f"2026-03-09T00:0{i}:00Z" for i in range(5)]
    rows = [f"{t[i]},N.P1.KW,{i},192" for i in range(5)] + \
           [f"{t[i]},N.P1.FLOW,{i},192" for i in range(5)]
    rows[1] = f"{t[1]},N.P1.KW,abc,192"           # non-numeric
    rows[2] = "2026-03-09T00:0X:00Z,N.P1.KW,2,192"  # bad timestamp
    rows[3] = f"{t[3]},N.P1.KWW,3,192"              # unknown tag
    rows += [f"{t[0]},N.P1.KW", f"{t[1]},N.P1.KW,1,192,9", f"{t[2]},N.P1.KW,,,",
             "2099-01-01T00:00:00Z,N.P2.KW,5,192"]    # 3 malformed, 1 in the future
    f = tmp_path / "issue.csv"
    f.write_text(_long(rows))
    rep = ingest(f, "long_csv", store=store, registry=registry).files[0]
    assert len(rows) == 14 and rep.rows_read == 14
    assert (rep.rows_ingested, rep.rows_quarantined, rep.rows_duplicate, rep.rows_empty) == (
        7, 7, 0, 0)
    assert (rep.values_read, rep.samples_ingested, rep.samples_quarantined) == (14, 7, 7)
    assert len(Lake(store).quarantine()["line"].unique()) == 7


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_cli_refuses_a_bad_file_in_one_line_exit_2_no_store(corpus, creg_file, tmp_path, name):
    store = tmp_path / "new-store"
    res = runner.invoke(app, ["ingest", str(corpus / name), "--store", str(store),
                              "--registry", str(creg_file), "--format", "long_csv"])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert REFUSED[name] in " ".join(res.stderr.split()) and name in res.stderr
    assert "Traceback" not in res.output + res.stderr
    assert not store.exists()      # a failed first ingest leaves no store behind


def test_cli_missing_formats_file_is_one_line(corpus, creg_file, tmp_path):
    res = runner.invoke(app, ["ingest", str(corpus / "plain.csv"), "--formats-file",
                              str(tmp_path / "nope.yaml"), "--store", str(tmp_path / "s"),
                              "--registry", str(creg_file)])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "nope.yaml does not exist" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "s").exists()


def test_cli_batch_bad_and_good(corpus, creg_file, tmp_path):
    store = tmp_path / "s"
    args = ["ingest", str(corpus / "elf.csv"), str(corpus / "plain.csv"), "--store", str(store),
            "--registry", str(creg_file), "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    files = {os.path.basename(f["path"]): f for f in out["files"]}
    assert files["elf.csv"]["status"] == "rejected"
    assert "looks like an ELF binary" in files["elf.csv"]["error"]
    assert files["plain.csv"]["status"] == "ingested" and out["samples_ingested"] == 3
    assert out["exit_code"] == 1 and out["rows_read"] == out["rows_ingested"] == 3
    assert res.stderr.strip().count("\n") == 0 and "elf.csv" in res.stderr
    # the report fits 80 columns: the rejected file in the table, its reason on its
    # error line, totals that add up
    res = runner.invoke(app, args[:-1] + ["--store", str(tmp_path / "s2")],
                        env={"COLUMNS": "80"})
    assert res.exit_code == 1
    assert "rejected" in res.stdout and "looks like an ELF binary" in res.stderr
    assert max(map(len, res.stdout.splitlines())) <= 80 and "…" not in res.stdout
    totals = [ln.split() for ln in res.stdout.splitlines() if ln.startswith("total")]
    assert [t[1:] for t in totals] == [["3", "3", "0", "0", "0"], ["3", "3", "0", "0", "0"]]


def test_failed_ingest_keeps_a_folder_the_user_made(corpus, creg, tmp_path):
    (tmp_path / "mine").mkdir()
    with pytest.raises(IngestError, match="ELF binary"):
        ingest(corpus / "elf.csv", "long_csv", store=str(tmp_path / "mine"), registry=creg)
    with pytest.raises(IngestError, match="column 'tag' is missing"):
        ingest(corpus / "nonnumeric_inf.csv", "long_csv", store=str(tmp_path / "mine"),
               registry=creg)
    assert (tmp_path / "mine").is_dir() and not list((tmp_path / "mine").iterdir())
    # a file whose rows are all empty commits nothing: no store either
    f = tmp_path / "blank.csv"
    f.write_text("timestamp,N.P1.KW\n2026-03-09 00:00:00,\n")
    res = ingest(f, "wide_csv", store=str(tmp_path / "fresh"), registry=creg)
    assert res.snapshot is None and res.files[0].status == "empty"
    assert not (tmp_path / "fresh").exists()


def test_formats_dir_of_the_project_found_without_a_flag(tmp_path, monkeypatch, registry,
                                                         store):
    proj = tmp_path / "proj"
    (proj / "catalogs" / "formats").mkdir(parents=True)
    (proj / "notebooks").mkdir()
    (proj / "pumplib-project.yaml").write_text("store:\n  url: store\n")
    (proj / "catalogs" / "formats" / "plant.yaml").write_text(
        "name: plant_semicolon\ncontainer: csv\nlayout: wide\ndelimiter: ';'\n"
        "timestamp: Zeit\ntimestamp_format: '%d.%m.%Y %H:%M'\ntimezone: Europe/Berlin\n"
        "quality: null\n")
    monkeypatch.chdir(proj / "notebooks")      # the project is found from a sub-folder
    monkeypatch.delenv("PUMPLIB_PROJECT", raising=False)
    try:
        assert config.get("ingest.formats_dir") == str(proj / "catalogs" / "formats")
        assert "plant_semicolon" in formats()
        f = tmp_path / "x.csv"
        f.write_text("Zeit;N.P1.KW\n09.03.2026 01:00;1.5\n09.03.2026 01:01;2\n")
        rep = ingest(f, "plant_semicolon", store=store, registry=registry).files[0]
        assert rep.samples_ingested == 2 and rep.start == "2026-03-09T00:00:00+00:00"
        # the CLI lists it too, and a broken file there is one line naming it
        fm = json.loads(runner.invoke(app, ["formats", "--json"]).stdout)
        assert fm["plant_semicolon"]["layout"] == "wide"
        (proj / "catalogs" / "formats" / "broken.yaml").write_text("name: b\nlayuot: wide\n")
        res = runner.invoke(app, ["formats"])
        assert res.exit_code == 2 and "broken.yaml: key 'layuot'" in res.stderr
    finally:
        monkeypatch.chdir(tmp_path)
        config.refresh()


DMA_HEADER = "Date-time CET-CEST (DD/MM/YYYY HH:mm),DMA 1 (L/s),DMA 2 (L/s),Note"


def _dma_registry(n: int) -> AssetRegistry:
    spec = small_registry_dict()
    spec["stations"].append({"id": "dmas", "name": "DMAs", "tariff": "tou", "assets": [
        {"id": f"DMA{i}", "kind": "junction",
         "signals": {"flow": {"tag": f"DMA {i} (L/s)", "unit": "L/s"}}} for i in range(1, n + 1)]})
    return AssetRegistry.from_dict(spec, source="dma-registry")


def test_auto_reads_a_wide_csv_with_a_local_time_column(tmp_path, store):
    """Day-first local times in the zone the header names, across both DST changes."""
    walls = ["27/03/2021 23:00", "28/03/2021 01:00", "28/03/2021 03:00",
             "31/10/2021 01:00", "31/10/2021 02:00", "31/10/2021 02:00", "31/10/2021 03:00"]
    body = "".join(f"{w},{i},{'' if i % 2 else i + 10},n{i}\n" for i, w in enumerate(walls))
    f = tmp_path / "inflow.csv"
    f.write_text(DMA_HEADER + "\n" + body)
    fmt = detect_format(f)
    assert (fmt.layout, fmt.timestamp_format, fmt.timezone) == ("wide", "%d/%m/%Y %H:%M",
                                                                "Europe/Berlin")
    rep = ingest(f, "auto", store=store, registry=_dma_registry(2)).files[0]
    _balanced(rep)
    assert rep.unmapped_columns == ["Note"] and rep.ambiguous_times == 2
    assert (rep.rows_read, rep.values_read, rep.samples_ingested, rep.samples_empty) == (
        7, 14, 11, 3)
    s = Lake(store).open_raw("1h").flow.sel(asset="DMA1").to_series().dropna() / 3.6
    utc = [t.strftime("%m-%d %H:%M") for t in s.index]
    assert utc == ["03-27 22:00", "03-28 00:00", "03-28 01:00", "10-30 23:00", "10-31 00:00",
                   "10-31 01:00", "10-31 02:00"]
    assert s.round().astype(int).tolist() == list(range(7))


@pytest.mark.realdata
def test_auto_reads_the_real_dma_inflow_file(shared_data, store):
    src = shared_data / "bwdf-dev" / "InflowData.csv"
    rep = ingest(src, "auto", store=store, registry=_dma_registry(10)).files[0]
    df = pd.read_csv(src)
    _balanced(rep)
    assert rep.status == "ingested" and rep.unmapped_columns == []
    assert rep.rows_read == len(df) == 13679 and rep.values_read == len(df) * 10
    # every non-empty cell is a sample; the repeated autumn hour is kept (both times)
    assert rep.samples_ingested == int(df.iloc[:, 1:].notna().sum().sum())
    assert rep.samples_empty == int(df.iloc[:, 1:].isna().sum().sum())
    assert rep.ambiguous_times == 2 and rep.rows_quarantined == 0
    assert rep.start == "2020-12-31T23:00:00+00:00"
    ds = Lake(store).open_raw("1h")
    dma3 = ds.flow.sel(asset="DMA3").to_series().dropna()
    assert dma3.iloc[0] == pytest.approx(3.7 * 3.6)
    assert np.isfinite(ds.flow.values[~np.isnan(ds.flow.values)]).all()


def test_no_traceback_for_bad_files_from_a_real_process(corpus, creg_file, tmp_path):
    """The command as a user runs it: one line, exit 2, nothing created."""
    import subprocess

    out = subprocess.run([sys.executable, "-m", "pumplib", "ingest", str(corpus / "random.csv"),
                          "--store", str(tmp_path / "s"), "--registry", str(creg_file)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "random.csv: not a text CSV (looks like binary data" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "s").exists()
