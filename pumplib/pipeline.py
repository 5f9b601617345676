"""The main job: from the bundled sample to a populated, summarised lake.

It grows with the project; today it (re)creates the sample when asked or
missing, ingests every sample file (one commit per format), and summarises
the lake.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .assets import AssetRegistry
from .ingest import detect_format, ingest
from .lake import Lake

SAMPLE_SUFFIXES = (".parquet", ".csv", ".csv.gz")


def sample_files(sample: str | os.PathLike) -> dict[str, list[Path]]:
    """Sample exports grouped by detected format (truth tables excluded)."""
    groups: dict[str, list[Path]] = {}
    for f in sorted(Path(sample).iterdir()):
        if not f.name.endswith(SAMPLE_SUFFIXES) or f.name.startswith("truth"):
            continue
        groups.setdefault(detect_format(f).name, []).append(f)
    return groups


def run_demo(store: str | os.PathLike | None = None, sample: str | os.PathLike = "data_samples",
             registry: str | os.PathLike = "catalogs/assets.yaml", regenerate: bool = False,
             log: Callable[[str], None] = print) -> dict:
    """Simulate (if asked or missing) and ingest the sample; return the lake summary."""
    sample, registry = Path(sample), Path(registry)
    if regenerate or not registry.exists() or not any(sample.glob("*.parquet")):
        from .simulate import make_sample

        log(f"simulating the sample into {sample} …")
        make_sample(out_dir=sample, registry_path=registry)
    reg = AssetRegistry.load(registry)
    lake = Lake(store)
    reports = []
    # oldest data first (long exports), so the grid grows forward, not backward
    for fmt, files in sorted(sample_files(sample).items()):
        log(f"ingesting {len(files)} {fmt} file(s) into {lake.url} …")
        res = ingest(files, fmt, store=lake, registry=reg, timezone=reg.utility["timezone"],
                     progress=False)
        reports.append(res.to_dict())
        for f in res.files:
            log(f"  {Path(f.path).name}: {f.status}, {f.rows_read:,} rows read, "
                f"{f.samples_ingested:,} samples ingested, {f.rows_quarantined:,} quarantined")
    return {"lake": lake.summary(), "ingests": reports}
