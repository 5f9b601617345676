"""Query golden tables by feature, asset and time: one call, lazy xarray back.

``pumplib.query`` is both this module and a function: ``pumplib.query(...)``
calls :func:`query`, and helpers sit beside it (``pumplib.query.select_assets``,
``pumplib.query.to_frame``, ``pumplib.query.choose_level``).

* **features**: a feature name expands to all of its columns (``energy`` →
  ``energy_integral``, ``energy_mean``, …, ``energy_coverage``); an exact column
  name (``energy_integral``) selects one. Unknown names raise
  :class:`~pumplib.errors.UnknownNameError` with the close matches.
* **assets**: ids (``"N-P1"``), stations (``"NORTH"`` or its name), pump types
  (``"variable_speed"``), registry tags, ``key:value`` filters
  (``"station:NORTH"``, ``"type:variable_speed"``, ``"tag:critical"``,
  ``"kind:pump"``), or a phrase such as ``"variable-speed pumps at NORTH"``;
  see :func:`select_assets`.
* **level**: ``1min`` … ``1M``; omitted (or ``"auto"``), the finest level
  whose number of periods in ``[start, end)`` stays within ``max_points`` per
  series, so a chart never draws more than that bound.
* **time**: ``start`` inclusive, ``end`` exclusive, on the period start; naive
  times (``"2026-03-10"``, a ``datetime.date``) are wall times of the utility:
  the zone the golden table's days were cut in (its ``timezone`` attribute, the
  ``utility.timezone`` setting when it was built); ``timezone="UTC"`` reads them
  as UTC. So ``start="2026-03-10", level="1D"`` begins with the local day of 10
  March. The Dataset is indexed in UTC like the lake; :func:`to_frame` labels
  rows in the utility's local time, with its zone. ``as_of``/``snapshot`` read
  the lake as it was.
* **no data**: a range without any period, or whose values are all missing,
  gives an empty result *and* a :class:`~pumplib.errors.NoDataWarning` that
  names the range that has data.

Reads go through :func:`pumplib.store.get_features` when that module exists,
else straight from the lake group ``features/<level>``.

Examples
--------
>>> import pumplib
>>> ds = pumplib.query("energy_integral", assets="NORTH", level="1D",
...                    start="2026-03-10", end="2026-03-17")      # doctest: +SKIP
>>> pumplib.query.to_frame(ds).head()                            # doctest: +SKIP
>>> pumplib.query.select_assets("variable-speed pumps at NORTH")  # doctest: +SKIP
['N-P1']
"""

from __future__ import annotations

import re
import sys
import threading
import types
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from . import config
from .errors import (
    ArgumentError,
    NoDataWarning,
    PumplibError,
    UnknownNameError,
    choices_message,
    close_matches,
)

__all__ = ["LEVELS", "LEVEL_SECONDS", "MAX_POINTS", "available_columns", "choose_level",
           "clear_cache", "feature_columns", "query", "query_raw", "select_assets", "to_frame",
           "time_span"]

#: golden-table levels, finest first
LEVELS: tuple[str, ...] = ("1min", "15min", "1h", "1D", "1W", "1M")
#: nominal seconds of one period of each level (months as 30.44 days)
LEVEL_SECONDS: dict[str, float] = {"1min": 60, "15min": 900, "1h": 3600, "1D": 86400,
                                   "1W": 7 * 86400, "1M": 30.436875 * 86400}
#: default bound of points per series when the level is chosen automatically
MAX_POINTS = 5000

_AGG_SUFFIX = re.compile(r"^(?P<feature>.+?)_(?P<agg>count|sum|mean|min|max|var|std|first|last|"
                         r"twa|integral|duration(?:_\w+)?|starts|median|quantile_\w+|coverage)$")


# ---------------------------------------------------------------------------
# the store and the registry
# ---------------------------------------------------------------------------
_CACHE: dict[tuple, tuple[str, Any]] = {}
_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget opened lakes and tables (they are re-opened when the tip moves anyway)."""
    from .store import clear_cache as clear_store_cache

    with _LOCK:
        _CACHE.clear()
    clear_store_cache()


def _lake(store=None):
    """The Lake of ``store``, shared with :mod:`pumplib.store`'s cache."""
    from .store import _lake as store_lake

    return store_lake(store)


