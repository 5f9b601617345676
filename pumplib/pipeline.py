"""The main job: from the bundled sample to a populated, summarised lake.

It grows with the project; today it (re)creates the sample when asked or
missing, ingests every sample file (one commit per format), and summarises
the lake.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from . import progress as _progress
from .assets import AssetRegistry
from .ingest import detect_format, ingest
from .lake import Lake, redo_on_conflict

SAMPLE_SUFFIXES = (".parquet", ".csv", ".csv.gz")


def sample_files(sample: str | os.PathLike) -> dict[str, list[Path]]:
    """Sample exports grouped by detected format (truth tables excluded)."""
    groups: dict[str, list[Path]] = {}
    for f in sorted(Path(sample).iterdir()):
        if not f.name.endswith(SAMPLE_SUFFIXES) or f.name.startswith("truth"):
            continue
        groups.setdefault(detect_format(f).name, []).append(f)
    return groups


def run_demo(store: str | os.PathLike | None = None, sample: str | os.PathLike | None = None,
             registry: str | os.PathLike | None = None, regenerate: bool = False,
             log: Callable[[str], None] = print, progress: bool | None = None) -> dict:
    """Simulate (if asked or missing) and ingest the sample; return the lake summary.

    ``progress``: draw bars (default: when stderr is a terminal,
    :func:`pumplib.progress.wanted`).
    """
    progress = _progress.wanted(progress)
    sample, registry = _sample_and_registry(sample, registry)
    if regenerate or not registry.exists() or not any(sample.glob("*.parquet")):
        from .simulate import make_sample

        log(f"simulating the sample into {sample} …")
        make_sample(out_dir=sample, registry_path=registry)
    reg = AssetRegistry.load(registry)
    lake = Lake(store, create=True)
    reports = []
    # oldest data first (long exports), so the grid grows forward, not backward
    for fmt, files in sorted(sample_files(sample).items()):
        log(f"ingesting {len(files)} {fmt} file(s) into {lake.url} …")
        res = ingest(files, fmt, store=lake, registry=reg, timezone=reg.utility["timezone"],
                     progress=progress)
        reports.append(res.to_dict())
        for f in res.files:
            log(f"  {Path(f.path).name}: {f.status}, {f.rows_read:,} rows read, "
                f"{f.samples_ingested:,} samples ingested, {f.rows_quarantined:,} quarantined")
    quality = validate_lake(lake, reg, log=log, progress=progress)
    features = build_features(lake, reg, log=log, progress=progress)
    overview = feature_overview(lake, "1W", reg.utility["timezone"])
    return {"lake": lake.summary(), "ingests": reports, "quality": quality,
            "features": features, "overview": overview.reset_index().to_dict(orient="records")}


def validate_lake(lake: Lake, registry: AssetRegistry, new_only: bool = True,
                  log: Callable[[str], None] = print, progress: bool | None = None
                  ) -> list[dict]:
    """Quality flags for every cadence (only what is new since the last run)."""
    from .quality import validate, validate_new

    out = []
    show = _progress.wanted(progress)
    for cad in lake.cadences():
        with _progress.task(f"validate {cad}", show) as tick:
            res = (validate_new if new_only else validate)(lake, cad, registry=registry,
                                                             progress=tick)
        if res is None:
            log(f"quality {cad}: nothing new to validate")
            continue
        counts = {k: v for k, v in res["flag_counts"].items() if v and k != "NOT_EXPECTED"}
        log(f"quality {cad}: snapshot {res['snapshot']}, flags {counts}")
        out.append(res)
    return out


@redo_on_conflict   # a true commit conflict (two builds at once): built again on top
def build_features(lake: Lake, registry: AssetRegistry, *, cadence: str | None = None,
                   catalog=None, levels=None, features=None, changed=None, quality: bool = True,
                   log: Callable[[str], None] = print, progress: bool | None = None,
                   force: bool = False) -> dict:
    """Golden tables from the good samples of one raw cadence, stored as one commit.

    Only samples the quality flags call good enter; the tables and the day
    partials land in one commit whose metadata records the raw snapshot and
    the definition hashes. ``changed=(start, end)`` rebuilds only the periods
    that new or late raw data touched. A build that would write the same
    tables again writes nothing (``"up_to_date"`` names the snapshot that holds
    them) unless ``force``.
    """
    from .features import build_lake, load_catalog

    cads = lake.cadences()
    if cadence is None:
        cadence = "1min" if "1min" in cads else (cads[0] if cads else None)
    if cadence is None:
        from .errors import LakeError

        raise LakeError(f"{lake.url}: the lake holds no raw data; ingest first")
    if catalog is None or isinstance(catalog, str | os.PathLike):
        catalog = load_catalog(catalog)
    from .lineage import stamp
    from .store import record_definitions, versioned_catalog

    # definition versions live in the lake: a change of meaning is a new version
    record_definitions(catalog, lake)
    catalog = versioned_catalog(catalog, lake)
    lineage = stamp("features", inputs=[lake], params={"cadence": cadence, "levels": levels})
    for k in ("definition_hashes", "kind"):   # the builder records its own
        lineage.pop(k, None)
    names = list(features) if features else list(catalog)
    with _progress.activity(f"features from raw/{cadence}", _progress.wanted(progress)):
        snapshot = build_lake(lake, catalog, levels, features=features, registry=registry,
                              timezone=registry.utility["timezone"], cadence=cadence,
                              changed=changed, quality=quality, metadata=lineage,
                              message=f"features build from raw/{cadence}", force=force)
    # its own commit (another writer's may have landed on top since)
    meta = next((c.metadata for c in lake.log() if c.snapshot == snapshot), {}) \
        if snapshot else {}
    current = None
    if snapshot:
        log(f"features: {len(names)} definitions at {', '.join(meta.get('levels', []))} "
            f"→ snapshot {snapshot}")
    elif changed is None:
        current = next((c.snapshot for c in lake.log() if c.metadata.get("kind") == "features"),
                       None)
        log(f"features: nothing they depend on changed since snapshot {current}")
    return {"kind": "features", "cadence": cadence, "snapshot": snapshot,
            "levels": list(meta.get("levels", [])), "up_to_date": current,
            "definition_hashes": {n: catalog[n].hash for n in names}}

OVERVIEW = {  # column → (feature variable, scale, unit)
    "energy_kwh": ("energy_integral", 1.0),
    "cost": ("energy_cost_integral", 1.0),
    "runtime_h": ("runtime_duration", 1 / 3600),
    "starts": ("starts_starts", 1.0),
    "specific_energy_kwh_m3": ("specific_energy_mean", 1.0),
    "wire_to_water_eff": ("wire_to_water_efficiency_mean", 1.0),
    "coverage": ("energy_coverage", 1.0),
}


def feature_overview(lake: Lake, level: str = "1W", timezone: str | None = None
                     ) -> pd.DataFrame:
    """Per pump and period at one level: energy, cost, runtime, starts, efficiency.

    Periods are labelled by their local start date (``timezone``, default the
    tables' own).
    """
    ds = lake.open_group(f"features/{level}")
    if ds is None:
        return pd.DataFrame()
    tz = timezone or ds.attrs.get("timezone") or "UTC"
    local = pd.DatetimeIndex(ds.time.values).tz_localize("UTC").tz_convert(tz)
    ds = ds.assign_coords(time=[str(t.date()) for t in local]).rename(time="period")
    cols = {}
    for name, (var, scale) in OVERVIEW.items():
        if var in ds:
            cols[name] = ds[var].to_series() * scale
    frame = pd.DataFrame(cols).dropna(how="all", subset=[c for c in cols if c != "coverage"])
    return frame.round(3)


def run_main_job(store: str | os.PathLike | None = None, sample: str | os.PathLike | None = None,
                 registry: str | os.PathLike | None = None, *,
                 catalogs_dir: str | os.PathLike | None = None,
                 runs_dir: str | os.PathLike | None = None, regenerate: bool = False,
                 index: bool = True, log: Callable[[str], None] = print,
                 progress: bool | None = None) -> dict:
    """The README's main job, end to end on the sample (without serving the app).

    1. simulate the sample when it is missing (or ``regenerate``);
    2. run the pipeline notebooks with papermill (:func:`pumplib.runner.run_pipeline`):
       ingest → validate → features → forecast → outliers → recommendations, each
       executed notebook kept in ``runs/<run_id>/``;
    3. write the Intake catalogs of the lake and its features into ``catalogs_dir``;
    4. bring the Q&A index up to date (``index``).

    ``progress``: a bar of the pipeline's steps (default: when stderr is a
    terminal, :func:`pumplib.progress.wanted`).

    Returns a summary: lake, weekly overview, run, outlier events, recommendations.
    A failed step raises :class:`~pumplib.runner.PipelineError` naming the run, the
    step, the cell and the error (resume with ``pumplib run pipeline --resume``).
    """
    from . import config
    from .catalog import catalog_dir
    from .runner import PipelineError, run_pipeline

    sample, registry = _sample_and_registry(sample, registry)
    catalogs_dir = catalog_dir(catalogs_dir)
    if regenerate or not registry.exists() or not any(sample.glob("*.parquet")):
        from .simulate import make_sample

        log(f"simulating the sample into {sample} …")
        make_sample(out_dir=sample, registry_path=registry)
    _default_catalogs(log)
    store = os.fspath(config.get("store.url", override_with=store))
    with _progress.task("pipeline", _progress.wanted(progress), unit="step") as tick:
        run = run_pipeline(store, params={"sample": str(sample), "registry": str(registry)},
                           runs_dir=runs_dir, log=log, progress=tick)
    if run.status != "ok":
        raise PipelineError(run.error_message())
    lake = Lake(store)
    reg = AssetRegistry.load(registry)
    from .catalog import generate

    written = generate(lake, out_dir=catalogs_dir)
    log(f"catalogs written to {catalogs_dir}")
    if index:
        from .qa import build_index

        log("bringing the Q&A index up to date …")
        with _progress.activity("Q&A index", _progress.wanted(progress)):
            build_index(lake.url, registry=reg)
    from .outliers import events
    from .recommend import load_recommendations

    ev = events(lake)
    recs = load_recommendations(lake)
    overview = feature_overview(lake, "1W", reg.utility["timezone"])
    return {"lake": lake.summary(), "run": run.to_dict(), "catalogs": _paths(written),
            "overview": overview.reset_index().to_dict(orient="records"),
            "outlier_events": int(len(ev)),
            "recommendations": recs.head(5)[[c for c in ("rank", "kind", "asset", "station",
                                                         "saving_kwh", "saving_money",
                                                         "currency", "title")
                                            if c in recs]].to_dict(orient="records")}


def _default_catalogs(log: Callable[[str], None]) -> None:
    """Where the quality rules (``quality.rules``) or the feature definitions
    (``features.catalog``) are missing (``pumplib demo`` in a new folder), write the
    ones shipped with pumplib there, so every step of the main job finds what it needs."""
    import shutil

    from . import config
    from .features.definitions import builtin_dir

    shipped = builtin_dir()
    rules = Path(config.get("quality.rules"))
    if not rules.exists() and (shipped.parent / "quality_rules.yaml").is_file():
        rules.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shipped.parent / "quality_rules.yaml", rules)
        log(f"wrote the default quality rules to {rules}")
    catalog = Path(config.get("features.catalog"))
    if not catalog.exists() and shipped.is_dir():
        shutil.copytree(shipped, catalog)
        log(f"wrote the default feature definitions to {catalog}")


def _sample_and_registry(sample, registry) -> tuple[Path, Path]:
    """The sample folder and the registry: as given, else the settings ``demo.sample`` and
    ``assets.registry`` (taken from the project folder)."""
    from . import config

    return (Path(config.get("demo.sample", override_with=sample)),
            Path(config.get("assets.registry", override_with=registry)))


def _paths(obj) -> list[str]:
    if isinstance(obj, Mapping):
        return [str(v) for v in obj.values()]
    if isinstance(obj, list | tuple):
        return [str(v) for v in obj]
    return [str(obj)]
