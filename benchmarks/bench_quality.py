"""Quality-rule throughput and peak memory of ``pumplib.quality`` against plain pandas.

Scenario (issue 3): every rule of ``catalogs/quality_rules.yaml`` on a 1 Hz
raw lake of ``--pumps`` pumps × 8 signals × ``--days`` days (20 × 8 × 7 =
96.8 M samples, plus a historian quality code per sample). The pumps come
from :func:`pumplib.simulate.make_registry` (rated values, curves, motors; the
first pump of each station is variable-speed). Values are generated with
vectorised numpy so that the pump physics hold (flow, head and power follow
the curves while the pump runs), with on/off cycles, noise, historian
rounding and a few faults per pump and day (spikes, gaps, a stuck stretch,
bad quality codes, a reading in the wrong unit). They are written straight
through the lake's transaction API (``Transaction.write_block``) into
``benchmarks/_work/quality-<pumps>x<days>/lake`` once, and reused while the
parameters match.

Each contender runs in its own child process, which reports its wall time,
CPU time and its own peak resident memory (``VmHWM``, ``_peak.py``; the parent also
records ``getrusage(RUSAGE_CHILDREN)``):

* ``pumplib``: ``pumplib.quality.open_for_rules(lake, "1s")`` (the raw lake
  in blocks of many pumps × one day) → ``pumplib.quality.evaluate`` (all
  rules, rated-derived limits from the registry) → ``dask.compute`` of every
  flag array, on the threaded scheduler (numba kernels loaded before timing);
* ``--compare-code DIR``: the same with the pumplib (and catalogs/) of DIR,
  e.g. the previous commit, in the same run;
* ``baseline``: plain pandas — one ``DataFrame`` (time × pump) per signal read
  from the lake, ``rolling(...).median()`` for the Hampel median, the MAD
  where the deviation beats its floor, run lengths by ``groupby`` of run ids,
  ``shift``/``diff`` for rates, elementwise pandas for range and physics.

Both produce the full ``uint16`` flags of every sample; the script checks that
their per-flag counts agree exactly (the same rules), and prints them.

Usage::

    python benchmarks/bench_quality.py              # 20 pumps × 7 days
    python benchmarks/bench_quality.py --quick      # 4 pumps × 1 day, smoke run
    python benchmarks/bench_quality.py --skip-baseline
    git archive HEAD pumplib catalogs | tar -x -C /tmp/before
    python benchmarks/bench_quality.py --repeat 2 --compare-code /tmp/before

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import math
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
START_S = int(np.datetime64("2026-03-09T00:00:00", "s").astype(np.int64))
DAY = 86400
SIGNALS = ("flow", "discharge_pressure", "suction_pressure", "power", "current", "speed",
           "vibration", "bearing_temperature")
G = 9.80665
BAR_TO_M = 10.19716
DECIMALS = {"flow": 1, "discharge_pressure": 3, "suction_pressure": 3, "power": 1,
            "current": 1, "speed": 0, "vibration": 2, "bearing_temperature": 1}
FORMAT = 4  # bump when the generated data changes


# -- the scenario ---------------------------------------------------------------------------
def registry_spec(pumps: int) -> dict:
    """A make_registry() spec cut down to ``pumps`` pumps (5 per station), no tanks."""
    from pumplib.simulate import make_registry

    spec = make_registry(n_stations=math.ceil(pumps / 5), pumps_per_station=5)
    left = pumps
    for st in spec["stations"]:
        keep = [a for a in st["assets"] if a["kind"] == "pump"][:max(left, 0)]
        for a in keep:
            a["signals"] = {s: v for s, v in a["signals"].items() if s in SIGNALS}
        left -= len(keep)
        st["assets"] = keep
    spec["stations"] = [s for s in spec["stations"] if s["assets"]]
    return spec


def _lag(run: np.ndarray, tau: float) -> np.ndarray:
    """First-order lag of an on/off signal (bearing warming up and cooling down)."""
    from scipy.signal import lfilter

    a = math.exp(-1.0 / tau)
    return lfilter([1 - a], [1, -a], run.astype(float), axis=1)


def day_values(reg, assets: list[str], day: int, seed: int = 7) -> tuple[dict, dict]:
    """One day of every signal: ``{signal: float64 (pump, 86400)}`` and int16 codes."""
    rng = np.random.default_rng([seed, day])
    n, p = DAY, len(assets)
    t = np.arange(n, dtype=np.float64)
    pump = [reg.asset(a) for a in assets]
    col = {k: np.array([float(getattr(a, sec)[key]) for a in pump])[:, None]
           for k, (sec, key) in {"q_r": ("rated", "flow"), "h_r": ("rated", "head"),
                                 "p_r": ("rated", "power"), "n_r": ("rated", "speed"),
                                 "h0": ("curve", "shutoff_head"), "qb": ("curve", "bep_flow"),
                                 "eb": ("curve", "bep_efficiency"),
                                 "me": ("motor", "efficiency")}.items()}
    vsd = np.array([a.pump_type == "variable_speed" for a in pump])[:, None]
    # on/off: switches every 20 min to 3 h (exponential), random initial state
    run = np.zeros((p, n), dtype=bool)
    for i in range(p):
        sw = np.cumsum(rng.exponential(4000.0, size=64)).astype(np.int64)
        sw = sw[sw < n]
        state = (np.searchsorted(sw, np.arange(n), side="right") + rng.integers(2)) % 2
        run[i] = state == 1
    phase = rng.uniform(0, 2 * np.pi, size=(p, 1))
    slow = np.sin(2 * np.pi * t[None, :] / 7200.0 + phase)
    s = np.where(vsd, 0.90 + 0.06 * slow, 1.0)
    q = col["q_r"] * s * (0.92 + 0.04 * slow) * (1 + 0.004 * rng.standard_normal((p, n)))
    k = (col["h0"] - col["h_r"]) / col["q_r"] ** 2
    head = col["h0"] * s**2 - k * q**2
    qb = col["qb"] * s
    eta = np.clip(col["eb"] * (1 - ((q - qb) / qb) ** 2), 0.3, None) * col["me"]
    power = G * q * head / 3600.0 / eta * (1 + 0.004 * rng.standard_normal((p, n)))
    ps = 1.2 + 0.05 * slow + 0.001 * rng.standard_normal((p, n))
    out = {
        "flow": np.where(run, q, 0.0),
        "suction_pressure": ps,
        "discharge_pressure": np.where(run, ps + head / BAR_TO_M, ps),
        "power": np.where(run, power, 0.0),
        "current": np.where(run, power * 1.7, 0.0),
        "speed": np.where(run, col["n_r"] * s + 2.0 * rng.standard_normal((p, n)), 0.0),
        "vibration": np.where(run, 2.5 + 0.3 * rng.standard_normal((p, n)), 0.05),
        "bearing_temperature": 45.0 + 10.0 * _lag(run, 1200.0)
        + 0.01 * rng.standard_normal((p, n)),
    }
    sq = {}
    for sig in SIGNALS:
        x = np.round(out[sig], DECIMALS[sig])
        codes = np.full((p, n), 192, dtype=np.int16)
        for i in range(p):
            # a few faults per pump and day: spikes, a gap, a stuck stretch, bad codes
            for j in rng.integers(100, n - 100, size=3):
                x[i, j] += (0.5 + rng.uniform()) * max(abs(x[i, j]), 1.0)
            if rng.uniform() < 0.3:
                j = int(rng.integers(0, n - 4000))
                x[i, j:j + int(rng.integers(5, 3000))] = np.nan
            if rng.uniform() < 0.1:
                j = int(rng.integers(0, n - 4000))
                x[i, j:j + 2400] = x[i, j]
            if rng.uniform() < 0.2:
                j = int(rng.integers(0, n - 600))
                codes[i, j:j + int(rng.integers(1, 600))] = 0 if rng.uniform() < 0.5 else 64
        if sig == "discharge_pressure" and day == 0:
            x[0, 3600:7200] *= 14.5038  # psi read as bar for an hour
        out[sig] = x
        sq[sig] = codes
    return out, sq


def build(workdir: Path, pumps: int, days: int) -> dict:
    """Write the registry and the lake once; reused while the parameters match."""
    import yaml

    from pumplib import config
    from pumplib.assets import AssetRegistry
    from pumplib.lake import Lake

    meta = {"pumps": pumps, "days": days, "format": FORMAT}
    marker = workdir / "built.json"
    lake_dir = workdir / "lake"
    reg_path = workdir / "registry.yaml"
    if marker.exists() and json.loads(marker.read_text()) == meta:
        return {"store": str(lake_dir), "registry": str(reg_path), "built_seconds": 0.0}
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    spec = registry_spec(pumps)
    reg_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    reg = AssetRegistry.from_dict(spec)
    assets = [a.id for a in reg.pumps()]
    t0 = time.perf_counter()
    lake = Lake(str(lake_dir), create=True)
    with config.set({"lake.chunk_samples": DAY}):
        for day in range(days):
            vals, sq = day_values(reg, assets, day)
            with lake.transaction(f"bench day {day}", {"kind": "ingest"}) as tx:
                for sig in SIGNALS:
                    tx.write_block("1s", assets, sig, START_S + day * DAY, vals[sig],
                                   present=np.ones(vals[sig].shape, bool), sq=sq[sig])
            print(f"  built day {day + 1}/{days}", flush=True)
    marker.write_text(json.dumps(meta))
    return {"store": str(lake_dir), "registry": str(reg_path),
            "built_seconds": time.perf_counter() - t0}


# -- children -------------------------------------------------------------------------------
def _peak_rss_gb() -> float:
    """Peak resident memory of this process's own address space, GB (:mod:`_peak`)."""
    from _peak import peak_rss_gb

    return peak_rss_gb()


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _counts(flags: dict) -> dict:
    from pumplib.quality import Flag

    return {s: {f.name: int(np.count_nonzero(v & f)) for f in Flag if np.count_nonzero(v & f)}
            for s, v in flags.items()}


