"""The Q&A evaluation set (``pumplib/qa/eval/questions.yaml``) and its runner.

Four kinds of questions:

* ``doc``: ``sources`` lists expected source references (prefixes of chunk
  ``ref`` s, e.g. ``README.md#ingestion`` or ``assets.yaml#stations.SOUTH``);
  scored by recall@k of the retrieval.
* ``data``: ``expect`` lists ``{name, value}`` pairs (asset or station and the
  number in the table's units), optionally ``selected`` (the winner of a
  ranking); the answer's facts must match to ``rtol`` (default 1e-6, for
  numbers written with six or more significant digits). Each expectation also
  says how to recompute it from the golden tables (``column``, ``assets``,
  ``start``/``end`` local dates, ``how``), which the tests do independently.
  A registry fact or a definition (``facts``, ``inputs``, ``formula``) is
  checked on those fields, whether it comes as a passage or as data.
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
#: answer types a question may expect (``type``; the packaged set says it as ``kind``)
TYPES = ("doc", "data", "none", "unclear")
KINDS = TYPES
#: the kinds of question accuracy is reported for
CATEGORIES = ("typo", "verb", "relative", "total", "comparison", "registry", "definition",
              "refusal", "unknown")


def question_type(q: dict) -> str:
    """The answer type a question expects: ``type``, else its ``kind`` when that is a type,
    else what its kind implies (refusal → none, unknown → unclear, definition and registry
    → data)."""
    if q.get("type"):
        return str(q["type"])
    kind = q.get("kind", "doc")
    if kind in TYPES:
        return kind
    return {"refusal": "none", "unknown": "unclear"}.get(kind, "doc" if q.get("sources")
                                                          else "data")


def load_questions(path: str | os.PathLike | None = None) -> list[dict]:
    """The evaluation questions, checked (ids unique, kinds known, expectations present)."""
    path = Path(path or QUESTIONS)
    try:
        items = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SchemaError(f"{path}: not YAML: {str(exc).splitlines()[0]}") from None
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
        if kind not in TYPES + CATEGORIES:
            raise SchemaError(f"{where}: " + choices_message("kind", kind, TYPES + CATEGORIES))
        typ = question_type(q)
        if typ not in TYPES:
            raise SchemaError(f"{where} ({q['id']}): " + choices_message("type", typ, TYPES))
        if typ == "doc" and not q.get("sources") and kind in TYPES:
            raise SchemaError(f"{where} ({q['id']}): a doc question needs 'sources'")
        if kind == "data" and not q.get("expect"):
            raise SchemaError(f"{where} ({q['id']}): a data question needs 'expect'")
    return items


def ref_matches(ref: str, expected: str) -> bool:
    """A chunk ref matches an expected source when it starts with it (parts, snapshots aside)."""
    return ref == expected or ref.startswith((expected + " ", expected + "#")) \
        or re.sub(r" \(part \d+\)$", "", ref) == expected


def _written_precision(value: float) -> float:
    """Half a unit in the last decimal place ``value`` is written with (``0.126847`` →
    5e-7): an expected number rounded when it was written matches every value it rounds
    from, whatever its size."""
    text = repr(float(value))
    if "e" in text or "." not in text:
        return 0.0
    decimals = len(text.split(".", 1)[1].rstrip("0"))
    return 0.5 * 10.0 ** -decimals if decimals >= 4 else 0.0


def _close(got, want, rtol: float) -> bool:
    """``got`` equals ``want``: strings without case, numbers to ``rtol`` or to the precision
    ``want`` was written with (six decimals: within 5e-7)."""
    if isinstance(want, str) or isinstance(got, str):
        return str(got).strip().lower() == str(want).strip().lower()
    if got is None:
        return False
    tol = max(1e-9, _written_precision(want) * (1 + 1e-9))
    return math.isclose(float(got), float(want), rel_tol=rtol, abs_tol=tol)


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-.]+", " ", str(text).lower().replace("³", "3").replace("²", "2")
                  .replace("m^3", "m3")).strip()


def _fact_matches(f: dict, e: dict, rtol: float) -> bool:
    """A registry fact matches an expected ``{name, value, unit}`` (name words among the
    fact's name, key and subject; unit compared without spaces and superscripts)."""
    if not _close(f.get("value"), e.get("value"), rtol):
        return False
    if e.get("name"):
        have = set(_norm(f"{f.get('name')} {f.get('key_name')} {f.get('subject')}").split())
        have |= {w.rstrip("s") for w in have}
        if not all(w in have or w.rstrip("s") in have for w in _norm(e["name"]).split()):
            return False
    unit = _norm(e.get("unit") or "").replace(" ", "")
    return not unit or unit == _norm(f.get("unit", "")).replace(" ", "")


def score(q: dict, a) -> list[str]:
    """What an answer gets wrong against a question's expectations (empty: right)."""
    rtol = float(q.get("rtol", 1e-6))
    bad = []
    typ = question_type(q)
    # a fact of the registry or a definition is checked on its structured fields
    # (facts, inputs, formula); it may come as a document passage or as data
    structured = typ == "doc" and any(q.get(k) for k in ("facts", "inputs", "formula"))
    if a.type != typ and not (structured and a.type == "data"):
        bad.append(f"type {a.type}, expected {typ}")
    facts = {f["name"]: f for f in a.facts}
    for e in q.get("expect", []) or []:
        f = facts.get(e["name"])
        got = None if f is None else f["value"]
        if not _close(got, e["value"], float(e.get("rtol", q.get("rtol", 1e-6)))):
            bad.append(f"{e['name']}: expected {e['value']}, got {got}")
    if q.get("total") is not None and not _close(a.total, q["total"], rtol):
        bad.append(f"total {a.total}, expected {q['total']}")
    if q.get("selected") and a.selected != q["selected"]:
        bad.append(f"selected {a.selected}, expected {q['selected']}")
    if q.get("period"):
        want, got = q["period"], a.period or {}
        if str(want.get("start")) != got.get("start") or \
                str(want.get("end")) not in (got.get("end"), got.get("last")):
            bad.append(f"period {got.get('start')}–{got.get('last')}, expected "
                       f"{want.get('start')}–{want.get('end')}")
    for e in q.get("facts", []) or []:
        if not any(_fact_matches(f, e, rtol) for f in a.registry_facts):
            bad.append(f"fact {e} not in {[(f['name'], f['value']) for f in a.registry_facts]}")
    if q.get("inputs"):
        missing = sorted(set(q["inputs"]) - set(a.inputs))
        if missing:
            bad.append(f"inputs {a.inputs} lack {missing}")
    if q.get("formula") and _norm(q["formula"]).replace(" ", "") not in \
            _norm(a.formula or "").replace(" ", ""):
        bad.append(f"formula {a.formula!r}, expected {q['formula']!r}")
    if q.get("unknown"):
        said = " ".join(a.unknown).lower() + " " + a.text.lower()
        if str(q["unknown"]).lower() not in said:
            bad.append(f"unknown {q['unknown']!r} not named ({a.unknown})")
    if typ in ("none", "unclear") and (a.facts or a.registry_facts):
        bad.append("answered numbers")
    return bad


def run_eval(index, *, store=None, registry=None, questions=None, k: int = 5,
             now=None) -> dict:
    """Run every question; return per-question results and a summary.

    A question with ``sources`` (and no other expectation) is scored by retrieval
    (recall@k); every other one is asked and scored by :func:`score` on the
    answer's structured fields.

    Returns
    -------
    dict
        ``{"questions": [...], "summary": {questions, correct, accuracy, documents,
        recall_at_k, data, data_exact, none, none_correct, unclear, unclear_correct},
        "by_kind": {kind: {n, correct, accuracy}}}``.
    """
    from .answer import ask

    if k < 1:
        raise ArgumentError(f"run_eval: k must be at least 1, got {k!r}")
    items = questions if isinstance(questions, list) else load_questions(questions)
    rows = []
    for q in items:
        kind = q.get("kind", "doc")
        typ = question_type(q)
        row = {"id": q["id"], "kind": kind, "type": typ, "question": q["question"]}
        if typ == "doc" and q.get("sources"):
            hits = index.search(q["question"], k)
            refs = [h.chunk.ref for h in hits]
            found = [s for s in q["sources"] if any(ref_matches(r, s) for r in refs)]
            row.update(recall=len(found) / len(q["sources"]), refs=refs,
                       ok=len(found) == len(q["sources"]),
                       detail=f"expected {q['sources']}, got {refs}")
        else:
            a = ask(q["question"], store, index=index, registry=registry,
                    now=q.get("now", now), k=k)
            bad = score(q, a)
            if typ == "unclear" and not a.suggestions and not q.get("unknown"):
                bad.append("no suggestions")
            row.update(answer=a.text, ok=not bad, detail="; ".join(bad) or f"type {a.type}",
                       facts=[{k2: f.get(k2) for k2 in ("name", "value", "level", "method")}
                              for f in a.facts])
        rows.append(row)

    def of(t):
        return [r for r in rows if r["type"] == t]
    docs = [r for r in rows if "recall" in r]
    summary = {"questions": len(rows), "correct": sum(r["ok"] for r in rows),
               "accuracy": sum(r["ok"] for r in rows) / len(rows) if rows else float("nan"),
               "documents": len(docs),
               "recall_at_k": sum(r["recall"] for r in docs) / len(docs) if docs else float("nan"),
               "k": k, "data": len(of("data")), "data_exact": sum(r["ok"] for r in of("data")),
               "none": len(of("none")), "none_correct": sum(r["ok"] for r in of("none")),
               "unclear": len(of("unclear")),
               "unclear_correct": sum(r["ok"] for r in of("unclear"))}
    by_kind: dict[str, dict] = {}
    for r in rows:
        d = by_kind.setdefault(r["kind"], {"n": 0, "correct": 0})
        d["n"] += 1
        d["correct"] += int(r["ok"])
    for d in by_kind.values():
        d["accuracy"] = d["correct"] / d["n"]
    return {"questions": rows, "summary": summary, "by_kind": by_kind}
