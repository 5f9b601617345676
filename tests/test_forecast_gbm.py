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
from pumplib.forecast.gbm import _features, _trailing

from .naive_forecast import naive_profiles, naive_trailing_mean


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
    # one season only: no profiles (the lags' median already is one)
    _, _, _, plain = _features(p, J, T, S, m, m, np.zeros((n, 0)), None, smooth=True)
    assert "week_profile" not in plain


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
