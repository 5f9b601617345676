"""pumplib.query: callable module, feature expansion, asset selection, automatic level, CLI."""

from __future__ import annotations

import doctest
import io

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import pumplib
from pumplib.errors import ArgumentError, NoDataWarning, UnknownNameError


@pytest.fixture(scope="module")
def reg():
    from pumplib.assets import AssetRegistry
    from pumplib.simulate import make_registry

    spec = make_registry(n_stations=2, pumps_per_station=(3, 2))
    spec["stations"][0]["assets"][1]["tags"] = ["critical"]
    spec["stations"][1]["tags"] = ["south-zone"]
    return AssetRegistry.from_dict(spec)


def test_module_is_callable_and_helpers_live_on_it():
    import pumplib.query as q

    assert callable(pumplib.query) and pumplib.query is q
    assert pumplib.query.select_assets is q.select_assets


def test_doctests():
    import pumplib.query as q

    res = doctest.testmod(q, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted >= 8


def test_select_assets_by_id_station_type_tag_and_phrase(reg):
    sel = pumplib.query.select_assets
    assert sel("N-P2", registry=reg) == ["N-P2"]
    assert sel("NORTH", registry=reg) == ["N-P1", "N-P2", "N-P3", "N-T1"]
    assert sel("north", kind="pump", registry=reg) == ["N-P1", "N-P2", "N-P3"]
    assert sel("variable_speed", registry=reg) == ["N-P1", "S-P1"]
    assert sel("variable-speed pumps at NORTH", registry=reg) == ["N-P1"]
    assert sel("all fixed-speed pumps in south", registry=reg) == ["S-P2"]
    assert sel("tag:critical", registry=reg) == ["N-P2"]
    assert sel("south-zone", kind="pump", registry=reg) == ["S-P1", "S-P2"]
    assert sel(["S-P2", "N-P1"], registry=reg) == ["N-P1", "S-P2"]   # registry order
    assert sel(None, pump_type="fixed_speed", station="SOUTH", registry=reg) == ["S-P2"]
    with pytest.raises(UnknownNameError, match=r"unknown asset 'N-P9'.*Did you mean.*'N-P1'"):
        sel("N-P9", registry=reg)
    with pytest.raises(UnknownNameError, match="unknown station 'east'.*'NORTH', 'SOUTH'"):
        sel("pumps at EAST", registry=reg)
    with pytest.raises(UnknownNameError, match="pump type"):
        sel(None, pump_type="turbo", registry=reg)
    with pytest.raises(KeyError):          # UnknownNameError is also a KeyError
        sel("tag:nope", registry=reg)


def test_choose_level_bounds_points():
    cl = pumplib.query.choose_level
    assert cl("2026-03-01", "2026-03-02") == "1min"
    assert cl("2026-03-01", "2026-04-01") == "15min"
    assert cl("2026-03-01", "2026-04-01", max_points=1000) == "1h"
    assert cl("2025-01-01", "2026-01-01", max_points=400) == "1D"
    assert cl("2000-01-01", "2026-01-01", max_points=10) == "1M"
    with pytest.raises(ArgumentError, match="not after"):
        cl("2026-03-02", "2026-03-01")
    with pytest.raises(ArgumentError, match="max_points"):
        cl("2026-03-01", "2026-03-02", max_points=0)


def test_feature_columns_expand_and_suggest():
    cols = ["energy_integral", "energy_mean", "energy_coverage", "runtime_duration",
            "runtime_coverage"]
    fc = pumplib.query.feature_columns
    assert fc("energy", cols) == ["energy_integral", "energy_mean", "energy_coverage"]
    assert fc(["runtime_duration", "energy_mean"], cols) == ["runtime_duration", "energy_mean"]
    with pytest.raises(UnknownNameError, match="Did you mean 'runtime'"):
        fc("runtim", cols)
    with pytest.raises(ArgumentError):
        fc([], cols)


def test_to_frame_long_and_wide():
    t = pd.date_range("2026-03-10", periods=3, freq="1h")
    ds = xr.Dataset({"a": (("asset", "time"), np.arange(6.0).reshape(2, 3), {"units": "kWh"})},
                    coords={"asset": ["P1", "P2"], "time": t}, attrs={"timezone": "UTC"})
    long = pumplib.query.to_frame(ds)
    assert list(long.columns) == ["time", "asset", "a"] and len(long) == 6
    t_utc = t.tz_localize("UTC")
    assert long.loc[(long.asset == "P2") & (long.time == t_utc[1]), "a"].item() == 4.0
    assert long.attrs["units"] == {"a": "kWh"} and long.attrs["timezone"] == "UTC"
    wide = pumplib.query.to_frame(ds, wide=True)
    assert wide[("a", "P1")].tolist() == [0.0, 1.0, 2.0]
    assert wide.index.equals(t_utc.rename("time"))


def test_query_on_sample_lake(demo_store, demo_registry):
    ds = pumplib.query("energy", assets="NORTH", level="1D", start="2026-03-10",
                       end="2026-03-17", store=demo_store, registry=demo_registry)
    assert set(ds.data_vars) == {"energy_integral", "energy_mean", "energy_max",
                                 "energy_coverage"}
    assert list(ds["asset"].values) == ["N-P1", "N-P2", "N-P3", "N-T1"]
    # naive times are the utility's local days: 10 March local starts 09 Mar 23:00 UTC
    assert ds["time"].values[0] == np.datetime64("2026-03-09T23:00")
    assert ds.sizes["time"] == 7
    assert ds.energy_integral.chunks is not None           # lazy (dask) until asked
    # daily energy equals the sum of the hourly energy of the same local day
    h = pumplib.query("energy_integral", assets=["N-P2"], level="1h", start="2026-03-12",
                      end="2026-03-13", store=demo_store, registry=demo_registry)
    d = float(ds.energy_integral.sel(asset="N-P2").isel(time=2))
    assert h.sizes["time"] == 24
    assert float(h.energy_integral.sum()) == pytest.approx(d, rel=1e-9)
    frame = pumplib.query.to_frame(ds)
    assert len(frame) == 4 * 7 and {"time", "asset", "energy_integral"} <= set(frame)


def test_query_auto_level_and_errors(demo_store, demo_registry):
    kw = {"store": demo_store, "registry": demo_registry}
    ds = pumplib.query(["energy_integral"], assets="variable-speed pumps", start="2026-03-10",
                       end="2026-03-11", **kw)
    assert ds.attrs["level"] == "1min" and ds.attrs["level_chosen"] == "auto"
    assert list(ds["asset"].values) == ["N-P1", "S-P1"] and ds.sizes["time"] == 1440
    ds = pumplib.query("energy_integral", max_points=100, **kw)          # whole span
    assert ds.attrs["level"] == "1D" and ds.sizes["time"] <= 100
    with pytest.raises(UnknownNameError, match="Did you mean 'energy'"):
        pumplib.query("enrgy", level="1D", **kw)
    with pytest.raises(UnknownNameError, match="unknown level '2h'.*'1h'"):
        pumplib.query("energy", level="2h", **kw)
    with pytest.raises(UnknownNameError, match="N-P3"):
        pumplib.query("energy", assets="N-P4", level="1D", **kw)
    with pytest.raises(ArgumentError, match="not after"):
        pumplib.query("energy", level="1D", start="2026-03-12", end="2026-03-10", **kw)


def test_query_raw_and_point_in_time(demo_store, demo_registry):
    from pumplib.lake import Lake

    raw = pumplib.query.query_raw("power", "S-P1", "2026-03-09T01:00", "2026-03-09T02:00",
                                  cadence="1s", store=demo_store, timezone="UTC")
    assert raw.sizes == {"asset": 1, "time": 3600}
    first = Lake(demo_store).log()[-2].snapshot          # the first ingest: no golden table
    with pytest.raises(UnknownNameError, match="no golden table"):
        pumplib.query("energy", level="1D", snapshot=first, store=demo_store)


def test_cli_query_csv_parquet_and_errors(demo_store, tmp_path):
    from typer.testing import CliRunner

    from pumplib.cli import app

    r = CliRunner().invoke(app, ["query", "energy_integral", "--assets", "N-P1,N-P2",
                                 "--level", "1D", "--start", "2026-03-10", "--end", "2026-03-12",
                                 "--format", "csv", "--store", demo_store])
    assert r.exit_code == 0, r.output
    csv = r.stdout[r.stdout.index("time,asset"):]
    frame = pd.read_csv(io.StringIO(csv))
    assert list(frame.columns) == ["time", "asset", "energy_integral"] and len(frame) == 4
    out = tmp_path / "q.parquet"
    r = CliRunner().invoke(app, ["query", "runtime", "--assets", "pumps at SOUTH", "--start",
                                 "2026-03-10", "--end", "2026-03-11", "--format", "parquet",
                                 "--output", str(out), "--store", demo_store])
    assert r.exit_code == 0, r.output
    pq = pd.read_parquet(out)
    assert set(pq["asset"]) == {"S-P1", "S-P2"} and "runtime_duration" in pq
    r = CliRunner().invoke(app, ["query", "enrgy", "--store", demo_store])
    assert r.exit_code == 2 and "Did you mean 'energy'" in r.output
    r = CliRunner().invoke(app, ["query", "energy", "--format", "xlsx", "--store", demo_store])
    assert r.exit_code == 2 and "'parquet'" in r.output


def test_query_a_definition_version(demo_store, demo_registry):
    kw = {"level": "1D", "start": "2026-03-10", "end": "2026-03-12", "store": demo_store,
          "registry": demo_registry, "assets": ["N-P1"]}
    now = pumplib.query("energy", **kw).compute()
    v1 = pumplib.query("energy", version=1, **kw).compute()
    assert list(v1.data_vars) == list(now.data_vars)
    np.testing.assert_array_equal(v1.energy_integral.values, now.energy_integral.values)


# --- local time, units and headers, empty results, good(), level suggestions ---------------
AMS = "Europe/Amsterdam"


def test_to_frame_labels_periods_in_local_time_with_zone(demo_store, demo_registry):
    kw = {"store": demo_store, "registry": demo_registry}
    ds = pumplib.query("energy_integral", assets=["N-P1"], level="1D", start="2026-03-10",
                       end="2026-03-31", **kw)
    frame = pumplib.query.to_frame(ds)
    assert str(frame["time"].dt.tz) == AMS and frame.attrs["timezone"] == AMS
    # the local day 10 March is labelled 10 March, with its offset
    assert frame["time"].iloc[0] == pd.Timestamp("2026-03-10", tz=AMS)
    assert str(frame["time"].iloc[0]) == "2026-03-10 00:00:00+01:00"
    # days follow the local calendar through the change to summer time (29 March)
    assert [str(t) for t in frame["time"].iloc[-3:]] == [
        "2026-03-28 00:00:00+01:00", "2026-03-29 00:00:00+01:00", "2026-03-30 00:00:00+02:00"]
    assert (frame["time"] == frame["time"].dt.normalize()).all()
    assert frame.attrs["units"] == {"energy_integral": "kWh"}
    utc = pumplib.query.to_frame(ds, timezone="UTC")
    assert utc["time"].iloc[0] == pd.Timestamp("2026-03-09 23:00", tz="UTC")
    wide = pumplib.query.to_frame(ds, wide=True)
    assert wide.index[0] == pd.Timestamp("2026-03-10", tz=AMS)
    one = pumplib.query.to_frame(ds["energy_integral"].astype("float64"))   # a DataArray
    assert one["time"].iloc[0] == pd.Timestamp("2026-03-10", tz=AMS)
    # CSV keeps the zone's offset
    from typer.testing import CliRunner

    from pumplib.cli import app

    r = CliRunner().invoke(app, ["query", "energy_integral", "--assets", "N-P1", "--level", "1D",
                                 "--start", "2026-03-10", "--end", "2026-03-11", "--format",
                                 "csv", "--store", demo_store])
    assert r.exit_code == 0, r.output
    assert "2026-03-10 00:00:00+01:00,N-P1," in r.stdout


@pytest.mark.parametrize("start", ["2026-03-10", "2026-03-10T00:00", "2026-03-09T23:00Z",
                                   "2026-03-10T00:00+01:00"])
def test_query_start_takes_local_dates(demo_store, demo_registry, start):
    import datetime as dt

    kw = {"store": demo_store, "registry": demo_registry, "assets": ["N-P1"], "level": "1D"}
    ds = pumplib.query("energy_integral", start=start, end="2026-03-12", **kw)
    assert ds["time"].values[0] == np.datetime64("2026-03-09T23:00") and ds.sizes["time"] == 2
    for day in (dt.date(2026, 3, 10), dt.datetime(2026, 3, 10), pd.Timestamp("2026-03-10")):
        ds = pumplib.query("energy_integral", start=day, end=dt.date(2026, 3, 12), **kw)
        assert ds["time"].values[0] == np.datetime64("2026-03-09T23:00")
        assert ds.sizes["time"] == 2
    # timezone="UTC" reads naive times as UTC
    ds = pumplib.query("energy_integral", start="2026-03-09T23:00", end="2026-03-11T23:00",
                       timezone="UTC", **kw)
    assert ds["time"].values[0] == np.datetime64("2026-03-09T23:00") and ds.sizes["time"] == 2


def test_auto_level_without_range_covers_the_whole_span(demo_store, demo_registry):
    # the data's span is UTC: it must not be read as local wall time (which cut the last hour)
    s0, e0 = pumplib.query.time_span(demo_store, "1h")
    ds = pumplib.query("energy_integral", assets=["N-P1"], store=demo_store,
                       registry=demo_registry)
    assert ds.attrs["level_chosen"] == "auto"
    assert pd.Timestamp(ds["time"].values[0]) == s0
    assert pd.Timestamp(ds["time_end"].values[-1]) == e0


def _header_blocks(text: str) -> list[list[str]]:
    """Each rendered table's column headers, their lines joined (rich's heavy-head box)."""
    tables: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("┏"):
            tables.append([])
        elif line.startswith("┃"):
            cells = [c.strip() for c in line.strip()[1:-1].split("┃")]
            if not tables[-1]:
                tables[-1] = [""] * len(cells)
            tables[-1] = [h + c for h, c in zip(tables[-1], cells, strict=True)]
    return tables


def test_cli_table_local_time_units_and_distinct_headers_at_80_columns(demo_store):
    from typer.testing import CliRunner

    from pumplib.cli import app

    r = CliRunner(env={"COLUMNS": "80"}).invoke(
        app, ["query", "specific_energy", "--assets", "N-P1,N-P2", "--level", "1D", "--start",
              "2026-03-10", "--end", "2026-03-12", "--store", demo_store])
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    heads = [h for block in _header_blocks(text) for h in block]
    want = {f"specific_energy_{a}[kWh/m3]" for a in ("max", "mean", "min")}
    assert want | {"specific_energy_coverage[-]", "timeEurope/Amsterdam", "asset"} == set(heads)
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert rows[0].split("│")[1].strip() == "2026-03-10"          # the local day, not 09 23:00
    assert "23:00" not in text


def test_render_tables_never_cut_or_repeat_a_header():
    from rich.console import Console

    from pumplib.commands.query import render_tables

    t = pd.date_range("2026-10-25 00:00", periods=3, freq="1h", tz="UTC").tz_convert(AMS)
    aggs = ["integral", "mean", "max", "min", "std", "coverage"]
    frame = pd.DataFrame({"time": t, "asset": "N-P1", **{
        f"normalised_specific_energy_{a}": [0.123456, np.nan, 12345.678] for a in aggs}})
    frame.attrs = {"units": {f"normalised_specific_energy_{a}": "kWh/m3" for a in aggs},
                   "timezone": AMS, "level": "1h"}
    for width in (80, 60, 40):
        console = Console(width=width, record=True)
        console.print(*render_tables(frame, width=width))
        text = console.export_text()
        assert "…" not in text, text
        blocks = _header_blocks(text)
        heads = [h for block in blocks for h in block if h not in ("asset",)
                 and not h.startswith("time")]
        assert sorted(heads) == sorted(f"normalised_specific_energy_{a}[kWh/m3]" for a in aggs)
        assert all(b[:2] == ["timeEurope/Amsterdam", "asset"] for b in blocks)
    # the repeated hour of the change to winter time is told apart by the zone
    assert "02:00 CEST" in text and "02:00 CET" in text and "–" in text


def test_empty_range_warns_with_the_range_that_has_data(demo_store, demo_registry):
    kw = {"store": demo_store, "registry": demo_registry}
    first, last = (pd.Timestamp(x).tz_localize("UTC").tz_convert(AMS).strftime("%Y-%m-%d")
                   for x in pumplib.query._open_level("1D", demo_store)["time"].values[[0, -1]])
    with pytest.warns(NoDataWarning, match=rf"no 1D period starts between 2027-01-01 and "
                      rf"2027-02-01 \(Europe/Amsterdam, end excluded\); the 1D table's periods "
                      rf"start from {first} to {last}"):
        ds = pumplib.query("energy", assets="NORTH", level="1D", start="2027-01-01",
                           end="2027-02-01", **kw)
    assert ds.sizes["time"] == 0
    with pytest.warns(NoDataWarning, match="no 1min period starts before 2026-03-01"):
        pumplib.query("energy_integral", assets="N-P1", level="1min", end="2026-03-01", **kw)
    # periods without a value: why, and the days that have values, per asset
    ds = pumplib.query("energy", assets=["N-T1"], level="1D", start="2026-03-10",
                       end="2026-03-12", **kw)
    with pytest.warns(NoDataWarning, match=r"no values of energy_integral.*for N-T1 in the 2 1D "
                      r"periods from 2026-03-10 to 2026-03-11.*days with values: N-T1 none"):
        frame = pumplib.query.to_frame(ds)
    assert len(frame) == 2
    ds = pumplib.query("energy", assets=["N-P1"], level="1M", **kw)
    with pytest.warns(NoDataWarning, match=r"coverage \(share of good samples\) reaches only "
                      r"0\.\d+, below min_coverage 0\.8; days with values: N-P1 2026-03-"):
        pumplib.query.to_frame(ds)


def test_cli_empty_range_says_why_in_one_line_and_exits_1(demo_store):
    from typer.testing import CliRunner

    from pumplib.cli import app

    for fmt in ("table", "csv"):
        r = CliRunner().invoke(app, ["query", "energy", "--assets", "NORTH", "--level", "1D",
                                     "--start", "2027-01-01", "--end", "2027-02-01", "--format",
                                     fmt, "--store", demo_store])
        assert r.exit_code == 1, r.output
        assert r.stdout == ""
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("no data: no 1D period starts between "
                                                        "2027-01-01 and 2027-02-01")
        assert "the 1D table's periods start from 2026-03-" in lines[0]


def test_good_on_a_query_result_says_what_it_is_for(demo_store, demo_registry):
    import pumplib.accessor  # noqa: F401

    ds = pumplib.query("energy", assets=["N-P1"], level="1D", start="2026-03-10",
                       end="2026-03-12", store=demo_store, registry=demo_registry)
    with pytest.raises(ArgumentError, match=r"masks raw samples.*golden-table result \(level "
                       r"1D\).*energy_coverage.*query_raw\(\.\.\., good=True\)") as err:
        ds.pump.good()
    assert "\n" not in str(err.value) and "cadence" not in str(err.value)
    # raw signals keep working
    raw = pumplib.query.query_raw("power", "S-P1", "2026-03-10T01:00", "2026-03-10T01:10",
                                  cadence="1s", store=demo_store)
    assert raw.pump.good().sizes == raw.sizes


def test_level_in_the_wrong_case_suggests_the_right_one(demo_store):
    with pytest.raises(UnknownNameError, match=r"unknown level '1d'\. Did you mean '1D'"):
        pumplib.query("energy", level="1d", store=demo_store)
    with pytest.raises(UnknownNameError, match=r"Did you mean '1M', '1min'"):
        pumplib.query("energy", level="1m", store=demo_store)
    from typer.testing import CliRunner

    from pumplib.cli import app

    r = CliRunner().invoke(app, ["query", "energy", "--level", "1d", "--store", demo_store])
    assert r.exit_code == 2 and "Did you mean '1D'" in r.output
