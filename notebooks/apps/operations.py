import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Pump operations")


@app.cell
def _():
    import marimo as mo

    from pumplib import ops as pops
    from pumplib.ops import app as papp
    from pumplib.ui import charts

    # interactive Bokeh charts, every script and stylesheet inline (no CDN)
    _frontend = charts.setup()
    return mo, papp, pops


@app.cell
def _(mo, pops):
    # the store: `marimo run operations.py -- --store PATH` or PUMPLIB_STORE__URL
    _args = mo.cli_args()
    ops = pops.open_operations(_args.get("store"), _args.get("registry"), _args.get("actions"))
    tz = ops.timezone
    # one shared selection model (pumplib.ui.Selection): pumps, level and time range; every
    # control below writes it, and the cells follow it through two counters
    sel = ops.selection()
    get_assets_rev, set_assets_rev = mo.state(0)
    get_view_rev, set_view_rev = mo.state(0)

    def _follow(changes, _selection):
        if "assets" in changes:
            set_assets_rev(lambda r: r + 1)
        if {"level", "start", "end"} & set(changes):
            set_view_rev(lambda r: r + 1)

    sel.observe(_follow)
    # an action redraws only its own list: accepting a recommendation leaves the open
    # alert open, and acting on an alert leaves the recommendations as they are
    get_recs_tick, set_recs_tick = mo.state(0)
    get_alerts_tick, set_alerts_tick = mo.state(0)
    # the open alert: kept here, not only in its picker, so a choice survives the redraw
    # of the list (a drill-down re-creates the picker)
    get_alert_id, set_alert_id = mo.state(None)
    return (
        get_alert_id,
        get_alerts_tick,
        get_assets_rev,
        get_recs_tick,
        get_view_rev,
        ops,
        sel,
        set_alert_id,
        set_alerts_tick,
        set_recs_tick,
        tz,
    )


@app.cell
def _(get_assets_rev, ops, sel):
    get_assets_rev()
    scope_id = ops.scope_of(sel.assets)          # a named scope, or a tuple of pump ids
    scope_label = ops.scope_label(scope_id)
    return scope_id, scope_label


@app.cell
def _(get_view_rev, pops, sel):
    get_view_rev()
    view = pops.view_of(sel)
    return (view,)


@app.cell
def _(mo):
    user = mo.ui.text(value="operator", label="Your name")
    return (user,)


@app.cell
def _(mo, ops, scope_id, sel):
    from pumplib.ui.marimo import asset_picker

    _labels = ops.scopes()
    scope = mo.ui.dropdown(
        options={v: k for k, v in _labels.items()},
        value=_labels[scope_id] if isinstance(scope_id, str) else None, label="Scope",
        on_change=lambda s: sel.set(assets=ops.scope_assets(s)) if s else None)
    pumps = asset_picker(sel, label="Pumps (several at once)")
    return pumps, scope


@app.cell
def _(ops, papp, view):
    periods = ops.periods(view)
    period = papp.picker({p.label: p.start.isoformat() for p in periods},
                         value=periods[0].start.isoformat() if periods else None,
                         label=f"Period ({view.level}, {view.tier})")
    return (period,)


@app.cell
def _(mo, ops, period, pops, sel, view):
    # a time preset (pumplib.ui.PRESETS) sets the window and lets the level follow it
    preset = mo.ui.dropdown(
        options={"last day": "last_day", "last week": "last_week", "last month": "last_month",
                 "all data": "all"}, value=None, label="Range",
        on_change=lambda p: sel.preset(p) if p else None)
    drill = mo.ui.button(
        label="Drill down", disabled=view.level not in pops.CHILD,
        on_click=lambda _: pops.drill_selection(sel, period.value, ops.timezone)
        if period.value else None)
    top = mo.ui.button(label="Back to months",
                       on_click=lambda _: pops.apply_view(sel, pops.View("1M")))
    weeks = mo.ui.button(label="Weeks", on_click=lambda _: pops.apply_view(sel, pops.View("1W")))
    undo = mo.ui.button(label="Undo", on_click=lambda _: sel.back())
    return drill, preset, top, undo, weeks


