"""Each closed minute's quality flags and golden rows, by the batch path's own code.

The live committer calls a hook after every raw commit with the raw time range it
just committed (``hook(lake, start_ns, stop_ns)``, epoch nanoseconds, stop
exclusive). :class:`MinuteRows` is that hook:

1. **Quality.** The declared rules are evaluated by
   :func:`pumplib.quality.evaluate_range` (the batch engine: same rules, same
   ``uint16`` bitmask) over the new range and the ``back`` steps before and after it
   whose flags the new samples can change (a spike's centred window, a flat line
   that grows past its duration, a gap that grows past its length), reading as much
   again before that. Only the flags that differ from the stored ones are written
   (``quality/<cadence>``, a ``quality`` commit like ``pumplib validate``'s), so a
   minute rewrites the chunk of its own minute and, rarely, earlier ones.
   ``back`` is the rules' context (:func:`pumplib.quality.context_steps`) up to
   ``live.quality_lookback``: a rule whose window is longer (the default rules'
   seven-day flat line of ``run_state``) is judged live over that lookback only,
   and exactly by the next batch ``pumplib validate``.
2. **Golden rows.** An incremental feature build
   (:func:`pumplib.features.build_lake` with ``changed=``, the path of ``pumplib
   features build --since``) from the first sample whose flags changed (else the
   range's start) to the range's end: the minutes, quarter hours and hours
   touched, their day from the day partials stored by earlier builds, then the
   week and the month rolled up. Late data anywhere merge the same way and
   cascade up to the month. Open quarter hours and hours are written with the
   minutes they have so far and are final when they close.

After the last minute of a stretch of data the stored flags and tables equal a
batch ``validate`` and ``features build`` of the same raw data bit for bit
(``tests/test_live_rows.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import config
from ..errors import ArgumentError
from ..features.aggregations import FIXED_LEVELS
from ..lake import Lake, new_run_id, redo_on_conflict

__all__ = ["MinuteResult", "MinuteRows"]

NS = 1_000_000_000


@dataclass
class MinuteResult:
    """What one call of :class:`MinuteRows` did: the raw range it was given
    (``start_ns``/``stop_ns``), the range whose flags it wrote (``flags_from_ns`` …
    ``flags_to_ns``, epoch ns; None when it wrote none), the range it rebuilt the
    golden rows of (``changed``, epoch ns), the two snapshots, and seconds spent on
    each step (``timings``: ``quality``, ``features``)."""

    start_ns: int
    stop_ns: int
    flags_from_ns: int | None = None
    flags_to_ns: int | None = None
    changed: tuple[int, int] | None = None
    quality_snapshot: str | None = None
    features_snapshot: str | None = None
    calendar_snapshot: str | None = None
    timings: dict = field(default_factory=dict)


class MinuteRows:
    """The live path's hook after a raw commit: the quality flags and golden rows of
    the committed range (see the module's docstring).

    Parameters
    ----------
    store : Lake or URL, optional
        The lake the hook writes to when called with ``lake=None`` (the live service
        passes its lake on every call).
    catalog : FeatureCatalog or path, optional
        Feature definitions (default: the ``features.catalog`` setting). Their
        versions are recorded and read from the lake once, as ``pumplib features
        build`` does.
    registry : AssetRegistry or path, optional
        The asset registry (default: the ``assets.registry`` setting).
    rules : Rules, dict or path, optional
        Quality rules (default: the ``quality.rules`` setting).
    cadence : str, optional
        The raw grid (default: the lake's, ``1min`` first).
    levels : sequence of str, optional
        Golden-table levels (default: the ``levels`` setting).
    quality : bool
        Validate before building (the builds then take only good samples, as
        ``pumplib features build`` does); ``False`` builds from every sample.

    Examples
    --------
    >>> hook = MinuteRows("memory://doc-minute-rows", quality=False)  # doctest: +SKIP
    >>> res = hook(None, start_ns, stop_ns)                          # doctest: +SKIP
    """

    def __init__(self, store=None, *, catalog=None, registry=None, rules=None,
                 cadence: str | None = None, levels: Sequence[str] | None = None,
                 quality: bool = True):
        from ..quality.engine import as_registry, as_rules

        self.store = store
        self._catalog_arg = catalog
        self.catalog = None                  # versioned on the first call
        if registry is None:
            from ..assets import AssetRegistry

            registry = AssetRegistry.load()
        self.registry = as_registry(registry)
        self.rules = as_rules(rules) if quality else None
        self.cadence = cadence
        self.levels = list(levels) if levels is not None else None
        self.quality = bool(quality)
        self._pending: tuple[int, int] | None = None   # changed since the calendar build
        self._mark: int | None = None                 # calendar_every periods of the last
        self._flags: dict | None = None               # the flags the last validate wrote
        self._backlog: tuple[int, int] | None = None  # the range of a failed call
        self._context: dict = {}                      # the rules' context per grid
        self.timezone = (self.registry.utility.get("timezone")
                         or config.get("utility.timezone"))

    # -- the hook -------------------------------------------------------------------------
    def __call__(self, lake, start_ns: int, stop_ns: int) -> MinuteResult | None:
        """Validate raw range ``[start_ns, stop_ns)`` (epoch ns) of ``lake`` and rebuild
        the golden rows it changes; None when the range is empty. A commit conflict
        with another writer is redone on top of it (``lake.redo_tries``); a call that
        fails leaves its range to the next call."""
        lake = self._lake(lake)
        start_ns, stop_ns = int(start_ns), int(stop_ns)
        if stop_ns <= start_ns:
            return None
        if self._backlog is not None:        # a range a failed call left undone
            start_ns, stop_ns = min(start_ns, self._backlog[0]), max(stop_ns,
                                                                      self._backlog[1])
        try:
            res = self._run(lake, start_ns, stop_ns)
        except BaseException:
            self._backlog = (start_ns, stop_ns)
            raise
        self._backlog = None
        return res

    def _run(self, lake: Lake, start_ns: int, stop_ns: int) -> MinuteResult:
        cadence = self.cadence or _default_cadence(lake)
        res = MinuteResult(start_ns, stop_ns)
        t0 = time.perf_counter()
        changed_from = start_ns
        if self.quality:
            got = self.validate(lake, cadence, start_ns, stop_ns)
            if got is not None:
                res.flags_from_ns, res.flags_to_ns, res.quality_snapshot = got
                changed_from = min(changed_from, got[0])
        t1 = time.perf_counter()
        res.changed = (changed_from, stop_ns)
        levels = self._levels()
        fine = [lv for lv in levels if lv in FIXED_LEVELS]
        calendar = [lv for lv in levels if lv not in FIXED_LEVELS]
        if fine:
            res.features_snapshot = self.build(lake, cadence, changed_from, stop_ns, fine)
        t2 = time.perf_counter()
        res.timings = {"quality": t1 - t0, "features": t2 - t1}
        if calendar:
            lo, hi = self._pending or (changed_from, stop_ns)
            self._pending = (min(lo, changed_from), max(hi, stop_ns))
            every = int(pd.Timedelta(config.get("live.calendar_every", "1h")).value)
            mark = stop_ns // max(every, 1)
            if self._mark is None or mark != self._mark or not fine:
                res.calendar_snapshot = self.flush(lake, cadence)
                self._mark = mark
            res.timings["calendar"] = time.perf_counter() - t2
        return res

    def flush(self, lake=None, cadence: str | None = None) -> str | None:
        """Build the day, week and month rows (and day partials) of everything changed
        since they were last built: :meth:`__call__` does once ``live.calendar_every``
        of event time has passed; call it at the end of a stretch of data (or at
        shutdown) to bring them up to date. Returns the snapshot (None: nothing to do)."""
        if self._pending is None:
            return None
        lake = self._lake(lake)
        cadence = cadence or self.cadence or _default_cadence(lake)
        lo, hi = self._pending
        # every level: the day partials roll up from the hours as in a full build (a
        # build of the calendar levels alone would sum the days straight from raw samples,
        # in another order)
        snap = self.build(lake, cadence, lo, hi, self._levels())
        self._pending = None
        return snap

    def _levels(self) -> list[str]:
        return list(self.levels if self.levels is not None else config.get("levels"))

    def _lake(self, lake) -> Lake:
        lake = self.store if lake is None else lake
        if lake is None:
            raise ArgumentError("MinuteRows needs a lake: pass one to the call or store= "
                                "to the hook")
        if not isinstance(lake, Lake):
            lake = Lake(lake, create=False)
        return lake

    # -- quality --------------------------------------------------------------------------
    @redo_on_conflict
    def validate(self, lake: Lake, cadence: str, start_ns: int, stop_ns: int):
        """Evaluate the rules around ``[start_ns, stop_ns)`` and commit the flags that
        changed: ``(first, end, snapshot)`` of what was written (epoch ns, end
        exclusive), None when the range holds no raw step."""
        from ..quality import evaluate_range, skew_table
        from ..quality.flags import DTYPE, UNCHECKED
        from ..quality.overrides import overrides
        from ..quality.store import KIND, time_rows

        ds = lake.open_raw(cadence)          # lazy; only the window below is read
        n = ds.sizes["time"]
        origin, step = int(ds.attrs["origin"]), int(ds.attrs["step_seconds"])
        i0 = max(0, -(-(start_ns // NS - origin) // step))
        i1 = min(n, -(-(stop_ns // NS - origin) // step))
        if i1 <= i0:
            return None
        back = self.lookback(ds, step)
        w0, w1 = max(0, i0 - back), min(n, i1 + back)      # flags that may change
        stored = lake.open_group(f"{KIND}/{cadence}")
        if stored is None:
            w0 = 0                  # never validated: the whole grid, as a first validate
        r0 = max(0, w0 - back)
        sub = ds.isel(time=slice(r0, min(n, w1 + back))).load()   # one read of the lake
        times = ds["time"].values
        kw = {"quarantine": time_rows(lake), "overrides": overrides(lake, cadence),
              "future_after": pd.Timestamp.now(tz="UTC")
              + pd.Timedelta(config.get("ingest.future_tolerance", "1h")),
              "expected": _expected(ds, sub, r0, self.registry)}
        kw["skew"] = skew_table(sub, self.rules, self.registry, times[w0], times[w1 - 1])
        flags = evaluate_range(sub, times[w0], times[w1 - 1], self.rules, self.registry,
                               **kw).compute()
        new = {s: np.asarray(flags[s].values, dtype=DTYPE) for s in flags.data_vars}
        old = self._stored_flags(lake, cadence, ds, stored, w0, w1, list(new))
        first, last = i0 - w0, i1 - w0           # the new range is always written
        for s, v in new.items():
            if old is None or s not in old:
                first, last = 0, w1 - w0
                break
            diff = np.flatnonzero((old[s] != v).any(axis=0))
            if len(diff):
                first, last = min(first, int(diff[0])), max(last, int(diff[-1]) + 1)
        meta = {"kind": KIND, "run_id": new_run_id("live"), "cadence": cadence,
                "rules_source": self.rules.source, "rules_sha256": self.rules.sha256,
                "raw_snapshot": ds.attrs.get("snapshot"),
                "start": str(times[w0 + first]), "end": str(times[w0 + last - 1]),
                "signals": list(new), "live": True}
        with lake.transaction(f"live validate {cadence} {meta['start']} → {meta['end']}",
                              meta) as tx:
            tx.derived_group(KIND, cadence)
            for s, v in new.items():
                arr = tx.derived_array(KIND, cadence, s, "uint16", UNCHECKED, flags[s].attrs)
                arr[:, w0 + first:w0 + last] = v[:, first:last]
        self._flags = {"lake": lake.url, "cadence": cadence, "snapshot": tx.snapshot,
                       "origin": origin, "assets": [str(a) for a in ds["asset"].values],
                       "w0": w0, "flags": new}
        t_first = (origin + (w0 + first) * step) * NS
        return t_first, (origin + (w0 + last) * step) * NS, tx.snapshot

    def _stored_flags(self, lake: Lake, cadence: str, ds, stored, w0: int, w1: int,
                      names: list[str]) -> dict | None:
        """The stored flags of steps ``[w0, w1)`` per signal (None: none stored): those
        this hook wrote last, when the newest ``quality`` commit is still its own (cells
        after them read as ``UNCHECKED``, as the lake has them), else read from
        ``stored``."""
        from ..quality.flags import DTYPE, UNCHECKED
        from ..quality.store import KIND, align_flags

        if stored is None:
            return None
        mine = self._flags
        if (mine is not None and mine["lake"] == lake.url and mine["cadence"] == cadence
                and mine["origin"] == int(ds.attrs["origin"]) and w0 >= mine["w0"]
                and mine["assets"] == [str(a) for a in ds["asset"].values]
                and set(names) <= set(mine["flags"])):
            last = next((c for c in lake.log(limit=12) if c.metadata.get("kind") == KIND),
                        None)
            if last is not None and last.snapshot == mine["snapshot"]:
                out = {}
                for s in names:
                    have = mine["flags"][s][:, w0 - mine["w0"]:w1 - mine["w0"]]
                    pad = (w1 - w0) - have.shape[1]
                    out[s] = np.concatenate([have, np.full((have.shape[0], pad), UNCHECKED,
                                                           dtype=DTYPE)], axis=1)
                return out
        old = align_flags(stored, ds)
        return {s: np.asarray(old[s].isel(time=slice(w0, w1)).values, dtype=DTYPE)
                for s in names if s in old.data_vars}

    def lookback(self, ds, step: int) -> int:
        """Steps before (and after) a validated range whose flags new samples can change:
        the rules' context, at most ``live.quality_lookback``."""
        from ..quality import context_steps

        cap = pd.Timedelta(config.get("live.quality_lookback", "65min")).total_seconds()
        key = (tuple(str(a) for a in ds["asset"].values),
               tuple(str(v) for v in ds.data_vars), step)
        if key not in self._context:         # the rules resolved per asset: once
            self._context[key] = context_steps(ds, self.rules, self.registry)
        return int(min(self._context[key], max(1, cap // step)))

    # -- features -------------------------------------------------------------------------
    @redo_on_conflict
    def build(self, lake: Lake, cadence: str, start_ns: int, stop_ns: int,
              levels: Sequence[str] | None = None) -> str | None:
        """The incremental feature build of raw range ``[start_ns, stop_ns)`` at
        ``levels`` (default all): its snapshot (None when nothing was written)."""
        from ..features import build_lake

        catalog = self._versioned(lake)
        changed = (pd.Timestamp(start_ns, unit="ns"), pd.Timestamp(stop_ns, unit="ns"))
        return build_lake(lake, catalog, levels or self._levels(), changed=changed, registry=self.registry,
                          timezone=self.timezone, cadence=cadence, quality=self.quality,
                          message=f"live features from raw/{cadence}",
                          metadata={"live": True})

    def _versioned(self, lake: Lake):
        """The catalog, its definitions recorded in the lake and versioned from it (once)."""
        if self.catalog is None:
            from ..features import load_catalog
            from ..store import record_definitions, versioned_catalog

            cat = self._catalog_arg
            if cat is None or isinstance(cat, str | os.PathLike):
                cat = load_catalog(cat)
            record_definitions(cat, lake)
            self.catalog = versioned_catalog(cat, lake)
        return self.catalog


def _default_cadence(lake: Lake) -> str:
    cads = lake.cadences()
    if not cads:
        from ..errors import LakeError

        raise LakeError(f"{lake.url}: the lake holds no raw data yet")
    return "1min" if "1min" in cads else cads[0]


def _expected(ds, sub, r0: int, registry):
    """:func:`~pumplib.quality.expected_mask` of ``ds`` on the window ``sub`` (which starts
    at step ``r0``), computed on the window: the same wherever every (asset, signal) pair
    is declared by the registry or holds no value in the window; the signals with an
    undeclared pair that does are taken from ``ds`` (their span is their whole history)."""
    from ..quality import expected_mask

    exp = expected_mask(sub, registry)
    assets = [str(a) for a in sub["asset"].values]
    for s in exp.data_vars:
        undeclared = [k for k, a in enumerate(assets)
                      if registry is None or a not in registry.assets
                      or s not in registry.assets[a].signals]
        if undeclared and bool(sub[s].isel(asset=undeclared).notnull().any()):
            whole = expected_mask(ds, registry, [s])[s]
            exp[s] = whole.isel(time=slice(r0, r0 + sub.sizes["time"])).load()
    return exp

