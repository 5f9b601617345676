"""Streaming rule alerts of the live path: dry running, out of range, stuck sensor, silence.

:class:`LiveAlerts` takes samples as they arrive (:meth:`LiveAlerts.update`, a frame of
``asset, signal, time, value`` in canonical units) or the raw range of a commit (called
as the committer's hook, ``alerts(lake, start_ns, stop_ns)``), and keeps, per pump and
rule, whether the rule's condition holds:

* ``dry_run``: the pump runs (the quality rules' ``running``: run state, else power,
  else flow) with flow at most ``live.dry_run.flow_max`` and power at least
  ``live.dry_run.power_min``, for ``live.dry_run.for``;
* ``out_of_range``: a signal outside its quality rule's ``range`` (``min``/``max``,
  from rated values where the rule says so) for ``live.out_of_range_for``;
* ``stuck``: a signal with a flat-line rule unchanged for ``live.stuck_after`` of
  running time;
* ``silent``: a tag the registry declares has sent no sample for ``live.silent_after``
  of event time (the latest sample time seen, so replays faster than real time judge
  it alike).

An alert opens when its condition has held that long and resolves itself once the
condition has been clear for ``live.clear_after`` (a silent tag: at its next sample).
Alerts are rows of the table ``pumplib_live_alerts`` in the action-log database
(:mod:`pumplib.actions`; the operations app lists them with its other alerts, kind
``live``, and people act on them in the action log as on any alert). One alert per
pump and rule is open at a time, whichever processes write: an open row carries the key
``asset|rule`` under a UNIQUE constraint, cleared when it resolves. A new
:class:`LiveAlerts` takes up the alerts a previous one left open.

Examples
--------
>>> import pandas as pd
>>> from pumplib.simulate import make_registry
>>> from pumplib.assets import AssetRegistry
>>> reg = AssetRegistry.from_dict(make_registry(n_stations=1, pumps_per_station=1))
>>> alerts = LiveAlerts("sqlite://", registry=reg)
>>> t = pd.date_range("2026-03-09 06:00", periods=30, freq="1s")
>>> rows = [{"asset": "N-P1", "signal": s, "time": x, "value": v} for x in t
...         for s, v in (("run_state", 1.0), ("power", 30.0), ("flow", 0.0))]
>>> [(e.action, e.rule) for e in alerts.update(pd.DataFrame(rows))]
[('open', 'dry_run')]
>>> alerts.open_alerts()[["asset", "rule", "severity"]].values.tolist()
[['N-P1', 'dry_run', 'high']]
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .. import config
from ..errors import ArgumentError

__all__ = ["ALERT_TABLE", "RULES", "AlertEvent", "LiveAlerts", "alert_frame"]

#: the rules of :class:`LiveAlerts`, and their severities
RULES = {"dry_run": "high", "out_of_range": "medium", "stuck": "medium", "silent": "medium"}
ALERT_TABLE = "pumplib_live_alerts"
_TITLES = {"dry_run": "{asset} runs dry", "out_of_range": "{asset}: {signals} out of range",
           "stuck": "{asset}: {signals} stuck", "silent": "{asset}: {signals} silent"}


class _Base(DeclarativeBase):
    pass


class LiveAlertRow(_Base):
    """One live alert: opened at ``opened_at`` (its condition held from ``start``),
    resolved at ``resolved_at`` (its condition clear from ``end``)."""

    __tablename__ = ALERT_TABLE

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(sa.String(200), unique=True)
    rule: Mapped[str] = mapped_column(sa.String(32), index=True)
    asset: Mapped[str] = mapped_column(sa.String(200), index=True)
    station: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    signals: Mapped[str] = mapped_column(sa.Text, default="")
    severity: Mapped[str] = mapped_column(sa.String(16))
    score: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    title: Mapped[str] = mapped_column(sa.Text)
    explanation: Mapped[str] = mapped_column(sa.Text, default="")
    start: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    end: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    opened_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True),
                                                           nullable=True)
    #: ``asset|rule`` while open, NULL once resolved: UNIQUE, so one open alert per pump
    #: and rule whatever the writers
    open_key: Mapped[str | None] = mapped_column(sa.String(300), nullable=True, unique=True)


@dataclass(frozen=True)
class AlertEvent:
    """An alert opened or resolved by :meth:`LiveAlerts.update`: ``action`` (``open`` |
    ``resolve``), ``rule``, ``asset``, ``alert_id``, ``at`` (event time, UTC ns: the start
    of the condition for ``open``, the start of the clear spell for ``resolve``) and
    ``signals``."""

    action: str
    rule: str
    asset: str
    alert_id: str
    at: int
    signals: str = ""


@dataclass
class _Rule:
    """Where one rule of one asset stands: its condition true since ``since`` (ns) or
    clear since ``clear_since``, and the alert open (its id) or not."""

    since: int | None = None
    clear_since: int | None = None
    open: str | None = None


@dataclass
class _Asset:
    """What one asset's samples left behind: each signal's last value and time, the
    time its value last changed, the time the pump started running, each rule's state."""

    last: dict = field(default_factory=dict)          # signal -> (time ns, value)
    changed: dict = field(default_factory=dict)       # signal -> time ns of last change
    running: bool = False
    running_since: int | None = None
    rules: dict = field(default_factory=dict)         # rule -> _Rule
    # within one batch: per signal (its sample times, the time of the last change at
    # each), and per row the time the pump started running (-1: not running)
    batch_changes: dict = field(default_factory=dict)
    batch_since: np.ndarray | None = None


