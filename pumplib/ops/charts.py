"""Interactive charts of the operations pages (Bokeh in a Panel pane, served offline).

* :func:`kpi_chart`: one panel per KPI, one bar per period (a line above
  :data:`MAX_BARS` periods), the unit on every value axis, local time on the
  time axis (the utility's zone, named on the axis), hover values with units;
  a period the data only partly cover (the first and last month of a sample) is
  drawn lighter and hatched, and its hover and the legend say "partial".
* :func:`evidence_chart`: the raw signals around an alert, one panel per
  signal with its unit, the alert's window shaded.

The panels share one time axis (zoom one, all follow) and one toolbar. Both
functions return a ``panel.pane.Bokeh``: marimo renders it through Panel and a
Jupyter kernel (Voila, JupyterLab) through Panel's own output, both with every
script and stylesheet inline after :func:`pumplib.ui.charts.setup` (a bare
Bokeh model would go through renderers that link a CDN). The figures are built
with Bokeh directly: a scope change redraws four panels in ~0.1 s, where the
same chart through HoloViews took ~0.45 s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..ui.charts import time_axis_label
from .kpis import KPI_SPEC, kpi_unit
from .tables import fmt_kpi, money
from .views import local

#: the KPIs a page charts
CHART_KPIS = ("energy", "cost", "specific_energy", "data_quality")
#: above this many periods a KPI is drawn as a line, not bars
MAX_BARS = 62
BLUE, LIGHT, ORANGE = "#3b6ea5", "#b9d0ea", "#d08c00"
#: how signal units are written on axes
PRETTY_UNITS = {"degC": "°C", "m3/h": "m³/h", "m3": "m³", "1": "", "percent": "%"}
#: a KPI's value axis when its unit alone would not say it
AXIS_UNITS = {"data_quality": "score 0–100", "starts": "starts"}
EVIDENCE_SIGNALS = ("power", "flow", "discharge_pressure", "vibration", "bearing_temperature",
                    "speed")
PARTIAL_LABEL = "partial period (the data cover only part of it)"
TOOLS = "pan,box_zoom,wheel_zoom,reset,save"


def _axis_label(name: str, unit: str) -> str:
    return f"{name} [{unit}]" if unit else name


def _value_text(kpi: str, value, unit: str, currency: str) -> str:
    if kpi == "cost":
        return money(value, currency, 2)
    shown = fmt_kpi(value, unit)
    return f"{shown} {unit}" if unit and shown != "–" else shown


def _state_text(share: float) -> str:
    if not np.isfinite(share) or share >= 0.999:
        return "complete period"
    return f"partial: the data cover {share:.0%} of this period"


def _figure(*, title: str, ylabel: str, timezone: str, width: int, height: int, x_range=None):
    from bokeh.plotting import figure

    kw = {"x_range": x_range} if x_range is not None else {}
    f = figure(width=width, height=height, x_axis_type="datetime", tools=TOOLS,
               active_drag="box_zoom", title=title, **kw)
    f.xaxis.axis_label = time_axis_label(timezone)
    f.yaxis.axis_label = ylabel
    f.title.text_font_size = "12px"
    f.axis.axis_label_text_font_size = "11px"
    f.axis.axis_label_text_font_style = "normal"
    f.min_border_left = 70
    f.toolbar.logo = None
    return f


def _grid(figures):
    import panel as pn
    from bokeh.layouts import gridplot

    from ..ui.charts import setup

    setup()
    grid = gridplot([[f] for f in figures], merge_tools=True, toolbar_location="right")
    return pn.pane.Bokeh(grid)


def kpi_chart(chart: pd.DataFrame, *, timezone: str, currency: str, level: str = "",
              kpis=CHART_KPIS, width: int = 900, height: int = 170):
    """KPI panels of a :meth:`pumplib.ops.Operations.chart_data` frame.

    Returns a ``panel.pane.Bokeh`` holding a Bokeh grid (one column of figures,
    time axes linked); ``.object`` is the grid.
    """
    from bokeh.models import ColumnDataSource, HoverTool, Legend, LegendItem

    kpis = [k for k in kpis if k in chart] or list(CHART_KPIS[:1])
    rows = chart.reset_index(drop=True)
    n = len(rows)
    t0 = local(rows["time"], timezone) if n else pd.DatetimeIndex([])
    t1 = local(rows["end"] if "end" in rows else rows["time"], timezone) if n else \
        pd.DatetimeIndex([])
    share = rows["span_share"].to_numpy(float) if "span_share" in rows else np.ones(n)
    partial = share < 0.999
    cover = rows["coverage"].to_numpy(float) if "coverage" in rows else np.full(n, np.nan)
    periods = rows["label"].astype(str).tolist() if n else []
    states = [_state_text(s) for s in share]
    good = [f"{c:.0%}" if np.isfinite(c) else "–" for c in cover]
    bars = n <= MAX_BARS
    gap = (t1 - t0) * 0.08 if n else pd.TimedeltaIndex([])
    figures, x_range = [], None
    for i, k in enumerate(kpis):
        name = KPI_SPEC.get(k, (k, ""))[0]
        unit = kpi_unit(k, currency)
        axis = AXIS_UNITS.get(k, unit)
        values = pd.to_numeric(rows[k], errors="coerce").to_numpy(float) if n else np.zeros(0)
        data = {"x0": t0 + gap, "x1": t1 - gap, "start": t0, "value": values,
                "zero": np.zeros(n), "period": periods, "state": states, "good": good,
                "shown": [_value_text(k, v, unit, currency) for v in values]}
        f = _figure(title=f"{name} [{axis}]" if axis else name, ylabel=axis or name,
                    timezone=timezone, width=width, height=height + (30 if i == 0 else 0),
                    x_range=x_range)
        x_range = x_range or f.x_range
        full = ColumnDataSource({c: np.asarray(v)[~partial] for c, v in data.items()})
        part = ColumnDataSource({c: np.asarray(v)[partial] for c, v in data.items()})
        if bars:
            r_full = f.quad(left="x0", right="x1", bottom="zero", top="value", source=full,
                            fill_color=BLUE, line_color=BLUE)
            r_part = f.quad(left="x0", right="x1", bottom="zero", top="value", source=part,
                            fill_color=LIGHT, line_color=BLUE, line_dash="dashed",
                            hatch_pattern="/", hatch_color=BLUE, hatch_alpha=0.6)
            f.y_range.start = 0
        else:
            r_full = f.line(x="start", y="value", source=ColumnDataSource(data), color=BLUE)
            r_part = f.scatter(x="start", y="value", source=part, marker="x", size=9,
                               color=ORANGE)
        f.add_tools(HoverTool(
            renderers=[r_full, r_part], mode="mouse" if bars else "vline",
            tooltips=[("Period", "@period"), (name, "@shown"), ("Data", "@state"),
                      ("Good samples", "@good")]))
        if i == 0:
            legend = Legend(items=[LegendItem(label="complete period", renderers=[r_full]),
                                   LegendItem(label=PARTIAL_LABEL, renderers=[r_part])],
                            orientation="horizontal", location="top_left",
                            label_text_font_size="11px", glyph_height=12, padding=2)
            f.add_layout(legend, "above")
        figures.append(f)
    return _grid(figures)


def pretty_unit(unit: str | None) -> str:
    """A unit as it is written on an axis (``degC`` → ``°C``)."""
    return PRETTY_UNITS.get(str(unit or ""), str(unit or ""))


def evidence_chart(ev: dict, *, timezone: str, signals=EVIDENCE_SIGNALS, width: int = 900,
                   height: int = 140):
    """The raw signals around an alert (``Operations.evidence``), its window shaded.

    Returns a ``panel.pane.Bokeh`` (None when the alert has no raw signals).
    """
    from bokeh.models import BoxAnnotation, ColumnDataSource, HoverTool

    sig = ev["signals"]
    if sig is None or sig.empty:
        return None
    a = ev["alert"]
    cols = [s for s in signals if s in sig] or list(sig.columns)[:4]
    units = dict(sig.attrs.get("units") or {})
    t = local(sig.index, timezone)
    lo, hi = local(a["start"], timezone), local(a["end"], timezone)
    figures, x_range = [], None
    for i, c in enumerate(cols):
        unit = pretty_unit(units.get(c))
        name = str(c).replace("_", " ").capitalize()
        head = _axis_label(name, unit)
        vals = sig[c].to_numpy(float)
        src = ColumnDataSource({"time": t, "value": vals, "shown": [
            f"{v:,.4g} {unit}".strip() if np.isfinite(v) else "–" for v in vals]})
        f = _figure(title=head if i else f"{head} · the alert's window shaded red",
                    ylabel=unit or name, timezone=timezone, width=width, height=height,
                    x_range=x_range)
        x_range = x_range or f.x_range
        r = f.line(x="time", y="value", source=src, color="#333", line_width=1.2)
        f.add_layout(BoxAnnotation(left=lo, right=hi, fill_color="#d62728", fill_alpha=0.15,
                                   line_alpha=0))
        f.add_tools(HoverTool(renderers=[r], mode="vline",
                              tooltips=[("Time", "@time{%F %H:%M}"), (name, "@shown")],
                              formatters={"@time": "datetime"}))
        figures.append(f)
    return _grid(figures)


def panel_of(obj):
    """What a Jupyter kernel displays for a chart: a Panel object (Panel inlines its
    scripts and stylesheets there; HoloViews' own display hook would link a CDN)."""
    import panel as pn

    from ..ui.charts import setup

    setup()
    from panel.viewable import Viewable

    return obj if isinstance(obj, Viewable) else pn.panel(obj)
