"""Forecasts: gap policy, covariates, metrics against a hand-computed naive, back-tested
skill against the seasonal naive on the sample and on BATADAL, lake storage and lineage."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from pumplib import forecast as F
from pumplib.errors import ArgumentError, LakeError, UnknownNameError


def test_import_pumplib_stays_light():
    code = ("import sys, pumplib, pumplib.forecast, pumplib.runner, pumplib.dqscore, "
            "pumplib.commands.run; "
            "print(sorted(m for m in ('darts', 'torch', 'lightgbm', 'papermill', 'stumpy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_gap_policy_fills_short_gaps_marks_them_and_splits_at_long_ones():
    t = pd.date_range("2026-03-09", periods=40, freq="h", tz="UTC")
    v = np.arange(40, dtype=float)
    v[5] = np.nan            # short gap (1): filled, marked
    v[10:12] = np.nan        # short gap (2): filled, marked
    v[20:25] = np.nan        # long gap (5 > 3): cut
    v[36:] = np.nan          # trailing: trimmed; the 26..35 stretch is 11 long
    frame = pd.DataFrame({"A": v, "B": np.nan}, index=t)
    segs = F.fill_gaps(frame, "1h", max_gap=3, min_length=12)
    assert [(s.name, len(s.values)) for s in segs] == [("A", 20)]
    s = segs[0]
    assert np.flatnonzero(s.filled).tolist() == [5, 10, 11]
    np.testing.assert_allclose(s.values, np.arange(20.0))     # linear in time
    assert s.index.tz is None and s.index[0] == pd.Timestamp("2026-03-09")
    # the second stretch is kept once min_length allows it
    segs = F.fill_gaps(frame, "1h", max_gap=3, min_length=10)
    assert [(s.name, s.index[0].hour, len(s.values)) for s in segs] == [("A", 0, 20),
                                                                       ("A", 1, 11)]
    with pytest.raises(UnknownNameError, match="'1h'"):
        F.fill_gaps(frame, "2h")


def test_calendar_covariates_holidays_and_tariff(demo_registry):
    reg = demo_registry
    idx = pd.date_range("2026-04-02 18:00", periods=30, freq="h")   # naive = UTC
    cov = F.calendar_covariates(idx, "1h", registry=reg, station="NORTH")
    tariff = reg.tariff_of("NORTH")
    np.testing.assert_allclose(cov["price"], tariff.price(idx, "Europe/Amsterdam",
                                                          reg.holidays))
    # Good Friday 2026-04-03 is a registry holiday: an off-day priced like a Sunday
    local = idx.tz_localize("UTC").tz_convert("Europe/Amsterdam")
    on_friday = np.asarray(local.date == pd.Timestamp("2026-04-03").date())
    assert cov["offday"][on_friday].eq(1.0).all()
    thursday = np.asarray(local.date == pd.Timestamp("2026-04-02").date())
    saturday = np.asarray(local.date == pd.Timestamp("2026-04-04").date())
    assert thursday.sum() == 4 and saturday.sum() == 2
    assert cov["offday"][thursday].eq(0.0).all() and cov["offday"][saturday].eq(1.0).all()
    days = F.calendar_covariates(pd.date_range("2026-04-01", periods=7, freq="D"), "1D",
                                 registry=reg, station="SOUTH")
    assert days["offday"].tolist() == [0, 0, 1, 1, 1, 1, 0]   # Easter Monday too
    assert set(days.columns) == {"dow_sin", "dow_cos", "offday", "price"}


def test_backtest_metrics_match_a_hand_computed_seasonal_naive():
    rng = np.random.default_rng(3)
    t = pd.date_range("2026-01-05", periods=24 * 20, freq="h", tz="UTC")
    y = 10 + 3 * np.sin(2 * np.pi * np.arange(len(t)) / 24) + rng.normal(0, 0.5, len(t))
    frame = pd.DataFrame({"S": y}, index=t)
    frame.attrs.update(level="1h", timezone="UTC")
    table = F.backtest(frame, "1h", ["naive"], test_periods=72, future=False, season=24)
    start = len(y) - 72
    pred = np.concatenate([y[o - 24:o] for o in range(start, len(y), 24)])
    mae = np.abs(y[start:] - pred).mean()
    scale = np.abs(y[24:start] - y[:start - 24]).mean()
    row = table.loc["naive"]
    assert row["points"] == 72 and row["forecasts"] == 3
    assert row["mae"] == pytest.approx(mae)
    assert row["mase"] == pytest.approx(mae / scale)
    assert row["rel_mae"] == pytest.approx(1.0)
    smape = np.mean(200 * np.abs(y[start:] - pred) / (np.abs(y[start:]) + np.abs(pred)))
    assert row["smape"] == pytest.approx(smape)


@pytest.fixture(scope="module")
def sample_frames(demo_store, demo_registry):
    reg = demo_registry
    return {(t, lv): F.target_frame(demo_store, t, lv, by="station", registry=reg)
            for t, lv in [("energy", "1h"), ("energy", "1D"), ("flow", "1D")]}


def test_target_frame_station_energy_sums_the_pumps(demo_store, demo_registry, sample_frames):
    from pumplib.lake import Lake

    frame = sample_frames[("energy", "1h")]
    assert list(frame.columns) == ["NORTH", "SOUTH"]
    assert frame.attrs["unit"] == "kWh" and frame.attrs["source"] == \
        "features/1h:energy_integral"
    g = Lake(demo_store).open_group("features/1h")
    south = g.energy_integral.sel(asset=["S-P1", "S-P2"]).sum("asset", min_count=2) \
        .where((g.energy_coverage.sel(asset=["S-P1", "S-P2"]) >= 0.5).all("asset"))
    np.testing.assert_allclose(frame["SOUTH"].to_numpy(), south.values)
    daily = sample_frames[("energy", "1D")]
    assert daily.index[0] == pd.Timestamp("2026-03-09") and daily.index.tz is None
    assert 1000 < daily["NORTH"].median() < 1300     # kWh per day
    with pytest.raises(UnknownNameError, match="target"):
        F.target_frame(demo_store, "enrgy", "1h", registry=demo_registry)
    with pytest.raises(ArgumentError, match="registry"):
        F.target_frame(demo_store, "energy", "1h")


def test_sample_hourly_lightgbm_beats_seasonal_naive(demo_store, demo_registry, sample_frames):
    reg = demo_registry
    pf = F.past_covariate_frames(demo_store, "1h", registry=reg)
    # four simulated weeks with a daily pattern: the target declares a daily season
    table = F.backtest(sample_frames[("energy", "1h")], "1h", ["lightgbm"], registry=reg,
                       past_frames=pf, season=24)
    lgb = table.loc["lightgbm"]
    # the last 7 days, day-ahead from each midnight (UTC), both stations
    assert lgb["forecasts"] == 14 and lgb["points"] > 300
    assert lgb["rel_mae"] < 0.97 and lgb["mase"] < 0.95
    assert 0.4 < lgb["coverage"] < 1.0     # 10–90 % interval (under-covers: see RESULTS)
    # 15 min: a week of lags needs 672 periods of history before each origin
    q = F.target_frame(demo_store, "energy", "15min", by="station", registry=reg)
    table = F.backtest(q, "15min", ["lightgbm"], registry=reg, test_periods=4 * 96,
                       season=96)
    assert table.loc["lightgbm", "forecasts"] >= 6
    assert table.loc["lightgbm", "rel_mae"] < 0.95 and table.loc["lightgbm", "mase"] < 0.9


def test_sample_daily_beats_seasonal_naive(demo_registry, sample_frames):
    # 4 weeks hold only 28 days: day-ahead forecasts over the last 10 days
    for target in ("energy", "flow"):
        table = F.backtest(sample_frames[(target, "1D")], "1D", ["theta", "lightgbm"],
                           registry=demo_registry, horizon=1, test_periods=10)
        assert table.loc["naive", "points"] >= 18, target
        for model in ("theta", "lightgbm"):
            assert table.loc[model, "rel_mae"] < 0.9, (target, model)
            assert table.loc[model, "mase"] < 0.95, (target, model)
    # quantiles fitted apart cross on 3 weeks of days; they are rearranged
    fc = F.forecast(sample_frames[("energy", "1D")], "1D", "lightgbm", registry=demo_registry)
    # 4 weeks leave one calibration origin (7 residuals): too few for an interval
    assert len(fc) == 14 and fc["mean"].notna().all() and fc.q10.isna().all()


@pytest.fixture(scope="module")
def batadal_lake(tmp_path_factory):
    from pathlib import Path

    from pumplib.ingest import ingest

    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "batadal"
    if not data.exists():
        pytest.skip(f"{data} is absent (it is present in CI)")
    store = str(tmp_path_factory.mktemp("batadal") / "store")
    ingest(data / "dataset03.csv", "batadal", store=store)
    return store


def test_batadal_tank_levels_hourly_and_daily(batadal_lake):
    hourly = F.target_frame(batadal_lake, "level", "1h", by="asset")
    assert hourly.shape == (8761, 7) and hourly.attrs["source"] == "raw/1h:level"
    # hourly: 3 tanks, the last 60 days, 3 day-ahead forecasts each
    sub = hourly[["T1", "T2", "T7"]].iloc[-24 * 60:]
    sub.attrs.update(hourly.attrs)
    table = F.backtest(sub, "1h", ["theta", "lightgbm"], test_periods=72)
    assert table.loc["lightgbm", "forecasts"] == 9
    assert table.loc["lightgbm", "rel_mae"] < 0.9 and table.loc["lightgbm", "mase"] < 0.95
    assert table.loc["theta", "rel_mae"] < 1.0     # its in-sample-scaled MASE is ~1.04 here
    # daily: the mean level of each day, all 7 tanks, week-ahead every week for 8 weeks
    daily = F.target_frame(batadal_lake, "level", "1D", by="asset", timezone="UTC")
    assert len(daily) == 366
    table = F.backtest(daily, "1D", ["theta", "lightgbm"], test_periods=56, stride=7)
    assert table.loc["lightgbm", "series"] == 7
    for model in ("theta", "lightgbm"):
        assert table.loc[model, "rel_mae"] < 0.9 and table.loc[model, "mase"] < 0.95, model


def test_batadal_pump_flows_daily(batadal_lake):
    flows = F.target_frame(batadal_lake, "flow", "1D", by="asset", timezone="UTC")
    moving = [c for c in flows.columns if flows[c].std() > 1.0 and c.startswith("PU")]
    assert {"PU2", "PU4", "PU7", "PU10"} <= set(moving)
    sub = flows[moving]
    sub.attrs.update(flows.attrs)
    table = F.backtest(sub, "1D", ["lightgbm"], test_periods=56, stride=7)
    assert table.loc["lightgbm", "rel_mae"] < 0.9
    assert table.loc["lightgbm", "mase"] < 0.95


def test_forecast_lake_stores_quantiles_with_lineage(demo_store_copy, demo_registry):
    from pumplib.lake import Lake

    lake = Lake(demo_store_copy)
    with pytest.raises(LakeError, match="no forecasts"):
        F.open_forecasts(lake, "1h")
    features_snap = lake.open_group("features/1h").attrs["snapshot"]
    res = F.forecast_lake(lake, demo_registry, target="energy", level="1h",
                          params={"n_estimators": 40}, skill=True, season=24)
    assert res.skill.loc["lightgbm", "rel_mae"] < 1.0
    ds = F.open_forecasts(lake, "1h")
    assert sorted(ds.asset.values) == ["NORTH", "SOUTH"]
    assert {"energy_mean", "energy_q10", "energy_q90"} <= set(ds.data_vars)
    times = pd.DatetimeIndex(ds.time.values)
    assert len(times) == 24 and times[0] == pd.Timestamp("2026-04-06 00:00")
    q = ds[["energy_q10", "energy_mean", "energy_q90"]].load()
    assert (q.energy_q10 <= q.energy_mean + 1e-9).all() and (q.energy_mean <= q.energy_q90
                                                              + 1e-9).all()
    assert float(q.energy_mean.sum()) > 0
    meta = lake.log(1)[0].metadata
    assert meta["kind"] == "forecast" and meta["source_snapshot"] == features_snap
    assert meta["source"] == "features/1h:energy_integral" and meta["model"] == "lightgbm"
    assert set(meta["versions"]) == {"pumplib", "darts", "lightgbm"}
    assert meta["past_covariates"] == ["runtime_duration", "starts_starts"]
    skill = {r["model"]: r for r in meta["skill"]}     # NaN stored as null (JSON)
    assert 0 < skill["naive"]["coverage"] <= 1 and skill["lightgbm"]["coverage"] > 0
    assert res.snapshot == lake.log(1)[0].snapshot
    # a second target lands beside the first; daily forecasts are labelled like features/1D
    F.forecast_lake(lake, demo_registry, target="cost", level="1h", model="naive")
    ds = F.open_forecasts(lake, "1h")
    assert {"energy_q90", "cost_mean", "cost_q10"} <= set(ds.data_vars)
    assert ds.attrs["targets"]["cost"]["model"] == "naive"
    F.forecast_lake(lake, demo_registry, target="energy", level="1D", model="theta",
                    horizon=3)
    day = F.open_forecasts(lake, "1D")
    assert pd.DatetimeIndex(day.time.values)[0] == pd.Timestamp("2026-04-05 22:00")
    log = F.forecast_log(lake)
    assert log[["target", "level", "model"]].values.tolist() == [
        ["energy", "1D", "theta"], ["cost", "1h", "naive"], ["energy", "1h", "lightgbm"]]
    # time travel: the first forecast is still there at its snapshot
    old = F.open_forecasts(lake, "1h", snapshot=res.snapshot)
    assert "cost_mean" not in old


def test_bad_options_name_the_choices(demo_store, demo_registry):
    frame = pd.DataFrame({"A": np.arange(100.0)},
                         index=pd.date_range("2026-01-01", periods=100, freq="h"))
    with pytest.raises(ArgumentError, match="'prophet'.*naive"):
        F.backtest(frame, "1h", ["prophet"])
    with pytest.raises(UnknownNameError, match="'1W'"):
        F.make_model("naive", "1W")
    with pytest.raises(ArgumentError, match="'pump'"):
        F.target_frame(demo_store, "energy", "1h", by="pump", registry=demo_registry)
    with pytest.raises(ArgumentError, match="test_periods"):
        F.backtest(frame, "1h", ["naive"], test_periods=100)


def test_docstring_examples_run():
    import doctest

    res = doctest.testmod(F, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


def _weekly_frame(weeks=12, n_series=3, seed=0, noise=None):
    rng = np.random.default_rng(seed)
    t = pd.date_range("2026-01-05", periods=168 * weeks, freq="h", tz="UTC")
    i = np.arange(len(t))
    cols = {}
    for k in range(n_series):
        sd = (noise or [0.5, 1.0, 2.0])[k % 3]
        cols[f"S{k}"] = (10 * (k + 1) + 3 * np.sin(2 * np.pi * i / 24)
                         + 2.0 * (((i // 24) % 7) >= 5) + rng.normal(0, sd, len(t)))
    frame = pd.DataFrame(cols, index=t)
    frame.attrs.update(level="1h", timezone="UTC")
    return frame


def test_seasons_come_from_settings_or_the_target():
    assert F.seasons("1h") == [24, 168] and F.seasons("1D") == [7]
    assert F.seasons("15min") == [96, 672] and F.seasons("1h", [168, 24, 24]) == [24, 168]
    with pytest.raises(ArgumentError, match="season"):
        F.seasons("1h", 1)
    from pumplib import config

    with config.set({"forecast.seasons": {"1h": [12]}}):
        assert F.seasons("1h") == [12]


def test_baselines_match_naive_references():
    from pumplib.forecast.baselines import seasonal_median, seasonal_naive

    from .naive import naive_seasonal_median, naive_seasonal_naive

    rng = np.random.default_rng(5)
    y = rng.normal(size=2400)
    y[300:310] = np.nan
    # the last three: the long baselines of the tank levels (docs/forecasting.md), the
    # same hour of the day over 8 weeks, the same hour of the week over 12, the last 28 days
    for origin, h, m, k in [(700, 168, 168, 4), (500, 30, 24, 3), (400, 7, 7, 4),
                            (2000, 168, 24, 56), (2300, 168, 168, 12), (320, 7, 1, 28)]:
        np.testing.assert_allclose(seasonal_naive(y[:origin], h, m),
                                   naive_seasonal_naive(y, origin, h, m))
        np.testing.assert_allclose(seasonal_median(y[:origin], h, m, k),
                                   naive_seasonal_median(y, origin, h, m, k))


def test_backtest_weekly_naive_median4w_per_series_and_forecasts():
    from .naive import naive_seasonal_median, naive_seasonal_naive

    frame = _weekly_frame(weeks=10)
    res = F.backtest(frame, "1h", [], horizon=168, test_periods=2 * 168, calibration=2)
    fc = res.forecasts
    y = frame.to_numpy()
    n = len(y)
    for j, name in enumerate(frame.columns):
        for origin in (n - 336, n - 168):
            got = fc[(fc.series == name) & (fc.model == "naive")
                     & (fc.origin == frame.index[origin].tz_localize(None))]["mean"]
            np.testing.assert_allclose(got, naive_seasonal_naive(y[:, j], origin, 168, 168))
            got = fc[(fc.series == name) & (fc.model == "median4w")
                     & (fc.origin == frame.index[origin].tz_localize(None))]["mean"]
            np.testing.assert_allclose(got, naive_seasonal_median(y[:, j], origin, 168, 168, 4))
        e_naive = np.abs(fc[(fc.series == name) & (fc.model == "naive")].eval("actual - mean"))
        assert res.metrics.loc[(name, "naive"), "mae"] == pytest.approx(e_naive.mean())
    assert res.pooled.loc["naive", "rel_mae"] == 1 and res.pooled.loc["median4w",
                                                                      "rel_mae_median4w"] == 1
    assert res.pooled.loc["median4w", "rel_mae"] < 0.9     # the median beats one noisy week
    assert set(res.metrics.index.get_level_values("series")) == {"S0", "S1", "S2"}
    assert res.loc["naive", "series"] == 3                 # reads like the pooled table


def test_conformal_intervals_match_naive_reference_and_cover_per_series():
    from pumplib.forecast.intervals import block_size, conformal_intervals

    from .naive import naive_conformal

    frame = _weekly_frame(weeks=30, noise=[0.3, 1.0, 3.0])
    res = F.backtest(frame, "1h", [], horizon=24, test_periods=24 * 7 * 12,
                     calibration=8)
    cov = res.metrics.xs("median4w", level="model")["coverage"]
    assert cov.between(0.74, 0.86).all(), cov        # ≈ 0.80 in every series
    rng = np.random.default_rng(2)
    y = rng.normal(size=(400, 2))
    points = {(j, p): rng.normal(size=24) * 0.1 for j in range(2) for p in range(0, 370, 24)}
    got = conformal_intervals(points, y, ~np.isnan(y), 24, 5, 0.1, 0.9)
    for key in [(0, 360), (1, 240), (1, 48)]:
        lo, hi = naive_conformal(points, y, 24, 5, 0.1, 0.9, block_size(24), *key)
        np.testing.assert_allclose(got[key][0], lo)
        np.testing.assert_allclose(got[key][1], hi)


def test_adaptive_normalised_intervals_match_reference_and_cover_a_drifting_series():
    from pumplib.forecast.intervals import block_size, conformal_intervals

    from .naive import naive_adaptive_conformal

    rng = np.random.default_rng(5)
    y = 5 + rng.normal(size=(600, 2)) * np.linspace(0.5, 3.0, 600)[:, None]  # noise grows
    y[100:103, 1] = np.nan
    points = {(j, p): 5 + rng.normal(size=24) * 0.1 for j in range(2)
              for p in range(24, 577, 24)}
    got = conformal_intervals(points, y, ~np.isnan(y), 24, 4, 0.1, 0.9, scale=48, gain=0.5)
    exact = conformal_intervals(points, y, ~np.isnan(y), 24, 4, 0.1, 0.9, scale=48, gain=0.5,
                                finite=True, block=block_size(24, 4))
    assert block_size(24, 4) == 10 and block_size(7, 8) == 5 and block_size(168, 8) == 24
    for key in [(0, 576), (1, 360), (1, 120), (0, 48)]:
        lo, hi = naive_adaptive_conformal(points, y, 24, 4, 0.1, 0.9, block_size(24), 48, 0.5,
                                          *key)
        np.testing.assert_allclose(got[key][0], lo)
        np.testing.assert_allclose(got[key][1], hi)
        lo, hi = naive_adaptive_conformal(points, y, 24, 4, 0.1, 0.9, 10, 48, 0.5, *key,
                                          finite=True)
        np.testing.assert_allclose(exact[key][0], lo)
        np.testing.assert_allclose(exact[key][1], hi)
    # growing noise: plain split conformal under-covers late origins, the adaptive one not
    late = [(j, p) for j in range(2) for p in range(360, 577, 24)]

    def coverage(bands):
        ins = [((y[p:p + 24, j] >= bands[(j, p)][0]) & (y[p:p + 24, j] <= bands[(j, p)][1]))
               for j, p in late]
        return np.mean(ins)

    plain = conformal_intervals(points, y, ~np.isnan(y), 24, 4, 0.1, 0.9)
    assert coverage(plain) < 0.76 < coverage(got) < 0.86, (coverage(plain), coverage(got))
    assert 0.76 < coverage(exact) < 0.88, coverage(exact)


def test_gbm_extrapolates_to_a_new_low_and_uses_future_weather():
    rng = np.random.default_rng(3)
    n, test = 24 * 45, 24 * 8
    t = pd.date_range("2026-01-05", periods=n, freq="h", tz="UTC")
    i = np.arange(n)
    day = 3 * np.sin(2 * np.pi * i / 24)
    temp = pd.Series(rng.normal(0, 1, n // 24).repeat(24), index=t)   # known a day ahead
    fall = np.where(i < n - test, 20.0, 20.0 - 0.08 * (i - (n - test)))  # to an all-time low
    frame = pd.DataFrame({"A": 20 + day + 3 * temp.to_numpy() + rng.normal(0, 0.3, n),
                          "B": fall + day + 3 * temp.to_numpy() + rng.normal(0, 0.3, n),
                          "C": 40 + 2 * day + 3 * temp.to_numpy() + rng.normal(0, 0.3, n)},
                         index=t)
    frame.attrs.update(level="1h", timezone="UTC")
    kw = dict(season=[24], horizon=24, test_periods=test, stride=24, future=False,
              calibration=4)
    with_cov = F.backtest(frame, "1h", ["gbm"], covariates=temp.to_frame("temp"), **kw)
    without = F.backtest(frame, "1h", ["gbm"], **kw)
    rel = with_cov.metrics.xs("gbm", level="model")["rel_mae"]
    assert (rel < 0.65).all(), rel                       # far better than yesterday's values
    assert (without.metrics.xs("gbm", level="model")["rel_mae"] > 1.5 * rel).all()
    fc = with_cov.forecasts
    b = fc[(fc.series == "B") & (fc.model == "gbm")]
    assert b["mean"].min() < frame.B.iloc[:n - test].min() - 4   # below all it was trained on


def test_forecast_frame_reads_a_plain_table_and_names_bad_input(tmp_path):
    from pumplib.errors import SchemaError

    frame = _weekly_frame(weeks=6, n_series=2)
    t = frame.index.tz_convert("Europe/Rome")
    table = pd.DataFrame({"time": [x.isoformat() for x in t], **{c: frame[c].to_numpy()
                                                                 for c in frame}})
    table.loc[50:52, "S0"] = np.nan
    path = tmp_path / "h.csv"
    table.to_csv(path, index=False)
    out = F.forecast_frame(path, 24, candidates=())
    assert list(out.columns) == ["time", "S0", "S0_q10", "S0_q90", "S1", "S1_q10", "S1_q90"]
    assert len(out) == 24 and out["time"].iloc[0] == frame.index[-1] + pd.Timedelta("1h")
    assert (out.S1_q10 <= out.S1).all() and (out.S1_q90 >= out.S1).all()
    table.loc[7, "time"] = "2026-01-05 07:00"
    table.to_csv(path, index=False)
    with pytest.raises(SchemaError, match=r"h.csv, line 9, column 'time'"):
        F.forecast_frame(path, 24)
