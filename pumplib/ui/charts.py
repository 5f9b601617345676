"""Charts of query results: interactive HoloViews/Bokeh plots, raw series through datashader.

* :func:`line_chart`: one panel per column, one curve per asset; the column's
  unit on the axis, the utility's local time on the time axis, hover values with
  their units, and partial periods (coverage under ``partial_below``) drawn as
  hollow markers. ``engine="holoviews"`` (default) builds the HoloViews elements
  directly (~15 ms for 10 pumps × 3 features); ``engine="hvplot"`` goes through
  ``.hvplot.line`` (~100 ms).
* :func:`raw_chart`: long raw series (a year at 1 s) with hvplot
  ``rasterize=True`` (datashader aggregates to the screen's pixels on every
  zoom, so the browser never receives the samples).
* :func:`save_html` / :func:`to_html`: a standalone HTML page with inline
  resources (works offline).

Every chart function calls :func:`pumplib.ui.display.setup` first, so charts are
interactive and offline in JupyterLab, Voila and marimo without a setup cell.

Examples
--------
>>> import numpy as np, pandas as pd, xarray as xr
>>> t = pd.date_range("2026-03-01", periods=4, freq="1h")
>>> ds = xr.Dataset({"energy_integral": (("asset", "time"), np.ones((2, 4)), {"units": "kWh"})},
...                 coords={"asset": ["P1", "P2"], "time": t}, attrs={"timezone": "UTC"})
>>> chart = line_chart(ds)
>>> type(chart).__name__, len(chart)
('Layout', 1)
>>> chart.Overlay.Energy_integral.Curve.P1.vdims[0].pprint_label
'energy integral [kWh]'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import UnknownNameError, choices_message
from .display import frontend, setup

__all__ = ["ENGINES", "frontend", "line_chart", "local_times", "raw_chart", "save_html",
           "setup", "time_axis_label", "to_html"]

ENGINES = ("holoviews", "hvplot")
#: below this coverage a period is drawn as partial (its value covers part of it)
PARTIAL_BELOW = 0.99


def _columns(ds: xr.Dataset, columns) -> list[str]:
    have = [str(v) for v in ds.data_vars]
    if columns is None:
        return [c for c in have if not c.endswith("_coverage")] or have
    cols = [columns] if isinstance(columns, str) else list(columns)
    for c in cols:
        if c not in have:
            raise UnknownNameError(choices_message("column", c, have))
    return cols


def _unit(attrs) -> str | None:
    unit = attrs.get("units")
    return None if unit in (None, "", "1", "dimensionless") else str(unit)


def _label(name: str, attrs) -> str:
    """An axis label: the column's words and its unit, e.g. ``energy integral [kWh]``."""
    words = str(attrs.get("long_name") or name).replace("_", " ")
    unit = _unit(attrs)
    return f"{words} [{unit}]" if unit else words


def _timezone(ds) -> str:
    tz = ds.attrs.get("timezone")
    if tz:
        return str(tz)
    from .. import config

    return str(config.get("utility.timezone"))


def local_times(times, timezone: str) -> np.ndarray:
    """UTC times (naive or aware) as the utility's local wall-clock times (naive), which
    is what a Bokeh datetime axis draws; local days, weeks and months start on a tick.

    >>> local_times(pd.to_datetime(["2026-03-09T23:00"]), "Europe/Amsterdam")
    array(['2026-03-10T00:00:00.000000000'], dtype='datetime64[ns]')
    """
    idx = pd.DatetimeIndex(times)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return idx.tz_convert(timezone).tz_localize(None).values.astype("datetime64[ns]")


def time_axis_label(timezone: str) -> str:
    """The label of every time axis: ``Local time (Europe/Amsterdam)``."""
    return f"Local time ({timezone})"