def _open_level(level: str, store=None, snapshot=None, as_of=None) -> xr.Dataset:
    """The whole golden table of a level, lazily; cached per lake tip (or snapshot)."""
    lake = _lake(store)
    if snapshot is None and as_of is None:
        tag = lake.tip()
        key = (lake.url, level, "tip")
    else:
        tag = str(snapshot or as_of)
        key = (lake.url, level, tag)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None and hit[0] == tag:
        return hit[1]
    snap = snapshot if snapshot is not None else (tag if as_of is None else None)
    ds = lake.open_group(f"features/{level}", snapshot=snap, as_of=as_of)
    if ds is None:
        raise UnknownNameError(
            f"{lake.url}: no golden table at level {level!r}; build it with "
            "`pumplib features build`. " + choices_message("level", level, _stored_levels(lake)))
    with _LOCK:
        _CACHE[key] = (tag, ds)
    return ds


def _stored_levels(lake) -> list[str]:
    from .lake import open_root

    root = open_root(lake.session().store, "r")
    if "features" not in root:
        return []
    return [lv for lv in LEVELS if lv in root["features"]]


def _registry(registry=None):
    from .assets import AssetRegistry

    if registry is None:
        from pathlib import Path

        path = Path(config.get("assets.registry"))
        if not path.is_file():           # run outside the repository: the bundled registry
            builtin = Path(__file__).resolve().parents[1] / "catalogs" / "assets.yaml"
            path = builtin if builtin.is_file() else path
        return AssetRegistry.load(path)
    if isinstance(registry, AssetRegistry):
        return registry
    if isinstance(registry, Mapping):
        return AssetRegistry.from_dict(dict(registry))
    return AssetRegistry.load(registry)


# ---------------------------------------------------------------------------
# assets
# ---------------------------------------------------------------------------
_TYPE_WORDS = {"variable_speed": ("variable-speed", "variable speed", "variable_speed", "vsd",
                                  "vfd"),
               "fixed_speed": ("fixed-speed", "fixed speed", "fixed_speed")}
_KIND_WORDS = {"pump": ("pump", "pumps"), "tank": ("tank", "tanks", "reservoir", "reservoirs")}


def _norm(s: str) -> str:
    return re.sub(r"[\s_\-]+", "_", str(s).strip().lower())


def _station_of(token: str, registry) -> str | None:
    t = _norm(token)
    for sid, st in registry.stations.items():
        if t in (_norm(sid), _norm(st.get("name", sid))) or t == _norm(st.get("name", "")
                                                                       ).replace("_station", ""):
            return sid
    for sid, st in registry.stations.items():   # "north" matches "North booster station"
        if _norm(st.get("name", "")).split("_")[0] == t:
            return sid
    return None


def _phrase(text: str, registry) -> list[str] | None:
    """``"variable-speed pumps at NORTH"`` → the matching ids; None if not a phrase."""
    low = text.strip().lower()
    m = re.match(r"^(?:all\s+)?(?P<what>.*?)(?:\s+(?:at|in|of)\s+(?:station\s+)?(?P<where>.+))?$",
                 low)
    what, where = (m.group("what") or "").strip(), (m.group("where") or "").strip()
    ptype = next((t for t, words in _TYPE_WORDS.items() if any(w in what for w in words)), None)
    rest = what
    for words in _TYPE_WORDS.values():
        for w in words:
            rest = rest.replace(w, " ")
    kind = None
    for k, words in _KIND_WORDS.items():
        for w in sorted(words, key=len, reverse=True):
            if re.search(rf"\b{w}\b", rest):
                kind = k
                rest = re.sub(rf"\b{w}\b", " ", rest)
    station = None
    if where:
        station = _station_of(where, registry)
        if station is None:
            raise UnknownNameError(choices_message("station", where, registry.stations))
    if rest.strip() or (ptype is None and kind is None and station is None):
        return None
    return _filter(registry, station=station, pump_type=ptype, kind=kind or (
        "pump" if ptype else None))


