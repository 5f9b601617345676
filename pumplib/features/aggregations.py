"""Mergeable aggregations over a regular UTC grid, at calendar levels.

Every aggregation is declared flox-style as **chunk → combine → finalize**
over named *partials*:

* *chunk*: a raw sample is turned into the partials of a one-sample period
  (``n`` = 1 if the sample is good, ``sum`` = x, ``first`` = ``last`` = x, …);
* *combine*: the partials of consecutive periods merge into the partials of the
  period that contains them (counts and sums add, ``min``/``max`` take the
  extreme, ``m2`` merges with Chan's parallel formula, transition counts add the
  transitions across the inner boundaries from ``last``/``first`` …);
* *finalize*: a level's partials become values (``mean = sum / n`` …). The
  only cross-period inputs of a finalize are the previous non-empty period's
  ``last`` value (transitions) and the next period's ``head`` value (linear
  interpolation), so any level's values are defined by its own partials.

Full periods of a fixed-length level are reduced in one vectorised pass over
a ``(periods, k)`` reshape of the raw block; other periods (clipped ends,
calendar periods taken straight from raw) go through the same combine kernel
as every roll-up. Either way a period's partials depend only on its own
samples, never on the chunking, so the numpy and dask paths agree bit for
bit. A day rolled up from 24 hourly partials equals the day computed from raw
samples exactly for counts, minima, maxima, first/last, durations and
transitions, and to the last bits of float rounding for sums, means and
variances (the summation order differs; with values that sum exactly, e.g.
multiples of 1/8, they are bit-for-bit equal too). Averages of averages never
occur: a coarser mean is ``Σ sum / Σ n``.

Medians and quantiles are not mergeable; they are computed from the raw
samples of each period (``raw_only``) and a roll-up of them is refused with an
error that names the level.

Levels (:data:`LEVELS`): ``1min``, ``15min``, ``1h`` follow the UTC grid;
``1D``, ``1W`` (Monday) and ``1M`` (calendar month) start at local midnight in
the utility's time zone, so daylight-saving days have 23 or 25 hours.

The numpy core works on arrays ``(..., time)``; the dask layer
(:func:`level_partials` with a dask array) runs the same kernel blockwise
over time chunks aligned to the period boundaries, so no ``groupby`` graph is
built (chaining xarray resamples in one ``dask.compute`` was seen to fail).

Examples
--------
>>> import numpy as np
>>> from pumplib.features.aggregations import Grid, aggregate_array
>>> x = np.array([[1.0, 2.0, np.nan, 4.0, 0.0, 1.0, 1.0, 0.0]])  # 8 minutes
>>> grid = Grid(t0=0, dt=60, n=8)                                   # 1970-01-01 00:00 UTC
>>> out = aggregate_array(x, grid, ["1min", "15min"], ["mean", "count", "max"], "UTC")
>>> out["15min"]["mean"].tolist(), out["15min"]["count"].tolist()
([[1.2857142857142858]], [[7.0]])
>>> out["15min"]["coverage"].tolist()   # 7 good samples of the 15 the period expects
[[0.4666666666666667]]
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import numpy as np
import pandas as pd

from ..errors import UnknownNameError, choices_message
from .fields import (  # noqa: F401 - the chunk and combine steps, re-exported
    _KNOWN_FIELDS,
    ON_THRESHOLD,
    _concat,
    _ffill,
    _field_closure,
    _is_dask,
    _safe_div,
    _shift_left,
    _shift_right,
    chunk_partials,
    combine_partials,
)
from .periods import (  # noqa: F401 - levels and periods, re-exported
    CALENDAR_LEVELS,
    FIXED_LEVELS,
    LEVELS,
    AggregationError,
    Grid,
    _check_cadence,
    _check_level,
    grid_edges,
    level_bounds,
    times_ns,
)

#: entry-point group through which other packages register aggregations
ENTRY_POINT_GROUP = "pumplib.aggregations"


# ---------------------------------------------------------------------------
# aggregations: fields + finalize
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Context:
    """What a finalize knows besides the partials: the step, the expected samples and
    ``before``, the partials' boundary values before the first period (``{"last":
    array (...)}``: the last good value before it, NaN where unknown), which a
    transition count across that boundary needs."""

    dt: float
    expected: np.ndarray
    before: Mapping | None = None


@dataclass(frozen=True)
class Aggregation:
    """One aggregation: the partial fields it needs and how to finalize them.

    Parameters
    ----------
    name : str
        Registered name (``"mean"``, ``"duration=2"`` …).
    fields : tuple of str
        Partial fields (see :func:`chunk_partials`); empty for raw-only ones.
    finalize : callable ``(partials, Context) -> array``
        Turns one level's partials (numpy or dask, shape (..., periods)) into values.
    unit : callable ``(str) -> str``
        The output unit from the input unit (pint syntax).
    raw : callable ``(x, edges) -> array``, optional
        For non-mergeable aggregations: values straight from raw samples of
        each period (``x[..., edges[i]:edges[i+1]]``). Such aggregations are
        never rolled up.
    description : str
    """

    name: str
    fields: tuple[str, ...]
    finalize: Callable | None
    unit: Callable[[str], str] = field(default=lambda u: u)
    raw: Callable | None = None
    description: str = ""

    @property
    def mergeable(self) -> bool:
        return self.raw is None


def _where_n(p, v):
    return np.where(p["n"] > 0, v, np.nan)


def _lin_boundary(p):
    head_next = _shift_left(p["head"], np.nan)
    pair = np.isfinite(p["tail"]) & np.isfinite(head_next)
    return np.where(pair, (p["tail"] + head_next) * 0.5, 0.0), pair.astype(np.float64)


def _twa_linear(p, ctx):
    b, bn = _lin_boundary(p)
    return _safe_div(p["lin_sum"] + b, p["lin_n"] + bn)


def _integral_linear(p, ctx):
    b, bn = _lin_boundary(p)
    n = p["lin_n"] + bn
    return np.where(n > 0, (p["lin_sum"] + b) * (ctx.dt / 3600.0), np.nan)


def _starts(p, ctx):
    before = (ctx.before or {}).get("last")
    if before is None:
        prev_last = _shift_right(_ffill(p["last"]), np.nan)
    else:                                    # the state before the first period is known
        last = p["last"]
        pad = np.broadcast_to(np.asarray(before, dtype=np.float64)[..., None],
                              last.shape[:-1] + (1,))
        if _is_dask(last):
            import dask.array as da

            pad = da.from_array(pad, chunks=last.chunks[:-1] + ((1,),))
        prev_last = _ffill(_concat([pad, last]))[..., :-1]
    edge = (prev_last <= ON_THRESHOLD) & (p["first"] > ON_THRESHOLD)
    return _where_n(p, p["trans"] + edge)


def _var(p, ctx):
    return np.where(p["n"] > 1, p["m2"] / np.where(p["n"] > 1, p["n"] - 1.0, 1.0), np.nan)


def _nanquantile(a, q):
    """``nanquantile`` over the last axis; all-NaN rows give NaN without a warning."""
    empty = ~np.isfinite(a).any(axis=-1)
    res = np.nanquantile(np.where(empty[..., None], 0.0, a), q, axis=-1)
    return np.where(empty, np.nan, res)


def _nanquantile_segments(q):
    def raw(x, edges):
        x = np.asarray(x, dtype=np.float64)
        sizes = np.diff(edges)
        if len(sizes) and np.all(sizes == sizes[0]):
            blocks = x[..., edges[0]:edges[-1]].reshape(x.shape[:-1] + (len(sizes), sizes[0]))
            return _nanquantile(blocks, q)
        out = np.full(x.shape[:-1] + (len(sizes),), np.nan)
        for i in range(len(sizes)):
            out[..., i] = _nanquantile(x[..., edges[i]:edges[i + 1]], q)
        return out
    return raw


def _hours(u: str) -> str:
    return f"({u}) * hour"


_BUILTIN: dict[str, Aggregation] = {}


def _builtin(agg: Aggregation) -> None:
    _BUILTIN[agg.name] = agg


_builtin(Aggregation("count", ("n",), lambda p, c: p["n"], lambda u: "dimensionless",
                     description="number of good samples"))
_builtin(Aggregation("sum", ("sum",), lambda p, c: _where_n(p, p["sum"]),
                     description="sum of good samples"))
_builtin(Aggregation("min", ("min",), lambda p, c: p["min"], description="minimum"))
_builtin(Aggregation("max", ("max",), lambda p, c: p["max"], description="maximum"))
_builtin(Aggregation("mean", ("sum",), lambda p, c: _safe_div(p["sum"], p["n"]),
                     description="arithmetic mean of good samples (Σ sum / Σ n)"))
_builtin(Aggregation("var", ("m2",), _var, lambda u: f"({u})**2",
                     description="sample variance (ddof=1), Chan's parallel merge of M2"))
_builtin(Aggregation("std", ("m2",), lambda p, c: np.sqrt(_var(p, c)),
                     description="sample standard deviation (ddof=1)"))
_builtin(Aggregation("first", ("first",), lambda p, c: p["first"], description="first good value"))
_builtin(Aggregation("last", ("last",), lambda p, c: p["last"], description="last good value"))
_builtin(Aggregation("twa_step", ("sum",), lambda p, c: _safe_div(p["sum"], p["n"]),
                     description="time-weighted mean, each sample held for one step"))
_builtin(Aggregation("twa_linear", ("lin_sum", "lin_n"), _twa_linear,
                     description="time-weighted mean, linear between adjacent good samples"))
_builtin(Aggregation("integral_step", ("sum",),
                     lambda p, c: _where_n(p, p["sum"] * (c.dt / 3600.0)), _hours,
                     description="time integral in unit·hours (kW → kWh), step interpolation"))
_builtin(Aggregation("integral_linear", ("lin_sum", "lin_n"), _integral_linear, _hours,
                     description="time integral in unit·hours, trapezoids between adjacent "
                                 "good samples"))
_builtin(Aggregation("duration", ("n_on",), lambda p, c: _where_n(p, p["n_on"] * c.dt),
                     lambda u: "s", description=f"seconds with value > {ON_THRESHOLD} (on)"))
_builtin(Aggregation("starts", ("trans",), _starts, lambda u: "dimensionless",
                     description=f"0→1 transitions (value crosses {ON_THRESHOLD} upward between "
                                 "consecutive good samples), attributed to the period of the "
                                 "first 'on' sample"))
_builtin(Aggregation("median", (), None, raw=_nanquantile_segments(0.5),
                     description="median of the raw samples (not mergeable)"))

#: aggregations with a parameter: ``duration=2``, ``quantile=0.9``
_PARAMETRIC = {
    "duration": "seconds with value == PARAM (a state value), e.g. duration=2",
    "quantile": "quantile PARAM in [0, 1] of the raw samples (not mergeable), e.g. quantile=0.9",
}
#: names the builder resolves with the feature's interpolation (step|linear)
INTERPOLATED = ("twa", "integral")

_REGISTRY: dict[str, Aggregation] = dict(_BUILTIN)
_NAME_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:=([-+0-9.eE]+))?$")


@functools.lru_cache(maxsize=1)
def _load_entry_points() -> None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        agg = ep.load()
        if not isinstance(agg, Aggregation):
            raise AggregationError(f"entry point {ep.name!r} of group {ENTRY_POINT_GROUP!r} "
                                   f"is {type(agg).__name__}, expected an Aggregation")
        _REGISTRY.setdefault(agg.name, agg)


def register_aggregation(agg: Aggregation, *, overwrite: bool = False) -> Aggregation:
    """Register ``agg`` under ``agg.name`` (other packages: entry-point group
    :data:`ENTRY_POINT_GROUP` naming an :class:`Aggregation` object).

    Examples
    --------
    >>> import numpy as np
    >>> rng = Aggregation("range", ("min", "max"), lambda p, c: p["max"] - p["min"])
    >>> _ = register_aggregation(rng, overwrite=True)
    >>> get_aggregation("range").fields
    ('min', 'max')
    """
    if not overwrite and agg.name in available_aggregations():
        raise AggregationError(f"aggregation {agg.name!r} is already registered; pass "
                               "overwrite=True to replace it")
    if agg.raw is None:
        for f in agg.fields:
            if f not in _KNOWN_FIELDS and not f.startswith("n_eq:"):
                raise AggregationError(choices_message(f"partial field of {agg.name!r}", f,
                                                       _KNOWN_FIELDS))
    _REGISTRY[agg.name] = agg
    _output_unit.cache_clear()                # units follow the registered definition
    return agg


def available_aggregations() -> list[str]:
    """Names accepted by :func:`get_aggregation` (``name=PARAM`` forms shown as such)."""
    _load_entry_points()
    return sorted(set(_REGISTRY) | {f"{k}=PARAM" for k in _PARAMETRIC} | set(INTERPOLATED))


def get_aggregation(name: str, interpolation: str = "linear") -> Aggregation:
    """Look up an aggregation by name; ``duration=2``/``quantile=0.9`` take a parameter.

    ``twa`` and ``integral`` resolve to their ``_step`` or ``_linear`` form by
    ``interpolation``.

    Examples
    --------
    >>> get_aggregation("quantile=0.9").mergeable
    False
    >>> get_aggregation("twa", "step").name
    'twa_step'
    >>> get_aggregation("meen")
    Traceback (most recent call last):
    ...
    pumplib.errors.UnknownNameError: unknown aggregation 'meen'. Did you mean 'mean', ...
    """
    _load_entry_points()
    name = str(name).strip()
    if name in INTERPOLATED:
        if interpolation not in ("step", "linear"):
            raise UnknownNameError(choices_message("interpolation", interpolation,
                                                   ("step", "linear")))
        name = f"{name}_{interpolation}"
    if name in _REGISTRY:
        return _REGISTRY[name]
    m = _NAME_RE.match(name)
    if m and m.group(2) is not None and m.group(1) in _PARAMETRIC:
        base, param = m.group(1), float(m.group(2))
        if base == "duration":
            fld = f"n_eq:{param!r}"
            return Aggregation(name, (fld,), lambda p, c: _where_n(p, p[fld] * c.dt),
                               lambda u: "s", description=_PARAMETRIC[base])
        if not 0.0 <= param <= 1.0:
            raise UnknownNameError(f"quantile must lie in [0, 1], got {param} in {name!r}")
        return Aggregation(name, (), None, raw=_nanquantile_segments(param),
                           description=_PARAMETRIC[base])
    raise UnknownNameError(choices_message("aggregation", name, available_aggregations()))



# ---------------------------------------------------------------------------
# partials of a level (numpy or dask), roll-up, finalize
# ---------------------------------------------------------------------------
@dataclass
class Partials:
    """The partials of one level over a grid.

    ``data`` is a float64 array (numpy or dask) of shape ``(fields, ..., periods)``
    whose first axis follows ``fields``. ``bounds`` are the ``periods + 1``
    UTC boundaries (epoch s) of the periods, which may extend past the grid at
    both ends (coverage then counts the samples the whole period expects).
    """

    level: str
    fields: tuple[str, ...]
    data: object
    bounds: np.ndarray
    grid: Grid

    def __getitem__(self, name: str):
        return self.data[self.fields.index(name)]

    def as_dict(self) -> dict:
        return {f: self.data[i] for i, f in enumerate(self.fields)}

    @property
    def expected(self) -> np.ndarray:
        """Samples each period expects (a 23-h day expects 23 h of samples)."""
        return np.diff(self.bounds) / self.grid.dt

    @property
    def times(self) -> pd.DatetimeIndex:
        """Period starts (UTC)."""
        return times_ns(self.bounds[:-1])


def _stack(d: Mapping[str, np.ndarray], fields) -> np.ndarray:
    return np.stack([d[f] for f in fields])


def _aligned_chunks(edges: np.ndarray, chunks: tuple[int, ...]) -> tuple[int, ...]:
    """Time chunks whose boundaries are the period edges nearest after the old ones."""
    old = np.cumsum((0,) + tuple(chunks))
    idx = np.searchsorted(edges, old, side="left")
    b = np.unique(edges[np.minimum(idx, len(edges) - 1)])
    b = np.union1d(b, [edges[0], edges[-1]])
    return tuple(int(v) for v in np.diff(b) if v > 0)


def _blockwise(x, edges: np.ndarray, kernel: Callable, nout: int | None, extra=()):
    """Run ``kernel(block, local_edges, *extra_blocks)`` over time chunks aligned to ``edges``.

    ``x`` is a dask array ``(..., T)`` or ``(F, ..., T)``; ``edges`` are
    period edges over its last axis. The result has one period per edge gap;
    ``nout`` adds a leading axis of that length (the partial fields).
    """
    import dask.array as da

    chunks = _aligned_chunks(edges, x.chunks[-1])
    x = x.rechunk({x.ndim - 1: chunks})
    extra = [e.rechunk(x.chunks) for e in extra]      # same blocks on every axis
    bnd = np.cumsum((0,) + chunks)
    local, nper = [], []
    for lo, hi in zip(bnd[:-1], bnd[1:], strict=True):
        e = edges[(edges >= lo) & (edges <= hi)] - lo
        local.append(e)
        nper.append(len(e) - 1)

    def run(*blocks, block_id=None):
        return kernel(blocks[0], local[block_id[-1]], *blocks[1:])

    out_chunks = x.chunks[:-1] + (tuple(nper),)
    if nout is None:
        return da.map_blocks(run, x, *extra, chunks=out_chunks, dtype=np.float64,
                             meta=np.array((), dtype=np.float64))
    return da.map_blocks(run, x, *extra, new_axis=0, chunks=((nout,),) + out_chunks,
                         dtype=np.float64, meta=np.array((), dtype=np.float64))


#: partial fields the fused one-pass kernel computes (:func:`_fused_partials`)
_FUSED = ("n", "n_good", "sum", "min", "max")


@functools.lru_cache(maxsize=1)
def _fused_kernel():
    """The numba kernel behind :func:`_fused_partials`, or None without numba."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return None

    @numba.njit(nogil=True, cache=True)
    def kernel(x, g, k, out):  # pragma: no cover - compiled
        rows, t = x.shape
        nb = t // k
        for r in range(rows):
            for b in range(nb):
                n = 0.0
                ng = 0.0
                s = 0.0
                lo = np.inf
                hi = -np.inf
                for j in range(b * k, b * k + k):
                    v = x[r, j]
                    if abs(v) < np.inf:          # finite (NaN compares false)
                        n += 1.0
                        s += v
                        lo = min(lo, v)
                        hi = max(hi, v)
                    if g[r, j]:
                        ng += 1.0
                out[0, r, b] = n
                out[1, r, b] = ng
                out[2, r, b] = s
                out[3, r, b] = lo if n > 0 else np.nan
                out[4, r, b] = hi if n > 0 else np.nan
    return kernel


