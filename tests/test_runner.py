"""Scheduled runs: the pipeline notebooks executed with papermill on the sample, run
manifests, clear failures (step, cell, error; exit status 2), resume, cron lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from pumplib import runner
from pumplib.errors import ArgumentError, UnknownNameError

ROOT = Path(__file__).resolve().parents[1]


def test_pipeline_notebooks_are_thin_parameterised_and_stored_without_outputs():
    names = [p.stem for p in sorted(runner.NOTEBOOKS.glob("*.ipynb"))]
    assert tuple(names) == runner.STEPS
    for name in names:
        nb = nbformat.read(runner.NOTEBOOKS / f"{name}.ipynb", as_version=4)
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1, name
        assert "result_path" in params[0].source and "store = None" in params[0].source
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), name
        assert len(code) <= 5, name
        assert nb.metadata.kernelspec.name == "python3"


def test_pipeline_runs_the_sample(demo_store_copy, tmp_path):
    """All six steps on the sample lake: ingest is idempotent, forecasts land in the lake."""
    from pumplib.forecast import open_forecasts

    runs = tmp_path / "runs"
    params = {"registry": str(ROOT / "catalogs" / "assets.yaml"),
              "sample": str(ROOT / "data_samples"), "targets": ["energy"], "levels": ["1h"],
              "model_params": {"n_estimators": 40},
              "outlier_params": {"assets": ["S-P1"], "start": "2026-03-20",
                                 "end": "2026-03-21T12:00"},
              "recommend_params": {"kinds": ["load_shift"]}}
    res = runner.run_pipeline(store=demo_store_copy, params=params, runs_dir=runs,
                              log=lambda _m: None)
    assert res.status == "ok", res.error_message()
    steps = {s.step: s for s in res.steps}
    assert list(steps) == list(runner.STEPS)
    assert {s.status for s in res.steps} <= {"ok", "skipped"}
    # the venv's own kernel ran the notebooks
    assert steps["01_ingest"].result["python"] == sys.executable
    assert steps["01_ingest"].result["ingested"] == 0          # already in the lake
    assert steps["02_validate"].result["validated"] == []
    assert steps["03_features"].result["rebuilt"] is False
    fc = steps["04_forecast"].result["forecasts"]
    assert [(f["target"], f["series"]) for f in fc] == [("energy", ["NORTH", "SOUTH"])]
    ds = open_forecasts(demo_store_copy, "1h")
    assert ds.attrs["targets"]["energy"]["run_id"] == res.run_id
    # outliers and recommendations run for real where their modules are installed
    for name, module, attr in (("05_outliers", "pumplib.outliers", "detect_lake"),
                               ("06_recommendations", "pumplib.recommend", "recommend")):
        r = steps[name].result
        if runner.optional(module, attr) is None:
            assert r["status"] == "skipped" and "not available" in r["reason"], r
        else:
            assert r["status"] == "ok" and steps[name].status == "ok", r
    if "recommendations" in steps["06_recommendations"].result:
        assert steps["06_recommendations"].result["recommendations"] >= 1
    # executed notebooks with outputs and a manifest
    manifest = json.loads((runs / res.run_id / "manifest.json").read_text())
    assert manifest["status"] == "ok" and len(manifest["steps"]) == 6
    assert all(s["seconds"] > 0 for s in manifest["steps"])
    nb = nbformat.read(runs / res.run_id / "04_forecast.ipynb", as_version=4)
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    listed = runner.list_runs(runs)
    assert listed[["run_id", "status", "steps_ok"]].values.tolist() == [[res.run_id, "ok", 6]]


def _tiny_notebooks(folder: Path) -> Path:
    """Two steps; the second fails in its third cell while ``fail`` is true."""
    from nbformat.v4 import new_code_cell, new_notebook

    folder.mkdir()
    params = new_code_cell("store = None\nresult_path = None\nfail = True\nrun_id = None",
                           metadata={"tags": ["parameters"]})
    report = new_code_cell("from pumplib.runner import write_step_result\n"
                           "write_step_result(result_path, status='ok', run_id=run_id)")
    nbformat.write(new_notebook(cells=[params, new_code_cell("x = 1"), report]),
                   folder / "a_first.ipynb")
    nbformat.write(new_notebook(cells=[params, new_code_cell("y = 2"), new_code_cell(
        "if fail:\n    raise RuntimeError('meter offline')"), report]),
        folder / "b_second.ipynb")
    return folder


def test_failure_is_reported_and_the_run_resumes(tmp_path, store):
    from pumplib.cli import app

    nbs = _tiny_notebooks(tmp_path / "nbs")
    runs = tmp_path / "runs"
    res = runner.run_pipeline(store=store, runs_dir=runs, notebooks_dir=nbs,
                              log=lambda _m: None)
    assert res.status == "failed"
    first, second = res.steps
    assert first.status == "ok" and second.status == "failed"
    assert second.error["cell"] == 2 and second.error["ename"] == "RuntimeError"
    assert second.error["evalue"] == "meter offline"
    msg = res.error_message()
    assert (f"run {res.run_id}: step b_second failed in cell 2 ('if fail:'): RuntimeError: "
            "meter offline") in msg
    assert f"--resume {res.run_id}" in msg
    saved = json.loads(res.manifest.read_text())
    assert saved["status"] == "failed" and saved["steps"][1]["error"]["ename"] == "RuntimeError"
    t_first = first.seconds
    # resume: only the failed step runs again, with the run's parameters updated
    again = runner.run_pipeline(runs_dir=runs, notebooks_dir=nbs, resume=res.run_id,
                                params={"fail": False}, log=lambda _m: None)
    assert again.status == "ok" and again.attempts == 2 and again.run_id == res.run_id
    assert again.steps[0].seconds == t_first and again.steps[1].status == "ok"
    assert again.steps[1].result == {"status": "ok", "run_id": res.run_id}
    assert again.params["store"] == store and again.params["fail"] is False
    with pytest.raises(UnknownNameError, match="run id"):
        runner.run_pipeline(runs_dir=runs, notebooks_dir=nbs, resume="nope")
    with pytest.raises(UnknownNameError, match="'c_third'"):
        runner.run_pipeline(store=store, runs_dir=runs, notebooks_dir=nbs, steps=["c_third"])
    # the CLI: exit status 2 and one line naming step, cell and error
    cli = CliRunner()
    r = cli.invoke(app, ["run", "list", "--runs-dir", str(runs), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["status"] == "ok"


def test_cli_failure_exit_status(tmp_path, store, monkeypatch):
    from pumplib.cli import app

    nbs = _tiny_notebooks(tmp_path / "nbs")
    monkeypatch.setattr(runner, "NOTEBOOKS", nbs)
    runs = tmp_path / "runs"
    r = CliRunner().invoke(app, ["run", "pipeline", "--store", store, "--runs-dir", str(runs)])
    assert r.exit_code == 2
    assert "step b_second failed in cell 2 ('if fail:'): RuntimeError: meter offline" in \
        " ".join(r.stderr.split())
    run_id = runner.list_runs(runs).run_id[0]
    r = CliRunner().invoke(app, ["run", "pipeline", "--runs-dir", str(runs), "--resume", run_id,
                                 "--params", "fail=false"])
    assert r.exit_code == 0, r.stderr
    assert "b_second" in r.stdout and f"run {run_id}: ok" in r.stdout


def test_schedule_prints_cron_lines(tmp_path):
    from pumplib.cli import app

    r = CliRunner().invoke(app, ["schedule", "--every", "hourly", "--store", "/srv/store",
                                 "--workdir", str(tmp_path), "--params", "targets=[\"energy\"]"])
    assert r.exit_code == 0
    line = r.stdout.strip().splitlines()[-1]
    assert line.startswith(f"5 * * * * cd {tmp_path} && ")
    assert "run pipeline --store /srv/store --params 'targets=[\"energy\"]'" in line
    assert line.endswith(f">> {tmp_path}/runs/cron.log 2>&1")
    assert runner.cron_lines("0 4 * * *", workdir="/w", command="pumplib")[-1].startswith(
        "0 4 * * * cd /w && pumplib run pipeline")
    r = CliRunner().invoke(app, ["schedule", "--every", "fortnightly"])
    assert r.exit_code == 2 and "hourly, daily, weekly" in r.stderr


def test_params_and_runs_dir():
    assert runner.parse_params(["a=1", "b=x", "c=[1, 2]", "d=null"]) == {
        "a": 1, "b": "x", "c": [1, 2], "d": None}
    with pytest.raises(ArgumentError, match="KEY=VALUE"):
        runner.parse_params(["oops"])
    with pytest.raises(ArgumentError, match="identifier"):
        runner.parse_params(["a-b=1"])
    assert runner.default_runs_dir("/srv/lake/store") == Path("/srv/lake/runs")
    assert runner.default_runs_dir("s3://bucket/x") == Path("runs").resolve()


def test_docstring_examples_run():
    import doctest

    res = doctest.testmod(runner, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


def test_forecast_cli(demo_store_copy):
    from pumplib.cli import app

    reg = str(ROOT / "catalogs" / "assets.yaml")
    cli = CliRunner()
    r = cli.invoke(app, ["forecast", "run", "--store", demo_store_copy, "--registry", reg,
                         "--level", "1D", "--model", "theta", "--horizon", "3", "--json"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["lineage"]["model"] == "theta" and len(out["forecast"]) == 6   # 2 stations
    r = cli.invoke(app, ["forecast", "backtest", "--store", demo_store_copy, "--registry", reg,
                         "--level", "1D", "--horizon", "1", "--test-periods", "10",
                         "--model", "theta", "--json"])
    assert r.exit_code == 0, r.stderr
    rows = {row["model"]: row for row in json.loads(r.stdout)}
    # the weekly naive and the median of the last 4 seasons always run beside the model
    assert set(rows) == {"naive", "median4w", "theta"} and rows["theta"]["rel_mae"] < 1.0
    r = cli.invoke(app, ["forecast", "run", "--store", demo_store_copy, "--registry", reg,
                         "--model", "prophet"])
    assert r.exit_code == 2 and "'prophet'" in r.stderr


def test_kernels_print_nothing_to_the_terminal(tmp_path, store, capfd):
    """No '[IPKernelApp] WARNING | Kernel is running over TCP without encryption' per step
    (the kernels talk over CurveZMQ), and what a kernel process writes to its own stdout or
    stderr goes to ``<step>.kernel.log`` in the run folder, never to the terminal."""
    from nbformat.v4 import new_code_cell, new_notebook

    nbs = _tiny_notebooks(tmp_path / "nbs")
    nbformat.write(new_notebook(cells=[
        new_code_cell("store = None\nresult_path = None\nrun_id = None",
                      metadata={"tags": ["parameters"]}),
        new_code_cell("import os\nos.write(2, b'kernel noise on fd 2\\n')\n"
                      "os.write(1, b'kernel noise on fd 1\\n')\nprint('cell output')")]),
        nbs / "c_third.ipynb")
    calls = []
    res = runner.run_pipeline(store=store, runs_dir=tmp_path / "runs", notebooks_dir=nbs,
                              params={"fail": False}, log=lambda _m: None,
                              progress=lambda done, total: calls.append((done, total)))
    assert res.status == "ok", res.error_message()
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]
    seen = capfd.readouterr()
    assert "IPKernelApp" not in seen.err + seen.out
    assert "kernel noise" not in seen.err + seen.out
    log = (res.run_dir / "c_third.kernel.log").read_text()
    assert "kernel noise on fd 2" in log and "kernel noise on fd 1" in log
    assert "without encryption" not in log
    # cell output still lands in the executed notebook; quiet kernels leave no log file
    nb = nbformat.read(res.run_dir / "c_third.ipynb", as_version=4)
    assert "cell output" in json.dumps(nb.cells[-1].outputs)
    assert all(p.stat().st_size for p in res.run_dir.glob("*.kernel.log"))
