"""Features: YAML definitions, a safe expression language, mergeable aggregations, golden tables.

Modules, in data-flow order:

* :mod:`pumplib.features.expr` — the safe, unit-checked expression language;
* :mod:`pumplib.features.definitions` — YAML definitions (``catalogs/features/``),
  validated before any compute;
* :mod:`pumplib.features.aggregations` — mergeable partials (chunk → combine →
  finalize), calendar levels in the utility's time zone, numpy and dask cores;
* :mod:`pumplib.features.evaluate` — feature values at the raw cadence, with
  their good masks;
* :mod:`pumplib.features.planning` — levels, partial fields, raw context and
  columns of each feature (what every engine asks);
* :mod:`pumplib.features.lazy`, :mod:`~pumplib.features.blocks`,
  :mod:`~pumplib.features.incremental` — the engines: dask (the reference),
  eager day blocks, changed days over stored day partials (with
  :mod:`~pumplib.features.reading` for raw windows and
  :mod:`~pumplib.features.taskgraph` for its workers);
* :mod:`pumplib.features.tables` — golden tables in the lake: the writer, the
  stacked layout, its chunk codec;
* :mod:`pumplib.features.tuning` — malloc, gc and kernel warm-up for builds;
* :mod:`pumplib.features.builder` — the entry: :func:`build` chooses the engine
  (:func:`~pumplib.features.builder.choose_engine`), :func:`build_lake` builds
  from a lake and commits, :func:`history` lists the builds.

Examples
--------
>>> from pumplib.features import load_catalog, LEVELS
>>> LEVELS
('1min', '15min', '1h', '1D', '1W', '1M')
"""

from __future__ import annotations

from .aggregations import (
    ENTRY_POINT_GROUP,
    LEVELS,
    Aggregation,
    AggregationError,
    Grid,
    aggregate,
    aggregate_array,
    available_aggregations,
    get_aggregation,
    level_bounds,
    register_aggregation,
)
from .builder import (
    PARTIALS_GROUP,
    affected_range,
    build,
    build_lake,
    evaluate_features,
    features_frame,
    history,
    incremental_context,
    materialize,
    write_tables,
)
from .definitions import (
    FeatureCatalog,
    FeatureDefinition,
    catalog_from_dicts,
    definition_hash,
    load_catalog,
)
from .expr import ATTRIBUTES, FUNCTIONS, compile_expression, parse, register_function

__all__ = [
    "ATTRIBUTES", "ENTRY_POINT_GROUP", "FUNCTIONS", "LEVELS", "Aggregation", "AggregationError",
    "FeatureCatalog", "FeatureDefinition", "Grid", "PARTIALS_GROUP", "affected_range",
    "aggregate", "build_lake", "history", "incremental_context",
    "aggregate_array",
    "available_aggregations", "build", "catalog_from_dicts", "compile_expression",
    "definition_hash", "evaluate_features", "features_frame", "get_aggregation", "level_bounds",
    "load_catalog", "materialize", "parse", "register_aggregation", "register_function",
    "write_tables",
]
