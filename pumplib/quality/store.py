"""Quality flags in the lake: validate and commit, read back, and mask to good samples.

Flags live beside the raw data in ``quality/<cadence>``: the same assets and
time grid, one ``uint16`` array per signal, filled with ``UNCHECKED`` where no
run has reached. Each :func:`validate` is its own commit whose metadata names
the rules (source and hash), the raw snapshot validated, the run id and the
time range. Raw values are never touched.

Examples
--------
>>> from pumplib.lake import Lake
>>> lake = Lake("memory://doc-quality")
>>> with lake.transaction("demo") as tx:
...     _ = tx.write_block("1min", ["P1"], "flow", 0, np.array([[1.0, -2.0, 3.0]]))
>>> info = validate(lake, "1min", {"version": 1, "signals": {"flow": {"range": {"min": 0}}}})
>>> info["flag_counts"]["RANGE"]
1
>>> good(lake.open_raw("1min")).flow.values.tolist()
[[1.0, nan, 3.0]]
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import dask
import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ArgumentError
from ..lake import Lake, new_run_id
from .engine import as_registry, as_rules, evaluate, evaluate_range
from .flags import DTYPE, UNCHECKED, Flag, is_good

KIND = "quality"


def _lake(lake) -> Lake:
    return lake if isinstance(lake, Lake) else Lake(lake, create=False)


def open_for_rules(lake: Lake | str | os.PathLike, cadence: str | None = None, *,
                   snapshot: str | None = None) -> xr.Dataset:
    """The raw Dataset of a cadence, chunked for :func:`~pumplib.quality.evaluate`.

    Blocks of many assets × one lake chunk span (about
    ``engine.BLOCK_CELLS`` cells), read straight from the lake's chunks, so
    that evaluating needs no rechunking copy.
    """
    from .engine import block_rows

    lake = _lake(lake)
    ds = lake.open_raw(cadence, snapshot=snapshot)
    span = int(ds.attrs.get("chunk_samples", ds.sizes["time"]))
    rows = block_rows(ds.sizes["asset"], span)
    return lake.open_raw(ds.attrs["cadence"], snapshot=ds.attrs["snapshot"],
                         chunks={"asset": rows, "time": span})


def validate(lake: Lake | str | os.PathLike, cadence: str | None = None, rules=None,
             registry=None, *, start=None, end=None, signals: Sequence[str] | None = None,
             use_quarantine: bool = True, use_overrides: bool = True,
             message: str | None = None, progress=None,
             cells_per_write: int = 32_000_000) -> dict:
    """Evaluate the rules on the lake and commit the flags to ``quality/<cadence>``.

    Parameters
    ----------
    lake : Lake or URL
    cadence : str, optional
        Raw grid to validate (may be omitted when the lake has one).
    rules, registry : optional
        As for :func:`pumplib.quality.evaluate`.
    start, end : time-like, optional
        Validate only this range (plus the rules' context window, read but
        not written); default the whole grid.
    progress : callable, optional
        Called with ``(done, total)`` time blocks as they are written.
    cells_per_write : int
        Flags computed per write (2 bytes each); whole chunk spans at a time.

    Returns
    -------
    dict
        The commit metadata plus ``snapshot`` (the new commit).
    """
    from .overrides import overrides as _overrides

    lake = _lake(lake)
    registry = as_registry(registry)      # first: it may declare signals the rules name
    rules = as_rules(rules)
    ds = open_for_rules(lake, cadence)
    cadence = ds.attrs["cadence"]
    kw = {"quarantine": time_rows(lake) if use_quarantine else None,
          "overrides": _overrides(lake, cadence) if use_overrides else None,
          "future_after": _future_after(lake)}
    if start is None and end is None:
        kw["skew"] = skew_table(ds, rules, registry)
        flags = evaluate(ds, rules, registry, signals=signals, **kw)
    else:
        start = ds.time.values[0] if start is None else start
        end = ds.time.values[-1] if end is None else end
        kw["skew"] = skew_table(ds, rules, registry, start, end)
        flags = evaluate_range(ds, start, end, rules, registry, signals=signals, **kw)
    run_id = new_run_id("validate")
    n = flags.sizes["time"]
    meta = {"kind": KIND, "run_id": run_id, "cadence": cadence,
            "rules_source": rules.source, "rules_sha256": rules.sha256,
            "raw_snapshot": ds.attrs.get("snapshot"),
            "start": str(flags.time.values[0]) if n else None,
            "end": str(flags.time.values[-1]) if n else None,
            "signals": list(flags.data_vars)}
    counts = dict.fromkeys((f.name for f in Flag), 0)
    msg = message or f"validate {cadence} {meta['start']} → {meta['end']}"
    origin = int(ds.attrs["origin"])
    step = int(ds.attrs["step_seconds"])
    span = int(ds.attrs["chunk_samples"])
    with lake.transaction(msg, meta) as tx:
        tx.derived_group(KIND, cadence)
        arrays = {s: tx.derived_array(KIND, cadence, s, "uint16", UNCHECKED,
                                      flags[s].attrs) for s in flags.data_vars}
        if n:
            t0 = int(flags.time.values[0].astype("datetime64[s]").astype(np.int64))
            first = (t0 - origin) // step
            # write in blocks aligned to the chunk grid: one compute per block
            # several chunk spans per compute, bounded by ``cells_per_write`` flags in memory
            k = max(1, int(cells_per_write) // max(1, ds.sizes["asset"] * len(flags.data_vars)
                                                   * span))
            edges = [first, *range((first // (span * k) + 1) * span * k, first + n, span * k),
                     first + n]
            total = len(edges) - 1
            for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
                names = list(flags.data_vars)
                blocks = dask.compute(*[flags[s].data[:, lo - first:hi - first]
                                        for s in names])
                for s, block in zip(names, blocks, strict=True):
                    block = np.asarray(block, dtype=DTYPE)
                    arrays[s][:, lo:hi] = block
                    for f in Flag:
                        counts[f.name] += int(np.count_nonzero(block & f))
                if progress is not None:
                    progress(b + 1, total)
        tx.metadata["flag_counts"] = counts
    return {**meta, "flag_counts": counts, "snapshot": tx.snapshot}


def time_rows(lake: Lake | str | os.PathLike, snapshot: str | None = None) -> pd.DataFrame:
    """Rows of the ingest quarantine and notes (duplicate, conflicting, out-of-order rows).

    The TIMESTAMP rule flags the cells they name (see ``evaluate(quarantine=...)``).
    """
    lake = _lake(lake)
    frames = [lake.quarantine(snapshot=snapshot)]
    notes = getattr(lake, "ingest_notes", None)
    if notes is not None:
        frames.append(notes(snapshot=snapshot))
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else lake.quarantine(snapshot=snapshot)


def skew_table(ds: xr.Dataset, rules=None, registry=None, start=None, end=None
               ) -> pd.DataFrame | None:
    """Clock skew between the signals of each pump (:func:`~pumplib.quality.skew.clock_skew`).

    Judged in windows of the ``timestamp`` rule's ``skew_window`` (aligned to
    the grid's start) that overlap ``[start, end]``, reading one window at a
    time. None when no asset's rules ask for it.
    """
    from .engine import _naive_utc, step_seconds
    from .rules import steps
    from .skew import STATE_SIGNALS, clock_skew

    registry = as_registry(registry)      # first: it may declare signals the rules name
    rules = as_rules(rules)
    sigs = [s for s in STATE_SIGNALS if s in ds.data_vars]
    if len(sigs) < 2 or ds.sizes["time"] < 2:
        return None
    spec = None
    for a in ds.asset.values:
        res = rules.resolve(str(a), registry)["signals"]
        spec = next((res[s]["timestamp"] for s in sigs
                     if (res[s].get("timestamp") or {}).get("skew")), None)
        if spec is not None:
            break
    if spec is None:
        return None
    step = step_seconds(ds)
    w = max(steps(spec.get("skew_window", "1D"), step), 1)
    n = ds.sizes["time"]
    times = ds.time.values
    i0 = 0 if start is None else int(np.searchsorted(times, _naive_utc(start)))
    i1 = n if end is None else int(np.searchsorted(times, _naive_utc(end), side="right"))
    frames = []
    for w0 in range((i0 // w) * w, i1, w):
        sub = ds[sigs].isel(time=slice(w0, min(w0 + w, n))).compute()
        sub.attrs["step_seconds"] = step
        frames.append(clock_skew(sub, window=w, max_lag=spec.get("max_lag", "1h"),
                                 tolerance=spec.get("skew_tolerance", "30s")))
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else None


def pending_range(lake: Lake | str | os.PathLike, cadence: str) -> tuple | None:
    """Time span ingested into ``cadence`` since its last validation commit.

    Read from commit metadata (the ``start``/``end`` of every ingested source),
    newest first, down to the last ``quality`` commit of the cadence, and
    starting no later than where that validation ended, so that a gap between
    two ingests is checked too. Returns
    ``(start, end)`` as UTC timestamps, ``None`` when nothing new arrived, or
    ``("all", "all")`` when the cadence was never validated.
    """
    lake = _lake(lake)
    lo = hi = None
    for c in lake.log():
        m = c.metadata
        if m.get("kind") == KIND and m.get("cadence") == cadence:
            if lo is None:
                return None
            prev_end = pd.Timestamp(m["end"]).tz_localize("UTC") if m.get("end") else None
            if prev_end is not None and prev_end < lo:
                lo = prev_end  # the stretch between runs is checked too (gaps live there)
            return lo, hi
        if m.get("kind") != "ingest":
            continue
        for src in m.get("sources") or []:
            if src.get("cadence") != cadence or not src.get("start"):
                continue
            a, b = pd.Timestamp(src["start"]), pd.Timestamp(src["end"])
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
    return ("all", "all")


def validate_new(lake: Lake | str | os.PathLike, cadence: str | None = None, rules=None,
                 registry=None, **kwargs) -> dict | None:
    """Validate only what was ingested since the last validation (see :func:`pending_range`).

    Returns the :func:`validate` result, or None when there is nothing new.
    """
    lake = _lake(lake)
    if cadence is None:
        cadence = lake.open_raw().attrs["cadence"]
    span = pending_range(lake, cadence)
    if span is None:
        return None
    if span == ("all", "all"):
        return validate(lake, cadence, rules, registry, **kwargs)
    return validate(lake, cadence, rules, registry, start=span[0], end=span[1], **kwargs)


def _future_after(lake: Lake) -> pd.Timestamp | None:
    """Latest ingest commit time plus ``ingest.future_tolerance``: data later is from the future."""
    from .. import config

    for c in lake.log():
        if c.metadata.get("kind") == "ingest":
            return pd.Timestamp(c.written_at) + pd.Timedelta(
                config.get("ingest.future_tolerance", "1h"))
    return None


def open_quality(lake: Lake | str | os.PathLike, cadence: str | None = None, *,
                 snapshot: str | None = None, like: xr.Dataset | None = None) -> xr.Dataset:
    """The stored flags of a cadence (lazy); aligned to ``like``'s grid when given.

    Cells no validation has reached read as ``UNCHECKED``.
    """
    lake = _lake(lake)
    if cadence is None:
        cadence = like.attrs.get("cadence") if like is not None else None
    if cadence is None:
        cadence = lake.open_raw(snapshot=snapshot).attrs["cadence"]
    q = lake.open_group(f"{KIND}/{cadence}", snapshot=snapshot)
    if q is None:
        if like is None:
            like = lake.open_raw(cadence, snapshot=snapshot)
        q = xr.Dataset(coords={"asset": like.asset, "time": like.time})
    if like is not None:
        q = align_flags(q, like)
    return q


def align_flags(flags: xr.Dataset, like: xr.Dataset) -> xr.Dataset:
    """Flags on ``like``'s grid: cells or signals without flags become ``UNCHECKED``."""
    out = {}
    for s in like.data_vars:
        if str(s).endswith("_sq"):
            continue
        if s in flags.data_vars:
            f = flags[s]
            if not (f.sizes == like[s].sizes and (f.time.values == like.time.values).all()
                    and (f.asset.values == like.asset.values).all()):
                f = f.reindex(asset=like.asset, time=like.time, fill_value=UNCHECKED)
            out[s] = f.astype(DTYPE)
        else:
            out[s] = xr.full_like(like[s], UNCHECKED, dtype=DTYPE)
    return xr.Dataset(out, coords={"asset": like.asset, "time": like.time})


