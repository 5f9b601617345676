"""A full build in spans of days (pumplib.features.stream): same tables, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from pumplib import config
from pumplib.assets import AssetRegistry
from pumplib.features.builder import build_lake, history
from pumplib.features.stream import stream_spans
from pumplib.lake import Lake

ASSETS = ["N-P1", "N-P2", "S-P1"]
SIGNALS = [("power", 0, 90), ("flow", 0, 300), ("run_state", 0, 1),
           ("suction_pressure", 1, 2), ("discharge_pressure", 3, 6), ("speed", 0, 1500)]
START = "2026-03-23T00:00Z"          # the spans cross the switch to summer time (29 Mar)


def _raw_lake(path, days: int, seed: int = 0, assets=ASSETS, gap: bool = False) -> Lake:
    """Random 1-minute data; with ``gap`` the first pump's run state is unknown from the
    first local day's last hours through the second day, then on, off before: a start
    whose state before lies before the day that precedes it."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    lake = Lake(str(path), create=True)
    with lake.transaction("raw") as tx:
        for sig, lo, hi in SIGNALS:
            x = rng.uniform(lo, hi, (len(assets), n))
            if sig == "run_state":
                x = (x > 0.3).astype(float)
                if gap:
                    x[0, 1200:1380] = 0.0           # off at the end of the first local day
            x[:, rng.integers(0, n, 200)] = np.nan
            if gap and sig == "run_state":
                x[0, 1380:2900] = np.r_[np.full(2820 - 1380, np.nan), np.ones(80)]
            tx.write_block("1min", assets, sig, int(pd.Timestamp(START).timestamp()), x)
    return lake


@pytest.fixture(scope="module")
def registry():
    from pathlib import Path

    return AssetRegistry.load(Path(__file__).resolve().parents[1] / "catalogs" / "assets.yaml")


def test_spans_are_whole_local_days_of_the_pump_day_budget():
    t0 = int(pd.Timestamp("2026-03-27T05:00Z").timestamp())
    end = t0 + 5 * 86400
    spans = stream_spans(t0, end, n_assets=3, pump_days=6, timezone="Europe/Amsterdam")
    local = [pd.Timestamp(s, unit="s", tz="UTC").tz_convert("Europe/Amsterdam") for s, _ in spans]
    assert spans[0][0] == t0 and spans[-1][1] == end
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert all((t.hour, t.minute) == (0, 0) for t in local[1:])   # cut at local midnight
    assert [d.day for d in local] == [27, 29, 31]                  # 2 days of 3 pumps each
    assert stream_spans(t0, end, 3, pump_days=0) == [(t0, end)]   # 0: off
    assert stream_spans(t0, end, 3, pump_days=1000) == [(t0, end)]
    assert len(stream_spans(t0, end, 500, pump_days=6)) == 6       # at least a day each


@pytest.mark.parametrize("one_day_blocks", [False, True])
def test_streamed_build_equals_one_build_and_commits_per_span(tmp_path, registry, monkeypatch,
                                                              one_day_blocks):
    """Later spans are built on day blocks (never declined here). With one-day blocks the
    first span's last block holds the one sample after the cut (a block of one step must
    join its neighbour). A pump's run state unknown for a day before a cut, then on,
    counts the start as a build of the whole history does (the state comes from the
    stored day partials)."""
    from pumplib.features import blocks, spans

    if one_day_blocks:
        monkeypatch.setattr(blocks, "BLOCK_VALUES", 1)
    built, real = [], spans.build_span

    def span_engine(*a, **k):
        out = real(*a, **k)                             # raises where it declines
        built.append(1)
        return out

    monkeypatch.setattr(spans, "build_span", span_engine)
    one = _raw_lake(tmp_path / "one", 9, gap=True)
    streamed = _raw_lake(tmp_path / "streamed", 9, gap=True)
    with config.set({"utility.timezone": "Europe/Amsterdam"}):
        build_lake(one, quality=False, registry=registry)
        with config.set({"features.stream_pump_days": 6}):
            snap = build_lake(streamed, quality=False, registry=registry)
            assert build_lake(streamed, quality=False, registry=registry) is None  # no-op
    assert len(built) == 4                              # the later spans, on day blocks
    starts = one.open_group("features/1D")["starts_starts"].values[0]
    assert starts[2] >= 1                               # the start after the unknown day
    log = [c for c in streamed.log() if c.metadata.get("kind") == "features"]
    assert [c.message for c in log] == [f"features build (span {k} of 5)" for k in (5, 4, 3, 2, 1)]
    assert log[0].snapshot == snap and log[0].metadata.get("build_key")
    assert not any(c.metadata.get("build_key") for c in log[1:])
    assert len({c.metadata["raw_snapshot"] for c in log}) == 1     # all read one snapshot
    assert len(history(streamed)) == 5
    for lv in ["1min", "15min", "1h", "1D", "1W", "1M"]:
        a, b = one.open_group(f"features/{lv}"), streamed.open_group(f"features/{lv}")
        assert list(a.data_vars) == list(b.data_vars), lv
        np.testing.assert_array_equal(a["time"].values, b["time"].values)
        for v in a.data_vars:
            np.testing.assert_allclose(b[v].values, a[v].values, rtol=1e-12, atol=1e-9,
                                       equal_nan=True, err_msg=f"{lv} {v}")


