"""A full build in spans of local days, so its memory depends on the span, not the history.

:func:`~pumplib.features.builder.build_lake` builds a history longer than
``features.stream_pump_days`` pump-days in spans of whole local days of about that
many pump-days each (at least one day). The first span is a full build; each later
one is computed on day blocks too (:mod:`~pumplib.features.spans`), over the day
partials the spans before it stored (the incremental engine,
:mod:`~pumplib.features.incremental`, builds a span where that declines).

Each span is one commit, so the tables of a long build grow on the branch span
by span; only the last commit carries the build key
(:mod:`~pumplib.features.uptodate`), so a build that stopped half way is redone,
not taken for finished. Every span reads the raw data and quality flags of the
snapshot the first one read: data that arrive meanwhile are left to the next
build, which sees them.

The tables equal those of one full build (``tests/test_features_stream.py``).

Examples
--------
>>> import pandas as pd
>>> s = int(pd.Timestamp("2026-03-01T00:00Z").timestamp())
>>> spans = stream_spans(s, s + 10 * 86400, n_assets=4, pump_days=12, timezone="UTC")
>>> [(int((a - s) // 86400), int((b - s) // 86400)) for a, b in spans]
[(0, 3), (3, 6), (6, 9), (9, 10)]
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping

from .. import config
from . import aggregations as A
from .tuning import trim_malloc

__all__ = ["stream_spans", "build_streamed"]


def stream_spans(t0: int, end: int, n_assets: int, pump_days: int | None = None,
                 timezone: str = "UTC") -> list[tuple[int, int]]:
    """``[start, end)`` epoch-second spans of whole local days covering ``[t0, end)``,
    each about ``pump_days`` (default: the ``features.stream_pump_days`` setting)
    pump-days of ``n_assets`` pumps, at least one day; one span when the history fits
    one (or ``pump_days`` is 0: streaming off)."""
    pump_days = int(config.get("features.stream_pump_days", override_with=pump_days) or 0)
    days = A.level_bounds("1D", int(t0), int(end), timezone)
    per = max(1, pump_days // max(1, int(n_assets))) if pump_days > 0 else len(days)
    if len(days) - 1 <= per:
        return [(int(t0), int(end))]
    cuts = [int(b) for b in days[per:-1:per]]
    edges = [int(t0), *cuts, int(end)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def build_streamed(spans: list[tuple[int, int]], build_span: Callable[..., str | None],
                   metadata: Mapping, snapshot: str | None, step: int) -> str | None:
    """Build ``spans`` one after another with ``build_span(until=, changed=, snapshot=,
    metadata=)`` (``_build_lake``), all over the raw ``snapshot`` (grid step ``step``
    seconds).

    Each span reads the raw data up to its end and one sample more, so the periods
    before the cut end on the sample after it, as in a build of the whole history,
    and nothing stored before the cut changes later (the first periods after the cut,
    holding that one sample, are redone by the next span). The first span is a full
    build; each later one an incremental build of the samples after the previous
    span's extra sample, up to its own. ``metadata`` (with the build key) goes to the
    last commit only; the others say which span they are and that they are not a
    whole build (``changed``). Returns the last commit's snapshot.
    """
    meta = {k: v for k, v in metadata.items() if k != "build_key"}
    n, snap = len(spans), None
    for k, (s, e) in enumerate(spans, start=1):
        last = k == n
        extra = ({**metadata, "changed": None, "stream": [k, n]} if last else
                 {**meta, "changed": [int(s), int(e)], "stream": [k, n]})
        until = None if last else e + step
        snap = build_span(until=until, changed=None if k == 1 else (s + step, e + step),
                          snapshot=snapshot, metadata=extra, start=None if k == 1 else s)
        if not last:
            gc.collect()                     # what this span left, before the next one
            trim_malloc()
    return snap
