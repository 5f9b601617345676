"""Reading the golden tables for a data question: values with their lineage, roll-ups of the
day table, and the sentences of a data answer (values, totals, the winner of a ranking).

:class:`_Tables` opens the tables of one lake snapshot once (small frames cached);
:func:`answer_data` gives the text and facts of a :class:`~pumplib.qa.parse.DataQuery`;
:func:`interpretation` says in one line how the question was read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .parse import DataQuery, Metric, Period


# -- reading the golden tables ----------------------------------------------------------------
class _Tables:
    """The golden tables of one lake snapshot (opened once, small frames cached)."""

    def __init__(self, lake, snapshot: str | None = None):
        self.lake = lake
        self.snapshot = snapshot
        self._ds: dict[str, Any] = {}
        self._frames: dict[tuple[str, str], pd.DataFrame] = {}
        self.via = "Lake.open_group"

    def ds(self, level: str):
        if level not in self._ds:
            ds = self.lake.open_group(f"features/{level}", snapshot=self.snapshot)
            if ds is None:
                from ..errors import LakeError

                raise LakeError(f"{self.lake.url}: no golden table features/{level}; "
                                "build it with `pumplib features build`")
            self._ds[level] = ds
        return self._ds[level]

    def frame(self, level: str, column: str) -> pd.DataFrame:
        """``asset × period start (UTC)`` values of one column (computed, it is small)."""
        key = (level, column)
        if key not in self._frames:
            ds = self.ds(level)
            if column not in ds:
                self._frames[key] = pd.DataFrame()
            else:
                da = self._column(level, column).compute()
                self._frames[key] = pd.DataFrame(da.values, index=[str(a) for a in da.asset.values],
                                                 columns=pd.DatetimeIndex(da.time.values))
        return self._frames[key]

    def _column(self, level: str, column: str):
        """One column of a level through the query API (:mod:`pumplib.query`) when it exists,
        else straight from the lake; day partials always from the lake."""
        from ..features import LEVELS

        try:
            from ..query import query as run_query
        except ImportError:
            run_query = None
        if run_query is not None and level in LEVELS:
            self.via = "pumplib.query"
            return run_query(column, level=level, store=self.lake, snapshot=self.snapshot,
                             coverage=False)[column]
        return self.ds(level)[column]

    def data_end(self) -> pd.Timestamp:
        """End of the data: the latest raw sample time plus one step (UTC)."""
        if "_end" not in self._ds:
            self._ds["_end"] = self._data_end()
        return self._ds["_end"]

    def _data_end(self) -> pd.Timestamp:
        ends = []
        for cad in self.lake.cadences(self.snapshot):
            raw = self.lake.open_raw(cad, snapshot=self.snapshot)
            if raw.attrs.get("data_end") is not None:
                ends.append(int(raw.attrs["data_end"]) + int(raw.attrs.get("step_seconds", 0)))
        if not ends:
            t = self.ds("1D").time_end.values[-1]
            return pd.Timestamp(t).tz_localize("UTC")
        return pd.Timestamp(max(ends), unit="s", tz="UTC")

    def data_start(self) -> pd.Timestamp:
        """Start of the data: the earliest raw sample time (UTC)."""
        if "_start" not in self._ds:
            starts = [int(self.lake.open_raw(c, snapshot=self.snapshot).attrs["data_start"])
                      for c in self.lake.cadences(self.snapshot)]
            self._ds["_start"] = pd.Timestamp(min(starts), unit="s", tz="UTC")
        return self._ds["_start"]


_TABLES: dict[tuple[str, str], _Tables] = {}


def _tables(lake, snapshot: str | None) -> _Tables:
    """The tables of a snapshot (the tip by default), cached: snapshots never change."""
    snap = snapshot or lake.tip()
    key = (lake.url, snap)
    if key not in _TABLES:
        if len(_TABLES) > 8:
            _TABLES.pop(next(iter(_TABLES)))
        _TABLES[key] = _Tables(lake, snap)
    return _TABLES[key]


def _utc_naive(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.tz_convert("UTC").tz_localize(None)


def _value(tables: _Tables, metric: Metric, assets: Sequence[str], period: Period,
           span: tuple[pd.Timestamp, pd.Timestamp]) -> dict:
    """The metric over ``period`` for the union of ``assets`` (one value), with its lineage."""
    col, feat = metric.column, metric.feature
    t0, t1 = _utc_naive(period.start), _utc_naive(period.end)
    d0, d1 = _utc_naive(span[0]), _utc_naive(span[1])
    lineage: dict[str, Any] = {}
    if period.level is not None and len(assets) == 1 or (period.level and metric.additive):
        ds = tables.ds(period.level)
        vals = tables.frame(period.level, col)
        covs = tables.frame(period.level, f"{feat}_coverage")
        if t0 in vals.columns and all(a in vals.index for a in assets):
            v = vals.loc[list(assets), t0]
            c = covs.loc[list(assets), t0] if len(covs) else pd.Series(np.nan, index=v.index)
            beyond = t0 < d0 or t1 > d1
            if v.notna().all():
                value = float(v.sum()) if metric.additive else float(v.iloc[0])
                return _fact(ds, col, period.level, value, float(c.mean()), "table value",
                             lineage)
            if not beyond:
                return _fact(ds, col, period.level, None, float(c.mean()), "masked", lineage,
                             note=f"masked in features/{period.level}: coverage "
                                  f"{float(c.min()):.2f} below the definition's minimum "
                                  f"{ds[col].attrs.get('min_coverage')}")
    # roll-up from the day table over the days of the period that hold data
    ds = tables.ds("1D")
    vals = tables.frame("1D", col)
    covs = tables.frame("1D", f"{feat}_coverage")
    lo, hi = max(t0, d0 - pd.Timedelta(days=1)), min(t1, d1)
    days = [t for t in vals.columns if lo <= t < hi and t >= t0]
    if not days:
        return _fact(ds, col, "1D", None, 0.0, "no data", lineage,
                     note=f"the lake holds no data in {period.describe()}")
    v = vals.loc[list(assets), days]
    cov = float(covs.loc[list(assets), days].to_numpy().mean()) if len(covs) else float("nan")
    masked = int(v.isna().to_numpy().sum())
    note = None
    first, last = pd.Timestamp(days[0]), pd.Timestamp(days[-1])
    lineage["days"] = [str(first), str(last)]
    if metric.additive:
        value = float(np.nansum(v.to_numpy())) if masked < v.size else None
        method = "sum of 1D values"
    else:
        parts = tables.ds("_partials/1D")
        s = parts[f"{feat}__sum"].sel(asset=list(assets), time=days).values
        n = parts[f"{feat}__n"].sel(asset=list(assets), time=days).values
        value = float(np.nansum(s) / np.nansum(n)) if np.nansum(n) > 0 else None
        method = "sum/n of 1D partials"
        min_cov = ds[col].attrs.get("min_coverage")
        if value is not None and min_cov is not None and cov < float(min_cov):
            note = f"coverage {cov:.2f} below the definition's minimum {min_cov}: masked"
            value = None
    if masked and metric.additive:
        note = f"{masked} of {v.size} day values masked (low coverage) and left out"
    if t0 < d0 - pd.Timedelta(days=1) or t1 > d1:
        note = ((note + "; ") if note else "") + "the data cover only part of this period"
    return _fact(ds, col, "1D", value, cov, method, lineage, note=note)


def _fact(ds, col: str, level: str, value, coverage: float, method: str, lineage: dict,
          note: str | None = None) -> dict:
    a = ds[col].attrs
    return {"value": value, "coverage": None if np.isnan(coverage) else round(coverage, 4),
            "level": level, "method": method, "note": note,
            "lineage": {**lineage, "table": f"features/{level}", "column": col,
                        "feature": a.get("feature"), "version": a.get("version"),
                        "definition_hash": a.get("definition_hash"),
                        "snapshot": ds.attrs.get("snapshot"),
                        "raw_snapshot": ds.attrs.get("raw_snapshot")}}


def _display(metric: Metric, value: float | None, units: str, currency: str) -> tuple[str, str]:
    """Formatted value and display unit (seconds shown as hours, shares as %)."""
    if value is None:
        return "no value", ""
    if units == "s":
        return f"{value / 3600:.2f}", "h"
    if metric.key == "efficiency":
        return f"{100 * value:.1f}", "%"
    if metric.key == "starts":
        return f"{value:.0f}", "starts"
    if units == currency or metric.key == "cost":
        return f"{value:.2f}", currency
    if units in ("1", ""):
        return f"{value:.3f}", ""
    return f"{value:.3f}" if abs(value) < 100 else f"{value:,.1f}", units.replace("m3", "m³")


def period_dates(period: Period) -> dict:
    """A period as local dates: ``start``, ``end`` (exclusive), ``last`` (its last day)."""
    last = (period.end - pd.Timedelta(1, "ns")).date()
    return {"start": str(period.start.date()), "end": str(period.end.date()),
            "last": str(last), "label": period.label}


def short_period(period: Period) -> str:
    """``"last week = 30 Mar – 5 Apr 2026 local"``: what a relative period was resolved to."""
    last = (period.end - pd.Timedelta(1, "ns"))
    a, b = period.start, last
    if a.date() == b.date():
        span = f"{a.day} {a:%b %Y}"
    elif a.year == b.year:
        span = f"{a.day} {a:%b} – {b.day} {b:%b %Y}"
    else:
        span = f"{a.day} {a:%b %Y} – {b.day} {b:%b %Y}"
    label = period.label.removeprefix("in ") if period.label else ""
    return (f"{label} = {span}" if label and not label[:1].isdigit() else span) + " local"


def _groups(dq: DataQuery, registry, question: str) -> dict[str, list[str]]:
    """What is listed or ranked: a station's pumps together, or pumps one by one."""
    pumps = [a.id for a in registry.pumps()]
    per_pump = re.search(r"\b(each|every|per)\s+pump|\bby pump\b|\bpumps\b", question.lower())
    if dq.group == "station" and dq.rank:
        return {s: [a.id for a in registry.station_assets(s) if a.kind == "pump"]
                for s in (dq.stations or registry.stations)}
    if dq.assets:
        return {a: [a] for a in dq.assets}
    if dq.stations and not dq.rank and not per_pump:
        return {s: [a.id for a in registry.station_assets(s) if a.kind == "pump"]
                for s in dq.stations}
    scope = [a for a in pumps if not dq.stations or registry.assets[a].station in dq.stations]
    return {a: [a] for a in scope}


