"""Interactive latency of a selector change: query + chart object (issue 6).

Scenario: a simulated plant of 10 pumps (``pumplib.simulate``: 2 stations × 5
pumps, ``--days`` days at 1 min from 2026-03-02, no faults) ingested,
validated and built into golden tables by the main job (``run_demo``) in
``benchmarks/_work/query-<days>d/`` (reused by later runs). Then, through the
shared selection model (``pumplib.ui.Selection``), each step changes the
selection and draws it:

* ``month_15min``: 10 pumps × 3 features over 30 days at 15 min
  (2 880 points per series); the features and the window's start change each
  step;
* ``day_1min``: 10 pumps × 3 features over one local day at 1 min (1 440 points
  per series); the day and the features change each step.

A step is ``Selection.set(...)`` → ``Selection.query()`` (lazy xarray through
``pumplib.query``/``pumplib.store.get_features``) → ``line_chart(...)`` (the
HoloViews layout: computing the values and building the curves; rendering in a
browser is not timed). Targets (p95): 100 ms and 300 ms.

Baseline in the same run: ``pandas`` reads the same columns of the same table
from a Parquet export (``read_parquet`` with column projection and a row
filter, then a pivot to time × asset per feature), the least a notebook
without pumplib would do to get the same data; ``hvplot`` is the same step
with ``line_chart(engine="hvplot")``.

Usage::

    python benchmarks/bench_query.py            # 31 days, 40 steps per scenario
    python benchmarks/bench_query.py --quick    # 8 days, 10 steps

The last line printed is one JSON object with ``month_15min_p95_ms`` and
``day_1min_p95_ms`` and the rest of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / "_work"
FEATURES = ["energy_integral", "runtime_mean", "specific_energy_mean", "energy_cost_integral",
            "hydraulic_power_mean", "wire_to_water_efficiency_mean", "head_mean",
            "bep_flow_ratio_mean"]


def prepare(days: int) -> tuple[str, Path]:
    """The 10-pump lake (built once) and its registry."""
    from pumplib.assets import AssetRegistry
    from pumplib.pipeline import run_demo
    from pumplib.simulate import Export, make_registry, registry_yaml, simulate, write_exports

    root = WORK / f"query-{days}d"
    store, reg_path, sample = root / "lake", root / "assets.yaml", root / "exports"
    done = root / "DONE"
    if done.exists():
        return str(store), reg_path
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    sample.mkdir(parents=True)
    spec = make_registry(n_stations=2, pumps_per_station=5)
    reg_path.write_text(registry_yaml(spec))
    reg = AssetRegistry.from_dict(spec)
    t = time.perf_counter()
    sim = simulate(reg, start="2026-03-02", days=days, freq="1min", faults=())
    write_exports(sim, Export(sample / "plant_1min.parquet"))
    print(f"simulated {days} days × 10 pumps in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    t = time.perf_counter()
    run_demo(store=str(store), sample=sample, registry=reg_path, log=lambda _m: None,
             progress=False)
    print(f"ingested, validated and built in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    done.write_text("ok\n")
    return str(store), reg_path


def export_parquet(store: str, level: str, path: Path) -> None:
    if path.exists():
        return
    from pumplib.lake import Lake

    ds = Lake(store).open_group(f"features/{level}")
    cols = [c for c in FEATURES if c in ds.data_vars]
    ds[cols].drop_vars("time_end").to_dataframe().reset_index().to_parquet(path, index=False)


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, q))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=31)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--quick", action="store_true", help="8 days, 10 steps")
    args = ap.parse_args(argv)
    if args.quick:
        args.days, args.steps = 8, 10
    store, reg_path = prepare(args.days)
    os.environ["PUMPLIB_STORE__URL"] = store

    from pumplib.assets import AssetRegistry
    from pumplib.ui import Selection, line_chart

    reg = AssetRegistry.load(reg_path)
    pumps = [a.id for a in reg.pumps()]
    assert len(pumps) == 10, pumps
    sel = Selection(reg, store=store, assets=pumps)
    span_days = (sel.data_end - sel.data_start).days
    month = pd.Timedelta(days=min(30, span_days - 1))
    rng = np.random.default_rng(0)

    def triples(n):
        return [list(rng.choice(FEATURES, 3, replace=False)) for _ in range(n)]

    # warm-up: imports, opening the tables
    sel.set(features=FEATURES[:3], level="15min", start=sel.data_start,
            end=sel.data_start + month)
    line_chart(sel.query())

    results: dict[str, dict[str, list[float]]] = {}
    for scen, level, width in (("month_15min", "15min", month),
                               ("day_1min", "1min", pd.Timedelta("1D"))):
        room = max(0, int(((sel.data_end - sel.data_start) - width) / pd.Timedelta("1h")))
        starts = [sel.data_start + pd.Timedelta(hours=int(h))
                  for h in rng.integers(0, room + 1, args.steps)]
        if level == "1min":       # whole local days (23:00 UTC in winter)
            starts = [s.floor("1D") - pd.Timedelta("1h") + pd.Timedelta("1D") for s in starts]
            starts = [min(max(s, sel.data_start), sel.data_end - width) for s in starts]
        feats = triples(args.steps)
        path = WORK / f"query-{args.days}d" / f"table_{level}.parquet"
        export_parquet(store, level, path)
        times = {"pumplib": [], "hvplot": [], "pandas": []}
        for i in range(args.steps):
            t0 = time.perf_counter()
            sel.set(features=feats[i], level=level, start=starts[i], end=starts[i] + width)
            chart = line_chart(sel.query())
            times["pumplib"].append(time.perf_counter() - t0)
            assert len(chart) == 3
        for i in range(args.steps):
            t0 = time.perf_counter()
            sel.set(features=feats[i][::-1], level=level, start=starts[i],
                    end=starts[i] + width)
            line_chart(sel.query(), engine="hvplot")
            times["hvplot"].append(time.perf_counter() - t0)
        for i in range(args.steps):
            t0 = time.perf_counter()
            df = pd.read_parquet(path, columns=["asset", "time", *feats[i]],
                                 filters=[("time", ">=", starts[i]),
                                          ("time", "<", starts[i] + width),
                                          ("asset", "in", pumps)])
            wide = {f: df.pivot(index="time", columns="asset", values=f) for f in feats[i]}
            times["pandas"].append(time.perf_counter() - t0)
            assert all(w.shape[1] == 10 for w in wide.values())
        results[scen] = times
        n_points = len(sel.query()["time"])
        print(f"{scen}: {n_points} points per series; p50/p95 ms " + ", ".join(
            f"{k} {pct(v, 50):.1f}/{pct(v, 95):.1f}" for k, v in times.items()),
            file=sys.stderr)
    out = {
        "bench": "query", "date": pd.Timestamp.now("UTC").strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs)",
        "pumps": 10, "features": 3, "days": args.days, "steps": args.steps,
        "month_15min_p95_ms": round(pct(results["month_15min"]["pumplib"], 95), 1),
        "day_1min_p95_ms": round(pct(results["day_1min"]["pumplib"], 95), 1),
        "month_15min_p50_ms": round(pct(results["month_15min"]["pumplib"], 50), 1),
        "day_1min_p50_ms": round(pct(results["day_1min"]["pumplib"], 50), 1),
        "month_15min_hvplot_p95_ms": round(pct(results["month_15min"]["hvplot"], 95), 1),
        "day_1min_hvplot_p95_ms": round(pct(results["day_1min"]["hvplot"], 95), 1),
        "month_15min_pandas_p95_ms": round(pct(results["month_15min"]["pandas"], 95), 1),
        "day_1min_pandas_p95_ms": round(pct(results["day_1min"]["pandas"], 95), 1),
        "targets_ms": {"month_15min_p95": 100, "day_1min_p95": 300},
    }
    out["targets_met"] = (out["month_15min_p95_ms"] <= 100 and out["day_1min_p95_ms"] <= 300)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
