"""pumplib.ui: the selection model, its ipywidgets and marimo front ends, charts."""

from __future__ import annotations

import doctest

import pandas as pd
import pytest

from pumplib.errors import ArgumentError, UnknownNameError
from pumplib.ui import Selection


@pytest.fixture
def reg():
    from pumplib.assets import AssetRegistry
    from pumplib.simulate import make_registry

    spec = make_registry()
    spec["stations"][1]["assets"][0]["tags"] = ["critical"]
    return AssetRegistry.from_dict(spec)


@pytest.fixture
def sel(reg):
    from pumplib.features.definitions import builtin_dir, load_catalog

    return Selection(reg, data_start="2026-03-01", data_end="2026-04-01",
                     catalog=load_catalog(builtin_dir()))


def test_doctests():
    import pumplib.ui.charts
    import pumplib.ui.selection

    for mod in (pumplib.ui.selection, pumplib.ui.charts):
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert res.failed == 0 and res.attempted >= 2


def test_selection_observes_presets_drill_down_and_back(sel):
    seen = []
    stop = sel.observe(lambda ch, s: seen.append(dict(ch)))
    sel.set(assets=["N-P1", "N-P2"], features="energy")
    assert seen[-1] == {"assets": ((), ("N-P1", "N-P2")), "features": ((), ("energy",))}
    sel.set(assets=["N-P1", "N-P2"])                      # no change, no notification
    assert len(seen) == 1
    sel.preset("last_month")
    assert (sel.start, sel.end) == (pd.Timestamp("2026-03-02"), pd.Timestamp("2026-04-01"))
    assert sel.effective_level() == "15min"               # 2880 quarter-hours ≤ 5000
    sel.preset("last_year")                               # clipped to the data
    assert sel.start == pd.Timestamp("2026-03-01")
    # drill down: month → days → hours → quarter-hours → minutes around the point
    sel.set(level="1M")
    levels = []
    for _ in range(4):
        sel.drill_down("2026-03-20 14:05")
        levels.append(sel.level)
        assert sel.start <= pd.Timestamp("2026-03-20 14:05") < sel.end
    assert levels == ["1D", "1h", "15min", "1min"]
    assert sel.end - sel.start == pd.Timedelta("2h")
    assert sel.back() and sel.level == "15min"
    stop()
    n = len(seen)
    sel.preset("all")
    assert len(seen) == n and sel.level == "auto"
    with pytest.raises(UnknownNameError, match="last_week"):
        sel.preset("last_weak")
    with pytest.raises(UnknownNameError, match="N-P1"):
        sel.set(assets=["N-P9"])
    with pytest.raises(UnknownNameError, match="'1h'"):
        sel.set(level="2h")
    with pytest.raises(ArgumentError, match="not after"):
        sel.set(start="2026-03-10", end="2026-03-09")
    assert Selection.from_dict(sel.to_dict(), sel.registry, data_start=sel.data_start,
                               data_end=sel.data_end, catalog=sel.catalog).to_dict() == \
        sel.to_dict()


def test_open_window_and_ops_views_through_the_selection(sel):
    # the operations app keeps its state in a Selection: "whole span" is start/end None,
    # its calendar drill-down is written with one set(), back() restores the open window
    from pumplib import ops as pops

    sel.set(level="1M", start=None, end=None)
    assert (sel.start, sel.end) == (None, None) and sel.effective_level() == "1M"
    assert Selection.from_dict(sel.to_dict(), sel.registry, data_start=sel.data_start,
                               data_end=sel.data_end, catalog=sel.catalog).end is None
    seen = []
    sel.observe(lambda ch, s: seen.append(sorted(ch)))
    v = pops.drill_selection(sel, "2026-02-28 23:00", "Europe/Amsterdam")
    assert (sel.level, sel.start, sel.end) == (v.level, v.start, v.end) == (
        "1D", pd.Timestamp("2026-02-28 23:00"), pd.Timestamp("2026-03-31 22:00"))
    assert seen == [["end", "level", "start"]]            # one notification
    sel.drill_down("2026-03-20 12:00")                    # the Selection's own drill-down
    assert pops.view_of(sel) == pops.View("1h", "2026-03-19 12:00", "2026-03-21 12:00")
    assert sel.back() and sel.back()
    assert (sel.level, sel.start, sel.end) == ("1M", None, None)


def test_asset_and_feature_search(sel):
    assert sel.asset_tree(kind="pump") == {"AquaNet demo water utility": {
        "NORTH": ["N-P1", "N-P2", "N-P3"], "SOUTH": ["S-P1", "S-P2"]}}
    assert sel.search_assets("south", kind="pump") == ["S-P1", "S-P2"]
    assert sel.search_assets(pump_type="variable_speed") == ["N-P1", "S-P1"]
    assert sel.search_assets(tag="critical") == ["S-P1"]
    assert sel.search_assets("pump 3") == ["N-P3"]
    found = sel.search_features("efficiency")
    assert "wire_to_water_efficiency" in found.index
    assert sel.describe_feature("energy_integral").startswith("energy_integral [kW]:")


