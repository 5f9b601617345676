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

    return frozenset(STOPWORDS) | _COMMON | frozenset(_QUESTION_WORDS) | frozenset(domain_words(concepts=False))


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


#: subjects outside what pumplib measures or keeps, each with the words that name it. pumplib's
#: data are the pump stations' electrical and hydraulic signals, the asset registry and the
#: tariffs; a question about one of these is refused, whatever metric word it also holds
#: ("how much did we spend on chemicals" is not energy cost)
FOREIGN_SUBJECTS: dict[str, str] = {
    "water quality": r"water[- ]quality|water temperatures?|water age|chlorin\w*|\bph\b|turbidity|disinfect\w*|bacteri\w*|"
                     r"coliforms?|e\.?\s?coli|conductivity|hardness|nitrates?|fluoride|"
                     r"dosing|\bdose[sd]?\b|chemicals?|\btaste\b|odou?rs?",
    "the weather": r"weather|\brain(?:s|fall|ing|y)?\b|\bsnow\w*|\bwindy?\b|storms?|sunny|"
                   r"sunshine|humidity|(?:air|outside|outdoor|ambient) temperatures?",
    "finances": r"revenues?|profits?|budgets?|salar(?:y|ies)|wages?|payroll|invoices?|"
                r"financ(?:e|es|ial)|ebitda|share price|stock price|dividends?|\bloans?\b|"
                r"\btax(?:es)?\b|insurance|\bearn(?:s|ed|ing|ings)?\b|"
                r"\b(?:get|gets|got|getting|is|are|was|were|being)\s+paid\b|\bpay\s*(?:rates?|"
                r"scales?|slips?|checks?|rises?)\b|\bhourly (?:wages?|pay)\b|\bcontractors?\b|"
                r"\b(?:maintenance|service|servicing|repair|cleaning|security|lease|leasing|"
                r"outsourcing|support)\s+(?:contracts?|agreements?|fees?|invoices?|bills?|"
                r"providers?|compan(?:y|ies)|firms?)\b",
    "staff": r"\bstaff\w*|employees?|headcount|workers?|personnel|technicians?|\bcrew\b|"
             r"on[- ]call|on duty|overtime|work shifts?|shift roster|(?:how many|number of)\s+"
             r"(?:people|operators|engineers|mechanics|electricians)|operators?\s+(?:work|worked|"
             r"working|are employed|on shift)|\bwho\s+(?:was|is|were)\s+(?:working|on shift)|"
             r"\bon shift\b|\bshift (?:roster|pattern|schedule|plan)s?\b",
    "emissions": r"\bco2\b|carbon|emissions?|\bemit\w*|footprint|greenhouse|\bghg\b",
    "customers": r"customers?|complaints?|households?|subscribers?|population",
    "the distribution network (leaks, bursts, demand)":
        r"\bleak\w*|\bbursts?\b|\bmains? breaks?\b|non[- ]revenue water|water loss(?:es)?|"
        r"\bvalves? (?:positions?|count)\b|how many valves",
    "the distribution network's assets (mains, pipes, meters, hydrants, connections, lengths)":
        r"\b(?:water|trunk|distribution|rising|sewer)\s+mains\b|\bpipe\s*(?:network|length)s?\b|"
        r"\bpipework\b|\bhydrants?\b|\bsewer(?:s|age)?\b|\b(?:water|customer|smart|household|"
        r"domestic|revenue|billing|bulk|district)\s+meters?\b|\bmeter readings? of customers\b|"
        r"\bservice\s+(?:connections?|lines|pipes)\b|\bdmas?\b|\bdistrict metered areas?\b|"
        r"\bpressure zones?\b|\b(?:km|kms|kilomet(?:er|re)s?|miles?)\b|"
        r"\b(?:how many|number of|count of|length of|total length|how long (?:is|are))\s+"
        r"(?:[\w'-]+\s+){0,3}?(?:mains|pipes|pipelines|valves|hydrants|properties|(?:customer|"
        r"house|household|property|water)\s+connections|meters(?=\s+(?:does|do|have|has|are "
        r"there|installed)\b|\s*\??\s*$)|(?:pipe |water |distribution )?network)\b",
    "suction conditions pumplib does not compute (NPSH)":
        r"\bnpsh[ar]?\b|net positive suction head",
    "purchases and capital costs (new equipment, materials)":
        r"\b(?:a|an|the|our|that|this)\s+(?:new|replacement|spare)\b.{0,40}\b(?:cost|costs|price|"
        r"prices|priced)\b|\b(?:cost|price)s?\s+(?:of|for)\s+(?:a|an|the)?\s*(?:new|replacement|"
        r"spare)\b|\b(?:buy|buys|bought|buying|purchas\w*|procure\w*|capex|capital "
        r"(?:costs?|expenditures?))\b|\b(?:copper|steel|iron|"
        r"alumini?um|plastics?|concrete|cement|metals?|commodit(?:y|ies)|materials?) prices?\b|"
        r"\bprices? of (?:copper|steel|iron|alumini?um|plastics?|concrete|cement|metals?|"
        r"commodit(?:y|ies)|materials?)\b",
    "the organisation (offices, management, meetings)":
        r"\b(?:opening|office|business) hours\b|\boffices?\b|\bheadquarters\b|\bceo\b|"
        r"\bboard (?:meetings?|members?)\b|\bwho (?:is|was|are)\s+(?:the\s+|our\s+)?(?:[\w-]+\s+)?"
        r"(?:manager|director|boss|supervisor|chairman|chairwoman|chair|owner|head)s?\b",
    "the surroundings (noise, groundwater, rivers)":
        r"\bnoise\b|\bdecibels?\b|\bsound levels?\b|\bgroundwater\b|\brivers?\b|\bdams?\b|"
        r"\bdam's\b|\baquifers?\b|\bboreholes?\b|\bwell ?fields?\b|\bsea levels?\b",
    "fuels other than the pumps' electricity (gas, diesel, oil)":
        r"\b(?:natural |bio|fuel )?gas\b|\bdiesel\b|\bpetrol\b|\bgasoline\b|\bfuels?\b|"
        r"\b(?:heating|fuel) oil\b|\bpropane\b|\bdistrict heat\w*",
    "energy market prices": r"spot (?:market|prices?)|day[- ]ahead|wholesale|\bepex\b|"
                            r"market prices?|imbalance prices?",
    "the assets' history (installation, maintenance, suppliers)":
        r"\bwhen\s+(?:was|were|did)\b.{0,40}\b(?:installed|commissioned|built|bought|purchased|"
        r"replaced|serviced|repaired|overhauled|inspected|install|commission)\b|"
        r"\bwho\s+(?:manufactured|made|built|supplied|installed|maintains|services)\b|"
        r"\bhow old\b|\bage of (?:the )?(?:pumps?|motors?|[a-z]-p\d)|\bbrands?\b|"
        r"\bmakes? of\b|manufacturer|serial numbers?|warrant(?:y|ies)|maintenance\s+(?:history|records?|logs?|"
        r"schedule|plan|budget|costs?)|spare parts?|\bsuppliers?\b|\bvendors?\b",
}
_FUTURE = re.compile(r"\b(?:will|future|forecast\w*|predict\w*|projected|projections?|expected|"
                     r"going to|outlook|next (?:year|month|week|quarter)|in \d+ years|"
                     r"20[3-9]\d)\b")
