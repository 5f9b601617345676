"""One selection model for every front end: assets, time range, level, features.

:class:`Selection` holds what a user has picked and tells observers when it
changes; the ipywidgets panels (:mod:`pumplib.ui.widgets`) and the marimo
elements (:mod:`pumplib.ui.marimo`) both read and write it, so a notebook, a
Voila dashboard and a marimo app behave the same. It knows the query API
(:func:`pumplib.query.query`), never the lake's internals.

Stable API (apps build on it):

* attributes ``assets`` (tuple of ids), ``start``/``end`` (UTC ``Timestamp`` or
  None), ``level`` (a level or ``"auto"``), ``features`` (tuple of names or
  columns), ``data_start``/``data_end`` (the span of the data);
* :meth:`Selection.set` (several fields, one notification), :meth:`observe`
  (callback ``fn(changes, selection)``, returns an unsubscribe function);
* :meth:`preset` (``"last_day"``, ``"last_week"``, ``"last_month"``,
  ``"last_year"``, ``"all"``, relative to the data's end),
  :meth:`drill_down` (zoom on a time point to a finer level), :meth:`back`;
* :meth:`query` (the selection's data, lazy), :meth:`effective_level`;
* :meth:`asset_tree`, :meth:`search_assets`, :meth:`feature_table`,
  :meth:`search_features` (catalog description and unit);
* :meth:`to_dict` / :meth:`from_dict`.

Examples
--------
>>> from pumplib.assets import AssetRegistry
>>> from pumplib.simulate import make_registry
>>> sel = Selection(AssetRegistry.from_dict(make_registry()), data_start="2026-03-01",
...                 data_end="2026-04-01")
>>> seen = []
>>> _ = sel.observe(lambda changes, s: seen.append(sorted(changes)))
>>> sel.set(assets=["N-P1"], features=["energy"])
>>> sel.preset("last_week")
>>> sel.start, sel.end, seen
(Timestamp('2026-03-25 00:00:00'), Timestamp('2026-04-01 00:00:00'), [['assets', 'features'], ['start']])
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from ..errors import ArgumentError, PumplibError, UnknownNameError, choices_message

__all__ = ["DRILL_WINDOWS", "PRESETS", "Selection"]

#: time presets: name → span before the data's end (None: everything)
PRESETS: dict[str, pd.Timedelta | None] = {
    "last_day": pd.Timedelta("1D"), "last_week": pd.Timedelta("7D"),
    "last_month": pd.Timedelta("30D"), "last_year": pd.Timedelta("365D"), "all": None}
#: drill-down: from a level, the next finer level and the window shown around the point
DRILL_WINDOWS: dict[str, tuple[str, pd.Timedelta]] = {
    "1M": ("1D", pd.Timedelta("31D")), "1W": ("1h", pd.Timedelta("7D")),
    "1D": ("1h", pd.Timedelta("2D")), "1h": ("15min", pd.Timedelta("12h")),
    "15min": ("1min", pd.Timedelta("2h")), "1min": ("1min", pd.Timedelta("30min"))}
_FIELDS = ("assets", "start", "end", "level", "features")


def _ts(t, name: str) -> pd.Timestamp | None:
    if t is None:
        return None
    try:
        ts = pd.Timestamp(t)
    except (TypeError, ValueError):
        raise ArgumentError(f"selection: {name}={t!r} is not a time") from None
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


class Selection:
    """Assets, time range, level and features a user has picked; observable.

    Parameters
    ----------
    registry : AssetRegistry, optional
        The asset tree; default ``AssetRegistry.load()``.
    store : str or Lake, optional
        Where :meth:`query` reads (default: the ``store.url`` setting).
    catalog : FeatureCatalog, optional
        Feature descriptions and units (default: ``load_catalog()``).
    data_start, data_end : time-like, optional
        Span of the data (UTC); default from the store's daily table.
    max_points : int
        Bound of points per series for the automatic level.
    """

    def __init__(self, registry=None, *, store=None, catalog=None, data_start=None,
                 data_end=None, max_points: int = 5000, assets: Iterable[str] = (),
                 features: Iterable[str] = (), level: str = "auto"):
        from ..query import _registry

        self.registry = _registry(registry)
        self.store = store
        self._catalog = catalog
        self.max_points = int(max_points)
        if data_start is None or data_end is None:
            s, e = self._span()
            data_start = s if data_start is None else data_start
            data_end = e if data_end is None else data_end
        self.data_start = _ts(data_start, "data_start")
        self.data_end = _ts(data_end, "data_end")
        self.assets: tuple[str, ...] = ()
        self.start: pd.Timestamp | None = self.data_start
        self.end: pd.Timestamp | None = self.data_end
        self.level: str = "auto"
        self.features: tuple[str, ...] = ()
        self._observers: list[Callable[[dict, Selection], Any]] = []
        self._history: list[dict] = []
        self._lock = threading.RLock()
        self._quiet = False
        self.set(assets=tuple(assets), features=tuple(features), level=level, _notify=False)

    # -- data span --------------------------------------------------------------
    def _span(self):
        from ..query import time_span

        try:
            return time_span(self.store, "1h")
        except PumplibError:
            return None, None

    # -- observing ------------------------------------------------------------------
    def observe(self, callback: Callable[[dict, Selection], Any]) -> Callable[[], None]:
        """Call ``callback(changes, selection)`` after each change; returns an unsubscribe.

        ``changes`` maps each changed field to ``(old, new)``.
        """
        self._observers.append(callback)

        def unobserve() -> None:
            if callback in self._observers:
                self._observers.remove(callback)
        return unobserve

    def _emit(self, changes: dict) -> None:
        if not changes or self._quiet:
            return
        for cb in list(self._observers):
            cb(changes, self)

    # -- changing -------------------------------------------------------------------
    def set(self, *, _notify: bool = True, _record: bool = True, **values) -> None:
        """Change several fields at once (``assets``, ``start``, ``end``, ``level``,
        ``features``); observers hear one notification with all changes."""
        from ..query import LEVELS

        bad = [k for k in values if k not in _FIELDS]
        if bad:
            raise UnknownNameError(choices_message("selection field", bad[0], _FIELDS))
        new: dict[str, Any] = {}
        if "assets" in values:
            ids = tuple(values["assets"] or ())
            unknown = [a for a in ids if a not in self.registry.assets]
            if unknown:
                raise UnknownNameError(choices_message("asset", unknown[0],
                                                       self.registry.assets))
            new["assets"] = ids
        for k in ("start", "end"):
            if k in values:
                new[k] = _ts(values[k], k)
        if "level" in values:
            lv = values["level"] or "auto"
            if lv != "auto" and lv not in LEVELS:
                raise UnknownNameError(choices_message("level", lv, [*LEVELS, "auto"]))
            new["level"] = lv
        if "features" in values:
            f = values["features"]
            new["features"] = (f,) if isinstance(f, str) else tuple(f or ())
        start = new.get("start", self.start)
        end = new.get("end", self.end)
        if start is not None and end is not None and end <= start:
            raise ArgumentError(f"selection: end {end} is not after start {start}")
        with self._lock:
            changes = {k: (getattr(self, k), v) for k, v in new.items() if getattr(self, k) != v}
            if changes and _record:
                self._history.append({k: old for k, (old, _) in changes.items()})
            for k, (_, v) in changes.items():
                setattr(self, k, v)
        if _notify:
            self._emit(changes)

    def preset(self, name: str) -> None:
        """Time range ``name`` (see :data:`PRESETS`) ending at the data's end; the level
        goes back to ``auto`` (a month at a drilled-down 1 min would be too many points)."""
        if name not in PRESETS:
            raise UnknownNameError(choices_message("time preset", name, PRESETS))
        if self.data_end is None:
            raise ArgumentError("selection: the data span is unknown; pass data_start/data_end")
        span = PRESETS[name]
        start = self.data_start if span is None else max(self.data_end - span, self.data_start
                                                         or self.data_end - span)
        self.set(start=start, end=self.data_end, level="auto")

    def drill_down(self, point, *, level: str | None = None,
                   window: str | pd.Timedelta | None = None) -> None:
        """Zoom on ``point``: a finer level and a window around it (down to minutes).

        Without ``level``/``window`` one step of :data:`DRILL_WINDOWS` from the
        current effective level: a month view becomes the days of that month, a
        day becomes hours, an hour quarter-hours, a quarter-hour the minutes
        around the point. :meth:`back` undoes it.
        """
        from ..query import LEVELS

        t = _ts(point, "point")
        cur = self.effective_level()
        nxt, win = DRILL_WINDOWS[cur]
        if level is not None:
            if level not in LEVELS:
                raise UnknownNameError(choices_message("level", level, LEVELS))
            nxt = level
            win = next((w for lv, (n, w) in DRILL_WINDOWS.items() if n == level), win)
        if window is not None:
            win = pd.Timedelta(window)
        start, end = t - win / 2, t + win / 2
        if self.data_start is not None and start < self.data_start:
            start, end = self.data_start, self.data_start + win
        if self.data_end is not None and end > self.data_end:
            start, end = max(self.data_end - win, self.data_start or self.data_end - win), \
                self.data_end
        self.set(start=start, end=end, level=nxt)

    def back(self) -> bool:
        """Undo the last change (drill-down, preset …); False if there is none."""
        if not self._history:
            return False
        prev = self._history.pop()
        self.set(_record=False, **prev)
        return True

    # -- reading ----------------------------------------------------------------------
    def effective_level(self) -> str:
        """The level a query would use now (``auto`` resolved)."""
        from ..query import choose_level

        if self.level != "auto":
            return self.level
        if self.start is None or self.end is None:
            return "1D"
        return choose_level(self.start, self.end, self.max_points)

    def query(self, **kwargs):
        """The selected data (lazy xarray.Dataset), via :func:`pumplib.query.query`."""
        from ..query import query

        if not self.features:
            raise ArgumentError("selection: pick at least one feature")
        return query(list(self.features), assets=list(self.assets) or None,
                     level=self.effective_level(), start=self.start, end=self.end,
                     store=kwargs.pop("store", self.store), registry=self.registry,
                     timezone="UTC", **kwargs)

    # -- assets ---------------------------------------------------------------------------
    def asset_tree(self, *, kind: str | None = None) -> dict:
        """``{utility: {station: [asset ids]}}`` (only ``kind`` assets when given)."""
        util = self.registry.utility.get("name") or self.registry.utility.get("id", "utility")
        tree: dict[str, list[str]] = {}
        for a in self.registry.assets.values():
            if kind is None or a.kind == kind:
                tree.setdefault(a.station, []).append(a.id)
        return {util: tree}

    def search_assets(self, text: str = "", *, pump_type: str | None = None,
                      tag: str | None = None, station: str | None = None,
                      kind: str | None = None) -> list[str]:
        """Asset ids whose id, name, station or tags contain ``text`` (case-insensitive),
        filtered by type, tag, station and kind."""
        from ..query import select_assets

        ids = select_assets(None, station=station, pump_type=pump_type,
                            tags=[tag] if tag else None, kind=kind, registry=self.registry)
        t = (text or "").strip().lower()
        if not t:
            return ids
        out = []
        for i in ids:
            a = self.registry.assets[i]
            st = self.registry.stations[a.station]
            hay = " ".join([a.id, a.name, a.station, st.get("name", ""), a.pump_type or "",
                            *a.tags]).lower()
            if t in hay:
                out.append(i)
        return out

    def pump_types(self) -> list[str]:
        return sorted({a.pump_type for a in self.registry.assets.values() if a.pump_type})

    def asset_tags(self) -> list[str]:
        from ..query import _all_tags

        return _all_tags(self.registry)

    # -- features -----------------------------------------------------------------------------
    @property
    def catalog(self):
        if self._catalog is None:
            from ..features.definitions import load_catalog

            self._catalog = load_catalog()
        return self._catalog

    def feature_table(self) -> pd.DataFrame:
        """Features of the catalog: ``unit``, ``description``, ``columns``, ``tags``, ``owner``."""
        rows = []
        for name, d in self.catalog.items():
            cols = sorted({f"{name}_{a.replace('=', '_')}" for aggs in d.aggregations.values()
                           for a in aggs})
            rows.append({"feature": name, "unit": d.unit, "description": d.description,
                         "columns": ", ".join(cols), "tags": ", ".join(d.tags),
                         "owner": d.owner, "version": d.version})
        return pd.DataFrame(rows).set_index("feature") if rows else pd.DataFrame(
            columns=["unit", "description", "columns", "tags", "owner", "version"])

    def search_features(self, text: str = "") -> pd.DataFrame:
        """Catalog features whose name, description, unit or tags contain ``text``."""
        ft = self.feature_table()
        t = (text or "").strip().lower()
        if not t:
            return ft
        hay = (ft.index.to_series() + " " + ft["description"] + " " + ft["unit"] + " "
               + ft["tags"] + " " + ft["columns"]).str.lower()
        return ft[hay.str.contains(t, regex=False)]

    def describe_feature(self, name: str) -> str:
        """``name [unit]: description`` for a feature or one of its columns."""
        from ..query import _feature_of

        f = name if name in self.catalog else _feature_of(name)
        if f not in self.catalog:
            raise UnknownNameError(choices_message("feature", name, self.catalog))
        d = self.catalog[f]
        return f"{name} [{d.unit}]: {d.description}"

    # -- persistence --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"assets": list(self.assets), "features": list(self.features),
                "level": self.level,
                "start": None if self.start is None else self.start.isoformat(),
                "end": None if self.end is None else self.end.isoformat()}

    @classmethod
    def from_dict(cls, d: Mapping, registry=None, **kwargs) -> Selection:
        sel = cls(registry, **kwargs)
        sel.set(**{k: v for k, v in d.items() if k in _FIELDS}, _notify=False)
        return sel

    def __repr__(self) -> str:
        return (f"Selection(assets={list(self.assets)}, features={list(self.features)}, "
                f"level={self.level!r}, start={self.start}, end={self.end})")
