"""Answers with citations: retrieved documents, or numbers read from the golden tables.

A question is first parsed (:func:`~pumplib.qa.parse.parse_question`): a metric from a
synonym table tied to golden-table columns (:data:`~pumplib.qa.parse.METRICS`), assets and
stations from the registry (ids, names, ``P3``-style short names, fuzzy station
names), a relative or absolute period ("yesterday", "last week", "in March",
"on 2026-03-20", "last 7 days") resolved in the utility's time zone against
the end of the data (or a given ``now``), and a ranking word ("worst",
"highest", "which pump"). When it names a metric and something to answer it
for, it is a *data question*: the value is read from ``features/<level>``
(the exact level of the period when there is one; otherwise a roll-up of the
day table: sums of daily values, or ``sum/n`` of the stored day partials for
means) and quoted with its lineage (snapshot, feature version and definition
hash, level, period, coverage). Values masked for low coverage are reported
as masked, never filled in.

Typos are read first (:func:`~pumplib.qa.parse.read_question`, the query API's
close-match rule): a word close to exactly one domain word is read as it and the
answer's first line says so. A part that cannot be read (an unknown pump or
station, a period, a word close to several) makes an ``"unclear"`` answer: what
was not understood, and the nearest answerable questions
(:func:`~pumplib.qa.suggest.suggest_questions`); nothing is widened.

Anything else is a *document question*: the index is searched (BM25 +
embeddings) and the best sentences of the best chunks are quoted with
numbered citations. When the best chunk is not similar enough
(``min_score``), the answer says that it did not understand (nothing relevant
was found), with suggestions.

Examples
--------
>>> a = ask("how many starts did N-P3 have yesterday?", store="./store")  # doctest: +SKIP
>>> print(a.text.splitlines()[0])                                          # doctest: +SKIP
N-P3: starts = 1 yesterday (2026-04-05, Europe/Amsterdam) [1].
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from .index import Hit, QAIndex, tokenize
from .parse import (  # noqa: F401 - re-exported: the parser was part of this module
    METRICS,
    DataQuery,
    Metric,
    Period,
    find_entities,
    find_metric,
    parse_question,
    read_question,
    resolve_period,
)
from .suggest import suggest_questions

#: cosine similarity below which a document question finds "nothing relevant"
MIN_SCORE = 0.3
#: the line before the suggested questions of an answer that did not understand
SUGGEST_HEADER = "Questions I can answer:"


# -- result objects -----------------------------------------------------------------------
@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: a chunk of the index or a golden-table read."""

    n: int
    id: str
    kind: str
    ref: str
    title: str

    def label(self) -> str:
        return f"[{self.n}] {self.kind}: {self.ref}"


