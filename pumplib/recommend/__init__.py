"""Recommendations: ranked actions with evidence, estimated savings and lineage.

:func:`recommend` reads the golden tables (``features/1h``), the raw tank
levels (good samples only) and the asset registry, and returns one row per
action, ranked by the money it would save:

``load_shift``
    A station pumps in the most expensive tariff hours although its tank could
    have covered that demand within its level limits (less a reserve at both
    ends). The estimate is the peak-hour pumping the tank's unused volume could
    have replaced, priced at the difference between the peak and the cheapest
    price.
``efficient_pump``
    Within a station, a pump or a combination of pumps with a higher measured
    specific energy (kWh/m³) than another *at the same station flow*; the
    saving is its volume pumped at the better one's specific energy.
``efficiency_loss``
    Wire-to-water efficiency relative to what the pump's own curve promises at
    the measured operating point (the flow ratio to the speed-corrected BEP)
    falls steadily over weeks: impeller wear. The saving is the energy lost
    at the current deficit; the cost of waiting per week and month is given.
``bep_drift``
    A pump runs far from its best efficiency point most of the time.
``data_quality``
    Missing or flagged data that blocks the other analyses.

The columns are a contract with the operations app (:data:`COLUMNS`; then
:data:`EXTRA_COLUMNS`, where ``finding`` is ``ongoing``, ``stalled`` or
``recovered``: the state of what was found, not what people decided); savings
are per ``horizon_days`` (default one year, extrapolated from the analysed
period). :func:`store_recommendations` writes a run as one lake commit (table
group ``recommendations``), :func:`load_recommendations` reads it back, and
:func:`verify` measures the saving of an accepted recommendation against a
demand-normalised baseline.

Rooms: ``rows`` (the frame's columns, ids, ranking), ``inputs`` (lake,
registry, hourly golden table, lineage), one room per finding (``load_shift``,
``pumps`` for ``efficient_pump`` and ``bep_drift``, ``wear`` for
``efficiency_loss``, ``data_quality``), ``run`` (:func:`recommend`),
``storage``, ``evidence`` and ``verification`` (:func:`verify`). Every name
below is importable from ``pumplib.recommend``.

Examples
--------
>>> recs = recommend("./store", "catalogs/assets.yaml")          # doctest: +SKIP
>>> recs[["kind", "asset", "saving_money", "currency"]].head()  # doctest: +SKIP
>>> store_recommendations("./store", recs)                        # doctest: +SKIP
>>> verify("./store", recs.rec_id[0], "2026-04-01T18:00Z")        # doctest: +SKIP
"""


# ruff: noqa: F401 - this module re-exports the rooms' names (the old module's namespace)
from __future__ import annotations

from .data_quality import _quality_recs
from .evidence import evidence_frame, plot_evidence
from .load_shift import station_peak_days
from .pumps import _bep_recs, _efficient_pump_recs, station_hours
from .rows import COLUMNS, EXTRA_COLUMNS, GROUP, KINDS
from .run import recommend
from .storage import load_recommendations, store_recommendations
from .verification import verify
from .wear import daily_efficiency_ratio, efficiency_ratio, wear_episodes

__all__ = ["COLUMNS", "EXTRA_COLUMNS", "GROUP", "KINDS", "daily_efficiency_ratio",
           "efficiency_ratio", "evidence_frame", "load_recommendations", "plot_evidence",
           "recommend", "station_hours", "station_peak_days", "store_recommendations",
           "verify",
           "wear_episodes"]
