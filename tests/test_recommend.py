"""Recommendations against the simulator's truth (the sample lake and other seeded plants)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pumplib import recommend as rc
from pumplib.errors import ArgumentError, UnknownNameError
from pumplib.lake import Lake
from pumplib.simulate import make_registry, read_truth, simulate

from .conftest import ROOT

TRUTH = ROOT / "data_samples" / "truth.csv"


@pytest.fixture(scope="module")
def recs(demo_store, demo_registry):
    return rc.recommend(demo_store, demo_registry)


@pytest.fixture(scope="module")
def truth():
    return read_truth(TRUTH)


def test_columns_ranking_currency_and_lineage(recs, demo_store):
    assert list(recs.columns[:len(rc.COLUMNS)]) == rc.COLUMNS
    assert list(recs["rank"]) == list(range(1, len(recs) + 1))
    money = recs.saving_money.dropna()
    assert (np.diff(money.to_numpy()) <= 0).all()          # best first
    assert recs.kind.iloc[-1] == "data_quality"            # no money: last
    assert set(recs.currency) == {"EUR"}
    assert recs.rec_id.is_unique
    feats = Lake(demo_store).open_group("features/1h")
    lin = recs.lineage.iloc[0]
    assert lin["features_snapshot"] == feats.attrs["snapshot"]
    assert lin["raw_snapshot"] == feats.attrs["raw_snapshot"]
    # the definitions of the features read, as built
    used = lin["definition_hashes"]
    assert {"energy", "energy_cost", "wire_to_water_efficiency", "bep_flow_ratio"} <= set(used)
    assert all(feats.attrs["definition_hashes"][k] == v for k, v in used.items())
    for _, r in recs.iterrows():
        assert r.evidence["series"]["group"] in ("features/1h",)
        assert r.title and r.confidence in ("high", "medium", "low")


def test_finds_the_impeller_wear_of_the_sample(recs, truth, demo_store, demo_registry):
    wear = truth[truth.kind == "impeller_wear"].iloc[0]
    found = recs[recs.kind == "efficiency_loss"]
    assert found.asset.tolist() == [wear.asset] == ["S-P1"]
    ev = found.evidence.iloc[0]
    p0, p1 = (pd.Timestamp(t) for t in ev["period"])
    overlap = min(p1, wear.end) - max(p0, wear.start)
    assert overlap >= 0.8 * (wear.end - wear.start)
    # the simulated wear stops on 04-01: over the whole sample the pump has recovered
    assert found.finding.iloc[0] == "recovered"
    # seen while it is going on: high confidence, a saving and a growing cost of waiting
    live = rc.recommend(demo_store, demo_registry, kinds=["efficiency_loss"],
                        end="2026-04-01T12:00Z")
    assert live.asset.tolist() == ["S-P1"]
    row = live.iloc[0]
    assert row.finding == "ongoing" and row.confidence == "high"
    loss = row.evidence["level_end"]
    assert 0.88 < loss < 0.93                     # truth: up to 9.5 % efficiency lost
    assert row.saving_kwh > 0 and row.saving_money > 0
    assert row.evidence["cost_of_waiting_month"] > 4 * row.evidence["cost_of_waiting_week"] > 0
    assert row.rec_id == found.rec_id.iloc[0]     # stable id across runs


def test_finds_the_station_with_avoidable_peak_pumping(recs, demo_store, demo_registry):
    level_stations = {s for s, d in demo_registry.stations.items() if d["control"] == "level"}
    shift = recs[recs.kind == "load_shift"]
    assert set(shift.station) == level_stations == {"SOUTH"}
    assert shift.iloc[0]["rank"] == 1 and shift.saving_money.iloc[0] > 0
    south = rc.station_peak_days(demo_store, demo_registry, "SOUTH")
    north = rc.station_peak_days(demo_store, demo_registry, "NORTH")
    share = {k: d.avoidable_kwh.sum() / d.peak_kwh.sum() for k, d in
             (("SOUTH", south), ("NORTH", north))}
    assert share["SOUTH"] > 0.4 and share["NORTH"] < 0.15
    # the tariff-driven station drains its tank in the peak, the level-driven one does not
    assert (north.drawdown_m3 / north.usable_m3).median() > 0.7
    assert (south.drawdown_m3 / south.usable_m3).median() < 0.3


def test_load_shift_follows_the_control_mode_on_another_plant(tmp_path):
    """Swap the control modes (NORTH on level set-points, SOUTH on the tariff), simulate a
    clean working week with another seed, run the main job's steps: the finding swaps too."""
    from pumplib.assets import AssetRegistry
    from pumplib.ingest import ingest
    from pumplib.pipeline import build_features, validate_lake
    from pumplib.simulate import write_exports

    spec = make_registry(seed=2026)
    for st in spec["stations"]:
        st["control"] = "tariff" if st["id"] == "SOUTH" else "level"
    reg = AssetRegistry.from_dict(spec)
    sim = simulate(reg, start="2026-03-09", days=5, freq="1min", seed=99, faults=())
    write_exports(sim, tmp_path / "week.parquet")
    lake = Lake(str(tmp_path / "store"), create=True)
    ingest([tmp_path / "week.parquet"], "long_parquet", store=lake, registry=reg,
           timezone=reg.utility["timezone"], progress=False)
    validate_lake(lake, reg, log=lambda _m: None, progress=False)
    build_features(lake, reg, log=lambda _m: None, progress=False)
    recs = rc.recommend(lake, reg, kinds=["load_shift"])
    assert recs.station.tolist() == ["NORTH"]
    north = rc.station_peak_days(lake, reg, "NORTH")
    south = rc.station_peak_days(lake, reg, "SOUTH")
    assert len(north) == len(south) == 5
    assert north.avoidable_kwh.sum() / north.peak_kwh.sum() > 0.4
    assert south.avoidable_kwh.sum() / south.peak_kwh.sum() < 0.2


