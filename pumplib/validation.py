"""Feature validation: quality, stability, predictive power, leakage, scorecards.

A feature earns trust in two ways: its values are well covered and stable
(quality), and it tells something about a target that matters (predictive
power), without peeking at that target's future (leakage). This module
measures both on golden-table columns and writes one **scorecard** per feature
version into the lake (table group ``scorecards``), next to the definition
hash it scores.

Pieces (each a plain function on ``(asset, time)`` DataArrays):

* quality: :func:`coverage`, :func:`gaps`, :func:`flag_breakdown`,
  :func:`psi` (population stability index of each month against the first),
  :func:`consistency` (each pump against the median of its peers);
* predictive power against a target: :func:`lagged_correlation`,
  :func:`mutual_information` (scikit-learn), :func:`backtest_skill` (a small
  Darts back-test with and without the feature as past covariate);
* :func:`check_leakage` refuses a feature computed from the target's future;
* :func:`scorecard` runs all of it; :func:`save_scorecard` /
  :func:`load_scorecards` store and read scorecards; :func:`rank_features`
  orders candidates by predictive power.

Targets are golden-table columns shifted ``horizon`` periods into the
future: ``target="energy_integral", level="1D", horizon=1`` is next-day
energy, so a feature value of period *t* is scored against the target of
period *t + horizon*.

Examples
--------
>>> import numpy as np, pandas as pd, xarray as xr
>>> t = pd.date_range("2026-03-01", periods=200, freq="1h")
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(2, 200))
>>> y = np.roll(x, 1, axis=1) * 2 + rng.normal(scale=0.1, size=(2, 200))   # y(t+1) = 2 x(t)
>>> da = lambda v: xr.DataArray(v, dims=("asset", "time"), coords={"asset": ["A", "B"], "time": t})
>>> r = lagged_correlation(da(x), da(y), lags=[0, 1, 2])
>>> int(r.abs().idxmax()), bool(r[1] > 0.99)
(1, True)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import ArgumentError, PumplibError, UnknownNameError, choices_message

__all__ = ["LeakageError", "Scorecard", "SCORECARD_GROUP", "backtest_skill", "check_leakage",
           "consistency", "coverage", "flag_breakdown", "gaps", "lagged_correlation",
           "load_scorecards", "make_target", "mutual_information", "predictive_power", "psi",
           "rank_features", "save_scorecard", "scorecard"]

#: lake table group that holds the scorecards
SCORECARD_GROUP = "scorecards"


class LeakageError(PumplibError, ValueError):
    """A feature uses information from the target's future."""


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _values(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.transpose("asset", "time").values, dtype=float)


def _check_da(da, name: str) -> xr.DataArray:
    if not isinstance(da, xr.DataArray):
        raise ArgumentError(f"{name} must be an xarray.DataArray with dims (asset, time), got "
                            f"{type(da).__name__}")
    if set(da.dims) != {"asset", "time"}:
        raise ArgumentError(f"{name} must have dims (asset, time), got {da.dims}")
    return da.transpose("asset", "time")


def make_target(values: xr.DataArray, horizon: int = 1) -> xr.DataArray:
    """The target of period *t*: the value of period *t + horizon* (NaN at the end).

    Examples
    --------
    >>> da = xr.DataArray([[1.0, 2.0, 3.0]], dims=("asset", "time"))
    >>> make_target(da, 1).values.tolist()
    [[2.0, 3.0, nan]]
    """
    if int(horizon) != horizon:
        raise ArgumentError(f"option 'horizon' given an invalid value: {horizon!r}. "
                            "Expected an integer number of periods")
    out = values.shift(time=-int(horizon))
    out.attrs = {**values.attrs, "horizon": int(horizon)}
    return out


def _pairs(feature: xr.DataArray, target: xr.DataArray, lag: int = 0):
    """Pooled finite pairs (feature at t - lag, target at t) over assets."""
    f = _values(feature)
    y = _values(target)
    if lag > 0:           # a lag as long as the series or longer leaves no pair
        pad = min(lag, f.shape[1])
        f = np.concatenate([np.full((f.shape[0], pad), np.nan), f[:, :f.shape[1] - pad]],
                           axis=1)
    elif lag < 0:
        raise ArgumentError(f"lag {lag} is negative: a feature may only lead, never follow")
    ok = np.isfinite(f) & np.isfinite(y)
    return f[ok], y[ok]


# ---------------------------------------------------------------------------
# quality
# ---------------------------------------------------------------------------
def coverage(values: xr.DataArray, cov: xr.DataArray | None = None) -> pd.DataFrame:
    """Share of periods with a value, and the mean raw-sample coverage, per asset.

    Examples
    --------
    >>> da = xr.DataArray([[1.0, np.nan, 3.0, 4.0]], dims=("asset", "time"),
    ...                   coords={"asset": ["P1"]})
    >>> coverage(da)["valued"].tolist()
    [0.75]
    """
    values = _check_da(values, "values")
    v = _values(values)
    out = pd.DataFrame({"valued": np.isfinite(v).mean(axis=1) if v.shape[1] else np.nan},
                       index=pd.Index(values["asset"].values.astype(str), name="asset"))
    if cov is not None:
        c = _values(_check_da(cov, "cov"))
        with np.errstate(invalid="ignore"):
            out["raw_coverage"] = np.nanmean(np.where(np.isfinite(c), c, 0.0), axis=1)
    return out


