"""Declared signals and asset kinds used end to end: a district metered area (DMA)
and a weather station with rainfall and air temperature beside the pumps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pumplib import signals as _signals
from pumplib.assets import AssetRegistry

from .conftest import small_registry_dict

CATALOG = Path(__file__).resolve().parents[1] / "catalogs" / "features"
START = pd.Timestamp("2026-03-02 00:00")          # UTC, a Monday
N = 2 * 1440                                      # two days of minutes


def vocabulary_registry_dict() -> dict:
    """The small test registry plus declared signals, asset kinds, a DMA and a weather station."""
    spec = small_registry_dict()
    spec["stations"][0]["assets"][0]["signals"].update({      # N-P1 gets every pump signal
        "suction_pressure": {"tag": "N.P1.PS", "unit": "bar"},
        "speed": {"tag": "N.P1.SPD", "unit": "rpm"}})
    spec["signals"] = {
        "rainfall": {"unit": "mm", "long_name": "Rainfall in the minute", "kind": "continuous",
                     "interpolation": "step", "valid_min": 0},
        "air_temperature": {"unit": "degC", "long_name": "Air temperature"},
    }
    spec["asset_kinds"] = {"dma": {"name": "District metered area"},
                           "weather_station": {"name": "Weather station"}}
    spec["stations"][0]["assets"] += [
        {"id": "DMA-1", "kind": "dma", "name": "Old town DMA", "signals": {
            "flow": {"tag": "DMA1.INFLOW", "unit": "m3/h"},
            "rainfall": {"tag": "RAIN_MM", "unit": "mm"}}},
        {"id": "WS-1", "kind": "weather_station", "signals": {
            "air_temperature": {"tag": "AIR_T", "unit": "degF"}}},
    ]
    return spec


@pytest.fixture
def vocab_registry(tmp_path):
    """The registry written as YAML and loaded from the file; its declarations dropped after."""
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(vocabulary_registry_dict(), sort_keys=False))
    reg = AssetRegistry.load(path)
    yield reg
    _signals.forget(reg.source)


def _wide_csv(path: Path) -> pd.DataFrame:
    """Two days of minutes: two pumps cycling, DMA inflow, rain showers, a daily temperature."""
    rng = np.random.default_rng(7)
    t = pd.date_range(START, periods=N, freq="1min")
    minute = np.arange(N)
    on1 = ((minute // 90) % 2 == 0).astype(float)       # N-P1: 90 min on, 90 off
    on2 = ((minute // 120) % 3 == 0).astype(float)
    rain = np.where((minute % 600) < 30, 0.2, 0.0)
    rain[100] = 80.0                                    # out of the declared quality range
    air_f = 50 + 9 * np.sin(2 * np.pi * minute / 1440)
    frame = pd.DataFrame({
        "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "N.P1.FLOW": on1 * (52 + rng.normal(0, 0.5, N)),        # L/s
        "N.P1.PD": on1 * 55 + 5,                                 # psi
        "N.P1.PS": np.full(N, 0.5),                              # bar
        "N.P1.SPD": on1 * 1480,
        "N.P1.KW": on1 * (28 + rng.normal(0, 0.3, N)),
        "N.P1.RUN": on1,
        "N.P2.FLOW": on2 * 180,
        "N.P2.KW": on2 * 27,
        "DMA1.INFLOW": 120 + 30 * np.sin(2 * np.pi * minute / 1440),
        "RAIN_MM": rain,
        "AIR_T": air_f.round(2),
    })
    frame.to_csv(path, index=False)
    return frame


def test_declared_signals_join_the_one_vocabulary(vocab_registry):
    rain = _signals.get("rainfall")
    assert (rain.unit, rain.long_name, rain.interpolation, rain.valid_min) == (
        "mm", "Rainfall in the minute", "step", 0.0)
    assert rain.source == vocab_registry.source
    assert "air_temperature" in _signals.signals() and "flow" in _signals.signals()
    assert vocab_registry.signal("air_temperature").attrs()["units"] == "degC"
    assert set(vocab_registry.signals) == {"rainfall", "air_temperature"}
    assert vocab_registry.asset_kinds["dma"] == "District metered area"
    assert [a.id for a in vocab_registry.of_kind("dma")] == ["DMA-1"]
    assert [a.id for a in vocab_registry.pumps()] == ["N-P1", "N-P2"]
    assert not vocab_registry.asset("DMA-1").is_pump
    assert vocab_registry.to_frame().loc["WS-1", "kind"] == "weather_station"
    # the same registry loaded again (an edited file) replaces its own declarations
    _signals.forget(vocab_registry.source)
    with pytest.raises(KeyError, match="unknown signal 'rainfall'"):
        _signals.get("rainfall")


def test_a_second_registry_may_repeat_a_declaration_but_not_change_it(vocab_registry):
    same = vocabulary_registry_dict()
    reg = AssetRegistry.from_dict(same, source="same.yaml")
    try:
        assert _signals.get("rainfall").unit == "mm"
    finally:
        _signals.forget(reg.source)
    other = vocabulary_registry_dict()
    other["signals"]["rainfall"]["unit"] = "m"
    other["stations"][0]["assets"][3]["signals"]["rainfall"]["unit"] = "m"
    with pytest.raises(Exception, match=r"other.yaml: key 'signals.rainfall': signal 'rainfall' "
                                        r"\[m, continuous, step\] is declared by .*registry.yaml "
                                        r"as \[mm, continuous, step\]") as err:
        AssetRegistry.from_dict(other, source="other.yaml")
    assert type(err.value).__name__ == "SchemaError"
    assert _signals.get("rainfall").unit == "mm"


def test_dma_and_weather_station_end_to_end(vocab_registry, tmp_path):
    """Ingest a wide CSV with the declared tags, read them back with units, query the
    rainfall, run a range rule on it and build features: pump-only features skip the DMA."""
    from pumplib.features import build_lake, load_catalog
    from pumplib.ingest import ingest
    from pumplib.lake import Lake
    from pumplib.quality import Flag, Rules, evaluate
    from pumplib.query import query_raw, select_assets, to_frame
    from pumplib.ui.charts import _label

    csv = tmp_path / "export.csv"
    src = _wide_csv(csv)
    store = str(tmp_path / "store")
    res = ingest(csv, "wide_csv", store=store, registry=vocab_registry, progress=False)
    rep = res.files[0]
    assert rep.status != "failed" and rep.rows_quarantined == 0
    assert {"rainfall", "air_temperature", "flow"} <= set(rep.signals)

    ds = Lake(store).open_raw("1min")
    assert set(map(str, ds.asset.values)) >= {"DMA-1", "WS-1", "N-P1", "N-P2"}
    assert ds.rainfall.attrs["units"] == "mm" and ds.rainfall.attrs["interpolation"] == "step"
    assert ds.rainfall.attrs["long_name"] == "Rainfall in the minute"
    assert ds.air_temperature.attrs["units"] == "degC"
    rain = ds.rainfall.sel(asset="DMA-1").values[:N]
    np.testing.assert_allclose(rain, src["RAIN_MM"].to_numpy())
    air = ds.air_temperature.sel(asset="WS-1").values[:N]
    np.testing.assert_allclose(air, (src["AIR_T"].to_numpy() - 32) * 5 / 9, atol=1e-4)
    assert np.isnan(ds.rainfall.sel(asset="N-P1").values).all()   # pumps have no rain gauge

    # query and selection of the declared signal and kinds
    assert select_assets(kind="dma", registry=vocab_registry) == ["DMA-1"]
    assert select_assets("kind:weather_station", registry=vocab_registry) == ["WS-1"]
    q = query_raw("rainfall", assets="DMA-1", store=store, registry=vocab_registry)
    frame = to_frame(q, timezone="UTC")
    assert frame.attrs["units"] == {"rainfall": "mm"}
    assert frame["rainfall"].sum() == pytest.approx(src["RAIN_MM"].sum())
    assert _label("rainfall", q.rainfall.attrs) == "Rainfall in the minute [mm]"

    # quality: a range rule names the declared signal
    rules = Rules.from_dict({"version": 1, "signals": {
        "rainfall": {"range": {"min": 0, "max": 50}},
        "air_temperature": {"range": {"min": -40, "max": 50}}}})
    flags = evaluate(ds.isel(time=slice(0, N)), rules, vocab_registry).compute()
    rain_flags = flags.rainfall.sel(asset="DMA-1").values
    assert rain_flags[100] & Flag.RANGE
    assert not (np.delete(rain_flags, 100) & Flag.RANGE).any()
    assert not (flags.air_temperature.sel(asset="WS-1").values & Flag.RANGE).any()

    # features: the project's catalog builds; pump-only features are NaN for the DMA
    snap = build_lake(Lake(store), load_catalog(str(CATALOG)), ["1h", "1D"],
                      registry=vocab_registry, timezone="UTC", quality=False)
    assert snap is not None
    day = Lake(store).open_group("features/1D").compute()
    pump_only = ("wire_to_water_efficiency_mean", "bep_flow_ratio_mean", "starts_starts",
                 "runtime_duration", "specific_energy_mean", "time_near_bep_duration",
                 "hydraulic_power_mean", "energy_integral")
    for name in pump_only:
        assert np.isfinite(day[name].sel(asset="N-P1").values).all(), name
        for other in ("DMA-1", "WS-1"):
            assert np.isnan(day[name].sel(asset=other).values).all(), (name, other)
    eff = float(day.wire_to_water_efficiency_mean.sel(asset="N-P1").values[0])
    assert 0.5 < eff < 0.8                                  # ~19 kW to the water of ~28 kW


def test_configured_registry_declares_its_signals_on_first_use(tmp_path):
    """A rules file naming a declared signal works before any registry was opened: the
    configured registry (setting assets.registry) is read on first use, and re-read when the
    file changes; a broken configured registry only means no declared signals here."""
    from pumplib import config
    from pumplib.quality import Rules

    path = tmp_path / "assets.yaml"
    spec = vocabulary_registry_dict()
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    source = str(path.resolve())
    try:
        with config.set({"assets.registry": str(path)}):
            rules = Rules.from_dict({"version": 1, "signals": {"rainfall": {"range": {"min": 0}}}})
            assert rules.spec["signals"]["rainfall"]["range"] == {"min": 0}
            assert _signals.get("rainfall").source == source
            del spec["signals"]["air_temperature"]
            spec["stations"][0]["assets"].pop()                     # WS-1 measured it
            path.write_text(yaml.safe_dump(spec, sort_keys=False) + "\n# edited\n")
            assert "air_temperature" not in _signals.signals()
            assert _signals.get("rainfall").unit == "mm"
            path.write_text("stations: [")                          # broken: reported on load
            assert "rainfall" not in _signals.signals()
    finally:
        _signals.forget(source)


def test_readme_example_is_a_valid_registry():
    """The registry fragment of docs/registry.md (once in the README), completed with a
    utility and a tariff, loads."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "docs" / "registry.md").read_text()
    section = readme.split("## Declared signals and asset kinds", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    spec = yaml.safe_load(block)
    spec.update(version=1, utility={"id": "u", "timezone": "UTC"},
                tariffs={"flat": {"default_price": 0.2}})
    spec["stations"][0]["tariff"] = "flat"
    reg = AssetRegistry.from_dict(spec, source="README.md")
    try:
        assert reg.asset("DMA-OLDTOWN").kind == "dma" and reg.pumps() == []
        assert reg.tag("AIR_T").signal == "air_temperature"
        assert _signals.get("rainfall").interpolation == "step"
    finally:
        _signals.forget("README.md")


@pytest.mark.parametrize(("text", "want"), [
    ("version: 1\nutility: {id: u, timezone: UTC}\ntariffs: {}\nstations: 5\n",
     "line 4: key 'stations': must be a list of stations (mappings with id, tariff and assets), "
     "got 5 (int)"),
    ("version: 1\nutility: {id: u, timezone: UTC}\ntariffs: a: b\nstations: []\n",
     ", line 3, column 11: not valid YAML: mapping values are not allowed here"),
    ("version: 1\nutility: {id: u, timezone: UTC}\ntariffs: {}\nstations: []\n"
     "signals: {rainfall: {unit: furlongs/fortnite}}\n", "key 'signals.rainfall.unit': unknown unit"),
    ("version: 1\nutility: {id: u, timezone: UTC}\ntariffs: {}\nstations: []\n"
     "asset_kind: [dma]\n", "key 'asset_kind': unknown key 'asset_kind'. Did you mean "
                            "'asset_kinds'"),
])
def test_cli_malformed_registry_is_one_line_exit_2(tmp_path, text, want):
    from typer.testing import CliRunner

    from pumplib.cli import app

    reg = tmp_path / "registry.yaml"
    reg.write_text(text)
    csv = tmp_path / "a.csv"
    csv.write_text("timestamp,RAIN_MM\n2026-03-02T00:00:00Z,0.2\n")
    res = CliRunner().invoke(app, ["ingest", str(csv), "--format", "wide_csv", "--store",
                                   str(tmp_path / "store"), "--registry", str(reg)])
    assert res.exit_code == 2, res.output
    lines = res.stderr.splitlines()
    assert lines[0].startswith(f"error: {reg.resolve()}") and want in lines[0], res.stderr
    assert len(lines) == 1 or "not valid YAML" in lines[0], res.stderr   # a caret may follow
    assert "Traceback" not in res.output + res.stderr
    assert not (tmp_path / "store").exists()                 # nothing created


def test_cli_validate_rules_naming_a_signal_the_given_registry_declares(vocab_registry,
                                                                       tmp_path):
    """`pumplib validate --registry R --rules F` in a fresh process: R is read before F,
    so F may name the signals R declares (the configured registry declares none)."""
    import subprocess
    import sys

    from pumplib.ingest import ingest
    from pumplib.lake import Lake
    from pumplib.quality import Flag, open_quality

    csv = tmp_path / "export.csv"
    _wide_csv(csv)
    store = str(tmp_path / "store")
    ingest(csv, "wide_csv", store=store, registry=vocab_registry, progress=False)
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nsignals:\n  rainfall:\n    range: {min: 0, max: 50}\n")
    res = subprocess.run([sys.executable, "-m", "pumplib", "validate", "--store", store,
                          "--registry", vocab_registry.source, "--rules", str(rules)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lake = Lake(store)
    flags = open_quality(lake, "1min", like=lake.open_raw("1min"))
    rain = flags.rainfall.sel(asset="DMA-1").values
    assert rain[100] & int(Flag.RANGE) and not (rain[101] & int(Flag.RANGE))