def _fused_partials(x: np.ndarray, k: int, good: np.ndarray | None) -> np.ndarray | None:
    """``n, n_good, sum, min, max`` of consecutive ``k``-sample periods in one pass
    (numba, no temporaries); shape ``(5, ..., periods)``. None without numba.

    Sums run sample by sample in time order, like :func:`combine_partials`
    (``np.add.reduceat``), so every path of a period's sum adds in one order.
    """
    from . import native

    lib = native.library()
    if lib is None and _fused_kernel() is None:
        return None
    lead = x.shape[:-1]
    x2 = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])    # strided views are fine
    if good is None:
        g2 = np.isfinite(x2)
    else:
        g2 = np.broadcast_to(good, x.shape).reshape(x2.shape)
        g2 = g2 if g2.dtype == np.bool_ else g2 > 0
    out = np.empty((5, x2.shape[0], x2.shape[1] // k))
    if lib is None or not native.fused(lib, x2, g2, k, out):
        _fused_kernel()(x2, g2, k, out)
    return out.reshape((5, *lead, x2.shape[1] // k))


def _block_partials(x: np.ndarray, k: int, fields, good: np.ndarray | None
                    ) -> dict[str, np.ndarray]:
    """Partials of consecutive periods of exactly ``k`` samples (the fast path).

    Equal to ``combine_partials(chunk_partials(x), …)`` for those periods (up
    to float summation order); used for every full period of a fixed-length
    level, so a period's partials never depend on how the data were chunked.
    """
    nb = x.shape[-1] // k
    out: dict[str, np.ndarray] = {}
    fused = [f for f in fields if f in _FUSED]
    if fused:
        res = _fused_partials(x[..., :nb * k], k, good)
        if res is not None:
            out = {f: res[_FUSED.index(f)] for f in fused}
            fields = [f for f in fields if f not in out]
            if not fields:
                return out
    X = x.reshape(x.shape[:-1] + (nb, k))
    V = np.isfinite(X)
    if not V.all() and np.isinf(X).any():
        X = np.where(V, X, np.nan)
    G = V if good is None else good.reshape(X.shape)
    pos = np.arange(k)
    for f in fields:
        if f == "n":
            out[f] = V.sum(axis=-1, dtype=np.float64)
        elif f == "n_good":
            out[f] = G.sum(axis=-1, dtype=np.float64)
        elif f == "sum":
            out[f] = np.where(V, X, 0.0).sum(axis=-1)
        elif f == "min":
            out[f] = np.fmin.reduce(X, axis=-1)
        elif f == "max":
            out[f] = np.fmax.reduce(X, axis=-1)
        elif f in ("first", "last"):
            any_ = V.any(axis=-1)
            if f == "first":
                idx = np.argmax(V, axis=-1)
            else:
                idx = k - 1 - np.argmax(V[..., ::-1], axis=-1)
            got = np.take_along_axis(X, idx[..., None], axis=-1)[..., 0]
            out[f] = np.where(any_, got, np.nan)
        elif f == "head":
            out[f] = np.where(V[..., 0], X[..., 0], np.nan)
        elif f == "tail":
            out[f] = np.where(V[..., -1], X[..., -1], np.nan)
        elif f == "m2":
            n = V.sum(axis=-1, dtype=np.float64)
            mean = _safe_div(np.where(V, X, 0.0).sum(axis=-1), n)
            out[f] = np.where(V, (X - mean[..., None]) ** 2, 0.0).sum(axis=-1)
        elif f in ("lin_sum", "lin_n"):
            pair = V[..., :-1] & V[..., 1:]
            if f == "lin_n":
                out[f] = pair.sum(axis=-1, dtype=np.float64)
            else:
                out[f] = np.where(pair, (X[..., :-1] + X[..., 1:]) * 0.5, 0.0).sum(axis=-1)
        elif f == "trans":
            pv = np.maximum.accumulate(np.where(V, pos, -1), axis=-1)
            pv = np.concatenate([np.full(pv.shape[:-1] + (1,), -1), pv[..., :-1]], axis=-1)
            prev = np.take_along_axis(X, np.maximum(pv, 0), axis=-1)
            start = V & (X > ON_THRESHOLD) & (pv >= 0) & (prev <= ON_THRESHOLD)
            out[f] = start.sum(axis=-1, dtype=np.float64)
        elif f == "n_on":
            out[f] = (V & (X > ON_THRESHOLD)).sum(axis=-1, dtype=np.float64)
        elif f.startswith("n_eq:"):
            state = float(f[5:])
            out[f] = (V & np.equal(X, state)).sum(axis=-1, dtype=np.float64)
        else:
            raise UnknownNameError(choices_message("partial field", f, _KNOWN_FIELDS))
    return out


def _raw_kernel(fields, k: int | None = None):
    """Partials of the periods ``e`` of a raw block: full periods of ``k`` samples
    through :func:`_block_partials`, the rest (clipped ends, calendar periods)
    through ``chunk_partials`` + ``combine_partials``."""
    def generic(xb, e, gb):
        p = chunk_partials(xb, fields, None if gb is None else gb > 0)
        return combine_partials(p, e - e[0])

    def kernel(xb, e, gb=None):
        if e[0] != 0 or e[-1] != xb.shape[-1]:
            raise AggregationError("internal: period edges do not span the block")
        if k is None:
            return _stack(generic(xb, e, gb), fields)
        sizes = np.diff(e)
        full = sizes == k
        parts = []
        cuts = np.r_[0, np.flatnonzero(full[1:] != full[:-1]) + 1, len(sizes)]
        for i, j in zip(cuts[:-1], cuts[1:], strict=True):   # runs of full / other periods
            lo, hi = e[i], e[j]
            sub = xb[..., lo:hi]
            gsub = None if gb is None else gb[..., lo:hi]
            if full[i]:
                parts.append(_block_partials(sub, k, fields, None if gsub is None else
                                             gsub if gsub.dtype == np.bool_ else gsub > 0))
            else:
                parts.append(generic(sub, e[i:j + 1] - lo, gsub))
        return np.concatenate([_stack(p, fields) for p in parts], axis=-1)
    return kernel


def _combine_kernel(fields):
    def kernel(sb, e):
        p = {f: sb[i] for i, f in enumerate(fields)}
        return _stack(combine_partials(p, e), fields)
    return kernel


def level_partials(x, grid: Grid, level: str, fields: Iterable[str], timezone: str = "UTC",
                   good=None) -> Partials:
    """Partials of ``level`` straight from raw samples ``x`` (numpy or dask, (..., time)).

    Examples
    --------
    >>> import numpy as np
    >>> p = level_partials(np.arange(120.0), Grid(0, 60, 120), "1h", ["sum"])
    >>> p["sum"].tolist(), p.expected.tolist()
    ([1770.0, 5370.0], [60.0, 60.0])
    """
    _check_level(level)
    _check_cadence(level, grid)
    fields = _field_closure(fields)
    bounds = level_bounds(level, grid.t0, grid.end, timezone)
    edges = grid_edges(bounds, grid)
    k = FIXED_LEVELS[level] // grid.dt if level in FIXED_LEVELS else None
    if _is_dask(x) or _is_dask(good):
        import dask.array as da

        x = _merge_leading_chunks(da.asarray(x).astype(np.float64))
        extra = () if good is None else (da.asarray(good).astype(np.float64),)
        data = _blockwise(x, edges, _raw_kernel(fields, k), len(fields), extra)
    else:
        g = None if good is None else np.asarray(good)
        if g is not None and g.dtype != np.bool_:
            g = g.astype(np.float64)
        data = _raw_kernel(fields, k)(np.asarray(x, dtype=np.float64), edges, g)
    return Partials(level, fields, data, bounds, grid)


#: samples per block the raw kernel aims at (asset chunks are merged up to it)
TARGET_BLOCK_SAMPLES = 8_000_000


def _merge_leading_chunks(x):
    """Merge chunks of the leading (asset) axes so blocks hold about
    :data:`TARGET_BLOCK_SAMPLES`: the lake stores one asset per chunk, and
    thousands of tiny tasks cost more than the arithmetic."""
    if x.ndim < 2:
        return x
    tchunk = max(x.chunks[-1]) if x.chunks[-1] else 1
    lead = int(np.prod(x.shape[:-1]))
    want = max(1, min(lead, TARGET_BLOCK_SAMPLES // max(tchunk, 1)))
    if x.ndim == 2 and max(x.chunks[0]) < want:
        return x.rechunk({0: want})
    return x


def nests(fine_bounds: np.ndarray, coarse_bounds: np.ndarray, grid: Grid) -> bool:
    """Whether every coarse boundary inside the grid is also a fine boundary."""
    inner = coarse_bounds[(coarse_bounds > grid.t0) & (coarse_bounds < grid.end)]
    fine = np.asarray(fine_bounds)
    if len(fine) == 0:
        return len(inner) == 0
    if np.all(fine[1:] > fine[:-1]):         # sorted (level bounds): a binary search each
        idx = np.minimum(np.searchsorted(fine, inner), len(fine) - 1)
        return bool(np.all(fine[idx] == inner))
    return bool(np.all(np.isin(inner, fine)))


def rollup(fine: Partials, level: str, timezone: str = "UTC",
           aggregations: Iterable[str] = ()) -> Partials:
    """Partials of the coarser ``level`` merged from ``fine`` partials (never from values).

    Raises
    ------
    AggregationError
        When ``aggregations`` holds a non-mergeable one (median, quantile),
        naming the level, or when the levels do not nest (a 1 h grid cannot
        make days in a UTC+05:30 zone).

    Examples
    --------
    >>> import numpy as np
    >>> hours = level_partials(np.arange(2880.0), Grid(0, 60, 2880), "1h", ["max"])
    >>> rollup(hours, "1D", "UTC")["max"].tolist()
    [1439.0, 2879.0]
    >>> rollup(hours, "1D", "UTC", ["median"])
    Traceback (most recent call last):
    ...
    pumplib.features.aggregations.AggregationError: aggregation 'median' is not mergeable: ...
    """
    _check_level(level)
    for name in aggregations:
        agg = get_aggregation(name)
        if not agg.mergeable:
            raise AggregationError(
                f"aggregation {name!r} is not mergeable: level {level!r} cannot be rolled up "
                f"from {fine.level!r} partials; compute it from raw samples at {level!r} "
                f"(aggregate_array/direct) or drop it at that level. Mergeable: "
                f"{[n for n in available_aggregations() if n in _REGISTRY and _REGISTRY[n].mergeable]}")
    grid = fine.grid
    bounds = level_bounds(level, grid.t0, grid.end, timezone)
    if not nests(fine.bounds, bounds, grid):
        raise AggregationError(f"level {level!r} boundaries in {timezone} are not "
                               f"{fine.level!r} boundaries; roll up from a finer level")
    groups = np.searchsorted(fine.bounds[:-1], bounds, side="left")
    groups = np.clip(groups, 0, len(fine.bounds) - 1)
    groups[0], groups[-1] = 0, len(fine.bounds) - 1
    if _is_dask(fine.data):
        data = _blockwise(fine.data, groups, _combine_kernel(fine.fields), None)
    else:
        data = _stack(combine_partials(fine.as_dict(), groups), fine.fields)
    return Partials(level, fine.fields, data, bounds, grid)


def finalize(partials: Partials, aggregations: Iterable[str], interpolation: str = "linear",
             before: Mapping | None = None) -> dict[str, object]:
    """Values of ``aggregations`` plus ``coverage`` from one level's partials.

    Coverage is good samples over the samples the period expects (a whole
    local day, even where the data starts mid-day). ``before`` holds boundary
    values from before the first period (``{"last": ...}``, one per series: the
    last good value before it, NaN where there is none): ``starts`` then counts a
    start in the first non-empty period when that value was off.

    Examples
    --------
    >>> x = np.array([[1.0, 1.0, 0.0, 1.0]])                 # on, on, off, on
    >>> p = level_partials(x, Grid(0, 60, 4), "1min", fields_for(["starts"]), "UTC")
    >>> finalize(p, ["starts"])["starts"].tolist()            # nothing known before
    [[0.0, 0.0, 0.0, 1.0]]
    >>> finalize(p, ["starts"], before={"last": np.array([0.0])})["starts"].tolist()
    [[1.0, 0.0, 0.0, 1.0]]
    """
    p = partials.as_dict()
    ctx = Context(dt=float(partials.grid.dt), expected=partials.expected, before=before)
    out = {}
    for name in aggregations:
        agg = get_aggregation(name, interpolation)
        if not agg.mergeable:
            raise AggregationError(f"aggregation {name!r} is not mergeable; compute it with "
                                   "raw_aggregate() at each level")
        missing = [f for f in agg.fields if f not in p]
        if missing:
            raise AggregationError(f"partials of {partials.level!r} lack {missing} needed by "
                                   f"{name!r}; have {list(p)}")
        out[name] = agg.finalize(p, ctx)
    out["coverage"] = p["n_good"] / ctx.expected
    return out


def raw_aggregate(x, grid: Grid, level: str, name: str, timezone: str = "UTC"):
    """A non-mergeable aggregation (median, quantile=q) from raw samples of each period."""
    agg = get_aggregation(name)
    if agg.mergeable:
        raise AggregationError(f"{name!r} is mergeable: use level_partials + finalize")
    _check_cadence(level, grid)
    edges = grid_edges(level_bounds(level, grid.t0, grid.end, timezone), grid)
    if _is_dask(x):
        return _blockwise(x, edges, agg.raw, None)
    return agg.raw(np.asarray(x, dtype=np.float64), edges)


def fields_for(aggregations: Iterable[str], interpolation: str = "linear") -> tuple[str, ...]:
    """Partial fields the mergeable ``aggregations`` need."""
    out: list[str] = []
    for name in aggregations:
        out.extend(get_aggregation(name, interpolation).fields)
    return _field_closure(out)


def plan(levels: Sequence[str], grid: Grid, timezone: str) -> dict[str, str | None]:
    """For each level, the coarsest finer level it rolls up from (``None``: from raw).

    Levels are computed finest first; each rolls up from the coarsest level
    already computed whose boundaries nest in its own.

    Examples
    --------
    >>> plan(["1min", "1h", "1D", "1W", "1M"], Grid(0, 60, 10), "Europe/Amsterdam")
    {'1min': None, '1h': '1min', '1D': '1h', '1W': '1D', '1M': '1D'}
    """
    for lv in levels:
        _check_level(lv)
    order = sorted(set(levels), key=LEVELS.index)
    done: dict[str, np.ndarray] = {}
    out: dict[str, str | None] = {}
    for lv in order:
        _check_cadence(lv, grid)
        b = level_bounds(lv, grid.t0, grid.end, timezone)
        src = None
        for prev in reversed(list(done)):
            # weeks do not nest in months; the rest nest wherever the zone's offset allows
            if (lv, prev) != ("1M", "1W") and nests(done[prev], b, grid):
                src = prev
                break
        out[lv] = src
        done[lv] = b
    return out


def aggregate_array(x, grid: Grid, levels: Sequence[str], aggregations: Sequence[str],
                    timezone: str = "UTC", good=None, interpolation: str = "linear",
                    keep_partials: Sequence[str] = (), before: Mapping | None = None
                    ) -> dict[str, dict[str, object]]:
    """Every aggregation at every level, coarser levels rolled up from finer partials.

    Parameters
    ----------
    x : ndarray or dask array, shape (..., time)
        Raw values on ``grid``; NaN where missing or not good.
    grid : Grid
    levels : sequence of str
        Any of :data:`LEVELS`.
    aggregations : sequence of str
        Registered names (:func:`available_aggregations`). Non-mergeable ones
        (median, quantile=q) are computed from raw samples at every level.
    timezone : str
        Time zone of day, week and month boundaries.
    good : array of bool, optional
        Samples that count toward coverage (default: finite ``x``).
    interpolation : {"linear", "step"}
        Resolves ``twa`` and ``integral``.

    keep_partials : sequence of str
        Levels whose :class:`Partials` are returned too, under ``"_partials"``
        (the builder stores the day partials for incremental builds).
    before : mapping, optional
        Boundary values from before the grid (``{"last": array (...)}``, see
        :func:`finalize`), used by every level.

    Returns
    -------
    dict level -> dict name -> array (..., periods), with ``coverage`` and
    ``time`` (period starts, UTC) and ``time_end``.
    """
    mergeable = [a for a in aggregations if get_aggregation(a, interpolation).mergeable]
    raw_only = [a for a in aggregations if a not in mergeable]
    fields = fields_for(mergeable, interpolation)
    out: dict[str, dict[str, object]] = {}
    parts: dict[str, Partials] = {}
    for lv, src in plan(levels, grid, timezone).items():
        if src is None:
            parts[lv] = level_partials(x, grid, lv, fields, timezone, good)
        else:
            parts[lv] = rollup(parts[src], lv, timezone)
        vals = finalize(parts[lv], mergeable, interpolation, before)
        for name in raw_only:
            vals[name] = raw_aggregate(x, grid, lv, name, timezone)
        vals["time"] = parts[lv].times
        vals["time_end"] = times_ns(parts[lv].bounds[1:])
        if lv in keep_partials:
            vals["_partials"] = parts[lv]
        out[lv] = vals
    return out


# ---------------------------------------------------------------------------
# xarray layer
# ---------------------------------------------------------------------------
def aggregate(obj, levels: Sequence[str] | None = None, aggregations: Sequence[str] = ("mean",),
              timezone: str | None = None, good=None, interpolation: str | None = None) -> dict:
    """Aggregate every variable of a Dataset (or one DataArray) at ``levels``.

    A thin wrapper over :func:`aggregate_array`: the data stay lazy when they
    are dask-backed. Each output Dataset holds ``<var>_<aggregation>`` and
    ``<var>_coverage`` with dims ``(asset, time)``, ``time`` being the period
    start (UTC) and ``time_end`` its end.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Raw values on a regular ``time`` grid (last dimension), bad samples NaN.
    levels : sequence of str, optional
        Default: the ``levels`` setting.
    aggregations : sequence of str
    timezone : str, optional
        Default: the ``utility.timezone`` setting.
    good : Dataset or DataArray of bool, optional
        Samples that count toward coverage (default: non-NaN values).
    interpolation : {"linear", "step"}, optional
        For ``twa``/``integral``; default each variable's ``interpolation`` attribute.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> t = pd.date_range("2026-03-29", periods=4 * 24, freq="15min")
    >>> da = xr.DataArray(np.ones((1, 96)), {"asset": ["P1"], "time": t}, ("asset", "time"),
    ...                   name="power")
    >>> out = aggregate(da, ["1h", "1D"], ["mean", "count"], "Europe/Amsterdam")
    >>> out["1D"].power_count.values.tolist(), out["1D"].power_coverage.values.round(3).tolist()  # 23-h day
    ([[88.0, 8.0]], [[0.957, 0.083]])
    """
    import xarray as xr

    from .. import config

    levels = list(levels if levels is not None else config.get("levels"))
    timezone = timezone if timezone is not None else config.get("utility.timezone")
    ds = obj.to_dataset(name=obj.name or "value") if isinstance(obj, xr.DataArray) else obj
    if isinstance(good, xr.DataArray):
        good = {v: good for v in ds.data_vars}
    grid = Grid.from_times(ds["time"].values)
    out: dict[str, dict] = {lv: {} for lv in levels}
    coords: dict[str, dict] = {}
    for var, da in ds.data_vars.items():
        if da.dims[-1] != "time":
            da = da.transpose(..., "time")
        interp = interpolation or da.attrs.get("interpolation", "linear")
        g = None if good is None else good[var].transpose(*da.dims).data
        res = aggregate_array(da.data, grid, levels, list(aggregations), timezone, g, interp)
        for lv, vals in res.items():
            coords[lv] = {"time": vals["time"], "time_end": ("time", vals["time_end"])}
            for name, arr in vals.items():
                if name in ("time", "time_end"):
                    continue
                unit = da.attrs.get("units")
                attrs = {"level": lv, "aggregation": name}
                if unit is not None:
                    attrs["units"] = "1" if name == "coverage" else str(
                        _output_unit(name, unit, interp))
                out[lv][f"{var}_{column_suffix(name)}"] = xr.Variable(da.dims, _own_layer(arr),
                                                                      attrs)
    result = {}
    for lv in levels:
        dims0 = {d: ds[d] for d in ds.dims if d != "time" and d in ds.coords}
        result[lv] = xr.Dataset(out[lv], coords={**dims0, **coords[lv]},
                                attrs={"level": lv, "timezone": timezone,
                                       "step_seconds": grid.dt})
    return result


def column_suffix(name: str) -> str:
    """The variable-name suffix of an aggregation (``quantile=0.9`` → ``quantile_0_9``).

    Examples
    --------
    >>> column_suffix("duration=2"), column_suffix("mean")
    ('duration_2', 'mean')
    """
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")


@functools.lru_cache(maxsize=1024)
def _output_unit(name: str, unit: str, interpolation: str = "linear") -> str:
    """Unit of an aggregation's output as a compact pint string (``kW`` integral → ``kWh``)."""
    from .expr import unit_of

    if name == "coverage":
        return "1"
    agg = get_aggregation(name, interpolation)
    if agg.unit("UNIT") == "UNIT":          # same unit as the input: keep its spelling
        return unit
    try:
        u = unit_of(agg.unit(f"({unit_of(unit)})"))
    except (ValueError, AttributeError):
        return agg.unit(unit)
    if u == unit_of("1"):
        return "1"
    text = f"{u:~C}"
    return re.sub(r"\bh\*kW\b|\bkW\*h\b", "kWh", text)


def _copy_block(b):
    return np.array(b, dtype=np.float64, copy=True)


def _own_layer(arr):
    """``arr`` as its own graph layer when it is a dask array (numpy: unchanged).

    Works around a dask/xarray graph-optimisation failure (``Missing
    dependency ('truediv-…')``) seen when one ``dask.compute`` gets several
    Datasets and a variable of one is also an intermediate of others (here:
    partials shared between levels).
    """
    if hasattr(arr, "dask"):
        return arr.map_blocks(_copy_block, dtype=np.float64)
    return arr