def _ns(value) -> int:
    return int(pd.Timedelta(str(value)).total_seconds() * 1e9)


class LiveAlerts:
    """Streaming rule alerts, written to the action-log database (see the module).

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL of the action-log database (default:
        :func:`pumplib.actions.default_url` of ``store``).
    store : str or path, optional
        The store whose action log takes the alerts, and whose raw data the hook reads
        when called with ``lake=None``.
    registry : AssetRegistry or path, optional
        Rated values and declared tags (default: the ``assets.registry`` setting).
    rules : Rules, dict or path, optional
        Quality rules: the ranges, flat-line signals and running thresholds (default:
        the ``quality.rules`` setting).
    """

    def __init__(self, url: str | None = None, *, store=None, registry=None, rules=None):
        from ..actions import ActionLog
        from ..quality.engine import as_registry, as_rules

        if registry is None:
            from ..assets import AssetRegistry

            registry = AssetRegistry.load()
        self.registry = as_registry(registry)
        self.rules = as_rules(rules)
        self.store = store
        self.db = ActionLog(url, store=store if not hasattr(store, "url") else store.url)
        self.engine = self.db.engine
        self.db._retry(lambda: _Base.metadata.create_all(self.engine))
        dry = config.get("live.dry_run")
        self.dry = {"flow_max": dry.get("flow_max"), "power_min": dry.get("power_min"),
                    "for": _ns(dry.get("for", "10s"))}
        self.hold = {"dry_run": self.dry["for"],
                     "out_of_range": _ns(config.get("live.out_of_range_for")),
                     "stuck": 0, "silent": 0}
        self.stuck_after = _ns(config.get("live.stuck_after"))
        self.silent_after = _ns(config.get("live.silent_after"))
        self.clear_after = _ns(config.get("live.clear_after"))
        self.assets: dict[str, _Asset] = {}
        self.clock: int | None = None               # latest sample time seen (ns)
        self.started: int | None = None             # first sample time seen (ns)
        self._limits: dict[str, dict] = {}
        for r in self._rows(open_only=True):        # take up what was left open
            self._asset(r["asset"]).rules.setdefault(r["rule"], _Rule()).open = r["alert_id"]

    # -- feeding ------------------------------------------------------------------------
    def __call__(self, lake, start_ns: int, stop_ns: int) -> list[AlertEvent]:
        """The committer's hook: the samples of raw range ``[start_ns, stop_ns)`` of
        ``lake`` (canonical units, as committed), then silence up to ``stop_ns``."""
        from ..lake import Lake

        lake = self.store if lake is None else lake
        if not isinstance(lake, Lake):
            lake = Lake(lake, create=False)
        raw = lake.open_raw()
        raw = raw.sel(time=slice(pd.Timestamp(int(start_ns)),
                                 pd.Timestamp(int(stop_ns) - 1)))
        names = [s for s in raw.data_vars if not str(s).endswith("_sq")]
        frame = (raw[names].load().to_dataframe().reset_index()
                 .melt(id_vars=["asset", "time"], var_name="signal").dropna(subset=["value"]))
        return self.update(frame, now=int(stop_ns) - 1)

    def update(self, samples: pd.DataFrame, now: int | None = None) -> list[AlertEvent]:
        """Take a batch of samples (columns ``asset, signal, time, value``; times UTC,
        naive or aware, or epoch ns; canonical units) and write the alerts that open or
        resolve; returns them. Then :meth:`check_silent` at ``now`` (epoch ns; default
        the latest sample time seen)."""
        events: list[AlertEvent] = []
        if len(samples):
            frame = _normalised(samples)
            t_max = int(frame["time"].max())
            self.clock = t_max if self.clock is None else max(self.clock, t_max)
            t_min = int(frame["time"].min())
            self.started = t_min if self.started is None else min(self.started, t_min)
            a_codes, a_names = pd.factorize(frame["asset"].to_numpy(), sort=True)
            s_codes, s_names = pd.factorize(frame["signal"].to_numpy())
            order = np.argsort(a_codes, kind="stable")          # by asset, in time order
            cuts = np.searchsorted(a_codes[order], np.arange(len(a_names) + 1))
            t_all, v_all = frame["time"].to_numpy(), frame["value"].to_numpy()
            for k, asset in enumerate(a_names):
                rows = order[cuts[k]:cuts[k + 1]]
                events += self._asset_batch(str(asset), t_all[rows], s_codes[rows],
                                            v_all[rows], s_names)
        if now is not None and self.clock is not None:
            now = max(int(now), self.clock)     # late samples do not turn the clock back
        events += self.check_silent(now)
        return events

    def check_silent(self, now: int | None = None) -> list[AlertEvent]:
        """Open or resolve ``silent`` alerts at event time ``now`` (epoch ns; default the
        latest sample time seen): a tag the registry declares with no sample for
        ``live.silent_after``."""
        now = self.clock if now is None else int(now)
        if now is None or self.started is None:
            return []
        events = []
        for aid, asset in self.registry.assets.items():
            sigs = [s for s, spec in asset.signals.items()
                    if not isinstance(spec, dict) or spec.get("tag")]
            if not sigs:
                continue
            st = self._asset(aid)
            quiet = [s for s in sigs
                     if now - st.last.get(s, (self.started, None))[0] >= self.silent_after]
            last = min((st.last.get(s, (self.started, None))[0] for s in quiet),
                       default=now)
            events += self._advance(aid, "silent", np.array([now]), np.array([bool(quiet)]),
                                    lambda k, quiet=quiet, st=st, last=last: (
                                        ", ".join(quiet), math.nan,
                                        "no sample since " + _silence_text(st, quiet), last),
                                    clear_ns=0)
        return events

    # -- one asset ----------------------------------------------------------------------
    def _asset(self, asset: str) -> _Asset:
        return self.assets.setdefault(asset, _Asset())

    def _asset_batch(self, asset: str, t: np.ndarray, codes: np.ndarray, v: np.ndarray,
                     names) -> list[AlertEvent]:
        """The rules of one asset over its samples (times ``t``, signal ``names[codes]``,
        values ``v``; time order)."""
        st = self._asset(asset)
        times, row = np.unique(t, return_inverse=True)
        present, col_of = np.unique(codes, return_inverse=True)
        wide = np.full((len(times), len(present)), np.nan)
        key = row * len(present) + col_of
        _, back = np.unique(key[::-1], return_index=True)
        keep = len(key) - 1 - back             # of samples at one time, the last wins
        wide[row[keep], col_of[keep]] = v[keep]
        vals: dict[str, np.ndarray] = {}
        for j, code in enumerate(present):
            sig = str(names[code])
            col = wide[:, j]
            own = ~np.isnan(col)
            self._changes(st, sig, times[own], col[own])
            vals[sig] = _ffill(col, st.last.get(sig, (None, math.nan))[1])
            st.last[sig] = (int(times[own][-1]), float(col[own][-1]))
        for sig, (_t, v) in st.last.items():        # signals of earlier batches only
            if sig not in vals:
                vals[sig] = np.full(len(times), v)
        lim = self._limits_of(asset)
        running = self._running(st, times, vals, lim)
        events = []
        if "flow" in vals:
            flow = vals["flow"]
            power = vals.get("power")
            dry = running & (flow <= lim["dry_flow_max"])
            if power is not None and np.isfinite(lim["dry_power_min"]):
                dry &= power >= lim["dry_power_min"]

            def dry_info(k):
                p = "" if power is None else f", power {power[k]:.3g} kW"
                return "flow", float(flow[k]), (f"running with flow {flow[k]:.3g} m³/h "
                                                f"(at most {lim['dry_flow_max']:.3g}){p}")
            events += self._advance(asset, "dry_run", times, dry, dry_info)
        out = {s: (vals[s] < lo) | (vals[s] > hi)
               for s, (lo, hi) in lim["range"].items() if s in vals}
        if out:
            any_out = np.logical_or.reduce(list(out.values()))

            def range_info(k):
                bad = [s for s, m in out.items() if m[k]]
                return ", ".join(bad), math.nan, "; ".join(
                    f"{s} {vals[s][k]:.4g} outside [{lim['range'][s][0]:.4g}, "
                    f"{lim['range'][s][1]:.4g}]" for s in bad)
            events += self._advance(asset, "out_of_range", times, any_out, range_info)
        stuck, frozen = self._stuck(st, times, vals, running, lim["flatline"])
        if stuck:
            any_stuck = np.logical_or.reduce(list(stuck.values()))

            def stuck_info(k):
                bad = [s for s, m in stuck.items() if m[k]]
                since = min(int(frozen[s][k]) for s in bad)
                return ", ".join(bad), math.nan, "; ".join(
                    f"{s} unchanged at {vals[s][k]:.4g} for "
                    f"{(times[k] - int(frozen[s][k])) / 6e10:.0f} min of running"
                    for s in bad), since
            events += self._advance(asset, "stuck", times, any_stuck, stuck_info)
        return events

    def _changes(self, st: _Asset, sig: str, t: np.ndarray, v: np.ndarray) -> None:
        """Record the time of the last change of ``sig``'s value among samples ``t``/``v``
        (``st.changed``), and per sample in ``st.batch_changes`` for :meth:`_stuck`."""
        prev = st.last.get(sig, (None, math.nan))[1]
        before = np.r_[prev, v[:-1]]
        moved = v != before
        at = np.where(moved, t, -1)
        at = np.maximum.accumulate(np.r_[st.changed.get(sig, int(t[0])), at])[1:]
        st.changed[sig] = int(at[-1])
        st.batch_changes[sig] = (t, at)

    def _running(self, st: _Asset, times, vals, lim) -> np.ndarray:
        """Whether the pump runs at each time (run state, else power, else flow, as the
        quality rules decide), and when it started (``st.running_since``)."""
        est = np.full(len(times), np.nan)
        for name, thr in (("flow", lim["flow_min"]), ("power", lim["power_min"]),
                          ("run_state", lim["run_state_min"])):
            x = vals.get(name)
            if x is None or not np.isfinite(thr):
                continue
            e = np.where(np.isnan(x), np.nan, (x >= thr).astype(float))
            est = np.where(np.isnan(e), est, e)
        run = est == 1.0
        prev = st.running
        starts = run & ~np.r_[prev, run[:-1]]
        since = np.where(starts, times, -1)
        since = np.maximum.accumulate(np.r_[st.running_since if st.running_since is not None
                                            else -1, since])[1:]
        st.running = bool(run[-1]) if len(run) else prev
        st.running_since = int(since[-1]) if st.running and since[-1] >= 0 else None
        st.batch_since = since
        return run

    def _stuck(self, st: _Asset, times, vals, running, flat: list[str]):
        """Per flat-line signal: unchanged for ``live.stuck_after`` of running time, and
        since when (the later of its last change and the pump's start)."""
        out, frozen = {}, {}
        since, got = st.batch_since, st.batch_changes
        for sig in flat:
            if sig not in got or sig not in vals:
                continue
            t, at = got[sig]
            k = np.searchsorted(t, times, side="right") - 1
            changed = np.where(k >= 0, at[np.maximum(k, 0)], st.changed.get(sig, times[0]))
            frozen[sig] = np.maximum(changed, since)
            out[sig] = running & ~np.isnan(vals[sig]) & (times - frozen[sig] >= self.stuck_after)
        st.batch_changes = {}
        return out, frozen

    def _limits_of(self, asset: str) -> dict:
        """The thresholds of one asset, from its resolved quality rules and the live
        settings (cached)."""
        if asset not in self._limits:
            from ..quality.rules import limit_value

            obj = self.registry.assets.get(asset)
            res = self.rules.resolve(asset, self.registry)
            run = res.get("running") or {}
            rng = {}
            for s, spec in res["signals"].items():
                r = spec.get("range")
                if r:
                    lo, hi = limit_value(r.get("min"), obj), limit_value(r.get("max"), obj)
                    rng[s] = (-np.inf if math.isnan(lo) else lo, np.inf if math.isnan(hi) else hi)
            flat = [s for s, spec in res["signals"].items()
                    if (spec.get("flatline") or {}).get("when", "always") == "running"]
            self._limits[asset] = {
                "run_state_min": float(run.get("run_state_min", 0.5)),
                "power_min": limit_value(run.get("power_min"), obj),
                "flow_min": limit_value(run.get("flow_min"), obj),
                "dry_flow_max": limit_value(self.dry["flow_max"], obj),
                "dry_power_min": limit_value(self.dry["power_min"], obj),
                "range": rng, "flatline": flat}
        return self._limits[asset]

    # -- alert lifecycle ----------------------------------------------------------------
    def _advance(self, asset: str, rule: str, times: np.ndarray, cond: np.ndarray, info,
                 clear_ns: int | None = None) -> list[AlertEvent]:
        """Walk rule ``rule``'s condition ``cond`` over ``times`` (ns): open its alert once
        the condition has held ``self.hold[rule]``, resolve it once clear for
        ``clear_ns`` (default ``live.clear_after``). ``info(k)`` gives ``(signals,
        score, explanation)`` at index ``k``, and optionally the alert's start when it is
        not the condition's (a stuck value: its last change)."""
        st = self._asset(asset).rules.setdefault(rule, _Rule())
        hold = self.hold[rule]
        clear = self.clear_after if clear_ns is None else clear_ns
        events = []
        if not len(times):
            return events
        edges = np.flatnonzero(np.diff(cond.astype(np.int8))) + 1
        for a, b in zip(np.r_[0, edges], np.r_[edges, len(cond)], strict=True):
            if cond[a]:
                st.clear_since = None
                if st.since is None:
                    st.since = int(times[a])
                if st.open is None:
                    k = a + int(np.searchsorted(times[a:b], st.since + hold))
                    if k < b:
                        sigs, score, why, *since = info(k)
                        start = int(since[0]) if since else st.since
                        st.open = self._open(asset, rule, start, sigs, score, why)
                        events.append(AlertEvent("open", rule, asset, st.open, start, sigs))
            else:
                st.since = None
                if st.open is not None:
                    if st.clear_since is None:
                        st.clear_since = int(times[a])
                    k = a + int(np.searchsorted(times[a:b], st.clear_since + clear))
                    if k < b:
                        self._resolve(asset, rule, st.clear_since)
                        events.append(AlertEvent("resolve", rule, asset, st.open,
                                                 st.clear_since))
                        st.open = st.clear_since = None
        return events

    def _open(self, asset: str, rule: str, since: int, signals: str, score: float,
              why: str) -> str:
        """Write an open alert (or find the one already open for ``asset``/``rule``)."""
        start = pd.Timestamp(since, unit="ns", tz="UTC")
        alert_id = f"live:{rule}:{asset}:{start.strftime('%Y%m%dT%H%M%S')}:{uuid.uuid4().hex[:6]}"
        a = self.registry.assets.get(asset)
        row = dict(alert_id=alert_id, rule=rule, asset=asset,
                   station=a.station if a is not None else None, signals=signals,
                   severity=RULES[rule], score=None if math.isnan(score) else float(score),
                   title=_TITLES[rule].format(asset=asset, signals=signals),
                   explanation=why, start=start.to_pydatetime(), end=None,
                   opened_at=dt.datetime.now(dt.UTC), resolved_at=None,
                   open_key=f"{asset}|{rule}")

        def write():
            with self.engine.begin() as conn:
                conn.execute(sa.insert(LiveAlertRow).values(**row))
            return alert_id

        try:
            return self.db._retry(write)
        except IntegrityError:               # open already (another writer)
            with self.engine.connect() as conn:
                got = conn.execute(sa.select(LiveAlertRow.alert_id).where(
                    LiveAlertRow.open_key == row["open_key"])).scalar()
            if got is None:                  # pragma: no cover - a duplicate alert_id
                raise
            return str(got)

    def _resolve(self, asset: str, rule: str, since: int) -> None:
        end = pd.Timestamp(since, unit="ns", tz="UTC").to_pydatetime()

        def write():
            with self.engine.begin() as conn:
                conn.execute(sa.update(LiveAlertRow)
                             .where(LiveAlertRow.open_key == f"{asset}|{rule}")
                             .values(end=end, resolved_at=dt.datetime.now(dt.UTC),
                                     open_key=None))
        self.db._retry(write)

    # -- reading ------------------------------------------------------------------------
    def _rows(self, open_only: bool = False) -> list[dict]:
        table = LiveAlertRow.__table__
        q = sa.select(table).order_by(table.c.id)
        if open_only:
            q = q.where(table.c.open_key.is_not(None))

        def read():
            with self.engine.connect() as conn:
                return [dict(r) for r in conn.execute(q).mappings().all()]
        return self.db._retry(read)

    def alerts(self) -> pd.DataFrame:
        """Every live alert, oldest first (the table's columns)."""
        return _table_frame(self._rows())

    def open_alerts(self) -> pd.DataFrame:
        """The alerts open now, one per pump and rule."""
        return _table_frame(self._rows(open_only=True))

    def close(self) -> None:
        self.db.close()


