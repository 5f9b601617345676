"""Outlier discovery: matrix-profile discords and alarm detection, as events.

Two detectors that share one idea — compare every stretch of a pump's data
with the pump's *normal* behaviour, never with its stops or its bad samples:

* :func:`matrix_profile` / :func:`detect` — Stumpy matrix-profile discords per
  pump and signal, computed inside run-state windows (a pump stop, a gap or a
  sample the quality flags reject is NaN and never enters a subsequence), as a
  self-join or as an AB-join against a reference normal period, or
  multidimensional (:func:`multi_profile`, ``mstump``) across a pump's
  signals. :class:`StreamingProfile` keeps the profile up to date on new
  1-minute data with ``stumpi``; :func:`profiles` runs many pumps in
  parallel on Dask (one task per pump, ``stumped`` on a distributed client).
* :class:`AlarmDetector` — alarms fitted on a screened normal period: the
  level, noise and impulses of each signal over trailing windows, a threshold
  from a target false-alarm rate, alarms that end, a reference that adapts and
  re-baselines, an explanation for each alarm (``docs/outliers.md``). It runs
  the SKAB benchmark (``benchmarks/bench_skab.py``). :class:`ChangeDetector`
  is the older window-mean detector, kept for comparison.

:func:`detect` combines the discords with an :class:`AlarmDetector` and
returns events ``event_id, asset, start, end, signals, score, severity,
explanation`` (plus ``nearest_normal``);
:func:`detect_lake` runs it on the lake's good 1-minute data and stores the
events with :meth:`~pumplib.lake.Transaction.write_table` in one commit whose
metadata carries the lineage; :func:`events` reads them back.

Stumpy (and numba) are imported only inside functions: ``import pumplib``
stays light. The first matrix profile in a process pays numba's JIT (~25 s).

Examples
--------
>>> import numpy as np, pandas as pd
>>> t = pd.date_range("2026-03-01", periods=600, freq="1min")
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"vibration": 1 + 0.05 * rng.standard_normal(600),
...                    "run_state": 1.0}, index=t)
>>> df.iloc[300:330, 0] += 2.0                       # a burst of vibration
>>> ev = detect(df, m=15, asset="P1")                # doctest: +SKIP
>>> ev[["asset", "signals", "severity"]].iloc[0].tolist()  # doctest: +SKIP
['P1', 'vibration', 'high']
"""

from . import parallel  # noqa: F401
from .alarms import hysteresis
from .change import ChangeDetector
from .common import (
                     EVENT_COLUMNS,
                     GROUP,
                     METHODS,
                     SEVERITIES,
                     STATE_SIGNALS,
                     run_segments,
                     running_mask,
)
from .detect import detect, empty_events
from .detector import ALARM_COLUMNS, AlarmDetector
from .features import DEFAULT_FEATURES, FEATURES, window_features
from .parallel import profiles
from .profile import Profile, StreamingProfile, matrix_profile, multi_profile, warm_up
from .store import _normalise_events, _replace_table, detect_lake, events, recall, runs  # noqa: F401

__all__ = ["ALARM_COLUMNS", "DEFAULT_FEATURES", "EVENT_COLUMNS", "FEATURES", "AlarmDetector", "window_features", "GROUP", "METHODS", "SEVERITIES", "STATE_SIGNALS", "ChangeDetector",
           "Profile", "StreamingProfile", "detect", "detect_lake", "empty_events", "events",
           "hysteresis", "matrix_profile", "multi_profile", "profiles", "recall",
           "run_segments", "runs", "running_mask", "warm_up"]
