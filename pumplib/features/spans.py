"""A later span of a long full build, computed on day blocks (:mod:`~pumplib.features.stream`).

The days of the span, from its first local midnight ``start`` to the end of the
raw data given, are computed like a full build computes them: bare raw signals
chunk by chunk, the other features on day blocks of all assets
(:mod:`~pumplib.features.blocks`). The block engine reads from ``start`` (and
the context an expression looks back before it: its windows, lags and differences
see what a build of the whole history sees); the state at the cut (the last good
value before a start) comes from the stored day partials of the days before, as in
:mod:`~pumplib.features.incremental`. Days, weeks and months are finalized and
rolled up from the stored day partials of the days before ``start`` with the new
ones after them. Each table is marked ``changed``, so the lake writer merges its
periods into the stored levels.

Unlike the incremental engine, which evaluates its whole range at once, the block
engine holds a block at a time: a span's memory follows its tables, and its CPU per
day is the full build's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from . import aggregations as A
from .blocks import block_partials
from .planning import (
    PARTIALS_GROUP,
    EngineDeclined,
    epoch_seconds,
    feature_columns,
    incremental_context,
    partial_columns,
    table_attrs,
)
from .reading import raw_window

__all__ = ["build_span"]


def build_span(data: xr.Dataset, catalog, specs: Mapping, wanted: Sequence[str],
               levels: Sequence[str], registry, timezone: str, start: int, stored,
               flags=None, grid: A.Grid | None = None) -> dict[str, xr.Dataset]:
    """The tables of the days of ``data`` from the local midnight ``start`` (epoch s) on,
    over the ``stored`` day partials of the days before it (an ``xarray.Dataset`` as
    :meth:`~pumplib.features.tables.TableWriter.stored_partials` reads them).

    Raises :class:`~pumplib.features.planning.EngineDeclined` when ``start`` is not a
    local midnight after the first day of ``data`` (grid ``grid``, made from its time
    axis when not given), the stored day partials do not end
    at it, or the day blocks cannot hold the fine levels (offsets like +05:30)."""
    grid = grid if grid is not None else A.Grid.from_times(data["time"].values)
    full_days = A.level_bounds("1D", grid.t0, grid.end, timezone)
    a = int(np.searchsorted(full_days, start))
    if a < 1 or a >= len(full_days) - 1 or full_days[a] != start:
        raise EngineDeclined("the span does not start at a local midnight after the first day")
    _check_stored(stored, data, full_days, a, specs)
    window, wgrid, wflags = _window(data, grid, catalog, specs, int(start), flags)
    merged = block_partials(window, wgrid, catalog, specs, levels, registry, timezone, wflags)
    cols: dict[str, dict] = {}
    periods: dict[str, tuple] = {}
    for name, spec in specs.items():
        for lv, (c, t_s, e_s) in _feature_tables(name, spec, merged[name], stored, full_days,
                                                 a, grid, timezone).items():
            cols.setdefault(lv, {}).update(c)
            periods.setdefault(lv, (t_s, e_s))
    attrs = table_attrs(data, catalog, wanted, timezone, grid.dt,
                        changed=[int(start), int(grid.end)])
    out = {}
    for lv in [*levels, PARTIALS_GROUP]:
        if lv in cols:
            t_s, e_s = periods[lv]
            out[lv] = xr.Dataset(cols[lv], coords={
                "asset": data["asset"].values, "time": A.times_ns(t_s),
                "time_end": ("time", A.times_ns(e_s))}, attrs={"level": lv, **attrs})
    return out


def _check_stored(stored, data, full_days, a: int, specs) -> None:
    """Raise :class:`EngineDeclined` unless ``stored`` holds the data's assets, every
    feature's fields and the days before ``full_days[a]`` (or one more: the one sample
    after the previous span's end)."""
    if stored is None or [str(x) for x in stored["asset"].values] != \
            [str(x) for x in data["asset"].values]:
        raise EngineDeclined("no stored day partials of these assets")
    st = epoch_seconds(stored["time"].values)
    if len(st) < a or len(st) > a + 1 or not np.array_equal(st[:a], full_days[:a]):
        raise EngineDeclined("the stored day partials do not end at the span")
    for name, (d, lvs, _mergeable, fields) in specs.items():
        if not any(lv in A.CALENDAR_LEVELS for lv in lvs):
            continue                         # no day partials: fine levels only
        for f in fields:
            v = stored.get(f"{name}__{A.column_suffix(f)}")
            if v is None or v.attrs.get("definition_hash") != d.hash:
                raise EngineDeclined(f"the stored day partials of {name!r} are not those "
                                     "of its definition")


