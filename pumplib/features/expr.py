"""A safe, unit-checked expression language for feature definitions.

An expression is parsed with :mod:`ast` and every node is checked against a
whitelist before anything else happens; the tree is then walked by this
module's own interpreter (nothing a user types reaches Python's evaluator).

Allowed
-------
* numbers, ``True``/``False``; arithmetic ``+ - * / **`` (a constant exponent),
  unary ``-``/``+``;
* comparisons ``< <= > >= == !=`` (chains too), boolean logic ``and or not``
  and their elementwise spellings ``& | ~``;
* names of inputs: canonical signals (``flow``), other features
  (``hydraulic_power``) and asset attributes (``rated.power``,
  ``curve.bep_flow``, ``motor.efficiency``, ``station.static_head``,
  ``tariff.price``, see :data:`ATTRIBUTES`);
* calls of registered functions (:data:`FUNCTIONS`): ``q(9.81, "m/s**2")`` (a
  constant with a unit), ``abs``, ``sqrt``, ``minimum``, ``maximum``,
  ``clip``, ``where``, ``diff``, ``lag(x, "15min")``, ``rolling_mean(x,
  "15min")`` (and ``rolling_min/max/sum``), ``integral`` (cumulative, in
  unit·hours).

Everything else (attribute access outside :data:`ATTRIBUTES`, names starting
with ``_``, subscripts, lambdas, comprehensions, keyword arguments, calls of
anything but a registered function, statements such as ``import``) is refused
with a :class:`~pumplib.errors.SchemaError` that names the file, the key and
the offending text.

Units are checked with pint in a *units-only* pass before any data are read:
``power / flow`` has the unit kW·h/m³ (convertible to kWh/m³); ``pressure +
flow`` is an error naming both operands and units. A bare number next to a
quantity takes that quantity's unit (``flow > 5`` means 5 m³/h); use ``q()`` to
be explicit. Truth values are floats 1/0 and NaN where an input is missing.

Examples
--------
>>> import numpy as np, xarray as xr
>>> e = compile_expression("power / flow", {"power": "kW", "flow": "m3/h"})
>>> e.unit_text
'kWh/m³'
>>> env = {"power": xr.DataArray([30.0, 20.0]), "flow": xr.DataArray([100.0, np.nan])}
>>> e.evaluate(env, step_seconds=60, to="Wh/m**3").values.tolist()
[300.0, nan]
>>> compile_expression("flow + discharge_pressure", {"flow": "m3/h", "discharge_pressure": "bar"})
Traceback (most recent call last):
...
pumplib.errors.SchemaError: <expression>: key 'expression': cannot add 'flow' [m³/h] and ...
"""

from __future__ import annotations

import ast
import functools
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pint

from ..errors import SchemaError, UnitError, choices_message
from ..units import parse as _parse_unit
from ..units import registry

#: asset attributes an expression may name, with their units
ATTRIBUTES: dict[str, str] = {
    "rated.flow": "m3/h", "rated.head": "m", "rated.power": "kW", "rated.speed": "rpm",
    "rated.efficiency": "1",
    "curve.shutoff_head": "m", "curve.bep_flow": "m3/h", "curve.bep_efficiency": "1",
    "motor.rated_power": "kW", "motor.efficiency": "1", "motor.voltage": "V",
    "motor.power_factor": "1",
    "station.static_head": "m",
    "tariff.price": "EUR/kWh",
}
_NAMESPACES = sorted({k.split(".")[0] for k in ATTRIBUTES})


@functools.lru_cache(maxsize=1)
def _ureg() -> pint.UnitRegistry:
    ureg = registry()
    if "EUR" not in ureg:  # currencies, for tariffs and costs
        ureg.define("EUR = [currency]")
    return ureg