def _filter(registry, *, station=None, pump_type=None, tags=None, kind=None) -> list[str]:
    from .assets import ASSET_KINDS, PUMP_TYPES

    if pump_type is not None and pump_type not in PUMP_TYPES:
        raise UnknownNameError(choices_message("pump type", pump_type, PUMP_TYPES))
    kinds = getattr(registry, "asset_kinds", ASSET_KINDS)     # built-in and declared kinds
    if kind is not None and kind not in kinds:
        raise UnknownNameError(choices_message("asset kind", kind, kinds))
    stations = None
    if station is not None:
        stations = set()
        for s in [station] if isinstance(station, str) else station:
            sid = _station_of(s, registry)
            if sid is None:
                raise UnknownNameError(choices_message("station", s, registry.stations))
            stations.add(sid)
    want_tags = [tags] if isinstance(tags, str) else list(tags or [])
    known_tags = _all_tags(registry)
    for t in want_tags:
        if t not in known_tags:
            raise UnknownNameError(choices_message("asset tag", t, known_tags))
    out = []
    for a in registry.assets.values():
        st_tags = set(registry.stations[a.station].get("tags", []) or [])
        if stations is not None and a.station not in stations:
            continue
        if pump_type is not None and a.pump_type != pump_type:
            continue
        if kind is not None and a.kind != kind:
            continue
        if want_tags and not all(t in a.tags or t in st_tags for t in want_tags):
            continue
        out.append(a.id)
    return out


def _all_tags(registry) -> list[str]:
    tags = {t for a in registry.assets.values() for t in a.tags}
    tags |= {t for st in registry.stations.values() for t in (st.get("tags") or [])}
    return sorted(tags)


def select_assets(spec: str | Iterable[str] | None = None, *, station=None, pump_type=None,
                  tags=None, kind=None, registry=None) -> list[str]:
    """Asset ids matching ``spec`` and the keyword filters, in registry order.

    Parameters
    ----------
    spec : str or list of str, optional
        Each entry is an asset id, a station id or name, a pump type
        (``variable_speed``/``fixed_speed``), an asset or station tag, a
        ``key:value`` filter (``station:``, ``type:``, ``tag:``, ``kind:``) or a
        phrase like ``"variable-speed pumps at NORTH"``. Entries are united.
        None: every asset.
    station, pump_type, tags, kind : optional
        Filters applied to the result (intersection). ``tags`` must all match.
    registry : AssetRegistry, path or dict, optional
        Default: ``AssetRegistry.load()`` (the ``assets.registry`` setting).

    Returns
    -------
    list of str

    Raises
    ------
    UnknownNameError
        An entry matches nothing; the message lists close matches among ids,
        stations, types and tags.

    Examples
    --------
    >>> from pumplib.assets import AssetRegistry
    >>> from pumplib.simulate import make_registry
    >>> reg = AssetRegistry.from_dict(make_registry())
    >>> select_assets("variable-speed pumps at NORTH", registry=reg)
    ['N-P1']
    >>> select_assets(["SOUTH"], kind="pump", registry=reg)
    ['S-P1', 'S-P2']
    >>> select_assets("N-P4", registry=reg)
    Traceback (most recent call last):
    ...
    pumplib.errors.UnknownNameError: unknown asset 'N-P4'. Did you mean 'N-P3', 'N-P2', 'N-P1'? ...
    """
    reg = _registry(registry)
    order = list(reg.assets)
    if spec is None:
        chosen = set(order)
    else:
        items = [spec] if isinstance(spec, str) else list(spec)
        if not items:
            raise ArgumentError("select_assets: spec is an empty list; give asset ids, stations, "
                                "types or tags, or None for every asset")
        chosen = set()
        for item in items:
            chosen |= set(_one_spec(str(item), reg))
    keep = set(_filter(reg, station=station, pump_type=pump_type, tags=tags, kind=kind))
    return [a for a in order if a in chosen and a in keep]


