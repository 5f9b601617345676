"""First-render time of the operations app on the sample lake.

What a first page needs — KPI tiles, the chart of the months, the alert list
and the recommendations of the whole utility — measured three ways, each in a
fresh Python process (imports included, as a new marimo session or Voila
kernel pays them):

* ``cold``: pumplib.ops with an empty cache (the daily quality scores are
  computed from the stored flags);
* ``warm``: pumplib.ops with the disk cache that ``serve_ops`` fills before it
  serves (the normal case);
* ``raw_baseline``: the same energy/cost/specific-energy tiles computed with
  pandas from the raw 1-min series (what a page without golden tables would
  have to load).

``--browser`` also times the marimo app in headless Chromium: from
``page.goto`` to the KPI tiles on screen, on a server started by
``serve_ops`` (second page: the server process has its imports warm).

Run: ``.venv/bin/python benchmarks/bench_ops.py [--store PATH] [--browser] [--repeat N]``.
The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work" / "ops"

FIRST_PAGE = r"""
import sys, time, json
t0 = time.perf_counter()
from pumplib.ops import Operations, View
t_import = time.perf_counter()
ops = Operations(sys.argv[1], sys.argv[2], "sqlite://", cache_dir=sys.argv[3] or None,
                 cache=bool(sys.argv[3]))
t_init = time.perf_counter()
tiles = ops.kpis("utility", View("1M"))
chart = ops.chart_data("utility", View("1M"))
t_tiles = time.perf_counter()
alerts = ops.alerts("utility", View("1M"))
t_alerts = time.perf_counter()
recs = ops.recommendations("utility")
t_end = time.perf_counter()
print(json.dumps({"seconds": t_end - t0, "tiles_seconds": t_tiles - t0,
                  "steps": {"import": t_import - t0, "init": t_init - t_import,
                            "tiles_chart": t_tiles - t_init, "alerts": t_alerts - t_tiles,
                            "recommendations": t_end - t_alerts},
                  "alerts": len(alerts), "recommendations": len(recs),
                  "energy": tiles["energy"]["value"]}))
"""

RAW_BASELINE = r"""
import sys, time, json
t0 = time.perf_counter()
import numpy as np, pandas as pd
from pumplib.lake import Lake
from pumplib.assets import AssetRegistry
reg = AssetRegistry.load(sys.argv[2])
pumps = [a.id for a in reg.pumps()]
raw = Lake(sys.argv[1]).open_raw("1min")[["power", "flow"]].sel(asset=pumps)
df = raw.to_dataframe().reset_index()           # every minute of every pump
df["energy"] = df["power"] / 60.0
tz = reg.utility["timezone"]
df["month"] = df["time"].dt.tz_localize("UTC").dt.tz_convert(tz).dt.strftime("%Y-%m")
price = 0.15
g = df.groupby("month").agg(energy=("energy", "sum"), volume=("flow", lambda q: q.sum() / 60))
g["cost"] = g["energy"] * price
g["specific_energy"] = g["energy"] / g["volume"]
print(json.dumps({"seconds": time.perf_counter() - t0, "rows_loaded": len(df),
                  "energy": float(g["energy"].sum())}))
"""


def _child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True, cwd=ROOT, env=dict(os.environ,
                                                        PUMPLIB_INGEST__PROGRESS="False"))
    return json.loads(out.stdout.strip().splitlines()[-1])


def _store(path: str | None) -> str:
    if path:
        return path
    store = WORK / "store"
    if not (store / "repo").exists() and not any(store.glob("*")):
        from pumplib.pipeline import run_demo

        WORK.mkdir(parents=True, exist_ok=True)
        print(f"building the sample lake in {store} …", flush=True)
        run_demo(store=str(store), sample=ROOT / "data_samples",
                 registry=ROOT / "catalogs" / "assets.yaml", log=lambda _m: None,
                 progress=False)
        from pumplib import outliers, recommend

        recommend.recommend(str(store), ROOT / "catalogs" / "assets.yaml", write=True)
        outliers.detect_lake(str(store), assets=["N-P3", "S-P1"], start="2026-03-12",
                             end="2026-03-16", method="none")
    return str(store)


def _browser(store: str, registry: str, cache: str) -> float:
    from playwright.sync_api import sync_playwright

    from pumplib import config
    from pumplib.serve import serve_ops, stop

    with config.set({"ops.cache_dir": cache}):
        url = serve_ops(store, kind="marimo", block=False, registry=registry,
                        actions="sqlite://", timeout=300)
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as prof:
            ctx = p.chromium.launch_persistent_context(
                prof, executable_path="/usr/bin/chromium", headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update",
                      "--disable-sync"])
            times = []
            for _ in range(2):   # the first page warms the server's imports
                page = ctx.new_page()
                t0 = time.perf_counter()
                page.goto(url, timeout=300_000)
                page.locator("[data-kpi=energy]").first.wait_for(timeout=300_000)
                times.append(time.perf_counter() - t0)
                page.close()
            ctx.close()
    finally:
        stop(url)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="a lake built by `pumplib demo` (default: build one)")
    ap.add_argument("--registry", default=str(ROOT / "catalogs" / "assets.yaml"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--browser", action="store_true", help="also time the marimo app")
    args = ap.parse_args()
    store = _store(args.store)
    cache = tempfile.mkdtemp(prefix="ops-cache-")
    try:
        res: dict = {"store": store, "repeat": args.repeat}
        cold = [_child(FIRST_PAGE, store, args.registry, "")["seconds"]
                for _ in range(args.repeat)]
        _child(FIRST_PAGE, store, args.registry, cache)      # fill the cache
        warm_runs = [_child(FIRST_PAGE, store, args.registry, cache)
                     for _ in range(args.repeat)]
        raw_runs = [_child(RAW_BASELINE, store, args.registry) for _ in range(args.repeat)]
        res.update(
            cold_s=round(statistics.median(cold), 2),
            warm_s=round(statistics.median(r["seconds"] for r in warm_runs), 2),
            warm_tiles_only_s=round(statistics.median(r["tiles_seconds"] for r in warm_runs), 2),
            warm_steps_s={k: round(v, 2) for k, v in warm_runs[-1]["steps"].items()},
            raw_baseline_s=round(statistics.median(r["seconds"] for r in raw_runs), 2),
            raw_rows_loaded=raw_runs[0]["rows_loaded"],
            alerts=warm_runs[0]["alerts"], recommendations=warm_runs[0]["recommendations"],
            target_s=3.0)
        res["warm_meets_target"] = res["warm_s"] < 3.0
        if args.browser:
            t = _browser(store, args.registry, cache)
            res.update(browser_first_page_s=round(t[0], 2), browser_second_page_s=round(t[1], 2))
        print(f"first page (library, fresh process): cold {res['cold_s']} s, warm "
              f"{res['warm_s']} s (month tiles alone {res['warm_tiles_only_s']} s); raw-series "
              f"baseline for the energy tiles {res['raw_baseline_s']} s "
              f"({res['raw_rows_loaded']:,} rows)")
        print(json.dumps(res))
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