def unit_of(text: str) -> pint.Unit:
    """Parse a unit string in the shared registry.

    Historian spellings (``m3/h``, ``L/s``) and powers written as digits or
    superscripts (``kWh/m3``, ``m²``) are accepted.

    Examples
    --------
    >>> str(unit_of("kWh/m3/m"))
    'kilowatt_hour / meter ** 4'
    """
    _ureg()
    text = str(text).strip()
    from ..units import ALIASES

    if text not in ALIASES and "H2O" not in text:
        text = re.sub(r"(?<=[A-Za-z])([23])(?![0-9.*])", r"**\1",
                      text.replace("³", "3").replace("²", "2"))
    return _parse_unit(text)


def unit_text(u: pint.Unit | None) -> str:
    """Short, readable spelling of a unit (``kWh/m³``)."""
    if u is None or u == registry().dimensionless:
        return "1"
    s = f"{u:~P}"
    return s.replace("kW·h", "kWh").replace("h·kW", "kWh").replace(" ", "")


# ---------------------------------------------------------------------------
# functions
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Function:
    """A registered expression function.

    ``args`` spells the argument kinds: ``x`` an expression, ``c`` a constant
    number, ``s`` a string (a unit or a duration), ``o`` an optional
    trailing duration string. ``unit`` maps the argument units (``None`` for a
    bare number) to the result unit, raising :class:`UnitError` when they do
    not fit; ``same`` lists argument positions that must share the first
    argument's unit (they are converted to it).
    """

    name: str
    args: str
    unit: Callable
    impl: Callable
    same: tuple[int, ...] = ()
    doc: str = ""
    #: the value at a sample depends on that sample only (``abs``, ``where`` …), so an
    #: incremental build needs no raw data before the changed days for it; a registered
    #: function is taken to look back (windows, lags) unless it says so
    pointwise: bool = False


def _first(units, *_):
    return units[0]


def _steps(text: str, step_seconds: float) -> int:
    secs = pd.Timedelta(text).total_seconds()
    return max(1, round(secs / step_seconds))


def _rolling(how):
    def impl(args, step_seconds):
        x, window = args
        roll = x.rolling(time=_steps(window, step_seconds), min_periods=1)
        return getattr(roll, how)()
    return impl


def _q_unit(units, args):
    return unit_of(args[1])


def _where_impl(args, step_seconds):
    import xarray as xr

    c, a, b = args
    return xr.where(c > 0.5, a, b).where(~_isnull(c))


def _isnull(x):
    if hasattr(x, "isnull"):
        return x.isnull()
    return np.isnan(x)


def _integral(args, step_seconds):
    (x,) = args
    return (x.fillna(0.0) * (step_seconds / 3600.0)).cumsum("time")


FUNCTIONS: dict[str, Function] = {}


def register_function(fn: Function) -> Function:
    """Add a function to the expression language (names must not start with ``_``).

    Give it ``pointwise=True`` when its value at a sample depends on that sample
    only: builds then read no raw data before each day for the features that use
    it (:func:`pumplib.features.incremental_context`); otherwise they read an hour,
    as for windows and lags."""
    if fn.name.startswith("_"):
        raise SchemaError(f"function names must not start with '_': {fn.name!r}")
    FUNCTIONS[fn.name] = fn
    return fn


