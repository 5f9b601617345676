import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="pumplib · Feature Lab")


@app.cell
def _():
    import os

    import marimo as mo
    import pandas as pd

    from pumplib import config
    from pumplib import signals as psignals
    from pumplib import validation as V
    from pumplib.features.aggregations import LEVELS
    from pumplib.ui import Selection, line_chart
    from pumplib.ui.charts import to_html

    return LEVELS, Selection, V, config, line_chart, mo, os, pd, psignals, to_html


@app.cell
def _(Selection, config, mo, os):
    # store: `marimo run feature_lab.py -- --store PATH --features-dir DIR` or the
    # PUMPLIB_STORE__URL / PUMPLIB_FEATURES__LAB_DIR settings
    _args = mo.cli_args()
    store = _args.get("store") or config.get("store.url")
    features_dir = (_args.get("features-dir") or config.get("features.lab_dir")
                    or config.get("features.catalog"))
    sel = Selection(store=store)
    return features_dir, sel, store


@app.cell
def _(mo, pd, sel):
    _pumps = {f"{a.station} › {a.id}": a.id for a in sel.registry.pumps()}
    _hi = (sel.data_end - pd.Timedelta("1ns")).date()
    _week = max(sel.data_start.date(), (sel.data_end - pd.Timedelta("7D")).date())
    pump = mo.ui.dropdown(options=_pumps, value=next(iter(_pumps)), label="Pump")
    window = mo.ui.dropdown(options={"last day": "last_day", "last week": "last_week",
                                     "last month": "last_month", "custom range": "custom"},
                            value="last week", label="Sample window")
    day_from = mo.ui.text(label="From", value=str(_week), placeholder="YYYY-MM-DD (from)")
    day_to = mo.ui.text(label="To (inclusive)", value=str(_hi), placeholder="YYYY-MM-DD (to)")
    mo.vstack([mo.md("# Feature Lab\nPropose a feature, see it on real data, judge it, "
                     "save it as a definition the pipeline builds."),
               mo.hstack([pump, window, day_from, day_to], justify="start", wrap=True)])
    return day_from, day_to, pump, window


@app.cell
def _(day_from, day_to, pd, sel, window):
    # the sample window as a UTC range, through the shared selection model
    if window.value == "custom":
        sel.set(start=pd.Timestamp(day_from.value),
                end=pd.Timestamp(day_to.value) + pd.Timedelta("1D"))
    else:
        sel.preset(window.value)
    span = (sel.start, sel.end)
    return (span,)


@app.cell
def _(LEVELS, mo, psignals, sel):
    _inputs = sorted(psignals.signals()) + sorted(sel.catalog)
    name = mo.ui.text(label="Name", placeholder="pump_load")
    description = mo.ui.text(label="Description", placeholder="what it measures", full_width=True)
    unit = mo.ui.text(label="Unit", value="1")
    inputs = mo.ui.multiselect(options=_inputs, label="Inputs")
    expression = mo.ui.text(label="Expression", placeholder="power / rated.power",
                            full_width=True)
    condition = mo.ui.text(label="Condition (optional)", placeholder="run_state > 0.5",
                           full_width=True)
    aggregations = mo.ui.multiselect(
        options=["mean", "min", "max", "sum", "std", "integral", "twa", "duration", "starts",
                 "first", "last", "count"], value=["mean"], label="Aggregations")
    levels = mo.ui.multiselect(options=list(LEVELS), value=["1h", "1D"], label="Levels")
    mo.vstack([mo.md("## Definition"), mo.hstack([name, unit], justify="start"), description,
               inputs, expression, condition, mo.hstack([aggregations, levels], justify="start")])
    return aggregations, condition, description, expression, inputs, levels, name, unit


