"""Tests of pumplib.simulate against known truth: physics, faults, formats, determinism."""

from __future__ import annotations

import collections
import gzip
import hashlib
import json
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pumplib import simulate as sm
from pumplib import units
from pumplib.assets import AssetRegistry
from pumplib.errors import ConfigError, PumplibError, SchemaError, UnknownNameError

ROOT = Path(__file__).resolve().parents[1]
DATA_FAULTS = {"stuck": 3.0, "spike": 8.0, "dropout": 4.0, "gap": 3.0, "drift": 2.0,
               "wrong_unit": 4.0, "clock_skew": 2.0, "duplicate": 3.0, "out_of_order": 3.0}
PHYSICAL_FAULTS = {"impeller_wear": 1.0, "cavitation": 4.0, "dry_running": 4.0}


# -- fixtures --------------------------------------------------------------------
@pytest.fixture(scope="module")
def spec():
    return sm.make_registry()


@pytest.fixture(scope="module")
def reg(spec):
    return AssetRegistry.from_dict(spec)


@pytest.fixture(scope="module")
def clean(reg):
    """Three clean days at 1 min (sample interval = control step)."""
    return list(sm.simulate(reg, start="2026-03-09", days=3, freq="1min", faults=(), seed=11))


@pytest.fixture(scope="module")
def faulty(reg):
    """The same run with data faults only: the physics is identical to ``clean``."""
    sim = sm.simulate(reg, start="2026-03-09", days=3, freq="1min", faults=DATA_FAULTS, seed=11)
    return sim, list(sim)


@pytest.fixture(scope="module")
def physical(reg):
    sim = sm.simulate(reg, start="2026-03-09", days=3, freq="1min", faults=PHYSICAL_FAULTS,
                      seed=11)
    return sim, list(sim)


def _state(chunks, station=None):
    parts = collections.defaultdict(list)
    for c in chunks:
        parts[c.station].append(c.state)
    frames = {k: pd.concat(v) for k, v in parts.items()}
    return frames if station is None else frames[station]


def _frame(chunks):
    return pd.concat([c.frame.assign(tag=lambda d: d.tag.astype(str)) for c in chunks],
                     ignore_index=True)


def _canonical(df, reg):
    """Exported values converted to canonical units (per tag)."""
    out = df.copy()
    for tag, idx in out.groupby("tag").groups.items():
        info = reg.tag(tag)
        out.loc[idx, "value"] = units.convert(out.loc[idx, "value"].to_numpy(), info.unit,
                                              sm._signals.get(info.signal).unit)
    return out


def _truth_windows(truth):
    t = truth.copy()
    t["start"] = pd.to_datetime(t["start"], utc=True)
    t["end"] = pd.to_datetime(t["end"], utc=True)
    t["params"] = t["params"].map(json.loads)
    return t


def _tag(reg, asset, signal):
    return reg.asset(asset).signals[signal]["tag"]


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- registry ------------------------------------------------------------------------
def test_registry_is_valid_and_realistic(spec, reg):
    assert [a.id for a in reg.pumps()] == ["N-P1", "N-P2", "N-P3", "S-P1", "S-P2"]
    assert {a.id for a in reg.assets.values() if a.kind == "tank"} == {"N-T1", "S-T1"}
    assert {a.pump_type for a in reg.pumps()} == {"fixed_speed", "variable_speed"}
    for p in reg.pumps():
        assert 50 <= p.rated["flow"] <= 400
        assert 20 <= p.rated["head"] <= 60
        assert 5 <= p.motor["rated_power"] <= 90
        assert p.rated["speed"] in (1480, 2960)
        assert 0.70 <= p.curve["bep_efficiency"] <= 0.85
        assert p.rated["power"] < p.motor["rated_power"]
        for s in p.signals.values():
            assert re.fullmatch(r"(NORTH|SOUTH)\.P\d\.[A-Z]+", s["tag"])
    assert reg.tag("NORTH.T1.LEVEL").asset == "N-T1"
    units_used = {t.unit for t in reg.tags.values()}
    assert {"L/s", "psi", "degF", "m3/h", "bar", "degC"} <= units_used
    tariff = reg.tariff_of("N-P1")
    names = {p["name"] for p in tariff.periods}
    assert {"peak", "shoulder", "weekend"} <= names
    times = pd.DatetimeIndex(["2026-03-10T02:00Z", "2026-03-10T17:30Z", "2026-03-14T12:00Z",
                              "2026-04-06T17:30Z"])  # night, weekday peak, Saturday, holiday
    night, peak, weekend, holiday = tariff.price(times, "Europe/Amsterdam", reg.holidays)
    assert night < weekend < peak and holiday == weekend
    assert pd.Timestamp("2026-04-27").date() in reg.holidays
    big = sm.make_registry(n_stations=12, pumps_per_station=(1, 4), seed=3)
    big_reg = AssetRegistry.from_dict(big)
    assert len(big_reg.pumps()) == 6 * 1 + 6 * 4
    assert len({a.id for a in big_reg.assets.values()}) == len(big_reg.assets)


