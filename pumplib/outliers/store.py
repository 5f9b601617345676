"""Outlier runs in the lake: detect per pump, store events with lineage, read them back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from ..errors import ArgumentError, UnknownNameError, choices_message
from .common import EVENT_COLUMNS, GROUP, METHODS, _active_client, _check_choice, _check_m
from .detect import _normalise_events, detect, empty_events


# ---------------------------------------------------------------------------
# the lake
# ---------------------------------------------------------------------------
def _lake(lake):
    from ..lake import Lake

    return lake if isinstance(lake, Lake) else Lake(lake)


def _pump_assets(ds, assets, run_signal: str) -> list[str]:
    have = [str(a) for a in ds.asset.values]
    if assets is not None:
        assets = [assets] if isinstance(assets, str) else list(assets)
        for a in assets:
            if a not in have:
                raise UnknownNameError(choices_message("asset", a, have))
        return assets
    if run_signal not in ds.data_vars:
        return have
    rs = ds[run_signal].notnull().any("time").compute()
    return [a for a, ok in zip(have, rs.values.tolist(), strict=True) if ok]


def _frame_of(ds_one) -> pd.DataFrame:
    frame = ds_one.to_dataframe()
    frame = frame[[c for c in frame.columns if c != "asset" and not str(c).endswith("_sq")]]
    frame = frame.loc[:, frame.notna().any()]
    if frame.index.tz is None:
        frame.index = frame.index.tz_localize("UTC")
    return frame


def _detect_one(ds_one, ref_one, asset: str, kw: dict) -> pd.DataFrame:
    frame = ds_one if isinstance(ds_one, pd.DataFrame) else _frame_of(ds_one)
    reference = None
    if ref_one is not None:
        reference = ref_one if isinstance(ref_one, pd.DataFrame) else _frame_of(ref_one)
        missing = [c for c in frame.columns if c not in reference.columns]
        for c in missing:          # a signal without reference data cannot be judged
            frame = frame.drop(columns=c)
    return detect(frame, asset=asset, reference=reference, **kw)


def detect_lake(lake, *, assets: Sequence[str] | str | None = None,
                signals: Sequence[str] | None = None, start=None, end=None,
                reference: tuple | None = None, cadence: str = "1min", m: int = 30,
                method: str = "stump", threshold: float = 4.0, quantile: float = 0.95,
                level: bool = True, normalize: bool = False, snapshot: str | None = None, run_id: str | None = None,
                write: bool = True, client=None, scheduler: str | None = None) -> pd.DataFrame:
    """Find outlier events in the lake's good data, per pump, and store them.

    Reads ``raw/<cadence>`` masked by the stored quality flags
    (:func:`pumplib.quality.good`: a flagged sample is NaN and never enters
    a window), runs :func:`detect` for each pump (assets that have a
    ``run_state``) as one Dask task per pump, and — with ``write=True`` —
    stores the events as table ``outliers/<run_id>`` in one commit whose
    metadata records the lineage: the raw snapshot read, the parameters and
    the versions of pumplib, stumpy and numpy.

    Parameters
    ----------
    lake : Lake or str
        The lake (or its URL).
    assets : str or sequence, optional
        Pumps to scan (default: every asset with a run state).
    signals : sequence, optional
        Signals to score (default: every signal the pump has).
    start, end : optional
        Time range to scan (UTC).
    reference : (start, end), optional
        A normal period for the AB-join (default: self-join over the range).
    cadence : str
        Raw grid (default ``"1min"``).
    m, method, threshold, quantile, level, normalize :
        As in :func:`detect`.
    snapshot : str, optional
        Read the lake as of this snapshot.
    run_id : str, optional
        Name of the stored table (default: a new ``outliers-…`` id).
    write : bool
        Store the events (default True).
    client : dask.distributed.Client, optional
        Run the per-pump tasks on it (default: the active client, if any;
        otherwise one after the other in this process).

    Returns
    -------
    DataFrame
        The events; ``.attrs`` holds ``run_id`` and ``snapshot`` (the commit).

    Examples
    --------
    >>> ev = detect_lake("./store", start="2026-03-12", end="2026-03-13")  # doctest: +SKIP
    >>> events("./store").columns[:4].tolist()                             # doctest: +SKIP
    ['event_id', 'asset', 'start', 'end']
    """
    import dask

    from ..lake import new_run_id
    from ..quality import good, open_quality

    lk = _lake(lake)
    _check_choice("method", method, METHODS)
    _check_m(m)
    raw = lk.open_raw(cadence, snapshot=snapshot)
    flags = open_quality(lk, cadence, snapshot=snapshot, like=raw)
    ds = good(raw, flags)
    names = _pump_assets(ds, assets, "run_state")
    ref_ds = None
    if reference is not None:
        r0, r1 = _ref_naive_utc(reference)
        ref_ds = ds.sel(time=slice(r0.tz_localize(None), r1.tz_localize(None)))
        if ref_ds.sizes["time"] == 0:
            raise ArgumentError(f"the reference period {reference!r} holds no samples")
    if start is not None or end is not None:
        ds = ds.sel(time=slice(_naive(start), _naive(end)))
    if signals is not None:
        keep = list(dict.fromkeys([*signals, "run_state"]))
        for s in signals:
            if s not in ds.data_vars:
                raise UnknownNameError(choices_message("signal", s, ds.data_vars))
        ds = ds[[v for v in keep if v in ds.data_vars]]
        if ref_ds is not None:
            ref_ds = ref_ds[[v for v in keep if v in ref_ds.data_vars]]
    kw = {"m": m, "method": method, "threshold": threshold, "quantile": quantile,
          "level": level, "normalize": normalize}
    if client is None:
        client = _active_client()
    if client is not None:
        # workers get plain frames (read here), never handles on the lake's session
        tasks = [dask.delayed(_detect_one, pure=False)(
            _frame_of(ds.sel(asset=a)),
            None if ref_ds is None else _frame_of(ref_ds.sel(asset=a)), a, kw) for a in names]
    else:
        tasks = [dask.delayed(_detect_one, pure=False)(
            ds.sel(asset=a), None if ref_ds is None else ref_ds.sel(asset=a), a, kw)
            for a in names]
    if client is not None:
        results = client.gather(client.compute(tasks))
    else:
        results = dask.compute(*tasks, scheduler=scheduler or "synchronous")
    frames = [r for r in results if len(r)]
    ev = _normalise_events(pd.concat(frames, ignore_index=True)) if frames else empty_events()
    rid = run_id or new_run_id("outliers")
    ev.attrs.update(run_id=rid, source_snapshot=raw.attrs.get("snapshot"))
    if write:
        params = {"assets": names, "signals": list(signals) if signals else None,
                  "start": _iso(start), "end": _iso(end),
                  "reference": [_iso(t) for t in reference] if reference else None,
                  "cadence": cadence, "m": m, "method": method, "threshold": threshold,
                  "quantile": quantile, "level": level, "normalize": normalize}
        meta = _lineage(raw.attrs.get("snapshot"), flags.attrs.get("snapshot"), params, rid,
                        len(ev))
        attrs = {"run_id": rid, "source_snapshot": raw.attrs.get("snapshot"), "params": params,
                 "columns": EVENT_COLUMNS}
        with lk.transaction(f"outliers: {len(ev)} events in {len(names)} pumps ({rid})",
                            meta) as tx:
            _replace_table(tx, rid, _to_table(ev), attrs)
        ev.attrs["snapshot"] = tx.snapshot
    return ev


def _replace_table(tx, name: str, frame: pd.DataFrame, attrs: dict) -> None:
    """Write ``outliers/<name>``; a run stored again under the same id (a resumed
    pipeline) replaces its table — the lake's history keeps the earlier one."""
    if GROUP in tx.root and name in tx.root[GROUP]:
        del tx.root[GROUP][name]
    tx.write_table(GROUP, name, frame, attrs)


