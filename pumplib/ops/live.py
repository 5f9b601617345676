"""The live view of the operations apps: the last hour of 1-minute rows, silent pumps, new alerts.

The live path (:mod:`pumplib.live`) commits each closed minute and writes its
1-minute golden rows (``features/1min``) and its rule alerts (the action-log
table ``pumplib_live_alerts``). The apps redraw the live view on a timer
(marimo: ``mo.ui.refresh``; Voila: :class:`LiveView`'s periodic callback) and
call only these functions, which read afresh on every call (no cache: each
minute is a new lake snapshot):

* :func:`live_rows`: the last ``minutes`` 1-minute rows per pump, ending at the
  newest minute any pump has data for (event time: a replay faster than real
  time is shown alike), with power (kW, the minute's energy × 60), specific
  energy and flow relative to BEP;
* :func:`pump_states`: per pump its last minute with data and whether its source
  is silent (no data for ``live.silent_after`` behind the newest pump's, or an
  open ``silent`` live alert);
* :func:`live_alerts`: the newest alerts of kind ``live``, open ones first;
* :func:`live_chart`, :func:`states_html`, :func:`alerts_html`: what a page shows.

Examples
--------
>>> ops = Operations("./store")                               # doctest: +SKIP
>>> rows = live_rows(ops, minutes=60)                          # doctest: +SKIP
>>> pump_states(ops, rows=rows)[["asset", "silent"]]           # doctest: +SKIP
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .. import config
from ..errors import ArgumentError
from .views import local

__all__ = ["LIVE_SERIES", "LiveView", "alerts_html", "live_alerts", "live_chart", "live_rows",
           "live_snapshot", "pump_states", "states_html"]

#: the series of the live view: name → (golden column, factor, unit, title)
LIVE_SERIES = {
    "power": ("energy_integral", 60.0, "kW", "Power (the minute's mean)"),
    "specific_energy": ("specific_energy_mean", 1.0, "kWh/m³", "Specific energy"),
    "bep_flow_ratio": ("bep_flow_ratio_mean", 1.0, "", "Flow / flow at BEP"),
}
ROW_COLUMNS = ["asset", "time", "label", *LIVE_SERIES, "coverage"]
STATE_COLUMNS = ["asset", "station", "last", "last_label", "behind_s", "silent", "open_alerts",
                 "state"]
#: rows read from the end of the 1-minute table beyond those shown (an incremental build
#: lays the table out to the end of the hour, and a silent pump's last data lie further back)
SLACK = 180


def _minutes(minutes) -> int:
    try:
        m = int(minutes)
    except (TypeError, ValueError):
        m = 0
    if m < 1:
        raise ArgumentError(f"minutes must be a whole number ≥ 1, got {minutes!r}")
    return m


def _pumps(ops, scope, present: list[str]) -> list[str]:
    assets = ops.scope_assets(scope) if scope else ops.scope_assets("utility")
    have = set(present)
    return [a for a in assets if a in have]


def live_rows(ops, scope: str | None = None, minutes: int = 60) -> pd.DataFrame:
    """The last ``minutes`` 1-minute golden rows of each pump in ``scope`` (default all).

    The window ends at the newest minute for which any pump has data (coverage above 0),
    so it follows the live path's event time. Columns: ``asset``, ``time`` (UTC naive,
    the minute's start), ``label`` (local ``HH:MM``), the :data:`LIVE_SERIES` and
    ``coverage`` (the best share of good samples of the minute's features; 0: no data).
    Empty (same columns) before the first minute is built.
    """
    minutes = _minutes(minutes)
    ds = ops.lake.open_group("features/1min")
    if ds is None or ds.sizes.get("time", 0) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ROW_COLUMNS})
    pumps = _pumps(ops, scope, [str(a) for a in ds.asset.values])
    n = ds.sizes["time"]
    cols = [v for v, *_ in LIVE_SERIES.values() if v in ds.data_vars]
    cover = [v for v in ds.data_vars if str(v).endswith("_coverage")]
    tail = ds[cols + cover].isel(time=slice(max(0, n - minutes - SLACK), n)).sel(asset=pumps)
    tail = tail.load()
    cov = np.zeros((tail.sizes["asset"], tail.sizes["time"]))
    for c in cover:
        cov = np.fmax(cov, np.nan_to_num(tail[c].transpose("asset", "time").values, nan=0.0))
    has = (cov > 0).any(axis=0)
    if not has.any():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ROW_COLUMNS})
    last = int(np.flatnonzero(has)[-1])
    lo = max(0, last + 1 - minutes)
    times = pd.DatetimeIndex(tail.time.values[lo:last + 1])
    frame = {"asset": np.repeat(pumps, len(times)),
             "time": np.tile(times.values, len(pumps))}
    for name, (col, factor, _unit, _title) in LIVE_SERIES.items():
        vals = tail[col].transpose("asset", "time").values[:, lo:last + 1] * factor \
            if col in tail else np.full((len(pumps), len(times)), np.nan)
        frame[name] = np.asarray(vals, dtype=float).ravel()
    frame["coverage"] = cov[:, lo:last + 1].ravel()
    out = pd.DataFrame(frame)
    out.insert(2, "label", np.tile(local(times, ops.timezone).strftime("%H:%M"), len(pumps)))
    return out[ROW_COLUMNS]


def live_alerts(ops, scope: str | None = None, limit: int = 20) -> pd.DataFrame:
    """The newest ``limit`` live alerts (:mod:`pumplib.live.alerts`) of the pumps in
    ``scope``, open ones first, each with its action state; read afresh."""
    al = ops.alerts(scope, kinds=("live",))
    if al.empty:
        return al
    al = al.assign(_open=(al["status"] == "open").astype(int))
    al = al.sort_values(["_open", "start"], ascending=[False, False], kind="stable")
    return al.drop(columns="_open").head(int(limit)).reset_index(drop=True)


def pump_states(ops, scope: str | None = None, *, rows: pd.DataFrame | None = None,
                alerts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per pump in ``scope``: its last minute with data, how far (seconds of event time)
    it is behind the newest pump, and whether its source is ``silent``: behind by at
    least ``live.silent_after``, or with an open ``silent`` live alert.

    ``rows`` (:func:`live_rows`) and ``alerts`` (:func:`live_alerts`) are read when not
    given. Columns: :data:`STATE_COLUMNS`; ``state`` is the text a page shows.
    """
    from .alerts import station_of

    rows = live_rows(ops, scope) if rows is None else rows
    alerts = live_alerts(ops, scope, limit=10_000) if alerts is None else alerts
    after = pd.Timedelta(config.get("live.silent_after", "2min")).total_seconds()
    pumps = _pumps(ops, scope, list(ops.registry.assets))
    open_ = alerts[alerts["status"] == "open"] if len(alerts) else alerts
    silent_alert = set(open_.loc[open_["source"] == "live/silent", "asset"]) if len(open_) \
        else set()
    counts = open_["asset"].value_counts().to_dict() if len(open_) else {}
    with_data = rows[rows["coverage"].astype(float) > 0] if len(rows) else rows
    last_of = with_data.groupby("asset")["time"].max().to_dict() if len(with_data) else {}
    newest = max(last_of.values()) if last_of else None
    out = []
    for a in pumps:
        last = last_of.get(a)
        behind = np.nan if newest is None else (
            float("inf") if last is None else (newest - last).total_seconds())
        silent = bool(a in silent_alert or (newest is not None and behind >= after))
        if silent:
            state = ("silent: no data in the last hour" if last is None else
                     f"silent since {local(last, ops.timezone):%H:%M}")
        elif last is None:
            state = "waiting for data"
        else:
            state = "live"
        out.append({"asset": a, "station": station_of(ops, a), "last": last,
                    "last_label": "–" if last is None else
                    f"{local(last, ops.timezone):%H:%M}",
                    "behind_s": behind, "silent": silent, "open_alerts": int(counts.get(a, 0)),
                    "state": state})
    return pd.DataFrame(out, columns=STATE_COLUMNS)


def live_snapshot(ops, scope: str | None = None, minutes: int = 60) -> dict:
    """Everything one redraw of the live view needs, read once: ``rows``, ``alerts``,
    ``states`` and ``newest`` (the newest minute with data, UTC naive, or None)."""
    rows = live_rows(ops, scope, minutes)
    every = live_alerts(ops, scope, limit=10_000)
    alerts = every.head(20).reset_index(drop=True)
    states = pump_states(ops, scope, rows=rows, alerts=every)
    good = rows[rows["coverage"].astype(float) > 0] if len(rows) else rows
    newest = good["time"].max() if len(good) else None
    return {"rows": rows, "alerts": alerts, "states": states, "newest": newest}


# -- what a page shows -------------------------------------------------------------------

def states_html(states: pd.DataFrame) -> str:
    """The pumps as a row of badges: green live, red silent (with since when), grey
    waiting; each names its open live alerts."""
    if states.empty:
        return "<p><i>no pumps</i></p>"
    colours = {True: ("#fde2e1", "#a61b1b"), False: ("#e3f4e6", "#1e6b2f")}
    parts = []
    for r in states.itertuples():
        bg, fg = colours[bool(r.silent)] if r.state != "waiting for data" else \
            ("#eeeeee", "#555555")
        extra = f" · {r.open_alerts} open alert{'s' if r.open_alerts != 1 else ''}" \
            if r.open_alerts else ""
        parts.append(
            f'<span class="pumplib-live-pump" data-asset="{html.escape(r.asset)}" '
            f'data-silent="{str(bool(r.silent)).lower()}" style="display:inline-block;'
            f'margin:2px 6px 2px 0;padding:2px 8px;border-radius:10px;background:{bg};'
            f'color:{fg};font-size:12px"><b>{html.escape(r.asset)}</b> '
            f'{html.escape(r.state)}{html.escape(extra)}</span>')
    return '<div class="pumplib-live-states">' + "".join(parts) + "</div>"


def alerts_html(alerts: pd.DataFrame, timezone: str) -> str:
    """The live alerts as a small table (start in local time, pump, severity, what,
    status); a row per alert carries ``data-alert-id``."""
    if alerts.empty:
        return '<p class="pumplib-live-alerts"><i>No live alerts.</i></p>'
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{h}</th>" for h in
                   ("Since", "Pump", "Severity", "Alert", "Status"))
    body = []
    for r in alerts.itertuples():
        cells = (f"{local(r.start, timezone):%Y-%m-%d %H:%M}", r.asset, r.severity, r.title,
                 r.status)
        tds = "".join(f"<td style='padding:2px 8px'>{html.escape(str(c))}</td>" for c in cells)
        body.append(f'<tr data-alert-id="{html.escape(str(r.alert_id))}">{tds}</tr>')
    return (f'<table class="pumplib-live-alerts" style="border-collapse:collapse;'
            f'font-size:12px"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
            "</tbody></table>")


