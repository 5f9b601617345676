"""Ingest rate and peak memory of ``pumplib.ingest`` against a plain pandas baseline.

Scenario (issue: ingest throughput): a 1 Hz historian export of ``--pumps``
pumps × 8 signals × ``--days`` days (20 × 8 × 7 = 96.8 M samples), as

* long Parquet: ``timestamp`` (timestamp[ns, UTC]), ``tag`` (dictionary),
  ``value`` (float64), ``quality`` (int16);
* long CSV: ``timestamp,tag,value,quality`` with ISO UTC timestamps
  (``2026-03-09T00:00:00Z``).

Rows are in time order (each second holds one row per tag), the order a
historian export by time range produces. Some tags arrive in non-canonical
units (flow in L/s, pressure in kPa or psi, power in W, temperature in °F),
so unit conversion is part of the measured work.

Each measured run (pumplib Parquet, pumplib CSV, baseline Parquet, baseline
CSV) happens in its own child process, which reports its wall time and its own
peak resident memory (``VmHWM`` of its own address space, ``_peak.py``), so neither the
data generation nor another run pollutes the figure.

The baseline is what one writes without pumplib: read the whole file
(``pd.read_parquet``; for the CSV ``pyarrow.csv.read_csv(...).to_pandas()``,
because ``pd.read_csv`` holds 97 M tag strings as Python objects), map tags
to asset/signal and convert units, pivot each signal to (asset, time) and
``xarray.Dataset.to_zarr`` into a plain local Zarr v3 store with the same
chunks and compressor as the lake. It holds the whole file in memory, so a
watchdog kills any run whose resident memory passes ``--max-rss-gb``.

Usage::

    python benchmarks/bench_ingest.py                 # 20 pumps × 7 days
    python benchmarks/bench_ingest.py --quick         # 1 day, smoke run
    python benchmarks/bench_ingest.py --days 7 --pumps 20 --workdir /tmp/b --keep
    python benchmarks/bench_ingest.py --scale 20,80   # issue 25: CPU/sample, bytes written

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

START = np.datetime64("2026-03-09T00:00:00", "s")
DAY = 86400
SIGNALS = ("flow", "discharge_pressure", "suction_pressure", "power", "current", "speed",
           "vibration", "bearing_temperature")
# (canonical unit, alternative unit, scale canonical→alternative, offset) for generated data
UNITS = {
    "flow": ("m3/h", "L/s"),
    "discharge_pressure": ("bar", "kPa"),
    "suction_pressure": ("bar", "psi"),
    "power": ("kW", "W"),
    "current": ("A", "A"),
    "speed": ("rpm", "rpm"),
    "vibration": ("mm/s", "mm/s"),
    "bearing_temperature": ("degC", "degF"),
}
# typical level and swing in canonical units
LEVELS = {"flow": (450.0, 120.0), "discharge_pressure": (5.5, 0.6), "suction_pressure": (1.2, 0.2),
          "power": (160.0, 40.0), "current": (280.0, 60.0), "speed": (1480.0, 30.0),
          "vibration": (2.5, 0.8), "bearing_temperature": (55.0, 6.0)}
TOLERANCE_REL = 1e-9   # read-back check: values pass through one scale/offset

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


# -- the scenario ---------------------------------------------------------------------------
def tags_of(pumps: int) -> list[dict]:
    """One entry per (pump, signal): tag, asset, signal, source unit."""
    out = []
    for p in range(pumps):
        station = f"ST{p // 5 + 1:02d}"
        asset = f"{station}-P{p % 5 + 1}"
        for s in SIGNALS:
            canonical, alt = UNITS[s]
            unit = alt if p % 2 else canonical  # every other pump reports the non-canonical unit
            out.append({"tag": f"{station}.P{p % 5 + 1}.{s.upper()}", "asset": asset, "signal": s,
                        "unit": unit})
    return out


def registry_spec(pumps: int) -> dict:
    stations: dict[str, list] = {}
    for t in tags_of(pumps):
        st = t["tag"].split(".")[0]
        assets = stations.setdefault(st, [])
        if not assets or assets[-1]["id"] != t["asset"]:
            assets.append({"id": t["asset"], "kind": "pump", "pump_type": "variable_speed",
                           "signals": {}})
        assets[-1]["signals"][t["signal"]] = {"tag": t["tag"], "unit": t["unit"]}
    return {
        "version": 1,
        "utility": {"id": "bench", "name": "Benchmark utility", "timezone": "Europe/Amsterdam",
                    "currency": "EUR"},
        "tariffs": {"flat": {"default_price": 0.2, "periods": []}},
        "stations": [{"id": st, "name": st, "tariff": "flat", "assets": a}
                     for st, a in stations.items()],
    }


def _source_scale(tags: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Per tag: (scale, offset) from canonical to the source unit."""
    from pumplib.units import conversion

    sc, off = [], []
    for t in tags:
        canonical = UNITS[t["signal"]][0]
        s, o = conversion(canonical, t["unit"])
        sc.append(s)
        off.append(o)
    return np.array(sc), np.array(off)


