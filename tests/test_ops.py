from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
import pytest

from pumplib import ops as pops
from pumplib.errors import ArgumentError, PumplibError, UnknownNameError
from pumplib.ops import FLOOR_KWH_M3_M, Operations, View, drill_down, period_end

ROOT = Path(__file__).resolve().parents[1]
TZ = "Europe/Amsterdam"


@pytest.fixture(scope="session")
def ops_cache(tmp_path_factory):
    """One cache folder for every test: daily quality scores are computed once per snapshot
    (copies of the sample lake share its snapshots)."""
    path = tmp_path_factory.getbasetemp() / "ops-cache"   # shared with test_ops_browser
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def ops(demo_store, demo_registry, tmp_path, ops_cache):
    return Operations(demo_store, demo_registry, f"sqlite:///{tmp_path / 'actions.sqlite'}",
                      cache_dir=ops_cache)


@pytest.fixture
def ops_rw(demo_store_copy, demo_registry, tmp_path, ops_cache):
    return Operations(demo_store_copy, demo_registry, f"sqlite:///{tmp_path / 'rw.sqlite'}",
                      cache_dir=ops_cache)


# -- periods and drill-down ------------------------------------------------------------
def test_periods_follow_the_local_calendar():
    # the day clocks go forward (2026-03-29) lasts 23 hours; months end at local midnight
    assert period_end("1D", "2026-03-28 23:00", TZ) - pd.Timestamp("2026-03-28 23:00") \
        == pd.Timedelta("23h")
    assert period_end("1D", "2026-03-27 23:00", TZ) == pd.Timestamp("2026-03-28 23:00")
    assert period_end("1M", "2026-02-28 23:00", TZ) == pd.Timestamp("2026-03-31 22:00")
    assert period_end("1W", "2026-03-22 23:00", TZ) == pd.Timestamp("2026-03-29 22:00")
    assert period_end("15min", "2026-03-10 10:00", TZ) == pd.Timestamp("2026-03-10 10:15")


def test_drill_down_from_month_to_minute():
    v = View("1M")
    chain = []
    start = pd.Timestamp("2026-02-28 23:00")
    for _ in range(4):
        v = drill_down(v, start, TZ)
        chain.append(v.level)
        assert v.start == start
        start = v.start + (pd.Timedelta("9D") if v.level == "1D" else pd.Timedelta(0))
    assert chain == ["1D", "1h", "15min", "1min"]
    assert v.end - v.start == pd.Timedelta("15min")
    assert drill_down(View("1W"), "2026-03-08 23:00", TZ).level == "1D"
    with pytest.raises(ArgumentError, match="cannot drill down from level '1min'"):
        drill_down(View("1min"), "2026-03-10")
    with pytest.raises(UnknownNameError, match="unknown level '1Y'.*'1M'"):
        View("1Y")
    assert [View(lv).tier for lv in pops.LEVELS] == [
        "strategic", "strategic", "tactical", "operational", "operational", "real-time"]


# -- KPIs against the golden tables ----------------------------------------------------
def _golden(demo_store, level):
    from pumplib.lake import Lake

    return Lake(demo_store).open_group(f"features/{level}").load()


def test_kpis_are_the_golden_values(ops, demo_store):
    g = _golden(demo_store, "1D")
    month = ops.periods(View("1M"))[0]
    assert month.label == "2026-03"
    days = drill_down(View("1M"), month.start, ops.timezone)
    chart = ops.chart_data("S-P1", days)
    assert chart["label"].iloc[0] == "2026-03-09 (Mon)" and len(chart) == 23
    gd = g.sel(asset="S-P1", time=pd.DatetimeIndex(chart["time"]))
    np.testing.assert_allclose(chart["energy"], gd.energy_integral.values, rtol=1e-12)
    np.testing.assert_allclose(chart["cost"], gd.energy_cost_integral.values, rtol=1e-12)
    np.testing.assert_allclose(chart["starts"], gd.starts_starts.values)
    np.testing.assert_allclose(chart["runtime"], gd.runtime_duration.values / 3600)
    # one pump: specific energy and efficiency are the pump's own daily means
    np.testing.assert_allclose(chart["specific_energy"], gd.specific_energy_mean.values,
                               rtol=1e-9)
    np.testing.assert_allclose(chart["efficiency"], 100 * gd.wire_to_water_efficiency_mean.values,
                               rtol=1e-9)
    # the month is the sum of its days; the utility the sum of its pumps
    tiles = ops.kpis("S-P1", View("1M"), period=month)
    assert tiles["energy"]["value"] == pytest.approx(np.nansum(chart["energy"]), rel=1e-12)
    pumps = [a.id for a in ops.registry.pumps()]
    march = g.sel(asset=pumps, time=slice(month.start, month.end - pd.Timedelta("1s")))
    util = ops.kpis("utility", View("1M"), period=month)
    assert util["energy"]["value"] == pytest.approx(float(march.energy_integral.sum()), rel=1e-9)
    assert util["cost"]["unit"] == "EUR"
    # physics: no pump beats the floor of 0.00272 kWh/m³/m; efficiency below 100 %
    for scope in ["utility", "NORTH", "SOUTH", *pumps]:
        k = ops.kpis(scope, View("1M"))
        assert k["vs_floor"]["value"] > 1.0, scope
        assert k["vs_floor"]["value"] == pytest.approx(
            k["specific_energy_per_head"]["value"] / FLOOR_KWH_M3_M)
        assert 30 < k["efficiency"]["value"] < 100, scope
        assert 0 <= k["near_bep"]["value"] <= 100
        assert 0 < k["data_quality"]["value"] <= 100
    north = ops.kpis("NORTH", View("1M"))["energy"]["value"]
    south = ops.kpis("SOUTH", View("1M"))["energy"]["value"]
    assert north + south == pytest.approx(ops.kpis("utility", View("1M"))["energy"]["value"])


