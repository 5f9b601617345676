"""Per-minute cost of the live path after a raw commit (issue 26): quality flags and golden
rows of each closed minute (:class:`pumplib.live.minute.MinuteRows`).

A lake holds ``--history`` hours of simulated 1-second data of ``--pumps`` pumps (their
stations' tanks too), validated and built by the batch path. Then ``--minutes`` minutes
more are committed one at a time (a batch ingest of the minute's slice stands in for the
live committer) and after each the hook runs; the latency of a minute is the seconds from
its raw commit to its 1-minute row read back through ``pumplib.query``: the hook's quality
and minute/quarter-hour/hour steps plus the read. The day, week and month rows the hook
builds once an hour (``live.calendar_every``) come after the row is readable and are
reported apart (``calendar``). The history ends late in a local day: those hourly builds
read the changed day from its start.

Prints one line per minute and, last, JSON: ``minute_to_row_p50_s``, ``minute_to_row_p95_s``,
the mean seconds of each step, and the setup's sizes. Run it with ``nice -n 5``.

    .venv/bin/python benchmarks/bench_live_rows.py --pumps 20 --history 20 --minutes 15
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("PUMPLIB_INGEST__PROGRESS", "False")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pumps", type=int, default=20)
    ap.add_argument("--history", type=float, default=20.0, help="hours before the live minutes")
    ap.add_argument("--minutes", type=int, default=15)
    ap.add_argument("--freq", default="1s")
    ap.add_argument("--warmup", type=int, default=1,
                    help="first minutes left out of the percentiles (a process's first "
                         "quality run compiles its kernels)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--chunk-samples", type=int, default=None,
                    help="lake.chunk_samples of the new lake (default: the setting)")
    args = ap.parse_args(argv)

    import pumplib
    from pumplib import config

    if args.chunk_samples:
        config.set({"lake.chunk_samples": args.chunk_samples})
    from pumplib.assets import AssetRegistry
    from pumplib.ingest import ingest
    from pumplib.lake import Lake
    from pumplib.live.minute import MinuteRows
    from pumplib.pipeline import build_features
    from pumplib.quality import validate
    from pumplib.simulate import make_registry, simulate

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_live_rows_"))
    shutil.rmtree(work / "store", ignore_errors=True)
    (work / "min").mkdir(parents=True, exist_ok=True)
    reg = AssetRegistry.from_dict(make_registry(n_stations=max(1, args.pumps // 2),
                                                pumps_per_station=2))
    tz = reg.utility["timezone"]
    day0 = pd.Timestamp("2026-03-09", tz=tz).tz_convert("UTC")      # a local midnight
    t = time.perf_counter()
    frame = pd.concat([c.frame for c in simulate(reg, start=day0.tz_convert(None), days=1,
                                                  freq=args.freq, faults=())])
    cut = day0 + pd.Timedelta(hours=args.history)
    hist = frame[frame.timestamp < cut]
    hist.to_parquet(work / "history.parquet", index=False)
    setup = {"simulate_s": time.perf_counter() - t}
    lake = Lake(work / "store", create=True)
    t = time.perf_counter()
    ingest([work / "history.parquet"], store=lake, registry=reg, cadence=args.freq)
    setup["ingest_s"] = time.perf_counter() - t
    t = time.perf_counter()
    validate(lake, args.freq, registry=reg)
    setup["validate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    build_features(lake, reg, cadence=args.freq, log=lambda m: None)
    setup["build_s"] = time.perf_counter() - t
    print("setup", {k: round(v, 1) for k, v in setup.items()}, flush=True)

    hook = MinuteRows(registry=reg, cadence=args.freq)
    lat, steps = [], []
    for k in range(args.minutes):
        m = cut + pd.Timedelta(minutes=k)
        path = work / "min" / f"{k}.parquet"
        frame[(frame.timestamp >= m) & (frame.timestamp < m + pd.Timedelta("1min"))].to_parquet(
            path, index=False)
        ingest([path], store=lake, registry=reg, cadence=args.freq)   # the raw commit
        t0 = time.perf_counter()
        res = hook(lake, m.value, m.value + 60 * 10**9)
        t1 = time.perf_counter()
        row = pumplib.query("energy", level="1min", start=m.tz_convert(None),
                            end=(m + pd.Timedelta("1min")).tz_convert(None), store=lake,
                            timezone="UTC").load()
        t2 = time.perf_counter()
        assert row.sizes["time"] == 1 and bool(row["energy_coverage"].notnull().all()), row
        lat.append(res.timings["quality"] + res.timings["features"] + (t2 - t1))
        steps.append({**res.timings, "query": t2 - t1})
        print(f"minute {k}: {lat[-1]:.2f} s to the row, hook {t1 - t0:.2f} s ({', '.join(f'{n} {v:.2f}' for n, v in steps[-1].items())})",
              flush=True)
    first = lat[:args.warmup]
    lat, steps = lat[args.warmup:], steps[args.warmup:]
    out = {"pumps": args.pumps, "chunk_samples": int(config.get("lake.chunk_samples")), "assets": len(reg.assets), "freq": args.freq,
           "history_h": args.history, "minutes": args.minutes,
           "minute_to_row_p50_s": round(float(np.percentile(lat, 50)), 2),
           "minute_to_row_p95_s": round(float(np.percentile(lat, 95)), 2),
           "minute_to_row_max_s": round(float(np.max(lat)), 2),
           "warmup_minutes_s": [round(x, 2) for x in first],
           **{f"mean_{n}_s": round(float(np.mean([s[n] for s in steps])), 2)
              for n in steps[0]},
           "cpus": os.cpu_count(), "setup": {k: round(v, 1) for k, v in setup.items()}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