def _lineage(source_snapshot, flags_snapshot, params, run_id, n) -> dict:
    versions = _versions()
    meta = {"kind": "outliers", "run_id": run_id, "events": n, "params": params,
            "source_snapshot": source_snapshot,
            "inputs": {"snapshots": [s for s in (source_snapshot,) if s]},
            "versions": versions, "outputs": [f"{GROUP}/{run_id}"]}
    try:
        from .. import lineage as _lin
    except ImportError:   # lineage module not installed in this tree
        return meta
    stamp = _lin.stamp("outliers", inputs=meta["inputs"]["snapshots"], params=params,
                       run_id=run_id, outputs=meta["outputs"])
    stamp["versions"] = {**stamp.get("versions", {}), **versions}
    return {**stamp, "events": n, "source_snapshot": source_snapshot}


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for p in ("pumplib", "stumpy", "numba", "numpy", "pandas"):
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = "unknown"
    return out


def _to_table(ev: pd.DataFrame) -> pd.DataFrame:
    return ev.reset_index(drop=True)


def _naive(t):
    if t is None:
        return None
    ts = pd.Timestamp(t)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _ref_naive_utc(reference):
    if reference is None:
        return None
    if not (isinstance(reference, tuple | list) and len(reference) == 2):
        raise ArgumentError(f"reference must be (start, end), got {reference!r}")
    return tuple(_utc(t) for t in reference)


