"""Definitions down to raw signals: a feature's formula, inputs and unit, traced to the lake.

"How's specific energy worked out", "which raw signals end up in wire-to-water
efficiency": the answer comes from the feature definition itself (its expression,
condition, inputs and unit, cited by file and key), with every input that is another
feature expanded in turn until only raw signals and registry attributes remain, and —
when a lake is given — the lineage graph (:func:`pumplib.lineage.upstream`) naming the
build and the source files those signals were ingested from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: how questions ask for a definition (the feature is found separately)
_ASKS = re.compile(
    r"\b(?:how(?:'s| is| are| do you| does \w+| do we)?\s+(?:\w+\s+){0,9}?(?:worked out|work out|"
    r"computed?|calculated?|defined|derived|measured|determined|made|obtained|got|corrected|"
    r"adjusted|normali[sz]ed|scaled|converted|weighted|accounted for|handled|treated|"
    r"averaged|aggregated|rolled up|summed|integrated|counted|detected|estimated)|"
    r"formula|expression|definition|define|defined|what goes into|goes into|go into|end up in|"
    r"feed into|feeds|inputs?|raw signals?|signals?\s+(?:does|do|are|is)|depends? on|"
    r"made from|made of|built from|come from|comes from|traced?|lineage|source files?|"
    r"what does \w+(?:\s+\w+){0,3}\s+(?:count|measure|mean)|what is meant by|meaning of|"
    r"unit of|units of|what units?|(?:which|what) features?|counts? as|what counts|"
    r"how do (?:you|we|i|they) (?:get|find|arrive at|compute|calculate)|get \w+(?: \w+)? from|"
    r"sensors?|measurements?|feed(?:s|ing)?|fed (?:by|from|into)|based on|uses?|used for|"
    r"calculations?|made up of|consists? of|which data|what data|derived?|derivation|"
    r"recipe|equation|maths?|methodology)")
#: weaker: "what is X" asks for a definition only when X names no registry fact
_WEAK = re.compile(r"\b(?:what(?:'s| is| are)|explain|describe|meaning)\b")
#: features users name in their own words beyond the metric synonyms
ALIASES = {"bep flow ratio": "bep_flow_ratio", "flow ratio": "bep_flow_ratio",
           "bep ratio": "bep_flow_ratio", "ratio to bep": "bep_flow_ratio",
           "specific energy vs floor": "specific_energy_vs_floor",
           "specific energy versus floor": "specific_energy_vs_floor",
           "energy floor": "specific_energy_vs_floor",
           "pumping head": "head", "total head": "head", "differential head": "head"}


def asks_definition(question: str, weak: bool = True) -> bool:
    """Whether the words of ``question`` ask how something is defined or made (``weak``:
    also "what is …", "explain …")."""
    q = question.lower()
    return bool(_ASKS.search(q) or (weak and _WEAK.search(q)))


def names_feature(question: str, metric=None) -> bool:
    """Whether ``question`` names a feature of the configured catalog (by name, alias or the
    metric the parser found): asked about with no pump, station or period, it asks what
    the feature is."""
    from ..errors import PumplibError
    from ..features.definitions import load_catalog

    try:
        catalog = load_catalog()
    except PumplibError:
        return False
    return find_feature(question, catalog, metric) is not None


def find_feature(question: str, catalog, metric=None) -> str | None:
    """The feature of the catalog that ``question`` names: its name (``wire_to_water_efficiency``,
    or with spaces), an alias, or the feature of the metric the parser found."""
    q = question.lower()
    best: tuple[int, str] | None = None
    for name in catalog:
        for form in {name, name.replace("_", " "), name.replace("_", "-")}:
            if re.search(rf"(?<![\w-]){re.escape(form)}(?![\w-])", q) and (
                    best is None or len(form) > best[0]):
                best = (len(form), name)
    for alias, name in ALIASES.items():
        if name in catalog and re.search(rf"\b{re.escape(alias)}\b", q) and (
                best is None or len(alias) > best[0]):
            best = (len(alias), name)
    if metric is not None and metric.feature in catalog and (
            best is None or len(metric.label) >= best[0]):
        return metric.feature
    return best[1] if best else None


@dataclass
class Trace:
    """A feature traced down to raw signals."""

    feature: str
    formula: str
    condition: str | None
    unit: str
    description: str
    inputs: list[str]                       # the definition's own inputs
    raw: list[str]                          # raw signals at the bottom
    attributes: list[str]                   # registry attributes used (curve.bep_flow …)
    steps: list[tuple[str, str, list[str]]] = field(default_factory=list)  # feature, expr, inputs
    source: str = ""
    version: int | None = None
    hash: str = ""
    files: list[str] = field(default_factory=list)
    build: str | None = None


_ATTR = re.compile(r"\b(rated|curve|motor|tank|tariff)\.([a-z_]+)\b")


def trace(feature: str, catalog) -> Trace:
    """Expand ``feature`` through the catalog's definitions down to raw signals."""
    d = catalog[feature]
    raw: list[str] = []
    attrs: list[str] = []
    steps: list[tuple[str, str, list[str]]] = []
    todo, seen = [feature], set()
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        dd = catalog[name]
        steps.append((name, dd.expression + (f" (where {dd.condition})" if dd.condition else ""),
                      list(dd.inputs)))
        for text in (dd.expression, dd.condition or ""):
            attrs += [m.group(0) for m in _ATTR.finditer(text) if m.group(0) not in attrs]
        for inp in dd.inputs:
            if inp in catalog:
                todo.append(inp)
            elif "." in inp:
                if inp not in attrs:
                    attrs.append(inp)
            elif inp not in raw:
                raw.append(inp)
    return Trace(feature, d.expression, d.condition, d.unit, " ".join(d.description.split()),
                 list(d.inputs), raw, attrs, steps, source=d.source, version=d.version,
                 hash=d.hash)


