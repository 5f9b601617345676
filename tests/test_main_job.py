"""The README's main job (``make demo`` → ``pumplib demo``) on a clean checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_main_job_on_a_clean_checkout(tmp_path):
    """``pumplib demo --no-serve`` in a fresh clone leaves a store, catalogs and executed
    pipeline notebooks, and prints its summary."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "PYTHONPATH": str(clone), "PUMPLIB_INGEST__PROGRESS": "False"}
    env.pop("PUMPLIB_STORE__URL", None)
    res = subprocess.run([sys.executable, "-m", "pumplib.cli", "demo", "--no-serve",
                          "--no-index", "--json"], cwd=clone, env=env, capture_output=True,
                         text=True, timeout=1500)
    assert res.returncode == 0, res.stderr[-3000:]
    summ = json.loads(res.stdout)
    # the store, at the default place, holds the sample and its golden tables
    assert (clone / "store").is_dir()
    assert summ["lake"]["cadences"]["1min"]["assets"] and summ["overview"]
    # every pipeline step ran, its executed notebook kept beside the store
    run = summ["run"]
    assert run["status"] == "ok"
    assert [s["step"] for s in run["steps"]] == ["01_ingest", "02_validate", "03_features",
                                                 "04_forecast", "05_outliers",
                                                 "06_recommendations"]
    assert all(s["status"] == "ok" for s in run["steps"]), run["steps"]
    run_dir = Path(run["run_dir"])
    assert run_dir.parent == clone / "runs"
    nb = nbformat.read(run_dir / "06_recommendations.ipynb", as_version=4)
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "ok"
    # the catalogs point at that store
    for name in ("lake.yaml", "features.yaml"):
        cat = yaml.safe_load((clone / "catalogs" / name).read_text())
        assert cat, name
    assert summ["recommendations"] and summ["outlier_events"] >= 0
