"""Browser tests: the marimo app and the Voila dashboard in headless Chromium, offline.

Each test serves the app (``pumplib serve ops`` / ``--voila``, through
:func:`pumplib.serve.serve_ops`) on a free localhost port over a private copy of
the sample lake with real recommendations (``pumplib.recommend``) and real
alerts (quality problems and outlier events), and drives it as an operator
does, in Debian's Chromium with a fresh profile and every request that does not
go to localhost aborted and counted (the count must be 0: a utility's network
reaches no CDN):

1. the first page: KPI tiles and the interactive charts (a rendered Bokeh canvas
   per chart), and a hover tooltip with a value and its unit;
2. a pump, a drill-down from the month to a day and to its hours (local time),
   then, right away, an alert chosen from the list grouped by asset and
   severity: its evidence opens (with its own chart);
3. back to the utility, the alert opened again, a recommendation accepted twice:
   the second time the page says it was already accepted by whom and when, the
   database holds one action, and the open alert is still open;
4. Undo and a time preset of the shared selection.

Screenshots land in ``test-artifacts/ops-browser/``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from pumplib.actions import ActionLog

from .browser import COUNT_CANVASES, offline_browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "ops-browser"
TIMEOUT = 180_000  # ms: a cold kernel on a loaded 2-core machine is slow
SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}

pytestmark = [pytest.mark.timeout(900)]


@pytest.fixture
def browser(tmp_path):
    """A fresh Chromium that reaches only localhost; ``.blocked`` lists what it tried."""
    with offline_browser(tmp_path / "chromium-profile", height=1100,
                         timeout_ms=TIMEOUT) as (ctx, blocked):
        yield SimpleNamespace(ctx=ctx, blocked=blocked)


@pytest.fixture
def live_store(demo_store_copy, demo_registry):
    """The sample lake with stored recommendations and outlier events (real ones)."""
    from pumplib import outliers, recommend

    recs = recommend.recommend(demo_store_copy, demo_registry, write=True)
    assert len(recs) > 0
    # the level detector over the days of N-P3's two cavitation episodes (seconds to run)
    ev = outliers.detect_lake(demo_store_copy, assets=["N-P3", "S-P1"], start="2026-03-12",
                              end="2026-03-16", method="none")
    assert (ev["asset"] == "N-P3").sum() >= 2
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


@pytest.fixture
def shots(request):
    kind = request.node.callspec.params["server"]
    folder = ARTIFACTS / kind
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)

    def shot(page, step: str, element=None) -> Path:
        path = folder / f"{step}.png"
        if element is not None:
            element.scroll_into_view_if_needed()
        page.screenshot(path=str(path), full_page=True)
        return path

    return shot


def _norm(text: str) -> str:
    return text.replace("\xa0", " ").strip()


def _select(page, option_text: str, *, contains: bool = False) -> str:
    """Choose an option in the <select> that offers it; return the option's label."""
    sel = page.locator("select", has=page.locator("option", has_text=option_text)).first
    sel.wait_for()
    labels = sel.locator("option").all_inner_texts()
    # ipywidgets writes spaces in option labels as no-break spaces
    label = next(lb for lb in labels if (option_text in _norm(lb) if contains else
                                         _norm(lb) == option_text))
    sel.select_option(label=label)
    return _norm(label)


