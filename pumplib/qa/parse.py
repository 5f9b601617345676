"""Reading a question: the metric, the assets and stations, the period and the ranking it asks for.

A question is parsed against a synonym table tied to golden-table columns
(:data:`METRICS`), the asset registry (ids, names, ``P3``-style short names,
station names) and a small grammar of periods resolved in the utility's time
zone (:func:`resolve_period`). :func:`parse_question` gives the
:class:`DataQuery` of a data question, or None.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import pandas as pd


# -- metrics --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """A quantity users ask about, tied to one golden-table column."""

    key: str
    column: str
    feature: str
    label: str
    additive: bool          # sums over time and assets (energy, cost, runtime, starts)
    worse: str              # "high" or "low": which end is "worst"
    synonyms: tuple[str, ...]


METRICS: tuple[Metric, ...] = (
    Metric("normalised_specific_energy", "normalised_specific_energy_mean",
           "normalised_specific_energy", "normalised specific energy", False, "high",
           ("normalised specific energy", "normalized specific energy")),
    Metric("specific_energy", "specific_energy_mean", "specific_energy", "specific energy",
           False, "high", ("specific energy", "kwh/m3", "kwh per m3", "kwh/m³",
                           "energy per cubic metre", "energy per cubic meter",
                           "energy intensity", "energy per volume")),
    Metric("efficiency", "wire_to_water_efficiency_mean", "wire_to_water_efficiency",
           "wire-to-water efficiency", False, "low",
           ("wire-to-water efficiency", "wire to water efficiency", "wire-to-water",
            "wire to water", "efficiency", "efficient")),
    Metric("hydraulic_power", "hydraulic_power_mean", "hydraulic_power", "hydraulic power",
           False, "low", ("hydraulic power",)),
    Metric("time_near_bep", "time_near_bep_duration", "time_near_bep",
           "time near the best efficiency point", True, "low",
           ("time near bep", "time near the bep", "near bep", "near the best efficiency point",
            "near best efficiency point", "time near the best efficiency point")),
    Metric("bep_flow_ratio", "bep_flow_ratio_mean", "bep_flow_ratio", "BEP flow ratio",
           False, "high", ("bep flow ratio", "flow ratio")),
    Metric("cost", "energy_cost_integral", "energy_cost", "energy cost", True, "high",
           ("energy cost", "electricity cost", "costs", "cost", "spend", "spent", "money",
            "bill", "expensive", "euros", "eur")),
    Metric("energy", "energy_integral", "energy", "energy", True, "high",
           ("energy consumption", "energy use", "energy used", "electricity", "energy", "kwh",
            "consumed", "consume", "consumption")),
    Metric("runtime", "runtime_duration", "runtime", "runtime", True, "high",
           ("run time", "runtime", "running time", "run hours", "running hours",
            "operating hours", "hours run", "hours of operation", "ran", "run for",
            "how long", "run", "running", "hours")),
    Metric("starts", "starts_starts", "starts", "starts", True, "high",
           ("starts", "start-ups", "startups", "switch-ons", "switched on", "started",
            "start")),
    Metric("head", "head_mean", "head", "head", False, "high", ("pumping head", "head")),
)


def find_metric(question: str) -> Metric | None:
    """The metric a question asks about: the longest synonym found (word boundaries)."""
    q = question.lower()
    best: tuple[int, int, Metric] | None = None
    for m in METRICS:
        for s in m.synonyms:
            hit = re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", q)
            if hit and (best is None or len(s) > best[0]):
                best = (len(s), hit.start(), m)
    return best[2] if best else None


# -- entities ---------------------------------------------------------------------------
def _station_aliases(registry) -> dict[str, str]:
    out = {}
    for sid, st in registry.stations.items():
        out[sid.lower()] = sid
        name = str(st.get("name", "")).lower()
        if name:
            out[name] = sid
            out[name.split()[0]] = sid
    return out


def find_entities(question: str, registry) -> tuple[list[str], list[str], list[str]]:
    """``(assets, stations, notes)`` named in a question.

    Assets by id (``N-P1``, ``np1``), name (``North pump 1``) or short name
    (``P1``, ``pump 1``; restricted to the named station, all matches otherwise);
    stations by id, name or first word of the name, with typo-tolerant matching.
    """
    q = question.lower()
    notes: list[str] = []
    stations: list[str] = []
    aliases = _station_aliases(registry)
    for alias in sorted(aliases, key=len, reverse=True):
        if re.search(rf"(?<![\w-]){re.escape(alias)}(?![\w-])", q) and aliases[alias] not in \
                stations:
            stations.append(aliases[alias])
    if not stations:
        words = re.findall(r"[a-z]{4,}", q)
        singles = {a: s for a, s in aliases.items() if " " not in a and "-" not in a}
        for w in words:
            near = difflib.get_close_matches(w, singles, n=1, cutoff=0.8)
            if near and singles[near[0]] not in stations:
                stations.append(singles[near[0]])
                notes.append(f"read {w!r} as station {singles[near[0]]}")
    assets: list[str] = []
    rest = q
    for a in sorted(registry.assets.values(), key=lambda a: -len(a.id)):
        pats = [re.escape(a.id.lower()).replace(r"\-", r"[-\s]?")]
        if a.name:
            pats.append(re.escape(a.name.lower()))
        for p in pats:
            if re.search(rf"(?<![\w-]){p}(?![\w-])", rest):
                if a.id not in assets:
                    assets.append(a.id)
                rest = re.sub(rf"(?<![\w-]){p}(?![\w-])", " ", rest)
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
            notes.append(f"no pump matches {m.group(0).strip()!r}")
    return assets, stations, notes


# -- periods ----------------------------------------------------------------------------
MONTHS = {m.lower(): i for i, m in enumerate(
    ["January", "February", "March", "April", "May", "June", "July", "August", "September",
     "October", "November", "December"], start=1)}
MONTHS.update({k[:3]: v for k, v in list(MONTHS.items()) if k != "may"})
_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))
_DATE_RE = (rf"(\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTH_RE})(?:\s+\d{{4}})?"
            rf"|(?:{_MONTH_RE})\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)")


@dataclass(frozen=True)
class Period:
    """A local-time period ``[start, end)`` and the golden-table level that holds it whole."""

    start: pd.Timestamp
    end: pd.Timestamp
    label: str
    level: str | None       # "1D", "1W", "1M" when the period is one period of that level

    def describe(self) -> str:
        last = (self.end - pd.Timedelta(1, "ns")).date()
        span = str(self.start.date()) if last == self.start.date() else \
            f"{self.start.date()} → {last}"
        return f"{self.label} ({span}, {self.start.tz})" if self.label else \
            f"{span} ({self.start.tz})"


def _date(text: str, now: pd.Timestamp) -> pd.Timestamp:
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.strip().lower()).replace(",", "")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        d = pd.Timestamp(text)
    else:
        parts = text.split()
        if parts[0].isdigit():
            day, month = int(parts[0]), MONTHS[parts[1]]
        else:
            month, day = MONTHS[parts[0]], int(parts[1])
        year = int(parts[2]) if len(parts) > 2 else now.year
        d = pd.Timestamp(year=year, month=month, day=day)
        if len(parts) <= 2 and d.tz_localize(now.tz) > now:
            d = d.replace(year=year - 1)
    return d.tz_localize(now.tz)


def resolve_period(question: str, now: pd.Timestamp) -> Period | None:
    """The period a question names, in ``now``'s time zone; None when it names none.

    ``now`` is a tz-aware local time (the end of the data by default). Days,
    weeks (Monday) and months follow local midnight.
    """
    q = question.lower()
    today = now.normalize()
    day = pd.Timedelta(days=1)

    def days(start, n, label, level=None):
        end = (start.tz_localize(None) + n * day).tz_localize(now.tz)
        return Period(start, end, label, level)

    def local(ts):  # wall-clock day arithmetic across DST
        return ts.tz_localize(None)

    def at(naive):
        return naive.tz_localize(now.tz)

    if re.search(r"\bday before yesterday\b", q):
        return days(at(local(today) - 2 * day), 1, "the day before yesterday", "1D")
    if re.search(r"\byesterday\b", q):
        return days(at(local(today) - day), 1, "yesterday", "1D")
    if re.search(r"\btoday\b", q):
        return days(today, 1, "today", "1D")
    monday = at(local(today) - today.day_of_week * day)
    m = re.search(r"\b(?:last|past|previous)\s+(\d+)\s+(day|week)s?\b", q)
    if m:
        n = int(m.group(1)) * (7 if m.group(2) == "week" else 1)
        return days(at(local(today) - n * day), n, f"the last {m.group(1)} {m.group(2)}s")
    if re.search(r"\b(?:last|previous|past)\s+week\b", q):
        return days(at(local(monday) - 7 * day), 7, "last week", "1W")
    if re.search(r"\bthis week\b", q):
        return days(monday, 7, "this week", "1W")
    first = at(local(today).replace(day=1))
    if re.search(r"\b(?:last|previous|past)\s+month\b", q):
        start = at((local(first) - day).replace(day=1))
        return Period(start, first, "last month", "1M")
    if re.search(r"\bthis month\b", q):
        return Period(first, at(local(first) + pd.offsets.MonthBegin(1)), "this month", "1M")
    m = re.search(rf"\b(?:between|from)\s+{_DATE_RE}\s+(?:and|to|until|till)\s+{_DATE_RE}", q)
    if m:
        a, b = _date(m.group(1), now), _date(m.group(2), now)
        if b < a:
            a, b = b, a
        n = (local(b) - local(a)).days + 1
        return days(a, n, "")
    m = re.search(rf"\bweek\s+(?:of|starting|beginning)\s+(?:on\s+)?{_DATE_RE}", q)
    if m:
        d = _date(m.group(1), now)
        start = at(local(d) - d.day_of_week * day)
        return days(start, 7, f"the week of {start.date()}", "1W")
    m = re.search(_DATE_RE, q)
    if m:
        return days(_date(m.group(1), now), 1, "", "1D")
    m = re.search(rf"\b(?:in|during|for|of)\s+(may|{_MONTH_RE})(?:\s+(\d{{4}}))?\b", q) or \
        re.search(rf"\b({_MONTH_RE})(?:\s+(\d{{4}}))\b", q)
    if m:
        month = MONTHS[m.group(1)] if m.group(1) != "may" else 5
        year = int(m.group(2)) if m.group(2) else now.year
        start = pd.Timestamp(year=year, month=month, day=1).tz_localize(now.tz)
        if not m.group(2) and start > now:
            start = pd.Timestamp(year=year - 1, month=month, day=1).tz_localize(now.tz)
        end = at(local(start) + pd.offsets.MonthBegin(1))
        return Period(start, end, f"in {start.strftime('%B %Y')}", "1M")
    return None


# -- parsing --------------------------------------------------------------------------------
_RANK_MAX = ("highest", "most", "maximum", "largest", "biggest", "top", "max")
_RANK_MIN = ("lowest", "least", "fewest", "minimum", "smallest", "min")


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


def parse_question(question: str, registry, now: pd.Timestamp | None = None
                   ) -> DataQuery | None:
    """A :class:`DataQuery` when ``question`` asks for numbers, else None.

    Parameters
    ----------
    question : str
    registry : AssetRegistry
    now : pandas.Timestamp, optional
        The reference time for relative periods (tz-aware; default: the current time
        in the utility's zone — :func:`ask` passes the end of the data).

    Examples
    --------
    >>> from pumplib.assets import AssetRegistry                      # doctest: +SKIP
    >>> dq = parse_question("how many starts did P3 have yesterday?", AssetRegistry.load(),
    ...                     now=pd.Timestamp("2026-04-06 02:00", tz="Europe/Amsterdam"))
    ... # doctest: +SKIP
    >>> dq.metric.column, dq.assets, dq.period.level                  # doctest: +SKIP
    ('starts_starts', ('N-P3',), '1D')
    """
    metric = find_metric(question)
    if metric is None:
        return None
    tz = registry.utility.get("timezone", "UTC")
    if now is None:
        now = pd.Timestamp.now(tz=tz)
    elif now.tzinfo is None:
        now = now.tz_localize("UTC").tz_convert(tz)
    else:
        now = now.tz_convert(tz)
    q = question.lower()
    assets, stations, notes = find_entities(question, registry)
    period = resolve_period(question, now)
    words = set(re.findall(r"[a-z]+", q))
    rank = None
    if "worst" in words:
        rank = "max" if metric.worse == "high" else "min"
    elif "best" in words:
        rank = "min" if metric.worse == "high" else "max"
    elif words & set(_RANK_MAX) or "most efficient" in q:
        rank = "max"
    elif words & set(_RANK_MIN) or "least efficient" in q:
        rank = "min"
    which = re.search(r"\bwhich\s+(pump|station|asset)s?\b", q)
    group = "station" if (which and which.group(1) == "station") else "pump"
    if which and rank is None:
        rank = "max" if metric.worse == "high" else "min"
    asks_number = bool(re.search(r"\b(how many|how much|how long|what was|what were|what is the "
                                 r"total|total|sum|average|mean)\b", q))
    if not (assets or stations or period or rank or (asks_number and not
                                                      re.search(r"\bwhat is (a |an |the )?"
                                                                + re.escape(metric.label), q))):
        return None
    if re.search(r"\b(what does|define|definition|how is|how are|computed|calculated|formula|"
                 r"expression|defined)\b", q) and not (assets or stations or period):
        return None
    return DataQuery(metric, tuple(assets), tuple(stations), period, rank, group, tuple(notes))
