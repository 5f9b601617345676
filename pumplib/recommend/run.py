"""The entry point: :func:`recommend` runs the kinds asked for and ranks their rows."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable

import pandas as pd

from ..assets import AssetRegistry
from ..errors import ArgumentError
from ..lake import Lake, new_run_id
from .data_quality import _meter_recs, _quality_recs
from .inputs import _default_store, _hourly, _lake, _lineage, _registry
from .load_shift import _load_shift_recs
from .pumps import _bep_recs, _efficient_pump_recs
from .rows import KINDS, _currency, _frame, _iso
from .storage import store_recommendations
from .wear import _wear_recs, daily_efficiency_ratio


def recommend(lake: Lake | str | os.PathLike | None = None,
              registry: AssetRegistry | str | os.PathLike | None = None, *,
              kinds: Iterable[str] | None = None, start=None, end=None,
              horizon_days: float = 365.0, reserve: float = 0.2,
              snapshot: str | None = None, as_of=None, write: bool = False) -> pd.DataFrame:
    """Ranked recommendations for every station and pump of the registry.

    Parameters
    ----------
    lake : Lake or str
        The store (golden tables ``features/1h`` and ``raw/1min`` levels are read).
    registry : AssetRegistry or path, optional
        The asset registry (default: the ``assets.registry`` setting).
    kinds : iterable of str, optional
        Subset of :data:`KINDS` (default: all).
    start, end : optional
        Period to analyse (default: everything in the golden tables).
    horizon_days : float
        Savings are given for this many days (default one year), extrapolated
        from the analysed period.
    reserve : float
        Share of the tank span kept unused at each end by the load-shift estimate.
    snapshot, as_of : optional
        Read the golden tables at this lake snapshot, or as they were at that
        moment (what was known then).
    write : bool
        Also store the run in the lake (:func:`store_recommendations`).

    Returns
    -------
    pandas.DataFrame
        One row per action, best first: :data:`COLUMNS` then :data:`EXTRA_COLUMNS`.
        ``evidence``, ``assumptions`` and ``lineage`` are dicts.

    Examples
    --------
    >>> recs = recommend("./store", "catalogs/assets.yaml")   # doctest: +SKIP
    >>> recs.loc[recs.kind == "efficiency_loss", "asset"].tolist()  # doctest: +SKIP
    ['S-P1']
    """
    chosen = list(KINDS) if kinds is None else list(kinds)
    for k in chosen:
        if k not in KINDS:
            raise ArgumentError(f"option 'kinds' given an invalid value: {k!r}. "
                                f"Expected one of {list(KINDS)}")
    if not 0.0 <= float(reserve) < 0.5:
        raise ArgumentError(f"option 'reserve' given an invalid value: {reserve!r}. "
                            "Expected a share of the tank span in [0, 0.5)")
    if float(horizon_days) <= 0:
        raise ArgumentError(f"option 'horizon_days' given an invalid value: {horizon_days!r}. "
                            "Expected a positive number of days")
    lk = _lake(lake if lake is not None else _default_store())
    reg = _registry(registry)
    tz = str(reg.utility["timezone"])
    frame = _hourly(lk, start, end, snapshot, as_of)
    params = {"kinds": chosen, "start": _iso(start), "end": _iso(end),
              "horizon_days": horizon_days, "reserve": reserve, "snapshot": snapshot,
              "as_of": _iso(as_of)}
    run_id = new_run_id("rec")
    ctx = {"currency": _currency(reg), "lineage": _lineage(lk, frame, reg, params, run_id),
           "horizon_days": float(horizon_days),
           "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "run_id": run_id}
    rows: list[dict] = []
    if "load_shift" in chosen:
        rows += _load_shift_recs(lk, frame, reg, horizon_days, ctx, reserve=reserve)
    if "efficient_pump" in chosen:
        rows += _efficient_pump_recs(frame, reg, horizon_days, ctx)
    daily_ratio = daily_efficiency_ratio(frame, reg)
    episodes: dict[str, pd.DataFrame] = {}
    wear = _wear_recs(frame, reg, daily_ratio, horizon_days, ctx, episodes)
    if "efficiency_loss" in chosen:
        rows += wear
    if "bep_drift" in chosen:
        rows += _bep_recs(frame, reg, horizon_days, ctx)
    if "data_quality" in chosen:
        rows += _quality_recs(frame, reg, tz, ctx)
        rows += _meter_recs(reg, daily_ratio, episodes, ctx)
    recs = _frame(rows)
    if write:
        store_recommendations(lk, recs)
    return recs
