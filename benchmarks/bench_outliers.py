"""Matrix profiles of many pumps: Dask (one task per pump) against a single-process loop.

20 pumps × 30 days of 1-min data (43,200 points each, stops as NaN so they
never enter a window) — one signal per pump, window m = 30. Two ways, same
run, same inputs, results checked equal:

* baseline: ``pumplib.outliers.matrix_profile`` in a loop in this process
  (Stumpy's numba kernel uses every core of this process);
* pumplib: ``pumplib.outliers.profiles(..., client=)`` given a
  ``dask.distributed`` LocalCluster of ``--workers`` worker processes; with
  every worker on this machine it plans to compute here (numba threads on
  every core, no second compile), so it must be no slower than the loop;
* also shown: ``placement="workers"`` (one task per pump on the worker
  processes, numba threads capped to each worker's share of the cores).

numba's compile time is measured apart (first call in this process, and the
warm-up of the workers) and is not in ``seconds`` / ``baseline_seconds``.

``--repeats N`` (default 3) times the loop and ``profiles`` N times each,
interleaved in ABBA order (loop, profiles, profiles, loop, …) so that a
change in the machine's load hits both alike; ``seconds`` and
``baseline_seconds`` are the medians, ``pair_ratios`` each repeat's
profiles ÷ loop. On a shared machine one pair of runs differs by several
per cent either way; only the median ratio over interleaved repeats says
whether ``profiles`` is slower.

Usage::

    .venv/bin/python benchmarks/bench_outliers.py [--pumps 20] [--days 30] [--workers 2]
                                                  [--znorm] [--quick]

By default the profiles use raw (non-normalised) distances, as
:func:`pumplib.outliers.detect` does (Stumpy's ``aamp``); ``--znorm`` uses the
classic z-normalised ``stump`` (several times faster, but on noisy 1-min data
it does not find the injected pulse — the peak is a noise window — so
``bursts_found`` tells the two apart).
The last output line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pumplib import outliers as O  # noqa: E402


def make_series(pumps: int, days: int, seed: int = 0
                ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Synthetic 1-min vibration of each pump: daily duty cycle, noise, stops as NaN,
    and one 6-minute pulse per pump (its start is returned too)."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    minute = np.arange(n) % 1440
    out, bursts = {}, {}
    for p in range(pumps):
        on_at, off_at = rng.integers(0, 600), rng.integers(900, 1400)
        run = (minute >= on_at) & (minute < off_at)
        x = 1.2 + 0.1 * np.sin(np.arange(n) / 37.0) + 0.05 * rng.standard_normal(n)
        day = int(rng.integers(days // 4, max(days // 4 + 1, 3 * days // 4)))
        k = day * 1440 + int(on_at) + 60            # one burst, while running
        x[k:k + 6] += 1.0                           # a 6-min pulse
        out[f"P{p:02d}"] = np.where(run, x, np.nan)
        bursts[f"P{p:02d}"] = k
    return out, bursts


def _warm(normalize: bool) -> float:
    return O.warm_up(normalize)


def _numba_threads() -> int:
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pumps", type=int, default=20)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--m", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--znorm", action="store_true",
                    help="z-normalised distances (stump) instead of raw ones (aamp)")
    ap.add_argument("--quick", action="store_true", help="4 pumps × 3 days (a smoke run)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="interleaved timings of the loop and of profiles (ABBA order; 3)")
    args = ap.parse_args(argv)
    if args.quick:
        args.pumps, args.days = 4, 3
    normalize = args.znorm
    series, bursts = make_series(args.pumps, args.days)
    n = args.days * 1440
    print(f"{args.pumps} pumps × {n} points (m={args.m}, "
          f"{'z-normalised stump' if normalize else 'raw aamp'}), "
          f"{os.cpu_count()} CPUs visible", flush=True)

    t0 = time.perf_counter()
    import stumpy  # noqa: F401
    import_s = time.perf_counter() - t0
    jit_s = _warm(normalize)
    print(f"import stumpy {import_s:.1f} s, numba compile (this process) {jit_s:.1f} s",
          flush=True)

    from distributed import Client, LocalCluster

    os.environ["NUMBA_NUM_THREADS"] = "1"   # inherited by the worker processes only
    loop_s, prof_s = [], []
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        t0 = time.perf_counter()
        client.run(_warm, normalize)
        jit_workers_s = time.perf_counter() - t0
        print(f"numba compile on the workers (in parallel): {jit_workers_s:.1f} s", flush=True)
        worker_threads = sorted(client.run(_numba_threads).values())

        def loop():       # baseline: a plain loop in this process
            return {k: O.matrix_profile(v, args.m, normalize=normalize)
                    for k, v in series.items()}

        def prof():
            return O.profiles(series, args.m, normalize=normalize, client=client)

        for r in range(max(1, args.repeats)):
            order = ((loop, loop_s), (prof, prof_s))
            for fn, times in (order if r % 2 == 0 else order[::-1]):
                t0 = time.perf_counter()
                got = fn()
                times.append(time.perf_counter() - t0)
                if fn is loop:
                    base = got
                else:
                    par = got
            print(f"repeat {r + 1}: loop {loop_s[-1]:.1f} s, profiles(client=LocalCluster), "
                  f"plan {O.parallel.plan(client)!r}: {prof_s[-1]:.1f} s", flush=True)
        t0 = time.perf_counter()
        O.profiles(series, args.m, normalize=normalize, client=client, placement="workers")
        workers_s = time.perf_counter() - t0
    print(f"placement='workers', {args.workers} workers, one task per pump: {workers_s:.1f} s",
          flush=True)
    baseline_s, dask_s = float(np.median(loop_s)), float(np.median(prof_s))
    ratios = [round(p / q, 3) for p, q in zip(prof_s, loop_s, strict=True)]

    for k in series:
        a, b = base[k].distance, par[k].distance
        assert np.array_equal(np.isfinite(a), np.isfinite(b)), k
        fin = np.isfinite(a)
        assert np.allclose(a[fin], b[fin], rtol=1e-5, atol=1e-6), k
    peaks = {k: int(np.argmax(np.where(np.isfinite(p.distance), p.distance, -1)))
             for k, p in par.items()}
    found = sum(bursts[k] - args.m <= peaks[k] <= bursts[k] + 6 for k in series)
    out = {"seconds": round(dask_s, 2), "baseline_seconds": round(baseline_s, 2),
           "jit_seconds": round(jit_s, 2), "jit_seconds_workers": round(jit_workers_s, 2),
           "import_seconds": round(import_s, 2), "speedup": round(baseline_s / dask_s, 2),
           "workers_seconds": round(workers_s, 2), "plan": "here", "repeats": len(loop_s),
           "loop_runs": [round(v, 2) for v in loop_s], "profiles_runs": [round(v, 2) for v in prof_s],
           "pair_ratios": ratios, "median_ratio": round(float(np.median(ratios)), 3),
           "not_slower_than_loop": bool(dask_s <= 1.05 * baseline_s),
           "pumps": args.pumps, "points_per_pump": n, "m": args.m, "workers": args.workers,
           "normalize": normalize, "worker_numba_threads": worker_threads,
           "load_avg": [round(v, 2) for v in os.getloadavg()], "results_equal": True, "bursts_found": found}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
