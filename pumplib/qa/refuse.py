"""Honest refusals: questions that nothing in the lake, the catalogs or the documents answers.

A question about a year the lake holds no data for and no document mentions, or about
a subject that no indexed source names at all, is refused plainly — pumplib holds no
such data — with questions it can answer, instead of quoting loosely related passages.
(Examples are kept out of this docstring on purpose: modules are indexed, and a word
quoted here would count as a subject pumplib knows.)
"""

from __future__ import annotations

import re

from ..errors import close_matches
from .index import STOPWORDS, _stem, tokenize

#: the sentence every refusal starts with
NO_DATA = "pumplib holds no data that answers this question"
#: what pumplib does answer, said with every refusal
SCOPE = ("pumplib answers questions about the pump stations' metered data (energy, cost, "
         "runtime, starts, specific energy, efficiency, time near BEP, head per pump, station "
         "and period), the asset registry (rated values, BEP, curves, motors, tariffs and their "
         "rates), feature definitions and lineage, and its own documentation")


def _plain_words() -> frozenset[str]:
    from .parse import _COMMON, _QUESTION_WORDS, domain_words

    return frozenset(STOPWORDS) | _COMMON | frozenset(_QUESTION_WORDS) | frozenset(domain_words())


def foreign_words(question: str, index) -> list[str]:
    """Words of the question's subject (4+ letters, not everyday or question words) that no
    indexed chunk contains, nor a close variant of them."""
    vocab = index.bm25.vocab
    plain = _plain_words()
    out = []
    for w in re.findall(r"(?<![\w-])[a-z]{4,}(?![\w-])", question.lower()):
        if w in plain or _stem(w) in plain or w in out:
            continue
        toks = tokenize(w)
        if toks and all(t in vocab for t in toks):
            continue
        if close_matches(w, [t for t in vocab if t[:1] == w[:1]], cutoff=0.85):
            continue
        out.append(w)
    return out


def foreign_years(question: str, index, years_with_data: set[int]) -> list[str]:
    """Years the question names that the lake holds no data for and no chunk mentions."""
    out = []
    for y in re.findall(r"(?<!\d)(19\d\d|20\d\d)(?!\d)", question):
        if int(y) in years_with_data or y in out:
            continue
        if any(y in c.text for c in index.chunks):
            continue
        out.append(y)
    return out


def refusal_text(reasons: list[str]) -> str:
    """The refusal: that nothing answers it, why, and what pumplib answers."""
    return f"{NO_DATA}: " + "; ".join(reasons) + f". {SCOPE}."
