"""Answers given as data from the registry and the feature catalog (not from the golden tables).

:func:`registry_answer`: registry facts (rated values, BEP, curves, motors, tanks,
stations, tariffs and their rates, the utility's time zone, currency and holidays),
each cited by file and key (:mod:`pumplib.qa.facts`). :func:`definition_answer`: a
feature's formula, inputs and unit traced to raw signals and source files
(:mod:`pumplib.qa.define`).
"""

from __future__ import annotations

import hashlib
import re

from .answer import Answer, Citation, _refusal, _with_suggestions


def _cite(cites: list[Citation], kind: str, ref: str, title: str) -> int:
    """The number of ``ref`` among ``cites``, added when new."""
    n = next((c.n for c in cites if c.ref == ref), None)
    if n is None:
        n = len(cites) + 1
        cites.append(Citation(n, hashlib.sha1(ref.encode()).hexdigest()[:16], kind, ref, title))
    return n


def fact_kinds(reading, registry) -> list:
    """The registry fact kinds a read question asks for: a named tank says "tank", and
    words read as a metric's synonym ("near its BEP") ask for no fact."""
    from .facts import concept_words, find_facts

    implied = ("tank",) if any(registry.assets[a].kind == "tank" for a in reading.assets) \
        else ()
    kinds = find_facts(reading.text, implied, reading.metric_span)
    a, b = reading.metric_span or (0, 0)
    if not kinds and reading.period is None and reading.metric is not None and \
            reading.metric.key == "time_near_bep" and any(
                c in ("head", "flow", "efficiency") and not a <= at < b
                for _, c, at, _ in concept_words(reading.text)):
        # "what head does S-P1 deliver at its best efficiency point": a quantity of the
        # pump's BEP (head, flow, efficiency) is a fact, not the time spent near it
        kinds = [k for k in find_facts(reading.text, implied)
                 if k.key in ("bep_flow", "bep_head", "bep_efficiency")]
    return kinds


def registry_answer(reading, kinds, registry, now) -> Answer:
    """Registry facts asked for, each cited by the registry file and key."""
    from .facts import TIMES, answer_facts, named_tariffs
    from .parse import find_entities

    tariffs = named_tariffs(reading.text, registry)
    assets, stations = list(reading.assets), list(reading.stations)
    if assets and stations:      # "south pump 2": the pump, not every pump of the station
        stations = [s for s in stations if s not in {registry.assets[a].station for a in assets}]
    asset_kinds = [k for k in kinds if k.scope == "asset"]
    ambiguous = [n for n in reading.query.notes if "ambiguous" in n] if reading.query else []
    if not ambiguous:
        ambiguous = [n for n in find_entities(reading.text, registry)[2] if "ambiguous" in n]
    everyone = re.search(r"\b(each|every|all|any|which)\b|\bpumps\b|\btanks\b|\breservoirs\b",
                         reading.text.lower())
    if asset_kinds and (ambiguous or not (assets or stations or everyone)):
        why = ambiguous[0] if ambiguous else (
            f"which asset? {', '.join(k.label for k in asset_kinds)} is a fact of one asset; "
            f"assets: {', '.join(a.id for a in registry.assets.values())}")
        sugg = [f"What is the {asset_kinds[0].label} of {a.id}?" for a in registry.pumps()][:5]
        return Answer(reading.question, _with_suggestions("I did not answer this question:\n- "
                                                          + why, sugg), intent="unclear",
                      problems=[why], suggestions=sugg)
    if everyone and not (assets or stations):
        assets = [a.id for a in registry.assets.values()]
    if any(k.scope in ("station", "tariff") for k in kinds) and not (assets or stations or
                                                                      tariffs):
        stations = list(registry.stations)
    period = None
    if any(k.key == "holidays" for k in kinds):      # "holidays in April": of this year
        from .parse import _now
        from .periods import BadDate, resolve_period

        try:
            period = resolve_period(reading.text, _now(now, registry), past=False)
        except BadDate:
            period = None
    facts, missing = answer_facts(kinds, assets, stations, registry, tariffs, period,
                                  times=bool(TIMES.search(reading.text.lower())))
    if assets and len(assets) > 1:   # "which pumps …": those that have the fact
        missing = []
    cites: list[Citation] = []
    lines = []
    for f in facts:
        ref = f"{registry.source}#{f['key'].split('#', 1)[1]}"
        f["citation"] = _cite(cites, "registry", ref, f["key"])
        lines.append(f"{f['text']} [{f['citation']}].")
    lines += [f"Not in the registry: {m}." for m in missing]
    if not facts:
        return _refusal(reading, registry, now, missing or ["the registry holds no such fact"])
    inter = ("Interpreted as: registry facts " + ", ".join(dict.fromkeys(k.label for k in kinds))
             + " of " + ", ".join(dict.fromkeys(str(f["subject"]) for f in facts)) + ".")
    return Answer(reading.question, inter + "\n" + "\n".join(lines), cites, [], [], "data",
                  interpretation=inter,
                  registry_facts=[{k: f[k] for k in ("name", "key_name", "subject", "value",
                                                     "unit", "key")} for f in facts])


def definition_answer(reading, store) -> Answer | None:
    """A feature's formula, inputs and unit, traced to raw signals and source files; None
    when the question names no feature of the catalog."""
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
    cites: list[Citation] = []
    _cite(cites, "feature", define.relative_source(t.source), f"feature {feat} v{t.version} "
          f"({t.hash})")
    for name, _, _ in t.steps[1:]:
        _cite(cites, "feature", define.relative_source(catalog[name].source), f"feature {name}")
    if t.build:
        r = f"lineage: build {t.build} of {feat}"
        _cite(cites, "lineage", r, r)
    inter = f"Interpreted as: the definition of feature {feat}, traced to raw signals."
    text = inter + "\n" + define.describe(t) + " " + " ".join(f"[{c.n}]" for c in cites)
    return Answer(reading.question, text, cites, [], [], "data", interpretation=inter,
                  formula=t.formula + (f" where {t.condition}" if t.condition else ""),
                  inputs=list(t.raw))