for _fn in (
    Function("q", "cs", _q_unit, lambda a, s: a[0], doc='constant with a unit: q(9.81, "m/s**2")',
             pointwise=True),
    Function("abs", "x", _first, lambda a, s: abs(a[0]), doc="absolute value", pointwise=True),
    Function("sqrt", "x", lambda u, a: None if u[0] is None else u[0] ** 0.5,
             lambda a, s: _guarded(np.sqrt, a[0]), doc="square root (NaN below 0)",
             pointwise=True),
    Function("minimum", "xx", _first, lambda a, s: _elementwise(np.fmin, a), same=(1,),
             doc="elementwise minimum of two values", pointwise=True),
    Function("maximum", "xx", _first, lambda a, s: _elementwise(np.fmax, a), same=(1,),
             doc="elementwise maximum of two values", pointwise=True),
    Function("clip", "xxx", _first, lambda a, s: a[0].clip(a[1], a[2]), same=(1, 2),
             doc="clip(x, low, high)", pointwise=True),
    Function("where", "xxx", lambda u, a: u[1] if u[1] is not None else u[2], _where_impl,
             same=(), doc="where(condition, value_if_true, value_if_false)", pointwise=True),
    Function("diff", "x", _first, lambda a, s: a[0] - a[0].shift(time=1),
             doc="difference to the previous sample"),
    Function("lag", "xs", _first, lambda a, s: a[0].shift(time=_steps(a[1], s)),
             doc='the value a duration earlier: lag(x, "15min")'),
    Function("rolling_mean", "xs", _first, _rolling("mean"), doc="trailing-window mean"),
    Function("rolling_min", "xs", _first, _rolling("min"), doc="trailing-window minimum"),
    Function("rolling_max", "xs", _first, _rolling("max"), doc="trailing-window maximum"),
    Function("rolling_sum", "xs", _first, _rolling("sum"), doc="trailing-window sum"),
    Function("integral", "x", lambda u, a: (u[0] or registry().dimensionless) * registry().hour,
             _integral, doc="cumulative time integral (unit·hours), NaN counted as 0"),
):
    register_function(_fn)


def _finite(fn):
    def run(*args):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.asarray(fn(*args), dtype=np.float64)
        return np.where(np.isfinite(out), out, np.nan)
    return run


def _guarded(fn, *args):
    """``fn(*args)`` elementwise without floating-point warnings; ±inf and invalid → NaN.

    Division by zero (``flow / speed`` while a pump stands still) gives NaN,
    which the aggregations treat as a missing sample.
    """
    import xarray as xr

    if not any(isinstance(a, xr.DataArray) for a in args):
        return float(_finite(fn)(*args))
    return xr.apply_ufunc(_finite(fn), *args, dask="parallelized", output_dtypes=[np.float64])


def _elementwise(fn, args):
    import xarray as xr

    return xr.apply_ufunc(fn, args[0], args[1], dask="allowed")


# ---------------------------------------------------------------------------
# parsing and the whitelist
# ---------------------------------------------------------------------------
#: binary operators of the language (``&``/``|`` are elementwise and/or on truth values)
_BINOPS: tuple[type, ...] = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.BitAnd,
                             ast.BitOr)
_CMPOPS: dict[type, Callable] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_NODE_NAMES = {
    ast.Lambda: "lambda expressions", ast.Subscript: "subscripts", ast.ListComp: "comprehensions",
    ast.GeneratorExp: "comprehensions", ast.DictComp: "comprehensions",
    ast.SetComp: "comprehensions", ast.IfExp: "if-else expressions (use where())",
    ast.NamedExpr: "assignments", ast.Starred: "starred arguments", ast.Tuple: "tuples",
    ast.List: "lists", ast.Dict: "dicts", ast.Set: "sets", ast.JoinedStr: "f-strings",
    ast.Await: "await", ast.Yield: "yield",
}


@dataclass(frozen=True)
class Parsed:
    """A validated expression: its text, tree and the names and functions it uses."""

    text: str
    tree: ast.Expression
    names: frozenset[str]
    functions: frozenset[str]

    @property
    def canonical(self) -> str:
        """The expression re-spelled from its tree (whitespace and parentheses normalised)."""
        return ast.unparse(self.tree)


def _fail(source: str, key: str, msg: str):
    raise SchemaError(f"{source}: key {key!r}: {msg}")