def test_no_page_gets_a_whole_raw_series(demo_store, demo_registry, ops_cache):
    ops = Operations(demo_store, demo_registry, "sqlite://", max_points=300, cache_dir=ops_cache)
    rows = ops.table("S-P1", View("1min"))
    assert len(rows) == 300                       # the latest 300 minutes, not 40 320
    assert rows["time"].max() == pd.Timestamp("2026-04-05 23:59")
    assert len(ops.periods(View("1min"))) == 300
    assert len(ops.chart_data("utility", View("15min"))) == 300
    al = ops.alerts("S-P1")
    ev = ops.evidence(al.iloc[0]["alert_id"], pad="3D")
    assert len(ev["signals"]) <= 300 and ev["signals"].attrs["decimation"] > 1
    with pytest.raises(ArgumentError, match="max_points"):
        Operations(demo_store, demo_registry, "sqlite://", max_points=3)


def test_scopes(ops):
    assert ops.scope_assets("SOUTH") == ["S-P1", "S-P2"]
    assert ops.scope_assets("N-P2") == ["N-P2"]
    assert len(ops.scope_assets("utility")) == 5
    assert set(ops.scopes()) == {"utility", "NORTH", "SOUTH", "N-P1", "N-P2", "N-P3", "S-P1",
                                 "S-P2"}
    with pytest.raises(UnknownNameError, match="unknown scope 'S-P9'.*Did you mean"):
        ops.scope_assets("S-P9")
    with pytest.raises(UnknownNameError, match="unknown scope 'N-T1'"):
        ops.scope_assets("N-T1")            # a tank is not a pump
    if hasattr(pytest.importorskip("pumplib.query"), "select_assets"):
        assert ops.scope_assets("variable-speed pumps at NORTH") == ["N-P1"]
        assert ops.scope_assets("variable_speed") == ["N-P1", "S-P1"]
        k = ops.kpis("variable_speed", View("1M"))["energy"]["value"]
        assert k == pytest.approx(sum(ops.kpis(p, View("1M"))["energy"]["value"]
                                      for p in ("N-P1", "S-P1")))


# -- alerts and evidence -------------------------------------------------------------------
def test_quality_alerts_cover_the_injected_gaps(ops, demo_store):
    al = ops.alerts(kinds=["quality"])
    assert list(al.columns) == pops.ALERT_COLUMNS
    assert (al["status"] == "open").all() and (al["kind"] == "quality").all()
    # the asset-days whose worst signal scores below 80
    q = ops.quality_days()
    q = q[q["asset"].isin(ops.scope_assets("utility"))]
    worst = q.groupby(["asset", "day"])["score"].min()
    want = {f"quality:{a}:{pd.Timestamp(d).date()}" for (a, d), v in worst.items() if v < 80}
    assert set(al["alert_id"]) == want and len(want) > 3
    # the simulator's gaps of a pump longer than 2 h (> 8 % of a day) each raise one
    truth = pd.read_csv(ROOT / "data_samples" / "truth.csv")
    gaps = truth[(truth.kind == "gap") & truth.asset.isin(ops.scope_assets("utility"))]
    long = (pd.to_datetime(gaps.end) - pd.to_datetime(gaps.start)) > pd.Timedelta("2h")
    assert long.sum() >= 1
    for r in gaps[long].itertuples():
        day = pd.Timestamp(r.start).tz_convert(TZ).date()
        assert f"quality:{r.asset}:{day}" in set(al["alert_id"]), r
    # scope and window filter them
    south = ops.alerts("SOUTH", kinds=["quality"])
    assert set(south["asset"]) <= {"S-P1", "S-P2"} and len(south)
    window = View("1D", "2026-03-15", "2026-03-16")
    assert (ops.alerts(None, window)["end"] >= pd.Timestamp("2026-03-15")).all()
    with pytest.raises(UnknownNameError, match="unknown alert kind 'fault'"):
        ops.alerts(kinds=["fault"])


def test_evidence_of_a_gap_alert(ops):
    gap_day = "quality:S-P1:2026-03-15"
    ev = ops.evidence(gap_day, pad="1h")
    a = ev["alert"]
    sig = ev["signals"]
    assert a["asset"] == "S-P1" and sig.attrs["decimation"] == 1
    assert sig.index.min() == a["start"] - pd.Timedelta("1h")
    assert {"power", "flow"} <= set(sig.columns)
    # the injected gap 13:32–14:20 UTC is missing in the raw window
    assert sig.loc["2026-03-15 13:40":"2026-03-15 14:10", "power"].isna().all()
    assert "MISSING" in set(ev["flags"]["flag"]) or "GAP" in set(ev["flags"]["flag"])
    assert (ev["flags"]["samples"] > 0).all()
    kinds = [c["kind"] for c in ev["lineage"]]
    assert "quality" in kinds and "ingest" in kinds
    assert all(c["snapshot"] for c in ev["lineage"])
    with pytest.raises(UnknownNameError, match="unknown alert 'quality:S-P1:1999-01-01'"):
        ops.evidence("quality:S-P1:1999-01-01")


def test_alert_state_comes_from_the_action_log(ops):
    al = ops.alerts("S-P1")
    first = al.iloc[0]["alert_id"]
    ops.act(first, "assign", "ana", kind="alert", assignee="instrument techs")
    ops.act(first, "dismiss", "ana", kind="alert", reason="known outage")
    again = ops.alerts("S-P1").set_index("alert_id")
    assert again.loc[first, "status"] == "dismissed"
    assert again.loc[first, "assignee"] == "instrument techs"
    assert len(ops.alerts("S-P1", status="open")) == len(al) - 1


def _write_forecast(store, station, times, lo, mid, hi):
    """A forecasts/1h group laid out as pumplib.forecast stores it."""
    from pumplib.lake import Lake

    lake = Lake(store)
    with lake.transaction("forecast energy 1h (test)", {"kind": "forecast",
                                                         "run_id": "forecast-test"}) as tx:
        g = tx.root.require_group("forecasts").create_group("1h", overwrite=True)
        a = g.create_array("asset", shape=(1,), chunks=(1,), dtype=str,
                           dimension_names=("asset",))
        a[:] = np.array([station], dtype=object)
        secs = pd.DatetimeIndex(times).as_unit("s").asi8
        t = g.create_array("time", shape=secs.shape, chunks=secs.shape, dtype="int64",
                           dimension_names=("time",),
                           attributes={"units": "seconds since 1970-01-01T00:00:00",
                                       "calendar": "proleptic_gregorian"})
        t[:] = secs
        for name, vals in (("energy_q10", lo), ("energy_q50", mid), ("energy_q90", hi)):
            arr = g.create_array(name, shape=(1, len(secs)), chunks=(1, len(secs)),
                                 dtype="float64", fill_value=np.nan,
                                 dimension_names=("asset", "time"))
            arr[:] = np.asarray(vals, dtype=float)[None, :]


