"""The feature store: point-in-time reads of golden tables, training sets, versions.

The golden tables ``features/<level>`` of the lake are the store. This module
reads them by feature name, asset, period, and *as known at a moment*:

* :func:`get_features` — lazy xarray of feature columns (``pumplib.get_features``);
  ``as_of=`` reads the commit that was the branch tip at that moment, so late
  data cannot leak into a back-test; ``snapshot=`` and ``version=`` pin a
  commit or a definition version.
* :func:`training_set` — joins features to an event table (asset, time,
  label) point-in-time correctly, like Feast's historical retrieval: only
  periods that *ended* before the event, and only data *committed* before it.
* :func:`changes` — the cells late data, corrections or rebuilds changed
  between two moments.
* Versioned definitions: :func:`record_definitions` keeps the history of
  every definition in the lake (table group ``definitions``); a change of
  meaning (inputs, expression, condition, aggregations …) is a new version,
  a change of description, owner or tags only metadata. :func:`sync` records
  and rebuilds what changed; :func:`versions` and :func:`definition_history`
  list them; :func:`rebuild` recomputes a version from the raw snapshot its
  build recorded (bit-identical, tested).

Opened repositories and datasets are cached per (store, snapshot, level), so
repeated reads cost a dictionary look-up and a lazy slice.

Examples
--------
>>> import pumplib
>>> ds = pumplib.get_features(["energy", "runtime_duration"], assets=["N-P1"],
...                           start="2026-03-10", end="2026-03-17", level="1D",
...                           store="store")                # doctest: +SKIP
>>> ds.energy_integral.sum().compute()                      # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from . import config
from .errors import ArgumentError, LakeError, UnknownNameError, choices_message

#: lake table group that holds the recorded definition versions
DEFINITIONS_GROUP = "definitions"
#: datasets kept open (per store, snapshot and level)
CACHE_SIZE = 64

_LOCK = threading.Lock()
_LAKES: dict[str, Any] = {}
_OPEN: OrderedDict[tuple, _Table] = OrderedDict()


# ---------------------------------------------------------------------------
# opening, cached
# ---------------------------------------------------------------------------
def _lake(store=None):
    """A Lake for ``store`` (a Lake, a URL, or None for ``store.url``), cached by URL."""
    from .lake import Lake

    if store is not None and hasattr(store, "open_group"):
        return store
    url = os.fspath(config.get("store.url", override_with=store))
    with _LOCK:
        lake = _LAKES.get(url)
    if lake is None:
        lake = Lake(url, create=False)
        with _LOCK:
            _LAKES[url] = lake
    return lake


class _Table:
    """An opened golden-table level at one snapshot, with numpy copies of its axes.

    ``ds`` (from ``Lake.open_group``) has one dask chunk per Zarr chunk:
    large reads compute in parallel. ``lazy`` holds the stored arrays without
    dask (xarray's lazy indexing): a small selection reads just its region in
    one task (:func:`_small_read`) — the many-task graph of ``ds`` costs about
    5× more for a month of 15-min values. A level stored as one ``(column,
    asset, time)`` array (``_values``) is read for all wanted columns at once.
    """

    def __init__(self, ds: xr.Dataset, lazy: xr.Dataset, key: tuple):
        self.ds = ds
        self.lazy = lazy
        self.key = key
        self.assets = [str(a) for a in ds.asset.values]
        self.asset_index = {a: i for i, a in enumerate(self.assets)}
        self.time = pd.DatetimeIndex(ds.time.values).as_unit("ns").asi8
        self.time_end = pd.DatetimeIndex(ds.time_end.values).as_unit("ns").asi8
        self.by_feature: dict[str, list[str]] = {}
        for v in ds.data_vars:
            f = ds[v].attrs.get("feature")
            if f:
                self.by_feature.setdefault(str(f), []).append(str(v))
        stacked = lazy.variables.get("_values")
        self.stacked = stacked if stacked is not None and "columns" in stacked.attrs else None
        self.column_index = ({str(c): i for i, c in enumerate(self.stacked.attrs["columns"])}
                             if self.stacked is not None else {})


def clear_cache() -> None:
    """Forget every opened lake and dataset (e.g. after deleting a store)."""
    with _LOCK:
        _LAKES.clear()
        _OPEN.clear()
        _HISTORY.clear()


def _table(lake, snapshot: str, level: str) -> _Table | None:
    key = (lake.url, snapshot, level)
    with _LOCK:
        t = _OPEN.get(key)
        if t is not None:
            _OPEN.move_to_end(key)
            return t
    ds = lake.open_group(f"features/{level}", snapshot=snapshot)
    if ds is None:
        return None
    lazy = xr.open_zarr(lake.session(snapshot).store, group=f"features/{level}",
                        consolidated=False, chunks=None)
    t = _Table(ds, lazy, key)
    with _LOCK:
        _OPEN[key] = t
        while len(_OPEN) > CACHE_SIZE:
            _OPEN.popitem(last=False)
    return t


class _Region:
    """Array-like view of a lazily indexed variable: reads what dask asks for.

    ``take`` (one index array or None per axis) picks positions inside the
    variable after reading it: the variable is then a bounding box of plain
    slices, which Zarr reads faster than an orthogonal (fancy) selection.
    """

    def __init__(self, var: xr.Variable, take: Sequence | None = None):
        self.var = var
        self.take = take
        shape = list(var.shape)
        for ax, ix in enumerate(take or ()):
            if ix is not None:
                shape[ax] = len(ix)
        self.shape, self.dtype, self.ndim = tuple(shape), var.dtype, var.ndim

    def __getitem__(self, key):
        if not self.take:
            return np.asarray(self.var[key].values)
        out = np.asarray(self.var.values)
        for ax, ix in enumerate(self.take):
            if ix is not None:
                out = np.take(out, ix, axis=ax)
        return out[key]


def _bounding(ix: Sequence[int] | None) -> tuple[slice, np.ndarray | None]:
    """A slice around positions ``ix`` (None: all) and the positions inside it
    (None when the slice is exactly ``ix`` in order)."""
    if ix is None:
        return slice(None), None
    lo, hi = min(ix), max(ix) + 1
    inner = np.asarray(ix) - lo
    if len(ix) == hi - lo and (inner == np.arange(hi - lo)).all():
        return slice(lo, hi), None
    return slice(lo, hi), inner


def _small_read(t: _Table, cols: Sequence[str], rows, i0: int, i1: int) -> xr.Dataset:
    """The selection as a Dataset of one-chunk dask arrays reading just its region.

    Dask names come from the table key (store, snapshot, level) and the
    selection, which pin the content (snapshots never change); naming them
    avoids dask tokenizing the backend array, which costs more than the read.
    """
    import dask.array as da
    from dask.base import tokenize

    sel_rows = rows if isinstance(rows, list) else slice(None)
    token = tokenize(t.key, tuple(cols), tuple(rows) if isinstance(rows, list) else None, i0, i1)
    data: dict[str, Any] = {}
    if t.stacked is not None and all(c in t.column_index for c in cols):
        idx = [t.column_index[c] for c in cols]
        csl, cin = _bounding(idx)
        rsl, rin = _bounding(rows if isinstance(rows, list) else None)
        wasted = (csl.stop - csl.start) / len(idx) if cin is not None else 1.0
        if wasted <= 2.0 and (rin is None or (rsl.stop - rsl.start) <= 2 * len(rin)):
            region = _Region(t.stacked[csl, rsl, i0:i1], (cin, rin, None))   # plain slices
        else:
            region = _Region(t.stacked[idx, sel_rows, i0:i1])           # orthogonal
        block = da.from_array(region, chunks=-1, lock=False, asarray=False,
                              meta=np.empty((0, 0, 0), dtype=region.dtype),
                              name=f"pumplib-features-{token}")
        for k, c in enumerate(cols):
            data[c] = (("asset", "time"), block[k], t.ds[c].attrs)
    else:
        for c in cols:
            sub = t.lazy[c].variable[sel_rows, i0:i1]
            arr = da.from_array(_Region(sub), chunks=-1, lock=False, asarray=False,
                                meta=np.empty((0, 0), dtype=sub.dtype),
                                name=f"pumplib-features-{c}-{token}")
            data[c] = (("asset", "time"), arr, t.ds[c].attrs)
    assets = np.array(t.assets, dtype=object)[sel_rows]
    return xr.Dataset(data, coords={
        "asset": ("asset", assets, t.ds["asset"].attrs),
        "time": ("time", t.time[i0:i1].astype("datetime64[ns]"), t.ds["time"].attrs),
        "time_end": ("time", t.time_end[i0:i1].astype("datetime64[ns]"),
                     t.ds["time_end"].attrs)})


def _levels(lake, snapshot: str) -> list[str]:
    from .features.aggregations import LEVELS
    from .lake import open_root

    root = open_root(lake.session(snapshot).store, "r")
    if "features" not in root:
        return []
    have = {n for n, _ in root["features"].groups()}
    return [lv for lv in LEVELS if lv in have]


def _utc(t) -> pd.Timestamp:
    if t is None:
        return None
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


_HISTORY: dict[str, tuple[str, np.ndarray, list[str]]] = {}


def _commit_times(lake) -> tuple[np.ndarray, list[str]]:
    """Commit times (ns, ascending) and snapshot ids of the branch, cached per tip."""
    tip = lake.tip()
    with _LOCK:
        hit = _HISTORY.get(lake.url)
    if hit is not None and hit[0] == tip:
        return hit[1], hit[2]
    log = lake.log()[::-1]                    # oldest first
    times = np.array([pd.Timestamp(c.written_at).value for c in log], dtype=np.int64)
    ids = [c.snapshot for c in log]
    with _LOCK:
        _HISTORY[lake.url] = (tip, times, ids)
    return times, ids


def snapshot_at(as_of, store=None) -> str | None:
    """The snapshot that was the tip of the lake's branch at ``as_of`` (None before any)."""
    times, ids = _commit_times(_lake(store))
    k = int(np.searchsorted(times, _utc(as_of).value, "right")) - 1
    return ids[k] if k >= 0 else None


def _resolve(lake, snapshot, as_of) -> str | None:
    if snapshot is not None and as_of is not None:
        raise ArgumentError("give snapshot= or as_of=, not both")
    if snapshot is not None:
        return str(snapshot)
    if as_of is not None:
        return snapshot_at(as_of, lake)
    return lake.tip()


def _columns(t: _Table, features: Iterable[str], level: str) -> list[str]:
    cols: list[str] = []
    for f in features:
        if f in t.by_feature:
            new = sorted(t.by_feature[f])
        elif f in t.ds.data_vars:
            new = [f]
        else:
            raise UnknownNameError(
                f"no feature or column {f!r} in features/{level}. "
                + choices_message("feature", f, sorted(t.by_feature) + sorted(
                    str(v) for v in t.ds.data_vars)))
        cols.extend(c for c in new if c not in cols)
    return cols


# ---------------------------------------------------------------------------
# reads
# ---------------------------------------------------------------------------
def get_features(features: str | Sequence[str], assets: str | Sequence[str] | None = None,
                 start=None, end=None, level: str = "1h", *, as_of=None,
                 snapshot: str | None = None, version: int | None = None, store=None,
                 whole_chunk_bytes: int = 32 * 2**20) -> xr.Dataset:
    """Feature values from the golden tables, as known at a moment (lazy).

    Parameters
    ----------
    features : str or sequence of str
        Feature names (expand to all their columns: aggregations and
        coverage) or exact column names (``"energy_integral"``).
    assets : str or sequence of str, optional
        Asset ids (default: all).
    start, end : time-like, optional
        Periods whose start lies in ``[start, end)`` (UTC when naive).
    level : str
        ``1min``, ``15min``, ``1h``, ``1D``, ``1W`` or ``1M`` (default ``1h``).
    as_of : time-like, optional
        Read the commit that was the branch tip at that moment (by commit
        time): what was known then. Before the first commit nothing was known
        (an error).
    snapshot : str, optional
        Read this commit.
    version : int, optional
        Read the last build of this definition version (one feature name
        only; see :func:`versions`).
    store : Lake or URL, optional
        Default: the ``store.url`` setting.
    whole_chunk_bytes : int
        A selection up to this size per variable (default 32 MiB) is one
        dask chunk per variable reading just that region (fewest tasks,
        fastest for typical reads); larger ones keep the stored chunking,
        so they compute in parallel.

    Returns
    -------
    xarray.Dataset
        Dims ``(asset, time)``, ``time`` the period start (UTC) with
        ``time_end``; dask-backed, nothing computed. Attributes: ``level``,
        ``snapshot``, ``store``, ``as_of``, ``definition_hashes``.

    Examples
    --------
    >>> ds = get_features("energy", ["N-P1", "S-P1"], "2026-03-10", "2026-03-11",
    ...                   level="15min", store="store")   # doctest: +SKIP
    >>> sorted(ds.data_vars)                              # doctest: +SKIP
    ['energy_coverage', 'energy_integral', 'energy_max', 'energy_mean']
    """
    from .features.aggregations import LEVELS

    if level not in LEVELS:
        raise UnknownNameError(choices_message("level", level, LEVELS))
    names = [features] if isinstance(features, str) else list(features)
    if not names:
        raise ArgumentError("get_features(): name at least one feature or column")
    lake = _lake(store)
    if version is not None:
        if len(names) != 1:
            raise ArgumentError("get_features(version=…) takes one feature name, got "
                                f"{names!r}")
        if snapshot is not None or as_of is not None:
            raise ArgumentError("give version= or snapshot=/as_of=, not both")
        base = names[0]
        tip = _table(lake, lake.tip(), level)
        if tip is not None and base not in tip.by_feature and base in tip.ds.data_vars:
            base = str(tip.ds[base].attrs.get("feature", base))   # a column: its feature
        snapshot = snapshot_for_version(base, version, lake, level=level)
    snap = _resolve(lake, snapshot, as_of)
    if snap is None:
        raise LakeError(f"{lake.url}: nothing was committed at or before {_utc(as_of)}")
    t = _table(lake, snap, level)
    if t is None:
        have = _levels(lake, snap)
        if not have:
            raise LakeError(f"{lake.url}: no golden tables at snapshot {snap}; build them "
                            "first (pumplib features build)")
        raise UnknownNameError(f"{lake.url}: no golden table at this level (snapshot {snap}). "
                               + choices_message("level", level, have))
    cols = _columns(t, names, level)
    rows: list[int] | slice = slice(None)
    if assets is not None:
        wanted = [assets] if isinstance(assets, str) else list(assets)
        rows = []
        for a in wanted:
            if a not in t.asset_index:
                raise UnknownNameError(choices_message("asset", a, t.assets))
            rows.append(t.asset_index[a])
    i0 = 0 if start is None else int(np.searchsorted(t.time, _utc(start).value, "left"))
    i1 = len(t.time) if end is None else int(np.searchsorted(t.time, _utc(end).value, "left"))
    n_assets = len(t.assets) if isinstance(rows, slice) else len(rows)
    small = n_assets * max(i1 - i0, 0) * 8 <= whole_chunk_bytes
    i1 = max(i0, i1)
    if small:
        ds = _small_read(t, cols, rows, i0, i1)
    else:
        ds = t.ds[cols]
        if not isinstance(rows, slice):
            ds = ds.isel(asset=rows)
        if start is not None or end is not None:
            ds = ds.isel(time=slice(i0, i1))
    hashes = dict(t.ds.attrs.get("definition_hashes", {}) or {})
    used = {ds[c].attrs.get("feature") for c in cols}
    ds.attrs = {"level": level, "snapshot": snap, "store": lake.url,
                "as_of": None if as_of is None else _utc(as_of).isoformat(),
                "timezone": t.ds.attrs.get("timezone"),
                "raw_snapshot": t.ds.attrs.get("raw_snapshot"),
                "definition_hashes": {k: v for k, v in hashes.items() if k in used}}
    return ds


def changes(features: str | Sequence[str], level: str = "1h", *, before=None, after=None,
            assets=None, start=None, end=None, store=None) -> pd.DataFrame:
    """Cells whose stored value differs between two moments (or snapshots).

    ``before`` and ``after`` are each a snapshot id or a time (``as_of``);
    ``after`` defaults to the tip. Late data, corrections and rebuilds show
    up here: one row per ``(column, asset, time)`` with the value before and
    after (NaN where a period did not exist yet). This computes.

    Examples
    --------
    >>> changes("energy_integral", "1h", before="2026-11-26 12:00")   # doctest: +SKIP
    """
    lake = _lake(store)

    def read(when):
        if when is None:
            return get_features(features, assets, start, end, level, store=lake)
        snap = when if isinstance(when, str) and _is_snapshot(lake, when) else None
        return get_features(features, assets, start, end, level, store=lake,
                            snapshot=snap, as_of=None if snap else when)

    if before is None:
        raise ArgumentError("changes(): give before= (a snapshot id or a time)")
    a, b = read(before).compute(), read(after).compute()
    rows = []
    for col in sorted(set(a.data_vars) | set(b.data_vars)):
        fa = a[col].to_series() if col in a else pd.Series(dtype=float)
        fb = b[col].to_series() if col in b else pd.Series(dtype=float)
        both = pd.concat({"before": fa, "after": fb}, axis=1)
        diff = both[~((both.before == both.after) | (both.before.isna() & both.after.isna()))]
        for (asset_id, t), r in diff.iterrows():
            rows.append({"column": col, "asset": asset_id, "time": t, "before": r.before,
                         "after": r.after})
    out = pd.DataFrame(rows, columns=["column", "asset", "time", "before", "after"])
    out.attrs = {"before": a.attrs["snapshot"], "after": b.attrs["snapshot"]}
    return out


def _is_snapshot(lake, text: str) -> bool:
    _, ids = _commit_times(lake)
    return text in ids


def training_set(events: pd.DataFrame, features: str | Sequence[str], level: str = "1h", *,
                 store=None, time: str = "time", asset: str = "asset",
                 point_in_time: bool = True, as_of=None, max_age=None) -> pd.DataFrame:
    """Join features to an event table, point-in-time correct (Feast-style, on the lake).

    For each event (``asset``, ``time``, any label columns) the feature
    values are those of the last period that **ended** at or before the
    event time, as stored in the commit that was the lake's tip **at** the
    event time: neither later periods nor data committed later (late
    arrivals, corrections, rebuilds) can leak into the row.

    Parameters
    ----------
    events : pandas.DataFrame
        One row per event: ``asset`` and ``time`` columns (names settable),
        plus labels; kept as they are.
    features : str or sequence of str
        As in :func:`get_features`.
    level : str
        Golden-table level of the features.
    point_in_time : bool
        True (default): read what was committed at each event's time.
        False: read ``as_of`` (or the tip) for every event — only the
        period rule still applies (a look-ahead-free join of today's values).
    max_age : timedelta-like, optional
        Leave the features empty when the last ended period ended longer
        than this before the event.

    Returns
    -------
    pandas.DataFrame
        ``events`` plus ``feature_period_start``, ``feature_period_end``,
        ``feature_snapshot`` and one column per feature column.

    Examples
    --------
    >>> ev = pd.DataFrame({"asset": ["N-P1"], "time": ["2026-03-20 12:00"], "label": [1]})
    >>> training_set(ev, "energy_integral", "1h", store="store")    # doctest: +SKIP
    """
    from .features.aggregations import LEVELS

    if level not in LEVELS:
        raise UnknownNameError(choices_message("level", level, LEVELS))
    for col in (time, asset):
        if col not in events.columns:
            raise ArgumentError(f"training_set(): events have no column {col!r}. "
                                + choices_message("column", col, list(events.columns)))
    lake = _lake(store)
    names = [features] if isinstance(features, str) else list(features)
    ev = events.reset_index(drop=True)
    times = pd.to_datetime(ev[time], utc=True)
    ev_ns = times.dt.tz_convert(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    commit_t, commit_id = _commit_times(lake)
    if point_in_time:
        pos = np.searchsorted(commit_t, ev_ns, "right") - 1
        snaps = [commit_id[p] if p >= 0 else None for p in pos]
    else:
        fixed = _resolve(lake, None, as_of)
        snaps = [fixed] * len(ev)
    age = None if max_age is None else pd.Timedelta(max_age).value
    out_cols: list[str] = []
    values: dict[str, np.ndarray] = {}
    p_start = np.full(len(ev), np.datetime64("NaT"), dtype="datetime64[ns]")
    p_end = p_start.copy()
    for snap in dict.fromkeys(s for s in snaps if s is not None):
        t = _table(lake, snap, level)
        if t is None:
            continue
        idx = np.flatnonzero(np.array([s == snap for s in snaps]))
        cols = _columns(t, names, level)
        for c in cols:
            if c not in values:
                out_cols.append(c)
                values[c] = np.full(len(ev), np.nan)
        ev_t = ev_ns[idx]
        # the last period that ended at or before the event
        k = np.searchsorted(t.time_end, ev_t, "right") - 1
        rows = np.array([t.asset_index.get(str(a), -1) for a in ev[asset].values[idx]])
        ok = (k >= 0) & (rows >= 0)
        if age is not None:
            ok &= (ev_t - t.time_end[np.maximum(k, 0)]) <= age
        if not ok.any():
            continue
        sel_rows = xr.DataArray(rows[ok], dims="event")
        sel_k = xr.DataArray(k[ok], dims="event")
        picked = t.ds[cols].isel(asset=sel_rows, time=sel_k).compute()
        for c in cols:
            values[c][idx[ok]] = picked[c].values
        p_start[idx[ok]] = t.time[k[ok]].astype("datetime64[ns]")
        p_end[idx[ok]] = t.time_end[k[ok]].astype("datetime64[ns]")
    out = ev.copy()
    out["feature_period_start"] = pd.DatetimeIndex(p_start).tz_localize("UTC")
    out["feature_period_end"] = pd.DatetimeIndex(p_end).tz_localize("UTC")
    out["feature_snapshot"] = snaps
    for c in out_cols:
        out[c] = values[c]
    if not out_cols:
        # nothing was known at any event time: still name the columns asked for
        for n in names:
            out[n] = np.nan
    return out


# ---------------------------------------------------------------------------
# versioned definitions
# ---------------------------------------------------------------------------
_HISTORY_COLUMNS = ["feature", "version", "hash", "change", "recorded_at", "snapshot", "spec"]


def definition_history(name: str | None = None, store=None) -> pd.DataFrame:
    """Recorded versions of definitions (all, or of ``name``), oldest first.

    Columns: ``feature``, ``version``, ``hash``, ``change`` (``created``,
    ``meaning``, ``metadata``), ``recorded_at``, ``snapshot`` (the commit
    that recorded it) and ``spec`` (the whole definition, JSON).
    """
    lake = _lake(store)
    frames = []
    # the tables of the group, with the commits that wrote them
    tables = lake.tables(DEFINITIONS_GROUP)
    for tname, frame in tables.items():
        frames.append(frame.assign(table=tname))
    if not frames:
        out = pd.DataFrame(columns=_HISTORY_COLUMNS)
    else:
        out = pd.concat(frames, ignore_index=True).sort_values(["recorded_at", "table"],
                                                               ignore_index=True)
        out = out[_HISTORY_COLUMNS]
    if name is not None:
        out = out[out.feature == name].reset_index(drop=True)
    return out


def record_definitions(catalog=None, store=None, *, message: str | None = None
                       ) -> pd.DataFrame:
    """Record the current definitions in the lake's history; return what changed.

    For each definition, compared with its last recorded spec:

    * new → recorded as ``created`` with its YAML version;
    * meaning changed (its hash) → a **new version** ``max(yaml version, last
      + 1)``, ``change="meaning"`` (it needs a rebuild: :func:`sync`);
    * only description, owner, tags, levels or minimum coverage changed →
      same version, ``change="metadata"``;
    * unchanged → nothing.

    One commit (``kind: definitions``) holds the changed rows; none when
    nothing changed. Returns the changed rows (columns as
    :func:`definition_history`).
    """
    from .features.definitions import classify_change, definition_spec, load_catalog
    from .lake import new_run_id

    lake = _lake(store)
    cat = catalog if catalog is not None and not isinstance(catalog, str | os.PathLike) \
        else load_catalog(catalog)
    hist = definition_history(store=lake)
    last = {r.feature: r for r in hist.itertuples()}
    now = pd.Timestamp.now(tz="UTC")
    rows = []
    for name, d in cat.items():
        spec = definition_spec(d, cat)
        prev = last.get(name)
        old = json.loads(prev.spec) if prev is not None else None
        change = classify_change(old, spec)
        if change == "none":
            continue
        if change == "meaning":
            spec["version"] = max(int(d.version), int(prev.version) + 1)
        elif change == "metadata":
            spec["version"] = int(prev.version)
        rows.append({"feature": name, "version": int(spec["version"]), "hash": d.hash,
                     "change": change, "recorded_at": now.isoformat(), "snapshot": "",
                     "spec": json.dumps(spec, sort_keys=True)})
    frame = pd.DataFrame(rows, columns=_HISTORY_COLUMNS)
    if frame.empty:
        return frame
    run_id = new_run_id("definitions")
    from .lineage import stamp

    meta = stamp("definitions", inputs=[lake.tip()],
                 definitions={r["feature"]: r["hash"] for r in rows},
                 params={"changes": {r["feature"]: r["change"] for r in rows}},
                 outputs=[f"{DEFINITIONS_GROUP}/{run_id}"])
    with lake.transaction(message or f"definitions: {len(rows)} change(s)", meta) as tx:
        tx.write_table(DEFINITIONS_GROUP, run_id, frame, {"kind": "definitions"})
    frame["snapshot"] = tx.snapshot
    return frame


def versioned_catalog(catalog=None, store=None):
    """The current catalog with each definition's version set to its recorded one.

    A meaning change that the YAML did not bump still builds as a new version.
    """
    from .features.definitions import FeatureCatalog, load_catalog

    cat = catalog if catalog is not None and not isinstance(catalog, str | os.PathLike) \
        else load_catalog(catalog)
    hist = definition_history(store=store)
    byhash = {(r.feature, r.hash): int(r.version) for r in hist.itertuples()}
    return FeatureCatalog([replace(d, version=byhash.get((n, d.hash), d.version))
                           for n, d in cat.items()])


def sync(catalog=None, store=None, *, registry=None, levels: Sequence[str] | None = None,
         cadence: str | None = None, quality: bool = True, rebuild: bool = True) -> dict:
    """Record definition changes and rebuild the features whose meaning changed.

    Features never built are built too, from ``cadence`` (default: that of
    the last build, else ``1min``). The build commit carries a lineage
    :func:`~pumplib.lineage.stamp` (run id, versions, definition hashes,
    upstream snapshot). Returns ``{"changes": DataFrame, "rebuilt": [names],
    "snapshot": build snapshot or None}``.
    """
    from .features import build_lake
    from .lineage import stamp

    lake = _lake(store)
    changes = record_definitions(catalog, lake)
    cat = versioned_catalog(catalog, lake)
    built: dict[str, str] = {}
    for c in lake.log():
        if c.metadata.get("kind") == "features":
            cadence = cadence or c.metadata.get("cadence")
            for n, h in (c.metadata.get("definition_hashes") or {}).items():
                built.setdefault(n, h)
    if cadence is None:
        cads = lake.cadences()
        cadence = "1min" if "1min" in cads else (cads[0] if cads else None)
    todo = [n for n, d in cat.items() if built.get(n) != d.hash]
    snap = None
    if rebuild and todo:
        registry = _registry_for(cat, todo, registry)
        tz = None if registry is None else registry.utility.get("timezone")
        meta = stamp("features", inputs=[lake.tip()], definitions={n: cat[n].hash for n in todo},
                     params={"reason": "definition change", "features": todo})
        meta.pop("kind")
        snap = build_lake(lake, cat, levels, features=todo, registry=registry, timezone=tz,
                          cadence=cadence, quality=quality, message=f"features rebuild: {', '.join(todo)}",
                          metadata=meta)
    return {"changes": changes, "rebuilt": todo if snap else [], "snapshot": snap}


def _registry_for(cat, names: Sequence[str], registry):
    """``registry``, or the default one when a feature to build uses asset attributes
    (``rated.*``, ``tariff.price`` …): without it they would be NaN."""
    if registry is not None:
        return registry
    from .features.expr import ATTRIBUTES

    for n in cat.closure(names):
        d = cat[n]
        used = set(d.compiled.parsed.names) if d.compiled is not None else set()
        if d.compiled_condition is not None:
            used |= set(d.compiled_condition.parsed.names)
        if used & set(ATTRIBUTES):
            from .assets import AssetRegistry

            return AssetRegistry.load()
    return None


def builds(name: str, store=None, *, _log=None, _history=None) -> pd.DataFrame:
    """Feature-build commits that wrote ``name``, newest first: snapshot, time, hash,
    version (from the stored column attributes), raw snapshot, levels."""
    lake = _lake(store)
    rows = []
    version_of: dict[str, int | None] = {}
    recorded = definition_history(name, lake) if _history is None else \
        _history[_history.feature == name]
    for r in recorded.itertuples():
        version_of.setdefault(r.hash, int(r.version))
    for c in (lake.log() if _log is None else _log):
        m = c.metadata
        if m.get("kind") != "features" or name not in (m.get("definition_hashes") or {}):
            continue
        h = m["definition_hashes"][name]
        levels = [lv for lv in m.get("levels", []) if not str(lv).startswith("_")]
        if h not in version_of:
            version_of[h] = _stored_version(lake, c.snapshot, name, levels)
        rows.append({"snapshot": c.snapshot, "written_at": c.written_at, "hash": h,
                     "version": version_of[h], "raw_snapshot": m.get("raw_snapshot"),
                     "cadence": m.get("cadence"), "quality": m.get("quality", True),
                     "levels": levels})
    return pd.DataFrame(rows, columns=["snapshot", "written_at", "hash", "version",
                                       "raw_snapshot", "cadence", "quality", "levels"])


def _stored_version(lake, snapshot: str, name: str, levels: Sequence[str]) -> int | None:
    for lv in levels:
        t = _table(lake, snapshot, lv)
        if t is None:
            continue
        for c in t.by_feature.get(name, []):
            v = t.ds[c].attrs.get("version")
            if v is not None:
                return int(v)
    return None


def versions(name: str, store=None) -> pd.DataFrame:
    """One row per version of a feature: hash, change, first and last build snapshot.

    From the recorded history (:func:`record_definitions`) and, for versions
    built before any record, the builds' stored column attributes.
    """
    lake = _lake(store)
    hist = definition_history(name, lake)
    b = builds(name, lake)
    rows: dict[str, dict] = {}
    for r in hist.itertuples():
        row = rows.setdefault(r.hash, {"version": int(r.version), "hash": r.hash,
                                       "change": r.change, "recorded_at": r.recorded_at,
                                       "spec": r.spec})
        row["spec"] = r.spec                       # the latest metadata of that version
        if r.change == "metadata":
            row["change"] = f"{row['change']}+metadata"
    for r in b.itertuples():
        row = rows.setdefault(r.hash, {"version": r.version, "hash": r.hash,
                                       "change": "built", "recorded_at": None, "spec": None})
        row.setdefault("last_build", r.snapshot)
        row["first_build"] = r.snapshot
        row["raw_snapshot"] = row.get("raw_snapshot", r.raw_snapshot)
    if not rows:
        raise UnknownNameError(f"feature {name!r} has no recorded version and no build in "
                               f"{lake.url}")
    out = pd.DataFrame(list(rows.values()))
    for c in ("first_build", "last_build", "raw_snapshot"):
        if c not in out:
            out[c] = None
    return out.sort_values("version", ignore_index=True)[
        ["version", "hash", "change", "recorded_at", "first_build", "last_build",
         "raw_snapshot", "spec"]]


def version_diff(name: str, store=None) -> str:
    """Every version of a feature with a readable diff against the one before it."""
    from .features.definitions import diff_specs

    hist = definition_history(name, store)
    if hist.empty:
        v = versions(name, store)
        return "\n".join(f"v{r.version} #{r.hash} (built {r.last_build}; definition text "
                         "not recorded)" for r in v.itertuples())
    lines, prev = [], None
    for r in hist.itertuples():
        spec = json.loads(r.spec)
        lines.append(f"v{r.version} #{r.hash} — {r.change}, recorded {r.recorded_at}")
        aggs = spec.get("aggregations") or {}
        same = len({json.dumps(v) for v in aggs.values()}) == 1
        shown = {**spec, "aggregations": next(iter(aggs.values())) if same else aggs}
        body = diff_specs(prev, spec) if prev is not None else [
            f"  {k}: {shown[k]}" for k in ("expression", "condition", "inputs", "aggregations",
                                           "unit", "description") if shown.get(k) is not None]
        lines.extend(f"  {x}" if not x.startswith("  ") else x for x in body)
        prev = spec
    return "\n".join(lines)


def snapshot_for_version(name: str, version: int, store=None, *, level: str | None = None
                         ) -> str:
    """The last build snapshot that holds ``version`` of feature ``name``."""
    b = builds(name, store)
    if level is not None and len(b):
        b = b[np.array([level in lv for lv in b.levels], dtype=bool)]
    hit = b[b.version == int(version)]
    if hit.empty:
        raise UnknownNameError(f"feature {name!r} has no build of this version"
                               + (f" at level {level!r}" if level else "") + ". "
                               + choices_message("version", version,
                                                 sorted({int(v) for v in b.version.dropna()})))
    return str(hit.iloc[0].snapshot)


def rebuild(name: str, version: int | None = None, store=None, *, levels=None, registry=None,
            catalog=None) -> dict[str, xr.Dataset]:
    """Recompute a stored version of a feature from the raw snapshot its build recorded.

    The definition comes from the recorded history (or, for a version never
    recorded, from ``catalog``/the current YAML when its hash matches); the
    raw data and quality flags are read at the build's ``raw_snapshot``; the
    result is computed now, in memory, with the builder's block engine (as
    the main job builds), and equals the stored values bit for bit.
    """
    from .features import build
    from .features.definitions import catalog_from_specs, load_catalog
    from .quality import open_quality

    lake = _lake(store)
    b = builds(name, lake)
    if b.empty:
        raise UnknownNameError(f"feature {name!r} was never built in {lake.url}")
    row = b.iloc[0] if version is None else b[b.version == int(version)].iloc[0] \
        if (b.version == int(version)).any() else None
    if row is None:
        raise UnknownNameError(choices_message("version", version,
                                               sorted({int(v) for v in b.version.dropna()})))
    meta = next(c.metadata for c in lake.log() if c.snapshot == row.snapshot)
    hashes = meta.get("definition_hashes", {})
    hist = definition_history(store=lake)
    specs = {}
    for r in hist.itertuples():
        if hashes.get(r.feature) == r.hash:
            specs[r.feature] = json.loads(r.spec)
    if name in specs:
        # the closure of the recorded spec (its upstream features, as recorded)
        todo = [name]
        while todo:
            n = todo.pop()
            for up, h in (specs[n].get("upstream") or {}).items():
                if up not in specs:
                    cand = hist[(hist.feature == up) & (hist.hash == h)]
                    if cand.empty:
                        raise LakeError(f"upstream feature {up!r} #{h} of {n!r} is not recorded")
                    specs[up] = json.loads(cand.iloc[-1].spec)
                    todo.append(up)
        cat = catalog_from_specs(list(specs.values()))
    else:
        cat = catalog if catalog is not None and not isinstance(catalog, str | os.PathLike) \
            else load_catalog(catalog)
        if name not in cat or cat[name].hash != row.hash:
            raise LakeError(f"the definition of {name!r} #{row.hash} is not recorded in "
                            f"{lake.url} and the current one differs; record definitions "
                            "with pumplib.store.record_definitions before changing them")
    wanted = list(levels) if levels is not None else list(row.levels)
    for lv in wanted:
        if lv not in row.levels:
            raise UnknownNameError(choices_message("level", lv, list(row.levels)))
    levels = list(row.levels)     # the build's own plan: coarser levels roll up from finer
    data = lake.open_raw(row.cadence, snapshot=row.raw_snapshot)
    flags = open_quality(lake, row.cadence, snapshot=row.raw_snapshot, like=data) \
        if row.quality else None
    t = _table(lake, row.snapshot, levels[0])
    tz = t.ds.attrs.get("timezone") if t is not None else None
    registry = _registry_for(cat, [name], registry)
    out = build(data, cat, levels, features=[name], registry=registry, timezone=tz,
                flags=flags, engine="blocks")
    return {lv: out[lv] for lv in wanted if lv in out}
