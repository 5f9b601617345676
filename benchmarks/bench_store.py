"""Latency of ``pumplib.get_features`` (issue 5).

Scenario: a lake whose golden tables hold 10 pumps × 3 features (energy,
specific_energy, runtime: 4 + 4 + 3 columns with coverage) × one month at
15 min and at 1 min, written once through ``features.write_tables`` (the
builder's own storage layout and chunking) into a temporary folder.

Two queries, each timed over ``--calls`` calls (default 50) with the values
loaded (``.load()``), so the figure is the time to numbers in memory:

* ``month_15min``: all 10 pumps, the 3 features, the whole month at 15 min;
* ``day_1min``: all 10 pumps, the 3 features, one day at 1 min (a different
  day on each call).

Baseline in the same run: what a user does without the store — open the
group with ``xr.open_zarr`` on a fresh Icechunk read-only session, pick the
columns (rows of the stacked ``_values`` array the builder writes), ``.sel``
the assets and period, ``.load()``.

Targets (issue 5): p95 ≤ 50 ms (month at 15 min) and ≤ 200 ms (day at 1 min).

Usage::

    python benchmarks/bench_store.py            # 50 calls per query
    python benchmarks/bench_store.py --quick    # 10 calls

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pumplib import store as fs  # noqa: E402
from pumplib.features.builder import write_tables  # noqa: E402
from pumplib.lake import Lake  # noqa: E402

PUMPS = [f"P{i:02d}" for i in range(10)]
START = pd.Timestamp("2026-03-01")
DAYS = 31
FEATURES = {"energy": ["integral", "mean", "max"], "specific_energy": ["mean", "min", "max"],
            "runtime": ["duration", "mean"]}


def _table(level: str, step: str, rng: np.random.Generator) -> xr.Dataset:
    times = pd.date_range(START, periods=int(DAYS * pd.Timedelta("1D") / pd.Timedelta(step)),
                          freq=step)
    shape = (len(PUMPS), len(times))
    data = {}
    hashes = {}
    for f, aggs in FEATURES.items():
        hashes[f] = f"{abs(hash(f)) % (1 << 60):016x}"
        for a in aggs:
            data[f"{f}_{a}"] = (("asset", "time"), rng.random(shape),
                                {"feature": f, "aggregation": a, "level": level,
                                 "definition_hash": hashes[f], "version": 1})
        data[f"{f}_coverage"] = (("asset", "time"), np.ones(shape),
                                 {"feature": f, "level": level, "units": "1"})
    return xr.Dataset(data, coords={"asset": PUMPS, "time": times,
                                    "time_end": ("time", times + pd.Timedelta(step))},
                      attrs={"level": level, "timezone": "UTC", "definition_hashes": hashes})


def make_lake(path: str) -> Lake:
    rng = np.random.default_rng(5)
    lake = Lake(path, create=True)
    write_tables(lake, {"15min": _table("15min", "15min", rng),
                        "1min": _table("1min", "1min", rng)}, "bench tables")
    return lake


def _stats(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2),
            "p95_ms": round(float(np.percentile(a, 95)), 2),
            "mean_ms": round(float(a.mean()), 2)}


def _timed(fn, calls: int) -> list[float]:
    out = []
    for i in range(calls):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="10 calls per query")
    args = ap.parse_args()
    calls = 10 if args.quick else args.calls
    names = list(FEATURES)
    work = tempfile.mkdtemp(prefix="bench-store-")
    try:
        t = time.perf_counter()
        lake = make_lake(os.path.join(work, "lake"))
        setup_s = time.perf_counter() - t
        month = (START, START + pd.Timedelta(f"{DAYS}D"))
        days = [START + pd.Timedelta(days=int(d)) for d in
                np.random.default_rng(1).integers(0, DAYS, size=calls)]

        def store_month(_i):
            fs.get_features(names, PUMPS, *month, level="15min", store=lake).load()

        def store_day(i):
            fs.get_features(names, PUMPS, days[i], days[i] + pd.Timedelta("1D"),
                            level="1min", store=lake).load()

        cols = [f"{f}_{a}" for f, aggs in FEATURES.items() for a in [*aggs, "coverage"]]

        def base(level, t0, t1):
            session = lake.repo.readonly_session(branch="main")
            ds = xr.open_zarr(session.store, group=f"features/{level}", consolidated=False)
            if "_values" in ds:           # a level stored as one (column, asset, time) array
                names = list(ds["_values"].attrs["columns"])
                v = ds["_values"].isel({ds["_values"].dims[0]: [names.index(c) for c in cols]})
                v.sel(asset=PUMPS, time=slice(t0, t1 - pd.Timedelta("1ns"))).load()
            else:
                ds[cols].sel(asset=PUMPS, time=slice(t0, t1 - pd.Timedelta("1ns"))).load()

        def base_month(_i):
            base("15min", *month)

        def base_day(i):
            base("1min", days[i], days[i] + pd.Timedelta("1D"))

        first = _timed(store_month, 1)[0]                   # cold: opens and caches
        res = {
            "store_month_15min": _stats(_timed(store_month, calls)),
            "store_day_1min": _stats(_timed(store_day, calls)),
            "baseline_month_15min": _stats(_timed(base_month, calls)),
            "baseline_day_1min": _stats(_timed(base_day, calls)),
        }
        lazy = _stats(_timed(lambda i: fs.get_features(
            names, PUMPS, days[i], days[i] + pd.Timedelta("1D"), level="1min", store=lake),
            calls))
        check = fs.get_features(names, PUMPS, days[0], days[0] + pd.Timedelta("1D"),
                                level="1min", store=lake)
        assert check.sizes == {"asset": 10, "time": 1440}, check.sizes
        assert len(check.data_vars) == 11
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for k, v in res.items():
        print(f"{k:22s} p50 {v['p50_ms']:8.2f} ms  p95 {v['p95_ms']:8.2f} ms")
    print(f"first (cold) month call {first:.1f} ms; lazy day call p95 {lazy['p95_ms']} ms; "
          f"setup {setup_s:.1f} s")
    out = {
        "month_15min_p50_ms": res["store_month_15min"]["p50_ms"],
        "month_15min_p95_ms": res["store_month_15min"]["p95_ms"],
        "day_1min_p50_ms": res["store_day_1min"]["p50_ms"],
        "day_1min_p95_ms": res["store_day_1min"]["p95_ms"],
        "baseline_month_15min_p95_ms": res["baseline_month_15min"]["p95_ms"],
        "baseline_day_1min_p95_ms": res["baseline_day_1min"]["p95_ms"],
        "targets_met": {"month_15min_p95_le_50ms": res["store_month_15min"]["p95_ms"] <= 50,
                        "day_1min_p95_le_200ms": res["store_day_1min"]["p95_ms"] <= 200},
        "lazy_call_p95_ms": lazy["p95_ms"], "first_call_ms": round(first, 1),
        "calls": calls, "pumps": len(PUMPS), "features": len(FEATURES), "columns": 11,
        "cpus": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
