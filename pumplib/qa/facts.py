"""Registry facts answered as data: rated values, BEP, curves, motors, tanks, stations, tariffs,
the utility's time zone, currency and holidays.

A question that names a registry fact ("rated power and BEP flow of south pump 2",
"what tariff is north on and what's the peak rate per kwh", "how big is the motor on
S-P2") is answered from the asset registry itself, not from passages retrieved about it:
each fact is a number (or a name, a date) with its unit and a citation of the registry
file and key (``catalogs/assets.yaml#stations.SOUTH.assets.S-P2.curve.bep_flow``).

Facts are found by *concepts*, not phrasings: the words of the registry's own keys
(``motor.rated_power``, ``tank.max_level``, ``static_head``, ``timezone``,
``holidays``) and their everyday synonyms (:data:`CONCEPTS`: "drive" is a motor,
"reservoir" a tank, "nameplate" and "rating" a rated value, "size" a rated power or a
tank's area and levels) are read as concepts, and a fact kind is asked for when the
concepts of one of its keys stand near each other (:data:`FACTS`). A concept
used by a more specific fact ("motor rating") is not used again ("rated power").

:func:`find_facts` gives the fact kinds a question asks for; :func:`answer_facts`
resolves them for the pumps, stations, tariffs and the utility it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: everyday words (and spellings) of the registry's keys, each read as one concept
CONCEPTS: dict[str, str] = {w: c for c, words in {
    "motor": "motor motors drive drives",
    "rated": "rated rating ratings nominal nameplate design",
    "power": "power kw kilowatt kilowatts wattage hp horsepower",
    "size": "size sized big bigger biggest large larger largest capacity dimensions",
    "flow": "flow flows flowrate throughput",
    "head": "head lift",
    "speed": "speed rpm revolutions",
    "efficiency": "efficiency efficient",
    "bep": "bep",
    "shutoff": "shutoff",
    "voltage": "voltage volts volt",
    "pf": "powerfactor",
    "tank": "tank tanks reservoir reservoirs basin basins",
    "area": "area footprint surface",
    "volume": "volume",
    "max": "max maximum top highest overflow full upper",
    "min": "min minimum bottom lowest empty lower",
    "level": "level levels",
    "depth": "depth deep deepest high tall",
    "static": "static geodetic",
    "control": "control controlled controls controlling strategy",
    "tariff": "tariff tariffs contract",
    "price": "price prices rate rates",
    "peak": "peak",
    "offpeak": "offpeak",
    "shoulder": "shoulder",
    "weekend": "weekend weekends",
    "night": "night nights overnight nighttime",
    "timezone": "timezone",
    "currency": "currency currencies",
    "holiday": "holiday holidays",
    "type": "type pumptype",
    "curve": "curve curves",
    "pumpcount": "pumpcount",
}.items() for w in words.split()}
#: multi-word spellings read as one word first
_PHRASES = (
    (r"best[ -]efficiency(?:[ -]point)?|duty[ -]point", "bep"),
    (r"shut[- ]?off|zero[- ]flow|closed[- ]valve", "shutoff"),
    (r"power[- ]factor|cos\s*(?:phi|φ)", "powerfactor"),
    (r"off[- ]?peak|(?:night|default|base|standard)(?=\s+(?:rate|price|tariff))", "offpeak"),
    (r"time[- ]?zones?|\btz\b|utc offset", "timezone"),
    (r"(?:variable|fixed|constant|single)[- ]speed|speed[- ]controlled|\bv[fs]ds?\b|inverters?|"
     r"frequency converters?|\bdol\b|direct[- ]on[- ]line", "pumptype"),
    (r"per\s+kwh|[^\s/]*/\s*kwh|a kwh", "price"),
    (r"flow[- ]?rate", "flow"),
    (r"\b(?:hold|holds|held|contain|contains)\b", "volume"),      # what a tank holds
    (r"bank holidays?|public holidays?|(?:tariff|holiday)'?s? calendar", "holiday"),
    (r"how many (?:\w+ )?pumps|number of (?:\w+ )?pumps|pump count", "pumpcount"),
)

#: a price of a unit of energy ("per kwh", "a kWh cost", "electricity price", "unit rate"):
#: a tariff's rate, whatever period name stands beside it ("weekend price … per kwh"), and no
#: metric of the golden tables (its "kwh" is no energy, its "cost" no energy cost)
UNIT_PRICE = re.compile(
    r"(?:(?:\b(?:eur|euros?|cents?|ct|usd|dollars?|gbp|pounds?)|[€$£])\s*)?"
    r"(?:\b(?:per|a|an|each|one|every)\s+|/\s*)(?:kwh|kilowatt[- ]?hours?|mwh|unit)\b"
    r"(?:\s+(?:costs?|priced?))?|"
    r"\b(?:kwh|mwh|electricity|energy|power|unit)\s+(?:prices?|rates?|tariffs?)\b|"
    r"\b(?:prices?|rates?|tariffs?)\s+(?:of|for)\s+(?:the\s+|a\s+|one\s+)?(?:electricity|energy|"
    r"power|kwh|kilowatt[- ]?hours?|mwh)\b|"
    r"\b(?:costs?|prices?|priced|charged?|charges|pay|pays|paid)\s+(?:per|a|an|for\s+(?:a|an|one|"
    r"each|every))\s+(?:kwh|kilowatt[- ]?hours?|mwh|unit)\b")


def unit_price(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` (a metric's synonym) is part of a unit price of energy
    (:data:`UNIT_PRICE`)."""
    return any(m.start() < end and start < m.end() for m in UNIT_PRICE.finditer(text.lower()))


