"""Operations: KPI tiles, chart data, alerts, evidence and recommendations for the apps.

The library behind the operations app (``notebooks/apps/operations.py``,
marimo) and dashboard (``notebooks/dashboards/operations.ipynb``, Voila):
the front ends only lay out what these functions return.

Levels, coarse to fine, and how one drills down from a period::

    strategic    1M, 1W      ─┐
    tactical     1D           │  1M → 1D → 1h → 15min → 1min   (1W → 1D)
    operational  1h, 15min    │
    real-time    1min        ─┘

Everything is read from the golden tables ``features/<level>`` (small), never
from the raw series, except the evidence of one alert: a short window of raw
samples around it, decimated to at most ``max_points`` per signal. Periods
follow the utility's calendar (``utility.timezone``); times in frames are the
period starts in UTC (naive), with a ``label`` in local time.

The front ends keep their state (pumps, level, time range) in one shared
:class:`pumplib.ui.Selection` (:meth:`Operations.selection`); :func:`view_of`,
:func:`apply_view`, :func:`drill_selection` and :meth:`Operations.scope_of` go
between it and the views and scopes used here.

KPIs (per period, summed or weighted over the pumps in scope):

==========================  =================  ===================================================
kpi                         unit               from
==========================  =================  ===================================================
energy                      kWh                Σ ``energy_integral``
cost                        currency           Σ ``energy_cost_integral``
volume                      m³                 Σ energy / ``specific_energy_mean`` (per pump)
specific_energy             kWh/m³             energy / volume
specific_energy_per_head    kWh/m³/m           volume-weighted ``normalised_specific_energy_mean``
vs_floor                    ×                  specific_energy_per_head / 0.00272 (physics floor)
efficiency                  %                  energy-weighted ``wire_to_water_efficiency_mean``
near_bep                    % of runtime       Σ ``time_near_bep_duration`` / Σ ``runtime_duration``
starts                      count              Σ ``starts_starts``
runtime                     h                  Σ ``runtime_duration``
data_quality                0–100              daily quality score (``pumplib.dqscore`` or
                                               :func:`pumplib.quality.scores`), mean over signals
==========================  =================  ===================================================

Examples
--------
>>> ops = Operations("./store")                                  # doctest: +SKIP
>>> ops.kpis("utility", View("1M"))["energy"]                     # doctest: +SKIP
{'value': 61234.5, 'unit': 'kWh', 'label': 'Energy', 'coverage': 0.97}
>>> month = ops.periods(View("1M"))[0]                            # doctest: +SKIP
>>> day_view = drill_down(View("1M"), month.start)                # doctest: +SKIP
>>> ops.alerts(scope="S-P1")                                      # doctest: +SKIP
>>> ops.recommendations()                                         # doctest: +SKIP
"""

from __future__ import annotations

import functools
import html
import importlib
import importlib.util
import math
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import config
from .errors import ArgumentError, PumplibError, UnknownNameError, choices_message

LEVELS = ("1M", "1W", "1D", "1h", "15min", "1min")
TIERS = {"strategic": ("1M", "1W"), "tactical": ("1D",), "operational": ("1h", "15min"),
         "real-time": ("1min",)}
#: the level one drills down to from a period of each level
CHILD = {"1M": "1D", "1W": "1D", "1D": "1h", "1h": "15min", "15min": "1min"}
#: ρ g / 3.6e6: kWh to lift one m³ by one metre with a perfect pump and motor
FLOOR_KWH_M3_M = 0.00272
#: most points of one series a page receives
MAX_POINTS = 2000
ALERT_KINDS = ("outlier", "quality", "forecast")
SEVERITIES = ("low", "medium", "high")

KPI_SPEC: dict[str, tuple[str, str]] = {
    "energy": ("Energy", "kWh"),
    "cost": ("Cost", "{currency}"),
    "volume": ("Volume pumped", "m³"),
    "specific_energy": ("Specific energy", "kWh/m³"),
    "specific_energy_per_head": ("Specific energy per metre of head", "kWh/m³/m"),
    "vs_floor": ("Against the physical floor (0.00272 kWh/m³/m)", "×"),
    "efficiency": ("Wire-to-water efficiency", "%"),
    "near_bep": ("Time near BEP", "% of runtime"),
    "starts": ("Starts", ""),
    "runtime": ("Runtime", "h"),
    "data_quality": ("Data-quality score", "/100"),
}
#: golden-table columns the KPIs need
COLUMNS = ["energy_integral", "energy_coverage", "energy_cost_integral", "specific_energy_mean",
           "normalised_specific_energy_mean", "wire_to_water_efficiency_mean",
           "time_near_bep_duration", "runtime_duration", "starts_starts"]
ALERT_COLUMNS = ["alert_id", "kind", "asset", "station", "start", "end", "severity", "score",
                 "title", "explanation", "signals", "source", "status", "assignee"]
REC_COLUMNS = ["rec_id", "kind", "asset", "station", "title", "evidence", "saving_kwh",
               "saving_money", "currency", "assumptions", "confidence", "lineage", "status",
               "assignee", "accepted_by", "accepted_at", "reason", "n_comments",
               "verified_saving_kwh", "verified_saving_money"]


# -- views and drill-down ------------------------------------------------------------
@dataclass(frozen=True)
class View:
    """What a page shows: a level and an optional UTC window ``[start, end)``.

    Examples
    --------
    >>> View("1D", "2026-03-01", "2026-04-01").tier
    'tactical'
    """

    level: str = "1M"
    start: pd.Timestamp | str | None = None
    end: pd.Timestamp | str | None = None

    def __post_init__(self):
        if self.level not in LEVELS:
            raise UnknownNameError(choices_message("level", self.level, LEVELS))
        for name in ("start", "end"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, _utc_naive(v))

    @property
    def tier(self) -> str:
        return next(t for t, lv in TIERS.items() if self.level in lv)


@dataclass(frozen=True)
class Period:
    """One period of a level: UTC start/end and a local label."""

    level: str
    start: pd.Timestamp
    end: pd.Timestamp
    label: str


def period_end(level: str, start, timezone: str | None = None) -> pd.Timestamp:
    """End (UTC, exclusive) of the period of ``level`` starting at ``start`` (UTC).

    Calendar levels (1D, 1W, 1M) follow the local calendar, so a day across the
    change to summer time lasts 23 hours.

    Examples
    --------
    >>> str(period_end("1D", "2026-03-28 23:00", "Europe/Amsterdam"))
    '2026-03-29 22:00:00'
    >>> str(period_end("1M", "2026-02-28 23:00", "Europe/Amsterdam"))
    '2026-03-31 22:00:00'
    """
    if level not in LEVELS:
        raise UnknownNameError(choices_message("level", level, LEVELS))
    tz = timezone or config.get("utility.timezone")
    start = _utc_naive(start)
    if level in ("1h", "15min", "1min"):
        return start + pd.Timedelta(level)
    local = start.tz_localize("UTC").tz_convert(tz)
    step = {"1D": pd.DateOffset(days=1), "1W": pd.DateOffset(weeks=1),
            "1M": pd.DateOffset(months=1)}[level]
    return (local + step).tz_convert("UTC").tz_localize(None)


def drill_down(view: View, start, timezone: str | None = None) -> View:
    """The finer view of the period of ``view.level`` that starts at ``start``.

    Examples
    --------
    >>> v = drill_down(View("1M"), "2026-02-28 23:00", "Europe/Amsterdam")
    >>> v.level, str(v.start), str(v.end)
    ('1D', '2026-02-28 23:00:00', '2026-03-31 22:00:00')
    """
    if view.level not in CHILD:
        raise ArgumentError(f"cannot drill down from level {view.level!r}: it is the finest. "
                            f"Levels that drill down: {list(CHILD)}")
    start = _utc_naive(start)
    return View(CHILD[view.level], start, period_end(view.level, start, timezone))


def roll_up(view: View) -> View:
    """The coarsest view (the whole span at 1M): the way back up."""
    return View("1M")


