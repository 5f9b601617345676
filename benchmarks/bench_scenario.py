"""Benchmark: the scheduling MILP against the simulator's own schedule, and recommendations.

For each station of the sample registry and each horizon, the simulator runs
its own control (``tariff`` at NORTH, ``level`` at SOUTH) over a demand it
draws; that is the baseline. The MILP (HiGHS through ``scipy.optimize.milp``,
hourly periods, min run 2 h, min rest 1 h, ≤ 4 starts per pump and day, the
tank ending no lower than the baseline's) schedules the same demand and its
schedule is replayed minute by minute through the level-dependent physics.
The rule-based ``tariff`` control of :mod:`pumplib.scenario` is shown too.
With ``--store`` (a lake built by ``pumplib demo``) :func:`pumplib.recommend.recommend`
is timed on it.

Run: ``.venv/bin/python benchmarks/bench_scenario.py [--quick] [--store ./store]``.
The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="SOUTH, one day only")
    ap.add_argument("--store", default=None, help="a built lake to time recommend() on")
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--gap", type=float, default=0.02, help="HiGHS relative MIP gap")
    args = ap.parse_args()

    from pumplib.assets import AssetRegistry
    from pumplib.scenario import (
        StationModel,
        baseline_from_truth,
        demand_from_simulation,
        optimise_schedule,
        simulate_station,
        summarise,
    )

    reg = AssetRegistry.load(ROOT / "catalogs" / "assets.yaml")
    cases = [("SOUTH", 1)] if args.quick else [("SOUTH", 1), ("SOUTH", 2), ("NORTH", 1),
                                               ("NORTH", 2)]
    rows = []
    for station, days in cases:
        demand, truth = demand_from_simulation(reg, station, start="2026-03-10", days=days)
        model = StationModel.from_registry(reg, station)
        base = baseline_from_truth(model, truth)
        t0 = time.perf_counter()
        res = optimise_schedule(model, demand, period="1h", level0=base["level0"],
                                end_level=base["final_level"], min_run=2, min_rest=1,
                                max_starts_per_day=4, margin=0.1, time_limit=args.time_limit,
                                mip_rel_gap=args.gap)
        solve_s = time.perf_counter() - t0
        rule = summarise(simulate_station(model, demand, policy="tariff",
                                          level0=base["level0"], step="1min"), model)
        row = {"station": station, "days": days, "control": model.control,
               "baseline_cost": round(base["cost"], 2),
               "rule_tariff_cost": round(rule["cost"], 2),
               "milp_cost": round(res.summary["cost"], 2),
               "saving_vs_baseline": round(1 - res.summary["cost"] / base["cost"], 4),
               "within_limits": res.summary["within_limits"],
               "end_level_ok": res.summary["final_level"] >= base["final_level"] - 1e-9,
               "solve_s": round(solve_s, 2), "solver": res.status.split("(")[-1].rstrip(")"),
               "margin": res.margin}
        rows.append(row)
        print(json.dumps(row))
    out = {"bench": "scenario", "cases": len(rows),
           "mean_saving_vs_baseline": round(sum(r["saving_vs_baseline"] for r in rows)
                                            / len(rows), 4),
           "all_within_limits": all(r["within_limits"] for r in rows),
           "max_solve_s": max(r["solve_s"] for r in rows)}
    for r in rows:
        out[f"saving_{r['station']}_{r['days']}d"] = r["saving_vs_baseline"]
    if args.store:
        from pumplib.recommend import recommend

        t0 = time.perf_counter()
        recs = recommend(args.store, reg)
        out["recommend_s"] = round(time.perf_counter() - t0, 2)
        out["recommendations"] = len(recs)
        out["top"] = f"{recs.kind.iloc[0]}:{recs.station.iloc[0]}" if len(recs) else None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
