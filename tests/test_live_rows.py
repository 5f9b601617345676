"""The live path after a raw commit: each minute's flags and golden rows equal a batch
build bit for bit (pumplib.live.minute); streaming rule alerts open on a fault, resolve
when it clears, stay quiet on normal data and are one per pump and rule
(pumplib.live.alerts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pumplib.assets import AssetRegistry
from pumplib.simulate import make_registry, simulate

MIN = pd.Timedelta("1min")


@pytest.fixture(scope="module")
def reg():
    return AssetRegistry.from_dict(make_registry(n_stations=1, pumps_per_station=2))


@pytest.fixture(scope="module")
def frame(reg):
    """One station (two pumps and a tank) at 1 s, 05:40-07:40 UTC, no faults."""
    f = pd.concat([c.frame for c in simulate(reg, start="2026-03-09", days=1, freq="1s",
                                             faults=())])
    return f[(f.timestamp >= "2026-03-09 05:40") & (f.timestamp < "2026-03-09 07:40")]


def _tables(lake) -> dict:
    out = {}
    for g in ["quality/1s", *[f"features/{lv}" for lv in
                              ("1min", "15min", "1h", "1D", "1W", "1M", "_partials/1D")]]:
        ds = lake.open_group(g)
        assert ds is not None, g
        out[g] = ds.load()
    return out


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint8) if a.dtype.kind == "f" else a


def test_live_rows_equal_a_batch_build_bit_for_bit(tmp_path, reg, frame):
    """Minute by minute (a batch ingest of each minute's slice stands in for the live
    committer), with a spike and a gap at the end of a minute (flags that change once
    the next minute arrives, so that minute's rows are built again), a quarter hour and
    an hour closing, a minute that arrives 4 minutes late and a call that fails (its
    minute is done by the next): the flags and every level's rows equal a batch
    validate and build of the same data."""
    from pumplib.ingest import ingest
    from pumplib.lake import Lake
    from pumplib.live.minute import MinuteRows
    from pumplib.pipeline import build_features
    from pumplib.quality import validate

    start = pd.Timestamp("2026-03-09 05:55", tz="UTC")
    n = 14                                   # 05:55 … 06:08: a quarter and an hour close
    f = frame[(frame.timestamp >= start) & (frame.timestamp < start + n * MIN)].copy()
    spike = (f.timestamp == start + 2 * MIN - pd.Timedelta("1s")) & (f.tag == "NORTH.P2.PD")
    f.loc[spike, "value"] = f.loc[spike, "value"] * 4 + 30     # a spike at 05:56:59
    assert spike.sum() == 1
    # a gap of four samples across 05:58: two of them only (not a GAP) until the next
    # minute comes, then all four are GAP
    gap = (f.tag == "NORTH.P2.FLOW") & (f.timestamp >= start + 3 * MIN - pd.Timedelta("2s")) \
        & (f.timestamp < start + 3 * MIN + pd.Timedelta("2s"))
    assert gap.sum() == 4
    f = f[~gap]
    f.to_parquet(tmp_path / "all.parquet", index=False)
    batch = Lake(tmp_path / "batch", create=True)
    ingest([tmp_path / "all.parquet"], store=batch, registry=reg, cadence="1s")
    validate(batch, "1s", registry=reg)
    build_features(batch, reg, cadence="1s", log=lambda m: None)

    live = Lake(tmp_path / "live", create=True)
    hook = MinuteRows(registry=reg, cadence="1s")
    order = [k for k in range(n) if k != 7]
    order.insert(order.index(11) + 1, 7)     # 06:02 arrives after 06:06
    rebuilt = []
    for k in order:
        m = start + k * MIN
        p = tmp_path / f"m{k}.parquet"
        f[(f.timestamp >= m) & (f.timestamp < m + MIN)].to_parquet(p, index=False)
        ingest([p], store=live, registry=reg, cadence="1s")
        if k == 9:                           # a failed call leaves its range to the next

            def broken(*args, **kwargs):
                raise RuntimeError("the disk is full")
            hook.build = broken
            with pytest.raises(RuntimeError, match="disk is full"):
                hook(live, m.value, (m + MIN).value)
            del hook.build
            rebuilt.append(True)
            continue
        res = hook(live, m.value, (m + MIN).value)
        if k == 10:
            assert res.start_ns == (m - MIN).value     # the failed call's minute too
        rebuilt.append(res.changed[0] < m.value)
    hook.flush(live)
    assert rebuilt[order.index(3)]           # 05:57's flags changed: its rows rebuilt
    want, got = _tables(batch), _tables(live)
    for g, a in want.items():
        b = got[g]
        if b.sizes["time"] > a.sizes["time"]:
            # an incremental build lays out its levels to the end of the hour; those
            # periods hold no data yet
            extra = b.isel(time=slice(a.sizes["time"], None))
            assert all(bool(extra[v].isnull().all()) for v in extra.data_vars), g
            b = b.isel(time=slice(0, a.sizes["time"]))
        assert np.array_equal(a.time.values, b.time.values), g
        assert sorted(a.data_vars) == sorted(b.data_vars), g
        for v in a.data_vars:
            assert np.array_equal(_bits(a[v].values), _bits(b[v].values)), (g, v)
    assert int(np.isfinite(got["features/1min"]["energy_integral"].values).sum()) > 0


# -- alerts -------------------------------------------------------------------------------
def _samples(reg, frame: pd.DataFrame) -> pd.DataFrame:
    """The simulator's long rows as canonical samples (asset, signal, time, value)."""
    from pumplib import signals
    from pumplib.units import convert

    tags = {spec["tag"]: (a.id, s, spec.get("unit"))
            for a in reg.assets.values() for s, spec in a.signals.items()}
    rows = []
    for tag, g in frame.groupby("tag"):
        asset, sig, unit = tags[tag]
        rows.append(pd.DataFrame({"asset": asset, "signal": sig, "time": g.timestamp.dt.tz_convert(None).to_numpy(),
                                  "value": convert(g.value.to_numpy(float), unit or
                                                   signals.get(sig).unit,
                                                   signals.get(sig).unit)}))
    return pd.concat(rows, ignore_index=True).sort_values("time", kind="stable")


def _feed(alerts, samples: pd.DataFrame, every="1min") -> list:
    """Feed ``samples`` in batches of ``every`` (as a live path would); the events."""
    events = []
    for _, g in samples.groupby(samples["time"].dt.floor(every)):
        events += alerts.update(g)
    return events


@pytest.fixture(scope="module")
def samples(reg, frame):
    return _samples(reg, frame)


def _running_stretch(samples, asset, minutes=30) -> pd.Timestamp:
    """The start of a stretch of ``minutes`` in which ``asset`` runs throughout."""
    rs = samples[(samples.asset == asset) & (samples.signal == "run_state")].set_index("time")
    on = rs["value"].resample("1min").min() >= 0.5
    runs = on.rolling(minutes).sum() >= minutes
    assert runs.any(), f"{asset} never runs {minutes} minutes on end"
    return runs.index[np.argmax(runs.to_numpy())] - (minutes - 1) * MIN


def test_alerts_stay_quiet_on_normal_data(tmp_path, reg, samples):
    from pumplib.live.alerts import LiveAlerts

    alerts = LiveAlerts(f"sqlite:///{tmp_path / 'a.sqlite'}", registry=reg)
    assert _feed(alerts, samples, every="5min") == []
    assert alerts.alerts().empty


@pytest.mark.parametrize("rule", ["dry_run", "out_of_range", "stuck", "silent"])
def test_each_alert_fires_on_its_fault_and_resolves_when_it_clears(tmp_path, reg, samples,
                                                                   rule):
    from pumplib.live.alerts import LiveAlerts

    s = samples.copy()
    pump = "N-P2"
    t0 = _running_stretch(s, pump, minutes=30) + 5 * MIN
    hold = {"dry_run": 3, "out_of_range": 2, "stuck": 13, "silent": 4}[rule] * MIN
    in_fault = (s.asset == pump) & (s.time >= t0) & (s.time < t0 + hold)
    if rule == "dry_run":                    # the pump runs on, the flow is gone
        s.loc[in_fault & (s.signal == "flow"), "value"] = 0.0
    elif rule == "out_of_range":             # a discharge pressure far above any head
        s.loc[in_fault & (s.signal == "discharge_pressure"), "value"] = 250.0
    elif rule == "stuck":                    # the flow meter freezes
        frozen = in_fault & (s.signal == "flow")
        s.loc[frozen, "value"] = float(s.loc[frozen, "value"].iloc[0])
    else:                                    # the pump's tags stop arriving
        s = s[~in_fault]
    s = s[(s.time >= t0 - 3 * MIN) & (s.time < t0 + hold + 3 * MIN)]
    alerts = LiveAlerts(f"sqlite:///{tmp_path / 'a.sqlite'}", registry=reg)
    events = _feed(alerts, s)
    assert [(e.action, e.rule, e.asset) for e in events] == [
        ("open", rule, pump), ("resolve", rule, pump)], events
    opened, resolved = events
    # the alert starts with the fault (a frozen value: at its last change)
    assert abs(pd.Timestamp(opened.at) - t0) <= pd.Timedelta("1s")
    assert resolved.at >= (t0 + hold - pd.Timedelta("1s")).value
    table = alerts.alerts()
    assert len(table) == 1 and table["rule"].iloc[0] == rule
    assert table["end"].notna().all() and alerts.open_alerts().empty


def test_alerts_are_one_per_pump_and_rule_across_writers(tmp_path, reg, samples):
    """A second writer (or a restart) on the same database takes the open alert up: the
    fault seen again opens nothing new, and its clearing resolves the one alert."""
    from pumplib.live.alerts import LiveAlerts

    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    s = samples.copy()
    t0 = _running_stretch(s, "N-P2", minutes=30) + 5 * MIN
    fault = (s.asset == "N-P2") & (s.signal == "flow") & (s.time >= t0) \
        & (s.time < t0 + 6 * MIN)
    s.loc[fault, "value"] = 0.0
    head = s[(s.time >= t0 - 2 * MIN) & (s.time < t0 + 3 * MIN)]
    tail = s[(s.time >= t0 + 3 * MIN) & (s.time < t0 + 8 * MIN)]
    first, second = LiveAlerts(url, registry=reg), LiveAlerts(url, registry=reg)
    opened = _feed(first, head)
    assert [e.action for e in opened] == ["open"]
    # a writer that started before the alert opened finds the open row (UNIQUE key)
    assert [(e.action, e.alert_id) for e in _feed(second, head)] == \
        [("open", opened[0].alert_id)]
    # a restart takes the open alert up: the fault seen again opens nothing
    third = LiveAlerts(url, registry=reg)
    assert _feed(third, head[head.time >= t0]) == []
    assert len(third.alerts()) == 1 and len(third.open_alerts()) == 1
    assert [e.action for e in _feed(third, tail)] == ["resolve"]
    assert [e.action for e in _feed(first, tail)] == ["resolve"]   # resolved already
    table = first.alerts()
    assert len(table) == 1 and table["end"].notna().all() and first.open_alerts().empty


def test_bad_alert_samples_are_one_clear_line(reg):
    from pumplib.errors import PumplibError
    from pumplib.live.alerts import LiveAlerts

    alerts = LiveAlerts("sqlite://", registry=reg)
    with pytest.raises(PumplibError, match="missing signal, value"):
        alerts.update(pd.DataFrame({"asset": ["N-P1"], "time": [0]}))


def test_the_operations_app_lists_live_alerts_with_their_state(tmp_path, reg, samples):
    """The operations service reads live alerts from the action-log database afresh (no
    new lake commit needed): open while the fault lasts, resolved after, and what a
    person did to one wins."""
    from pumplib.lake import Lake
    from pumplib.live.alerts import LiveAlerts
    from pumplib.ops import Operations

    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    lake = Lake(tmp_path / "store", create=True)
    with lake.transaction("a commit") as tx:
        tx.write_block("1s", ["N-P2"], "flow", 0, np.zeros((1, 2)))
    ops = Operations(lake, reg, url, cache=False)
    assert ops.alerts(kinds=("live",)).empty
    s = samples.copy()
    t0 = _running_stretch(s, "N-P2", minutes=30) + 5 * MIN
    s.loc[(s.asset == "N-P2") & (s.signal == "flow") & (s.time >= t0)
          & (s.time < t0 + 2 * MIN), "value"] = 0.0
    alerts = LiveAlerts(url, registry=reg)
    _feed(alerts, s[(s.time >= t0 - MIN) & (s.time < t0 + MIN)])
    al = ops.alerts(kinds=("live",))
    assert al[["kind", "asset", "severity", "status"]].values.tolist() == [
        ["live", "N-P2", "high", "open"]]
    assert al["start"].iloc[0] == t0 and "runs dry" in al["title"].iloc[0]
    _feed(alerts, s[(s.time >= t0 + MIN) & (s.time < t0 + 4 * MIN)])
    assert ops.alerts(kinds=("live",))["status"].tolist() == ["resolved"]
    ops.actions.dismiss(al["alert_id"].iloc[0], user="ana", reason="pump was being primed",
                        kind="alert")
    assert ops.alerts(kinds=("live",))["status"].tolist() == ["dismissed"]


def test_alerts_as_the_committers_hook_read_the_committed_range(tmp_path, reg, frame,
                                                                samples):
    """Called with a commit's raw range, the alerts read it from the lake (canonical
    units, as ingested): a dry-running pump opens its alert."""
    from pumplib.ingest import ingest
    from pumplib.lake import Lake
    from pumplib.live.alerts import LiveAlerts

    t0 = (_running_stretch(samples, "N-P2", minutes=30) + 5 * MIN).tz_localize("UTC")
    f = frame[(frame.timestamp >= t0 - MIN) & (frame.timestamp < t0 + 2 * MIN)].copy()
    f.loc[(f.tag == "NORTH.P2.FLOW") & (f.timestamp >= t0), "value"] = 0.0
    f.to_parquet(tmp_path / "m.parquet", index=False)
    lake = Lake(tmp_path / "store", create=True)
    ingest([tmp_path / "m.parquet"], store=lake, registry=reg, cadence="1s")
    alerts = LiveAlerts(f"sqlite:///{tmp_path / 'a.sqlite'}", registry=reg)
    events = alerts(lake, (t0 - MIN).value, (t0 + 2 * MIN).value)
    assert [(e.action, e.rule, e.asset) for e in events] == [("open", "dry_run", "N-P2")]
    assert pd.Timestamp(events[0].at, tz="UTC") == t0


def test_expected_mask_in_memory_equals_the_lazy_one(reg):
    """The live path validates in-memory windows: expected_mask's numpy path gives the
    lazy path's mask (declared pairs over the lake's data span, undeclared ones from
    their first to their last value, none where they hold no value)."""
    import xarray as xr

    from pumplib.quality import expected_mask

    rng = np.random.default_rng(3)
    t = pd.date_range("2026-03-09", periods=50, freq="1s")
    assets = ["N-P1", "N-T1", "X-9"]                  # a pump, a tank, an unknown asset
    flow = rng.normal(size=(3, 50))
    flow[1] = np.nan
    flow[1, 10:20:3] = 1.0                            # the tank's undeclared flow
    flow[2, :5] = np.nan                              # an unknown asset's values
    level = np.full((3, 50), np.nan)
    level[1] = 2.0
    secs = t.values.astype("datetime64[s]").astype(np.int64)
    ds = xr.Dataset({"flow": (("asset", "time"), flow), "level": (("asset", "time"), level)},
                    coords={"asset": assets, "time": t},
                    attrs={"data_start": int(secs[3]), "data_end": int(secs[44])})
    eager = expected_mask(ds, reg)
    lazy = expected_mask(ds.chunk({"time": 20}), reg).compute()
    for s in ("flow", "level"):
        assert eager[s].dims == ("asset", "time")
        assert np.array_equal(eager[s].values, lazy[s].values), s
    assert eager["flow"].values[1].tolist() == [10 <= k <= 19 for k in range(50)]
    assert not eager["level"].values[0].any() and eager["level"].values[1, 3:45].all()


def test_the_service_flushes_its_hooks_at_shutdown():
    """MinuteRows builds days, weeks and months hourly: a stopping service brings them up
    to date; a hook that fails to flush does not stop the shutdown."""
    from pumplib.live.service import flush_hooks

    calls = []

    class Rows:
        def __call__(self, lake, start_ns, stop_ns):
            pass

        def flush(self):
            calls.append("rows")

    class Broken(Rows):
        def flush(self):
            raise RuntimeError("lake gone")

    flush_hooks([Broken(), lambda lake, a, b: None, Rows()])
    assert calls == ["rows"]


@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Rome"])
def test_live_alerts_take_zone_aware_times(tz):
    """Sample times may come zone-aware (a frame read back from the lake or a query):
    the same instants as epoch nanoseconds, naive times taken as UTC."""
    from pumplib.live.alerts import _normalised

    t = pd.date_range("2026-03-01 00:00", periods=3, freq="s", tz=tz)
    df = pd.DataFrame({"asset": "N-P1", "signal": "flow", "time": t, "value": [1.0, 2, 3]})
    want = t.tz_convert("UTC") if tz else t.tz_localize("UTC")
    assert _normalised(df)["time"].tolist() == [int(x.value) for x in want]
