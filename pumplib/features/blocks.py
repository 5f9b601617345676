"""The eager engine: large blocks (all assets × whole local days) read straight from the lake.

A full build with ``engine="blocks"`` evaluates every feature over blocks of
about :data:`BLOCK_VALUES` raw values on a thread pool (numpy and zarr release
the GIL), reduces each block to the partials of its raw levels and
concatenates them; the coarser levels roll up. A feature that is one bare raw
signal read straight from the lake skips the blocks: each raw chunk is decoded
once and reduced to partials by a compiled kernel
(:func:`~pumplib.features.kernels.chunk_partials_from_lake`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import xarray as xr

from . import aggregations as A
from .evaluate import evaluate_features, needed_signals
from .planning import (
    PARTIALS_GROUP,
    EngineDeclined,
    bare_signal,
    feature_columns,
    fine_levels_nest_in_days,
    incremental_context,
    partial_columns,
    plan_levels,
    table_attrs,
)
from .reading import direct_group, flag_group, window_reader

__all__ = ["BLOCK_VALUES", "GROUP_VALUES", "asset_groups", "block_partials", "build_blocks",
           "chunk_features"]

# ---------------------------------------------------------------------------
#: values (assets × steps × signals) one block of the eager engine aims at
BLOCK_VALUES = 16_000_000


#: values one signal's array of a day block holds at most: a block of a wide fleet is
#: evaluated in groups of assets (:func:`asset_groups`), so its arrays and the
#: expression temporaries stay below glibc's 32 MiB mmap threshold, where every large
#: array is fresh memory the kernel zeroes page by page (40 -> 80 pumps cost 2.6x the
#: CPU when a day of all assets was evaluated at once)
GROUP_VALUES = 2_000_000


def asset_groups(n_assets: int, steps: int, most: int | None = None) -> list[slice]:
    """Consecutive asset slices of a block of ``steps`` time steps, each holding about
    ``most`` (default :data:`GROUP_VALUES`) values per signal and at least one asset.

    Examples
    --------
    >>> asset_groups(80, 86_400)
    [slice(0, 20, None), slice(20, 40, None), slice(40, 60, None), slice(60, 80, None)]
    >>> asset_groups(20, 86_400)
    [slice(0, 20, None)]
    """
    per = max(1, int(most or GROUP_VALUES) // max(1, int(steps)))
    n = -(-n_assets // per)                  # groups, then assets spread evenly over them
    size = -(-n_assets // max(1, n))
    return [slice(i, min(n_assets, i + size)) for i in range(0, n_assets, size)]


def _run_blocks(data, catalog, specs, edges, grid, timezone, registry, workers=None,
                flags=None):
    """Partials (per feature, raw level) and raw-only values over consecutive blocks
    ``edges`` (time indices; each block boundary a boundary of every raw level),
    concatenated along time. Blocks run on a thread pool (numpy and zarr release
    the GIL); each reads its raw data plus :func:`incremental_context` before it,
    for windows, lags and diffs."""
    names = needed_signals(catalog, list(specs), data)
    read = window_reader(data, names, flags)
    ctx_n = incremental_context(catalog, list(specs)) // grid.dt
    raw_lvs = {n: [lv for lv in plan_levels(sp[1]) if lv in A.FIXED_LEVELS or lv == "1D"]
               for n, sp in specs.items()}
    plans = {n: A.plan(lvs, grid, timezone) for n, lvs in raw_lvs.items()}

    def partials(blk, i0, r0, i1):
        """One block's (or asset group's) partials and raw-only values per feature."""
        vals = evaluate_features(blk, catalog, list(specs), registry=registry,
                                 timezone=timezone)
        del blk
        bgrid = A.Grid(grid.t0 + i0 * grid.dt, grid.dt, i1 - i0)
        out = {}
        for name, (d, _lvs, mergeable, fields) in specs.items():
            v = np.asarray(vals[name].values)[..., i0 - r0:]
            g = np.asarray(vals[f"{name}__good"].values)[..., i0 - r0:]
            parts: dict[str, A.Partials] = {}
            for lv, src in plans[name].items():
                parts[lv] = (A.level_partials(v, bgrid, lv, fields, timezone, g) if src is None
                             else A.rollup(parts[src], lv, timezone))
            raws = {(lv, a): A.raw_aggregate(v, bgrid, lv, a, timezone)
                    for lv in raw_lvs[name] for a in d.aggregations.get(lv, ())
                    if a not in mergeable}
            out[name] = ({lv: (p.data, p.bounds) for lv, p in parts.items()}, raws)
        return out

    def job(k):
        i0, i1 = int(edges[k]), int(edges[k + 1])
        r0 = max(0, i0 - ctx_n)
        blk = read(r0, i1)
        groups = asset_groups(blk.sizes["asset"], i1 - r0)
        if len(groups) == 1:
            return partials(blk, i0, r0, i1)
        outs = [partials(blk.isel(asset=g), i0, r0, i1) for g in groups]
        del blk
        return {name: ({lv: (np.concatenate([o[name][0][lv][0] for o in outs], axis=-2),
                             outs[0][name][0][lv][1]) for lv in outs[0][name][0]},
                       {key: np.concatenate([o[name][1][key] for o in outs], axis=-2)
                        for key in outs[0][name][1]})
                for name in outs[0]}

    nblocks = len(edges) - 1
    workers = workers or min(nblocks, max(1, os.cpu_count() or 1))
    if workers > 1:
        with ThreadPoolExecutor(workers) as ex:
            results = list(ex.map(job, range(nblocks)))
    else:
        results = [job(k) for k in range(nblocks)]
    merged = {}
    for name, (_d, _lvs, _mergeable, fields) in specs.items():
        parts, raws = {}, {}
        for lv in raw_lvs[name]:
            data_ = np.concatenate([r[name][0][lv][0] for r in results], axis=-1)
            bounds = np.concatenate([results[0][name][0][lv][1]]
                                    + [r[name][0][lv][1][1:] for r in results[1:]])
            parts[lv] = A.Partials(lv, fields, data_, bounds, grid)
        for key in results[0][name][1]:
            raws[key] = np.concatenate([r[name][1][key] for r in results], axis=-1)
        merged[name] = (parts, raws)
    return merged


def chunk_features(catalog, specs, data: xr.Dataset, grid: A.Grid, timezone: str,
                    flags=None) -> dict[str, tuple[str, str]]:
    """Features of ``specs`` the fused read-and-reduce path can build: name -> (raw
    signal, raw level). Such a feature is one raw signal read straight from the lake
    (no condition, no unit conversion, no quality flags to apply), its partial fields
    are those of :data:`~pumplib.features.kernels.FIELDS`, and its finest level is a
    fixed one from which the others roll up."""
    if flags is not None and flag_group(data, flags) is None:
        return {}
    out: dict[str, tuple[str, str]] = {}
    plans: dict[tuple, dict] = {}
    for name, (d, lvs, mergeable, fields) in specs.items():
        sig = bare_signal(catalog, data, d, lvs, mergeable, fields)
        if sig is None:
            continue
        key = tuple(plan_levels(lvs))
        if key not in plans:
            plans[key] = A.plan(key, grid, timezone)
        raw = [lv for lv, src in plans[key].items() if src is None]
        if len(raw) == 1 and raw[0] in A.FIXED_LEVELS:
            out[name] = (sig, raw[0])
    if out and direct_group(data, sorted({v[0] for v in out.values()})) is None:
        return {}
    return out


def _run_chunks(data, specs, chunk, grid, timezone, flags=None):
    """Partials (per feature, raw levels) of the features ``chunk`` (see
    :func:`chunk_features`) from :func:`~pumplib.features.kernels.chunk_partials_from_lake`,
    in the layout of :func:`_run_blocks`; None when the lake's chunks do not
    nest in the raw level's periods."""
    from .kernels import chunk_partials_from_lake, stack_fields

    g, off = direct_group(data, sorted({v[0] for v in chunk.values()}))
    qg = None if flags is None else flag_group(data, flags)
    if flags is not None and qg is None:
        return None
    merged = {}
    plans: dict[tuple, dict] = {}
    for lv in sorted({v[1] for v in chunk.values()}, key=A.LEVELS.index):
        names = [n for n, v in chunk.items() if v[1] == lv]
        bounds = A.level_bounds(lv, grid.t0, grid.end, timezone)
        edges = A.grid_edges(bounds, grid)
        got = chunk_partials_from_lake(g, sorted({chunk[n][0] for n in names}), off, grid.n,
                                       edges, A.FIXED_LEVELS[lv] // grid.dt, flags=qg)
        if got is None:
            return None
        for name in names:
            want = tuple(x for x in plan_levels(specs[name][1])
                         if x in A.FIXED_LEVELS or x == "1D")
            if want not in plans:
                plans[want] = A.plan(want, grid, timezone)

        def roll(name, lv=lv, got=got, bounds=bounds):
            d, lvs, _mergeable, fields = specs[name]
            parts = {lv: A.Partials(lv, fields, stack_fields(got[chunk[name][0]], fields),
                                    bounds, grid)}
            want = tuple(x for x in plan_levels(lvs) if x in A.FIXED_LEVELS or x == "1D")
            for lv2, src in plans[want].items():
                if src is not None:
                    parts[lv2] = A.rollup(parts[src], lv2, timezone)
            return name, (parts, {})

        with ThreadPoolExecutor(max(1, min(len(names), os.cpu_count() or 1))) as ex:
            merged.update(ex.map(roll, names))
    return merged


def _day_edges(grid: A.Grid, timezone: str, n_assets: int, n_signals: int,
               fine: Sequence[str]) -> np.ndarray | None:
    """Block edges at local midnights, about :data:`BLOCK_VALUES` values per block;
    None when a fine level's periods straddle local midnight (offsets like +05:30)."""
    if not fine_levels_nest_in_days(grid, timezone, fine):
        return None
    e = np.unique(A.grid_edges(A.level_bounds("1D", grid.t0, grid.end, timezone), grid))
    per_day = max(1, n_assets * max(n_signals, 1) * (86400 // grid.dt))
    step = max(1, BLOCK_VALUES // per_day)
    edges = np.unique(np.r_[e[::step], e[-1]])
    # a block of one step (a grid that ends one sample into a day, as a span of a long
    # build does) does not define a grid: it joins its neighbour
    if len(edges) > 2 and edges[-1] - edges[-2] < 2:
        edges = np.delete(edges, -2)
    if len(edges) > 2 and edges[1] - edges[0] < 2:
        edges = np.delete(edges, 1)
    return edges


def block_partials(data, grid, catalog, specs, levels, registry, timezone, flags=None) -> dict:
    """Per feature ``(partials by raw level, raw-only values)`` over ``data`` (grid
    ``grid``): bare raw signals read straight from the lake reduced chunk by chunk
    (:func:`_run_chunks`), the others on day blocks (:func:`_run_blocks`). Raises
    :class:`~.planning.EngineDeclined` when features left for day blocks meet a fine
    level whose periods straddle local midnight."""
    fine = [lv for lv in levels if lv in A.FIXED_LEVELS]
    chunk = chunk_features(catalog, specs, data, grid, timezone, flags)
    merged = _run_chunks(data, specs, chunk, grid, timezone, flags) if chunk else {}
    if merged is None:
        merged, chunk = {}, {}
    rest = {n: sp for n, sp in specs.items() if n not in chunk}
    if rest:
        edges = _day_edges(grid, timezone, data.sizes["asset"],
                           len(needed_signals(catalog, list(rest), data)), fine)
        if edges is None:
            raise EngineDeclined("the raw chunks of bare signals do not nest in the periods, "
                                 "and day blocks cannot hold periods straddling midnight")
        merged.update(_run_blocks(data, catalog, rest, edges, grid, timezone, registry,
                                  flags=flags))
    return merged


def build_blocks(data, catalog, specs, wanted, levels, registry, timezone, partials,
                 flags=None) -> dict[str, xr.Dataset]:
    """Eager full build over day blocks (:func:`~pumplib.features.build` with
    ``engine="blocks"``) of the features ``specs`` (:func:`~.planning.block_specs`); bare
    raw signals read straight from the lake are reduced chunk by chunk instead
    (:func:`_run_chunks`). Raises :class:`~.planning.EngineDeclined` when features left
    for day blocks meet a fine level whose periods straddle local midnight."""
    if not specs:
        return {}
    grid = A.Grid.from_times(data["time"].values)
    merged = block_partials(data, grid, catalog, specs, levels, registry, timezone, flags)

    def finish(name):
        """The columns of one feature at its levels (numpy releases the GIL: features
        finish on a thread pool)."""
        d, lvs, mergeable, _fields = specs[name]
        parts, raws = merged[name]
        got = {}
        for lv in lvs:
            p = parts[lv] if lv in parts else A.rollup(parts["1D"], lv, timezone)
            vals = A.finalize(p, mergeable, d.interpolation)
            vals["time"] = p.times
            vals["time_end"] = A.times_ns(p.bounds[1:])
            got[lv] = feature_columns(d, lv, vals, lambda lv_, a_, raws=raws: raws[(lv_, a_)])
        if partials and "1D" in parts:
            days = parts["1D"]
            got[PARTIALS_GROUP] = {"time": days.times, "time_end": A.times_ns(days.bounds[1:]),
                                   **partial_columns(d, days)}
        return got

    with ThreadPoolExecutor(max(1, min(len(specs), os.cpu_count() or 1))) as ex:
        done = list(ex.map(finish, list(specs)))
    tables: dict[str, dict] = {}
    coords: dict[str, dict] = {}
    for got in done:                         # in catalog order, as before
        for lv, cols in got.items():
            coords[lv] = {"time": cols.pop("time"), "time_end": ("time", cols.pop("time_end"))}
            tables.setdefault(lv, {}).update(cols)
    return {lv: xr.Dataset(tables[lv], coords={"asset": data["asset"].values, **coords[lv]},
                           attrs={"level": lv, **table_attrs(data, catalog, wanted, timezone,
                                                             grid.dt)})
            for lv in [*levels, PARTIALS_GROUP] if lv in coords}
