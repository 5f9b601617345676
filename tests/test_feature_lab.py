"""Feature Lab (notebooks/apps/feature_lab.py): marimo check, and a browser session.

The app is served by ``marimo run`` on 127.0.0.1 (a free port, no token) over a
private copy of the sample lake, and driven in headless Debian Chromium with
Playwright, every request off localhost blocked and counted (none may
be made): pick a pump and a range, define a feature, see the preview chart
and the scorecard, save. Screenshots go to ``test-artifacts/feature_lab/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .browser import offline_browser

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "notebooks" / "apps" / "feature_lab.py"
ARTIFACTS = ROOT / "test-artifacts" / "feature_lab"
MARIMO = Path(sys.executable).with_name("marimo")


def test_marimo_check():
    r = subprocess.run([str(MARIMO), "check", str(APP)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab_server(demo_store_copy, tmp_path):
    port = _free_port()
    features_dir = tmp_path / "proposed"
    env = {**os.environ, "PUMPLIB_STORE__URL": demo_store_copy,
           "PUMPLIB_FEATURES__LAB_DIR": str(features_dir)}
    log = open(tmp_path / "marimo.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(MARIMO), "run", str(APP), "--headless", "--no-token",
                             "--host", "127.0.0.1", "--port", str(port), "--no-sandbox"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail((tmp_path / "marimo.log").read_text())
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/", features_dir, demo_store_copy
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.mark.slow
def test_feature_lab_in_browser(lab_server, tmp_path):
    url, features_dir, store = lab_server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with offline_browser(tmp_path / "chromium-profile", width=1300, height=2400) as (ctx,
                                                                                  blocked):
        page = ctx.new_page()
        try:
            page.set_default_timeout(30_000)
            page.goto(url)
            page.get_by_text("Not valid yet").wait_for()
            # a pump and a range
            page.locator("select").first.select_option(label="SOUTH › S-P1")
            page.locator("select").nth(1).select_option(label="custom range")
            for ph, value in (("YYYY-MM-DD (from)", "2026-03-23"),
                              ("YYYY-MM-DD (to)", "2026-03-29")):
                box = page.get_by_placeholder(ph)
                box.fill(value)
                box.press("Tab")
            # define a feature: an invalid input first, its error shows before saving
            page.get_by_placeholder("pump_load").fill("pump_load")
            page.get_by_placeholder("pump_load").press("Tab")
            page.get_by_placeholder("power / rated.power").fill("power / rated.power")
            page.get_by_placeholder("power / rated.power").press("Tab")
            page.get_by_placeholder("what it measures").fill("Share of rated power drawn")
            page.get_by_placeholder("what it measures").press("Tab")
            page.get_by_text("fill in: inputs").wait_for()
            page.get_by_text("Select...").first.click()
            page.keyboard.type("power")
            page.get_by_role("option", name="power", exact=True).click()
            page.keyboard.press("Escape")
            page.get_by_text("Valid definition").wait_for()
            # an error of the catalog's validation shows before anything is saved
            expr = page.get_by_placeholder("power / rated.power")
            expr.fill("power / rated.power + flow")
            expr.press("Tab")
            page.get_by_text("is used but not listed in inputs").wait_for()
            page.screenshot(path=str(ARTIFACTS / "0_validation_error.png"), full_page=True)
            expr.fill("power / rated.power")
            expr.press("Tab")
            page.get_by_text("Valid definition").wait_for()
            page.get_by_role("heading", name="Preview · S-P1 · 1h").wait_for()
            page.frame_locator("iframe").first.locator("canvas").first.wait_for()   # the chart
            page.get_by_role("heading", name="Scorecard").wait_for()
            page.get_by_text("best_corr").wait_for()
            page.screenshot(path=str(ARTIFACTS / "1_preview_scorecard.png"), full_page=True)
            page.get_by_role("button", name="Save definition").click()
            page.get_by_text("Saved").wait_for()
            page.screenshot(path=str(ARTIFACTS / "2_saved.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
    assert blocked == []                  # nothing requested off localhost (all blocked)
    saved = features_dir / "pump_load.yaml"
    assert saved.is_file()
    from pumplib.features.definitions import load_catalog

    d = load_catalog(features_dir)["pump_load"]
    assert d.expression == "power / rated.power" and d.inputs == ("power",)
    assert d.levels == ("1h", "1D") and d.aggregations["1h"] == ("mean",)
    from pumplib.validation import load_scorecards

    cards = load_scorecards(store, feature="pump_load")
    assert len(cards) == 1 and cards.index[0].startswith(f"pump_load__v1__{d.hash}")
    assert cards.iloc[0]["leakage"] == "passed" and cards.iloc[0]["column"] == "pump_load_mean"
    assert (ARTIFACTS / "2_saved.png").stat().st_size > 10_000
