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
    import pumplib.ui.display
    import pumplib.ui.selection

    for mod in (pumplib.ui.selection, pumplib.ui.charts, pumplib.ui.display):
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert res.failed == 0 and res.attempted >= 2, mod


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


# --- charts: units, local time, partial periods, offline ------------------------------
def _daily(values, coverage=None, units="kWh"):
    import numpy as np
    import xarray as xr

    t = pd.date_range("2026-03-08T23:00", periods=len(values), freq="1D")   # local midnights
    v = {"energy_integral": (("asset", "time"), np.array([values], float),
                             {"units": units, "feature": "energy"})}
    if coverage is not None:
        v["energy_coverage"] = (("asset", "time"), np.array([coverage], float), {"units": "1"})
    return xr.Dataset(v, coords={"asset": ["N-P1"], "time": t},
                      attrs={"timezone": "Europe/Amsterdam", "level": "1D"})


def test_line_chart_has_units_local_time_hover_and_marks_partial_periods():
    import holoviews as hv
    import numpy as np
    from bokeh.models import HoverTool

    from pumplib.ui import line_chart

    chart = line_chart(_daily([5.0, 6.0, 7.0], coverage=[0.4, 1.0, 1.0]))
    overlay = chart.Overlay.Energy_integral
    curve = overlay.Curve.N_hyphen_minus_P1
    assert curve.vdims[0].pprint_label == "energy integral [kWh]"
    assert curve.kdims[0].pprint_label == "Local time (Europe/Amsterdam)"
    # local midnights on the axis (the UTC data start at 23:00 the day before)
    assert list(curve.dimension_values("time")) == list(
        pd.date_range("2026-03-09", periods=3, freq="1D").values)
    partial = [e for e in overlay if "partial period" in e.label]
    assert len(partial) == 1 and partial[0].dimension_values("coverage").tolist() == [0.4]
    fig = hv.render(chart)
    tips = [t for p in fig.children for t in p[0].select({"type": HoverTool})]
    text = str([t.tooltips for t in tips])
    assert "kWh" in text and "coverage" in text and "@time{%F %H:%M}" in text
    # complete periods: nothing marked
    full = line_chart(_daily([5.0, 6.0, 7.0], coverage=[1.0, 1.0, 1.0]))
    assert not [e for e in full.Overlay.Energy_integral if "partial" in e.label]
    assert np.isfinite(full.Overlay.Energy_integral.Curve.N_hyphen_minus_P1.dimension_values(1)).all()


def test_line_chart_reads_the_coverage_a_query_left_out(demo_store):
    import pumplib
    from pumplib.ui import line_chart

    ds = pumplib.query("energy_integral", assets=["S-P1"], level="1D", store=demo_store)
    assert "energy_coverage" not in ds                      # an exact column: no coverage
    overlay = line_chart(ds).Overlay.Energy_integral
    assert "coverage" in overlay.Curve.S_hyphen_minus_P1.dimensions("value", label="name")
    # the sample starts and ends inside a local day: both ends are partial
    partial = [e for e in overlay if "partial period" in e.label]
    assert partial and len(partial[0]) >= 2


def test_charts_carry_no_cdn_url_in_any_frontend():
    """Panel's stylesheets become inline CSS before a model leaves Python (the notebook and
    marimo paths go through this hook; holoviz/panel#7073)."""
    import panel as pn
    from bokeh.embed.util import standalone_docs_json
    from bokeh.models import ImportedStyleSheet

    from pumplib.ui import line_chart
    from pumplib.ui.display import setup

    setup()
    assert pn.config.inline
    from bokeh.document import Document

    doc = Document()
    root = pn.panel(line_chart(_daily([1.0, 2.0]))).get_root(doc)
    if root.document is None:
        doc.add_root(root)
    text = str(standalone_docs_json([root]))
    assert "cdn.holoviz.org" not in text and "cdn.bokeh.org" not in text
    assert not [s for m in root.select({"type": ImportedStyleSheet}) for s in [m.url]
                if "holoviz" in s or "static/extensions/panel" in s]


@pytest.mark.slow
def test_raw_chart_draws_a_year_at_one_second_with_datashader():
    import holoviews as hv
    import numpy as np
    import xarray as xr

    from pumplib.ui import raw_chart

    n = 365 * 86400
    t = pd.date_range("2025-01-01", periods=n, freq="1s").values
    v = np.sin(np.arange(n, dtype=float) / 86400 * 2 * np.pi) * 10 + 20
    da = xr.DataArray(v, dims="time", coords={"time": t}, name="power",
                      attrs={"units": "kW", "long_name": "Electrical input power"})
    dm = raw_chart(da, timezone="Europe/Amsterdam", width=600, height=200)
    img = dm[()]                                    # datashader aggregates the year
    assert type(img).__name__ == "Image"
    drawn = np.nan_to_num(img.dimension_values(2, flat=False)) > 0
    assert drawn.shape[1] >= 300 and drawn.any(axis=0).mean() > 0.99      # every column
    lo, hi = img.range("time")                      # the whole year, in local time
    assert pd.Timestamp(lo) <= pd.Timestamp("2025-01-01T01:00:01") and \
        pd.Timestamp(hi) >= pd.Timestamp("2025-12-31T23:59")
    fig = hv.render(dm)
    assert fig.yaxis[0].axis_label == "Electrical input power [kW]"
    assert fig.xaxis[0].axis_label == "Local time (Europe/Amsterdam)"