def _one_spec(item: str, reg) -> list[str]:
    if item in reg.assets:
        return [item]
    if ":" in item:
        key, _, val = item.partition(":")
        key, val = key.strip().lower(), val.strip()
        keys = {"station": "station", "type": "pump_type", "pump_type": "pump_type",
                "tag": "tags", "kind": "kind", "asset": None}
        if key not in keys:
            raise UnknownNameError(choices_message("asset filter", key, keys))
        if keys[key] is None:
            return _one_spec(val, reg)
        if key in ("type", "pump_type"):
            val = next((t for t, w in _TYPE_WORDS.items() if val.lower() in w), val)
        return _filter(reg, **{keys[key]: val})
    sid = _station_of(item, reg)
    if sid is not None:
        return [a.id for a in reg.station_assets(sid)]
    for t, words in _TYPE_WORDS.items():
        if item.lower() in words:
            return _filter(reg, pump_type=t)
    if item in _all_tags(reg):
        return _filter(reg, tags=[item])
    phrase = _phrase(item, reg)
    if phrase is not None:
        return phrase
    choices = [*reg.assets, *reg.stations, *_TYPE_WORDS, *_all_tags(reg)]
    near = close_matches(item, choices)
    msg = f"unknown asset {item!r}."
    if near:
        msg += f" Did you mean {', '.join(repr(c) for c in near)}?"
    msg += (" Valid choices: asset ids " + ", ".join(map(repr, reg.assets))
            + "; stations " + ", ".join(map(repr, reg.stations))
            + "; types 'variable_speed', 'fixed_speed'"
            + ("; tags " + ", ".join(map(repr, _all_tags(reg))) if _all_tags(reg) else "")
            + "; or a phrase like 'variable-speed pumps at NORTH'")
    raise UnknownNameError(msg)


# ---------------------------------------------------------------------------
# features and levels
# ---------------------------------------------------------------------------
def available_columns(ds: xr.Dataset) -> list[str]:
    """Columns of a golden table (``(asset, time)`` variables)."""
    return sorted(str(v) for v, da in ds.data_vars.items() if da.dims == ("asset", "time"))


def _feature_of(column: str, da: xr.DataArray | None = None) -> str:
    if da is not None and da.attrs.get("feature"):
        return str(da.attrs["feature"])
    m = _AGG_SUFFIX.match(column)
    return m.group("feature") if m else column


def feature_columns(features: str | Iterable[str], columns: Iterable[str] | xr.Dataset
                    ) -> list[str]:
    """Expand feature names to columns; exact column names are kept.

    Examples
    --------
    >>> cols = ["energy_integral", "energy_mean", "energy_coverage", "runtime_duration"]
    >>> feature_columns(["energy", "runtime_duration"], cols)
    ['energy_integral', 'energy_mean', 'energy_coverage', 'runtime_duration']
    >>> feature_columns("enrgy", cols)
    Traceback (most recent call last):
    ...
    pumplib.errors.UnknownNameError: unknown feature or column 'enrgy'. Did you mean 'energy', ...
    """
    ds = columns if isinstance(columns, xr.Dataset) else None
    cols = available_columns(ds) if ds is not None else list(columns)
    by_feature: dict[str, list[str]] = {}
    for c in cols:
        by_feature.setdefault(_feature_of(c, ds[c] if ds is not None else None), []).append(c)
    names = [features] if isinstance(features, str) else list(features)
    if not names:
        raise ArgumentError("query: no features given; name at least one feature or column")
    out: list[str] = []
    for n in names:
        if n in cols:
            picked = [n]
        elif n in by_feature:
            picked = sorted(by_feature[n], key=lambda c: (c.endswith("_coverage"), cols.index(c)))
        else:
            raise UnknownNameError(choices_message("feature or column", n,
                                                   [*by_feature, *cols], limit=30))
        out.extend(c for c in picked if c not in out)
    return out


def _ts(t, name: str, timezone: str | None = None) -> pd.Timestamp | None:
    """A time as naive UTC; a naive input is wall time in ``timezone`` (default UTC)."""
    if t is None:
        return None
    try:
        ts = pd.Timestamp(t)
    except (ValueError, TypeError):
        raise ArgumentError(f"query: {name}={t!r} is not a time; use e.g. '2026-03-10' or "
                            "'2026-03-10T06:00'") from None
    if ts is pd.NaT:
        raise ArgumentError(f"query: {name}={t!r} is not a time")
    if ts.tzinfo is None and timezone not in (None, "UTC"):
        ts = ts.tz_localize(timezone, nonexistent="shift_forward", ambiguous=False)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _zone(attrs: Mapping | None = None, timezone: str | None = None) -> str:
    """The zone of local times: ``timezone``, else the table's (``attrs['timezone']``, the zone
    its days were cut in), else the ``utility.timezone`` setting."""
    return str(timezone or (attrs or {}).get("timezone") or config.get("utility.timezone"))