def test_registry_file_is_the_generated_one(spec):
    path = ROOT / "catalogs" / "assets.yaml"
    if not path.exists():
        pytest.skip("catalogs/assets.yaml not generated yet")
    text = path.read_text()
    assert text.startswith("# Asset registry")
    assert yaml.safe_load(text) == yaml.safe_load(sm.registry_yaml(spec))
    assert AssetRegistry.load(path).tag("SOUTH.P1.PD").unit == "psi"


# -- physics ---------------------------------------------------------------------------
def test_tank_mass_balance_exact_in_state(clean, reg):
    for station, st in _state(clean).items():
        tank = next(a for a in reg.station_assets(station) if a.kind == "tank")
        lvl = st[f"{tank.id}.level"].to_numpy()
        net = (st[f"{tank.id}.inflow"] - st[f"{tank.id}.demand"]).to_numpy()
        assert (st[f"{tank.id}.overflow"] == 0).all()
        np.testing.assert_allclose(np.diff(lvl), net[:-1] / 60.0 / tank.tank["area"], atol=1e-9)
        assert (lvl > tank.tank["min_level"]).all() and (lvl < tank.tank["max_level"] + 0.2).all()


def test_tank_mass_balance_from_exported_flows(clean, reg):
    """Level change ≈ ∫(Σ exported pump flows − demand)/area, flows converted from L/s."""
    df = _canonical(_frame(clean), reg)
    wide = df.pivot(index="timestamp", columns="tag", values="value")
    for station, st in _state(clean).items():
        tank = next(a for a in reg.station_assets(station) if a.kind == "tank")
        flows = [p.signals["flow"]["tag"] for p in reg.station_assets(station) if p.kind == "pump"]
        inflow = wide[flows].sum(axis=1).to_numpy()
        demand = st[f"{tank.id}.demand"].to_numpy()
        level = wide[tank.signals["level"]["tag"]].to_numpy()
        predicted = level[0] + np.cumsum(inflow - demand)[:-1] / 60.0 / tank.tank["area"]
        err = np.abs(predicted - level[1:])
        assert err.max() < 0.05, station
        assert np.ptp(level) > 1.0  # the tank really moves


def test_operating_points_lie_on_pump_and_system_curves(clean, reg):
    for station, st in _state(clean).items():
        static = reg.stations[station]["static_head"]
        tank = next(a for a in reg.station_assets(station) if a.kind == "tank")
        mid = (tank.tank["min_level"] + tank.tank["max_level"]) / 2
        for p in (a for a in reg.station_assets(station) if a.kind == "pump"):
            on = st[f"{p.id}.run"].to_numpy()
            q, h = st[f"{p.id}.flow"].to_numpy()[on], st[f"{p.id}.head"].to_numpy()[on]
            rpm = st[f"{p.id}.speed"].to_numpy()[on]
            assert on.sum() > 30
            np.testing.assert_allclose(h, p.head_curve(q, rpm), rtol=1e-9)
            r = (p.rated["head"] - static - mid) / p.rated["flow"] ** 2
            level = st[f"{tank.id}.level"].to_numpy()[on]
            np.testing.assert_allclose(h, static + level + r * q**2, rtol=1e-9)
            if p.pump_type == "variable_speed":  # affinity laws: it really varies its speed
                assert rpm.min() < 0.9 * p.rated["speed"] and rpm.min() >= 0.7 * p.rated["speed"]
                scaled = p.head_curve(q / (rpm / p.rated["speed"]))  # similar point at rated
                np.testing.assert_allclose(h / (rpm / p.rated["speed"]) ** 2, scaled, rtol=1e-9)
            else:
                np.testing.assert_allclose(rpm, p.rated["speed"])