@dataclass(frozen=True)
class FactKind:
    """A kind of registry fact: what it is called, where it lives, which concepts ask for it.

    ``needs`` lists alternatives separated by ``;``; each is concept groups joined by ``+``,
    a group being concepts separated by ``|`` (one of them must be said):
    ``"motor+power|rated|size"`` is "motor" with "power", "rating" or "size".
    """

    key: str
    label: str
    scope: str            # "asset", "station", "tariff" or "utility"
    path: str             # registry key under the asset/station/utility ("rated.power"), or
    #                       a tariff period name ("peak"), "" for computed facts
    unit: str
    needs: str


FACTS: tuple[FactKind, ...] = (
    FactKind("motor_rated_power", "motor rated power", "asset", "motor.rated_power", "kW",
             "motor+power|rated|size"),
    FactKind("motor_efficiency", "motor efficiency", "asset", "motor.efficiency", "1",
             "motor+efficiency"),
    FactKind("motor_voltage", "motor voltage", "asset", "motor.voltage", "V", "voltage"),
    FactKind("power_factor", "motor power factor", "asset", "motor.power_factor", "1", "pf"),
    FactKind("rated_power", "rated power", "asset", "rated.power", "kW", "rated+power"),
    FactKind("rated_flow", "rated flow", "asset", "rated.flow", "m³/h", "rated+flow"),
    FactKind("rated_head", "rated head", "asset", "rated.head", "m", "rated+head"),
    FactKind("rated_speed", "rated speed", "asset", "rated.speed", "rpm", "rated+speed; speed"),
    FactKind("rated_efficiency", "rated efficiency", "asset", "rated.efficiency", "1",
             "rated+efficiency"),
    FactKind("bep_flow", "BEP flow", "asset", "curve.bep_flow", "m³/h", "bep+flow"),
    FactKind("bep_head", "BEP head", "asset", "", "m", "bep+head"),
    FactKind("bep_efficiency", "BEP efficiency", "asset", "curve.bep_efficiency", "1",
             "bep+efficiency; peak+efficiency"),
    FactKind("bep", "best efficiency point", "asset", "curve", "", "bep"),
    FactKind("shutoff_head", "shut-off head", "asset", "curve.shutoff_head", "m", "shutoff"),
    FactKind("pump_type", "pump type", "asset", "pump_type", "", "type"),
    FactKind("tank_area", "tank area", "asset", "tank.area", "m²", "area"),
    FactKind("tank_max_level", "tank maximum level", "asset", "tank.max_level", "m",
             "max+level"),
    FactKind("tank_min_level", "tank minimum level", "asset", "tank.min_level", "m",
             "min+level"),
    FactKind("tank_volume", "tank usable volume", "asset", "", "m³", "tank+volume"),
    FactKind("tank_size", "tank size", "asset", "tank", "", "tank+size; tank+depth"),
    FactKind("static_head", "static head", "station", "static_head", "m",
             "static+head; static"),
    FactKind("control", "control mode", "station", "control", "", "control"),
    FactKind("station_pumps", "number of pumps", "station", "assets", "", "pumpcount"),
    FactKind("peak_rate", "peak rate", "tariff", "peak", "/kWh", "peak"),
    FactKind("shoulder_rate", "shoulder rate", "tariff", "shoulder", "/kWh", "shoulder"),
    FactKind("weekend_rate", "weekend rate", "tariff", "weekend", "/kWh",
             "weekend+price|tariff"),
    FactKind("offpeak_rate", "off-peak rate", "tariff", "default", "/kWh",
             "offpeak; night+price|tariff"),
    FactKind("tariff", "tariff", "tariff", "", "", "tariff; price"),
    FactKind("timezone", "time zone", "utility", "timezone", "", "timezone"),
    FactKind("currency", "currency", "utility", "currency", "", "currency"),
    FactKind("holidays", "holiday", "utility", "holidays", "", "holiday"),
    FactKind("curve", "pump curve", "asset", "curve", "", "curve"),
)
_BY_KEY = {f.key: f for f in FACTS}
#: how many words apart the concepts of one fact may stand
WINDOW = 6


