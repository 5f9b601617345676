"""How pumplib's costs grow with the fleet and the history (issue 25): measurement only.

Scenario: ``pumps`` pumps × 8 signals at 1 Hz over ``days`` local days, the raw lake
of ``bench_features.py`` (``write_days``: vectorised numpy through
``Lake.transaction`` + ``write_block``), one lake per fleet size in
``benchmarks/_work/scale-<pumps>/lake``. A fleet's lake grows day by day from its
shortest history to its longest; each history length is tagged (``raw-<days>``) so a
later run reuses it, and the branch is reset to the tag before each measurement.

Each measurement runs in its own child process; its peak memory is the child's
high-water mark, ``VmHWM`` of ``/proc/self/status`` (the child's ``ru_maxrss`` is kept
beside it: on Linux it starts at the parent's high-water mark, so the parent of this
benchmark allocates nothing large, and writes its lakes from children), its CPU the
user + system
seconds of the measured call (``getrusage`` before and after it, every thread), and
the child's whole CPU (imports included: ``RUSAGE_CHILDREN`` in the parent) beside it.

* **ingest**: one long Parquet file of ``pumps`` × 1 day, default settings, through
  ``bench_ingest.run_scale`` (CPU per sample; bytes the ingest wrote over the lake's
  final size, the write amplification);
* **full build**: ``build_lake`` of the six levels, with the basic catalog of
  ``bench_features`` (mean, min, max, count of the 8 signals) and with the pump
  physics (the shipped catalog) — a long history goes in spans of
  ``features.stream_pump_days`` pump-days, a wide fleet's day blocks in asset groups;
* **appended day**: one more day written (not measured), then
  ``build_lake(..., changed=<that day>)`` with the physics catalog;
* **read**: ``Lake.open_group("features/1min")``, one asset, its first local day,
  ``.load()``: seconds and bytes read (``rchar`` of ``/proc/self/io``: every byte the
  process read from files, page cache included, lake metadata included);
* **cluster**: the basic build with a ``distributed.Client`` on a 2-worker
  ``LocalCluster`` of processes (1 thread each) against the same build in process;
  the cluster's CPU is the client's call plus each worker's own (``client.run``
  before and after). As the in-process child imports pumplib, loads its catalog
  (pint's unit registry) and opens the lake before its clock, each worker does so too
  (``client.run``) before the cluster's; unpickling the catalog on a worker is counted.
  It is skipped (reported as not measured, with the reason) when it passes
  ``--cluster-timeout``. ``--grid none --wide none --ingest none`` runs it alone.

Rounds: at each size the basic build, the physics build, the read and the appended
day run in turn, ``--repeat`` times; each figure is the median of its rounds, peak
memory the largest. Growth exponents are log-log least-squares slopes. The
projection for 500 pumps × 10 signals × 1 year at 1 Hz extrapolates the measured
CPU per sample with those exponents and states its assumptions in the output.

Usage::

    nice -n 5 .venv/bin/python benchmarks/bench_scale.py            # default grid (~15 min)
    nice -n 5 .venv/bin/python benchmarks/bench_scale.py --quick    # smoke run (< 2 min)
    .venv/bin/python benchmarks/bench_scale.py --grid 20x7,20x56 --wide 20,80 \\
        --ingest 20,80 --cluster none --repeat 1

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import bench_features as bf  # noqa: E402  (the lake and the catalogs of the features bench)

DAY = bf.DAY
SIGNALS = len(bf.SIGNALS)
#: the projection's utility (issue 25)
BIG = {"pumps": 500, "signals": 10, "days": 365}
DEFAULT = {"grid": "5x7,5x14,10x7,10x14,20x7,20x14,20x28,20x56", "wide": "20,40,80",
           "ingest": "20,40,80", "cluster": "5x7"}
QUICK = {"grid": "2x2,2x4,4x2", "wide": "2,4", "ingest": "2,4", "cluster": "2x1", "repeat": 1}


# -- children ------------------------------------------------------------------------------------
def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _rchar() -> int:
    """Bytes this process read from files so far (page cache included)."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def _hwm_gb() -> float:
    """Peak resident memory of this process's own address space, GB (:mod:`_peak`: not
    ``ru_maxrss``, which an exec'd child starts at its parent's high-water mark)."""
    from _peak import peak_rss_gb

    return peak_rss_gb()


