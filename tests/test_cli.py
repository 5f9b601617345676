from __future__ import annotations

import json

import pytest
import typer.main
from typer.testing import CliRunner

from pumplib.cli import app

from .test_ingest import long_rows, write

runner = CliRunner()


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if getattr(cmd, "commands", None):
            yield from _commands(cmd, (*prefix, name))


def test_help_on_every_command():
    root = typer.main.get_command(app)
    names = list(_commands(root))
    assert {("ingest",), ("lake", "log"), ("lake", "quarantine"), ("demo",),
            ("simulate", "sample")} <= set(names)
    for path in [(), *names]:
        res = runner.invoke(app, [*path, "--help"])
        assert res.exit_code == 0, (path, res.output)
        assert "usage" in res.output.lower()


def test_ingest_json_and_lake_commands(tmp_path, registry_file):
    rows = long_rows(5)
    rows[2] = "2026-03-09T00:00:00Z,N.P1.KW,oops,192"
    f = write(tmp_path / "a.csv", "\n".join(rows) + "\n")
    store = str(tmp_path / "store")
    res = runner.invoke(app, ["ingest", str(f), "--format", "long_csv", "--store", store,
                              "--registry", str(registry_file), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    fr = out["files"][0]
    assert (fr["rows_read"], fr["samples_ingested"], fr["rows_quarantined"]) == (15, 14, 1)
    log = json.loads(runner.invoke(app, ["lake", "log", "--store", store, "--json"]).stdout)
    assert log[0]["snapshot"] == out["snapshot"] and len(log) == 2
    summ = json.loads(runner.invoke(app, ["lake", "summary", "--store", store, "--json"]).stdout)
    assert summ["cadences"]["1min"]["samples"] == 14
    q = json.loads(runner.invoke(app, ["lake", "quarantine", "--store", store, "--json"]).stdout)
    assert q["rows"] == 1 and q["shown"][0]["line"] == 3
    table = runner.invoke(app, ["lake", "quarantine", "--store", store])
    assert "is not a number" in table.output
    # the same file again: skipped, --format auto detects long CSV
    again = runner.invoke(app, ["ingest", str(f), "--store", store, "--registry",
                                str(registry_file), "--json"])
    assert json.loads(again.stdout)["files"][0]["status"] == "skipped"


@pytest.mark.parametrize(("args", "match"), [
    (["ingest", "nope.csv", "--format", "long_csv"], "nope.csv: no such file"),
    (["ingest", "x.csv", "--format", "long_cvs"], "Did you mean 'long_csv'"),
    (["config", "get", "store.ulr"], "Did you mean 'store.url'"),
])
def test_errors_exit_2_with_a_clear_line(tmp_path, args, match, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text("timestamp,tag,value\n")
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert match in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_formats_and_config():
    fm = json.loads(runner.invoke(app, ["formats", "--json"]).stdout)
    assert fm["skab"]["layout"] == "wide"
    assert json.loads(runner.invoke(app, ["config", "get", "lake.chunk_samples"]).stdout) == 86400


def test_validate_and_quality_commands(tmp_path, registry_file):
    store = str(tmp_path / "store")
    rows = long_rows(30)
    rows[10] = rows[10].rsplit(",", 2)[0] + ",-50,192"       # negative flow: RANGE
    f = write(tmp_path / "a.csv", "\n".join(rows) + "\n")
    assert runner.invoke(app, ["ingest", str(f), "--store", store, "--registry",
                               str(registry_file)]).exit_code == 0
    res = runner.invoke(app, ["validate", "--store", store, "--registry", str(registry_file),
                              "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out[0]["cadence"] == "1min" and out[0]["flag_counts"]["RANGE"] >= 1
    rep = runner.invoke(app, ["quality", "report", "--store", store, "--json",
                              "--html", str(tmp_path / "q.html")])
    assert rep.exit_code == 0, rep.output
    assert (tmp_path / "q.html").read_text().count("<html") >= 1
    ov = runner.invoke(app, ["quality", "override", "N-P1", "2026-03-09T00:05:00Z",
                             "2026-03-09T00:07:00Z", "bad", "--reason", "meter swapped",
                             "--store", store])
    assert ov.exit_code == 0, ov.output
    lst = json.loads(runner.invoke(app, ["quality", "overrides", "--store", store,
                                         "--json"]).stdout)
    assert lst[0]["reason"] == "meter swapped"
    bad = runner.invoke(app, ["quality", "override", "N-P1", "2026-03-09", "2026-03-10", "so-so",
                              "--reason", "x", "--store", store])
    assert bad.exit_code == 2 and "'so-so'" in bad.output
    assert "RANGE" in runner.invoke(app, ["quality", "explain", "4"]).output
    assert "SPIKE" in runner.invoke(app, ["quality", "flags"]).output
    ok = runner.invoke(app, ["quality", "check-rules", "catalogs/quality_rules.yaml"])
    assert ok.exit_code == 0 and "valid" in ok.output


def test_business_user_adds_a_feature_without_python(tmp_path, registry_file):
    """Drop a YAML definition into a catalog folder, run `pumplib features build`,
    read the new feature at all six levels."""
    import shutil

    import numpy as np
    import pandas as pd

    from pumplib.lake import Lake

    from .conftest import ROOT

    catalog = tmp_path / "features"
    shutil.copytree(ROOT / "catalogs" / "features", catalog)
    (catalog / "peak_power.yaml").write_text(
        "name: peak_power\nversion: 1\nowner: energy manager\n"
        "description: Highest input power of pump 1 while running\nunit: kW\n"
        "inputs: [power]\nexpression: power\naggregations: [max, mean]\nmin_coverage: 0.5\n"
        "tags: [energy]\n")
    t = pd.date_range("2026-03-09", periods=3 * 1440, freq="1min", tz="UTC")
    rows = ["timestamp,tag,value,quality"] + [
        f"{ts:%Y-%m-%dT%H:%M:%SZ},N.P1.KW,{10 + (i % 1440) / 144:.4f},192"
        for i, ts in enumerate(t)]
    f = write(tmp_path / "p.csv", "\n".join(rows) + "\n")
    store = str(tmp_path / "store")
    args = ["--store", store, "--registry", str(registry_file)]
    assert runner.invoke(app, ["ingest", str(f), *args]).exit_code == 0
    assert runner.invoke(app, ["validate", *args]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["features", "list", "--catalog", str(catalog),
                                            "--json"]).stdout)
    assert "peak_power" in {r["feature"] for r in listed}
    res = runner.invoke(app, ["features", "build", "--catalog", str(catalog), "--feature",
                              "peak_power", *args, "--json"])
    assert res.exit_code == 0, res.output
    lake = Lake(store)
    for level in ["1min", "15min", "1h", "1D", "1W", "1M"]:
        ds = lake.open_group(f"features/{level}").sel(asset="N-P1")
        assert "peak_power_max" in ds and "peak_power_coverage" in ds, level
        if level in ("1W", "1M"):  # 3 days of data: below min_coverage 0.5, masked
            assert float(ds.peak_power_coverage.max()) < 0.5
            assert ds.peak_power_max.isnull().all()
        else:
            assert np.nanmax(ds.peak_power_max.values) == pytest.approx(19.9931)
    day = lake.open_group("features/1D").peak_power_mean.sel(asset="N-P1").to_series().dropna()
    assert len(day) >= 3          # local days of the utility (Amsterdam) over 3 UTC days
    hist = json.loads(runner.invoke(app, ["features", "history", "--store", store,
                                          "--json"]).stdout)
    assert len(hist) == 1