def child_pumplib(spec: dict) -> dict:
    import dask

    from pumplib.lake import Lake
    from pumplib.quality import evaluate
    try:
        from pumplib.quality import open_for_rules
    except ImportError:  # an older version
        def open_for_rules(lake, cadence):
            return lake.open_raw(cadence)

    warm_cpu = _cpu_seconds()
    if spec.get("warm", True):
        # numba kernels: load their cache (or compile) outside the timed part
        try:
            from pumplib.quality import kernels
        except ImportError:  # a version without numba kernels
            kernels = None
        if kernels is not None:
            kernels.warm()
    t0 = time.perf_counter()
    c0 = _cpu_seconds()
    ds = open_for_rules(Lake(spec["store"]), "1s")  # many pumps × a day per block
    fl = evaluate(ds, None, spec["registry"])
    names = list(fl.data_vars)
    arrays = dask.compute(*[fl[s].data for s in names])
    secs = time.perf_counter() - t0
    samples = int(ds.sizes["asset"] * ds.sizes["time"] * len(names))
    return {"seconds": secs, "cpu_seconds": _cpu_seconds() - c0, "samples": samples,
            "warm_cpu_seconds": c0 - warm_cpu,
            "counts": _counts(dict(zip(names, arrays, strict=True)))}


def child_baseline(spec: dict) -> dict:
    """The same rules in plain pandas (see the module docstring)."""
    import pandas as pd

    from pumplib.assets import AssetRegistry
    from pumplib.lake import Lake
    from pumplib.quality.flags import Flag
    from pumplib.quality.rules import Rules, limit_value

    t0 = time.perf_counter()
    c0 = _cpu_seconds()
    reg = AssetRegistry.load(spec["registry"])
    rules = Rules.load(str(REPO / "catalogs" / "quality_rules.yaml"))
    ds = Lake(spec["store"]).open_raw("1s")
    assets = [str(a) for a in ds.asset.values]
    objs = [reg.asset(a) for a in assets]
    res = [rules.resolve(a, reg) for a in assets]
    idx = pd.DatetimeIndex(ds.time.values)
    frame = {s: pd.DataFrame(ds[s].values.T, index=idx, columns=assets) for s in SIGNALS}
    sqf = {s: pd.DataFrame(ds[f"{s}_sq"].values.T, index=idx, columns=assets) for s in SIGNALS}
    del ds

    def lim(sig, rule, key):
        return pd.Series([limit_value((r["signals"][sig].get(rule) or {}).get(key), a)
                          for r, a in zip(res, objs, strict=True)], index=assets, dtype=float)

    # running: power ≥ power_min (no run_state in this lake)
    pmin = pd.Series([limit_value(r["running"]["power_min"], a) for r, a in zip(res, objs,
                                                                                 strict=True)],
                     index=assets)
    fmin = pd.Series([limit_value(r["running"]["flow_min"], a) for r, a in zip(res, objs,
                                                                                strict=True)],
                     index=assets)
    pw, fw = frame["power"], frame["flow"]
    # running: from power where it has a value, else from flow (no run_state here)
    running = (pw >= pmin).astype(float).where(pw.notna(), (fw >= fmin).astype(float)
                                               .where(fw.notna()))

    def runs(mask: pd.DataFrame, breaks: pd.DataFrame) -> pd.DataFrame:
        """Length of the run (of ``mask`` cells, broken where ``breaks``) each cell is in."""
        out = {}
        for c in mask.columns:
            ids = breaks[c].cumsum()
            out[c] = mask[c].groupby(ids).transform("sum")
        return pd.DataFrame(out, index=mask.index)

    flags = {}
    for sig in SIGNALS:
        x = frame[sig]
        bits = np.zeros(x.shape, dtype=np.uint16)

        def add(mask, f, bits=bits):
            mask = mask.reindex(columns=assets, fill_value=False)
            bits[mask.to_numpy(dtype=bool, na_value=False)] |= np.uint16(f)

        rr = {k: lim(sig, "range", k) for k in ("min", "max", "running_min")}
        add((x < rr["min"]) | (x > rr["max"]), Flag.RANGE)
        if rr["running_min"].notna().any():
            add((running == 1) & (x < rr["running_min"]), Flag.RANGE)
        # spike (Hampel): rolling median, MAD only where the deviation beats the floor
        sp = res[0]["signals"][sig].get("spike")
        if sp:
            w = int(sp.get("window", 7))
            h = w // 2
            n_sigma = float(sp.get("n_sigma", 5.0))
            floor = lim(sig, "spike", "min_deviation").fillna(0.0)
            med = x.rolling(w, center=True, min_periods=1).median()
            cnt = x.rolling(w, center=True, min_periods=1).count()
            dist = (x - med).abs()
            cand = dist.gt(floor) & cnt.ge(h + 1)
            thr = pd.DataFrame(np.inf, index=idx, columns=assets)
            hit = pd.DataFrame(False, index=idx, columns=assets)
            xv = np.pad(x.values, ((h, h), (0, 0)), constant_values=np.nan)
            for j, c in enumerate(assets):
                rows = np.flatnonzero(cand[c].values)
                if not len(rows):
                    continue
                win = np.stack([xv[rows + k, j] for k in range(w)], axis=1)
                mad = np.nanmedian(np.abs(win - med[c].values[rows, None]), axis=1)
                t = np.maximum(n_sigma * 1.4826 * mad, floor[c])
                thr.iloc[rows, j] = t
                hit.iloc[rows, j] = dist[c].values[rows] > t
            notout = ~hit
            spike = pd.DataFrame(False, index=idx, columns=assets)
            for c in assets:
                if not hit[c].any():
                    continue
                rid = notout[c].cumsum()
                run_len = hit[c].groupby(rid).transform("sum")
                # the samples bordering each run: last non-outlier before, first after
                pos = np.arange(len(idx))
                keep = notout[c].values
                before = np.maximum.accumulate(np.where(keep, pos, -1))
                after = np.minimum.accumulate(np.where(keep, pos, len(pos))[::-1])[::-1]
                xvals = x[c].values
                xb = np.concatenate([[np.nan], xvals, [np.nan]])
                lv, rv = xb[before + 1], xb[after + 1]
                tv = thr[c].values
                with np.errstate(invalid="ignore"):
                    apart = ~(np.abs(xvals - lv) <= tv) & ~(np.abs(xvals - rv) <= tv)
                short = run_len.values <= int(sp.get("max_width", 2))
                spike[c] = hit[c].values & short & apart
            add(spike, Flag.SPIKE)
        # flat-line while running (or always)
        fl = res[0]["signals"][sig].get("flatline")
        fl_assets = [a for a, r in zip(assets, res, strict=True) if r["signals"][sig].get(
            "flatline")]
        if fl_assets:
            n_min = {a: max(int(pd.Timedelta(r["signals"][sig]["flatline"]["duration"])
                                .total_seconds()) + 1, 2)
                     for a, r in zip(assets, res, strict=True) if a in fl_assets}
            xs = x[fl_assets]
            cond = running[fl_assets].fillna(0) > 0 if fl.get("when") == "running" else \
                pd.DataFrame(True, index=idx, columns=fl_assets)
            valid = xs.notna() & cond
            same = valid & valid.shift(1, fill_value=False) & (xs.diff().abs() <= 0)
            length = runs(valid, ~same)
            add(valid & (length >= pd.Series(n_min)), Flag.FLATLINE)
        rt = res[0]["signals"][sig].get("rate")
        if rt:
            # the change over `per` (1 Hz data: `per` seconds apart)
            per = max(1, round(pd.Timedelta(rt.get("per", "1min")).total_seconds()))
            add(x.diff(per).abs() > lim(sig, "rate", "max_change"), Flag.RATE)
        gp = res[0]["signals"][sig].get("gap")
        miss = x.isna()
        add(miss, Flag.MISSING)
        if gp:
            length = runs(miss, ~(miss & miss.shift(1, fill_value=False)))
            add(miss & (length > int(gp.get("max_gap", 0))), Flag.GAP)
        sq = sqf[sig]
        add((sq >= 0) & ((sq & 192) != 192), Flag.SOURCE_BAD)
        flags[sig] = bits
    # physics
    def pl(check, key, section="physics"):
        return pd.Series([limit_value((r[section].get(check) or {}).get(key), a)
                          for r, a in zip(res, objs, strict=True)], index=assets)

    def cv(section, key):
        return pd.Series([float(getattr(a, section)[key]) for a in objs], index=assets)

    flow, pd_, ps, speed = (frame[s] for s in ("flow", "discharge_pressure",
                                                "suction_pressure", "speed"))
    def put(sig, mask, f):
        flags[sig][mask.to_numpy(dtype=bool, na_value=False)] |= np.uint16(f)

    put("flow", (running == 0) & (flow > pl("flow_off", "flow_max")), Flag.PHYSICS_FLOW_OFF)
    dry = (pw > pl("dry_run", "power_min")) & (flow < pl("dry_run", "flow_max"))
    put("power", dry, Flag.PHYSICS_DRY_RUN)
    put("flow", dry, Flag.PHYSICS_DRY_RUN)
    head = (pd_ - ps.fillna(0.0)) * BAR_TO_M
    s = (speed / cv("rated", "speed")).where(speed > 0).where(speed.notna(), 1.0)
    run = running.fillna(0)
    p = pw.where(pw > 0)
    eta = G * flow * head / 3600.0 / p
    qb = cv("curve", "bep_flow") * s
    eta_exp = (cv("curve", "bep_efficiency") * (1.0 - ((flow - qb) / qb) ** 2)).clip(lower=0.0) \
        * cv("motor", "efficiency")
    m = (run > 0) & (flow >= pl("efficiency", "min_flow").fillna(0.0)) & (
        (eta > pl("efficiency", "max")) | ((eta - eta_exp).abs() > pl("efficiency",
                                                                       "tolerance")))
    for sig in ("flow", "power", "discharge_pressure"):
        put(sig, m, Flag.PHYSICS_EFFICIENCY)
    h0, hr, qr = cv("curve", "shutoff_head"), cv("rated", "head"), cv("rated", "flow")
    expected = h0 * s**2 - (h0 - hr) / qr**2 * flow**2
    m = (run > 0) & (flow >= pl("head", "min_flow").fillna(0.0)) & (
        (head - expected).abs() > pl("head", "tolerance"))
    for sig in ("flow", "discharge_pressure"):
        put(sig, m, Flag.PHYSICS_HEAD)
    secs = time.perf_counter() - t0
    out = {s: flags[s].T for s in SIGNALS}
    return {"seconds": secs, "cpu_seconds": _cpu_seconds() - c0,
            "samples": int(sum(v.size for v in out.values())), "counts": _counts(out)}