def test_forecast_deviation_alerts(ops_rw, demo_store_copy):
    assert ops_rw.alerts(kinds=["forecast"]).empty        # no forecasts stored: empty state
    g = _golden(demo_store_copy, "1h")
    times = pd.date_range("2026-03-20 00:00", periods=24, freq="h")
    actual = g.energy_integral.sel(asset=["S-P1", "S-P2"], time=times).sum("asset").values
    lo, mid, hi = actual - 5, actual.copy(), actual + 5
    lo[10], mid[10], hi[10] = actual[10] + 20, actual[10] + 30, actual[10] + 40  # one miss
    _write_forecast(demo_store_copy, "SOUTH", times, lo, mid, hi)
    ops = Operations(demo_store_copy, ops_rw.registry, ops_rw.actions, cache_dir=ops_rw.cache_dir)
    al = ops.alerts(kinds=["forecast"])
    assert len(al) == 1
    r = al.iloc[0]
    assert r["asset"] == "SOUTH" and r["station"] == "SOUTH" and r["kind"] == "forecast"
    assert r["start"] == times[10] and r["end"] == times[10] + pd.Timedelta("1h")
    assert r["score"] == pytest.approx(-1.5) and "outside the forecast band" in r["explanation"]
    assert len(ops.alerts("S-P2", kinds=["forecast"])) == 1   # a station alert shows for its pumps
    assert ops.alerts("N-P1", kinds=["forecast"]).empty
    ev = ops.evidence(r.to_dict())
    assert ev["signals"].empty and ev["alert"]["asset"] == "SOUTH"
    assert any(c["kind"] == "forecast" for c in ev["lineage"])


def test_outlier_alerts_when_the_detector_is_installed(ops_rw, demo_store_copy):
    outliers = pytest.importorskip("pumplib.outliers")
    if not hasattr(outliers, "detect_lake"):
        pytest.skip("pumplib.outliers has no detect_lake yet")
    # the level detector (no matrix profile: seconds, not minutes) on the days of the
    # simulator's two cavitation episodes of N-P3 (2026-03-12 01:18 and 18:59 UTC)
    outliers.detect_lake(demo_store_copy, assets=["N-P3", "S-P1"], start="2026-03-12",
                         end="2026-03-16", method="none")
    ev = outliers.events(demo_store_copy)
    ops = Operations(demo_store_copy, ops_rw.registry, ops_rw.actions, cache_dir=ops_rw.cache_dir)
    al = ops.alerts(kinds=["outlier"])
    assert len(al) == len(ev) > 0
    assert al["alert_id"].str.startswith("outlier:").all()
    cav = al[(al["asset"] == "N-P3") & (al["start"] <= pd.Timestamp("2026-03-12 19:42"))
             & (al["end"] >= pd.Timestamp("2026-03-12 18:59"))]
    assert len(cav) == 1 and cav.iloc[0]["severity"] in pops.SEVERITIES
    assert "Unusual behaviour of N-P3" in cav.iloc[0]["title"]
    e = ops.evidence(cav.iloc[0]["alert_id"], pad="1h")
    assert len(e["signals"]) > 60 and "vibration" in e["signals"]
    assert any(c["kind"] == "outliers" or "outliers" in c["message"] for c in e["lineage"])
    assert len(ops.alerts("N-P3", View("1D", "2026-03-11 23:00", "2026-03-12 23:00"),
                          kinds=["outlier"])) == len(al[al["asset"] == "N-P3"])


# -- recommendations ---------------------------------------------------------------------
def test_recommendations_join_their_actions_and_verified_savings(ops_rw, demo_store_copy):
    assert ops_rw.recommendations().empty                     # none stored: empty state
    recommend = pytest.importorskip("pumplib.recommend")
    recs = recommend.recommend(demo_store_copy, ops_rw.registry, write=True)
    assert len(recs)
    ops = Operations(demo_store_copy, ops_rw.registry, ops_rw.actions, cache_dir=ops_rw.cache_dir)
    table = ops.recommendations()
    assert list(table.columns) == pops.REC_COLUMNS
    assert set(table["rec_id"]) == set(recs["rec_id"]) and (table["status"] == "open").all()
    money = table[table["saving_money"].notna()].iloc[0]
    # accepted in the middle of the data: the saving can be measured after it
    ops.actions._clock = lambda: dt.datetime(2026, 3, 25, 12, tzinfo=dt.UTC)
    ops.act(money["rec_id"], "accept", "ana")
    ops.act(money["rec_id"], "comment", "bo", comment="scheduled")
    other = table[table["rec_id"] != money["rec_id"]].iloc[0]["rec_id"]
    with pytest.raises(ArgumentError, match="dismiss needs a reason"):
        ops.act(other, "dismiss", "bo")
    ops.act(other, "dismiss", "bo", reason="already planned")
    t = ops.recommendations().set_index("rec_id")
    row = t.loc[money["rec_id"]]
    assert row["status"] == "accepted" and row["accepted_by"] == "ana"
    assert row["n_comments"] == 1
    assert t.loc[other, ["status", "reason"]].tolist() == ["dismissed", "already planned"]
    want = recommend.verify(demo_store_copy, money["rec_id"], "2026-03-25T12:00Z",
                            registry=ops_rw.registry)
    assert np.isfinite(row["verified_saving_money"])
    np.testing.assert_allclose(
        row[["verified_saving_kwh", "verified_saving_money"]].to_numpy(float),
        [want["saving_kwh"], want["saving_money"]], rtol=1e-9)
    # the action keeps the estimate it was accepted on
    details = json.loads(ops.actions.history(money["rec_id"])["details"].iloc[0])
    assert details["saving_money"] == pytest.approx(money["saving_money"])
    assert len(ops.recommendations(status="accepted")) == 1
    with pytest.raises(UnknownNameError, match="unknown recommendation 'rec-nope'"):
        ops.act("rec-nope", "accept", "ana")


