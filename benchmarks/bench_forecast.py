"""Back-tested forecast skill per model against the seasonal naive, on the sample and BATADAL.

For each case (target, level, data set) every model is back-tested with
:func:`pumplib.forecast.backtest` (local models refitted at each origin,
global models fitted once before the test span) and scored on the same
forecast points: MASE (in-sample seasonal-naive scale), relative MAE (model
MAE / seasonal-naive MAE on the same points: below 1 beats the baseline),
sMAPE and the coverage of the 10–90 % interval (LightGBM quantiles). The
last line is JSON.

Usage::

    .venv/bin/python benchmarks/bench_forecast.py            # all cases, torch NLinear too
    .venv/bin/python benchmarks/bench_forecast.py --quick    # fewer cases, no ETS/NLinear
    .venv/bin/python benchmarks/bench_forecast.py --store ./store --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def sample_store(path: str | None) -> str:
    if path:
        return path
    from pumplib.pipeline import run_demo

    out = str(Path(tempfile.mkdtemp(prefix="bench_forecast_")) / "store")
    t0 = time.perf_counter()
    run_demo(store=out, sample=ROOT / "data_samples", registry=ROOT / "catalogs" / "assets.yaml",
             log=lambda _m: None, progress=False)
    print(f"sample lake built in {time.perf_counter() - t0:.0f} s: {out}", file=sys.stderr)
    return out


def batadal_store(data: Path) -> str | None:
    from pumplib.ingest import ingest

    src = data / "batadal" / "dataset03.csv"
    if not src.exists():
        print(f"{src} absent: BATADAL cases skipped", file=sys.stderr)
        return None
    out = str(Path(tempfile.mkdtemp(prefix="bench_batadal_")) / "store")
    ingest(src, "batadal", store=out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="a lake built from the sample (default: build one)")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--quick", action="store_true", help="fewer cases; no ETS, no NLinear")
    args = ap.parse_args()

    from pumplib import forecast as F
    from pumplib.assets import AssetRegistry

    reg = AssetRegistry.load(ROOT / "catalogs" / "assets.yaml")
    store = sample_store(args.store)
    models = ["theta", "lightgbm"] if args.quick else ["theta", "ets", "lightgbm", "nlinear"]
    cases = []   # (name, frame, level, kwargs)
    hourly = ["energy", "cost", "flow"] if args.quick else ["energy", "cost", "flow", "demand"]
    for target in hourly:
        fr = F.target_frame(store, target, "1h", by="station", registry=reg)
        pf = F.past_covariate_frames(store, "1h", registry=reg) \
            if target in ("energy", "cost") else None
        cases.append((f"sample/{target}/1h", fr, "1h", {"registry": reg, "past_frames": pf}))
    for target in ("energy", "flow"):
        fr = F.target_frame(store, target, "1D", by="station", registry=reg)
        cases.append((f"sample/{target}/1D (day-ahead)", fr, "1D",
                      {"registry": reg, "horizon": 1, "test_periods": 10}))
    bat = batadal_store(args.data)
    if bat is not None:
        lev = F.target_frame(bat, "level", "1h", by="asset")
        if args.quick:
            lev = lev.iloc[-24 * 90:]
        cases.append(("batadal/tank levels/1h", lev, "1h", {"test_periods": 7 * 24}))
        cases.append(("batadal/tank levels/1D", F.target_frame(bat, "level", "1D", by="asset",
                                                               timezone="UTC"),
                      "1D", {"test_periods": 56, "stride": 7}))
        flows = F.target_frame(bat, "flow", "1D", by="asset", timezone="UTC")
        moving = [c for c in flows.columns if c.startswith("PU") and flows[c].std() > 1.0]
        cases.append(("batadal/pump flows/1D", flows[moving], "1D",
                      {"test_periods": 56, "stride": 7}))
        fl_h = F.target_frame(bat, "flow", "1h", by="asset")[moving]
        if args.quick:
            fl_h = fl_h.iloc[-24 * 90:]
        cases.append(("batadal/pump flows/1h", fl_h, "1h", {"test_periods": 7 * 24}))
    rows, out = [], {}
    for name, frame, level, kw in cases:
        t0 = time.perf_counter()
        table = F.backtest(frame, level, models, **kw)
        print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for model, r in table.iterrows():
            rows.append({"case": name, "model": model, **r.to_dict()})
        out[name] = {m: {k: (None if pd.isna(v) else round(float(v), 4))
                         for k, v in r[["mase", "rel_mae", "smape", "coverage",
                                        "seconds"]].items()}
                     for m, r in table.iterrows()}
        out[name]["points"] = int(table.loc["naive", "points"])
    df = pd.DataFrame(rows).set_index(["case", "model"])
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(df[["mase", "rel_mae", "smape", "coverage", "points", "series", "seconds"]]
              .round(3).to_string())
    beat = {name: sorted(m for m, r in res.items() if isinstance(r, dict) and m != "naive"
                         and r["rel_mae"] is not None and r["rel_mae"] < 1.0)
            for name, res in out.items()}
    print(json.dumps({"cases": out, "beat_seasonal_naive": beat, "quick": args.quick}))


if __name__ == "__main__":
    main()