def run_child(kind: str, spec: dict, code: str | None = None) -> dict:
    """One measurement in a fresh interpreter (``code``: import pumplib from there)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, json.dumps(spec)]
    env = {**os.environ, "PYTHONPATH": f"{code or REPO}{os.pathsep}"
                                       f"{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(code or REPO))
    if proc.returncode != 0:
        raise SystemExit(f"{kind} run failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    rep = json.loads(proc.stdout.strip().splitlines()[-1])
    r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rep["children_max_rss_gb"] = r * 1024 / 1e9
    return rep


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pumps", type=int, default=20)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="4 pumps × 1 day (smoke run)")
    ap.add_argument("--workdir", default=None,
                    help="default benchmarks/_work/quality-<pumps>x<days>")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="pumplib runs (best is reported)")
    ap.add_argument("--compare-code", default=None,
                    help="also time the pumplib (and catalogs/) of this folder, e.g. an "
                         "export of the previous commit: git archive HEAD pumplib catalogs "
                         "| tar -x -C DIR")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, spec = args.child[0], json.loads(args.child[1])
        rep = {"pumplib": child_pumplib, "baseline": child_baseline}[kind](spec)
        rep["peak_rss_gb"] = _peak_rss_gb()
        print(json.dumps(rep))
        return rep
    if args.quick:
        args.pumps, args.days = 4, 1
    workdir = Path(args.workdir or HERE / "_work" / f"quality-{args.pumps}x{args.days}")
    load = os.getloadavg()[0]
    print(f"building {args.pumps} pumps × {len(SIGNALS)} signals × {args.days} days at 1 Hz "
          f"in {workdir}", flush=True)
    spec = build(workdir, args.pumps, args.days)
    runs = []
    for i in range(max(args.repeat, 1)):
        r = run_child("pumplib", spec)
        print(f"  pumplib run {i + 1}: {r['seconds']:.2f} s, "
              f"{r['samples'] / r['seconds'] / 1e6:.2f} M samples/s, "
              f"{r['peak_rss_gb']:.2f} GB", flush=True)
        runs.append(r)
    best = min(runs, key=lambda r: r["seconds"])
    other = None
    if args.compare_code:
        other = run_child("pumplib", spec, code=str(Path(args.compare_code).resolve()))
        print(f"  pumplib from {args.compare_code}: {other['seconds']:.2f} s, "
              f"{other['samples'] / other['seconds'] / 1e6:.2f} M samples/s, "
              f"{other['peak_rss_gb']:.2f} GB", flush=True)
    base = None
    if not args.skip_baseline:
        base = run_child("baseline", spec)
        print(f"  baseline: {base['seconds']:.2f} s, "
              f"{base['samples'] / base['seconds'] / 1e6:.2f} M samples/s, "
              f"{base['peak_rss_gb']:.2f} GB", flush=True)
    same = None if base is None else base["counts"] == best["counts"]
    if same is False:
        print("  flag counts differ:\n   pumplib  " + json.dumps(best["counts"])
              + "\n   baseline " + json.dumps(base["counts"]), flush=True)
    totals: dict[str, int] = {}
    for c in best["counts"].values():
        for k, v in c.items():
            totals[k] = totals.get(k, 0) + v
    out = {
        "samples_per_s": round(best["samples"] / best["seconds"]),
        "baseline_samples_per_s": None if base is None else
        round(base["samples"] / base["seconds"]),
        "peak_rss_gb": round(best["peak_rss_gb"], 3),
        "baseline_peak_rss_gb": None if base is None else round(base["peak_rss_gb"], 3),
        "seconds": round(best["seconds"], 2),
        "seconds_all_runs": [round(r["seconds"], 2) for r in runs],
        "cpu_seconds": round(best["cpu_seconds"], 2),
        "baseline_seconds": None if base is None else round(base["seconds"], 2),
        "baseline_cpu_seconds": None if base is None else round(base["cpu_seconds"], 2),
        "counts_match_baseline": same,
        "compare_code_samples_per_s": None if other is None else
        round(other["samples"] / other["seconds"]),
        "compare_code_peak_rss_gb": None if other is None else round(other["peak_rss_gb"], 3),
        "compare_code_seconds": None if other is None else round(other["seconds"], 2),
        "compare_code_counts_match": None if other is None else
        other["counts"] == best["counts"],
        "flag_totals": totals,
        "samples": best["samples"], "pumps": args.pumps, "days": args.days,
        "signals": len(SIGNALS), "cpus": os.cpu_count(),
        "load_avg_before_after": [round(load, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