# -- front ends --------------------------------------------------------------------------
def test_dashboard_widgets_drive_the_library(ops_rw, demo_store_copy):
    pytest.importorskip("ipywidgets")
    d = pops.Dashboard(ops_rw, user="tester")
    assert 'data-kpi="energy"' in d.tiles.value and isinstance(d.chart_obj, pn.pane.Bokeh)
    d.scope.value = "S-P1"
    assert d.period.options[0][0] == "2026-03"
    d.drill.click()
    assert d.view.level == "1D" and d.period.options[0][0] == "2026-03-09 (Mon)"
    d.period.value = d.period.options[6][1]                  # Sunday 15 March: the gap
    assert "data-kpi" in d.tiles.value
    d.drill.click()
    assert d.view.level == "1h" and len(d.period.options) == 24
    d.top.click()
    assert d.view == View("1M")
    d.weeks.click()
    assert d.view == View("1W") and d.period.options[0][0] == "week of 2026-03-09"
    d.drill.click()
    assert d.view.level == "1D" and len(d.period.options) == 7
    d.top.click()
    d.alert.value = "quality:S-P1:2026-03-15"
    assert "Evidence" in d.evidence_text.value and d.evidence.children[0] is d.evidence_text
    assert isinstance(d.evidence_obj, pn.pane.Bokeh)
    d.alert_action.value = "dismiss"
    d.alert_submit.click()                                   # a dismissal needs a reason
    assert "Not recorded: dismiss needs a reason" in d.alert_message.value
    d.alert_note.value = "sensor outage, known"
    d.alert_submit.click()
    assert "Recorded action" in d.alert_message.value
    st = ops_rw.actions.state(kind="alert").loc["quality:S-P1:2026-03-15"]
    assert st["status"] == "dismissed" and st["last_user"] == "tester"
    assert "status <b>dismissed</b>" in d.evidence_text.value     # the open alert follows
    assert d.alert.value == "quality:S-P1:2026-03-15"             # and stays open
    d.submit.click()
    assert "Choose a recommendation" in d.message.value
    if hasattr(d.qa, "question"):                       # the Q&A panel of pumplib.qa.widgets
        assert d.qa.question.value == "" and d.qa in d.widget.children


def test_selection_is_the_state_of_the_views(ops):
    # the shared pumplib.ui.Selection holds pumps, level and window; the ops view is derived
    from pumplib.ui import Selection

    sel = ops.selection("NORTH")
    assert isinstance(sel, Selection)
    assert sel.assets == ("N-P1", "N-P2", "N-P3") and pops.view_of(sel) == View("1M")
    assert (sel.data_start, sel.data_end) == (pd.Timestamp("2026-03-09"),
                                              pd.Timestamp("2026-04-06"))
    seen = []
    sel.observe(lambda changes, s: seen.append(sorted(changes)))
    v = pops.drill_selection(sel, "2026-02-28 23:00", TZ)
    assert v == drill_down(View("1M"), "2026-02-28 23:00", TZ) == pops.view_of(sel)
    assert (sel.level, sel.start, sel.end) == ("1D", v.start, v.end)
    assert seen == [["end", "level", "start"]]
    pops.drill_selection(sel, "2026-03-11 23:00", TZ)
    assert pops.view_of(sel) == View("1h", "2026-03-11 23:00", "2026-03-12 23:00")
    assert sel.back() and pops.view_of(sel) == v          # undo goes back one drill-down
    assert sel.back() and pops.view_of(sel) == View("1M")
    pops.apply_view(sel, View("1W"))
    assert (sel.level, sel.start, sel.end) == ("1W", None, None)
    with pytest.raises(ArgumentError, match="finest"):
        pops.drill_selection(ops.selection(view=View("1min")), "2026-03-10")
    sel.set(level="auto", start="2026-03-10", end="2026-03-11")
    assert pops.view_of(sel).level == sel.effective_level()
    # the selection's view and scope give what the scope strings give
    sel2 = ops.selection("S-P1", View("1D", "2026-03-09", "2026-03-16"))
    scope = ops.scope_of(sel2.assets)
    assert scope == "S-P1"
    pd.testing.assert_frame_equal(ops.chart_data(scope, pops.view_of(sel2)),
                                  ops.chart_data("S-P1", View("1D", "2026-03-09", "2026-03-16")))


def test_scope_of_assets_and_custom_sets(ops):
    assert ops.scope_of(()) == ops.scope_of(["S-P2", "S-P1", "N-P1", "N-P2", "N-P3"]) == "utility"
    assert ops.scope_of(["S-P2", "S-P1"]) == "SOUTH" and ops.scope_of(["N-P3"]) == "N-P3"
    custom = ops.scope_of(["N-P1", "S-P1"])
    assert custom == ("N-P1", "S-P1")
    assert ops.scope_assets(custom) == ["N-P1", "S-P1"]
    assert ops.scope_label(custom) == "2 pumps: N-P1, S-P1"
    assert ops.scope_label("N-P3") == "Pump N-P3 (NORTH)"
    # a set of pumps is a scope everywhere: KPIs add up over its pumps
    e = {s: ops.kpis(s, View("1M"))["energy"]["value"] for s in ("N-P1", "S-P1")}
    assert ops.kpis(custom, View("1M"))["energy"]["value"] == pytest.approx(sum(e.values()))
    assert set(ops.alerts(custom)["asset"]) <= {"N-P1", "S-P1"}
    with pytest.raises(UnknownNameError, match="unknown pump 'N-T1'"):
        ops.scope_assets(["N-P1", "N-T1"])


