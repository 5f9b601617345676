"""Build golden tables: feature values at every level, with coverage, from raw data.

The builder takes a Dataset of raw canonical values on a regular UTC grid in
which bad samples are already NaN (``ds.pump.good(flags)`` makes one from the
lake and the quality flags), evaluates the feature expressions at the raw
cadence, and aggregates them with :mod:`pumplib.features.aggregations`: the
finest level from raw samples, every coarser level rolled up from finer
partials. Everything stays lazy when the input is dask-backed; nothing is
computed or written here.

Examples
--------
>>> import numpy as np, pandas as pd, xarray as xr
>>> t = pd.date_range("2026-03-29", periods=3 * 1440, freq="1min")
>>> run = np.r_[np.zeros(600), np.ones(3720)]
>>> ds = xr.Dataset({"run_state": (("asset", "time"), run[None])},
...                 coords={"asset": ["P1"], "time": t})
>>> cat = catalog_from_dicts([{"name": "running", "version": 1, "unit": "1",
...     "inputs": ["run_state"], "expression": "run_state", "aggregations": ["starts", "duration"],
...     "levels": ["1h", "1D"]}])
>>> out = build(ds, cat, timezone="Europe/Amsterdam")
>>> out["1D"].running_starts.values.tolist(), out["1D"].running_duration.values.tolist()
([[1.0, 0.0, 0.0, 0.0]], [[43200.0, 86400.0, 86400.0, 7200.0]])
>>> out["1D"].running_coverage.values.round(3).tolist()   # 29 Mar has 23 h, data from 01:00
[[0.957, 1.0, 1.0, 0.083]]
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import xarray as xr

from .. import config
from ..errors import ConfigError, PumplibError, SchemaError, UnknownNameError, choices_message
from . import aggregations as A
from .definitions import FeatureCatalog, FeatureDefinition, catalog_from_dicts, load_catalog
from .expr import ATTRIBUTES

__all__ = ["PARTIALS_GROUP", "affected_range", "build", "build_lake", "catalog_from_dicts",
           "evaluate_features", "history", "incremental_context",
           "features_frame", "materialize", "write_tables"]


def _attribute_values(name: str, assets: Sequence[str], registry) -> xr.DataArray:
    ns, key = name.split(".")
    vals = []
    for a in assets:
        v = np.nan
        if registry is not None and a in registry.assets:
            asset = registry.assets[a]
            if ns == "station":
                v = registry.stations[asset.station].get(key, np.nan)
            else:
                v = dict(getattr(asset, ns)).get(key, np.nan)
        vals.append(float(v) if v is not None else np.nan)
    return xr.DataArray(np.array(vals), coords={"asset": list(assets)}, dims=("asset",),
                        attrs={"units": ATTRIBUTES[name]})


def _tariff_price(template: xr.DataArray, registry, timezone: str) -> xr.DataArray:
    """Price per kWh of each asset's station tariff at every sample (NaN if unknown)."""
    times = pd.DatetimeIndex(template["time"].values)
    assets = [str(a) for a in template["asset"].values]
    holidays = registry.holidays if registry is not None else ()

    def prices(tariff):
        if tariff is None:
            return None
        if hasattr(template.data, "dask"):
            import dask.array as da

            tchunks = template.chunks[template.dims.index("time")]
            t = da.from_array(times.as_unit("ns").asi8, chunks=(tchunks,))
            return t.map_blocks(
                lambda b: tariff.price(pd.to_datetime(b, unit="ns"), timezone, holidays),
                dtype=np.float64)
        return tariff.price(times, timezone, holidays)

    rows = []
    seen: dict[int, object] = {}          # one price series per tariff, not per asset
    for a in assets:
        tariff = registry.tariff_of(a) if registry is not None and a in registry.assets else None
        if id(tariff) not in seen:
            seen[id(tariff)] = prices(tariff)
        p = seen[id(tariff)]
        rows.append(p if p is not None else np.full(len(times), np.nan))
    if hasattr(template.data, "dask"):
        import dask.array as da

        data = da.stack([da.asarray(r) for r in rows])
    else:
        data = np.stack(rows)
    return xr.DataArray(data, coords={"asset": template["asset"], "time": template["time"]},
                        dims=("asset", "time"), attrs={"units": ATTRIBUTES["tariff.price"]})


def _step_seconds(ds: xr.Dataset) -> int:
    return A.Grid.from_times(ds["time"].values).dt


def evaluate_features(ds: xr.Dataset, catalog: FeatureCatalog, names: Iterable[str] | None = None,
                      *, registry=None, timezone: str | None = None) -> xr.Dataset:
    """Feature values at the raw cadence, plus ``<name>__good`` coverage masks.

    Values are NaN where an input is missing, the condition does not hold or
    the expression is undefined (a division by zero). ``__good`` is True
    where every data input of the expression and condition is good (for an
    input feature: where *its* inputs are good), so a pump standing still
    (condition false) is covered, while a sensor gap is not. Signals absent
    from ``ds`` are treated as entirely missing (coverage 0).
    """
    out: dict[str, xr.DataArray] = {}
    for name, value, good in iter_features(ds, catalog, names, registry=registry,
                                           timezone=timezone):
        out[name] = value
        out[f"{name}__good"] = good
    return xr.Dataset(out)


class _FeatureEvaluator:
    """Evaluates the features of ``catalog`` on one Dataset ``ds`` of raw signals, one
    feature at a time, from the values of its input features; the raw signals, asset
    attributes, tariff prices and each signal's not-null mask are made once and shared
    (by every feature and every thread that evaluates with it)."""

    def __init__(self, ds: xr.Dataset, catalog: FeatureCatalog, registry, timezone: str):
        self.ds, self.catalog, self.registry, self.timezone = ds, catalog, registry, timezone
        self.step = _step_seconds(ds)
        self.template = next(iter(ds.data_vars.values())).transpose("asset", "time")
        self.assets = [str(a) for a in ds["asset"].values]
        self._env: dict[str, object] = {}
        self._notnull: dict[str, xr.DataArray] = {}
        self._lock = threading.Lock()
        self._locks: dict[str, object] = {}

    def _once(self, cache: dict, key: str, make: Callable[[], object]):
        """``cache[key]``, made by ``make()`` by the first thread that asks for it."""
        if key in cache:
            return cache[key]
        with self._lock:
            lock = self._locks.setdefault(f"{id(cache)}:{key}", threading.Lock())
        with lock:
            if key not in cache:
                cache[key] = make()
        return cache[key]

    def lookup(self, name: str):
        """A raw signal, asset attribute or tariff price (a signal not in the data: NaN)."""
        ds, template = self.ds, self.template
        if name == "tariff.price":
            make = functools.partial(_tariff_price, template, self.registry, self.timezone)
        elif name in ATTRIBUTES:
            make = functools.partial(_attribute_values, name, self.assets, self.registry)
        elif name in ds.data_vars:
            def make():
                return ds[name].transpose("asset", "time")
        else:
            def make():
                return xr.full_like(template, np.nan, dtype=np.float64)
        return self._once(self._env, name, make)

    def _good(self, used, out: Mapping) -> xr.DataArray:
        """Good where every data input is good (a feature input: where its inputs are)."""
        good = None
        for n in sorted(used):
            if n in out:
                g = out[f"{n}__good"]
            elif n not in ATTRIBUTES:        # one mask per signal, shared by features
                g = self._once(self._notnull, n, lambda n=n: self.lookup(n).notnull())
            else:
                continue
            good = g if good is None else good & g
        return xr.ones_like(self.template, dtype=bool) if good is None else good

    def evaluate(self, name: str, out: Mapping) -> tuple[xr.DataArray, xr.DataArray]:
        """Feature ``name``'s values and good mask; ``out`` holds the values (``<n>``)
        and good masks (``<n>__good``) of its input features."""
        d = self.catalog[name]
        used = set(d.compiled.names)
        attrs_used = sorted((used | set(getattr(d.compiled_condition, "names", ())))
                            & set(ATTRIBUTES))
        if attrs_used and self.registry is None:
            raise SchemaError(f"{d.source}: key {d.key + 'expression'!r}: feature {name!r} uses "
                              f"asset attributes {attrs_used}; pass registry= (an "
                              "AssetRegistry, e.g. AssetRegistry.load())")
        local = {n: (out[n] if n in out else self.lookup(n)) for n in d.compiled.names}
        value = d.compiled.evaluate(local, self.step, to=d.unit)
        if d.compiled_condition is not None:
            used |= set(d.compiled_condition.names)
            clocal = {n: (out[n] if n in out else self.lookup(n))
                      for n in d.compiled_condition.names}
            cond = d.compiled_condition.evaluate(clocal, self.step)
            value = value.where(cond > 0.5)
        good = self._good(used, out)
        value = value.transpose("asset", "time").astype(np.float64, copy=False)
        if value is local.get(d.expression.strip()):   # a bare input: keep the input intact
            value = value.copy(deep=False)
        value.attrs = {"units": d.unit, "feature": d.name, "definition_hash": d.hash}
        return value, good.transpose("asset", "time")


def iter_features(ds: xr.Dataset, catalog: FeatureCatalog, names: Iterable[str] | None = None,
                  *, registry=None, timezone: str | None = None):
    """:func:`evaluate_features` one feature at a time, in dependency order: yields
    ``(name, values, good)`` as soon as a feature is evaluated (its inputs before it),
    so a caller can aggregate one feature while the next is evaluated."""
    timezone = config.get("utility.timezone", override_with=timezone)
    names = catalog.closure(names if names is not None else list(catalog))
    ev = _FeatureEvaluator(ds, catalog, registry, timezone)
    out: dict[str, xr.DataArray] = {}
    # each value is released once the last feature that uses it is evaluated (the caller
    # keeps what it needs): a block's working set stays a few features, not all of them
    last_use: dict[str, int] = {}
    for i, name in enumerate(names):
        d = catalog[name]
        for n in (*d.compiled.names, *getattr(d.compiled_condition, "names", ())):
            last_use[n] = i
    for i, name in enumerate(names):
        for n in [n for n in out if not n.endswith("__good") and last_use.get(n, -1) < i]:
            del out[n], out[f"{n}__good"]
        value, good = ev.evaluate(name, out)
        out[name], out[f"{name}__good"] = value, good
        yield name, value, good