@dataclass
class Answer:
    """The answer to one question.

    Attributes
    ----------
    question : str
    text : str
        The answer, with citation markers ``[n]``.
    citations : list of Citation
        ``citations[i].n == i + 1``.
    facts : list of dict
        For data questions: one dict per number quoted (asset or station, metric,
        column, value, unit, period, coverage and lineage).
    hits : list of Hit
        What retrieval returned.
    intent : {"data", "document", "none", "unclear"}
        ``"none"``: nothing relevant was found; ``"unclear"``: a part of the question
        was not understood (an unknown pump or station, a period or a word that could
        not be read) and nothing was answered. Both count as not understood
        (:attr:`found` is False) and list :attr:`suggestions`.
    generator : str or None
        The generator that wrote ``text`` (None: composed from the sources).
    notes : list of str
        Why a generator answer was rejected, ambiguities, masked values.
    reading : str
        How typos were read ("Reading 'specifc enrgy' as specific_energy …"), also the
        first line of ``text``; empty when nothing was corrected.
    problems : list of str
        What was not understood (``"unclear"`` answers).
    suggestions : list of str
        Questions pumplib can answer, nearest to this one (not-understood answers).
    """

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    facts: list[dict] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    intent: str = "document"
    generator: str | None = None
    notes: list[str] = field(default_factory=list)
    reading: str = ""
    problems: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    interpretation: str = ""
    period: dict | None = None
    total: float | None = None
    selected: str | None = None
    registry_facts: list[dict] = field(default_factory=list)
    formula: str | None = None
    inputs: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """Whether the question was understood and answered (from data or documents)."""
        return self.intent in ("data", "document")

    @property
    def type(self) -> str:
        """``"data"`` (numbers from the lake or facts from the registry and catalogs),
        ``"doc"`` (passages), ``"none"`` (nothing answers it) or ``"unclear"``."""
        return "doc" if self.intent == "document" else self.intent

    def sources_text(self) -> str:
        return "\n".join(c.label() for c in self.citations)

    def __str__(self) -> str:
        return self.text + (f"\n\nSources:\n{self.sources_text()}" if self.citations else "")

    def to_dict(self) -> dict:
        return {"question": self.question, "text": self.text, "intent": self.intent,
                "generator": self.generator, "notes": list(self.notes),
                "reading": self.reading, "problems": list(self.problems),
                "suggestions": list(self.suggestions), "type": self.type,
                "interpretation": self.interpretation, "period": self.period,
                "total": self.total, "selected": self.selected,
                "registry_facts": self.registry_facts, "formula": self.formula,
                "inputs": list(self.inputs), "unknown": list(self.unknown),
                "citations": [c.__dict__ for c in self.citations], "facts": self.facts,
                "hits": [{"id": h.chunk.id, "kind": h.chunk.kind, "ref": h.chunk.ref,
                          "score": h.score, "dense": h.dense, "bm25": h.bm25}
                         for h in self.hits]}

    def html(self) -> str:
        """The answer as HTML: text with linked markers, suggestions as a list, then the
        numbered sources."""
        text = self.text.split(f"\n{SUGGEST_HEADER}")[0] if self.suggestions else self.text
        body = html.escape(text).replace("\n", "<br>")
        body = re.sub(r"\[(\d+)\]", r'<sup><a href="#qa-src-\1">[\1]</a></sup>', body)
        if self.suggestions:
            body += (f"<br>{html.escape(SUGGEST_HEADER)}</p><ul class=\"pumplib-qa-suggestions\">"
                     + "".join(f"<li>{html.escape(q)}</li>" for q in self.suggestions)
                     + "</ul><p>")
        srcs = "".join(f'<li id="qa-src-{c.n}"><b>{html.escape(c.kind)}</b>: '
                       f"{html.escape(c.ref)}</li>" for c in self.citations)
        out = f'<div class="pumplib-qa"><p>{body}</p>'
        if srcs:
            out += f'<ol class="pumplib-qa-sources">{srcs}</ol>'
        return out + "</div>"

    def _repr_html_(self) -> str:
        return self.html()


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
        name = dq.stations[0] if len(dq.stations) == 1 and not dq.assets else "total"
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
        lines.append(f"Total, {', '.join(tot['assets'])} {how}: {what} = "
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


# -- composing document answers ----------------------------------------------------------
def _sentences(text: str) -> list[str]:
    """Sentences and list items of a chunk (wrapped lines joined first)."""
    text = re.sub(r"\n(?![-*|#>]|\d+\.|\n)", " ", text)
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z`*(\[])|\n+", text)
    return [p.strip() for p in parts if len(p.strip()) > 2]


def _best_sentences(text: str, query_tokens: set[str], idf: dict[str, float], n: int = 2,
                    max_words: int = 60) -> str:
    sents = _sentences(text)
    if not sents:
        return ""
    scored = []
    for i, s in enumerate(sents):
        toks = set(tokenize(s))
        scored.append((sum(idf.get(t, 0.5) for t in toks & query_tokens), -i, s))
    top = sorted(scored, reverse=True)[:n]
    top = [t for t in top if t[0] > 0] or [max(scored, key=lambda t: t[1])]
    out = " ".join(s for _, _, s in sorted(top, key=lambda t: -t[1]))
    words = out.split()
    return " ".join(words[:max_words]) + (" …" if len(words) > max_words else "")


def compose(question: str, hits: Sequence[Hit], index: QAIndex, start: int = 1,
            n: int = 3) -> tuple[str, list[Citation]]:
    """Quote the best sentences of the best ``n`` hits, numbered from ``start``."""
    qt = set(tokenize(question))
    idf = {t: float(index.bm25.idf[j]) for t, j in index.bm25.vocab.items() if t in qt}
    lines, cites = [], []
    best = hits[0].dense if hits else 0.0
    for h in hits[:n]:
        if cites and h.dense < best - 0.25:
            continue
        k = start + len(cites)
        cites.append(Citation(k, h.chunk.id, h.chunk.kind, h.chunk.ref, h.chunk.title))
        text = h.chunk.text
        if h.chunk.kind == "doc" and "\n" in text:  # the first line repeats the headings
            text = text.split("\n", 1)[1]
        lines.append(f"- {_best_sentences(text, qt, idf)} [{k}]")
    return "\n".join(lines), cites


# -- the entry point ---------------------------------------------------------------------
def ask(question: str, store: str | os.PathLike | None = None, *, index: QAIndex | None = None,
        index_dir: str | os.PathLike | None = None, registry=None, now=None, k: int = 5,
        min_score: float | None = None, generator=None, snapshot: str | None = None,
        on_build=None) -> Answer:
    """Answer ``question`` from the index and the golden tables, citing every source.

    Parameters
    ----------
    question : str
    store : str or path, optional
        The lake (default: setting ``store.url``).
    index : QAIndex, optional
        Default: the persisted index of ``store`` (:func:`~pumplib.qa.build_index`
        builds or refreshes it).
    index_dir : path, optional
        Where the persisted index lives.
    registry : AssetRegistry or path, optional
        Default: setting ``assets.registry``.
    now : str or Timestamp, optional
        Reference time of relative periods ("yesterday"); default: the end of the
        data in the lake. Naive times are UTC.
    k : int
        Chunks retrieved.
    min_score : float, optional
        Cosine similarity under which a document question finds nothing relevant
        (default: setting ``qa.min_score``, else :data:`MIN_SCORE`).
    generator : Generator or str, optional
        An OpenAI-compatible endpoint (:class:`~pumplib.qa.generator.Generator` or
        its base URL) that rewrites the composed answer; kept only if it keeps the
        citations (and, for data questions, the numbers). Default: settings
        ``qa.generator.url`` and ``qa.generator.model`` when set, else none.
    snapshot : str, optional
        Read the golden tables at this lake snapshot.
    on_build : callable, optional
        Called before the index is loaded or built (only document questions need it;
        data, registry and definition questions never load the embedding model); when it
        returns an index, that one is used.

    Returns
    -------
    Answer

    Examples
    --------
    >>> a = ask("which pump at station North had the worst specific energy last week?",
    ...         store="./store")                                       # doctest: +SKIP
    >>> a.facts[0]["lineage"]["snapshot"]                              # doctest: +SKIP
    """
    from ..assets import AssetRegistry
    from ..lake import Lake

    if not isinstance(question, str) or not question.strip():
        raise ArgumentError(f"ask: the question must be a non-empty string, got {question!r}")
    if k < 1:
        raise ArgumentError(f"ask: k must be at least 1, got {k!r}")
    from .. import config

    min_score = float(config.get("qa.min_score", MIN_SCORE, override_with=min_score))
    if generator is None and config.get("qa.generator.url", None):
        from .generator import Generator

        generator = Generator(str(config.get("qa.generator.url")),
                              model=str(config.get("qa.generator.model", "default")))
    if isinstance(registry, str | os.PathLike) or registry is None:
        registry = AssetRegistry.load(registry)
    if store is None and index is not None and index.manifest.get("store"):
        store = index.manifest["store"]
    tz = registry.utility.get("timezone", "UTC")
    parsed_now = None if now is None else pd.Timestamp(now)
    if parsed_now is not None and parsed_now.tzinfo is None:
        parsed_now = parsed_now.tz_localize("UTC")
    held: dict[str, Any] = {}

    def tables() -> _Tables:
        if "t" not in held:
            held["t"] = _tables(Lake(store, create=False), snapshot)
        return held["t"]

    def ref_now() -> pd.Timestamp:       # the lake is opened only for a data question
        return (parsed_now if parsed_now is not None else tables().data_end()).tz_convert(tz)

    def the_index() -> QAIndex:          # loaded (and the model) only for document questions
        if index is not None:
            return index
        if "i" not in held:
            from .index import build_index

            given = on_build() if on_build is not None else None
            held["i"] = given if given is not None else \
                build_index(store, index_dir=index_dir, registry=registry)
        return held["i"]

    reading = read_question(question, registry, ref_now)
    said = reading.describe()
    if reading.problems:
        if _out_of_vocabulary(reading):
            return _said(_refusal(reading, registry, parsed_now,
                                  [f"nothing pumplib holds is about {p.text!r}"
                                   for p in reading.problems]), said)
        return _not_understood(reading, registry, ref_now, said)
    dq = reading.query
    from .facts import find_facts

    years = _years_with_data(tables) if store is not None else set()
    future = [y for y in re.findall(r"(?<!\d)(?:19|20)\d\d(?!\d)", reading.text)
              if years and int(y) > max(years)]
    if future and dq is None:
        return _said(_refusal(reading, registry, parsed_now, [
            f"the lake holds data up to {max(years)} only and pumplib makes no projections "
            f"for {', '.join(future)}"]), said)
    from .define import asks_definition

    kinds = find_facts(reading.text)
    named = reading.assets or reading.stations
    which_feature = re.search(r"\b(?:which|what) features?\b", reading.text.lower())
    if (dq is None or which_feature) and not named and \
            asks_definition(reading.text, weak=not kinds):
        ans = _definition_answer(reading, store)
        if ans is not None:
            return _said(_generate(ans, generator, index), said)
    if kinds and reading.period is None and not (dq is not None and dq.rank):
        return _said(_generate(_registry_answer(reading, kinds, registry, parsed_now),
                               generator, index), said)
    if dq is not None:
        t = tables()
        out = _outside_data(dq, t, tz)
        if out is not None:
            return _said(_period_refused(reading, registry, ref_now, out, dq), said)
        text, facts = answer_data(dq, t, registry, reading.text)
        if facts:
            return _said(_generate(_data_answer(question, dq, text, facts, registry), generator,
                                   index), said)
    idx = the_index()
    hits = idx.search(reading.text, k)
    from .refuse import foreign_words, foreign_years

    reasons = [f"the lake holds no data for {y} and no document mentions it"
               for y in foreign_years(reading.text, idx, years)]
    foreign = foreign_words(reading.text, idx)
    if foreign:
        reasons.append("nothing in the lake, the catalogs or the documents mentions "
                       + ", ".join(map(repr, foreign)))
    if reasons:
        ans = _refusal(reading, registry, parsed_now, reasons)
        ans.hits = hits
        return _said(ans, said)
    ids = _identifiers(reading.text)
    relevant = [h for h in hits if h.dense >= min_score
                or any(i in f"{h.chunk.ref} {h.chunk.text}".lower() for i in ids)]
    if not relevant:
        best = max((h.dense for h in hits), default=0.0)
        sugg = suggest_questions(reading, registry, parsed_now)
        text = ("I did not understand this question: I found nothing relevant to it in the "
                f"indexed sources ({len(idx)} chunks; best similarity {best:.2f} < "
                f"{min_score}). Try naming a feature, pump, station or document.")
        return _said(Answer(question, _with_suggestions(text, sugg), [], [], hits, "none",
                            suggestions=sugg), said)
    body, cites = compose(reading.text, relevant, idx)
    ans = Answer(question, "From the indexed sources:\n" + body, cites, [], hits, "document")
    return _said(_generate(ans, generator, idx), said)


def _years_with_data(tables) -> set[int]:
    try:
        t = tables()
        return set(range(t.data_start().year, t.data_end().year + 1))
    except Exception:  # noqa: BLE001 - an empty or unreadable lake holds no year
        return set()


def _out_of_vocabulary(reading) -> bool:
    """Whether every problem is a word that is no typo of anything pumplib knows (the near
    matches are loose: "chlorine" is not "energy"): a refusal, not a question back."""
    from ..errors import close_matches as near
    from .parse import LIKELY, domain_words

    words = domain_words()
    return all(p.kind in ("metric", "word") and not any(
        near(w, words, cutoff=LIKELY) for w in p.text.lower().split())
        for p in reading.problems)


def _refusal(reading, registry, now, reasons: list[str]) -> Answer:
    from .refuse import refusal_text

    sugg = suggest_questions(reading, registry, now)
    return Answer(reading.question, _with_suggestions(refusal_text(reasons), sugg),
                  intent="none", suggestions=sugg, problems=reasons)


def _outside_data(dq: DataQuery, tables: _Tables, tz: str) -> str | None:
    """Why the period of a data question holds no data at all, or None."""
    if dq.period is None:
        return None
    d0, d1 = tables.data_start().tz_convert(tz), tables.data_end().tz_convert(tz)
    if dq.period.end <= d0 or dq.period.start >= d1:
        last = (d1 - pd.Timedelta(1, "ns")).date()
        return (f"the lake holds no data in the period {dq.period.describe()}: its data cover "
                f"{d0.date()} – {last} local")
    return None


def _period_refused(reading, registry, now, why: str, dq: DataQuery) -> Answer:
    from dataclasses import replace

    sugg = suggest_questions(replace(reading, period=None, query=None), registry, now)
    text = "I did not answer this question:\n- " + why[:1].upper() + why[1:] + \
        ". Ask about a period inside it."
    said = dq.period.label.removeprefix("in ") if dq.period.label else str(dq.period.start.date())
    return Answer(reading.question, _with_suggestions(text, sugg), intent="unclear",
                  problems=[why], suggestions=sugg, unknown=[said],
                  period=period_dates(dq.period))


def _data_answer(question: str, dq: DataQuery, text: str, facts: list[dict], registry
                 ) -> Answer:
    """The answer of a data question: the text, the table and definition cited, and the
    structured fields (interpretation, period, total, winner)."""
    from .define import feature_ref

    f0 = facts[0]
    lin = f0["lineage"]
    ref = (f"{lin['table']}:{lin['column']} v{lin['version']} ({lin['definition_hash']}) "
           f"@ {lin['snapshot']}, {f0['period_label']}")
    cites = [Citation(1, hashlib.sha1(ref.encode()).hexdigest()[:16], "data", ref,
                      f"{dq.metric.label} from features/{f0['level']}")]
    found = feature_ref(dq.metric.feature)
    if found is not None:
        fref, desc = found
        cites.append(Citation(2, hashlib.sha1(fref.encode()).hexdigest()[:16], "feature", fref,
                              f"feature {dq.metric.feature}"))
        text += f"\nDefinition of {dq.metric.feature}: {desc} [2]"
    inter = interpretation(dq, facts, registry)
    p = f0["period"]
    start, end = pd.Timestamp(p[0]), pd.Timestamp(p[1])
    period = {"start": str(start.date()), "end": str(end.date()),
              "last": str((end - pd.Timedelta(1, "ns")).date()),
              "label": dq.period.label if dq.period else "over all the data"}
    tot = next((f for f in facts if f.get("total")), None)
    sel = next((f["name"] for f in facts if f.get("selected")), None)
    return Answer(question, inter + "\n" + text, cites, facts, [], "data", notes=list(dq.notes),
                  interpretation=inter, period=period, selected=sel,
                  total=None if tot is None else tot["value"])


def _registry_answer(reading, kinds, registry, now) -> Answer:
    """Registry facts asked for, each cited by the registry file and key."""
    from .facts import answer_facts, named_tariffs

    tariffs = named_tariffs(reading.text, registry)
    assets, stations = list(reading.assets), list(reading.stations)
    if assets and stations:      # "south pump 2": the pump, not every pump of the station
        stations = [s for s in stations if s not in {registry.assets[a].station for a in assets}]
    asset_kinds = [k for k in kinds if k.scope == "asset"]
    ambiguous = [n for n in reading.query.notes if "ambiguous" in n] if reading.query else []
    if not ambiguous:
        from .parse import find_entities

        ambiguous = [n for n in find_entities(reading.text, registry)[2] if "ambiguous" in n]
    everyone = re.search(r"\b(each|every|all)\b|\bpumps\b", reading.text.lower())
    if asset_kinds and (ambiguous or not (assets or stations or everyone)):
        why = ambiguous[0] if ambiguous else (
            f"which pump? {', '.join(k.label for k in asset_kinds)} is a fact of one pump; "
            f"pumps: {', '.join(a.id for a in registry.pumps())}")
        sugg = [f"What is the {asset_kinds[0].label} of {a.id}?" for a in registry.pumps()][:5]
        return Answer(reading.question, _with_suggestions("I did not answer this question:\n- "
                                                          + why, sugg), intent="unclear",
                      problems=[why], suggestions=sugg)
    if everyone and not (assets or stations):
        assets = [a.id for a in registry.assets.values()]
    if any(k.scope != "asset" for k in kinds) and not (assets or stations or tariffs):
        stations = list(registry.stations)
    facts, missing = answer_facts(kinds, assets, stations, registry, tariffs)
    cites, lines = [], []
    for f in facts:
        ref = f"{registry.source}#{f['key'].split('#', 1)[1]}"
        n = next((c.n for c in cites if c.ref == ref), None)
        if n is None:
            n = len(cites) + 1
            cites.append(Citation(n, hashlib.sha1(ref.encode()).hexdigest()[:16], "registry",
                                  ref, f["key"]))
        f["citation"] = n
        lines.append(f"{f['text']} [{n}].")
    lines += [f"Not in the registry: {m}." for m in missing]
    if not facts:
        return _refusal(reading, registry, now, missing or ["the registry holds no such fact"])
    inter = ("Interpreted as: registry facts " + ", ".join(dict.fromkeys(k.label for k in kinds))
             + " of " + ", ".join(dict.fromkeys(f["subject"] for f in facts)) + ".")
    return Answer(reading.question, inter + "\n" + "\n".join(lines), cites, [], [], "data",
                  interpretation=inter,
                  registry_facts=[{k: f[k] for k in ("name", "key_name", "subject", "value",
                                                     "unit", "key")} for f in facts])


def _definition_answer(reading, store) -> Answer | None:
    """A feature's formula, inputs and unit, traced to raw signals and source files."""
    from ..errors import PumplibError
    from ..features.definitions import load_catalog
    from . import define

    try:
        catalog = load_catalog()
    except PumplibError:
        return None
    feat = define.find_feature(reading.text, catalog, reading.metric)
    if feat is None:
        return None
    t = define.trace(feat, catalog)
    if store is not None:
        t = define.with_lineage(t, store)
    fref = define.relative_source(t.source)
    cites = [Citation(1, hashlib.sha1(fref.encode()).hexdigest()[:16], "feature", fref,
                      f"feature {feat} v{t.version} ({t.hash})")]
    for name, _, _ in t.steps[1:]:
        r = define.relative_source(catalog[name].source)
        cites.append(Citation(len(cites) + 1, hashlib.sha1(r.encode()).hexdigest()[:16],
                              "feature", r, f"feature {name}"))
    if t.build:
        r = f"lineage: build {t.build} of {feat}"
        cites.append(Citation(len(cites) + 1, hashlib.sha1(r.encode()).hexdigest()[:16],
                              "lineage", r, r))
    inter = f"Interpreted as: the definition of feature {feat}, traced to raw signals."
    text = inter + "\n" + define.describe(t) + " " + " ".join(f"[{c.n}]" for c in cites)
    return Answer(reading.question, text, cites, [], [], "data", interpretation=inter,
                  formula=t.formula + (f" where {t.condition}" if t.condition else ""),
                  inputs=list(t.raw))


def _with_suggestions(text: str, suggestions: Sequence[str]) -> str:
    if not suggestions:
        return text
    return f"{text}\n{SUGGEST_HEADER}\n" + "\n".join(f"- {q}" for q in suggestions)


def _said(ans: Answer, said: str) -> Answer:
    """The answer with how its typos were read as its first line."""
    if said:
        ans.reading = said
        ans.text = f"{said}\n{ans.text}"
    return ans


def _not_understood(reading, registry, now, said: str) -> Answer:
    """The answer to a question with a part that was not understood: what, and the nearest
    questions that can be answered (nothing is widened or guessed)."""
    problems = [p.message for p in reading.problems]
    sugg = suggest_questions(reading, registry, now)
    text = "I did not understand this question:\n" + "\n".join(
        f"- {m[:1].upper()}{m[1:]}" for m in problems)
    return _said(Answer(reading.question, _with_suggestions(text, sugg), intent="unclear",
                        problems=problems, suggestions=sugg,
                        unknown=[p.text for p in reading.problems]), said)


def _identifiers(question: str) -> set[str]:
    """Identifier-like words of a question (snapshot ids, asset ids, column names, dates):
    a chunk that contains one is relevant whatever its embedding says."""
    out = set()
    for t in re.findall(r"[A-Za-z0-9][A-Za-z0-9_.\-]*[A-Za-z0-9]", question):
        if len(t) >= 3 and (re.fullmatch(r"\d{4}-\d{2}-\d{2}", t) or (
                re.search(r"[A-Za-z]", t) and (re.search(r"\d", t) or "_" in t))):
            out.add(t.lower())
    return out


def _generate(ans: Answer, generator, index: QAIndex) -> Answer:
    if generator is None:
        return ans
    from .generator import Generator, verify

    gen = generator if isinstance(generator, Generator) else Generator(str(generator))
    sources = [{"n": c.n, "kind": c.kind, "ref": c.ref, "text": _source_text(ans, c, index)}
               for c in ans.citations]
    try:
        text = gen.generate(ans.question, sources, ans.text)
    except OSError as exc:  # network errors, timeouts (urllib raises OSError subclasses)
        ans.notes.append(f"generator {gen.url} failed ({exc}); composed answer kept")
        return ans
    ok, why = verify(text, ans)
    if ok:
        ans.text, ans.generator = text, gen.url
    else:
        ans.notes.append(f"generator answer rejected ({why}); composed answer kept")
    return ans


def _source_text(ans: Answer, c: Citation, index) -> str:
    """The text a generator is given for one citation: the chunk, the numbers read, or the
    answer's lines citing it (registry facts, definitions)."""
    if index is not None and c.id in index:
        return index.get(c.id).text
    if c.kind == "data" or not ans.text:
        return _fact_text(ans, c)
    lines = [line for line in ans.text.splitlines() if f"[{c.n}]" in line]
    return "\n".join(lines or ans.text.splitlines()) + f" (source {c.ref})"


def _fact_text(ans: Answer, c: Citation) -> str:
    return "; ".join(f"{f['name']}: {f['label']} {f['display']} {f['period_label']}"
                     for f in ans.facts) + f" (source {c.ref})"