def _utc(t):
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _iso(t):
    return None if t is None else _utc(t).isoformat()


def runs(lake, snapshot: str | None = None) -> pd.DataFrame:
    """The stored outlier runs: ``run_id, events, snapshot, committed`` (newest first)."""
    lk = _lake(lake)
    rows = []
    for c in lk.log():
        if c.metadata.get("kind") == "outliers":
            rows.append({"run_id": c.metadata.get("run_id"), "events": c.metadata.get("events"),
                         "snapshot": c.snapshot, "committed": c.written_at,
                         "source_snapshot": c.metadata.get("source_snapshot")})
    return pd.DataFrame(rows, columns=["run_id", "events", "snapshot", "committed",
                                       "source_snapshot"])


def events(lake, run_id: str | None = None, *, snapshot: str | None = None,
           all_runs: bool = False) -> pd.DataFrame:
    """Outlier events stored by :func:`detect_lake`.

    Parameters
    ----------
    lake : Lake or str
    run_id : str, optional
        One run (default: the latest run).
    snapshot : str, optional
        Read as of this snapshot.
    all_runs : bool
        Every run, with a ``run_id`` column.

    Examples
    --------
    >>> events("./store").severity.value_counts()   # doctest: +SKIP
    """
    import zarr.errors

    lk = _lake(lake)
    try:
        tables = lk.tables(GROUP, snapshot=snapshot)
    except zarr.errors.GroupNotFoundError:   # a new lake: nothing committed yet
        tables = {}
    if not tables:
        return empty_events().assign(run_id=pd.Series(dtype=object))
    if all_runs:
        return _with_run([t.assign(run_id=k) for k, t in tables.items()])
    if run_id is None:
        order = [r for r in runs(lk)["run_id"].tolist() if r in tables]
        run_id = order[0] if order else sorted(tables)[-1]
    if run_id not in tables:
        raise UnknownNameError(choices_message("outlier run", run_id, tables))
    ev = _normalise_events(tables[run_id])
    ev["run_id"] = run_id
    return ev


def _with_run(frames: list[pd.DataFrame]) -> pd.DataFrame:
    out = []
    for f in frames:
        rid = f["run_id"].iloc[0] if len(f) else None
        e = _normalise_events(f.drop(columns="run_id"))
        e["run_id"] = rid
        out.append(e)
    return pd.concat(out, ignore_index=True) if out else empty_events()


def recall(ev: pd.DataFrame, truth: pd.DataFrame, kinds: Iterable[str] = ("cavitation",
                                                                          "dry_running")
           ) -> pd.DataFrame:
    """Which truth episodes of ``kinds`` an event overlaps (same asset, overlapping time).

    Returns the truth rows of those kinds with a ``found`` column and the
    ``event_id`` of the first overlapping event.
    """
    t = truth[truth["kind"].isin(list(kinds))].copy()
    ts = pd.to_datetime(t["start"], utc=True)
    te = pd.to_datetime(t["end"], utc=True)
    found, ids = [], []
    for a, s, e in zip(t["asset"], ts, te, strict=True):
        hit = ev[(ev["asset"] == a) & (ev["start"] <= e) & (ev["end"] >= s)]
        found.append(bool(len(hit)))
        ids.append(hit["event_id"].iloc[0] if len(hit) else None)
    t["found"] = found
    t["event_id"] = ids
    return t.reset_index(drop=True)