def test_power_chain_and_current(clean, reg):
    for _station, st in _state(clean).items():
        for p in reg.pumps():
            if f"{p.id}.run" not in st:
                continue
            on = st[f"{p.id}.run"].to_numpy()
            q, h = st[f"{p.id}.flow"][on], st[f"{p.id}.head"][on]
            p_h = 998.2 * 9.80665 * q * h / 3.6e6
            np.testing.assert_allclose(st[f"{p.id}.hydraulic_power"][on], p_h, rtol=1e-9)
            eta = st[f"{p.id}.efficiency"][on]
            np.testing.assert_allclose(eta, p.efficiency_curve(q, st[f"{p.id}.speed"][on]),
                                       rtol=1e-9)
            p_el = st[f"{p.id}.power"][on]
            np.testing.assert_allclose(p_el, p_h / eta / p.motor["efficiency"], rtol=1e-9)
            assert (p_el >= p_h).all() and (p_el < p.motor["rated_power"] * 1.1).all()
            amps = p_el * 1000 / (np.sqrt(3) * p.motor["voltage"] * p.motor["power_factor"])
            np.testing.assert_allclose(st[f"{p.id}.current"][on], amps, rtol=1e-9)
            assert (st[f"{p.id}.power"][~on] == 0).all()


def test_efficiency_peaks_at_bep(reg, clean):
    st = pd.concat(_state(clean).values(), axis=1)
    for p in reg.pumps():
        q = np.linspace(1.0, 2.0 * p.curve["bep_flow"], 4001)
        for ratio in (1.0, 0.8):
            eta = p.efficiency_curve(q, ratio * p.rated["speed"])
            q_best = q[np.argmax(eta)]
            assert abs(q_best - ratio * p.curve["bep_flow"]) < 1.0
            assert eta.max() == pytest.approx(p.curve["bep_efficiency"], rel=1e-4)
        assert p.efficiency_curve(p.rated["flow"]) == pytest.approx(p.rated["efficiency"],
                                                                     abs=1e-3)
        assert st[f"{p.id}.efficiency"].max() <= p.curve["bep_efficiency"] + 1e-12


def test_exported_values_are_in_registry_units(clean, reg):
    df = _frame(clean)
    st = pd.concat(_state(clean).values(), axis=1)
    tags = reg.tags
    for tag, g in df.groupby("tag"):
        info = tags[tag]
        canonical = sm._signals.get(info.signal).unit
        truth = st[f"{info.asset}.{info.signal if info.signal != 'run_state' else 'run'}"]
        expected = units.convert(truth.astype(float).to_numpy(), canonical, info.unit)
        got = g.set_index("timestamp")["value"].reindex(truth.index).to_numpy()
        scale = max(np.nanpercentile(np.abs(expected), 95), 1.0)
        assert np.nanmedian(np.abs(got - expected)) < 0.02 * scale, tag
    # concrete spot checks of the non-canonical tags
    nf = df[df.tag == "NORTH.P1.FLOW"].set_index("timestamp")["value"]
    q = st["N-P1.flow"]
    on = q > 0
    assert np.median(nf[on] / q[on]) == pytest.approx(1 / 3.6, rel=0.01)
    bt = df[df.tag == "SOUTH.P1.TBRG"].set_index("timestamp")["value"]
    np.testing.assert_allclose(bt, st["S-P1.bearing_temperature"] * 1.8 + 32, atol=0.6)


