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

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .. import config
from ..errors import SchemaError, UnknownNameError, choices_message
from . import aggregations as A
from .definitions import FeatureCatalog, FeatureDefinition, catalog_from_dicts, load_catalog
from .expr import ATTRIBUTES

__all__ = ["affected_range", "build", "catalog_from_dicts", "evaluate_features",
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
    for a in assets:
        tariff = registry.tariff_of(a) if registry is not None and a in registry.assets else None
        p = prices(tariff)
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
    timezone = config.get("utility.timezone", override_with=timezone)
    names = catalog.closure(names if names is not None else list(catalog))
    step = _step_seconds(ds)
    template = next(iter(ds.data_vars.values())).transpose("asset", "time")
    assets = [str(a) for a in ds["asset"].values]
    env: dict[str, object] = {}
    out: dict[str, xr.DataArray] = {}

    def lookup(name: str):
        if name in env:
            return env[name]
        if name == "tariff.price":
            env[name] = _tariff_price(template, registry, timezone)
        elif name in ATTRIBUTES:
            env[name] = _attribute_values(name, assets, registry)
        elif name in ds.data_vars:
            env[name] = ds[name].transpose("asset", "time")
        else:
            env[name] = xr.full_like(template, np.nan, dtype=np.float64)
        return env[name]

    def good_of(used) -> xr.DataArray:
        """Good where every data input is good (a feature input: where its inputs are)."""
        good = xr.ones_like(template, dtype=bool)
        for n in sorted(used):
            if n in out:
                good = good & out[f"{n}__good"]
            elif n not in ATTRIBUTES:
                good = good & lookup(n).notnull()
        return good

    for name in names:
        d = catalog[name]
        used = set(d.compiled.names)
        attrs_used = sorted((used | set(getattr(d.compiled_condition, "names", ())))
                            & set(ATTRIBUTES))
        if attrs_used and registry is None:
            raise SchemaError(f"{d.source}: key {d.key + 'expression'!r}: feature {name!r} uses "
                              f"asset attributes {attrs_used}; pass registry= (an "
                              "AssetRegistry, e.g. AssetRegistry.load())")
        local = {n: (out[n] if n in out else lookup(n)) for n in d.compiled.names}
        value = d.compiled.evaluate(local, step, to=d.unit)
        if d.compiled_condition is not None:
            used |= set(d.compiled_condition.names)
            clocal = {n: (out[n] if n in out else lookup(n)) for n in d.compiled_condition.names}
            cond = d.compiled_condition.evaluate(clocal, step)
            value = value.where(cond > 0.5)
        good = good_of(used)
        value = value.transpose("asset", "time").astype(np.float64)
        value.attrs = {"units": d.unit, "feature": d.name, "definition_hash": d.hash}
        out[name] = value
        out[f"{name}__good"] = good.transpose("asset", "time")
    return xr.Dataset(out)


def build(data, catalog: FeatureCatalog | str | None = None, levels: Sequence[str] | None = None,
          *, features: Iterable[str] | None = None, registry=None, timezone: str | None = None,
          cadence: str | None = None, changed: tuple | None = None) -> dict[str, xr.Dataset]:
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
    tables: dict[str, dict[str, xr.Variable]] = {lv: {} for lv in levels}
    coords: dict[str, dict] = {}
    for name in wanted:
        d = catalog[name]
        lvs = [lv for lv in levels if lv in d.levels]
        if not lvs:
            continue
        res = _aggregate_feature(d, values[name], values[f"{name}__good"], grid, lvs, timezone)
        for lv, vals in res.items():
            coords[lv] = {"time": vals.pop("time"), "time_end": ("time", vals.pop("time_end"))}
            tables[lv].update(vals)
    out = {}
    for lv in levels:
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


def _aggregate_feature(d: FeatureDefinition, value: xr.DataArray, good: xr.DataArray,
                       grid: A.Grid, levels: Sequence[str], timezone: str) -> dict[str, dict]:
    per_level = {lv: d.aggregations[lv] for lv in levels}
    union = sorted({a for names in per_level.values() for a in names})
    mergeable = [a for a in union if A.get_aggregation(a, d.interpolation).mergeable]
    res = A.aggregate_array(value.data, grid, levels, mergeable, timezone, good.data,
                            d.interpolation)
    out: dict[str, dict] = {}
    for lv in levels:
        vals = res[lv]
        cov = vals["coverage"]
        ok = cov >= d.min_coverage
        lvout: dict[str, object] = {"time": vals["time"], "time_end": vals["time_end"]}
        for a in per_level[lv]:
            arr = vals[a] if a in vals else A.raw_aggregate(value.data, grid, lv, a, timezone)
            attrs = {"units": A._output_unit(a, d.unit, d.interpolation), "feature": d.name,
                     "aggregation": a, "level": lv, "definition_hash": d.hash,
                     "version": d.version, "min_coverage": d.min_coverage}
            lvout[f"{d.name}_{A.column_suffix(a)}"] = xr.Variable(("asset", "time"), np.where(ok, arr, np.nan),
                                                 attrs)
        lvout[f"{d.name}_coverage"] = xr.Variable(
            ("asset", "time"), A._own_layer(cov), {"units": "1", "feature": d.name, "level": lv,
                                     "long_name": f"share of good samples of {d.name}"})
        out[lv] = lvout
    return out


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
    tables = materialize(tables)
    hashes: dict[str, str] = {}
    raw_snapshot = None
    for ds in tables.values():
        hashes.update(ds.attrs.get("definition_hashes", {}))
        raw_snapshot = ds.attrs.get("raw_snapshot", raw_snapshot)
    meta = {"kind": "features", "levels": list(tables), "definition_hashes": hashes,
            "raw_snapshot": raw_snapshot, **(metadata or {})}
    with lake.transaction(message, meta) as tx:
        root = tx.root.require_group("features")
        dropped: dict[str, list[str]] = {}
        for lv, ds in tables.items():
            assets = np.asarray(ds["asset"].values).astype(str)
            secs = {n: pd.DatetimeIndex(ds[n].values).as_unit("s").asi8
                    for n in ("time", "time_end")}
            g = _same_axes_group(root, lv, assets, secs["time"])
            if g is None and "changed" in ds.attrs and lv in root:
                g = _merge_periods(root[lv], assets, secs)
            if g is None:                    # new level, or the axes changed: rewrite it
                if lv in root:
                    old = [k for k, _ in root[lv].arrays()
                           if k not in ("asset", "time", "time_end")]
                    dropped[lv] = sorted(set(old) - set(ds.data_vars))
                g = root.create_group(lv, overwrite=True)
                a = g.create_array("asset", shape=assets.shape, chunks=(max(len(assets), 1),),
                                   dtype=str, dimension_names=("asset",))
                a[:] = assets.astype(object)
                for name, val in secs.items():
                    arr = g.create_array(name, shape=val.shape, chunks=(max(len(val), 1),),
                                         dtype="int64", dimension_names=("time",),
                                         attributes={"units": "seconds since 1970-01-01T00:00:00",
                                                     "calendar": "proleptic_gregorian",
                                                     "long_name": _LONG_NAMES[name]})
                    arr[:] = val
            attrs = {k: v for k, v in ds.attrs.items() if k != "definition_hashes"}
            known = dict(g.attrs.get("definition_hashes", {}) or {})
            g.attrs.update({**attrs, "definition_hashes": {**known, **hashes},
                            "title": f"pumplib golden table, level {lv}"})
            stored = np.asarray(g["time"][:])
            lo = int(np.searchsorted(stored, secs["time"][0])) if len(secs["time"]) else 0
            for k, v in ds.data_vars.items():
                vals = np.asarray(v.values, dtype=np.float64)
                attrs = {**_jsonable_attrs(v.attrs), "coordinates": "time_end"}
                if vals.shape[1] == len(stored):
                    arr = g.create_array(k, shape=vals.shape, chunks=(max(vals.shape[0], 1),
                                                                      max(vals.shape[1], 1)),
                                         dtype="float64", fill_value=np.nan,
                                         dimension_names=("asset", "time"), overwrite=True,
                                         attributes=attrs)
                    arr[:] = vals
                else:                        # merged periods: write only their region
                    if k not in g:
                        g.create_array(k, shape=(len(assets), len(stored)),
                                       chunks=(max(len(assets), 1), max(len(stored), 1)),
                                       dtype="float64", fill_value=np.nan,
                                       dimension_names=("asset", "time"), attributes=attrs)
                    arr = g[k]
                    arr.attrs.update(attrs)
                    arr[:, lo:lo + vals.shape[1]] = vals
        if any(dropped.values()):
            tx.metadata["dropped"] = {lv: v for lv, v in dropped.items() if v}
    return tx.snapshot


_LONG_NAMES = {"time": "period start (UTC)", "time_end": "period end (UTC)"}


def _merge_periods(g, assets: np.ndarray, secs: Mapping[str, np.ndarray]):
    """Make room in ``g`` for the periods ``secs`` (late data: already there;
    appended data: the time axis grows). None when they cannot be merged
    (other assets, periods before the stored ones, a hole in between)."""
    if [str(a) for a in g["asset"][:]] != [str(a) for a in assets]:
        return None
    stored = np.asarray(g["time"][:])
    new = secs["time"]
    if len(stored) == 0 or len(new) == 0 or new[0] < stored[0]:
        return None
    lo = int(np.searchsorted(stored, new[0]))
    if lo < len(stored) and stored[lo] != new[0]:
        return None
    overlap = stored[lo:lo + len(new)]
    if not np.array_equal(overlap, new[:len(overlap)]):
        return None
    if lo == len(stored) and len(stored) and int(g["time_end"][len(stored) - 1]) != int(new[0]):
        return None                          # a hole between stored and new periods
    size = max(len(stored), lo + len(new))
    if size > len(stored):
        for _, arr in g.arrays():
            dims = arr.metadata.dimension_names or ()
            if dims and dims[-1] == "time":
                arr.resize((*arr.shape[:-1], size))
    g["time"][lo:lo + len(new)] = new
    g["time_end"][lo:lo + len(new)] = secs["time_end"]
    return g


def _same_axes_group(root, level: str, assets: np.ndarray, times: np.ndarray):
    """The existing ``features/<level>`` group when its asset and time axes equal these."""
    if level not in root:
        return None
    g = root[level]
    try:
        same = ([str(a) for a in g["asset"][:]] == [str(a) for a in assets]
                and np.array_equal(np.asarray(g["time"][:]), times))
    except KeyError:
        return None
    return g if same else None


def _jsonable_attrs(attrs: Mapping) -> dict:
    out = {}
    for k, v in attrs.items():
        out[k] = v.item() if isinstance(v, np.generic) else v
    return out
