"""Seeded pump-station simulator with fault injection and ground truth.

The simulator turns an asset registry (utility → stations → pumps and a tank
per station) into historian-style sensor exports whose physics and faults are
known exactly, so every downstream step (ingest, quality rules, features,
forecasts) can be tested against ground truth.

How it works
------------
*Control* is simulated at a coarse step (``control_step``, default 1 min) one
UTC day at a time, looping over the steps of the day and vectorised across
pumps; the state (tank levels, pump states, bearing temperatures, weather,
wear) is carried from day to day. Each pump discharges through its own rising
main into the station's tank, so its operating point is the analytic
intersection of the pump curve ``H = H0·s² − k·Q²`` (:meth:`Asset.head_curve
<pumplib.assets.Asset.head_curve>`, affinity laws for the speed ratio ``s``)
with the system curve ``H = static_head + level + r·Q²``. The resistance ``r``
is implied by the registry: the rated point lies on the system curve at the
middle tank level. Pumps are staged by tank level with hysteresis, and the
set-points follow the station's time-of-use tariff (fill high when energy is
cheap or a peak is coming, let the tank drain in the peak); variable-speed
pumps set their speed (≥ 70 % of rated) so that the station follows demand.
Demand has daily and weekly shapes, registry holidays priced and behaving like
Sundays, a slow AR(1) weather factor and fast noise.

*Sensors* are then synthesised for the day at the requested rate (1 s to
1 min) from the control state, with realistic noise and resolution, and
delivered in the unit the registry declares for each tag (L/s, psi, degF …).

*Faults* are drawn from the seed up front (see :data:`FAULT_KINDS`) and
injected into the physics (impeller wear, cavitation, dry running) or into the
exported data (stuck, spike, dropout, gap, drift, wrong unit, clock skew,
duplicate and out-of-order rows). No two episodes overlap on one asset
(impeller wear aside) and none lasts more than a quarter of the span (wear
aside). The truth table lists each one with ``fault_id, kind, asset, signal,
start, end, params``; ``start`` and ``end`` are inclusive (first and last
affected sample, UTC).

Everything streams: :func:`simulate` yields one :class:`Chunk` per (day,
station) and :func:`write_exports` appends chunks to its files as they come,
so memory depends on one day × the pumps of one station (one day × the
exported pumps for files in time order), never on the span.

Rooms, in import order: ``constants`` (physics, signals, fault kinds, formats,
seeded streams), ``registry`` (:func:`make_registry`, :func:`registry_yaml`),
``plant`` (registry values as arrays), ``truth`` (the fault schedule and its
table), ``physics`` (control, one day at a time), ``chunk`` (:class:`Chunk`
and its rows), ``sensors`` (samples, noise, data faults), ``simulation``
(:class:`Simulation`, :func:`simulate`), ``exports`` (:func:`write_exports`),
``sample`` (:func:`make_sample`) and ``cli`` (:func:`main`). Every name below
is importable from ``pumplib.simulate``.

Examples
--------
>>> from pumplib.simulate import make_registry, simulate
>>> sim = simulate(make_registry(), start="2026-03-09", days=1, freq="1min", faults=())
>>> chunk = next(iter(sim))
>>> chunk.station, chunk.frame.columns.tolist()
('NORTH', ['timestamp', 'tag', 'value', 'quality'])
>>> len(chunk.frame) == 1440 * len(chunk.tags)
True
"""

# ruff: noqa: F401 - this module re-exports the rooms' names (the old module's namespace)
from __future__ import annotations

import argparse  # pumplib.cli patches simulate.argparse.ArgumentParser.error

from .. import signals as _signals  # tests read the canonical units through it
from ..simulate_faults import RIG_FAULT_KINDS, inject, rig_frame
from .chunk import Chunk
from .cli import main
from .constants import (
    _DECIMALS,
    BAR_PER_M,
    DAY_NS,
    DAY_S,
    DEFAULT_FAULT_RATES,
    FAULT_KINDS,
    FORMATS,
    HOLIDAYS_NL_2026,
    LONG_CSV_HEADER,
    OPT_IN_FAULT_KINDS,
    PUMP_SIGNALS,
    QUALITY_BAD,
    QUALITY_GOOD,
    QUALITY_UNCERTAIN,
    RHO,
    ROW_ORDERS,
    S_NS,
    SAMPLE_SEED,
    TANK_SIGNALS,
    TRUTH_COLUMNS,
    G,
)
from .exports import Export, write_exports
from .plant import TagSpec
from .registry import make_registry, registry_yaml
from .sample import SAMPLE_FILES, make_sample
from .simulation import Simulation, simulate
from .truth import read_truth

__all__ = [
    "DEFAULT_FAULT_RATES",
    "FAULT_KINDS",
    "RIG_FAULT_KINDS",
    "FORMATS",
    "OPT_IN_FAULT_KINDS",
    "PUMP_SIGNALS",
    "ROW_ORDERS",
    "TANK_SIGNALS",
    "TRUTH_COLUMNS",
    "Chunk",
    "Export",
    "Simulation",
    "TagSpec",
    "main",
    "make_registry",
    "make_sample",
    "inject",
    "read_truth",
    "registry_yaml",
    "rig_frame",
    "simulate",
    "write_exports",
]
