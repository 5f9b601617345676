"""Feature definitions: YAML files in ``catalogs/features/``, validated before any compute.

A file holds one definition (a mapping with ``name``) or several (``features:
[...]``). Fields::

    name: specific_energy              # identifier, unique, not a signal name
    version: 1                         # bumped by the owner; recorded, not hashed
    owner: energy-team
    description: Electrical energy per pumped volume
    unit: kWh/m3                       # unit of the expression's value (pint)
    inputs: [power, flow]              # canonical signals or other features
    expression: power / flow           # safe expression (pumplib.features.expr)
    condition: run_state > 0.5         # optional: only samples where it holds
    interpolation: linear              # optional: linear | step (default from inputs)
    aggregations: [mean, min, max]     # at every level, or per level:
    #   aggregations: {1h: [mean], 1D: [mean, median]}
    levels: [1h, 1D, 1W, 1M]           # optional (default: the `levels` setting)
    min_coverage: 0.8                  # values with less coverage are masked
    tags: [energy]

Names the expression or condition use must be declared in ``inputs``; asset
attributes (``rated.flow``, ``curve.bep_flow``, ``tariff.price`` …, see
:data:`pumplib.features.expr.ATTRIBUTES`) need not be.

Every problem is a :class:`~pumplib.errors.SchemaError` naming the file and
key: unknown keys, inputs, functions, aggregations or levels (with close
matches and the valid choices), unsafe syntax, unit mismatches against the
declared unit, dependency cycles between features.

The definition hash covers the meaning (unit, inputs, expression, condition,
interpolation, aggregations and the hashes of the features it depends on),
not the description, owner, tags or version.

Examples
--------
>>> cat = catalog_from_dicts([{
...     "name": "specific_energy", "version": 1, "unit": "kWh/m3", "inputs": ["power", "flow"],
...     "expression": "power / flow", "condition": "run_state > 0.5",
...     "aggregations": ["mean"]}])
Traceback (most recent call last):
...
pumplib.errors.SchemaError: <dict>[0]: key 'condition': name 'run_state' is used but not \
listed in inputs ['power', 'flow']. Add it to inputs.
>>> cat = catalog_from_dicts([{
...     "name": "specific_energy", "version": 1, "unit": "kWh/m3",
...     "inputs": ["power", "flow", "run_state"], "expression": "power / flow",
...     "condition": "run_state > 0.5", "aggregations": ["mean"]}])
>>> cat["specific_energy"].levels
('1min', '15min', '1h', '1D', '1W', '1M')
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .. import config as _config
from .. import signals as _signals
from ..errors import SchemaError, UnitError, UnknownNameError, choices_message
from . import aggregations as _agg
from .expr import ATTRIBUTES, FUNCTIONS, Compiled, compile_expression, parse, unit_of

#: where the definitions live by default (relative to the working directory); the
#: ``features.catalog`` setting overrides it
DEFAULT_DIR = Path("catalogs") / "features"
#: the coarsest level at which non-mergeable aggregations (median, quantiles) are
#: computed from raw samples; the ``features.raw_only_max_level`` setting overrides it
RAW_ONLY_MAX_LEVEL = "1D"


def default_dir() -> Path:
    """The ``features.catalog`` setting (default ``catalogs/features``)."""
    return Path(_config.get("features.catalog", str(DEFAULT_DIR)))


def raw_only_max_level() -> str:
    """The ``features.raw_only_max_level`` setting (default ``1D``), checked."""
    lv = str(_config.get("features.raw_only_max_level", RAW_ONLY_MAX_LEVEL))
    if lv not in _agg.LEVELS:
        raise UnknownNameError(choices_message("features.raw_only_max_level", lv,
                                               _agg.LEVELS))
    return lv
DEFAULT_MIN_COVERAGE = 0.0

_KEYS = {"name", "version", "owner", "description", "unit", "inputs", "expression", "condition",
         "interpolation", "aggregations", "levels", "min_coverage", "tags"}
_REQUIRED = ("name", "version", "unit", "inputs", "expression", "aggregations")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class FeatureDefinition:
    """One validated feature definition."""

    name: str
    version: int
    unit: str
    inputs: tuple[str, ...]
    expression: str
    aggregations: Mapping[str, tuple[str, ...]]
    levels: tuple[str, ...]
    source: str
    key: str
    condition: str | None = None
    interpolation: str = "linear"
    min_coverage: float = DEFAULT_MIN_COVERAGE
    owner: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    hash: str = ""
    compiled: Compiled | None = field(default=None, compare=False, repr=False)
    compiled_condition: Compiled | None = field(default=None, compare=False, repr=False)

    def feature_inputs(self, catalog: Mapping[str, FeatureDefinition]) -> list[str]:
        """Inputs that are other features of ``catalog``."""
        return [i for i in self.inputs if i in catalog]


class FeatureCatalog(Mapping[str, FeatureDefinition]):
    """Validated definitions by name, iterated in dependency order (inputs first)."""

    def __init__(self, defs: Sequence[FeatureDefinition]):
        self._defs = {d.name: d for d in defs}

    def __getitem__(self, name: str) -> FeatureDefinition:
        try:
            return self._defs[name]
        except KeyError:
            raise UnknownNameError(choices_message("feature", name, self._defs)) from None

    def __contains__(self, name: object) -> bool:   # a miss is no error (no close matches)
        return name in self._defs

    def __iter__(self) -> Iterator[str]:
        return iter(self._defs)

    def __len__(self) -> int:
        return len(self._defs)

    def __repr__(self) -> str:
        return f"FeatureCatalog({list(self._defs)})"

    def closure(self, names: Iterable[str]) -> list[str]:
        """``names`` and every feature they depend on, in dependency order."""
        want: set[str] = set()
        todo = [self[n].name for n in names]
        while todo:
            n = todo.pop()
            if n not in want:
                want.add(n)
                todo.extend(self._defs[n].feature_inputs(self._defs))
        return [n for n in self._defs if n in want]

    def hashes(self) -> dict[str, str]:
        return {n: d.hash for n, d in self._defs.items()}


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------
def load_catalog(paths: str | Path | Sequence[str | Path] | None = None) -> FeatureCatalog:
    """Load and validate definitions from YAML files or folders (default ``catalogs/features``).

    Examples
    --------
    >>> import pumplib.features.definitions as d
    >>> cat = d.load_catalog(d.builtin_dir())
    >>> "specific_energy" in cat and cat["specific_energy"].unit
    'kWh/m3'
    """
    if paths is None:
        paths = [default_dir() if default_dir().is_dir() else builtin_dir()]
    elif isinstance(paths, str | Path):
        paths = [paths]
    specs: list[tuple[str, str, Any]] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files = sorted(list(p.glob("*.yaml")) + list(p.glob("*.yml")))
            if not files:
                raise SchemaError(f"{p}: no feature definitions (*.yaml) in this folder; give "
                                  "the folder of the feature YAML files (catalogs/features)")
        elif p.is_file():
            files = [p]
        else:
            raise SchemaError(f"{p}: no such feature definition file or folder")
        for f in files:
            try:
                doc = yaml.safe_load(f.read_text())
            except yaml.YAMLError as exc:
                raise SchemaError(f"{f}: not valid YAML: {exc}") from None
            specs.extend(_split(doc, str(f)))
    return _validate_all(specs)


def builtin_dir() -> Path:
    """The folder of the built-in definitions shipped with the repository."""
    return Path(__file__).resolve().parents[2] / "catalogs" / "features"


def catalog_from_dicts(specs: Sequence[Mapping], source: str = "<dict>") -> FeatureCatalog:
    """Validate definitions given as mappings (tests, notebooks)."""
    return _validate_all([(f"{source}[{i}]", "", dict(s)) for i, s in enumerate(specs)])


def _split(doc: Any, source: str) -> list[tuple[str, str, Any]]:
    if isinstance(doc, Mapping) and "features" in doc and "name" not in doc:
        extra = set(doc) - {"features", "description"}
        if extra:
            raise SchemaError(f"{source}: key {sorted(extra)[0]!r}: "
                              + choices_message("key", sorted(extra)[0], ["features",
                                                                          "description"]))
        items = doc["features"]
        if not isinstance(items, list):
            raise SchemaError(f"{source}: key 'features': expected a list of definitions")
        return [(source, f"features[{i}].", s) for i, s in enumerate(items)]
    return [(source, "", doc)]


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def _fail(source: str, key: str, msg: str):
    raise SchemaError(f"{source}: key {key!r}: {msg}")


def _str_list(source, key, value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        _fail(source, key, f"expected a list of strings, got {value!r}")
    return tuple(value)


def _shape(source: str, prefix: str, spec: Any) -> dict:
    """Check keys and types of one definition; return normalised fields."""
    from .. import config

    if not isinstance(spec, Mapping):
        _fail(source, prefix.rstrip(".") or "<top>",
              f"expected a mapping (a feature definition), got {type(spec).__name__}")
    for k in spec:
        if k not in _KEYS:
            _fail(source, prefix + str(k), choices_message("key", k, _KEYS))
    for k in _REQUIRED:
        if k not in spec or spec[k] is None:
            _fail(source, prefix + k, "is required")
    name = spec["name"]
    if not isinstance(name, str) or not _NAME_RE.match(name):
        _fail(source, prefix + "name", f"{name!r} is not a lower-case identifier "
                                       "(letters, digits, underscores)")
    if name in _signals.signals():
        _fail(source, prefix + "name", f"{name!r} is a canonical signal; choose another name")
    if name in FUNCTIONS or name in {a.split(".")[0] for a in ATTRIBUTES}:
        _fail(source, prefix + "name", f"{name!r} is a function or attribute namespace of the "
                                       "expression language; choose another name")
    if not isinstance(spec["version"], int) or isinstance(spec["version"], bool):
        _fail(source, prefix + "version", f"expected an integer, got {spec['version']!r}")
    try:
        unit_of(str(spec["unit"]))
    except UnitError as exc:
        _fail(source, prefix + "unit", str(exc).split(". Known")[0])
    inputs = _str_list(source, prefix + "inputs", spec["inputs"])
    interp = spec.get("interpolation")
    if interp is not None and interp not in ("linear", "step"):
        _fail(source, prefix + "interpolation",
              choices_message("interpolation", interp, ("linear", "step")))
    levels_default = tuple(config.get("levels"))
    aggs = spec["aggregations"]
    if "levels" in spec:
        levels = _str_list(source, prefix + "levels", spec["levels"])
        for lv in levels:
            if lv not in _agg.LEVELS:
                _fail(source, prefix + "levels", choices_message("level", lv, _agg.LEVELS))
    elif isinstance(aggs, Mapping):
        levels = tuple(lv for lv in _agg.LEVELS if lv in aggs)
    else:
        levels = levels_default
    if isinstance(aggs, Mapping):
        per = {}
        for lv, names in aggs.items():
            if lv not in _agg.LEVELS:
                _fail(source, f"{prefix}aggregations.{lv}", choices_message("level", lv,
                                                                            _agg.LEVELS))
            if lv not in levels:
                _fail(source, f"{prefix}aggregations.{lv}",
                      f"level {lv!r} is not among levels {list(levels)}")
            per[lv] = _str_list(source, f"{prefix}aggregations.{lv}", names)
        missing = [lv for lv in levels if lv not in per]
        if missing:
            _fail(source, prefix + "aggregations", f"no aggregations for levels {missing}")
    else:
        names = _str_list(source, prefix + "aggregations", aggs)
        per = {lv: names for lv in levels}
    cov = spec.get("min_coverage", DEFAULT_MIN_COVERAGE)
    if not isinstance(cov, int | float) or isinstance(cov, bool) or not 0.0 <= cov <= 1.0:
        _fail(source, prefix + "min_coverage", f"expected a number in [0, 1], got {cov!r}")
    for k in ("owner", "description"):
        if k in spec and not isinstance(spec[k], str):
            _fail(source, prefix + k, f"expected a string, got {spec[k]!r}")
    for k in ("expression", "condition"):
        if k in spec and spec[k] is not None and not isinstance(spec[k], str | int | float):
            _fail(source, prefix + k, f"expected an expression string, got {spec[k]!r}")
    return {
        "name": name, "version": spec["version"], "unit": str(spec["unit"]), "inputs": inputs,
        "expression": str(spec["expression"]),
        "condition": None if spec.get("condition") is None else str(spec["condition"]),
        "interpolation": interp, "aggregations": per, "levels": levels,
        "per_level": isinstance(aggs, Mapping),
        "min_coverage": float(cov), "owner": spec.get("owner", ""),
        "description": spec.get("description", ""),
        "tags": _str_list(source, prefix + "tags", spec.get("tags", [])),
    }


def _validate_all(specs: Sequence[tuple[str, str, Any]]) -> FeatureCatalog:
    shaped: dict[str, tuple[str, str, dict]] = {}
    for source, prefix, spec in specs:
        s = _shape(source, prefix, spec)
        if s["name"] in shaped:
            other = shaped[s["name"]][0]
            _fail(source, prefix + "name", f"feature {s['name']!r} is also defined in {other}")
        shaped[s["name"]] = (source, prefix, s)
    sigs = _signals.signals()
    # inputs: signals or features
    for name, (source, prefix, s) in shaped.items():
        for i, inp in enumerate(s["inputs"]):
            if inp == name:
                _fail(source, f"{prefix}inputs[{i}]", f"feature {name!r} cannot use itself")
            if inp not in sigs and inp not in shaped and inp not in ATTRIBUTES:
                _fail(source, f"{prefix}inputs[{i}]",
                      choices_message("input", inp, [*sigs, *shaped]))
    order = _topological(shaped)
    defs: dict[str, FeatureDefinition] = {}
    for name in order:
        source, prefix, s = shaped[name]
        units = {}
        for inp in s["inputs"]:
            units[inp] = sigs[inp].unit if inp in sigs else (
                shaped[inp][2]["unit"] if inp in shaped else ATTRIBUTES[inp])
        compiled = _compile(s, "expression", units, source, prefix)
        compiled.factor_to(s["unit"])
        cond = None
        if s["condition"] is not None:
            cond = _compile(s, "condition", units, source, prefix)
            if cond.unit_text != "1":
                _fail(source, prefix + "condition", f"{s['condition']!r} has the unit "
                                                    f"{cond.unit_text!r}; a condition must be "
                                                    "a truth value (e.g. run_state > 0.5)")
        interp = s["interpolation"] or _default_interpolation(s["inputs"], defs)
        for lv, names in s["aggregations"].items():
            for j, a in enumerate(names):
                key = f"{prefix}aggregations" + (f".{lv}" if s["per_level"] else "")
                try:
                    agg = _agg.get_aggregation(a, interp)
                except UnknownNameError as exc:
                    _fail(source, f"{key}[{j}]", str(exc))
                if not agg.mergeable and _agg.LEVELS.index(lv) > \
                        _agg.LEVELS.index(raw_only_max_level()):
                    _fail(source, f"{key}[{j}]",
                          f"{a!r} is not mergeable and is computed from raw samples only up to "
                          f"level {raw_only_max_level()!r} (setting "
                          f"features.raw_only_max_level); drop it at level {lv!r}")
        d = FeatureDefinition(
            name=name, version=s["version"], unit=s["unit"], inputs=s["inputs"],
            expression=s["expression"], aggregations=s["aggregations"], levels=s["levels"],
            source=source, key=prefix, condition=s["condition"], interpolation=interp,
            min_coverage=s["min_coverage"], owner=s["owner"], description=s["description"],
            tags=s["tags"], compiled=compiled, compiled_condition=cond)
        defs[name] = _with_hash(d, defs)
    return FeatureCatalog([defs[n] for n in order])


def _compile(s: dict, which: str, units: dict, source: str, prefix: str) -> Compiled:
    for n in sorted(parse(s[which], source, prefix + which).names):
        if n not in s["inputs"] and n not in ATTRIBUTES:
            _fail(source, prefix + which, f"name {n!r} is used but not listed in inputs "
                                          f"{list(s['inputs'])}. Add it to inputs.")
    return compile_expression(s[which], units, source, prefix + which)


def _default_interpolation(inputs: Sequence[str], defs: Mapping[str, FeatureDefinition]) -> str:
    """``step`` when every data input holds its value (state signals), else ``linear``."""
    sigs = _signals.signals()
    kinds = []
    for i in inputs:
        if i in sigs:
            kinds.append(sigs[i].interpolation)
        elif i in defs:
            kinds.append(defs[i].interpolation)
    return "step" if kinds and all(k == "step" for k in kinds) else "linear"


def _topological(shaped: Mapping[str, tuple[str, str, dict]]) -> list[str]:
    """Features in dependency order; a cycle is an error naming the file and the cycle."""
    state: dict[str, int] = {}
    order: list[str] = []

    def visit(n: str, path: list[str]):
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = path[path.index(n):] + [n]
            source, prefix, _ = shaped[n]
            _fail(source, prefix + "inputs", "dependency cycle between features: "
                                             + " -> ".join(cycle))
        state[n] = 1
        for inp in shaped[n][2]["inputs"]:
            if inp in shaped:
                visit(inp, path + [n])
        state[n] = 2
        order.append(n)

    for n in shaped:
        visit(n, [])
    return order


def definition_hash(d: FeatureDefinition, upstream: Mapping[str, str] | None = None) -> str:
    """A stable hash of what a definition means (not of its description or version).

    Whitespace and redundant parentheses in expressions do not change it; the
    hashes of the features it depends on do.
    """
    meaning = {
        "unit": str(unit_of(d.unit)),
        "inputs": sorted(d.inputs),
        "expression": d.compiled.parsed.canonical if d.compiled else d.expression,
        "condition": (d.compiled_condition.parsed.canonical if d.compiled_condition
                      else d.condition),
        "interpolation": d.interpolation,
        "aggregations": {lv: list(v) for lv, v in sorted(d.aggregations.items())},
        "upstream": dict(sorted((upstream or {}).items())),
    }
    blob = json.dumps(meaning, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _with_hash(d: FeatureDefinition, defs: Mapping[str, FeatureDefinition]) -> FeatureDefinition:
    from dataclasses import replace

    upstream = {i: defs[i].hash for i in d.inputs if i in defs}
    return replace(d, hash=definition_hash(d, upstream))


# ---------------------------------------------------------------------------
# versions: what a definition is, and what kind of change separates two of them
# ---------------------------------------------------------------------------
#: fields whose change alters the values of a feature: a new version and a rebuild
MEANING_FIELDS = ("unit", "inputs", "expression", "condition", "interpolation", "aggregations",
                  "upstream")
#: fields whose change only updates the metadata (catalog entry), no rebuild
METADATA_FIELDS = ("description", "owner", "tags", "levels", "min_coverage")


def definition_spec(d: FeatureDefinition, catalog: Mapping[str, FeatureDefinition] | None = None
                    ) -> dict:
    """A plain, JSON-safe record of a definition: every YAML field plus its hash.

    ``upstream`` maps the features it uses to their hashes (taken from
    ``catalog`` when given), so a recorded spec pins its inputs' meaning too.
    :func:`catalog_from_specs` turns specs back into a catalog.

    Examples
    --------
    >>> cat = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW",
    ...     "inputs": ["power"], "expression": "power", "aggregations": ["mean"]}])
    >>> spec = definition_spec(cat["p"])
    >>> spec["expression"], spec["version"], spec["hash"] == cat["p"].hash
    ('power', 1, True)
    """
    upstream = {}
    if catalog is not None:
        upstream = {i: catalog[i].hash for i in d.inputs if i in catalog}
    return {
        "name": d.name, "version": int(d.version), "owner": d.owner,
        "description": d.description, "unit": d.unit, "inputs": list(d.inputs),
        "expression": d.expression, "condition": d.condition,
        "interpolation": d.interpolation,
        "aggregations": {lv: list(v) for lv, v in d.aggregations.items()},
        "levels": list(d.levels), "min_coverage": float(d.min_coverage),
        "tags": list(d.tags), "upstream": upstream, "hash": d.hash,
    }


def classify_change(old: Mapping | None, new: Mapping) -> str:
    """What separates two specs (see :func:`definition_spec`).

    Returns ``"created"`` (no ``old``), ``"meaning"`` (the hash differs: a new
    version and a rebuild), ``"metadata"`` (description, owner, tags, levels
    or minimum coverage differ: the catalog entry is updated, the values are
    not rebuilt) or ``"none"``.

    Examples
    --------
    >>> a = {"hash": "h1", "description": "x"}
    >>> classify_change(a, {"hash": "h1", "description": "y"})
    'metadata'
    >>> classify_change(a, {"hash": "h2", "description": "x"})
    'meaning'
    """
    if old is None:
        return "created"
    if old.get("hash") != new.get("hash"):
        return "meaning"
    if any(_norm(old.get(k)) != _norm(new.get(k)) for k in METADATA_FIELDS):
        return "metadata"
    return "none"


def _norm(v: Any) -> Any:
    return json.dumps(v, sort_keys=True, default=str)


def diff_specs(old: Mapping | None, new: Mapping) -> list[str]:
    """A readable field-by-field diff of two specs: ``- key: old`` / ``+ key: new`` lines.

    Examples
    --------
    >>> diff_specs({"expression": "power", "version": 1}, {"expression": "power * 2",
    ...                                                    "version": 2})
    ['- expression: power', '+ expression: power * 2', '- version: 1', '+ version: 2']
    """
    old = old or {}
    keys = [k for k in ("version", *MEANING_FIELDS, *METADATA_FIELDS) if k in old or k in new]
    keys = sorted(set(keys), key=lambda k: (k != "expression", k not in MEANING_FIELDS, k))
    lines: list[str] = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if _norm(a) == _norm(b):
            continue
        if k in old:
            lines.append(f"- {k}: {_show(a)}")
        if k in new:
            lines.append(f"+ {k}: {_show(b)}")
    return lines


def _show(v: Any) -> str:
    if isinstance(v, str) or v is None:
        return str(v)
    return json.dumps(v, sort_keys=True, separators=(", ", ": "))


def catalog_from_specs(specs: Sequence[Mapping], source: str = "<recorded>") -> FeatureCatalog:
    """A catalog from recorded specs (:func:`definition_spec`), validated like YAML.

    The recorded ``hash`` is checked against the one recomputed, so a spec
    that no longer means what it meant (e.g. a changed function) is an error.
    """
    clean = [{k: v for k, v in s.items() if k in _KEYS and v is not None} for s in specs]
    cat = catalog_from_dicts(clean, source)
    for s in specs:
        got = cat[s["name"]].hash
        if s.get("hash") and got != s["hash"]:
            raise SchemaError(f"{source}: feature {s['name']!r}: the recorded definition hash "
                              f"{s['hash']!r} differs from the one recomputed now ({got!r}); "
                              "the expression language changed since it was recorded")
    return cat


def features_frame(catalog: FeatureCatalog | None = None) -> pd.DataFrame:
    """One row per definition: unit, inputs, levels, aggregations, hash (for listings)."""
    catalog = catalog if catalog is not None else load_catalog()
    rows = []
    for d in catalog.values():
        rows.append({"feature": d.name, "version": d.version, "unit": d.unit,
                     "inputs": ",".join(d.inputs), "expression": d.expression,
                     "condition": d.condition or "", "levels": ",".join(d.levels),
                     "aggregations": ";".join(f"{lv}:{','.join(v)}"
                                              for lv, v in d.aggregations.items()),
                     "min_coverage": d.min_coverage, "hash": d.hash, "source": d.source})
    return pd.DataFrame(rows).set_index("feature")
