"""pumplib.outliers: matrix-profile discords, change detection, events in the lake.

numba compiles Stumpy's kernels once per process (~25 s for each kernel family),
so this module warms the raw-distance kernel once (module-scoped fixture) and
keeps every series small.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pumplib import outliers as O
from pumplib.errors import ArgumentError, PumplibError, UnknownNameError
from tests.naive_outliers import naive_left_distance, naive_profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def warm():
    """Compile Stumpy's raw-distance matrix profile once, on a tiny series."""
    O.warm_up()
    return True


def pump_frame(n=2400, seed=1, burst=None, stops=True):
    """A synthetic pump: run/stop cycles, noisy signals, zeros while stopped."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2026-03-01", periods=n, freq="1min", tz="UTC")
    run = np.ones(n)
    if stops:
        for a in range(150, n, 300):
            run[a:a + 60] = 0.0
    df = pd.DataFrame({
        "flow": 200 + 3 * rng.standard_normal(n),
        "vibration": 1.2 + 0.05 * rng.standard_normal(n),
        "bearing_temperature": 40 + 2 * np.sin(np.arange(n) / 97) + 0.05 * rng.standard_normal(n),
        "run_state": run}, index=t)
    df.loc[run == 0, ["flow", "vibration"]] = 0.0
    if burst is not None:
        a, b = burst
        df.iloc[a:b, df.columns.get_loc("vibration")] += 1.5 + 0.3 * rng.standard_normal(b - a)
    return df


# --- building blocks ----------------------------------------------------------------------
def test_run_segments_and_hysteresis():
    assert O.run_segments([0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1], m=3) == [(1, 4), (8, 12)]
    assert O.run_segments([], m=3) == []
    assert O.run_segments(np.ones(5, bool), m=6) == []
    s = np.array([0, 3, 2.5, 1, 3, 0, 5, 5])
    assert O.hysteresis(s, 2.8, 2.0).tolist() == [False, True, True, False, True, False,
                                                  True, True]
    assert O.hysteresis(s, 2.8, 2.0, min_length=2).tolist() == [False, True, True, False,
                                                                False, False, True, True]


def test_matrix_profile_matches_naive_inside_run_windows(warm):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(160)
    valid = np.ones(160, bool)
    valid[40:52] = False          # a stop: 12 samples
    valid[100:104] = False        # a short stop
    x[70] = np.nan                # a masked (flagged) sample
    p = O.matrix_profile(x, 8, valid=valid)
    d, nb = naive_profile(x, 8, valid=valid)
    np.testing.assert_allclose(p.distance, d, rtol=1e-6, atol=1e-6)
    fin = np.isfinite(d)
    assert (np.isinf(p.distance) == ~fin).all()
    assert (p.neighbour[fin] == nb[fin]).all()
    # no window touches an invalid sample
    for i in np.flatnonzero(np.isfinite(p.distance)):
        assert valid[i:i + 8].all() and np.isfinite(x[i:i + 8]).all()
    # what lies under a masked sample never matters
    y = np.where(valid, x, 1e6)
    y[70] = -1e6
    q = O.matrix_profile(np.where(np.isfinite(x), y, np.nan), 8, valid=valid)
    np.testing.assert_allclose(q.distance, p.distance)


def test_ab_join_against_a_reference_period(warm):
    rng = np.random.default_rng(4)
    ref = np.sin(np.linspace(0, 30, 300)) + 0.05 * rng.standard_normal(300)
    x = np.sin(np.linspace(3, 23, 200)) + 0.05 * rng.standard_normal(200)
    x[120:130] += 2.0
    p = O.matrix_profile(x, 10, reference=ref)
    d, nb = naive_profile(x, 10, reference=ref)
    np.testing.assert_allclose(p.distance, d, rtol=1e-6, atol=1e-6)
    assert p.join == "ab"
    peak = int(np.argmax(np.where(np.isfinite(p.distance), p.distance, -1)))
    assert 111 <= peak <= 129
    assert (p.neighbour[np.isfinite(p.distance)] < 300).all()
    with pytest.raises(ArgumentError, match="reference period has no valid run"):
        O.matrix_profile(x, 10, reference=np.full(50, np.nan))


def test_multidimensional_profile_finds_the_joint_discord(warm):
    rng = np.random.default_rng(5)
    t = np.linspace(0, 40, 400)
    df = pd.DataFrame({"a": np.sin(t) + 0.05 * rng.standard_normal(400),
                       "b": np.cos(t) + 0.05 * rng.standard_normal(400)})
    df.iloc[250:262] += 1.5
    P, Im = O.multi_profile(df, 12)
    assert P.shape == Im.shape == (2, 400)
    assert np.isinf(P[:, -11:]).all()
    peak = int(np.argmax(np.where(np.isfinite(P[-1]), P[-1], -1)))
    assert 239 <= peak <= 261


def test_streaming_profile_scores_new_samples(warm):
    rng = np.random.default_rng(6)
    hist = np.sin(np.linspace(0, 40, 300)) + 0.02 * rng.standard_normal(300)
    sp = O.StreamingProfile(hist, 10)
    normal = sp.update(np.sin(np.linspace(40.13, 41, 7)))
    odd = sp.update([3.0, 3.5, 3.0])
    assert normal.max() < odd.max()
    full = np.concatenate([hist, np.sin(np.linspace(40.13, 41, 7)), [3.0, 3.5, 3.0]])
    assert odd[-1] == pytest.approx(naive_left_distance(full, 10) / np.sqrt(10), rel=1e-6)
    with pytest.raises(ArgumentError, match="at least 2\\*m"):
        O.StreamingProfile(hist[:15], 10)


def test_profiles_one_task_per_pump_equal_the_single_loop(warm):
    rng = np.random.default_rng(7)
    series = {f"P{i}": rng.standard_normal(150) for i in range(3)}
    out = O.profiles(series, 10)
    assert list(out) == ["P0", "P1", "P2"]
    for k, v in series.items():
        np.testing.assert_allclose(out[k].distance, O.matrix_profile(v, 10).distance)


# --- change detector ----------------------------------------------------------------------
def test_change_detector_tells_slow_drift_from_a_change():
    rng = np.random.default_rng(1)
    # the temperature wanders slowly in the normal period, then drifts past its range
    normal = pd.DataFrame({"flow": 32 + 0.4 * rng.standard_normal(400),
                           "temp": 70 + 0.5 * np.sin(np.linspace(0, 2 * np.pi, 400))
                           + 0.01 * rng.standard_normal(400)})
    test = pd.DataFrame({"flow": 32 + 0.4 * rng.standard_normal(300),
                         "temp": 70 + np.linspace(0, 3, 300) + 0.01 * rng.standard_normal(300)})
    test.loc[150:, "flow"] -= 3.0
    det = O.ChangeDetector().fit(normal)
    assert det.stats_["temp"]["slow"] and not det.stats_["flow"]["slow"]
    pred = det.predict(test, context=normal)
    assert not pred[:140].any()          # the temperature keeps drifting: no alarm
    assert pred[170:].all()
    plain = O.ChangeDetector(slow_autocorr=1.01).fit(normal).predict(test, context=normal)
    assert plain[:140].any()             # judged on its level, the drift is an alarm


def test_change_detector_errors():
    with pytest.raises(ArgumentError, match="window must be a positive integer"):
        O.ChangeDetector(window=0)
    with pytest.raises(ArgumentError, match="0 < off <= on"):
        O.ChangeDetector(on=1.0, off=2.0)
    with pytest.raises(ArgumentError, match="not fitted"):
        O.ChangeDetector().predict(pd.DataFrame({"a": [1.0, 2.0]}))
    with pytest.raises(ArgumentError, match="at least 2\\*window"):
        O.ChangeDetector().fit(pd.DataFrame({"a": np.arange(10.0)}))
    det = O.ChangeDetector().fit(pd.DataFrame({"a": np.random.default_rng(0).random(100)}))
    with pytest.raises(UnknownNameError, match="unknown signal 'a'"):
        det.predict(pd.DataFrame({"b": [1.0]}))


# --- events from one pump -------------------------------------------------------------------
def test_stops_and_flagged_samples_are_not_anomalies(warm):
    df = pump_frame()
    df.iloc[500:503, df.columns.get_loc("flow")] = np.nan   # flagged samples are NaN
    ev = O.detect(df, m=20, asset="P1")
    assert list(ev.columns) == O.EVENT_COLUMNS
    assert len(ev) == 0, ev


def test_a_vibration_burst_is_one_explained_event(warm):
    # self-join and self-scaled scores assume outliers are rare (~1 % of run time here)
    df = pump_frame(burst=(640, 665))
    ev = O.detect(df, m=20, asset="P1")
    assert len(ev) == 1, ev
    e = ev.iloc[0]
    assert e.asset == "P1" and e.event_id.startswith("OUT-")
    assert e.start <= df.index[645] and e.end >= df.index[660]
    assert e.signals.split(",")[0] == "vibration"
    assert e.severity == "high" and e.score > 9
    assert "vibration +" in e.explanation and "nearest normal motif" in e.explanation
    assert not (e.start <= e.nearest_normal <= e.end)
    assert df.loc[e.nearest_normal, "run_state"] == 1.0
    # the same burst against a clean reference period (AB-join), and with mstump
    ref = pump_frame(seed=9)
    ab = O.detect(df, m=20, asset="P1", reference=ref)
    assert len(ab) == 1 and ab.signals.iloc[0].startswith("vibration")
    assert ref.index[0] <= ab.nearest_normal.iloc[0] <= ref.index[-1]
    small = pump_frame(n=600, burst=(300, 310), stops=False)    # mstump is slower: keep it small
    ms = O.detect(small, m=20, asset="P1", method="mstump")
    assert len(ms) == 1 and ms.start.iloc[0] <= small.index[305] <= ms.end.iloc[0]
    lv = O.detect(df, m=20, asset="P1", method="none")
    assert len(lv) == 1 and "level" in lv.explanation.iloc[0]
    # one impulse (16 sigma, one sample) is an event of its own; the window mean alone
    # (the level score of the older ChangeDetector path) dilutes it 20-fold and missed it
    one = pump_frame(seed=2)
    one.iloc[1000, one.columns.get_loc("vibration")] += 0.8
    ev = O.detect(one, m=20, asset="P1", method="none")
    # (a spike is known one sample later, when the signal has come back)
    assert len(ev) == 1 and ev.start.iloc[0] <= one.index[1001] <= ev.end.iloc[0]
    assert "vibration abnormal (impulse)" in ev.explanation.iloc[0]


def test_detect_errors(warm):
    df = pump_frame(n=200)
    with pytest.raises(ArgumentError, match="invalid method 'mp'. Expected one of: 'stump'"):
        O.detect(df, method="mp")
    with pytest.raises(ArgumentError, match="integer >= 3"):
        O.detect(df, m=2)
    with pytest.raises(UnknownNameError, match="unknown signal 'vibraton'. Did you mean"):
        O.detect(df, signals=["vibraton"])
    with pytest.raises(ArgumentError, match="DatetimeIndex"):
        O.detect(df.reset_index(drop=True))
    with pytest.raises(PumplibError, match="reference must be"):
        O.detect(df, reference=5)


# --- the lake -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def outlier_lake(demo_store, tmp_path_factory, warm):
    """A copy of the sample lake with one outlier run over the dry run and two cavitations."""
    dst = tmp_path_factory.mktemp("outliers") / "store"
    shutil.copytree(demo_store, dst)
    ev = O.detect_lake(str(dst), assets=["N-P1", "N-P3"], start="2026-03-09",
                       end="2026-03-12T23:59", run_id="outliers-test-1")
    return str(dst), ev


def test_detect_lake_finds_the_simulated_cavitation_and_dry_running(outlier_lake):
    store, ev = outlier_lake
    truth = pd.read_csv(ROOT / "data_samples" / "truth.csv")
    truth = truth[pd.to_datetime(truth["start"], utc=True) < pd.Timestamp("2026-03-13", tz="UTC")]
    truth = truth[truth["asset"].isin(["N-P1", "N-P3"])]
    r = O.recall(ev, truth, kinds=("cavitation", "dry_running"))
    assert sorted(r["kind"]) == ["cavitation", "cavitation", "dry_running"]
    assert r["found"].all(), r
    dry = ev[ev.event_id == r.loc[r.kind == "dry_running", "event_id"].iloc[0]].iloc[0]
    assert "vibration" in dry.signals           # flow/power are flagged DRY_RUN and masked
    cav = ev[ev.event_id.isin(r.loc[r.kind == "cavitation", "event_id"])]
    assert cav.signals.str.contains("suction_pressure").all()
    assert (cav.severity == "high").all()
    # precision: few events besides the injected episodes
    assert len(ev) <= 8, ev


def test_events_are_stored_with_lineage(outlier_lake):
    from pumplib.lake import Lake

    store, ev = outlier_lake
    back = O.events(store)
    assert back["run_id"].eq("outliers-test-1").all()
    pd.testing.assert_frame_equal(back.drop(columns="run_id"), ev, check_dtype=False)
    commit = Lake(store).log(1)[0]
    meta = commit.metadata
    assert commit.snapshot == ev.attrs["snapshot"]
    assert meta["kind"] == "outliers" and meta["run_id"] == "outliers-test-1"
    assert meta["params"]["m"] == 30 and meta["params"]["assets"] == ["N-P1", "N-P3"]
    assert meta["source_snapshot"] == ev.attrs["source_snapshot"]
    assert meta["source_snapshot"] in meta["inputs"]["snapshots"]
    assert {"stumpy", "numpy", "pumplib"} <= set(meta["versions"])
    runs = O.runs(store)
    assert runs["run_id"].iloc[0] == "outliers-test-1" and runs["events"].iloc[0] == len(ev)
    with pytest.raises(UnknownNameError, match="unknown outlier run 'nope'"):
        O.events(store, "nope")
    with pytest.raises(UnknownNameError, match="unknown asset 'N-P9'"):
        O.detect_lake(store, assets=["N-P9"], write=False)


def test_cli_outliers_list_explain_detect(outlier_lake):
    import json

    from typer.testing import CliRunner

    from pumplib.cli import app

    store, ev = outlier_lake
    runner = CliRunner()
    res = runner.invoke(app, ["outliers", "list", "--store", store, "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["event_id"] for r in rows] == ev["event_id"].tolist()
    eid = ev["event_id"].iloc[0]
    res = runner.invoke(app, ["outliers", "explain", eid, "--store", store])
    assert res.exit_code == 0 and ev["explanation"].iloc[0][:40] in " ".join(res.stdout.split())
    res = runner.invoke(app, ["outliers", "explain", "OUT-nothere", "--store", store])
    assert res.exit_code == 2 and "unknown event 'OUT-nothere'" in res.output
    res = runner.invoke(app, ["outliers", "list", "--store", store, "--severity", "huge"])
    assert res.exit_code == 2 and "Valid choices: 'high', 'low', 'medium'" in res.output
    # six hours that hold a cavitation, judged against normal days (AB-join)
    res = runner.invoke(app, ["outliers", "detect", "--store", store, "--asset", "N-P3",
                              "--start", "2026-03-12T00:00", "--end", "2026-03-12T06:00",
                              "--reference", "2026-03-10/2026-03-11T12:00",
                              "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["snapshot"] is None and len(out["events"]) == 1
    e = out["events"][0]
    # the cavitation starts at 01:18 (truth); trailing windows see it within minutes
    assert "2026-03-12T01:18" <= e["start"][:16] <= "2026-03-12T01:23", e["start"]
    assert "suction_pressure" in e["signals"]
    assert e["nearest_normal"] < "2026-03-11T12:01"
    res = runner.invoke(app, ["outliers", "detect", "--store", store, "--reference", "x"])
    assert res.exit_code == 2 and "--reference must be START/END" in res.output
    assert O.runs(store)["run_id"].tolist() == ["outliers-test-1"]   # nothing stored


def test_import_pumplib_does_not_import_stumpy():
    code = ("import sys, pumplib, pumplib.outliers, pumplib.commands.outliers; "
            "assert 'stumpy' not in sys.modules and 'numba' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --- real data ----------------------------------------------------------------------------
@pytest.mark.realdata
def test_change_detector_on_skab_beats_flagging_everything(shared_data):
    files = [shared_data / "skab-dev" / "valve1" / f"{i}.csv" for i in (3, 9, 14)]
    tp = fp = fn = 0
    for f in files:
        df = pd.read_csv(f, sep=";", parse_dates=["datetime"]).set_index("datetime")
        y = df.pop("anomaly").to_numpy()[400:] > 0.5
        df = df.drop(columns="changepoint")
        pred = O.ChangeDetector().fit(df.iloc[:400]).predict(df.iloc[400:], context=df.iloc[:400])
        tp += int((pred & y).sum())
        fp += int((pred & ~y).sum())
        fn += int((~pred & y).sum())
    f1 = 2 * tp / (2 * tp + fp + fn)
    base = _flag_all_f1(files)
    assert f1 > base + 0.1, (f1, base)


def _flag_all_f1(files) -> float:
    pos = neg = 0
    for f in files:
        y = pd.read_csv(f, sep=";")["anomaly"].to_numpy()[400:] > 0.5
        pos += int(y.sum())
        neg += int((~y).sum())
    return 2 * pos / (2 * pos + neg)


def test_events_of_a_new_lake_and_of_all_runs():
    from pumplib.lake import Lake

    lake = Lake("memory://outliers-events-test")
    assert len(O.events(lake)) == 0 and "run_id" in O.events(lake).columns
    row = O._normalise_events(pd.DataFrame([{
        "event_id": "OUT-1", "asset": "P1", "start": pd.Timestamp("2026-01-01", tz="UTC"),
        "end": pd.Timestamp("2026-01-01 01:00", tz="UTC"), "signals": "flow", "score": 5.0,
        "severity": "medium", "explanation": "flow abnormal", "nearest_normal": None}]))
    for rid in ("r1", "r2"):
        with lake.transaction(f"outliers {rid}", {"kind": "outliers", "run_id": rid,
                                                  "events": 1}) as tx:
            tx.write_table("outliers", rid, row, {})
    assert O.events(lake)["run_id"].tolist() == ["r2"]            # the latest run
    assert O.events(lake, "r1")["run_id"].tolist() == ["r1"]
    both = O.events(lake, all_runs=True)
    assert sorted(both["run_id"]) == ["r1", "r2"] and (both["event_id"] == "OUT-1").all()
    assert O.runs(lake)["run_id"].tolist() == ["r2", "r1"]
    # a run stored again under its id (a resumed pipeline) replaces its table
    with lake.transaction("outliers r1 again", {"kind": "outliers", "run_id": "r1"}) as tx:
        O._replace_table(tx, "r1", row.assign(score=7.0), {})
    assert O.events(lake, "r1")["score"].tolist() == [7.0]


def test_detect_lake_on_a_distributed_client_gives_the_same_events(outlier_lake):
    from distributed import Client, LocalCluster

    store, ev = outlier_lake
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        got = O.detect_lake(store, assets=["N-P1", "N-P3"], start="2026-03-09",
                            end="2026-03-12T23:59", write=False, client=client)
    pd.testing.assert_frame_equal(got, ev, check_dtype=False)


# --- the alarm detector (issue #22) ---------------------------------------------------------
def test_window_features_match_the_naive_reference():
    from pumplib.outliers.features import window_features
    from tests.naive_outliers import naive_window_features

    rng = np.random.default_rng(11)
    x = np.cumsum(rng.standard_normal(300)) * 0.1 + rng.standard_normal(300)
    x[[40, 41, 200]] = np.nan
    f = window_features(pd.DataFrame({"a": x, "t": x}), 10, slow=["t"], detrend=30,
                        features=O.FEATURES)
    for col, slow in (("a", False), ("t", True)):
        mean, std, jump = naive_window_features(x, 10, slow=slow, detrend=30)
        np.testing.assert_allclose(f[f"{col}:mean"], mean, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(f[f"{col}:std"], std, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(f["a:jump"].to_numpy()[1:], jump[1:], rtol=1e-9)
    # noise (median |2nd difference|) and spike (a step that comes back), the defaults
    from tests.naive_outliers import naive_noise_spike
    g = window_features(pd.DataFrame({"a": x}), 10)
    assert list(g.columns) == ["a:mean", "a:noise", "a:spike"]
    noise, spike = naive_noise_spike(x, 10)
    np.testing.assert_allclose(g["a:noise"], noise, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g["a:spike"], spike, rtol=1e-9, atol=1e-12)
    # a set-point step and a ramp are neither noise nor a spike; a one-sample impulse is
    step = np.r_[np.zeros(50), np.full(50, 3.0), 3.0 + 0.1 * np.arange(50)]
    h = window_features(pd.DataFrame({"s": step}), 10, features=["noise", "spike", "jump"])
    assert h["s:noise"].max() == pytest.approx(0.0, abs=1e-9) and h["s:spike"].max() == 0
    assert h["s:jump"].max() == 3.0
    step[120] += 2.0
    h = window_features(pd.DataFrame({"s": step}), 10, features=["spike"])
    assert h["s:spike"].max() == pytest.approx(1.9)     # up 2.1 on the 0.1 ramp, down 1.9
    with pytest.raises(ArgumentError, match="unknown window feature 'kurt'"):
        window_features(pd.DataFrame({"a": x}), 10, features=["kurt"])


def test_far_threshold_matches_the_naive_reference_and_screening_drops_a_fault():
    from pumplib.outliers.reference import far_threshold, screen
    from tests.naive_outliers import naive_far_threshold

    rng = np.random.default_rng(12)
    F = pd.DataFrame(rng.standard_normal((240, 3)), columns=["a:mean", "b:mean", "b:std"])
    keep = np.ones(240, bool)
    keep[::7] = False
    got = far_threshold(F, keep, 0.05, quantile=0.99)
    assert got == pytest.approx(naive_far_threshold(F.to_numpy(), keep, 0.05), rel=1e-9)
    assert far_threshold(F, keep, 0.01, 0.99) > got          # a lower FAR, a higher bar
    F.iloc[100:110, 0] += 40.0                                # a fault inside the fit window
    k = screen(F, z=6.0, pad=5)
    assert not k[95:115].any() and k[:90].all() and k[120:].all()


def test_one_sided_features_and_a_quantised_sensor_floor_match_the_naive_reference():
    from pumplib.outliers.features import resolution
    from pumplib.outliers.reference import far_threshold, robust_centre_scale
    from tests.naive_outliers import naive_far_threshold

    rng = np.random.default_rng(5)
    F = pd.DataFrame({"m": rng.standard_normal(300), "s": np.abs(rng.standard_normal(300)),
                      "j": np.where(np.isin(np.arange(300), [100, 250]), 4 / 3, 1.0)})
    keep = np.ones(300, bool)
    keep[40:60] = False
    upper, floor = np.array([False, True, True]), np.array([0.0, 0.0, 1 / 3])
    got = far_threshold(F, keep, 0.05, 0.99, upper, floor)
    assert got == pytest.approx(naive_far_threshold(F.to_numpy(), keep, 0.05, 0.99, upper,
                                                    floor), rel=1e-9)
    # without the floor a quantised step (all but 2 rows at 1.0) has a scale near zero,
    # and one step more than usual would be a 10-unit alarm
    assert robust_centre_scale(F, keep, 0.99)[1]["j"] < 0.05
    assert robust_centre_scale(F, keep, 0.99, floor)[1]["j"] == pytest.approx(1 / 3)
    # screening uses the same floor: a quantised step (1.0, read with a little jitter, like
    # SKAB's flow meter) one count above its usual value in 15 % of the windows is
    # ordinary, not 20 SDs out (without the floor, half the fit window is dropped)
    from pumplib.outliers.reference import screen
    J = pd.DataFrame({"j": np.where(rng.random(300) < 0.15, 4 / 3, 1.0)
                      + 0.002 * rng.standard_normal(300)})
    assert screen(J, z=20, pad=5, floor=np.array([1 / 3])).all()
    assert screen(J, z=20, pad=5).mean() == pytest.approx(0.5, abs=0.01)
    assert resolution(np.array([32.0, 32.0, 32.33, 32.0, 32.67, 32.67])) == pytest.approx(0.33)
    assert np.isnan(resolution(np.ones(5)))


def test_the_adaptive_reference_follows_slow_wander_but_not_a_fault():
    from pumplib.outliers.alarms import track
    from tests.naive_outliers import naive_adaptive_centre

    # slow wander of 6 scale units over 600 rows: a fixed reference alarms, an adaptive one not
    wander = np.linspace(0, 6, 600)[:, None]
    fixed = track(wander, np.zeros(1), np.ones(1), on=3, off=2, clear=5)
    assert fixed.alarm[400:].all()
    t = track(wander, np.zeros(1), np.ones(1), on=3, off=2, clear=5, adapt=100)
    assert not t.alarm.any()
    with pytest.raises(ArgumentError, match="adapt must be"):
        track(wander, np.zeros(1), np.ones(1), on=3, off=2, adapt=-1)
    # the centre is the naive exponential mean; frozen during a fault, so the fault ends
    f = np.r_[np.linspace(0, 1, 100), np.full(150, 9.0), np.full(50, 1.0)][:, None]
    t = track(f, np.zeros(1), np.ones(1), on=3, off=2, clear=5, adapt=50, rebaseline=False)
    assert t.alarm[100:250].all() and not t.alarm[260:].any()
    ref = naive_adaptive_centre(f[:100], [0.0], 3, 1 / 50)
    assert t.score[100] == pytest.approx(abs(9.0 - ref[-1, 0]))
    # noisier normal operation widens the scale, never narrows it: after 400 rows that
    # swing 0.6 (fit spread 0.1) a step of 1.2 is no alarm; with a fixed scale it is
    f = np.r_[np.ones(50), np.tile([1.0, 1.6], 200), np.full(30, 2.5)][:, None]
    kw = dict(on=3, off=2, clear=5, adapt=50, upper=np.array([True]))
    fixed = track(f, np.ones(1), np.full(1, 0.3), **kw)
    grown = track(f, np.ones(1), np.full(1, 0.3), spread=np.full(1, 0.1), **kw)
    assert not fixed.alarm[:450].any() and fixed.alarm[455:].all()
    assert not grown.alarm.any()
    quiet = track(np.r_[np.ones(300), np.full(20, 2.0)][:, None], np.ones(1), np.full(1, 0.3),
                  spread=np.full(1, 0.1), **kw)
    assert quiet.alarm[-15:].all()          # a quiet stretch does not narrow the scale


def test_wander_rate_and_the_widening_cap_match_the_naive_reference():
    from pumplib.outliers.alarms import track
    from pumplib.outliers.reference import wander_rate, widening_cap
    from tests.naive_outliers import (
        naive_adaptive_centre,
        naive_capped_scale,
        naive_wander_rate,
    )

    rng = np.random.default_rng(21)
    F = pd.DataFrame({"jitter": rng.standard_normal(300),
                      "walk": np.cumsum(0.3 * rng.standard_normal(300))})
    keep = np.ones(300, bool)
    keep[50:70] = False
    q = wander_rate(F, keep, short=10, long=150)
    np.testing.assert_allclose(q, naive_wander_rate(F.to_numpy(), keep, 10, 150), rtol=1e-9)
    assert q["jitter"] < 0.005 < 0.03 < q["walk"] < 0.3     # the walk's own rate is 0.09
    cap = widening_cap(np.array([2.0, 2.0]), q.to_numpy(), 500, quantile=0.99)
    assert cap[0] < 1.1 and cap[1] > 2          # a jitter cannot widen; a walk can
    np.testing.assert_allclose(cap[1], np.sqrt(1 + 2.5758293 ** 2 * q["walk"] * 500 / 4),
                               rtol=1e-6)
    # the cap in the tracker: a slow ramp to 2.8 scale units (below on=3) widens an
    # uncapped scale as fast as it grows, so the step to 4.5 after it is no alarm;
    # capped at 1.2 the scale follows the naive reference, and the step alarms
    f = np.r_[np.zeros(100), np.linspace(0, 2.8, 150), np.full(50, 4.5)][:, None]
    kw = dict(on=3, off=2, clear=5, adapt=200, spread=np.full(1, 0.3), rebaseline=False)
    free = track(f, np.zeros(1), np.ones(1), **kw)
    capped = track(f, np.zeros(1), np.ones(1), cap=np.full(1, 1.2), **kw)
    assert not free.alarm.any() and capped.alarm[260:].all() and not capped.alarm[:250].any()
    # row i is scored against the centre and scale that rows before it left
    s = naive_capped_scale(f[:250, 0], 0.0, 1.0, 0.3, 1.2, 1 / 200)
    c = naive_adaptive_centre(f[:250], [0.0], 3, 1 / 200)[:, 0]
    np.testing.assert_allclose(capped.score[1:250], np.abs(f[1:250, 0] - c[:-1]) / s[:-1],
                               rtol=1e-9)


def test_an_alarm_ends_and_the_reference_rebaselines_after_a_confirmed_event():
    from pumplib.outliers.alarms import ALARM, SETTLE, track

    # normal (0) → fault (9) for 100 rows → back to normal: the alarm ends by itself
    f = np.r_[np.zeros(50), np.full(100, 9.0), np.zeros(80)][:, None]
    t = track(f, np.zeros(1), np.ones(1), on=3, off=2, clear=5, confirm=30, settle=40)
    assert t.alarm[50:150].all() and not t.alarm[155:].any() and not t.rebaselines
    # fault (9) → a new state (2.5, between off and on: it never clears by itself)
    f = np.r_[np.zeros(50), np.full(100, 9.0), np.full(150, 2.5)][:, None]
    plain = track(f, np.zeros(1), np.ones(1), on=3, off=2, clear=5, rebaseline=False)
    assert plain.alarm[50:].all()                            # stays on for good
    t = track(f, np.zeros(1), np.ones(1), on=3, off=2, clear=5, confirm=30, settle=40)
    assert t.alarm[50:150].all() and not t.alarm[160:].any()
    assert (t.state == SETTLE).any() and (t.state[155:] != ALARM).all()
    (row, centre), = t.rebaselines
    assert 190 <= row <= 200 and centre[0] == pytest.approx(2.5)
    # z: each feature's signed distance from the reference in force (here: scale 1)
    np.testing.assert_allclose(t.z[:row, 0], f[:row, 0])
    np.testing.assert_allclose(t.z[row:, 0], f[row:, 0] - 2.5)


def test_alarm_detector_sees_noise_and_impulses_and_explains_them():
    from pumplib.simulate_faults import inject, rig_frame

    base = rig_frame(1000, seed=3)
    tr = base.iloc[:400]
    for kind, start, length in (("cavitation", 600, 200), ("impulse", 600, 60)):
        faulty, truth = inject(base, kind, start, length, seed=3)
        te = faulty.iloc[400:]
        det = O.AlarmDetector(target_far=0.01).fit(tr)
        pred = det.predict(te, context=tr)
        assert pred[start - 400: truth["end"] - 400 + det.window].any(), kind
        al = det.alarms(te, context=tr)
        hit = al[(al.start <= faulty.index[truth["end"] + det.window - 1])
                 & (al.end >= faulty.index[start])]
        assert len(hit) and hit.explanation.iloc[0].startswith("alarm: "), kind
        d = hit.drivers.iloc[0][0]
        assert {"signal", "feature", "value", "reference", "z", "text"} <= set(d)
    # the impulse is seen as a spike, not by the diluted window mean
    assert d["feature"] == "spike" and d["signal"] == "Accelerometer1RMS"
    with pytest.raises(ArgumentError, match="target_far must be in"):
        O.AlarmDetector(target_far=1.5)
    # a fixed threshold (in scale units) instead of the target-FAR one
    assert O.AlarmDetector(threshold=3.0).fit(tr).on_ == 3.0
    with pytest.raises(ArgumentError, match="threshold must be a positive number"):
        O.AlarmDetector(threshold=0)
    with pytest.raises(ArgumentError, match="not fitted"):
        O.AlarmDetector().predict(base)


def test_simulated_faults_carry_truth():
    from pumplib.simulate_faults import RIG_FAULT_KINDS, inject, rig_frame

    base = rig_frame(500, seed=1)
    for kind in RIG_FAULT_KINDS:
        out, truth = inject(base, kind, 200, 100, seed=2)
        assert truth["kind"] == kind and (truth["start"], truth["end"]) == (200, 300)
        changed = (out != base).any(axis=1).to_numpy()
        assert not changed[:200].any() and not changed[300:].any() and changed[200:300].any()
    with pytest.raises(UnknownNameError, match="unknown fault kind 'leek'. Did you mean"):
        inject(base, "leek", 0, 10)


def test_profiles_plan_computes_here_for_local_workers():
    from pumplib.outliers.parallel import plan

    class FakeClient:
        def __init__(self, addrs):
            self.addrs = addrs

        def scheduler_info(self):
            return {"workers": {a: {"nthreads": 1} for a in self.addrs}}

    assert plan(None) == "here"
    assert plan(FakeClient(["tcp://127.0.0.1:4001", "tcp://127.0.0.1:4002"])) == "here"
    assert plan(FakeClient(["tcp://10.9.8.7:4001"])) == "workers"
    assert plan(FakeClient(["tcp://127.0.0.1:4001"]), placement="workers") == "workers"
    with pytest.raises(ArgumentError, match="invalid placement 'gpu'"):
        plan(None, placement="gpu")
