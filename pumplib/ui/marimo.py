"""marimo front end over :class:`pumplib.ui.Selection`.

marimo re-runs the cells that read an element when its value changes, so
these functions build ``mo.ui`` elements pre-filled from a selection, and
:func:`apply` writes their values back (one call in the cell that reads
them). Every element also carries an ``on_change`` that updates the
selection at once, so observers (charts, other apps' panels) follow along.

Examples
--------
A marimo app::

    sel = Selection(features=["energy"])
    form = selection_form(sel)            # cell 1: show it
    form
    apply(sel, form.value)                # cell 2: runs on every change
    line_chart(sel.query())
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd

from .selection import PRESETS, Selection

__all__ = ["apply", "asset_picker", "feature_info", "feature_picker", "selection_form",
           "time_picker"]

_PRESET_LABELS = {"custom": "custom range", "last_day": "last day", "last_week": "last week",
                  "last_month": "last month", "last_year": "last year", "all": "all data"}


def _mo():
    import marimo as mo

    return mo


def _asset_labels(selection: Selection, kind: str | None = "pump") -> dict[str, str]:
    reg = selection.registry
    out = {}
    for a in reg.assets.values():
        if kind is None or a.kind == kind:
            t = a.pump_type.replace("_", " ") if a.pump_type else a.kind
            out[f"{a.station} › {a.id} ({t})"] = a.id
    return out


def asset_picker(selection: Selection, *, kind: str | None = "pump", label: str = "Pumps",
                 max_selections: int | None = None):
    """A searchable multi-select of assets, labelled ``STATION › id (type)``."""
    mo = _mo()
    labels = _asset_labels(selection, kind)
    by_id = {v: k for k, v in labels.items()}
    return mo.ui.multiselect(
        options=labels, value=[by_id[a] for a in selection.assets if a in by_id], label=label,
        max_selections=max_selections,
        on_change=lambda ids: selection.set(assets=tuple(ids)))


def time_picker(selection: Selection):
    """``preset`` (dropdown), ``range`` (date range) and ``level`` elements, as a dictionary."""
    from ..query import LEVELS

    mo = _mo()
    lo = (selection.data_start or pd.Timestamp("2000-01-01")).date()
    hi = ((selection.data_end or pd.Timestamp.now()) - pd.Timedelta("1ns")).date()
    start = (selection.start or selection.data_start or pd.Timestamp(lo)).date()
    end = ((selection.end or selection.data_end or pd.Timestamp(hi)) - pd.Timedelta("1ns")).date()
    return mo.ui.dictionary({
        "preset": mo.ui.dropdown(options={v: k for k, v in _PRESET_LABELS.items()
                                          if k == "custom" or k in PRESETS},
                                 value=_PRESET_LABELS["custom"], label="Range"),
        "range": mo.ui.date_range(start=lo, stop=hi, value=(max(start, lo), min(end, hi)),
                                  label="From – to"),
        "level": mo.ui.dropdown(options=["auto", *LEVELS], value=selection.level,
                                label="Level"),
    })


def feature_picker(selection: Selection, *, label: str = "Features"):
    """A multi-select of catalog features, labelled ``name [unit]``."""
    mo = _mo()
    ft = selection.feature_table()
    labels = {f"{n} [{ft.loc[n, 'unit']}]": n for n in ft.index}
    by_name = {v: k for k, v in labels.items()}
    return mo.ui.multiselect(options=labels, value=[by_name[f] for f in selection.features
                                                   if f in by_name], label=label,
                             on_change=lambda names: selection.set(features=tuple(names)))


def selection_form(selection: Selection, *, kind: str | None = "pump"):
    """All pickers in one ``mo.ui.dictionary``: ``assets``, ``time``, ``features``."""
    mo = _mo()
    return mo.ui.dictionary({"assets": asset_picker(selection, kind=kind),
                             "time": time_picker(selection),
                             "features": feature_picker(selection)})


def apply(selection: Selection, value: Mapping) -> Selection:
    """Write a :func:`selection_form` (or :func:`time_picker`) value into ``selection``.

    A preset other than ``custom`` wins over the date range; the range's end
    day is included (the selection's ``end`` is the next midnight).
    """
    changes: dict = {}
    if "assets" in value:
        changes["assets"] = tuple(value["assets"])
    if "features" in value:
        changes["features"] = tuple(value["features"])
    t = value.get("time", value if "range" in value or "preset" in value else None)
    preset = None
    if t:
        if t.get("level"):
            changes["level"] = t["level"]
        preset = t.get("preset")
        rng = t.get("range")
        if (preset in (None, "custom")) and rng:
            s, e = rng
            changes["start"] = pd.Timestamp(s)
            changes["end"] = pd.Timestamp(e) + pd.Timedelta("1D") if isinstance(
                e, dt.date) else pd.Timestamp(e)
    selection.set(**changes)
    if preset not in (None, "custom"):
        selection.preset(preset)
    return selection


def feature_info(selection: Selection):
    """A markdown table of the picked features: unit and description."""
    mo = _mo()
    ft = selection.feature_table()
    rows = ["| feature | unit | description |", "| --- | --- | --- |"]
    for f in selection.features:
        if f in ft.index:
            rows.append(f"| {f} | {ft.loc[f, 'unit']} | {ft.loc[f, 'description']} |")
    return mo.md("\n".join(rows) if len(rows) > 2 else "_pick a feature_")