def day_values(day: int, tags: list[dict], seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Values (source units, 3 decimals) and quality codes of one day: shape (86400, n_tags)."""
    rng = np.random.default_rng([seed, day])
    n = len(tags)
    sec = np.arange(DAY, dtype=np.float64)[:, None]
    level = np.array([LEVELS[t["signal"]][0] for t in tags])
    swing = np.array([LEVELS[t["signal"]][1] for t in tags])
    phase = rng.uniform(0, 2 * np.pi, n)
    vals = level + swing * np.sin(2 * np.pi * (sec + day * DAY) / DAY + phase)
    vals += rng.normal(0.0, 0.02, (DAY, n)) * swing
    scale, offset = _source_scale(tags)
    vals = np.round(vals * scale + offset, 3)
    qual = np.full((DAY, n), 192, dtype=np.int16)
    u = rng.random((DAY, n), dtype=np.float32)
    qual[u < 1e-3] = 64
    qual[u < 1e-4] = 0
    return vals, qual


def generate(workdir: Path, days: int, pumps: int, want_csv: bool) -> dict:
    """Write registry, Parquet and CSV day by day (memory bounded by one day)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    import yaml

    workdir.mkdir(parents=True, exist_ok=True)
    meta_path = workdir / "data.json"
    want = {"days": days, "pumps": pumps, "version": 2}
    pq_path, csv_path, reg_path = (workdir / "export.parquet", workdir / "export.csv",
                                   workdir / "assets.yaml")
    if meta_path.exists() and json.loads(meta_path.read_text()).get("key") == want and \
            pq_path.exists() and (csv_path.exists() or not want_csv):
        return json.loads(meta_path.read_text())
    t0 = time.perf_counter()
    tags = tags_of(pumps)
    reg_path.write_text(yaml.safe_dump(registry_spec(pumps), sort_keys=False))
    n = len(tags)
    tag_dict = pa.array([t["tag"] for t in tags])
    schema = pa.schema([("timestamp", pa.timestamp("ns", tz="UTC")),
                        ("tag", pa.dictionary(pa.int32(), pa.string())),
                        ("value", pa.float64()), ("quality", pa.int16())])
    stack = contextlib.ExitStack()
    pw = stack.enter_context(pq.ParquetWriter(pq_path, schema, compression="snappy"))
    cw = None
    if want_csv:
        fh = stack.enter_context(open(csv_path, "wb"))  # noqa: SIM115 - closed by the stack
        fh.write(b"timestamp,tag,value,quality\n")
        cw = stack.enter_context(pacsv.CSVWriter(
            fh, pa.schema([("timestamp", pa.string()), ("tag", pa.string()),
                           ("value", pa.float64()), ("quality", pa.int16())]),
            write_options=pacsv.WriteOptions(include_header=False, quoting_style="none")))
    idx = np.tile(np.arange(n, dtype=np.int32), DAY)
    sec_of_row = np.repeat(np.arange(DAY, dtype=np.int64), n)
    for d in range(days):
        vals, qual = day_values(d, tags)
        t_s = (START - np.datetime64("1970-01-01T00:00:00", "s")).astype(np.int64) + d * DAY
        ns = (t_s + sec_of_row) * 10**9
        table = pa.table({
            "timestamp": pa.array(ns, pa.timestamp("ns", tz="UTC")),
            "tag": pa.DictionaryArray.from_arrays(pa.array(idx), tag_dict),
            "value": pa.array(vals.ravel()),
            "quality": pa.array(qual.ravel()),
        }, schema=schema)
        pw.write_table(table, row_group_size=1 << 20)
        if cw is not None:
            stamps = np.datetime_as_string(START + d * DAY + np.arange(DAY), unit="s")
            stamps = pa.array(np.char.add(stamps, "Z").astype(object), pa.string())
            ctab = pa.table({"timestamp": stamps.take(pa.array(sec_of_row)),
                             "tag": tag_dict.take(pa.array(idx)),
                             "value": table.column("value"), "quality": table.column("quality")})
            cw.write_table(ctab, max_chunksize=1 << 20)
            del ctab, stamps
        del table, vals, qual, ns
    stack.close()
    meta = {"key": want, "samples": days * DAY * n, "tags": n,
            "parquet_bytes": pq_path.stat().st_size,
            "csv_bytes": csv_path.stat().st_size if want_csv else None,
            "generate_seconds": round(time.perf_counter() - t0, 1)}
    meta_path.write_text(json.dumps(meta))
    return meta


# -- measured runs (each in a child process) -----------------------------------------------
def _peak_rss_gb() -> float:
    """Peak resident memory of this process in GB (10**9 bytes): its own address space's,
    not the parent's high-water mark an exec'd child starts from (:mod:`_peak`)."""
    from _peak import peak_rss_gb

    return peak_rss_gb()


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child_pumplib(spec: dict) -> dict:
    from pumplib.ingest import buffer, ingest

    spilled = []
    close = buffer.GridBuffer.close

    def counting_close(self):  # the scratch bytes of spilled windows, for the report
        spilled.append(self.spill.bytes)
        close(self)

    buffer.GridBuffer.close = counting_close
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    res = ingest(spec["path"], spec["format"], store=spec["store"], registry=spec["registry"],
                 progress=False, batch_rows=spec.get("batch_rows"))
    secs, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    f = res.files[0]
    return {"seconds": secs, "samples": res.samples_ingested, "rows_read": res.rows_read,
            "rows_quarantined": res.rows_quarantined, "duplicates": f.duplicates_dropped,
            "cadence": f.cadence, "snapshot": res.snapshot, "spill_bytes": int(sum(spilled)),
            "ingest_cpu_seconds": cpu}


def folder_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def run_scale(workdir: Path, pumps_list: list[int], max_rss_gb: float, verify_data: bool) -> dict:
    """Issue 25, ingest without cliffs: ``pumps`` × 8 signals × 1 day at 1 Hz in one long
    Parquet file, default settings. CPU per sample (child process) and write amplification:
    the bytes the ingest wrote into the fresh store (Icechunk never rewrites an object in
    place, so a chunk written twice leaves two objects) over the lake's final size (the
    same folder after collecting the objects no snapshot reaches)."""
    from pumplib import config
    from pumplib.lake import Lake

    cases = {}
    for pumps in pumps_list:
        wd = workdir / f"scale_{pumps}"
        meta = generate(wd, 1, pumps, want_csv=False)
        store = wd / "store"
        shutil.rmtree(store, ignore_errors=True)
        spec = {"path": str(wd / "export.parquet"), "format": "long_parquet",
                "store": str(store), "registry": str(wd / "assets.yaml")}
        rep = run_child("pumplib", spec, max_rss_gb)
        if rep is None:
            raise SystemExit(f"{pumps} pumps: ingest passed {max_rss_gb} GB")
        if rep["samples"] != meta["samples"]:
            raise SystemExit(f"{pumps} pumps: ingested {rep['samples']} of {meta['samples']}")
        written = folder_bytes(store)
        with config.set({"lake.gc_grace": "0s"}):
            Lake(str(store)).gc(grace="0s")
        live = folder_bytes(store)
        if verify_data:
            verify(str(store), spec["registry"], 1, pumps, check_day=0)
        case = {"pumps": pumps, "tags": meta["tags"], "samples": meta["samples"],
                "seconds": round(rep["seconds"], 2),
                "cpu_seconds": round(rep["ingest_cpu_seconds"], 2),   # the ingest call's own
                "cpu_ns_per_sample": round(rep["ingest_cpu_seconds"] / meta["samples"] * 1e9, 1),
                "peak_rss_gb": round(rep["peak_rss_gb"], 3), "written_mb": round(written / 1e6, 1),
                "lake_mb": round(live / 1e6, 1), "write_amplification": round(written / live, 3),
                "spill_mb": round(rep["spill_bytes"] / 1e6, 1)}
        cases[pumps] = case
        print(f"  {pumps:>3} pumps × 1 day: {case['seconds']:6.1f} s, CPU {case['cpu_seconds']:.1f}"
              f" s = {case['cpu_ns_per_sample']} ns/sample, peak RSS {case['peak_rss_gb']} GB, "
              f"wrote {case['written_mb']} MB for a {case['lake_mb']} MB lake "
              f"({case['write_amplification']}×), spilled {case['spill_mb']} MB", flush=True)
        shutil.rmtree(store, ignore_errors=True)
    lo, hi = min(cases), max(cases)
    return {f"ingest_cpu_ratio_{hi}_vs_{lo}": round(
                cases[hi]["cpu_ns_per_sample"] / cases[lo]["cpu_ns_per_sample"], 3),
            "ingest_write_amplification": max(c["write_amplification"] for c in cases.values()),
            "buffer_mb": config.get("ingest.buffer_mb"), "cases": list(cases.values()),
            "cpus": os.cpu_count()}


def _baseline_frame_to_zarr(df, registry_path: str, out: str) -> int:
    """tag → asset/signal, units → canonical, pivot per signal, to_zarr. Returns samples.

    Written the way a careful pandas user would: columns dropped as soon as
    they are used, one pivot (value and quality together) per signal.
    """
    import pandas as pd
    import xarray as xr
    import zarr

    from pumplib import signals as sigmod
    from pumplib.assets import AssetRegistry
    from pumplib.units import conversion

    reg = AssetRegistry.load(registry_path)
    info = [reg.tag(str(t)) for t in df["tag"].cat.categories]
    conv = np.array([conversion(i.unit, sigmod.get(i.signal).unit) for i in info])
    codes = df["tag"].cat.codes.to_numpy()
    df.drop(columns="tag", inplace=True)
    df["value"] = df["value"].to_numpy() * conv[codes, 0] + conv[codes, 1]
    df["asset"] = pd.Categorical([i.asset for i in info])[codes]
    sig_of = np.array([i.signal for i in info])
    data_vars, times, assets = {}, None, None
    for sig in dict.fromkeys(sig_of):
        rows = np.isin(codes, np.flatnonzero(sig_of == sig))
        wide = df[rows].pivot(index="asset", columns="timestamp", values=["value", "quality"])
        if times is None:
            times, assets = wide["value"].columns, wide.index
        wide = wide.reindex(index=assets)
        data_vars[sig] = (("asset", "time"), wide["value"].reindex(columns=times).to_numpy())
        data_vars[f"{sig}_sq"] = (("asset", "time"), wide["quality"].reindex(columns=times)
                                  .fillna(-1).to_numpy().astype("int16"))
        del wide
    del df
    n = int(sum(np.isfinite(v[1]).sum() for k, v in data_vars.items() if not k.endswith("_sq")))
    ds = xr.Dataset(data_vars, coords={"asset": np.asarray(assets.astype(str), dtype=object),
                                       "time": times.tz_convert(None)})
    comp = zarr.codecs.BloscCodec(cname="zstd", clevel=1, shuffle="shuffle")
    enc = {v: {"chunks": (1, DAY), "compressors": comp} for v in ds.data_vars}
    ds.to_zarr(out, mode="w", consolidated=False, zarr_format=3, encoding=enc)
    return n


def child_baseline(spec: dict) -> dict:
    import pandas as pd

    t0 = time.perf_counter()
    if spec["format"] == "parquet":
        df = pd.read_parquet(spec["path"])
    else:
        # pandas' own parsers hold the tag text as Python objects (tens of GB
        # here), so the file is read by pyarrow with the tag as a dictionary
        import pyarrow as pa
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(spec["path"], convert_options=pacsv.ConvertOptions(
            column_types={"tag": pa.dictionary(pa.int32(), pa.string()),
                          "timestamp": pa.timestamp("ns", tz="UTC"), "quality": pa.int16()}))
        df = table.to_pandas(split_blocks=True, self_destruct=True)  # frees Arrow as it goes
        del table
    t_read = time.perf_counter() - t0
    n = _baseline_frame_to_zarr(df, spec["registry"], spec["store"])
    return {"seconds": time.perf_counter() - t0, "read_seconds": t_read, "samples": n}


def run_child(kind: str, spec: dict, max_rss_gb: float) -> dict | None:
    """Run one measurement in a fresh interpreter; returns its report.

    The child is killed (and None returned) when its resident memory passes
    ``max_rss_gb``: the baselines hold whole files in memory, and the machine
    is shared.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, json.dumps(spec)]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, cwd=str(REPO))
        killed = _watch(proc, max_rss_gb)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if killed:
        print(f"  {kind} run killed: resident memory passed {max_rss_gb} GB", flush=True)
        return None
    if proc.returncode != 0:
        raise SystemExit(f"{kind} run failed (exit {proc.returncode}):\n{stderr[-4000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def _watch(proc: subprocess.Popen, max_rss_gb: float) -> bool:
    try:
        import psutil
    except ImportError:  # no watchdog
        proc.wait()
        return False
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            if ps.memory_info().rss > max_rss_gb * 1e9:
                proc.kill()
                proc.wait()
                return True
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    proc.wait()
    return False


def verify(store: str, registry_path: str, days: int, pumps: int, check_day: int) -> None:
    """Compare one day of the lake against the generated source values, exactly."""
    from pumplib import signals as sigmod
    from pumplib.lake import Lake
    from pumplib.units import conversion

    tags = tags_of(pumps)
    vals, qual = day_values(check_day, tags)
    ds = Lake(store, create=False).open_raw("1s")
    t0 = (START - np.datetime64("1970-01-01T00:00:00", "s")).astype(np.int64) + check_day * DAY
    times = ds["time"].values
    times = times.astype("datetime64[s]").astype(np.int64) if times.dtype.kind == "M" else times
    lo = int(np.searchsorted(times, t0))
    assert times[lo] == t0, "day start not on the grid"
    assets = list(ds.asset.values)
    for j, t in enumerate(tags):
        s, o = conversion(t["unit"], sigmod.get(t["signal"]).unit)
        want = vals[:, j] * s + o
        got = ds[t["signal"]].isel(asset=assets.index(t["asset"]), time=slice(lo, lo + DAY)).values
        if not np.array_equal(got, want):
            bad = int((got != want).sum())
            raise SystemExit(f"verify: {t['tag']} day {check_day}: {bad} values differ")
        gq = ds[f"{t['signal']}_sq"].isel(asset=assets.index(t["asset"]),
                                           time=slice(lo, lo + DAY)).values
        if not np.array_equal(gq, qual[:, j]):
            raise SystemExit(f"verify: {t['tag']} day {check_day}: quality codes differ")
    if int(ds.sizes["time"]) < days * DAY:
        raise SystemExit("verify: grid shorter than the data")


# -- main -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--pumps", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="1 day (smoke run)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where data and stores go (default: a temporary folder); generated "
                         "data found there with the same --days/--pumps is reused")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--runs", default="parquet,csv,baseline_parquet,baseline_csv",
                    help="comma-separated subset of parquet,csv,baseline_parquet,baseline_csv")
    ap.add_argument("--batch-rows", type=int, default=None, help="ingest batch size override")
    ap.add_argument("--no-verify", action="store_true", help="skip the read-back check")
    ap.add_argument("--max-rss-gb", type=float, default=14.0,
                    help="kill a run whose resident memory passes this (default 14 GB)")
    ap.add_argument("--scale", default=None, metavar="PUMPS",
                    help="issue 25's ingest-without-cliffs case instead: comma-separated fleet "
                         "sizes (e.g. 20,80), each 1 day at 1 Hz in one file")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        kind, spec = args.child[0], json.loads(args.child[1])
        out = child_pumplib(spec) if kind == "pumplib" else child_baseline(spec)
        out["peak_rss_gb"] = _peak_rss_gb()
        out["cpu_seconds"] = _cpu_seconds()
        print(json.dumps(out))
        return out

    if args.scale:
        tmp = args.workdir is None
        workdir = Path(tempfile.mkdtemp(prefix="pumplib-bench-")) if tmp else \
            args.workdir.resolve()
        try:
            summary = run_scale(workdir, [int(p) for p in args.scale.split(",")],
                                args.max_rss_gb, not args.no_verify)
        finally:
            if tmp and not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
        print(json.dumps(summary), flush=True)
        return summary
    days = 1 if args.quick else args.days
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    tmp = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="pumplib-bench-")) if tmp else args.workdir.resolve()
    if REPO in workdir.parents and workdir.parent != HERE / "_work" and \
            HERE / "_work" not in workdir.parents:
        raise SystemExit(f"--workdir {workdir} is inside the repository; use benchmarks/_work/ "
                         "or a folder outside it")
    want_csv = any(r in runs for r in ("csv", "baseline_csv"))
    try:
        print(f"generating {days} day(s) × {args.pumps} pumps × {len(SIGNALS)} signals in "
              f"{workdir} …", flush=True)
        meta = generate(workdir, days, args.pumps, want_csv)
        print(f"  {meta['samples']:,} samples; parquet {meta['parquet_bytes'] / 2**20:,.0f} MiB"
              + (f", csv {meta['csv_bytes'] / 2**20:,.0f} MiB" if meta.get("csv_bytes") else "")
              + f" ({meta['generate_seconds']} s)", flush=True)
        reg = str(workdir / "assets.yaml")
        results: dict[str, dict] = {}
        load_before = os.getloadavg()[0]
        for r in runs:
            store = workdir / f"store_{r}"
            shutil.rmtree(store, ignore_errors=True)
            if r in ("parquet", "csv"):
                spec = {"path": str(workdir / f"export.{r}"),
                        "format": "long_parquet" if r == "parquet" else "long_csv",
                        "store": str(store), "registry": reg, "batch_rows": args.batch_rows}
                rep = run_child("pumplib", spec, args.max_rss_gb)
                if rep is None:
                    raise SystemExit(f"{r}: pumplib ingest passed {args.max_rss_gb} GB")
                if rep["samples"] != meta["samples"] or rep["rows_quarantined"]:
                    raise SystemExit(f"{r}: ingested {rep['samples']} of {meta['samples']} "
                                     f"samples, {rep['rows_quarantined']} rows quarantined")
                if not args.no_verify:
                    verify(str(store), reg, days, args.pumps, check_day=days - 1)
            else:
                fmt = r.split("_", 1)[1]
                spec = {"path": str(workdir / f"export.{fmt}"), "format": fmt,
                        "store": str(store), "registry": reg}
                rep = run_child("baseline", spec, args.max_rss_gb)
                if rep is None:
                    results[r] = {"killed": True}
                    continue
                if rep["samples"] != meta["samples"]:
                    raise SystemExit(f"{r}: baseline wrote {rep['samples']} of "
                                     f"{meta['samples']} samples")
            rep["samples_per_s"] = rep["samples"] / rep["seconds"]
            results[r] = rep
            print(f"  {r:<17} {rep['seconds']:8.1f} s  {rep['samples_per_s'] / 1e6:6.2f} M "
                  f"samples/s  peak RSS {rep['peak_rss_gb']:.2f} GB  "
                  f"(CPU {rep['cpu_seconds']:.1f} s)", flush=True)
            shutil.rmtree(store, ignore_errors=True)

        def rate(name):
            return round(results[name]["samples_per_s"]) if "seconds" in results.get(
                name, {}) else None

        def rss(name):
            return round(results[name]["peak_rss_gb"], 3) if "seconds" in results.get(
                name, {}) else None

        ours = [results[r]["peak_rss_gb"] for r in ("parquet", "csv") if r in results]
        summary = {
            "parquet_samples_per_s": rate("parquet"),
            "csv_samples_per_s": rate("csv"),
            "baseline_samples_per_s": rate("baseline_parquet"),
            "baseline_csv_samples_per_s": rate("baseline_csv"),
            "peak_rss_gb": round(max(ours), 3) if ours else None,
            "peak_rss_gb_by_run": {r: rss(r) for r in results},
            "seconds_by_run": {r: round(results[r]["seconds"], 2) for r in results
                               if "seconds" in results[r]},
            "cpu_seconds_by_run": {r: round(results[r]["cpu_seconds"], 2) for r in results
                                   if "seconds" in results[r]},
            "killed_runs": [r for r in results if results[r].get("killed")],
            "samples": meta["samples"], "days": days, "pumps": args.pumps,
            "signals": len(SIGNALS), "parquet_mb": round(meta["parquet_bytes"] / 2**20, 1),
            "csv_mb": round(meta["csv_bytes"] / 2**20, 1) if meta.get("csv_bytes") else None,
            "cpus": os.cpu_count(),
            "load_avg_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        print(json.dumps(summary), flush=True)
        return summary
    finally:
        if tmp and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
