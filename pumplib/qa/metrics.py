"""The quantities users ask about: each tied to one golden-table column, with the words and
verbs people use for it ("cost us", "spend on power", "switch on", "near its BEP").

:func:`find_metric` reads the metric a question asks about: the longest synonym found,
a more specific metric winning over a general one named in the same question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


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
                           "energy intensity", "energy per volume", "per cubic metre",
                           "per cubic meter", "per m3", "per m³")),
    Metric("efficiency", "wire_to_water_efficiency_mean", "wire_to_water_efficiency",
           "wire-to-water efficiency", False, "low",
           ("wire-to-water efficiency", "wire to water efficiency", "wire-to-water",
            "wire to water", "efficiency", "efficient")),
    Metric("hydraulic_power", "hydraulic_power_mean", "hydraulic_power", "hydraulic power",
           False, "low", ("hydraulic power",)),
    Metric("time_near_bep", "time_near_bep_duration", "time_near_bep",
           "time near the best efficiency point", True, "low",
           ("time near bep", "time near the bep", "near bep", "near the best efficiency point",
            "near best efficiency point", "time near the best efficiency point",
            "near its bep", "near their bep", "near its best efficiency point",
            "near their best efficiency point", "close to bep", "close to its bep",
            "close to the bep", "close to its best efficiency point", "around bep",
            "around its bep", "at its bep", "at bep", "at the bep", "at its best efficiency point",
            "at the best efficiency point", "within 10 % of bep", "in the bep window",
            "time at bep")),
    Metric("bep_flow_ratio", "bep_flow_ratio_mean", "bep_flow_ratio", "BEP flow ratio",
           False, "high", ("bep flow ratio", "flow ratio", "bep ratio", "ratio to bep",
                            "flow ratio to bep", "flow to bep ratio")),
    Metric("cost", "energy_cost_integral", "energy_cost", "energy cost", True, "high",
           ("energy cost", "energy costs", "electricity cost", "electricity costs", "costs", "cost",
            "electricity bill", "energy bill", "power bill", "spend", "spent", "money", "bill",
            "expensive", "euros", "eur", "cost us", "costs us", "cost the most", "spend on power",
            "spent on power", "spend on electricity", "spent on electricity", "paid for power",
            "paid for electricity", "pay for power", "pay for electricity", "power cost",
            "power costs", "cost of power", "cost of electricity", "costliest", "pricey",
            "spending", "costlier", "cheapest", "cheaper", "cheap", "priciest", "pricier",
            "running cost", "running costs", "cost to run", "cost to operate", "operating cost",
            "operating costs", "set us back", "sets us back", "set back", "electricity spend",
            "energy spend", "power spend", "spent on energy", "spend on energy")),
    Metric("energy", "energy_integral", "energy", "energy", True, "high",
           ("energy consumption", "energy use", "energy used", "electricity", "energy", "kwh",
            "consumed", "consume", "consumption", "power use", "power used", "power usage",
            "power consumption", "power consumed", "power draw", "drew", "draw", "energy usage",
            "electricity usage", "electricity use", "electricity used", "kilowatt hours",
            "kilowatt-hours", "mwh")),
    Metric("runtime", "runtime_duration", "runtime", "runtime", True, "high",
           ("run time", "runtime", "running time", "run hours", "running hours",
            "operating hours", "hours run", "hours of operation", "ran", "run for",
            "how long", "run", "running", "hours", "operating time", "in operation",
            "operated", "was on", "were on", "hours on")),
    Metric("starts", "starts_starts", "starts", "starts", True, "high",
           ("starts", "start-ups", "startups", "switch-ons", "switched on", "started",
            "start", "switch on", "switches on", "switching on", "turn on", "turned on",
            "turns on", "turning on", "start up", "started up", "starting up", "cycled on",
            "came on", "come on", "kicked in", "kick in", "powered on", "power on", "cycles",
            "cycled", "cycling", "start cycles", "fire up", "fired up", "fires up", "starts up")),
    Metric("head", "head_mean", "head", "head", False, "high", ("pumping head", "head")),
)


def find_metric(question: str) -> Metric | None:
    """The metric a question asks about: the longest synonym found (word boundaries)."""
    found = _metric_span(question)
    return found[0] if found else None


def _metric_span(question: str) -> tuple[Metric, int, int] | None:
    """The metric of :func:`find_metric` and where its synonym stands in the question."""
    q = question.lower()
    best: tuple[int, int, int, Metric] | None = None
    hits: dict[str, tuple[int, int, int, Metric]] = {}
    by_key = {m.key: m for m in METRICS}
    found = [(len(s), hit, m) for m in METRICS for s in m.synonyms
             if (hit := _synonym(q, s))]
    found += [(len(hit.group(0)), hit, by_key[key]) for pat, key in _PHRASES
              for hit in [pat.search(q)] if hit]
    for n, hit, m in found:
        if m.key not in hits or n > hits[m.key][0]:
            hits[m.key] = (n, hit.start(), hit.end(), m)
        if best is None or n > best[0]:
            best = (n, hit.start(), hit.end(), m)
    if best is not None:
        # a more specific metric named anywhere wins over the general one ("which pump cost
        # us the most in electricity" ranks cost, "how long … run near its BEP" time near BEP,
        # "what did running N-P3 cost" cost)
        for general, specific in _SPECIFIC:
            if best[3].key == general and specific in hits and \
                    q[hits[specific][1]:hits[specific][2]] not in _WEAK:
                best = hits[specific]
    if best is None and (use := _USED.search(q)):   # "what did N-P1 use yesterday": energy
        energy = next(m for m in METRICS if m.key == "energy")
        return energy, use.start(1), use.end(1)
    return (best[3], best[1], best[2]) if best else None


def _synonym(q: str, s: str) -> re.Match | None:
    """Where synonym ``s`` (or its plural) stands in ``q``; a phrasal verb ending in "on"
    ("power on", "was on") is not one after a possessive or a determiner, where its first
    word is a noun ("N-P2's power on 2026-03-24", "the power on Monday")."""
    for hit in re.finditer(rf"(?<![\w-]){re.escape(s)}s?(?![\w-])", q):
        if s.endswith(" on") and _NOUN_BEFORE.search(q, 0, hit.start()):
            continue
        return hit
    return None


#: what stands before a noun: a possessive, an article, "of"
_NOUN_BEFORE = re.compile(r"(?:['’]s|\b(?:the|its|their|his|her|our|your|of|a|an|average|"
                          r"mean|total))\s+$")
#: domain phrases whose words stand apart, each read as a metric: paying for power is cost
#: ("how much did we pay for N-P2's power"), the share of the power that reaches the water
#: is wire-to-water efficiency ("what share of S-P1's electrical power reached the water")
_PHRASES: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"\b(?:pay|pays|paid|paying)\s+(?:for\s+|on\s+)?(?:the\s+|our\s+)?"
                r"(?:[\w-]+(?:'s|’s)\s+)?(?:electric(?:al)?\s+)?(?:power|electricity|energy)\b"),
     "cost"),
    (re.compile(r"\bhow much (?:did|do|does|have|has|had) (?:we|you|they|i|the utility)\s+"
                r"(?:pay|paid)\b"), "cost"),
    (re.compile(r"\b(?:power|energy|electricity)\b(?:\s+[\w'’-]+){0,3}?\s+(?:reach(?:es|ed|ing)?"
                r"|gets?|got|goes|went|ends?\s+up|ended\s+up|(?:is|was|gets?|got)\s+"
                r"(?:delivered|transferred|converted|turned|passed|put))\s+(?:in(?:to)?|to)\s+"
                r"(?:the\s+)?water\b|\b(?:power|energy|electricity)\s+(?:that\s+)?"
                r"reach(?:es|ed|ing)?\s+(?:the\s+)?water\b|\b(?:electric(?:al|ity)?|power)"
                r"[- ]to[- ]water\b"), "efficiency"),
    (re.compile(r"\b(?:take|takes|took|taken|taking|draw|draws|drew|drawn|drawing|pull|pulls|"
                r"pulled|pulling|import|imports|imported|get|got|use|used)\s+(?:in\s+)?"
                r"(?:from|off|out of)\s+the\s+(?:power\s+|electricity\s+)?(?:grid|mains|network)\b"),
     "energy"),
    (re.compile(r"\b(?:use|used|uses|consume|consumed)\s+(?:more|less|the most|the least)(?=\s+"
                r"(?:than|last|this|yesterday|today|on|in|during|over)\b|\s*[,?.]|\s*$)"), "energy"),
)


#: a quantity used, with no metric and no other object named: energy ("what did both pumps use
#: together"; "how much diesel did the generator use" names what was used, and is no energy)
_USED = re.compile(r"\b(?:how much|what)\s+(?:did|does|do|has|have|had)\b"
                   r"(?:\s+[\w'-]+){1,5}?\s+(use|used|uses|burn|burned|burnt)\b")


#: (general, specific): when both are named, the specific metric is asked about
_SPECIFIC = (("energy", "cost"), ("runtime", "time_near_bep"), ("efficiency", "time_near_bep"),
             ("runtime", "cost"), ("energy", "specific_energy"))
#: synonyms too weak to override ("how much energy did we spend" is energy)
_WEAK = frozenset(("spend", "spent", "spending"))