_COLUMNS = ["alert_id", "rule", "asset", "station", "signals", "severity", "score", "title",
            "explanation", "start", "end", "opened_at", "resolved_at"]


def _table_frame(rows: Iterable[dict]) -> pd.DataFrame:
    frame = pd.DataFrame([{c: r.get(c) for c in _COLUMNS} for r in rows], columns=_COLUMNS)
    for c in ("start", "end", "opened_at", "resolved_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    return frame


def alert_frame(actions) -> pd.DataFrame:
    """Live alerts in the shape of the operations app's alert sources
    (:data:`pumplib.ops.alerts.ALERT_COLUMNS`, kind ``live``; times naive UTC; an open
    alert ends now and has status ``open``, a resolved one ``resolved``), read from the
    action log ``actions`` (:class:`pumplib.actions.ActionLog`); empty when its database
    has no live alerts."""
    cols = ["alert_id", "kind", "asset", "station", "start", "end", "severity", "score",
            "title", "explanation", "signals", "source", "status", "assignee"]
    if not sa.inspect(actions.engine).has_table(ALERT_TABLE):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})

    table = LiveAlertRow.__table__

    def read():
        with actions.engine.connect() as conn:
            return conn.execute(sa.select(table).order_by(table.c.id)).all()
    rows = actions._retry(read)
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    out = []
    for r in rows:
        start = pd.Timestamp(r.start)
        start = start.tz_convert(None) if start.tzinfo else start
        end = now if r.end is None else pd.Timestamp(r.end)
        end = end.tz_convert(None) if end.tzinfo else end
        out.append({"alert_id": r.alert_id, "kind": "live", "asset": r.asset,
                    "station": r.station, "start": start, "end": end,
                    "severity": r.severity, "score": np.nan if r.score is None else r.score,
                    "title": r.title + ("" if r.end is None else " (resolved)"),
                    "explanation": r.explanation, "signals": r.signals,
                    "source": f"live/{r.rule}",
                    "status": "open" if r.open_key is not None else "resolved",
                    "assignee": None})
    return pd.DataFrame(out, columns=cols)