def test_demand_patterns_and_tariff_shifting(reg):
    sim = sm.simulate(reg, start="2026-03-30", days=8, freq="10min", faults=())
    st = _state(sim, "NORTH")
    local = st.index.tz_convert("Europe/Amsterdam")
    demand = st["N-T1.demand"]
    hour = local.hour
    day = pd.Series(local.date, index=st.index)
    morning = demand[(hour == 7)].groupby(day[hour == 7]).mean()
    night = demand[(hour == 3)].groupby(day[hour == 3]).mean()
    assert (morning.to_numpy() > 1.4 * night.to_numpy()).all()
    # Easter Monday (a registry holiday) has no weekday morning peak: like a Sunday
    mon = pd.Timestamp("2026-03-30").date()
    easter_monday = pd.Timestamp("2026-04-06").date()
    assert morning[easter_monday] < 0.75 * morning[mon]
    # pumps run harder in cheap hours and let the tank drain in the peak
    power = st[[c for c in st if c.endswith(".power")]].sum(axis=1)
    price = st["N-T1.price"]
    assert power[price == price.max()].mean() < 0.6 * power[price == price.min()].mean()
    paid = (power * price).sum() / power.sum()
    assert paid < price.mean()
    level = st["N-T1.level"]
    peak = (price == price.max()).astype(int).diff()
    starts, ends = level[peak == 1], level[peak.shift(-1) == -1]
    assert starts.mean() > ends.mean() + 1.0


# -- faults --------------------------------------------------------------------
def test_fault_schedule_and_truth_table(faulty, reg):
    sim, _ = faulty
    truth = sim.truth
    assert tuple(truth.columns) == sm.TRUTH_COLUMNS
    assert set(truth.kind) == set(DATA_FAULTS)
    assert truth.fault_id.is_unique
    for col in ("start", "end"):
        assert truth[col].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    t = _truth_windows(truth)
    assert (t.end >= t.start).all()
    assert (t.loc[t.kind == "spike", "start"] == t.loc[t.kind == "spike", "end"]).all()
    assert set(t.asset) <= set(reg.assets)
    # no two episodes overlap on one asset
    for _asset, g in t.sort_values("start").groupby("asset"):
        assert (g.start.to_numpy()[1:] > g.end.to_numpy()[:-1]).all()
    assert sm.simulate(reg, days=1, faults=()).truth.empty
    assert set(sm.simulate(reg, days=1, faults=("stuck", "gap")).truth.kind) == {"stuck", "gap"}