# -- the shared selection model (pumplib.ui.Selection) ---------------------------------
def view_of(selection) -> View:
    """The :class:`View` of a :class:`pumplib.ui.Selection`: its level and time range.

    The selection is the single source of truth of the ops front ends (assets,
    level, time range); the view is derived from it. A level of ``auto`` is
    resolved with :meth:`~pumplib.ui.Selection.effective_level`.

    Examples
    --------
    >>> from pumplib.assets import AssetRegistry
    >>> from pumplib.simulate import make_registry
    >>> from pumplib.ui import Selection
    >>> sel = Selection(AssetRegistry.from_dict(make_registry()), data_start="2026-03-01",
    ...                 data_end="2026-04-01")
    >>> apply_view(sel, View("1D", "2026-03-09", "2026-03-16"))
    >>> view_of(sel)
    View(level='1D', start=Timestamp('2026-03-09 00:00:00'), end=Timestamp('2026-03-16 00:00:00'))
    """
    level = selection.level if selection.level != "auto" else selection.effective_level()
    return View(level, selection.start, selection.end)


def apply_view(selection, view: View) -> None:
    """Write ``view`` (level, start, end) into ``selection`` in one change.

    A view without a window (the whole span) leaves the selection without one
    (``start``/``end`` None). :meth:`~pumplib.ui.Selection.back` undoes it.
    """
    selection.set(level=view.level, start=view.start, end=view.end)


def drill_selection(selection, start, timezone: str | None = None) -> View:
    """Drill ``selection`` down from the period starting at ``start`` (see :func:`drill_down`).

    The ops calendar drill-down (a month becomes its local days, a day its
    hours …) applied through the shared model; returns the new view.

    Examples
    --------
    >>> from pumplib.assets import AssetRegistry
    >>> from pumplib.simulate import make_registry
    >>> from pumplib.ui import Selection
    >>> sel = Selection(AssetRegistry.from_dict(make_registry()), data_start="2026-03-01",
    ...                 data_end="2026-04-01", level="1M")
    >>> sel.set(start=None, end=None)
    >>> drill_selection(sel, "2026-02-28 23:00", "Europe/Amsterdam").level, sel.level
    ('1D', '1D')
    >>> _ = sel.back(); sel.level, sel.start
    ('1M', None)
    """
    view = drill_down(view_of(selection), start, timezone)
    apply_view(selection, view)
    return view