def parse(text: str, source: str = "<expression>", key: str = "expression") -> Parsed:
    """Parse ``text`` and check every node against the whitelist.

    Examples
    --------
    >>> sorted(parse("rolling_mean(power, '15min') / rated.power").names)
    ['power', 'rated.power']
    >>> parse("flow.__class__")
    Traceback (most recent call last):
    ...
    pumplib.errors.SchemaError: <expression>: key 'expression': attribute access is not allowed: \
'flow.__class__'. Asset attributes: ...
    """
    if not isinstance(text, str | int | float) or isinstance(text, bool):
        _fail(source, key, f"expected an expression string, got {type(text).__name__}")
    text = str(text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        _fail(source, key, f"not a valid expression ({exc.msg} at column {exc.offset}): "
                           f"{text!r}. Statements such as import or assignments are not allowed")
    names: set[str] = set()
    funcs: set[str] = set()

    def bad(node, what):
        _fail(source, key, f"{what} not allowed: {ast.unparse(node)!r}")

    def visit(node, as_arg_of: str | None = None, pos: int = 0):
        if isinstance(node, ast.Expression):
            return visit(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool | int | float):
                return
            if isinstance(node.value, str) and as_arg_of is not None:
                kinds = FUNCTIONS[as_arg_of].args
                if pos < len(kinds) and kinds[pos] in "so":
                    return
            bad(node, f"constant of type {type(node.value).__name__} is")
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                bad(node, "names starting with '_' are")
            if node.id in _NAMESPACES:
                _fail(source, key, f"{node.id!r} is a namespace of asset attributes; name one "
                                   f"of {[a for a in ATTRIBUTES if a.startswith(node.id + '.')]}")
            names.add(node.id)
            return
        if isinstance(node, ast.Attribute):
            dotted = ast.unparse(node)
            if (isinstance(node.value, ast.Name) and dotted in ATTRIBUTES):
                names.add(dotted)
                return
            if isinstance(node.value, ast.Name) and node.value.id in _NAMESPACES \
                    and not node.attr.startswith("_"):
                _fail(source, key, choices_message("asset attribute", dotted, ATTRIBUTES))
            _fail(source, key, f"attribute access is not allowed: {dotted!r}. Asset attributes: "
                               f"{', '.join(ATTRIBUTES)}")
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                bad(node, f"operator {type(node.op).__name__} is")
            if isinstance(node.op, ast.Pow) and not _is_number(node.right):
                bad(node, "a non-constant exponent is")
            visit(node.left)
            visit(node.right)
            return
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub | ast.UAdd | ast.Not | ast.Invert):
                bad(node, f"operator {type(node.op).__name__} is")
            return visit(node.operand)
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                visit(v)
            return
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _CMPOPS:
                    bad(node, f"comparison {type(op).__name__} is")
            visit(node.left)
            for c in node.comparators:
                visit(c)
            return
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                bad(node, "calling anything but a registered function is")
            fname = node.func.id
            if fname.startswith("_"):
                bad(node, "names starting with '_' are")
            if fname not in FUNCTIONS:
                _fail(source, key, choices_message("function", fname, FUNCTIONS)
                      + f" (in {ast.unparse(node)!r})")
            if node.keywords:
                bad(node, "keyword arguments are")
            fn = FUNCTIONS[fname]
            need = len(fn.args.rstrip("o"))
            if not need <= len(node.args) <= len(fn.args):
                _fail(source, key, f"{fname}() takes {len(fn.args)} argument(s) "
                                   f"({fn.doc}), got {len(node.args)} in {ast.unparse(node)!r}")
            for i, arg in enumerate(node.args):
                kind = fn.args[i]
                if kind in "so" and not (isinstance(arg, ast.Constant)
                                         and isinstance(arg.value, str)):
                    bad(arg, f"argument {i + 1} of {fname}() must be a quoted string; this is")
                if kind == "c" and not _is_number(arg):
                    bad(arg, f"argument {i + 1} of {fname}() must be a number; this is")
                if kind in "so":
                    _check_string_arg(fname, arg.value, source, key)
                visit(arg, fname, i)
            funcs.add(fname)
            return
        bad(node, f"{_NODE_NAMES.get(type(node), type(node).__name__ + ' nodes')} are")

    visit(tree)
    return Parsed(text, tree, frozenset(names), frozenset(funcs))


