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
from .tables import (  # noqa: F401 - re-exported: the table reader was part of this module
    _TABLES,
    _Tables,
    _tables,
    answer_data,
    interpretation,
    period_dates,
    short_period,
)

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
def _settings(question, k: int, min_score, generator, registry, now) -> tuple:
    """:func:`ask`'s arguments checked and completed from the settings: ``(min_score,
    generator, registry, now)`` (``now`` tz-aware, naive taken as UTC, or None)."""
    from .. import config
    from ..assets import AssetRegistry

    if not isinstance(question, str) or not question.strip():
        raise ArgumentError(f"ask: the question must be a non-empty string, got {question!r}")
    if k < 1:
        raise ArgumentError(f"ask: k must be at least 1, got {k!r}")
    min_score = float(config.get("qa.min_score", MIN_SCORE, override_with=min_score))
    if generator is None and config.get("qa.generator.url", None):
        from .generator import Generator

        generator = Generator(str(config.get("qa.generator.url")),
                              model=str(config.get("qa.generator.model", "default")))
    if isinstance(registry, str | os.PathLike) or registry is None:
        registry = AssetRegistry.load(registry)
    if now is not None:
        now = pd.Timestamp(now)
        now = now.tz_localize("UTC") if now.tzinfo is None else now
    return min_score, generator, registry, now


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
    from ..lake import Lake

    min_score, generator, registry, parsed_now = _settings(question, k, min_score,
                                                            generator, registry, now)
    if store is None and index is not None and index.manifest.get("store"):
        store = index.manifest["store"]
    tz = registry.utility.get("timezone", "UTC")
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
    from .refuse import foreign_subject

    foreign = foreign_subject(reading.text)
    if foreign:
        return _said(_refusal(reading, registry, parsed_now, foreign), said)
    if reading.problems:
        if _out_of_vocabulary(reading):
            ans = _facts_despite_unknown(reading, registry, parsed_now)
            if ans is not None:
                return _said(_generate(ans, generator, index), said)
            return _said(_refusal(reading, registry, parsed_now,
                                  [f"nothing pumplib holds is about {p.text!r}"
                                   for p in reading.problems]), said)
        return _not_understood(reading, registry, ref_now, said)
    dq = reading.query
    years = _years_with_data(tables) if store is not None else set()
    future = [y for y in re.findall(r"(?<!\d)(?:19|20)\d\d(?!\d)", reading.text)
              if years and int(y) > max(years)]
    if future and (dq is None or re.search(r"\b(?:will|going to|expected|forecast\w*|"
                                            r"predict\w*|projected|future)\b", reading.text)):
        why = f"the lake holds data up to {max(years)} only and pumplib makes no projections"
        return _said(_refusal(reading, registry, parsed_now, [f"{why} for {', '.join(future)}"]),
                     said)
    ans = _definition_or_registry(reading, registry, store, parsed_now)
    if ans is not None:
        return _said(_generate(ans, generator, index), said)
    if dq is not None:
        t = tables()
        out = _outside_data(dq, t, tz)
        if out is not None:
            return _said(_period_refused(reading, registry, ref_now, out, dq), said)
        text, facts = answer_data(dq, t, registry, reading.text)
        if facts:
            return _said(_generate(_data_answer(question, dq, text, facts, registry), generator,
                                   index), said)
    return _said(_from_documents(question, reading, the_index(), k, min_score, registry,
                                 parsed_now, years, generator), said)


def _definition_or_registry(reading, registry, store, parsed_now) -> Answer | None:
    """A definition traced to raw signals, or facts of the registry, when the question
    asks for one; else None."""
    from . import structured
    from .define import asks_definition, names_feature

    dq = reading.query
    kinds = structured.fact_kinds(reading, registry)
    named = reading.assets or reading.stations
    which_feature = re.search(r"\b(?:which|what) features?\b", reading.text.lower())
    if (dq is None or which_feature) and not named and (
            asks_definition(reading.text, weak=not kinds)
            or (not kinds and names_feature(reading.text, reading.metric))):
        ans = structured.definition_answer(reading, store)
        if ans is not None:
            return ans
    if kinds and (reading.period is None or all(k.scope == "utility" for k in kinds)) \
            and not (dq is not None and dq.rank):
        return structured.registry_answer(reading, kinds, registry, parsed_now)
    return None


def _from_documents(question: str, reading, idx: QAIndex, k: int, min_score: float, registry,
                    parsed_now, years: set[int], generator) -> Answer:
    """A document question: the passages that answer it, a refusal when nothing pumplib
    holds mentions its subject, or "nothing relevant" with suggestions."""
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
        return ans
    ids = _identifiers(reading.text)
    relevant = [h for h in hits if h.dense >= min_score
                or any(i in f"{h.chunk.ref} {h.chunk.text}".lower() for i in ids)]
    if not relevant:
        best = max((h.dense for h in hits), default=0.0)
        sugg = suggest_questions(reading, registry, parsed_now)
        text = ("I did not understand this question: I found nothing relevant to it in the "
                f"indexed sources ({len(idx)} chunks; best similarity {best:.2f} < "
                f"{min_score}). Try naming a feature, pump, station or document.")
        return Answer(question, _with_suggestions(text, sugg), [], [], hits, "none",
                      suggestions=sugg)
    body, cites = compose(reading.text, relevant, idx)
    ans = Answer(question, "From the indexed sources:\n" + body, cites, [], hits, "document")
    return _generate(ans, generator, idx)


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

    words = domain_words(concepts=False)
    return all(p.kind in ("metric", "word") and not any(
        near(w, words, cutoff=LIKELY) for w in p.text.lower().split())
        for p in reading.problems)


def _facts_despite_unknown(reading, registry, now) -> Answer | None:
    """The registry facts a question names about a known pump or station, when its only
    problem is a word pumplib does not know ("is N-P2 on a qzd or fixed speed": its pump
    type), the word named as not read; None otherwise (refused)."""
    from . import structured

    if reading.metric is not None or not (reading.assets or reading.stations) or any(
            p.kind != "metric" for p in reading.problems):
        return None
    kinds = structured.fact_kinds(reading, registry)
    if not kinds:
        return None
    ans = structured.registry_answer(reading, kinds, registry, now)
    if ans.intent != "data":
        return None
    words = ", ".join(repr(p.text) for p in reading.problems)
    note = f"Not read: {words} (a word pumplib does not know); the facts are those the rest " \
           "of the question names."
    ans.notes.append(note)
    ans.text = f"{ans.text}\n{note}"
    ans.unknown = [p.text for p in reading.problems]
    return ans


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

    from .periods import typed_period

    sugg = suggest_questions(replace(reading, period=None, query=None), registry, now)
    text = "I did not answer this question:\n- " + why[:1].upper() + why[1:] + \
        ". Ask about a period inside it."
    said = dq.period.label.removeprefix("in ") if dq.period.label else str(dq.period.start.date())
    unknown = [said]
    typed = typed_period(reading.text)             # "10 April", read as 2025-04-10
    if typed and typed.lower() not in said.lower():
        unknown.append(typed)
        text = text.replace(". Ask about", f" ({typed!r} was read as {said}). Ask about", 1)
    return Answer(reading.question, _with_suggestions(text, sugg), intent="unclear",
                  problems=[why], suggestions=sugg, unknown=unknown,
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

