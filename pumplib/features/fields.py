"""Partial fields: the *chunk* and *combine* steps every aggregation is declared in.

A raw sample becomes the partials of a one-sample period (:func:`chunk_partials`);
the partials of consecutive periods merge into those of the period that holds
them (:func:`combine_partials`). :mod:`pumplib.features.aggregations` declares
the aggregations over these fields and re-exports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..errors import UnknownNameError, choices_message
from .periods import AggregationError

#: threshold above which a state value counts as "on" (run_state 1, flags 1)
ON_THRESHOLD = 0.5


# ---------------------------------------------------------------------------
# partial fields: chunk (one raw sample) and the dependencies between fields
# ---------------------------------------------------------------------------
#: fields every partial set carries
_BASE_FIELDS = ("n", "n_good")
#: fields that need other fields to combine
_FIELD_NEEDS: dict[str, tuple[str, ...]] = {
    "m2": ("n", "sum"),
    "first": ("n",),
    "last": ("n",),
    "lin_sum": ("head", "tail"),
    "lin_n": ("head", "tail"),
    "trans": ("n", "first", "last"),
}
_ADDITIVE_PREFIXES = ("n_eq:",)
_ADDITIVE = {"n", "n_good", "sum", "n_on"}


def _field_closure(fields: Iterable[str]) -> tuple[str, ...]:
    out = list(_BASE_FIELDS)
    todo = list(fields)
    while todo:
        f = todo.pop()
        if f in out:
            continue
        out.append(f)
        todo.extend(_FIELD_NEEDS.get(f, ()))
    return tuple(sorted(out))


def _sample_partial(name: str, x: np.ndarray, valid: np.ndarray, good: np.ndarray) -> np.ndarray:
    """The partial ``name`` of a period holding one raw sample (the *chunk* step)."""
    if name == "n":
        return valid.astype(np.float64)
    if name == "n_good":
        return good.astype(np.float64)
    if name == "sum":
        return np.where(valid, x, 0.0)
    if name in ("min", "max", "first", "last", "head", "tail"):
        return np.where(valid, x, np.nan)
    if name in ("m2", "lin_sum", "lin_n", "trans"):
        return np.zeros(x.shape, dtype=np.float64)
    if name == "n_on":
        return (valid & (x > ON_THRESHOLD)).astype(np.float64)
    if name.startswith("n_eq:"):
        return (valid & (x == float(name[5:]))).astype(np.float64)
    raise UnknownNameError(choices_message("partial field", name, _KNOWN_FIELDS))


_KNOWN_FIELDS = ("n", "n_good", "sum", "min", "max", "m2", "first", "last", "head", "tail",
                 "lin_sum", "lin_n", "trans", "n_on", "n_eq:<value>")


def chunk_partials(x: np.ndarray, fields: Sequence[str], good: np.ndarray | None = None
                   ) -> dict[str, np.ndarray]:
    """Partials of one-sample periods: the *chunk* step of every aggregation.

    Parameters
    ----------
    x : ndarray, shape (..., time)
        Raw values; NaN marks a missing or bad sample.
    fields : sequence of str
        Partial fields wanted (their dependencies are added).
    good : ndarray of bool, optional
        Samples that count toward coverage (default: ``isfinite(x)``). A
        feature's condition (e.g. only while running) masks values but not
        coverage, so the two may differ.
    """
    x = np.asarray(x, dtype=np.float64)
    valid = np.isfinite(x)
    good = valid if good is None else np.asarray(good, dtype=bool)
    return {f: _sample_partial(f, x, valid, good) for f in _field_closure(fields)}


# ---------------------------------------------------------------------------
# combine: consecutive periods → the period that contains them
# ---------------------------------------------------------------------------
def combine_partials(p: Mapping[str, np.ndarray], groups: np.ndarray) -> dict[str, np.ndarray]:
    """Merge consecutive periods' partials into coarser periods (the *combine* step).

    Parameters
    ----------
    p : mapping of str to ndarray, shape (..., m)
        Partials of ``m`` consecutive periods (or raw samples, see
        :func:`chunk_partials`), in time order.
    groups : ndarray of int, shape (k + 1,)
        Edges into the ``m`` periods: coarse period ``j`` merges periods
        ``groups[j]:groups[j + 1]``. ``groups[0] == 0``, ``groups[-1] == m``,
        every group non-empty.

    Returns
    -------
    dict of str to ndarray, shape (..., k)

    Examples
    --------
    >>> import numpy as np
    >>> p = chunk_partials(np.array([0.0, 1.0, 1.0, 0.0, 1.0]), ["trans", "sum"])
    >>> out = combine_partials(p, np.array([0, 2, 5]))
    >>> out["trans"].tolist(), out["sum"].tolist()
    ([1.0, 1.0], [1.0, 2.0])
    >>> combine_partials(out, np.array([0, 2]))["trans"].tolist()   # same as from raw
    [2.0]
    """
    groups = np.asarray(groups, dtype=np.int64)
    m = p["n"].shape[-1]
    if groups[0] != 0 or groups[-1] != m or np.any(np.diff(groups) <= 0):
        raise AggregationError(f"invalid group edges over {m} periods: {groups.tolist()}")
    starts = groups[:-1]
    k = len(starts)
    gid = np.repeat(np.arange(k), np.diff(groups))
    is_gstart = np.zeros(m, dtype=bool)
    is_gstart[starts] = True
    shape = p["n"].shape
    pos = np.broadcast_to(np.arange(m), shape)
    nonempty = p["n"] > 0

    def add(a):
        return np.add.reduceat(a, starts, axis=-1)

    out: dict[str, np.ndarray] = {}
    for f, a in p.items():
        if f in _ADDITIVE or f.startswith(_ADDITIVE_PREFIXES):
            out[f] = add(a)
        elif f == "min":
            out[f] = np.fmin.reduceat(a, starts, axis=-1)
        elif f == "max":
            out[f] = np.fmax.reduceat(a, starts, axis=-1)
        elif f == "first":
            fpos = np.minimum.reduceat(np.where(nonempty, pos, m), starts, axis=-1)
            got = np.take_along_axis(a, np.minimum(fpos, m - 1), axis=-1)
            out[f] = np.where(fpos < groups[1:], got, np.nan)
        elif f == "last":
            lpos = np.maximum.reduceat(np.where(nonempty, pos, -1), starts, axis=-1)
            got = np.take_along_axis(a, np.maximum(lpos, 0), axis=-1)
            out[f] = np.where(lpos >= starts, got, np.nan)
        elif f == "head":
            out[f] = a[..., starts]
        elif f == "tail":
            out[f] = a[..., groups[1:] - 1]
        elif f == "m2":
            n, s = p["n"], p["sum"]
            ng = add(n)
            mean_g = _safe_div(add(s), ng)
            mean_f = _safe_div(s, n)
            dev = np.where(nonempty, n * (mean_f - mean_g[..., gid]) ** 2, 0.0)
            out[f] = add(a + dev)
        elif f in ("lin_sum", "lin_n"):
            head, tail = p["head"], p["tail"]
            prev_tail = np.concatenate([np.full(shape[:-1] + (1,), np.nan), tail[..., :-1]], -1)
            pair = ~is_gstart & np.isfinite(prev_tail) & np.isfinite(head)
            extra = (prev_tail + head) * 0.5 if f == "lin_sum" else np.ones(shape)
            out[f] = add(a + np.where(pair, extra, 0.0))
        elif f == "trans":
            pv = np.maximum.accumulate(np.where(nonempty, pos, -1), axis=-1)
            pv = np.concatenate([np.full(shape[:-1] + (1,), -1), pv[..., :-1]], axis=-1)
            prev_last = np.take_along_axis(p["last"], np.maximum(pv, 0), axis=-1)
            start = (nonempty & (pv >= starts[gid]) & (prev_last <= ON_THRESHOLD)
                     & (p["first"] > ON_THRESHOLD))
            out[f] = add(a + start)
        else:
            raise UnknownNameError(choices_message("partial field", f, _KNOWN_FIELDS))
    return out


def _safe_div(a, b):
    """``a / b`` where ``b > 0``, else NaN, without a divide-by-zero warning (numpy or dask)."""
    return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _shift_right(a, fill):
    """``a`` moved one period later along the last axis (numpy or dask)."""
    pad = _full_like_last(a, fill)
    return _concat([pad, a[..., :-1]])


def _shift_left(a, fill):
    """``a`` moved one period earlier along the last axis (numpy or dask)."""
    pad = _full_like_last(a, fill)
    return _concat([a[..., 1:], pad])


def _is_dask(a) -> bool:
    return type(a).__module__.startswith("dask")


def _full_like_last(a, fill):
    shape = a.shape[:-1] + (1,)
    if _is_dask(a):
        import dask.array as da

        return da.full(shape, fill, dtype=a.dtype, chunks=a.chunks[:-1] + ((1,),))
    return np.full(shape, fill, dtype=a.dtype)


def _concat(parts):
    if any(_is_dask(p) for p in parts):
        import dask.array as da

        return da.concatenate(parts, axis=-1)
    return np.concatenate(parts, axis=-1)


def _ffill_np(a, axis=-1):
    pos = np.where(np.isfinite(a), np.arange(a.shape[-1]), 0)
    pos = np.maximum.accumulate(pos, axis=-1)
    out = np.take_along_axis(a, pos, axis=-1)
    return out


def _ffill_binop(a, b):
    return np.where(np.isnan(b), a, b)


def _ffill(a):
    """Forward-fill NaN along the last axis (numpy, or dask via a cumulative reduction)."""
    if _is_dask(a):
        from dask.array.reductions import cumreduction

        return cumreduction(_ffill_np, _ffill_binop, np.nan, a, axis=a.ndim - 1,
                            dtype=a.dtype)
    return _ffill_np(a)