def concept_words(question: str) -> list[tuple[int, str, int, int]]:
    """``(position, concept, start, end)`` of each word of ``question`` that names a
    concept of the registry (:data:`CONCEPTS`), after its multi-word spellings."""
    q = question.lower()
    for pat, word in _PHRASES:
        q = re.sub(pat, lambda m, w=word: w.ljust(len(m.group(0))), q)
    out = []
    for i, m in enumerate(re.finditer(r"[a-z]+(?:'s)?", q)):
        w = m.group(0).removesuffix("'s")
        c = CONCEPTS.get(w) or (CONCEPTS.get(w[:-1]) if w.endswith("s") else None)
        if c:
            out.append((i, c, m.start(), m.end()))
    return out


def _alternatives(kind: FactKind) -> list[list[set[str]]]:
    return [[set(g.split("|")) for g in alt.strip().split("+")] for alt in kind.needs.split(";")]


def find_facts(question: str, implied: tuple[str, ...] = (),
               ignore: tuple[int, int] | None = None) -> list[FactKind]:
    """The registry fact kinds ``question`` asks for, in the order it names them.

    Each fact's concepts are looked for near each other; facts with more concepts are
    matched first, and of two, the one whose concepts stand closer. A word that says
    what a fact is about ("flow", "voltage") is used by one fact only; a qualifier
    ("rated", "motor", "BEP", "tank") may serve several ("rated flow and head").

    Parameters
    ----------
    question : str
    implied : tuple of str
        Concepts said by the names of the question (a named tank says "tank").
    ignore : (start, end), optional
        A span of the question read as something else (a metric's synonym: "near its
        BEP" is time near BEP, not a BEP fact); a fact said only inside it is not asked.
    """
    words = concept_words(question)
    used: set[int] = set()
    found: list[tuple[int, FactKind]] = []
    while True:
        best = None
        for kind in FACTS:
            if kind in [f for _, f in found]:
                continue
            for groups in _alternatives(kind):
                hit = _match(words, groups, used, implied)
                if hit is None or (ignore and hit[0] and all(
                        ignore[0] <= words[j][2] < ignore[1] for j in hit[0])):
                    continue
                rank = (-len(groups), hit[1])
                if best is None or rank < best[0]:
                    best = (rank, kind, hit[0])
        if best is None:
            break
        _, kind, idx = best
        used.update(j for j in idx if words[j][1] not in QUALIFIERS)
        found.append((min((words[j][0] for j in idx), default=10**6), kind))
    keys = [f for _, f in sorted(found, key=lambda t: t[0])]
    for bundle, parts in _BUNDLES.items():      # a curve is its BEP and shut-off head …
        if _BY_KEY[bundle] in keys:
            i = keys.index(_BY_KEY[bundle])
            said = any(_BY_KEY[k] in keys for k in parts)     # "BEP efficiency": that one
            keys[i:i + 1] = [] if said and bundle != "curve" else \
                [_BY_KEY[k] for k in parts if _BY_KEY[k] not in keys]
    return keys


