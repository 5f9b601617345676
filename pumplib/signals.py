"""The signals of the raw lake: the packaged built-ins and those a registry declares.

Every signal has a name, a canonical unit (pint, converted to at ingest), a
long name (chart labels), a kind and an interpolation. The built-ins live in
the packaged ``data/signals.yaml``; an asset registry may declare more under a
top-level ``signals:`` key (rainfall, air temperature, …), see
:mod:`pumplib.assets`. Both are one vocabulary, looked up through one
function, :func:`signals` (and :func:`get` for one name): ingest, the lake,
quality rules, features and queries see a declared signal exactly as a
built-in one.

A registry's declared signals join the vocabulary when the registry is
loaded (:class:`~pumplib.assets.AssetRegistry`); the configured registry
(setting ``assets.registry``) is read on first use, so a rules file or a
feature definition may name its signals before any registry was opened. A
registry loaded again (edited file) replaces its own declarations; two
registries that declare one name differently are an error naming both.

Examples
--------
>>> get("flow").unit
'm3/h'
>>> Signal.from_spec("rainfall", {"unit": "mm", "interpolation": "step"}).long_name
'Rainfall'
>>> get("rainfal")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pumplib.errors.UnknownNameError: unknown signal 'rainfal'. ... Valid choices: ...
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import SchemaError, UnknownNameError, choices_message

_FILE = Path(__file__).parent / "data" / "signals.yaml"

#: what a signal's values are: ``continuous`` measurements, a ``state`` (0/1 or small
#: integers, e.g. run state) or a ``label`` (annotations from the source)
KINDS = ("continuous", "state", "label")
#: how a value holds between samples
INTERPOLATIONS = ("linear", "step")
#: the keys of one signal declaration
KEYS = ("unit", "long_name", "kind", "interpolation", "valid_min", "valid_max", "description")
#: names the lake uses for its coordinates
RESERVED = ("time", "asset")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Signal:
    """One signal of the lake: canonical unit, label, kind and interpolation."""

    name: str
    unit: str
    long_name: str
    kind: str = "continuous"
    interpolation: str = "linear"
    valid_min: float | None = None
    valid_max: float | None = None
    #: where it is declared: ``"built-in"`` or the registry's file
    source: str = "built-in"

    def attrs(self) -> dict:
        """CF-style attributes for the lake variable."""
        out = {"units": self.unit, "long_name": self.long_name, "kind": self.kind,
               "interpolation": self.interpolation}
        if self.valid_min is not None:
            out["valid_min"] = self.valid_min
        if self.valid_max is not None:
            out["valid_max"] = self.valid_max
        return out

    def same_meaning(self, other: Signal) -> bool:
        """Whether ``other`` declares the same unit, kind, interpolation and valid range."""
        return (same_unit(self.unit, other.unit)
                and (self.kind, self.interpolation, self.valid_min, self.valid_max)
                == (other.kind, other.interpolation, other.valid_min, other.valid_max))

    @classmethod
    def from_spec(cls, name: str, spec: Any, source: str = "built-in",
                  where: str | None = None, fail: Callable[[str, str], Any] | None = None
                  ) -> Signal:
        """Validate one declaration (a mapping with at least ``unit``) into a Signal.

        Every problem is a :class:`~pumplib.errors.SchemaError` naming ``source``
        and the key (``where``, default ``signals.<name>``) and what is expected;
        ``fail(key, message)`` raises it instead when given (the registry adds
        the line).
        """
        from . import units as _units
        from .errors import UnitError

        where = where or f"signals.{name}"

        def _fail(key: str, msg: str):
            raise SchemaError(f"{source}: key {key!r}: {msg}")

        fail = fail or _fail

        if not isinstance(name, str) or not NAME_RE.match(name):
            fail(where, f"signal name {name!r} must be a lower-case identifier (letters, "
                        "digits, underscores, starting with a letter)")
        if name.endswith("_sq") or name in RESERVED:
            fail(where, f"signal name {name!r} is reserved by the lake (coordinates "
                        f"{list(RESERVED)} and source-quality arrays '<signal>_sq')")
        if not isinstance(spec, Mapping):
            fail(where, f"expected a mapping with keys {list(KEYS)} (unit required), "
                        f"got {describe(spec)}")
        for k in spec:
            if k not in KEYS:
                fail(f"{where}.{k}", choices_message("key", k, KEYS))
        if "unit" not in spec:
            fail(f"{where}.unit", "is required (a pint unit such as 'mm', 'degC', 'm3/h')")
        for k in ("unit", "long_name", "description"):
            v = spec.get(k)
            if (v is None and k == "unit") or isinstance(v, bool) or (
                    v is not None and not isinstance(v, str | int | float)):
                fail(f"{where}.{k}", f"expected a string, got {describe(v)}")
        try:
            _units.parse(str(spec["unit"]))
        except UnitError as exc:
            fail(f"{where}.unit", str(exc).split(". Known")[0] + " (expected a pint unit such "
                                                                 "as 'mm', 'degC', 'm3/h')")
        kind = spec.get("kind", "continuous")
        if kind not in KINDS:
            fail(f"{where}.kind", choices_message("signal kind", kind, KINDS))
        interp = spec.get("interpolation", "linear" if kind == "continuous" else "step")
        if interp not in INTERPOLATIONS:
            fail(f"{where}.interpolation", choices_message("interpolation", interp,
                                                           INTERPOLATIONS))
        bounds = {}
        for k in ("valid_min", "valid_max"):
            v = spec.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)
                                  or not math.isfinite(v)):
                fail(f"{where}.{k}", f"expected a finite number, got {describe(v)}")
            bounds[k] = None if v is None else float(v)
        if None not in bounds.values() and bounds["valid_min"] > bounds["valid_max"]:
            fail(f"{where}.valid_max", f"{bounds['valid_max']} is below valid_min "
                                       f"{bounds['valid_min']}")
        long_name = str(spec.get("long_name") or name.replace("_", " ").capitalize())
        return cls(name=name, unit=str(spec["unit"]), long_name=long_name, kind=kind,
                   interpolation=interp, source=source, **bounds)


def describe(value: Any) -> str:
    """``5 (int)``: a short repr of a value and its type, for error messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "…"
    return f"{text} ({type(value).__name__})"


