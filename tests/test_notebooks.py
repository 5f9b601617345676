"""The data-science notebooks run top to bottom on the sample lake (nbclient).

They are stored without outputs and name no files: the store comes from the
``store.url`` setting, which the test points at the sample lake.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["02_explore_station", "03_compare_pumps", "04_training_set"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_stored_without_outputs_and_parametrised(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    text = "\n".join(c.source for c in code)
    assert "/store" not in text and ".yaml" not in text and "data_samples" not in text


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, demo_store, monkeypatch):
    monkeypatch.setenv("PUMPLIB_STORE__URL", demo_store)
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = json.dumps([o.get("data", {}) for o in outputs])
    if name == "02_explore_station":
        assert "S-P1" in shown and "application/vnd.jupyter.widget-view+json" in shown
        assert "holoviews" in shown.lower() or "bokeh" in shown.lower()
    elif name == "03_compare_pumps":
        assert "runtime_mean" in shown and "skill_change" in shown
    else:
        assert "feature_period_end" in shown and "label_next_day_kwh" in shown
