"""Browser tests: the marimo app and the Voila dashboard in headless Chromium.

Each test serves the app on a free localhost port over a private copy of the
sample lake with real recommendations (``pumplib.recommend``) and real alerts
(quality problems; outlier events when ``pumplib.outliers`` is installed),
then: selects a pump, drills down from a month to a day (and that day to its
hours), opens an alert and accepts a recommendation, and checks the action is
in the database; Undo then takes the shared selection back to the pump.
Screenshots land in ``test-artifacts/ops-browser/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pumplib.actions import ActionLog

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "ops-browser"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT = 180_000  # ms: a cold kernel on a loaded 2-core machine is slow

pytestmark = [pytest.mark.timeout(600)]


@pytest.fixture
def browser(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (the Makefile installs Debian chromium in CI)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=FLAGS, viewport={"width": 1400, "height": 1100})
        ctx.set_default_timeout(TIMEOUT)
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture
def live_store(demo_store_copy, demo_registry):
    """The sample lake with stored recommendations and outlier events (real ones)."""
    from pumplib import outliers, recommend

    recs = recommend.recommend(demo_store_copy, demo_registry, write=True)
    assert len(recs) > 0
    # the level detector over the days of N-P3's two cavitation episodes (seconds to run)
    ev = outliers.detect_lake(demo_store_copy, assets=["N-P3", "S-P1"], start="2026-03-12",
                              end="2026-03-16", method="none")
    assert (ev["asset"] == "N-P3").any()
    return demo_store_copy


@pytest.fixture(scope="session")
def ops_cache(tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "ops-cache"   # shared with test_ops
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def server(live_store, tmp_path, request, ops_cache):
    from pumplib import config, serve

    kind = request.param
    actions = f"sqlite:///{tmp_path / 'actions.sqlite'}"
    with config.set({"ops.cache_dir": str(ops_cache)}):
        url = serve.serve_ops(live_store, kind=kind, block=False, actions=actions,
                              registry=ROOT / "catalogs" / "assets.yaml", timeout=180)
    try:
        yield kind, url, actions
    finally:
        serve.stop(url)


def _shot(page, kind: str, step: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{kind}-{step}.png"), full_page=True)


def _select(page, option_text: str, *, contains: bool = False) -> str:
    """Choose an option in the <select> that offers it; return the option's label."""
    sel = page.locator("select", has=page.locator("option", has_text=option_text)).first
    sel.wait_for()
    labels = sel.locator("option").all_inner_texts()
    # ipywidgets writes spaces in option labels as no-break spaces
    label = next(lb for lb in labels if (option_text in _norm(lb) if contains else
                                         _norm(lb) == option_text))
    sel.select_option(label=label)
    return label


@pytest.mark.parametrize("server", ["marimo", "voila"], indirect=True)
def test_select_drill_open_alert_accept(server, browser):
    kind, url, actions = server
    page = browser.new_page()
    page.goto(url, timeout=TIMEOUT)
    page.locator("[data-kpi=energy]").first.wait_for()
    page.get_by_text(re.compile(r"level\s+1M")).first.wait_for()
    _shot(page, kind, "1-first-render")

    # select a pump
    _select(page, "Pump N-P3 (NORTH)")
    page.get_by_text(re.compile(r"Pump N-P3 \(NORTH\) · level\s+1M")).first.wait_for()
    _shot(page, kind, "2-pump")

    # drill down from the month (2026-03) to its days, then from a day to its hours
    _select(page, "2026-03")
    page.get_by_role("button", name="Drill down").first.click()
    page.get_by_text(re.compile(r"level\s+1D")).first.wait_for()
    _select(page, "2026-03-12 (Thu)")
    page.get_by_role("button", name="Drill down").first.click()
    page.get_by_text(re.compile(r"level\s+1h")).first.wait_for()
    page.get_by_text("2026-03-11 23:00 → 2026-03-12 23:00 UTC").first.wait_for()
    # the alert list of the new view is in place
    page.get_by_text(re.compile(r"\d+ alerts? · Pump N-P3 \(NORTH\) · level 1h")).first.wait_for()
    _shot(page, kind, "3-drilled-to-day")

    # open an alert of that day (an outlier event: the evening cavitation): the evidence
    label = _select(page, "Unusual behaviour of N-P3", contains=True)
    assert "[high]" in label or "[medium]" in label or "[low]" in label
    page.get_by_text("Evidence: Unusual behaviour of N-P3").first.wait_for()
    page.get_by_text("Quality flags in the window").first.wait_for()
    _shot(page, kind, "4-alert-evidence")

    # back to the whole utility for its recommendations
    _select(page, "Utility", contains=True)
    page.get_by_text(re.compile(r"Utility .* · level\s+1h")).first.wait_for()
    page.get_by_text(re.compile(r"\d+ recommendations? · Utility")).first.wait_for()

    # accept a recommendation as a named user
    rec_sel = page.locator("select", has=page.locator("option", has_text="[rec-")).first
    rec_sel.wait_for()
    label = [lb for lb in rec_sel.locator("option").all_inner_texts() if "[rec-" in lb][0]
    assert "[rec-" in _norm(label)
    rec_id = re.search(r"\[(rec-[^\]]+)\]", label).group(1)
    rec_sel.select_option(label=label)
    user = f"browser-{kind}"
    name_box = _name_input(page, kind)
    name_box.fill(user)
    name_box.press("Tab")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Submit action").first.click()
    page.get_by_text(re.compile(r"Recorded action #\d+: accept")).first.wait_for()
    _shot(page, kind, "5-accepted")

    log = ActionLog(actions)
    hist = log.history(rec_id)
    log.close()
    assert hist[["action", "user", "kind"]].values.tolist() == [
        ["accept", user, "recommendation"]], hist

    # the page state is one shared pumplib.ui.Selection: Undo takes back its last change
    # (the switch to the utility), and the scope selector follows it
    page.get_by_role("button", name="Undo").first.click()
    page.get_by_text(re.compile(r"Pump N-P3 \(NORTH\) · level\s+1h")).first.wait_for()
    _shot(page, kind, "6-undo")

    # a time preset of the shared model: the last week, at the level the model picks
    if kind == "voila":
        page.get_by_text("Time range (presets, dates, level)").first.click()
        page.get_by_role("button", name="Last week").first.click()
    else:
        _select(page, "last week")
    page.get_by_text(re.compile(r"Pump N-P3 \(NORTH\) · level\s+15min")).first.wait_for()
    page.get_by_text("2026-03-30 00:00 → 2026-04-06 00:00 UTC").first.wait_for()
    _shot(page, kind, "7-last-week")
    assert os.path.isfile(ARTIFACTS / f"{kind}-5-accepted.png")


def _norm(text: str) -> str:
    return text.replace("\xa0", " ").strip()


def _name_input(page, kind: str):
    """The text box of the user's name."""
    if kind == "voila":
        return page.locator(".widget-text", has_text="Your name").locator("input").first
    for i in range(page.locator("input").count()):
        cand = page.locator("input").nth(i)
        if cand.input_value() == "operator":
            return cand
    raise AssertionError("no input holds the default user name 'operator'")
