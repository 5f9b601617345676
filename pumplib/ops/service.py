"""The operations service: KPIs, chart data, alerts, evidence and recommendations of a store.

:class:`Operations` is the library behind the operations app
(``notebooks/apps/operations.py``, marimo) and dashboard
(``notebooks/dashboards/operations.ipynb``, Voila); the front ends only lay
out what it returns. It reads the golden tables ``features/<level>`` (small),
never the raw series, except for the evidence of one alert. Its methods
forward to the plain functions of :mod:`pumplib.ops.views`,
:mod:`~pumplib.ops.kpis`, :mod:`~pumplib.ops.alerts` and
:mod:`~pumplib.ops.evidence`.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import config
from ..errors import ArgumentError, PumplibError, UnknownNameError, choices_message
from . import evidence as _evidence
from ._common import empty, fill, optional
from .alerts import (
    ALERT_COLUMNS,
    ALERT_KINDS,
    SEVERITIES,
    check_alert_kinds,
    forecast_alerts,
    live_alerts,
    outlier_alerts,
    quality_alerts,
    station_of,
)
from .kpis import COLUMNS, KPI_SPEC, aggregate
from .views import (
    LEVELS,
    Period,
    View,
    clamp,
    labels,
    local_day_start,
    period_end,
    utc_naive,
    window_mask,
)

#: most points of one series a page receives
MAX_POINTS = 2000
REC_COLUMNS = ["rec_id", "kind", "asset", "station", "title", "evidence", "saving_kwh",
               "saving_money", "currency", "assumptions", "confidence", "lineage", "status",
               "assignee", "accepted_by", "accepted_at", "reason", "n_comments",
               "verified_saving_kwh", "verified_saving_money"]
#: the span share below which a period counts as partial (the data cover only part of it)
PARTIAL_BELOW = 0.999


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
        from ..actions import ActionLog
        from ..assets import AssetRegistry
        from ..lake import Lake

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
        ds = self.golden("1h")
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
        from ..ui import Selection

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
        query = optional("pumplib.query")
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
    def golden(self, level: str):
        """The golden table ``features/<level>`` at the lake's tip (cached per snapshot)."""
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
        ds = self.golden(view.level)
        t = pd.DatetimeIndex(ds.time.values)
        t = t[window_mask(t, view)]
        t = clamp(t, self.max_points)
        names = labels(t, view.level, self.timezone)
        return [Period(view.level, s, period_end(view.level, s, self.timezone), lab)
                for s, lab in zip(t, names, strict=True)]

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
        ds = self.golden(level)
        t = pd.DatetimeIndex(ds.time.values)
        idx = np.flatnonzero(window_mask(t, view))[-self.max_points:]
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
        starts = pd.DatetimeIndex(self.golden(view.level).time.values)
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
        :data:`KPI_SPEC`, ``coverage`` (mean share of good raw samples),
        ``end`` (UTC, exclusive), ``span_share`` (the share of the period the
        data span: below 1 for a month the data only partly cover) and
        ``partial`` (``span_share`` below :data:`PARTIAL_BELOW`).
        """
        frame = self.table(scope, view)
        out = aggregate(frame, ["time"]).reset_index()
        out.insert(1, "label", labels(pd.DatetimeIndex(out["time"]), view.level, self.timezone))
        dq = self.quality_by_period(scope, view)
        out["data_quality"] = out["time"].map(dq) if len(dq) else np.nan
        out["end"] = [period_end(view.level, t, self.timezone) for t in out["time"]]
        out["span_share"] = self.span_share(out["time"], out["end"])
        out["partial"] = out["span_share"] < PARTIAL_BELOW
        return out

    def span_share(self, starts, ends) -> np.ndarray:
        """Share of each period ``[start, end)`` (UTC) that the data span covers (0–1)."""
        lo, hi = self.data_span()
        s = pd.DatetimeIndex(starts).as_unit("ns").asi8
        e = pd.DatetimeIndex(ends).as_unit("ns").asi8
        if not len(s):
            return np.zeros(0)
        inside = np.clip(np.minimum(e, hi.value) - np.maximum(s, lo.value), 0, None)
        return inside / np.maximum(e - s, 1)

    def kpis(self, scope: str | None, view: View, period=None) -> dict[str, dict]:
        """KPI tiles over the view's window (or one period of it).

        Returns
        -------
        dict
            kpi → ``{"value", "unit", "label", "coverage"}``; the value is NaN when
            the window holds no data.
        """
        if period is not None:
            start = utc_naive(period.start if isinstance(period, Period) else period)
            view = View(view.level, start, period_end(view.level, start, self.timezone))
        frame = self.table(scope, view)
        agg = aggregate(frame.assign(_all=0), ["_all"])
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
        day_utc = {d: local_day_start(d, self.timezone) for d in per_day.index}
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
        below ``quality_threshold``, forecast deviations (``pumplib.forecast``), the
        live path's rule alerts (``pumplib.live.alerts``, from the action-log database).
        A source whose module is not installed contributes nothing. Each alert
        carries its action state (``status``, ``assignee``) from the action log.
        """
        check_alert_kinds(kinds)
        assets = self.scope_assets(scope) if scope else None
        stored = [k for k in ALERT_KINDS if k in kinds and k != "live"]
        al = self._stored(("alerts", *stored), lambda: self._alert_sources(stored))
        if "live" in kinds:                  # the action-log database: read afresh
            live = live_alerts(self)
            al = pd.concat([al, live], ignore_index=True) if len(live) else al
        if assets is not None:
            stations = {station_of(self, a) for a in assets}
            al = al[al["asset"].isin(assets) | (al["asset"].isin(stations))]
        if view is not None and (view.start is not None or view.end is not None):
            lo = view.start if view.start is not None else pd.Timestamp.min
            hi = view.end if view.end is not None else pd.Timestamp.max
            al = al[(al["end"] >= lo) & (al["start"] < hi)]
        st = self.actions.state(kind="alert")
        al = al.assign(status=fill(al["alert_id"].map(st["status"]),
                                   fill(al["status"], "open")),   # a source's own, or open
                       assignee=al["alert_id"].map(st["assignee"]))
        if status is not None:
            al = al[al["status"] == status]
        sev = {s: i for i, s in enumerate(SEVERITIES)}
        al = al.assign(_sev=pd.to_numeric(al["severity"].map(sev)).fillna(0))
        al = al.sort_values(["_sev", "start"], ascending=[False, False]).drop(columns="_sev")
        return al[ALERT_COLUMNS].reset_index(drop=True)

    def _alert_sources(self, kinds) -> pd.DataFrame:
        sources = {"outlier": outlier_alerts, "quality": quality_alerts,
                   "forecast": forecast_alerts}
        frames = [sources[k](self) for k in ALERT_KINDS if k in kinds]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else empty(ALERT_COLUMNS)

    def _stored(self, name: tuple, make) -> pd.DataFrame:
        """What the lake holds for ``name`` at its tip, made once per snapshot (a page
        of the apps asks for the same alerts and recommendations on every redraw; the
        action state is joined afresh each time)."""
        key = (*name, self.lake.tip())
        with self._lock:
            hit = self._cache.get(key)
        if hit is None:
            hit = make()
            with self._lock:
                self._cache[key] = hit
        return hit.copy()

    def alert(self, alert_id: str) -> dict:
        """One alert by id (as a dict)."""
        al = self.alerts()
        hit = al[al["alert_id"] == alert_id]
        if hit.empty:
            raise UnknownNameError(choices_message("alert", alert_id, al["alert_id"].tolist()))
        return hit.iloc[0].to_dict()

    # evidence --------------------------------------------------------------------------
    def evidence(self, alert: str | dict, *, pad: str = "6h", cadence: str = "1min") -> dict:
        """What an alert rests on (see :func:`pumplib.ops.evidence.evidence`)."""
        return _evidence.evidence(self, alert, pad=pad, cadence=cadence)

    def lineage(self, alert: dict) -> list[dict]:
        """Commits behind an alert (see :func:`pumplib.ops.evidence.lineage`)."""
        return _evidence.lineage(self.lake, alert)

    # recommendations -------------------------------------------------------------------
    def recommendations(self, scope: str | None = None, status: str | None = None
                        ) -> pd.DataFrame:
        """Stored recommendations joined with their action state and verified savings.

        Read from the lake table group ``recommendations`` (written by
        ``pumplib.recommend.store_recommendations``): the latest run. Verified
        savings come from ``pumplib.recommend.verify`` for accepted ones, when
        that module is present.
        """
        recs = self._stored(("recommendations",), self._stored_recommendations)
        if scope:
            # a pump's recommendations with its pump; those of a tank or of a whole station
            # with the station (so the utility shows every one)
            assets = set(self.scope_assets(scope))
            stations = {station_of(self, a) for a in assets}
            pumps = {a.id for a in self.registry.pumps()}
            recs = recs[recs["asset"].isin(assets) |
                        (~recs["asset"].isin(pumps) & recs["station"].isin(stations))]
        st = self.actions.state(kind="recommendation")
        recs = recs.assign(status=fill(recs["rec_id"].map(st["status"]), "open"))
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

    def _stored_recommendations(self) -> pd.DataFrame:
        tables = self.lake.tables("recommendations")
        if tables:
            recs = tables[sorted(tables)[-1]].drop_duplicates("rec_id", keep="last")
        else:
            recs = empty(REC_COLUMNS[:12])
        for c in REC_COLUMNS[:12]:
            if c not in recs:
                recs[c] = np.nan
        return recs

    def _verified(self, accepted: pd.DataFrame) -> pd.DataFrame | None:
        """Measured savings of accepted recommendations (``pumplib.recommend.verify``).

        A recommendation accepted after the end of the data has nothing to
        measure yet: its verified saving stays empty.
        """
        mod = optional("pumplib.recommend")
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
            **kw):
        """Record an action on one recommendation or alert; return the
        :class:`pumplib.actions.Recorded` (see :meth:`pumplib.actions.ActionLog.record`).

        The item must exist (an unknown id is refused, never stored), and only
        that item changes: accepting a recommendation leaves every alert as it
        is. Accepting is idempotent: a second accept stores nothing and the
        result says who accepted it and when (``created`` False). Accepting a
        recommendation stores its estimated saving with the action.
        """
        from ..actions import ITEM_KINDS

        if kind not in ITEM_KINDS:
            raise ArgumentError(choices_message("item kind", kind, ITEM_KINDS))
        if kind == "recommendation":
            recs = self.recommendations()
            hit = recs[recs["rec_id"] == item_id]
            if hit.empty:
                raise UnknownNameError(choices_message("recommendation", item_id,
                                                       recs["rec_id"].tolist()))
            if action == "accept" and "details" not in kw:
                r = hit.iloc[0]
                kw["details"] = {"saving_kwh": r["saving_kwh"],
                                 "saving_money": r["saving_money"], "currency": r["currency"]}
        else:
            self.alert(item_id)             # an unknown alert id raises UnknownNameError
        return self.actions.record(item_id, action, user, kind=kind, **kw)


