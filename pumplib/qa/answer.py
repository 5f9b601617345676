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

    @property
    def found(self) -> bool:
        """Whether the question was understood and answered (from data or documents)."""
        return self.intent in ("data", "document")

    def sources_text(self) -> str:
        return "\n".join(c.label() for c in self.citations)

    def __str__(self) -> str:
        return self.text + (f"\n\nSources:\n{self.sources_text()}" if self.citations else "")

    def to_dict(self) -> dict:
        return {"question": self.question, "text": self.text, "intent": self.intent,
                "generator": self.generator, "notes": list(self.notes),
                "reading": self.reading, "problems": list(self.problems),
                "suggestions": list(self.suggestions),
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


def answer_data(dq: DataQuery, tables: _Tables, registry, question: str = "") -> tuple[str, list]:
    """Text (with ``[1]`` citing the table read) and facts of a data question."""
    tz = registry.utility.get("timezone", "UTC")
    currency = registry.utility.get("currency", "EUR")
    span = (tables.data_start().tz_convert(tz), tables.data_end().tz_convert(tz))
    period = dq.period or Period(span[0].normalize(), (span[1] - pd.Timedelta("1ns")).normalize()
                                 + pd.Timedelta(days=1), "over all the data", None)
    units = str(tables.ds("1D")[dq.metric.column].attrs.get("units", "")) \
        if dq.metric.column in tables.ds("1D") else ""
    pumps = [a.id for a in registry.pumps()]
    if dq.group == "station" and dq.rank:
        groups = {s: [a.id for a in registry.station_assets(s) if a.kind == "pump"]
                  for s in (dq.stations or registry.stations)}
    elif dq.assets:
        groups = {a: [a] for a in dq.assets}
    elif dq.stations and not dq.rank and not re.search(
            r"\b(each|every|per)\s+pump|\bpumps\b|\bby pump\b", question.lower()):
        groups = {s: [a.id for a in registry.station_assets(s) if a.kind == "pump"]
                  for s in dq.stations}
    else:
        scope = [a for a in pumps if not dq.stations or registry.assets[a].station in dq.stations]
        groups = {a: [a] for a in scope}
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
    what = dq.metric.label
    lines = []
    if dq.rank and len(facts) > 1:
        valued = [f for f in facts if f["value"] is not None]
        if not valued:
            lines.append(f"No {what} values for {', '.join(groups)} {period.describe()}: "
                         + "; ".join(f"{f['name']}: {f['note']}" for f in facts) + " [1].")
        else:
            pick = (max if dq.rank == "max" else min)(valued, key=lambda f: f["value"])
            word = {"max": "highest", "min": "lowest"}[dq.rank]
            if re.search(r"\bworst\b", question.lower()):
                word = f"worst ({word})"
            elif re.search(r"\bbest\b", question.lower()):
                word = f"best ({word})"
            pick["selected"] = True
            others = "; ".join(f"{f['name']} {f['display']}" for f in facts if f is not pick)
            lines.append(f"{pick['name']} had the {word} {what} {period.describe()}: "
                         f"{pick['display']} [1]. Others: {others}.")
    else:
        for f in facts:
            members = "" if f["assets"] == [f["name"]] else f" (pumps {', '.join(f['assets'])})"
            if f["value"] is None:
                lines.append(f"{f['name']}{members}: no {what} value {period.describe()} — "
                             f"{f['note']} [1].")
            else:
                lines.append(f"{f['name']}{members}: {what} = {f['display']} "
                             f"{period.describe()} [1].")
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
        min_score: float | None = None, generator=None, snapshot: str | None = None) -> Answer:
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
    from .index import build_index

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
    if index is None:
        index = build_index(store, index_dir=index_dir, registry=registry)
    if store is None and index.manifest.get("store"):
        store = index.manifest["store"]
    tz = registry.utility.get("timezone", "UTC")
    parsed_now = None if now is None else pd.Timestamp(now)
    if parsed_now is not None and parsed_now.tzinfo is None:
        parsed_now = parsed_now.tz_localize("UTC")
    held: dict[str, _Tables] = {}

    def tables() -> _Tables:
        if "t" not in held:
            held["t"] = _tables(Lake(store, create=False), snapshot)
        return held["t"]

    def ref_now() -> pd.Timestamp:       # the lake is opened only for a data question
        return (parsed_now if parsed_now is not None else tables().data_end()).tz_convert(tz)

    reading = read_question(question, registry, ref_now)
    said = reading.describe()
    if reading.problems:
        return _not_understood(reading, registry, ref_now, said)
    hits = index.search(reading.text, k)
    dq = reading.query
    if dq is not None:
        text, facts = answer_data(dq, tables(), registry, reading.text)
        if facts:
            f0 = facts[0]
            lin = f0["lineage"]
            ref = (f"{lin['table']}:{lin['column']} v{lin['version']} ({lin['definition_hash']}) "
                   f"@ {lin['snapshot']}, {f0['period_label']}")
            cites = [Citation(1, hashlib.sha1(ref.encode()).hexdigest()[:16], "data", ref,
                              f"{dq.metric.label} from features/{f0['level']}")]
            defs = [c for c in index.chunks
                    if c.kind == "feature" and c.meta.get("feature") == dq.metric.feature]
            if not defs:
                defs = [h.chunk for h in index.search(
                    f"feature {dq.metric.feature} {dq.metric.label}", 1, kinds=["feature"])]
            if defs:
                c = defs[0]
                cites.append(Citation(2, c.id, c.kind, c.ref, c.title))
                desc = c.text.split(": ", 1)[-1].split(" Unit:")[0].strip()
                text += f"\nDefinition of {dq.metric.feature}: {desc} [2]"
            ans = Answer(question, text, cites, facts, hits, "data", notes=list(dq.notes))
            return _said(_generate(ans, generator, index), said)
    ids = _identifiers(reading.text)
    relevant = [h for h in hits if h.dense >= min_score
                or any(i in f"{h.chunk.ref} {h.chunk.text}".lower() for i in ids)]
    if not relevant:
        best = max((h.dense for h in hits), default=0.0)
        sugg = suggest_questions(reading, registry, parsed_now)
        text = ("I did not understand this question: I found nothing relevant to it in the "
                f"indexed sources ({len(index)} chunks; best similarity {best:.2f} < "
                f"{min_score}). Try naming a feature, pump, station or document.")
        return _said(Answer(question, _with_suggestions(text, sugg), [], [], hits, "none",
                            suggestions=sugg), said)
    body, cites = compose(reading.text, relevant, index)
    ans = Answer(question, "From the indexed sources:\n" + body, cites, [], hits, "document")
    return _said(_generate(ans, generator, index), said)


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
                        problems=problems, suggestions=sugg), said)


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
    sources = [{"n": c.n, "kind": c.kind, "ref": c.ref,
                "text": index.get(c.id).text if c.id in index else _fact_text(ans, c)}
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


def _fact_text(ans: Answer, c: Citation) -> str:
    return "; ".join(f"{f['name']}: {f['label']} {f['display']} {f['period_label']}"
                     for f in ans.facts) + f" (source {c.ref})"