def test_dashboard_follows_the_shared_selection(ops_rw):
    pytest.importorskip("ipywidgets")
    d = pops.Dashboard(ops_rw, user="tester")
    assert d.scope.value == "utility" and d.view == View("1M")
    # code (or any pumplib.ui front end) changes the selection: the page follows
    d.selection.set(assets=["N-P1", "S-P1"])
    assert d.scope.value is None and "2 pumps: N-P1, S-P1 · level" in d.where.value
    assert d.assets.select.value == ("N-P1", "S-P1")         # the asset tree shows it too
    assert "2 pumps: N-P1, S-P1" in d.alert_head.value
    d.assets.select.value = ("S-P1", "S-P2")                  # the asset tree writes it
    assert d.selection.assets == ("S-P1", "S-P2") and d.scope.value == "SOUTH"
    d.scope.value = "N-P3"                                    # the dropdown writes it
    assert d.selection.assets == ("N-P3",) and "Pump N-P3 (NORTH)" in d.where.value
    d.drill.click()
    assert d.selection.level == "1D" and d.selection.start == pd.Timestamp("2026-02-28 23:00")
    d.selection.drill_down("2026-03-12 12:00", level="1h", window="1D")   # Selection's own
    assert d.view == View("1h", "2026-03-12", "2026-03-13") and len(d.period.options) == 24
    d.undo.click()
    assert d.view.level == "1D" and "level <b>1D</b>" in d.where.value
    d.weeks.click()
    assert (d.selection.level, d.selection.start) == ("1W", None)
    d.time.presets.value = "last_week"                       # pumplib.ui.TimeSelector
    assert (d.selection.start, d.selection.end) == (pd.Timestamp("2026-03-30"),
                                                     pd.Timestamp("2026-04-06"))
    assert d.selection.level == "auto" and d.view.level == "15min"   # 672 ≤ max_points
    assert d.view.start == pd.Timestamp("2026-03-30") and len(d.period.options) == 672
    assert (d.time.start.value, d.time.end.value) == (dt.date(2026, 3, 30), dt.date(2026, 4, 5))
    d.time.level.value = "1D"
    assert d.view == View("1D", "2026-03-30", "2026-04-06") and len(d.period.options) == 7
    d.top.click()                                             # the time selector follows
    assert d.time.level.value == "1M" and d.time.start.value is None
    d.close()
    d.selection.set(assets=["N-P1"])                          # closed: no longer follows
    assert "Pump N-P3" in d.where.value


def test_tiles_html_marks_each_kpi(ops):
    h = pops.tiles_html(ops.kpis("utility", View("1M")))
    for k in pops.KPI_SPEC:
        assert f'data-kpi="{k}"' in h
    assert "–" in pops.tiles_html({"energy": {"value": float("nan"), "unit": "kWh",
                                              "label": "Energy", "coverage": np.nan}})