def _normalised(samples: pd.DataFrame) -> pd.DataFrame:
    """``asset, signal, time (epoch ns), value`` sorted by time, rows without a value
    dropped."""
    missing = [c for c in ("asset", "signal", "time", "value") if c not in samples.columns]
    if missing:
        raise ArgumentError(f"live alert samples need the columns asset, signal, time, value; "
                            f"missing {', '.join(missing)}")
    t = samples["time"]
    if not pd.api.types.is_integer_dtype(t.dtype):     # datetimes, zone-aware or not
        t = pd.to_datetime(t, utc=True).dt.tz_convert(None).astype("datetime64[ns]")
        t = t.astype(np.int64)
    out = pd.DataFrame({"asset": samples["asset"].astype(str).to_numpy(),
                        "signal": samples["signal"].astype(str).to_numpy(),
                        "time": np.asarray(t, dtype=np.int64),
                        "value": pd.to_numeric(samples["value"], errors="coerce").to_numpy()})
    out = out[np.isfinite(out["value"].to_numpy())]
    return out.sort_values("time", kind="stable")


def _ffill(col: np.ndarray, first: float) -> np.ndarray:
    """``col`` with each NaN replaced by the last value before it (``first`` before
    the first)."""
    idx = np.where(~np.isnan(col), np.arange(len(col)), -1)
    idx = np.maximum.accumulate(idx)
    return np.where(idx >= 0, col[np.maximum(idx, 0)], first)


def _silence_text(st: _Asset, quiet: list[str]) -> str:
    seen = [st.last[s][0] for s in quiet if s in st.last]
    if not seen:
        return "the live path started"
    return pd.Timestamp(min(seen), unit="ns").strftime("%Y-%m-%d %H:%M:%S UTC")
