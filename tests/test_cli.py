from __future__ import annotations

import json
import re

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
    with lake.transaction("raw") as tx:          # a later commit that is not a build
        tx.write_block("1min", ["N-P1"], "power", 0, np.array([[1.0]]))
    hist = json.loads(runner.invoke(app, ["features", "history", "--store", store,
                                          "-n", "1", "--json"]).stdout)
    assert len(hist) == 1                        # -n counts builds, not commits
    table = runner.invoke(app, ["features", "history", "--store", store],
                          env={"COLUMNS": "80"}).stdout
    assert "changed" in table and "…" not in table.splitlines()[2]   # headers whole
    assert max(len(x) for x in table.splitlines()) <= 80


# -- CLI manners: --version, -h, python -m pumplib -------------------------------------------
def test_version_names_pumplib_python_zarr_and_icechunk():
    import platform

    import pumplib

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0, res.output
    line = res.stdout.strip()
    assert line.startswith(f"pumplib {pumplib.__version__} (python {platform.python_version()}")
    assert "zarr 3." in line and "icechunk 1." in line and len(line.splitlines()) == 1


def test_h_is_help_on_every_command_and_group():
    root = typer.main.get_command(app)
    paths = [(), *_commands(root)]
    assert {("lake",), ("features", "build"), ("run", "pipeline"), ("outliers", "detect"),
            ("catalog", "list"), ("forecast", "run")} <= set(paths)
    for path in paths:
        short = runner.invoke(app, [*path, "-h"])
        assert short.exit_code == 0, (path, short.output)
        assert short.output == runner.invoke(app, [*path, "--help"]).output, path