def line_chart(ds: xr.Dataset, columns: str | Sequence[str] | None = None, *,
               engine: str = "holoviews", width: int = 800, height: int = 220,
               title: str | None = None, partial_below: float = PARTIAL_BELOW):
    """One panel per column, one curve per asset (computes ``ds``'s selected columns).

    Parameters
    ----------
    ds : xarray.Dataset
        A query result (dims ``(asset, time)`` or ``(time,)``, UTC times, CF ``units``).
    columns : str or list of str, optional
        Which columns; default all but the ``*_coverage`` ones.
    partial_below : float
        A period whose ``<column>_coverage`` is below this is drawn as a hollow marker
        and named partial in the hover (a month the data only partly cover).

    Returns
    -------
    holoviews.Layout
        One column of panels sharing the time axis, in the utility's local time.
    """
    import holoviews as hv

    setup()
    if engine not in ENGINES:
        raise UnknownNameError(choices_message("chart engine", engine, ENGINES))
    cols = _columns(ds, columns)
    tz = _timezone(ds)
    data = _with_coverage(ds, cols).compute()
    times = local_times(data["time"].values, tz)
    assets = [str(a) for a in data["asset"].values] if "asset" in data.dims else [None]
    xdim = hv.Dimension("time", label=time_axis_label(tz))
    panels = []
    for c in cols:
        label = _label(c, data[c].attrs)
        name = c if title is None else f"{title}: {c}"
        if engine == "hvplot":
            import hvplot.xarray  # noqa: F401

            p = data[c].assign_coords(time=times).hvplot.line(
                x="time", by="asset" if "asset" in data.dims else None, width=width,
                height=height, ylabel=label, xlabel=time_axis_label(tz), hover_cols="all")
            panels.append(p.relabel(name))
            continue
        panels.append(_panel(hv, data, c, times, assets, xdim, label, name, partial_below))
    layout = hv.Layout(panels).cols(1)
    if engine == "holoviews":
        layout = layout.opts({"Overlay": {"width": width, "height": height,
                                          "show_legend": True, "legend_position": "right"},
                              "Layout": {"shared_axes": True}}, backend="bokeh")
    return layout


def _coverage_name(ds: xr.Dataset, c: str) -> str:
    """The coverage column of a golden-table column (``energy_integral`` → ``energy_coverage``)."""
    feature = ds[c].attrs.get("feature")
    return f"{feature}_coverage" if feature else f"{c}_coverage"


def _with_coverage(ds: xr.Dataset, cols: list[str]) -> xr.Dataset:
    """``ds``'s columns and their coverage; coverage a query left out is read from the same
    golden table and snapshot (so a chart always knows its partial periods)."""
    want = sorted({_coverage_name(ds, c) for c in cols if not c.endswith("_coverage")})
    have = [n for n in want if n in ds.data_vars]
    out = ds[cols + have]
    missing = [n for n in want if n not in ds.data_vars]
    attrs = ds.attrs
    if missing and attrs.get("store") and attrs.get("level") and "time" in ds.dims \
            and ds.sizes["time"]:
        from .. import query as q
        from ..errors import PumplibError

        t = pd.DatetimeIndex(ds["time"].values)
        try:
            extra = q.query(missing, assets=[str(a) for a in ds["asset"].values]
                            if "asset" in ds.dims else None, level=attrs["level"],
                            start=t[0], end=t[-1] + pd.Timedelta("1ns"), timezone="UTC",
                            store=attrs["store"], snapshot=attrs.get("snapshot"))
        except PumplibError:
            return out
        out = out.merge(extra[missing].reindex_like(ds[cols[0]]), compat="override",
                        combine_attrs="override")
    return out


def _rows(data: xr.Dataset, c: str) -> tuple[np.ndarray, np.ndarray | None]:
    vals = data[c].transpose("asset", "time").values if "asset" in data.dims else \
        data[c].values[None, :]
    cov = _coverage_name(data, c)
    if c.endswith("_coverage") or cov not in data.data_vars:
        return vals, None
    cv = data[cov].transpose("asset", "time").values if "asset" in data.dims else \
        data[cov].values[None, :]
    return vals, cv


