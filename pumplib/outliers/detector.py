"""The alarm detector: window features, a screened reference, a FAR threshold, alarms that end.

:class:`AlarmDetector` puts the rooms together:

1. :func:`~pumplib.outliers.features.window_features` — level, noise and
   impulse of each signal over a trailing window (slow signals de-trended);
2. :func:`~pumplib.outliers.reference.screen` — the fit window is screened
   for faults before it is learnt;
3. :func:`~pumplib.outliers.reference.far_threshold` — the alarm threshold
   from a target false-alarm rate (setting ``outliers.target_far``);
4. :func:`~pumplib.outliers.alarms.track` — alarms that end, and a reference
   that re-baselines after a confirmed event;
5. :func:`~pumplib.outliers.explain.drivers` — an explanation for every alarm.

It runs the SKAB benchmark (``benchmarks/bench_skab.py``) and the simulated
fault kinds of :mod:`pumplib.simulate_faults`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import config
from ..errors import ArgumentError, UnknownNameError, choices_message
from .alarms import Tracked, track
from .common import run_segments
from .explain import drivers, sentence
from .features import (
    DEFAULT_FEATURES,
    UPPER_FEATURES,
    check_features,
    is_slow,
    resolution,
    split_column,
    window_features,
)
from .reference import (
    far_threshold,
    robust_centre_scale,
    screen,
    wander_rate,
    widening_cap,
)

#: columns of :meth:`AlarmDetector.alarms`
ALARM_COLUMNS = ["start", "end", "rows", "peak", "score", "signals", "explanation", "drivers"]


def _setting(name: str, value):
    return config.get(f"outliers.{name}", override_with=value)


def _positive_int(owner: str, name: str, v) -> int:
    if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
        raise ArgumentError(f"{owner} {name} must be a positive integer, got {v!r}")
    return int(v)


@dataclass
class AlarmDetector:
    """Alarms with a target false-alarm rate, that end, re-baseline and explain themselves.

    Parameters
    ----------
    window : int
        Samples per feature window (default: setting ``outliers.window``, 20).
    target_far : float
        Target false-alarm rate: the alarm threshold is the ``1 − target_far``
        quantile of the combined score on the screened fit window, cross-fitted
        (default: setting ``outliers.target_far``, 0.05).
    off_ratio : float
        The lower (clearing) threshold as a share of the alarm threshold (0.8).
    clear : int
        Rows at or below the lower threshold that end an alarm (default: setting
        ``outliers.clear``, 10).
    confirm, settle : int
        Rows an alarm lasts before it is a confirmed event, and rows a new state
        must hold still before the reference re-baselines to it (defaults:
        settings ``outliers.confirm`` and ``outliers.settle``).
    rebaseline : bool
        Re-baseline after a confirmed event that ended in a new state (True).
    screen_z : float
        Robust z-score above which a fit row is screened out as a fault (20: window
        features of a short, autocorrelated fit window have a small MAD, and a
        lower bar drops ordinary wander, often half the window).
    features : sequence of str
        Window features, any of :data:`~pumplib.outliers.features.FEATURES`
        (default :data:`~pumplib.outliers.features.DEFAULT_FEATURES`: ``mean``,
        ``noise``, ``spike``).
    detrend : int
        Trend samples removed from slow signals' means (``3 × window``).
    slow_autocorr : float
        Lag-1 autocorrelation above which a signal is slow (0.9).
    adapt : int
        Rows over which the reference follows slow wander of normal operation
        (centre: exponential mean; scale: widens only), frozen during alarms; 0
        keeps it fixed (default: setting ``outliers.adapt``, 500).
    adapt_scale : bool
        Let the scale widen too when normal operation gets noisier (True).
    wander_cap : bool
        Let a level feature's scale widen only as far as the wander its fit
        window showed predicts over ``adapt`` rows
        (:func:`~pumplib.outliers.reference.wander_rate`,
        :func:`~pumplib.outliers.reference.widening_cap`): a stationary signal
        (a pressure that only jitters) does not widen at all, so a slow fault
        on it (a leak's pressure drop, ramped in over a minute) cannot widen
        its own scale until it stays below the threshold. Noise and impulse
        features widen freely, as noisier normal operation needs (True).
    threshold : float, optional
        A fixed alarm threshold in scale units instead of the one set from
        ``target_far`` (:func:`~pumplib.outliers.detect` uses it: its
        ``threshold`` counts in units of the ``scale_quantile`` of each
        feature's normal spread).
    signals : sequence of str, optional
        Columns to use (default: every numeric column).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> normal = pd.DataFrame({"flow": 32 + 0.4 * rng.standard_normal(400)})
    >>> test = pd.DataFrame({"flow": 32 + 0.4 * rng.standard_normal(400)})
    >>> test.loc[200:299, "flow"] += 2.5 * rng.standard_normal(100)   # two-phase flow
    >>> det = AlarmDetector(target_far=0.02).fit(normal)
    >>> pred = det.predict(test, context=normal)
    >>> bool(pred[:190].mean() < 0.05), bool(pred[210:300].mean() > 0.9)
    (True, True)
    >>> det.alarms(test, context=normal).explanation.iloc[0][:17]
    'alarm: flow noise'
    """

    window: int | None = None
    target_far: float | None = None
    off_ratio: float = 0.8
    clear: int | None = None
    confirm: int | None = None
    settle: int | None = None
    rebaseline: bool = True
    screen_z: float = 20.0
    features: Sequence[str] = DEFAULT_FEATURES
    detrend: int | None = None
    slow_autocorr: float = 0.9
    scale_quantile: float | None = 0.99
    margin: float = 1.0
    adapt: int | None = None
    adapt_scale: bool = True
    wander_cap: bool = True
    threshold: float | None = None
    signals: Sequence[str] | None = None
    slow_: list = field(default_factory=list, init=False, repr=False)
    upper_: np.ndarray | None = field(default=None, init=False, repr=False)
    spread_: np.ndarray | None = field(default=None, init=False, repr=False)
    centre_: pd.Series | None = field(default=None, init=False, repr=False)
    scale_: pd.Series | None = field(default=None, init=False, repr=False)
    on_: float | None = field(default=None, init=False, repr=False)
    kept_: np.ndarray | None = field(default=None, init=False, repr=False)
    wander_: pd.Series | None = field(default=None, init=False, repr=False)
    cap_: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        name = "AlarmDetector"
        self.window = _positive_int(name, "window", _setting("window", self.window))
        self.target_far = float(_setting("target_far", self.target_far))
        if not 0 < self.target_far < 1:
            raise ArgumentError(f"{name} target_far must be in (0, 1), got {self.target_far!r}")
        if not 0 < self.off_ratio <= 1:
            raise ArgumentError(f"{name} off_ratio must be in (0, 1], got {self.off_ratio!r}")
        self.clear = _positive_int(name, "clear", _setting("clear", self.clear))
        self.confirm = _positive_int(name, "confirm", _setting("confirm", self.confirm))
        self.settle = _positive_int(name, "settle", _setting("settle", self.settle))
        self.detrend = _positive_int(name, "detrend", self.detrend or 3 * self.window)
        self.features = check_features(self.features)
        adapt = _setting("adapt", self.adapt)
        if not isinstance(adapt, int | np.integer) or isinstance(adapt, bool) or adapt < 0:
            raise ArgumentError(f"{name} adapt must be a non-negative integer, got {adapt!r}")
        self.adapt = int(adapt)
        if self.threshold is not None and not (isinstance(self.threshold, int | float)
                                               and self.threshold > 0):
            raise ArgumentError(f"{name} threshold must be a positive number, got "
                                f"{self.threshold!r}")

    # -- fitting -------------------------------------------------------------
    def _columns(self, df: pd.DataFrame) -> list[str]:
        if self.signals is not None:
            for s in self.signals:
                if s not in df.columns:
                    raise UnknownNameError(choices_message("signal", s, df.columns))
            return list(self.signals)
        return [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])
                and not pd.api.types.is_bool_dtype(df[c])]

    def _feats(self, df: pd.DataFrame, context: pd.DataFrame | None = None) -> pd.DataFrame:
        cols = self.signals_
        full = df[cols] if context is None else pd.concat([context[cols], df[cols]],
                                                          ignore_index=True)
        f = window_features(full.astype(float), self.window, slow=self.slow_,
                            detrend=self.detrend, features=self.features)
        f = f[self.centre_.index] if self.centre_ is not None else f
        out = f.iloc[0 if context is None else len(context):]
        out.index = df.index
        return out

    def fit(self, df: pd.DataFrame) -> AlarmDetector:
        """Learn the reference from ``df`` (a normal period), screened for faults first."""
        cols = self._columns(df)
        if len(df) < 4 * self.window:
            raise ArgumentError(f"AlarmDetector.fit(): the fit window has {len(df)} rows; "
                                f"it needs at least 4*window={4 * self.window}")
        x = df[cols].astype(float)
        cols = [c for c in cols if x[c].notna().sum() >= 2 * self.window and x[c].std() > 0]
        if not cols:
            raise ArgumentError("AlarmDetector.fit(): every signal is constant or empty in the "
                                "fit window")
        self.signals_ = cols
        self.slow_ = [c for c in cols if is_slow(x[c], self.slow_autocorr)]
        self.centre_ = None
        f = self._feats(df)
        warm = self.detrend if self.slow_ else self.window
        f = f.iloc[warm:] if len(f) > 2 * warm else f.iloc[self.window:]
        f = f.loc[:, f.notna().sum() >= self.window]
        parts = [split_column(c) for c in f.columns]
        self.upper_ = np.array([feat in UPPER_FEATURES for _, feat in parts])
        res = {c: resolution(x[c]) for c in cols}
        # a quantised sensor's noise and largest step cannot move by less than its step
        # (in screening as in the scales: one step more than usual is not a fault)
        floor = np.array([res[sig] if feat in UPPER_FEATURES else 0.0 for sig, feat in parts])
        keep = screen(f, z=self.screen_z, pad=self.window, floor=floor)
        self.kept_ = keep
        self.centre_, self.scale_ = robust_centre_scale(f, keep, self.scale_quantile, floor)
        kv = f.to_numpy(float)[keep]
        with np.errstate(all="ignore"):
            self.spread_ = np.nan_to_num(np.nanmean(np.abs(kv - self.centre_.to_numpy()), axis=0))
        # how far each level feature's scale may widen: the wander the fit window shows,
        # carried over the reference's memory (``adapt`` rows; the fit length when fixed)
        self.wander_ = wander_rate(f, keep, short=self.window)
        cap = widening_cap(self.scale_.to_numpy(), self.wander_.to_numpy(),
                           self.adapt or len(f), self.scale_quantile)
        self.cap_ = np.where(self.upper_, np.inf, cap)
        if self.threshold is not None:
            self.on_ = float(self.threshold)
        else:
            self.on_ = self.margin * far_threshold(f, keep, self.target_far,
                                                   self.scale_quantile, self.upper_, floor)
        return self

    # -- scoring -------------------------------------------------------------
    def _need_fit(self):
        if self.centre_ is None:
            raise ArgumentError("AlarmDetector is not fitted: call .fit(normal_frame) first")

    def run(self, df: pd.DataFrame, context: pd.DataFrame | None = None
            ) -> tuple[Tracked, pd.DataFrame]:
        """Track ``df`` (after ``context``, which primes the windows and is not scored).

        Returns the :class:`~pumplib.outliers.alarms.Tracked` result and the
        window features of ``df``.
        """
        self._need_fit()
        missing = [c for c in self.signals_ if c not in df.columns]
        if missing:
            raise UnknownNameError(choices_message("signal", missing[0], df.columns))
        f = self._feats(df, context)
        t = track(f.to_numpy(), self.centre_.to_numpy(), self.scale_.to_numpy(), self.on_,
                  self.on_ * self.off_ratio, clear=self.clear, confirm=self.confirm,
                  learn=self.window, settle=self.settle, rebaseline=self.rebaseline,
                  upper=self.upper_, adapt=self.adapt,
                  spread=self.spread_ if self.adapt_scale else None,
                  cap=self.cap_ if self.wander_cap else None)
        return t, f

    def score(self, df: pd.DataFrame, context: pd.DataFrame | None = None) -> pd.Series:
        """Combined score of each row (largest feature distance, in reference scale units)."""
        t, _ = self.run(df, context)
        return pd.Series(t.score, index=df.index)

    def predict(self, df: pd.DataFrame, context: pd.DataFrame | None = None) -> np.ndarray:
        """Boolean alarm flag per row of ``df``."""
        return self.run(df, context)[0].alarm

    def alarms(self, df: pd.DataFrame, context: pd.DataFrame | None = None) -> pd.DataFrame:
        """One row per alarm, explained: ``start, end, rows, peak, score, signals,
        explanation, drivers`` (``drivers``: the numbers behind the words)."""
        t, f = self.run(df, context)
        centre = np.tile(self.centre_.to_numpy(), (len(f), 1))
        for row, c in t.rebaselines:
            centre[row:] = c
        z = pd.DataFrame((f.to_numpy() - centre) / self.scale_.to_numpy(), index=f.index,
                         columns=f.columns)
        rows = []
        for a, b in run_segments(t.alarm, 1):
            found = drivers(z.iloc[a:b], f.iloc[a:b],
                            pd.Series(centre[a], index=f.columns), self.on_)
            k = a + int(np.argmax(t.score[a:b]))
            rows.append({"start": df.index[a], "end": df.index[b - 1], "rows": b - a,
                         "peak": df.index[k], "score": round(float(t.score[k]), 3),
                         "signals": ",".join(dict.fromkeys(d["signal"] for d in found)),
                         "explanation": sentence(found), "drivers": found})
        return pd.DataFrame(rows, columns=ALARM_COLUMNS)
