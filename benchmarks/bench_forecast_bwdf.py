"""Rolling back-test on bwdf-dev (10 DMAs, hourly): the last 16 weeks, one week ahead.

Per-DMA and pooled MAE relative to the weekly naive and to the median of the
last 4 weeks, MASE (season 168), 80 % coverage per series; last line JSON.

    nice -n 19 .venv/bin/python benchmarks/bench_forecast_bwdf.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd


def load(folder: Path):
    def read(name):
        df = pd.read_csv(folder / name)
        wall = pd.to_datetime(df.iloc[:, 0], format="%d/%m/%Y %H:%M")
        t = wall.dt.tz_localize("Europe/Rome", ambiguous="infer",
                                nonexistent="shift_forward").dt.tz_convert("UTC")
        df = df.iloc[:, 1:].set_axis(pd.DatetimeIndex(t, name="time"))
        return df[~df.index.duplicated()].asfreq("h")
    inflow = read("InflowData.csv")
    inflow.columns = [c.split(" (")[0] for c in inflow.columns]
    weather = read("WeatherData.csv")
    weather.columns = ["rain", "temp", "humidity", "wind"]
    inflow.attrs.update(level="1h", timezone="Europe/Rome")
    return inflow, weather


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared"
                                          / "data"))
    ap.add_argument("--models", nargs="*", default=["gbm"])
    args = ap.parse_args()
    from pumplib.forecast import backtest

    inflow, weather = load(Path(args.data) / "bwdf-dev")
    t0 = time.perf_counter()
    res = backtest(inflow, "1h", args.models, season=[24, 168], horizon=168,
                   test_periods=16 * 168, stride=168, covariates=weather[["rain", "temp"]],
                   holidays="IT", future=False)
    secs = time.perf_counter() - t0
    pd.set_option("display.width", 200)
    print(res.metrics[["mae", "mase", "rel_mae", "rel_mae_median4w", "coverage"]].round(3)
          .to_string())
    print(res.pooled.round(3).to_string())
    best = min(args.models, key=lambda m: res.pooled.loc[m, "mae"])
    per = res.metrics.xs(best, level="model")
    print(json.dumps({"model": best,
                      "rel_mae_vs_weekly_naive": round(float(res.pooled.loc[best, "rel_mae"]), 4),
                      "rel_mae_vs_median4w": round(float(res.pooled.loc[best,
                                                                        "rel_mae_median4w"]), 4),
                      "worst_dma_rel_mae_vs_median4w": round(float(per["rel_mae_median4w"].max()),
                                                             4),
                      "coverage80_min": round(float(per["coverage"].min()), 4),
                      "coverage80_max": round(float(per["coverage"].max()), 4),
                      "seconds": round(secs, 1)}))


if __name__ == "__main__":
    main()
