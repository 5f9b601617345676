"""Stored runs: one lake commit per run (table group ``recommendations``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import pandas as pd

from ..errors import ArgumentError, UnknownNameError, choices_message
from ..lake import Lake
from .inputs import _lake
from .rows import _JSON_COLUMNS, GROUP, _frame


def store_recommendations(lake: Lake | str | os.PathLike, recs: pd.DataFrame,
                          run_id: str | None = None) -> str:
    """Write a recommendations frame as one lake commit; returns the snapshot id.

    The table lands at ``recommendations/<run_id>`` (dict columns as JSON
    text); the commit metadata carries the run's lineage.
    """
    lk = _lake(lake)
    if recs.empty:
        raise ArgumentError("store_recommendations() got an empty frame: nothing to store")
    run_id = run_id or str(recs["run_id"].iloc[0])
    table = recs.copy()
    for c in _JSON_COLUMNS:
        table[c] = table[c].map(lambda v: json.dumps(v, default=str, sort_keys=True))
    lineage = recs["lineage"].iloc[0] if isinstance(recs["lineage"].iloc[0], Mapping) else {}
    # the stamp's keys at the top (kind, run_id, inputs, outputs, definition_hashes …, as
    # every artefact commit has them) and the whole lineage once more under "lineage"
    meta = {**{k: v for k, v in dict(lineage).items() if k != "params"},
            "kind": "recommendations", "run_id": run_id, "rows": len(recs),
            "kinds": sorted(set(recs.kind)), "lineage": dict(lineage)}
    with lk.transaction(f"recommendations {run_id}: {len(recs)} action(s)", meta) as tx:
        tx.write_table(GROUP, run_id, table, {"run_id": run_id, "lineage": dict(lineage)})
    return tx.snapshot


def load_recommendations(lake: Lake | str | os.PathLike, run_id: str | None = None, *,
                         snapshot: str | None = None) -> pd.DataFrame:
    """A stored run (default: the latest), with the dict columns parsed back."""
    lk = _lake(lake)
    tables = lk.tables(GROUP, snapshot=snapshot)
    if not tables:
        return _frame([])
    if run_id is None:
        run_id = sorted(tables)[-1]
    if run_id not in tables:
        raise UnknownNameError(choices_message("recommendations run", run_id, tables))
    df = tables[run_id]
    for c in _JSON_COLUMNS:
        df[c] = df[c].map(json.loads)
    return df


def _find(lake: Lake, rec_id: str) -> Mapping:
    tables = lake.tables(GROUP)
    for name in sorted(tables, reverse=True):
        hit = tables[name][tables[name].rec_id == rec_id]
        if len(hit):
            row = hit.iloc[0].to_dict()
            for c in _JSON_COLUMNS:
                row[c] = json.loads(row[c]) if isinstance(row[c], str) else row[c]
            return row
    known = sorted({r for t in tables.values() for r in t.rec_id})
    raise UnknownNameError(choices_message("recommendation", rec_id, known))
