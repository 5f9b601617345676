"""Evidence of an alert: the raw signals around it, their quality flags and the lineage."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._common import empty


def evidence(ops, alert: str | dict, *, pad: str = "6h", cadence: str = "1min") -> dict:
    """What an alert rests on: signals around it, quality flags and lineage.

    Returns
    -------
    dict
        ``alert`` (dict), ``signals`` (DataFrame, time × signal, raw values of
        the asset in ``[start − pad, end + pad]`` decimated to at most
        ``max_points`` rows by bucket means; attrs ``decimation``, ``step`` and
        ``units``: signal → unit),
        ``flags`` (DataFrame: signal, flag, samples, meaning) and
        ``lineage`` (list of dicts: the commits the alert comes from).
    """
    al = ops.alert(alert) if isinstance(alert, str) else dict(alert)
    lo = al["start"] - pd.Timedelta(pad)
    hi = al["end"] + pd.Timedelta(pad)
    raw = ops.lake.open_raw(cadence)
    step = pd.Timedelta(cadence)
    sig_names = [s for s in raw.data_vars if not str(s).endswith("_sq")]
    if al["asset"] not in set(raw.asset.values.tolist()):
        return {"alert": al, "signals": pd.DataFrame(), "flags": empty(
            ["signal", "flag", "samples", "meaning"]), "lineage": lineage(ops.lake, al)}
    sub = raw[sig_names].sel(asset=al["asset"], time=slice(lo, hi))
    n = sub.sizes["time"]
    factor = max(1, math.ceil(n / ops.max_points))
    if factor > 1:
        sub = sub.coarsen(time=factor, boundary="trim").mean()
    sig = sub.to_dataframe().drop(columns=["asset"], errors="ignore")
    sig = sig.dropna(axis=1, how="all")
    sig.attrs.update(decimation=factor, step=str(step * factor), asset=al["asset"],
                     units={str(c): str(raw[c].attrs.get("units") or "") for c in sig.columns})
    return {"alert": al, "signals": sig, "flags": flags(ops.lake, al["asset"], lo, hi, cadence),
            "lineage": lineage(ops.lake, al)}


def flags(lake, asset: str, lo, hi, cadence: str = "1min") -> pd.DataFrame:
    """Quality flags of ``asset`` in ``[lo, hi]``: signal, flag, samples, meaning."""
    from ..quality import Flag, open_quality
    from ..quality.flags import DESCRIPTIONS

    q = open_quality(lake, cadence)
    cols = ["signal", "flag", "samples", "meaning"]
    if asset not in set(q.asset.values.tolist()) or not q.data_vars:
        return empty(cols)
    sub = q.sel(asset=asset, time=slice(lo, hi)).load()
    rows = []
    skip = Flag.NOT_EXPECTED | Flag.UNCHECKED
    for s in sub.data_vars:
        v = sub[s].values.astype(np.int64)
        v = v[(v & int(skip)) == 0]
        for fl in Flag:
            if fl in (Flag.NOT_EXPECTED, Flag.UNCHECKED):
                continue
            c = int(((v & int(fl)) != 0).sum())
            if c:
                rows.append({"signal": str(s), "flag": fl.name, "samples": c,
                             "meaning": DESCRIPTIONS.get(fl, "")})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("samples", ascending=False).reset_index(drop=True)


def lineage(lake, alert: dict) -> list[dict]:
    """Commits behind an alert: its source run, the quality run and the raw ingests."""
    out = []
    want = {"outlier": ("outliers", "outlier", "detect"), "quality": ("validate",),
            "forecast": ("forecast",)}.get(alert.get("kind"), ())
    seen_kinds: set[str] = set()
    for c in lake.log():
        kind = str(c.metadata.get("kind", ""))
        msg = c.message.lower()
        src = str(alert.get("source", ""))
        hit = (src and (src in str(c.metadata.get("run_id", "")) or src in c.message)) \
            or any(w in kind or w in msg.split(" ")[0] for w in want)
        if (hit and kind not in seen_kinds) or (kind == "ingest" and "ingest" not in seen_kinds):
            out.append({"snapshot": c.snapshot, "written_at": c.written_at.isoformat(),
                        "message": c.message, "kind": kind,
                        "run_id": c.metadata.get("run_id"),
                        "raw_snapshot": c.metadata.get("raw_snapshot")})
            seen_kinds.add(kind)
    return out

