"""The notebooks as users meet them: JupyterLab in headless Chromium, offline.

A copy of the project (its ``pumplib-project.yaml``, catalogs and the notebooks; its
``store`` the sample lake) is served by JupyterLab started in the project folder and in
``notebooks/``, with no ``PUMPLIB_…`` variable set: each notebook must find the store
itself. Each shipped notebook is opened, run with Run All Cells and saved; it must show
no error, every chart cell must hold a drawn Bokeh canvas, and the browser must make no
request off localhost (all of them are blocked and counted). Screenshots of the chart
cells land in ``test-artifacts/notebooks-browser/``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from .browser import (
    ROOT,
    artifacts,
    jupyterlab,
    offline_browser,
    open_notebook,
    run_all_cells,
    save_notebook,
    stop_kernels,
)

NOTEBOOKS = ["01_raw_lake", "02_explore_station", "03_compare_pumps", "04_training_set"]
CHART_CALL = re.compile(r"\b(line_chart|raw_chart|SelectionPanel)\(")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


@pytest.fixture(scope="module")
def project(tmp_path_factory, demo_store) -> Path:
    """A project laid out like the repository, its store the sample lake."""
    top = tmp_path_factory.mktemp("lab") / "utility"
    (top / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "pumplib-project.yaml", top)
    (top / "catalogs").symlink_to(ROOT / "catalogs")
    (top / "store").symlink_to(demo_store)
    for name in NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", top / "notebooks")
    return top


def _chart_cells(path: Path) -> list[int]:
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return [i for i, c in enumerate(code) if CHART_CALL.search("".join(c["source"]))]


def _problems(path: Path) -> list[str]:
    """Error outputs and tracebacks of a saved notebook."""
    nb = json.loads(path.read_text())
    out = []
    for i, c in enumerate(x for x in nb["cells"] if x["cell_type"] == "code"):
        for o in c.get("outputs", []):
            if o["output_type"] == "error":
                out.append(f"cell {i}: {o['ename']}: {o['evalue']}")
            elif o.get("name") == "stderr" and "Traceback" in "".join(o.get("text", "")):
                out.append(f"cell {i}: {''.join(o['text'])[-300:]}")
    return out


@pytest.mark.parametrize("start_in", ["project", "notebooks"])
def test_every_notebook_runs_in_jupyterlab_offline_with_drawn_charts(project, start_in,
                                                                      tmp_path):
    root = project if start_in == "project" else project / "notebooks"
    shots = artifacts(f"notebooks-browser/{start_in}")
    with jupyterlab(root, tmp_path) as (base, token), \
            offline_browser(tmp_path / "chromium") as (ctx, blocked):
        page = ctx.new_page()
        for name in NOTEBOOKS:
            rel = f"{name}.ipynb" if start_in == "notebooks" else f"notebooks/{name}.ipynb"
            open_notebook(page, base, token, rel)
            run_all_cells(page)
            save_notebook(page)
            path = project / "notebooks" / f"{name}.ipynb"
            assert _problems(path) == [], name
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            charted = _chart_cells(path)
            for i in charted:
                cell = cells.nth(i)
                canvas = cell.locator(".jp-OutputArea canvas")
                canvas.first.wait_for(state="visible", timeout=60_000)
                box = canvas.first.bounding_box()
                assert box and box["width"] > 100 and box["height"] > 50, (name, i)
                cell.scroll_into_view_if_needed()
                cell.screenshot(path=str(shots / f"{name}-cell{i}.png"))
            assert charted or name == "04_training_set", name
            page.screenshot(path=str(shots / f"{name}.png"))
            stop_kernels(base, token)
        assert not (project / "notebooks" / "store").exists()      # reading created nothing
        assert blocked == [], blocked


def test_the_offline_browser_fails_and_counts_every_request_off_localhost(tmp_path):
    """The harness itself: a local page that asks a CDN, a public IP and a font host."""
    import http.server
    import threading

    from .browser import free_port

    page_html = (b'<html><body><p id="ok">served</p><img src="https://cdn.example.org/x.png">'
                 b'<script src="http://203.0.113.7/a.js"></script>'
                 b'<link rel="stylesheet" href="https://fonts.googleapis.com/css?f=x">'
                 b'</body></html>')

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page_html)

        def log_message(self, *args):
            pass

    port = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Page)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with offline_browser(tmp_path / "chromium", timeout_ms=30_000) as (ctx, blocked):
            page = ctx.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            assert page.inner_text("#ok") == "served"
            page.wait_for_timeout(500)
    finally:
        srv.shutdown()
        srv.server_close()
    assert sorted(u.split("/")[2] for u in blocked) == [
        "203.0.113.7", "cdn.example.org", "fonts.googleapis.com"]