#: what a price is also called, and the future far enough to be no period of data
_COSTS = re.compile(r"\b(?:rates?|costs?|(?:electricity|power|energy) bills?)\b")
_FAR = re.compile(r"\b(?:20[3-9]\d|next year|in \d+ years|future|long[- ]term|going to|"
                  r"projected|forecast\w*)\b")
_PRICE = re.compile(r"\b(?:prices?|tariffs?|rates?\s+per\s+kwh|per\s+kwh|power rates?|"
                    r"electricity rates?)\b")


#: what the pumps' running costs are: electricity bought is energy cost, not a purchase
_RUNNING = re.compile(r"\b(?:electricity|power|energy|kwh|mwh|to run|to operate|running)\b")


def foreign_subject(question: str) -> list[str]:
    """Reasons a question is about a subject pumplib holds no data on (water quality, the
    weather, finances, staff, customers, future energy prices); empty when it is not."""
    q = question.lower()
    out = [f"pumplib holds no data on {name} ({m.group(0)!r})"
           for name, pat in FOREIGN_SUBJECTS.items() if (m := re.search(pat, q))
           and not (name.startswith("purchases") and _RUNNING.search(q))]
    if (_PRICE.search(q) and _FUTURE.search(q)) or (_COSTS.search(q) and _FAR.search(q)):
        out.append("pumplib holds the tariffs as declared in the asset registry, not future "
                   "or forecast energy prices")
    return out
