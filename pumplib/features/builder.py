"""Build golden tables: feature values at every level, with coverage, from raw data.

The builder takes a Dataset of raw canonical values on a regular UTC grid in
which bad samples are already NaN (``ds.pump.good(flags)`` makes one from the
lake and the quality flags), evaluates the feature expressions at the raw
cadence, and aggregates them with :mod:`pumplib.features.aggregations`: the
finest level from raw samples, every coarser level rolled up from finer
partials. Everything stays lazy when the input is dask-backed; nothing is
computed or written here.

This module is the public entry (:func:`build`, :func:`build_lake`,
:func:`history`); :func:`choose_engine` picks, in one place, the engine that
builds the tables: :mod:`~pumplib.features.lazy` (dask, the reference),
:mod:`~pumplib.features.blocks` (eager day blocks) or
:mod:`~pumplib.features.incremental` (changed days from stored day partials).
Evaluation is :mod:`~pumplib.features.evaluate`, planning
:mod:`~pumplib.features.planning`, the lake side :mod:`~pumplib.features.tables`,
process tuning :mod:`~pumplib.features.tuning`.

Examples
--------
>>> import numpy as np, pandas as pd, xarray as xr
>>> t = pd.date_range("2026-03-29", periods=3 * 1440, freq="1min")
>>> run = np.r_[np.zeros(600), np.ones(3720)]
>>> ds = xr.Dataset({"run_state": (("asset", "time"), run[None])},
...                 coords={"asset": ["P1"], "time": t})
>>> cat = catalog_from_dicts([{"name": "running", "version": 1, "unit": "1",
...     "inputs": ["run_state"], "expression": "run_state", "aggregations": ["starts", "duration"],
...     "levels": ["1h", "1D"]}])
>>> out = build(ds, cat, timezone="Europe/Amsterdam")
>>> out["1D"].running_starts.values.tolist(), out["1D"].running_duration.values.tolist()
([[1.0, 0.0, 0.0, 0.0]], [[43200.0, 86400.0, 86400.0, 7200.0]])
>>> out["1D"].running_coverage.values.round(3).tolist()   # 29 Mar has 23 h, data from 01:00
[[0.957, 1.0, 1.0, 0.083]]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

import pandas as pd
import xarray as xr

from .. import config
from ..errors import SchemaError, UnknownNameError, choices_message
from . import aggregations as A
from .blocks import build_blocks
from .definitions import FeatureCatalog, catalog_from_dicts, features_frame, load_catalog
from .evaluate import evaluate_features
from .incremental import build_incremental
from .lazy import build_lazy
from .planning import (
    INCREMENTAL_CONTEXT,
    PARTIALS_CONTEXT,
    PARTIALS_GROUP,
    EngineDeclined,
    affected_range,
    bare_signal,
    block_specs,
    epoch_pair,
    fine_levels_nest_in_days,
    incremental_context,
)
from .reading import _raw_group, direct_group, raw_window
from .stream import build_streamed, stream_spans
from .tables import _TIME_CHUNKS, STACKED, VALUES, TableWriter, materialize, write_tables
from .tuning import gc_skips_older_objects, tune_malloc, warm_kernels
from .uptodate import build_key, up_to_date

__all__ = ["ENGINES", "INCREMENTAL_CONTEXT", "PARTIALS_CONTEXT", "PARTIALS_GROUP", "Engine",
           "affected_range", "build", "build_lake", "catalog_from_dicts", "choose_engine",
           "evaluate_features", "features_frame", "history", "incremental_context",
           "materialize", "write_tables"]

# read by older callers from this module: the stacked layout (lake.py's docstring, the
# table-append benchmark) and the raw readers (tests/test_lake.py)
_direct_group = direct_group
_ = (_raw_group, _TIME_CHUNKS, STACKED, VALUES)

log = logging.getLogger(__name__)

#: the engines a caller may ask :func:`build` for
ENGINES = ("dask", "blocks")


class Engine(NamedTuple):
    """What :func:`choose_engine` chose: ``name`` (``"dask"``, ``"blocks"`` or
    ``"incremental"``), the ``reason``, and the per-feature plan the blocks and
    incremental engines take (:func:`~pumplib.features.planning.block_specs`)."""

    name: str
    reason: str
    specs: dict | None = None


def choose_engine(data: xr.Dataset, catalog: FeatureCatalog, wanted: Sequence[str],
                  levels: Sequence[str], timezone: str, grid: A.Grid, *,
                  engine: str | None = "dask", changed: tuple | None = None,
                  store=None) -> Engine:
    """The engine that builds the tables of :func:`build`, and why (flox's
    ``_choose_engine`` is the model): from the inputs and options only.

    * ``changed`` with a ``store`` of day partials: ``"incremental"`` (whatever
      ``engine``), unless a feature is cumulative from the first sample
      (``integral()``) or asks a week or month for an aggregation that does not merge.
    * ``engine="blocks"`` (``None``: unless a ``dask.distributed`` client is active)
      for a full build: ``"blocks"``, unless as above, or a fine level's periods
      straddle local midnight (offsets like +05:30) and not every feature is a bare
      raw signal (those are reduced chunk by chunk, without day blocks).
    * Otherwise ``"dask"``: lazy, and for ``changed`` every period it touches from
      raw data.

    The blocks and incremental engines may still decline once they have looked at
    the lake (stored day partials that do not fit the new days, raw chunks that do
    not nest in the periods): they raise
    :class:`~pumplib.features.planning.EngineDeclined` before handing anything on,
    and ``"dask"`` builds.

    Examples
    --------
    >>> import numpy as np
    >>> t = pd.date_range("2026-03-29", periods=2 * 1440, freq="1min")
    >>> ds = xr.Dataset({"power": (("asset", "time"), np.ones((1, len(t))))},
    ...                 coords={"asset": ["P1"], "time": t})
    >>> cat = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW",
    ...     "inputs": ["power"], "expression": "power * 2", "aggregations": ["mean"]}])
    >>> grid = A.Grid.from_times(ds["time"].values)
    >>> choose_engine(ds, cat, ["p"], ["1h", "1D"], "UTC", grid, engine="blocks").name
    'blocks'
    >>> choose_engine(ds, cat, ["p"], ["1h"], "Asia/Kolkata", grid, engine="blocks").reason
    'the hours straddle local midnight and not every feature is a bare raw signal'
    """
    if engine not in (*ENGINES, None):
        raise UnknownNameError(choices_message("engine", engine, ENGINES))
    if changed is not None:
        if store is None:
            return Engine("dask", "no stored day partials (store=None): the affected "
                                  "periods from raw data")
        s, e = epoch_pair(changed)
        if min(e, grid.end) <= max(s, grid.t0):
            return Engine("incremental", "the changed range holds no raw data", {})
        specs = block_specs(catalog, wanted, levels)
        if specs is None:
            return Engine("dask", "integral() or a week or month of an aggregation that "
                                  "does not merge")
        return Engine("incremental", "changed days over stored day partials", specs)
    if engine is None:
        engine = "dask" if _distributed_client() else "blocks"
        if engine == "dask":
            return Engine("dask", "a dask.distributed client is active")
    if engine == "dask":
        return Engine("dask", "asked for")
    specs = block_specs(catalog, wanted, levels)
    if specs is None:
        return Engine("dask", "integral() or a week or month of an aggregation that does "
                              "not merge")
    fine = [lv for lv in levels if lv in A.FIXED_LEVELS]
    if not fine_levels_nest_in_days(grid, timezone, fine) and not all(
            bare_signal(catalog, data, *sp) is not None for sp in specs.values()):
        return Engine("dask", f"the {', '.join(_FINE_WORDS[lv] for lv in fine)} straddle "
                              "local midnight and not every feature is a bare raw signal")
    return Engine("blocks", "asked for", specs)


_FINE_WORDS = {"1min": "minutes", "15min": "quarter hours", "1h": "hours"}


def _inputs(data, store, catalog, levels, features, timezone, cadence):
    """:func:`build`'s arguments checked and completed: ``(raw Dataset, store, catalog,
    levels not finer than the data, wanted features, time zone, the data's grid)``."""
    if not isinstance(data, xr.Dataset):
        if hasattr(data, "open_raw"):
            store = data if store is None else store
            data = data.open_raw(cadence)
        else:
            raise SchemaError(f"build() needs an xarray Dataset or a Lake, got "
                              f"{type(data).__name__}")
    if catalog is None or isinstance(catalog, str):
        catalog = load_catalog(catalog)
    timezone = config.get("utility.timezone", override_with=timezone)
    levels = list(levels if levels is not None else config.get("levels"))
    for lv in levels:
        if lv not in A.LEVELS:
            raise UnknownNameError(choices_message("level", lv, A.LEVELS))
    wanted = list(features) if features is not None else list(catalog)
    for w in wanted:
        catalog[w]  # noqa: B018 - raises with the valid choices
    grid = A.Grid.from_times(data["time"].values)
    levels = [lv for lv in levels if A.FIXED_LEVELS.get(lv, 10**9) >= grid.dt]
    return data, store, catalog, levels, wanted, timezone, grid


