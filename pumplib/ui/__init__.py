"""Selectors and charts over one selection model, for JupyterLab, Voila and marimo.

* :class:`Selection` (:mod:`pumplib.ui.selection`): assets, time range,
  level and features; observable; presets and drill-down; ``.query()``.
* :mod:`pumplib.ui.widgets`: ipywidgets front end — :class:`AssetSelector`,
  :class:`TimeSelector`, :class:`FeatureSelector`, :class:`SelectionPanel`.
* :mod:`pumplib.ui.marimo`: marimo elements — ``selection_form``,
  ``asset_picker``, ``time_picker``, ``feature_picker``, ``apply``.
* :mod:`pumplib.ui.charts`: ``line_chart`` (HoloViews/hvplot),
  ``raw_chart`` (datashader ``rasterize``), ``save_html`` (inline resources).

Front ends and charts are imported on first use, so ``import pumplib.ui``
stays light.

Examples
--------
>>> from pumplib.ui import Selection, line_chart          # doctest: +SKIP
>>> sel = Selection(assets=["N-P1", "N-P2"], features=["energy_integral"])  # doctest: +SKIP
>>> sel.preset("last_week"); line_chart(sel.query())      # doctest: +SKIP
"""

from __future__ import annotations

import importlib

from .selection import DRILL_WINDOWS, PRESETS, Selection

_LAZY = {
    "AssetSelector": "widgets", "TimeSelector": "widgets", "FeatureSelector": "widgets",
    "SelectionPanel": "widgets", "line_chart": "charts", "raw_chart": "charts",
    "save_html": "charts",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    if name in ("widgets", "charts", "marimo"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'pumplib.ui' has no attribute {name!r}")


__all__ = ["DRILL_WINDOWS", "PRESETS", "AssetSelector", "FeatureSelector", "Selection",
           "SelectionPanel", "TimeSelector", "line_chart", "raw_chart", "save_html"]
