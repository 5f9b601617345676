"""Browser test of the live view: the operations app (marimo) and dashboard (Voila) in
headless Chromium, offline.

Each (``pumplib serve ops [--voila]``, :func:`pumplib.serve.serve_ops`) serves a small
lake (one station, two pumps, 20 minutes at 1 s built by the batch path; pump N-P2 went
quiet after 12 minutes). The page shows the last minute and N-P2 as silent. Then, with
the page left open, the test does what the live path does after a commit: one more
minute is ingested and its rows built (:class:`pumplib.live.minute.MinuteRows`) and a
dry-running alert is written (:class:`pumplib.live.alerts.LiveAlerts`). The page shows
the new minute and the new alert without a reload (marimo: ``mo.ui.refresh``; Voila:
the live view's periodic callback), and no request left localhost. Screenshots land in
``test-artifacts/live-browser/<kind>/``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from pumplib.assets import AssetRegistry
from pumplib.simulate import make_registry, simulate

from .browser import offline_browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "live-browser"
MIN = pd.Timedelta("1min")
T0 = pd.Timestamp("2026-03-09 06:00", tz="UTC")
TIMEOUT = 120_000

pytestmark = [pytest.mark.timeout(600)]


@pytest.fixture
def lake(tmp_path):
    from pumplib.ingest import ingest
    from pumplib.lake import Lake
    from pumplib.pipeline import build_features
    from pumplib.quality import validate

    reg = AssetRegistry.from_dict(make_registry(n_stations=1, pumps_per_station=2))
    (tmp_path / "assets.yaml").write_text(reg.to_yaml())
    f = pd.concat([c.frame for c in simulate(reg, start="2026-03-09", days=1, freq="1s",
                                             faults=())])
    f = f[(f.timestamp >= T0) & (f.timestamp < T0 + 21 * MIN)]
    f = f[~(f.tag.str.startswith("NORTH.P2.") & (f.timestamp >= T0 + 12 * MIN))]
    f[f.timestamp < T0 + 20 * MIN].to_parquet(tmp_path / "raw.parquet", index=False)
    f[f.timestamp >= T0 + 20 * MIN].to_parquet(tmp_path / "next.parquet", index=False)
    lk = Lake(tmp_path / "store", create=True)
    ingest([tmp_path / "raw.parquet"], store=lk, registry=reg, cadence="1s", progress=False)
    validate(lk, "1s", registry=reg)
    build_features(lk, reg, cadence="1s", log=lambda m: None)
    return tmp_path, reg


@pytest.mark.parametrize("kind", ["marimo", "voila"])
def test_the_live_view_shows_a_new_minute_and_a_new_alert_without_a_reload(lake, tmp_path,
                                                                          kind):
    from pumplib import serve
    from pumplib.ingest import ingest
    from pumplib.lake import Lake
    from pumplib.live.alerts import LiveAlerts
    from pumplib.live.minute import MinuteRows

    root, reg = lake
    store = root / "store"
    actions = f"sqlite:///{root / 'actions.sqlite'}"
    shots = ARTIFACTS / kind
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    url = serve.serve_ops(str(store), kind=kind, block=False, actions=actions,
                          registry=root / "assets.yaml", timeout=180, warm=False)
    try:
        with offline_browser(tmp_path / "profile", timeout_ms=TIMEOUT) as (ctx, blocked):
            page = ctx.new_page()
            page.goto(url)
            caption = page.locator(".pumplib-live-caption")
            # Europe/Amsterdam: 06:19 UTC is 07:19 local
            caption.filter(has_text="newest minute 2026-03-09 07:19").wait_for()
            silent = page.locator('.pumplib-live-pump[data-asset="N-P2"]')
            assert silent.get_attribute("data-silent") == "true"
            assert "silent since 07:11" in silent.inner_text()
            assert "No live alerts" in page.locator(".pumplib-live-alerts").inner_text()
            caption.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "1-before.png"), full_page=True)
            marker = page.evaluate("() => (window.__pumplib_marker = Math.random())")

            # the live path's commit hooks: a new minute's rows and a dry-running alert
            lk = Lake(store)
            ingest([root / "next.parquet"], store=lk, registry=reg, cadence="1s",
                   progress=False)
            MinuteRows(registry=reg, cadence="1s")(lk, (T0 + 20 * MIN).value,
                                                   (T0 + 21 * MIN).value)
            t = pd.date_range((T0 + 20 * MIN).tz_localize(None), periods=30, freq="1s")
            LiveAlerts(actions, registry=reg).update(pd.DataFrame(
                [{"asset": "N-P1", "signal": s, "time": x, "value": v} for x in t
                 for s, v in (("run_state", 1.0), ("power", 30.0), ("flow", 0.0))]))

            caption.filter(has_text="newest minute 2026-03-09 07:20").wait_for()
            row = page.locator(".pumplib-live-alerts tr", has_text="N-P1 runs dry")
            row.wait_for()
            assert "open" in row.inner_text()
            assert "1 open live alert" in caption.inner_text()
            assert page.evaluate("() => window.__pumplib_marker") == marker   # no reload
            page.screenshot(path=str(shots / "2-after.png"), full_page=True)
            assert blocked == []
    finally:
        serve.stop(url)
