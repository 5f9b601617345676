"""A machine-readable report of one set of flags (JSON-ready dict).

Examples
--------
>>> import pandas as pd, xarray as xr
>>> t = pd.date_range("2026-01-01", periods=2, freq="1h")
>>> fl = xr.Dataset({"flow": (("asset", "time"), np.array([[0, 4]], "uint16"))},
...                 coords={"asset": ["P1"], "time": t})
>>> r = report(fl, timezone="UTC")
>>> r["totals"]["RANGE"], r["scores"][0]["score"]
(1, 50.0)
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import xarray as xr

from .flags import Flag, table
from .scores import scores as _scores


def report(flags: xr.Dataset, *, timezone: str | None = None,
           path: str | os.PathLike | None = None, metadata: dict | None = None) -> dict:
    """Totals per flag, per asset and signal, and the daily scores; written as JSON to ``path``.

    Returns
    -------
    dict
        ``{generated_at, attrs, flags (the table), totals, by_series, scores}``.
    """
    sc = _scores(flags, timezone=timezone)
    cols = [f"n_{f.name}" for f in Flag if f"n_{f.name}" in sc.columns]
    by = sc.groupby(level=["asset", "signal"])[["expected", "present", "good", *cols]].sum()
    totals = {c[2:]: int(sc[c].sum()) for c in cols}
    series = []
    for (asset, signal), row in by.iterrows():
        series.append({"asset": asset, "signal": signal,
                       **{k: int(v) for k, v in row.items() if not k.startswith("n_") or v},
                       "mean_score": float(sc.loc[(asset, signal), "score"].mean())})
    recs = sc.reset_index()
    recs["day"] = recs["day"].dt.strftime("%Y-%m-%d")
    score_rows = [{k: (None if isinstance(v, float) and np.isnan(v) else
                       v.item() if isinstance(v, np.generic) else v)
                   for k, v in r.items() if not k.startswith("n_")}
                  for r in recs.to_dict("records")]
    out = {"generated_at": dt.datetime.now(dt.UTC).isoformat(),
           "attrs": {k: (v if isinstance(v, str | int | float) else str(v))
                     for k, v in flags.attrs.items()},
           "metadata": metadata or {}, "flags": table(), "totals": totals,
           "by_series": series, "scores": score_rows}
    if path is not None:
        Path(path).write_text(json.dumps(out, indent=2, default=str))
    return out