def same_unit(a: str, b: str) -> bool:
    """Whether two unit spellings are one unit (``m3/h`` and ``m³/h``; not ``L/s``)."""
    from . import units as _units
    from .errors import UnitError

    try:
        scale, offset = _units.conversion(str(a), str(b))
    except UnitError:
        return False
    return math.isclose(scale, 1.0, rel_tol=1e-12) and math.isclose(offset, 0.0, abs_tol=1e-12)


@functools.lru_cache(maxsize=1)
def builtins() -> dict[str, Signal]:
    """The packaged signals by name (``data/signals.yaml``)."""
    with open(_FILE) as f:
        raw = yaml.safe_load(f)["signals"]
    return {name: Signal(name=name, **spec) for name, spec in raw.items()}


#: declared signals per registry source, in the order the registries were loaded
_BY_SOURCE: dict[str, dict[str, Signal]] = {}
_LOCK = threading.RLock()
_LOADING = threading.local()


def declared() -> dict[str, Signal]:
    """The signals registries declared in this process (not the built-ins)."""
    _load_configured()
    out: dict[str, Signal] = {}
    with _LOCK:
        for found in _BY_SOURCE.values():
            for name, sig in found.items():
                out.setdefault(name, sig)
    return out


def declared_elsewhere(name: str, source: str) -> Signal | None:
    """The declaration of ``name`` by a registry other than ``source``, if any."""
    with _LOCK:
        for src, found in _BY_SOURCE.items():
            if src != source and name in found:
                return found[name]
    return None


def declare(found: Mapping[str, Signal], source: str) -> None:
    """Make ``found`` (validated by the registry ``source``) part of the vocabulary.

    Replaces what ``source`` declared before (an edited file loaded again).
    Built-in names are not declared (a registry may only repeat them
    unchanged). A name another registry declared with a different meaning is
    a :class:`SchemaError` naming both.
    """
    with _LOCK:
        for name, sig in found.items():
            other = declared_elsewhere(name, source)
            if other is not None and not other.same_meaning(sig):
                raise SchemaError(
                    f"{source}: key 'signals.{name}': signal {name!r} [{sig.unit}] is already "
                    f"declared by {other.source} as [{other.unit}] ({other.kind}, "
                    f"{other.interpolation}); one process has one meaning per signal name")
        _BY_SOURCE.pop(source, None)
        mine = {n: s for n, s in found.items() if n not in builtins()}
        if mine:
            _BY_SOURCE[source] = mine


def forget(source: str) -> None:
    """Drop what the registry ``source`` declared (e.g. a test's throwaway registry)."""
    with _LOCK:
        _BY_SOURCE.pop(source, None)


def _load_configured() -> None:
    """Read the configured registry once per version of its file (declares its signals).

    A missing or broken file is left to the command that opens the registry to
    report; here it only means no declared signals from it.
    """
    if getattr(_LOADING, "busy", False):
        return
    _LOADING.busy = True
    try:
        from . import config
        from .errors import PumplibError

        path = Path(config.get("assets.registry"))
        if path.is_file():
            from .assets import AssetRegistry

            try:
                AssetRegistry.load(path)
            except (PumplibError, OSError):
                forget(str(path.resolve()))      # its old declarations are stale now
    finally:
        _LOADING.busy = False


def signals() -> dict[str, Signal]:
    """Every signal by name: the built-ins and the ones registries declared."""
    out = dict(builtins())
    out.update(declared())
    return out


def get(name: str) -> Signal:
    """One signal, built-in or declared; a clear error lists the valid names."""
    b = builtins()
    if name in b:
        return b[name]
    known = signals()
    try:
        return known[name]
    except (KeyError, TypeError):
        raise UnknownNameError(choices_message("signal", name, known)) from None
