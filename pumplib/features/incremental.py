"""The incremental engine: new or late raw data rebuild only the periods they touch.

An incremental build (``build(..., changed=(start, end), store=lake)``) reads
the raw data of the changed days only (plus, for expressions that look back,
:func:`~pumplib.features.planning.incremental_context` before) while the day
partials stored by earlier builds (``features/_partials/1D``) load. Minutes,
quarter hours, hours and the new day partials come from raw samples; days,
weeks and months are finalized and rolled up from the stored day partials
with the new days spliced in, so they equal a full build. The day's work is a
:class:`~pumplib.features.taskgraph.TaskGraph`: each feature is evaluated once,
as soon as the features it uses are, then aggregated by the worker that
evaluated it; bare raw signals are reduced by the chunk kernel.

When the stored day partials cannot serve (none stored, other assets, a
changed definition, a hole between the stored and the new days) the engine
raises :class:`~pumplib.features.planning.EngineDeclined` before any table is
handed on, and :func:`~pumplib.features.build` recomputes every affected
period with the lazy engine.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import xarray as xr

from . import aggregations as A
from .definitions import FeatureCatalog
from .evaluate import FeatureEvaluator, needed_signals
from .planning import (
    PARTIALS_GROUP,
    EngineDeclined,
    bare_signal,
    context_setting,
    epoch_seconds,
    feature_columns,
    incremental_context,
    ns_times,
    partial_columns,
    plan_levels,
    table_attrs,
)
from .reading import window_reader
from .tables import read_stored_partials
from .taskgraph import BARE_WORK, TaskGraph, feature_work

__all__ = ["build_incremental", "kernel_aggregate"]


def build_incremental(data: xr.Dataset, catalog: FeatureCatalog, specs: Mapping,
                      wanted: Sequence[str], levels: Sequence[str], registry, timezone: str,
                      changed: tuple[int, int], store, partials: bool, flags=None, emit=None,
                      grid: A.Grid | None = None) -> dict[str, xr.Dataset]:
    """An incremental build of the features ``specs`` (:func:`~.planning.block_specs`; the
    features ``wanted`` name the definition hashes) that reads raw data of the changed
    days only (see :func:`~pumplib.features.build`); ``changed`` is in epoch seconds,
    ``grid`` is data's (made from its time axis when not given). Raises
    :class:`~.planning.EngineDeclined`, before any table is handed on, when the stored
    day partials cannot serve it."""
    grid = grid if grid is not None else A.Grid.from_times(data["time"].values)
    s, e = max(changed[0], grid.t0), min(changed[1], grid.end)
    if e <= s or not specs:
        return {}
    job = _Incremental(data, catalog, specs, levels, registry, timezone, partials, grid)
    job.read(store, emit, flags, s, e)
    if getattr(emit, "prepare", None) is not None:
        job.announce(emit.prepare)
    return job.run(emit, table_attrs(data, catalog, wanted, timezone, grid.dt,
                                     changed=[int(changed[0]), int(changed[1])],
                                     raw_read=[int(job.sgrid.t0), int(job.sgrid.end)]))


def _put_columns(cols_of: dict, periods: dict, lv: str, cols: Mapping, t_s, e_s,
                 name: str) -> None:
    """Add feature ``name``'s columns ``cols`` of level ``lv`` (periods ``t_s``/``e_s``,
    epoch seconds: every feature of a level has the same) to ``cols_of``/``periods``."""
    periods.setdefault(lv, (t_s, e_s))
    cols_of.setdefault(lv, {}).setdefault(name, {}).update(cols)


class _Incremental:
    """One incremental build. After :meth:`read`: the raw data read ``sub`` (grid
    ``sgrid``), the ``stored`` day partials, the changed local days ``[d0, d1)`` (indices
    ``[a, b)`` of the data's days ``full_days``), the fine periods ``[h0, h1)`` and the
    range ``ext`` whose periods may change (epoch seconds)."""

    def __init__(self, data, catalog, specs, levels, registry, timezone, partials, grid):
        self.data, self.catalog, self.specs, self.levels = data, catalog, specs, levels
        self.registry, self.timezone, self.partials, self.grid = (registry, timezone,
                                                                  partials, grid)
        self.fine = [lv for lv in levels if lv in A.FIXED_LEVELS]
        cal = [lv for lv in levels if lv in A.CALENDAR_LEVELS]
        self.with_days = [n for n, sp in specs.items() if any(lv in cal for lv in sp[1])]

    # -- reading ------------------------------------------------------------------------
    def read(self, store, emit, flags, s: int, e: int) -> None:
        """Read the raw data of the changed range ``[s, e)`` while the stored day partials
        load: through the commit's transaction when the writer ``emit`` has it open (the
        group and axes it inspected already), else on a thread, from a session of
        ``store``; raises :class:`EngineDeclined` when they cannot serve."""
        with_days = self.with_days
        with ThreadPoolExecutor(1) as ex:
            from_writer = getattr(emit, "stored_partials", None)
            loading = (None if not with_days else
                       from_writer(with_days) if from_writer is not None
                       else ex.submit(read_stored_partials, store, with_days))
            got = _incremental_read(self.data, self.catalog, self.specs, self.levels,
                                    self.timezone, s, e, with_days, flags, self.grid)
            self.stored = loading.result() if loading is not None else None
        if with_days:
            self._check_stored()
        if got is None:
            raise EngineDeclined("the changed range holds fewer than two raw samples")
        self.sub, self.ext, (self.d0, self.d1), (self.h0, self.h1), self.chunked = got
        self.sgrid = A.Grid.from_times(self.sub["time"].values)
        grid = self.grid
        self.full_days = full_days = A.level_bounds("1D", grid.t0, grid.end, self.timezone)
        self.a = a = int(np.searchsorted(full_days, self.d0))
        self.b = b = int(np.searchsorted(full_days, self.d1))
        if with_days:
            st = epoch_seconds(self.stored["time"].values)
            after = full_days[b:-1]
            if (len(st) < a or not np.array_equal(st[:a], full_days[:a])
                    or (len(st) > b and not np.array_equal(st[b:b + len(after)],
                                                           after[:len(st) - b]))
                    or len(st) > b and len(st) < len(full_days) - 1):
                raise EngineDeclined("the stored day partials and the new days do not join "
                                     "(a hole, or stored days ending inside the range)")
        for name in with_days:
            d, lvs, mergeable, _fields = self.specs[name]
            if "1D" in lvs and any(x not in mergeable for x in d.aggregations["1D"]):
                touched = np.flatnonzero((full_days[:-1] < self.ext[1])
                                         & (full_days[1:] > self.ext[0]))
                if full_days[touched[0]] < self.d0 or full_days[touched[-1] + 1] > self.d1:
                    raise EngineDeclined(f"{name!r}: a raw-only value outside the changed "
                                         "days")

    def _check_stored(self) -> None:
        """Raise :class:`EngineDeclined` unless the stored day partials hold the data's
        assets and, for every feature with calendar levels, the fields of its definition."""
        stored = self.stored
        if stored is None or [str(a) for a in stored["asset"].values] != \
                [str(a) for a in self.data["asset"].values]:
            raise EngineDeclined("no stored day partials of these assets")
        by_feature: dict[str, dict] = {}
        for v in stored.variables.values():
            if "feature" in v.attrs:
                by_feature.setdefault(v.attrs["feature"], {})[v.attrs.get("field")] = \
                    v.attrs.get("definition_hash")
        for n in self.with_days:
            d, _, _, fields = self.specs[n]
            have = by_feature.get(n, {})
            if set(have) != set(fields) or set(have.values()) != {d.hash}:
                raise EngineDeclined(f"the stored day partials of {n!r} are not those of "
                                     "its definition")

    def announce(self, prepare) -> None:
        """Tell the writer every table's periods (``prepare(level, assets, starts, ends)``),
        so the stored levels grow while this computes."""
        grid, timezone, full_days, ext = self.grid, self.timezone, self.full_days, self.ext
        assets = [str(x) for x in self.data["asset"].values]
        for lv in self.levels:
            if not any(lv in sp[1] for sp in self.specs.values()):
                continue
            if lv in self.fine:
                bounds = A.level_bounds(lv, self.h0, self.h1, timezone)
            else:
                bounds = full_days if lv == "1D" else A.level_bounds(lv, grid.t0, grid.end,
                                                                     timezone)
                hit = np.flatnonzero((bounds[:-1] < ext[1]) & (bounds[1:] > ext[0]))
                bounds = bounds[hit[0]:hit[-1] + 2]
            prepare(lv, assets, bounds[:-1], bounds[1:])
        if self.partials and self.with_days:
            a, b = self.a, self.b
            prepare(PARTIALS_GROUP, assets, full_days[a:b], full_days[a + 1:b + 1])

    # -- the work -----------------------------------------------------------------------
    def _plan(self) -> None:
        """The raw levels of every feature, the bare raw signals (reduced by the chunk
        kernel, not evaluated) and the graph of the day's tasks, all assets at a time.

        Each feature is evaluated once, as soon as the features it uses are (then
        aggregated by the worker that evaluated it); one worker per core takes the ready
        task with the longest chain of work behind it, so the workers end within a few
        milliseconds of each other however the guessed work is off."""
        catalog, specs, sub = self.catalog, self.specs, self.sub
        self.raw_levels = {
            n: [lv for lv in plan_levels([lv for lv in sp[1] if lv in self.fine]
                                         + (["1D"] if n in self.with_days else []))
                if lv in self.fine or lv == "1D"] for n, sp in specs.items()}
        self.bare = {}
        for n, (d, lvs, mergeable, fields) in specs.items():
            if n in self.chunked:            # reduced straight from the lake already
                self.bare[n] = None
                continue
            sig = bare_signal(catalog, sub, d, lvs, mergeable, fields)
            if sig is not None:
                roots = [lv for lv, src in A.plan(self.raw_levels[n], self.sgrid,
                                                  self.timezone).items() if src is None]
                if len(roots) == 1 and roots[0] in A.FIXED_LEVELS:
                    self.bare[n] = sig
        evaluated = catalog.closure([n for n in specs if n not in self.bare])
        self.deps = {**{n: catalog[n].feature_inputs(catalog) for n in evaluated},
                     **{f"\0{n}": [] for n in self.bare}}          # a bare signal's kernel
        self.graph = TaskGraph(self.deps, {**{n: feature_work(catalog, n) for n in evaluated},
                                           **{f"\0{n}": BARE_WORK for n in self.bare}})
        self.evaluator = (FeatureEvaluator(sub, catalog, self.registry, self.timezone)
                          if sub.data_vars else None)    # None: every feature is chunked
        self.values: dict[str, xr.DataArray] = {}   # evaluated features dependents need
        self.k0 = max(0, (self.d0 - self.sgrid.t0) // self.sgrid.dt)   # steps before d0

    def _state_before(self, name, values):
        """``{"last": per asset}``: the last good value of feature ``name`` before the
        raw data read, where the steps read before the changed days hold none of it
        (a sensor gap longer than the context), from the stored day partials of the
        days before; None for a feature that counts no starts."""
        fields = self.specs[name][3]
        if "trans" not in fields or name not in self.with_days or self.a == 0:
            return None
        last = A._ffill(np.asarray(self.stored[f"{name}__{A.column_suffix('last')}"].values,
                                   dtype=np.float64)[..., :self.a])[..., -1]
        seen = np.isfinite(np.asarray(values)[..., :self.k0]).any(axis=-1)
        return {"last": np.where(seen, np.nan, last)}

    def _aggregate(self, name, value, good):
        """Feature ``name``'s aggregates at its raw levels (medians and quantiles, from
        raw samples, included)."""
        d, _lvs, mergeable, _fields = self.specs[name]
        sgrid, timezone, raw_levels = self.sgrid, self.timezone, self.raw_levels[name]
        res = A.aggregate_array(value.data, sgrid, raw_levels, mergeable, timezone,
                                good.data, d.interpolation, keep_partials=("1D",),
                                before=self._state_before(name, value.data))
        for lv in raw_levels:
            for agg in d.aggregations.get(lv, ()):
                if agg not in mergeable:
                    res[lv][agg] = A.raw_aggregate(value.data, sgrid, lv, agg, timezone)
        return res

    def _fine_columns(self, name, res, put):
        """Feature ``name``'s minute, quarter-hour and hour columns from its aggregates
        ``res`` (raw-only values are in ``res`` already), cut to the changed days."""
        d, lvs, _mergeable, _fields = self.specs[name]
        for lv in lvs:
            if lv not in self.fine:
                continue
            cols = feature_columns(d, lv, res[lv], lambda lv_, a_, res=res: res[lv_][a_])
            t_s = epoch_seconds(cols.pop("time"))
            e_s = epoch_seconds(cols.pop("time_end"))
            idx = np.flatnonzero((t_s >= self.h0) & (e_s <= self.h1))
            cut = slice(int(idx[0]), int(idx[-1]) + 1)
            put(lv, {k: xr.Variable(v.dims, v.data[..., cut], v.attrs)
                     for k, v in cols.items()}, t_s[cut], e_s[cut], name)

    def _calendar_columns(self, name, res, put) -> bool:
        """Feature ``name``'s day, week, month and day-partial columns: the stored day
        partials with the new days of ``res`` spliced in, rolled up and finalized; False
        when the new day partials are not those days (the stored ones cannot serve)."""
        d, lvs, mergeable, fields = self.specs[name]
        a, b, full_days, grid, ext = self.a, self.b, self.full_days, self.grid, self.ext
        new = res["1D"]["_partials"]
        j = int(np.searchsorted(new.bounds, self.d0))
        if not np.array_equal(new.bounds[j:j + b - a + 1], full_days[a:b + 1]):
            return False
        fresh = new.data[..., j:j + b - a]
        old = np.stack([self.stored[f"{name}__{A.column_suffix(f)}"].values for f in fields])
        parts = [old[..., :a], fresh, old[..., b:]]
        if A._is_dask(fresh):
            import dask.array as da

            combined = da.concatenate([da.from_array(p) if not A._is_dask(p) else p
                                       for p in parts], axis=-1)
        else:
            combined = np.concatenate(parts, axis=-1)
        days = A.Partials("1D", fields, combined, full_days, grid)
        if self.partials:
            put(PARTIALS_GROUP, partial_columns(d, A.Partials("1D", fields, fresh,
                                                              full_days[a:b + 1], grid)),
                full_days[a:b], full_days[a + 1:b + 1], name)
        for lv in lvs:
            if lv in self.fine:
                continue
            p = days if lv == "1D" else A.rollup(days, lv, self.timezone)
            touched = np.flatnonzero((p.bounds[:-1] < ext[1]) & (p.bounds[1:] > ext[0]))
            cut = slice(int(touched[0]), int(touched[-1]) + 1)
            vals = {k: v[..., cut] for k, v in A.finalize(p, mergeable, d.interpolation).items()}
            t_s, e_s = p.bounds[:-1][cut], p.bounds[1:][cut]
            vals["time"], vals["time_end"] = t_s, e_s
            k = int(np.searchsorted(new.bounds, t_s[0]))
            day_raw = slice(k, k + len(t_s))      # raw-only values: the changed days

            def raw_day(lv, agg, res=res, day_raw=day_raw):
                return res[lv][agg][..., day_raw]

            cols = feature_columns(d, lv, vals, raw_day)
            cols.pop("time"), cols.pop("time_end")
            put(lv, cols, t_s, e_s, name)
        return True

    def _run_tasks(self, _worker):
        """Take tasks off the graph until none is left: evaluate a feature (or reduce a
        bare signal), aggregate it and make its columns of every level, so that no raw
        values outlive it and its Python work overlaps the other workers' numeric work.
        Returns ``({level: {feature: {column: Variable}}}, {level: (period starts,
        ends)})`` (epoch seconds); None when the stored day partials cannot take the
        new days."""
        specs, graph, bare, values = self.specs, self.graph, self.bare, self.values
        cols_of: dict[str, dict] = {}            # level -> feature -> its columns
        periods: dict[str, tuple] = {}
        put = functools.partial(_put_columns, cols_of, periods)
        try:
            while (task := graph.take()) is not None:
                if task.startswith("\0"):
                    name = task[1:]
                    d, _lvs, mergeable, fields = specs[name]
                    res = (self.chunked.pop(name) if name in self.chunked else
                           kernel_aggregate(np.asarray(self.sub[bare[name]].values),
                                            self.sgrid, self.raw_levels[name], mergeable,
                                            fields, self.timezone, d.interpolation))
                    graph.done(task)
                else:
                    name = task
                    value, good = self.evaluator.evaluate(name, values)
                    if graph.dependents[name]:
                        values[f"{name}__good"], values[name] = good, value
                    for m in graph.done(name):   # no dependent left to evaluate
                        values.pop(m, None), values.pop(f"{m}__good", None)
                    if name not in specs or name in bare:
                        continue                 # evaluated for its dependents only
                    res = self._aggregate(name, value, good)
                    del value, good
                if name in self.with_days and not self._calendar_columns(name, res, put):
                    graph.fail()                 # the others stop: nothing is handed on
                    return None
                self._fine_columns(name, res, put)
        except BaseException:
            graph.fail()                         # the other workers stop waiting
            raise
        return cols_of, periods

    def run(self, emit, attrs: Mapping) -> dict[str, xr.Dataset]:
        """Every table (its level, then ``attrs``), each handed to
        ``emit`` as soon as it is complete: minutes, quarter hours and hours (the longest
        writes) first."""
        self._plan()
        if self.bare:
            from .kernels import load

            load()                               # the kernels, before threads ask for them
        A._fused_partials(np.zeros((1, 2)), 2, None)
        workers = max(1, min(os.cpu_count() or 1, len(self.deps)))
        with ThreadPoolExecutor(workers) as ex:
            done = list(ex.map(self._run_tasks, range(workers)))
        if any(x is None for x in done):
            raise EngineDeclined("the new day partials are not those of the changed days")
        out: dict[str, xr.Dataset] = {}
        asset_values = self.data["asset"].values
        levels = self.levels
        for lv in [*[lv for lv in levels if lv in self.fine],
                   *[lv for lv in [*levels, PARTIALS_GROUP] if lv not in self.fine]]:
            held = [blk for blk in done if lv in blk[1]]
            if not held:
                continue
            t_s, e_s = held[0][1][lv]
            columns = {}                     # in the catalog's order, whichever block
            for name in self.specs:
                for blk in held:
                    columns.update(blk[0][lv].get(name, {}))
            out[lv] = xr.Dataset(columns, coords={"asset": asset_values, "time": ns_times(t_s),
                                                  "time_end": ("time", ns_times(e_s))},
                                 attrs={"level": lv, **attrs})
            if emit is not None:
                emit(lv, out[lv])
        return out


def _incremental_read(data, catalog, specs, levels, timezone, s, e, with_days, flags, grid):
    """The raw data an incremental build of the changed range ``[s, e)`` reads:
    ``(sub, periods that may change, changed days, fine periods)``; None when
    fewer than two samples. ``grid`` is data's."""
    fine = [lv for lv in levels if lv in A.FIXED_LEVELS]
    lin = any("lin_sum" in sp[3] for sp in specs.values())
    trans = any("trans" in sp[3] for sp in specs.values())
    dt = grid.dt
    # periods whose values may change: a changed sample also enters the previous
    # period's linear interpolation and the next period's start count
    ext = (max(grid.t0, s - dt) if lin else s, min(grid.end, e + dt) if trans else e)
    dayb = A.level_bounds("1D", s, e, timezone)
    d0, d1 = int(dayb[0]), int(dayb[-1])
    if fine:
        hb = A.level_bounds(max(fine, key=A.FIXED_LEVELS.get), ext[0], max(ext[1], ext[0] + 1),
                            timezone)
        h0, h1 = int(hb[0]), int(hb[-1])
    else:
        h0, h1 = d0, d1
    ctx = incremental_context(catalog, list(specs))
    if not ctx and (lin or any("trans" in sp[3] and n not in with_days
                               for n, sp in specs.items())):
        # the hour before a linear interpolation's redone periods, and the state before a
        # start where no stored day partials hold it, come from raw data
        ctx = context_setting()
    lo = (min(d0, h0) if with_days else h0) - ctx
    hi = (max(d1, h1) if with_days else h1) + dt
    i0 = max(0, (lo - grid.t0) // dt)
    i1 = min(grid.n, -(-(hi - grid.t0) // dt))
    if i1 - i0 < 2:
        return None
    chunked = _chunked(data, catalog, specs, levels, with_days, timezone, flags, grid, i0, i1)
    rest = [n for n in specs if n not in chunked]
    names = needed_signals(catalog, rest, data) if rest else []
    sub = window_reader(data, names, flags)(i0, i1) if names else xr.Dataset(
        coords=data.isel(time=slice(int(i0), int(i1))).coords, attrs=dict(data.attrs))
    return sub, ext, (d0, d1), (h0, h1), chunked


def _chunked(data, catalog, specs, levels, with_days, timezone, flags, grid, i0, i1):
    """Aggregates (as :func:`kernel_aggregate` returns them) of the bare raw signals
    over steps ``[i0, i1)``, each lake chunk decoded and reduced at once
    (:func:`~pumplib.features.blocks.chunk_features`), so their raw values are never
    held: ``{feature: aggregates}``, empty when the lake's layout does not allow it."""
    from .blocks import _run_chunks, chunk_features
    from .reading import raw_window

    fine = [lv for lv in levels if lv in A.FIXED_LEVELS]
    sgrid = A.Grid(grid.t0 + int(i0) * grid.dt, grid.dt, int(i1 - i0))
    want = {n: (sp[0], [lv for lv in sp[1] if lv in fine] + (["1D"] if n in with_days else []),
                sp[2], sp[3]) for n, sp in specs.items()}
    window = raw_window(data, i1, i0)
    chunk = chunk_features(catalog, want, window, sgrid, timezone, flags)
    if not chunk:
        return {}
    if flags is not None:
        flags = flags.isel(time=slice(int(i0), int(i1)))
        flags.attrs = dict(flags.attrs)
    got = _run_chunks(window, want, chunk, sgrid, timezone, flags)
    if got is None:
        return {}
    out = {}
    for name, (parts, _raws) in got.items():
        d, lvs, mergeable, _fields = want[name]
        lvs = [lv for lv in plan_levels(lvs) if lv in fine or lv == "1D"]
        out[name] = {lv: _finalized(parts[lv], mergeable, d.interpolation) for lv in lvs}
    return out


def _finalized(part: A.Partials, mergeable, interpolation) -> dict:
    """One level's aggregates of partials ``part``, with its periods (and the partials
    themselves at 1D), as :func:`kernel_aggregate` gives them."""
    vals = A.finalize(part, mergeable, interpolation)
    vals["time"] = part.times
    vals["time_end"] = A.times_ns(part.bounds[1:])
    if part.level == "1D":
        vals["_partials"] = part
    return vals


def kernel_aggregate(x: np.ndarray, grid: A.Grid, levels: Sequence[str],
                      mergeable: Sequence[str], fields, timezone: str, interpolation: str):
    """:func:`~pumplib.features.aggregations.aggregate_array` (with the day partials
    kept) of a bare raw signal already in memory: the finest level by the chunk
    kernel (:func:`~pumplib.features.kernels.array_partials`), the others rolled
    up; None when the finest level is not one fixed level."""
    from .kernels import array_partials, stack_fields

    plan = A.plan(levels, grid, timezone)
    roots = [lv for lv, src in plan.items() if src is None]
    if len(roots) != 1 or roots[0] not in A.FIXED_LEVELS:
        return None
    parts: dict[str, A.Partials] = {}
    out: dict[str, dict] = {}
    for lv, src in plan.items():
        if src is None:
            bounds = A.level_bounds(lv, grid.t0, grid.end, timezone)
            got = array_partials(x, A.grid_edges(bounds, grid), A.FIXED_LEVELS[lv] // grid.dt)
            parts[lv] = A.Partials(lv, fields, stack_fields(got, fields), bounds, grid)
        else:
            parts[lv] = A.rollup(parts[src], lv, timezone)
        vals = A.finalize(parts[lv], mergeable, interpolation)
        vals["time"] = parts[lv].times
        vals["time_end"] = A.times_ns(parts[lv].bounds[1:])
        if lv == "1D":
            vals["_partials"] = parts[lv]
        out[lv] = vals
    return out