def answer_data(dq: DataQuery, tables: _Tables, registry, question: str = "") -> tuple[str, list]:
    """Text (with ``[1]`` citing the table read) and facts of a data question.

    The facts of a total ("all pumps together", "in total") end with one whose
    ``total`` is True; the winner of a ranking or comparison has ``selected`` True.
    """
    tz = registry.utility.get("timezone", "UTC")
    currency = registry.utility.get("currency", "EUR")
    span = (tables.data_start().tz_convert(tz), tables.data_end().tz_convert(tz))
    period = dq.period or Period(span[0].normalize(), (span[1] - pd.Timedelta("1ns")).normalize()
                                 + pd.Timedelta(days=1), "over all the data", None)
    units = str(tables.ds("1D")[dq.metric.column].attrs.get("units", "")) \
        if dq.metric.column in tables.ds("1D") else ""
    groups = _groups(dq, registry, question)
    if dq.total and len(groups) > 1:
        everyone = [m for ms in groups.values() for m in ms]
        # the pumps of one station together are that station ("S-P1 and S-P2": SOUTH)
        name = next((s for s in registry.stations if sorted(everyone) == sorted(
            a.id for a in registry.station_assets(s) if a.kind == "pump")), None) or (
            dq.stations[0] if len(dq.stations) == 1 and not dq.assets else "total")
        groups[name if name not in groups else "total"] = list(dict.fromkeys(everyone))
    facts = []
    for name, members in groups.items():
        members = [m for m in members if m in tables.frame("1D", dq.metric.column).index]
        if not members:
            continue
        f = _value(tables, dq.metric, members, period, span)
        f["lineage"]["read_via"] = tables.via
        shown, unit = _display(dq.metric, f["value"], units, currency)
        facts.append({"name": name, "assets": members, "metric": dq.metric.key,
                      "label": dq.metric.label, "column": dq.metric.column, "units": units,
                      "display": f"{shown} {unit}".strip(),
                      "period": [period.start.isoformat(), period.end.isoformat()],
                      "period_label": period.describe(), **f})
    if dq.total and len(groups) > 1 and facts:
        facts[-1]["total"] = True
    elif len(facts) == 1 and len(facts[0]["assets"]) > 1:
        facts[0]["total"] = True
    lines = _data_lines(dq, facts, groups, period, question)
    for f in facts:
        if f["value"] is not None and f["note"]:
            lines.append(f"Note for {f['name']}: {f['note']}.")
    if facts:
        lin = facts[0]["lineage"]
        lines.append(f"Read from {lin['table']} column {lin['column']} ({facts[0]['method']}), "
                     f"feature {lin['feature']} v{lin['version']} (definition "
                     f"{lin['definition_hash']}), lake snapshot {lin['snapshot']}; coverage "
                     + ", ".join(f"{f['name']} {f['coverage']}" for f in facts) + ".")
    lines.extend(f"Note: {n}." for n in dq.notes)
    return "\n".join(lines), facts