def test_data_faults_appear_exactly_where_the_truth_says(faulty, clean, reg):
    sim, chunks = faulty
    bad = _frame(chunks)
    good = _frame(clean).set_index(["tag", "timestamp"])["value"]
    t = _truth_windows(sim.truth)
    step = pd.Timedelta("1min")
    touched = pd.Series(False, index=bad.index)
    for f in t.itertuples():
        tags = [s["tag"] for s in reg.asset(f.asset).signals.values()] if f.signal == "*" \
            else [_tag(reg, f.asset, f.signal)]
        in_tag = bad.tag.isin(tags)
        win = in_tag & bad.timestamp.between(f.start, f.end)
        n_win = len(pd.date_range(f.start, f.end, freq=step))
        ref = good.loc[tags[0]].loc[f.start:f.end]
        sel = bad[win & (bad.tag == tags[0])]
        res = 10.0 ** -sm._DECIMALS[reg.tag(tags[0]).unit] + 1e-9  # historian resolution
        if f.kind == "stuck":
            assert sel.value.nunique() == 1 and (sel.quality == 192).all() and len(sel) == n_win
            assert sel.value.iloc[0] == ref.iloc[0]
        elif f.kind == "spike":
            assert len(sel) == 1
            assert sel.value.iloc[0] - ref.iloc[0] == pytest.approx(f.params["delta"], abs=res)
        elif f.kind == "dropout":
            assert len(sel) == n_win and sel.value.isna().all() and (sel.quality == 0).all()
        elif f.kind == "gap":
            assert not win.any()
            after = bad[in_tag & (bad.timestamp == f.end + step)]
            assert (after.quality == 64).all() and len(after) == len(tags)
        elif f.kind == "drift":
            ramp = (sel.timestamp - f.start) / (f.end - f.start)
            np.testing.assert_allclose(sel.value.to_numpy() - ref.to_numpy(),
                                       f.params["total"] * ramp.to_numpy(), atol=res)
        elif f.kind == "wrong_unit":
            p = f.params
            expected = ref.to_numpy() * p["scale"] + p["offset"]
            tol = 0.6 * 10.0 ** -sm._DECIMALS[p["actual_unit"]] + \
                abs(p["scale"]) * 0.5 * 10.0 ** -sm._DECIMALS[p["declared_unit"]]
            np.testing.assert_allclose(sel.value.to_numpy(), expected, atol=tol)
            assert p["declared_unit"] == reg.tag(tags[0]).unit
        elif f.kind == "clock_skew":
            off = pd.Timedelta(seconds=f.params["offset_s"])
            lo, hi = f.start + min(off, pd.Timedelta(0)), f.end + max(off, pd.Timedelta(0))
            for tag in tags:  # the window's rows moved by the offset, with their values
                rows = bad[(bad.tag == tag) & bad.timestamp.between(lo, hi)]
                got = collections.Counter(zip(rows.timestamp, rows.value, strict=True))
                ref_t = good.loc[tag]
                inside = ref_t.index.to_series().between(f.start, f.end).to_numpy()
                moved = ref_t.index.where(~inside, ref_t.index + off)
                keep = (moved >= lo) & (moved <= hi)
                want = collections.Counter(zip(moved[keep], ref_t.to_numpy()[keep], strict=True))
                assert got == want and inside.sum() > 0
            touched |= in_tag & bad.timestamp.between(lo, hi)
            continue
        elif f.kind == "duplicate":
            assert len(sel) == 2 * n_win
            pos = np.flatnonzero((win & (bad.tag == tags[0])).to_numpy())
            assert (bad.iloc[pos[0::2]].to_numpy() == bad.iloc[pos[1::2]].to_numpy()).all()
        elif f.kind == "out_of_order":
            assert len(sel) == n_win
            assert (sel.timestamp.diff().iloc[1:] < pd.Timedelta(0)).all()
            np.testing.assert_array_equal(sel.value.to_numpy()[::-1], ref.to_numpy())
        touched |= win
        if f.kind in ("gap", "dropout"):
            touched |= in_tag & (bad.timestamp == f.end + step)
    # everything outside the fault windows is exactly the clean data, quality good
    rest = bad[~touched]
    assert (rest.quality == 192).all()
    np.testing.assert_array_equal(
        rest.value.to_numpy(), good.reindex(pd.MultiIndex.from_frame(rest[["tag", "timestamp"]]))
        .to_numpy())
    assert len(rest) > 0.8 * len(good)


def test_data_faults_at_one_second_are_on_the_second_grid(reg):
    sim = sm.simulate(reg, days=1, freq="1s", stations=("SOUTH",), signals=("flow", "level"),
                      faults={"spike": 5.0, "gap": 1.0, "clock_skew": 1.0})
    chunk = next(iter(sim))
    df = chunk.frame
    t = _truth_windows(sim.truth)
    assert (df.timestamp.dt.microsecond == 0).all() and (df.timestamp.dt.nanosecond == 0).all()
    for f in t[t.kind == "spike"].itertuples():
        tag = _tag(reg, f.asset, f.signal)
        row = df[(df.tag == tag) & (df.timestamp == f.start)]
        nb = df[(df.tag == tag) & df.timestamp.between(f.start - pd.Timedelta("3s"),
                                                       f.start + pd.Timedelta("3s"))]
        assert len(row) == 1 and np.argmax(np.abs(nb.value.to_numpy() - nb.value.median())) == 3


