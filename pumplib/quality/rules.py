"""Quality rules declared in YAML, validated before any compute.

A rules file (default ``catalogs/quality_rules.yaml``, setting
``quality.rules``) declares checks per canonical signal, per pump template
(matched on the asset registry) and per asset. Limits may be numbers or be
derived from the registry's rated values (``"1.5 * rated.flow"``; also
``curve.*``, ``motor.*`` and ``tank.*``), so a new
pump gets sensible rules without a hand-written line.

Schema::

    version: 1
    description?: text
    defaults:                      # rules for every signal
      RULE: {PARAM: VALUE, ...}
    signals:                       # rules per canonical signal (see signals.yaml)
      SIGNAL: {RULE: {PARAM: VALUE} | false}
    running?: {run_state_min, power_min, flow_min}   # how "the pump runs" is decided
    physics?: {CHECK: {PARAM: VALUE} | false}        # cross-signal checks of pumps
    templates?:                    # applied in file order to matching assets
      NAME:
        match: {kind?, pump_type?, station?, tags?: [..], ids?: [..]}
        signals?: {...}  running?: {...}  physics?: {...}
    assets?:                       # last word for one asset
      ASSET_ID: {signals?: {...}, running?: {...}, physics?: {...}}

Rules (``RULE``) and their parameters:

==============  ==================================================================
range           ``min``, ``max``: limits (number or ``"k * rated.key"``);
                ``running_min``: a lower limit only while the pump runs
spike           ``window`` (samples, odd, or a duration), ``n_sigma`` (MADs),
                ``min_deviation`` (limit: smaller deviations never count),
                ``min_periods`` (valid samples needed in the window),
                ``max_width`` (longest run of outliers that is a spike, default 2)
flatline        ``duration`` (stuck longer than this; two samples at least), ``when``
                (``always`` | ``running`` | ``others_move``), ``tolerance``
rate            ``max_change`` (limit) ``per`` (duration, default 1min)
gap             ``max_gap`` (a longer run of missing samples is a GAP),
                ``max_hold`` (report-by-exception signals: how long a value holds)
source_quality  ``good_mask`` (a code is good when ``code & mask == mask``; 192 = OPC)
timestamp       ``quarantine`` (flag cells named by the ingest quarantine: conflicting
                duplicates, duplicate and out-of-order rows), ``skew`` (flag windows in
                which a signal's transitions are offset from its pump's reference
                signal, see :mod:`pumplib.quality.skew`), ``skew_window`` (default
                1D), ``max_lag`` (default 1h), ``skew_tolerance`` (default 30s)
==============  ==================================================================

Durations are an integer number of samples or a string such as ``"15min"``.
Physics checks (``CHECK``): ``flow_off`` {flow_max}, ``dry_run`` {power_min,
flow_max}, ``efficiency`` {max, tolerance, min_flow}, ``head`` {tolerance,
min_flow}. A rule set to ``false`` is switched off. A limit derived from a
rated value the asset lacks switches that limit off for the asset.

Examples
--------
>>> rules = Rules.from_dict({"version": 1, "signals": {"flow": {"range": {"min": 0}}}})
>>> rules.resolve("P1")["signals"]["flow"]["range"]
{'min': 0}
>>> Rules.from_dict({"version": 1, "signals": {"flow": {"ragne": {}}}})
Traceback (most recent call last):
...
pumplib.errors.SchemaError: <dict>: key 'signals.flow.ragne': unknown rule 'ragne'. Did you mean 'range', 'rate'? Valid choices: 'flatline', 'gap', 'range', 'rate', 'source_quality', 'spike', 'timestamp'
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .. import config
from .. import signals as _signals
from ..errors import SchemaError, choices_message

WHEN = ("always", "running", "others_move")
DEFAULT_RULES = "catalogs/quality_rules.yaml"
_LIMIT_RE = re.compile(r"^\s*(?:([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?"
                       r"(rated|curve|motor|tank)\.([A-Za-z_]+)\s*$")
_REG_KEYS = {"rated": ("flow", "head", "power", "speed", "efficiency"),
             "curve": ("shutoff_head", "bep_flow", "bep_efficiency"),
             "motor": ("rated_power", "efficiency", "voltage", "power_factor"),
             "tank": ("area", "min_level", "max_level")}

# parameter kinds: "limit" (number or rated expression), "num", "int", "dur", "bool", or a tuple
RULE_PARAMS: dict[str, dict[str, Any]] = {
    "range": {"min": "limit", "max": "limit", "running_min": "limit"},
    "spike": {"window": "dur", "n_sigma": "num", "min_deviation": "limit", "min_periods": "int",
              "max_width": "int"},
    "flatline": {"duration": "dur", "when": WHEN, "tolerance": "num"},
    "rate": {"max_change": "limit", "per": "dur"},
    "gap": {"max_gap": "dur", "max_hold": "dur"},
    "source_quality": {"good_mask": "int"},
    "timestamp": {"quarantine": "bool", "skew": "bool", "skew_window": "dur",
                  "max_lag": "dur", "skew_tolerance": "dur"},
}
PHYSICS_PARAMS: dict[str, dict[str, Any]] = {
    "flow_off": {"flow_max": "limit"},
    "dry_run": {"power_min": "limit", "flow_max": "limit"},
    "efficiency": {"max": "num", "tolerance": "num", "min_flow": "limit"},
    "head": {"tolerance": "limit", "min_flow": "limit"},
}
RUNNING_PARAMS: dict[str, Any] = {"run_state_min": "num", "power_min": "limit", "flow_min": "limit"}
MATCH_KEYS = ("kind", "pump_type", "station", "tags", "ids")
_TOP = ("version", "description", "defaults", "signals", "running", "physics", "templates",
        "assets")
_LAYER = ("signals", "running", "physics", "description")


def _fail(source: str, key: str, msg: str):
    raise SchemaError(f"{source}: key {key!r}: {msg}")


def _mapping(source, key, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(source, key, f"expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _check_param(source: str, key: str, kind: Any, value: Any) -> None:
    if isinstance(kind, tuple):
        if value not in kind:
            _fail(source, key, choices_message("value", value, kind))
        return
    if kind == "bool":
        if not isinstance(value, bool):
            _fail(source, key, f"expected true or false, got {value!r}")
    elif kind in ("num", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                kind == "int" and not isinstance(value, int)):
            _fail(source, key, f"expected a{'n integer' if kind == 'int' else ' number'}, "
                               f"got {value!r}")
    elif kind == "limit":
        if isinstance(value, bool):
            _fail(source, key, f"expected a number or 'k * rated.KEY', got {value!r}")
        if isinstance(value, int | float):
            return
        m = _LIMIT_RE.match(str(value))
        if not m:
            _fail(source, key, f"expected a number or an expression like '1.5 * rated.flow', "
                               f"got {value!r}")
        section, name = m.group(2), m.group(3)
        if name not in _REG_KEYS[section]:
            _fail(source, key, choices_message(f"{section} value", name, _REG_KEYS[section]))
    elif kind == "dur":
        if isinstance(value, bool):
            _fail(source, key, f"expected a number of samples or a duration, got {value!r}")
        if isinstance(value, int):
            if value < 0:
                _fail(source, key, f"expected a non-negative number of samples, got {value}")
            return
        try:
            td = pd.Timedelta(str(value))
        except ValueError:
            _fail(source, key, f"expected a number of samples or a duration such as '15min', "
                               f"got {value!r}")
        if td < pd.Timedelta(0):
            _fail(source, key, f"expected a non-negative duration, got {value!r}")


def _check_params(source: str, where: str, spec: Any, allowed: dict, what: str) -> None:
    if spec is False or spec is None:
        return
    spec = _mapping(source, where, spec)
    for k, v in spec.items():
        if k not in allowed:
            _fail(source, f"{where}.{k}", choices_message(f"{what} parameter", k, allowed))
        _check_param(source, f"{where}.{k}", allowed[k], v)


def _check_signal_rules(source: str, where: str, spec: Any) -> None:
    for rule, params in _mapping(source, where, spec).items():
        if rule not in RULE_PARAMS:
            _fail(source, f"{where}.{rule}", choices_message("rule", rule, RULE_PARAMS))
        _check_params(source, f"{where}.{rule}", params, RULE_PARAMS[rule], f"{rule!r}")


def _check_layer(source: str, where: str, spec: Any, extra: tuple = ()) -> None:
    spec = _mapping(source, where, spec)
    allowed = (*_LAYER, *extra)
    known = _signals.signals()
    for k, v in spec.items():
        w = f"{where}.{k}" if where else k
        if k not in allowed:
            _fail(source, w, choices_message("key", k, allowed))
        if k == "signals":
            for sig, rules in _mapping(source, w, v).items():
                if sig not in known:
                    _fail(source, f"{w}.{sig}", choices_message("signal", sig, known))
                _check_signal_rules(source, f"{w}.{sig}", rules)
        elif k == "running":
            _check_params(source, w, v, RUNNING_PARAMS, "running")
        elif k == "physics":
            for check, params in _mapping(source, w, v).items():
                if check not in PHYSICS_PARAMS:
                    _fail(source, f"{w}.{check}", choices_message("physics check", check,
                                                                  PHYSICS_PARAMS))
                _check_params(source, f"{w}.{check}", params, PHYSICS_PARAMS[check],
                              f"{check!r}")
        elif k == "match":
            for mk, mv in _mapping(source, w, v).items():
                if mk not in MATCH_KEYS:
                    _fail(source, f"{w}.{mk}", choices_message("match key", mk, MATCH_KEYS))
                if mk in ("tags", "ids") and not isinstance(mv, list):
                    _fail(source, f"{w}.{mk}", f"expected a list, got {mv!r}")


def validate_spec(spec: Any, source: str = "<dict>") -> None:
    """Check a parsed rules mapping; raise :class:`SchemaError` naming file, key and choices."""
    spec = _mapping(source, "<top>", spec)
    for k in spec:
        if k not in _TOP:
            _fail(source, k, choices_message("key", k, _TOP))
    if "version" not in spec:
        _fail(source, "version", "is required. Valid choices: [1]")
    if spec["version"] != 1:
        _fail(source, "version", f"unsupported version {spec['version']!r}. Valid choices: [1]")
    _check_signal_rules(source, "defaults", spec.get("defaults"))
    _check_layer(source, "", {k: spec[k] for k in ("signals", "running", "physics")
                              if k in spec})
    for name, tpl in _mapping(source, "templates", spec.get("templates")).items():
        _check_layer(source, f"templates.{name}", tpl, extra=("match",))
        if "match" not in _mapping(source, f"templates.{name}", tpl):
            _fail(source, f"templates.{name}.match",
                  "is required. Valid choices: " + ", ".join(repr(m) for m in MATCH_KEYS))
    for aid, layer in _mapping(source, "assets", spec.get("assets")).items():
        _check_layer(source, f"assets.{aid}", layer)


def _merge_rules(base: dict, layer: dict) -> dict:
    """Merge ``layer`` (rule → params | false) into ``base`` in place."""
    for rule, params in (layer or {}).items():
        if params is False or params is None:
            base[rule] = False
        else:
            old = base.get(rule)
            base[rule] = {**(old if isinstance(old, dict) else {}), **params}
    return base


@dataclass
class Rules:
    """A validated rules file; :meth:`resolve` gives the effective rules of one asset.

    Parameters
    ----------
    spec : dict
        The parsed YAML.
    source : str
        Where it came from (used in error messages and lineage).
    """

    spec: dict
    source: str = "<dict>"
    sha256: str = field(default="", init=False)

    def __post_init__(self):
        validate_spec(self.spec, self.source)
        canon = json.dumps(self.spec, sort_keys=True, default=str).encode()
        self.sha256 = hashlib.sha256(canon).hexdigest()

    @classmethod
    def from_dict(cls, spec: dict, source: str = "<dict>") -> Rules:
        return cls(copy.deepcopy(spec), source)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Rules:
        """Load and validate a rules file (default: the ``quality.rules`` setting)."""
        path = Path(path if path is not None else default_rules_path())
        if not path.is_file():
            raise SchemaError(f"quality rules file {path} does not exist; set quality.rules "
                              "or pass the path of a rules YAML")
        try:
            spec = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise SchemaError(f"{path}: not valid YAML: {exc}") from None
        return cls(spec, str(path))

    def resolve(self, asset_id: str, registry=None) -> dict:
        """Effective ``{"signals": {sig: {rule: params}}, "running": {}, "physics": {}}``.

        Layers apply in order: ``defaults`` to every signal, ``signals``,
        matching ``templates`` (file order), then ``assets.<id>``. Disabled
        rules are dropped; limits stay unevaluated (see :func:`limit_value`).
        """
        asset = None
        if registry is not None and asset_id in registry.assets:
            asset = registry.assets[asset_id]
        sigs: dict[str, dict] = {}
        defaults = self.spec.get("defaults") or {}
        for sig in _signals.signals():
            sigs[sig] = _merge_rules({}, defaults)
        running: dict = {}
        physics: dict = {}

        def apply(layer: dict) -> None:
            for sig, rules in (layer.get("signals") or {}).items():
                _merge_rules(sigs[sig], rules)
            running.update(layer.get("running") or {})
            _merge_rules(physics, layer.get("physics") or {})

        apply(self.spec)
        for tpl in (self.spec.get("templates") or {}).values():
            if _matches(tpl["match"], asset_id, asset):
                apply(tpl)
        apply((self.spec.get("assets") or {}).get(asset_id) or {})
        clean = {s: {r: p for r, p in rs.items() if p is not False} for s, rs in sigs.items()}
        return {"signals": clean, "running": running,
                "physics": {c: p for c, p in physics.items() if p is not False}}


def _matches(match: dict, asset_id: str, asset) -> bool:
    if "ids" in match and asset_id not in match["ids"]:
        return False
    for key in ("kind", "pump_type", "station"):
        if key in match and (asset is None or getattr(asset, key) != match[key]):
            return False
    return not ("tags" in match and (asset is None or not set(match["tags"]) <= set(asset.tags)))


def limit_value(value: Any, asset=None) -> float:
    """A limit as a number for one asset (NaN when a rated value is lacking).

    Examples
    --------
    >>> limit_value(3)
    3.0
    >>> limit_value("1.2 * rated.power")
    nan
    """
    if value is None:
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    m = _LIMIT_RE.match(str(value))
    factor = float(m.group(1)) if m.group(1) else 1.0
    section = {} if asset is None else (getattr(asset, m.group(2)) or {})
    base = section.get(m.group(3))
    return math.nan if base is None else factor * float(base)


def steps(value: Any, step_seconds: float, minimum: int = 0) -> int:
    """A duration (samples or a time string) as a number of grid steps (rounded up)."""
    if isinstance(value, int):
        n = value
    else:
        n = math.ceil(pd.Timedelta(str(value)).total_seconds() / step_seconds)
    return max(int(n), minimum)


def seconds(value: Any, step_seconds: float) -> float:
    """A duration (samples or a time string) in seconds."""
    if isinstance(value, int):
        return float(value) * step_seconds
    return pd.Timedelta(str(value)).total_seconds()


def default_rules_path() -> Path:
    """The ``quality.rules`` setting, found from the working directory or the repository."""
    p = Path(config.get("quality.rules", DEFAULT_RULES))
    if p.is_absolute() or p.exists():
        return p
    repo = Path(__file__).resolve().parents[2] / p
    return repo if repo.exists() else p