def child_write(spec: dict) -> dict:
    """Raw days written (in a child, so the parent's memory stays small)."""
    snap = None
    for d0 in range(spec["from"], spec["to"], 7):   # a week per commit: bounded memory
        snap = bf.write_days(spec["url"], spec["pumps"], range(d0, min(spec["to"], d0 + 7)),
                             spec["message"])
    return {"snapshot": snap}


def child_ingest(spec: dict) -> dict:
    """``bench_ingest.run_scale`` from a small process (its data generated already by
    another child), so its ingest children's ``ru_maxrss`` does not start high."""
    import bench_ingest as bi

    if spec.get("generate"):
        for p in spec["pumps"]:
            bi.generate(Path(spec["work"]) / f"scale_{p}", 1, p, want_csv=False)
        return {}
    return bi.run_scale(Path(spec["work"]), spec["pumps"], 14.0, False)


def child_build(spec: dict) -> dict:
    """``build_lake`` (full, or ``changed=`` one day) with the basic or physics catalog."""
    changed = tuple(spec["changed"]) if spec.get("changed") else None
    return bf.run_pumplib(spec, changed=changed, physics=spec["physics"])


def child_read(spec: dict) -> dict:
    """One asset's first local day of the 1-minute golden table, loaded."""
    import dask  # noqa: F401  (imported before the clock, as a reader's session would)

    from pumplib.lake import Lake

    asset = bf.assets(spec["pumps"])[0]
    lake = Lake(spec["url"])
    # untimed: the same kind of read of another table, so that the code it imports (and
    # the files those imports read) is not counted; the lake's own metadata still is
    lake.open_group("features/1D").sel(asset=asset).isel(time=slice(0, 1)).load()
    r0, t0, c0 = _rchar(), time.perf_counter(), _cpu()
    ds = lake.open_group("features/1min")
    times = ds["time"].values
    if times.dtype.kind == "M":
        times = times.astype("datetime64[s]").astype(np.int64)
    i0, i1 = np.searchsorted(times, [bf.START_S, bf.START_S + DAY])
    sub = ds.sel(asset=asset).isel(time=slice(int(i0), int(i1))).load()
    out = {"seconds": time.perf_counter() - t0, "cpu_s": _cpu() - c0,
           "bytes_read": _rchar() - r0 if r0 >= 0 else None,
           "result_bytes": int(sum(v.nbytes for v in sub.data_vars.values())),
           "columns": len(sub.data_vars), "rows": int(sub.sizes["time"])}
    return out


def child_cluster(spec: dict) -> dict:
    """The basic build with a 2-worker ``LocalCluster`` of processes as the client."""
    import dask.array  # noqa: F401
    from distributed import Client, LocalCluster

    from pumplib.features import build_lake

    def usage():
        ru = resource.getrusage(resource.RUSAGE_SELF)
        status = Path("/proc/self/status").read_text().splitlines()
        hwm = [ln for ln in status if ln.startswith("VmHWM:")]
        return ru.ru_utime + ru.ru_stime, int(hwm[0].split()[1]) * 1024 / 1e9

    def warm(url):
        """A worker as the in-process child is when its clock starts: pumplib imported
        (the cluster engine too, if this pumplib has one), its unit registry made (the
        child loaded its catalog), the lake opened."""
        import importlib

        import pumplib.features
        from pumplib.features.expr import _ureg

        importlib.import_module("dask.array")
        _ureg()
        try:
            from pumplib.features.cluster import _lake
        except ImportError:                  # a pumplib from before the cluster engine
            return pumplib.features.__name__
        return repr(_lake(url))

    reg, cat, lake = bf._setup(spec, spec["physics"])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(warm, spec["url"])
        before = client.run(usage)
        t, c = time.perf_counter(), _cpu()
        snap = build_lake(lake, cat, bf.LEVELS, registry=reg, timezone=bf.TZ, cadence="1s",
                          quality=False, **bf._forced(build_lake))
        secs, client_cpu = time.perf_counter() - t, _cpu() - c
        after = client.run(usage)
    workers = {w: after[w][0] - before[w][0] for w in after}
    return {"seconds": secs, "client_cpu_s": client_cpu,
            "worker_cpu_s": sum(workers.values()),
            "cpu_s": client_cpu + sum(workers.values()),
            "worker_peak_gb": round(max(a[1] for a in after.values()), 3),
            "snapshot": snap}