#: concepts that qualify what follows them ("rated flow and head"): shared between facts
QUALIFIERS = frozenset(("rated", "motor", "bep", "tank", "curve"))
#: facts that stand for several others
_BUNDLES = {"curve": ("shutoff_head", "bep_flow", "bep_head", "bep_efficiency"),
            "bep": ("bep_flow", "bep_head", "bep_efficiency"),
            "tank_size": ("tank_area", "tank_max_level", "tank_min_level", "tank_volume")}


def _match(words, groups: list[set[str]], used: set[int], implied
           ) -> tuple[list[int], int] | None:
    """``(indices into words, spread)`` of words that say each group near one of the first
    group (None: not said); a word next to a used one that says a group of the same fact
    is used too ("motor rated power")."""
    free = [j for j in range(len(words)) if j not in used]
    if groups[0] & set(implied):
        if len(groups) == 1:
            return None
        groups = groups[1:]
        if len(groups) == 1:
            hit = next(([j] for j in free if words[j][1] in groups[0]), None)
            return None if hit is None else (hit, 0)
    best = None
    for a in free:
        if words[a][1] not in groups[0]:
            continue
        hit = [a]
        for g in groups[1:]:
            cands = [j for j in free if words[j][1] in g and j not in hit
                     and abs(words[j][0] - words[a][0]) <= WINDOW]
            if not cands:
                hit = None
                break
            hit.append(min(cands, key=lambda j: abs(words[j][0] - words[a][0])))
        if hit is None:
            continue
        spread = max(words[j][0] for j in hit) - min(words[j][0] for j in hit)
        if best is None or spread < best[1]:
            best = (hit, spread)
    if best is None:
        return None
    hit = best[0]
    said = set().union(*groups)
    grow = True
    while grow:
        grow = False
        pos = {words[j][0] for j in hit}
        for j in free:
            if j not in hit and words[j][1] in said and (
                    words[j][0] - 1 in pos or words[j][0] + 1 in pos):
                hit.append(j)
                grow = True
    return hit, best[1]

def _ref(registry, *keys: str) -> str:
    return f"{Path(registry.source).name}#" + ".".join(keys)


def _asset_fact(registry, kind: FactKind, asset) -> dict | None:
    base = ("stations", asset.station, "assets", asset.id)
    if kind.key == "bep_head":
        try:
            value = float(asset.head_curve(asset.curve["bep_flow"]))
        except (KeyError, ZeroDivisionError):
            return None
        return {"value": round(value, 3), "key": _ref(registry, *base, "curve"),
                "path": "curve.bep_head",
                "how": "head curve at the BEP flow: H = H0 − k·Q², k = (H0 − rated head) / "
                       "rated flow² (curve.shutoff_head, rated.head, rated.flow, curve.bep_flow)"}
    if kind.key == "tank_volume":
        t = asset.tank
        if not {"area", "max_level", "min_level"} <= set(t):
            return None
        return {"value": round(t["area"] * (t["max_level"] - t["min_level"]), 3),
                "key": _ref(registry, *base, "tank"), "path": "tank.volume",
                "how": "tank.area × (tank.max_level − tank.min_level)"}
    if kind.path == "pump_type":
        return None if asset.pump_type is None else {
            "value": asset.pump_type, "key": _ref(registry, *base, "pump_type"),
            "path": "pump_type"}
    block, _, name = kind.path.partition(".")
    value = getattr(asset, block, {}).get(name)
    if value is None:
        return None
    return {"value": value, "key": _ref(registry, *base, block, name), "path": kind.path}