def good(ds: xr.Dataset, flags: xr.Dataset | None = None) -> xr.Dataset:
    """The signals of ``ds`` with every sample that is not good set to NaN.

    This is the one door features read raw data through. ``flags`` default
    to those stored at the tip of the lake ``ds`` came from (``ds.attrs['store']``);
    a signal or cell without flags counts as not validated, hence not good.
    ``<signal>_sq`` variables are dropped.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.date_range("2026-01-01", periods=3, freq="1min")
    >>> ds = xr.Dataset({"flow": (("asset", "time"), [[1.0, 2.0, 3.0]])},
    ...                 coords={"asset": ["P1"], "time": t})
    >>> fl = xr.Dataset({"flow": (("asset", "time"), np.array([[0, 4, 0]], "uint16"))},
    ...                 coords={"asset": ["P1"], "time": t})
    >>> good(ds, fl).flow.values.tolist()
    [[1.0, nan, 3.0]]
    """
    if flags is None:
        if "store" not in ds.attrs:
            raise ArgumentError("good() needs flags: pass them, or a Dataset opened from a lake "
                             "(with attrs['store'])")
        flags = open_quality(ds.attrs["store"], ds.attrs.get("cadence"), like=ds)
    else:
        flags = align_flags(flags, ds)
    out = {}
    for s in ds.data_vars:
        if str(s).endswith("_sq"):
            continue
        x = ds[s]
        out[s] = x.where(is_good(flags[s], x))
        out[s].attrs = dict(x.attrs)
    res = xr.Dataset(out, coords=ds.coords, attrs=dict(ds.attrs))
    return res
