"""Charts of query results: HoloViews/hvplot objects, raw series through datashader.

* :func:`line_chart`: one panel per column, one curve per asset, the column's
  unit on the axis. ``engine="holoviews"`` (default) builds the HoloViews
  elements directly (~15 ms for 10 pumps × 3 features; selector changes stay
  interactive); ``engine="hvplot"`` goes through ``.hvplot.line`` (same kind of
  object, ~100 ms).
* :func:`raw_chart`: long raw series (a year at 1 s) with hvplot
  ``rasterize=True`` (datashader aggregates to the screen's pixels on every
  zoom, so the browser never receives the samples).
* :func:`save_html`: a standalone HTML page with inline resources (works
  offline).

Examples
--------
>>> import numpy as np, pandas as pd, xarray as xr
>>> t = pd.date_range("2026-03-01", periods=4, freq="1h")
>>> ds = xr.Dataset({"energy_integral": (("asset", "time"), np.ones((2, 4)), {"units": "kWh"})},
...                 coords={"asset": ["P1", "P2"], "time": t})
>>> chart = line_chart(ds)
>>> type(chart).__name__, len(chart)
('Layout', 1)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import UnknownNameError, choices_message

__all__ = ["ENGINES", "frontend", "line_chart", "raw_chart", "save_html", "setup", "to_html"]

ENGINES = ("holoviews", "hvplot")


def frontend() -> str | None:
    """Where charts are shown: ``"marimo"``, ``"jupyter"`` (a Jupyter kernel: JupyterLab,
    Voila, papermill, nbconvert) or None (a plain Python process)."""
    import sys

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

    Selects the Bokeh backend and has Panel inline every JavaScript and CSS resource
    (never a CDN: utilities run air-gapped). In a Jupyter kernel it also loads the
    plotting extension into the page, once per kernel. Called by the chart
    functions on first use, so notebooks need not call it. Returns :func:`frontend`.
    """
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401  (the backend)
    import panel as pn

    pn.config.inline = True
    where = frontend()
    if where == "jupyter" and not getattr(setup, "_loaded", False):
        hv.extension("bokeh", inline=True, logo=False)
        setup._loaded = True
    elif hv.Store.current_backend != "bokeh":
        hv.Store.set_current_backend("bokeh")
    return where


def _columns(ds: xr.Dataset, columns) -> list[str]:
    have = [str(v) for v in ds.data_vars]
    if columns is None:
        return [c for c in have if not c.endswith("_coverage")] or have
    cols = [columns] if isinstance(columns, str) else list(columns)
    for c in cols:
        if c not in have:
            raise UnknownNameError(choices_message("column", c, have))
    return cols


def _label(ds: xr.Dataset, c: str) -> str:
    unit = ds[c].attrs.get("units")
    return f"{c} [{unit}]" if unit else c


def line_chart(ds: xr.Dataset, columns: str | Sequence[str] | None = None, *,
               engine: str = "holoviews", width: int = 800, height: int = 220,
               title: str | None = None):
    """One panel per column, one curve per asset (computes ``ds``'s selected columns).

    Returns a ``holoviews.Layout`` (one column of panels, shared time axis).
    """
    import holoviews as hv

    setup()
    if engine not in ENGINES:
        raise UnknownNameError(choices_message("chart engine", engine, ENGINES))
    cols = _columns(ds, columns)
    ds = ds[cols].compute()
    times = ds["time"].values
    assets = [str(a) for a in ds["asset"].values] if "asset" in ds.dims else [None]
    panels = []
    for c in cols:
        label = _label(ds, c)
        name = c if title is None else f"{title}: {c}"
        if engine == "hvplot":
            import hvplot.xarray  # noqa: F401

            p = ds[c].hvplot.line(x="time", by="asset" if "asset" in ds.dims else None,
                                  width=width, height=height, ylabel=label)
            panels.append(p.relabel(name))
            continue
        vals = ds[c].transpose("asset", "time").values if "asset" in ds.dims else \
            ds[c].values[None, :]
        vdim = hv.Dimension(c, label=label)
        # the dictionary interface skips a pandas frame per curve (~2× faster to build)
        curves = [hv.Curve({"time": times, c: vals[i]}, "time", vdim, label=a or c,
                           datatype=["dictionary"]) for i, a in enumerate(assets)]
        panels.append(hv.Overlay(curves, label=name))
    layout = hv.Layout(panels).cols(1)
    if engine == "holoviews":
        layout = layout.opts({"Overlay": {"width": width, "height": height,
                                          "show_legend": True},
                              "Layout": {"shared_axes": True}}, backend="bokeh")
    return layout


def raw_chart(da: xr.DataArray, *, by: str | None = "asset", width: int = 800,
              height: int = 300, rasterize: bool = True):
    """A long raw series drawn with datashader (``rasterize``) so it stays interactive.

    ``da`` has dims ``(asset, time)`` or ``(time,)``; with several assets each
    is its own rasterized panel overlaid by ``by``.
    """
    import hvplot.xarray  # noqa: F401

    setup()
    if not isinstance(da, xr.DataArray):
        raise UnknownNameError(f"raw_chart needs one signal (a DataArray), got "
                               f"{type(da).__name__}; pick one, e.g. ds['power']")
    if "asset" in da.dims and da.sizes["asset"] == 1:
        da = da.isel(asset=0)
    by = by if "asset" in da.dims else None
    unit = da.attrs.get("units")
    return da.hvplot.line(x="time", by=by, rasterize=rasterize, width=width, height=height,
                          ylabel=f"{da.name} [{unit}]" if unit else str(da.name),
                          dynamic=True)


def save_html(obj, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Save a chart as a standalone HTML page with inline JS/CSS (no CDN needed)."""
    import hvplot
    from bokeh.resources import INLINE

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hvplot.save(obj, str(path), resources=INLINE, title=title or path.stem)
    return path


def to_html(obj, *, title: str = "chart") -> str:
    """A chart as one standalone HTML page with inline Bokeh JS/CSS (no network needed);
    apps embed it, e.g. ``mo.iframe(to_html(chart))`` in marimo."""
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    return file_html(hv.render(obj, backend="bokeh"), INLINE, title=title)


def _finite_share(ds: xr.Dataset) -> float:
    """Share of finite values (used by tests and apps to say a chart is not empty)."""
    vals = np.concatenate([np.asarray(ds[v].values, dtype=float).ravel() for v in ds.data_vars])
    return float(np.isfinite(vals).mean()) if vals.size else 0.0
