"""The windowed level/rate change detector fitted on a normal period."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ArgumentError, UnknownNameError, choices_message
from .alarms import hysteresis


# ---------------------------------------------------------------------------
# change detection (level and rate against a normal period)
# ---------------------------------------------------------------------------
@dataclass
class ChangeDetector:
    """Windowed level/rate change detector fitted on a normal period.

    For each numeric signal, the mean over a window of ``window`` samples is
    compared with the same statistic over the normal (fit) period, scaled by
    the ``quantile`` of its absolute deviations there: a score of 1 is as far
    as the normal period's ``quantile`` went. *Slow* signals — lag-1
    autocorrelation above ``slow_autocorr`` in the fit period, like
    temperatures that drift with the seasons or the load — are judged on
    their de-trended value (window mean minus a ``detrend``-sample mean), so a
    slow drift is not a change but a sudden one is. The combined score is the
    maximum over signals; a row is an outlier from when the score passes
    ``on`` until it falls below ``off`` (hysteresis), and runs shorter than
    ``min_length`` rows are dropped.

    Parameters
    ----------
    window : int
        Samples per window (default 20).
    detrend : int
        Samples of the trend removed from slow signals (default 60).
    slow_autocorr : float
        Lag-1 autocorrelation above which a signal counts as slow (0.9).
    quantile : float
        Quantile of the normal period's absolute deviations used as scale (0.99).
    on, off : float
        Hysteresis thresholds on the combined score (2.4, 2.0).
    min_length : int
        Shortest reported run, in rows (1).
    center : bool
        Centred windows (uses later samples; for offline use). Default False:
        each score uses only the current and earlier rows.
    signals : sequence of str, optional
        Columns to use (default: every numeric column).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> wander = 0.5 * np.sin(np.linspace(0, 2 * np.pi, 400))     # slow, in the normal period
    >>> normal = pd.DataFrame({"flow": 32 + 0.4 * rng.standard_normal(400),
    ...                        "temp": 70 + wander + 0.01 * rng.standard_normal(400)})
    >>> test = pd.DataFrame({"flow": 32 + 0.4 * rng.standard_normal(300),
    ...                      "temp": 70 + np.linspace(0, 3, 300)})   # drifts past its range
    >>> test.loc[150:, "flow"] -= 3.0                # a valve closes
    >>> det = ChangeDetector().fit(normal)
    >>> pred = det.predict(test, context=normal)
    >>> bool(pred[:140].any()), round(float(pred[160:].mean()), 2)
    (False, 1.0)
    """

    window: int = 20
    detrend: int = 60
    slow_autocorr: float = 0.9
    quantile: float = 0.99
    on: float = 2.4
    off: float = 2.0
    min_length: int = 1
    center: bool = False
    signals: Sequence[str] | None = None
    stats_: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        for name in ("window", "detrend", "min_length"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise ArgumentError(f"ChangeDetector {name} must be a positive integer, "
                                    f"got {v!r}")
        if not 0 < self.quantile <= 1:
            raise ArgumentError(f"ChangeDetector quantile must be in (0, 1], got "
                                f"{self.quantile!r}")
        if not 0 < self.off <= self.on:
            raise ArgumentError(f"ChangeDetector needs 0 < off <= on, got on={self.on!r}, "
                                f"off={self.off!r}")

    # -- fitting -------------------------------------------------------------
    def _columns(self, df: pd.DataFrame) -> list[str]:
        if self.signals is not None:
            missing = [s for s in self.signals if s not in df.columns]
            if missing:
                raise UnknownNameError(choices_message("signal", missing[0], df.columns))
            return list(self.signals)
        return [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])
                and not pd.api.types.is_bool_dtype(df[c])]

    def _transform(self, x: pd.Series, slow: bool) -> pd.Series:
        mp = max(1, self.window // 2)
        r = x.rolling(self.window, min_periods=mp, center=self.center).mean()
        if slow:
            r = r - x.rolling(self.detrend, min_periods=max(1, self.detrend // 2),
                              center=self.center).mean()
        return r

    def fit(self, df: pd.DataFrame) -> ChangeDetector:
        """Learn each signal's normal window statistics from ``df`` (a normal period)."""
        cols = self._columns(df)
        if not cols:
            raise ArgumentError("ChangeDetector.fit(): no numeric signal columns in the frame")
        if len(df) < 2 * self.window:
            raise ArgumentError(f"ChangeDetector.fit(): the normal period has {len(df)} rows; "
                                f"it needs at least 2*window={2 * self.window}")
        self.stats_ = {}
        for c in cols:
            x = df[c].astype(float)
            if x.notna().sum() < 2 * self.window or x.std() == 0 or not np.isfinite(x.std()):
                continue   # a constant or empty signal says nothing about change
            ac = x.autocorr(1)
            slow = bool(np.isfinite(ac) and ac > self.slow_autocorr)
            r = self._transform(x, slow)
            warm = self.detrend if slow and not self.center else (
                0 if self.center else self.window)
            rt = r.iloc[warm:].dropna()
            if len(rt) < 2:
                rt = r.dropna()
            med = float(rt.median())
            scale = float((rt - med).abs().quantile(self.quantile))
            if not scale > 0:
                scale = float(x.std()) or 1.0
            self.stats_[c] = {"slow": slow, "median": med, "scale": scale,
                              "autocorr": float(ac) if np.isfinite(ac) else None}
        if not self.stats_:
            raise ArgumentError("ChangeDetector.fit(): every signal is constant or empty in the "
                                "normal period")
        return self

    # -- scoring -------------------------------------------------------------
    def _need_fit(self):
        if not self.stats_:
            raise ArgumentError("ChangeDetector is not fitted: call .fit(normal_frame) first")

    def scores(self, df: pd.DataFrame, context: pd.DataFrame | None = None) -> pd.DataFrame:
        """Per-signal scores (1 = the normal period's ``quantile`` deviation) for ``df``.

        ``context`` (e.g. the normal period just before ``df``) primes the
        windows so the first rows of ``df`` have full windows; it is not scored.
        """
        self._need_fit()
        missing = [c for c in self.stats_ if c not in df.columns]
        if missing:
            raise UnknownNameError(choices_message("signal", missing[0], df.columns))
        full = df if context is None else pd.concat(
            [context[list(self.stats_)], df[list(self.stats_)]], ignore_index=True)
        off = 0 if context is None else len(context)
        out = {}
        for c, s in self.stats_.items():
            r = self._transform(full[c].astype(float), s["slow"])
            out[c] = ((r - s["median"]).abs() / s["scale"]).iloc[off:].to_numpy()
        return pd.DataFrame(out, index=df.index)

    def score(self, df: pd.DataFrame, context: pd.DataFrame | None = None) -> pd.Series:
        """The combined score (max over signals) of each row."""
        sc = self.scores(df, context)
        return sc.max(axis=1, skipna=True).fillna(0.0)

    def predict(self, df: pd.DataFrame, context: pd.DataFrame | None = None) -> np.ndarray:
        """Boolean outlier flag per row of ``df`` (hysteresis on :meth:`score`)."""
        return hysteresis(self.score(df, context).to_numpy(), self.on, self.off,
                          self.min_length)