def caption(snap: dict, timezone: str) -> str:
    """One line: the newest minute, how many pumps are live and silent."""
    st = snap["states"]
    newest = snap["newest"]
    when = "no minute built yet" if newest is None else \
        f"newest minute {local(newest, timezone):%Y-%m-%d %H:%M}"
    n_silent = int(st["silent"].sum()) if len(st) else 0
    n_live = len(st) - n_silent
    n_open = int((snap["alerts"]["status"] == "open").sum()) if len(snap["alerts"]) else 0
    return (f"{when} · {n_live} pump{'' if n_live == 1 else 's'} live, {n_silent} silent · "
            f"{n_open} open live alert{'' if n_open == 1 else 's'}")


def live_chart(rows: pd.DataFrame, *, timezone: str, series=("power", "specific_energy"),
               width: int = 900, height: int = 180):
    """The rows of :func:`live_rows` as one panel per series, one line per pump (a silent
    pump's line stops), local time on the shared time axis. Returns a
    ``panel.pane.Bokeh`` (every script inline after :func:`pumplib.ui.charts.setup`);
    None when there are no rows."""
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.palettes import Category10_10

    from .charts import _figure, _grid

    if rows.empty:
        return None
    figures, x_range = [], None
    assets = list(dict.fromkeys(rows["asset"]))
    for i, name in enumerate(series):
        _col, _f, unit, title = LIVE_SERIES[name]
        f = _figure(title=f"{title} [{unit}]" if unit else title, ylabel=unit or title,
                    timezone=timezone, width=width, height=height + (20 if i == 0 else 0),
                    x_range=x_range)
        x_range = x_range or f.x_range
        renderers = []
        for j, a in enumerate(assets):
            g = rows[rows["asset"] == a]
            src = ColumnDataSource({"time": local(g["time"], timezone),
                                    "value": g[name].to_numpy(float),
                                    "pump": [a] * len(g), "label": g["label"].tolist()})
            kw = {"legend_label": a} if i == 0 else {}
            renderers.append(f.line(x="time", y="value", source=src, line_width=1.4,
                                    color=Category10_10[j % 10], **kw))
        f.add_tools(HoverTool(renderers=renderers, tooltips=[
            ("Pump", "@pump"), ("Minute", "@label"), (title, "@value{0,0.00}")]))
        if i == 0 and f.legend:
            f.legend.orientation = "horizontal"
            f.legend.location = "top_left"
            f.legend.label_text_font_size = "10px"
            f.add_layout(f.legend[0], "above")
        figures.append(f)
    return _grid(figures)