def test_a_stream_that_stopped_half_way_is_built_again(tmp_path, registry, monkeypatch):
    import pumplib.features.builder as B

    lake = _raw_lake(tmp_path / "l", 6)
    real, calls = B._build_lake, []

    def failing(*a, **k):
        calls.append(k.get("until"))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    with config.set({"utility.timezone": "UTC", "features.stream_pump_days": 6}):
        monkeypatch.setattr(B, "_build_lake", failing)
        with pytest.raises(KeyboardInterrupt):
            build_lake(lake, quality=False, registry=registry)
        monkeypatch.setattr(B, "_build_lake", real)
        assert len(history(lake)) == 2                      # two spans committed
        assert build_lake(lake, quality=False, registry=registry) is not None
        assert build_lake(lake, quality=False, registry=registry) is None


PEAK = textwrap.dedent("""
    import json, resource, sys, tempfile
    sys.path.insert(0, {tests!r})
    from test_features_stream import _raw_lake
    from pumplib import config
    from pumplib.assets import AssetRegistry
    from pumplib.features.builder import build_lake
    days, budget = int(sys.argv[1]), int(sys.argv[2])
    lake = _raw_lake(tempfile.mkdtemp() + "/l", days, assets=["N-P1", "N-P2", "N-P3", "S-P1"])
    import gc; gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reg = AssetRegistry.load({registry!r})
    with config.set({{"utility.timezone": "Europe/Amsterdam",
                      "features.stream_pump_days": budget}}):
        build_lake(lake, quality=False, registry=reg)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({{"growth_kb": after - before}}))
""")


def _peak_growth(tmp_path, days: int, budget: int) -> float:
    from pathlib import Path

    here = Path(__file__).resolve().parent
    script = tmp_path / "peak.py"
    script.write_text(PEAK.format(tests=str(here),
                                  registry=str(here.parent / "catalogs" / "assets.yaml")))
    out = subprocess.run([sys.executable, str(script), str(days), str(budget)],
                         capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["growth_kb"]


def test_peak_memory_of_a_full_build_stays_bounded_as_the_history_grows_4x(tmp_path):
    """Peak memory of the build (above what the process held before it) at 28 days is at
    most 1.6x that at 7 days in spans of 7 days; one span grows with the history
    (2.7x measured: 108 MB against 293 MB for 4 pumps of 1-minute data)."""
    week, month = _peak_growth(tmp_path, 7, 28), _peak_growth(tmp_path, 28, 28)
    assert month <= 1.6 * week, (week, month)


def test_raw_window_leaves_its_input_attributes_alone():
    """xarray's isel shares the attrs dict: a window names its arrays on its own copy."""
    import xarray as xr

    from pumplib.features.reading import raw_window

    ds = xr.Dataset({"a": ("time", np.arange(5.0))}, coords={"time": np.arange(5)},
                    attrs={"x": 1})
    out = raw_window(ds, 3, 1)
    assert ds.attrs == {"x": 1}
    assert "raw_window_names" in out.attrs and out.sizes["time"] == 2