@app.cell
def _(
    drill,
    mo,
    period,
    pops,
    preset,
    pumps,
    scope,
    scope_label,
    top,
    tz,
    undo,
    user,
    view,
    weeks,
):
    mo.vstack([
        mo.md("# Pump operations"),
        mo.hstack([scope, period, drill, top, weeks, undo, preset, user], justify="start",
                  wrap=True),
        pumps,
        mo.md(f"{scope_label} · level **{view.level}** ({view.tier}), "
              f"{pops.window_text(view, tz)}"),
    ])
    return


@app.cell
def _(mo, ops, period, pops, scope_id, scope_label, tz, view):
    _tiles = ops.kpis(scope_id, view, period=period.value) if period.value else \
        ops.kpis(scope_id, view)
    _chart = pops.kpi_chart(ops.chart_data(scope_id, view), timezone=tz,
                            currency=ops.currency, level=view.level)
    mo.vstack([
        mo.Html(pops.tiles_html(_tiles)),
        mo.md(f"### {scope_label} per {view.level}\n\nHover a bar for its value, drag to "
              "zoom; hatched, lighter bars are periods the data cover only in part."),
        _chart,
    ])
    return


@app.cell
def _(mo):
    # the live view redraws on this timer (pumplib.ops.live; the live path writes the rows
    # and alerts it shows: `pumplib live run --rows --alerts`, or `pumplib live demo`)
    live_tick = mo.ui.refresh(options=["2s", "5s", "10s", "30s"], default_interval="5s",
                              label="Live view refresh")
    live_tick
    return (live_tick,)


@app.cell
def _(live_tick, mo, ops, scope_id, tz):
    from pumplib.ops import live as plive

    live_tick.value                      # each tick reads the newest minute and alerts
    _snap = plive.live_snapshot(ops, scope_id, minutes=60)
    _chart = plive.live_chart(_snap["rows"], timezone=tz)
    mo.vstack([
        mo.md("## Live: the last hour of 1-minute rows"),
        mo.Html(f"<p class='pumplib-live-caption'>{plive.caption(_snap, tz)}</p>"),
        mo.Html(plive.states_html(_snap["states"])),
        _chart if _chart is not None else mo.md("_No minute built yet._"),
        mo.md("**Live alerts** (dry running, out of range, stuck, silent)"),
        mo.Html(plive.alerts_html(_snap["alerts"], tz)),
    ])
    return


@app.cell
def _(get_alert_id, mo, ops, papp, pops, scope_id, scope_label, set_alert_id, tz, view):
    # every alert its own entry (the id ends its label), grouped by asset and severity;
    # labels carry no status, so an action never replaces the list or the choice
    alerts = ops.alerts(scope_id, view)
    alert = papp.picker(pops.alert_options(alerts, tz), label=f"Alert ({len(alerts)})",
                        full_width=True, value=get_alert_id(), on_change=set_alert_id)
    mo.vstack([
        mo.md(f"## Alerts\n\n{pops.alerts_caption(len(alerts), scope_label, view)}"),
        mo.Html(pops.tables.alert_groups_html(pops.alert_groups(alerts))),
        alert,
    ])
    return alert, alerts


@app.cell
def _(mo):
    alert_action = mo.ui.dropdown(
        options={"acknowledge": "accept", "dismiss": "dismiss", "assign": "assign",
                 "comment": "comment", "reopen": "reopen"},
        value="acknowledge", label="Alert action")
    alert_note = mo.ui.text(label="Reason / assignee / comment")
    alert_submit = mo.ui.run_button(label="Submit alert action")
    return alert_action, alert_note, alert_submit


@app.cell
def _(
    alert_action,
    alert_note,
    alert_submit,
    alerts,
    get_alert_id,
    get_alerts_tick,
    mo,
    ops,
    pops,
    tz,
):
    get_alerts_tick()
    _open = get_alert_id()
    if _open is None:
        _out = mo.md("Choose an alert to see its evidence." if len(alerts) else
                     "No alerts for this selection (outlier events, quality problems and "
                     "forecast deviations appear here).")
    else:
        _ev = ops.evidence(_open)
        _chart = pops.evidence_chart(_ev, timezone=tz)
        _out = mo.vstack([
            mo.md(pops.tables.alert_header(_ev["alert"], tz)),
            _chart if _chart is not None else mo.md("_No raw signals for this alert._"),
            mo.md("**Quality flags in the window**"),
            mo.Html(pops.tables.flags_html(_ev["flags"])),
            mo.md("**Lineage**"),
            mo.Html(pops.tables.lineage_html(_ev["lineage"], tz)),
            mo.hstack([alert_action, alert_note, alert_submit], justify="start"),
        ])
    _out
    return


