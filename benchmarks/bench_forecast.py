"""Rolling back-tests of forecasts against the weekly naive and the 4-week median, per case.

Each case is a rolling back-test with :func:`pumplib.forecast.backtest` over
the last 16 weeks of a data set, one week ahead, one origin a week; the
baselines ``naive`` (weekly naive: same hour or day last week) and
``median4w`` (median of the last 4 weeks at the same hour or day of the
week) run in the same call on exactly the same points. Per series and pooled:
MAE relative to both baselines, MASE with the longest season, and the
coverage of the 80 % interval of every series.

Cases
-----
``bwdf-1h`` (default)
    bwdf-dev, 10 DMAs, hourly inflow, horizon 168 h, seasons [24, 168],
    weather (rain, air temperature) known for the forecast week, Italian
    holidays and 3 November (the city's patron saint).
``bwdf-1D``
    the same DMAs as local daily means (days with ≥ 20 hours), horizon 7,
    season 7, daily rain sum and mean temperature.
``batadal-1h`` / ``batadal-1D``
    BATADAL ``dataset03.csv`` (a year without attacks): the 7 tank levels
    of C-Town, hourly (horizon 168) and as daily means (horizon 7).

``--earlier`` scores the 16 weeks *before* that window instead (the data's
last 16 weeks cut off): weeks no tuning looked at, on which every change to
the models is checked too.

The last line is JSON: ``rel_mae_vs_weekly_naive``, ``rel_mae_vs_median4w``
(pooled), ``worst_series_rel_mae_vs_median4w``, ``coverage80_min``,
``coverage80_max`` (over series) of the first model given, and ``seconds``
(the whole back-test: every model, baselines and calibration origins
included); with several cases, one such object per case under ``cases``.

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_forecast.py                  # bwdf-1h
    nice -n 10 .venv/bin/python benchmarks/bench_forecast.py --case bwdf-1D batadal-1h
    nice -n 10 .venv/bin/python benchmarks/bench_forecast.py --models gbm mstl --data DIR
    nice -n 10 .venv/bin/python benchmarks/bench_forecast.py --case batadal-1D --earlier
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CASES = ("bwdf-1h", "bwdf-1D", "batadal-1h", "batadal-1D")
WEEKS = 16


def _local_csv(path: Path, fmt: str, tz: str | None) -> pd.DataFrame:
    df = pd.read_csv(path)
    wall = pd.to_datetime(df.iloc[:, 0], format=fmt)
    if tz:
        t = wall.dt.tz_localize(tz, ambiguous="infer",
                                nonexistent="shift_forward").dt.tz_convert("UTC")
    else:
        t = wall.dt.tz_localize("UTC")
    df = df.iloc[:, 1:].set_axis(pd.DatetimeIndex(t, name="time"))
    return df[~df.index.duplicated()].asfreq("h")


def _daily(frame: pd.DataFrame, tz: str, how: str = "mean", min_hours: int = 20):
    local = frame.tz_convert(tz).tz_localize(None)
    days = local.resample("D")
    out = getattr(days, how)().where(days.count() >= min_hours)
    return out.asfreq("D")


def bwdf(data: Path, level: str):
    """(target frame, covariates, holidays) of bwdf-dev at ``level``."""
    import holidays as hol

    folder = data / "bwdf-dev"
    inflow = _local_csv(folder / "InflowData.csv", "%d/%m/%Y %H:%M", "Europe/Rome")
    inflow.columns = [c.split(" (")[0] for c in inflow.columns]
    weather = _local_csv(folder / "WeatherData.csv", "%d/%m/%Y %H:%M", "Europe/Rome")
    weather.columns = ["rain", "temp", "humidity", "wind"]
    years = range(inflow.index[0].year, inflow.index[-1].year + 2)
    off = set(hol.country_holidays("IT", years=list(years)))
    off |= {pd.Timestamp(y, 11, 3).date() for y in years}       # San Giusto, the patron saint
    if level == "1D":
        inflow = _daily(inflow, "Europe/Rome")
        weather = pd.concat([_daily(weather[["rain"]], "Europe/Rome", "sum"),
                             _daily(weather[["temp"]], "Europe/Rome")], axis=1)
    inflow.attrs.update(level=level, timezone="Europe/Rome", target="inflow")
    return inflow, weather[["rain", "temp"]], sorted(off)


def batadal(data: Path, level: str):
    """(tank levels, None, None) of BATADAL dataset03 at ``level`` (clock read as UTC)."""
    df = _local_csv(data / "batadal" / "dataset03.csv", "%d/%m/%y %H", None)
    tanks = df[[c for c in df.columns if c.startswith("L_T")]]
    if level == "1D":
        tanks = _daily(tanks, "UTC")
    tanks.attrs.update(level=level, timezone="UTC", target="tank level")
    return tanks, None, None


def run_case(case: str, data: Path, models: list[str], earlier: bool = False,
             params: dict | None = None) -> dict:
    from pumplib.forecast import backtest

    source, level = case.split("-")
    frame, cov, off = (bwdf if source == "bwdf" else batadal)(data, level)
    h = 168 if level == "1h" else 7
    if earlier:   # the 16 weeks before the tuning window: cut the last 16 weeks off
        attrs = dict(frame.attrs)
        frame = frame.iloc[:-WEEKS * h]
        frame.attrs.update(attrs)
    season = [24, 168] if level == "1h" else [7]
    t0 = time.perf_counter()
    res = backtest(frame, level, models, season=season, horizon=h, test_periods=WEEKS * h,
                   stride=h, covariates=cov, holidays=off, future=False,
                   model_params=params)
    secs = time.perf_counter() - t0
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(f"== {case}{' (earlier window)' if earlier else ''}: {frame.shape[1]} series, {len(frame)} periods, test from "
              f"{res.pooled.attrs['test_start']}, {secs:.1f} s")
        print(res.metrics[["mae", "mase", "rel_mae", "rel_mae_median4w", "coverage"]]
              .round(3).to_string())
        print(res.pooled.round(3).to_string())
    main_model = models[0]
    per = res.metrics.xs(main_model, level="model")
    pooled = res.pooled.loc[main_model]
    return {"model": main_model, "window": "earlier" if earlier else "last",
            "rel_mae_vs_weekly_naive": round(float(pooled["rel_mae"]), 4),
            "rel_mae_vs_median4w": round(float(pooled["rel_mae_median4w"]), 4),
            "worst_series_rel_mae_vs_median4w": round(float(per["rel_mae_median4w"].max()), 4),
            "coverage80_min": round(float(per["coverage"].min()), 4),
            "coverage80_max": round(float(per["coverage"].max()), 4),
            "baseline_coverage80": [round(float(res.pooled.loc[b, c]), 4)
                                    for b in ("naive", "median4w")
                                    for c in ("coverage_min", "coverage_max")],
            "mase": round(float(pooled["mase"]), 4),
            "seconds": round(secs, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", nargs="+", choices=CASES, default=["bwdf-1h"])
    ap.add_argument("--models", nargs="+", default=["gbm"],
                    help="models besides the baselines; the first is reported in the JSON")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--earlier", action="store_true",
                    help=f"score the {WEEKS} weeks before the last {WEEKS} (the data's last "
                         f"{WEEKS} weeks cut off): weeks the tuning never looked at")
    ap.add_argument("--params", type=json.loads, default=None, metavar="JSON",
                    help='model name -> parameters, e.g. \'{"gbm": {"anchor": "lag"}}\'')
    args = ap.parse_args()
    out = {}
    for case in args.case:
        folder = args.data / case.split("-")[0].replace("bwdf", "bwdf-dev")
        if not folder.is_dir():
            print(f"{folder} absent: case {case} skipped", file=sys.stderr)
            continue
        out[case] = run_case(case, args.data, args.models, args.earlier, args.params)
    if len(args.case) == 1:
        print(json.dumps({"case": args.case[0], **out.get(args.case[0], {"skipped": True})}))
    else:
        print(json.dumps({"cases": out}))


if __name__ == "__main__":
    main()