def _when(t, tz: str) -> str:
    """A UTC time as a short local label: the date alone at local midnight."""
    ts = pd.Timestamp(t)
    ts = (ts.tz_localize("UTC") if ts.tzinfo is None else ts).tz_convert(tz)
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M")


def _range_words(t0, t1, tz: str) -> str:
    """``[t0, t1)`` in words, local: ``between 2026-03-10 and 2026-03-17 (<tz>, end excluded)``."""
    if t0 is None and t1 is None:
        return f"at any time ({tz})"
    if t1 is None:
        return f"from {_when(t0, tz)} on ({tz})"
    if t0 is None:
        return f"before {_when(t1, tz)} ({tz})"
    return f"between {_when(t0, tz)} and {_when(t1, tz)} ({tz}, end excluded)"


def choose_level(start, end, max_points: int = MAX_POINTS, levels: Sequence[str] = LEVELS
                 ) -> str:
    """The finest level with at most ``max_points`` periods in ``[start, end)``.

    Examples
    --------
    >>> choose_level("2026-03-01", "2026-04-01")       # 31 days: 2976 quarter-hours
    '15min'
    >>> choose_level("2026-03-01", "2026-03-02")       # one day: 1440 minutes
    '1min'
    >>> choose_level("2025-01-01", "2026-01-01", max_points=400)
    '1D'
    """
    if int(max_points) < 1:
        raise ArgumentError(f"option 'max_points' given an invalid value: {max_points!r}. "
                            "Expected an integer ≥ 1")
    span = (_ts(end, "end") - _ts(start, "start")).total_seconds()
    if span <= 0:
        raise ArgumentError(f"query: end {end!r} is not after start {start!r}")
    for lv in levels:
        if span / LEVEL_SECONDS[lv] <= max_points:
            return lv
    return levels[-1]