# -- the operations object ------------------------------------------------------------
class Operations:
    """KPIs, charts, alerts, evidence and recommendations of one store.

    Parameters
    ----------
    store : str, path or Lake, optional
        The lake (default: the ``store.url`` setting).
    registry : AssetRegistry or path, optional
        The asset registry (default: the ``assets.registry`` setting).
    actions : ActionLog or str, optional
        The action log or its SQLAlchemy URL (default: a SQLite file beside the store).
    max_points : int, optional
        Most points of one series handed to a page (setting ``ops.max_points``,
        default 2000).
    quality_threshold : float, optional
        Daily quality scores below this raise a data-quality alert (setting
        ``ops.quality_threshold``, default 80).
    cache : bool
        Keep derived tables (daily quality scores) per lake snapshot on disk,
        so the next page (or kernel) starts fast. A snapshot never changes, so
        the files stay valid; they are named by snapshot id.
    cache_dir : path, optional
        Where (setting ``ops.cache_dir``); default
        ``<parent>/.pumplib/ops_cache/<store folder name>/`` beside a local store
        (like the Q&A index), none for object stores.
    """

    def __init__(self, store=None, registry=None, actions=None, *, max_points: int | None = None,
                 quality_threshold: float | None = None, cache: bool = True,
                 cache_dir: str | os.PathLike | None = None):
        from .actions import ActionLog
        from .assets import AssetRegistry
        from .lake import Lake

        self.lake = store if isinstance(store, Lake) else Lake(store, create=False)
        if registry is None or isinstance(registry, (str, os.PathLike)):
            registry = AssetRegistry.load(registry)
        self.registry = registry
        if actions is None or isinstance(actions, str):
            actions = ActionLog(actions, store=self.lake.url)
        self.actions = actions
        max_points = config.get("ops.max_points", MAX_POINTS, override_with=max_points)
        self.max_points = int(max_points)
        if self.max_points < 10:
            raise ArgumentError(f"max_points must be at least 10, got {max_points!r}")
        self.quality_threshold = float(config.get("ops.quality_threshold", 80.0,
                                                  override_with=quality_threshold))
        self.cache = bool(cache)
        self.cache_dir = config.get("ops.cache_dir", None, override_with=cache_dir)
        self.timezone = self.registry.utility.get("timezone") or config.get("utility.timezone")
        self.currency = self.registry.utility.get("currency") or config.get("utility.currency")
        self._lock = threading.Lock()
        self._cache: dict[tuple, Any] = {}

    def __repr__(self) -> str:
        return f"Operations({self.lake.url!r})"

    # the shared selection ----------------------------------------------------------------
    def data_span(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last (exclusive) hour of the data, UTC naive (from ``features/1h``)."""
        ds = self._golden("1h")
        t = pd.DatetimeIndex(ds.time.values)
        if not len(t):
            raise ArgumentError(f"{self.lake.url}: the golden table features/1h is empty")
        return t[0], t[-1] + pd.Timedelta("1h")

    def selection(self, scope: str | None = "utility", view: View | None = None):
        """A :class:`pumplib.ui.Selection` over this store: the state of an ops front end.

        It holds the pumps of ``scope`` (see :meth:`scope_assets`) and the level
        and window of ``view`` (default: months over the whole span); the
        ipywidgets :class:`Dashboard` and the marimo app read and write it, and
        so do the ``pumplib.ui`` selectors (asset tree, presets) placed beside them.
        Use :func:`view_of`, :func:`apply_view`, :func:`drill_selection` and
        :meth:`scope_of` to go between the selection and the ops views and scopes.

        Examples
        --------
        >>> sel = Operations("./store").selection("S-P1")           # doctest: +SKIP
        >>> sel.assets, view_of(sel)                                # doctest: +SKIP
        (('S-P1',), View(level='1M', start=None, end=None))
        """
        from .ui import Selection

        start, end = self.data_span()
        sel = Selection(self.registry, store=self.lake, data_start=start, data_end=end,
                        assets=self.scope_assets(scope), level="1M",
                        max_points=self.max_points)
        view = view or View("1M")
        sel.set(level=view.level, start=view.start, end=view.end, _notify=False, _record=False)
        return sel

    def scope_of(self, assets) -> str | tuple[str, ...]:
        """The named scope (``"utility"``, a station id, a pump id) whose pumps are
        ``assets``, else the asset ids as a tuple (which every scope argument accepts).
        No assets mean the whole utility."""
        ids = tuple(assets or ())
        pumps = [a.id for a in self.registry.pumps()]
        if not ids or set(ids) == set(pumps):
            return "utility"
        if len(ids) == 1 and ids[0] in pumps:
            return ids[0]
        for sid in self.registry.stations:
            st = {a.id for a in self.registry.station_assets(sid) if a.kind == "pump"}
            if st and set(ids) == st:
                return sid
        return ids

    def scope_label(self, scope) -> str:
        """A scope's label (``"Pump N-P3 (NORTH)"``); for a set of assets, ``"3 pumps: …"``."""
        if isinstance(scope, str) or scope is None:
            return self.scopes().get(scope or "utility", str(scope))
        ids = self.scope_assets(scope)
        return f"{len(ids)} pump{'s' if len(ids) != 1 else ''}: {', '.join(ids)}"

    # scope -------------------------------------------------------------------------
    def scopes(self) -> dict[str, str]:
        """Selectable scopes, id → label: the utility, each station, each pump."""
        uid = self.registry.utility.get("id", "utility")
        out = {"utility": f"Utility {self.registry.utility.get('name', uid)}"}
        for sid, st in self.registry.stations.items():
            out[sid] = f"Station {st.get('name', sid)}"
        for a in self.registry.pumps():
            out[a.id] = f"Pump {a.id} ({a.station})"
        return out

    def scope_assets(self, scope: str | None = "utility") -> list[str]:
        """Pump ids of a scope: ``"utility"``, a station id, a pump id, or anything
        :func:`pumplib.query.select_assets` understands (a tag, a pump type, a phrase)."""
        if isinstance(scope, (list, tuple, set, frozenset)):
            ids = list(dict.fromkeys(scope))
            for a in ids:
                if a not in self.registry.assets or self.registry.assets[a].kind != "pump":
                    raise UnknownNameError(choices_message(
                        "pump", a, [p.id for p in self.registry.pumps()]))
            return ids or [a.id for a in self.registry.pumps()]
        if scope in (None, "utility", self.registry.utility.get("id")):
            return [a.id for a in self.registry.pumps()]
        if scope in self.registry.stations:
            return [a.id for a in self.registry.station_assets(scope) if a.kind == "pump"]
        if scope in self.registry.assets and self.registry.assets[scope].kind == "pump":
            return [scope]
        query = _optional("pumplib.query")
        found: list[str] = []
        if query is not None and hasattr(query, "select_assets"):
            # tags, pump types, "key:value" filters and phrases ("variable-speed pumps at NORTH")
            try:
                found = query.select_assets(scope, kind="pump", registry=self.registry)
            except UnknownNameError:
                found = []
        if found:
            return list(found)
        raise UnknownNameError(choices_message("scope", scope, self.scopes())
                               + "; or a tag, pump type or phrase (pumplib.query.select_assets)")

    # golden tables -------------------------------------------------------------------
    def _golden(self, level: str):
        if level not in LEVELS:
            raise UnknownNameError(choices_message("level", level, LEVELS))
        key = ("golden", level, self.lake.tip())
        with self._lock:
            if key not in self._cache:
                ds = self.lake.open_group(f"features/{level}", snapshot=key[2])
                if ds is None:
                    raise UnknownNameError(
                        f"{self.lake.url}: no golden table features/{level}; build it with "
                        "`pumplib features build`")
                self._cache[key] = ds
            return self._cache[key]

    def periods(self, view: View) -> list[Period]:
        """The periods of ``view.level`` inside its window (all when it has none)."""
        ds = self._golden(view.level)
        t = pd.DatetimeIndex(ds.time.values)
        t = t[_window_mask(t, view)]
        t = _clamp(t, self.max_points)
        labels = _labels(t, view.level, self.timezone)
        return [Period(view.level, s, period_end(view.level, s, self.timezone), lab)
                for s, lab in zip(t, labels, strict=True)]

    def table(self, scope: str | None, view: View) -> pd.DataFrame:
        """Golden-table rows of the pumps in scope within the view (long: asset × period).

        At most ``max_points`` periods are returned (the latest ones of the window).
        """
        assets = self.scope_assets(scope)
        key = ("table", scope if isinstance(scope, str) or scope is None else tuple(assets),
               view, self.lake.tip())
        with self._lock:
            if key in self._cache:
                return self._cache[key].copy()
        if view.level in ("1M", "1W"):
            frame = self._rolled_up(assets, view)
        else:
            frame = self._rows(assets, view.level, view)
        with self._lock:
            self._cache[key] = frame
        return frame.copy()

    def _rows(self, assets: list[str], level: str, view: View) -> pd.DataFrame:
        ds = self._golden(level)
        t = pd.DatetimeIndex(ds.time.values)
        idx = np.flatnonzero(_window_mask(t, view))[-self.max_points:]
        cols = [c for c in COLUMNS if c in ds.data_vars]
        present = [a for a in assets if a in set(ds.asset.values.tolist())]
        sub = ds[cols].isel(time=idx).sel(asset=present)
        frame = sub.to_dataframe().reset_index()
        for c in COLUMNS:
            if c not in frame:
                frame[c] = np.nan
        return frame[["asset", "time", *COLUMNS]]

    def _rolled_up(self, assets: list[str], view: View) -> pd.DataFrame:
        """Week and month rows as sums of the daily golden rows of each period.

        A month's golden value is withheld when its coverage is below the
        feature's minimum (a month the data only partly spans); the days that
        do meet it still count, and ``energy_coverage`` says how much is real.
        """
        starts = pd.DatetimeIndex(self._golden(view.level).time.values)
        days = self._rows(assets, "1D", View("1D", view.start, view.end))
        if days.empty or len(starts) == 0:
            return days
        pos = np.searchsorted(starts.values, days["time"].values, side="right") - 1
        days = days[pos >= 0].assign(time=starts.values[pos[pos >= 0]])
        sums = ["energy_integral", "energy_cost_integral", "time_near_bep_duration",
                "runtime_duration", "starts_starts"]
        g = days.groupby(["asset", "time"], sort=True)
        out = g[sums].sum(min_count=1)
        e = days["energy_integral"]
        vol = e / days["specific_energy_mean"].where(days["specific_energy_mean"] > 0)
        w = days.assign(_vol=vol, _sev=vol * days["normalised_specific_energy_mean"],
                        _ee=e * days["wire_to_water_efficiency_mean"],
                        _e_eff=e.where(days["wire_to_water_efficiency_mean"].notna()),
                        _v_sev=vol.where(days["normalised_specific_energy_mean"].notna()))
        gs = w.groupby(["asset", "time"], sort=True)[
            ["_vol", "_sev", "_ee", "_e_eff", "_v_sev"]].sum(min_count=1)
        out["specific_energy_mean"] = out["energy_integral"] / gs["_vol"]
        out["normalised_specific_energy_mean"] = gs["_sev"] / gs["_v_sev"]
        out["wire_to_water_efficiency_mean"] = gs["_ee"] / gs["_e_eff"]
        out["energy_coverage"] = g["energy_coverage"].mean()
        return out.reset_index()[["asset", "time", *COLUMNS]]

    # KPIs and charts -------------------------------------------------------------------
    def chart_data(self, scope: str | None, view: View) -> pd.DataFrame:
        """One row per period of the view: every KPI over the pumps in scope.

        Columns: ``time`` (UTC start), ``label`` (local), the KPIs of
        :data:`KPI_SPEC` and ``coverage`` (mean share of good raw samples).
        """
        frame = self.table(scope, view)
        out = _aggregate(frame, ["time"]).reset_index()
        out.insert(1, "label", _labels(pd.DatetimeIndex(out["time"]), view.level, self.timezone))
        dq = self.quality_by_period(scope, view)
        out["data_quality"] = out["time"].map(dq) if len(dq) else np.nan
        return out

    def kpis(self, scope: str | None, view: View, period=None) -> dict[str, dict]:
        """KPI tiles over the view's window (or one period of it).

        Returns
        -------
        dict
            kpi → ``{"value", "unit", "label", "coverage"}``; the value is NaN when
            the window holds no data.
        """
        if period is not None:
            start = _utc_naive(period.start if isinstance(period, Period) else period)
            view = View(view.level, start, period_end(view.level, start, self.timezone))
        frame = self.table(scope, view)
        agg = _aggregate(frame.assign(_all=0), ["_all"])
        row = agg.iloc[0] if len(agg) else pd.Series(dtype=float)
        dq = self.quality_by_period(scope, view)
        cov = float(row.get("coverage", np.nan))
        out = {}
        for k, (label, unit) in KPI_SPEC.items():
            if k == "data_quality":
                value = float(np.nanmean(dq.values)) if len(dq) and dq.notna().any() else np.nan
            else:
                value = float(row.get(k, np.nan))
            out[k] = {"value": value, "unit": unit.format(currency=self.currency),
                      "label": label, "coverage": cov}
        return out

    # data quality ----------------------------------------------------------------------
    def quality_days(self) -> pd.DataFrame:
        """Daily quality score per asset and signal (cached per lake snapshot).

        From ``pumplib.dqscore.score_days`` when present, else
        :func:`pumplib.quality.scores` of the 1-min flags. Columns ``asset,
        signal, day`` (local date), ``score`` (0–100), ``reasons``.
        """
        key = ("quality", self._snapshot_of(("quality", "quality_override")))
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        path = self._cache_file(f"quality-{key[1]}.parquet")
        if path is not None and path.is_file():
            frame = pd.read_parquet(path)
        else:
            frame = _quality_days(self.lake)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
                frame.to_parquet(tmp)
                os.replace(tmp, path)
        with self._lock:
            self._cache[key] = frame
        return frame

    def _snapshot_of(self, kinds: tuple[str, ...]) -> str:
        """The newest commit whose metadata ``kind`` is one of ``kinds`` (else the tip)."""
        for c in self.lake.log():
            if c.metadata.get("kind") in kinds:
                return c.snapshot
        return self.lake.tip()

    def _cache_file(self, name: str):
        """A file of the cache folder (None when caching is off or has no folder)."""
        if not self.cache:
            return None
        if self.cache_dir is not None:
            return Path(self.cache_dir) / name
        root = self.lake._local_root()
        if root is None:
            return None
        root = root.resolve()
        return root.parent / ".pumplib" / "ops_cache" / root.name / name

    def quality_by_period(self, scope: str | None, view: View) -> pd.Series:
        """Mean daily quality score of the pumps in scope per period start (UTC) of the view.

        Levels finer than a day take the score of their day.
        """
        q = self.quality_days()
        if q.empty:
            return pd.Series(dtype=float)
        assets = self.scope_assets(scope)
        q = q[q["asset"].isin(assets)]
        per_day = q.groupby("day")["score"].mean()
        periods = self.periods(view)
        if not periods:
            return pd.Series(dtype=float)
        day_utc = {d: _local_day_start(d, self.timezone) for d in per_day.index}
        out = {}
        for p in periods:
            if view.level in ("1D", "1W", "1M"):
                sel = [v for d, v in per_day.items() if p.start <= day_utc[d] < p.end]
            else:
                local = p.start.tz_localize("UTC").tz_convert(self.timezone)
                sel = [per_day.get(pd.Timestamp(local.date()), np.nan)]
            vals = [v for v in sel if pd.notna(v)]
            out[p.start] = float(np.mean(vals)) if vals else np.nan
        return pd.Series(out, dtype=float)

    # alerts ----------------------------------------------------------------------------
    def alerts(self, scope: str | None = None, view: View | None = None, *,
               kinds=ALERT_KINDS, status: str | None = None) -> pd.DataFrame:
        """Alerts of the pumps in scope overlapping the view's window, newest first.

        Sources: outlier events (``pumplib.outliers.events``), data-quality days
        below ``quality_threshold``, forecast deviations (``pumplib.forecast``).
        A source whose module is not installed contributes nothing. Each alert
        carries its action state (``status``, ``assignee``) from the action log.
        """
        for k in kinds:
            if k not in ALERT_KINDS:
                raise UnknownNameError(choices_message("alert kind", k, ALERT_KINDS))
        assets = self.scope_assets(scope) if scope else None
        frames = []
        if "outlier" in kinds:
            frames.append(self._outlier_alerts())
        if "quality" in kinds:
            frames.append(self._quality_alerts())
        if "forecast" in kinds:
            frames.append(self._forecast_alerts())
        frames = [f for f in frames if len(f)]
        al = pd.concat(frames, ignore_index=True) if frames else _empty(ALERT_COLUMNS)
        if assets is not None:
            stations = {self._station(a) for a in assets}
            al = al[al["asset"].isin(assets) | (al["asset"].isin(stations))]
        if view is not None and (view.start is not None or view.end is not None):
            lo = view.start if view.start is not None else pd.Timestamp.min
            hi = view.end if view.end is not None else pd.Timestamp.max
            al = al[(al["end"] >= lo) & (al["start"] < hi)]
        st = self.actions.state(kind="alert")
        al = al.assign(status=_fill(al["alert_id"].map(st["status"]), "open"),
                       assignee=al["alert_id"].map(st["assignee"]))
        if status is not None:
            al = al[al["status"] == status]
        sev = {s: i for i, s in enumerate(SEVERITIES)}
        al = al.assign(_sev=pd.to_numeric(al["severity"].map(sev)).fillna(0))
        al = al.sort_values(["_sev", "start"], ascending=[False, False]).drop(columns="_sev")
        return al[ALERT_COLUMNS].reset_index(drop=True)

    def _outlier_alerts(self) -> pd.DataFrame:
        mod = _optional("pumplib.outliers")
        if mod is None or not hasattr(mod, "events"):
            return _empty(ALERT_COLUMNS)
        ev = mod.events(self.lake)
        if ev is None or len(ev) == 0:
            return _empty(ALERT_COLUMNS)
        ev = ev.reset_index(drop=ev.index.name is None)
        rows = []
        for r in ev.to_dict("records"):
            sigs = r.get("signals")
            sigs = ", ".join(map(str, sigs)) if isinstance(sigs, (list, tuple, np.ndarray)) \
                else str(sigs or "")
            sev = str(r.get("severity") or "medium")
            rows.append({
                "alert_id": f"outlier:{r['event_id']}", "kind": "outlier",
                "asset": str(r["asset"]), "station": self._station(r["asset"]),
                "start": _utc_naive(r["start"]), "end": _utc_naive(r["end"]),
                "severity": sev if sev in SEVERITIES else "medium",
                "score": float(r.get("score", np.nan)),
                "title": f"Unusual behaviour of {r['asset']} ({sigs})",
                "explanation": str(r.get("explanation") or ""), "signals": sigs,
                "source": str(r.get("run_id") or r.get("source") or "outliers")})
        return pd.DataFrame(rows, columns=ALERT_COLUMNS)

    def _quality_alerts(self) -> pd.DataFrame:
        q = self.quality_days()
        if q.empty:
            return _empty(ALERT_COLUMNS)
        pumps = {a.id for a in self.registry.pumps()}
        bad = q[(q["score"] < self.quality_threshold) & q["asset"].isin(pumps)]
        rows = []
        for (asset, day), g in bad.groupby(["asset", "day"], sort=True):
            start = _local_day_start(day, self.timezone)
            worst = g.sort_values("score")
            score = float(worst["score"].iloc[0])
            sigs = ", ".join(worst["signal"].astype(str))
            why = "; ".join(f"{s}: {sc:.0f} ({r})" for s, sc, r in
                            zip(worst["signal"], worst["score"], worst["reasons"].fillna(""),
                                strict=True))
            rows.append({
                "alert_id": f"quality:{asset}:{pd.Timestamp(day).date()}", "kind": "quality",
                "asset": asset, "station": self._station(asset), "start": start,
                "end": period_end("1D", start, self.timezone),
                "severity": "high" if score < 50 else "medium" if score < 70 else "low",
                "score": score,
                "title": f"Data quality of {asset} on {pd.Timestamp(day).date()}: {score:.0f}/100",
                "explanation": why, "signals": sigs, "source": "quality/1min"})
        return pd.DataFrame(rows, columns=ALERT_COLUMNS)

    def _forecast_alerts(self) -> pd.DataFrame:
        mod = _optional("pumplib.forecast")
        if mod is None:
            return _empty(ALERT_COLUMNS)
        fn = getattr(mod, "deviations", None)
        if fn is not None:
            dev = fn(self.lake)
        elif hasattr(mod, "open_forecasts"):
            dev = _forecast_deviations(self, mod)
        else:
            return _empty(ALERT_COLUMNS)
        if dev is None or len(dev) == 0:
            return _empty(ALERT_COLUMNS)
        rows = []
        for r in dev.to_dict("records"):
            start = _utc_naive(r["start"])
            end = _utc_naive(r.get("end", start + pd.Timedelta("1h")))
            dv = float(r.get("deviation", np.nan))
            rows.append({
                "alert_id": f"forecast:{r['asset']}:{r.get('feature', '')}:{start.isoformat()}",
                "kind": "forecast", "asset": str(r["asset"]),
                "station": (str(r["asset"]) if r["asset"] in self.registry.stations
                            else self._station(r["asset"])), "start": start, "end": end,
                "severity": str(r.get("severity") or ("high" if abs(dv) > 4 else "medium")),
                "score": dv,
                "title": f"{r.get('feature', 'value')} of {r['asset']} off its forecast",
                "explanation": str(r.get("explanation") or
                                   f"actual {r.get('actual', np.nan):.4g} vs forecast "
                                   f"{r.get('forecast', np.nan):.4g} ({dv:+.1f} σ)"),
                "signals": str(r.get("feature", "")), "source": str(r.get("source", "forecasts"))})
        return pd.DataFrame(rows, columns=ALERT_COLUMNS)

    def _station(self, asset) -> str | None:
        a = self.registry.assets.get(str(asset))
        return a.station if a is not None else None

    def alert(self, alert_id: str) -> dict:
        """One alert by id (as a dict)."""
        al = self.alerts()
        hit = al[al["alert_id"] == alert_id]
        if hit.empty:
            raise UnknownNameError(choices_message("alert", alert_id, al["alert_id"].tolist()))
        return hit.iloc[0].to_dict()

    # evidence --------------------------------------------------------------------------
    def evidence(self, alert: str | dict, *, pad: str = "6h", cadence: str = "1min") -> dict:
        """What an alert rests on: signals around it, quality flags and lineage.

        Returns
        -------
        dict
            ``alert`` (dict), ``signals`` (DataFrame, time × signal, raw values of
            the asset in ``[start − pad, end + pad]`` decimated to at most
            ``max_points`` rows by bucket means; attrs ``decimation``),
            ``flags`` (DataFrame: signal, flag, samples, meaning) and
            ``lineage`` (list of dicts: the commits the alert comes from).
        """
        al = self.alert(alert) if isinstance(alert, str) else dict(alert)
        lo = al["start"] - pd.Timedelta(pad)
        hi = al["end"] + pd.Timedelta(pad)
        raw = self.lake.open_raw(cadence)
        step = pd.Timedelta(cadence)
        sig_names = [s for s in raw.data_vars if not str(s).endswith("_sq")]
        if al["asset"] not in set(raw.asset.values.tolist()):
            return {"alert": al, "signals": pd.DataFrame(), "flags": _empty(
                ["signal", "flag", "samples", "meaning"]), "lineage": self.lineage(al)}
        sub = raw[sig_names].sel(asset=al["asset"], time=slice(lo, hi))
        n = sub.sizes["time"]
        factor = max(1, math.ceil(n / self.max_points))
        if factor > 1:
            sub = sub.coarsen(time=factor, boundary="trim").mean()
        sig = sub.to_dataframe().drop(columns=["asset"], errors="ignore")
        sig = sig.dropna(axis=1, how="all")
        sig.attrs.update(decimation=factor, step=str(step * factor), asset=al["asset"])
        return {"alert": al, "signals": sig, "flags": self._flags(al["asset"], lo, hi, cadence),
                "lineage": self.lineage(al)}

    def _flags(self, asset: str, lo, hi, cadence: str) -> pd.DataFrame:
        from .quality import Flag, open_quality
        from .quality.flags import DESCRIPTIONS

        q = open_quality(self.lake, cadence)
        cols = ["signal", "flag", "samples", "meaning"]
        if asset not in set(q.asset.values.tolist()) or not q.data_vars:
            return _empty(cols)
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

    def lineage(self, alert: dict) -> list[dict]:
        """Commits behind an alert: its source run, the quality run and the raw ingests."""
        out = []
        want = {"outlier": ("outliers", "outlier", "detect"), "quality": ("validate",),
                "forecast": ("forecast",)}.get(alert.get("kind"), ())
        seen_kinds: set[str] = set()
        for c in self.lake.log():
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

    # recommendations -------------------------------------------------------------------
    def recommendations(self, scope: str | None = None, status: str | None = None
                        ) -> pd.DataFrame:
        """Stored recommendations joined with their action state and verified savings.

        Read from the lake table group ``recommendations`` (written by
        ``pumplib.recommend.store_recommendations``): the latest run. Verified
        savings come from ``pumplib.recommend.verify`` for accepted ones, when
        that module is present.
        """
        tables = self.lake.tables("recommendations")
        if tables:
            recs = tables[sorted(tables)[-1]].drop_duplicates("rec_id", keep="last")
        else:
            recs = _empty(REC_COLUMNS[:12])
        for c in REC_COLUMNS[:12]:
            if c not in recs:
                recs[c] = np.nan
        if scope:
            assets = set(self.scope_assets(scope))
            stations = {self._station(a) for a in assets}
            recs = recs[recs["asset"].isin(assets) |
                        (recs["asset"].isna() & recs["station"].isin(stations))]
        st = self.actions.state(kind="recommendation")
        recs = recs.assign(status=_fill(recs["rec_id"].map(st["status"]), "open"))
        for c in ("assignee", "accepted_by", "accepted_at", "reason", "n_comments"):
            recs[c] = recs["rec_id"].map(st[c])
        recs["n_comments"] = pd.to_numeric(recs["n_comments"]).fillna(0).astype(int)
        recs["verified_saving_kwh"] = np.nan
        recs["verified_saving_money"] = np.nan
        accepted = recs[recs["status"] == "accepted"]
        if len(accepted):
            ver = self._verified(accepted)
            if ver is not None and len(ver):
                ver = ver.set_index("rec_id")
                for c in ("verified_saving_kwh", "verified_saving_money"):
                    if c in ver:
                        recs[c] = recs["rec_id"].map(ver[c]).astype(float)
        if status is not None:
            recs = recs[recs["status"] == status]
        recs = recs.sort_values("saving_money", ascending=False, na_position="last")
        return recs[REC_COLUMNS].reset_index(drop=True)

    def _verified(self, accepted: pd.DataFrame) -> pd.DataFrame | None:
        """Measured savings of accepted recommendations (``pumplib.recommend.verify``).

        A recommendation accepted after the end of the data has nothing to
        measure yet: its verified saving stays empty.
        """
        mod = _optional("pumplib.recommend")
        fn = getattr(mod, "verify", None) if mod is not None else None
        if fn is None:
            return None
        rows = []
        for r in accepted.to_dict("records"):
            key = ("verify", r["rec_id"], str(r["accepted_at"]), self.lake.tip())
            with self._lock:
                hit = self._cache.get(key)
            if hit is None:
                try:
                    res = fn(self.lake, r["rec_id"], r["accepted_at"], registry=self.registry)
                except PumplibError:
                    res = {}
                hit = {"rec_id": r["rec_id"],
                       "verified_saving_kwh": res.get("saving_kwh", np.nan),
                       "verified_saving_money": res.get("saving_money", np.nan)}
                with self._lock:
                    self._cache[key] = hit
            rows.append(hit)
        return pd.DataFrame(rows)

    def act(self, item_id: str, action: str, user: str, *, kind: str = "recommendation",
            **kw) -> int:
        """Record an action in the log (see :meth:`pumplib.actions.ActionLog.record`).

        Accepting a recommendation stores its estimated saving with the action.
        """
        if kind == "recommendation" and action == "accept" and "details" not in kw:
            recs = self.recommendations()
            hit = recs[recs["rec_id"] == item_id]
            if hit.empty:
                raise UnknownNameError(choices_message("recommendation", item_id,
                                                       recs["rec_id"].tolist()))
            r = hit.iloc[0]
            kw["details"] = {"saving_kwh": r["saving_kwh"], "saving_money": r["saving_money"],
                             "currency": r["currency"]}
        return self.actions.record(item_id, action, user, kind=kind, **kw)


# -- module-level helpers ---------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _operations(url: str, registry: str | None, actions: str | None) -> Operations:
    return Operations(url, registry, actions)


def open_operations(store=None, registry=None, actions=None) -> Operations:
    """A cached :class:`Operations` per (store, registry, action log) in this process."""
    url = os.fspath(config.get("store.url", override_with=store))
    return _operations(url, None if registry is None else os.fspath(registry), actions)


def _optional(name: str):
    """Import an optional pumplib module; None if it does not exist (yet)."""
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def _quality_days(lake) -> pd.DataFrame:
    cols = ["asset", "signal", "day", "score", "reasons"]
    if not any(lake.open_group(f"quality/{c}") is not None for c in lake.cadences()):
        return _empty(cols)
    dq = _optional("pumplib.dqscore")
    if dq is not None and hasattr(dq, "score_days"):
        frame = dq.score_days(lake)
    else:
        from .quality import open_quality, scores

        frame = scores(open_quality(lake, "1min").load())
    frame = frame.reset_index()
    if "day" not in frame and "date" in frame:
        frame = frame.rename(columns={"date": "day"})
    if "reasons" not in frame:
        frame["reasons"] = ""
    frame["day"] = pd.to_datetime(frame["day"]).dt.tz_localize(None).dt.normalize()
    return frame[[c for c in cols if c in frame]]


def _forecast_deviations(ops: Operations, mod) -> pd.DataFrame:
    """Periods where the actual golden value leaves the stored forecast band.

    The band is the lowest to the highest stored quantile of a target
    (``<target>_q10`` … ``<target>_q90``); a forecast series is a station (the
    sum of its pumps) or one asset. Only periods that have both a forecast and
    an actual value count (a forecast of the future has none yet).
    """
    golden_of = {"energy": "energy_integral", "cost": "energy_cost_integral"}
    rows = []
    for level in ("15min", "1h", "1D"):
        try:
            fc = mod.open_forecasts(ops.lake, level)
        except PumplibError:
            continue
        try:
            actual = ops._golden(level)
        except UnknownNameError:
            continue
        targets = sorted({str(v).rsplit("_", 1)[0] for v in fc.data_vars})
        for tgt in targets:
            col = golden_of.get(tgt, tgt)
            qs = sorted(str(v) for v in fc.data_vars
                        if str(v).startswith(f"{tgt}_q") and str(v)[len(tgt) + 2:].isdigit())
            if col not in actual.data_vars or len(qs) < 2:
                continue
            mid_name = f"{tgt}_q50" if f"{tgt}_q50" in fc else f"{tgt}_mean"
            lo, hi = fc[qs[0]].load(), fc[qs[-1]].load()
            mid = fc[mid_name].load() if mid_name in fc else (lo + hi) / 2
            t = pd.DatetimeIndex(fc.time.values)
            inside = t[(t >= pd.Timestamp(actual.time.values[0]))
                       & (t <= pd.Timestamp(actual.time.values[-1]))]
            if len(inside) == 0:
                continue
            for series in fc.asset.values.tolist():
                members = ([a.id for a in ops.registry.station_assets(series) if a.kind == "pump"]
                           if series in ops.registry.stations else [series])
                members = [m for m in members if m in set(actual.asset.values.tolist())]
                if not members:
                    continue
                act = actual[col].sel(asset=members, time=inside).sum("asset", min_count=1)
                act = act.to_series()
                lo_s = lo.sel(asset=series, time=inside).to_series()
                hi_s = hi.sel(asset=series, time=inside).to_series()
                mid_s = mid.sel(asset=series, time=inside).to_series()
                width = (hi_s - lo_s).where(hi_s > lo_s)
                out = (act > hi_s) | (act < lo_s)
                for when in act.index[out.fillna(False).to_numpy()]:
                    dev = float((act[when] - mid_s[when]) / width[when]) \
                        if pd.notna(width[when]) else np.nan
                    rows.append({"asset": series, "feature": tgt, "start": when,
                                 "end": period_end(level, when, ops.timezone),
                                 "deviation": dev, "actual": float(act[when]),
                                 "forecast": float(mid_s[when]),
                                 "severity": "high" if abs(dev) > 1.5 else "medium",
                                 "explanation": f"actual {act[when]:.4g} outside the forecast "
                                                f"band {lo_s[when]:.4g}–{hi_s[when]:.4g} "
                                                f"({qs[0]}–{qs[-1]}), median {mid_s[when]:.4g}",
                                 "source": f"forecasts/{level}"})
    return pd.DataFrame(rows)


def _aggregate(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """KPIs of a long golden-table frame, summed / weighted over assets per group."""
    f = frame.copy()
    se = f["specific_energy_mean"].where(f["specific_energy_mean"] > 0)
    f["volume"] = f["energy_integral"] / se
    f["_e_eff"] = f["energy_integral"] * f["wire_to_water_efficiency_mean"]
    f["_e_for_eff"] = f["energy_integral"].where(f["wire_to_water_efficiency_mean"].notna())
    f["_v_seh"] = f["volume"] * f["normalised_specific_energy_mean"]
    f["_v_for_seh"] = f["volume"].where(f["normalised_specific_energy_mean"].notna())
    g = f.groupby(by)
    s = g[["energy_integral", "energy_cost_integral", "volume", "_e_eff", "_e_for_eff",
           "_v_seh", "_v_for_seh", "time_near_bep_duration", "runtime_duration",
           "starts_starts"]].sum(min_count=1)
    out = pd.DataFrame(index=s.index)
    out["energy"] = s["energy_integral"]
    out["cost"] = s["energy_cost_integral"]
    out["volume"] = s["volume"]
    out["specific_energy"] = s["energy_integral"] / s["volume"].where(s["volume"] > 0)
    out["specific_energy_per_head"] = s["_v_seh"] / s["_v_for_seh"].where(s["_v_for_seh"] > 0)
    out["vs_floor"] = out["specific_energy_per_head"] / FLOOR_KWH_M3_M
    eff = s["_e_eff"] / s["_e_for_eff"].where(s["_e_for_eff"] > 0)
    out["efficiency"] = 100 * eff
    out["near_bep"] = 100 * s["time_near_bep_duration"] / s["runtime_duration"].where(
        s["runtime_duration"] > 0)
    out["starts"] = s["starts_starts"]
    out["runtime"] = s["runtime_duration"] / 3600.0
    out["coverage"] = g["energy_coverage"].mean()
    return out


def _window_mask(t: pd.DatetimeIndex, view: View) -> np.ndarray:
    m = np.ones(len(t), bool)
    if view.start is not None:
        m &= np.asarray(t >= view.start)
    if view.end is not None:
        m &= np.asarray(t < view.end)
    return m


def _clamp(t: pd.DatetimeIndex, n: int) -> pd.DatetimeIndex:
    return t[-n:] if len(t) > n else t


def _labels(t: pd.DatetimeIndex, level: str, timezone: str) -> list[str]:
    local = pd.DatetimeIndex(t).tz_localize("UTC").tz_convert(timezone)
    fmt = {"1M": "%Y-%m", "1W": "week of %Y-%m-%d", "1D": "%Y-%m-%d (%a)",
           "1h": "%Y-%m-%d %H:%M", "15min": "%Y-%m-%d %H:%M", "1min": "%Y-%m-%d %H:%M"}[level]
    return [x.strftime(fmt) for x in local]


def _local_day_start(day, timezone: str) -> pd.Timestamp:
    d = pd.Timestamp(day).normalize()
    return d.tz_localize(timezone).tz_convert("UTC").tz_localize(None)


def _utc_naive(t) -> pd.Timestamp:
    t = pd.Timestamp(t)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t


def _fill(s: pd.Series, value) -> pd.Series:
    s = s.astype(object)
    return s.where(s.notna(), value)


def _empty(cols) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})


