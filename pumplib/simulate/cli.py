"""``python -m pumplib.simulate sample|export``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from .constants import FORMATS, ROW_ORDERS, SAMPLE_SEED
from .exports import Export, write_exports
from .registry import make_registry
from .sample import make_sample
from .simulation import simulate


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pumplib.simulate sample|export`` (see ``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m pumplib.simulate",
                                     description="Seeded pump-station simulator.")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help="regenerate data_samples/ and catalogs/assets.yaml")
    s.add_argument("--out-dir", default="data_samples")
    s.add_argument("--registry", default="catalogs/assets.yaml")
    e = sub.add_parser("export", help="simulate and write exports")
    e.add_argument("paths", nargs="+", help="output files (.parquet, .csv, .csv.gz)")
    e.add_argument("--format", choices=FORMATS, help="format of every path (default: suffix)")
    e.add_argument("--registry", help="registry YAML (default: a generated one)")
    e.add_argument("--n-stations", type=int, default=2, help="stations of a generated registry")
    e.add_argument("--pumps-per-station", type=int, default=None)
    e.add_argument("--start", default="2026-03-09")
    e.add_argument("--days", type=int, default=1)
    e.add_argument("--freq", default="1min")
    e.add_argument("--seed", type=int, default=SAMPLE_SEED)
    e.add_argument("--signals", help="comma-separated signals to export")
    e.add_argument("--faults", default="default",
                   help="'default', 'none' or comma-separated fault kinds")
    e.add_argument("--truth", help="also write the truth table here")
    e.add_argument("--order", choices=ROW_ORDERS, default="time", help="row order of long files")
    args = parser.parse_args(argv)
    if args.command == "sample":
        paths = make_sample(args.out_dir, args.registry)
        for p in paths.values():
            print(f"{p}  {p.stat().st_size:,} bytes")
        return 0
    if args.registry:
        registry: Any = args.registry
    else:
        pps = args.pumps_per_station if args.pumps_per_station is not None else (3, 2)
        registry = make_registry(n_stations=args.n_stations, pumps_per_station=pps)
    faults: Any = None if args.faults == "default" else \
        (() if args.faults == "none" else tuple(args.faults.split(",")))
    sim = simulate(registry, start=args.start, days=args.days, freq=args.freq, seed=args.seed,
                   faults=faults, signals=args.signals.split(",") if args.signals else None)
    counts = write_exports(sim, [Export(p, args.format, order=args.order) for p in args.paths],
                           truth=args.truth)
    for path, rows in counts.items():
        print(f"{path}  {rows:,} rows")
    return 0