def _panel(hv, data, c, times, assets, xdim, label, name, partial_below):
    """One overlay: a line per asset, hover on markers, partial periods hollow."""
    unit = _unit(data[c].attrs) or ""
    vdim = hv.Dimension(c, label=label)
    vals, cov = _rows(data, c)
    tips = [("asset", "@asset"), ("time", "@time{%F %H:%M}"),
            (label.split(" [")[0], f"@{{{c}}}{{0,0.[000]}} {unit}".rstrip())]
    if cov is not None:
        tips.append(("coverage", "@coverage{0 %}"))
    hover = {"tools": ["hover"], "hover_tooltips": tips,
             "hover_formatters": {"@time": "datetime"}}
    elements = []
    for i, a in enumerate(assets):
        asset = a or c
        cols = {"time": times, c: vals[i], "asset": np.full(len(times), asset, dtype=object)}
        vd = [vdim, "asset"]
        if cov is not None:
            cols["coverage"] = cov[i]
            vd.append("coverage")
        # the dictionary interface skips a pandas frame per element (~2× faster to build)
        elements.append(hv.Curve(cols, xdim, vd, label=asset, datatype=["dictionary"])
                        .opts(**hover))
        if cov is not None and (part := cov[i] < partial_below).any():
            hollow = {k: v[part] for k, v in cols.items()}
            elements.append(hv.Scatter(hollow, xdim, vd, label=f"{asset} (partial period)",
                                       datatype=["dictionary"])
                            .opts(size=8, fill_alpha=0, line_width=2, **hover))
    return hv.Overlay(elements, label=name)


def raw_chart(da: xr.DataArray, *, by: str | None = "asset", width: int = 800,
              height: int = 300, rasterize: bool = True, timezone: str | None = None):
    """A long raw series drawn with datashader (``rasterize``) so it stays interactive.

    ``da`` has dims ``(asset, time)`` or ``(time,)`` with UTC times; the chart's time
    axis is the utility's local time and its value axis carries the unit. With several
    assets each is its own rasterized layer, overlaid by ``by``. A year at 1 s (31.5 M
    samples) draws in a few seconds; the browser only ever receives the pixels.
    """
    import hvplot.xarray  # noqa: F401

    setup()
    if not isinstance(da, xr.DataArray):
        raise UnknownNameError(f"raw_chart needs one signal (a DataArray), got "
                               f"{type(da).__name__}; pick one, e.g. ds['power']")
    if "asset" in da.dims and da.sizes["asset"] == 1:
        da = da.isel(asset=0)
    by = by if "asset" in da.dims else None
    tz = timezone or _timezone(da)
    da = da.assign_coords(time=local_times(da["time"].values, tz))
    return da.hvplot.line(x="time", by=by, rasterize=rasterize, width=width, height=height,
                          ylabel=_label(str(da.name), da.attrs), xlabel=time_axis_label(tz),
                          dynamic=True)


def save_html(obj, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Save a chart as a standalone HTML page with inline JS/CSS (no CDN needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_html(obj, title=title or path.stem), encoding="utf-8")
    return path


def to_html(obj, *, title: str = "chart") -> str:
    """A chart as one standalone HTML page with inline Bokeh JS/CSS (no network needed);
    apps embed it, e.g. ``mo.iframe(to_html(chart))`` in marimo."""
    import holoviews as hv
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    setup()
    return file_html(hv.render(obj, backend="bokeh"), INLINE, title=title)


def _finite_share(ds: xr.Dataset) -> float:
    """Share of finite values (used by tests and apps to say a chart is not empty)."""
    vals = np.concatenate([np.asarray(ds[v].values, dtype=float).ravel() for v in ds.data_vars])
    return float(np.isfinite(vals).mean()) if vals.size else 0.0