def _window(data, grid, catalog, specs, start: int, flags):
    """The raw data a span reads: from its start, and the context the features'
    expressions look back before it (a Dataset cut with :func:`raw_window`, so it is
    still read straight from the lake), its grid and quality flags."""
    ctx = incremental_context(catalog, list(specs))
    i0 = max(0, (start - ctx - grid.t0) // grid.dt)
    window = raw_window(data, grid.n, i0)
    wgrid = A.Grid(grid.t0 + i0 * grid.dt, grid.dt, grid.n - i0)
    wflags = None
    if flags is not None:
        wflags = flags.isel(time=slice(i0, None))
        wflags.attrs = dict(flags.attrs)
    return window, wgrid, wflags


def _feature_tables(name, spec, got, stored, full_days, a, grid, timezone) -> dict:
    """Feature ``name``'s columns per level of the new days: ``{level: (columns, period
    starts, ends)}`` (epoch seconds)."""
    d, lvs, mergeable, fields = spec
    parts, raws = got
    start = int(full_days[a])
    before = None
    if "trans" in fields and f"{name}__{A.column_suffix('last')}" in stored:
        # the state before the span, from the stored days: where the context read before
        # it holds no good value, it is the state before the window too
        last = np.asarray(stored[f"{name}__{A.column_suffix('last')}"].values,
                          dtype=np.float64)[..., :a]
        before = {"last": A._ffill(last)[..., -1] if last.shape[-1] else
                  np.full(last.shape[:-1], np.nan)}
    out = {}
    for lv in lvs:
        if lv not in A.FIXED_LEVELS:
            continue
        p = parts[lv]
        k = int(np.searchsorted(p.bounds, start))
        vals = A.finalize(p, mergeable, d.interpolation, before)
        cut = {key: v[..., k:] for key, v in vals.items()}
        cut["time"], cut["time_end"] = p.times[k:], A.times_ns(p.bounds[k + 1:])
        cols = feature_columns(d, lv, cut, lambda lv_, a_, k=k: raws[(lv_, a_)][..., k:])
        cols.pop("time"), cols.pop("time_end")
        out[lv] = (cols, p.bounds[k:-1], p.bounds[k + 1:])
    if "1D" not in parts:
        return out
    new = parts["1D"]
    j = int(np.searchsorted(new.bounds, start))
    if not np.array_equal(new.bounds[j:], full_days[a:]):
        raise EngineDeclined("the new day partials are not those of the span's days")
    fresh = np.asarray(new.data)[..., j:]
    old = np.stack([np.asarray(stored[f"{name}__{A.column_suffix(f)}"].values)[..., :a]
                    for f in fields])
    days = A.Partials("1D", fields, np.concatenate([old, fresh], axis=-1), full_days, grid)
    out[PARTIALS_GROUP] = (partial_columns(d, A.Partials("1D", fields, fresh, full_days[a:],
                                                         grid)),
                           full_days[a:-1], full_days[a + 1:])
    for lv in lvs:
        if lv in A.FIXED_LEVELS:
            continue
        p = days if lv == "1D" else A.rollup(days, lv, timezone)
        k = int(np.flatnonzero(p.bounds[1:] > start)[0])
        vals = A.finalize(p, mergeable, d.interpolation)
        cut = {key: v[..., k:] for key, v in vals.items()}
        cut["time"], cut["time_end"] = p.times[k:], A.times_ns(p.bounds[k + 1:])
        cols = feature_columns(d, lv, cut, lambda lv_, a_: raws[(lv_, a_)][..., j:])
        cols.pop("time"), cols.pop("time_end")
        out[lv] = (cols, p.bounds[k:-1], p.bounds[k + 1:])
    return out
