"""A global LightGBM that scales each series and can extrapolate (``gbm``).

It models the *change against one season ago* (or, with ``anchor``, against
another of :data:`ANCHORS`), in units of the series' own level: for a target
period ``t`` forecast from origin ``p``, the target is ``(y[t] - y[t - r·m]) / L``
where ``m`` is the longest season, ``r·m`` the
nearest whole number of seasons before the origin and ``L`` the mean of the
season before the origin. A series at an all-time low or high is forecast
from its own recent values, never clipped to the training range. One model
serves all series and every step of the horizon (the step is a feature).

Features (all values divided by ``L``): the values 1–4 seasons before ``t``
and their median, the value one shortest season before, the last value and
the recent level change against a season earlier, the last value and the
last shortest season's mean against their medians over the last 4 seasons
(an anomaly that persists), with two seasons two *denoised profiles* (the
mean of the same position ±1 period over the last 4 longest seasons, and of
the same position of the shortest season over the last longest season, both
before the origin and only from periods of ``t``'s kind of day: off-day or
not; with one season, as at 1D, the mean of the last season's periods of
``t``'s kind of day), the *long profile* (the median of the same position of
the shortest season, every period with one season, over the last 4 longest
seasons, ``t``'s kind of day only) and the median of the same position over
the last :data:`LONG_WEEKS` longest seasons (the typical value at that hour
of the week of a tank held between pump switching levels), the series (categorical: each series may respond in its own way), the
step, the local hour and weekday, off-days (weekends and holidays) at ``t``
and one season before, and future-known covariates (weather) at ``t``, their
trailing means over 1 and 3 days (:data:`WEATHER_DAYS`), and the change of
each against one season before. The loss is L1 (the score is the MAE).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from .frames import Panel, calendar_covariates
from .levels import _step

#: what the model's target is the change against: the value one season ago, the
#: median of the lags (same position, last seasons), the long profile (same position of
#: the shortest season over 4 longest seasons, the target's kind of day)
ANCHORS = ("lag", "median", "profile", "mean")
#: seasons of the long median at the target's position (a quarter of weekly seasons)
LONG_WEEKS = 12
#: trailing means of the future-known covariates, in days (a hot spell, rain that
#: stopped garden watering); windows of one period are the covariate itself
WEATHER_DAYS = (1, 3)


def _calendar(index: pd.DatetimeIndex, level: str, timezone, registry, holidays):
    cov = calendar_covariates(index, level, registry=registry, timezone=timezone or "UTC",
                              holidays=holidays)
    cols = [c for c in ("hour_sin", "hour_cos", "dow_sin", "dow_cos", "offday")
            if c in cov.columns]
    return cov[cols].to_numpy(dtype=float), cols


def _covariate_array(covariates, index: pd.DatetimeIndex):
    if covariates is None:
        return None, []
    cov = covariates.copy()
    if isinstance(cov.index, pd.DatetimeIndex) and cov.index.tz is not None:
        cov = cov.set_axis(cov.index.tz_convert("UTC").tz_localize(None))
    cov = cov.reindex(index).apply(pd.to_numeric, errors="coerce")
    cov = cov.interpolate(limit_area="inside", limit=3)
    return cov.to_numpy(dtype=float), [str(c) for c in cov.columns]


def _trailing(cov, width: int):
    """Mean of each covariate over the ``width`` periods ending at each row (NaN skipped)."""
    ok = np.isfinite(cov)
    csum = np.vstack([np.zeros((1, cov.shape[1])), np.cumsum(np.where(ok, cov, 0.0), axis=0)])
    ccnt = np.vstack([np.zeros((1, cov.shape[1])), np.cumsum(ok, axis=0)])
    b = np.arange(1, len(cov) + 1)
    a = np.maximum(b - width, 0)
    c = ccnt[b] - ccnt[a]
    with np.errstate(all="ignore"):
        return np.where(c > 0, (csum[b] - csum[a]) / np.maximum(c, 1), np.nan)


def _same_day(cal, i, T):
    """Whether period ``i`` is the same kind of day as ``T`` (both off-days or both not);
    all true without a calendar."""
    if not cal.shape[1]:
        return np.ones(len(T), dtype=bool)
    n = len(cal)
    return cal[np.clip(i, 0, n - 1), -1] == cal[T, -1]


def _features(p: Panel, J, T, S, m: int, s: int, cal, cov, n_lags: int = 4, wx=(),
              smooth=False, long=False, anchors=None, long_weeks=0):
    """Feature matrix, base values and scales of rows (series J, target T, step S)."""
    y = p.y
    n = len(y)
    P = T - S

    def at(idx):
        ok = (idx >= 0) & (idx < n)
        out = np.full(len(idx), np.nan)
        out[ok] = y[idx[ok], J[ok]]
        return out

    r = 1 + S // m
    lags = [at(T - (r + k) * m) for k in range(n_lags)]
    base = lags[0]
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(np.stack(lags), axis=0)
            # the level: mean of the season before the origin
            csum = np.vstack([np.zeros((1, y.shape[1])), np.nancumsum(y, axis=0)])
            ccnt = np.vstack([np.zeros((1, y.shape[1])),
                              np.cumsum(~np.isnan(y), axis=0)])

            def mean(a, b):   # mean of y[a:b, J]
                a = np.clip(a, 0, n)
                b = np.clip(b, 0, n)
                c = ccnt[b, J] - ccnt[a, J]
                return np.where(c > 0, (csum[b, J] - csum[a, J]) / np.maximum(c, 1), np.nan)

            level = mean(P - m, P)
            scale = np.where(np.abs(level) > 1e-9, np.abs(level), 1.0)
            base = np.where(np.isnan(base), med, base)
            if anchors is not None:
                prof = _long_profile(at, cal, T, S, P, m, s)
                kind = np.asarray(anchors)[J]
                pick = np.select([kind == 1, kind == 2, kind == 3],
                                 [med, prof, mean(P - 4 * m, P)], base)
                base = np.where(np.isnan(pick), base, pick)
            last = at(P - 1)
            feats = [
                (lags[0] - med) / scale, *[(v - base) / scale for v in lags[1:]],
                (at(T - s * (1 + S // s)) - base) / scale if s < m else np.zeros(len(T)),
                (last - at(P - 1 - m)) / scale,
                (mean(P - s, P) - mean(P - s - m, P - m)) / scale,
                (level - mean(P - 2 * m, P - m)) / scale,
                base / scale, S.astype(float), np.log(scale)]
            # the last day and hour against their medians over the last 4 seasons
            day = np.nanmedian(np.stack([mean(P - s - k * m, P - k * m)
                                         for k in range(1, 5)]), axis=0)
            hour = np.nanmedian(np.stack([at(P - 1 - k * m) for k in range(1, 5)]), axis=0)
            feats += [(mean(P - s, P) - day) / scale, (last - hour) / scale]
            if smooth and s < m:
                # denoised profiles: the same hour of the week ±1 h over n_lags seasons,
                # and the same hour of the day over the last 7 days before the origin,
                # each only from periods of the target's kind of day (off-day or not);
                # the hour after the last step's lag is the origin itself: left out
                near = [np.where((i < P) & _same_day(cal, i, T), at(i), np.nan)
                        for i in (T - (r + k) * m + d for k in range(n_lags) for d in (-1, 0, 1))]
                week = np.nanmean(np.stack(near), axis=0)
                t1 = T - s * (1 + S // s)
                days = np.nanmean(np.stack([np.where(_same_day(cal, t1 - i * s, T),
                                                     at(t1 - i * s), np.nan)
                                            for i in range(m // s)]), axis=0)
                feats += [(week - base) / scale, (days - base) / scale]
            if smooth and s == m:
                # one season (daily data): the recent level of the target's kind of day,
                # the mean of the last m periods of that kind before the origin
                days = np.nanmean(np.stack([np.where(_same_day(cal, P - i, T), at(P - i),
                                                     np.nan) for i in range(1, m + 1)]),
                                  axis=0)
                feats.append((days - base) / scale)
            if long:
                feats.append((_long_profile(at, cal, T, S, P, m, s) - base) / scale)
            if long_weeks:
                # the same position of the longest season over many seasons: the typical
                # value at that hour of the week of a series that does not drift
                lw = _nanmedian(np.stack([at(T - (r + k) * m) for k in range(long_weeks)]))
                feats.append((lw - base) / scale)
    names = ["lag1_vs_med", *[f"lag{k + 2}" for k in range(n_lags - 1)], "short_lag", "last_change",
             "recent_change", "season_change", "base", "step", "log_level"]
    names += ["day_vs_median", "last_vs_median"]
    if smooth and s < m:
        names += ["week_profile", "day_profile"]
    elif smooth:
        names.append("day_profile")
    if long:
        names.append("long_profile")
    if long_weeks:
        names.append("long_weeks")
    feats.append(J.astype(float))   # which series: categorical (per-series responses)
    names.append("series")
    feats += [cal[T, c] for c in range(cal.shape[1])]
    names += [f"cal{c}" for c in range(cal.shape[1])]
    if cal.shape[1]:
        feats.append(cal[np.clip(T - r * m, 0, n - 1), -1])   # off-day a season before
        names.append("offday_before")
    if cov is not None:
        for c in range(cov.shape[1]):
            feats += [cov[T, c], cov[T, c] - cov[np.clip(T - r * m, 0, n - 1), c]]
            names += [f"cov{c}", f"cov{c}_change"]
        for w in wx:
            tr = _trailing(cov, w)
            for c in range(cov.shape[1]):
                feats += [tr[T, c], tr[T, c] - tr[np.clip(T - r * m, 0, n - 1), c]]
                names += [f"cov{c}_{w}", f"cov{c}_{w}_change"]
    return np.column_stack(feats), base, scale, names


def _nanmedian(stack):
    """Median over axis 0 skipping NaN (NaN where a column has none): a sort, which puts
    NaN last, and the middle of each column's valid values (numpy's nanmedian is several
    times slower on many short columns)."""
    v = np.sort(stack, axis=0)
    c = np.sum(~np.isnan(stack), axis=0)
    cols = np.arange(v.shape[1])
    lo = v[np.maximum(c - 1, 0) // 2, cols]
    hi = v[np.maximum(c, 1) // 2 - (c == 0), cols]
    return np.where(c > 0, (lo + hi) / 2, np.nan)


def _long_profile(at, cal, T, S, P, m: int, s: int):
    """Median of the target's position in the shortest season (its hour of the day;
    every period with one season) over the 4 longest seasons before the origin, from
    periods of the target's kind of day only: the typical value at that hour, robust to
    the phase of a fill-and-drain cycle that does not follow the clock."""
    u = s if s < m else 1
    t1 = T - u * (1 + S // u)          # the last such period before the origin
    vals = np.stack([np.where(_same_day(cal, t1 - i * u, T), at(t1 - i * u), np.nan)
                     for i in range(4 * m // u)])
    return _nanmedian(vals)


def gbm_forecasts(p: Panel, positions, fit_end: int, horizon: int, season, level: str, *,
                  timezone=None, registry=None, covariates=None, holidays=None,
                  params: dict | None = None) -> dict:
    """{(series j, origin position): forecast (horizon,)} of the global model.

    Parameters
    ----------
    p : Panel
        The series (rows beyond the data may be NaN: the horizon).
    positions : list of int
        Forecast origins (rows of ``p``).
    fit_end : int
        Rows before it are the training data.
    params : dict, optional
        LightGBM parameters (``n_estimators``, ``learning_rate``, ``num_leaves`` …),
        ``samples`` (steps drawn per training period, default 2), ``refit``
        (periods between refits, default four of the longest seasons), ``lags``
        (seasons back, default 4), ``seed``, ``profiles`` (the denoised profiles,
        or with one season the recent level of the kind of day; default True),
        ``long_profile`` (the median at the same hour of the day over 4 longest
        seasons; default True), ``long_weeks`` (seasons of the long median at the
        same position of the longest season, default :data:`LONG_WEEKS`; 0 for
        none), ``anchor`` (what the target is the change against: one of
        :data:`ANCHORS` or ``"auto"``, per series the one with the lowest MAE on
        the training periods; default ``"lag"``), ``weather_days`` (trailing
        covariate means in days, default :data:`WEATHER_DAYS`; ``()`` for none).
        Defaults were tuned on the bwdf-dev and BATADAL back-tests and checked on
        16 earlier weeks (docs/forecasting.md).

    Notes
    -----
    The model is first fitted at the first origin with four seasons of
    training periods (never on data at or after ``fit_end`` for origins
    before it), then refitted on all data before the origin every ``refit``
    periods; origins before the first fit get no forecast.
    """
    import lightgbm as lgb

    ss = sorted(season)
    m, s = max(ss), min(ss)
    h = int(horizon)
    n, k = p.y.shape
    cal, _ = _calendar(p.index, level, timezone, registry, holidays)
    cov, _ = _covariate_array(covariates, p.index)
    params = dict(params or {})
    samples = int(params.pop("samples", 2))
    every = int(params.pop("refit", 4 * m))
    seed = int(params.pop("seed", 0))
    per_day = max(int(pd.Timedelta("1D") / _step(level)), 1)
    wx = params.pop("weather_days", WEATHER_DAYS)   # trailing covariate means (days)
    try:
        wx = tuple(w for w in (int(round(float(d) * per_day)) for d in wx) if w > 1)
    except (TypeError, ValueError):
        raise ArgumentError(f"gbm weather_days must be a list of days (e.g. [1, 3]), got "
                            f"{wx!r}") from None
    shape = {"n_lags": int(params.pop("lags", 4)), "wx": wx,
             "smooth": bool(params.pop("profiles", True)),
             "long": bool(params.pop("long_profile", True)),
             "long_weeks": int(params.pop("long_weeks", LONG_WEEKS))}
    anchor = params.pop("anchor", "lag")
    if anchor in ANCHORS[1:]:
        shape["anchors"] = np.full(k, ANCHORS.index(anchor))
    elif anchor not in ("lag", "auto"):
        raise ArgumentError(f"gbm anchor must be one of {', '.join(ANCHORS)}, auto; "
                            f"got {anchor!r}")
    kw = dict(objective="l1", n_estimators=300, learning_rate=0.05, num_leaves=63,
              min_child_samples=100, subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
              num_threads=1, verbose=-1, random_state=0)
    kw.update(params)
    t_lo = 2 * m + h
    out, model, fitted = {}, None, None
    for q in sorted(positions):
        end = min(q, max(fit_end, q))   # only data before the origin
        if model is None or q - fitted >= every:
            if end < t_lo + 4 * m:      # too little history to learn from
                continue
            if anchor == "auto":
                shape["anchors"] = _choose_anchors(p, t_lo, end, h, m, s, cal,
                                                   shape["n_lags"])
            model = _fit(lgb, p, t_lo, end, samples, seed, h, m, s, cal, cov, kw, shape)
            fitted = end
            if model is None:
                continue
        J = np.repeat(np.arange(k), h)
        S = np.tile(np.arange(h), k)
        T = q + S
        if T.max() >= n:
            continue
        X, base, scale, _ = _features(p, J, T, S, m, s, cal, cov, **shape)
        pred = base + scale * model.predict(X)
        for j in range(k):
            v = pred[j * h:(j + 1) * h]
            if np.isfinite(v).all() and not np.isnan(p.y[q - 1, j]):
                out[(j, q)] = v
    return out


def _choose_anchors(p: Panel, t_lo: int, end: int, h: int, m: int, s: int, cal,
                    n_lags: int):
    """Per series, the anchor of :data:`ANCHORS` that forecasts its training periods in
    ``[t_lo, end)`` best (the lowest MAE, as a forecast from a random step)."""
    k = p.y.shape[1]
    rng = np.random.default_rng(end)
    T = np.repeat(np.arange(t_lo, end), k)
    J = np.tile(np.arange(k), max(end - t_lo, 0))
    S = rng.integers(0, h, len(T))
    keep = p.observed[T, J]
    T, J, S = T[keep], J[keep], S[keep]
    err = np.full((len(ANCHORS), k), np.inf)
    for a in range(len(ANCHORS)):
        _, base, _, _ = _features(p, J, T, S, m, s, cal, None, n_lags=n_lags,
                                  anchors=np.full(k, a))
        e = np.abs(p.y[T, J] - base)
        ok = np.isfinite(e)
        count = np.bincount(J[ok], minlength=k)
        total = np.bincount(J[ok], weights=e[ok], minlength=k)
        err[a] = np.where(count > 0, total / np.maximum(count, 1), np.inf)
    return np.argmin(err, axis=0)


def _fit(lgb, p: Panel, t_lo: int, end: int, samples: int, seed: int, h: int, m: int,
         s: int, cal, cov, kw, shape):
    """LightGBM fitted on target periods in ``[t_lo, end)``, ``samples`` steps each."""
    k = p.y.shape[1]
    rng = np.random.default_rng(seed + end)
    T = np.repeat(np.arange(t_lo, end), k * samples)
    J = np.tile(np.repeat(np.arange(k), samples), max(end - t_lo, 0))
    S = rng.integers(0, h, len(T))
    keep = p.observed[T, J]
    T, J, S = T[keep], J[keep], S[keep]
    X, base, scale, names = _features(p, J, T, S, m, s, cal, cov, **shape)
    target = (p.y[T, J] - base) / scale
    ok = np.isfinite(target) & np.isfinite(base)
    if ok.sum() < 50:
        return None
    model = lgb.LGBMRegressor(**kw)
    model.fit(X[ok], target[ok], categorical_feature=[names.index("series")])
    return model
