"""The operations dashboard as ipywidgets (Voila, JupyterLab) over one :class:`Operations`.

The same page as the marimo app: KPI tiles and interactive charts (Bokeh,
offline), the alerts grouped by asset and severity with their evidence, the
recommendations as a readable, sortable table, and the actions. An action
changes only its own item, and a second accept says who accepted it and when.
"""

from __future__ import annotations

import html

from .alerts import alert_groups, alert_option_groups
from .charts import evidence_chart, kpi_chart, panel_of
from .tables import (
    alert_groups_html,
    alert_header,
    alerts_caption,
    flags_html,
    lineage_html,
    rec_formats,
    rec_headers,
    rec_label,
    recommendation_table,
    recs_caption,
    sort_table,
    table_html,
    tiles_html,
)
from .views import CHILD, View, apply_view, drill_selection, view_of, window_text

#: what a person can do, as the dropdowns offer it (label → action)
REC_ACTIONS = {"accept": "accept", "dismiss": "dismiss", "assign": "assign",
               "comment": "comment", "reopen": "reopen"}
ALERT_ACTIONS = {"acknowledge": "accept", "dismiss": "dismiss", "assign": "assign",
                 "comment": "comment", "reopen": "reopen"}
_OK, _WARN, _ERR = "#1b6e20", "#8a5a00", "#b00020"


def _md(text: str) -> str:
    """The little markdown of :func:`alert_header` as HTML (headings, bold, paragraphs)."""
    import re

    out = []
    for block in text.split("\n\n"):
        b = html.escape(block)
        b = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", b)
        if b.startswith("### "):
            out.append(f"<h3>{b[4:]}</h3>")
        else:
            out.append(f"<p>{b}</p>")
    return "".join(out)


def _message(text: str, color: str) -> str:
    return f"<b style='color:{color}'>{html.escape(text)}</b>"