def build(data, catalog: FeatureCatalog | str | None = None, levels: Sequence[str] | None = None,
          *, features: Iterable[str] | None = None, registry=None, timezone: str | None = None,
          cadence: str | None = None, changed: tuple | None = None, partials: bool = False,
          store=None, engine: str = "dask", flags: xr.Dataset | None = None,
          emit: Callable[[str, xr.Dataset], None] | None = None) -> dict[str, xr.Dataset]:
    """Golden tables: every feature at every level, each value with its coverage.

    Parameters
    ----------
    data : xarray.Dataset or pumplib.lake.Lake
        Raw canonical values, dims ``(asset, time)`` on a regular UTC grid,
        bad samples already NaN. A Lake is opened with ``open_raw(cadence)``.
    catalog : FeatureCatalog or path, optional
        Default: :func:`~pumplib.features.definitions.load_catalog`.
    levels : sequence of str, optional
        Default: the ``levels`` setting. A feature appears at the levels it
        declares among these; levels finer than the data's cadence are left out.
    features : iterable of str, optional
        Build only these (their inputs are evaluated but not aggregated).
    registry : AssetRegistry, optional
        Asset attributes (``rated.*``, ``curve.*``, …) and tariffs; needed by
        features that use them (else those are NaN).
    timezone : str, optional
        Default: the ``utility.timezone`` setting.
    changed : (start, end), optional
        Incremental build: only the periods that contain raw data changed in
        ``[start, end)`` (UTC; appended days or late data) at any of
        ``levels`` — a new day touches its minutes, hours, the day, its week
        and its month. They are computed from the raw data of those periods
        plus :data:`INCREMENTAL_CONTEXT` before (the state before a start)
        and one sample after (linear interpolation), and equal a full build;
        ``write_tables`` merges them into the stored levels. Expressions with
        ``integral()`` (cumulative from the first sample) or windows and lags
        longer than the context are not incremental.

        With ``store`` (a Lake holding the day partials of an earlier build,
        see ``partials``) the raw data read shrink to the changed days: their
        minutes, quarter-hours, hours and day partials are computed from raw
        samples (plus, for expressions that look back, a short context before:
        :func:`incremental_context`),
        and the day, week and month values are finalized and rolled up from
        the stored day partials with the new days spliced in. Where the
        context holds no good value of a feature counting starts (a sensor gap
        longer than it), the state before the gap comes from the stored day
        partials, so a start across the gap counts as in a full build. Without them
        (first build, a changed definition), every affected period is
        computed from raw data as above.
    partials : bool
        Also return the day partials of every feature with a calendar level,
        under the key :data:`PARTIALS_GROUP` (``write_tables`` stores them as
        ``features/_partials/1D``); :func:`build_lake` sets it.
    store : pumplib.lake.Lake, optional
        Where the day partials of earlier builds are read (default: ``data``
        when it is a Lake).
    flags : xarray.Dataset, optional
        Quality flags of ``data`` (``pumplib.quality.open_quality``): only
        good samples enter (``quality.good``), applied block by block.
    engine : {"dask", "blocks"}
        ``"dask"`` (default): lazy when ``data`` is dask-backed, nothing is
        computed here. ``"blocks"``: computed now, eagerly, over blocks of all
        assets × whole local days on a thread pool, read straight from the
        lake (several times faster; :func:`build_lake` uses it); it falls
        back to ``"dask"`` for ``integral()`` expressions, raw-only
        aggregations above 1D and zones whose hours straddle local midnight.
        A feature that is one raw signal read straight from the lake (no
        condition, no unit conversion, no flags) skips the blocks: each raw
        chunk is decoded once and reduced to 1-minute partials by a compiled
        kernel (:mod:`pumplib.features.kernels`), bit for bit the same values.
    emit : callable, optional
        Called with ``(level, table)`` as soon as a table is complete, before
        the others are (an incremental build's minutes, quarter hours and hours
        come before its days, weeks and months): :func:`build_lake` writes them
        meanwhile. The returned dict holds every table either way. When
        ``emit`` also has a ``prepare(level, assets, times, time_ends)`` method
        (epoch seconds; the lake writer has), an incremental build announces
        every table's periods as soon as the raw data are read, so the stored
        arrays grow while it computes.

    Returns
    -------
    dict level -> xarray.Dataset
        Variables ``<feature>_<aggregation>`` (``duration=2`` → ``duration_2``;
        masked where coverage is below
        the definition's ``min_coverage``) and ``<feature>_coverage``; dims
        ``(asset, time)``, ``time`` the period start in UTC and ``time_end``
        its end. Lazy when ``data`` is.
    """
    if not isinstance(data, xr.Dataset):
        if hasattr(data, "open_raw"):
            store = data if store is None else store
            data = data.open_raw(cadence)
        else:
            raise SchemaError(f"build() needs an xarray Dataset or a Lake, got "
                              f"{type(data).__name__}")
    if catalog is None or isinstance(catalog, str):
        catalog = load_catalog(catalog)
    timezone = config.get("utility.timezone", override_with=timezone)
    levels = list(levels if levels is not None else config.get("levels"))
    for lv in levels:
        if lv not in A.LEVELS:
            raise UnknownNameError(choices_message("level", lv, A.LEVELS))
    wanted = list(features) if features is not None else list(catalog)
    for w in wanted:
        catalog[w]  # noqa: B018 - raises with the valid choices
    grid = A.Grid.from_times(data["time"].values)
    levels = [lv for lv in levels if A.FIXED_LEVELS.get(lv, 10**9) >= grid.dt]
    keep = None
    if engine not in ("dask", "blocks"):
        raise UnknownNameError(choices_message("engine", engine, ("dask", "blocks")))
    if changed is None and engine == "blocks":
        res = _build_blocks(data, catalog, wanted, levels, registry, timezone, partials,
                            flags)
        if res is not None:
            return res
    if changed is not None and store is not None:
        inc = _build_incremental(data, catalog, wanted, levels, registry, timezone,
                                 _epoch_pair(changed), store, partials, flags, emit, grid)
        if inc is not None:
            return inc
    if flags is not None:
        from ..quality import good

        attrs = dict(data.attrs)
        data = good(data, flags)
        data.attrs = attrs
    if changed is not None:
        used = sorted({lv for w in wanted for lv in catalog[w].levels if lv in levels})
        keep = affected_range(changed[0], changed[1], used or levels, timezone)
        ctx = int(pd.Timedelta(INCREMENTAL_CONTEXT).total_seconds())
        i0 = max(0, (keep[0] - ctx - grid.t0) // grid.dt)
        i1 = min(grid.n, -(-(keep[1] - grid.t0) // grid.dt) + 1)
        if i1 - i0 < 2:
            return {}
        data = data.isel(time=slice(int(i0), int(i1)))
        grid = A.Grid.from_times(data["time"].values)
    values = evaluate_features(data, catalog, wanted, registry=registry, timezone=timezone)
    tables: dict[str, dict[str, xr.Variable]] = {lv: {} for lv in [*levels, PARTIALS_GROUP]}
    coords: dict[str, dict] = {}
    for name in wanted:
        d = catalog[name]
        lvs = [lv for lv in levels if lv in d.levels]
        if not lvs:
            continue
        res, days = _aggregate_feature(d, values[name], values[f"{name}__good"], grid, lvs,
                                       timezone)
        for lv, vals in res.items():
            coords[lv] = {"time": vals.pop("time"), "time_end": ("time", vals.pop("time_end"))}
            tables[lv].update(vals)
        if partials and days is not None:
            coords[PARTIALS_GROUP] = {"time": days.times, "time_end": (
                "time", A.times_ns(days.bounds[1:]))}
            tables[PARTIALS_GROUP].update(_partial_columns(d, days))
    out = {}
    for lv in [*levels, PARTIALS_GROUP]:
        if lv not in coords:
            continue
        table = xr.Dataset(
            tables[lv], coords={"asset": data["asset"].values, **coords[lv]},
            attrs={"level": lv, "timezone": timezone, "step_seconds": grid.dt,
                   "definition_hashes": {n: catalog[n].hash for n in wanted},
                   **({"raw_snapshot": data.attrs["snapshot"]} if "snapshot" in data.attrs
                      else {})})
        if keep is not None:
            start = pd.DatetimeIndex(table["time"].values).as_unit("s").asi8
            end = pd.DatetimeIndex(table["time_end"].values).as_unit("s").asi8
            inside = np.flatnonzero((start >= keep[0]) & (end <= keep[1]))
            if len(inside) == 0:
                continue
            table = table.isel(time=slice(int(inside[0]), int(inside[-1]) + 1))
            table.attrs["changed"] = [int(changed_s) for changed_s in _epoch_pair(changed)]
        out[lv] = table
    return out


#: raw data read before the affected periods of an incremental build
INCREMENTAL_CONTEXT = "1D"
#: the least raw context before the changed days when day partials are stored and an
#: expression looks back, or a feature interpolates linearly or counts starts without
#: stored day partials (``features.incremental_context``); longer windows and lags
#: extend it
PARTIALS_CONTEXT = "1h"

_DURATION_RE = re.compile(r"""["']\s*([0-9.]+\s*[A-Za-z]+)\s*["']""")


def incremental_context(catalog: FeatureCatalog, names: Iterable[str]) -> int:
    """Seconds of raw data read before the changed days (an incremental build) or
    before each day block (a full build) for the expressions of ``names`` and their
    inputs: none when they only look at the sample at hand (no window, lag or
    difference, no function not declared pointwise: :attr:`.expr.Function.pointwise`);
    else the ``features.incremental_context`` setting (default 1 h) or the longest
    window or lag, rounded up to whole hours.

    Examples
    --------
    >>> cat = catalog_from_dicts([
    ...     {"name": "p", "version": 1, "unit": "kW", "inputs": ["power"],
    ...      "expression": "abs(power)", "aggregations": ["mean"]},
    ...     {"name": "r", "version": 1, "unit": "kW", "inputs": ["power"],
    ...      "expression": "rolling_mean(power, '90min')", "aggregations": ["mean"]}])
    >>> incremental_context(cat, ["p"]), incremental_context(cat, ["p", "r"])
    (0, 7200)
    """
    import ast

    from .expr import FUNCTIONS

    names = catalog.closure(names)
    looks_back = any(
        isinstance(node, ast.Call)
        and not getattr(FUNCTIONS.get(getattr(node.func, "id", "")), "pointwise", False)
        for n in names for c in (catalog[n].compiled, catalog[n].compiled_condition)
        if c is not None for node in ast.walk(c.parsed.tree))
    if not looks_back:
        return 0
    secs = _context_setting()
    for n in names:
        d = catalog[n]
        for text in (d.expression, d.condition or ""):
            for m in _DURATION_RE.findall(text):
                try:
                    secs = max(secs, pd.Timedelta(m.replace(" ", "")).total_seconds())
                except ValueError:
                    continue
    return int(-(-secs // 3600) * 3600)


def _context_setting() -> int:
    """The ``features.incremental_context`` setting in seconds, rounded up to whole hours."""
    secs = pd.Timedelta(config.get("features.incremental_context",
                                   PARTIALS_CONTEXT)).total_seconds()
    return int(-(-secs // 3600) * 3600)


def _stored_partials(store, names: Iterable[str]) -> xr.Dataset | None:
    """The stored day partials of ``names`` (in memory), or None when there are none."""
    if store is None or not hasattr(store, "session"):
        return None
    from ..lake import open_root

    root = open_root(store.session().store, "r")
    path = f"features/{PARTIALS_GROUP}"
    if path not in root:
        return None
    g = root[path]
    names = set(names)
    times = {n: A.times_ns(g[n][:])
             for n in ("time", "time_end")}
    coords = {"asset": np.asarray(g["asset"][:]).astype(object), "time": times["time"],
              "time_end": ("time", times["time_end"])}
    if VALUES in g:
        arr = g[VALUES]
        return _partials_dataset(coords, arr.attrs, names, lambda idx: arr.get_orthogonal_selection(
            (idx, slice(None), slice(None))))
    arrays = {k: a for k, a in g.arrays() if a.attrs.get("feature") in names}
    with ThreadPoolExecutor(_READ_THREADS) as ex:      # many small arrays: overlap latency
        values = dict(zip(arrays, ex.map(lambda a: a[:], arrays.values()), strict=True))
    return xr.Dataset({k: (("asset", "time"), values[k], dict(a.attrs))
                       for k, a in arrays.items()},
                      coords={"asset": np.asarray(g["asset"][:]).astype(object),
                              "time": times["time"], "time_end": ("time", times["time_end"])})


def _partials_dataset(coords: Mapping, attrs: Mapping, names: set, read) -> xr.Dataset:
    """The day partials of features ``names`` from a stacked partials array with
    attributes ``attrs`` (its ``columns`` and ``column_attrs``): ``read(indices)`` gives
    those columns' values (column, asset, day)."""
    cattrs = attrs.get("column_attrs", {}) or {}
    cols = [(i, c) for i, c in enumerate(attrs.get("columns", []))
            if cattrs.get(c, {}).get("feature") in names]
    if not cols:
        return xr.Dataset(coords=coords)
    block = read(np.array([i for i, _ in cols]))
    return xr.Dataset({c: (("asset", "time"), block[j], dict(cattrs[c]))
                       for j, (_, c) in enumerate(cols)}, coords=coords)


def _incremental_read(data, catalog, specs, levels, timezone, s, e, with_days, flags, grid):
    """The raw data an incremental build of the changed range ``[s, e)`` reads:
    ``(sub, periods that may change, changed days, fine periods)``; None when
    fewer than two samples. ``grid`` is data's."""
    fine = [lv for lv in levels if lv in A.FIXED_LEVELS]
    lin = any("lin_sum" in sp[3] for sp in specs.values())
    trans = any("trans" in sp[3] for sp in specs.values())
    dt = grid.dt
    # periods whose values may change: a changed sample also enters the previous
    # period's linear interpolation and the next period's start count
    ext = (max(grid.t0, s - dt) if lin else s, min(grid.end, e + dt) if trans else e)
    dayb = A.level_bounds("1D", s, e, timezone)
    d0, d1 = int(dayb[0]), int(dayb[-1])
    if fine:
        hb = A.level_bounds(max(fine, key=A.FIXED_LEVELS.get), ext[0], max(ext[1], ext[0] + 1),
                            timezone)
        h0, h1 = int(hb[0]), int(hb[-1])
    else:
        h0, h1 = d0, d1
    ctx = incremental_context(catalog, list(specs))
    if not ctx and (lin or any("trans" in sp[3] and n not in with_days
                               for n, sp in specs.items())):
        # the hour before a linear interpolation's redone periods, and the state before a
        # start where no stored day partials hold it, come from raw data
        ctx = _context_setting()
    lo = (min(d0, h0) if with_days else h0) - ctx
    hi = (max(d1, h1) if with_days else h1) + dt
    i0 = max(0, (lo - grid.t0) // dt)
    i1 = min(grid.n, -(-(hi - grid.t0) // dt))
    if i1 - i0 < 2:
        return None
    sub = _window_reader(data, _needed_signals(catalog, list(specs), data), flags)(i0, i1)
    return sub, ext, (d0, d1), (h0, h1)


def _build_incremental(data: xr.Dataset, catalog: FeatureCatalog, wanted: Sequence[str],
                       levels: Sequence[str], registry, timezone: str,
                       changed: tuple[int, int], store, partials: bool, flags=None,
                       emit=None, grid: A.Grid | None = None) -> dict[str, xr.Dataset] | None:
    """An incremental build that reads raw data of the changed days only (see
    :func:`build`); None when the stored day partials cannot serve it (then
    the caller recomputes every affected period from raw data). ``grid`` is data's
    (made from its time axis when not given)."""
    grid = grid if grid is not None else A.Grid.from_times(data["time"].values)
    s, e = max(changed[0], grid.t0), min(changed[1], grid.end)
    if e <= s:
        return {}
    fine = [lv for lv in levels if lv in A.FIXED_LEVELS]
    cal = [lv for lv in levels if lv in A.CALENDAR_LEVELS]
    specs = _block_specs(catalog, wanted, levels)  # None: integral() or unmergeable
    if specs is None:
        return None
    if not specs:
        return {}
    with_days = [n for n, sp in specs.items() if any(lv in cal for lv in sp[1])]
    # the stored day partials load while the raw days are read: through the commit's
    # transaction when the writer has it open (the group and axes it inspected already),
    # else on a thread, from a session of the store
    with ThreadPoolExecutor(1) as ex:
        from_writer = getattr(emit, "stored_partials", None)
        loading = (None if not with_days else
                   from_writer(with_days) if from_writer is not None
                   else ex.submit(_stored_partials, store, with_days))
        got = _incremental_read(data, catalog, specs, levels, timezone, s, e, with_days,
                                flags, grid)
        stored = loading.result() if loading is not None else None
    if with_days:
        if stored is None or [str(a) for a in stored["asset"].values] != \
                [str(a) for a in data["asset"].values]:
            return None
        by_feature: dict[str, dict] = {}
        for v in stored.variables.values():
            if "feature" in v.attrs:
                by_feature.setdefault(v.attrs["feature"], {})[v.attrs.get("field")] = \
                    v.attrs.get("definition_hash")
        for n in with_days:
            d, _, _, fields = specs[n]
            have = by_feature.get(n, {})
            if set(have) != set(fields) or set(have.values()) != {d.hash}:
                return None
    if got is None:
        return None
    sub, ext, (d0, d1), (h0, h1) = got
    sgrid = A.Grid.from_times(sub["time"].values)
    full_days = A.level_bounds("1D", grid.t0, grid.end, timezone)
    a = int(np.searchsorted(full_days, d0))
    b = int(np.searchsorted(full_days, d1))
    if with_days:
        st = _epoch_seconds(stored["time"].values)
        if len(st) < a or not np.array_equal(st[:a], full_days[:a]):
            return None                      # a hole between the stored and the new days
        after = full_days[b:-1]
        if len(st) > b and not np.array_equal(st[b:b + len(after)], after[:len(st) - b]):
            return None
        if len(st) > b and len(st) < len(full_days) - 1:
            return None                      # stored days end inside the later range
    for name in with_days:
        d, lvs, mergeable, _fields = specs[name]
        if "1D" in lvs and any(x not in mergeable for x in d.aggregations["1D"]):
            touched = np.flatnonzero((full_days[:-1] < ext[1]) & (full_days[1:] > ext[0]))
            if full_days[touched[0]] < d0 or full_days[touched[-1] + 1] > d1:
                return None                  # a raw-only value outside the changed days
    prepare = getattr(emit, "prepare", None)
    if prepare is not None:
        # every table's periods are known now: the stored levels grow while this computes
        assets = [str(x) for x in data["asset"].values]
        for lv in levels:
            if not any(lv in sp[1] for sp in specs.values()):
                continue
            if lv in fine:
                bounds = A.level_bounds(lv, h0, h1, timezone)
            else:
                bounds = full_days if lv == "1D" else A.level_bounds(lv, grid.t0, grid.end,
                                                                     timezone)
                hit = np.flatnonzero((bounds[:-1] < ext[1]) & (bounds[1:] > ext[0]))
                bounds = bounds[hit[0]:hit[-1] + 2]
            prepare(lv, assets, bounds[:-1], bounds[1:])
        if partials and with_days:
            prepare(PARTIALS_GROUP, assets, full_days[a:b], full_days[a + 1:b + 1])
    raw_levels = {n: [lv for lv in _plan_levels([lv for lv in sp[1] if lv in fine]
                                                + (["1D"] if n in with_days else []))
                      if lv in fine or lv == "1D"] for n, sp in specs.items()}
    # bare raw signals need no evaluation: the chunk kernel reduces the block read
    bare = {}
    for n, (d, lvs, mergeable, fields) in specs.items():
        sig = _bare_signal(catalog, sub, d, lvs, mergeable, fields)
        if sig is not None:
            roots = [lv for lv, src in A.plan(raw_levels[n], sgrid, timezone).items()
                     if src is None]
            if len(roots) == 1 and roots[0] in A.FIXED_LEVELS:
                bare[n] = sig
    # the day's work as a graph of tasks, all assets at a time: each feature is evaluated
    # once, as soon as the features it uses are (then aggregated by the worker that
    # evaluated it), each bare signal is reduced by the chunk kernel; one worker per core
    # takes the ready task with the longest chain of work behind it, so the workers end
    # within a few milliseconds of each other however the guessed work is off
    k = os.cpu_count() or 1
    evaluated = catalog.closure([n for n in specs if n not in bare])
    deps = {**{n: catalog[n].feature_inputs(catalog) for n in evaluated},
            **{f"\0{n}": [] for n in bare}}          # a bare signal's kernel task
    graph = _TaskGraph(deps, {**{n: _feature_work(catalog, n) for n in evaluated},
                              **{f"\0{n}": _BARE_WORK for n in bare}})
    evaluator = _FeatureEvaluator(sub, catalog, registry, timezone)
    values: dict[str, xr.DataArray] = {}     # evaluated features their dependents need

    hashes = {n: catalog[n].hash for n in wanted}
    attrs = {"timezone": timezone, "step_seconds": grid.dt, "definition_hashes": hashes,
             "changed": [int(changed[0]), int(changed[1])],
             "raw_read": [int(sgrid.t0), int(sgrid.end)],
             **({"raw_snapshot": data.attrs["snapshot"]} if "snapshot" in data.attrs else {})}

    k0 = max(0, (d0 - sgrid.t0) // sgrid.dt)     # steps read before the changed days

    def state_before(name, values):
        """``{"last": per asset}``: the last good value of feature ``name`` before the
        raw data read, where the steps read before the changed days hold none of it
        (a sensor gap longer than the context), from the stored day partials of the
        days before; None for a feature that counts no starts."""
        fields = specs[name][3]
        if "trans" not in fields or name not in with_days or a == 0:
            return None
        last = A._ffill(np.asarray(stored[f"{name}__{A.column_suffix('last')}"].values,
                                   dtype=np.float64)[..., :a])[..., -1]
        seen = np.isfinite(np.asarray(values)[..., :k0]).any(axis=-1)
        return {"last": np.where(seen, np.nan, last)}

    def fine_columns(name, res, put):
        """Feature ``name``'s minute, quarter-hour and hour columns from its aggregates
        ``res`` (raw-only values are in ``res`` already), cut to the changed days."""
        d, lvs, _mergeable, _fields = specs[name]
        for lv in lvs:
            if lv not in fine:
                continue
            cols = _columns(d, lv, res[lv], lambda lv_, a_, res=res: res[lv_][a_])
            t_s = _epoch_seconds(cols.pop("time"))
            e_s = _epoch_seconds(cols.pop("time_end"))
            idx = np.flatnonzero((t_s >= h0) & (e_s <= h1))
            cut = slice(int(idx[0]), int(idx[-1]) + 1)
            put(lv, {k: xr.Variable(v.dims, v.data[..., cut], v.attrs)
                     for k, v in cols.items()}, t_s[cut], e_s[cut], name)

    def calendar_columns(name, res, put):
        """Feature ``name``'s day, week, month and day-partial columns: the stored day
        partials with the new days of ``res`` spliced in, rolled up and finalized; False
        when the new day partials are not those days (the stored ones cannot serve)."""
        d, lvs, mergeable, fields = specs[name]
        new = res["1D"]["_partials"]
        j = int(np.searchsorted(new.bounds, d0))
        if not np.array_equal(new.bounds[j:j + b - a + 1], full_days[a:b + 1]):
            return False
        fresh = new.data[..., j:j + b - a]
        old = np.stack([stored[f"{name}__{A.column_suffix(f)}"].values for f in fields])
        parts = [old[..., :a], fresh, old[..., b:]]
        if A._is_dask(fresh):
            import dask.array as da

            combined = da.concatenate([da.from_array(p) if not A._is_dask(p) else p
                                       for p in parts], axis=-1)
        else:
            combined = np.concatenate(parts, axis=-1)
        days = A.Partials("1D", fields, combined, full_days, grid)
        if partials:
            put(PARTIALS_GROUP, _partial_columns(d, A.Partials("1D", fields, fresh,
                                                              full_days[a:b + 1], grid)),
                full_days[a:b], full_days[a + 1:b + 1], name)
        for lv in lvs:
            if lv in fine:
                continue
            p = days if lv == "1D" else A.rollup(days, lv, timezone)
            touched = np.flatnonzero((p.bounds[:-1] < ext[1]) & (p.bounds[1:] > ext[0]))
            cut = slice(int(touched[0]), int(touched[-1]) + 1)
            vals = {k: v[..., cut] for k, v in A.finalize(p, mergeable, d.interpolation).items()}
            t_s, e_s = p.bounds[:-1][cut], p.bounds[1:][cut]
            vals["time"], vals["time_end"] = t_s, e_s
            k = int(np.searchsorted(new.bounds, t_s[0]))
            day_raw = slice(k, k + len(t_s))      # raw-only values: the changed days

            def raw_day(lv, agg, res=res, day_raw=day_raw):
                return res[lv][agg][..., day_raw]

            cols = _columns(d, lv, vals, raw_day)
            cols.pop("time"), cols.pop("time_end")
            put(lv, cols, t_s, e_s, name)
        return True

    def aggregate(name, value, good):
        """Feature ``name``'s aggregates at its raw levels (medians and quantiles, from
        raw samples, included)."""
        d, _lvs, mergeable, _fields = specs[name]
        res = A.aggregate_array(value.data, sgrid, raw_levels[name], mergeable, timezone,
                                good.data, d.interpolation, keep_partials=("1D",),
                                before=state_before(name, value.data))
        for lv in raw_levels[name]:
            for agg in d.aggregations.get(lv, ()):
                if agg not in mergeable:
                    res[lv][agg] = A.raw_aggregate(value.data, sgrid, lv, agg, timezone)
        return res

    def run_tasks(_worker):
        """Take tasks off the graph until none is left: evaluate a feature (or reduce a
        bare signal), aggregate it and make its columns of every level, so that no raw
        values outlive it and its Python work overlaps the other workers' numeric work.
        Returns ``({level: {feature: {column: Variable}}}, {level: (period starts,
        ends)})`` (epoch seconds); None when the stored day partials cannot take the
        new days."""
        cols_of: dict[str, dict] = {}            # level -> feature -> its columns
        periods: dict[str, tuple] = {}
        put = functools.partial(_put_columns, cols_of, periods)
        try:
            while (task := graph.take()) is not None:
                if task.startswith("\0"):
                    name = task[1:]
                    d, _lvs, mergeable, fields = specs[name]
                    res = _kernel_aggregate(np.asarray(sub[bare[name]].values), sgrid,
                                            raw_levels[name], mergeable, fields, timezone,
                                            d.interpolation)
                    graph.done(task)
                else:
                    name = task
                    value, good = evaluator.evaluate(name, values)
                    if graph.dependents[name]:
                        values[f"{name}__good"], values[name] = good, value
                    for m in graph.done(name):   # no dependent left to evaluate
                        values.pop(m, None), values.pop(f"{m}__good", None)
                    if name not in specs or name in bare:
                        continue                 # evaluated for its dependents only
                    res = aggregate(name, value, good)
                    del value, good
                if name in with_days and not calendar_columns(name, res, put):
                    graph.fail()                 # the others stop: nothing is handed on
                    return None
                fine_columns(name, res, put)
        except BaseException:
            graph.fail()                         # the other workers stop waiting
            raise
        return cols_of, periods

    if bare:
        from .kernels import load

        load()                               # the kernels, before threads ask for them
    A._fused_partials(np.zeros((1, 2)), 2, None)
    workers = max(1, min(k, len(deps)))
    out: dict[str, xr.Dataset] = {}
    asset_values = data["asset"].values

    def hand_on(done, lvs):
        for lv in lvs:
            held = [blk for blk in done if lv in blk[1]]
            if not held:
                continue
            t_s, e_s = held[0][1][lv]
            columns = {}                     # in the catalog's order, whichever block
            for name in specs:
                for blk in held:
                    columns.update(blk[0][lv].get(name, {}))
            out[lv] = xr.Dataset(columns, coords={"asset": asset_values, "time": _ns(t_s),
                                                  "time_end": ("time", _ns(e_s))},
                                 attrs={"level": lv, **attrs})
            if emit is not None:
                emit(lv, out[lv])

    with ThreadPoolExecutor(workers) as ex:
        done = list(ex.map(run_tasks, range(workers)))
    if any(x is None for x in done):
        return None                          # before any table is handed on
    # the minutes, quarter hours and hours (the longest writes) first
    hand_on(done, [*[lv for lv in levels if lv in fine],
                   *[lv for lv in [*levels, PARTIALS_GROUP] if lv not in fine]])
    return out

# ---------------------------------------------------------------------------
# eager engine: large blocks (all assets × whole local days) read straight from the lake
# ---------------------------------------------------------------------------
#: values (assets × steps × signals) one block of the eager engine aims at
BLOCK_VALUES = 16_000_000


def _put_columns(cols_of: dict, periods: dict, lv: str, cols: Mapping, t_s, e_s,
                 name: str) -> None:
    """Add feature ``name``'s columns ``cols`` of level ``lv`` (periods ``t_s``/``e_s``,
    epoch seconds: every feature of a level has the same) to ``cols_of``/``periods``."""
    periods.setdefault(lv, (t_s, e_s))
    cols_of.setdefault(lv, {}).setdefault(name, {}).update(cols)


def _needed_signals(catalog: FeatureCatalog, names: Iterable[str], ds: xr.Dataset) -> list[str]:
    used: set[str] = set()
    for n in catalog.closure(names):
        d = catalog[n]
        used |= set(d.compiled.names)
        if d.compiled_condition is not None:
            used |= set(d.compiled_condition.names)
    return sorted(v for v in used if v in ds.data_vars)


def _direct_group(data: xr.Dataset, names: Sequence[str]):
    """``(zarr group raw/<cadence>, offset of data's first step)`` when the variables
    ``names`` of ``data`` were opened straight from a lake (``Lake.open_raw``) with the
    same assets; None otherwise."""
    store, snap = data.attrs.get("store"), data.attrs.get("snapshot")
    cad, origin = data.attrs.get("cadence"), data.attrs.get("origin")
    if not (store and snap and cad and origin is not None and all(
            getattr(getattr(data[n].data, "name", ""), "startswith", lambda _: False)(
                "open_dataset-") for n in names)):
        return None
    try:
        g, assets = _raw_group(store, snap, cad)
        step = int(g.attrs["step_seconds"])
        t0 = int(np.datetime64(data["time"].values[0], "s").astype(np.int64))
        off = (t0 - int(g.attrs["origin"])) // step
        if assets == [str(a) for a in data["asset"].values]:
            return g, off
    except (KeyError, ValueError, OSError, PumplibError):
        return None  # not a plain lake layout: the caller reads through xarray instead
    return None


@functools.lru_cache(maxsize=4)
def _raw_group(store: str, snapshot: str, cadence: str):
    """The zarr group ``raw/<cadence>`` of a lake at a snapshot, and its assets (a
    snapshot never changes: a build's several readers open it once, or take the group
    :meth:`~pumplib.lake.Lake.open_raw` opened)."""
    from ..lake import open_root, opened_grid, snapshot_session

    got = opened_grid(store, snapshot, f"raw/{cadence}")
    if got is not None:
        return got
    g = open_root(snapshot_session(store, snapshot).store, "r")[f"raw/{cadence}"]
    return g, [str(a) for a in g["asset"][:]]


def _window_reader(data: xr.Dataset, names: Sequence[str], flags: xr.Dataset | None = None):
    """``read(i0, i1)``: the numpy-backed Dataset of ``names`` over time steps ``[i0, i1)``.

    Variables opened straight from a lake (``Lake.open_raw``) are read with one
    zarr call per signal over all assets (zarr fetches and decodes the chunks
    concurrently); anything else goes through xarray.
    """
    direct = _direct_group(data, names)

    def read_raw(i0: int, i1: int) -> xr.Dataset:
        sub = data[list(names)].isel(time=slice(int(i0), int(i1)))
        if direct is None:
            import dask

            with dask.config.set(scheduler="synchronous"):
                return sub.load()
        g, off = direct

        def one(n):
            from .kernels import read_window

            return read_window(g[n], off + i0, off + i1)

        if len(names) > 1:           # one zarr call per signal; their fetches overlap
            with ThreadPoolExecutor(min(len(names), 2 * (os.cpu_count() or 1))) as ex:
                got = list(ex.map(one, names))
        else:
            got = [one(n) for n in names]
        arrays = {n: (("asset", "time"), x, data[n].attrs)
                  for n, x in zip(names, got, strict=True)}
        return xr.Dataset(arrays, coords=sub.coords, attrs=dict(data.attrs))

    if flags is None:
        return read_raw

    def read(i0: int, i1: int) -> xr.Dataset:
        import dask

        from ..quality import good

        blk = read_raw(i0, i1)
        have = [n for n in names if n in flags.data_vars]
        with dask.config.set(scheduler="synchronous"):
            fl = flags[have].isel(time=slice(int(i0), int(i1))).load()
        out = good(blk, fl)                 # NaN where a sample is not good
        out.attrs = dict(blk.attrs)
        return out
    return read


def _block_specs(catalog, wanted, levels):
    """Per feature: (definition, levels, mergeable aggregations, partial fields); None
    when a feature is cumulative from the first sample (``integral()``) or asks a
    week or month for an aggregation that does not merge."""
    specs = {}
    for name in wanted:
        d = catalog[name]
        lvs = [lv for lv in levels if lv in d.levels]
        if not lvs:
            continue
        if any("integral(" in catalog[n].expression.replace(" ", "")
               for n in catalog.closure([name])):
            return None
        if any(not A.get_aggregation(a, d.interpolation).mergeable
               for lv in lvs if lv in ("1W", "1M") for a in d.aggregations[lv]):
            return None
        mergeable = _mergeable(d, lvs)
        specs[name] = (d, lvs, mergeable, A.fields_for(mergeable, d.interpolation))
    return specs


def _run_blocks(data, catalog, specs, edges, grid, timezone, registry, workers=None,
                flags=None):
    """Partials (per feature, raw level) and raw-only values over consecutive blocks
    ``edges`` (time indices; each block boundary a boundary of every raw level),
    concatenated along time. Blocks run on a thread pool (numpy and zarr release
    the GIL); each reads its raw data plus :func:`incremental_context` before it,
    for windows, lags and diffs."""
    from concurrent.futures import ThreadPoolExecutor

    names = _needed_signals(catalog, list(specs), data)
    read = _window_reader(data, names, flags)
    ctx_n = incremental_context(catalog, list(specs)) // grid.dt
    raw_lvs = {n: [lv for lv in _plan_levels(sp[1]) if lv in A.FIXED_LEVELS or lv == "1D"]
               for n, sp in specs.items()}
    plans = {n: A.plan(lvs, grid, timezone) for n, lvs in raw_lvs.items()}

    def job(k):
        i0, i1 = int(edges[k]), int(edges[k + 1])
        r0 = max(0, i0 - ctx_n)
        blk = read(r0, i1)
        vals = evaluate_features(blk, catalog, list(specs), registry=registry,
                                 timezone=timezone)
        del blk
        bgrid = A.Grid(grid.t0 + i0 * grid.dt, grid.dt, i1 - i0)
        out = {}
        for name, (d, _lvs, mergeable, fields) in specs.items():
            v = np.asarray(vals[name].values)[..., i0 - r0:]
            g = np.asarray(vals[f"{name}__good"].values)[..., i0 - r0:]
            parts: dict[str, A.Partials] = {}
            for lv, src in plans[name].items():
                parts[lv] = (A.level_partials(v, bgrid, lv, fields, timezone, g) if src is None
                             else A.rollup(parts[src], lv, timezone))
            raws = {(lv, a): A.raw_aggregate(v, bgrid, lv, a, timezone)
                    for lv in raw_lvs[name] for a in d.aggregations.get(lv, ())
                    if a not in mergeable}
            out[name] = ({lv: (p.data, p.bounds) for lv, p in parts.items()}, raws)
        return out

    nblocks = len(edges) - 1
    workers = workers or min(nblocks, max(1, os.cpu_count() or 1))
    if workers > 1:
        with ThreadPoolExecutor(workers) as ex:
            results = list(ex.map(job, range(nblocks)))
    else:
        results = [job(k) for k in range(nblocks)]
    merged = {}
    for name, (_d, _lvs, _mergeable, fields) in specs.items():
        parts, raws = {}, {}
        for lv in raw_lvs[name]:
            data_ = np.concatenate([r[name][0][lv][0] for r in results], axis=-1)
            bounds = np.concatenate([results[0][name][0][lv][1]]
                                    + [r[name][0][lv][1][1:] for r in results[1:]])
            parts[lv] = A.Partials(lv, fields, data_, bounds, grid)
        for key in results[0][name][1]:
            raws[key] = np.concatenate([r[name][1][key] for r in results], axis=-1)
        merged[name] = (parts, raws)
    return merged


def _chunk_features(catalog, specs, data: xr.Dataset, grid: A.Grid, timezone: str,
                    flags=None) -> dict[str, tuple[str, str]]:
    """Features of ``specs`` the fused read-and-reduce path can build: name -> (raw
    signal, raw level). Such a feature is one raw signal read straight from the lake
    (no condition, no unit conversion, no quality flags to apply), its partial fields
    are those of :data:`~pumplib.features.kernels.FIELDS`, and its finest level is a
    fixed one from which the others roll up."""
    if flags is not None and _flag_group(data, flags) is None:
        return {}
    out: dict[str, tuple[str, str]] = {}
    plans: dict[tuple, dict] = {}
    for name, (d, lvs, mergeable, fields) in specs.items():
        sig = _bare_signal(catalog, data, d, lvs, mergeable, fields)
        if sig is None:
            continue
        key = tuple(_plan_levels(lvs))
        if key not in plans:
            plans[key] = A.plan(key, grid, timezone)
        raw = [lv for lv, src in plans[key].items() if src is None]
        if len(raw) == 1 and raw[0] in A.FIXED_LEVELS:
            out[name] = (sig, raw[0])
    if out and _direct_group(data, sorted({v[0] for v in out.values()})) is None:
        return {}
    return out


def _bare_signal(catalog, data: xr.Dataset, d: FeatureDefinition, lvs, mergeable,
                 fields) -> str | None:
    """The raw signal a feature is when it is one raw signal of ``data`` as it is (no
    condition, no unit conversion) with only partial fields the chunk kernel
    computes (:data:`~pumplib.features.kernels.FIELDS`); else None."""
    from .kernels import FIELDS

    sig = d.expression.strip()
    if (d.compiled_condition is not None or sig not in data.data_vars or sig in catalog
            or set(d.compiled.names) != {sig} or not set(fields) <= set(FIELDS)):
        return None
    if any(a not in mergeable for lv in lvs for a in d.aggregations.get(lv, ())):
        return None                            # a raw-only aggregation (median, quantile)
    try:
        if d.compiled.factor_to(d.unit) != (1.0, 0.0):
            return None
    except PumplibError:
        return None
    return sig


#: the guessed work of reducing one bare signal with the chunk kernel (see
#: :func:`_feature_work`: a few milliseconds, a small expression's evaluation)
_BARE_WORK = 4.0


def _feature_work(catalog, name: str) -> float:
    """The guessed work of evaluating and aggregating feature ``name``: the nodes of its
    expression, a condition's twice (masks and ``where``), medians and quantiles (they
    sort raw samples) and starts (they count transitions).

    Examples
    --------
    >>> from pumplib.features import catalog_from_dicts
    >>> cat = catalog_from_dicts([
    ...     {"name": "p2", "version": 1, "unit": "kW", "inputs": ["power"],
    ...      "expression": "power * 2", "aggregations": ["mean"]},
    ...     {"name": "f3", "version": 1, "unit": "m**3/h", "inputs": ["flow"],
    ...      "expression": "flow * 3", "aggregations": ["mean", "median"],
    ...      "levels": ["1min", "1h"]}])
    >>> _feature_work(cat, "f3") > _feature_work(cat, "p2")     # medians weigh more
    True
    """
    import ast

    d = catalog[name]
    aggs = d.aggregations.values()
    return (6.0 + sum(w * sum(1 for _ in ast.walk(c.parsed.tree))
                      for w, c in ((1.0, d.compiled), (2.0, d.compiled_condition))
                      if c is not None)
            + sum(12.0 for v in aggs if "median" in v or any(str(a).startswith("q") for a in v))
            + (15.0 if any("starts" in v for v in aggs) else 0.0))


class _TaskGraph:
    """Tasks with dependencies, taken by worker threads as they become ready: of the
    ready tasks, the one with the longest chain of work behind it (its own and its
    dependents') first, so a long chain of features starts early and the workers end
    close together.

    ``deps`` maps each task to the tasks it needs, in dependency order (a task after
    those it needs); ``weight`` guesses each task's work. A worker calls :meth:`take`
    until it returns None, and :meth:`done` as soon as a task's dependents may start;
    :meth:`fail` wakes every waiting worker when one of them failed.

    Examples
    --------
    >>> g = _TaskGraph({"head": [], "power": ["head"], "flow": []},
    ...                {"head": 1.0, "power": 1.0, "flow": 1.5})
    >>> g.take()                  # a chain of 2.0 before a single task of 1.5
    'head'
    >>> g.take(), g.done("head")  # power waits for head; head's dependents now evaluated: none
    ('flow', [])
    >>> g.take(), g.done("power"), g.take()
    ('power', ['head'], None)
    """

    def __init__(self, deps: Mapping[str, Sequence[str]], weight: Mapping[str, float]):
        self._cond = threading.Condition()
        self._deps = {n: list(d) for n, d in deps.items()}
        self._needs = {n: set(d) for n, d in deps.items()}
        self.dependents: dict[str, list[str]] = {n: [] for n in deps}
        for n, d in deps.items():
            for m in d:
                self.dependents[m].append(n)
        self._rank: dict[str, float] = {}
        for n in reversed(list(deps)):
            self._rank[n] = weight[n] + max((self._rank[m] for m in self.dependents[n]),
                                            default=0.0)
        self._users = {n: len(v) for n, v in self.dependents.items()}
        self._ready = [n for n, d in self._needs.items() if not d]
        self._untaken = len(deps)
        self._failed = False

    def take(self) -> str | None:
        """The next task, waiting while every untaken task waits on one in progress;
        None when every task is taken (or a worker failed)."""
        with self._cond:
            while not self._ready and self._untaken and not self._failed:
                self._cond.wait()
            if self._failed or not self._ready:
                return None
            n = max(self._ready, key=self._rank.__getitem__)
            self._ready.remove(n)
            self._untaken -= 1
            return n

    def done(self, name: str) -> list[str]:
        """Mark ``name`` done (its dependents may start); returns the tasks whose
        dependents are all done now (their results may be released)."""
        with self._cond:
            for m in self.dependents[name]:
                self._needs[m].discard(name)
                if not self._needs[m]:
                    self._ready.append(m)
            self._cond.notify_all()
            free = []
            for m in self._deps[name]:
                self._users[m] -= 1
                if not self._users[m]:
                    free.append(m)
            return free

    def fail(self) -> None:
        with self._cond:
            self._failed = True
            self._cond.notify_all()


def _ns(secs) -> np.ndarray:
    """Epoch seconds as ``datetime64[ns]`` values."""
    return np.asarray(secs, dtype=np.int64).astype("datetime64[s]").astype("datetime64[ns]")


def _epoch_seconds(times) -> np.ndarray:
    """Epoch seconds (int64) of datetime64 values or a DatetimeIndex."""
    a = np.asarray(times)
    if a.dtype.kind != "M":
        return np.asarray(pd.DatetimeIndex(times).as_unit("s").asi8)
    return a.astype("datetime64[s]").astype(np.int64)


def _kernel_aggregate(x: np.ndarray, grid: A.Grid, levels: Sequence[str],
                      mergeable: Sequence[str], fields, timezone: str, interpolation: str):
    """:func:`~pumplib.features.aggregations.aggregate_array` (with the day partials
    kept) of a bare raw signal already in memory: the finest level by the chunk
    kernel (:func:`~pumplib.features.kernels.array_partials`), the others rolled
    up; None when the finest level is not one fixed level."""
    from .kernels import array_partials, stack_fields

    plan = A.plan(levels, grid, timezone)
    roots = [lv for lv, src in plan.items() if src is None]
    if len(roots) != 1 or roots[0] not in A.FIXED_LEVELS:
        return None
    parts: dict[str, A.Partials] = {}
    out: dict[str, dict] = {}
    for lv, src in plan.items():
        if src is None:
            bounds = A.level_bounds(lv, grid.t0, grid.end, timezone)
            got = array_partials(x, A.grid_edges(bounds, grid), A.FIXED_LEVELS[lv] // grid.dt)
            parts[lv] = A.Partials(lv, fields, stack_fields(got, fields), bounds, grid)
        else:
            parts[lv] = A.rollup(parts[src], lv, timezone)
        vals = A.finalize(parts[lv], mergeable, interpolation)
        vals["time"] = parts[lv].times
        vals["time_end"] = A.times_ns(parts[lv].bounds[1:])
        if lv == "1D":
            vals["_partials"] = parts[lv]
        out[lv] = vals
    return out


def _flag_group(data: xr.Dataset, flags: xr.Dataset):
    """The zarr group of the quality flags stored at ``data``'s snapshot when ``flags``
    are those (``build_lake`` tags them) and share the raw grid's assets and origin;
    None otherwise (the flags are then applied block by block)."""
    path, snap = flags.attrs.get("quality_group"), flags.attrs.get("snapshot")
    if not path or snap != data.attrs.get("snapshot") or not data.attrs.get("store"):
        return None
    from ..lake import open_root, snapshot_session

    try:
        root = open_root(snapshot_session(data.attrs["store"], snap).store, "r")
        if path not in root:
            return None
        q, raw = root[path], root[f"raw/{data.attrs.get('cadence')}"]
        if (q.attrs.get("origin") != raw.attrs.get("origin")
                or [str(a) for a in q["asset"][:]] != [str(a) for a in raw["asset"][:]]):
            return None
    except (KeyError, OSError, PumplibError):
        return None
    return q


def _run_chunks(data, specs, chunk, grid, timezone, flags=None):
    """Partials (per feature, raw levels) of the features ``chunk`` (see
    :func:`_chunk_features`) from :func:`~pumplib.features.kernels.chunk_partials_from_lake`,
    in the layout of :func:`_run_blocks`; None when the lake's chunks do not
    nest in the raw level's periods."""
    from .kernels import chunk_partials_from_lake, stack_fields

    g, off = _direct_group(data, sorted({v[0] for v in chunk.values()}))
    qg = None if flags is None else _flag_group(data, flags)
    if flags is not None and qg is None:
        return None
    merged = {}
    plans: dict[tuple, dict] = {}
    for lv in sorted({v[1] for v in chunk.values()}, key=A.LEVELS.index):
        names = [n for n, v in chunk.items() if v[1] == lv]
        bounds = A.level_bounds(lv, grid.t0, grid.end, timezone)
        edges = A.grid_edges(bounds, grid)
        got = chunk_partials_from_lake(g, sorted({chunk[n][0] for n in names}), off, grid.n,
                                       edges, A.FIXED_LEVELS[lv] // grid.dt, flags=qg)
        if got is None:
            return None
        for name in names:
            want = tuple(x for x in _plan_levels(specs[name][1])
                         if x in A.FIXED_LEVELS or x == "1D")
            if want not in plans:
                plans[want] = A.plan(want, grid, timezone)

        def roll(name, lv=lv, got=got, bounds=bounds):
            d, lvs, _mergeable, fields = specs[name]
            parts = {lv: A.Partials(lv, fields, stack_fields(got[chunk[name][0]], fields),
                                    bounds, grid)}
            want = tuple(x for x in _plan_levels(lvs) if x in A.FIXED_LEVELS or x == "1D")
            for lv2, src in plans[want].items():
                if src is not None:
                    parts[lv2] = A.rollup(parts[src], lv2, timezone)
            return name, (parts, {})

        with ThreadPoolExecutor(max(1, min(len(names), os.cpu_count() or 1))) as ex:
            merged.update(ex.map(roll, names))
    return merged


def _day_edges(grid: A.Grid, timezone: str, n_assets: int, n_signals: int,
               fine: Sequence[str]) -> np.ndarray | None:
    """Block edges at local midnights, about :data:`BLOCK_VALUES` values per block;
    None when a fine level's periods straddle local midnight (offsets like +05:30)."""
    days = A.level_bounds("1D", grid.t0, grid.end, timezone)
    for lv in fine:
        if not A.nests(A.level_bounds(lv, grid.t0, grid.end, timezone), days, grid):
            return None
    e = np.unique(A.grid_edges(days, grid))
    per_day = max(1, n_assets * max(n_signals, 1) * (86400 // grid.dt))
    step = max(1, BLOCK_VALUES // per_day)
    return np.unique(np.r_[e[::step], e[-1]])


def _build_blocks(data, catalog, wanted, levels, registry, timezone, partials, flags=None,
                  fast: bool = True) -> dict[str, xr.Dataset] | None:
    """Eager full build over day blocks (:func:`build` with ``engine="blocks"``); with
    ``fast``, bare raw signals are reduced chunk by chunk instead (:func:`_run_chunks`)."""
    specs = _block_specs(catalog, wanted, levels)
    if specs is None:
        return None
    if not specs:
        return {}
    grid = A.Grid.from_times(data["time"].values)
    fine = [lv for lv in levels if lv in A.FIXED_LEVELS]
    chunk = _chunk_features(catalog, specs, data, grid, timezone, flags) if fast else {}
    merged = _run_chunks(data, specs, chunk, grid, timezone, flags) if chunk else {}
    if merged is None:
        merged, chunk = {}, {}
    rest = {n: sp for n, sp in specs.items() if n not in chunk}
    if rest:
        edges = _day_edges(grid, timezone, data.sizes["asset"],
                           len(_needed_signals(catalog, list(rest), data)), fine)
        if edges is None:
            return None
        merged.update(_run_blocks(data, catalog, rest, edges, grid, timezone, registry,
                                  flags=flags))
    def finish(name):
        """The columns of one feature at its levels (numpy releases the GIL: features
        finish on a thread pool)."""
        d, lvs, mergeable, _fields = specs[name]
        parts, raws = merged[name]
        got = {}
        for lv in lvs:
            p = parts[lv] if lv in parts else A.rollup(parts["1D"], lv, timezone)
            vals = A.finalize(p, mergeable, d.interpolation)
            vals["time"] = p.times
            vals["time_end"] = A.times_ns(p.bounds[1:])
            got[lv] = _columns(d, lv, vals, lambda lv_, a_, raws=raws: raws[(lv_, a_)])
        if partials and "1D" in parts:
            days = parts["1D"]
            got[PARTIALS_GROUP] = {"time": days.times, "time_end": A.times_ns(days.bounds[1:]),
                                   **_partial_columns(d, days)}
        return got

    with ThreadPoolExecutor(max(1, min(len(specs), os.cpu_count() or 1))) as ex:
        done = list(ex.map(finish, list(specs)))
    tables: dict[str, dict] = {}
    coords: dict[str, dict] = {}
    for got in done:                         # in catalog order, as before
        for lv, cols in got.items():
            coords[lv] = {"time": cols.pop("time"), "time_end": ("time", cols.pop("time_end"))}
            tables.setdefault(lv, {}).update(cols)
    out = {}
    for lv in [*levels, PARTIALS_GROUP]:
        if lv in coords:
            out[lv] = xr.Dataset(
                tables[lv], coords={"asset": data["asset"].values, **coords[lv]},
                attrs={"level": lv, "timezone": timezone, "step_seconds": grid.dt,
                       "definition_hashes": {n: catalog[n].hash for n in wanted},
                       **({"raw_snapshot": data.attrs["snapshot"]} if "snapshot" in data.attrs
                          else {})})
    return out


def _distributed_client():
    """The active ``dask.distributed`` client, or None."""
    import sys

    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def _warm_kernels():
    """Load the compiled kernels (numba's first call in a process takes about a second,
    mostly imports and reading its cache) on a background thread; returns the thread."""
    def warm():
        from . import kernels

        kernels.load()                               # raw chunks
        A._fused_partials(np.zeros((1, 2)), 2, None)  # blocks

    t = threading.Thread(target=warm, name="pumplib-warm-kernels", daemon=True)
    t.start()
    return t


@contextlib.contextmanager
def _gc_skips_older_objects():
    """Within the block, garbage collections skip every object alive before it.

    A process that imported xarray, pandas, dask, zarr and pint holds a few hundred
    thousand objects; each full collection a build triggers (it makes many small
    containers) scanned them all, about 0.06 s of an appended day's 0.7 s.
    Objects made inside the block are collected as usual. Nothing changes when
    the collector is off or the caller has frozen objects already.
    """
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@functools.lru_cache(maxsize=1)
def _tune_malloc() -> dict[str, int]:
    """Set glibc's malloc to the ``features.malloc_*`` settings, once per process (the
    first :func:`build_lake` calls it); what was set (empty where the C library is not
    glibc). A setting that is null, or named in the environment (``MALLOC_ARENA_MAX``,
    ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or in ``GLIBC_TUNABLES``),
    is left to glibc.

    - ``malloc_arena_max``: glibc gives a new thread an arena of its own (up to eight
      per core) and keeps it: a build's worker threads then start on memory the
      process never touched, a page fault per page, where one arena lets them reuse
      what the reader threads freed. Only builds ask for it, when they start: one
      arena from the process start made the feature benchmark's appended day slower
      (benchmarks/RESULTS.md, seventh session). Arenas that exist already are kept;
      new threads share them.
    - ``malloc_mmap_threshold`` and ``malloc_trim_threshold``: glibc maps every block
      above the mmap threshold on its own and unmaps it when freed, and gives the top
      of the heap back above the trim threshold; both start at 128 KiB and rise only
      once a large mapped block is freed (to at most 32 and 64 MiB). Until then each
      fetched chunk (3.3 MB), decode buffer and column is fresh memory, zeroed by the
      kernel page by page. The settings start a build where glibc would end up.
    """
    import ctypes
    import platform

    settings = {}
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    for key, (param, env, least, most) in _MALLOPT.items():
        value = config.get(f"features.{key}", None)
        if (value is None or str(value).strip().lower() in ("", "null", "none")
                or env in os.environ or f"glibc.{key.replace('_', '.', 1)}" in tunables):
            continue
        try:
            value = int(value)
        except (TypeError, ValueError):
            value = least - 1
        if not least <= value <= most:
            raise ConfigError(f"features.{key}: expected a whole number from {least} to "
                              f"{most} or null (glibc's default), got "
                              f"{config.get(f'features.{key}')!r}")
        settings[key] = (param, value)
    if not settings or not sys.platform.startswith("linux") \
            or platform.libc_ver()[0] != "glibc":
        return {}
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return {}
    return {key: value for key, (param, value) in settings.items()
            if mallopt(param, value) == 1}


#: ``features.<setting>``: glibc's mallopt parameter (malloc.h), the environment variable
#: that wins over it, and the values it takes
_MALLOPT = {"malloc_arena_max": (-8, "MALLOC_ARENA_MAX", 1, 1024),
            "malloc_mmap_threshold": (-3, "MALLOC_MMAP_THRESHOLD_", 0, 32 << 20),
            "malloc_trim_threshold": (-1, "MALLOC_TRIM_THRESHOLD_", 0, 1 << 40)}


def build_lake(lake, catalog: FeatureCatalog | str | None = None,
               levels: Sequence[str] | None = None, *, features: Iterable[str] | None = None,
               changed: tuple | None = None, registry=None, timezone: str | None = None,
               cadence: str | None = None, message: str | None = None,
               engine: str | None = None, quality: bool = True,
               metadata: Mapping | None = None, force: bool = False) -> str | None:
    """Build golden tables from ``lake``'s raw data and commit them to it.

    The tables and the day partials (``features/_partials/1D``) land in one
    commit, so a later ``changed=`` build (new or late raw data) reads the raw
    data of the changed days only and rolls week and month up from the stored
    day partials. Returns the snapshot id (None when nothing was written).

    A full build that would write what the last build wrote (same definitions,
    levels, cadence, registry and version, and no raw data, quality flags or
    golden tables changed since: :mod:`pumplib.features.uptodate`) writes
    nothing and returns None, unless ``force``.

    With ``quality`` (default) only the samples the stored quality flags call
    good enter (``quality/<cadence>``; a cell no validation reached is not
    good); ``quality=False`` takes every raw sample (benchmarks, lakes without
    a quality run).

    ``engine`` (see :func:`build`) defaults to ``"blocks"`` (eager, threads of
    this process), or to ``"dask"`` while a ``dask.distributed`` client is
    active, so the build runs on that cluster's workers.

    The first build of a process tunes glibc's malloc (one arena, glibc's largest
    mmap and trim thresholds: ``features.malloc_*``, see :func:`_tune_malloc`).

    Examples
    --------
    >>> from pumplib.lake import Lake
    >>> lake = Lake("memory://build-lake-doc")
    >>> with lake.transaction("raw") as tx:
    ...     _ = tx.write_block("1min", ["P1"], "power", 0, np.full((1, 2880), 2.0))
    >>> cat = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW",
    ...     "inputs": ["power"], "expression": "power", "aggregations": ["mean"]}])
    >>> snap = build_lake(lake, cat, ["1h", "1D"], timezone="UTC", quality=False)
    >>> lake.open_group("features/1D").p_mean.values.tolist()
    [[2.0, 2.0]]
    """
    from .uptodate import build_key, up_to_date

    if catalog is None or isinstance(catalog, str):
        catalog = load_catalog(catalog)
    names = list(features) if features is not None else list(catalog)
    key = build_key({n: catalog[n].hash for n in names},
                    levels if levels is not None else config.get("levels"), cadence, quality,
                    config.get("utility.timezone", override_with=timezone),
                    getattr(registry, "spec", None))
    if changed is None and not force and up_to_date(lake, key):
        return None
    metadata = {**(metadata or {}), "build_key": key}
    _tune_malloc()
    with _gc_skips_older_objects():
        return _build_lake(lake, catalog, levels, names, changed, registry, timezone,
                           cadence, message, engine, quality, metadata)


def _build_lake(lake, catalog, levels, features, changed, registry, timezone, cadence, message,
                engine, quality, metadata):
    warm = _warm_kernels()                   # the kernels load while the lake opens
    # the commit's transaction opens first and reads what is stored meanwhile
    with _TableWriter(lake, [*A.LEVELS, PARTIALS_GROUP],
                      message or ("features build" if changed is None
                                  else "features incremental build")) as w:
        data = lake.open_raw(cadence)        # one trip to zarr's event loop, first
        w.inspect()                          # while the build reads and computes
        flags = None
        if quality:
            from ..quality import open_quality

            flags = open_quality(lake, data.attrs.get("cadence"), like=data)
            # the stored flags of data's snapshot: the chunk path reads them chunk by chunk
            flags.attrs.update(quality_group=f"quality/{data.attrs.get('cadence')}",
                               snapshot=data.attrs.get("snapshot"))
        tables = build(data, catalog, levels, features=features, registry=registry,
                       timezone=timezone, changed=changed, partials=True, store=lake,
                       flags=flags,
                       engine=engine or ("dask" if _distributed_client() else "blocks"),
                       emit=w)
        warm.join()
        w.metadata.update({"cadence": data.attrs.get("cadence"), "quality": bool(quality),
                           **({} if changed is None else
                              {"changed": [int(c) for c in _epoch_pair(changed)]}),
                           **(metadata or {})})
        for lv, ds in tables.items():
            if lv not in w:                  # not handed on during the build already
                w.put(lv, ds)
    return w.snapshot


def history(lake, limit: int | None = None) -> pd.DataFrame:
    """Feature builds committed to ``lake``, newest first: snapshot, time, message,
    levels, changed range (incremental builds), raw snapshot and definition hashes."""
    rows = []
    for c in lake.log(limit):
        m = c.metadata
        if m.get("kind") != "features":
            continue
        ch = m.get("changed")
        rows.append({"snapshot": c.snapshot, "written_at": c.written_at, "message": c.message,
                     "levels": ",".join(lv for lv in m.get("levels", [])
                                        if not lv.startswith("_")),
                     "changed": "" if not ch else " – ".join(
                         pd.Timestamp(int(x), unit="s", tz="UTC").isoformat() for x in ch),
                     "raw_snapshot": m.get("raw_snapshot"),
                     "features": len(m.get("definition_hashes", {})),
                     "definition_hashes": m.get("definition_hashes", {})})
    return pd.DataFrame(rows, columns=["snapshot", "written_at", "message", "levels", "changed",
                                       "raw_snapshot", "features", "definition_hashes"])




def _epoch(t) -> int:
    if isinstance(t, int | np.integer):
        return int(t)
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.timestamp())


def _epoch_pair(changed) -> tuple[int, int]:
    return _epoch(changed[0]), _epoch(changed[1])


def affected_range(start, end, levels: Sequence[str], timezone: str) -> tuple[int, int]:
    """UTC range (epoch s) of every period, at any of ``levels``, that holds data of
    ``[start, end)``: a changed day touches its day, its week and its month.

    Examples
    --------
    >>> s, e = affected_range("2026-04-03", "2026-04-04", ["1h", "1D", "1W", "1M"], "UTC")
    >>> pd.to_datetime([s, e], unit="s").strftime("%m-%d").tolist()   # week of Mon 30 Mar
    ['03-30', '05-01']
    """
    s, e = _epoch_pair((start, end))
    lo, hi = s, e
    for lv in levels:
        b = A.level_bounds(lv, s, max(e, s + 1), timezone)
        lo, hi = min(lo, int(b[0])), max(hi, int(b[-1]))
    return lo, hi


def _plan_levels(levels: Sequence[str]) -> list[str]:
    """Levels to aggregate for declared ``levels``: weeks and months always roll up
    from day partials (so a full and an incremental build share one plan)."""
    lvs = list(levels)
    if any(lv in ("1W", "1M") for lv in lvs) and "1D" not in lvs:
        lvs.append("1D")
    return sorted(lvs, key=A.LEVELS.index)


def _mergeable(d: FeatureDefinition, levels: Sequence[str]) -> list[str]:
    union = sorted({a for lv in levels for a in d.aggregations.get(lv, ())})
    return [a for a in union if A.get_aggregation(a, d.interpolation).mergeable]


def _aggregate_feature(d: FeatureDefinition, value: xr.DataArray, good: xr.DataArray,
                       grid: A.Grid, levels: Sequence[str], timezone: str
                       ) -> tuple[dict[str, dict], A.Partials | None]:
    """Columns of ``d`` at ``levels``, and its day partials (None without calendar levels)."""
    mergeable = _mergeable(d, levels)
    lvs = _plan_levels(levels)
    res = A.aggregate_array(value.data, grid, lvs, mergeable, timezone, good.data,
                            d.interpolation, keep_partials=("1D",))
    out = {lv: _columns(d, lv, res[lv], lambda lv, a: A.raw_aggregate(value.data, grid, lv, a,
                                                                       timezone))
           for lv in levels}
    return out, res["1D"].get("_partials") if "1D" in res else None


def _columns(d: FeatureDefinition, lv: str, vals: Mapping, raw) -> dict[str, object]:
    """The variables of ``d`` at level ``lv`` from finalized ``vals`` (masked by coverage);
    ``raw(lv, name)`` gives a non-mergeable aggregation from raw samples."""
    cov = vals["coverage"]
    # no minimum (the default 0): every value stands, and no masked copy is made
    ok = None if d.min_coverage <= 0 else cov >= d.min_coverage
    lvout: dict[str, object] = {"time": vals["time"], "time_end": vals["time_end"]}
    for a in d.aggregations[lv]:
        arr = vals[a] if a in vals else raw(lv, a)
        attrs = {"units": A._output_unit(a, d.unit, d.interpolation), "feature": d.name,
                 "aggregation": a, "level": lv, "definition_hash": d.hash,
                 "version": d.version, "min_coverage": d.min_coverage}
        if ok is not None:
            arr = np.where(ok, arr, np.nan)
        else:                                # no copy when already float64 (lazy stays lazy)
            arr = arr.astype(np.float64) if A._is_dask(arr) else np.asarray(arr, np.float64)
        lvout[f"{d.name}_{A.column_suffix(a)}"] = xr.Variable(("asset", "time"), arr, attrs)
    lvout[f"{d.name}_coverage"] = xr.Variable(
        ("asset", "time"), A._own_layer(cov), {"units": "1", "feature": d.name, "level": lv,
                                               "long_name": f"share of good samples of {d.name}"})
    return lvout


#: the lake group (under ``features/``) that holds the day partials of every feature
PARTIALS_GROUP = "_partials/1D"


def _partial_columns(d: FeatureDefinition, p: A.Partials, sl: slice = slice(None)) -> dict:
    return {f"{d.name}__{A.column_suffix(f)}": xr.Variable(
        ("asset", "time"), A._own_layer(p[f][..., sl]),
        {"feature": d.name, "field": f, "definition_hash": d.hash, "level": "1D",
         "interpolation": d.interpolation})
        for f in p.fields}


def features_frame(catalog: FeatureCatalog | None = None) -> pd.DataFrame:
    """One row per definition: unit, inputs, levels, aggregations, hash (for listings)."""
    catalog = catalog if catalog is not None else load_catalog()
    rows = []
    for d in catalog.values():
        rows.append({"feature": d.name, "version": d.version, "unit": d.unit,
                     "inputs": ",".join(d.inputs), "expression": d.expression,
                     "condition": d.condition or "", "levels": ",".join(d.levels),
                     "aggregations": ";".join(f"{lv}:{','.join(v)}"
                                              for lv, v in d.aggregations.items()),
                     "min_coverage": d.min_coverage, "hash": d.hash, "source": d.source})
    return pd.DataFrame(rows).set_index("feature")



# ---------------------------------------------------------------------------
# materialise and store
# ---------------------------------------------------------------------------
def materialize(tables: Mapping[str, xr.Dataset]) -> dict[str, xr.Dataset]:
    """Compute every level in one ``dask.compute`` (shared partials computed once).

    The dask arrays are gathered and computed together, then put back into
    their Datasets: computing several Datasets in one ``dask.compute`` was
    seen to fail in graph optimisation (``Missing dependency``).
    """
    import dask

    arrays = {(lv, k): v.data for lv, ds in tables.items() for k, v in ds.variables.items()
              if hasattr(v.data, "dask")}
    (done,) = dask.compute(arrays) if arrays else ({},)
    out = {}
    for lv, ds in tables.items():
        ds = ds.copy()
        for (lv2, k), arr in done.items():
            if lv2 == lv:
                ds[k] = ds[k].copy(data=arr)
        out[lv] = ds
    return out


def write_tables(lake, tables: Mapping[str, xr.Dataset], message: str = "features build",
                 metadata: Mapping | None = None) -> str | None:
    """Store golden tables as ``features/<level>`` groups of the lake, in one commit.

    A level is stored as one ``(column, asset, time)`` array (:data:`STACKED`),
    so a build writes, and an appended day resizes, a handful of arrays rather
    than one per variable; ``lake.open_group`` shows each column as a variable
    with its attributes. Levels stored one array per variable (older lakes)
    are read and merged into as they are.

    * A level holding the same assets and periods: only the given features'
      variables are replaced (a new or changed definition rewrites just its
      own columns).
    * Tables of an incremental build (``build(..., changed=...)``): their
      periods are written in place (late data) or appended (new data); the
      other periods stay as they are.
    * Otherwise the level is rewritten whole and the variables of features
      not in ``tables`` are dropped (listed under ``dropped`` in the commit
      metadata).

    The commit metadata records the lineage: raw snapshot, levels, feature
    definition hashes (and pumplib's version, added by the lake). Read a
    level back with ``lake.open_group("features/1D")``.

    Returns the snapshot id of the commit.
    """
    with _TableWriter(lake, list(tables), message, metadata) as w:
        for lv, ds in tables.items():
            w.put(lv, ds)
    return w.snapshot


class _TableWriter:
    """Writes golden tables to one lake commit while the caller goes on computing.

    On entry the transaction opens; :meth:`inspect` starts reading what is stored
    at the ``planned`` levels (on zarr's event loop, in the background; the first
    :meth:`put` starts it otherwise); :meth:`put` hands one level's table to the
    loop and returns at once; on exit every write is awaited and the commit made
    (none when nothing was put or the caller failed). An incremental build puts its
    minute, quarter-hour and hour tables while it still computes its day, week and
    month tables.
    """

    def __init__(self, lake, planned: Sequence[str], message: str,
                 metadata: Mapping | None = None):
        self.lake, self.planned, self.message = lake, list(planned), message
        self.metadata = dict(metadata or {})
        self.snapshot: str | None = None
        self._futures: dict[str, object] = {}
        self._prepared: dict[str, object] = {}

    def __enter__(self) -> _TableWriter:
        from zarr.core.sync import _get_loop

        from ..lake import raw_compressor

        self._stack = contextlib.ExitStack()
        self._tx = self._stack.enter_context(self.lake.transaction(self.message, {}))
        self._loop = _get_loop()
        self._comp = raw_compressor()     # LZ4: half the CPU of zarr's default zstd
        self._hashes: dict[str, str] = {}
        self._raw_snapshot = None
        self._dropped: dict[str, list[str]] = {}
        self._ready = None
        return self

    def inspect(self) -> None:
        """Start reading what is stored at the planned levels (:meth:`put` does it first
        when this was not called)."""
        if self._ready is None:
            self._ready = self._submit(self._inspect_all())

    def _submit(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def _inspect_all(self):
        from ..lake import open_root_async

        # the transaction's root is opened here, on the loop, not before the build starts
        root = await open_root_async(self._tx.session.store, "a")
        features = await root.require_group("features")
        # what is stored first, before anything is written: Icechunk lists a group
        # synchronously on the event loop, which must not wait on a write in flight
        # (that deadlocks); the writes list nothing
        found = dict(zip(self.planned, await asyncio.gather(
            *(_inspect_level(features, lv) for lv in self.planned)), strict=True))
        for lv, f in found.items():          # one level at a time: only these list
            if f.get("group") is not None and f.get("arrays") is None:
                found[lv] = await _inspect_level(features, lv, listing=True)
        # column groups in flight at once, over all levels: encoding is CPU-bound (zarr
        # runs it on threads) and each group holds its stacked columns (~27 MB for 8
        # columns of 20 pumps x 2 weeks of minutes)
        return features, found, asyncio.Semaphore(2 * (os.cpu_count() or 1))

    async def _write(self, lv: str, ds: xr.Dataset, hashes: Mapping) -> None:
        features, found, limit = await asyncio.wrap_future(self._ready)
        prepared = (await asyncio.wrap_future(self._prepared[lv])
                    if lv in self._prepared else None)
        await _write_level(features, lv, ds, found[lv], hashes, self._comp, self._dropped,
                           limit, prepared)

    def prepare(self, lv: str, assets: Sequence[str], times, time_ends) -> None:
        """Start making room at level ``lv`` for the periods ``times``/``time_ends``
        (epoch seconds) its table, put later, holds: a stored level that takes them
        (appended or late periods) grows now, while the caller computes."""
        self.inspect()
        if lv not in self.planned or lv in self._futures or lv in self._prepared:
            raise PumplibError(f"internal: level {lv!r} is not planned, or was prepared "
                               f"or put already (planned: {self.planned})")
        secs = {"time": np.asarray(times, np.int64),
                "time_end": np.asarray(time_ends, np.int64)}
        self._prepared[lv] = self._submit(self._prepare(lv, np.asarray(assets, str), secs))

    async def _prepare(self, lv: str, assets: np.ndarray, secs: Mapping):
        """``(time axis after the merge, the periods made room for, end of the last
        period)``, or None when the level is not stored yet, is stored another way or
        cannot take the periods (its write then does what it does unprepared)."""
        _features, found, _limit = await asyncio.wrap_future(self._ready)
        f = found[lv]
        if f.get("axes") is None or VALUES not in (f.get("arrays") or {}):
            return None
        if np.array_equal(f["axes"][1], secs["time"]):
            return None                      # the same periods: nothing grows
        plan = _merge_plan(f["arrays"], f["axes"], assets, secs, f.get("last_end"))
        if plan is None:
            return None
        merged, grow, last_end = plan
        await grow()
        return merged, secs["time"], last_end

    def __call__(self, lv: str, ds: xr.Dataset) -> None:
        """:meth:`put`: the writer is an ``emit`` for :func:`build`."""
        self.put(lv, ds)

    def put(self, lv: str, ds: xr.Dataset) -> None:
        """Start writing ``ds`` as level ``lv`` (one of the planned levels)."""
        self.inspect()
        if lv not in self.planned or lv in self._futures:
            raise PumplibError(f"internal: level {lv!r} is not planned or was put twice "
                               f"(planned: {self.planned})")
        if any(A._is_dask(v.data) for v in ds.variables.values()):
            ds = materialize({lv: ds})[lv]
        self._hashes.update(ds.attrs.get("definition_hashes", {}))
        self._raw_snapshot = ds.attrs.get("raw_snapshot", self._raw_snapshot)
        self._futures[lv] = self._submit(self._write(lv, ds, dict(self._hashes)))

    def __contains__(self, lv: str) -> bool:
        return lv in self._futures

    def stored_partials(self, names: Iterable[str]):
        """A future of the stored day partials of features ``names`` (an ``xarray.Dataset``,
        None when none are stored), read from the transaction on the loop before anything
        is written: :func:`_stored_partials` without a session, a group lookup or an axis
        read of its own (the inspection has them)."""
        self.inspect()
        return self._submit(self._stored_partials(set(names)))

    async def _stored_partials(self, names: set):
        _features, found, _limit = await asyncio.wrap_future(self._ready)
        f = found.get(PARTIALS_GROUP) or {}
        arrays = f.get("arrays") or {}
        if f.get("axes") is None or "time_end" not in arrays:
            return None
        if VALUES not in arrays:                 # one array per variable (older lakes)
            return await asyncio.to_thread(_stored_partials, self.lake, names)
        arr = arrays[VALUES]
        ends, values = await asyncio.gather(arrays["time_end"].getitem(slice(None)),
                                            arr.getitem(slice(None)))
        assets, times = f["axes"]
        coords = {"asset": np.asarray(assets, dtype=object), "time": A.times_ns(times),
                  "time_end": ("time", A.times_ns(ends))}
        return _partials_dataset(coords, arr.attrs, names, lambda idx: np.asarray(values)[idx])

    def _wait(self) -> None:
        """Every write ended (a failure raised once all have)."""
        from concurrent.futures import wait

        if self._ready is None:              # nothing was inspected, nothing put
            return
        wait([self._ready, *self._prepared.values(), *self._futures.values()])
        self._ready.result()
        for f in [*self._prepared.values(), *self._futures.values()]:
            f.result()

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            self._wait()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        if exc_type is not None or not self._futures:
            # the caller failed, or nothing was put: no commit
            self._tx.session.discard_changes()
            return bool(self._stack.__exit__(exc_type, exc, tb))
        unfilled = sorted(set(self._prepared) - set(self._futures))
        if unfilled:                         # grown levels must get their values
            self._tx.session.discard_changes()
            self._stack.__exit__(None, None, None)
            raise PumplibError(f"internal: levels {unfilled} were prepared for new periods "
                               "but got no table; nothing was committed")
        self._tx.metadata.update({"kind": "features", "levels": list(self._futures),
                                  "definition_hashes": self._hashes,
                                  "raw_snapshot": self._raw_snapshot, **self.metadata})
        if any(self._dropped.values()):
            self._tx.metadata["dropped"] = {lv: v for lv, v in self._dropped.items() if v}
        self._stack.__exit__(None, None, None)
        self.snapshot = self._tx.snapshot
        return False


async def _inspect_level(root, lv: str, listing: bool = False) -> dict:
    """A stored level: its group, asset and time axes, arrays and columns (empty when
    there is no such level). Without ``listing`` the arrays of the stacked layout are
    looked up by name and ``arrays`` is None for any other layout."""
    try:
        g = await root.getitem(lv)           # one lookup (contains() then getitem() is two)
    except KeyError:
        return {}
    if listing:
        arrays = {k: a async for k, a in g.arrays()}
    else:
        async def get(name):
            try:
                return await g.getitem(name)
            except KeyError:
                return None

        names = ("asset", "time", "time_end", VALUES)
        got = dict(zip(names, await asyncio.gather(*(get(n) for n in names)), strict=True))
        if got[VALUES] is None:
            return {"group": g, "arrays": None}
        arrays = {k: a for k, a in got.items() if a is not None}
    if "asset" not in arrays or "time" not in arrays:
        return {"group": g, "arrays": arrays, "columns": []}
    n = arrays["time"].shape[0]
    end = arrays.get("time_end")
    av, tv, last_end = await asyncio.gather(
        arrays["asset"].getitem(slice(None)), arrays["time"].getitem(slice(None)),
        end.getitem(slice(n - 1, n)) if end is not None and n else asyncio.sleep(0))
    columns = (list(arrays[VALUES].attrs.get("columns", [])) if VALUES in arrays else
               [k for k in arrays if k not in ("asset", "time", "time_end")])
    return {"group": g, "arrays": arrays, "columns": columns,
            "axes": ([str(x) for x in np.asarray(av)], np.asarray(tv)),
            "last_end": None if last_end is None else int(np.asarray(last_end)[0])}


async def _write_level(root, lv: str, ds: xr.Dataset, found: dict, hashes: Mapping, comp,
                       dropped: dict, limit, prepared=None) -> None:
    """Write level ``lv`` (see :func:`write_tables`) under the async group ``root``;
    ``found`` is what :func:`_inspect_level` saw of it; ``prepared`` what
    ``_TableWriter._prepare`` made room for (None: nothing)."""
    assets = np.asarray(ds["asset"].values).astype(str)
    secs = {n: np.asarray(pd.DatetimeIndex(ds[n].values).as_unit("s").asi8)
            for n in ("time", "time_end")}
    g, axes, arrays = found.get("group"), found.get("axes"), found.get("arrays", {})
    stored = None
    old_n = len(axes[1]) if axes is not None else 0   # periods stored before this write
    last_end = found.get("last_end")
    if (prepared is not None and axes[0] == list(assets)
            and np.array_equal(prepared[1], secs["time"])):
        stored = prepared[0]                 # the arrays grew for these periods already
    else:
        if prepared is not None:             # other periods after all: merged with those
            axes, last_end = (axes[0], prepared[0]), prepared[2]
        if axes is not None and axes[0] == list(assets) and np.array_equal(axes[1],
                                                                           secs["time"]):
            stored = axes[1]                 # same periods: replace the given columns
        elif axes is not None and "changed" in ds.attrs:
            plan = _merge_plan(arrays, axes, assets, secs, last_end)
            if plan is not None:
                stored, grow, _ = plan
                await grow()
    columns = found.get("columns", [])
    if stored is None:                       # new level, or the axes changed: rewrite it
        if g is not None:
            dropped[lv] = sorted(set(columns) - set(ds.data_vars))
        g = await root.create_group(lv, overwrite=True)
        arrays, columns = {}, []

        async def axis(name, val, dtype, dims, attrs=None):
            arr = await g.create_array(name, shape=val.shape, chunks=(max(len(val), 1),),
                                       dtype=dtype, dimension_names=dims, attributes=attrs)
            await arr.setitem(slice(None), val)

        await asyncio.gather(
            axis("asset", assets.astype(object), str, ("asset",)),
            *(axis(name, val, "int64", ("time",),
                   {"units": "seconds since 1970-01-01T00:00:00",
                    "calendar": "proleptic_gregorian", "long_name": _LONG_NAMES[name]})
              for name, val in secs.items()))
        stored, old_n = secs["time"], 0
    attrs = {k: v for k, v in ds.attrs.items() if k != "definition_hashes"}
    known = dict(g.attrs.get("definition_hashes", {}) or {})
    lo = int(np.searchsorted(stored, secs["time"][0])) if len(secs["time"]) else 0
    tchunk = _TIME_CHUNKS.get(lv.rsplit("/", 1)[-1], 1 << 30)
    work = [_update_attrs(g, {**attrs, "definition_hashes": {**known, **hashes},
                              "title": f"pumplib golden table, level {lv}"})]
    if STACKED and (VALUES in arrays or not columns):
        work.append(_put_stacked(g, arrays.get(VALUES), ds, len(stored), lo, tchunk, comp,
                                 limit, old_n))
    else:                                    # one array per variable (older lakes)
        work += [_put_variable(g, arrays.get(k), k, v, len(assets), len(stored), lo, tchunk,
                               comp, limit) for k, v in ds.data_vars.items()]
    await asyncio.gather(*work)


async def _put_variable(g, arr, k: str, v: xr.Variable, n_assets: int, n_time: int, lo: int,
                        tchunk: int, comp, limit) -> None:
    """Write one variable as its own array (the layout of older lakes)."""
    vals = np.asarray(v.values, dtype=np.float64)
    attrs = {**_jsonable_attrs(v.attrs), "coordinates": "time_end"}
    chunks = (max(n_assets, 1), max(min(n_time, tchunk), 1))
    async with limit:
        if vals.shape[1] == n_time:
            arr = await g.create_array(k, shape=vals.shape, chunks=chunks, dtype="float64",
                                       fill_value=np.nan, compressors=comp,
                                       dimension_names=("asset", "time"), overwrite=True,
                                       attributes=attrs)
            await arr.setitem(slice(None), vals)
            return
        if arr is not None:                  # merged periods: write only their region
            await _update_attrs(arr, attrs)
        else:
            arr = await g.create_array(k, shape=(n_assets, n_time), chunks=chunks,
                                       dtype="float64", fill_value=np.nan, compressors=comp,
                                       dimension_names=("asset", "time"), attributes=attrs)
        await arr.setitem((slice(None), slice(lo, lo + vals.shape[1])), vals)


#: write levels as one ``(column, asset, time)`` array (:data:`VALUES`) instead of one
#: array per variable: ~600 arrays of a build become ~7, so an appended day resizes
#: and writes a handful of arrays; ``Lake.open_group`` shows the columns as variables
STACKED = True
#: the array of a stacked level (its attributes name the columns and hold theirs)
VALUES = "_values"
#: the least columns per chunk of a new stacked array: a build stores ~8x fewer chunks (a
#: feature's mean, min, max, count and coverage mostly share one), which is most of its
#: write time
COLUMN_CHUNK = 8
#: uncompressed bytes a chunk of a new stacked array holds at least, where its level has
#: few periods per chunk: days, weeks and months put every column in one or two chunks
#: instead of ten (each chunk written costs a store round trip, however small)
CHUNK_BYTES = 1 << 20


def _column_chunk(n_columns: int, n_assets: int, n_periods: int) -> int:
    """Columns per chunk of a new stacked array (a multiple of :data:`COLUMN_CHUNK`)
    whose chunks hold ``n_assets`` × ``n_periods`` values per column.

    Examples
    --------
    >>> _column_chunk(80, 20, 2880), _column_chunk(80, 20, 336), _column_chunk(80, 20, 14)
    (8, 24, 80)
    """
    per_column = max(n_assets * n_periods * 8, 1)
    k = -(-CHUNK_BYTES // per_column)          # columns that fill CHUNK_BYTES
    c = COLUMN_CHUNK
    return max(c, min(-(-k // c) * c, -(-n_columns // c) * c))


def _runs(pos: Sequence[int]) -> list[tuple[int, int, int]]:
    """Contiguous runs of sorted positions: ``(first position, index in pos, length)``."""
    out: list[tuple[int, int, int]] = []
    for i, p in enumerate(pos):
        if out and out[-1][0] + out[-1][2] == p:
            out[-1] = (out[-1][0], out[-1][1], out[-1][2] + 1)
        else:
            out.append((p, i, 1))
    return out


async def _put_stacked(g, arr, ds: xr.Dataset, n_time: int, lo: int, tchunk: int, comp,
                       limit, old_n: int = 0) -> None:
    """Write the variables of ``ds`` into the stacked array of level group ``g`` (created
    when absent; new columns appended), whole or at periods ``[lo, lo + len)``; periods
    from ``old_n`` on held nothing before."""
    names = list(ds.data_vars)
    n_assets = ds.sizes["asset"]
    tc = max(min(n_time, tchunk), 1)
    chunks = (_column_chunk(len(names), n_assets, tc), max(n_assets, 1), tc)
    if arr is None:
        arr = await g.create_array(VALUES, shape=(len(names), n_assets, n_time), chunks=chunks,
                                   dtype="float64", fill_value=np.nan, compressors=comp,
                                   dimension_names=("column", "asset", "time"),
                                   attributes={"columns": names, "column_attrs": {},
                                               "coordinates": "time_end"})
        columns: list[str] = list(names)
    else:
        columns = list(arr.attrs.get("columns", []))
        new = [n for n in names if n not in columns]
        if new:
            columns += new
            await arr.resize((len(columns), *arr.shape[1:]))
    order = sorted(zip((columns.index(n) for n in names), names, strict=True))
    width = ds.sizes["time"]
    codec = _chunk_codec(arr)
    # one group of columns per column chunk: groups touch disjoint chunks, so they are
    # written concurrently, and a group is stacked on its own (memory: a few columns)
    cc = int(arr.chunks[0])
    groups: dict[int, list[tuple[int, str]]] = {}
    for p, n in order:
        groups.setdefault(p // cc, []).append((p, n))

    async def put_group(ci, members):
        async with limit:
            cols = [np.asarray(ds.variables[n].values, dtype=np.float64) for _, n in members]
            ps = [p for p, _ in members]
            whole = ps == list(range(ci * cc, min((ci + 1) * cc, len(columns))))
            if whole and codec is not None:      # every column of its chunks
                await _put_column_chunk(arr, codec, ci, cols, lo, old_n)
                return
            block = np.stack(cols)
            for p0, i, k in _runs(ps):            # runs of one group: in turn
                await arr.setitem((slice(p0, p0 + k), slice(None), slice(lo, lo + width)),
                                  block[i:i + k])

    await asyncio.gather(*(put_group(ci, m) for ci, m in groups.items()))
    cattrs = dict(arr.attrs.get("column_attrs", {}) or {})
    for n in names:
        cattrs[n] = _jsonable_attrs(ds.variables[n].attrs)
    await _update_attrs(arr, {"columns": columns, "column_attrs": cattrs})


async def _put_column_chunk(arr, codec, ci: int, cols: Sequence[np.ndarray], lo: int,
                            old_n: int) -> None:
    """Write ``cols`` (every column of column chunk ``ci``, each assets × periods ``[lo,
    lo + width)``) into ``arr``: each time chunk they touch is assembled here (what it
    held before decoded first, unless they cover it or it held nothing: periods from
    ``old_n`` on), encoded with ``codec`` (:func:`_chunk_codec`) and stored as it is."""
    from zarr.core.buffer import default_buffer_prototype

    cc, ac, tc = (int(x) for x in arr.chunks)
    n_assets, width = cols[0].shape
    hi = lo + width
    store, proto = arr.store_path.store, default_buffer_prototype()

    async def one(j):
        c0, c1 = j * tc, min((j + 1) * tc, arr.shape[-1])
        a, b = max(lo, c0), min(hi, c1)
        key = f"{arr.path}/{arr.metadata.encode_chunk_key((ci, 0, j))}"
        covered = a == c0 and b == c1
        old = None
        if not covered and c0 < old_n:       # periods stored there before: kept
            old = await store.get(key, prototype=proto)

        def assemble_and_encode():
            full = np.empty((cc, ac, tc))
            if old is not None:
                codec.decode_into(old.to_bytes(), full)
            elif not (covered and len(cols) == cc and n_assets == ac and c1 - c0 == tc):
                full.fill(np.nan)                # the fill value wherever nothing is written
            for i, c in enumerate(cols):
                full[i, :n_assets, a - c0:b - c0] = c[:, a - lo:b - lo]
            return codec.encode(full)

        if cc * ac * tc * 8 <= _INLINE_BYTES:    # a thread hop costs more than the work
            data = assemble_and_encode()
        else:
            data = await asyncio.to_thread(assemble_and_encode)
        await store.set(key, proto.buffer.from_bytes(data))

    if width:
        await asyncio.gather(*(one(j) for j in range(lo // tc, -(-hi // tc))))


#: chunks up to this size are assembled and encoded on the event loop itself
_INLINE_BYTES = 1 << 16


class _ChunkCodec:
    """Encode and decode a whole ``float64`` chunk of a stacked array exactly as zarr
    stores it: little-endian bytes, then zarr's own Blosc codec object."""

    def __init__(self, blosc):
        self._blosc = blosc

    def encode(self, chunk: np.ndarray) -> bytes:
        return self._blosc.encode(
            np.ascontiguousarray(chunk, dtype="<f8").view(np.uint8).reshape(-1))

    def decode_into(self, raw: bytes, out: np.ndarray) -> None:
        """Decode the stored bytes ``raw`` into ``out`` (a C-contiguous chunk buffer)."""
        size = int.from_bytes(raw[4:8], "little")   # Blosc's header: uncompressed size
        if size != out.nbytes:
            raise PumplibError(f"internal: a stored chunk holds {size} bytes, not the "
                               f"{out.nbytes} of its chunk shape")
        self._blosc.decode(raw, out=out.view(np.uint8).reshape(-1))
        if sys.byteorder == "big":              # stored little-endian
            out.byteswap(inplace=True)


def _chunk_codec(arr) -> _ChunkCodec | None:
    """The :class:`_ChunkCodec` of ``arr`` when it is a ``float64`` array stored as little-
    endian bytes and one Blosc codec, chunked with one chunk over its second axis; None
    otherwise (zarr writes those)."""
    from zarr.codecs import BloscCodec, BytesCodec

    try:
        codecs = tuple(arr.metadata.codecs)
        regular = len(arr.chunks) == 3 and int(arr.chunks[1]) >= arr.shape[1]
    except (AttributeError, TypeError, NotImplementedError):
        return None                              # zarr v2 metadata, or an irregular grid
    if (not regular or arr.dtype != np.float64 or len(codecs) != 2
            or not isinstance(codecs[0], BytesCodec)
            or getattr(codecs[0].endian, "value", codecs[0].endian) not in ("little", None)
            or not isinstance(codecs[1], BloscCodec)):
        return None
    blosc = getattr(codecs[1], "_blosc_codec", None)   # zarr's own numcodecs Blosc
    if blosc is None:                            # (another zarr version): zarr writes
        return None
    return _ChunkCodec(blosc)


_LONG_NAMES = {"time": "period start (UTC)", "time_end": "period end (UTC)"}
#: periods per chunk of a golden-table array (assets × periods): a day of minutes, a week
#: of quarter hours or hours (a table shorter than that: its length), so an appended day
#: rewrites one or two chunks per column group that hold at most a week, not the history
#: (the columns per chunk grow to fill ~1 MiB, :func:`_column_chunk`)
_TIME_CHUNKS = {"1min": 1440, "15min": 7 * 96, "1h": 7 * 24, "1D": 3660}
#: threads that read the arrays of one level (older lakes: one array per variable)
_READ_THREADS = 8


async def _update_attrs(node, attrs: Mapping) -> None:
    """Merge ``attrs`` into a zarr node's attributes in one metadata write (none when
    nothing changes; ``attrs.update`` writes once per key)."""
    import json

    from ..lake import _jsonable

    old = dict(node.attrs)
    try:                                     # plain equality first: most writes change
        if all(k in old and bool(old[k] == v) for k, v in attrs.items()):
            return                           # nothing here (an appended day's columns)
    except (TypeError, ValueError):          # (arrays among the values)
        pass
    new = _jsonable(dict(attrs))
    if all(k in old and json.dumps(old[k], sort_keys=True) == json.dumps(v, sort_keys=True)
           for k, v in new.items()):
        return
    await node.update_attributes(new)


def _merge_plan(arrays: Mapping, axes: tuple[list[str], np.ndarray], assets: np.ndarray,
                secs: Mapping[str, np.ndarray], last_end: int | None):
    """How a level's ``arrays`` take the periods ``secs`` (late data: already there;
    appended data: the time axis grows): ``(time axis after the merge, grow, end of its
    last period)``, where ``grow()`` is the coroutine that resizes the arrays and writes
    the new axis values; None when they cannot be merged (other assets, periods before
    the stored ones, a hole in between: ``last_end`` is the end of the last stored
    period)."""
    stored_assets, stored = axes
    if stored_assets != [str(a) for a in assets] or "time_end" not in arrays:
        return None
    new = secs["time"]
    if len(stored) == 0 or len(new) == 0 or new[0] < stored[0]:
        return None
    lo = int(np.searchsorted(stored, new[0]))
    if lo < len(stored) and stored[lo] != new[0]:
        return None
    overlap = stored[lo:lo + len(new)]
    if not np.array_equal(overlap, new[:len(overlap)]):
        return None
    if lo == len(stored) and last_end != int(new[0]):
        return None                          # a hole between stored and new periods
    size = max(len(stored), lo + len(new))
    region = slice(lo, lo + len(new))
    axis_values = {"time": new, "time_end": secs["time_end"]}

    async def grow_and_set(name, arr):       # each array on its own: one chain per array
        if size > arr.shape[-1]:
            await arr.resize((*arr.shape[:-1], size))
        if name in axis_values:
            await arr.setitem(region, axis_values[name])

    async def grow():
        await asyncio.gather(*(grow_and_set(k, arr) for k, arr in arrays.items()
                               if (arr.metadata.dimension_names or ())[-1:] == ("time",)))

    merged = np.empty(size, dtype=stored.dtype)
    merged[:len(stored)] = stored
    merged[region] = new
    return merged, grow, (int(secs["time_end"][-1]) if region.stop >= len(stored) else last_end)


def _jsonable_attrs(attrs: Mapping) -> dict:
    out = {}
    for k, v in attrs.items():
        out[k] = v.item() if isinstance(v, np.generic) else v
    return out