def test_python_m_pumplib(tmp_path):
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "pumplib", "-h"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "Usage: python -m pumplib" in " ".join(res.stdout.split())
    ver = subprocess.run([sys.executable, "-m", "pumplib", "--version"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert ver.returncode == 0 and ver.stdout.startswith("pumplib ")


def test_an_uncaught_pumplib_error_is_one_line(monkeypatch):
    """A command that does not catch a pumplib error itself still prints one line, exit 2."""
    from pumplib import quality
    from pumplib.errors import LakeError

    def boom():
        raise LakeError("the flags table [quality/1min] is gone")

    monkeypatch.setattr(quality, "flag_table", boom)
    res = runner.invoke(app, ["quality", "flags"])
    assert res.exit_code == 2, res.output
    # the text as is: brackets are not taken for console markup
    assert res.stderr.strip() == "error: the flags table [quality/1min] is gone"
    assert "Traceback" not in res.output


# -- progress bars: on a terminal, never piped or with --json ----------------------------------
LONG_COMMANDS = [("ingest",), ("validate",), ("features", "build"), ("features", "sync"),
                 ("run", "pipeline"), ("forecast", "run"), ("forecast", "backtest"),
                 ("outliers", "detect"), ("demo",)]


class _Stream:
    def __init__(self, tty):
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.mark.parametrize(("show", "as_json", "tty", "expected"), [
    (None, False, True, True), (None, False, False, False), (None, True, True, False),
    (True, False, False, True), (False, False, True, False), (True, True, True, False)])
def test_the_one_progress_rule(show, as_json, tty, expected):
    from pumplib import progress

    assert progress.wanted(show, as_json=as_json, stream=_Stream(tty)) is expected


def test_every_long_command_takes_the_progress_override():
    root = typer.main.get_command(app)
    for path in LONG_COMMANDS:
        cmd = root
        for name in path:
            cmd = cmd.commands[name]
        opts = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        assert {"--progress", "--no-progress"} <= opts, path


BAR = re.compile(r"\d+%\||\[\d\d:\d\d|…\s*\d\d:\d\d|\d+(\.\d+)?\s?\w+/s\]")


def _screen(raw: str) -> list[str]:
    """The lines a terminal shows after ``raw`` (carriage returns, cursor up, colours)."""
    raw = re.sub(r"\x1b\[[0-9;]*m", "", raw)
    lines, row, col, i = [""], 0, 0, 0
    while i < len(raw):
        esc = re.match(r"\x1b\[(\d*)([A-Za-z])", raw[i:])
        if esc:
            n = int(esc.group(1) or 1)
            if esc.group(2) == "A":
                row = max(0, row - n)
            elif esc.group(2) == "K":
                lines[row] = lines[row][:col]
            i += len(esc.group(0))
            continue
        c = raw[i]
        if c == "\r":
            col = 0
        elif c == "\n":
            row, col = row + 1, 0
            lines.extend([""] * (row + 1 - len(lines)))
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + c + line[col + 1:]
            col += 1
        i += 1
    return [ln.rstrip() for ln in lines]


def _run(args, cwd, tty: bool, pre: str = ""):
    """``python -m pumplib ARGS`` with stderr on a pseudo-terminal (100 columns) or a pipe.

    Returns (exit status, stdout, stderr as written). ``pre``: Python run first.
    """
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-c", f"{pre}\nfrom pumplib.cli import main; main()", *args] \
        if pre else [sys.executable, "-m", "pumplib", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if not tty:
        res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=300)
        return res.returncode, res.stdout, res.stderr
    import fcntl
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    try:
        while select.select([master], [], [], 300)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:          # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        out = proc.stdout.read().decode()
        proc.wait(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


def _error_lines(raw: str) -> list[str]:
    return [ln for ln in _screen(raw) if "error:" in ln]


@pytest.fixture
def three_exports(tmp_path, registry_file):
    files = [write(tmp_path / f"day{i}.csv", "\n".join(long_rows(
        5, start=f"2026-03-0{i + 1}T00:00:00Z")) + "\n") for i in range(3)]
    return files, ["--store", str(tmp_path / "store"), "--registry", str(registry_file)]


def _rules():
    from .conftest import ROOT

    return ["--rules", str(ROOT / "catalogs" / "quality_rules.yaml")]


@pytest.mark.slow
def test_bars_on_a_terminal_none_piped_or_with_json(tmp_path, three_exports):
    files, args = three_exports
    ingest = ["ingest", *map(str, files), "--format", "long_csv", *args]
    rc, out, tty = _run(ingest, tmp_path, tty=True)
    assert rc == 0, tty
    assert "ingest:" in tty and BAR.search(tty), tty
    # validate: its bar on a terminal; none piped, none with --json on a terminal
    rc, out, tty = _run(["validate", *args, *_rules()], tmp_path, tty=True)
    assert rc == 0, tty
    assert "validate 1min:" in tty and BAR.search(tty), tty
    rc, out, err = _run(["validate", *args, *_rules()], tmp_path, tty=False)
    assert rc == 0 and not BAR.search(err) and "validate 1min" not in err, err
    rc, out, tty = _run(["features", "build", *args, "--json"], tmp_path, tty=True)
    assert rc == 0, tty
    assert json.loads(out)["levels"] and not BAR.search(tty) and "features from" not in tty, tty
    rc, out, err = _run(["features", "build", *args], tmp_path, tty=False)
    assert rc == 0 and not BAR.search(err) and "features from" not in err, err
    # the override: --progress draws even when piped, --no-progress nothing on a terminal
    rc, out, err = _run(["validate", *args, *_rules(), "--progress"], tmp_path, tty=False)
    assert rc == 0 and "validate 1min:" in err, err
    rc, out, tty = _run(["features", "build", *args, "--no-progress"], tmp_path, tty=True)
    assert rc == 0 and "features from" not in tty, tty


@pytest.mark.slow
def test_errors_on_a_terminal_start_on_a_fresh_line(tmp_path, three_exports):
    """An error printed while a bar is drawn never shares the bar's line."""
    files, args = three_exports
    # validate opened its bar before it found no lake (the old code printed the error
    # after the bar, on its line)
    rc, _, tty = _run(["validate", "--store", str(tmp_path / "nowhere")], tmp_path, tty=True)
    assert rc == 2 and _error_lines(tty) and \
        all(ln.startswith("error: ") for ln in _error_lines(tty)), _screen(tty)
    # ingest: the third file is rejected while the files bar is drawn (the other two are
    # ingested: exit status 1)
    bad = write(tmp_path / "bad.csv", "timestamp,tag,reading\n2026-03-09T00:00:00Z,N.P1.KW,1\n")
    rc, _, tty = _run(["ingest", str(files[0]), str(files[1]), str(bad), "--format",
                       "long_csv", *args], tmp_path, tty=True)
    assert rc == 1 and "ingest:" in tty, tty
    errors = _error_lines(tty)
    assert len(errors) == 1 and errors[0].startswith("error: "), _screen(tty)
    assert "bad.csv: line 1: column 'value' is missing" in errors[0]
    assert "Traceback" not in tty
    # features build: the error comes from inside the build, its bar drawn
    assert _run(["ingest", *map(str, files), "--format", "long_csv", *args], tmp_path,
                tty=False)[0] == 0
    rc, _, tty = _run(["features", "build", *args, "--level", "2h"], tmp_path, tty=True)
    assert rc == 2 and "features from raw/1min" in tty, tty
    assert [ln[:24] for ln in _error_lines(tty)] == ["error: unknown level '2h"], _screen(tty)
    assert "Traceback" not in tty


@pytest.mark.slow
def test_run_pipeline_on_a_terminal_step_bar_error_line_no_kernel_noise(tmp_path, store):
    """`pumplib run pipeline` draws a bar of the steps; the failed step's error starts its
    own line; the kernels print no '[IPKernelApp] WARNING' (transport encryption)."""
    from .test_runner import _tiny_notebooks

    nbs = _tiny_notebooks(tmp_path / "nbs")
    pre = f"import pumplib.runner as r, pathlib; r.NOTEBOOKS = pathlib.Path({str(nbs)!r})"
    args = ["run", "pipeline", "--store", store, "--runs-dir", str(tmp_path / "runs")]
    rc, out, tty = _run(args, tmp_path, tty=True, pre=pre)
    assert rc == 2, tty
    assert "pipeline:" in tty and BAR.search(tty) and "step/s" in tty, tty
    assert "IPKernelApp" not in tty and "without encryption" not in tty, tty
    errors = _error_lines(tty)
    assert errors and errors[0].startswith("error: run pipeline-"), _screen(tty)
    assert "b_second failed in cell 2" in " ".join(_screen(tty))
    # the step lines above the bar keep their run id (not eaten as console markup)
    assert any(re.fullmatch(r"\[pipeline-\d{8}T\d{6}-[0-9a-f]{8}\] a_first ok in [\d.]+ s", ln)
               for ln in _screen(tty)), _screen(tty)
    rc, out, tty = _run([*args, "--json"], tmp_path, tty=True, pre=pre)
    assert rc == 2 and json.loads(out)["status"] == "failed"
    assert not BAR.search(tty) and "IPKernelApp" not in tty, tty


# -- make demo writes no tracked file ------------------------------------------------------
def _git(*args, cwd):
    import subprocess

    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)


def test_generated_catalogs_are_not_tracked():
    import shutil

    from .conftest import ROOT

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    names = ["catalogs/lake.yaml", "catalogs/features.yaml"]
    assert _git("ls-files", "--", *names, cwd=ROOT).stdout == ""
    assert _git("check-ignore", "--no-index", *names, cwd=ROOT).stdout.split() == names


@pytest.mark.slow
def test_demo_outputs_leave_a_clone_clean(tmp_path, demo_store_copy):
    """In a fresh clone, what `pumplib demo` writes (the sample, the registry, the Intake
    catalogs) leaves `git status` clean; `pumplib catalog …` and intake find the catalogs."""
    import shutil

    import intake

    from .conftest import ROOT

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    clone = tmp_path / "clone"
    _git("clone", "-q", str(ROOT), str(clone), cwd=tmp_path)
    assert not (clone / "catalogs" / "lake.yaml").exists()
    rc, _, err = _run(["catalog", "list"], clone, tty=False)
    assert rc == 2 and "no generated catalog yet; run `pumplib demo`" in err, err
    store = clone / "store"
    shutil.move(demo_store_copy, store)
    for args in (["simulate", "sample"], ["catalog", "generate", "--store", "store"]):
        rc, _, err = _run(args, clone, tty=False)
        assert rc == 0, err
    assert (clone / "catalogs" / "lake.yaml").is_file()
    assert _git("status", "--porcelain", cwd=clone).stdout == ""
    rc, out, err = _run(["catalog", "list", "--json"], clone, tty=False)
    assert rc == 0, err
    assert {"specific_energy", "raw_1min"} <= {e["name"] for e in json.loads(out)}
    cat = intake.from_yaml_file(str(clone / "catalogs" / "lake.yaml"))
    assert cat["raw_1min"].read().sizes["asset"] >= 5
