"""The simulation run: :class:`Simulation` and :func:`simulate`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..assets import AssetRegistry
from ..errors import ConfigError, UnknownNameError, choices_message
from .chunk import Chunk
from .constants import DAY_NS, DAY_S, PUMP_SIGNALS, S_NS, SAMPLE_SEED, TANK_SIGNALS, TRUTH_COLUMNS
from .physics import _control_day, _State
from .plant import TagSpec, _Plant, _seconds, _utc_ns
from .registry import _as_registry
from .sensors import _synthesise
from .truth import _draw_faults, _fault_rates


class Simulation:
    """A configured simulation run: iterate it for :class:`Chunk` s, one per (day, station).

    Build it with :func:`simulate`. Iterating again replays the same run.

    Attributes
    ----------
    registry : pumplib.assets.AssetRegistry
    specs : tuple of TagSpec
        Every exported tag, in export order.
    truth : pandas.DataFrame
        The fault schedule (:data:`TRUTH_COLUMNS`), drawn from the seed.
    """

    def __init__(self, registry: AssetRegistry, *, start: Any, days: int, freq: Any,
                 control_step: Any, seed: int, faults: Any, stations: Sequence[str] | None,
                 signals: Sequence[str] | None):
        if int(days) < 1:
            raise ConfigError(f"option 'days' given an invalid value: {days!r}. "
                              "Expected an integer ≥ 1")
        if int(seed) < 0:
            raise ConfigError(f"option 'seed' given an invalid value: {seed!r}. "
                              "Expected an integer ≥ 0")
        known = PUMP_SIGNALS + TANK_SIGNALS
        for s in signals or ():
            if s not in known:
                raise UnknownNameError(choices_message("simulated signal", s, known))
        self.registry = registry
        self.seed = int(seed)
        self.days = int(days)
        self.start_ns = _utc_ns(start)
        self.freq_s = _seconds(freq, "freq")
        self.control_step_s = _seconds(control_step, "control_step", 1, 3600)
        self.plant = _Plant.build(registry, stations, self.seed)
        self.signal_filter = tuple(signals) if signals else known
        self._layout = [self._station_layout(si) for si in range(self.plant.n_stations)]
        self.specs: tuple[TagSpec, ...] = tuple(s for lay in self._layout for s in lay["specs"])
        self._faults = _draw_faults(self.plant, self.specs, _fault_rates(faults), self.start_ns,
                                    self.days, self.freq_s, self.control_step_s, self.seed)

    def _station_layout(self, si: int) -> dict:
        plant = self.plant
        pidx = np.flatnonzero(plant.sp == si)
        specs, col = [], []
        for j, p in enumerate(pidx):
            a = plant.pumps[p]
            for sig, s in a.signals.items():
                if sig in PUMP_SIGNALS and sig in self.signal_filter:
                    specs.append(TagSpec(s["tag"], a.id, sig, s["unit"], plant.stations[si]))
                    col.append(j)
        tank = plant.tanks[si]
        for sig, s in tank.signals.items():
            if sig in TANK_SIGNALS and sig in self.signal_filter:
                specs.append(TagSpec(s["tag"], tank.id, sig, s["unit"], plant.stations[si]))
                col.append(-1)
        rows_of_asset: dict[str, list[int]] = {}
        for r, s in enumerate(specs):
            rows_of_asset.setdefault(s.asset, []).append(r)
        return {"pumps": pidx, "specs": specs, "col": col, "rows_of_asset": rows_of_asset,
                "row_of": {(s.asset, s.signal): r for r, s in enumerate(specs)},
                "signals": {s.signal for s in specs}}

    # -- public views --------------------------------------------------------
    @property
    def truth(self) -> pd.DataFrame:
        """The fault schedule, one row per episode (:data:`TRUTH_COLUMNS`)."""
        return pd.DataFrame([f.row() for f in self._faults], columns=list(TRUTH_COLUMNS))

    @property
    def tags(self) -> list[str]:
        """Exported historian tags, in export order."""
        return [s.tag for s in self.specs]

    def tag_table(self) -> pd.DataFrame:
        """One row per exported tag: asset, signal, delivered unit, station."""
        return pd.DataFrame([s.__dict__ for s in self.specs]).set_index("tag")

    @property
    def start(self) -> pd.Timestamp:
        """First instant of the run (UTC)."""
        return pd.Timestamp(self.start_ns, unit="ns", tz="UTC")

    @property
    def n_samples(self) -> int:
        """Samples on the grid (before gaps and duplicates)."""
        return len(self.specs) * self.days * (DAY_S // self.freq_s)

    def __repr__(self) -> str:
        return (f"<Simulation {self.plant.n_stations} stations, {self.plant.n_pumps} pumps, "
                f"{self.days} days from {self.start.isoformat()} at {self.freq_s} s, "
                f"{len(self._faults)} faults>")

    def __iter__(self) -> Iterator[Chunk]:
        state = _State.initial(self.plant)
        carry: dict[str, float] = {}
        starts = np.array([f.start for f in self._faults], dtype=np.int64)
        ends = np.array([f.end for f in self._faults], dtype=np.int64)
        stations = np.array([f.station for f in self._faults], dtype=object)
        margin = max(self.freq_s, self.control_step_s) * S_NS
        for d in range(self.days):
            t0 = self.start_ns + d * DAY_NS
            near = (starts <= t0 + DAY_NS + margin) & (ends >= t0 - margin)
            day_faults = [self._faults[i] for i in np.flatnonzero(near)]
            ctl = _control_day(self.plant, state, t0, self.control_step_s, self.seed, day_faults)
            for si, st in enumerate(self.plant.stations):
                mine = [f for f, s in zip(day_faults, stations[near], strict=True) if s == st]
                yield _synthesise(self, ctl, si, carry, mine)


def simulate(registry: AssetRegistry | Mapping | str | Path | None = None, *,
             start: Any = "2026-03-09", days: int = 1, freq: Any = "1min",
             control_step: Any = "1min", seed: int = SAMPLE_SEED, faults: Any = None,
             stations: Sequence[str] | None = None,
             signals: Sequence[str] | None = None) -> Simulation:
    """Simulate pump stations; iterate the result for one chunk per (UTC day, station).

    Parameters
    ----------
    registry : AssetRegistry, dict, path or None
        The utility; ``None`` uses :func:`make_registry` with its defaults.
    start : str or Timestamp
        First instant (a naive time is UTC); days are counted from it.
    days : int
        Number of days.
    freq : str, int or Timedelta
        Sample interval of the sensors, 1 s to 1 h (e.g. ``"1s"``, ``"1min"``).
    control_step : str, int or Timedelta
        Step of the control simulation (default 1 min).
    seed : int
        Seed of everything random (demand, noise, faults). Same seed → same data.
    faults : None, sequence of str, mapping or ``()``
        ``None``: every kind of :data:`FAULT_KINDS` at :data:`DEFAULT_FAULT_RATES`;
        a sequence of kinds at their default rates; a mapping ``{kind: rate}``
        (episodes per eligible asset per 30 days; at least one per kind);
        ``()`` for clean data. The opt-in kinds of :data:`OPT_IN_FAULT_KINDS`
        (``out_of_range``) are drawn only when named here (default rate 1).
    stations : sequence of str, optional
        Simulate only these stations.
    signals : sequence of str, optional
        Export only these signals (of :data:`PUMP_SIGNALS` and :data:`TANK_SIGNALS`);
        the physics is unchanged.

    Returns
    -------
    Simulation
        Iterable of :class:`Chunk`; ``.truth`` holds the fault schedule.

    Examples
    --------
    >>> sim = simulate(days=2, freq="1min", faults={"stuck": 1.0})
    >>> sim.truth.kind.unique().tolist()
    ['stuck']
    >>> df = pd.concat(c.frame for c in sim)
    >>> df.columns.tolist()
    ['timestamp', 'tag', 'value', 'quality']
    """
    return Simulation(_as_registry(registry), start=start, days=days, freq=freq,
                      control_step=control_step, seed=seed, faults=faults, stations=stations,
                      signals=signals)