def _distributed_client():
    """The active ``dask.distributed`` client, or None."""
    import sys

    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def build(data, catalog: FeatureCatalog | str | None = None, levels: Sequence[str] | None = None,
          *, features: Iterable[str] | None = None, registry=None, timezone: str | None = None,
          cadence: str | None = None, changed: tuple | None = None, partials: bool = False,
          store=None, engine: str | None = "dask", flags: xr.Dataset | None = None,
          emit: Callable[[str, xr.Dataset], None] | None = None) -> dict[str, xr.Dataset]:
    """Golden tables: every feature at every level, each value with its coverage.

    Parameters
    ----------
    data : xarray.Dataset or pumplib.lake.Lake
        Raw canonical values, dims ``(asset, time)`` on a regular UTC grid,
        bad samples already NaN. A Lake is opened with ``open_raw(cadence)``.
    catalog : FeatureCatalog or path, optional
        Default: :func:`~pumplib.features.definitions.load_catalog`.
    levels : sequence of str, optional
        Default: the ``levels`` setting. A feature appears at the levels it
        declares among these; levels finer than the data's cadence are left out.
    features : iterable of str, optional
        Build only these (their inputs are evaluated but not aggregated).
    registry : AssetRegistry, optional
        Asset attributes (``rated.*``, ``curve.*``, …) and tariffs; needed by
        features that use them (else those are NaN).
    timezone : str, optional
        Default: the ``utility.timezone`` setting.
    changed : (start, end), optional
        Incremental build: only the periods that contain raw data changed in
        ``[start, end)`` (UTC; appended days or late data) at any of
        ``levels`` — a new day touches its minutes, hours, the day, its week
        and its month. They are computed from the raw data of those periods
        plus :data:`INCREMENTAL_CONTEXT` before (the state before a start)
        and one sample after (linear interpolation), and equal a full build;
        ``write_tables`` merges them into the stored levels. Expressions with
        ``integral()`` (cumulative from the first sample) or windows and lags
        longer than the context are not incremental.

        With ``store`` (a Lake holding the day partials of an earlier build,
        see ``partials``) the raw data read shrink to the changed days: their
        minutes, quarter-hours, hours and day partials are computed from raw
        samples (plus, for expressions that look back, a short context before:
        :func:`incremental_context`),
        and the day, week and month values are finalized and rolled up from
        the stored day partials with the new days spliced in. Where the
        context holds no good value of a feature counting starts (a sensor gap
        longer than it), the state before the gap comes from the stored day
        partials, so a start across the gap counts as in a full build. Without them
        (first build, a changed definition), every affected period is
        computed from raw data as above.
    partials : bool
        Also return the day partials of every feature with a calendar level,
        under the key :data:`PARTIALS_GROUP` (``write_tables`` stores them as
        ``features/_partials/1D``); :func:`build_lake` sets it.
    store : pumplib.lake.Lake, optional
        Where the day partials of earlier builds are read (default: ``data``
        when it is a Lake).
    flags : xarray.Dataset, optional
        Quality flags of ``data`` (``pumplib.quality.open_quality``): only
        good samples enter (``quality.good``), applied block by block.
    engine : {"dask", "blocks"} or None
        ``"dask"`` (default): lazy when ``data`` is dask-backed, nothing is
        computed here. ``"blocks"``: computed now, eagerly, over blocks of all
        assets × whole local days on a thread pool, read straight from the
        lake (several times faster; :func:`build_lake` uses it); ``"dask"``
        builds instead for ``integral()`` expressions, raw-only
        aggregations above 1D and zones whose hours straddle local midnight.
        None: ``"dask"`` while a ``dask.distributed`` client is active, else
        ``"blocks"``. :func:`choose_engine` says which engine builds, and why.
        A feature that is one raw signal read straight from the lake (no
        condition, no unit conversion, no flags) skips the blocks: each raw
        chunk is decoded once and reduced to 1-minute partials by a compiled
        kernel (:mod:`pumplib.features.kernels`), bit for bit the same values.
    emit : callable, optional
        Called with ``(level, table)`` as soon as a table is complete, before
        the others are (an incremental build's minutes, quarter hours and hours
        come before its days, weeks and months): :func:`build_lake` writes them
        meanwhile. The returned dict holds every table either way. When
        ``emit`` also has a ``prepare(level, assets, times, time_ends)`` method
        (epoch seconds; the lake writer has), an incremental build announces
        every table's periods as soon as the raw data are read, so the stored
        arrays grow while it computes.

    Returns
    -------
    dict level -> xarray.Dataset
        Variables ``<feature>_<aggregation>`` (``duration=2`` → ``duration_2``;
        masked where coverage is below
        the definition's ``min_coverage``) and ``<feature>_coverage``; dims
        ``(asset, time)``, ``time`` the period start in UTC and ``time_end``
        its end. Lazy when ``data`` is.
    """
    data, store, catalog, levels, wanted, timezone, grid = _inputs(
        data, store, catalog, levels, features, timezone, cadence)
    chosen = choose_engine(data, catalog, wanted, levels, timezone, grid, engine=engine,
                           changed=changed, store=store)
    try:
        if chosen.name == "blocks":
            return build_blocks(data, catalog, chosen.specs, wanted, levels, registry,
                                timezone, partials, flags)
        if chosen.name == "incremental":
            return build_incremental(data, catalog, chosen.specs, wanted, levels, registry,
                                     timezone, epoch_pair(changed), store, partials, flags,
                                     emit, grid)
    except EngineDeclined as why:
        log.debug("features: the %s engine declined (%s); the dask engine builds",
                  chosen.name, why)
    return build_lazy(data, catalog, wanted, levels, registry, timezone, grid,
                      changed=changed, partials=partials, flags=flags)


