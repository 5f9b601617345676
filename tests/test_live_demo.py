"""The live view's library (pumplib.ops.live) and `pumplib live demo` (pumplib.live.demo).

The view's rows are the last minutes of ``features/1min`` ending at the newest minute
with data, a pump whose samples stopped is silent, and live alerts are read afresh;
the demo starts a broker, the simulator, the live path and the app, and stops them all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pumplib.assets import AssetRegistry
from pumplib.simulate import make_registry, simulate

from .broker import needs_mosquitto

MIN = pd.Timedelta("1min")


@pytest.fixture(scope="module")
def reg():
    return AssetRegistry.from_dict(make_registry(n_stations=1, pumps_per_station=2))


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory, reg):
    """20 minutes of one station at 1 s, built by the batch path; N-P2 stops sending
    after the first 12 minutes."""
    from pumplib.ingest import ingest
    from pumplib.lake import Lake
    from pumplib.pipeline import build_features
    from pumplib.quality import validate

    root = tmp_path_factory.mktemp("live-view")
    f = pd.concat([c.frame for c in simulate(reg, start="2026-03-09", days=1, freq="1s",
                                             faults=())])
    t0 = pd.Timestamp("2026-03-09 06:00", tz="UTC")
    f = f[(f.timestamp >= t0) & (f.timestamp < t0 + 20 * MIN)]
    quiet = f.tag.str.startswith("NORTH.P2.") & (f.timestamp >= t0 + 12 * MIN)
    assert quiet.any()
    f[~quiet].to_parquet(root / "raw.parquet", index=False)
    lake = Lake(root / "store", create=True)
    ingest([root / "raw.parquet"], store=lake, registry=reg, cadence="1s")
    validate(lake, "1s", registry=reg)
    build_features(lake, reg, cadence="1s", log=lambda m: None)
    return root


def test_live_rows_states_and_alerts(lake_dir, reg):
    from pumplib.live.alerts import LiveAlerts
    from pumplib.ops import Operations
    from pumplib.ops import live as olive

    url = f"sqlite:///{lake_dir / 'actions.sqlite'}"
    ops = Operations(str(lake_dir / "store"), reg, url, cache=False)
    rows = olive.live_rows(ops, minutes=10)
    assert list(rows.columns) == olive.ROW_COLUMNS
    assert sorted(rows["asset"].unique()) == ["N-P1", "N-P2"]
    t0 = pd.Timestamp("2026-03-09 06:00")
    for _a, g in rows.groupby("asset"):       # the last ten minutes, ending 06:19
        assert g["time"].tolist() == list(pd.date_range(t0 + 10 * MIN, periods=10, freq="1min"))
    p1 = rows[rows.asset == "N-P1"]
    p2 = rows[rows.asset == "N-P2"]
    assert (p1["coverage"] > 0).all()
    assert (p2.loc[p2.time >= t0 + 12 * MIN, "coverage"] == 0).all()
    assert (p2.loc[p2.time < t0 + 12 * MIN, "coverage"] > 0).all()
    # power is the minute's energy (kWh) times 60: the golden table's own value
    g1 = ops.lake.open_group("features/1min").sel(asset="N-P1", time=t0 + 15 * MIN)
    want = float(g1["energy_integral"]) * 60
    got = float(p1.loc[p1.time == t0 + 15 * MIN, "power"].iloc[0])
    assert got == pytest.approx(want) and np.isfinite(got)
    assert (p1["label"].iloc[0]) == "07:10"        # Europe/Amsterdam, UTC+1 in March

    st = olive.pump_states(ops, rows=rows)
    assert st.set_index("asset")["silent"].to_dict() == {"N-P1": False, "N-P2": True}
    assert st.set_index("asset").loc["N-P2", "state"] == "silent since 07:11"
    assert 'data-asset="N-P2" data-silent="true"' in olive.states_html(st)
    assert olive.live_rows(ops, minutes=3)["time"].nunique() == 3
    with pytest.raises(ValueError, match="minutes must be"):
        olive.live_rows(ops, minutes=0)

    # a live alert written by the live path appears on the next read, open first
    assert olive.live_alerts(ops).empty
    alerts = LiveAlerts(url, registry=reg)
    t = pd.date_range("2026-03-09 06:19", periods=30, freq="1s")
    alerts.update(pd.DataFrame([{"asset": "N-P1", "signal": s, "time": x, "value": v}
                                for x in t for s, v in (("run_state", 1.0), ("power", 30.0),
                                                        ("flow", 0.0))]))
    snap = olive.live_snapshot(ops, minutes=10)
    assert snap["alerts"][["asset", "status"]].values.tolist() == [["N-P1", "open"]]
    assert snap["states"].set_index("asset").loc["N-P1", "open_alerts"] == 1
    assert snap["newest"] == t0 + 19 * MIN
    assert "N-P1 runs dry" in olive.alerts_html(snap["alerts"], ops.timezone)
    assert "1 pump live, 1 silent · 1 open live alert" in olive.caption(snap, ops.timezone)
    chart = olive.live_chart(snap["rows"], timezone=ops.timezone)
    assert len(chart.object.children) == 2           # power and specific energy panels


def test_live_rows_of_a_lake_without_minutes_are_empty(tmp_path, reg):
    from pumplib.lake import Lake
    from pumplib.ops import Operations
    from pumplib.ops import live as olive

    lake = Lake(tmp_path / "store", create=True)
    with lake.transaction("a commit") as tx:
        tx.write_block("1s", ["N-P1"], "flow", 0, np.zeros((1, 2)))
    ops = Operations(lake, reg, f"sqlite:///{tmp_path / 'a.sqlite'}", cache=False)
    snap = olive.live_snapshot(ops)
    assert snap["rows"].empty and snap["newest"] is None
    assert snap["states"]["state"].tolist() == ["waiting for data", "waiting for data"]
    assert olive.live_chart(snap["rows"], timezone=ops.timezone) is None


@needs_mosquitto
def test_the_demo_starts_broker_simulator_and_live_path_and_stops_them(tmp_path, reg):
    """Without the app (the browser test serves it): minutes get built from what the
    simulator publishes through mosquitto, the view reads them, and stop() ends the
    publisher, the live service and the broker."""
    import socket

    from pumplib.live.demo import LiveDemo
    from pumplib.ops import Operations
    from pumplib.ops import live as olive

    (tmp_path / "assets.yaml").write_text(reg.to_yaml())
    said: list[str] = []
    demo = LiveDemo(tmp_path / "demo", registry=tmp_path / "assets.yaml", hours=0.5,
                    serve=None, log=said.append)
    with demo:
        assert demo.wait_for_minutes(3, timeout=240) >= 3
        ops = Operations(demo.store, reg, cache=False)
        snap = olive.live_snapshot(ops)
        assert sorted(snap["rows"]["asset"].unique()) == ["N-P1", "N-P2"]
        assert snap["newest"] is not None
        port, threads = demo.broker.port, list(demo._threads)
    assert not demo.errors
    assert not any(t.is_alive() for t in threads)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert said[0].startswith("live demo: mosquitto at mqtt://127.0.0.1:")
    assert (tmp_path / "demo" / "broker" / "mosquitto.conf").read_text().count(
        "persistence true") == 1


def test_demo_errors_are_one_line(tmp_path):
    from typer.testing import CliRunner

    from pumplib.cli import app
    from pumplib.live.demo import Broker, DemoError

    with pytest.raises(DemoError, match=r"mosquitto is missing \(/nonexistent\): `make env`"):
        Broker(tmp_path, executable="/nonexistent")
    res = CliRunner().invoke(app, ["live", "demo", "--hours", "0", "--dir", str(tmp_path)])
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1].endswith("hours must be > 0, got 0.0")
    assert not (tmp_path / "store").exists()


def test_the_ipywidgets_live_view_redraws_on_its_timer(lake_dir, reg, tmp_path):
    """Voila's live view: a periodic callback on the running loop redraws the caption,
    the pumps and the alerts; a new alert shows at the next tick."""
    import asyncio

    from pumplib.live.alerts import LiveAlerts
    from pumplib.ops import Operations
    from pumplib.ops.live import LiveView

    url = f"sqlite:///{tmp_path / 'actions.sqlite'}"
    ops = Operations(str(lake_dir / "store"), reg, url, cache=False)

    async def run():
        view = LiveView(ops, minutes=10, interval=0.2).start()
        assert "newest minute 2026-03-09 07:19" in view.caption.value
        assert 'data-asset="N-P2" data-silent="true"' in view.states.value
        assert "No live alerts" in view.alerts.value
        t = pd.date_range("2026-03-09 06:19", periods=30, freq="1s")
        LiveAlerts(url, registry=reg).update(pd.DataFrame(
            [{"asset": "N-P2", "signal": s, "time": x, "value": v} for x in t
             for s, v in (("run_state", 1.0), ("power", 30.0), ("flow", 0.0))]))
        for _ in range(100):
            await asyncio.sleep(0.1)
            if "N-P2 runs dry" in view.alerts.value:
                break
        view.stop()
        return view

    view = asyncio.run(run())
    assert "N-P2 runs dry" in view.alerts.value
    assert "1 open live alert" in view.caption.value