def _wait_canvases(page, at_least: int) -> int:
    for _ in range(TIMEOUT // 500):
        n = page.evaluate(COUNT_CANVASES)
        if n >= at_least:
            return n
        page.wait_for_timeout(500)
    raise AssertionError(f"only {page.evaluate(COUNT_CANVASES)} Bokeh canvases rendered, "
                         f"expected {at_least}")


def _hover_tooltip(page, *must: str) -> str:
    """Move the mouse over the first chart until Bokeh shows a tooltip; return its text."""
    canvas = page.locator(".bk-Canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box and box["width"] > 100, box
    for fy in (0.6, 0.5, 0.7, 0.4):
        for fx in (0.15, 0.3, 0.45, 0.6, 0.75, 0.9):
            page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"],
                            steps=4)
            page.wait_for_timeout(300)
            # the tooltip's text lives in its own shadow root
            tips = page.locator(".bk-Tooltip .bk-tooltip-content, .bk-tooltip-content")
            for i in range(tips.count()):
                tip = tips.nth(i)
                if tip.is_visible():
                    text = _norm(tip.inner_text())
                    if all(m in text for m in must):
                        return text
    raise AssertionError("no hover tooltip appeared over the first chart")


def _check_grouped(labels: list[str]) -> None:
    """Alert labels: each ends with its unique id, grouped by asset then severity."""
    labels = [lb for lb in labels if lb.endswith("]")]
    assert labels and len(set(labels)) == len(labels)
    ids = [re.search(r"\[([^\[\]]+)\]$", lb).group(1) for lb in labels]
    assert len(set(ids)) == len(ids)
    keys = [(lb.split(" · ")[0], SEVERITY_RANK[lb.split(" · ")[1]]) for lb in labels]
    assert keys == sorted(keys), keys


def _name_input(page, kind: str):
    """The text box of the user's name."""
    if kind == "voila":
        return page.locator(".widget-text", has_text="Your name").locator("input").first
    for i in range(page.locator("input").count()):
        cand = page.locator("input").nth(i)
        if cand.input_value() == "operator":
            return cand
    raise AssertionError("no input holds the default user name 'operator'")


@pytest.mark.parametrize("server", ["marimo", "voila"], indirect=True)
def test_operator_session_offline(server, browser, shots):
    kind, url, actions = server
    page = browser.ctx.new_page()
    try:
        _session(page, kind, url, actions, browser, shots)
    except BaseException:
        shots(page, "failed")             # what the page showed when the test failed
        raise


def _session(page, kind, url, actions, browser, shots) -> None:
    page.goto(url, timeout=TIMEOUT)

    # 1. first page: tiles, four interactive charts (a Bokeh canvas each), a hover value
    page.locator("[data-kpi=energy]").first.wait_for()
    page.get_by_text(re.compile(r"level\s+1M")).first.wait_for()
    assert _wait_canvases(page, 4) >= 4
    # one heading, no developer prose (the Voila notebook's notes stay in its code)
    assert page.locator("h1", has_text="Pump operations").count() == 1
    body = page.locator("body").inner_text()
    assert "PUMPLIB_STORE__URL" not in body and "pumplib.ui.Selection" not in body
    tip = _hover_tooltip(page, "Period", "kWh")
    assert "Energy" in tip and re.search(r"\d", tip), tip
    shots(page, "1-first-render-hover")
    assert "partial" in tip or "complete" in tip
    page.mouse.move(5, 5)                                      # and away again

    # 2. a pump, drill down month → day → hours (local time), then an alert right away
    _select(page, "Pump N-P3 (NORTH)")
    page.get_by_text(re.compile(r"Pump N-P3 \(NORTH\) · level\s+1M")).first.wait_for()
    _select(page, "2026-03")
    page.get_by_role("button", name="Drill down").first.click()
    page.get_by_text(re.compile(r"level\s+1D")).first.wait_for()
    _select(page, "2026-03-12 (Thu)")
    page.get_by_role("button", name="Drill down").first.click()
    # choose from the list on screen at once (it may still be the month's list)
    label = _select(page, "Unusual behaviour of N-P3", contains=True)
    assert label.startswith("N-P3 · ") and "[outlier:" in label
    page.get_by_text(re.compile(r"level\s+1h")).first.wait_for()
    page.get_by_text("2026-03-12 00:00 → 2026-03-13 00:00 CET").first.wait_for()
    page.get_by_text(re.compile(r"\d+ alerts? · Pump N-P3 \(NORTH\) · level 1h")).first.wait_for()
    head = page.get_by_text(re.compile(r"Evidence: Unusual behaviour of N-P3")).first
    head.wait_for()
    page.get_by_text("Quality flags in the window").first.wait_for()
    assert _wait_canvases(page, 5) >= 5                       # the evidence chart too
    shots(page, "2-drilled-alert-evidence", head)

    # 3. the whole utility: its alerts grouped by asset and severity, every one listed
    _select(page, "Utility", contains=True)
    page.get_by_text(re.compile(r"Utility .* · level\s+1h")).first.wait_for()
    caption = page.get_by_text(re.compile(r"\d+ alerts? · Utility")).first
    caption.wait_for()
    n_alerts = int(re.search(r"(\d+) alerts? · Utility", caption.inner_text()).group(1))
    alert_sel = page.locator("select", has=page.locator("option", has_text="[outlier:")).first
    labels = [_norm(x) for x in alert_sel.locator("option").all_inner_texts()]
    _check_grouped(labels)
    assert len([lb for lb in labels if lb.endswith("]")]) == n_alerts
    label = _select(page, "Unusual behaviour of N-P3", contains=True)
    head = page.get_by_text(re.compile(r"Evidence: Unusual behaviour of N-P3")).first
    head.wait_for()
    page.get_by_text(re.compile(r"\d+ recommendations? · Utility")).first.wait_for()
    page.get_by_text(re.compile(r"Est\. saving \(EUR/year\)")).first.wait_for()
    page.get_by_text(re.compile(r"€\d")).first.wait_for()
    shots(page, "3-utility-alerts-grouped", caption)

    # accept a recommendation as a named user, twice
    rec_sel = page.locator("select", has=page.locator("option", has_text="[rec-")).first
    rec_label = [lb for lb in rec_sel.locator("option").all_inner_texts() if "[rec-" in lb][0]
    rec_id = re.search(r"\[(rec-[^\]]+)\]", rec_label).group(1)
    rec_sel.select_option(label=rec_label)
    user = f"browser-{kind}"
    name_box = _name_input(page, kind)
    name_box.fill(user)
    name_box.press("Tab")
    page.wait_for_timeout(500)
    submit = page.get_by_role("button", name="Submit action").first
    submit.click()
    page.get_by_text(re.compile(rf"Recorded action #\d+: accept {rec_id} by {user}")).first \
        .wait_for()
    shots(page, "4-accepted", submit)
    submit.click()
    again = page.get_by_text(re.compile(
        rf"{rec_id} was already accepted by {user} at \d{{4}}-\d\d-\d\d \d\d:\d\d CE")).first
    again.wait_for()
    shots(page, "5-accepted-again", again)
    # nothing else changed: one action in the log, the open alert still open
    assert page.get_by_text(re.compile(r"Evidence: Unusual behaviour of N-P3")).first.is_visible()
    log = ActionLog(actions)
    hist = log.history()
    log.close()
    assert hist[["item_id", "action", "user", "kind"]].values.tolist() == [
        [rec_id, "accept", user, "recommendation"]], hist

    # 4. the page state is one shared pumplib.ui.Selection: Undo takes back its last change
    # (the switch to the utility), and the scope selector follows it
    page.get_by_role("button", name="Undo").first.click()
    page.get_by_text(re.compile(r"Pump N-P3 \(NORTH\) · level\s+1h")).first.wait_for()
    # a time preset of the shared model: the last week, at the level the model picks
    if kind == "voila":
        page.get_by_text("Time range (presets, dates, level)").first.click()
        page.get_by_role("button", name="Last week").first.click()
    else:
        _select(page, "last week")
    page.get_by_text(re.compile(r"Pump N-P3 \(NORTH\) · level\s+15min")).first.wait_for()
    page.get_by_text("2026-03-30 02:00 → 2026-04-06 02:00 CEST").first.wait_for()
    shots(page, "6-last-week")

    # offline: not one request left localhost
    assert browser.blocked == [], browser.blocked
