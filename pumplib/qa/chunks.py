"""Chunks: short texts cut from every source the Q&A index ranks, each with where it comes from.

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

:func:`collect_chunks` gathers the chunks of the chosen sources, de-duplicated
(chunk ids are hashes of kind, reference and text); :func:`lake_chunks` those
read from the lake. Embedding and ranking them is :mod:`pumplib.qa.retrieval`;
keeping the index beside the store is :mod:`pumplib.qa.index`.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ArgumentError, choices_message

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



# -- collecting ----------------------------------------------------------------------------
def _doc_files(root: Path, docs: Sequence[str] | None) -> list[Path]:
    if docs is None:
        # evaluation sets' write-ups quote questions, not answers: never sources
        files = [root / d for d in DEFAULT_DOCS] + sorted(
            f for f in (root / "docs").glob("*.md") if not f.name.startswith("qa_eval"))
    else:
        files = [Path(d) if Path(d).is_absolute() else root / d for d in docs]
    return [f for f in files if f.is_file()]


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
