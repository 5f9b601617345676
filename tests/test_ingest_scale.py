"""Ingest without cliffs (issue 25): a file with many tags writes each lake chunk about
once and keeps memory to ``ingest.buffer_mb``, whatever the number of tags per file."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pumplib import config
from pumplib.assets import AssetRegistry
from pumplib.ingest import ingest
from pumplib.lake import Lake

SIGNALS = {"flow": "m3/h", "discharge_pressure": "bar", "suction_pressure": "bar",
           "power": "kW", "current": "A", "speed": "rpm", "vibration": "mm/s",
           "bearing_temperature": "degC"}


def fleet_registry(pumps: int) -> AssetRegistry:
    stations: dict[str, list] = {}
    for p in range(pumps):
        st = f"S{p // 5:03d}"
        stations.setdefault(st, []).append({
            "id": f"{st}-P{p % 5}", "kind": "pump", "pump_type": "variable_speed",
            "signals": {s: {"tag": f"{st}.P{p % 5}.{s.upper()}", "unit": u}
                        for s, u in SIGNALS.items()}})
    spec = {"version": 1,
            "utility": {"id": "u", "name": "U", "timezone": "UTC", "currency": "EUR"},
            "tariffs": {"flat": {"default_price": 0.2, "periods": []}},
            "stations": [{"id": s, "name": s, "tariff": "flat", "assets": a}
                         for s, a in stations.items()]}
    return AssetRegistry.from_dict(spec, source="fleet")


def wide_export(path: Path, pumps: int, minutes: int, seed: int = 3) -> Path:
    """A wide CSV or Parquet file (by the suffix): one column a tag (``pumps`` × 8), one
    row a minute, some empty cells."""
    rng = np.random.default_rng(seed)
    tags = [f"S{p // 5:03d}.P{p % 5}.{s.upper()}" for p in range(pumps) for s in SIGNALS]
    vals = np.round(rng.normal(50, 10, (minutes, len(tags))), 3)
    vals[rng.random(vals.shape) < 0.02] = np.nan
    df = pd.DataFrame(vals, columns=tags)
    t = pd.date_range("2026-03-09", periods=minutes, freq="1min", tz="UTC")
    if path.suffix == ".parquet":
        df.insert(0, "timestamp", t)
        df.to_parquet(path, index=False)
    else:
        df.insert(0, "timestamp", t.strftime("%Y-%m-%dT%H:%M:%SZ"))
        df.to_csv(path, index=False)
    return path


def folder_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def written_and_live(store: Path) -> tuple[int, int]:
    """Bytes the ingest wrote into a fresh store (Icechunk objects are never rewritten in
    place: a chunk written twice leaves two objects) and the lake's final size (after the
    objects no snapshot reaches are collected)."""
    written = folder_bytes(store)
    with config.set({"lake.gc_grace": "0s"}):
        Lake(str(store)).gc(grace="0s")
    return written, folder_bytes(store)


def raw(store: Path) -> xr.Dataset:
    return Lake(str(store)).open_raw("1min").load().sortby("asset")


@pytest.fixture(scope="module")
def wide_1000(tmp_path_factory):
    """1,000 tags (125 pumps × 8 signals) × 4 hours at 1 minute, ingested with a buffer
    large enough for everything (the reference lake)."""
    tmp = tmp_path_factory.mktemp("wide1000")
    reg = fleet_registry(125)
    src = wide_export(tmp / "wide.parquet", 125, 240)
    wide_export(tmp / "wide.csv", 125, 240)
    with config.set({"ingest.buffer_mb": 1 << 16}):
        ref = ingest(src, "wide_parquet", store=str(tmp / "ref"), registry=reg, batch_rows=20,
                     progress=False)
    return reg, src, tmp, ref


@pytest.mark.parametrize(("fmt", "buffer_mb"), [("wide_parquet", None), ("wide_parquet", 1),
                                               ("wide_csv", 0)],
                         ids=["default", "1MiB", "csv-0MiB"])
def test_1000_tags_write_at_most_1_5x_the_lake(wide_1000, fmt, buffer_mb, tmp_path):
    """Batches of 20 rows: before, every batch passed the default budget (1,000 windows of
    a whole chunk span) and rewrote every chunk."""
    reg, src, tmp, ref = wide_1000
    src = tmp / f"wide.{fmt.split('_')[1]}"
    store = tmp_path / "store"
    settings = {} if buffer_mb is None else {"ingest.buffer_mb": buffer_mb}
    with config.set(settings):
        tracemalloc.start()
        res = ingest(src, fmt, store=str(store), registry=reg, batch_rows=20,
                     progress=False)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert res.samples_ingested == ref.samples_ingested > 0.97 * 1000 * 240
    assert res.files[0].values_balanced and res.files[0].rows_balanced
    # memory follows the data (1,000 × 240 cells), not 1,000 windows of a whole chunk
    # span (1,000 × 86,400 cells × 15 B = 1.3 GB before); 101–117 MB traced here
    assert peak < 300 * 2**20, peak
    xr.testing.assert_equal(raw(store), raw(wide_1000[2] / "ref"))
    written, live = written_and_live(store)
    assert written <= 1.5 * live, (written, live)


def test_spilled_windows_keep_duplicates_conflicts_and_order(tmp_path, monkeypatch):
    """Rows that meet a cell only after it was spilled (buffer 0 MiB: every batch spills)
    resolve exactly as in memory: later rows win, copies and conflicts are counted and
    quarantined, out-of-order rows noted; quality codes kept."""
    reg = fleet_registry(10)
    rng = np.random.default_rng(5)
    t = pd.date_range("2026-03-09", periods=120, freq="1min", tz="UTC")
    tags = [f"S{p // 5:03d}.P{p % 5}.{s.upper()}" for p in range(10) for s in ("FLOW", "POWER")]
    rows = [(ts, tag, round(float(rng.normal(50, 5)), 3), 192) for ts in t for tag in tags]
    for i in rng.choice(len(rows), 40, replace=False):   # later copies: same or another value
        ts, tag, v, q = rows[i]
        rows.append((ts, tag, v if i % 2 else v + 1.0, 64))
    rows += [(t[3] + pd.Timedelta("30s"), tags[0], 1.0, 192)]      # off the grid: snaps
    df = pd.DataFrame(rows, columns=["timestamp", "tag", "value", "quality"])
    df["quality"] = df["quality"].astype("int16")
    src = tmp_path / "long.parquet"
    df.to_parquet(src, index=False)
    from pumplib.ingest import buffer

    put = buffer._Spill.put
    spilled = []
    monkeypatch.setattr(buffer._Spill, "put", lambda self, key, wb: (spilled.append(key),
                                                                      put(self, key, wb)))
    out = {}
    for name, mb in (("big", 1 << 16), ("spill", 0)):
        with config.set({"ingest.buffer_mb": mb}):
            out[name] = ingest(src, "long_parquet", store=str(tmp_path / name), registry=reg,
                               batch_rows=37, progress=False)
    big, spill = out["big"], out["spill"]
    assert len(spilled) > 20 * 50   # every batch spilled its windows
    assert big.totals() == spill.totals()
    assert big.samples_duplicate > 0 and big.conflicts_quarantined > 0 and big.out_of_order_rows
    xr.testing.assert_equal(raw(tmp_path / "big"), raw(tmp_path / "spill"))
    qa, qb = (Lake(str(tmp_path / n)).quarantine() for n in ("big", "spill"))
    cols = ["line", "reason", "raw"]
    assert qa[cols].sort_values(cols).reset_index(drop=True).equals(
        qb[cols].sort_values(cols).reset_index(drop=True))