def build_lake(lake, catalog: FeatureCatalog | str | None = None,
               levels: Sequence[str] | None = None, *, features: Iterable[str] | None = None,
               changed: tuple | None = None, registry=None, timezone: str | None = None,
               cadence: str | None = None, message: str | None = None,
               engine: str | None = None, quality: bool = True,
               metadata: Mapping | None = None, force: bool = False) -> str | None:
    """Build golden tables from ``lake``'s raw data and commit them to it.

    The tables and the day partials (``features/_partials/1D``) land in one
    commit, so a later ``changed=`` build (new or late raw data) reads the raw
    data of the changed days only and rolls week and month up from the stored
    day partials. Returns the snapshot id (None when nothing was written).

    A full build that would write what the last build wrote (same definitions,
    levels, cadence, registry and version, and no raw data, quality flags or
    golden tables changed since: :mod:`pumplib.features.uptodate`) writes
    nothing and returns None, unless ``force``.

    With ``quality`` (default) only the samples the stored quality flags call
    good enter (``quality/<cadence>``; a cell no validation reached is not
    good); ``quality=False`` takes every raw sample (benchmarks, lakes without
    a quality run).

    ``engine`` (see :func:`build`) defaults to ``"blocks"`` (eager, threads of
    this process). While a ``dask.distributed`` client is active, a full build
    (``engine=None``) runs on that cluster's workers, each writing its own chunks into
    a fork of the commit's session (:mod:`~pumplib.features.cluster`), and so does an
    incremental build (``changed``) of levels stored by asset group; where day blocks
    or the stored levels cannot serve, a full build runs with the dask engine on the
    cluster, an incremental one in this process.

    The first build of a process tunes glibc's malloc (one arena, glibc's largest
    mmap and trim thresholds: ``features.malloc_*``, see :func:`tune_malloc`).

    Examples
    --------
    >>> import numpy as np
    >>> from pumplib.lake import Lake
    >>> lake = Lake("memory://build-lake-doc")
    >>> with lake.transaction("raw") as tx:
    ...     _ = tx.write_block("1min", ["P1"], "power", 0, np.full((1, 2880), 2.0))
    >>> cat = catalog_from_dicts([{"name": "p", "version": 1, "unit": "kW",
    ...     "inputs": ["power"], "expression": "power", "aggregations": ["mean"]}])
    >>> snap = build_lake(lake, cat, ["1h", "1D"], timezone="UTC", quality=False)
    >>> lake.open_group("features/1D").p_mean.values.tolist()
    [[2.0, 2.0]]
    """
    if catalog is None or isinstance(catalog, str):
        catalog = load_catalog(catalog)
    names = list(features) if features is not None else list(catalog)
    key = build_key({n: catalog[n].hash for n in names},
                    levels if levels is not None else config.get("levels"), cadence, quality,
                    config.get("utility.timezone", override_with=timezone),
                    getattr(registry, "spec", None))
    if changed is None and not force and up_to_date(lake, key):
        return None
    metadata = {**(metadata or {}), "build_key": key}
    tune_malloc()
    args = (lake, catalog, levels, names)
    with gc_skips_older_objects():
        client = _distributed_client() if engine is None else None
        if client is not None:
            from .cluster import build_on_cluster, update_on_cluster

            data, _, cat, lvs, wanted, tz, grid = _inputs(lake.open_raw(cadence), lake,
                                                          catalog, levels, names, timezone,
                                                          cadence)
            chosen = choose_engine(data, cat, wanted, lvs, tz, grid, engine="blocks",
                                   changed=changed, store=lake)
            plan = (client, lake, data, cat, chosen.specs, lvs, wanted, registry, tz, grid)
            try:
                if chosen.name not in ("blocks", "incremental") or not chosen.specs:
                    raise EngineDeclined(chosen.reason)
                if changed is None:
                    return build_on_cluster(*plan, quality, message, metadata)
                return update_on_cluster(*plan, epoch_pair(changed), quality, message,
                                         metadata)
            except EngineDeclined as why:
                log.debug("features: the cluster build declined (%s); it builds here or "
                          "with the dask engine", why)
        plan = None if changed is not None or engine == "dask" else _stream_plan(
            lake, catalog, levels, names, cadence, timezone)
        if plan is not None:
            spans, raw, step = plan

            def span(*, until, changed, snapshot, metadata, start=None):
                k, n = metadata["stream"]
                return _build_lake(*args, changed, registry, timezone, cadence,
                                   f"{message or 'features build'} (span {k} of {n})",
                                   engine, quality, metadata, snapshot=snapshot, until=until,
                                   start=start)

            return build_streamed(spans, span, metadata, raw, step)
        return _build_lake(*args, changed, registry, timezone, cadence, message, engine,
                           quality, metadata)


