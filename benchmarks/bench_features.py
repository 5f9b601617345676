"""Golden-table build rate, incremental cost and peak memory of ``pumplib.features``.

Scenario (issue 4): ``--pumps`` pumps × 8 signals × ``--days`` local days at
1 Hz (20 × 8 × 14 = 193.5 M samples) in the raw lake, written once with
vectorised numpy through ``Lake(url).transaction()`` + ``tx.write_block``
into ``benchmarks/_work/features-<pumps>x<days>/lake`` (reused by later runs;
the branch is reset to the raw-only snapshot before each run). The same data
are exported once to wide Parquet (``time``, ``asset``, 8 signals) for the
peers.

Before the clock starts for anyone, an untimed child reads every contender's
input once (the raw lake through a basic build kept in memory, the Parquet file
byte for byte): all contenders then find their input in the page cache, whatever
ran before (a previous run's peers use ~6 GB and can evict the lake).

Contenders, each in its own child process (peak memory is the child's
``VmHWM`` of its own address space, see ``_peak.py``):

* ``pumplib``: ``build_lake`` of the six levels (1min, 15min, 1h, 1D, 1W,
  1M) with mean, min, max, count and coverage for the 8 signals, read from
  the lake, computed and committed as ``features/<level>`` (and the day
  partials) in one Icechunk commit — the headline ``seconds``;
* ``pumplib_compute``: the same tables computed but not stored (``build`` with
  the eager engine, tables in memory), as the peers keep theirs — a second
  figure beside the headline, which includes writing and committing;
* ``pumplib_all``: the same plus the pump-physics features (the peers do not
  compute these);
* ``pumplib_incremental``: one more local day appended to the raw lake (not
  timed), then ``build_lake(..., changed=<that day>)``;
* ``pandas``: the same basic outputs (mean, min, max, count, coverage of the
  8 signals at the six levels) from the wide Parquet file: ``read_parquet``,
  1-minute partials with one ``groupby``, coarser levels rolled up from those
  partials (sum / count / min / max, never averages of averages), local-time
  day, Monday week and month. It does not compute the physics features, so
  it does less work than pumplib.
* ``polars`` and ``duckdb`` when importable (they are not in this venv;
  the JSON line lists them under ``peers_missing``).

Every contender runs ``--repeat`` times (default 3), in rounds of all of them in turn
(the lake reset before each round's builds, the day appended anew): each figure is the
median of its rounds, peak memory the largest, and the JSON line lists every round
(``seconds_runs_by_run``, ``incremental_fraction_runs``). One run on this shared VM
moves by ±15 %.

Usage::

    python benchmarks/bench_features.py             # 20 pumps × 14 days
    python benchmarks/bench_features.py --quick     # 4 pumps × 3 days smoke run

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
TZ = "Europe/Amsterdam"
#: first local day of the data (a Monday): 2026-03-02 00:00 CET = 2026-03-01T23:00Z
START_S = int(pd.Timestamp("2026-03-02", tz=TZ).tz_convert("UTC").timestamp())
DAY = 86400
SIGNALS = ("flow", "suction_pressure", "discharge_pressure", "power", "current", "speed",
           "run_state", "bearing_temperature")
BASIC_AGGS = ["mean", "min", "max", "count"]
LEVELS = ["1min", "15min", "1h", "1D", "1W", "1M"]


# -- data ----------------------------------------------------------------------------------------
def assets(pumps: int) -> list[str]:
    return [f"S{i // 5 + 1:02d}-P{i % 5 + 1}" for i in range(pumps)]


def registry_dict(pumps: int) -> dict:
    pump = {"kind": "pump", "pump_type": "variable_speed",
            "rated": {"flow": 200.0, "head": 40.0, "power": 30.0, "speed": 1480.0,
                      "efficiency": 0.8},
            "curve": {"shutoff_head": 52.0, "bep_flow": 190.0, "bep_efficiency": 0.81}}
    ids = assets(pumps)
    stations: dict[str, list] = {}
    for a in ids:
        st = a.split("-")[0]
        stations.setdefault(st, []).append(
            {**pump, "id": a, "signals": {"flow": {"tag": f"{a}.FLOW", "unit": "m3/h"}}})
    return {"version": 1,
            "utility": {"id": "b", "name": "Bench", "timezone": TZ, "currency": "EUR"},
            "holidays": [],
            "tariffs": {"tou": {"default_price": 0.10, "periods": [
                {"name": "peak", "price": 0.30, "start": "07:00", "end": "21:00",
                 "days": ["mon", "tue", "wed", "thu", "fri"]}]}},
            "stations": [{"id": st, "name": st, "tariff": "tou", "assets": a}
                         for st, a in stations.items()]}


def day_block(pumps: int, day: int, seed: int = 0) -> dict[str, np.ndarray]:
    """One local day of 1 Hz data for every pump: dict signal -> (pumps, 86400) float64."""
    rng = np.random.default_rng(seed * 1000 + day)
    t = np.arange(DAY)
    p = np.arange(pumps)[:, None]
    # duty cycles: each pump runs in blocks of ~40 min with pump-specific phase
    phase = (t[None, :] // 2400 + p + day) % 4
    run = (phase != 0).astype(np.float64)
    noise = rng.standard_normal((pumps, DAY)).astype(np.float32)
    load = 0.85 + 0.1 * np.sin(2 * np.pi * (t[None, :] / DAY + p / pumps))
    flow = run * (190.0 * load + 3.0 * noise)
    ps = np.full((pumps, DAY), 0.6) + 0.01 * noise
    pd_ = 0.6 + run * 3.6 * load + 0.02 * noise
    power = 0.4 + run * (27.0 * load + 0.5 * noise)
    out = {"flow": flow, "suction_pressure": ps, "discharge_pressure": pd_, "power": power,
           "current": power * 1.7, "speed": run * 1480.0 * load, "run_state": run,
           "bearing_temperature": 45.0 + 10 * load + 0.2 * noise}
    # a sensor gap (10 min) per pump and day in the flow
    for i in range(pumps):
        g = int(rng.integers(0, DAY - 600))
        out["flow"][i, g:g + 600] = np.nan
    return {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in out.items()}


def write_days(url: str, pumps: int, days: range, message: str) -> str:
    from pumplib.lake import Lake

    lake = Lake(url, create=True)
    ids = assets(pumps)
    with lake.transaction(message, {"kind": "bench"}) as tx:
        for d in days:
            for sig, vals in day_block(pumps, d).items():
                tx.write_block("1s", ids, sig, START_S + d * DAY, vals)
    return tx.snapshot


def write_parquet(path: Path, pumps: int, days: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = np.array(assets(pumps))
    writer = None
    for d in range(days):
        blk = day_block(pumps, d)
        t = (START_S + d * DAY + np.arange(DAY, dtype=np.int64))
        cols = {"time": pa.array(np.tile(t, pumps).astype("datetime64[s]"),
                                 pa.timestamp("s", tz="UTC")),
                "asset": pa.DictionaryArray.from_arrays(
                    pa.array(np.repeat(np.arange(pumps, dtype=np.int32), DAY)), pa.array(ids))}
        for s in SIGNALS:
            cols[s] = pa.array(blk[s].ravel())
        table = pa.table(cols)
        if writer is None:
            writer = pq.ParquetWriter(str(path), table.schema, compression="zstd")
        writer.write_table(table, row_group_size=DAY * pumps)
    writer.close()


def prepare(work: Path, pumps: int, days: int) -> dict:
    """The raw lake (``days`` local days) and the Parquet export, made once."""
    work.mkdir(parents=True, exist_ok=True)
    meta_path = work / "meta.json"
    if meta_path.exists():
        return json.loads(meta_path.read_text())
    t = time.perf_counter()
    url = str(work / "lake")
    snap = write_days(url, pumps, range(days), f"bench raw {days} days")
    write_parquet(work / "wide.parquet", pumps, days)
    meta = {"url": url, "raw_snapshot": snap, "pumps": pumps, "days": days,
            "parquet": str(work / "wide.parquet"), "prepare_s": round(time.perf_counter() - t, 1)}
    meta_path.write_text(json.dumps(meta))
    return meta


# -- contenders (run in child processes) ---------------------------------------------------------
def _cpu() -> float:
    """CPU seconds of this process, every thread (steadier than wall time on a loaded
    machine; a contender's timed region is measured both ways)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime

def basic_definitions() -> list[dict]:
    return [{"name": f"{s}_signal", "version": 1, "unit": _unit(s), "inputs": [s], "expression": s,
             "aggregations": BASIC_AGGS, "levels": LEVELS, "min_coverage": 0.0}
            for s in SIGNALS]


def _unit(signal: str) -> str:
    from pumplib import signals

    return signals.get(signal).unit


def bench_catalog(physics: bool = True):
    import yaml

    from pumplib.features import catalog_from_dicts, load_catalog

    defs = basic_definitions()
    if physics:
        load_catalog(str(REPO / "catalogs" / "features"))      # validated as shipped
        for path in sorted((REPO / "catalogs" / "features").glob("*.yaml")):
            doc = yaml.safe_load(path.read_text())
            defs += doc.get("features", [doc])
    return catalog_from_dicts(defs)


def _setup(meta: dict, physics: bool):
    """Registry, catalog and lake of a pumplib contender, made before its clock starts
    (dask imported too, like each peer's library)."""
    import dask.array  # noqa: F401

    from pumplib.assets import AssetRegistry
    from pumplib.lake import Lake

    return (AssetRegistry.from_dict(registry_dict(meta["pumps"])), bench_catalog(physics),
            Lake(meta["url"]))


def _forced(build_lake) -> dict:
    """``force=True`` where ``build_lake`` skips a build of what the lake holds (since
    2026-12-07): every timed run rebuilds the same lake."""
    import inspect

    return {"force": True} if "force" in inspect.signature(build_lake).parameters else {}


def run_pumplib(meta: dict, changed=None, physics: bool = True) -> dict:
    from pumplib.features import build_lake

    reg, cat, lake = _setup(meta, physics)
    t = time.perf_counter()
    c = _cpu()
    snap = build_lake(lake, cat, LEVELS, registry=reg, timezone=TZ, cadence="1s",
                      changed=changed, quality=False,   # no quality run on this lake
                      **_forced(build_lake))
    return {"seconds": time.perf_counter() - t, "cpu_s": _cpu() - c, "snapshot": snap}


def run_compute(meta: dict) -> dict:
    """The basic build computed but not stored (``build(..., engine="blocks")``, tables in
    memory): what the peers do, who keep their outputs in memory too."""
    from pumplib.features import build, materialize

    reg, cat, lake = _setup(meta, False)
    t = time.perf_counter()
    c = _cpu()
    tables = materialize(build(lake, cat, LEVELS, registry=reg, timezone=TZ, cadence="1s",
                               partials=True, engine="blocks"))
    n = sum(v.size for ds in tables.values() for v in ds.data_vars.values())
    return {"seconds": time.perf_counter() - t, "cpu_s": _cpu() - c, "cells": int(n)}


def run_before(meta: dict, physics: bool = False) -> dict:
    """The same basic build with an older pumplib first on ``PYTHONPATH`` (before/after
    figures in one run): its ``build_lake`` when it has one, else the lazy dask path
    (``build`` + ``write_tables``). ``meta`` may name a lake prepared with the older
    raw codec (``--before-workdir``)."""
    from pumplib.features import build, write_tables

    reg, cat, lake = _setup(meta, physics)
    t = time.perf_counter()
    c = _cpu()
    try:
        from pumplib.features import build_lake
    except ImportError:
        write_tables(lake, build(lake, cat, LEVELS, registry=reg, timezone=TZ, cadence="1s"))
    else:
        build_lake(lake, cat, LEVELS, registry=reg, timezone=TZ, cadence="1s", quality=False,
                   **_forced(build_lake))
    return {"seconds": time.perf_counter() - t, "cpu_s": _cpu() - c}


def run_warm(meta: dict) -> dict:
    """Untimed: read every contender's input once (the raw lake through a basic build
    kept in memory, the Parquet file byte for byte), so each timed run finds it in the
    page cache, whatever ran before (the peers' few GB can evict the lake)."""
    t = time.perf_counter()
    run_compute(meta)
    with open(meta["parquet"], "rb") as f:
        while f.read(1 << 24):
            pass
    return {"seconds": time.perf_counter() - t, "cpu_s": 0.0}


def run_pandas(meta: dict) -> dict:
    t = time.perf_counter()
    c = _cpu()
    df = pd.read_parquet(meta["parquet"])
    out = pandas_levels(df)
    n = sum(v.size for v in out.values())
    return {"seconds": time.perf_counter() - t, "cpu_s": _cpu() - c, "cells": int(n)}


def pandas_levels(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Mean/min/max/count/coverage of SIGNALS at LEVELS: 1-min partials, then roll-ups."""
    sig = list(SIGNALS)
    minute = df["time"].dt.floor("min")
    g = df[sig].groupby([df["asset"], minute], observed=True, sort=True)
    parts = {"sum": g.sum(), "n": g.count(), "min": g.min(), "max": g.max()}
    del g, minute
    expected = {"1min": 60.0, "15min": 900.0, "1h": 3600.0}

    def finish(p, exp):
        res = {}
        for s in sig:
            n = p["n"][s]
            res[f"{s}_mean"] = p["sum"][s] / n.where(n > 0)
            res[f"{s}_min"], res[f"{s}_max"], res[f"{s}_count"] = p["min"][s], p["max"][s], n
            res[f"{s}_coverage"] = n / exp
        return pd.DataFrame(res)

    def roll(p, key):
        return {"sum": p["sum"].groupby(key).sum(), "n": p["n"].groupby(key).sum(),
                "min": p["min"].groupby(key).min(), "max": p["max"].groupby(key).max()}

    out = {"1min": finish(parts, 60.0)}
    cur = parts
    for lv in ("15min", "1h"):
        idx = cur["n"].index
        key = [idx.get_level_values(0), idx.get_level_values(1).floor(lv)]
        cur = roll(cur, key)
        out[lv] = finish(cur, expected[lv])
    idx = cur["n"].index
    local = idx.get_level_values(1).tz_convert(TZ)
    day = local.floor("D", ambiguous=True, nonexistent="shift_forward")
    days = roll(cur, [idx.get_level_values(0), day])
    dstart = days["n"].index.get_level_values(1)
    dexp = ((dstart + pd.DateOffset(days=1)) - dstart).total_seconds().values
    out["1D"] = finish(days, dexp)
    didx = days["n"].index
    dl = didx.get_level_values(1)
    week = (dl - pd.to_timedelta(dl.dayofweek, unit="D"))
    wk = roll(days, [didx.get_level_values(0), week])
    w = wk["n"].index.get_level_values(1)
    out["1W"] = finish(wk, ((w + pd.DateOffset(days=7)) - w).total_seconds().values)
    month = dl.tz_localize(None).to_period("M").to_timestamp().tz_localize(TZ)
    mo = roll(days, [didx.get_level_values(0), month])
    m = mo["n"].index.get_level_values(1)
    out["1M"] = finish(mo, ((m + pd.DateOffset(months=1)) - m).total_seconds().values)
    return out


def run_polars(meta: dict) -> dict:
    """The basic outputs with Polars: 1-min partials, then roll-ups (local days, Monday
    weeks, calendar months), coverage from each period's real length."""
    import polars as pl

    t0 = time.perf_counter()
    c = _cpu()
    sig = list(SIGNALS)
    df = pl.read_parquet(meta["parquet"]).with_columns(pl.col(sig).fill_nan(None))
    first = [e for s in sig for e in (pl.col(s).sum().alias(f"{s}_sum"),
                                      pl.col(s).count().alias(f"{s}_n"),
                                      pl.col(s).min().alias(f"{s}_min"),
                                      pl.col(s).max().alias(f"{s}_max"))]
    roll = [e for s in sig for e in (pl.col(f"{s}_sum").sum(), pl.col(f"{s}_n").sum(),
                                     pl.col(f"{s}_min").min(), pl.col(f"{s}_max").max())]

    def finish(p: pl.DataFrame, expected) -> pl.DataFrame:
        exp = pl.lit(expected) if isinstance(expected, float) else expected
        cols = []
        for s in sig:
            n = pl.col(f"{s}_n")
            cols += [(pl.col(f"{s}_sum") / n).alias(f"{s}_mean"), pl.col(f"{s}_min"),
                     pl.col(f"{s}_max"), n.alias(f"{s}_count"), (n / exp).alias(f"{s}_coverage")]
        return p.select("asset", "t", *cols)

    cur = df.group_by("asset", pl.col("time").dt.truncate("1m").alias("t")).agg(first)
    out = {"1min": finish(cur, 60.0)}
    for lv, every, secs in (("15min", "15m", 900.0), ("1h", "1h", 3600.0)):
        cur = cur.group_by("asset", pl.col("t").dt.truncate(every)).agg(roll)
        out[lv] = finish(cur, secs)
    local = cur.with_columns(pl.col("t").dt.convert_time_zone(TZ))
    days = local.group_by("asset", pl.col("t").dt.truncate("1d")).agg(roll)
    length = (pl.col("t").dt.offset_by("1d") - pl.col("t")).dt.total_seconds().cast(pl.Float64)
    out["1D"] = finish(days, length)
    for lv, every in (("1W", "1w"), ("1M", "1mo")):
        per = days.group_by("asset", pl.col("t").dt.truncate(every)).agg(roll)
        length = (pl.col("t").dt.offset_by(every) - pl.col("t")).dt.total_seconds().cast(
            pl.Float64)
        out[lv] = finish(per, length)
    n = sum(v.height * (v.width - 2) for v in out.values())
    return {"seconds": time.perf_counter() - t0, "cpu_s": _cpu() - c, "cells": int(n)}


def run_duckdb(meta: dict) -> dict:
    """The basic outputs with DuckDB SQL over the Parquet file, the same partials."""
    import duckdb

    t0 = time.perf_counter()
    c = _cpu()
    sig = list(SIGNALS)
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{TZ}'")
    clean = ", ".join(f"CASE WHEN isnan({s}) THEN NULL ELSE {s} END AS {s}" for s in sig)
    first = ", ".join(f"sum({s}) AS {s}_sum, count({s}) AS {s}_n, min({s}) AS {s}_min, "
                      f"max({s}) AS {s}_max" for s in sig)
    roll = ", ".join(f"sum({s}_sum) AS {s}_sum, sum({s}_n) AS {s}_n, min({s}_min) AS {s}_min, "
                     f"max({s}_max) AS {s}_max" for s in sig)

    def finish(table: str, expected: str) -> int:
        cols = ", ".join(f"{s}_sum / {s}_n AS {s}_mean, {s}_min, {s}_max, {s}_n AS {s}_count, "
                         f"{s}_n / ({expected}) AS {s}_coverage" for s in sig)
        res = con.execute(f"SELECT asset, t, {cols} FROM {table}").to_arrow_table()
        return res.num_rows * (res.num_columns - 2)

    con.execute(f"CREATE TEMP TABLE m AS SELECT asset, time_bucket(INTERVAL 1 minute, time) "
                f"AS t, {first} FROM (SELECT asset, time, {clean} FROM "
                f"read_parquet('{meta['parquet']}')) GROUP BY ALL")
    n = finish("m", "60.0")
    con.execute(f"CREATE TEMP TABLE q AS SELECT asset, time_bucket(INTERVAL 15 minute, t) AS t, "
                f"{roll} FROM m GROUP BY ALL")
    n += finish("q", "900.0")
    con.execute(f"CREATE TEMP TABLE h AS SELECT asset, time_bucket(INTERVAL 1 hour, t) AS t, "
                f"{roll} FROM q GROUP BY ALL")
    n += finish("h", "3600.0")
    # local calendar: date_trunc on timestamptz follows the session time zone
    length = "epoch(t + {step}) - epoch(t)"
    con.execute(f"CREATE TEMP TABLE d AS SELECT asset, date_trunc('day', t) AS t, {roll} "
                f"FROM h GROUP BY ALL")
    n += finish("d", length.format(step="INTERVAL 1 day"))
    for name, unit, step in (("w", "week", "INTERVAL 7 day"), ("mo", "month",
                                                                "INTERVAL 1 month")):
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT asset, date_trunc('{unit}', t) AS t, "
                    f"{roll} FROM d GROUP BY ALL")
        n += finish(name, length.format(step=step))
    return {"seconds": time.perf_counter() - t0, "cpu_s": _cpu() - c, "cells": int(n)}


def child(kind: str, meta_json: str) -> None:
    meta = json.loads(meta_json)
    if kind == "pumplib":
        res = run_pumplib(meta, physics=False)
    elif kind == "pumplib_compute":
        res = run_compute(meta)
    elif kind == "pumplib_all":
        res = run_pumplib(meta)
    elif kind == "pumplib_incremental":
        res = run_pumplib(meta, changed=tuple(meta["changed"]))
    elif kind == "pumplib_before":
        res = run_before(meta, physics="all" in os.environ.get("BENCH_BEFORE_SET", ""))
    elif kind == "warm":
        res = run_warm(meta)
    elif kind == "pandas":
        res = run_pandas(meta)
    elif kind == "polars":
        res = run_polars(meta)
    elif kind == "duckdb":
        res = run_duckdb(meta)
    else:
        raise SystemExit(f"unknown contender {kind!r}")
    from _peak import peak_rss_gb

    ru = resource.getrusage(resource.RUSAGE_SELF)
    res["self_rss_gb"] = round(peak_rss_gb(), 3)   # its own, not the parent's high-water mark
    res["cpu_s_total"] = round(ru.ru_utime + ru.ru_stime, 2)     # imports included
    print("RESULT " + json.dumps(res), flush=True)


def spawn(kind: str, meta: dict) -> dict:
    """Run one contender in a child process; it reports its time and its own peak RSS
    (``RUSAGE_SELF`` in the child; the parent's ``RUSAGE_CHILDREN`` is the maximum
    over all children, reported as ``peak_rss_children_gb``)."""
    # flush what earlier runs wrote (hundreds of MB of golden tables) first, so the kernel
    # does not write it back on the 2 cores while this contender is timed
    os.sync()
    cmd = [sys.executable, __file__, "--child", kind, json.dumps(meta)]
    env = dict(os.environ)
    if kind == "pumplib_before" and meta.get("before_path"):
        env["PYTHONPATH"] = meta["before_path"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO), env=env)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-5000:], file=sys.stderr)
        raise SystemExit(f"{kind} failed with exit code {proc.returncode}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    res = json.loads(line[7:])
    print(f"{kind}: {res['seconds']:.2f} s, peak {res['self_rss_gb']:.2f} GB", flush=True)
    return res


def _median_run(rs: list[dict]) -> dict:
    """One contender's rounds as one result: the median of each time, the largest peak
    memory, and every round's seconds (``seconds_runs``)."""
    out = dict(rs[len(rs) // 2])
    for key in ("seconds", "cpu_s", "cpu_s_total"):
        out[key] = float(np.median([r[key] for r in rs]))
    out["self_rss_gb"] = max(r["self_rss_gb"] for r in rs)
    out["seconds_runs"] = [round(r["seconds"], 3) for r in rs]
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pumps", type=int, default=20)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--quick", action="store_true", help="4 pumps × 3 days (smoke run)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds of every contender; each figure is the median of its rounds "
                         "(default 3: this shared VM moves a run by ±15 %%)")
    ap.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--before-path", default=None,
                    help="also time the basic build with this folder first on PYTHONPATH "
                         "(a copy of an older pumplib), as pumplib_before")
    ap.add_argument("--before-workdir", default=None,
                    help="with --before-path: a prepared folder (same pumps and days) whose "
                         "lake the older pumplib reads, e.g. one written with the older "
                         "raw codec (benchmarks/_work/features-20x14 holds Blosc zstd)")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "META"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return {}
    if args.repeat < 1:
        ap.error(f"--repeat: expected 1 or more rounds, got {args.repeat}")
    if args.quick:
        args.pumps, args.days = 4, 3
    from pumplib import config
    from pumplib.lake import RAW_CODEC

    codec = config.get("lake.codec", RAW_CODEC)     # the lake's raw layout names the folder
    ac = int(config.get("lake.asset_chunk"))
    work = Path(args.workdir or REPO / "benchmarks" / "_work" /
                f"features-{args.pumps}x{args.days}-{codec}{'' if ac == 1 else f'-a{ac}'}")
    meta = prepare(work, args.pumps, args.days)
    if args.prepare_only:
        print(json.dumps(meta))
        return meta
    samples = args.pumps * len(SIGNALS) * args.days * DAY
    from pumplib.lake import Lake

    lake = Lake(meta["url"])
    lake.repo.reset_branch("main", meta["raw_snapshot"])   # raw only, as prepared
    spawn("warm", meta)                      # inputs in the page cache, for every contender
    load0 = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {}
    peers_missing = []
    day0 = START_S + args.days * DAY
    # rounds of every contender in turn (a slow minute of the machine hits all of them);
    # each figure is the median of its rounds, peak memory the largest
    for _ in range(args.repeat):
        # the basic outputs (what the peers compute), then basic + pump physics
        runs.setdefault("pumplib", []).append(spawn("pumplib", meta))
        lake.repo.reset_branch("main", meta["raw_snapshot"])
        runs.setdefault("pumplib_compute", []).append(spawn("pumplib_compute", meta))
        runs.setdefault("pumplib_all", []).append(spawn("pumplib_all", meta))
        # one more local day appended (not timed), then the incremental build of everything
        write_days(meta["url"], args.pumps, range(args.days, args.days + 1),
                   "bench: one more day")
        runs.setdefault("pumplib_incremental", []).append(
            spawn("pumplib_incremental", {**meta, "changed": [day0, day0 + DAY]}))
        lake.repo.reset_branch("main", meta["raw_snapshot"])
        if args.before_path:
            bmeta = meta
            if args.before_workdir:
                bmeta = json.loads((Path(args.before_workdir) / "meta.json").read_text())
                if (bmeta["pumps"], bmeta["days"]) != (args.pumps, args.days):
                    raise SystemExit(f"--before-workdir holds {bmeta['pumps']} pumps x "
                                     f"{bmeta['days']} days, not {args.pumps} x {args.days}")
            blake = Lake(bmeta["url"])
            blake.repo.reset_branch("main", bmeta["raw_snapshot"])
            runs.setdefault("pumplib_before", []).append(
                spawn("pumplib_before", {**bmeta, "before_path": args.before_path}))
            blake.repo.reset_branch("main", bmeta["raw_snapshot"])
        if not args.skip_peers:
            runs.setdefault("pandas", []).append(spawn("pandas", meta))
            for name in ("polars", "duckdb"):
                try:
                    __import__(name)
                except ImportError:
                    if name not in peers_missing:
                        peers_missing.append(name)
                    continue
                runs.setdefault(name, []).append(spawn(name, meta))
    results = {k: _median_run(v) for k, v in runs.items()}
    lake.repo.reset_branch("main", meta["raw_snapshot"])
    # what the runs committed is unreachable now: delete it (each run writes ~1-2 GB of
    # golden tables; without this the cached lake grew to 38 GB over a day of runs)
    lake.repo.garbage_collect(dt.datetime.now(dt.UTC))
    full = results["pumplib"]["seconds"]
    full_all = results["pumplib_all"]["seconds"]
    peers = {k: v["seconds"] for k, v in results.items() if not k.startswith("pumplib")}
    best = min(peers, key=peers.get) if peers else None
    out = {
        "seconds": round(full, 2),
        "samples": samples,
        "samples_per_s": round(samples / full),
        "best_peer": best,
        "best_peer_seconds": round(peers[best], 2) if best else None,
        "speedup_vs_best_peer": round(peers[best] / full, 2) if best else None,
        "seconds_compute_only": round(results["pumplib_compute"]["seconds"], 2),
        "speedup_compute_only_vs_best_peer": round(
            peers[best] / results["pumplib_compute"]["seconds"], 2) if best else None,
        "seconds_with_physics": round(full_all, 2),
        "samples_per_s_with_physics": round(samples / full_all),
        "incremental_seconds": round(results["pumplib_incremental"]["seconds"], 2),
        "incremental_fraction": round(results["pumplib_incremental"]["seconds"] / full_all, 3),
        "peak_rss_gb": max(results[k]["self_rss_gb"] for k in results if k.startswith("pumplib")),
        "peak_rss_gb_by_run": {k: v["self_rss_gb"] for k, v in results.items()},
        "peak_rss_children_gb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9, 3),
        "seconds_by_run": {k: round(v["seconds"], 2) for k, v in results.items()},
        "cpu_s_by_run": {k: v["cpu_s_total"] for k, v in results.items()},
        "cpu_s_timed_by_run": {k: round(v["cpu_s"], 2) for k, v in results.items()},
        "samples_per_cpu_s": round(samples / results["pumplib"]["cpu_s"]),
        "best_peer_cpu_s": round(results[best]["cpu_s"], 2) if best else None,
        "cpu_speedup_vs_best_peer": round(results[best]["cpu_s"] / results["pumplib"]["cpu_s"],
                                          2) if best else None,
        "incremental_cpu_fraction": round(results["pumplib_incremental"]["cpu_s"]
                                          / results["pumplib_all"]["cpu_s"], 3),
        "repeat": args.repeat,
        "seconds_runs_by_run": {k: v["seconds_runs"] for k, v in results.items()},
        "incremental_fraction_runs": [round(i["seconds"] / a["seconds"], 3) for i, a in zip(
            runs["pumplib_incremental"], runs["pumplib_all"], strict=True)],
        "peers_missing": peers_missing,
        "pumps": args.pumps, "days": args.days, "signals": len(SIGNALS),
        "cpus": os.cpu_count(), "load_avg_before_after": [round(load0, 2),
                                                          round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(out), flush=True)
    return out


if __name__ == "__main__":
    main()