# -- presentation helpers (shared by the marimo app and the Voila dashboard) ------------
def _fmt(value: float, unit: str) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    if unit in ("", "kWh", "m³", "h") or (unit.isupper() and len(unit) == 3):
        return f"{value:,.0f}"
    if unit == "kWh/m³/m":
        return f"{value:.5f}"
    if unit == "kWh/m³":
        return f"{value:.3f}"
    if unit == "×":
        return f"{value:.2f}"
    return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"


def tiles_html(tiles: dict[str, dict]) -> str:
    """KPI tiles as one HTML block (each tile has ``data-kpi="<name>"``)."""
    cells = []
    for k, t in tiles.items():
        cov = t.get("coverage")
        cov_txt = f"coverage {cov:.0%}" if cov is not None and np.isfinite(cov) else ""
        cells.append(
            f'<div class="pumplib-kpi" data-kpi="{k}" style="border:1px solid #ccd;'
            f'border-radius:6px;padding:6px 10px;min-width:150px;background:#f7f9fc">'
            f'<div style="font-size:11px;color:#556">{html.escape(t["label"])}</div>'
            f'<div style="font-size:20px;font-weight:600">{_fmt(t["value"], t["unit"])}'
            f' <span style="font-size:12px;font-weight:400">{html.escape(t["unit"])}</span></div>'
            f'<div style="font-size:10px;color:#889">{cov_txt}</div></div>')
    return ('<div class="pumplib-kpis" style="display:flex;flex-wrap:wrap;gap:8px">'
            + "".join(cells) + "</div>")


