"""Slow, obvious recomputation of the Q&A evaluation numbers from the golden tables.

Independent of :mod:`pumplib.qa`: plain pandas over ``Lake.open_group``. A spec::

    {column: energy_integral, assets: [S-P1, S-P2], start: 2026-03-01, end: 2026-04-01,
     how: sum1D | level:1D | level:1W | partials}

``start``/``end`` are local dates (the utility's zone), ``end`` exclusive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TZ = "Europe/Amsterdam"


def _frame(lake, group: str, column: str) -> pd.DataFrame:
    ds = lake.open_group(group)
    da = ds[column]
    frame = pd.DataFrame(np.asarray(da.values), index=[str(a) for a in da.asset.values],
                         columns=pd.DatetimeIndex(np.asarray(da.time.values)))
    return frame


def _utc(day: str) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize(TZ).tz_convert("UTC").tz_localize(None)


def expected_value(lake, spec: dict) -> float:
    column, assets, how = spec["column"], list(spec["assets"]), spec["how"]
    t0, t1 = _utc(str(spec["start"])), _utc(str(spec["end"]))
    if how.startswith("level:"):
        level = how.split(":", 1)[1]
        f = _frame(lake, f"features/{level}", column)
        vals = [float(f.loc[a, t0]) for a in assets]
        return float(sum(vals))           # one asset, or a sum of additive values
    f = _frame(lake, "features/1D", column)
    days = [t for t in f.columns if t0 <= t < t1]
    if how == "sum1D":
        total = 0.0
        for a in assets:
            for t in days:
                v = f.loc[a, t]
                if not np.isnan(v):
                    total += float(v)
        return total
    if how == "partials":
        feat = column.rsplit("_", 1)[0]
        s = _frame(lake, "features/_partials/1D", f"{feat}__sum")
        n = _frame(lake, "features/_partials/1D", f"{feat}__n")
        num = sum(float(s.loc[a, t]) for a in assets for t in days if not np.isnan(s.loc[a, t]))
        den = sum(float(n.loc[a, t]) for a in assets for t in days if not np.isnan(n.loc[a, t]))
        return num / den
    raise ValueError(f"unknown how {how!r}")
