"""The global forecaster's denoised profiles and trailing weather against slow references;
trailing weather on synthetic series whose truth depends on it. (What the profiles buy is
measured on real data by benchmarks/bench_forecast.py: a synthetic shape under noise is
learnt from the hour and series features alone, with or without them.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pumplib import forecast as F
from pumplib.errors import ArgumentError
from pumplib.forecast.frames import panel
from pumplib.forecast.gbm import (
    ANCHORS,
    _choose_anchors,
    _features,
    _trailing,
    gbm_forecasts,
)

from .naive_forecast import (
    naive_anchor,
    naive_long_profile,
    naive_long_weeks,
    naive_profiles,
    naive_recent_level,
    naive_trailing_mean,
)


def test_trailing_weather_means_match_a_loop():
    rng = np.random.default_rng(0)
    cov = rng.normal(size=(60, 2))
    cov[[3, 4, 30], 0] = np.nan
    cov[:10, 1] = np.nan
    for width in (1, 5, 24):
        got = _trailing(cov, width)
        want = np.array([[naive_trailing_mean(cov, width, i, c) for c in range(2)]
                         for i in range(60)])
        np.testing.assert_allclose(got, want, equal_nan=True)


def test_profile_features_match_one_row_at_a_time():
    """Plain, then only from the target's kind of day (off-day or not)."""
    rng = np.random.default_rng(1)
    n, m, s = 24 * 12, 24, 6
    y = 10 + np.sin(2 * np.pi * np.arange(n) / m)[:, None] + rng.normal(0, 0.5, (n, 2))
    y[100:104, 1] = np.nan      # gaps inside the lags and profiles
    y[200, 0] = np.nan
    idx = pd.date_range("2026-01-05", periods=n, freq="h")
    p = panel(pd.DataFrame(y, index=idx, columns=["a", "b"]), "1h", max_gap=0)
    J = np.array([0, 1, 1, 0, 1, 0])
    S = np.array([0, 5, 23, 30, 47, 11])
    T = np.array([250, 230, 260, 240, 270, 211])
    offday = (rng.random(n // 6) < 0.3).repeat(6).astype(float)   # 'days' of 6 periods
    for cal, flags in ((np.zeros((n, 0)), None), (offday[:, None], offday)):
        X, _, _, names = _features(p, J, T, S, m, s, cal, None, smooth=True)
        for row in range(len(T)):
            want = naive_profiles(p.y, J[row], T[row], S[row], m, s, offday=flags)
            got = X[row, [names.index("week_profile"), names.index("day_profile")]]
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # one season only: no week profile (the lags' median already is one); the recent
    # level of the kind of day instead (tested below)
    _, _, _, plain = _features(p, J, T, S, m, m, np.zeros((n, 0)), None, smooth=True)
    assert "week_profile" not in plain and "day_profile" in plain


def test_trailing_weather_is_learnt():
    """Demand follows the mean temperature of the last three days (a hot spell), not the
    hour's own: with the trailing means the forecast is far better than without."""
    rng = np.random.default_rng(4)
    n = 24 * 45
    t = pd.date_range("2026-01-05", periods=n, freq="h", tz="UTC")
    temp = pd.Series(np.repeat(rng.normal(0, 1, n // 24), 24) + rng.normal(0, 0.3, n),
                     index=t)
    heat = temp.rolling(72, min_periods=1).mean().to_numpy()
    day = 3 * np.sin(2 * np.pi * np.arange(n) / 24)
    frame = pd.DataFrame({c: lvl + day + 4 * heat + rng.normal(0, 0.3, n)
                          for c, lvl in (("A", 20), ("B", 35), ("C", 50))}, index=t)
    frame.attrs.update(level="1h", timezone="UTC")
    kw = dict(season=[24], horizon=24, test_periods=24 * 8, stride=24, future=False,
              calibration=4, covariates=temp.to_frame("temp"))
    on = F.backtest(frame, "1h", ["gbm"], **kw).pooled
    off = F.backtest(frame, "1h", ["gbm"], model_params={"gbm": {"weather_days": ()}},
                     **kw).pooled
    assert on.loc["gbm", "mae"] < 0.8 * off.loc["gbm", "mae"], (on, off)
    with pytest.raises(ArgumentError, match="weather_days"):
        F.backtest(frame, "1h", ["gbm"], model_params={"gbm": {"weather_days": "x"}}, **kw)


def test_long_profile_and_anchors_match_one_row_at_a_time():
    """The long profile (hourly and daily) and every anchor against slow references, plain
    and from the target's kind of day only."""
    rng = np.random.default_rng(2)
    n, m, s = 24 * 30, 24, 6
    y = 5 + np.sin(2 * np.pi * np.arange(n) / s)[:, None] + rng.normal(0, 0.5, (n, 2))
    y[300:305, 1] = np.nan
    y[410, 0] = np.nan
    idx = pd.date_range("2026-01-05", periods=n, freq="h")
    p = panel(pd.DataFrame(y, index=idx, columns=["a", "b"]), "1h", max_gap=0)
    J = np.array([0, 1, 1, 0, 1, 0, 1])
    S = np.array([0, 5, 23, 30, 47, 11, 2])
    T = np.array([650, 430, 560, 540, 700, 411, 310])
    offday = (rng.random(n // 6) < 0.3).repeat(6).astype(float)
    for cal, flags in ((np.zeros((n, 0)), None), (offday[:, None], offday)):
        for ss in (s, m):          # two seasons (hour of the day), one season (every period)
            X, _, _, names = _features(p, J, T, S, m, ss, cal, None, long=True)
            for row in range(len(T)):
                want = naive_long_profile(p.y, J[row], T[row], S[row], m, ss, offday=flags)
                base = naive_anchor(p.y, J[row], T[row], S[row], m, ss, "lag")
                scale = abs(np.nanmean(p.y[T[row] - S[row] - m:T[row] - S[row], J[row]]))
                np.testing.assert_allclose(X[row, names.index("long_profile")],
                                           (want - base) / scale, rtol=1e-10)
            for a, kind in enumerate(ANCHORS):
                _, base, _, _ = _features(p, J, T, S, m, ss, cal, None,
                                          anchors=np.full(2, a))
                want = [naive_anchor(p.y, J[i], T[i], S[i], m, ss, kind, offday=flags)
                        for i in range(len(T))]
                np.testing.assert_allclose(base, want, rtol=1e-10)


def test_anchor_choice_and_bad_anchor():
    """A series that stays near one level between on/off switching (a tank) is anchored on
    its recent mean or profile, one that trends on its lag; a bad name is one clear line."""
    rng = np.random.default_rng(3)
    n = 24 * 7 * 10
    t = np.arange(n)
    tank = 3 + rng.uniform(-1, 1, n)                       # no pattern: the mean is best
    trend = 10 + t / 50 + np.sin(2 * np.pi * t / 168) + rng.normal(0, 0.05, n)
    idx = pd.date_range("2026-01-05", periods=n, freq="h")
    p = panel(pd.DataFrame({"tank": tank, "trend": trend}, index=idx), "1h", max_gap=0)
    got = _choose_anchors(p, 2 * 168 + 24, n, 24, 168, 24, np.zeros((n, 0)), 4)
    assert ANCHORS[got[0]] in ("mean", "profile") and ANCHORS[got[1]] == "lag", got
    with pytest.raises(ArgumentError, match="anchor must be one of"):
        gbm_forecasts(p, [n - 24], n - 24, 24, [24, 168], "1h", params={"anchor": "x"})


def test_recent_level_and_long_weeks_match_one_row_at_a_time():
    rng = np.random.default_rng(5)
    n, m = 7 * 20, 7
    y = 10 + rng.normal(0, 1, (n, 2))
    y[60:63, 0] = np.nan
    idx = pd.date_range("2026-01-05", periods=n, freq="D")
    p = panel(pd.DataFrame(y, index=idx, columns=["a", "b"]), "1D", max_gap=0)
    J = np.array([0, 1, 0, 1, 0])
    S = np.array([0, 3, 6, 1, 5])
    T = np.array([130, 100, 68, 64, 139])
    offday = np.asarray(idx.day_of_week >= 5, dtype=float)
    for cal, flags in ((np.zeros((n, 0)), None), (offday[:, None], offday)):
        X, base, scale, names = _features(p, J, T, S, m, m, cal, None, smooth=True,
                                          long_weeks=12)
        for row in range(len(T)):
            args = (p.y, J[row], T[row], S[row], m)
            want = [naive_recent_level(*args, offday=flags), naive_long_weeks(*args, 12)]
            got = X[row, [names.index("day_profile"), names.index("long_weeks")]]
            np.testing.assert_allclose(got * scale[row] + base[row], want, rtol=1e-10)
