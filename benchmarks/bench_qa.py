"""Q&A retrieval at 10,000 chunks: recall@5 and latency of pumplib.qa against baselines.

The index holds every real chunk of the sample lake (documents, modules,
feature definitions, registry, lineage, quality, golden tables, catalog) plus
synthetic chunks of the kinds a large utility produces in volume — daily pump
overviews, outlier events, ingest commits, quality days, recommendations —
for 40 stations of 4 pumps with realistic ids, dates and numbers, up to
``--chunks`` in all. BM25 sees every synthetic text. By default
(``--encoded 0``) every synthetic chunk is embedded for real (minutes on a small CPU,
cached in the work folder; a larger cache's first rows are reused, checked by embedding
three texts again); with ``--encoded N`` only N distinct synthetic texts are embedded and
each other synthetic chunk takes the embedding of one of them (same family, other
numbers) plus a little noise. Retrieval cost
does not depend on the embedding values; recall is measured with these
near-duplicate distractors.

Queries are the document questions of ``pumplib/qa/eval/questions.yaml``;
each is timed end to end (query embedding with the cache cleared, BM25,
cosine, fusion, top 5) ``--repeat`` times, and once more with its embedding
cached (``p95_cached_query_ms``: the ranking alone). Contenders, same index
and run:

* ``hybrid``: :meth:`QAIndex.search` (the default);
* ``dense``: numpy brute-force cosine only (``method="dense"``);
* ``bm25``: pumplib's sparse BM25 only (``method="bm25"``);
* ``rank_bm25``: ``rank_bm25.BM25Okapi.get_scores`` + argsort (the package).

It also reports accuracy per kind on an evaluation set (``--questions``, default the
packaged ``questions.yaml``; kinds doc, data, none, unclear, typo, verb, relative,
total, comparison, registry, definition, refusal, unknown) and the command line's
latency per kind: ``--cli-per-kind`` questions of each kind asked with ``pumplib ask``
in a fresh process, in process (``--local``) and through a running ``pumplib qa
serve`` (p50/p95 seconds), beside the time of a bare ``pumplib --version`` (``floor``: on
a loaded machine it says how much of each time is the load).

Usage::

    .venv/bin/python benchmarks/bench_qa.py [--store PATH] [--quick] [--questions FILE]

Without ``--store`` the sample lake is built once in ``benchmarks/_work/qa_store``.
The last line is JSON with ``recall_at_5`` and ``p95_ms`` (hybrid) and every contender.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"
sys.path.insert(0, str(ROOT))


def sample_store(path: Path) -> str:
    if not (path / "config.yaml").exists() and not any(path.glob("*")):
        from pumplib.pipeline import run_demo

        print(f"building the sample lake in {path} …", flush=True)
        run_demo(store=str(path), sample=ROOT / "data_samples",
                 registry=ROOT / "catalogs" / "assets.yaml", log=lambda _m: None,
                 progress=False)
    return str(path)


SIGNALS = ["flow", "discharge_pressure", "suction_pressure", "power", "current", "vibration",
           "bearing_temperature", "speed"]
FLAGS = ["GAP", "SPIKE", "FLATLINE", "RANGE", "MISSING", "RATE", "PHYSICS_EFFICIENCY"]


def synthetic_texts(n: int, seed: int = 7) -> list[tuple[str, str, str, str]]:
    """``n`` (kind, ref, title, text) of a large utility, in five families."""
    rng = np.random.default_rng(seed)
    days = np.datetime64("2025-01-01") + np.arange(480)
    out = []
    i = 0
    while len(out) < n:
        st, p = int(rng.integers(1, 41)), int(rng.integers(1, 5))
        asset, station = f"ST{st:02d}-P{p}", f"ST{st:02d}"
        day = str(days[rng.integers(len(days))])
        fam = i % 5
        i += 1
        if fam == 0:
            e = rng.uniform(80, 900)
            text = (f"Daily overview of pump {asset} at station {station} on {day}: energy "
                    f"{e:.1f} kWh, cost {e * rng.uniform(0.08, 0.3):.2f} EUR, runtime "
                    f"{rng.uniform(1, 24):.1f} h, starts {rng.integers(0, 30)}, specific energy "
                    f"{rng.uniform(0.08, 0.2):.3f} kWh/m3, wire-to-water efficiency "
                    f"{rng.uniform(0.5, 0.8):.3f}.")
            out.append(("table", f"features/1D {asset} {day}", f"daily overview {asset} {day}",
                        text))
        elif fam == 1:
            sigs = ", ".join(rng.choice(SIGNALS, size=int(rng.integers(1, 4)), replace=False))
            text = (f"Outlier event E{i:06d} at {asset} from {day}T{rng.integers(0, 24):02d}:00 "
                    f"for {rng.integers(5, 300)} minutes: signals {sigs}; score "
                    f"{rng.uniform(0.5, 1):.3f}; severity "
                    f"{rng.choice(['low', 'medium', 'high'])}; explanation: "
                    f"{rng.choice(['matrix profile discord', 'residual above 4 sigma', 'level shift', 'unusual daily shape'])}.")
            out.append(("outlier", f"outliers/run-{day} event E{i:06d}", f"outlier {asset}",
                        text))
        elif fam == 2:
            snap = hashlib.sha1(f"{i}".encode()).hexdigest()[:20].upper()
            text = (f"Lake commit {snap} written {day}T02:15:00: ingest 1 file(s) (long_csv): "
                    f"{station.lower()}_{day}.csv. Source file {station.lower()}_{day}.csv "
                    f"(sha256 {snap[:16].lower()}), rows read {rng.integers(1e5, 2e6)}, "
                    f"quarantined {rng.integers(0, 50)}, status ingested.")
            out.append(("lineage", f"lake commit {snap}", f"commit ingest {station}", text))
        elif fam == 3:
            sig = rng.choice(SIGNALS)
            text = (f"Data quality of {asset} on {day}: signal {sig} score "
                    f"{rng.uniform(40, 100):.1f} of 100 ({rng.choice(FLAGS)} "
                    f"{rng.uniform(1, 40):.1f}%, {rng.choice(FLAGS)} {rng.uniform(0, 5):.1f}%).")
            out.append(("quality", f"quality/1min {asset} {day}", f"quality {asset} {day}",
                        text))
        else:
            kwh = rng.uniform(100, 20000)
            kind = rng.choice(["tariff_shift", "pump_choice", "maintenance", "data_quality"])
            text = (f"Recommendation R{i:06d} ({kind}) for {asset} at {station}: "
                    f"{ {'tariff_shift': 'shift pumping to off-peak hours', 'pump_choice': 'run the most efficient pump combination', 'maintenance': 'inspect the impeller, efficiency is falling', 'data_quality': 'repair the flow meter before analysing efficiency'}[kind]}. "
                    f"Saving {kwh:.0f} kWh and {kwh * 0.15:.0f} EUR a year; confidence "
                    f"{rng.uniform(0.3, 0.95):.2f}.")
            out.append(("recommendation", f"recommendations/run-{day} R{i:06d}",
                        f"recommendation {asset}", text))
    return out


def cached_embeddings(chunks, n_enc: int, cache: Path) -> np.ndarray:
    """The embeddings of the first ``n_enc`` synthetic chunks: from ``cache``, else from
    the first rows of any larger cache (``synthetic_texts`` of a larger ``n`` begins with
    the same texts, so a change in the real chunks' count re-embeds nothing), checked by
    embedding three of its texts again; else embedded now and saved."""
    from pumplib.qa import index as qi

    def texts(idx):
        return [f"{chunks[i].title}\n{chunks[i].text}" for i in idx]

    if cache.exists():
        return np.load(cache)
    for other in sorted(WORK.glob("qa_synth_*_*.npy")):
        n = other.stem.split("_")[-1]
        if not n.isdigit() or int(n) < n_enc:
            continue
        enc = np.load(other, mmap_mode="r")[:n_enc]
        probe = sorted({0, n_enc // 2, n_enc - 1})
        if np.allclose(qi.embed(texts(probe)), enc[probe], atol=1e-4):
            print(f"synthetic embeddings: the first {n_enc} rows of {other.name}", flush=True)
            enc = np.ascontiguousarray(enc)
            np.save(cache, enc)
            return enc
    enc = qi.embed(texts(range(n_enc)))
    np.save(cache, enc)
    return enc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", help="a lake with the sample (default: built in _work)")
    ap.add_argument("--chunks", type=int, default=10_000, help="index size")
    ap.add_argument("--encoded", type=int, default=0,
                    help="synthetic texts embedded for real (0, the default: all of them)")
    ap.add_argument("--questions", help="evaluation set for accuracy per kind and the CLI "
                    "timings (default: the packaged questions.yaml)")
    ap.add_argument("--cli-per-kind", type=int, default=3,
                    help="questions per kind timed from the command line (0: none)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per question")
    ap.add_argument("--quick", action="store_true", help="2,000 chunks, 1 repeat")
    args = ap.parse_args()
    if args.quick:
        args.chunks, args.repeat, args.encoded = 2000, 1, min(args.encoded or 200, 200)

    import torch
    from rank_bm25 import BM25Okapi

    from pumplib.qa import index as qi
    from pumplib.qa.evaluation import load_questions, ref_matches

    WORK.mkdir(parents=True, exist_ok=True)
    store = args.store or sample_store(WORK / "qa_store")
    t0 = time.perf_counter()
    real = qi.build_index(store, index_dir=WORK / "qa_index_real",
                          registry=ROOT / "catalogs" / "assets.yaml")
    t_real = time.perf_counter() - t0
    n_syn = max(args.chunks - len(real), 0)
    syn = synthetic_texts(n_syn)
    chunks = [qi.Chunk.make(k, r, t, x) for k, r, t, x in syn]
    n_enc = len(chunks) if args.encoded in (0, None) else min(args.encoded, len(chunks))
    cache = WORK / f"qa_synth_{n_syn}_{n_enc}.npy"
    t0 = time.perf_counter()
    enc = cached_embeddings(chunks, n_enc, cache)
    t_enc = time.perf_counter() - t0
    rng = np.random.default_rng(3)
    emb = np.empty((len(chunks), 384), dtype=np.float32)
    emb[:n_enc] = enc
    if len(chunks) > n_enc:   # same family (i % 5), other numbers: a real one's vector + noise
        src = np.array([j % n_enc for j in range(n_enc, len(chunks))])
        src = src - (src % 5) + (np.arange(n_enc, len(chunks)) % 5)
        src = np.minimum(src, n_enc - 1)
        noisy = enc[src] + rng.normal(0, 0.02, (len(src), 384)).astype(np.float32)
        emb[n_enc:] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    t0 = time.perf_counter()
    index = qi.QAIndex([*real.chunks, *chunks], np.vstack([real.embeddings, emb]))
    t_load = time.perf_counter() - t0
    rb = BM25Okapi([qi.tokenize(f"{c.title} {c.ref} {c.text}") for c in index.chunks])

    questions = [q for q in load_questions() if q.get("kind", "doc") == "doc"]

    def rank_bm25_search(q, k):
        s = rb.get_scores(qi.tokenize(q))
        return [index.chunks[i] for i in np.argsort(-s)[:k]]

    contenders = {
        "hybrid": lambda q: [h.chunk for h in index.search(q, 5)],
        "dense": lambda q: [h.chunk for h in index.search(q, 5, method="dense")],
        "bm25": lambda q: [h.chunk for h in index.search(q, 5, method="bm25")],
        "rank_bm25": lambda q: rank_bm25_search(q, 5),
    }
    qi.embed_query("warm up")
    res = {}
    for name, fn in contenders.items():
        times, warm, recall = [], [], []
        for q in questions:
            for r in range(args.repeat):
                qi._QCACHE.clear()       # every timed query pays its embedding
                t0 = time.perf_counter()
                got = fn(q["question"])
                times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()  # again, the query's embedding now cached
                fn(q["question"])
                warm.append(time.perf_counter() - t0)
                if r == 0:
                    refs = [c.ref for c in got]
                    found = [s for s in q["sources"] if any(ref_matches(x, s) for x in refs)]
                    recall.append(len(found) / len(q["sources"]))
        ms = np.array(times) * 1000
        res[name] = {"recall_at_5": round(float(np.mean(recall)), 4),
                     "p50_ms": round(float(np.percentile(ms, 50)), 2),
                     "p95_ms": round(float(np.percentile(ms, 95)), 2),
                     "max_ms": round(float(ms.max()), 2),
                     "p95_cached_query_ms": round(float(np.percentile(warm, 95) * 1000), 2)}
        print(f"{name:10s} recall@5 {res[name]['recall_at_5']:.3f}  p50 "
              f"{res[name]['p50_ms']:7.2f} ms  p95 {res[name]['p95_ms']:7.2f} ms  p95 with the "
              f"query embedding cached {res[name]['p95_cached_query_ms']:7.2f} ms", flush=True)
    acc = accuracy_per_kind(real, store, args.questions)
    print(f"accuracy {acc['accuracy']:.3f}; per kind: " + ", ".join(f"{k} {d['correct']}/{d['n']}"
                                            for k, d in acc["by_kind"].items()), flush=True)
    cli = cli_latency(store, args.questions, args.cli_per_kind, WORK / "qa_index_real") \
        if args.cli_per_kind else {}
    out = {"bench": "qa", "chunks": len(index), "real_chunks": len(real),
           "synthetic_chunks": len(chunks), "synthetic_encoded": n_enc,
           "questions": len(questions), "repeat": args.repeat,
           "torch_threads": torch.get_num_threads(),
           "build_real_s": round(t_real, 1), "encode_synthetic_s": round(t_enc, 1),
           "index_init_s": round(t_load, 2),
           "recall_at_5": res["hybrid"]["recall_at_5"], "p95_ms": res["hybrid"]["p95_ms"],
           "contenders": res, "accuracy": acc["accuracy"], "accuracy_by_kind": {
               k: round(d["accuracy"], 4) for k, d in acc["by_kind"].items()},
           "eval_questions": acc["questions"], "cli": cli}
    print(json.dumps(out))


def accuracy_per_kind(index, store, questions) -> dict:
    """``pumplib.qa.evaluation.run_eval`` on ``questions``: accuracy overall and per kind."""
    from pumplib.qa.evaluation import run_eval

    res = run_eval(index, store=store, registry=ROOT / "catalogs" / "assets.yaml",
                   questions=questions)
    return {"accuracy": round(res["summary"]["accuracy"], 4), "by_kind": res["by_kind"],
            "questions": res["summary"]["questions"]}


def cli_latency(store, questions, per_kind: int, index_dir: Path) -> dict:
    """Seconds per ``pumplib ask`` subprocess, p50/p95 per kind, in process (``--local``) and
    through a running ``pumplib qa serve`` (started here, stopped after)."""
    import os
    import subprocess
    import tempfile

    from pumplib.qa.evaluation import load_questions

    by_kind: dict[str, list[dict]] = {}
    for q in load_questions(questions):
        by_kind.setdefault(q.get("kind", "doc"), []).append(q)
    sample = {k: qs[:per_kind] for k, qs in by_kind.items()}
    reg = str(ROOT / "catalogs" / "assets.yaml")
    env = {**os.environ, "PUMPLIB_QA_SERVE_DIR": tempfile.mkdtemp(prefix="bench-qa-serve-")}
    exe = [sys.executable, "-m", "pumplib"]

    def run(q: dict, extra: list[str]) -> float:
        now = q.get("now") or "2026-04-06T00:00:00Z"
        t0 = time.perf_counter()
        subprocess.run([*exe, "ask", q["question"], "--store", str(store), "--now", str(now),
                        "--json", *extra], env=env, cwd=ROOT, capture_output=True)
        return time.perf_counter() - t0

    def stats(ts: list[float]) -> dict:
        return {"n": len(ts), "p50_s": round(float(np.percentile(ts, 50)), 3),
                "p95_s": round(float(np.percentile(ts, 95)), 3)}

    from pumplib.qa.evaluation import question_type

    floor = []                   # a bare start of the command: the load's share of every time
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([*exe, "--version"], env=env, cwd=ROOT, capture_output=True)
        floor.append(time.perf_counter() - t0)
    out: dict[str, dict] = {"local": {}, "service": {},
                            "floor": {"what": "pumplib --version", **stats(floor)}}
    times: dict[str, dict[str, list[float]]] = {"local": {}, "service": {}}
    local = ["--local", "--index-dir", str(index_dir), "--registry", reg]
    for kind, qs in sample.items():
        times["local"][kind] = [run(q, local) for q in qs]
    proc = subprocess.Popen([*exe, "qa", "serve", "--store", str(store), "--registry", reg,
                             "--index-dir", str(index_dir)], env=env, cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    try:
        proc.stderr.readline()                       # "Q&A service for … on …"
        run({"question": "What does the quarantine keep about rejected rows?"}, [])  # warm
        for kind, qs in sample.items():
            times["service"][kind] = [run(q, []) for q in qs]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    for mode, per in times.items():
        out[mode] = {k: stats(ts) for k, ts in per.items()}
        for typ in ("data", "doc"):          # numbers and registry facts; passages
            ts = [t for k, qs in sample.items() for q, t in zip(qs, per[k], strict=True)
                  if question_type(q) == typ]
            if ts:
                out[mode][f"all_{typ}"] = stats(ts)
    return out


if __name__ == "__main__":
    main()
