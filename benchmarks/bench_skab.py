"""SKAB benchmark of pumplib's change detector (the SKAB leaderboard protocol).

For each labelled SKAB file (searched recursively under ``--data``): fit
``pumplib.outliers.ChangeDetector`` — ONE configuration for every file, no
per-file tuning, no row positions — on the first 400 rows, predict the
remaining rows (the 400 fitted rows only prime the windows), and score binary
F1, false-alarm rate (FAR = FP / normal rows) and missed-alarm rate
(MAR = FN / anomalous rows) over all predicted rows of all files together.

Baselines in the same run: flag every row, and the same detector without the
slow-signal de-trending (plain window means), which shows what drift costs.

Usage::

    .venv/bin/python benchmarks/bench_skab.py [--data DIR] [--train 400]

The last output line is JSON: ``f1, far, mar, files, rows`` and the baselines.
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

from pumplib.outliers import ChangeDetector  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "skab-dev"
LABELS = ("anomaly", "changepoint")


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


def make_detector(kind: str) -> ChangeDetector:
    if kind == "pumplib":
        return ChangeDetector()                       # the library defaults
    if kind == "no_detrend":
        return ChangeDetector(slow_autocorr=1.01)      # every signal judged on its level
    raise ValueError(kind)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="folder of SKAB-format labelled CSV files (searched recursively)")
    ap.add_argument("--train", type=int, default=400, help="rows fitted per file (400)")
    args = ap.parse_args(argv)
    if not args.data.exists():
        raise SystemExit(f"no data folder {args.data}")
    files = labelled_files(args.data)
    if not files:
        raise SystemExit(f"no labelled SKAB files (with an 'anomaly' column) under {args.data}")
    kinds = ("pumplib", "no_detrend")
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
        print(f"{line['file']:>24}  F1 pumplib {line['pumplib']:.3f}   "
              f"no-detrend {line['no_detrend']:.3f}")
    res = {k: scores(v) for k, v in total.items()}
    print("detector config:", make_detector("pumplib"))
    for k, v in res.items():
        print(f"{k:>12}: F1 {v['f1']:.3f}  FAR {v['far']:.3f}  MAR {v['mar']:.3f}")
    out = {"f1": res["pumplib"]["f1"], "far": res["pumplib"]["far"],
           "mar": res["pumplib"]["mar"], "files": len(files), "rows": rows,
           "target_met": bool(res["pumplib"]["f1"] >= 0.80 and res["pumplib"]["far"] <= 0.20),
           "baseline_all_rows_f1": res["all_rows"]["f1"],
           "baseline_no_detrend_f1": res["no_detrend"]["f1"],
           "baseline_no_detrend_far": res["no_detrend"]["far"],
           "seconds": round(seconds, 2)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