def test_physical_faults_change_the_physics(physical, clean, reg):
    sim, chunks = physical
    t = _truth_windows(sim.truth)
    st = pd.concat(_state(chunks).values(), axis=1)
    ref = pd.concat(_state(clean).values(), axis=1)
    df = _frame(chunks)
    assert set(t.kind) == set(PHYSICAL_FAULTS)
    for f in t.itertuples():
        p, w = f.asset, slice(f.start, f.end)
        run = st.loc[w, f"{p}.run"]
        if f.kind == "dry_running":
            assert run.all() and (st.loc[w, f"{p}.flow"] == 0).all()
            normal = ref.loc[ref[f"{p}.flow"] > 0, f"{p}.power"].median()
            assert (st.loc[w, f"{p}.power"] < 0.5 * normal).all()
            assert (st.loc[w, f"{p}.power"] > 0).all()
            exported = df[(df.tag == _tag(reg, p, "flow")) & df.timestamp.between(f.start, f.end)]
            assert (exported.value == 0).all()
            state_tag = df[(df.tag == _tag(reg, p, "run_state")) &
                           df.timestamp.between(f.start, f.end)]
            assert (state_tag.value == 1).all()
        elif f.kind == "cavitation":
            assert run.all()
            assert (st.loc[w, f"{p}.cavitation"]).all()
            normal = ref.loc[ref[f"{p}.run"], f"{p}.vibration"].median()
            assert st.loc[w, f"{p}.vibration"].median() > 2.0 * normal
            ps = df[(df.tag == _tag(reg, p, "suction_pressure"))].set_index("timestamp").value
            assert ps.loc[w].diff().std() > 5 * ps.loc[~ps.index.isin(ps.loc[w].index)].diff().std()
        else:
            wear = st.loc[w, f"{p}.wear"]
            assert wear.iloc[-1] == pytest.approx(f.params["max_efficiency_loss"], rel=0.01)
            assert (np.diff(wear.to_numpy()) >= 0).all()
            on = st.loc[w, f"{p}.run"] & (wear > 0.5 * wear.max())
            asset = reg.asset(p)
            q, rpm = st.loc[w, f"{p}.flow"][on], st.loc[w, f"{p}.speed"][on]
            clean_eta = asset.efficiency_curve(q, rpm)
            np.testing.assert_allclose(st.loc[w, f"{p}.efficiency"][on],
                                       clean_eta * (1 - wear[on]), rtol=1e-9)
            assert (st.loc[w, f"{p}.head"][on] < asset.head_curve(q, rpm)).all()
            after = st.loc[f.end + pd.Timedelta("1min"):, f"{p}.wear"]
            assert (after == 0).all()


# -- exports ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exports(tmp_path_factory, reg):
    d = tmp_path_factory.mktemp("exports")
    sim = sm.simulate(reg, start="2026-03-28", days=2, freq="1min", seed=5)
    counts = sm.write_exports(sim, [
        sm.Export(d / "long.csv"), sm.Export(d / "long.csv.gz"),
        sm.Export(d / "by_tag.csv", order="tag"),
        sm.Export(d / "long.parquet"),
        sm.Export(d / "wide.csv", "wide_csv", stations=("NORTH",)),
        sm.Export(d / "wide.parquet", "wide_parquet"),
        sm.Export(d / "cut.parquet", start="2026-03-28T06:00", end="2026-03-28T07:00")],
        truth=d / "truth.csv", row_group_size=20_000)
    return d, sim, counts


