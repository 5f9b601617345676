"""Interactive charts wherever they are shown, offline: JupyterLab, Voila, marimo.

Utilities run air-gapped, so nothing a chart needs may come from a CDN. Three
things make that hold:

* Panel is told to inline its resources (``panel.config.inline``): in a Jupyter
  kernel the BokehJS and Panel scripts travel inside the notebook output, and
  marimo serves them as a file of its own.
* Panel still names its stylesheets by CDN URL in places (HoloViews output in a
  notebook, models built outside its ``inline`` mode, holoviz/panel#7073); a
  preprocessing hook of Panel's own replaces every such stylesheet with the same
  file from the installed package, inline, before a model leaves Python.
* In a Jupyter kernel the HoloViews extension is loaded once, inlined, and
  hvplot's own import-time extension call (which would load from the CDN) is
  muted.

:func:`setup` does all three; the chart functions call it, so notebooks need not.

Examples
--------
>>> from pumplib.ui.display import frontend, setup
>>> frontend() is None          # a plain Python process
True
>>> setup() is None
True
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

__all__ = ["frontend", "setup"]

_state = {"jupyter": False, "hook": False}


def frontend() -> str | None:
    """Where output is shown: ``"marimo"``, ``"jupyter"`` (a Jupyter kernel: JupyterLab,
    Voila, papermill, nbconvert) or None (a plain Python process)."""
    if "marimo" in sys.modules:
        import marimo

        if marimo.running_in_notebook():
            return "marimo"
    if "IPython" in sys.modules:
        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None and getattr(ip, "kernel", None) is not None:
            return "jupyter"
    return None


def setup() -> str | None:
    """Make HoloViews charts render as interactive Bokeh plots, offline.

    Selects the Bokeh backend, has Panel inline every script and stylesheet (never a
    CDN) and, in a Jupyter kernel, loads the plotting extension into the page once.
    Safe to call any number of times. Returns :func:`frontend`.
    """
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401  (the backend)
    import panel as pn

    pn.config.inline = True
    if not _state["hook"]:
        from panel.viewable import Viewable

        Viewable._preprocessing_hooks.append(_inline_stylesheets)
        _state["hook"] = True
    where = frontend()
    if where == "jupyter" and not _state["jupyter"]:
        _import_hvplot_quietly()
        hv.extension("bokeh", inline=True, logo=False)
        _state["jupyter"] = True
    elif hv.Store.current_backend != "bokeh":
        hv.Store.set_current_backend("bokeh")
    return where


def _import_hvplot_quietly() -> None:
    """Import hvplot's accessors without their import-time ``hv.extension`` call, which
    would write a second, CDN-loading extension into the cell's output.

    hvplot also drops ``hvplot.pandas``/``hvplot.xarray`` from ``sys.modules`` before
    every cell, so that a later ``import hvplot.xarray`` loads the extension again;
    pumplib's imports are kept, and any extension loaded later inlines its resources.
    """
    import holoviews as hv
    import hvplot

    real = hvplot.post_patch
    hvplot.post_patch = lambda *args, **kwargs: None
    try:
        import hvplot.pandas  # noqa: F401
        import hvplot.xarray  # noqa: F401
    finally:
        hvplot.post_patch = real
    hvplot._module_extensions.difference_update({"hvplot.pandas", "hvplot.xarray"})
    hv.extension.inline = True          # the default of every later extension call


def _inline_stylesheets(viewable, root) -> None:
    """Panel preprocessing hook: every stylesheet of Panel's that is named by URL (its
    CDN or its server path) becomes the same file from the installed package, inline."""
    from bokeh.models import ImportedStyleSheet, InlineStyleSheet, UIElement

    for model in root.select({"type": UIElement}):
        sheets = list(model.stylesheets)
        changed = False
        for i, sheet in enumerate(sheets):
            if isinstance(sheet, ImportedStyleSheet) and (css := _panel_css(sheet.url)):
                sheets[i] = InlineStyleSheet(css=css)     # a model belongs to one document
                changed = True
        if changed:
            model.stylesheets = sheets


@functools.lru_cache(maxsize=128)
def _panel_css(url: str) -> str | None:
    """The text of a Panel stylesheet named by URL, or None when it is not Panel's."""
    from panel.io.resources import CDN_DIST, DIST_DIR, LOCAL_DIST

    path = url.split("?")[0]
    for prefix in (CDN_DIST, LOCAL_DIST, "/" + LOCAL_DIST):
        if path.startswith(prefix):
            rel = path[len(prefix):]
            break
    else:
        marker = "/" + LOCAL_DIST
        if marker not in path:
            return None
        rel = path.split(marker, 1)[1]
    file = Path(DIST_DIR) / rel
    if not file.is_file():
        return None
    return file.read_text(encoding="utf-8")
