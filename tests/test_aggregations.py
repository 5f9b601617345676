"""Mergeable aggregations at the six levels: hand-computed values, the slow
references of tests/naive.py, roll-up == direct, the dask and distributed paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pumplib.errors import UnknownNameError
from pumplib.features import aggregations as A
from pumplib.features.aggregations import AggregationError, Grid

from .naive import naive_aggregate, naive_level_periods

TZ = "Europe/Amsterdam"
MERGEABLE = ["count", "sum", "mean", "min", "max", "var", "std", "first", "last", "twa_step",
             "twa_linear", "integral_step", "integral_linear", "duration", "duration=2.0",
             "starts"]
RAW_ONLY = ["median", "quantile=0.9"]
EXACT = {"count", "min", "max", "first", "last", "duration", "duration=2.0", "starts"}


def _epoch(s: str) -> int:
    return int(pd.Timestamp(s).timestamp())


def make_data(start: str, days: float, step: int, seed: int):
    """Two rows: a continuous signal (multiples of 1/8, so sums are exact) and a
    0/1/2 state signal; with a gap across local midnight, a quality-masked hour
    and a condition-masked half hour (masked values, still good for coverage)."""
    rng = np.random.default_rng(seed)
    n = int(days * 86400 // step)
    t0 = _epoch(start)
    times = t0 + step * np.arange(n)
    cont = np.round(rng.normal(50.0, 10.0, n) * 8) / 8
    runs = rng.integers(1, 40, n)
    vals = rng.choice([0.0, 1.0, 1.0, 2.0], n)
    state = np.repeat(vals, runs)[:n]
    x = np.stack([cont, state])
    good = np.ones_like(x, dtype=bool)
    # a gap across local midnight of the first full day (22:00Z = 00:00 CEST / 23:00Z = CET)
    gap = (times >= t0 + 86400 - 3 * 3600) & (times < t0 + 86400 + 2 * 3600)
    x[:, gap] = np.nan
    good[:, gap] = False
    # a quality-masked hour
    m0 = (t0 // 3600 + 48) * 3600
    masked = (times >= m0) & (times < m0 + 3600)
    x[:, masked] = np.nan
    good[:, masked] = False
    # condition-masked: no value but good (e.g. feature defined only while running)
    c0 = (t0 // 3600 + 72) * 3600
    cond = (times >= c0) & (times < c0 + 1800)
    x[:, cond] = np.nan
    return times, x, good, Grid(t0, step, n)


SPRING = ("2026-03-27T00:00Z", 5.5, 30, 1)      # 23-h day 29 Mar, month boundary 1 Apr
AUTUMN = ("2026-10-23T05:17Z", 4.0, 60, 2)      # 25-h day 25 Oct, Monday 26 Oct


@pytest.fixture(scope="module", params=[SPRING, AUTUMN], ids=["spring", "autumn"])
def data(request):
    return make_data(*request.param)


@pytest.fixture(scope="module")
def computed(data):
    times, x, good, grid = data
    return A.aggregate_array(x, grid, A.LEVELS, MERGEABLE + RAW_ONLY, TZ, good=good)


# -- calendar -------------------------------------------------------------------------------
def test_level_bounds_follow_local_calendar():
    b = A.level_bounds("1D", _epoch("2026-03-28T12:00Z"), _epoch("2026-03-30T12:00Z"), TZ)
    assert (np.diff(b) // 3600).tolist() == [24, 23, 24]
    b = A.level_bounds("1D", _epoch("2026-10-24T12:00Z"), _epoch("2026-10-26T12:00Z"), TZ)
    assert (np.diff(b) // 3600).tolist() == [24, 25, 24]
    w = A.level_bounds("1W", _epoch("2026-10-23T00:00Z"), _epoch("2026-10-28T00:00Z"), TZ)
    local = pd.to_datetime(w, unit="s", utc=True).tz_convert(TZ)
    assert list(local.day_of_week) == [0, 0, 0] and list(local.hour) == [0, 0, 0]
    assert (np.diff(w) // 3600).tolist() == [169, 168]     # the week of Sun 25 Oct has 169 h
    m = A.level_bounds("1M", _epoch("2026-03-30T00:00Z"), _epoch("2026-04-02T00:00Z"), TZ)
    assert pd.to_datetime(m, unit="s").strftime("%Y-%m-%d %H:%M").tolist() == [
        "2026-02-28 23:00", "2026-03-31 22:00", "2026-04-30 22:00"]


@pytest.mark.parametrize("level", A.LEVELS)
def test_level_bounds_match_naive_periods(level):
    s, e = _epoch("2026-03-27T05:17Z"), _epoch("2026-11-02T00:00Z")
    if level in ("1min", "15min"):
        e = s + 3 * 86400
    b = A.level_bounds(level, s, e, TZ)
    assert list(zip(b[:-1].tolist(), b[1:].tolist(), strict=True)) == \
        naive_level_periods(level, s, e, TZ)


# -- hand-computed ----------------------------------------------------------------------------
def test_hand_computed_hour_of_quarter_hours():
    # 15-min samples over 3 h from 00:00 UTC: hour 0 = [1, 2, nan, 4], hour 1 = [0, 1, 1, 0],
    # hour 2 = [nan] * 3 + [1]
    x = np.array([1, 2, np.nan, 4, 0, 1, 1, 0, np.nan, np.nan, np.nan, 1.0])
    out = A.aggregate_array(x, Grid(0, 900, 12), ["1h", "1D"],
                            ["count", "sum", "mean", "min", "max", "var", "first", "last",
                             "twa_step", "twa_linear", "integral_step", "integral_linear",
                             "duration", "starts", "median"], "UTC")
    h = {k: np.asarray(v).tolist() for k, v in out["1h"].items() if k not in ("time", "time_end")}
    assert h["count"] == [3.0, 4.0, 1.0]
    assert h["sum"] == [7.0, 2.0, 1.0]
    assert h["mean"] == [7 / 3, 0.5, 1.0]
    assert h["min"] == [1.0, 0.0, 1.0] and h["max"] == [4.0, 1.0, 1.0]
    assert h["var"][0] == pytest.approx(np.var([1, 2, 4], ddof=1)) and np.isnan(h["var"][2])
    assert h["first"] == [1.0, 0.0, 1.0] and h["last"] == [4.0, 0.0, 1.0]
    assert h["twa_step"] == h["mean"]
    # linear segments join adjacent good samples and belong to the left sample's period:
    # hour 0: 1-2 (1.5) and 4-0 (2.0, across the hour boundary); hour 1: 0-1, 1-1, 1-0
    assert h["twa_linear"][:2] == [1.75, 2 / 3]
    assert np.isnan(h["twa_linear"][2])                 # the last sample has no right neighbour
    assert h["integral_step"] == [7 * 0.25, 2 * 0.25, 0.25]
    assert h["integral_linear"][:2] == [3.5 * 0.25, 2.0 * 0.25]
    assert h["duration"] == [3 * 900.0, 2 * 900.0, 900.0]
    # starts: 2 is 'on' after 1 (both on) → none; 0→1 at 00:15 of hour 1; 0→1 in hour 2 (after gap)
    assert h["starts"] == [0.0, 1.0, 1.0]
    assert h["median"] == [2.0, 0.5, 1.0]
    assert h["coverage"] == [0.75, 1.0, 0.25]
    d = {k: np.asarray(v).tolist() for k, v in out["1D"].items() if k not in ("time", "time_end")}
    assert d["count"] == [8.0] and d["sum"] == [10.0] and d["starts"] == [2.0]
    assert d["twa_linear"] == [pytest.approx(5.5 / 5)]
    assert d["coverage"] == [8 / 96]                      # a whole day expects 96 samples
    assert out["1D"]["time"][0] == pd.Timestamp("1970-01-01")


def test_starts_count_across_period_boundaries_and_gaps():
    # off at the last sample of hour 0, on at the first of hour 1 → the start belongs to hour 1;
    # off, gap, on → a start after the gap
    x = np.array([1, 1, 1, 0, 1, 1, np.nan, np.nan, np.nan, 0, np.nan, 1.0])
    out = A.aggregate_array(x, Grid(0, 900, 12), ["1h", "1D"], ["starts"], "UTC")
    assert np.asarray(out["1h"]["starts"]).tolist() == [0.0, 1.0, 1.0]
    assert np.asarray(out["1D"]["starts"]).tolist() == [2.0]


def test_starts_of_a_later_part_with_the_state_before_it_equal_those_of_the_whole():
    """``before={"last": ...}`` (the last good value before the grid): the starts of
    the second part of a series, split anywhere, equal the whole series' starts of those
    periods, across gaps of any length; without it a start at the split is missed."""
    rng = np.random.default_rng(5)
    x = np.where(rng.random((3, 96)) < 0.4, np.nan, (rng.random((3, 96)) < 0.5) * 1.0)
    x[1, 30:70] = np.nan                                        # a long gap
    whole = np.asarray(A.aggregate_array(x, Grid(0, 900, 96), ["1h"], ["starts"],
                                         "UTC")["1h"]["starts"])
    for cut in range(4, 96, 4):                                 # at every hour boundary
        head = x[:, :cut]
        last = np.array([r[np.isfinite(r)][-1] if np.isfinite(r).any() else np.nan
                         for r in head])
        part = A.aggregate_array(x[:, cut:], Grid(cut * 900, 900, 96 - cut), ["1h"],
                                 ["starts"], "UTC", before={"last": last})
        np.testing.assert_array_equal(np.asarray(part["1h"]["starts"]), whole[:, cut // 4:])
        if cut == 40:                                           # dask: the same
            import dask.array as da

            lazy = A.aggregate_array(da.from_array(x[:, cut:], chunks=(2, 8)),
                                     Grid(cut * 900, 900, 96 - cut), ["1h"], ["starts"],
                                     "UTC", before={"last": last})["1h"]["starts"]
            np.testing.assert_array_equal(np.asarray(lazy), whole[:, cut // 4:])
    got = np.asarray(A.aggregate_array(x[:, 8:], Grid(8 * 900, 900, 88), ["1h"],
                                       ["starts"], "UTC")["1h"]["starts"])
    ref = whole[:, 2:]
    differ = ~((got == ref) | (np.isnan(got) & np.isnan(ref)))
    assert differ.any() and (differ.sum(axis=-1) <= 1).all()    # the first start only


# -- every aggregation × every level against the slow reference --------------------------------
@pytest.mark.parametrize("level", A.LEVELS)
def test_every_aggregation_matches_naive(data, computed, level):
    times, x, good, grid = data
    out = computed[level]
    for row in range(x.shape[0]):
        ref = naive_aggregate(times.tolist(), x[row].tolist(), grid.dt, level, TZ,
                              good[row].tolist())
        assert len(out["time"]) == len(ref["count"])
        for name in [*MERGEABLE, *RAW_ONLY, "coverage"]:
            got = np.asarray(out[name])[row]
            want = np.array(ref[name], dtype=float)
            if name in EXACT:
                np.testing.assert_array_equal(got, want, err_msg=f"{level} {name} row {row}")
            else:
                np.testing.assert_allclose(got, want, rtol=1e-12 if name != "var" else 1e-9,
                                           atol=0, equal_nan=True,
                                           err_msg=f"{level} {name} row {row}")


def test_dst_days_gap_and_masked_period_show_in_coverage(data, computed):
    times, x, good, grid = data
    day = computed["1D"]
    starts = pd.DatetimeIndex(day["time"]).tz_localize("UTC").tz_convert(TZ)
    hours = (pd.DatetimeIndex(day["time_end"]) - pd.DatetimeIndex(day["time"])) / pd.Timedelta("1h")
    cov = np.asarray(day["coverage"])[0]
    for i, s in enumerate(starts):
        if s.strftime("%m-%d") == "03-29":
            assert hours[i] == 23
        if s.strftime("%m-%d") == "10-25":
            assert hours[i] == 25
    assert np.all(cov <= 1.0)
    # the quality-masked hour has no value and no coverage
    hour = computed["1h"]
    i = int(np.searchsorted(pd.DatetimeIndex(hour["time"]).as_unit("s").asi8, (grid.t0 // 3600 + 48) * 3600))
    assert hour["count"][0, i] == 0 and np.isnan(hour["mean"][0, i])
    assert hour["coverage"][0, i] == 0.0
    # the condition-masked half hour: no values but full coverage
    j = int(np.searchsorted(pd.DatetimeIndex(hour["time"]).as_unit("s").asi8, (grid.t0 // 3600 + 72) * 3600))
    assert hour["count"][0, j] == 1800 // grid.dt
    assert hour["coverage"][0, j] == 1.0


# -- roll-up equals direct ----------------------------------------------------------------------
@pytest.mark.parametrize("level", ["15min", "1h", "1D", "1W", "1M"])
def test_rollup_equals_direct_from_raw(data, level):
    times, x, good, grid = data
    fields = A.fields_for(MERGEABLE)
    direct = A.level_partials(x, grid, level, fields, TZ, good)
    chain = A.plan(A.LEVELS, grid, TZ)
    parts = {"1min": A.level_partials(x, grid, "1min", fields, TZ, good)}
    for lv in A.LEVELS[1:]:
        parts[lv] = A.rollup(parts[chain[lv]], lv, TZ)
    rolled = parts[level]
    np.testing.assert_array_equal(rolled.bounds, direct.bounds)
    vd = A.finalize(direct, MERGEABLE)
    vr = A.finalize(rolled, MERGEABLE)
    for name in [*MERGEABLE, "coverage"]:
        if name in ("var", "std"):      # M2 merges differ from the two-pass M2 by rounding only
            np.testing.assert_allclose(vr[name], vd[name], rtol=1e-12, equal_nan=True)
        else:                           # bit for bit (the data are exact binary fractions)
            np.testing.assert_array_equal(vr[name], vd[name], err_msg=f"{level} {name}")


def test_rollup_of_arbitrary_floats_is_within_rounding():
    rng = np.random.default_rng(5)
    x = rng.normal(3.0, 1.0, (1, 3 * 1440)) / 7.0
    grid = Grid(_epoch("2026-03-28T00:00Z"), 60, 3 * 1440)
    hours = A.level_partials(x, grid, "1h", A.fields_for(MERGEABLE), TZ)
    rolled = A.finalize(A.rollup(hours, "1D", TZ), MERGEABLE)
    direct = A.finalize(A.level_partials(x, grid, "1D", A.fields_for(MERGEABLE), TZ), MERGEABLE)
    for name in MERGEABLE:
        if name in EXACT:
            np.testing.assert_array_equal(rolled[name], direct[name])
        else:
            np.testing.assert_allclose(rolled[name], direct[name], rtol=4e-15, equal_nan=True)


def test_median_rollup_is_refused_with_the_level():
    grid = Grid(0, 60, 2880)
    hours = A.level_partials(np.arange(2880.0), grid, "1h", ["sum"])
    with pytest.raises(AggregationError, match=r"'median' is not mergeable: level '1D'"):
        A.rollup(hours, "1D", "UTC", ["median"])
    with pytest.raises(AggregationError, match="quantile=0.5"):
        A.rollup(hours, "1W", "UTC", ["mean", "quantile=0.5"])
    with pytest.raises(AggregationError, match="not mergeable"):
        A.finalize(hours, ["median"])


# -- registry and errors -------------------------------------------------------------------------
def test_registry_lists_choices_and_registers():
    with pytest.raises(UnknownNameError, match=r"unknown aggregation 'averag'.*Valid choices"):
        A.get_aggregation("averag")
    with pytest.raises(UnknownNameError, match="quantile must lie in"):
        A.get_aggregation("quantile=1.5")
    with pytest.raises(UnknownNameError, match="interpolation"):
        A.get_aggregation("twa", "cubic")
    assert A.ENTRY_POINT_GROUP == "pumplib.aggregations"
    assert {"mean", "duration=PARAM", "quantile=PARAM", "twa"} <= set(A.available_aggregations())
    spread = A.Aggregation("spread_test", ("min", "max"), lambda p, c: p["max"] - p["min"])
    A.register_aggregation(spread)
    with pytest.raises(AggregationError, match="already registered"):
        A.register_aggregation(spread)
    with pytest.raises(AggregationError, match="partial field"):
        A.register_aggregation(A.Aggregation("bad_test", ("nope",), lambda p, c: p))
    out = A.aggregate_array(np.array([[1.0, 5.0, 2.0]]), Grid(0, 60, 3), ["1h"],
                            ["spread_test"], "UTC")
    assert out["1h"]["spread_test"].tolist() == [[4.0]]


def test_levels_finer_than_cadence_and_off_grid_boundaries_are_refused():
    with pytest.raises(AggregationError, match="finer than the 900 s cadence"):
        A.level_partials(np.zeros(8), Grid(0, 900, 8), "1min", ["sum"])
    with pytest.raises(UnknownNameError, match="unknown level '2h'"):
        A.level_bounds("2h", 0, 10)
    # a 1-h grid cannot make days in a UTC+05:30 zone
    with pytest.raises(AggregationError, match="between samples"):
        A.level_partials(np.zeros(72), Grid(0, 3600, 72), "1D", ["sum"], "Asia/Kolkata")


# -- dask and distributed ---------------------------------------------------------------------
def _assert_same(a, b):
    for lv in a:
        for name in a[lv]:
            if name in ("time", "time_end"):
                assert a[lv][name].equals(b[lv][name])
            else:
                np.testing.assert_array_equal(np.asarray(a[lv][name]), np.asarray(b[lv][name]),
                                              err_msg=f"{lv} {name}")


def test_dask_path_equals_numpy_path(data, computed):
    import dask
    import dask.array as da

    times, x, good, grid = data
    # chunks deliberately not aligned to any period boundary
    lazy = A.aggregate_array(da.from_array(x, chunks=(1, 1777)), grid, A.LEVELS,
                             MERGEABLE + RAW_ONLY, TZ, good=da.from_array(good, chunks=(1, 1777)))
    assert all(isinstance(v, da.Array) for v in lazy["1M"].values()
               if not isinstance(v, pd.DatetimeIndex))
    (res,) = dask.compute(lazy, scheduler="threads")
    _assert_same(res, computed)


def test_distributed_local_cluster_gives_identical_results():
    import dask.array as da
    from distributed import Client, LocalCluster

    times, x, good, grid = make_data("2026-03-28T00:00Z", 2.0, 60, 7)
    want = A.aggregate_array(x, grid, A.LEVELS, MERGEABLE + RAW_ONLY, TZ, good=good)
    with LocalCluster(processes=False, n_workers=2, threads_per_worker=1,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        lazy = A.aggregate_array(da.from_array(x, chunks=(1, 1000)), grid, A.LEVELS,
                                 MERGEABLE + RAW_ONLY, TZ, good=da.from_array(good, chunks=(1, 1000)))
        got = client.compute(lazy).result()
    _assert_same(got, want)


def test_xarray_wrapper_is_lazy_and_carries_units():
    import dask.array as da
    import xarray as xr

    times, x, good, grid = make_data("2026-03-28T00:00Z", 2.0, 60, 3)
    t = pd.to_datetime(times, unit="s")
    ds = xr.Dataset({"power": (("asset", "time"), x, {"units": "kW", "interpolation": "linear"})},
                    coords={"asset": ["P1", "P2"], "time": t}).chunk({"time": 700})
    out = A.aggregate(ds, ["1h", "1D"], ["mean", "integral", "count"], TZ)
    assert isinstance(out["1D"].power_mean.data, da.Array)
    assert out["1D"].power_integral.attrs["units"] == "kWh"
    assert out["1D"].power_mean.attrs["units"] == "kW"
    assert out["1D"].power_count.attrs["units"] == "1"
    want = A.aggregate_array(x, grid, ["1h", "1D"], ["mean", "integral_linear"], TZ)
    np.testing.assert_array_equal(out["1D"].power_mean.values, want["1D"]["mean"])
    np.testing.assert_array_equal(out["1D"].power_integral.values, want["1D"]["integral_linear"])
    assert (out["1D"].time_end.values == want["1D"]["time_end"].values).all()


def test_fused_kernel_counts_finite_values_sums_in_time_order_and_counts_good_apart():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 600)) * 1e3
    x[0, 100:200] = np.nan
    x[1, 7], x[2, 9] = np.inf, -np.inf
    good = ~np.isnan(x)
    good[2, 300:330] = False                     # a condition may leave values uncovered
    out = A._fused_partials(x, 60, good)
    X, V = x.reshape(3, 10, 60), np.isfinite(x.reshape(3, 10, 60))
    np.testing.assert_array_equal(out[0], V.sum(-1))
    np.testing.assert_array_equal(out[1], good.reshape(3, 10, 60).sum(-1))
    # sequential sums (cumsum adds in time order), as combine_partials' callers expect
    np.testing.assert_array_equal(out[2], np.cumsum(np.where(V, X, 0.0), -1)[..., -1])
    lo = np.where(V.any(-1), np.where(V, X, np.inf).min(-1), np.nan)
    hi = np.where(V.any(-1), np.where(V, X, -np.inf).max(-1), np.nan)
    np.testing.assert_array_equal(out[3], lo)
    np.testing.assert_array_equal(out[4], hi)
    assert np.isnan(out[3][0, 2]) and out[0][0, 2] == 0 and out[0][1, 0] == 59


def test_grid_from_times_checks_every_step_across_its_pieces():
    """``Grid.from_times`` checks regularity in 64 k pieces that overlap by one step: a
    step off anywhere, at a piece boundary included, is an error."""
    n = 3 * (1 << 16) + 5
    t = (np.arange(n, dtype=np.int64) * 10**9).view("datetime64[ns]")
    assert Grid.from_times(t) == Grid(0, 1, n)
    for i in (1, 1 << 16, (1 << 16) + 1, 2 * (1 << 16), n - 1):
        bad = t.copy()
        bad[i:] += np.timedelta64(1, "s")          # one step longer, only there
        with pytest.raises(AggregationError, match="not a regular"):
            Grid.from_times(bad)