def test_meter_drift_days_match_truth(recs, truth, demo_registry):
    dq = recs[(recs.kind == "data_quality") & recs.evidence.map(lambda e: "days" in e)]
    assert len(dq) >= 1
    tz = demo_registry.utility["timezone"]
    value_faults = truth[truth.kind.isin(["drift", "wrong_unit", "stuck", "clock_skew"])
                         & truth.signal.isin(["flow", "power", "discharge_pressure",
                                              "suction_pressure", "speed", "*"])]
    for r in dq.itertuples():
        mine = value_faults[value_faults.asset == r.asset]
        for day in r.evidence["days"]:
            d0 = pd.Timestamp(day).tz_localize(tz).tz_convert("UTC")
            d1 = d0 + pd.Timedelta("1D")
            assert ((mine.start < d1) & (mine.end >= d0)).any(), (r.asset, day)


@pytest.mark.parametrize("seed, expected", [(3, "N-P2"), (5, "S-P2"), (13, "N-P3")])
def test_wear_detection_on_other_plants(seed, expected):
    """Other seeded plants, the wear on another pump: the detector finds it and only it."""
    reg_spec = make_registry(seed=seed)
    from pumplib.assets import AssetRegistry

    reg = AssetRegistry.from_dict(reg_spec)
    sim = simulate(reg, start="2026-03-02", days=21, freq="1h", control_step="5min", seed=seed,
                   faults=("impeller_wear",))
    worn = set(sim.truth.asset)
    assert worn == {expected}
    frame = _hourly_from_state(sim, reg)
    daily = rc.daily_efficiency_ratio(frame, reg)
    found = {p for p in daily if len(rc.wear_episodes(daily[p]))}
    assert found == worn


def _hourly_from_state(sim, reg) -> pd.DataFrame:
    """The two golden-table columns the detector reads, from the simulator's control truth."""
    parts = []
    for ch in sim:
        st = ch.state
        for p in reg.station_assets(ch.station):
            if p.kind != "pump":
                continue
            run = st[f"{p.id}.run"].astype(bool)
            w2w = (st[f"{p.id}.hydraulic_power"] / st[f"{p.id}.power"]).where(
                run & (st[f"{p.id}.power"] > 1))
            r = (st[f"{p.id}.flow"] / (p.curve["bep_flow"] * st[f"{p.id}.speed_ratio"])).where(run)
            h = pd.DataFrame({"wire_to_water_efficiency_mean": w2w,
                              "bep_flow_ratio_mean": r}).resample("1h").mean()
            h.index = h.index.tz_localize(None).rename("time")
            h["asset"] = p.id
            parts.append(h.reset_index())
    return pd.concat(parts).set_index(["asset", "time"]).sort_index()