@app.cell
def _(
    alert_action,
    alert_note,
    alert_submit,
    get_alert_id,
    mo,
    ops,
    set_alerts_tick,
    tz,
    user,
):
    _open = get_alert_id()
    mo.stop(not alert_submit.value or _open is None)
    _kw = {"dismiss": {"reason": alert_note.value}, "assign": {"assignee": alert_note.value},
           "comment": {"comment": alert_note.value}}.get(alert_action.value, {})
    try:
        _done = ops.act(_open, alert_action.value, user.value, kind="alert", **_kw)
    except ValueError as _exc:
        _msg = mo.callout(mo.md(f"Not recorded: {_exc}"), kind="danger")
    else:
        _msg = mo.callout(mo.md(_done.message(tz)), kind="success" if _done.created else "warn")
        set_alerts_tick(lambda t: t + 1)
    _msg
    return


@app.cell
def _(mo, ops, papp, pops, scope_id):
    _all = ops.recommendations(scope_id)
    rec = papp.picker({pops.rec_label(r): r.rec_id for r in _all.itertuples()},
                      label="Recommendation")
    action = mo.ui.dropdown(options=["accept", "dismiss", "assign", "comment", "reopen"],
                            value="accept", label="Action")
    note = mo.ui.text(label="Reason / assignee / comment")
    submit = mo.ui.run_button(label="Submit action")
    return action, note, rec, submit


@app.cell
def _(
    action,
    get_recs_tick,
    mo,
    note,
    ops,
    papp,
    pops,
    rec,
    scope_id,
    scope_label,
    submit,
    tz,
):
    get_recs_tick()
    _recs = ops.recommendations(scope_id)
    mo.vstack([
        mo.md(f"## Recommendations\n\n{pops.recs_caption(len(_recs), scope_label)} "
              "(click a column header to sort)"),
        papp.recommendation_ui(_recs, ops.currency, tz),
        mo.hstack([rec, action, note, submit], justify="start", wrap=True),
    ]) if len(_recs) else mo.md("## Recommendations\n\nNo recommendations stored yet.")
    return


@app.cell
def _(action, mo, note, ops, rec, set_recs_tick, submit, tz, user):
    mo.stop(not submit.value)
    if rec.value is None:
        _msg = mo.callout(mo.md("Choose a recommendation first."), kind="warn")
    else:
        _kw = {"dismiss": {"reason": note.value}, "assign": {"assignee": note.value},
               "comment": {"comment": note.value}}.get(action.value, {})
        try:
            _done = ops.act(rec.value, action.value, user.value, **_kw)
        except ValueError as _exc:
            _msg = mo.callout(mo.md(f"Not recorded: {_exc}"), kind="danger")
        else:
            _msg = mo.callout(mo.md(_done.message(tz)),
                              kind="success" if _done.created else "warn")
            if _done.created:
                set_recs_tick(lambda t: t + 1)
    _msg
    return


@app.cell
def _(mo, ops):
    # the Q&A panel (pumplib.qa.widgets): the index is built on the first question
    try:
        from pumplib.qa.widgets import marimo_panel
    except ImportError:
        qa_box, qa_answer = None, None
    else:
        qa_box, qa_answer = marimo_panel(store=ops.lake.url, registry=ops.registry)
    mo.vstack([mo.md("## Questions"), qa_box]) if qa_box is not None else \
        mo.md("## Questions\n\nThe Q&A panel appears here once `pumplib.qa` is installed.")
    return qa_answer, qa_box


@app.cell
def _(qa_answer, qa_box):
    qa_answer(qa_box.value) if qa_box is not None else None
    return


if __name__ == "__main__":
    app.run()