def test_marimo_app_passes_marimo_check():
    app = ROOT / "notebooks" / "apps" / "operations.py"
    res = subprocess.run([str(Path(sys.executable).parent / "marimo"), "check", str(app)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_dashboard_notebook_is_stored_without_outputs():
    nb = json.loads((ROOT / "notebooks" / "dashboards" / "operations.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


# -- serving -------------------------------------------------------------------------------
def test_serve_protects_anything_but_localhost(tmp_path):
    from pumplib import serve

    assert serve.access_token("127.0.0.1", None, None) is None
    assert serve.access_token("localhost", "pw", None) == "pw"
    tok = serve.access_token("0.0.0.0", None, None)
    assert tok and len(tok) >= 20
    assert serve.access_token("0.0.0.0", "pw", None) == "pw"
    assert serve.access_token("0.0.0.0", None, False) is None
    for kind in serve.KINDS:                   # the token never sits on a command line
        assert not any("pw" in a for a in serve.command(kind, 8000, "0.0.0.0", "pw"))
    cmd = serve.command("marimo", 8000, "0.0.0.0", "pw")
    assert cmd[cmd.index("--token-password-file") + 1] == "-" and "--token" in cmd
    assert "--no-token" in serve.command("marimo", 8000)
    assert "--token=" in serve.command("voila", 8000)
    assert serve.url_for("marimo", "0.0.0.0", 8000, "pw") == \
        "http://127.0.0.1:8000/?access_token=pw"
    assert serve.url_for("voila", "127.0.0.1", 8000, None) == "http://127.0.0.1:8000/"
    with pytest.raises(ArgumentError, match="unknown app kind 'streamlit'"):
        serve.serve_ops(tmp_path, kind="streamlit")
    with pytest.raises(ArgumentError, match="does not exist"):
        serve.serve_ops(tmp_path / "nope")


def test_cli_serve_ops_errors_clearly(tmp_path):
    from typer.testing import CliRunner

    from pumplib.cli import app

    res = CliRunner().invoke(app, ["serve", "ops", "--store", str(tmp_path / "nope"),
                                   "--no-browser"])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = CliRunner().invoke(app, ["serve", "ops", "--help"])
    assert res.exit_code == 0 and "--voila" in res.output


def test_missing_golden_tables_are_named(tmp_path, demo_registry):
    from pumplib.lake import Lake

    lake = Lake(tmp_path / "empty", create=True)
    with lake.transaction("something else", {"kind": "test"}) as tx:
        tx.write_table("notes", "n1", pd.DataFrame({"a": [1]}), {})
    ops = Operations(tmp_path / "empty", demo_registry, "sqlite://")
    with pytest.raises(PumplibError, match="no golden table features/1M"):
        ops.kpis("utility", View("1M"))
    assert ops.recommendations().empty and ops.alerts().empty


@pytest.mark.parametrize("module", ["pumplib.ops.views", "pumplib.ops.kpis", "pumplib.ops.alerts",
                                    "pumplib.ops.tables", "pumplib.ops.app", "pumplib.serve"])
def test_doctests(module):
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted > 0


@pytest.mark.parametrize("kind", ["marimo", "voila"])
def test_protected_server_asks_for_the_token(kind, demo_store, tmp_path):
    import http.cookiejar
    import urllib.request

    from pumplib import serve

    url = serve.serve_ops(demo_store, kind=kind, block=False, protect=True, token="s3cret",
                          actions=f"sqlite:///{tmp_path / 'a.sqlite'}", warm=False,
                          registry=ROOT / "catalogs" / "assets.yaml")

    def get(u):
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(u, timeout=60) as r:
            return r.url

    try:
        assert "s3cret" in url
        lines = _command_lines(serve.SERVERS[url].pid)        # `ps` shows no token
        assert lines and not any("s3cret" in ln for ln in lines)
        base = url.split("?")[0]
        assert "login" in get(base)                                   # no token: log in
        assert "login" in get(url.replace("s3cret", "wrong"))         # wrong token: log in
        if kind == "marimo":                                          # (Voila would run the
            assert "login" not in get(url)                            # notebook: the browser
    finally:                                                          # tests cover that)
        serve.stop(url)
    with pytest.raises(ArgumentError, match="unknown running server"):
        serve.stop(url)


def _command_lines(pid: int) -> list[str]:
    """Command lines of ``pid`` and every process of its group (as ``ps`` shows them)."""
    pgid, out = os.getpgid(pid), []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.getpgid(int(proc.name)) == pgid:
                    out.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except (OSError, ProcessLookupError):
                continue
    return out


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_serve_ops_killed_takes_its_server_down(demo_store, tmp_path, ops_cache):
    """`pumplib serve ops` killed with kill -9 leaves no server answering."""
    import signal
    import subprocess
    import time

    from pumplib import serve

    port = serve.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pumplib", "serve", "ops", "--store", str(demo_store),
         "--port", str(port), "--no-browser",
         "--registry", str(ROOT / "catalogs" / "assets.yaml")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
        env={**os.environ, "PUMPLIB_OPS__ACTIONS_URL": f"sqlite:///{tmp_path / 'a.sqlite'}",
             "PUMPLIB_OPS__CACHE_DIR": str(ops_cache)})
    url = f"http://127.0.0.1:{port}/"
    try:
        serve.wait_ready(url, timeout=120)
        children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                    and _ppid(int(p.name)) == proc.pid]
        assert children
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (_answers(url) or any(map(_alive, children))):
            time.sleep(0.25)
        assert not _answers(url) and not any(map(_alive, children))
    finally:
        if proc.poll() is None:
            proc.kill()


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_dashboard_notebook_code_runs(demo_store, tmp_path, ops_cache):
    """The notebook's cells, run as plain Python on the sample lake (no kernel, no browser)."""
    pytest.importorskip("ipywidgets")
    from pumplib import config

    nb = json.loads((ROOT / "notebooks" / "dashboards" / "operations.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    ns: dict = {}
    with config.set({"store.url": demo_store, "ops.cache_dir": str(ops_cache),
                     "ops.actions_url": f"sqlite:///{tmp_path / 'nb.sqlite'}",
                     "assets.registry": str(ROOT / "catalogs" / "assets.yaml")}):
        pops._operations.cache_clear()
        try:
            exec(compile(code, "operations.ipynb", "exec"), ns)  # noqa: S102 - our notebook
        finally:
            pops._operations.cache_clear()
    d = ns["dashboard"]
    assert isinstance(d, pops.Dashboard) and d.ops.lake.url == demo_store
    assert 'data-kpi="energy"' in d.tiles.value and len(d.alert.options) > 1


# -- control-room standard: tables, charts, alerts, actions ----------------------------------
@pytest.fixture(scope="session")
def live_store(demo_store, tmp_path_factory):
    """The sample lake with stored recommendations and outlier events (read it only)."""
    import shutil

    from pumplib import outliers, recommend

    dst = tmp_path_factory.mktemp("live") / "store"
    shutil.copytree(demo_store, dst)
    recommend.recommend(str(dst), ROOT / "catalogs" / "assets.yaml", write=True)
    outliers.detect_lake(str(dst), assets=["N-P3", "S-P1"], start="2026-03-12",
                         end="2026-03-16", method="none")
    return str(dst)


@pytest.fixture
def live(live_store, demo_registry, tmp_path, ops_cache):
    return Operations(live_store, demo_registry, f"sqlite:///{tmp_path / 'live.sqlite'}",
                      cache_dir=ops_cache)


def test_recommendation_table_reads_like_a_report(live):
    from pumplib.ops import tables

    recs = live.recommendations()
    assert len(recs) >= 3 and recs["saving_money"].isna().any()   # some have no estimate
    t = pops.recommendation_table(recs, live.currency, live.timezone)
    # human column names, the money columns in the registry's currency
    assert "_" not in "".join(t.columns)
    assert list(t.columns) == ["Recommendation", "Asset", "Est. saving (kWh/year)",
                               "Est. saving (EUR/year)", "Confidence", "Status",
                               "Verified saving (EUR)", "ID"]
    assert "S-T1 · SOUTH" in t["Asset"].tolist()            # a tank, with its station
    # numbers stay numbers (they sort); text cells never say None/nan
    assert t["Est. saving (EUR/year)"].dtype == float
    cells = t.select_dtypes(exclude="number").to_numpy().ravel().tolist()
    assert not {"None", "nan", "NaN", "NaT", ""} & {str(c) for c in cells}
    page = pops.table_html(t, formats=tables.rec_formats("EUR"))
    assert f'<td class="num">{pops.MISSING}</td>' in page    # no estimate: the one mark
    assert "None" not in page and "nan" not in page.lower().replace("nanoseconds", "")
    best = recs.iloc[0]
    assert pops.money(best["saving_money"], "EUR") in page and "€" in page
    assert "saving_money" not in page and "rec_id" not in page
    # the long titles wrap in a column that keeps its width (no 13-line strip), and a
    # narrow page scrolls the table instead of cutting a column off
    assert 'style="min-width:320px"' in page and "overflow-x:auto" in page
    # sortable: by money, high first, missing values last whatever the direction
    for desc in (True, False):
        s = tables.sort_table(t, "Est. saving (EUR/year)", descending=desc)
        v = s["Est. saving (EUR/year)"]
        known = v.dropna().tolist()
        assert known == sorted(known, reverse=desc) and v.iloc[-1] != v.iloc[-1]
    # the dashboard shows the same table and re-sorts it
    d = pops.Dashboard(live, user="tester")
    assert "Est. saving (EUR/year)" in d.recs.value and "€" in d.recs.value
    d.rec_sort.value = "Asset"
    d.rec_order.value = False
    assert d.rec_table["Asset"].tolist() == sorted(d.rec_table["Asset"].tolist())
    assert "Asset" in d.recs.value
    # the status says who accepted and when, in local time
    rid = recs.iloc[0]["rec_id"]
    live.actions._clock = lambda: dt.datetime(2026, 4, 1, 8, 0, tzinfo=dt.UTC)
    d.rec.value = rid
    d.act()
    row = d.rec_table.set_index("ID").loc[rid]
    assert row["Status"] == "accepted by tester, 2026-04-01 10:00 CEST"
    d.close()


def test_money_and_missing_marks():
    assert pops.money(1620.27, "EUR") == "€1,620"
    assert pops.money(1620.27, "SEK") == "1,620 SEK"
    assert pops.money(None, "EUR") == pops.money(float("nan"), "EUR") == pops.MISSING
    from pumplib.ops import tables

    assert tables.text(None) == tables.text(np.nan) == tables.text("None") == pops.MISSING
    assert tables.rec_headers("USD", 30)["saving_money"] == "Est. saving (USD/30 days)"


def test_alerts_with_equal_titles_are_all_selectable(live):
    from pumplib.ops.alerts import alert_id_of

    al = live.alerts()
    # two alerts with one title (as two events of one pump on the same signals have)
    al.loc[al.index[1], "title"] = al.loc[al.index[0], "title"]
    assert al["title"].duplicated().any()
    opts = pops.alert_options(al, live.timezone)
    assert len(opts) == len(al) and set(opts.values()) == set(al["alert_id"])
    assert all(alert_id_of(label) == aid for label, aid in opts.items())
    # grouped: by asset, then severity (high first), newest first within a group
    order = al.set_index("alert_id").loc[list(opts.values())]
    rank = order["severity"].map({"high": 0, "medium": 1, "low": 2})
    keys = list(zip(order["asset"], rank, -order["start"].astype("int64"), strict=True))
    assert keys == sorted(keys)
    groups = pops.alert_groups(al)
    assert groups["total"].sum() == len(al)
    assert groups.loc["N-P3", "high"] == ((al["asset"] == "N-P3") & (al["severity"] == "high")).sum()
    # 73 alerts with 62 distinct titles: 73 entries (a dict keyed by title held 62)
    many = pd.concat([al] * (73 // len(al) + 1), ignore_index=True).head(73).copy()
    many["alert_id"] = [f"a-{i}" for i in range(73)]
    many["title"] = [f"title {i % 62}" for i in range(73)]
    assert len(pops.alert_options(many, live.timezone)) == 73
    # the dashboard offers every alert of the view
    d = pops.Dashboard(live, user="tester")
    assert len(d.alert.options) == len(al)
    heads = [g["label"] for g in d.alert.groups]           # real groups (<optgroup>)
    assert all(re.match(r"^\S+ · (high|medium|low) \(\d+\)$", h) for h in heads)
    keys = [(h.split(" · ")[0], {"high": 0, "medium": 1, "low": 2}[h.split(" ")[2]])
            for h in heads]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert sum(len(g["options"]) for g in d.alert.groups) == len(al)
    assert "High" in d.alert_groups.value and "N-P3" in d.alert_groups.value
    d.close()


def test_accept_is_idempotent_and_says_who_and_when(live):
    recs = live.recommendations()
    rid = recs.iloc[0]["rec_id"]
    live.actions._clock = lambda: dt.datetime(2026, 4, 1, 8, 0, tzinfo=dt.UTC)
    first = live.act(rid, "accept", "ana")
    again = live.act(rid, "accept", "bo")
    assert first.created and not again.created
    assert (again.user, again.id) == ("ana", first.id)
    assert again.message(live.timezone) == (
        f"{rid} was already accepted by ana at 2026-04-01 10:00 CEST (action #{first.id}); "
        "nothing new was recorded.")
    assert live.actions.history(rid)["action"].tolist() == ["accept"]
    # the same through the dashboard: the second click says so, and stores nothing
    other = recs.iloc[1]["rec_id"]
    d = pops.Dashboard(live, user="tester")
    d.rec.value = other
    done = d.act()
    assert done.created and "Recorded action" in d.message.value
    assert d.rec.value == other                       # the choice stays for a second click
    d.act()
    assert "already accepted by tester at 2026-04-01 10:00 CEST" in d.message.value
    assert len(live.actions.history(other)) == 1
    # an unknown id is refused, never stored
    with pytest.raises(UnknownNameError, match="unknown alert 'nope'"):
        live.act("nope", "accept", "ana", kind="alert")
    assert live.actions.history("nope").empty
    d.close()


def test_accepting_a_recommendation_leaves_the_open_alert_open(live):
    d = pops.Dashboard(live, user="tester")
    aid = next(v for _k, v in d.alert.options if v and v.startswith("outlier:"))
    d.alert.value = aid
    shown = d.evidence_text.value
    assert "Evidence" in shown and "status <b>open</b>" in shown
    d.rec.value = live.recommendations().iloc[0]["rec_id"]
    assert d.act().created
    assert d.alert.value == aid and d.evidence_text.value == shown
    assert d.evidence.children[0] is d.evidence_text
    assert live.actions.history(kind="alert").empty            # no alert was touched
    assert live.alerts().set_index("alert_id").loc[aid, "status"] == "open"
    d.close()


def test_drill_down_then_choose_an_alert(live):
    """An alert chosen right after a drill-down opens its evidence (it used to do nothing
    while marimo logged "ValueError: The option name … is not a valid option")."""
    mo = pytest.importorskip("marimo")
    from pumplib.ops import app as papp

    tz = live.timezone
    month = View("1M")
    before = pops.alert_options(live.alerts("N-P3", month), tz)
    day = drill_down(drill_down(month, "2026-02-28 23:00", tz), "2026-03-11 23:00", tz)
    after = pops.alert_options(live.alerts("N-P3", day), tz)
    stale = next(label for label in before if label not in after)   # not in the new list
    # the cause: marimo keeps an element's id across a redraw, and a plain dropdown
    # refuses the label of the list the person was looking at
    plain = mo.ui.dropdown(options=after, label="Alert")
    with pytest.raises(ValueError, match="is not a valid option"):
        plain._update([stale])
    # the app's picker reads the alert's id from the label instead: the choice counts
    pick = papp.picker(after, label="Alert")
    pick._update([stale])
    assert pick.value == before[stale]
    ev = live.evidence(pick.value)
    assert ev["alert"]["alert_id"] == before[stale]
    pick._update([next(iter(after))])                               # a current label
    assert pick.value == next(iter(after.values()))
    pick._update(["2026-03-12 (Thu)"])                              # a stale label, no id
    assert pick.value is None
    # the dashboard: drill down, then choose an alert of the new list
    d = pops.Dashboard(live, user="tester")
    d.scope.value = "N-P3"
    d.drill.click()
    d.period.value = d.period.options[3][1]                         # 2026-03-12 (Thu)
    d.drill.click()
    assert d.view.level == "1h"
    aid = next(v for _k, v in d.alert.options if v and v.startswith("outlier:"))
    d.alert.value = aid
    assert "Unusual behaviour of N-P3" in d.evidence_text.value
    # a choice from the list the person saw before the redraw (the picker sends the id,
    # not a position in the list): that alert opens, though the new list lacks it
    gone = next(v for v in before.values() if v not in {i for _lb, i in d.alert.options})
    d.alert.value = gone
    assert gone.split(":")[-1] in d.evidence_text.value and d.evidence.children[1] is \
        d.evidence_chart
    d.close()


def test_charts_have_units_local_time_and_partial_periods(live):
    from bokeh.models import DatetimeAxis, HoverTool, Legend

    tz = live.timezone
    months = live.chart_data("utility", View("1M"))
    # the sample spans 2026-03-09 … 2026-04-05: both months are partial
    assert months["partial"].tolist() == [True, True]
    assert 0.70 < months["span_share"].iloc[0] < 0.78
    days = live.chart_data("S-P1", drill_down(View("1M"), months["time"].iloc[0], tz))
    assert not days["partial"].iloc[1:].any()                       # whole days are whole
    chart = pops.kpi_chart(months, timezone=tz, currency=live.currency)
    assert isinstance(chart, pn.pane.Bokeh)            # rendered through Panel: inline, offline
    plots = [c[0] for c in chart.object.children]
    ylabels = [p.yaxis[0].axis_label for p in plots]
    assert ylabels == ["kWh", "EUR", "kWh/m³", "score 0–100"]
    titles = [p.title.text for p in plots]
    assert titles == ["Energy [kWh]", "Cost [EUR]", "Specific energy [kWh/m³]",
                      "Data-quality score [score 0–100]"]
    assert all(p.x_range is plots[0].x_range for p in plots)   # one time axis for all
    for p in plots:
        assert isinstance(p.xaxis[0], DatetimeAxis)
        assert p.xaxis[0].axis_label == "Local time (Europe/Amsterdam)"
        tips = [t for t in p.tools if isinstance(t, HoverTool)]
        assert tips and ("Data", "@state") in tips[0].tooltips
    # the partial bars: hatched and lighter, "partial" in their hover and in the legend
    part = next(r for r in plots[0].renderers if getattr(r.glyph, "hatch_pattern", None) == "/")
    data = part.data_source.data
    assert len(data["x0"]) == 2
    # the first bar starts at local midnight of the 1st (UTC 2026-02-28 23:00)
    assert pd.Timestamp("2026-03-01") < pd.Timestamp(data["x0"][0]) < pd.Timestamp("2026-03-04")
    assert data["state"][0] == "partial: the data cover 74% of this period"
    assert data["shown"][0].endswith(" kWh") and data["period"][0] == "2026-03"
    legend = [x for x in plots[0].above if isinstance(x, Legend)][0]
    assert [it.label["value"] for it in legend.items] == [
        "complete period", "partial period (the data cover only part of it)"]
    # whole days are drawn whole
    day_chart = pops.kpi_chart(days, timezone=tz, currency=live.currency)
    first = [c[0] for c in day_chart.object.children][0]
    full = next(r for r in first.renderers if getattr(r.glyph, "hatch_pattern", None) != "/")
    assert len(full.data_source.data["x0"]) == len(days) - 1


def test_evidence_chart_has_units_and_the_alert_window(live):
    from bokeh.models import BoxAnnotation, HoverTool

    al = live.alerts("N-P3", kinds=["outlier"])
    ev = live.evidence(al.iloc[0]["alert_id"])
    assert ev["signals"].attrs["units"]["flow"] == "m3/h"
    chart = pops.evidence_chart(ev, timezone=live.timezone)
    plots = [c[0] for c in chart.object.children]
    labels = {p.yaxis[0].axis_label for p in plots}
    assert {"kW", "m³/h", "bar", "mm/s", "°C", "rpm"} <= labels
    for p in plots:
        assert p.xaxis[0].axis_label == "Local time (Europe/Amsterdam)"
        assert any(isinstance(t, HoverTool) for t in p.tools)
        assert any(isinstance(r, BoxAnnotation) for r in p.center)   # the alert window
    assert pops.evidence_chart({"alert": ev["alert"], "signals": pd.DataFrame()},
                               timezone=live.timezone) is None


def test_pages_show_local_time(live):
    v = drill_down(drill_down(View("1M"), "2026-02-28 23:00", TZ), "2026-03-11 23:00", TZ)
    assert pops.window_text(v, TZ) == "2026-03-12 00:00 → 2026-03-13 00:00 CET"
    d = pops.Dashboard(live, user="tester")
    d.selection.set(level=v.level, start=v.start, end=v.end)
    assert "2026-03-12 00:00 → 2026-03-13 00:00 CET" in d.where.value
    assert "UTC" not in d.where.value
    aid = next(v for _k, v in d.alert.options if v and v.startswith("outlier:"))
    label = next(k for k, v in d.alert.options if v == aid)
    assert "CET" in label and "UTC" not in label
    d.close()


def test_the_apps_draw_without_matplotlib():
    files = [*(ROOT / "pumplib" / "ops").glob("*.py"), ROOT / "notebooks" / "apps" /
             "operations.py", ROOT / "notebooks" / "dashboards" / "operations.ipynb",
             ROOT / "pumplib" / "serve.py"]
    for f in files:
        assert "matplotlib" not in f.read_text(), f


def test_voila_serves_a_template_without_cdn_links():
    from pumplib import serve

    env = serve.server_env("voila", {"JUPYTER_PATH": "/elsewhere"})
    root = env["JUPYTER_PATH"].split(":")[0]
    index = Path(root, "voila", "templates", "pumplib", "index.html.j2").read_text()
    assert "extends 'lab/index.html.j2'" in index
    # every stylesheet link off the server in the CSS block is emptied, whatever its host
    assert "replace('href=\"https://', 'href=\"data:text/css,')" in index
    assert env["JUPYTER_PATH"].endswith(":/elsewhere")
    assert "--template=pumplib" in serve.command("voila", 8000)
    nb = json.loads((ROOT / "notebooks" / "dashboards" / "operations.ipynb").read_text())
    # no developer prose on the page (Voila hides code; markdown would show) and the
    # heading is the dashboard's own, once
    assert {c["cell_type"] for c in nb["cells"]} == {"code"}
    assert nb["metadata"]["title"] == "Pump operations"