def _tariff_facts(registry, kind: FactKind, tname: str, station: str | None,
                  rates: bool = True, times: bool = False) -> list[dict]:
    """The facts of a tariff kind; the tariff itself comes with each of its rates (``rates``:
    when the question asks for none of them by name); a rate with the start and end of each
    of its windows (``times``: when the question asks when, local time)."""
    if tname is None or tname not in registry.tariffs:
        return []
    t = registry.tariffs[tname]
    unit = f"{t.currency}/kWh"
    if kind.key == "tariff":                 # the tariff, then each of its rates
        key = _ref(registry, "stations", station, "tariff") if station else \
            _ref(registry, "tariffs", tname)
        return [{"key_name": "tariff" if station else f"tariffs.{tname}", "value": tname,
                 "unit": "", "key": key,
                 "text": (f"{station} is on tariff {tname}" if station else f"tariff {tname}")
                 + f" ({t.currency}): " + _tariff_text(t)}] + [
            {"name": _BY_KEY[k].label, "label": _BY_KEY[k].label, **f}
            for k in ("peak_rate", "shoulder_rate", "weekend_rate", "offpeak_rate") if rates
            for f in _tariff_facts(registry, _BY_KEY[k], tname, station, times=times)]
    if kind.path == "default":
        return [{"key_name": f"tariffs.{tname}.default_price", "value": t.default_price,
                 "unit": unit, "key": _ref(registry, "tariffs", tname, "default_price"),
                 "text": f"{kind.label} of {tname} (every time outside its periods): "
                         f"{t.default_price} {unit}"}]
    out = []
    periods = [(i, p) for i, p in enumerate(t.periods) if p.get("name") == kind.path]
    prices = sorted({float(p["price"]) for _, p in periods})
    for price in prices:
        when = "; ".join(f"{p['start']}–{p['end']} {','.join(p.get('days', []))}"
                         for _, p in periods if float(p["price"]) == price)
        i = next(i for i, p in periods if float(p["price"]) == price)
        out.append({"key_name": f"tariffs.{tname}.periods.{i}.price",
                    "value": price, "unit": unit,
                    "key": _ref(registry, "tariffs", tname, "periods", str(i), "price"),
                    "text": f"{kind.label} of {tname}: {price} {unit} ({when})"})
        for i, p in periods if times else ():
            if float(p["price"]) != price:
                continue
            for end in ("start", "end"):
                out.append({"name": f"{kind.path} {end}", "label": f"{kind.path} {end}",
                            "key_name": f"tariffs.{tname}.periods.{i}.{end}",
                            "value": str(p[end]), "unit": "local time",
                            "key": _ref(registry, "tariffs", tname, "periods", str(i), end),
                            "text": f"{kind.path} of {tname} {end}s at {p[end]} local time ("
                                    f"{','.join(p.get('days', [])) or 'every day'})"})
    return out


#: a question that asks when (a rate's window): its start and end are facts of their own
TIMES = re.compile(r"\bwhen\b|\bwhat time|\b(?:which|what) hours\b|\btimes?\b|\bwindows?\b|"
                   r"\bstart\w*|\bends?\b|\bbegin\w*|\buntil\b|\bperiods?\b|\bfrom\b|"
                   r"\bhours? (?:of|does|do|is|are)\b|\bschedule")


def _tariff_text(t) -> str:
    parts = [f"{p['name']} {p['price']} {t.currency}/kWh {p['start']}–{p['end']} "
             f"{','.join(p.get('days', []))}" for p in t.periods]
    return "; ".join(parts) + f"; otherwise {t.default_price} {t.currency}/kWh"


def _utility_facts(registry, kind: FactKind, period=None) -> list[dict]:
    """The utility's time zone, currency or holidays (those in ``period`` when one is given;
    local dates ``[start, end)``)."""
    uid = str(registry.utility.get("id", "utility"))
    if kind.path == "holidays":
        days = list(registry.holidays)
        if period is not None:
            days = [d for d in days if period.start.date() <= d < period.end.date()]
        out = [{"key_name": f"holidays.{i}", "value": str(d), "unit": "date",
                "key": _ref(registry, "holidays", str(i)), "subject": uid,
                "text": f"{d:%A} {d} is a holiday (priced like a Sunday by the tariffs)"}
               for i, d in enumerate(registry.holidays) if d in days]
        out.append({"key_name": "holidays (count)", "value": len(days), "unit": "",
                    "key": _ref(registry, "holidays"), "subject": uid,
                    "text": f"{len(days)} holidays in the tariff calendar"
                    + (f" in {period.describe()}" if period is not None else "")})
        return out
    value = registry.utility.get(kind.path)
    if value is None:
        return []
    return [{"key_name": f"utility.{kind.path}", "value": value, "unit": "", "subject": uid,
             "key": _ref(registry, "utility", kind.path),
             "text": f"the utility's {kind.label}: {value}"}]


