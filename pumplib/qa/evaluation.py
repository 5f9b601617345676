"""The Q&A evaluation set (``pumplib/qa/eval/questions.yaml``) and its runner.

Four kinds of questions:

* ``doc``: ``sources`` lists expected source references (prefixes of chunk
  ``ref`` s, e.g. ``README.md#ingestion`` or ``assets.yaml#stations.SOUTH``);
  scored by recall@k of the retrieval.
* ``data``: ``expect`` lists ``{name, value}`` pairs (asset or station and the
  number in the table's units), optionally ``selected`` (the winner of a
  ranking); the answer's facts must match to ``rtol`` (default 1e-9). Each
  expectation also says how to recompute it from the golden tables
  (``column``, ``assets``, ``start``/``end`` local dates, ``how``), which the
  tests do independently.
* ``none``: nothing relevant must be found.
* ``unclear``: a part of the question (an unknown pump or station, a period or a word
  that cannot be read) must be reported as not understood, with suggestions, and
  nothing answered.

Examples
--------
>>> res = run_eval(build_index("./store"), store="./store")     # doctest: +SKIP
>>> res["summary"]["recall_at_k"]                                # doctest: +SKIP
0.97
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import yaml

from ..errors import ArgumentError, SchemaError, choices_message

QUESTIONS = Path(__file__).with_name("eval") / "questions.yaml"
KINDS = ("doc", "data", "none", "unclear")


def load_questions(path: str | os.PathLike | None = None) -> list[dict]:
    """The evaluation questions, checked (ids unique, kinds known, expectations present)."""
    path = Path(path or QUESTIONS)
    items = yaml.safe_load(path.read_text())
    if not isinstance(items, list):
        raise SchemaError(f"{path}: expected a list of questions")
    seen = set()
    for i, q in enumerate(items):
        where = f"{path}: item {i}"
        if not isinstance(q, dict) or "question" not in q or "id" not in q:
            raise SchemaError(f"{where}: needs 'id' and 'question'")
        if q["id"] in seen:
            raise SchemaError(f"{where}: duplicate id {q['id']!r}")
        seen.add(q["id"])
        kind = q.get("kind", "doc")
        if kind not in KINDS:
            raise SchemaError(f"{where}: " + choices_message("kind", kind, KINDS))
        if kind == "doc" and not q.get("sources"):
            raise SchemaError(f"{where} ({q['id']}): a doc question needs 'sources'")
        if kind == "data" and not q.get("expect"):
            raise SchemaError(f"{where} ({q['id']}): a data question needs 'expect'")
    return items


def ref_matches(ref: str, expected: str) -> bool:
    """A chunk ref matches an expected source when it starts with it (parts, snapshots aside)."""
    return ref == expected or ref.startswith((expected + " ", expected + "#")) \
        or re.sub(r" \(part \d+\)$", "", ref) == expected


def run_eval(index, *, store=None, registry=None, questions=None, k: int = 5,
             now=None) -> dict:
    """Run every question; return per-question results and a summary.

    Returns
    -------
    dict
        ``{"questions": [...], "summary": {documents, recall_at_k, data, data_exact,
        none, none_correct, unclear, unclear_correct}}``.
    """
    from .answer import ask

    if k < 1:
        raise ArgumentError(f"run_eval: k must be at least 1, got {k!r}")
    items = questions if isinstance(questions, list) else load_questions(questions)
    rows = []
    for q in items:
        kind = q.get("kind", "doc")
        row = {"id": q["id"], "kind": kind, "question": q["question"]}
        if kind == "doc":
            hits = index.search(q["question"], k)
            refs = [h.chunk.ref for h in hits]
            found = [s for s in q["sources"] if any(ref_matches(r, s) for r in refs)]
            row.update(recall=len(found) / len(q["sources"]), refs=refs,
                       ok=len(found) == len(q["sources"]),
                       detail=f"expected {q['sources']}, got {refs}")
        else:
            a = ask(q["question"], store, index=index, registry=registry,
                    now=q.get("now", now), k=k)
            row["answer"] = a.text
            if kind == "none":
                row.update(ok=a.intent == "none", detail=f"intent {a.intent}")
            elif kind == "unclear":
                row.update(ok=a.intent == "unclear" and bool(a.suggestions) and not a.facts,
                           detail=f"intent {a.intent}, {len(a.suggestions)} suggestions")
            else:
                facts = {f["name"]: f for f in a.facts}
                bad = []
                for e in q["expect"]:
                    f = facts.get(e["name"])
                    got = None if f is None else f["value"]
                    if got is None or not math.isclose(got, float(e["value"]),
                                                       rel_tol=float(e.get("rtol", 1e-9)),
                                                       abs_tol=1e-9):
                        bad.append(f"{e['name']}: expected {e['value']}, got {got}")
                if q.get("selected"):
                    sel = [f["name"] for f in a.facts if f.get("selected")]
                    if sel != [q["selected"]]:
                        bad.append(f"selected {sel}, expected {q['selected']}")
                row.update(ok=a.intent == "data" and not bad,
                           detail="; ".join(bad) or f"intent {a.intent}",
                           facts=[{k2: f[k2] for k2 in ("name", "value", "level", "method")}
                                  for f in a.facts])
        rows.append(row)
    docs = [r for r in rows if r["kind"] == "doc"]
    data = [r for r in rows if r["kind"] == "data"]
    none = [r for r in rows if r["kind"] == "none"]
    unclear = [r for r in rows if r["kind"] == "unclear"]
    summary = {"questions": len(rows), "documents": len(docs),
               "recall_at_k": sum(r["recall"] for r in docs) / len(docs) if docs else float("nan"),
               "k": k, "data": len(data), "data_exact": sum(r["ok"] for r in data),
               "none": len(none), "none_correct": sum(r["ok"] for r in none),
               "unclear": len(unclear), "unclear_correct": sum(r["ok"] for r in unclear)}
    return {"questions": rows, "summary": summary}
