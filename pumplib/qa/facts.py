"""Registry facts answered as data: rated values, BEP, curves, motors, tanks, tariffs and rates.

A question that names a registry fact ("rated power and BEP flow of south pump 2",
"what tariff is north on and what's the peak rate per kwh") is answered from the asset
registry itself, not from passages retrieved about it: each fact is a number (or a
name) with its unit and a citation of the registry file and key
(``catalogs/assets.yaml#stations.SOUTH.assets.S-P2.curve.bep_flow``).

:func:`find_facts` gives the fact kinds a question asks for; :func:`answer_facts`
resolves them for the pumps, stations and tariffs it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FactKind:
    """A kind of registry fact: what it is called, where it lives, how questions say it."""

    key: str
    label: str
    scope: str            # "asset", "station" or "tariff"
    path: str             # registry key under the asset/station ("rated.power"), or a
    #                       tariff period name ("peak"), "" for computed facts
    unit: str
    phrases: tuple[str, ...]   # regular expressions (lower case, word-bounded when used)


_BEP = r"(?:bep|best[ -]efficiency[ -]point|best efficiency)"
_AT_BEP = rf"(?:at|of)\s+(?:the\s+|its\s+|their\s+)?{_BEP}"
FACTS: tuple[FactKind, ...] = (
    FactKind("motor_rated_power", "motor rated power", "asset", "motor.rated_power", "kW",
             (r"motor(?:'s)?\s+(?:rated\s+)?power", r"motor\s+size", r"rated\s+motor\s+power")),
    FactKind("rated_power", "rated power", "asset", "rated.power", "kW",
             (r"rated\s+power", r"nameplate\s+power", r"rated\s+kw", r"power\s+rating")),
    FactKind("rated_flow", "rated flow", "asset", "rated.flow", "m³/h",
             (r"rated\s+flow", r"design\s+flow", r"nominal\s+flow")),
    FactKind("rated_head", "rated head", "asset", "rated.head", "m",
             (r"rated\s+head", r"design\s+head", r"nominal\s+head")),
    FactKind("rated_speed", "rated speed", "asset", "rated.speed", "rpm",
             (r"rated\s+speed", r"nominal\s+speed", r"rated\s+rpm")),
    FactKind("rated_efficiency", "rated efficiency", "asset", "rated.efficiency", "1",
             (r"rated\s+efficiency", r"nominal\s+efficiency")),
    FactKind("bep_flow", "BEP flow", "asset", "curve.bep_flow", "m³/h",
             (rf"{_BEP}\s+flow", rf"flow\s+{_AT_BEP}")),
    FactKind("bep_head", "BEP head", "asset", "", "m",
             (rf"{_BEP}\s+head", rf"head\s+{_AT_BEP}")),
    FactKind("bep_efficiency", "BEP efficiency", "asset", "curve.bep_efficiency", "1",
             (rf"{_BEP}\s+efficiency", rf"efficiency\s+{_AT_BEP}", r"peak\s+efficiency")),
    FactKind("shutoff_head", "shut-off head", "asset", "curve.shutoff_head", "m",
             (r"shut[- ]?off\s+head", r"shut[- ]?off", r"zero[- ]flow\s+head")),
    FactKind("motor_efficiency", "motor efficiency", "asset", "motor.efficiency", "1",
             (r"motor(?:'s)?\s+efficiency",)),
    FactKind("motor_voltage", "motor voltage", "asset", "motor.voltage", "V",
             (r"voltage",)),
    FactKind("power_factor", "power factor", "asset", "motor.power_factor", "1",
             (r"power\s+factor", r"cos\s*phi")),
    FactKind("pump_type", "pump type", "asset", "pump_type", "",
             (r"pump\s+type", r"type\s+of\s+pump", r"variable[- ]speed", r"fixed[- ]speed",
              r"\bvfd\b", r"speed[- ]controlled")),
    FactKind("tank_area", "tank area", "asset", "tank.area", "m²",
             (r"(?:tank|reservoir)(?:'s)?\s+area", r"surface\s+area", r"\barea\b")),
    FactKind("tank_max_level", "maximum level", "asset", "tank.max_level", "m",
             (r"max(?:imum)?\s+level", r"top\s+level", r"overflow\s+level")),
    FactKind("tank_min_level", "minimum level", "asset", "tank.min_level", "m",
             (r"min(?:imum)?\s+level", r"bottom\s+level")),
    FactKind("static_head", "static head", "station", "static_head", "m",
             (r"static\s+head", r"geodetic\s+head", r"static\s+lift")),
    FactKind("control", "control mode", "station", "control", "",
             (r"control\s+mode", r"controlled\s+by", r"how\s+is\s+\w+\s+controlled")),
    FactKind("peak_rate", "peak rate", "tariff", "peak", "/kWh",
             (r"(?<!off[- ])(?<!off)peak\s+(?:rate|price|tariff|hours?|period)s?",
              r"on[- ]peak", r"peak\s+(?:energy\s+)?(?:rate|price)")),
    FactKind("shoulder_rate", "shoulder rate", "tariff", "shoulder", "/kWh",
             (r"shoulder(?:\s+(?:rate|price|hours?|period)s?)?",)),
    FactKind("weekend_rate", "weekend rate", "tariff", "weekend", "/kWh",
             (r"weekend\s+(?:rate|price|tariff)s?",)),
    FactKind("offpeak_rate", "off-peak rate", "tariff", "default", "/kWh",
             (r"off[- ]?peak(?:\s+(?:rate|price|hours?|period)s?)?", r"night\s+(?:rate|price)",
              r"default\s+(?:rate|price)", r"base\s+(?:rate|price)", r"cheapest\s+rate")),
    FactKind("tariff", "tariff", "tariff", "", "",
             (r"tariffs?", r"rates?\s+per\s+kwh", r"(?:power|electricity|energy)\s+prices?",
              r"prices?\s+per\s+kwh", r"price\s+schedule")),
    FactKind("curve", "pump curve", "asset", "curve", "",
             (r"(?:pump|head|efficiency|performance)\s+curves?", r"\bcurves?\b")),
)
_BY_KEY = {f.key: f for f in FACTS}


def find_facts(question: str) -> list[FactKind]:
    """The registry fact kinds ``question`` asks for, in the order it names them (a phrase
    inside a longer one that matched is not counted twice)."""
    q = question.lower()
    found: list[tuple[int, FactKind]] = []
    taken: list[tuple[int, int]] = []
    for f in sorted(FACTS, key=lambda f: -max(len(p) for p in f.phrases)):
        for p in f.phrases:
            for m in re.finditer(rf"(?<![\w-]){p}(?![\w])", q):
                if any(a < m.end() and m.start() < b for a, b in taken):
                    continue
                taken.append((m.start(), m.end()))
                if f not in [g for _, g in found]:
                    found.append((m.start(), f))
    keys = [f for _, f in sorted(found, key=lambda t: t[0])]
    if _BY_KEY["curve"] in keys:      # a curve is its BEP and shut-off head
        i = keys.index(_BY_KEY["curve"])
        keys[i:i + 1] = [_BY_KEY[k] for k in ("shutoff_head", "bep_flow", "bep_head",
                                              "bep_efficiency") if _BY_KEY[k] not in keys]
    return keys


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
                "how": "head curve at the BEP flow: H = H0 − k·Q², k = (H0 − rated head) / "
                       "rated flow² (curve.shutoff_head, rated.head, rated.flow, curve.bep_flow)"}
    if kind.path == "pump_type":
        return None if asset.pump_type is None else {
            "value": asset.pump_type, "key": _ref(registry, *base, "pump_type")}
    block, _, name = kind.path.partition(".")
    value = getattr(asset, block, {}).get(name)
    if value is None:
        return None
    return {"value": value, "key": _ref(registry, *base, block, name)}


def _tariff_facts(registry, kind: FactKind, tname: str, station: str | None) -> list[dict]:
    if tname is None or tname not in registry.tariffs:
        return []
    t = registry.tariffs[tname]
    unit = f"{t.currency}/kWh"
    if kind.key == "tariff":
        key = _ref(registry, "stations", station, "tariff") if station else \
            _ref(registry, "tariffs", tname)
        return [{"key_name": "tariff", "value": tname, "unit": "", "key": key,
                 "text": (f"{station} is on tariff {tname}" if station else f"tariff {tname}")
                 + f" ({t.currency}): " + _tariff_text(t)}]
    if kind.path == "default":
        return [{"key_name": kind.key, "value": t.default_price, "unit": unit,
                 "key": _ref(registry, "tariffs", tname, "default_price"),
                 "text": f"{kind.label} of {tname} (every time outside its periods): "
                         f"{t.default_price} {unit}"}]
    out = []
    periods = [(i, p) for i, p in enumerate(t.periods) if p.get("name") == kind.path]
    prices = sorted({float(p["price"]) for _, p in periods})
    for price in prices:
        when = "; ".join(f"{p['start']}–{p['end']} {','.join(p.get('days', []))}"
                         for _, p in periods if float(p["price"]) == price)
        i = next(i for i, p in periods if float(p["price"]) == price)
        out.append({"key_name": kind.key, "value": price, "unit": unit,
                    "key": _ref(registry, "tariffs", tname, "periods", str(i), "price"),
                    "text": f"{kind.label} of {tname}: {price} {unit} ({when})"})
    return out


def _tariff_text(t) -> str:
    parts = [f"{p['name']} {p['price']} {t.currency}/kWh {p['start']}–{p['end']} "
             f"{','.join(p.get('days', []))}" for p in t.periods]
    return "; ".join(parts) + f"; otherwise {t.default_price} {t.currency}/kWh"


def named_tariffs(question: str, registry) -> list[str]:
    """The tariffs a question names by their registry name (``tou_standard``)."""
    q = question.lower()
    return [t for t in registry.tariffs
            if re.search(rf"(?<![\w-]){re.escape(t.lower())}(?![\w-])", q)]


def answer_facts(kinds, assets, stations, registry, tariffs=()) -> tuple[list[dict], list[str]]:
    """The registry facts ``kinds`` for the named assets and stations.

    Returns
    -------
    facts : list of dict
        ``{name, key_name, label, subject, value, unit, key, text}``: ``name`` is the
        fact's label ("rated power"), ``subject`` the asset, station or tariff,
        ``key`` the registry file and key it was read from.
    missing : list of str
        What was asked but is not in the registry (a pump without a curve, a fact
        asked of a station).
    """
    facts: list[dict] = []
    missing: list[str] = []
    for kind in kinds:
        if kind.scope == "asset":
            targets = [registry.assets[a] for a in assets] or [
                a for s in stations for a in registry.station_assets(s)
                if getattr(a, kind.path.partition(".")[0], None) or kind.key == "bep_head"]
            for a in targets:
                f = _asset_fact(registry, kind, a)
                if f is None:
                    missing.append(f"{a.id} has no {kind.label} in the registry")
                    continue
                shown = f"{f['value']} {kind.unit}".strip()
                text = f"{a.id} {kind.label}: {shown}" + (f" ({f['how']})" if "how" in f else "")
                facts.append({"name": kind.label, "key_name": kind.key, "label": kind.label,
                              "subject": a.id, "value": f["value"], "unit": kind.unit,
                              "key": f["key"], "text": text})
        else:
            sts = list(stations) or list(dict.fromkeys(registry.assets[a].station
                                                       for a in assets))
            if kind.scope == "tariff":
                pairs = [(registry.stations[s].get("tariff"), s) for s in sts]
                pairs += [(t, None) for t in tariffs if t not in [p[0] for p in pairs]]
                for tname, s in pairs:
                    for f in _tariff_facts(registry, kind, tname, s):
                        facts.append({"name": kind.label, "label": kind.label,
                                      "subject": s or tname, "tariff": tname, **f})
                continue
            for s in sts:
                value = registry.stations[s].get(kind.path)
                if value is None:
                    missing.append(f"{s} has no {kind.label} in the registry")
                    continue
                facts.append({"name": kind.label, "key_name": kind.key, "label": kind.label,
                              "subject": s, "value": value, "unit": kind.unit,
                              "key": _ref(registry, "stations", s, kind.path),
                              "text": f"{s} {kind.label}: {value} {kind.unit}".strip()})
    return facts, missing

