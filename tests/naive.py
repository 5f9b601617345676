"""Slow, obvious references that the fast code is tested against."""

from __future__ import annotations

import csv
import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np


def naive_long_csv(path, registry, scale_of, step_seconds):
    """Parse a long CSV row by row into {(asset, signal, epoch_s): value}; last row wins."""
    out = {}
    with open(path, newline="") as f:
        rows = csv.reader(f)
        next(rows)
        for ts, tag, value, _q in rows:
            t = dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
            cell = round(t / step_seconds) * step_seconds
            info = registry.tag(tag)
            if value == "":
                continue
            out[(info.asset, info.signal, int(cell))] = float(value) * scale_of(info)[0] + \
                scale_of(info)[1]
    return out


def naive_localize(wall: str, tz: str, first: bool) -> int:
    """Epoch seconds of a local wall time; ``first`` picks the summer-time reading."""
    t = dt.datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(tz), fold=0 if first else 1)
    return int(t.timestamp())


def lake_cells(ds, variables=None):
    """{(asset, signal, epoch_s): value} of every non-NaN cell of a lake Dataset."""
    out = {}
    times = ds.time.values.astype("datetime64[s]").astype(np.int64)
    for var in variables or [v for v in ds.data_vars if not v.endswith("_sq")]:
        arr = ds[var].values
        for i, a in enumerate(ds.asset.values):
            for j in np.flatnonzero(~np.isnan(arr[i])):
                out[(str(a), var, int(times[j]))] = float(arr[i, j])
    return out
