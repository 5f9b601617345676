"""An HTML quality report an operator can open: plots (hvplot, bokeh inline) and tables.

hvplot, holoviews and bokeh are imported only when a report is made.

Examples
--------
>>> import numpy as np, pandas as pd, xarray as xr
>>> t = pd.date_range("2026-01-01", periods=48, freq="1h")
>>> fl = xr.Dataset({"flow": (("asset", "time"), np.zeros((1, 48), "uint16"))},
...                 coords={"asset": ["P1"], "time": t})
>>> page = report_html(fl, timezone="UTC")  # doctest: +SKIP
>>> "<html" in page  # doctest: +SKIP
True
"""

from __future__ import annotations

import datetime as dt
import html as _html
import os
import re
from pathlib import Path

import pandas as pd
import xarray as xr

from .flags import table
from .scores import scores as _scores


def report_html(flags: xr.Dataset, path: str | os.PathLike | None = None, *,
                timezone: str | None = None, title: str = "pumplib data quality") -> str:
    """A self-contained HTML page: daily score heat map, flag totals, score and flag tables.

    Parameters
    ----------
    flags : xarray.Dataset
        From :func:`~pumplib.quality.evaluate` or :func:`~pumplib.quality.open_quality`.
    path : path, optional
        Also write the page there.
    timezone : str, optional
        Zone of the days (default ``utility.timezone``).

    Returns
    -------
    str
        The HTML (bokeh JS and CSS inline: it opens without a network).
    """
    import holoviews as hv
    import hvplot.pandas  # noqa: F401  (registers .hvplot)
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    sc = _scores(flags, timezone=timezone)
    df = sc.reset_index()
    df["series"] = df["asset"].astype(str) + " / " + df["signal"].astype(str)
    df["day"] = pd.to_datetime(df["day"]).dt.strftime("%Y-%m-%d")
    counts = {c[2:]: int(df[c].sum()) for c in df.columns if c.startswith("n_")}
    counts = pd.DataFrame({"flag": list(counts), "samples": list(counts.values())})
    counts = counts[counts["samples"] > 0]
    height = int(min(60 + 22 * max(df["series"].nunique(), 1), 1600))
    heat = df.hvplot.heatmap(x="day", y="series", C="score", cmap="RdYlGn", clim=(0, 100),
                             title="Daily quality score (0–100)", width=900, height=height,
                             hover_cols=["completeness", "validity", "timeliness"])
    plots = heat
    if len(counts):
        bars = counts.hvplot.barh(x="flag", y="samples", title="Flagged samples per flag",
                                  width=900, height=60 + 25 * len(counts))
        plots = (heat + bars).cols(1)
    fig = hv.render(plots, backend="bokeh")
    page = file_html(fig, INLINE, title)
    cols = ["asset", "signal", "day", "expected", "completeness", "validity", "timeliness",
            "score", "reasons"]
    worst = df.sort_values("score")[cols].head(200)
    body = (f"<h1>{_html.escape(title)}</h1>"
            f"<p>Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; rules "
            f"{_html.escape(str(flags.attrs.get('rules_source', '?')))} "
            f"(sha256 {_html.escape(str(flags.attrs.get('rules_sha256', '?'))[:12])}).</p>"
            "<h2>Lowest daily scores</h2>"
            + worst.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")
            + "<h2>Flags</h2>" + pd.DataFrame(table()).to_html(index=False))
    page = page.replace("<body>", "<body>" + body, 1)
    # panel registers an ES-module shim loaded from a server path; the page
    # needs no server (everything else is inline), so drop that reference
    page = re.sub(r'<script src="static/[^"]*"></script>', "", page)
    if path is not None:
        Path(path).write_text(page, encoding="utf-8")
    return page


__all__ = ["report_html"]