def test_wear_episodes_ignore_short_dips():
    idx = pd.date_range("2026-03-01", periods=28, freq="D")
    y = np.ones(28)
    y[5:9] = [0.97, 0.94, 0.92, 0.95]         # a meter drifting for four days
    assert rc.wear_episodes(pd.Series(y, index=idx)).empty
    y2 = np.r_[np.ones(8), np.linspace(1.0, 0.9, 20)]
    ep = rc.wear_episodes(pd.Series(y2, index=idx))
    assert len(ep) == 1 and abs(ep["drop"].iloc[0] - 0.1) < 0.02
    # a noisy year: an 8 % loss over 30 days in July-August, then no repair
    rng = np.random.default_rng(1)
    year = pd.date_range("2025-01-01", periods=365, freq="D")
    y3 = 1 + 0.004 * rng.standard_normal(365)
    y3[200:230] -= np.linspace(0, 0.08, 30)
    y3[230:] -= 0.08
    ep = rc.wear_episodes(pd.Series(y3, index=year))
    assert len(ep) == 1
    assert year[196] <= ep.start.iloc[0] <= year[206] and year[222] <= ep.end.iloc[0] <= year[232]
    assert ep.worn_until.iloc[0] == year[-1] and abs(ep["drop"].iloc[0] - 0.08) < 0.015


def test_store_load_and_verify(demo_store_copy, demo_registry):
    recs = rc.recommend(demo_store_copy, demo_registry, write=True)
    lake = Lake(demo_store_copy)
    head = lake.log()[0]
    assert head.metadata["kind"] == "recommendations"
    assert head.metadata["lineage"]["features_snapshot"] == recs.lineage.iloc[0][
        "features_snapshot"]
    back = rc.load_recommendations(lake)
    assert back.rec_id.tolist() == recs.rec_id.tolist()
    assert back.evidence.iloc[0] == recs.evidence.iloc[0]
    wear_id = back.loc[back.kind == "efficiency_loss", "rec_id"].iloc[0]
    # the simulated wear ends 2026-04-01 17:57 (a repair): 7 % energy per m³·m saved
    res = rc.verify(lake, wear_id, "2026-04-01T18:00Z", registry=demo_registry)
    assert res["assets"] == ["S-P1"] and res["saving_kwh"] > 0
    assert 0.05 < res["saving_share"] < 0.12
    reg_res = rc.verify(lake, wear_id, "2026-04-01T18:00Z", registry=demo_registry,
                        method="regression")
    assert reg_res["saving_share"] > 0.05
    # a pump nobody touched: no saving to speak of
    control = {**back[back.rec_id == wear_id].iloc[0].to_dict(), "asset": "N-P3",
               "station": "NORTH"}
    ctl = rc.verify(lake, control, "2026-04-01T18:00Z", registry=demo_registry)
    assert abs(ctl["saving_share"]) < 0.03 < res["saving_share"]
    # chart data behind each stored recommendation
    for r in back.itertuples():
        ev = rc.evidence_frame(lake, r.rec_id, registry=demo_registry)
        assert len(ev) > 0, r.kind
    wear_ev = rc.evidence_frame(lake, wear_id, registry=demo_registry)
    assert wear_ev.ratio.min() < 0.93 and wear_ev.ratio.max() > 0.98
    assert rc.plot_evidence(lake, wear_id, registry=demo_registry) is not None
    shift_id = back.loc[back.kind == "load_shift", "rec_id"].iloc[0]
    assert "avoidable_kwh" in rc.evidence_frame(lake, shift_id, registry=demo_registry)
    assert rc.plot_evidence(lake, shift_id, registry=demo_registry) is not None
    with pytest.raises(UnknownNameError, match="rec-nope"):
        rc.verify(lake, "rec-nope", "2026-04-01", registry=demo_registry)
    with pytest.raises(ArgumentError, match="method"):
        rc.verify(lake, wear_id, "2026-04-01", registry=demo_registry, method="magic")


def test_invalid_options(demo_store, demo_registry):
    with pytest.raises(ArgumentError, match="kinds.*'nonsense'"):
        rc.recommend(demo_store, demo_registry, kinds=["nonsense"])
    with pytest.raises(ArgumentError, match="reserve"):
        rc.recommend(demo_store, demo_registry, reserve=0.7)
    with pytest.raises(UnknownNameError, match="WEST"):
        rc.station_peak_days(demo_store, demo_registry, "WEST")


