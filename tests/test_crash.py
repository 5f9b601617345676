"""kill -9 at random moments of ingest, validate, features build and quality override.

A clean run of the four commands keeps a copy of the store after each step.
Each killed run starts from the clean copy before its step; after the kill the
step is run again (unless the killed run had committed already), and the store
must hold what the clean run's store holds after that step. Then
``pumplib lake gc`` (zero grace) must bring its size on disk within 10 % of the
clean store's: the orphan chunks of the killed run are gone.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pumplib.lake import Lake, open_root
from pumplib.lakecare import folder_bytes

from .conftest import ROOT
from .test_ingest import long_rows, write

pytestmark = pytest.mark.slow

PUMPLIB = [sys.executable, "-m", "pumplib"]


def _steps(data, store, registry_file) -> list[list[str]]:
    s, r = ["--store", str(store)], ["--registry", str(registry_file)]
    return [
        [*PUMPLIB, "ingest", str(data), "--format", "long_csv", *s, *r],
        [*PUMPLIB, "validate", *s, *r, "--rules", str(ROOT / "catalogs" / "quality_rules.yaml")],
        [*PUMPLIB, "features", "build", *s, *r],
        [*PUMPLIB, "quality", "override", "N-P1", "2026-03-09T01:00:00Z", "2026-03-09T03:00:00Z",
         "bad", "--reason", "crash test", *s],
    ]


def _run(cmd) -> float:
    t = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PUMPLIB_INGEST__PROGRESS": "False"})
    assert res.returncode == 0, res.stderr[-2000:]
    return time.perf_counter() - t


def content(store) -> dict:
    """What a store holds, as checksums: the summary (less the commit count) and every
    array of raw/, quality/ and features/; the overrides (less ids and times)."""
    lake = Lake(str(store))
    summ = lake.summary()
    summ.pop("commits")
    summ.pop("store")
    root = open_root(lake.session().store, "r")
    sums = {}
    for top in ("raw", "quality", "features"):
        if top in root:
            for p, a in root[top].members(max_depth=None):
                if hasattr(a, "shape"):
                    sums[f"{top}/{p}"] = hashlib.sha256(
                        np.ascontiguousarray(a[...]).tobytes()).hexdigest()
    ovr = [t[["asset", "signal", "start", "end", "status", "reason"]].to_dict("records")
           for t in lake.tables("overrides").values()]
    return {"summary": summ, "arrays": sums, "overrides": ovr}


def _chunks(store) -> int:
    try:
        return sum(1 for _ in os.scandir(store / "chunks"))
    except FileNotFoundError:
        return 0


def _wait_for_new_chunk(store, proc, timeout: float = 60.0) -> None:
    """Until the command has written a chunk the store did not hold (or has ended)."""
    n = _chunks(store)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and _chunks(store) == n and time.monotonic() < deadline:
        time.sleep(0.002)


def test_kill_9_at_random_moments_then_rerun_equals_a_clean_run(tmp_path, registry_file):
    data = write(tmp_path / "a.csv", "\n".join(long_rows(2 * 1440)) + "\n")
    # the clean run, a copy of the store after each step
    clean = tmp_path / "clean"
    states, took = [], []
    for cmd in _steps(data, clean, registry_file):
        took.append(_run(cmd))
        states.append(tmp_path / f"state{len(states)}")
        shutil.copytree(clean, states[-1])
    start = _run([*PUMPLIB, "--version"])       # the part of a run before it works
    rng = random.Random(21)
    kills = [0, 0, 1, 1, 2, 2, 3, 3]             # step of each kill (odd: mid-write)
    report = []
    for k, step in enumerate(kills):
        store = tmp_path / f"kill{k}"
        if step:
            shutil.copytree(states[step - 1], store)
        before = Lake(str(store)).tip() if step else None
        cmd = _steps(data, store, registry_file)[step]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        t0 = time.perf_counter()
        if k % 2:
            # while it writes: a seeded moment after its first new chunk lands on disk
            _wait_for_new_chunk(store, proc)
            time.sleep(rng.uniform(0.0, 0.05))
        else:
            # a moment of the command's work (after its start-up), seeded
            time.sleep(start + rng.uniform(0.1, 0.95) * max(took[step] - start, 0.2))
        delay = time.perf_counter() - t0
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        killed = proc.returncode == -signal.SIGKILL
        # whether the killed run had made all its commits (a features build makes two:
        # its definitions, then its tables)
        committed = store.exists() and (store / "refs").is_dir() and \
            Lake(str(store)).tip() != before and \
            len(Lake(str(store)).log()) >= len(Lake(str(states[step])).log())
        if not committed:
            _run(cmd)                              # the re-run
        got, want_c = content(store), content(states[step])
        assert got == want_c, (f"kill {k} at step {step} (committed {committed}): "
                               f"{sorted(set(got['arrays'].items()) ^ set(want_c['arrays'].items()))[:6]}")
        size = folder_bytes(store)
        res = subprocess.run([*PUMPLIB, "lake", "gc", "--store", str(store), "--grace", "0s",
                              "--older-than", "none", "--json"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        after, want = folder_bytes(store), folder_bytes(states[step])
        report.append((step, round(delay, 2), killed, committed, size - want, after - want))
        assert abs(after - want) <= 0.10 * want, report[-1]
        assert content(store) == content(states[step])
        assert Lake(str(store)).check().ok
    print("\nstep, delay s, killed, had committed, extra bytes before gc, after gc")
    for r in report:
        print(*r)
    assert sum(r[2] for r in report) >= 5         # at least five real kills
    assert sum(r[2] and r[4] > 0 for r in report) >= 2   # ... leaving orphans
