"""Feature evaluation: the values of feature expressions at the raw cadence.

A feature is evaluated on a Dataset of raw canonical signals ``(asset, time)``
from the values of its input features, the raw signals, asset attributes
(``rated.*``, ``curve.*``, …) and tariff prices; each value comes with a
``__good`` mask (where every data input was good). Nothing here aggregates:
:mod:`pumplib.features.aggregations` does, for every engine.

Examples
--------
>>> import numpy as np, pandas as pd, xarray as xr
>>> from pumplib.features import catalog_from_dicts
>>> t = pd.date_range("2026-03-29", periods=3, freq="1min")
>>> ds = xr.Dataset({"power": (("asset", "time"), [[1.0, np.nan, 3.0]])},
...                 coords={"asset": ["P1"], "time": t})
>>> cat = catalog_from_dicts([{"name": "p2", "version": 1, "unit": "kW",
...     "inputs": ["power"], "expression": "power * 2", "aggregations": ["mean"]}])
>>> out = evaluate_features(ds, cat, timezone="UTC")
>>> out.p2.values.tolist(), out.p2__good.values.tolist()
([[2.0, nan, 6.0]], [[True, False, True]])
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .. import config
from ..errors import SchemaError
from . import aggregations as A
from .definitions import FeatureCatalog
from .expr import ATTRIBUTES

__all__ = ["FeatureEvaluator", "evaluate_features", "iter_features", "needed_signals"]


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


class FeatureEvaluator:
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
    ev = FeatureEvaluator(ds, catalog, registry, timezone)
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


def needed_signals(catalog: FeatureCatalog, names: Iterable[str], ds: xr.Dataset) -> list[str]:
    used: set[str] = set()
    for n in catalog.closure(names):
        d = catalog[n]
        used |= set(d.compiled.names)
        if d.compiled_condition is not None:
            used |= set(d.compiled_condition.names)
    return sorted(v for v in used if v in ds.data_vars)