def with_lineage(t: Trace, store) -> Trace:
    """Add the last build and its source files from the lake's lineage graph (no change
    when the lake holds no build of the feature)."""
    from ..errors import PumplibError
    from ..lineage import upstream

    try:
        lg = upstream(t.feature, store=store)
    except (PumplibError, OSError, KeyError):
        return t
    files = lg.files()
    if len(files):
        t.files = sorted({str(p) for p in files["path"]})
    t.build = lg.title.rsplit("build ", 1)[-1].rstrip(")") if "build " in lg.title else None
    return t


def describe(t: Trace, registry=None) -> str:
    """The definition as text: formula, unit, inputs, each derived input expanded, the raw
    signals (with their canonical units), registry attributes and source files."""
    from .. import signals

    lines = [f"{t.feature} = {t.formula}" + (f", counted only where {t.condition}"
                                             if t.condition else "")
             + f"; unit {t.unit}. {t.description}".rstrip(), f"Inputs: {', '.join(t.inputs)}."]
    for name, expr, inputs in t.steps[1:]:
        lines.append(f"  {name} = {expr} (inputs {', '.join(inputs)})")

    def unit(s: str) -> str:
        try:
            return signals.get(s).unit
        except Exception:  # noqa: BLE001 - a signal without a declared unit
            return ""
    lines.append("Raw signals: " + ", ".join(f"{s} [{unit(s)}]" if unit(s) else s
                                             for s in t.raw) + ".")
    if t.attributes:
        lines.append("Registry attributes per asset: " + ", ".join(t.attributes) + ".")
    if t.files:
        lines.append(f"Source files (lineage of build {t.build}): " + ", ".join(t.files) + ".")
    return "\n".join(lines)


def relative_source(path: str) -> str:
    """A definition file as the index cites it (``catalogs/features/energy.yaml``)."""
    from pathlib import Path

    p = Path(path)
    return f"{p.parent.parent.name}/{p.parent.name}/{p.name}" if p.parent.name else p.name


def feature_ref(feature: str) -> tuple[str, str] | None:
    """``(file, description)`` of a feature of the configured catalog; None when it has none."""
    from ..errors import PumplibError
    from ..features.definitions import load_catalog

    try:
        d = load_catalog().get(feature)
    except PumplibError:
        return None
    if d is None:
        return None
    desc = " ".join(d.description.split()) or d.expression
    return relative_source(d.source), f"{desc} ({d.expression}; unit {d.unit})"