def test_cli_recommend_json(demo_store_copy):
    import json

    from typer.testing import CliRunner

    from pumplib.cli import app

    reg = str(ROOT / "catalogs" / "assets.yaml")
    res = CliRunner().invoke(app, ["recommend", "--store", demo_store_copy, "--registry", reg,
                                   "--kind", "load_shift", "--kind", "efficiency_loss",
                                   "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {(r["kind"], r["station"]) for r in rows} == {("load_shift", "SOUTH"),
                                                        ("efficiency_loss", "SOUTH")}
    assert Lake(demo_store_copy).log()[0].metadata["kind"] == "recommendations"
    bad = CliRunner().invoke(app, ["recommend", "--store", demo_store_copy, "--registry", reg,
                                   "--kind", "magic", "--no-write"])
    assert bad.exit_code == 2 and "magic" in bad.output


def test_bep_drift_and_coverage_checks_on_a_made_up_frame(registry):
    """Hand-made hourly rows: N-P1 runs at 0.6×BEP, N-P2 lacks energy data half the days."""
    times = pd.date_range("2026-03-02", periods=14 * 24, freq="1h")
    rows = []
    for pid, ratio in (("N-P1", 0.6), ("N-P2", 1.0)):
        cov = np.ones(len(times))
        if pid == "N-P2":
            cov[: 7 * 24] = 0.3                       # the first week is mostly missing
        rows.append(pd.DataFrame({
            "asset": pid, "time": times, "bep_flow_ratio_mean": ratio,
            "runtime_duration": 3600.0, "time_near_bep_duration": 0.0 if ratio < 0.8 else 3600.0,
            "energy_integral": 20.0, "energy_cost_integral": 2.0, "energy_coverage": cov,
            "runtime_coverage": 1.0}))
    frame = pd.concat(rows).set_index(["asset", "time"])
    ctx = {"currency": "EUR", "lineage": {}, "horizon_days": 365.0, "created_at": "now",
           "run_id": "rec-test"}
    bep = rc._bep_recs(frame, registry, 365.0, ctx)
    assert [r["asset"] for r in bep] == ["N-P1"]
    assert bep[0]["evidence"]["efficiency_shortfall"] == pytest.approx(0.16)
    # 20 kWh/h for a year at 16 % shortfall, 0.1 per kWh
    assert bep[0]["saving_kwh"] == pytest.approx(20 * 24 * 365 * 0.16, rel=1e-6)
    assert bep[0]["saving_money"] == pytest.approx(bep[0]["saving_kwh"] * 0.1)
    dq = rc._quality_recs(frame, registry, "UTC", ctx)
    assert [r["asset"] for r in dq] == ["N-P2"]
    ev = dq[0]["evidence"]["features"]["energy"]
    assert ev["bad_days"] == 7 and "load_shift" in ev["blocks"]


def test_efficient_pump_compares_at_the_same_station_flow(registry):
    """Made-up hours: N-P1 alone pumps 200 m³/h at 0.10 kWh/m³, N-P2 alone the same flow at
    0.12; a partly-run hour and the hours of both pumps together are not compared with them."""
    times = pd.date_range("2026-03-02", periods=40, freq="1h")
    p1_on = np.r_[np.ones(20), np.zeros(20)]
    p2_on = np.r_[np.zeros(20), np.ones(20)]
    p2_on[25] = 0.5                                        # a partial hour: left out
    rows = []
    for pid, on, se in (("N-P1", p1_on, 0.10), ("N-P2", p2_on, 0.12)):
        rows.append(pd.DataFrame({"asset": pid, "time": times, "runtime_duration": on * 3600,
                                  "energy_integral": on * 200 * se,
                                  "specific_energy_mean": np.where(on > 0, se, np.nan),
                                  "energy_cost_integral": on * 200 * se * 0.2}))
    frame = pd.concat(rows).set_index(["asset", "time"])
    hours = rc.station_hours(frame, ["N-P1", "N-P2"])
    assert set(hours.combo) == {"N-P1", "N-P2"} and len(hours) == 39
    ctx = {"currency": "EUR", "lineage": {}, "horizon_days": 365.0, "created_at": "now",
           "run_id": "rec-test"}
    recs = rc._efficient_pump_recs(frame, registry, 365.0, ctx)
    assert len(recs) == 1
    r = recs[0]
    assert (r["evidence"]["worse"], r["evidence"]["better"]) == ("N-P2", "N-P1")
    assert r["asset"] == "N-P2"
    # 19 hours × 200 m³ × 0.02 kWh/m³ over the 39-hour span, per year
    span_days = 39 / 24
    assert r["saving_kwh"] == pytest.approx(19 * 200 * 0.02 / span_days * 365, rel=1e-6)
    assert r["saving_money"] == pytest.approx(r["saving_kwh"] * 0.2, rel=1e-6)