def _stream_plan(lake, catalog, levels, names, cadence, timezone):
    """``(spans, raw snapshot, grid step)`` when a full build of ``lake`` goes in spans of days
    (:mod:`~pumplib.features.stream`): spans on, a history longer than one span, features
    whose weeks and months roll up from day partials, no ``dask.distributed`` client.
    None otherwise."""
    if not config.get("features.stream_pump_days", 0) or _distributed_client() is not None:
        return None
    levels = list(levels if levels is not None else config.get("levels"))
    if block_specs(catalog, names, levels) is None:
        return None
    data = lake.open_raw(cadence)
    n = data.sizes.get("time", 0)
    if n < 2:
        return None
    step = A.Grid.from_times(data["time"].values[:2])     # a lake's raw grid is regular
    grid = A.Grid(step.t0, step.dt, n)
    spans = stream_spans(grid.t0, grid.end, data.sizes["asset"],
                         timezone=config.get("utility.timezone", override_with=timezone))
    return (spans, data.attrs.get("snapshot"), grid.dt) if len(spans) > 1 else None


def _build_lake(lake, catalog, levels, features, changed, registry, timezone, cadence, message,
                engine, quality, metadata, *, snapshot=None, until=None, start=None):
    """One commit of :func:`build_lake`: the tables of raw ``snapshot`` (default: the
    tip), up to ``until`` (epoch seconds; default: all); with ``start`` (a later span of
    a build in spans) those of the days from ``start`` on, on day blocks
    (:mod:`~pumplib.features.spans`), or where they decline incrementally (``changed``)."""
    warm = warm_kernels()                   # the kernels load while the lake opens
    # the commit's transaction opens first and reads what is stored meanwhile
    with TableWriter(lake, [*A.LEVELS, PARTIALS_GROUP],
                      message or ("features build" if changed is None
                                  else "features incremental build")) as w:
        data = lake.open_raw(cadence, snapshot=snapshot)   # one trip to zarr's event loop
        if until is not None:
            grid = A.Grid.from_times(data["time"].values[:2])
            data = raw_window(data, max(0, (int(until) - grid.t0) // grid.dt))
        w.inspect()                          # while the build reads and computes
        flags = None
        if quality:
            from ..quality import open_quality

            flags = open_quality(lake, data.attrs.get("cadence"),
                                 snapshot=data.attrs.get("snapshot"), like=data)
            # the stored flags of data's snapshot: the chunk path reads them chunk by chunk
            flags.attrs.update(quality_group=f"quality/{data.attrs.get('cadence')}",
                               snapshot=data.attrs.get("snapshot"))
        tables = None if start is None else _span_tables(
            data, catalog, levels, features, registry, timezone, cadence, start, flags, w)
        if tables is None:
            tables = build(data, catalog, levels, features=features, registry=registry,
                           timezone=timezone, changed=changed, partials=True, store=lake,
                           flags=flags, engine=engine, emit=w)
        warm.join()
        w.metadata.update({"cadence": data.attrs.get("cadence"), "quality": bool(quality),
                           **({} if changed is None else
                              {"changed": [int(c) for c in epoch_pair(changed)]}),
                           **(metadata or {})})
        for lv, ds in tables.items():
            if lv not in w:                  # not handed on during the build already
                w.put(lv, ds)
    return w.snapshot


def _span_tables(data, catalog, levels, features, registry, timezone, cadence, start, flags,
                 writer):
    """The tables of a later span of a build in spans, on day blocks
    (:func:`~pumplib.features.spans.build_span`); None where that engine declines."""
    from .spans import build_span

    data, _store, catalog, levels, wanted, timezone, grid = _inputs(
        data, None, catalog, levels, features, timezone, cadence)
    specs = block_specs(catalog, wanted, levels)
    if not specs:
        return None
    with_days = [n for n, sp in specs.items() if any(lv in A.CALENDAR_LEVELS for lv in sp[1])]
    try:
        stored = writer.stored_partials(with_days).result() if with_days else None
        return build_span(data, catalog, specs, wanted, levels, registry, timezone, start,
                          stored, flags, grid)
    except EngineDeclined as why:
        log.debug("features: the span engine declined (%s); the incremental engine builds",
                  why)
        return None


def history(lake, limit: int | None = None) -> pd.DataFrame:
    """Feature builds committed to ``lake``, newest first (the newest ``limit`` of them):
    snapshot, time, message, levels, changed range (incremental builds and the spans of a
    long build but its last), raw snapshot and definition hashes."""
    rows = []
    for c in lake.log():
        if limit is not None and len(rows) >= limit:
            break                            # the newest ``limit`` builds, not commits
        m = c.metadata
        if m.get("kind") != "features":
            continue
        ch = m.get("changed")
        rows.append({"snapshot": c.snapshot, "written_at": c.written_at, "message": c.message,
                     "levels": ",".join(lv for lv in m.get("levels", [])
                                        if not lv.startswith("_")),
                     "changed": "" if not ch else " – ".join(
                         pd.Timestamp(int(x), unit="s", tz="UTC").isoformat() for x in ch),
                     "raw_snapshot": m.get("raw_snapshot"),
                     "features": len(m.get("definition_hashes", {})),
                     "definition_hashes": m.get("definition_hashes", {})})
    return pd.DataFrame(rows, columns=["snapshot", "written_at", "message", "levels", "changed",
                                       "raw_snapshot", "features", "definition_hashes"])