class Dashboard:
    """The operations dashboard as ipywidgets, over one :class:`Operations`.

    ``Dashboard(ops).widget`` is what ``notebooks/dashboards/operations.ipynb``
    displays; every control is an attribute, so tests drive it without a
    browser (``d.scope.value = "S-P1"; d.drill.click()``). The charts it shows
    are kept as HoloViews objects (``d.chart_obj``, ``d.evidence_obj``).

    Its state is one shared :class:`pumplib.ui.Selection` (``d.selection``):
    the scope dropdown, the asset tree (:class:`pumplib.ui.AssetSelector`), the
    time presets, dates and level (:class:`pumplib.ui.TimeSelector`) and the
    Drill down / Back to months / Weeks / Undo buttons all write it, and
    the page redraws when it changes, whoever changed it (code included:
    ``d.selection.set(assets=["N-P1", "S-P1"])``). ``d.view`` is derived from it.

    Examples
    --------
    >>> d = Dashboard(Operations("./store"))                    # doctest: +SKIP
    >>> d.widget                                                # doctest: +SKIP
    """

    def __init__(self, ops, user: str = "operator", *, selection=None):
        import ipywidgets as W

        from ..ui.charts import setup
        from ..ui.widgets import AssetSelector, TimeSelector
        from .picker import GroupedPicker

        # the plotting extension (inline Bokeh JS) goes out once, before any chart
        setup()
        self.ops = ops
        self.selection = selection if selection is not None else ops.selection()
        lay = W.Layout(width="auto")
        self._quiet = False
        self.chart_obj = None
        self.evidence_obj = None
        self.scope = W.Dropdown(options=[(v, k) for k, v in ops.scopes().items()],
                                value=None, description="Scope", layout=lay)
        self._sync_scope()
        self.period = W.Dropdown(description="Period", layout=lay,
                                 style={"description_width": "initial"})
        self.drill = W.Button(description="Drill down", icon="search-plus")
        self.top = W.Button(description="Back to months")
        self.weeks = W.Button(description="Weeks")
        self.undo = W.Button(description="Undo", tooltip="undo the last selection change")
        self.user = W.Text(value=user, description="Your name")
        self.assets = AssetSelector(self.selection, kind="pump", rows=6)
        self.time = TimeSelector(self.selection)
        self.asset_tree = W.Accordion(children=[self.assets.widget, self.time.widget])
        self.asset_tree.set_title(0, "Pumps (asset tree, search, several at once)")
        self.asset_tree.set_title(1, "Time range (presets, dates, level)")
        self.asset_tree.selected_index = None
        self.where = W.HTML()
        self.tiles = W.HTML()
        self.chart_title = W.HTML()
        self.chart = W.Output()
        self.alert_head = W.HTML("<h2>Alerts</h2>")
        self.alert_groups = W.HTML()
        # the alerts in groups (asset · severity); it sends the alert's id, not a position
        self.alert = GroupedPicker(description="Alert", placeholder="-- choose an alert --",
                                   layout=W.Layout(width="95%"))
        self.evidence = W.VBox()
        self.evidence_text = W.HTML()
        self.evidence_chart = W.Output()
        self.evidence_tables = W.HTML()
        self.alert_action = W.Dropdown(options=list(ALERT_ACTIONS.items()), value="accept",
                                       description="Alert action")
        self.alert_note = W.Text(description="Note", placeholder="reason / assignee / comment")
        self.alert_submit = W.Button(description="Submit alert action")
        self.alert_message = W.HTML()
        self.rec_head = W.HTML("<h2>Recommendations</h2>")
        headers = rec_headers(ops.currency)
        self.rec_sort = W.Dropdown(
            options=[(h, h) for h in (headers["saving_money"], headers["saving_kwh"],
                                      headers["verified_saving_money"], headers["confidence"],
                                      headers["status"], headers["asset"], headers["title"])],
            value=headers["saving_money"], description="Sort by")
        self.rec_order = W.ToggleButtons(options=[("high → low", True), ("low → high", False)],
                                         value=True, style={"button_width": "auto"})
        self.recs = W.HTML()
        self.rec = W.Dropdown(description="Recommendation", layout=W.Layout(width="70%"),
                              style={"description_width": "initial"})
        self.action = W.Dropdown(options=list(REC_ACTIONS.items()), value="accept",
                                 description="Action")
        self.note = W.Text(description="Note", placeholder="reason / assignee / comment")
        self.submit = W.Button(description="Submit action", button_style="primary")
        self.message = W.HTML()
        self.scope.observe(self._scope_picked, "value")
        self.period.observe(lambda _c: None if self._quiet else self._kpis(), "value")
        self.alert.observe(lambda _c: None if self._quiet else self._open_alert(), "value")
        self.rec_sort.observe(lambda _c: self._rec_table(), "value")
        self.rec_order.observe(lambda _c: self._rec_table(), "value")
        self.drill.on_click(lambda _b: self.drill_down())
        self.top.on_click(lambda _b: self.set_view(View("1M")))
        self.weeks.on_click(lambda _b: self.set_view(View("1W")))
        self.undo.on_click(lambda _b: self.selection.back())
        self.submit.on_click(lambda _b: self.act())
        self.alert_submit.on_click(lambda _b: self.act_on_alert())
        self._unobserve = self.selection.observe(self._selection_changed)
        self.qa = self._qa_panel()
        self.widget = W.VBox([
            W.HTML("<h1 style='margin:0 0 8px 0'>Pump operations</h1>"),
            W.HBox([self.scope, self.period, self.drill, self.top, self.weeks, self.undo,
                    self.user], layout=W.Layout(flex_flow="row wrap")),
            self.asset_tree,
            self.where, self.tiles, self.chart_title, self.chart,
            self.alert_head, self.alert_groups, self.alert, self.evidence,
            self.rec_head, W.HBox([self.rec_sort, self.rec_order]), self.recs,
            W.HBox([self.rec, self.action]), W.HBox([self.note, self.submit]), self.message,
            W.HTML("<h2>Questions</h2>"), self.qa,
        ])
        self.refresh()

    def _qa_panel(self):
        """The Q&A panel of ``pumplib.qa.widgets`` (its index is built on the first question)."""
        import ipywidgets as W

        from ._common import optional

        qa = optional("pumplib.qa.widgets")
        if qa is None or not hasattr(qa, "ipywidgets_panel"):
            return W.HTML("<i>The Q&amp;A panel appears here once pumplib.qa is installed.</i>")
        return qa.ipywidgets_panel(store=self.ops.lake.url, registry=self.ops.registry)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # the shared selection ------------------------------------------------------------
    @property
    def view(self) -> View:
        """The view of the shared selection (level and window)."""
        return view_of(self.selection)

    @property
    def scope_value(self) -> str | tuple[str, ...]:
        """The scope of the selection's pumps: the dropdown's pick when it matches, else
        the named scope or the tuple of ids (see :meth:`Operations.scope_of`)."""
        picked = self.scope.value
        if picked is not None and set(self.ops.scope_assets(picked)) == set(
                self.ops.scope_assets(self.selection.assets)):
            return picked
        return self.ops.scope_of(self.selection.assets)

    def _sync_scope(self) -> None:
        scope = self.ops.scope_of(self.selection.assets)
        value = scope if isinstance(scope, str) else None
        if self.scope.value is not None and value is not None and set(
                self.ops.scope_assets(self.scope.value)) == set(self.ops.scope_assets(value)):
            return
        self._quiet = True
        try:
            self.scope.value = value
        finally:
            self._quiet = False

    def _scope_picked(self, change) -> None:
        if self._quiet or change["new"] is None:
            return
        before = self.selection.assets
        self.selection.set(assets=self.ops.scope_assets(change["new"]))
        if self.selection.assets == before:      # same pumps, another name: redraw labels
            self.refresh()

    def _selection_changed(self, changes, _selection) -> None:
        if "assets" in changes:
            self._sync_scope()
        if {"assets", "level", "start", "end"} & set(changes):
            self.refresh()

    def set_view(self, view: View) -> None:
        """Show ``view`` (written into the shared selection)."""
        apply_view(self.selection, view)

    def drill_down(self) -> None:
        if self.view.level in CHILD and self.period.value:
            drill_selection(self.selection, self.period.value, self.ops.timezone)

    def close(self) -> None:
        """Stop following the selection and close the widgets."""
        self._unobserve()
        self.assets.close()
        self.time.close()
        self.widget.close()

    # drawing -----------------------------------------------------------------------------
    @staticmethod
    def _show(out, obj) -> None:
        """Show a chart in an ``Output`` (in a kernel; elsewhere it is only kept)."""
        from ..ui.charts import frontend

        out.clear_output(wait=True)
        if obj is None or frontend() != "jupyter":
            return
        from IPython.display import display

        with out:
            display(panel_of(obj))

    def refresh(self) -> None:
        """Redraw everything for the current selection (scope and view).

        The pickers are disabled while it runs: an ipywidgets dropdown sends the
        position of the chosen entry, so a choice made in a list that is being
        replaced would open another item than the one the person saw.
        """
        pickers = [self.alert, self.period, self.rec]
        for w in pickers:
            w.disabled = True
        try:
            self._refresh()
        finally:
            for w in pickers:
                w.disabled = False

    def _refresh(self) -> None:
        v = self.view
        scope = self.scope_value
        label = self.ops.scope_label(scope)
        periods = self.ops.periods(v)
        self._quiet = True
        try:
            self.period.options = [(p.label, p.start.isoformat()) for p in periods]
            self.period.value = periods[0].start.isoformat() if periods else None
        finally:
            self._quiet = False
        self.period.description = f"{v.level} ({v.tier})"
        self.drill.disabled = v.level not in CHILD
        self.where.value = (f"{html.escape(label)} · level <b>{v.level}</b> ({v.tier}), "
                            f"{html.escape(window_text(v, self.ops.timezone))}")
        self._kpis()
        chart = self.ops.chart_data(scope, v)
        self.chart_title.value = (f"<h3 style='margin:8px 0 0 0'>{html.escape(label)} per "
                                  f"{v.level} <span style='font-weight:400;font-size:12px'>"
                                  f"(hover a bar for its value; drag to zoom)</span></h3>")
        self.chart_obj = kpi_chart(chart, timezone=self.ops.timezone,
                                   currency=self.ops.currency, level=v.level)
        self._show(self.chart, self.chart_obj)
        self._alerts()
        self._recs()

    def _kpis(self) -> None:
        tiles = self.ops.kpis(self.scope_value, self.view, period=self.period.value or None)
        self.tiles.value = tiles_html(tiles)

    def _alerts(self) -> None:
        """The alert list of the view: every alert its own entry, grouped by asset and
        severity. A chosen alert stays chosen while it is in the list."""
        al = self.ops.alerts(self.scope_value, self.view)
        self._alert_rows = al
        keep = self.alert.value
        self._quiet = True
        try:
            self.alert.groups = alert_option_groups(al, self.ops.timezone)
            self.alert.value = keep if keep in set(al["alert_id"]) else None
        finally:
            self._quiet = False
        self.alert.description = f"Alert ({len(al)})"
        self.alert_groups.value = alert_groups_html(alert_groups(al))
        self.alert_head.value = "<h2>Alerts</h2>" + html.escape(
            alerts_caption(len(al), self.ops.scope_label(self.scope_value), self.view))
        self._open_alert()

    def _open_alert(self) -> None:
        import ipywidgets as W

        if self.alert.value is None:
            n = len(getattr(self, "_alert_rows", ()))
            self.evidence_obj = None
            self.evidence.children = [W.HTML(
                "<i>Choose an alert to see its evidence.</i>" if n else
                "<i>No alerts for this selection (outlier events, quality problems and "
                "forecast deviations appear here).</i>")]
            return
        try:
            ev = self.ops.evidence(self.alert.value)
        except KeyError as exc:            # UnknownNameError: an alert that is gone
            self.evidence.children = [W.HTML(_message(str(exc).strip("'\""), _WARN))]
            return
        self.evidence_text.value = _md(alert_header(ev["alert"], self.ops.timezone))
        self.evidence_obj = evidence_chart(ev, timezone=self.ops.timezone)
        self._show(self.evidence_chart, self.evidence_obj)
        self.evidence_tables.value = (
            "<b>Quality flags in the window</b>" + flags_html(ev["flags"])
            + "<b>Lineage</b>" + lineage_html(ev["lineage"], self.ops.timezone))
        self.evidence.children = [
            self.evidence_text, self.evidence_chart, self.evidence_tables,
            W.HBox([self.alert_action, self.alert_note, self.alert_submit]),
            self.alert_message]

    def _recs(self) -> None:
        recs = self.ops.recommendations(self.scope_value)
        self._rec_rows = recs
        keep = self.rec.value
        self.rec.options = [("-- choose a recommendation --", None)] + [
            (rec_label(r), r.rec_id) for r in recs.itertuples()]
        self.rec.value = keep if keep in set(recs["rec_id"]) else None
        self._rec_table()
        self.rec_head.value = "<h2>Recommendations</h2>" + html.escape(
            recs_caption(len(recs), self.ops.scope_label(self.scope_value)))

    def _rec_table(self) -> None:
        recs = getattr(self, "_rec_rows", None)
        if recs is None:
            return
        table = recommendation_table(recs, self.ops.currency, self.ops.timezone)
        table = sort_table(table, self.rec_sort.value, descending=self.rec_order.value)
        self.rec_table = table
        self.recs.value = table_html(table, formats=rec_formats(self.ops.currency),
                                     empty="No recommendations stored yet.")

    # actions -----------------------------------------------------------------------------
    def _kwargs(self, action: str, note: str) -> dict:
        return {"dismiss": {"reason": note}, "assign": {"assignee": note},
                "comment": {"comment": note}}.get(action, {})

    def act_on_alert(self):
        """Record the chosen action on the open alert (nothing else changes)."""
        if self.alert.value is None:
            self.alert_message.value = _message("Open an alert first.", _WARN)
            return None
        action = self.alert_action.value
        try:
            done = self.ops.act(self.alert.value, action, self.user.value, kind="alert",
                                **self._kwargs(action, self.alert_note.value))
        except ValueError as exc:
            self.alert_message.value = _message(f"Not recorded: {exc}", _ERR)
            return None
        # the alert stays open on the page; its status line and the groups follow
        ev_alert = self.ops.alert(self.alert.value)
        self.evidence_text.value = _md(alert_header(ev_alert, self.ops.timezone))
        self.alert_message.value = _message(done.message(self.ops.timezone),
                                            _OK if done.created else _WARN)
        return done

    def act(self):
        """Record the chosen action on the chosen recommendation (nothing else changes:
        the open alert stays open). A second accept says who accepted it and when."""
        if self.rec.value is None:
            self.message.value = _message("Choose a recommendation first.", _WARN)
            return None
        action = self.action.value
        try:
            done = self.ops.act(self.rec.value, action, self.user.value,
                                **self._kwargs(action, self.note.value))
        except ValueError as exc:
            self.message.value = _message(f"Not recorded: {exc}", _ERR)
            return None
        self.message.value = _message(done.message(self.ops.timezone),
                                      _OK if done.created else _WARN)
        if done.created:
            self._rec_rows = self.ops.recommendations(self.scope_value)
            self._rec_table()
        return done