def _data_lines(dq: DataQuery, facts: list[dict], groups, period: Period, question: str
                ) -> list[str]:
    """The sentences of a data answer: the winner of a ranking or comparison with the metric
    it was ranked by, or each value, then the total."""
    what = dq.metric.label
    lines: list[str] = []
    ranked = [f for f in facts if not f.get("total")]
    if dq.rank and len(ranked) > 1:
        valued = [f for f in ranked if f["value"] is not None]
        if not valued:
            return [f"No {what} values for {', '.join(groups)} {period.describe()}: "
                    + "; ".join(f"{f['name']}: {f['note']}" for f in ranked) + " [1]."]
        pick = (max if dq.rank == "max" else min)(valued, key=lambda f: f["value"])
        word = {"max": "highest", "min": "lowest"}[dq.rank]
        if re.search(r"\bworst\b", question.lower()):
            word = f"worst ({word})"
        elif re.search(r"\bbest\b", question.lower()):
            word = f"best ({word})"
        pick["selected"] = True
        others = "; ".join(f"{f['name']} {f['display']}" for f in ranked if f is not pick)
        if dq.compare and len(ranked) == 2:
            other = next(f for f in ranked if f is not pick)
            more = "more" if dq.rank == "max" else "less"
            lines.append(f"{pick['name']} had {more} {what} than {other['name']} "
                         f"{period.describe()}: {pick['display']} against {other['display']} "
                         f"[1].")
        else:
            lines.append(f"{pick['name']} had the {word} {what} {period.describe()}: "
                         f"{pick['display']} [1]. Others: {others}.")
        lines.append(f"Ranked by {what} ({dq.metric.column}).")
    else:
        for f in ranked if len(ranked) > 1 or not facts else facts:
            members = "" if f["assets"] == [f["name"]] else f" (pumps {', '.join(f['assets'])})"
            if f["value"] is None:
                lines.append(f"{f['name']}{members}: no {what} value {period.describe()} — "
                             f"{f['note']} [1].")
            else:
                lines.append(f"{f['name']}{members}: {what} = {f['display']} "
                             f"{period.describe()} [1].")
    tot = next((f for f in facts if f.get("total")), None)
    if tot is not None and tot in facts and len(facts) > 1:
        how = "together" if dq.metric.additive else "pooled over the pumps"
        whose = f"{tot['name']} ({', '.join(tot['assets'])})" if tot["name"] != "total" \
            else ", ".join(tot["assets"])
        lines.append(f"Total, {whose} {how}: {what} = "
                     + (tot["display"] if tot["value"] is not None else "no value")
                     + f" {period.describe()} [1].")
    return lines


def interpretation(dq: DataQuery, facts: list[dict], registry, units: str = "") -> str:
    """How a data question was read, in one line: ``energy cost (EUR), SOUTH, last week =
    30 Mar – 5 Apr 2026 local``."""
    unit = units or (facts[0]["units"] if facts else "")
    what = f"{dq.metric.label} ({unit})" if unit else dq.metric.label
    scope = ", ".join(dq.assets) or ", ".join(dq.stations) or "all pumps"
    if dq.total:
        scope += " together"
    parts = [what, scope]
    if dq.rank:
        parts.append("ranked, highest first" if dq.rank == "max" else "ranked, lowest first")
    if dq.period is not None:
        parts.append(short_period(dq.period))
    elif facts:
        p = facts[0]["period"]
        parts.append(f"all the data ({p[0][:10]} – "
                     f"{(pd.Timestamp(p[1]) - pd.Timedelta(1, 'ns')).date()} local)")
    return "Interpreted as: " + ", ".join(parts) + "."
