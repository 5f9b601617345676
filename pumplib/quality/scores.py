"""Quality scores per asset, signal and day, with the reasons behind them.

For each (asset, signal, day), over the cells where a value is expected
(neither ``NOT_EXPECTED`` nor ``UNCHECKED``):

* completeness: share of expected samples that are present (not MISSING);
* validity: share of present samples that are good (:func:`~pumplib.quality.is_good`);
* timeliness: share of expected samples not late (neither GAP nor TIMESTAMP);
* score: ``100 × completeness × validity × timeliness`` (0 when nothing is
  present), rounded to one decimal;
* reasons: the dominant flags with their share of expected samples.

Days follow the utility's time zone (setting ``utility.timezone``) unless
``timezone`` is given.

Examples
--------
>>> import pandas as pd, xarray as xr
>>> t = pd.date_range("2026-01-01", periods=4, freq="6h")
>>> fl = xr.Dataset({"flow": (("asset", "time"), np.array([[0, 1, 4, 0]], "uint16"))},
...                 coords={"asset": ["P1"], "time": t})
>>> s = scores(fl, timezone="UTC")
>>> s[["completeness", "validity", "score", "reasons"]].to_dict("records")
[{'completeness': 0.75, 'validity': 0.6666666666666666, 'score': 50.0, 'reasons': 'MISSING 25.0%, RANGE 25.0%'}]
"""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import xarray as xr

from .. import config
from .flags import NOT_EXPECTED, UNCHECKED, Flag, is_good

REASON_FLAGS = [f for f in Flag if f not in (Flag.MANUAL_GOOD, Flag.UNCHECKED,
                                             Flag.NOT_EXPECTED)]


def _day_labels(times: np.ndarray, timezone: str) -> np.ndarray:
    idx = pd.DatetimeIndex(times).tz_localize("UTC").tz_convert(timezone)
    return idx.normalize().tz_localize(None).values


def scores(flags: xr.Dataset, *, timezone: str | None = None, top: int = 3) -> pd.DataFrame:
    """The daily quality table of a flag Dataset (computes it).

    Parameters
    ----------
    flags : xarray.Dataset
        From :func:`~pumplib.quality.evaluate` or :func:`~pumplib.quality.open_quality`.
    timezone : str, optional
        Zone of the days (default: ``utility.timezone``).
    top : int
        How many flags to name as reasons.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(asset, signal, day)``; columns ``expected, present, good,
        late, completeness, validity, timeliness, score, reasons`` and one
        ``n_<FLAG>`` count per flag.
    """
    tz = timezone or config.get("utility.timezone")
    days = _day_labels(flags.time.values, tz)
    lazy = {}
    for s in flags.data_vars:
        f = flags[s].assign_coords(day=("time", days))
        exp = (f & (NOT_EXPECTED | UNCHECKED)) == 0
        parts = {"expected": exp,
                 "present": exp & ((f & Flag.MISSING) == 0),
                 "good": exp & is_good(f),
                 "late": exp & ((f & (Flag.GAP | Flag.TIMESTAMP)) != 0)}
        for fl in REASON_FLAGS:
            parts[f"n_{fl.name}"] = exp & ((f & fl) != 0)
        lazy[s] = xr.Dataset({k: v.astype(np.int64) for k, v in parts.items()}) \
            .groupby("day").sum()
    (computed,) = dask.compute(lazy)
    frames = []
    for s, ds in computed.items():
        df = ds.to_dataframe().reset_index()
        df.insert(1, "signal", s)
        frames.append(df)
    cols = ["asset", "signal", "day"]
    if not frames:
        return pd.DataFrame(columns=cols).set_index(cols)
    df = pd.concat(frames, ignore_index=True)
    df = df[df["expected"] > 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        df["completeness"] = df["present"] / df["expected"]
        df["validity"] = np.where(df["present"] > 0, df["good"] / df["present"].where(
            df["present"] > 0, 1), np.nan)
        df["timeliness"] = 1.0 - df["late"] / df["expected"]
    df["score"] = (100.0 * df["completeness"] * df["validity"].fillna(0.0)
                   * df["timeliness"]).round(1)
    counts = df[[f"n_{f.name}" for f in REASON_FLAGS]].to_numpy()
    exp = df["expected"].to_numpy()
    names = [f.name for f in REASON_FLAGS]
    reasons = []
    for row, e in zip(counts, exp, strict=True):
        order = [i for i in np.argsort(-row, kind="stable")[:top] if row[i] > 0]
        reasons.append(", ".join(f"{names[i]} {100.0 * row[i] / e:.1f}%" for i in order))
    df["reasons"] = reasons
    df["asset"] = df["asset"].astype(str)
    first = ["expected", "present", "good", "late", "completeness", "validity", "timeliness",
             "score", "reasons"]
    rest = [c for c in df.columns if c not in first and c not in cols]
    return df.set_index(cols)[first + rest].sort_index()