def test_long_csv_format(exports, reg):
    d, sim, counts = exports
    lines = (d / "long.csv").read_text().splitlines()
    assert lines[0] == "timestamp,tag,value,quality"
    assert len(lines) - 1 == counts[str(d / "long.csv")]
    df = pd.read_csv(d / "long.csv", dtype={"tag": str})
    assert df.timestamp.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    assert set(df.quality.unique()) <= {0, 64, 192}
    assert (df.loc[df.value.isna(), "quality"] == 0).all()
    assert set(df.tag) == set(sim.tags) and set(df.tag) <= set(reg.tags)
    raw = (d / "long.csv.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0"  # mtime 0: deterministic
    assert gzip.decompress(raw) == (d / "long.csv").read_bytes()
    # duplicates and out-of-order rows are really in the file
    key = df.tag + "|" + df.timestamp
    assert key.duplicated().any()
    ts = pd.to_datetime(df.timestamp)
    assert (ts.groupby(df.tag).diff() < pd.Timedelta(0)).any()
    truth = _truth_windows(sim.truth)
    for f in truth[truth.kind == "out_of_order"].itertuples():
        rows = ts[(df.tag == _tag(reg, f.asset, f.signal)) & ts.between(f.start, f.end)]
        assert len(rows) > 1 and (rows.diff().iloc[1:] < pd.Timedelta(0)).all()
    for f in truth[truth.kind == "duplicate"].itertuples():
        rows = df[(df.tag == _tag(reg, f.asset, f.signal)) & ts.between(f.start, f.end)]
        assert len(rows) == 2 * ((f.end - f.start) // pd.Timedelta("1min") + 1)
    # default order: by time, one row per tag per sample time, stations merged
    head = df.iloc[:len(sim.tags)]
    assert (head.timestamp == "2026-03-28T00:00:00Z").all() and set(head.tag) == set(sim.tags)
    by_tag = pd.read_csv(d / "by_tag.csv", dtype={"tag": str})
    assert (by_tag.tag.iloc[:1440] == by_tag.tag.iloc[0]).all()
    key = ["timestamp", "tag", "value", "quality"]
    pd.testing.assert_frame_equal(df.sort_values(key, ignore_index=True),
                                  by_tag.sort_values(key, ignore_index=True))


def test_parquet_long_format(exports):
    d, sim, counts = exports
    pf = pq.ParquetFile(d / "long.parquet")
    schema = pf.schema_arrow
    assert schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
    assert pa.types.is_dictionary(schema.field("tag").type)
    assert schema.field("value").type == pa.float64()
    assert schema.field("quality").type in (pa.uint8(), pa.int16())
    meta = pf.metadata
    assert meta.num_rows == counts[str(d / "long.parquet")]
    assert meta.num_row_groups > 2
    for i in range(meta.num_row_groups):
        assert meta.row_group(i).num_rows <= 20_000
        assert meta.row_group(i).column(2).compression == "ZSTD"
    table = pq.read_table(d / "long.parquet").to_pandas()
    csv = pd.read_csv(d / "long.csv", dtype={"tag": str})
    np.testing.assert_array_equal(table.value.to_numpy(), csv.value.to_numpy())
    assert (table.timestamp.dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy() ==
            csv.timestamp.to_numpy()).all()
    cut = pq.read_table(d / "cut.parquet").to_pandas()
    assert cut.timestamp.min() >= pd.Timestamp("2026-03-28T06:00Z")
    assert cut.timestamp.max() < pd.Timestamp("2026-03-28T07:00Z")


def test_wide_csv_is_local_wall_time_across_dst(exports, reg):
    d, sim, _ = exports
    wide = pd.read_csv(d / "wide.csv", dtype={"timestamp": str})
    north = [t for t in sim.tags if t.startswith("NORTH.")]
    assert list(wide.columns) == ["timestamp", *north]
    assert wide.timestamp.str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    day = wide[wide.timestamp.str.startswith("2026-03-29")]
    hours = day.timestamp.str[11:13].astype(int)
    assert 2 not in set(hours)  # 02:00-03:00 does not exist on the spring-forward day
    assert wide.timestamp.iloc[0] == "2026-03-28 01:00:00"  # 00:00 UTC is 01:00 CET
    assert wide.timestamp.iloc[-1] == "2026-03-30 01:59:00"  # 23:59 UTC is 01:59 CEST
    assert wide.isna().any().any()  # dropouts and gaps are empty cells
    wp = pq.read_table(d / "wide.parquet")
    assert wp.schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
    assert wp.num_columns == 1 + len(sim.tags)


def test_truth_csv(exports):
    d, sim, counts = exports
    truth = pd.read_csv(d / "truth.csv", dtype=str, keep_default_na=False)
    assert tuple(truth.columns) == sm.TRUTH_COLUMNS
    assert len(truth) == counts[str(d / "truth.csv")] == len(sim.truth)
    assert set(truth.kind) == set(sm.FAULT_KINDS)
    read = sm.read_truth(d / "truth.csv")
    assert str(read.start.dtype) == "datetime64[us, UTC]" or read.start.dt.tz is not None
    assert isinstance(read.params.iloc[0], dict)


def test_same_seed_same_bytes_different_seed_different(reg, tmp_path):
    def run(seed, name):
        sim = sm.simulate(reg, days=1, freq="1min", seed=seed)
        paths = [tmp_path / f"{name}.parquet", tmp_path / f"{name}.csv.gz"]
        sm.write_exports(sim, paths, truth=tmp_path / f"{name}.truth.csv")
        return [_sha(p) for p in [*paths, tmp_path / f"{name}.truth.csv"]]

    a, b, c = run(1, "a"), run(1, "b"), run(2, "c")
    assert a == b
    assert all(x != y for x, y in zip(a, c, strict=True))


def test_streaming_is_lazy_and_memory_does_not_grow_with_the_span(reg, tmp_path):
    year = sm.simulate(reg, days=365, freq="1min", faults=())
    it = iter(year)
    first = next(it)
    assert first.values.shape == (len(first.tags), 1440)
    assert first.start == pd.Timestamp("2026-03-09", tz="UTC")

    def peak(days):
        sim = sm.simulate(reg, days=days, freq="1min")
        tracemalloc.start()
        sm.write_exports(sim, [tmp_path / f"m{days}.parquet", tmp_path / f"m{days}.csv"],
                         row_group_size=50_000)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    assert peak(6) < 1.5 * peak(2)


def test_sample_regenerates_byte_for_byte(tmp_path):
    a = sm.make_sample(tmp_path / "a", tmp_path / "a" / "assets.yaml")
    b = sm.make_sample(tmp_path / "b", tmp_path / "b" / "assets.yaml")
    assert sorted(a) == sorted(b)
    for key in a:
        assert _sha(a[key]) == _sha(b[key]), key
    total = sum(p.stat().st_size for p in a.values())
    assert total < 15e6
    readme = a["readme"].read_text()
    for name in sm.SAMPLE_FILES.values():
        if name != "README.md":
            assert name in readme
    committed = ROOT / "data_samples"
    if (committed / "README.md").exists():  # the bundled files are the current simulator's
        for key, path in a.items():
            repo_path = committed / path.name if key != "registry" else \
                ROOT / "catalogs" / "assets.yaml"
            assert _sha(repo_path) == _sha(path), f"{repo_path} is stale: run " \
                "`python -m pumplib.simulate sample`"


# -- arguments and errors ---------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "error"), [
    ({"faults": ("stuk",)}, UnknownNameError),
    ({"faults": {"spike": -1}}, ConfigError),
    ({"freq": "7s"}, ConfigError),
    ({"freq": "2h"}, ConfigError),
    ({"freq": "0.5s"}, ConfigError),
    ({"stations": ("NORHT",)}, UnknownNameError),
    ({"signals": ("flw",)}, UnknownNameError),
    ({"days": 0}, ConfigError),
])
def test_bad_arguments_raise_clear_errors(reg, kwargs, error):
    with pytest.raises(error) as info:
        sm.simulate(reg, **kwargs)
    assert isinstance(info.value, PumplibError)
    if error is UnknownNameError:
        assert "Did you mean" in str(info.value)


def test_registry_without_a_tank_is_refused(spec):
    broken = json.loads(json.dumps(spec))
    broken["stations"][0]["assets"] = [a for a in broken["stations"][0]["assets"]
                                       if a["kind"] != "tank"]
    with pytest.raises(SchemaError, match="needs a tank"):
        sm.simulate(broken)
    with pytest.raises(ConfigError, match="cannot infer"):
        _ = sm.Export("x.txt").resolved_format


def test_cli_export(tmp_path, capsys):
    out = tmp_path / "x.parquet"
    assert sm.main(["export", str(out), "--days", "1", "--freq", "10min", "--faults", "none",
                    "--truth", str(tmp_path / "t.csv")]) == 0
    assert pq.read_metadata(out).num_rows == 144 * 47
    assert "rows" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "t.csv").empty