class LiveView:
    """The live view as ipywidgets (the Voila dashboard, JupyterLab), redrawn every
    ``interval`` seconds by a periodic callback on the kernel's event loop.

    ``widget`` is the box to display; :meth:`refresh` redraws once (the callback
    calls it); :meth:`start` and :meth:`stop` the timer.
    """

    def __init__(self, ops, scope: str | None = None, minutes: int = 60,
                 interval: float = 5.0):
        import ipywidgets as w

        self.ops, self.scope, self.minutes = ops, scope, _minutes(minutes)
        self.interval = float(interval)
        self.title = w.HTML("<h2>Live: the last hour</h2>")
        self.caption = w.HTML()
        self.states = w.HTML()
        self.chart = w.Output()
        self.alerts = w.HTML()
        self.widget = w.VBox([self.title, self.caption, self.states, self.chart,
                              w.HTML("<b>Live alerts</b>"), self.alerts])
        self.widget.add_class("pumplib-live-view")
        self._timer = None
        self._newest = object()
        self.refresh()

    def refresh(self) -> None:
        """Read the live rows, states and alerts once and redraw what changed."""
        snap = live_snapshot(self.ops, self.scope, self.minutes)
        tz = self.ops.timezone
        self.caption.value = f"<p class='pumplib-live-caption'>{html.escape(caption(snap, tz))}</p>"
        self.states.value = states_html(snap["states"])
        self.alerts.value = alerts_html(snap["alerts"], tz)
        if snap["newest"] != self._newest:        # the chart only when a minute came
            self._newest = snap["newest"]
            from .dashboard import Dashboard

            # as the dashboard's own charts (a Panel pane, inline scripts; none outside
            # a kernel)
            Dashboard._show(self.chart, live_chart(snap["rows"], timezone=tz))

    def start(self) -> LiveView:
        """Redraw every ``interval`` seconds (tornado's PeriodicCallback on the kernel's
        loop); returns self."""
        from tornado.ioloop import PeriodicCallback

        if self._timer is None:
            self._timer = PeriodicCallback(self._tick, self.interval * 1000)
            self._timer.start()
        return self

    def _tick(self) -> None:
        try:
            self.refresh()
        except Exception as exc:  # noqa: BLE001 - a failed redraw says why and tries again
            self.caption.value = f"<p>live view: {html.escape(str(exc))}</p>"

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