def time_span(store=None, level: str = "1h", *, snapshot=None, as_of=None
              ) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First period start and last period end of a golden table (UTC, naive); the default
    hourly table gives the span of the data (calendar days and months overhang it)."""
    return _table_span(_open_level(level, store, snapshot, as_of))


def _table_span(ds: xr.Dataset) -> tuple[pd.Timestamp, pd.Timestamp]:
    t = ds["time"].values
    if not len(t):
        raise ArgumentError(f"level {ds.attrs.get('level')!r}: the golden table has no periods")
    end = np.asarray(ds["time_end"].isel(time=-1).values).reshape(-1)[0] \
        if "time_end" in ds.coords else t[-1]
    return pd.Timestamp(t[0]), pd.Timestamp(end)


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise UnknownNameError(choices_message("level", level, [*LEVELS, "auto"]))
    return level


# ---------------------------------------------------------------------------
# the query
# ---------------------------------------------------------------------------
def query(features: str | Iterable[str], assets=None, level: str | None = None, start=None,
          end=None, *, store=None, as_of=None, snapshot=None, max_points: int | None = None,
          registry=None, coverage: bool = True, timezone: str | None = None,
          version: int | None = None) -> xr.Dataset:
    """Golden-table columns for some assets and a time range, lazily.

    Parameters
    ----------
    features : str or list of str
        Feature names (all their columns) or exact column names.
    assets : str, list of str or None
        See :func:`select_assets`; None: every asset of the table.
    level : str, optional
        ``1min``, ``15min``, ``1h``, ``1D``, ``1W``, ``1M``; None or ``"auto"``
        picks the finest level with at most ``max_points`` periods per series.
    start, end : time-like, optional
        ``[start, end)`` on the period start; default the table's span. Naive
        times (``"2026-03-10"``, ``datetime.date``) are wall times in ``timezone``.
    store : str or Lake, optional
        Default: the ``store.url`` setting.
    as_of, snapshot : optional
        Point-in-time read: the lake as it was at a moment or snapshot.
    max_points : int, optional
        Bound of points per series for the automatic level (default 5000).
    registry : optional
        Asset registry used to resolve stations, types and tags.
    coverage : bool
        Keep the ``<feature>_coverage`` columns that a feature name expands to.
    timezone : str, optional
        Zone of naive ``start``/``end`` (default: the zone the table's days
        were cut in, its ``timezone`` attribute, else the ``utility.timezone``
        setting; ``"UTC"`` for lake time).
    version : int, optional
        Read the last build of this definition version (one feature; through
        :func:`pumplib.store.get_features`).

    Returns
    -------
    xarray.Dataset
        Dims ``(asset, time)``, ``time`` the period start in UTC, dask-backed;
        attrs ``level``, ``snapshot``, ``store``, ``timezone`` and ``level_chosen``
        (``"auto"`` or ``"given"``). Turn it into a table labelled in local time
        with :func:`to_frame`.

    Warns
    -----
    NoDataWarning
        No period of the level starts in the range; the message gives the
        periods the table has.

    Examples
    --------
    >>> import pumplib
    >>> ds = pumplib.query(["energy", "runtime_duration"], assets="variable-speed pumps",
    ...                    start="2026-03-10", end="2026-03-12")     # doctest: +SKIP
    >>> ds.attrs["level"]                                            # doctest: +SKIP
    '1min'
    """
    max_points = int(config.get("query.max_points", MAX_POINTS, override_with=max_points))
    chosen = "given"
    if level in (None, "auto"):
        chosen = "auto"
        if start is None or end is None:     # the data's span, in UTC (not local wall time)
            s0, e0 = time_span(store, "1h", snapshot=snapshot, as_of=as_of)
            start = s0.tz_localize("UTC") if start is None else start
            end = e0.tz_localize("UTC") if end is None else end
        level = choose_level(start, end, max_points)
    _check_level(level)
    table = _open_level(level, store, snapshot, as_of)
    tz = _zone(table.attrs, timezone)
    t0, t1 = _ts(start, "start", tz), _ts(end, "end", tz)
    if t0 is not None and t1 is not None and t1 <= t0:
        raise ArgumentError(f"query: end {end!r} is not after start {start!r}")
    cols = feature_columns(features, table)
    if not coverage and not isinstance(features, str):
        cols = [c for c in cols if not c.endswith("_coverage") or c in features]
    elif not coverage:
        cols = [c for c in cols if not c.endswith("_coverage") or c == features]
    if assets is not None:
        ids = select_assets(assets, registry=registry) if not _all_ids(assets, table) \
            else ([assets] if isinstance(assets, str) else list(assets))
        present = set(map(str, table["asset"].values))
        missing = [a for a in ids if a not in present]
        if missing:
            raise UnknownNameError(f"{table.attrs.get('store', '')}: no golden-table rows for "
                                   + choices_message("asset", missing[0], present))
    from .store import get_features

    ids = ids if assets is not None else None
    if version is not None:
        ds = get_features(features, assets=ids, start=t0, end=t1, level=level,
                          version=version, store=store)
    else:
        ds = get_features(cols, assets=ids, start=t0, end=t1, level=level, as_of=as_of,
                          snapshot=snapshot, store=store)
    ds = ds[[c for c in cols if c in ds.data_vars]]
    ds.attrs.update({"level": level, "level_chosen": chosen, "max_points": int(max_points)})
    if ds.sizes.get("time", 0) == 0:
        zone = _zone(ds.attrs, None)
        times = table["time"].values
        warnings.warn(f"query: no {level} period starts {_range_words(t0, t1, zone)}; "
                      f"the {level} table's periods start from {_when(times[0], zone)} to "
                      f"{_when(times[-1], zone)}", NoDataWarning, stacklevel=_stacklevel())
    return ds


def _stacklevel() -> int:
    """The stack level of the first frame outside pumplib's query module (for warnings)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1
    return level


def _all_ids(assets, table) -> bool:
    items = [assets] if isinstance(assets, str) else list(assets)
    present = set(map(str, table["asset"].values))
    return bool(items) and all(str(a) in present for a in items)


