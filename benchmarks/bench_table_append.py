"""Cost of appending one day to golden tables that hold a long history.

An incremental feature build appends a day of minutes, quarter hours and hours to
the stored levels (``features/<level>``: one ``(column, asset, time)`` array per
level). Whatever a chunk held before is decoded and the whole chunk encoded again,
so what an appended day costs depends on the chunks' time length, not on the day.

Both contenders write the same synthetic tables (``--pumps`` assets × ``--columns``
columns, ``--days`` of history at 15 min and 1 h, ``--minute-days`` at 1 min, values with a few decimals
like golden-table means) into a fresh local lake, then time the append of one more
day with :func:`pumplib.features.write_tables` (one commit, as ``build_lake`` does):

* ``pumplib``: the time chunks of this pumplib (``_TIME_CHUNKS``: a day of minutes,
  a week of quarter hours and of hours);
* ``before``: the time chunks before 2026-11-27 (2 days of minutes, 30 days of
  quarter hours, 366 days of hours, each capped at the first write's length).

The history is written once per contender, then ``--appended`` days one by one,
as daily incremental builds do (not timed); the append of the next day is timed
``--repeat`` times from the same stored history (the branch is reset), and the
figures are medians. The last line is JSON.

    python benchmarks/bench_table_append.py             # 20 pumps, 96 columns, 365 days
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

LEVEL_STEPS = {"1min": 60, "15min": 900, "1h": 3600}
BEFORE = {"1min": 2 * 1440, "15min": 30 * 96, "1h": 366 * 24, "1D": 3660}
START = pd.Timestamp("2025-11-26T23:00Z")


def table(level: str, pumps: int, columns: int, t0: pd.Timestamp, days: int,
          seed: int) -> xr.Dataset:
    step = LEVEL_STEPS[level]
    n = days * 86400 // step
    times = pd.date_range(t0.tz_localize(None), periods=n, freq=f"{step}s")
    rng = np.random.default_rng(seed)
    data = {f"f{c:03d}_mean": (("asset", "time"),
                               np.round(50 + 10 * rng.standard_normal((pumps, n)), 3),
                               {"feature": f"f{c:03d}", "units": "kW"})
            for c in range(columns)}
    ds = xr.Dataset(data, coords={"asset": [f"P{i:02d}" for i in range(pumps)],
                                  "time": times,
                                  "time_end": ("time", times + pd.Timedelta(seconds=step))},
                    attrs={"level": level, "timezone": "Europe/Amsterdam",
                           "step_seconds": 1, "definition_hashes": {}})
    return ds


def run(chunks: dict | None, args, work: Path) -> dict:
    from pumplib.features import builder, write_tables
    from pumplib.lake import Lake, open_root

    saved = dict(builder._TIME_CHUNKS)
    if chunks is not None:
        builder._TIME_CHUNKS.clear()
        builder._TIME_CHUNKS.update(chunks)
    try:
        lake = Lake(str(work / "lake"), create=True)
        # minutes: a shorter history (a year would be 8 GB in memory; their chunks
        # hold at most two days either way), ending where the others end
        history = {lv: table(lv, args.pumps, args.columns,
                             START + pd.Timedelta(days=args.days - days), days, 1)
                   for lv, days in (("1min", min(args.days, args.minute_days)),
                                    ("15min", args.days), ("1h", args.days))}
        write_tables(lake, history, "history")
        del history

        def day(k):
            out = {}
            for lv in LEVEL_STEPS:
                ds = table(lv, args.pumps, args.columns,
                           START + pd.Timedelta(days=args.days + k), 1, 2 + k)
                ds.attrs["changed"] = [0, 1]             # an incremental build's tables
                out[lv] = ds
            return out

        for k in range(args.appended):               # days appended since the build
            base = write_tables(lake, day(k), f"day {k}")
        base = lake.tip() if args.appended == 0 else base
        timed = day(args.appended)
        seconds = []
        for _ in range(args.repeat):
            lake.repo.reset_branch("main", base)
            t = time.perf_counter()
            write_tables(lake, timed, "one more day")
            seconds.append(time.perf_counter() - t)
        got = lake.open_group("features/1h")
        assert got.sizes["time"] == (args.days + args.appended + 1) * 24
        root = open_root(lake.session().store)
        tchunks = {lv: int(root[f"features/{lv}/{builder.VALUES}"].chunks[-1])
                   for lv in LEVEL_STEPS}
        return {"seconds": float(np.median(seconds)), "seconds_runs": seconds,
                "time_chunks": tchunks}
    finally:
        builder._TIME_CHUNKS.clear()
        builder._TIME_CHUNKS.update(saved)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pumps", type=int, default=20)
    ap.add_argument("--columns", type=int, default=96)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--minute-days", type=int, default=14,
                    help="days of minutes in the history (default 14)")
    ap.add_argument("--appended", type=int, default=10,
                    help="days appended one by one after the history, before the timed "
                         "one (default 10: a lake that has been appended to daily)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error(f"--repeat: expected 1 or more, got {args.repeat}")
    out = {}
    for name, chunks in (("before", BEFORE), ("pumplib", None)):
        work = Path(tempfile.mkdtemp(prefix=f"bench-append-{name}-"))
        try:
            out[name] = run(chunks, args, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"{name}: {out[name]['seconds']:.3f} s per appended day, time chunks "
              f"{out[name]['time_chunks']}", flush=True)
    res = {"pumps": args.pumps, "columns": args.columns, "history_days": args.days,
           "appended_before": args.appended,
           "seconds": round(out["pumplib"]["seconds"], 3),
           "before_seconds": round(out["before"]["seconds"], 3),
           "speedup_vs_before": round(out["before"]["seconds"] / out["pumplib"]["seconds"], 2),
           "time_chunks": out["pumplib"]["time_chunks"],
           "before_time_chunks": out["before"]["time_chunks"],
           "seconds_runs": [round(s, 3) for s in out["pumplib"]["seconds_runs"]],
           "before_seconds_runs": [round(s, 3) for s in out["before"]["seconds_runs"]]}
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