@app.cell
def _(V, aggregations, condition, description, expression, inputs, levels, mo, name, unit):
    spec = V.clean_spec({"name": name.value, "version": 1, "owner": "feature-lab",
                         "description": description.value, "unit": unit.value,
                         "inputs": list(inputs.value), "expression": expression.value,
                         "condition": condition.value, "aggregations": list(aggregations.value),
                         "levels": list(levels.value)})
    _missing = [k for k in ("name", "inputs", "expression", "aggregations", "levels")
                if k not in spec]
    if _missing:
        definition, errors = None, [f"fill in: {', '.join(_missing)}"]
    else:
        definition, errors = V.validate_definition(spec)
    mo.callout(mo.md("**Valid definition** · hash `" + definition.hash + "`"), kind="success") \
        if definition is not None else mo.callout(
            mo.md("**Not valid yet**\n\n" + "\n".join(f"- {e}" for e in errors)), kind="danger")
    return definition, spec


@app.cell
def _(definition, mo):
    level = mo.ui.dropdown(options=list(definition.levels) if definition else ["1h"],
                           value=(definition.levels[0] if definition else "1h"),
                           label="Preview level")
    target = mo.ui.dropdown(options=["energy_integral", "energy_cost_integral",
                                     "specific_energy_mean", "runtime_duration"],
                            value="energy_integral", label="Target (next period)")
    mo.hstack([level, target], justify="start")
    return level, target


@app.cell
def _(V, definition, level, line_chart, mo, pump, span, spec, store, to_html):
    preview = None
    if definition is None:
        _out = mo.md("_the preview appears once the definition is valid_")
    else:
        try:
            preview = V.preview_feature(spec, [pump.value], span[0], span[1], level.value,
                                        store=store)
            _n = sum(not str(c).endswith("_coverage") for c in preview.data_vars)
            _out = mo.vstack([mo.md(f"## Preview · {pump.value} · {level.value}"),
                              mo.iframe(to_html(line_chart(preview, height=200, width=760)),
                                        height=f"{60 + 230 * _n}px")])
        except Exception as _exc:  # noqa: BLE001 - any pumplib error is shown, not raised
            _out = mo.callout(mo.md(f"**Preview failed:** {_exc}"), kind="danger")
    _out
    return (preview,)


@app.cell
def _(V, definition, level, mo, preview, store, target):
    card = None
    if preview is not None:
        _col = next(c for c in preview.data_vars if not str(c).endswith("_coverage"))
        try:
            card = V.scorecard(preview[_col], target=target.value, level=level.value,
                               assets=list(map(str, preview["asset"].values)),
                               start=str(preview["time"].values[0]),
                               end=str(preview["time_end"].values[-1]), store=store,
                               definition=definition, timezone="UTC",
                               coverage_values=preview[f"{definition.name}_coverage"],
                               backtest=True, flags=True)
            _rows = {k: (round(v, 4) if isinstance(v, float) else v)
                     for k, v in card.summary().items()}
            _out = mo.vstack([mo.md("## Scorecard"),
                              mo.ui.table([{"metric": k, "value": str(v)}
                                           for k, v in _rows.items()], selection=None,
                                          pagination=False, label="scorecard")])
        except Exception as _exc:  # noqa: BLE001 - leakage and other refusals are shown
            _out = mo.callout(mo.md(f"**Scorecard refused:** {type(_exc).__name__}: {_exc}"),
                              kind="danger")
    else:
        _out = mo.md("")
    _out
    return (card,)


@app.cell
def _(definition, mo):
    save = mo.ui.run_button(label="Save definition", disabled=definition is None)
    save
    return (save,)


@app.cell
def _(V, card, features_dir, mo, save, spec, store):
    mo.stop(not save.value)
    try:
        _path = V.save_definition(spec, features_dir)
        _key = None
        if card is not None:        # the scorecard goes with the version just written
            import yaml as _yaml

            card.version = int(_yaml.safe_load(_path.read_text())["version"])
            _key = V.save_scorecard(card, store)
        _out = mo.callout(mo.md(f"**Saved** `{_path}`" + (f" · scorecard `{_key}`" if _key
                                                           else "")), kind="success")
    except Exception as _exc:  # noqa: BLE001 - shown to the user
        _out = mo.callout(mo.md(f"**Not saved:** {_exc}"), kind="danger")
    _out
    return


if __name__ == "__main__":
    app.run()