def query_raw(signals: str | Iterable[str], assets=None, start=None, end=None, *,
              cadence: str | None = None, store=None, snapshot=None, as_of=None,
              registry=None, good: bool = False, timezone: str | None = None) -> xr.Dataset:
    """Raw lake signals (``1s``/``1min`` …) for assets and a range, lazily.

    ``good=True`` masks samples the quality flags do not call good. Naive
    ``start``/``end`` are wall times in ``timezone`` (default the utility's).
    Unknown signals raise with the close matches.
    """
    tz = config.get("utility.timezone", override_with=timezone)
    lake = _lake(store)
    ds = lake.open_raw(cadence, snapshot=snapshot, as_of=as_of)
    names = [signals] if isinstance(signals, str) else list(signals)
    have = [v for v in ds.data_vars if not str(v).endswith("_sq")]
    for n in names:
        if n not in have:
            raise UnknownNameError(choices_message("signal", n, have))
    if good:
        from .quality import good as _good

        attrs = dict(ds.attrs)
        ds = _good(ds[names + [f"{n}_sq" for n in names if f"{n}_sq" in ds]])
        ds.attrs = attrs
    out = ds[names]
    if assets is not None:
        ids = ([assets] if isinstance(assets, str) else list(assets)) if _all_ids(assets, ds) \
            else select_assets(assets, registry=registry)
        present = set(map(str, ds["asset"].values))
        ids = [a for a in ids if a in present]
        out = out.sel(asset=ids)
    t0, t1 = _ts(start, "start", tz), _ts(end, "end", tz)
    if t0 is not None or t1 is not None:
        times = out.indexes["time"]
        i0 = 0 if t0 is None else int(times.searchsorted(t0, "left"))
        i1 = len(times) if t1 is None else int(times.searchsorted(t1, "left"))
        out = out.isel(time=slice(i0, i1))
    out.attrs = dict(ds.attrs)
    return out


def to_frame(ds: xr.Dataset | xr.DataArray, *, wide: bool = False,
             timezone: str | None = None) -> pd.DataFrame:
    """A query result as a pandas table (this computes it), labelled in local time.

    Long form (default): one row per ``(time, asset)`` with a column per
    variable. ``wide=True``: time index, columns ``(variable, asset)``.

    ``time`` is each period's start as a time-zone-aware timestamp in the
    utility's zone (the table's ``timezone`` attribute, else the
    ``utility.timezone`` setting), so the local day 10 March reads
    ``2026-03-10 00:00:00+01:00``; ``timezone="UTC"`` (or any zone) converts
    it. Compare it with other aware times, or use ``frame["time"].dt.date``
    for local calendar dates. ``frame.attrs`` holds ``timezone``, ``level``
    and ``units`` (column → CF ``units``).

    When every value of the result is missing (a range or assets without
    data, or coverage below ``min_coverage`` throughout), a
    :class:`~pumplib.errors.NoDataWarning` says so and names, per asset,
    the days that do have values.

    Examples
    --------
    >>> t = pd.date_range("2026-03-09 23:00", periods=2, freq="1D")   # UTC, as in the lake
    >>> ds = xr.Dataset({"energy_integral": (("asset", "time"), [[1.0, 2.0], [3.0, 4.0]],
    ...                                      {"units": "kWh"})},
    ...                 coords={"asset": ["P1", "P2"], "time": t},
    ...                 attrs={"timezone": "Europe/Amsterdam", "level": "1D"})
    >>> frame = to_frame(ds)
    >>> frame
                           time asset  energy_integral
    0 2026-03-10 00:00:00+01:00    P1              1.0
    1 2026-03-11 00:00:00+01:00    P1              2.0
    2 2026-03-10 00:00:00+01:00    P2              3.0
    3 2026-03-11 00:00:00+01:00    P2              4.0
    >>> frame.attrs["units"]
    {'energy_integral': 'kWh'}
    >>> to_frame(ds, timezone="UTC")["time"].iloc[0]
    Timestamp('2026-03-09 23:00:00+0000', tz='UTC')
    """
    if isinstance(ds, xr.DataArray):
        hints = {k: ds.attrs[k] for k in ("level", "timezone", "store", "snapshot")
                 if k in ds.attrs}
        ds = ds.to_dataset(name=ds.name or "value")
        ds.attrs = {**hints, **ds.attrs}
    tz = _zone(ds.attrs, timezone)
    attrs = dict(ds.attrs)
    ds = ds.drop_vars([c for c in ds.coords if c not in ds.dims], errors="ignore")
    ds = ds.compute()
    meta = {"timezone": tz, "level": attrs.get("level"),
            "units": {str(v): str(ds[v].attrs["units"]) for v in ds.data_vars
                      if "units" in ds[v].attrs}}
    if "time" in ds.dims and ds.sizes["time"]:
        _warn_if_no_values(ds, attrs, tz)
    if wide:
        frames = {v: ds[v].transpose("time", "asset").to_pandas() for v in ds.data_vars}
        df = pd.concat(frames, axis=1, names=["variable", "asset"])
        if isinstance(df.index, pd.DatetimeIndex):
            df.index = _aware(df.index, tz)
    else:
        df = ds.to_dataframe().reset_index()
        lead = [c for c in ("time", "asset") if c in df.columns]
        df = df[lead + [c for c in df.columns if c not in lead]]
        if "time" in df.columns and pd.api.types.is_datetime64_any_dtype(df["time"]):
            df["time"] = _aware(pd.DatetimeIndex(df["time"]), tz)
    df.attrs = meta
    return df