def test_widgets_follow_the_selection_both_ways(sel):
    from pumplib.ui import AssetSelector, FeatureSelector, TimeSelector

    a, t, f = AssetSelector(sel), TimeSelector(sel), FeatureSelector(sel)
    assert [v for _, v in a.select.options] == ["N-P1", "N-P2", "N-P3", "S-P1", "S-P2"]
    a.pump_type.value = "variable_speed"
    assert [v for _, v in a.select.options] == ["N-P1", "S-P1"]
    a.select.value = ("S-P1",)                                 # widget → selection
    assert sel.assets == ("S-P1",)
    sel.set(assets=["S-P1", "N-P2"])                           # selection → widget
    assert set(a.select.value) == {"S-P1", "N-P2"}
    a.station_buttons[0].click()                               # whole station NORTH
    assert sel.assets == ("S-P1", "N-P2", "N-P1", "N-P3")
    t.presets.value = "last_week"
    assert sel.start == pd.Timestamp("2026-03-25") and t.start.value == sel.start.date()
    t.level.value = "1h"
    assert sel.level == "1h" and "1h" in t.effective.value
    t.point.value = "2026-03-28 06:00"
    t.zoom.click()
    assert sel.level == "15min" and t.level.value == "15min"
    t.back.click()
    assert sel.level == "1h"
    t.start.value, t.end.value = pd.Timestamp("2026-03-10").date(), pd.Timestamp(
        "2026-03-12").date()
    assert (sel.start, sel.end) == (pd.Timestamp("2026-03-10"), pd.Timestamp("2026-03-13"))
    f.search.value = "bep"
    assert {v for _, v in f.select.options} >= {"bep_flow_ratio", "time_near_bep"}
    f.select.value = ("bep_flow_ratio",)
    assert sel.features == ("bep_flow_ratio",) and "bep_flow_ratio [1]" in f.info.value


def test_marimo_elements_write_the_selection(sel):
    from pumplib.ui import marimo as um

    sel.set(assets=["N-P1"], features=["energy"])
    form = um.selection_form(sel)
    assert form.value["assets"] == ["N-P1"] and form.value["features"] == ["energy"]
    um.apply(sel, {"assets": ["S-P1", "S-P2"], "features": ["runtime"],
                   "time": {"preset": "custom", "level": "1D",
                            "range": (pd.Timestamp("2026-03-05").date(),
                                      pd.Timestamp("2026-03-06").date())}})
    assert sel.assets == ("S-P1", "S-P2") and sel.features == ("runtime",)
    assert (sel.start, sel.end, sel.level) == (pd.Timestamp("2026-03-05"),
                                               pd.Timestamp("2026-03-07"), "1D")
    um.apply(sel, {"time": {"preset": "last_day", "level": "1D", "range": None}})
    assert sel.start == pd.Timestamp("2026-03-31") and sel.level == "auto"
    assert "runtime" in um.feature_info(sel).text


def test_panel_queries_and_charts_the_sample(demo_store, demo_registry, tmp_path):
    from pumplib.ui import SelectionPanel, line_chart, raw_chart, save_html

    sel = Selection(demo_registry, store=demo_store, features=["energy_integral"],
                    assets=["N-P1", "N-P2"])
    assert sel.data_end > sel.data_start
    panel = SelectionPanel(sel)
    assert "2 assets" in panel.status.value and "15min" in panel.status.value
    sel.preset("last_day")
    assert "1min" in panel.status.value and "1440 periods" in panel.status.value
    chart = panel.chart
    assert len(chart) == 1 and len(chart.Overlay.Energy_integral) == 2
    sel.set(features=["enrgy"])
    assert "Did you mean" in panel.status.value
    ds = Selection(demo_registry, store=demo_store, features=["energy_integral"]).query()
    assert len(line_chart(ds, engine="hvplot")) == 1
    import pumplib

    raw = pumplib.query.query_raw("power", ["S-P1", "S-P2"], cadence="1s", store=demo_store)
    dm = raw_chart(raw["power"])
    assert type(dm).__name__ == "DynamicMap"
    out = save_html(line_chart(ds), tmp_path / "chart.html")
    text = out.read_text()
    assert "cdn.bokeh.org" not in text and "Bokeh" in text        # inline resources
    with pytest.raises(UnknownNameError, match="chart engine"):
        line_chart(ds, engine="matplotlib")
