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