def figure(chart: pd.DataFrame, metrics=("energy", "cost", "specific_energy", "data_quality"),
           title: str = ""):
    """A small matplotlib figure of KPI columns per period (one panel per metric)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    metrics = [m for m in metrics if m in chart]
    fig = Figure(figsize=(9, 1.6 * max(1, len(metrics))), dpi=80)
    axes = fig.subplots(max(1, len(metrics)), 1, sharex=True, squeeze=False)[:, 0]
    x = pd.DatetimeIndex(chart["time"]) if len(chart) else pd.DatetimeIndex([])
    for ax, m in zip(axes, metrics, strict=False):
        y = chart[m].to_numpy(dtype=float) if len(chart) else []
        if len(chart) <= 62:
            width = (np.diff(x.asi8).min() / 8.64e13 * 0.8) if len(x) > 1 else 0.8
            ax.bar(x, y, width=width, align="edge", color="#4c72b0")
        else:
            ax.plot(x, y, lw=1, color="#4c72b0")
        label, unit = KPI_SPEC.get(m, (m, ""))
        ax.set_ylabel(unit.replace("{currency}", "") or m, fontsize=8)
        ax.set_title(label, fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def evidence_figure(ev: dict, signals=("power", "flow", "discharge_pressure", "vibration",
                                       "bearing_temperature", "speed")):
    """Signals around an alert, the alert window shaded (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    sig = ev["signals"]
    cols = [s for s in signals if s in sig] or list(sig.columns)[:4]
    fig = Figure(figsize=(9, 1.3 * max(1, len(cols))), dpi=80)
    axes = fig.subplots(max(1, len(cols)), 1, sharex=True, squeeze=False)[:, 0]
    a = ev["alert"]
    for ax, c in zip(axes, cols, strict=False):
        ax.plot(sig.index, sig[c], lw=0.8, color="#333")
        ax.axvspan(a["start"], a["end"], color="#d62728", alpha=0.15)
        ax.set_ylabel(c, fontsize=7)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{a['title']}", fontsize=9)
    fig.tight_layout()
    return fig


def png(fig) -> bytes:
    """PNG bytes of a matplotlib figure."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def replace_view(view: View, **kw) -> View:
    """A copy of ``view`` with fields replaced (validated)."""
    return replace(view, **kw)


def alerts_caption(n: int, scope_label: str, view: View) -> str:
    """The line above an alert list (also what browser tests wait for)."""
    return f"{n} alert{'s' if n != 1 else ''} · {scope_label} · level {view.level}"


def recs_caption(n: int, scope_label: str) -> str:
    """The line above a recommendation list."""
    return f"{n} recommendation{'s' if n != 1 else ''} · {scope_label}"


#: recommendation columns a page shows
REC_VIEW_COLUMNS = ["rec_id", "title", "asset", "station", "saving_kwh", "saving_money",
                    "currency", "confidence", "status", "assignee", "accepted_by",
                    "verified_saving_kwh", "verified_saving_money", "n_comments"]


def table_html(rows, columns=None, empty: str = "nothing to show", max_rows: int = 50) -> str:
    """A small HTML table of a DataFrame or a list of dicts (at most ``max_rows`` rows)."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows or []))
    if columns is not None:
        frame = frame[[c for c in columns if c in frame]]
    if frame.empty:
        return f"<p><i>{html.escape(empty)}</i></p>"
    frame = frame.head(max_rows)
    return frame.to_html(index=False, na_rep="–", float_format=lambda v: f"{v:,.2f}",
                         classes="pumplib-table", border=0, escape=True)


# -- the ipywidgets dashboard (Voila, JupyterLab) ----------------------------------------
class Dashboard:
    """The operations dashboard as ipywidgets, over one :class:`Operations`.

    ``Dashboard(ops).widget`` is what ``notebooks/dashboards/operations.ipynb``
    displays; every control is an attribute, so tests drive it without a
    browser (``d.scope.value = "S-P1"; d.drill.click()``).

    Its state is one shared :class:`pumplib.ui.Selection` (``d.selection``):
    the scope dropdown, the asset tree (:class:`pumplib.ui.AssetSelector`), the
    time presets, dates and level (:class:`pumplib.ui.TimeSelector`) and the
    Drill down / Back to months / Weeks / Undo buttons all write it, and
    the page redraws when it changes, whoever changed it (code included:
    ``d.selection.set(assets=["N-P1", "S-P1"])``). ``d.view`` is derived from it.

    Examples
    --------
    >>> d = Dashboard(Operations("./store"))                    # doctest: +SKIP
    >>> d.widget                                                # doctest: +SKIP
    """

    def __init__(self, ops: Operations, user: str = "operator", *, selection=None):
        import ipywidgets as W

        from .ui.widgets import AssetSelector, TimeSelector

        self.ops = ops
        self.selection = selection if selection is not None else ops.selection()
        lay = W.Layout(width="auto")
        self._quiet = False
        self.scope = W.Dropdown(options=[(v, k) for k, v in ops.scopes().items()],
                                value=None, description="Scope", layout=lay)
        self._sync_scope()
        self.period = W.Dropdown(description="Period", layout=lay)
        self.drill = W.Button(description="Drill down", icon="search-plus")
        self.top = W.Button(description="Back to months")
        self.weeks = W.Button(description="Weeks")
        self.undo = W.Button(description="Undo", tooltip="undo the last selection change")
        self.user = W.Text(value=user, description="Your name")
        self.assets = AssetSelector(self.selection, kind="pump", rows=6)
        self.time = TimeSelector(self.selection)
        self.asset_tree = W.Accordion(children=[self.assets.widget, self.time.widget])
        self.asset_tree.set_title(0, "Pumps (asset tree, search, several at once)")
        self.asset_tree.set_title(1, "Time range (presets, dates, level)")
        self.asset_tree.selected_index = None
        self.where = W.HTML()
        self.tiles = W.HTML()
        self.chart = W.Image(format="png")
        self.alert_head = W.HTML("<h2>Alerts</h2>")
        self.alert = W.Dropdown(description="Alerts", layout=W.Layout(width="90%"))
        self.rec_head = W.HTML("<h2>Recommendations</h2>")
        self.evidence = W.VBox()
        self.alert_action = W.Dropdown(options=list(("accept", "dismiss", "assign", "comment",
                                                     "reopen")), value="accept",
                                       description="Alert action")
        self.alert_note = W.Text(description="Note", placeholder="reason / assignee / comment")
        self.alert_submit = W.Button(description="Submit alert action")
        self.alert_message = W.HTML()
        self.recs = W.HTML()
        self.rec = W.Dropdown(description="Recommendation", layout=W.Layout(width="60%"))
        self.action = W.Dropdown(options=list(("accept", "dismiss", "assign", "comment",
                                               "reopen")), value="accept", description="Action")
        self.note = W.Text(description="Note", placeholder="reason / assignee / comment")
        self.submit = W.Button(description="Submit action", button_style="primary")
        self.message = W.HTML()
        self.scope.observe(self._scope_picked, "value")
        self.period.observe(lambda _c: None if self._quiet else self._kpis(), "value")
        self.alert.observe(lambda _c: self._open_alert(), "value")
        self.drill.on_click(lambda _b: self.drill_down())
        self.top.on_click(lambda _b: self.set_view(View("1M")))
        self.weeks.on_click(lambda _b: self.set_view(View("1W")))
        self.undo.on_click(lambda _b: self.selection.back())
        self.submit.on_click(lambda _b: self.act())
        self.alert_submit.on_click(lambda _b: self.act_on_alert())
        self._unobserve = self.selection.observe(self._selection_changed)
        self.qa = self._qa_panel()
        self.widget = W.VBox([
            W.HTML("<h1>Pump operations</h1>"),
            W.HBox([self.scope, self.period, self.drill, self.top, self.weeks, self.undo,
                    self.user]),
            self.asset_tree,
            self.where, self.tiles, self.chart,
            self.alert_head, self.alert, self.evidence,
            W.HBox([self.alert_action, self.alert_note, self.alert_submit]), self.alert_message,
            self.rec_head, self.recs,
            W.HBox([self.rec, self.action]), W.HBox([self.note, self.submit]), self.message,
            W.HTML("<h2>Questions</h2>"), self.qa,
        ])
        self.refresh()

    def _qa_panel(self):
        """The Q&A panel of ``pumplib.qa.widgets`` (its index is built on the first question)."""
        import ipywidgets as W

        qa = _optional("pumplib.qa.widgets")
        if qa is None or not hasattr(qa, "ipywidgets_panel"):
            return W.HTML("<i>The Q&amp;A panel appears here once pumplib.qa is installed.</i>")
        return qa.ipywidgets_panel(store=self.ops.lake.url, registry=self.ops.registry)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # the shared selection ------------------------------------------------------------
    @property
    def view(self) -> View:
        """The view of the shared selection (level and window)."""
        return view_of(self.selection)

    @property
    def scope_value(self) -> str | tuple[str, ...]:
        """The scope of the selection's pumps: the dropdown's pick when it matches, else
        the named scope or the tuple of ids (see :meth:`Operations.scope_of`)."""
        picked = self.scope.value
        if picked is not None and set(self.ops.scope_assets(picked)) == set(
                self.ops.scope_assets(self.selection.assets)):
            return picked
        return self.ops.scope_of(self.selection.assets)

    def _sync_scope(self) -> None:
        scope = self.ops.scope_of(self.selection.assets)
        value = scope if isinstance(scope, str) else None
        if self.scope.value is not None and value is not None and set(
                self.ops.scope_assets(self.scope.value)) == set(self.ops.scope_assets(value)):
            return
        self._quiet = True
        try:
            self.scope.value = value
        finally:
            self._quiet = False

    def _scope_picked(self, change) -> None:
        if self._quiet or change["new"] is None:
            return
        before = self.selection.assets
        self.selection.set(assets=self.ops.scope_assets(change["new"]))
        if self.selection.assets == before:      # same pumps, another name: redraw labels
            self.refresh()

    def _selection_changed(self, changes, _selection) -> None:
        if "assets" in changes:
            self._sync_scope()
        if {"assets", "level", "start", "end"} & set(changes):
            self.refresh()

    def set_view(self, view: View) -> None:
        """Show ``view`` (written into the shared selection)."""
        apply_view(self.selection, view)

    def drill_down(self) -> None:
        if self.view.level in CHILD and self.period.value:
            drill_selection(self.selection, self.period.value, self.ops.timezone)

    def close(self) -> None:
        """Stop following the selection and close the widgets."""
        self._unobserve()
        self.assets.close()
        self.time.close()
        self.widget.close()

    def refresh(self) -> None:
        """Redraw everything for the current selection (scope and view)."""
        v = self.view
        scope = self.scope_value
        label = self.ops.scope_label(scope)
        periods = self.ops.periods(v)
        self._quiet = True
        try:
            self.period.options = [(p.label, p.start.isoformat()) for p in periods]
            self.period.value = periods[0].start.isoformat() if periods else None
        finally:
            self._quiet = False
        self.period.description = f"{v.level} ({v.tier})"
        self.drill.disabled = v.level not in CHILD
        where = ("whole span" if v.start is None
                 else f"{v.start:%Y-%m-%d %H:%M} → {v.end:%Y-%m-%d %H:%M} UTC")
        self.where.value = (f"{html.escape(label)} · level "
                            f"<b>{v.level}</b> ({v.tier}), {where}")
        self._kpis()
        chart = self.ops.chart_data(scope, v)
        self.chart.value = png(figure(chart, title=f"{label} per {v.level}"))
        self._alerts()
        self._recs()

    def _kpis(self) -> None:
        tiles = self.ops.kpis(self.scope_value, self.view, period=self.period.value or None)
        self.tiles.value = tiles_html(tiles)

    def _alerts(self) -> None:
        al = self.ops.alerts(self.scope_value, self.view)
        self.alert.description = f"Alerts ({len(al)})"
        self.alert.options = [("--", None)] + [
            (f"[{r.severity}] {r.title} ({r.status})", r.alert_id) for r in al.itertuples()]
        self.alert.value = None
        import ipywidgets as W

        self.evidence.children = [W.HTML(
            "<i>No alert opened.</i>" if len(al) else
            "<i>No alerts for this selection (outlier events, quality problems and forecast "
            "deviations appear here).</i>")]
        self.alert_head.value = "<h2>Alerts</h2>" + html.escape(
            alerts_caption(len(al), self.ops.scope_label(self.scope_value), self.view))

    def _open_alert(self) -> None:
        import ipywidgets as W

        if self.alert.value is None:
            return
        ev = self.ops.evidence(self.alert.value)
        a = ev["alert"]
        head = (f"<h3>Evidence: {html.escape(a['title'])}</h3><p>{html.escape(a['explanation'])}"
                f"</p><p>{a['kind']} alert · {a['asset']} · {a['start']} → {a['end']} UTC · "
                f"samples every {ev['signals'].attrs.get('step', '')}</p>")
        parts = [W.HTML(head)]
        if len(ev["signals"]):
            parts.append(W.Image(value=png(evidence_figure(ev)), format="png"))
        parts.append(W.HTML("<b>Quality flags in the window</b>" + table_html(
            ev["flags"], empty="no flags: every sample checked good")))
        parts.append(W.HTML("<b>Lineage</b>" + table_html(ev["lineage"])))
        self.evidence.children = parts

    def _recs(self) -> None:
        recs = self.ops.recommendations(self.scope_value)
        self.recs.value = table_html(recs, columns=REC_VIEW_COLUMNS,
                                     empty="No recommendations stored yet.")
        keep = self.rec.value
        self.rec.options = [(f"{r.title} [{r.rec_id}]", r.rec_id) for r in recs.itertuples()]
        if keep in recs["rec_id"].tolist():
            self.rec.value = keep
        self.rec_head.value = "<h2>Recommendations</h2>" + html.escape(
            recs_caption(len(recs), self.ops.scope_label(self.scope_value)))

    def act_on_alert(self) -> int | None:
        """Record the chosen alert action (acknowledge, dismiss, assign, comment) on the open alert."""
        if self.alert.value is None:
            self.alert_message.value = "<b>Open an alert first.</b>"
            return None
        alert_id = self.alert.value
        kw = {"dismiss": {"reason": self.alert_note.value},
              "assign": {"assignee": self.alert_note.value},
              "comment": {"comment": self.alert_note.value}}.get(self.alert_action.value, {})
        try:
            rid = self.ops.act(alert_id, self.alert_action.value, self.user.value, kind="alert",
                               **kw)
        except ValueError as exc:
            self.alert_message.value = (f"<b style='color:#b00'>Not recorded: "
                                        f"{html.escape(str(exc))}</b>")
            return None
        self._alerts()
        self.alert_message.value = (f"<b style='color:#070'>Recorded action #{rid}: "
                                    f"{self.alert_action.value} alert {html.escape(alert_id)} by "
                                    f"{html.escape(self.user.value)}.</b>")
        return rid

    def act(self) -> int | None:
        """Record the chosen action on the chosen recommendation."""
        if self.rec.value is None:
            self.message.value = "<b>Choose a recommendation first.</b>"
            return None
        kw = {"dismiss": {"reason": self.note.value}, "assign": {"assignee": self.note.value},
              "comment": {"comment": self.note.value}}.get(self.action.value, {})
        try:
            rid = self.ops.act(self.rec.value, self.action.value, self.user.value, **kw)
        except ValueError as exc:
            self.message.value = f"<b style='color:#b00'>Not recorded: {html.escape(str(exc))}</b>"
            return None
        self.message.value = (f"<b style='color:#070'>Recorded action #{rid}: {self.action.value} "
                              f"{html.escape(self.rec.value)} by "
                              f"{html.escape(self.user.value)}.</b>")
        self._recs()
        return rid
