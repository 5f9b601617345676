"""Planning a build: which levels, partial fields, raw context and columns each feature gets.

Every engine (:mod:`~pumplib.features.lazy`, :mod:`~pumplib.features.blocks`,
:mod:`~pumplib.features.incremental`) asks the same questions here: the
levels to aggregate (weeks and months always roll up from days), the
mergeable aggregations and their partial fields, the raw data read before a
block or a changed range (windows, lags, differences), the periods a change
touches, whether a feature is one bare raw signal, and the names and
attributes of the golden-table columns.

Examples
--------
>>> plan_levels(["1h", "1M"])
['1h', '1D', '1M']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .. import config
from ..errors import PumplibError
from . import aggregations as A
from .definitions import FeatureCatalog, FeatureDefinition


class EngineDeclined(PumplibError):
    """An engine found, while it ran, that it cannot build these tables (the stored day
    partials do not fit, the lake's chunks do not nest in the periods); :func:`~pumplib.
    features.build` then builds them with the ``"dask"`` engine. Never leaves ``build``."""


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
    >>> from pumplib.features import catalog_from_dicts
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
    secs = context_setting()
    for n in names:
        d = catalog[n]
        for text in (d.expression, d.condition or ""):
            for m in _DURATION_RE.findall(text):
                try:
                    secs = max(secs, pd.Timedelta(m.replace(" ", "")).total_seconds())
                except ValueError:
                    continue
    return int(-(-secs // 3600) * 3600)


def context_setting() -> int:
    """The ``features.incremental_context`` setting in seconds, rounded up to whole hours."""
    secs = pd.Timedelta(config.get("features.incremental_context",
                                   PARTIALS_CONTEXT)).total_seconds()
    return int(-(-secs // 3600) * 3600)


def _epoch(t) -> int:
    if isinstance(t, int | np.integer):
        return int(t)
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.timestamp())


def epoch_pair(changed) -> tuple[int, int]:
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
    s, e = epoch_pair((start, end))
    lo, hi = s, e
    for lv in levels:
        b = A.level_bounds(lv, s, max(e, s + 1), timezone)
        lo, hi = min(lo, int(b[0])), max(hi, int(b[-1]))
    return lo, hi


def plan_levels(levels: Sequence[str]) -> list[str]:
    """Levels to aggregate for declared ``levels``: weeks and months always roll up
    from day partials (so a full and an incremental build share one plan)."""
    lvs = list(levels)
    if any(lv in ("1W", "1M") for lv in lvs) and "1D" not in lvs:
        lvs.append("1D")
    return sorted(lvs, key=A.LEVELS.index)


def mergeable_aggregations(d: FeatureDefinition, levels: Sequence[str]) -> list[str]:
    union = sorted({a for lv in levels for a in d.aggregations.get(lv, ())})
    return [a for a in union if A.get_aggregation(a, d.interpolation).mergeable]


def block_specs(catalog, wanted, levels):
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
        mergeable = mergeable_aggregations(d, lvs)
        specs[name] = (d, lvs, mergeable, A.fields_for(mergeable, d.interpolation))
    return specs


def fine_levels_nest_in_days(grid: A.Grid, timezone: str, fine: Sequence[str]) -> bool:
    """Whether the periods of each fixed level ``fine`` nest in the local days of ``grid``
    (not where they straddle local midnight: offsets like +05:30 with hours)."""
    days = A.level_bounds("1D", grid.t0, grid.end, timezone)
    return all(A.nests(A.level_bounds(lv, grid.t0, grid.end, timezone), days, grid)
               for lv in fine)


def bare_signal(catalog, data: xr.Dataset, d: FeatureDefinition, lvs, mergeable,
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


def ns_times(secs) -> np.ndarray:
    """Epoch seconds as ``datetime64[ns]`` values."""
    return np.asarray(secs, dtype=np.int64).astype("datetime64[s]").astype("datetime64[ns]")


def epoch_seconds(times) -> np.ndarray:
    """Epoch seconds (int64) of datetime64 values or a DatetimeIndex."""
    a = np.asarray(times)
    if a.dtype.kind != "M":
        return np.asarray(pd.DatetimeIndex(times).as_unit("s").asi8)
    return a.astype("datetime64[s]").astype(np.int64)


def feature_columns(d: FeatureDefinition, lv: str, vals: Mapping, raw) -> dict[str, object]:
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


def table_attrs(data: xr.Dataset, catalog: FeatureCatalog, wanted: Iterable[str],
                timezone: str, step: int, **extra) -> dict:
    """The attributes of a golden table built from ``data`` (its level's goes first): time
    zone, raw step (s), definition hashes of the features ``wanted``, ``extra``, and the
    raw snapshot read (when ``data`` came from a lake)."""
    return {"timezone": timezone, "step_seconds": step,
            "definition_hashes": {n: catalog[n].hash for n in wanted}, **extra,
            **({"raw_snapshot": data.attrs["snapshot"]} if "snapshot" in data.attrs else {})}


#: the lake group (under ``features/``) that holds the day partials of every feature
PARTIALS_GROUP = "_partials/1D"


def partial_columns(d: FeatureDefinition, p: A.Partials, sl: slice = slice(None)) -> dict:
    return {f"{d.name}__{A.column_suffix(f)}": xr.Variable(
        ("asset", "time"), A._own_layer(p[f][..., sl]),
        {"feature": d.name, "field": f, "definition_hash": d.hash, "level": "1D",
         "interpolation": d.interpolation})
        for f in p.fields}