def gaps(values: xr.DataArray) -> pd.DataFrame:
    """Runs of missing periods per asset: count, longest (periods) and where it starts.

    Examples
    --------
    >>> t = pd.date_range("2026-03-01", periods=6, freq="1h")
    >>> da = xr.DataArray([[1, np.nan, np.nan, 4, np.nan, 6.0]], dims=("asset", "time"),
    ...                   coords={"asset": ["P1"], "time": t})
    >>> gaps(da)[["n_gaps", "longest"]].values.tolist()
    [[2, 2]]
    """
    values = _check_da(values, "values")
    v = _values(values)
    times = pd.DatetimeIndex(values["time"].values) if "time" in values.coords else None
    rows = []
    for i, a in enumerate(values["asset"].values.astype(str)):
        miss = ~np.isfinite(v[i])
        d = np.diff(np.concatenate([[0], miss.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        lengths = ends - starts
        k = int(np.argmax(lengths)) if len(lengths) else -1
        rows.append({"asset": a, "n_gaps": len(starts),
                     "longest": int(lengths[k]) if k >= 0 else 0,
                     "longest_start": (times[starts[k]] if k >= 0 and times is not None
                                       else pd.NaT),
                     "missing_share": float(miss.mean()) if len(miss) else np.nan})
    return pd.DataFrame(rows).set_index("asset")


def psi(values: xr.DataArray, *, bins: int = 10, by: str = "1M", timezone: str | None = None
        ) -> pd.Series:
    """Population stability index of each month (or ``by`` period) against the first.

    Bins are quantiles of the reference period (all assets pooled; at most
    ``bins``, at least ten reference values each; one bin per value for
    states), counts smoothed by half a sample; PSI < 0.1 is stable, 0.1–0.25
    a shift, > 0.25 a large shift.

    Examples
    --------
    >>> t = pd.date_range("2026-03-01", periods=61, freq="1D")
    >>> rng = np.random.default_rng(1)
    >>> v = np.r_[rng.normal(0, 1, 31), rng.normal(3, 1, 30)][None, :]
    >>> s = psi(xr.DataArray(v, dims=("asset", "time"), coords={"asset": ["P"], "time": t}),
    ...         timezone="UTC")
    >>> bool(s.iloc[0] == 0.0), bool(s.iloc[1] > 1)
    (True, True)
    """
    from . import config

    values = _check_da(values, "values")
    tz = config.get("utility.timezone", override_with=timezone)
    times = pd.DatetimeIndex(values["time"].values).tz_localize("UTC").tz_convert(tz)
    freq = {"1M": "M", "1W": "W", "1D": "D"}.get(by)
    if freq is None:
        raise UnknownNameError(choices_message("psi period", by, ("1D", "1W", "1M")))
    periods = times.tz_localize(None).to_period(freq)
    v = _values(values)
    labels = periods.unique()
    if len(labels) == 0:
        return pd.Series(dtype=float, name="psi")
    ref = v[:, periods == labels[0]].ravel()
    ref = ref[np.isfinite(ref)]
    if len(ref) < 2:
        return pd.Series(np.nan, index=labels.astype(str), name="psi")
    bins = int(min(bins, max(2, len(ref) // 10)))   # ~10 reference values per bin at least
    uniq = np.unique(ref)
    if len(uniq) <= bins:                      # few distinct values (states): one bin each
        edges = np.r_[-np.inf, (uniq[:-1] + uniq[1:]) / 2, np.inf]
    else:
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
        edges[0], edges[-1] = -np.inf, np.inf

    def dist(x):
        x = x[np.isfinite(x)]
        if len(x) == 0:
            return None
        h = np.histogram(x, edges)[0].astype(float) + 0.5      # Laplace smoothing
        return h / h.sum()

    p0 = dist(ref)
    out = {}
    for lab in labels:
        p = dist(v[:, periods == lab].ravel())
        out[str(lab)] = np.nan if p is None else float(np.sum((p - p0) * np.log(p / p0)))
    return pd.Series(out, name="psi")


def consistency(values: xr.DataArray, registry=None, *, group_by: str = "pump_type"
                ) -> pd.DataFrame:
    """Each pump against the median of similar pumps (same ``pump_type`` or ``station``).

    Columns: ``group``, ``peers``, ``corr`` (with the peers' median series) and
    ``ratio`` (its median over the peers' median). A pump far from its peers
    (low correlation, ratio far from 1) points to a sensor or a definition
    problem, or a real difference worth a look.
    """
    values = _check_da(values, "values")
    if group_by not in ("pump_type", "station"):
        raise UnknownNameError(choices_message("group_by", group_by, ("pump_type", "station")))
    assets = [str(a) for a in values["asset"].values]
    groups: dict[str, str] = {}
    if registry is not None:
        for a in assets:
            if a in registry.assets:
                asset = registry.assets[a]
                g = asset.pump_type if group_by == "pump_type" else asset.station
                if asset.kind == "pump" or group_by == "station":
                    groups[a] = str(g)
    else:
        groups = dict.fromkeys(assets, "all")
    v = _values(values)
    rows = []
    for i, a in enumerate(assets):
        g = groups.get(a)
        peers = [j for j, b in enumerate(assets) if b != a and groups.get(b) == g] if g else []
        corr = ratio = np.nan
        if peers:
            with np.errstate(all="ignore"):
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    med = np.nanmedian(v[peers], axis=0)
                    ok = np.isfinite(v[i]) & np.isfinite(med)
                    if ok.sum() > 2 and np.std(v[i][ok]) > 0 and np.std(med[ok]) > 0:
                        corr = float(np.corrcoef(v[i][ok], med[ok])[0, 1])
                    pm = np.nanmedian(med)
                    if np.isfinite(pm) and pm != 0:
                        ratio = float(np.nanmedian(v[i]) / pm)
        rows.append({"asset": a, "group": g, "peers": len(peers), "corr": corr, "ratio": ratio})
    return pd.DataFrame(rows).set_index("asset")


def flag_breakdown(signals: Sequence[str], assets: Sequence[str] | None = None, start=None,
                   end=None, *, store=None, cadence: str = "1min") -> pd.DataFrame:
    """Share of raw samples of ``signals`` carrying each quality flag (the feature's inputs).

    Returns one row per flag name with ``samples`` and ``share`` (of all
    samples of those signals and assets in ``[start, end)``, UTC); ``GOOD`` counts the
    samples without a bad flag.
    """
    from .quality import open_quality
    from .quality.flags import Flag, is_good
    from .query import _lake, _ts

    lake = _lake(store)
    q = open_quality(lake, cadence)
    have = [s for s in signals if s in q.data_vars]
    if not have:
        return pd.DataFrame(columns=["samples", "share"])
    q = q[have]
    if assets is not None:
        q = q.sel(asset=[a for a in assets if a in set(map(str, q["asset"].values))])
    t0, t1 = _ts(start, "start"), _ts(end, "end")
    q = q.sel(time=slice(t0, None if t1 is None else t1 - pd.Timedelta("1ns")))
    counts: dict[str, int] = {f.name: 0 for f in Flag}
    total = good = 0
    for s in have:
        a = np.asarray(q[s].values).astype(np.uint16).ravel()
        expected = (a & np.uint16(Flag.NOT_EXPECTED)) == 0
        a = a[expected]
        total += a.size
        good += int(np.count_nonzero(is_good(a)))
        for f in Flag:
            counts[f.name] += int(np.count_nonzero(a & np.uint16(f)))
    rows = {"GOOD": good, **{k: v for k, v in counts.items() if v}}
    out = pd.DataFrame({"samples": pd.Series(rows, dtype="int64")})
    out["share"] = out["samples"] / total if total else np.nan
    out.index.name = "flag"
    return out


# ---------------------------------------------------------------------------
# predictive power
# ---------------------------------------------------------------------------
def lagged_correlation(feature: xr.DataArray, target: xr.DataArray,
                       lags: Iterable[int] = range(4)) -> pd.Series:
    """Pearson correlation of ``target(t)`` with ``feature(t - lag)``, pooled over assets.

    ``target`` is already the quantity to predict (see :func:`make_target`);
    lag 0 pairs a feature value with the target of the same row.
    """
    feature, target = _check_da(feature, "feature"), _check_da(target, "target")
    out = {}
    for lag in lags:
        f, y = _pairs(feature, target, int(lag))
        out[int(lag)] = (float(np.corrcoef(f, y)[0, 1])
                         if len(f) > 2 and np.std(f) > 0 and np.std(y) > 0 else np.nan)
    s = pd.Series(out, name="corr", dtype=float)
    s.index.name = "lag"
    return s


def mutual_information(feature: xr.DataArray, target: xr.DataArray, *, lag: int = 0,
                       seed: int = 0, max_samples: int = 20000) -> float:
    """Mutual information (nats) between ``feature(t - lag)`` and ``target(t)`` (scikit-learn)."""
    from sklearn.feature_selection import mutual_info_regression

    feature, target = _check_da(feature, "feature"), _check_da(target, "target")
    f, y = _pairs(feature, target, int(lag))
    if len(f) < 10 or np.std(f) == 0:
        return 0.0 if len(f) >= 10 else float("nan")
    if len(f) > max_samples:
        idx = np.random.default_rng(seed).choice(len(f), max_samples, replace=False)
        f, y = f[idx], y[idx]
    return float(mutual_info_regression(f[:, None], y, random_state=seed)[0])


def _series_list(da: xr.DataArray, fill: bool = True):
    from darts import TimeSeries

    out = []
    times = pd.DatetimeIndex(da["time"].values)
    for a in da["asset"].values:
        s = pd.Series(np.asarray(da.sel(asset=a).values, dtype=float), index=times)
        if fill:
            s = s.interpolate(limit_direction="both")
        out.append(TimeSeries.from_times_and_values(pd.RangeIndex(len(s)), s.values[:, None])
                   if s.notna().all() else None)
    return out


def backtest_skill(feature: xr.DataArray, values: xr.DataArray, *, horizon: int = 1,
                   lags: int = 3, start: float = 0.7) -> dict:
    """Skill change of a small Darts back-test with vs without the feature.

    A ``LinearRegressionModel`` forecasts ``values`` ``horizon`` periods ahead
    from its last ``lags`` values, once alone and once with ``lags`` past
    values of ``feature`` as past covariate; both are fitted on the first
    ``start`` share of every asset's series (global model over assets) and
    scored on the rest by mean absolute error.

    Returns ``{"mae_without", "mae_with", "skill_change"}`` where
    ``skill_change = 1 - mae_with / mae_without`` (> 0: the feature helps).
    """
    from darts.models.forecasting.linear_regression_model import LinearRegressionModel

    feature, values = _check_da(feature, "feature"), _check_da(values, "values")
    ys = _series_list(values)
    xs = _series_list(feature)
    keep = [i for i, (y, x) in enumerate(zip(ys, xs, strict=True)) if y is not None
            and x is not None and len(y) > 4 * lags + 2 * horizon + 10]
    if not keep:
        return {"mae_without": np.nan, "mae_with": np.nan, "skill_change": np.nan}
    ys, xs = [ys[i] for i in keep], [xs[i] for i in keep]
    n_train = [int(len(y) * start) for y in ys]
    train = [y[:n] for y, n in zip(ys, n_train, strict=True)]

    def mae(model, covs):
        model.fit(train, past_covariates=None if covs is None else
                  [x[:n] for x, n in zip(covs, n_train, strict=True)])
        err, cnt = 0.0, 0
        for k, y in enumerate(ys):
            preds = model.historical_forecasts(
                y, past_covariates=None if covs is None else covs[k], start=n_train[k],
                forecast_horizon=horizon, retrain=False, last_points_only=True, verbose=False)
            p = preds.values().ravel()
            truth = y.slice_intersect(preds).values().ravel()
            err += float(np.abs(p - truth).sum())
            cnt += len(p)
        return err / max(cnt, 1)

    base = mae(LinearRegressionModel(lags=lags, output_chunk_length=horizon), None)
    withf = mae(LinearRegressionModel(lags=lags, lags_past_covariates=lags,
                                      output_chunk_length=horizon), xs)
    skill = 1.0 - withf / base if base > 0 else np.nan
    return {"mae_without": base, "mae_with": withf, "skill_change": float(skill)}


def predictive_power(feature: xr.DataArray, values: xr.DataArray, *, horizon: int = 1,
                     lags: Iterable[int] = range(4), backtest: bool = True,
                     backtest_lags: int = 3) -> dict:
    """Lagged correlation, mutual information and back-test skill in one dict.

    ``values`` is the target column itself (not shifted); the target is
    ``make_target(values, horizon)``. ``score`` in [0, 1] averages the best
    absolute correlation, the information coefficient ``sqrt(1 - exp(-2 MI))``
    and the positive part of the skill change: it is what
    :func:`rank_features` sorts by.
    """
    target = make_target(values, horizon)
    corr = lagged_correlation(feature, target, lags)
    best = corr.abs().idxmax() if corr.notna().any() else 0
    mi = mutual_information(feature, target, lag=int(best))
    out: dict[str, Any] = {
        "horizon": int(horizon),
        "corr_by_lag": {int(k): (None if not np.isfinite(v) else float(v))
                        for k, v in corr.items()},
        "best_lag": int(best), "best_corr": float(corr.get(best, np.nan)),
        "mutual_information": mi,
        "information_coefficient": float(math.sqrt(1 - math.exp(-2 * mi)))
        if np.isfinite(mi) and mi > 0 else 0.0,
    }
    if backtest:
        out.update(backtest_skill(feature, values, horizon=horizon, lags=backtest_lags))
    parts = [abs(out["best_corr"]) if np.isfinite(out["best_corr"]) else 0.0,
             out["information_coefficient"]]
    if backtest:
        sk = out.get("skill_change", np.nan)
        parts.append(max(0.0, min(1.0, sk)) if np.isfinite(sk) else 0.0)
    out["score"] = float(np.mean(parts))
    return out


def check_leakage(feature: xr.DataArray, values: xr.DataArray, *, horizon: int = 1,
                  definition=None, target_definition=None, threshold: float = 0.98) -> None:
    """Refuse a feature computed from the target's future; return None when clean.

    Three checks, each a :class:`LeakageError` naming the problem:

    1. timing: ``horizon`` must be ≥ 1 period, so a feature period ends before
       the target period starts (horizon 0 scores a feature against its own
       period, which it may be computed from);
    2. periods: when both carry ``time_end``, every feature period must end
       no later than the start of the target period it is paired with;
    3. values: a feature that matches the *future* target far better
       (|r| ≥ ``threshold``) than anything it could know now (the target's
       present value) is the target's future in disguise.
    """
    feature, values = _check_da(feature, "feature"), _check_da(values, "values")
    name = feature.name or "feature"
    if int(horizon) < 1:
        raise LeakageError(f"feature {name!r}: horizon {horizon} means the target period is the "
                           "feature's own period (or earlier); a feature may only use data "
                           "that ends before the target period starts. Use horizon ≥ 1.")
    if "time_end" in feature.coords and "time" in values.coords:
        f_end = pd.DatetimeIndex(np.asarray(feature["time_end"].values))
        t_start = pd.DatetimeIndex(np.asarray(values["time"].values))
        h = int(horizon)
        n = min(len(f_end), len(t_start) - h)
        if n > 0 and (f_end[:n] > t_start[h:h + n]).any():
            i = int(np.flatnonzero(f_end[:n] > t_start[h:h + n])[0])
            raise LeakageError(
                f"feature {name!r}: its period ending {f_end[i]} is paired with the target period "
                f"starting {t_start[h + i]}; the feature is computed from the target's future "
                "(a coarser level than the target?). Query both at the same level.")
    target = make_target(values, horizon)
    fut = lagged_correlation(feature, target, [0])[0]
    now = lagged_correlation(feature, values, [0])[0]
    if np.isfinite(fut) and abs(fut) >= threshold and not (np.isfinite(now) and
                                                            abs(now) >= threshold):
        raise LeakageError(
            f"feature {name!r} equals the target {horizon} period(s) ahead (r = {fut:.3f}) but "
            f"not the target now (r = {now:.3f}): it is computed from the target's future.")
    if definition is not None and target_definition is not None:
        for fn in ("lead", "shift_back", "future"):
            if fn in getattr(getattr(definition, "compiled", None), "parsed", None).functions:
                raise LeakageError(f"feature {definition.name!r} uses {fn}(): a look-ahead")


def rank_features(features: Mapping[str, xr.DataArray], values: xr.DataArray, *,
                  horizon: int = 1, backtest: bool = True) -> pd.DataFrame:
    """Candidates ordered by predictive power for ``values`` ``horizon`` periods ahead.

    Leaky candidates are refused (a :class:`LeakageError`), not ranked.
    """
    rows = []
    for name, da in features.items():
        da = da.rename(name) if da.name != name else da
        check_leakage(da, values, horizon=horizon)
        p = predictive_power(da, values, horizon=horizon, backtest=backtest)
        rows.append({"feature": name, "score": p["score"], "best_corr": p["best_corr"],
                     "best_lag": p["best_lag"], "mutual_information": p["mutual_information"],
                     "skill_change": p.get("skill_change", np.nan)})
    return pd.DataFrame(rows).sort_values("score", ascending=False).set_index("feature")


# ---------------------------------------------------------------------------
# scorecards
# ---------------------------------------------------------------------------
@dataclass
class Scorecard:
    """What is known about one feature version: quality, stability, predictive power."""

    feature: str
    column: str
    level: str
    version: int | None = None
    definition_hash: str | None = None
    target: str | None = None
    horizon: int = 1
    assets: list[str] = field(default_factory=list)
    start: str | None = None
    end: str | None = None
    quality: dict = field(default_factory=dict)
    stability: dict = field(default_factory=dict)
    consistency: dict = field(default_factory=dict)
    flags: dict = field(default_factory=dict)
    predictive: dict = field(default_factory=dict)
    leakage: str = "not checked"
    created_at: str = ""

    @property
    def key(self) -> str:
        """Table name in the lake: ``<feature>__v<version>__<hash or column>``."""
        tail = self.definition_hash or hashlib.sha256(self.column.encode()).hexdigest()[:16]
        return f"{self.feature}__v{self.version if self.version is not None else 0}__{tail}"

    def summary(self) -> dict:
        """The headline figures, flat (for tables and apps)."""
        p = self.predictive
        return {
            "feature": self.feature, "column": self.column, "version": self.version,
            "level": self.level, "target": self.target, "horizon": self.horizon,
            "valued_share": self.quality.get("valued_share"),
            "raw_coverage": self.quality.get("raw_coverage"),
            "longest_gap": self.quality.get("longest_gap"),
            "psi_max": self.stability.get("psi_max"),
            "peer_corr_median": self.consistency.get("corr_median"),
            "good_share": self.flags.get("GOOD"),
            "best_corr": p.get("best_corr"), "best_lag": p.get("best_lag"),
            "mutual_information": p.get("mutual_information"),
            "skill_change": p.get("skill_change"), "score": p.get("score"),
            "leakage": self.leakage,
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per metric: ``section``, ``metric``, ``value`` (JSON text for nested)."""
        rows = []
        for section in ("quality", "stability", "consistency", "flags", "predictive"):
            for k, v in getattr(self, section).items():
                rows.append({"section": section, "metric": k,
                             "value": v if isinstance(v, int | float) and not isinstance(v, bool)
                             else np.nan,
                             "text": json.dumps(v, default=str) if not isinstance(
                                 v, int | float) or isinstance(v, bool) else ""})
        rows.append({"section": "leakage", "metric": "leakage", "value": np.nan,
                     "text": self.leakage})
        return pd.DataFrame(rows, columns=["section", "metric", "value", "text"])

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=_json_default))

    def _repr_html_(self) -> str:
        s = pd.Series(self.summary(), name=self.key).to_frame()
        return f"<b>Scorecard {self.key}</b>" + s.to_html()


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, pd.Timestamp | dt.datetime):
        return o.isoformat()
    return str(o)


def _clean(d: Mapping) -> dict:
    return json.loads(json.dumps(d, default=_json_default).replace("NaN", "null"))


def scorecard(feature: str | xr.DataArray, target: str | xr.DataArray | None = "energy_integral",
              level: str = "1h", assets=None, start=None, end=None, *, horizon: int = 1,
              store=None, registry=None, definition=None, coverage_values=None,
              backtest: bool = True, flags: bool = True, timezone: str | None = None
              ) -> Scorecard:
    """Score one feature column (stored or previewed) against a target.

    Parameters
    ----------
    feature : str or DataArray
        A golden-table column (``"runtime_mean"``) or feature name (its first
        aggregation), or values ``(asset, time)`` (e.g. a Feature Lab preview).
    target : str or DataArray or None
        The column to predict ``horizon`` periods ahead; None skips
        predictive power.
    level, assets, start, end, store : optional
        What to read (see :func:`pumplib.query.query`); ``assets`` defaults to
        the pumps.
    definition : FeatureDefinition, optional
        The definition scored (version, hash and quality-flag inputs); looked
        up in the catalog for a stored feature.
    coverage_values : DataArray, optional
        Raw-sample coverage of ``feature`` when given as values.
    timezone : str, optional
        Zone of naive ``start``/``end`` (default the utility's; ``"UTC"``).

    Raises
    ------
    LeakageError
        The feature is computed from the target's future.
    """
    from . import query as _q

    reg = None
    try:
        reg = _q._registry(registry)
    except PumplibError:
        reg = None
    if assets is None and reg is not None:
        assets = [a.id for a in reg.pumps()]
    if isinstance(feature, str):
        ds = _q.query(feature, assets=assets, level=level, start=start, end=end, store=store,
                      registry=reg, timezone=timezone)
        cols = [c for c in ds.data_vars if not str(c).endswith("_coverage")]
        column = str(cols[0])
        values = ds[column]
        fname = str(values.attrs.get("feature") or _q._feature_of(column))
        covname = f"{fname}_coverage"
        cov = _q.query(covname, assets=assets, level=level, start=start, end=end, store=store,
                       registry=reg, timezone=timezone)[covname] if covname in _q._open_level(
                           level, store) else None
        if definition is None:
            definition = _catalog_definition(fname)
    else:
        values = _check_da(feature, "feature")
        column = str(values.name or "feature")
        fname = str(values.attrs.get("feature") or (definition.name if definition else column))
        cov = coverage_values
        if assets is not None:
            present = set(map(str, values["asset"].values))
            values = values.sel(asset=[a for a in _q.select_assets(assets, registry=reg)
                                       if a in present] if not _q._all_ids(assets, values)
                                else list(assets) if not isinstance(assets, str) else [assets])
    values = values.load()
    if cov is not None:
        cov = cov.sel(asset=values["asset"].values).load()
    times = pd.DatetimeIndex(values["time"].values)
    card = Scorecard(
        feature=fname, column=column, level=level,
        version=getattr(definition, "version", None) or values.attrs.get("version"),
        definition_hash=getattr(definition, "hash", None) or values.attrs.get("definition_hash"),
        horizon=int(horizon), assets=[str(a) for a in values["asset"].values],
        start=str(times[0]) if len(times) else None, end=str(times[-1]) if len(times) else None,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    cv = coverage(values, cov)
    gp = gaps(values)
    card.quality = _clean({
        "valued_share": float(cv["valued"].mean()),
        "raw_coverage": float(cv["raw_coverage"].mean()) if "raw_coverage" in cv else None,
        "n_gaps": int(gp["n_gaps"].sum()), "longest_gap": int(gp["longest"].max()),
        "valued_by_asset": cv["valued"].to_dict()})
    ps = psi(values)
    card.stability = _clean({"psi_by_month": ps.to_dict(),
                             "psi_max": float(ps.max()) if ps.notna().any() else None})
    cs = consistency(values, reg)
    card.consistency = _clean({"corr_median": float(cs["corr"].median())
                               if cs["corr"].notna().any() else None,
                               "corr_by_asset": cs["corr"].to_dict(),
                               "ratio_by_asset": cs["ratio"].to_dict()})
    if flags and definition is not None:
        try:
            t_end = (pd.Timestamp(np.asarray(values["time_end"].values)[-1])
                     if "time_end" in values.coords and len(times) else None)
            fb = flag_breakdown(_signal_inputs(definition), card.assets,
                                times[0] if len(times) else None, t_end, store=store)
            card.flags = _clean(fb["share"].to_dict())
        except PumplibError as exc:
            card.flags = {"error": str(exc)}
    if target is not None:
        if isinstance(target, str):
            tds = _q.query(target, assets=card.assets, level=level, start=start, end=end,
                           store=store, registry=reg, coverage=False, timezone=timezone)
            tcol = next(c for c in tds.data_vars if not str(c).endswith("_coverage"))
            tvals = tds[tcol].load()
        else:
            tvals = _check_da(target, "target").load()
            tcol = str(tvals.name or "target")
        tvals = tvals.reindex(asset=values["asset"].values, time=values["time"].values)
        card.target = tcol
        check_leakage(values.rename(column), tvals, horizon=horizon, definition=definition)
        card.leakage = "passed"
        card.predictive = _clean(predictive_power(values, tvals, horizon=horizon,
                                                  backtest=backtest))
    return card


def _catalog_definition(name: str):
    from .features.definitions import load_catalog

    try:
        cat = load_catalog()
    except PumplibError:
        return None
    return cat.get(name, None)


def _signal_inputs(definition, catalog=None) -> list[str]:
    from . import signals as _signals

    sigs = _signals.signals()
    out, todo = [], list(definition.inputs)
    cat = catalog
    while todo:
        n = todo.pop(0)
        if n in sigs and n not in out:
            out.append(n)
        elif n not in sigs and "." not in n:
            if cat is None:
                from .features.definitions import load_catalog

                try:
                    cat = load_catalog()
                except PumplibError:
                    cat = {}
            if n in cat:
                todo.extend(cat[n].inputs)
    return out


def save_scorecard(card: Scorecard, store=None) -> str:
    """Write ``card`` to the lake table group ``scorecards`` (one commit); return its key."""
    from .query import _lake

    lake = _lake(store)
    attrs = {"feature": card.feature, "column": card.column, "version": card.version,
             "definition_hash": card.definition_hash, "level": card.level,
             "target": card.target, "horizon": card.horizon, "created_at": card.created_at,
             "leakage": card.leakage, "summary": _clean(card.summary()),
             "scorecard": card.to_dict()}
    with lake.transaction(f"scorecard {card.key}", {"kind": "scorecard",
                                                    "feature": card.feature,
                                                    "version": card.version,
                                                    "definition_hash": card.definition_hash}
                          ) as tx:
        if SCORECARD_GROUP in tx.root and card.key in tx.root[SCORECARD_GROUP]:
            del tx.root[SCORECARD_GROUP][card.key]      # re-scored: the commit keeps the old
        tx.write_table(SCORECARD_GROUP, card.key, card.to_frame(), attrs)
    from .query import clear_cache

    clear_cache()
    return card.key


def load_scorecards(store=None, feature: str | None = None) -> pd.DataFrame:
    """Stored scorecards' headline figures, one row per key (newest definitions included)."""
    from .lake import open_root
    from .query import _lake

    lake = _lake(store)
    root = open_root(lake.session().store, "r")
    if SCORECARD_GROUP not in root:
        return pd.DataFrame(columns=["key", "feature", "version", "score"]).set_index("key")
    rows = []
    for name, arr in sorted(root[SCORECARD_GROUP].arrays()):
        summ = dict(arr.attrs.get("summary", {}))
        if feature is not None and summ.get("feature") != feature:
            continue
        rows.append({"key": name, **summ, "created_at": arr.attrs.get("created_at")})
    return pd.DataFrame(rows).set_index("key") if rows else pd.DataFrame(
        columns=["key", "feature", "version", "score"]).set_index("key")


# ---------------------------------------------------------------------------
# proposing a feature (Feature Lab): validate, preview, save a new version
# ---------------------------------------------------------------------------
def _catalog_specs(folder=None) -> list[tuple[str, dict]]:
    """``(file, spec)`` of every definition in ``folder`` (default: the catalog folder)."""
    from pathlib import Path

    import yaml

    from .features.definitions import builtin_dir, default_dir

    if folder is None:
        folder = default_dir() if default_dir().is_dir() else builtin_dir()
    folder = Path(folder)
    out = []
    if not folder.is_dir():
        return out
    for f in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        doc = yaml.safe_load(f.read_text())
        if isinstance(doc, Mapping) and "features" in doc and "name" not in doc:
            out.extend((str(f), dict(s)) for s in doc["features"])
        elif isinstance(doc, Mapping):
            out.append((str(f), dict(doc)))
    return out


def clean_spec(spec: Mapping) -> dict:
    """A form's fields as a definition mapping: blanks dropped, lists split on commas."""
    out: dict[str, Any] = {}
    for k, v in spec.items():
        if v is None or (isinstance(v, str) and not v.strip()) or (
                isinstance(v, list | tuple) and not v):
            continue
        if k in ("inputs", "aggregations", "levels", "tags") and isinstance(v, str):
            v = [x.strip() for x in v.split(",") if x.strip()]
        if isinstance(v, tuple):
            v = list(v)
        if isinstance(v, str):
            v = v.strip()
        out[k] = v
    out.setdefault("version", 1)
    return out


def validate_definition(spec: Mapping, catalog_dir=None) -> tuple[Any, list[str]]:
    """Check a proposed definition against the catalog; ``(definition, [])`` or ``(None, errors)``.

    The proposal replaces a definition of the same name (a new version); it
    may use every other feature of the catalog as input. Errors are the
    :class:`~pumplib.errors.SchemaError` messages of
    :mod:`pumplib.features.definitions` (file, key, close matches).
    """
    from .features.definitions import catalog_from_dicts

    spec = clean_spec(spec)
    others = [s for _, s in _catalog_specs(catalog_dir) if s.get("name") != spec.get("name")]
    try:
        cat = catalog_from_dicts([*others, spec], source="proposal")
    except PumplibError as exc:
        msg = str(exc)
        n = len(others)
        msg = msg.replace(f"proposal[{n}]: ", "")
        return None, [msg]
    return cat[spec["name"]], []


def _catalog_with(spec: Mapping, catalog_dir=None):
    from .features.definitions import catalog_from_dicts

    spec = clean_spec(spec)
    others = [s for _, s in _catalog_specs(catalog_dir) if s.get("name") != spec.get("name")]
    return catalog_from_dicts([*others, spec], source="proposal")


def preview_feature(spec: Mapping, assets, start, end, level: str = "1h", *, store=None,
                    registry=None, catalog_dir=None, cadence: str = "1min",
                    context: str = "1h") -> xr.Dataset:
    """Compute a proposed feature on a sample window, from good raw samples, at ``level``.

    Returns the golden-table columns of the proposal (``<name>_<agg>``,
    ``<name>_coverage``) for ``assets`` over ``[start, end)`` (UTC), as the
    pipeline would build them; nothing is stored.
    """
    from .features import build
    from .quality import open_quality
    from .query import _lake, _registry, _ts, select_assets

    cat = _catalog_with(spec, catalog_dir)
    name = clean_spec(spec)["name"]
    d = cat[name]
    if level not in d.levels:
        raise UnknownNameError(choices_message(f"level of feature {name!r}", level, d.levels))
    reg = _registry(registry)
    ids = select_assets(assets, registry=reg)
    lake = _lake(store)
    raw = lake.open_raw(cadence)
    present = set(map(str, raw["asset"].values))
    ids = [a for a in ids if a in present]
    if not ids:
        raise UnknownNameError(choices_message("asset with raw data", assets, present))
    t0, t1 = _ts(start, "start"), _ts(end, "end")
    if t0 is None or t1 is None or t1 <= t0:
        raise ArgumentError(f"preview: give a start before the end, got {start!r}, {end!r}")
    times = raw.indexes["time"]
    i0 = int(times.searchsorted(t0 - pd.Timedelta(context)))
    i1 = int(times.searchsorted(t1))
    if i1 - i0 < 2:
        raise ArgumentError(f"preview: no raw data between {t0} and {t1}")
    data = raw.isel(time=slice(i0, i1)).sel(asset=ids)
    flags = open_quality(lake, cadence, like=data)
    tables = build(data, cat, levels=[level], features=[name], registry=reg, flags=flags)
    ds = tables[level]
    ds = ds.sel(time=slice(t0, t1 - pd.Timedelta("1ns")))
    ds.attrs.update({"feature": name, "definition_hash": d.hash, "version": d.version,
                     "level": level})
    for v in ds.data_vars:
        ds[v].attrs.setdefault("feature", name)
    return ds


def save_definition(spec: Mapping, folder=None, *, catalog_dir=None):
    """Write a validated definition as ``<folder>/<name>.yaml``; return the path.

    A definition of the same name already in ``folder`` is moved to
    ``<folder>/_versions/<name>.v<version>.yaml`` and the new one gets the
    next version, so ``pumplib features build`` picks the new version up with
    no code change. Invalid definitions raise the catalog's
    :class:`~pumplib.errors.SchemaError` before anything is written.
    """
    from pathlib import Path

    import yaml

    from .errors import SchemaError
    from .features.definitions import default_dir

    folder = Path(folder) if folder is not None else default_dir()
    spec = clean_spec(spec)
    name = spec.get("name")
    old = {s.get("name"): (f, s) for f, s in _catalog_specs(folder)}.get(name)
    if old is not None:
        spec["version"] = max(int(spec.get("version", 1)), int(old[1].get("version", 0)) + 1)
    d, errors = validate_definition(spec, catalog_dir if catalog_dir is not None else None)
    if errors:
        raise SchemaError(errors[0])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    if old is not None:
        arch = folder / "_versions"
        arch.mkdir(exist_ok=True)
        src = Path(old[0])
        (arch / f"{name}.v{old[1].get('version', 0)}.yaml").write_text(src.read_text())
        if src != path:
            src.unlink()
    order = ["name", "version", "owner", "description", "unit", "inputs", "expression",
             "condition", "interpolation", "aggregations", "levels", "min_coverage", "tags"]
    body = {k: spec[k] for k in order if k in spec}
    path.write_text(f"# proposed in the Feature Lab; definition hash {d.hash}\n"
                    + yaml.safe_dump(body, sort_keys=False, allow_unicode=True))
    return path
