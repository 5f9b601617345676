"""The project's own promises: two-command setup, pins, light import."""

from __future__ import annotations

import re
import subprocess
import sys

from .conftest import ROOT


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    head = text[:1500]
    assert "make demo" in head and "make test" in head
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_layout():
    for name in ["notebooks", "pumplib", "catalogs", "env", "data_samples", "tests", "README.md",
                 "environment.yml", "pyproject.toml", "benchmarks", ".ci/run"]:
        assert (ROOT / name).exists(), name


def test_environment_yml_has_the_lock_pins():
    lock = {line.strip() for line in (ROOT / "env/requirements.lock").read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    env = {m.group(1) for m in re.finditer(r"^\s+- ([A-Za-z0-9_.\-\[\]]+==\S+)",
                                           (ROOT / "environment.yml").read_text(), re.M)}
    assert lock == env
    assert "torch==2.13.0" in lock
    make = (ROOT / "Makefile").read_text()
    # torch first, alone, so nothing pulls a CUDA build
    assert make.index('"torch==2.13.0"') < make.index("-r $(LOCK)")


def test_import_is_light():
    code = ("import sys, pumplib, pumplib.lake, pumplib.ingest, pumplib.cli; "
            "heavy = {'torch', 'darts', 'sentence_transformers', 'stumpy'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