def named_tariffs(question: str, registry) -> list[str]:
    """The tariffs a question names by their registry name (``tou_standard``)."""
    q = question.lower()
    return [t for t in registry.tariffs
            if re.search(rf"(?<![\w-]){re.escape(t.lower())}(?![\w-])", q)]


def answer_facts(kinds, assets, stations, registry, tariffs=(), period=None, times=False
                 ) -> tuple[list[dict], list[str]]:
    """The registry facts ``kinds`` for the named assets and stations (``times``: each
    tariff rate with the start and end of its windows, the question asks when).

    Returns
    -------
    facts : list of dict
        ``{name, key_name, label, subject, value, unit, key, text}``: ``name`` is the
        fact's label ("rated power"), ``key_name`` its registry key path
        ("rated.power", "tariffs.tou_standard.default_price", "utility.timezone"),
        ``subject`` the asset, station, tariff or utility, ``key`` the registry file and
        key it was read from.
    missing : list of str
        What was asked but is not in the registry (a pump without a curve, a fact
        asked of a station).
    """
    facts: list[dict] = []
    missing: list[str] = []
    for kind in kinds:
        if kind.scope == "utility":
            facts += [{"name": kind.label, "label": kind.label, **f}
                      for f in _utility_facts(registry, kind, period)]
        elif kind.scope == "asset":
            block = kind.path.partition(".")[0] or ("tank" if kind.key.startswith("tank")
                                                    else "curve")
            targets = [registry.assets[a] for a in assets] or [
                a for s in stations for a in registry.station_assets(s)
                if getattr(a, block, None)]
            for a in targets:
                f = _asset_fact(registry, kind, a)
                if f is None:
                    if kind.key != "tank_volume":
                        missing.append(f"{a.id} has no {kind.label} in the registry")
                    continue
                shown = f"{f['value']} {kind.unit}".strip()
                text = f"{a.id} {kind.label}: {shown}" + (f" ({f['how']})" if "how" in f else "")
                facts.append({"name": kind.label, "key_name": f["path"], "label": kind.label,
                              "subject": a.id, "value": f["value"], "unit": kind.unit,
                              "key": f["key"], "text": text})
        else:
            sts = list(stations) or list(dict.fromkeys(registry.assets[a].station
                                                       for a in assets))
            if kind.scope == "tariff":
                pairs = [(registry.stations[s].get("tariff"), s) for s in sts]
                pairs += [(t, None) for t in tariffs if t not in [p[0] for p in pairs]]
                rates = not any(k.scope == "tariff" and k.key != "tariff" for k in kinds)
                for tname, s in pairs:
                    for f in _tariff_facts(registry, kind, tname, s, rates, times):
                        if not any(g["key"] == f["key"] and g.get("subject") == (s or tname)
                                   for g in facts):      # a rate asked and in its tariff
                            facts.append({"name": kind.label, "label": kind.label,
                                          "subject": s or tname, "tariff": tname, **f})
                continue
            for s in sts:
                value = registry.stations[s].get(kind.path)
                if kind.key == "station_pumps":
                    pumps = [a.id for a in registry.station_assets(s) if a.kind == "pump"]
                    facts.append({"name": kind.label, "key_name": f"stations.{s}.assets (pumps)",
                                  "label": kind.label, "subject": s, "value": len(pumps),
                                  "unit": "", "key": _ref(registry, "stations", s, "assets"),
                                  "text": f"{s} has {len(pumps)} pumps: {', '.join(pumps)}"})
                    continue
                if value is None:
                    missing.append(f"{s} has no {kind.label} in the registry")
                    continue
                facts.append({"name": kind.label, "key_name": kind.path, "label": kind.label,
                              "subject": s, "value": value, "unit": kind.unit,
                              "key": _ref(registry, "stations", s, kind.path),
                              "text": f"{s} {kind.label}: {value} {kind.unit}".strip()})
    return facts, missing