def _check_string_arg(fname: str, value: str, source: str, key: str) -> None:
    if fname == "q":
        try:
            unit_of(value)
        except UnitError as exc:
            _fail(source, key, f"q(): {str(exc).split('. Known')[0]}")
        return
    try:
        td = pd.Timedelta(value)
    except ValueError:
        _fail(source, key, f"{fname}(): {value!r} is not a duration (e.g. '15min', '1h')")
    if td.total_seconds() <= 0:
        _fail(source, key, f"{fname}(): the duration {value!r} must be positive")


def _is_number(node) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return _is_number(node.operand)
    return isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
        and not isinstance(node.value, bool)


def _number(node) -> float:
    if isinstance(node, ast.UnaryOp):
        v = _number(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    return float(node.value)


# ---------------------------------------------------------------------------
# units-only pass
# ---------------------------------------------------------------------------
@dataclass
class _Units:
    """Result of the units pass: the unit of every node (None: a bare number)."""

    of: dict[int, Any] = field(default_factory=dict)


def _convert_factor(src, dst) -> tuple[float, float]:
    """``(scale, offset)`` taking values in ``src`` to ``dst`` (None means dimensionless)."""
    ureg = _ureg()
    src = src if src is not None else ureg.dimensionless
    dst = dst if dst is not None else ureg.dimensionless
    if src == dst:
        return 1.0, 0.0
    zero = ureg.Quantity(0.0, src).to(dst).magnitude
    one = ureg.Quantity(1.0, src).to(dst).magnitude
    return float(one - zero), float(zero)


def _has_offset(u) -> bool:
    """Whether ``u`` has a zero offset from its base unit (°C, °F)."""
    return _ureg().Quantity(0.0, u).to_base_units().magnitude != 0.0


def _compatible(a, b) -> bool:
    ureg = _ureg()
    a = a if a is not None else ureg.dimensionless
    b = b if b is not None else ureg.dimensionless
    return a.dimensionality == b.dimensionality


def _check_units(parsed: Parsed, units: Mapping[str, str], source: str, key: str) -> _Units:
    ureg = _ureg()
    dimless = ureg.dimensionless
    res = _Units()

    def describe(node, u):
        return f"{ast.unparse(node)!r} [{unit_text(u) if u is not None else 'number'}]"

    def same(node_a, ua, node_b, ub, verb):
        if ua is None or ub is None or _compatible(ua, ub):
            return
        _fail(source, key, f"cannot {verb} {describe(node_a, ua)} and {describe(node_b, ub)}: "
                           f"{ua.dimensionality} is not {ub.dimensionality}")

    def truth(node, u):
        if u is not None and u.dimensionality != dimless.dimensionality:
            _fail(source, key, f"{describe(node, u)} is used as a truth value; compare it first "
                               "(e.g. run_state > 0.5)")

    def visit(node):
        u = _visit(node)
        res.of[id(node)] = u
        return u

    def _visit(node):
        if isinstance(node, ast.Expression):
            return visit(node.body)
        if isinstance(node, ast.Constant):
            return None
        if isinstance(node, ast.Name | ast.Attribute):
            name = ast.unparse(node)
            spec = units.get(name, ATTRIBUTES.get(name))
            if spec is None:
                _fail(source, key, choices_message("input", name, list(units)))
            try:
                return unit_of(spec)
            except UnitError as exc:
                _fail(source, key, f"input {name!r}: {exc}")
        if isinstance(node, ast.BinOp):
            ua, ub = visit(node.left), visit(node.right)
            op = node.op
            if isinstance(op, ast.Add | ast.Sub):
                same(node.left, ua, node.right, ub, "add" if isinstance(op, ast.Add)
                     else "subtract")
                return ua if ua is not None else ub
            if isinstance(op, ast.BitAnd | ast.BitOr):
                truth(node.left, ua)
                truth(node.right, ub)
                return dimless
            if isinstance(op, ast.Pow):
                return None if ua is None else ua ** _number(node.right)
            a = ua if ua is not None else dimless
            b = ub if ub is not None else dimless
            if _has_offset(a) or _has_offset(b):
                _fail(source, key, f"cannot multiply or divide {describe(node.left, ua)} and "
                                   f"{describe(node.right, ub)}: offset units (°C, °F) only "
                                   "add and compare; subtract a reference first or use K")
            out = a * b if isinstance(op, ast.Mult) else a / b
            return None if ua is None and ub is None else out
        if isinstance(node, ast.UnaryOp):
            u = visit(node.operand)
            if isinstance(node.op, ast.Not | ast.Invert):
                truth(node.operand, u)
                return dimless
            return u
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                truth(v, visit(v))
            return dimless
        if isinstance(node, ast.Compare):
            left, lu = node.left, visit(node.left)
            for c in node.comparators:
                cu = visit(c)
                same(left, lu, c, cu, "compare")
                left, lu = c, (cu if cu is not None else lu)
            return dimless
        if isinstance(node, ast.Call):
            fn = FUNCTIONS[node.func.id]
            args_u = [visit(a) if fn.args[i] == "x" else None for i, a in enumerate(node.args)]
            consts = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
            for i in fn.same:
                same(node.args[0], args_u[0], node.args[i], args_u[i], f"{fn.name}() with")
            if fn.name == "where":
                truth(node.args[0], args_u[0])
                same(node.args[1], args_u[1], node.args[2], args_u[2], "where() with")
            return fn.unit(args_u, consts)
        raise SchemaError(f"{source}: key {key!r}: internal: unchecked node {ast.dump(node)}")

    visit(parsed.tree)
    return res


# ---------------------------------------------------------------------------
# compile and evaluate
# ---------------------------------------------------------------------------
@dataclass
class Compiled:
    """A parsed, unit-checked expression, ready to evaluate on xarray objects."""

    parsed: Parsed
    unit: Any
    units: Mapping[str, str]
    _node_units: _Units
    source: str = "<expression>"
    key: str = "expression"

    @property
    def unit_text(self) -> str:
        return unit_text(self.unit)

    @property
    def names(self) -> frozenset[str]:
        return self.parsed.names

    def factor_to(self, target: str) -> tuple[float, float]:
        """``(scale, offset)`` from this expression's unit to ``target``, or a SchemaError."""
        dst = unit_of(target)
        if not _compatible(self.unit, dst):
            _fail(self.source, self.key,
                  f"{self.parsed.text!r} has the unit {unit_text(self.unit)!r} "
                  f"({(self.unit or _ureg().dimensionless).dimensionality}), which cannot be "
                  f"converted to the declared unit {target!r} ({dst.dimensionality})")
        return _convert_factor(self.unit, dst)

    def evaluate(self, env: Mapping[str, Any], step_seconds: float, to: str | None = None):
        """Evaluate on xarray DataArrays (lazy if they are dask-backed).

        Parameters
        ----------
        env : mapping of name to DataArray or number
            Every name of the expression, in the units given at compile time.
        step_seconds : float
            The grid step, for windows, lags and integrals.
        to : str, optional
            Convert the result to this unit.
        """
        missing = sorted(self.names - set(env))
        if missing:
            raise SchemaError(f"{self.source}: key {self.key!r}: no data for {missing}")
        out = _Evaluator(env, step_seconds, self._node_units).run(self.parsed.tree)
        if to is not None:
            scale, offset = self.factor_to(to)
            if scale != 1.0 or offset != 0.0:
                out = out * scale + offset
        return out


def compile_expression(text: str, units: Mapping[str, str], source: str = "<expression>",
                       key: str = "expression") -> Compiled:
    """Parse ``text``, check it against the whitelist and check its units.

    Parameters
    ----------
    text : str
    units : mapping of input name to unit string
        Units of the inputs (asset attributes default to :data:`ATTRIBUTES`).
    source, key : str
        Where the expression comes from, for error messages.
    """
    parsed = parse(text, source, key)
    node_units = _check_units(parsed, units, source, key)
    return Compiled(parsed, node_units.of[id(parsed.tree)], dict(units), node_units, source, key)


class _Evaluator:
    """Walks a validated tree; truth values are floats 1/0, NaN where an input is missing."""

    def __init__(self, env, step_seconds, node_units: _Units):
        self.env = env
        self.step = float(step_seconds)
        self.u = node_units.of

    def run(self, node):
        return self.visit(node.body)

    def _to(self, value, src_node, dst_node):
        """Convert ``value`` (unit of ``src_node``) to the unit of ``dst_node``."""
        src, dst = self.u.get(id(src_node)), self.u.get(id(dst_node))
        if src is None or dst is None:
            return value
        scale, offset = _convert_factor(src, dst)
        return value if (scale, offset) == (1.0, 0.0) else value * scale + offset

    def visit(self, node):
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name | ast.Attribute):
            return self.env[ast.unparse(node)]
        if isinstance(node, ast.BinOp):
            a = self.visit(node.left)
            b = self.visit(node.right)
            if isinstance(node.op, ast.Add | ast.Sub):
                b = self._to(b, node.right, node.left)
                return a + b if isinstance(node.op, ast.Add) else a - b
            if isinstance(node.op, ast.BitAnd | ast.BitOr):
                return _logic(a, b, np.logical_and if isinstance(node.op, ast.BitAnd)
                              else np.logical_or)
            if isinstance(node.op, ast.Div | ast.Pow):
                return _guarded(np.true_divide if isinstance(node.op, ast.Div) else np.power,
                                a, b)
            return a * b
        if isinstance(node, ast.UnaryOp):
            v = self.visit(node.operand)
            if isinstance(node.op, ast.USub):
                return -v
            if isinstance(node.op, ast.UAdd):
                return v
            return _mask(1.0 - (v > 0.5), v)
        if isinstance(node, ast.BoolOp):
            vals = [self.visit(v) for v in node.values]
            fn = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = vals[0]
            for v in vals[1:]:
                out = _logic(out, v, fn)
            return out
        if isinstance(node, ast.Compare):
            left_node, left = node.left, self.visit(node.left)
            out = None
            for op, c in zip(node.ops, node.comparators, strict=True):
                raw = self.visit(c)
                right = self._to(raw, c, left_node)
                r = _mask(_CMPOPS[type(op)](left, right) * 1.0, left, right)
                out = r if out is None else _logic(out, r, np.logical_and)
                left_node, left = c, raw
            return out
        if isinstance(node, ast.Call):
            fn = FUNCTIONS[node.func.id]
            args = []
            for i, a in enumerate(node.args):
                if fn.args[i] in "so":
                    args.append(a.value)
                elif fn.args[i] == "c":
                    args.append(_number(a))
                else:
                    v = self.visit(a)
                    if i in fn.same:
                        v = self._to(v, a, node.args[0])
                    if fn.name == "where" and i == 2:
                        v = self._to(v, a, node.args[1])
                    args.append(v)
            return fn.impl(args, self.step)
        raise SchemaError(f"internal: unchecked node {ast.dump(node)}")


def _mask(value, *inputs):
    """``value`` with NaN wherever one of ``inputs`` is NaN."""
    for x in inputs:
        if isinstance(x, float):
            if np.isnan(x):
                return value * np.nan
            continue
        value = value.where(~_isnull(x)) if hasattr(value, "where") else \
            np.where(np.isnan(x), np.nan, value)
    return value


def _logic(a, b, fn):
    ta = a > 0.5 if not isinstance(a, float) else a > 0.5
    tb = b > 0.5 if not isinstance(b, float) else b > 0.5
    return _mask(fn(ta, tb) * 1.0, a, b)
