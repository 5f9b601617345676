"""Interactive charts of the operations pages (HoloViews → Bokeh, served offline).

* :func:`kpi_chart`: one panel per KPI, one bar per period (a line above
  :data:`MAX_BARS` periods), the unit on every value axis, local time on the
  time axis, hover values with units; a period the data only partly cover (the
  first and last month of a sample) is drawn lighter and hatched, and its hover
  and the legend say "partial".
* :func:`evidence_chart`: the raw signals around an alert, one panel per
  signal with its unit, the alert's window shaded.

Both return HoloViews objects after :func:`pumplib.ui.charts.setup` (Bokeh,
every resource inline): marimo renders them through Panel; the ipywidgets
dashboard shows :func:`panel_of` in an ``Output``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .kpis import KPI_SPEC, kpi_unit
from .tables import fmt_kpi, money
from .views import local

#: the KPIs a page charts
CHART_KPIS = ("energy", "cost", "specific_energy", "data_quality")
#: above this many periods a KPI is drawn as a line, not bars
MAX_BARS = 62
BLUE, LIGHT = "#3b6ea5", "#a9c4e2"
#: how signal units are written on axes
PRETTY_UNITS = {"degC": "°C", "m3/h": "m³/h", "m3": "m³", "1": "", "percent": "%"}
#: a KPI's value axis when its unit alone would not say it
AXIS_UNITS = {"data_quality": "score 0–100", "starts": "starts"}
EVIDENCE_SIGNALS = ("power", "flow", "discharge_pressure", "vibration", "bearing_temperature",
                    "speed")


def _time_label(timezone: str) -> str:
    return f"Local time ({timezone})"


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


def _hatch(plot, _element) -> None:
    glyph = plot.handles.get("glyph")
    if glyph is not None:
        glyph.hatch_pattern = "/"
        glyph.hatch_color = BLUE
        glyph.hatch_alpha = 0.6


def kpi_chart(chart: pd.DataFrame, *, timezone: str, currency: str, level: str = "",
              kpis=CHART_KPIS, width: int = 900, height: int = 170, title: str = ""):
    """KPI panels of a :meth:`pumplib.ops.Operations.chart_data` frame.

    Returns a ``holoviews.Layout`` (one column, time axes linked: zoom one,
    all follow).
    """
    import holoviews as hv

    from ..ui.charts import setup

    setup()
    kpis = [k for k in kpis if k in chart] or list(CHART_KPIS[:1])
    rows = chart if len(chart) else pd.DataFrame(columns=["time", "end", "label", *kpis])
    t0 = local(rows["time"], timezone) if len(rows) else pd.DatetimeIndex([])
    ends = rows["end"] if "end" in rows else rows["time"]
    t1 = local(ends, timezone) if len(rows) else pd.DatetimeIndex([])
    share = (rows["span_share"].to_numpy(float) if "span_share" in rows
             else np.ones(len(rows)))
    partial = share < 0.999
    cover = rows["coverage"].to_numpy(float) if "coverage" in rows else np.full(len(rows), np.nan)
    bars = len(rows) <= MAX_BARS
    panels = []
    for i, k in enumerate(kpis):
        name = KPI_SPEC.get(k, (k, ""))[0]
        unit = kpi_unit(k, currency)
        values = pd.to_numeric(rows[k], errors="coerce").to_numpy(float) if len(rows) else \
            np.zeros(0)
        frame = pd.DataFrame({
            "start": t0, "end": t1, "value": values, "zero": np.zeros(len(rows)),
            "period": rows["label"].astype(str).to_numpy() if len(rows) else [],
            "shown": [_value_text(k, v, unit, currency) for v in values],
            "state": [_state_text(s) for s in share],
            "good": [f"{c:.0%}" if np.isfinite(c) else "–" for c in cover]})
        tips = [("Period", "@period"), (name, "@shown"), ("Data", "@state"),
                ("Good samples", "@good")]
        axis = AXIS_UNITS.get(k, unit)
        head = f"{name} [{axis}]" if axis else name
        opts = dict(width=width, height=height, tools=["hover"], hover_tooltips=tips,
                    xlabel=_time_label(timezone), ylabel=axis or name,
                    title=head, show_grid=True, active_tools=["box_zoom"],
                    default_tools=["pan", "box_zoom", "wheel_zoom", "reset", "save"])
        # each KPI its own value dimension (named after it): the panels share the time
        # axis only, never the value axis
        y0, y1 = hv.Dimension(f"{k}_base"), hv.Dimension(k, label=name, unit=unit)
        frame = frame.rename(columns={"zero": y0.name, "value": k})
        if bars:
            gap = (frame["end"] - frame["start"]) * 0.08
            frame = frame.assign(x0=frame["start"] + gap, x1=frame["end"] - gap)
            vd = ["period", "shown", "state", "good"]
            full = hv.Rectangles(frame[~partial], ["x0", y0, "x1", y1], vd,
                                 label="complete period").opts(
                color=BLUE, line_color=BLUE, **opts)
            part = hv.Rectangles(frame[partial], ["x0", y0, "x1", y1], vd,
                                 label="partial period (the data cover only part of it)").opts(
                color=LIGHT, line_color=BLUE, line_dash="dashed", hooks=[_hatch], **opts)
            panel = full * part
        else:
            vd = [y1, "period", "shown", "state", "good"]
            line = hv.Curve(frame, "start", vd, label="periods").opts(
                color=BLUE, hover_mode="vline", **opts)
            part = hv.Scatter(frame[partial], "start", vd,
                              label="partial period (the data cover only part of it)").opts(
                color="#d08c00", marker="x", size=8, **opts)
            panel = line * part
        panels.append(panel.opts(
            show_legend=(i == 0), legend_position="top", title=head,
            height=height + 34 if i == 0 else height,
            legend_opts={"label_text_font_size": "8pt", "glyph_height": 12, "padding": 2},
            padding=(0.02, (0, 0.08)), xlabel=_time_label(timezone), ylabel=axis or name))
    layout = hv.Layout(panels).cols(1).opts(shared_axes=True, title=title or "")
    return layout


def pretty_unit(unit: str | None) -> str:
    """A unit as it is written on an axis (``degC`` → ``°C``)."""
    return PRETTY_UNITS.get(str(unit or ""), str(unit or ""))


def evidence_chart(ev: dict, *, timezone: str, signals=EVIDENCE_SIGNALS, width: int = 900,
                   height: int = 140):
    """The raw signals around an alert (``Operations.evidence``), its window shaded.

    Returns a ``holoviews.Layout`` (None when the alert has no raw signals).
    """
    import holoviews as hv

    from ..ui.charts import setup

    setup()
    sig = ev["signals"]
    if sig is None or sig.empty:
        return None
    a = ev["alert"]
    cols = [s for s in signals if s in sig] or list(sig.columns)[:4]
    units = dict(sig.attrs.get("units") or {})
    t = local(sig.index, timezone)
    lo, hi = local(a["start"], timezone), local(a["end"], timezone)
    panels = []
    for i, c in enumerate(cols):
        unit = pretty_unit(units.get(c))
        name = str(c).replace("_", " ").capitalize()
        vals = sig[c].to_numpy(float)
        frame = pd.DataFrame({"time": t, str(c): vals,
                              "shown": [f"{v:,.4g} {unit}".strip() if np.isfinite(v) else "–"
                                        for v in vals]})
        vdim = hv.Dimension(str(c), label=name, unit=unit or None)
        curve = hv.Curve(frame, "time", [vdim, "shown"], label=name).opts(
            width=width, height=height, color="#333", line_width=1.2, tools=["hover"],
            hover_mode="vline",
            hover_tooltips=[("Time", "@time{%F %H:%M}"), (name, "@shown")],
            hover_formatters={"@time": "datetime"},
            xlabel=_time_label(timezone), ylabel=unit or name, title=_axis_label(name, unit),
            show_grid=True, default_tools=["pan", "box_zoom", "wheel_zoom", "reset", "save"])
        span = hv.VSpan(lo, hi).opts(color="#d62728", alpha=0.15)
        head = _axis_label(name, unit)
        panels.append((curve * span).opts(
            show_legend=False, title=head if i else f"{head} · the alert's window shaded red"))
    return hv.Layout(panels).cols(1).opts(shared_axes=True)


def panel_of(obj):
    """The Panel pane of a chart: what a Jupyter kernel displays (Panel inlines its
    stylesheets there; HoloViews' own display hook would link them from a CDN)."""
    import panel as pn

    from ..ui.charts import setup

    setup()
    return pn.panel(obj)