# -- one Operations per store in a process ------------------------------------------------
@functools.lru_cache(maxsize=8)
def _operations(url: str, registry: str | None, actions: str | None) -> Operations:
    return Operations(url, registry, actions)


def open_operations(store=None, registry=None, actions=None) -> Operations:
    """A cached :class:`Operations` per (store, registry, action log) in this process."""
    url = os.fspath(config.get("store.url", override_with=store))
    return _operations(url, None if registry is None else os.fspath(registry), actions)


def _quality_days(lake) -> pd.DataFrame:
    cols = ["asset", "signal", "day", "score", "reasons"]
    if not any(lake.open_group(f"quality/{c}") is not None for c in lake.cadences()):
        return empty(cols)
    dq = optional("pumplib.dqscore")
    if dq is not None and hasattr(dq, "score_days"):
        frame = dq.score_days(lake)
    else:
        from ..quality import open_quality, scores

        frame = scores(open_quality(lake, "1min").load())
    frame = frame.reset_index()
    if "day" not in frame and "date" in frame:
        frame = frame.rename(columns={"date": "day"})
    if "reasons" not in frame:
        frame["reasons"] = ""
    frame["day"] = pd.to_datetime(frame["day"]).dt.tz_localize(None).dt.normalize()
    return frame[[c for c in cols if c in frame]]