def child(kind: str, spec_json: str) -> None:
    spec = json.loads(spec_json)
    res = {"build": child_build, "read": child_read, "cluster": child_cluster,
           "write": child_write, "ingest": child_ingest}[kind](spec)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    res["ru_maxrss_gb"] = round(ru.ru_maxrss * 1024 / 1e9, 3)
    res["peak_gb"] = round(_hwm_gb(), 3)
    print("RESULT " + json.dumps(res), flush=True)


def spawn(kind: str, spec: dict, timeout: float | None = None) -> dict | None:
    """One measurement in a child process; None when it passed ``timeout`` seconds."""
    os.sync()                          # earlier runs' writes flushed before this one
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO),
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"{kind} failed with exit code {proc.returncode}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    res = json.loads(line[7:])
    res["child_cpu_s"] = round((after.ru_utime + after.ru_stime)
                               - (before.ru_utime + before.ru_stime), 2)
    return res


# -- lakes ---------------------------------------------------------------------------------------
def raw_lake(work: Path, pumps: int, days: int) -> dict:
    """The raw lake of ``pumps`` × ``days`` (tag ``raw-<days>``), grown from the longest
    shorter history already tagged; the branch is left at that snapshot."""
    from pumplib.lake import Lake

    folder = work / f"scale-{pumps}"
    folder.mkdir(parents=True, exist_ok=True)
    url = str(folder / "lake")
    lake = Lake(url, create=True)
    tags = {}
    for name in lake.repo.list_tags():
        if name.startswith("raw-"):
            tags[int(name[4:])] = lake.repo.lookup_tag(name)
    if days in tags:
        lake.repo.reset_branch("main", tags[days])
        return {"url": url, "raw_snapshot": tags[days], "pumps": pumps, "days": days}
    have = max((d for d in tags if d < days), default=0)
    t = time.perf_counter()
    if have:
        lake.repo.reset_branch("main", tags[have])
    snap = spawn("write", {"url": url, "pumps": pumps, "from": have, "to": days,
                           "message": f"scale raw to {days}"})["snapshot"]
    lake.repo.create_tag(f"raw-{days}", snap)
    print(f"  lake {pumps} pumps: days {have} -> {days} written in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    return {"url": url, "raw_snapshot": snap, "pumps": pumps, "days": days}


def reset_and_collect(meta: dict) -> None:
    """Back to the raw snapshot; what the builds committed is deleted."""
    from pumplib.lake import Lake

    lake = Lake(meta["url"])
    lake.repo.reset_branch("main", meta["raw_snapshot"])
    lake.repo.garbage_collect(dt.datetime.now(dt.UTC))


# -- measurements --------------------------------------------------------------------------------
def _median(rs: list[dict]) -> dict:
    out = dict(rs[len(rs) // 2])
    for k in ("seconds", "cpu_s", "child_cpu_s", "bytes_read", "client_cpu_s",
              "worker_cpu_s"):
        if k in out and out[k] is not None:
            out[k] = float(np.median([r[k] for r in rs]))
    out["peak_gb"] = max(r["peak_gb"] for r in rs)
    out["cpu_s_runs"] = [round(r["cpu_s"], 2) for r in rs]
    return out


def measure_size(work: Path, pumps: int, days: int, repeat: int) -> dict:
    """Full builds (basic, physics), the read and the appended day at one size."""
    from pumplib.lake import Lake

    meta = raw_lake(work, pumps, days)
    samples = pumps * SIGNALS * days * DAY
    runs: dict[str, list[dict]] = {}
    lake = Lake(meta["url"])
    day0 = bf.START_S + days * DAY
    for _ in range(repeat):
        runs.setdefault("basic", []).append(spawn("build", {**meta, "physics": False}))
        lake.repo.reset_branch("main", meta["raw_snapshot"])
        runs.setdefault("physics", []).append(spawn("build", {**meta, "physics": True}))
        runs.setdefault("read", []).append(spawn("read", meta))
        spawn("write", {"url": meta["url"], "pumps": pumps, "from": days, "to": days + 1,
                        "message": "scale: one more day"})
        runs.setdefault("append", []).append(
            spawn("build", {**meta, "physics": True, "changed": [day0, day0 + DAY]}))
        lake.repo.reset_branch("main", meta["raw_snapshot"])
    reset_and_collect(meta)
    res = {k: _median(v) for k, v in runs.items()}
    row = {"pumps": pumps, "days": days, "pump_days": pumps * days, "samples": samples}
    for k in ("basic", "physics", "append"):
        r = res[k]
        per = pumps * SIGNALS * DAY if k == "append" else samples
        row[k] = {"cpu_s": round(r["cpu_s"], 3), "seconds": round(r["seconds"], 3),
                  "child_cpu_s": r["child_cpu_s"], "peak_gb": r["peak_gb"],
                  "cpu_ns_per_sample": round(r["cpu_s"] / per * 1e9, 2),
                  "cpu_s_runs": r["cpu_s_runs"]}
    r = res["read"]
    row["read"] = {"seconds": round(r["seconds"], 3), "bytes_read": r["bytes_read"],
                   "result_bytes": r["result_bytes"], "columns": r["columns"],
                   "peak_gb": r["peak_gb"]}
    print(f"{pumps:>3} pumps × {days:>2} days: basic {row['basic']['cpu_s']:.2f} CPU s "
          f"peak {row['basic']['peak_gb']:.2f} GB | physics {row['physics']['cpu_s']:.2f} CPU s "
          f"peak {row['physics']['peak_gb']:.2f} GB | appended day "
          f"{row['append']['cpu_s']:.2f} CPU s peak {row['append']['peak_gb']:.2f} GB | read "
          f"{row['read']['seconds']:.2f} s {r['bytes_read'] / 1e6 if r['bytes_read'] else 0:.1f}"
          f" MB", flush=True)
    return row


def measure_cluster(work: Path, pumps: int, days: int, repeat: int, timeout: float) -> dict:
    meta = raw_lake(work, pumps, days)
    inproc, clus, reason = [], [], None
    for _ in range(repeat):
        inproc.append(spawn("build", {**meta, "physics": False}))
        reset_and_collect(meta)
        r = spawn("cluster", {**meta, "physics": False}, timeout=timeout)
        reset_and_collect(meta)
        if r is None:
            reason = f"the cluster build passed {timeout:.0f} s (--cluster-timeout)"
            break
        clus.append(r)
    out = {"pumps": pumps, "days": days, "catalog": "basic",
           "in_process_cpu_s": round(_median(inproc)["cpu_s"], 3),
           "in_process_seconds": round(_median(inproc)["seconds"], 3)}
    if not clus:
        return {**out, "cluster_cpu_ratio": None, "reason": reason}
    c = _median(clus)
    out.update(cluster_cpu_s=round(c["cpu_s"], 3), client_cpu_s=round(c["client_cpu_s"], 3),
               worker_cpu_s=round(c["worker_cpu_s"], 3), cluster_seconds=round(c["seconds"], 3),
               client_peak_gb=c["peak_gb"], worker_peak_gb=c["worker_peak_gb"],
               cluster_cpu_ratio=round(c["cpu_s"] / out["in_process_cpu_s"], 2))
    print(f"cluster {pumps} × {days} basic: {out['cluster_cpu_s']:.2f} CPU s "
          f"({out['cluster_seconds']:.1f} s) vs in process {out['in_process_cpu_s']:.2f} CPU s:"
          f" {out['cluster_cpu_ratio']}×", flush=True)
    return out


def measure_ingest(work: Path, pumps_list: list[int], repeat: int) -> dict:
    spec = {"work": str(work / "scale-ingest"), "pumps": pumps_list}
    spawn("ingest", {**spec, "generate": True})
    rounds = [spawn("ingest", spec) for _ in range(repeat)]
    cases = {}
    for p in pumps_list:
        rs = [next(c for c in r["cases"] if c["pumps"] == p) for r in rounds]
        med = dict(rs[len(rs) // 2])
        for k in ("cpu_seconds", "cpu_ns_per_sample", "seconds", "write_amplification"):
            med[k] = float(np.median([c[k] for c in rs]))
        med["peak_rss_gb"] = max(c["peak_rss_gb"] for c in rs)
        med["cpu_ns_per_sample_runs"] = [c["cpu_ns_per_sample"] for c in rs]
        cases[p] = med
    return cases


# -- fits and projection -------------------------------------------------------------------------
def slope(xs, ys) -> float | None:
    """Least-squares slope of log(y) on log(x); None with fewer than two distinct x."""
    pts = [(x, y) for x, y in zip(xs, ys, strict=True) if x and y and x > 0 and y > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    lx, ly = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return round(float(np.polyfit(lx, ly, 1)[0]), 3)


def exponents(rows: list[dict], ingest: dict) -> dict:
    out = {}
    for kind in ("basic", "physics", "append"):
        for what in ("cpu_s", "peak_gb"):
            key = f"{kind}_{what.split('_')[0]}"
            long = [r for r in rows if r["days"] >= 7] or rows
            out[f"{key}_vs_pump_days"] = slope([r["pump_days"] for r in long],
                                               [r[kind][what] for r in long])
            for d in sorted({r["days"] for r in rows}):
                sel = [r for r in rows if r["days"] == d]
                if len(sel) > 1:
                    out[f"{key}_vs_pumps_at_{d}d"] = slope([r["pumps"] for r in sel],
                                                           [r[kind][what] for r in sel])
            for p in sorted({r["pumps"] for r in rows}):
                sel = [r for r in rows if r["pumps"] == p and r["days"] >= 7]
                if len(sel) > 1:
                    out[f"{key}_vs_days_at_{p}p"] = slope([r["days"] for r in sel],
                                                          [r[kind][what] for r in sel])
    for d in sorted({r["days"] for r in rows}):
        sel = [r for r in rows if r["days"] == d]
        if len(sel) > 1:
            out[f"read_bytes_vs_pumps_at_{d}d"] = slope([r["pumps"] for r in sel],
                                                        [r["read"]["bytes_read"] for r in sel])
    ps = sorted(ingest)
    if len(ps) > 1:
        out["ingest_cpu_vs_pumps"] = slope(ps, [ingest[p]["cpu_seconds"] for p in ps])
        out["ingest_peak_vs_pumps"] = slope(ps, [ingest[p]["peak_rss_gb"] for p in ps])
    return out


#: stated assumptions of the projection (printed with it)
MACHINES = {"one 2-core machine": {"cores": 2, "efficiency": 0.9, "nodes": 1},
            "one 32-core machine": {"cores": 32, "efficiency": 0.7, "nodes": 1},
            "16-node cluster (16 × 32 cores)": {"cores": 512, "efficiency": 0.5, "nodes": 16}}


def projection(rows: list[dict], ingest: dict, exps: dict, cluster: dict | None,
               stream_pump_days: int | None) -> dict:
    """CPU hours of ingest + full build (physics) of the big utility, and wall hours per
    machine under the stated assumptions."""
    n = BIG["pumps"] * BIG["signals"] * BIG["days"] * DAY
    pd_big = BIG["pumps"] * BIG["days"] * BIG["signals"] / SIGNALS   # 8-signal pump-days
    top = max(rows, key=lambda r: (r["pump_days"], r["days"]))
    b = exps.get("physics_cpu_vs_pump_days") or 1.0
    build_cpu = top["physics"]["cpu_s"] * (pd_big / top["pump_days"]) ** b
    wide = max(ingest)
    ing = ingest[wide]
    bi_ = exps.get("ingest_cpu_vs_pumps") or 1.0
    # ingest CPU per file (one day) grows with the fleet's width (exponent bi_); 365 files
    ingest_cpu = ing["cpu_seconds"] * (BIG["pumps"] * BIG["signals"] / (wide * SIGNALS)) ** bi_ \
        * BIG["days"]
    lake_bytes = ing["lake_mb"] * 1e6 / ing["samples"] * n
    mem_exp = exps.get("physics_peak_vs_pumps_at_1d")
    day_exp = max((v for k, v in exps.items() if k.startswith("physics_peak_vs_days_at_")
                   and v is not None), default=1.0)     # 1.0: no history series measured
    wides = sorted((r for r in rows if r["days"] == 1), key=lambda r: r["pumps"])
    # the first span of a streamed build at the big fleet, in days (features.stream_pump_days)
    span_days = max(1, int(stream_pump_days or 0) // BIG["pumps"]) if stream_pump_days \
        else BIG["days"]
    if wides and mem_exp is not None:
        w = wides[-1]
        peak = w["physics"]["peak_gb"] * (BIG["pumps"] * BIG["signals"] / SIGNALS / w["pumps"]) \
            ** mem_exp * span_days ** day_exp
    else:
        peak = None
    # the 1-minute table of the whole history held in memory (what the dask path gathers
    # to the client, issue 25): one asset-day of it as read, times assets, days, signals
    one = max(rows, key=lambda r: r["pumps"])["read"]["result_bytes"]
    table_gb = one * BIG["pumps"] * BIG["days"] * BIG["signals"] / SIGNALS / 1e9
    ratio = cluster.get("cluster_cpu_ratio") if cluster else None
    hours = {}
    for name, m in MACHINES.items():
        build = build_cpu * ((ratio or 1.0) if m["nodes"] > 1 else 1.0)
        hours[name] = round((build + ingest_cpu) / (m["cores"] * m["efficiency"]) / 3600, 2)
    assumptions = [
        f"{BIG['pumps']} pumps × {BIG['signals']} signals × {BIG['days']} days at 1 Hz = "
        f"{n:.3g} samples; CPU grows with the signals linearly (10/8 of 8-signal pump-days)",
        f"full build (physics catalog) CPU = {top['physics']['cpu_s']:.1f} s at "
        f"{top['pumps']} × {top['days']} × (pump-days ratio {pd_big / top['pump_days']:.0f})"
        f"^{b} (the measured exponent vs pump-days) = {build_cpu / 3600:.1f} CPU h",
        f"ingest: 365 one-day files of {BIG['pumps'] * BIG['signals']} tags, CPU per file = "
        f"{ing['cpu_seconds']:.1f} s at {wide} pumps × (width ratio)^{bi_} = "
        f"{ingest_cpu / 3600:.1f} CPU h; assumed to spread over processes/workers as "
        "independent files (pumplib runs one file per process today)",
        "wall hours = (ingest + build CPU) / (cores × efficiency): efficiency "
        + ", ".join(f"{m['efficiency']} on {k}" for k, m in MACHINES.items())
        + " (assumed, not measured: the build's spans and asset groups are independent "
        "work; I/O to object storage and coordination lower the cluster's)",
        ("cluster build CPU × the measured cluster_cpu_ratio "
         f"{ratio} (the cluster build: one task per asset group on the in-process engine, "
         "measured at a small size, so its fixed costs weigh more than at 500 pumps)")
        if ratio else "cluster: the cluster CPU overhead was not measured; assumed 1.0×",
        f"raw lake ≈ {lake_bytes / 1e12:.2f} TB (the ingest's lake bytes per sample × samples)",
        (f"peak memory of one build process ≈ {peak:.1f} GB: the first span at 500 pumps is "
         f"{span_days} day(s) (stream_pump_days {stream_pump_days}); the 1-day physics peak "
         f"at {wides[-1]['pumps']} pumps × (fleet ratio)^{mem_exp} × {span_days}^{day_exp} "
         "(the largest peak-vs-days exponent measured, else 1); it must fit each machine's memory (on the "
         "cluster, each worker's)") if peak else "peak memory: no 1-day fleet series measured",
        f"the 1-minute golden table of the year in memory ≈ {table_gb:.0f} GB (one asset-day "
        "as read × assets × days × 10/8 signals): what a client must hold where the dask "
        "path gathers every table to it (issue 25; not measured at that size here)",
    ]
    return {"hours": hours, "build_cpu_hours": round(build_cpu / 3600, 2),
            "ingest_cpu_hours": round(ingest_cpu / 3600, 2),
            "raw_lake_tb": round(lake_bytes / 1e12, 3),
            "build_peak_gb_per_process": round(peak, 2) if peak else None,
            "first_span_days": span_days, "minute_table_gb": round(table_gb, 1),
            "assumptions": assumptions}


# -- main ----------------------------------------------------------------------------------------
def _sizes(text: str, name: str) -> list[tuple[int, int]]:
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        try:
            p, d = (int(x) for x in item.lower().split("x"))
        except ValueError:
            raise SystemExit(f"--{name}: {item!r} is not PUMPSxDAYS (e.g. 20x7)") from None
        if p < 1 or d < 1:
            raise SystemExit(f"--{name}: {item!r} needs 1 or more pumps and days")
        out.append((p, d))
    return out


def _ints(text: str, name: str) -> list[int]:
    try:
        out = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"--{name}: {text!r} is not a comma-separated list of pumps") from None
    if any(p < 1 for p in out):
        raise SystemExit(f"--{name}: pump counts must be 1 or more, got {text!r}")
    return out


def _ratio(a, b):
    return round(a / b, 3) if a and b else None


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (< 2 min)")
    ap.add_argument("--grid", default=None, help="full-build sizes PUMPSxDAYS, comma-separated "
                    f"(default {DEFAULT['grid']})")
    ap.add_argument("--wide", default=None, help="fleets of 1 day for CPU per sample "
                    f"(default {DEFAULT['wide']})")
    ap.add_argument("--ingest", default=None, help="fleets of the 1-day ingest "
                    f"(default {DEFAULT['ingest']}; 'none' skips)")
    ap.add_argument("--cluster", default=None, help="size of the cluster comparison "
                    f"(default {DEFAULT['cluster']}; 'none' skips)")
    ap.add_argument("--cluster-timeout", type=float, default=300.0,
                    help="seconds after which the cluster build is reported as not measured")
    ap.add_argument("--repeat", type=int, default=None,
                    help="rounds at each size (default 2; 1 with --quick)")
    ap.add_argument("--workdir", default=None, help="default benchmarks/_work")
    ap.add_argument("--clean", action="store_true", help="delete the work lakes at the end")
    ap.add_argument("--report", default=None, metavar="LOG",
                    help="print the summary of an earlier run from its output (no measuring)")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return {}
    if args.report:
        return report(args.report)
    base = QUICK if args.quick else DEFAULT
    args.repeat = args.repeat if args.repeat is not None else base.get("repeat", 2)
    if args.repeat < 1:
        ap.error(f"--repeat: expected 1 or more, got {args.repeat}")
    grid = [] if args.grid == "none" else _sizes(args.grid or base["grid"], "grid")
    wide = [] if args.wide == "none" else _ints(args.wide or base["wide"], "wide")
    ing = [] if (args.ingest or "") == "none" else _ints(args.ingest or base["ingest"], "ingest")
    clu = None if (args.cluster or "") == "none" else _sizes(args.cluster or base["cluster"],
                                                              "cluster")[0]
    work = Path(args.workdir) if args.workdir else HERE / "_work"
    if args.quick and not args.workdir:
        work = work / "scale-quick"
    sizes = sorted(set(grid) | {(p, 1) for p in wide})
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    from pumplib import config

    print(f"bench_scale: sizes {sizes}, ingest {ing}, cluster {clu}, repeat {args.repeat}, "
          f"stream_pump_days {config.get('features.stream_pump_days')}, "
          f"{os.cpu_count()} CPUs, load {load0:.1f}", flush=True)
    ingest = measure_ingest(work, ing, args.repeat) if ing else {}
    rows = [measure_size(work, p, d, args.repeat) for p, d in sizes]
    cluster = measure_cluster(work, *clu, args.repeat, args.cluster_timeout) if clu else None
    run = {"repeat": args.repeat, "stream_pump_days": config.get("features.stream_pump_days"),
           "cpus": os.cpu_count()}
    out = summarise(rows, ingest, cluster, {
        **run, "load_avg_before_after": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "parent_peak_gb": _hwm_gb(), "total_seconds": round(time.perf_counter() - t0, 1)})
    if args.clean:
        for p in {p for p, _ in sizes} | ({clu[0]} if clu else set()):
            shutil.rmtree(work / f"scale-{p}", ignore_errors=True)
        shutil.rmtree(work / "scale-ingest", ignore_errors=True)
    return out


def report(path: str) -> dict:
    """The summary of an earlier run again, from the JSON line its output ends with (after
    a change to the fits or the projection, without measuring again)."""
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.startswith("{")]
    if not lines:
        raise SystemExit(f"--report: {path} holds no JSON line of a bench_scale run")
    old = json.loads(lines[-1])
    keep = ("repeat", "stream_pump_days", "cpus", "load_avg_before_after", "parent_peak_gb",
            "total_seconds")
    return summarise(old["builds"], {c["pumps"]: c for c in old["ingest"]}, old["cluster"],
                     {k: old[k] for k in keep if k in old})


def summarise(rows: list[dict], ingest: dict, cluster: dict | None, run: dict) -> dict:
    """Exponents, targets and projection of measured ``rows`` (builds), ``ingest`` (by
    pumps) and ``cluster``, printed; the last line is one JSON object (with ``run``'s
    keys: repeat, stream_pump_days, load, …)."""
    wide = sorted(r["pumps"] for r in rows if r["days"] == 1)
    ing = sorted(ingest)
    exps = exponents(rows, ingest)
    proj = projection(rows, ingest, exps, cluster, run.get("stream_pump_days")) \
        if ingest else None
    by = {(r["pumps"], r["days"]): r for r in rows}

    # targets
    # the fleet with the longest history series: its longest vs its 7 days (or shortest)
    series = {p: sorted(d for q, d in by if q == p and d > 1) for p, _ in by}
    pmax = max((p for p in series if len(series[p]) > 1), default=None,
               key=lambda p: (series[p][-1], p))
    peak_key, peak_ratio = None, None
    if pmax is not None:
        d0 = 7 if 7 in series[pmax] else series[pmax][0]
        dmax = series[pmax][-1]
        peak_key = f"build_peak_ratio_{dmax}_vs_{d0}"
        peak_ratio = _ratio(by[(pmax, dmax)]["physics"]["peak_gb"],
                            by[(pmax, d0)]["physics"]["peak_gb"])
    wlo, whi = (min(wide), max(wide)) if len(wide) > 1 else (None, None)
    cps = _ratio(by[(whi, 1)]["physics"]["cpu_ns_per_sample"],
                 by[(wlo, 1)]["physics"]["cpu_ns_per_sample"]) if whi else None
    cps_basic = _ratio(by[(whi, 1)]["basic"]["cpu_ns_per_sample"],
                       by[(wlo, 1)]["basic"]["cpu_ns_per_sample"]) if whi else None
    ilo, ihi = (min(ing), max(ing)) if len(ing) > 1 else (None, None)
    icr = _ratio(ingest[ihi]["cpu_ns_per_sample"], ingest[ilo]["cpu_ns_per_sample"]) \
        if ihi else None
    iwa = max(c["write_amplification"] for c in ingest.values()) if ingest else None
    ccr = cluster.get("cluster_cpu_ratio") if cluster else None
    targets = {
        f"full-build peak memory {peak_key or 'largest vs 7 days'} ≤ 1.3": (peak_ratio, 1.3),
        f"CPU per sample (physics build) {whi} vs {wlo} pumps ≤ 1.15": (cps, 1.15),
        f"ingest CPU per sample {ihi} vs {ilo} pumps ≤ 1.2": (icr, 1.2),
        "ingest bytes written / lake ≤ 1.5": (iwa, 1.5),
        "2-worker process cluster CPU / in-process ≤ 1.5": (ccr, 1.5),
    }
    print("\nGrowth exponents (log-log slopes):", flush=True)
    for k, v in exps.items():
        print(f"  {k}: {v}")
    print("\nTargets (issue 25):")
    verdict = {}
    for name, (val, lim) in targets.items():
        verdict[name] = "not measured" if val is None else ("met" if val <= lim else "missed")
        print(f"  {name}: {val} -> {verdict[name]}")
    if proj:
        print(f"\nProjection: {BIG['pumps']} pumps × {BIG['signals']} signals × 1 year at 1 Hz "
              "(ingest + full build), wall hours:")
        for k, v in proj["hours"].items():
            print(f"  {k}: {v} h")
        print("  assumptions:")
        for a in proj["assumptions"]:
            print(f"   - {a}")
    out = {
        peak_key or "build_peak_ratio_largest_vs_7": peak_ratio,
        "cpu_per_sample_ratio_80_vs_20" if (wlo, whi) == (20, 80) else
        f"cpu_per_sample_ratio_{whi}_vs_{wlo}": cps,
        "cpu_per_sample_ratio_basic": cps_basic,
        "ingest_cpu_ratio_80_vs_20" if (ilo, ihi) == (20, 80) else
        f"ingest_cpu_ratio_{ihi}_vs_{ilo}": icr,
        "ingest_write_amplification": iwa,
        "cluster_cpu_ratio": ccr,
        "projection_hours": proj["hours"] if proj else None,
        "targets": verdict,
        "exponents": exps,
        "projection": proj,
        "builds": rows,
        "ingest": list(ingest.values()),
        "cluster": cluster,
        **run,
    }
    print(json.dumps(out), flush=True)
    return out




if __name__ == "__main__":
    main()