def _aware(index: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    """UTC (naive = UTC, as in the lake) → aware times in ``tz``."""
    index = index.tz_localize("UTC") if index.tz is None else index
    return index.tz_convert(tz).rename(index.name)


def _warn_if_no_values(ds: xr.Dataset, attrs: Mapping, tz: str) -> None:
    """A NoDataWarning when no value column of a computed result holds a value: why (coverage
    below ``min_coverage``, or no data) and the days that have values, per asset."""
    values = [str(v) for v in ds.data_vars if not str(v).endswith("_coverage")]
    if not values or any(bool(ds[v].notnull().any()) for v in values):
        return
    t = ds["time"].values
    level = attrs.get("level") or "time"
    periods = (f"the {level} period of {_when(t[0], tz)}" if len(t) == 1 else
               f"the {len(t)} {level} periods from {_when(t[0], tz)} to {_when(t[-1], tz)}")
    assets = [str(a) for a in ds["asset"].values] if "asset" in ds.dims else []
    msg = (f"no values of {', '.join(values)} for {', '.join(assets) or 'any asset'} in "
           f"{periods} ({tz})")
    cover = [str(v) for v in ds.data_vars if str(v).endswith("_coverage")]
    need = [float(ds[v].attrs["min_coverage"]) for v in values if "min_coverage" in ds[v].attrs]
    best = max((float(ds[c].max()) for c in cover if bool(ds[c].notnull().any())), default=0.0)
    if best > 0 and need:
        msg += (f": coverage (share of good samples) reaches only {best:.2g}, below "
                f"min_coverage {min(need):g}")
    else:
        msg += ": no good data"
    spans = _value_spans(attrs, values, assets, tz)
    if spans:
        msg += "; " + spans
    warnings.warn(msg, NoDataWarning, stacklevel=_stacklevel())


def _value_spans(attrs: Mapping, columns: list[str], assets: list[str], tz: str) -> str:
    """``'days with values: N-P1 2026-03-09 … 2026-04-05; N-T1 none'``, read from the day table
    of the lake the result came from; '' when that cannot be read."""
    if attrs.get("store") is None or not assets:
        return ""
    try:
        table = _open_level("1D", attrs["store"], attrs.get("snapshot"))
        cols = [c for c in columns if c in table.data_vars]
        have = [a for a in assets if a in set(map(str, table["asset"].values))]
        if not cols or not have:
            return ""
        sub = table[cols].sel(asset=have)
        has = np.zeros((len(have), sub.sizes["time"]), bool)
        for c in cols:
            has |= np.asarray(sub[c].notnull().values)
    except (PumplibError, OSError, KeyError, ValueError):
        return ""
    times = table["time"].values
    by_span: dict[str, list[str]] = {}
    for a, row in zip(have, has, strict=True):
        idx = np.flatnonzero(row)
        words = f"{_when(times[idx[0]], tz)} … {_when(times[idx[-1]], tz)}" if len(idx) \
            else "none"
        by_span.setdefault(words, []).append(a)
    return "days with values: " + "; ".join(f"{', '.join(a)} {w}" for w, a in by_span.items())


# ---------------------------------------------------------------------------
# the module is callable: pumplib.query(...)
# ---------------------------------------------------------------------------
class _CallableModule(types.ModuleType):
    """``pumplib.query`` is this module and :func:`query` at once."""

    def __call__(self, *args, **kwargs) -> xr.Dataset:
        return query(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
