"""SKAB benchmark of pumplib's detectors (the SKAB leaderboard protocol) and simulated kinds.

For each labelled SKAB file (searched recursively under ``--data``): fit
``pumplib.outliers.ChangeDetector`` — ONE configuration for every file, no
per-file tuning, no row positions — on the first 400 rows, predict the
remaining rows (the 400 fitted rows only prime the windows), and score binary
F1, false-alarm rate (FAR = FP / normal rows) and missed-alarm rate
(MAR = FN / anomalous rows) over all predicted rows of all files together.

Detectors in the same run: ``AlarmDetector`` in ONE configuration (the one
in :func:`make_detector`, ``"alarm"``), the older ``ChangeDetector()``
defaults, the same without slow-signal de-trending, and flag-every-row.

Simulated kinds (:mod:`pumplib.simulate_faults`): ``--episodes`` (30)
slices of the real ``anomaly-free.csv`` (or of :func:`rig_frame` when it is
absent), each fitted on its first ``--train`` rows (400, as the development
files) and scored on the 800 rows after, with one fault of each kind
injected at a seeded row 200–500 rows into the scored part (200 rows;
impulses: 3 spikes in 60 rows). Recall is per episode: an alarm on during
the fault rows. (``recall_incl_after`` also counts an alarm in the
``window`` rows after the fault, as this benchmark did before 2026-12-07's
eleventh session: 12 of 30 leaks were "found" only there, by the step of
the injected leak's abrupt end, which no operator would call finding the
leak.) FAR is per row, over every row outside the fault rows and the
``window`` rows after (their windows still hold fault samples). The row ``none`` is the same slices with no fault injected:
the false alarms the base data makes by itself (its recall is meaningless
and not a target). ``targets_met`` is judged on these figures.

``--sim-seed`` (default 7) picks the family of seeded slices and fault
rows; 7 is the one the detector was developed on. Another (for example
``--sim-seed 8 --episodes 60``) is a check on slices no one tuned on.

``--sim-train`` (default ``800,1600``) repeats the simulated kinds with
longer fit windows (the same 800 scored rows after each), reported apart as
``sim_by_train``: the anomaly-free recording changes its operating state
over tens of minutes, which a 400-row (7-minute) fit cannot see.

Usage::

    .venv/bin/python benchmarks/bench_skab.py [--data DIR] [--train 400]

The last output line is JSON: ``f1, far, mar, files, rows``, the per-kind
``sim`` figures, ``targets_met`` and the baselines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pumplib.outliers import AlarmDetector, ChangeDetector  # noqa: E402
from pumplib.simulate_faults import RIG_FAULT_KINDS, inject, rig_frame  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "skab-dev"
LABELS = ("anomaly", "changepoint")
#: rows scored after the fit window in each simulated episode
SCORED = 800


def read_skab(path: Path) -> pd.DataFrame:
    """One SKAB CSV (``;``-separated, ``datetime`` index)."""
    df = pd.read_csv(path, sep=";", parse_dates=["datetime"]).set_index("datetime")
    return df


def labelled_files(root: Path) -> list[Path]:
    files = []
    for p in sorted(root.rglob("*.csv")):
        with p.open() as fh:
            header = fh.readline().strip().split(";")
        if "anomaly" in header:
            files.append(p)
    return files


def confusion(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.array([(pred & y).sum(), (pred & ~y).sum(), (~pred & y).sum(),
                     (~pred & ~y).sum()], dtype=np.int64)


def scores(c: np.ndarray) -> dict:
    tp, fp, fn, tn = (int(v) for v in c)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return {"f1": round(f1, 4), "far": round(fp / max(fp + tn, 1), 4),
            "mar": round(fn / max(fn + tp, 1), 4), "tp": tp, "fp": fp, "fn": fn, "tn": tn}


#: the one AlarmDetector configuration every file and every simulated kind gets
ALARM_CONFIG: dict = {}


def make_detector(kind: str):
    if kind == "alarm":
        return AlarmDetector(**ALARM_CONFIG)         # the library defaults (+ ALARM_CONFIG)
    if kind == "pumplib":
        return ChangeDetector()                       # the older detector's defaults
    if kind == "no_detrend":
        return ChangeDetector(slow_autocorr=1.01)      # every signal judged on its level
    raise ValueError(kind)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="folder of SKAB-format labelled CSV files (searched recursively)")
    ap.add_argument("--train", type=int, default=400, help="rows fitted per file (400)")
    ap.add_argument("--episodes", type=int, default=30,
                    help="simulated episodes per fault kind (30)")
    ap.add_argument("--sim-seed", type=int, default=7,
                    help="seed family of the simulated slices (7: the development one)")
    ap.add_argument("--sim-train", default="800,1600",
                    help="longer fit windows for the simulated kinds, reported apart "
                         "(comma-separated rows; '' for none)")
    args = ap.parse_args(argv)
    if not args.data.exists():
        raise SystemExit(f"no data folder {args.data}")
    files = labelled_files(args.data)
    if not files:
        raise SystemExit(f"no labelled SKAB files (with an 'anomaly' column) under {args.data}")
    kinds = ("alarm", "pumplib", "no_detrend")
    total = {k: np.zeros(4, np.int64) for k in (*kinds, "all_rows")}
    per_file = []
    rows = 0
    t0 = time.perf_counter()
    for path in files:
        df = read_skab(path)
        y = df["anomaly"].to_numpy()[args.train:] > 0.5
        signals = df.drop(columns=[c for c in LABELS if c in df.columns])
        train, test = signals.iloc[: args.train], signals.iloc[args.train:]
        rows += len(test)
        total["all_rows"] += confusion(np.ones(len(y), bool), y)
        line = {"file": str(path.relative_to(args.data))}
        for k in kinds:
            det = make_detector(k).fit(train)
            pred = det.predict(test, context=train)
            c = confusion(pred, y)
            total[k] += c
            line[k] = scores(c)["f1"]
        per_file.append(line)
    seconds = time.perf_counter() - t0
    for line in per_file:
        print(f"{line['file']:>24}  F1 alarm {line['alarm']:.3f}  change {line['pumplib']:.3f}"
              f"  no-detrend {line['no_detrend']:.3f}")
    res = {k: scores(v) for k, v in total.items()}
    print("detector config:", make_detector("alarm"))
    for k, v in res.items():
        print(f"{k:>12}: F1 {v['f1']:.3f}  FAR {v['far']:.3f}  MAR {v['mar']:.3f}")
    normal = args.data / "anomaly-free.csv"
    base = read_skab(normal) if normal.exists() else None
    sim = simulated(base, args.episodes, args.train, seed=args.sim_seed)
    sim_change = simulated(base, args.episodes, args.train, detector="pumplib",
                           seed=args.sim_seed)
    print(f"simulated kinds, fit on {args.train} rows:")
    for k, v in sim.items():
        c = sim_change[k]
        print(f"{k:>16}: recall {v['recall']:.3f} (incl. after {v['recall_incl_after']:.3f})  "
              f"FAR {v['far']:.3f}  ({v['episodes']} episodes)   ChangeDetector: recall "
              f"{c['recall']:.3f}  FAR {c['far']:.3f}")
    by_train = {}
    for tr in (int(t) for t in args.sim_train.split(",") if t.strip()):
        by_train[tr] = simulated(base, args.episodes, tr, seed=args.sim_seed)
        print(f"simulated kinds, fit on {tr} rows (AlarmDetector): " + "  ".join(
            f"{k} {v['recall']:.3f}/{v['far']:.3f}" for k, v in by_train[tr].items()))
    a = res["alarm"]
    met = bool(a["f1"] >= 0.85 and a["far"] <= 0.10
               and all(v["recall"] >= 0.9 and v["far"] <= 0.10 for k, v in sim.items()
                       if k != "none"))
    out = {"f1": a["f1"], "far": a["far"], "mar": a["mar"], "files": len(files), "rows": rows,
           "sim": sim, "sim_change_detector": sim_change, "sim_by_train": by_train, "sim_base": "anomaly-free.csv" if normal.exists() else "rig_frame",
           "sim_seed": args.sim_seed,
           "targets_met": met,
           "change_detector_f1": res["pumplib"]["f1"], "change_detector_far": res["pumplib"]["far"],
           "baseline_all_rows_f1": res["all_rows"]["f1"],
           "baseline_no_detrend_f1": res["no_detrend"]["f1"],
           "baseline_no_detrend_far": res["no_detrend"]["far"],
           "seconds": round(seconds, 2)}
    print(json.dumps(out))
    return out


def simulated(normal: pd.DataFrame | None, episodes: int, train: int = 400,
              detector: str = "alarm", seed: int = 7) -> dict:
    """Per-kind episode recall and row FAR of ``detector`` on injected faults.

    Each episode is a slice of ``train + 800`` rows (at ``train`` 400 the
    same slices and fault rows as before ``--sim-train`` existed); episode
    ``e`` draws its slice and fault row from the seed ``[e, seed]``."""
    out = {}
    n = train + SCORED
    for kind in (*RIG_FAULT_KINDS, "none"):
        found, late, fp, neg = 0, 0, 0, 0
        for e in range(episodes):
            rng = np.random.default_rng([e, seed])
            if normal is not None and len(normal) >= n:
                a = int(rng.integers(0, len(normal) - n))
                base = normal.iloc[a:a + n].drop(columns=[c for c in LABELS
                                                         if c in normal.columns])
            else:
                base = rig_frame(n, seed=e)
            start = train + int(rng.integers(200, 500))
            length = 60 if kind == "impulse" else 200
            if kind == "none":      # the same slice, no fault: the base data's own FAR
                faulty, truth = base, {"start": start, "end": start}
            else:
                faulty, truth = inject(base, kind, start, length, seed=e)
            det = make_detector(detector)
            tr, te = faulty.iloc[:train], faulty.iloc[train:]
            pred = det.fit(tr).predict(te, context=tr)
            lo, end = truth["start"] - train, truth["end"] - train
            hi = end + det.window
            found += bool(pred[lo:end].any())
            late += bool(pred[lo:hi].any())
            outside = np.ones(len(pred), bool)
            outside[lo:hi] = False
            fp += int((pred & outside).sum())
            neg += int(outside.sum())
        out[kind] = {"recall": round(found / episodes, 3), "far": round(fp / max(neg, 1), 4),
                     "recall_incl_after": round(late / episodes, 3), "episodes": episodes}
    return out


if __name__ == "__main__":
    main()
