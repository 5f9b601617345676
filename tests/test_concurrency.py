"""Two writers at once, in real processes, on a local and on an S3 (moto) store.

Each pair starts together (both processes import pumplib, then wait for one
"go"), so their sessions overlap. Every run must succeed and lose nothing: all
files' samples in the lake, features equal to a sequential build of the raw
data they were built from.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pumplib.assets import AssetRegistry
from pumplib.ingest import ingest
from pumplib.lake import Lake, open_root
from pumplib.pipeline import build_features

from .conftest import ROOT
from .test_ingest import long_rows, write
from .test_lake import s3_server  # noqa: F401  (the moto server fixture)

pytestmark = pytest.mark.slow

WORKER = textwrap.dedent("""
    import sys
    from pumplib.assets import AssetRegistry
    from pumplib.lake import Lake
    op, store, reg = sys.argv[1], sys.argv[2], AssetRegistry.load(sys.argv[3])
    print("READY", flush=True)
    sys.stdin.readline()
    if op == "ingest":
        from pumplib.ingest import ingest
        res = ingest(sys.argv[4], "long_csv", store=store, registry=reg)
        print("OK", res.files[0].status, res.samples_ingested, flush=True)
    elif op == "build":
        from pumplib.pipeline import build_features
        res = build_features(Lake(store), reg, log=lambda m: None, progress=False)
        print("OK", res["snapshot"], flush=True)
    elif op == "validate":
        from pumplib.quality import validate
        res = validate(Lake(store), "1min", rules=sys.argv[4], registry=reg)
        print("OK", res["snapshot"], flush=True)
""")

RULES = str(ROOT / "catalogs" / "quality_rules.yaml")
SAMPLES = 3 * 240          # one file: 240 minutes of 3 tags


def _pair(store, registry_file, *jobs):
    """Run the ``jobs`` (op, extra argument) at once; their output lines."""
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, op, store, str(registry_file),
                               *([str(arg)] if arg else [])],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for op, arg in jobs]
    for p in procs:
        assert p.stdout.readline().strip() == "READY"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
        assert out.startswith("OK"), out
    return [o for o, _ in outs]


def _features(lake: Lake, snapshot: str | None = None) -> dict[str, str]:
    """Checksums of every array of ``features/`` (at a snapshot)."""
    root = open_root(lake.session(snapshot).store, "r")
    if "features" not in root:
        return {}
    return {p: hashlib.sha256(np.ascontiguousarray(a[...]).tobytes()).hexdigest()
            for p, a in root["features"].members(max_depth=None) if hasattr(a, "shape")}


@pytest.fixture
def files(tmp_path):
    a = write(tmp_path / "a.csv", "\n".join(long_rows(240)) + "\n")
    b = write(tmp_path / "b.csv", "\n".join(long_rows(240, "2026-03-10T00:00:00Z")) + "\n")
    return a, b


@pytest.fixture
def reference(tmp_path, files, registry_file):
    """Sequential runs: features of the raw data of a, and of a and b."""
    reg = AssetRegistry.load(registry_file)
    out = {}
    for name, fs in (("a", files[:1]), ("ab", files)):
        store = str(tmp_path / f"ref-{name}")
        for f in fs:
            ingest(f, "long_csv", store=store, registry=reg)
        build_features(Lake(store), reg, log=lambda m: None, progress=False)
        out[name] = _features(Lake(store))
    assert out["a"] and out["a"] != out["ab"]
    return out


def _samples(lake: Lake) -> int:
    return Lake(lake.url).summary()["cadences"]["1min"]["samples"]


def _built_from_both(lake: Lake, snapshot: str) -> bool:
    """Whether the build committed at ``snapshot`` read b's data too."""
    meta = next(c.metadata for c in lake.log() if c.snapshot == snapshot)
    return lake.open_raw("1min", snapshot=meta["raw_snapshot"]).attrs["data_end"] > \
        lake.open_raw("1min", snapshot=lake.log()[-2].snapshot).attrs["data_end"]


def _scenarios(url_of, files, registry_file, reference):
    """The four pairs, three times each, on stores ``url_of(name)``."""
    a, b = files
    reg = AssetRegistry.load(registry_file)
    for i in range(3):
        # two ingests into a new store
        store = url_of(f"new{i}")
        _pair(store, registry_file, ("ingest", a), ("ingest", b))
        lake = Lake(store)
        assert _samples(lake) == 2 * SAMPLES
        assert len(lake.source_hashes()) == 2
        # an ingest beside a build
        store = url_of(f"ib{i}")
        ingest(a, "long_csv", store=store, registry=reg)
        out = _pair(store, registry_file, ("ingest", b), ("build", None))
        lake = Lake(store)
        assert _samples(lake) == 2 * SAMPLES
        snap = out[1].split()[1]
        want = reference["ab" if _built_from_both(lake, snap) else "a"]
        assert _features(lake, snap) == want
        # two builds
        store = url_of(f"bb{i}")
        for f in (a, b):
            ingest(f, "long_csv", store=store, registry=reg)
        _pair(store, registry_file, ("build", None), ("build", None))
        assert _features(Lake(store)) == reference["ab"]
        # a validate beside an ingest
        store = url_of(f"vi{i}")
        ingest(a, "long_csv", store=store, registry=reg)
        _pair(store, registry_file, ("validate", RULES), ("ingest", b))
        lake = Lake(store)
        assert _samples(lake) == 2 * SAMPLES
        assert lake.open_group("quality/1min") is not None
        assert [c.metadata.get("kind") for c in lake.log()[:2]].count("ingest") == 1


def test_pairs_of_writers_on_a_local_store(tmp_path, files, registry_file, reference):
    _scenarios(lambda name: str(tmp_path / name), files, registry_file, reference)


@pytest.mark.s3
def test_pairs_of_writers_on_s3(s3_server, files, registry_file, reference):  # noqa: F811
    _scenarios(lambda name: f"s3://lake/{name}?endpoint_url={s3_server}", files,
               registry_file, reference)


CREATE = textwrap.dedent("""
    import sys
    from pumplib.lake import Lake
    print("READY", flush=True)
    sys.stdin.readline()
    print("OK", Lake(sys.argv[1], create=True).tip(), flush=True)
""")


def _create_at_once(url: str, n: int = 2) -> list[str]:
    procs = [subprocess.Popen([sys.executable, "-c", CREATE, url], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT) for _ in range(n)]
    for p in procs:
        assert p.stdout.readline().strip() == "READY"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-500:] for _, e in outs]
    return [o.split()[1] for o, _ in outs]


def test_concurrent_creation_of_one_store_succeeds_for_both(tmp_path, s3_server):  # noqa: F811
    for i in range(4):
        tips = _create_at_once(str(tmp_path / f"s{i}"))
        assert len(set(tips)) == 1
        tips = _create_at_once(f"s3://lake/create{i}?endpoint_url={s3_server}")
        assert len(set(tips)) == 1
