"""Lineage: what every artefact in the lake was made from, as a graph and as OpenLineage.

Every write to the lake is one Icechunk commit, and its metadata is where the
lineage lives, so it cannot drift from the data it describes:

* ingest commits name their source files and SHA-256 (``sources``);
* quality runs name the raw snapshot they read and the rules' SHA-256;
* feature builds name the raw snapshot, the definition hashes and the cadence;
* later artefacts (forecasts, outlier runs, recommendations) put
  :func:`stamp` into their commit metadata (or :func:`record` into a
  transaction): run id and time, pumplib and key dependency versions,
  upstream snapshot ids, source hashes, definition hashes, parameters.

:func:`graph` turns the commit log into a :mod:`networkx` graph (source file
→ ingest → raw → quality → feature build → feature → later artefacts);
:func:`upstream` cuts out what one feature was made from, down to the source
files; :func:`downstream` answers "what is affected if sensor X of asset Y
was wrong last week" (features using the signal, their levels and periods,
and artefacts whose lineage names them). :class:`LineageGraph` draws itself
as SVG without graphviz, and :func:`openlineage_events` exports OpenLineage
2-0-2 run events validated by :func:`validate_openlineage`.

Examples
--------
>>> meta = stamp("forecast", inputs=["SNAP1"], params={"horizon": "1D"},
...              definitions={"energy": "abc123"})
>>> meta["kind"], meta["inputs"]["snapshots"], sorted(meta["versions"])[:3]
('forecast', ['SNAP1'], ['dask', 'icechunk', 'numpy'])
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import importlib.metadata
import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd

from .errors import ArgumentError, SchemaError, UnknownNameError, choices_message

#: packages whose versions every stamp records
KEY_DEPENDENCIES = ("numpy", "pandas", "xarray", "dask", "zarr", "icechunk", "scipy")
#: the OpenLineage producer URI of pumplib
PRODUCER = "https://github.com/pumplib/pumplib"
#: the OpenLineage spec version the export follows (schema vendored in pumplib/data)
OPENLINEAGE_SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
#: commit kinds that write raw data
RAW_KINDS = ("ingest", "quality", "quality_override")


# ---------------------------------------------------------------------------
# stamps: lineage metadata for a commit
# ---------------------------------------------------------------------------
def dependency_versions(packages: Iterable[str] = KEY_DEPENDENCIES) -> dict[str, str]:
    """Installed versions of pumplib and ``packages`` (absent ones are left out)."""
    from . import __version__

    out = {"pumplib": __version__}
    for p in packages:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def file_sha256(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (the hash ingest records for its sources)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def new_run_id() -> str:
    """A run id that is also a valid OpenLineage ``runId`` (a UUID)."""
    return str(uuid.uuid4())


def stamp(kind: str, *, inputs: Iterable[Any] | None = None, params: Mapping | None = None,
          sources: Iterable[str | os.PathLike | Mapping] | None = None,
          definitions: Mapping[str, str] | None = None, run_id: str | None = None,
          outputs: Iterable[str] | None = None) -> dict:
    """Lineage metadata to put into the commit of an artefact.

    Parameters
    ----------
    kind : str
        What the artefact is (``"forecast"``, ``"outliers"``, ``"recommendations"`` …).
    inputs : iterable, optional
        Upstream snapshot ids, or :class:`~pumplib.lake.Lake` objects (their
        tip is taken), or Datasets opened from the lake (their ``snapshot``
        attribute).
    params : mapping, optional
        Parameters of the run (JSON-safe values).
    sources : iterable, optional
        Source files (paths are hashed here) or ``{"path", "sha256"}`` records.
    definitions : mapping, optional
        Feature name → definition hash of the features used.
    run_id : str, optional
        Default: a new UUID.
    outputs : iterable of str, optional
        Lake groups or tables written (``"forecasts/1h"``).

    Returns
    -------
    dict
        ``kind``, ``run_id``, ``run_time`` (UTC ISO), ``versions`` (pumplib and
        key dependencies), ``inputs`` (``snapshots``), ``sources``,
        ``definition_hashes``, ``params``, ``outputs``; merge it into the
        commit metadata (``lake.transaction(msg, stamp(...))``) or use
        :func:`record`.

    Examples
    --------
    >>> s = stamp("outliers", inputs=["A1B2"], params={"window": 60})
    >>> s["params"], s["inputs"]["snapshots"]
    ({'window': 60}, ['A1B2'])
    """
    if not isinstance(kind, str) or not kind:
        raise ArgumentError(f"stamp(): kind must be a non-empty string, got {kind!r}")
    snaps: list[str] = []
    for i in inputs or []:
        if isinstance(i, str):
            snaps.append(i)
        elif hasattr(i, "tip") and hasattr(i, "repo"):
            snaps.append(i.tip())
        elif hasattr(i, "attrs") and i.attrs.get("snapshot"):
            snaps.append(str(i.attrs["snapshot"]))
        else:
            raise ArgumentError(f"stamp(): input {i!r} is neither a snapshot id, a Lake nor a "
                                "Dataset read from the lake (with a 'snapshot' attribute)")
    srcs = []
    for s in sources or []:
        if isinstance(s, Mapping):
            srcs.append(dict(s))
        else:
            srcs.append({"path": os.fspath(s), "sha256": file_sha256(s)})
    from .lake import _jsonable

    return _jsonable({
        "kind": kind, "run_id": run_id or new_run_id(),
        "run_time": dt.datetime.now(dt.UTC).isoformat(),
        "versions": dependency_versions(),
        "inputs": {"snapshots": snaps},
        "sources": srcs,
        "definition_hashes": dict(definitions or {}),
        "params": dict(params or {}),
        "outputs": list(outputs or []),
    })


def record(tx, kind: str, **kwargs) -> dict:
    """Merge :func:`stamp` into an open lake transaction's commit metadata.

    Keys already in ``tx.metadata`` win (an ingest's own ``sources`` are not
    replaced); the stamp's keys win over the ``metadata`` argument of
    ``lake.transaction`` (the lake merges ``tx.metadata`` last). Returns the stamp.

    Examples
    --------
    >>> from pumplib.lake import Lake
    >>> lake = Lake("memory://lineage-record-doc")
    >>> with lake.transaction("a table") as tx:
    ...     _ = record(tx, "example", params={"k": 1})
    ...     tx.write_table("examples", "t1", pd.DataFrame({"x": [1]}), {})
    >>> lake.log(1)[0].metadata["params"]
    {'k': 1}
    """
    s = stamp(kind, **kwargs)
    for k, v in s.items():
        tx.metadata.setdefault(k, v)
    return s


# ---------------------------------------------------------------------------
# the graph of the lake
# ---------------------------------------------------------------------------
def _lake(store):
    from .lake import Lake

    if store is not None and hasattr(store, "log"):
        return store
    return Lake(store, create=False)


def _commit_node(snapshot: str) -> str:
    return f"commit:{snapshot}"


def graph(store=None, catalog=None) -> nx.DiGraph:
    """The lineage graph of a lake, from its commit log (oldest first).

    Nodes carry ``kind`` (``file``, ``commit``, ``definition``, ``feature``,
    ``signal``, ``table``) and ``label``; edges point downstream (``file →
    ingest commit → quality commit → features commit → feature``). A commit
    node carries its ``metadata``, ``message`` and ``written_at``.

    Parameters
    ----------
    store : Lake or URL, optional
        Default: the ``store.url`` setting.
    catalog : FeatureCatalog, optional
        Definitions used to link features to the signals and features they
        use (default: the definitions found in the build metadata's specs, or
        the catalog loaded from ``catalogs/features``).
    """
    lake = _lake(store)
    g = nx.DiGraph()
    commits = list(reversed(lake.log()))
    last_raw: dict[str, str] = {}        # cadence → snapshot of the last raw write
    last_quality: dict[str, str] = {}
    index = {c.snapshot: i for i, c in enumerate(commits)}
    for c in commits:
        m = c.metadata
        kind = m.get("kind") or ("root" if m.get("__root") else "commit")
        node = _commit_node(c.snapshot)
        g.add_node(node, kind="commit", commit_kind=kind, label=f"{kind} {c.snapshot[:8]}",
                   snapshot=c.snapshot, message=c.message, written_at=c.written_at,
                   metadata=m)
        if kind == "ingest":
            for s in m.get("sources", []) or []:
                f = f"file:{s.get('sha256')}"
                g.add_node(f, kind="file", label=Path(str(s.get("path", "?"))).name,
                           path=s.get("path"), sha256=s.get("sha256"),
                           start=s.get("start"), end=s.get("end"))
                g.add_edge(f, node, relation="ingested")
                cad = s.get("cadence")
                if cad:
                    _link(g, f"table:raw/{cad}", node, f"raw/{cad}", writer=True)
                    last_raw[cad] = c.snapshot
        elif kind == "quality_override":
            cad = _cadence(m)
            if cad:
                _link(g, f"table:quality/{cad}", node, f"quality/{cad}", writer=True)
        elif kind == "quality":
            cad = m.get("cadence")
            raw = m.get("raw_snapshot")
            for s in _raw_commits(commits, index, raw, cad):
                g.add_edge(_commit_node(s), node, relation="read")
            if cad:
                _link(g, f"table:quality/{cad}", node, f"quality/{cad}", writer=True)
                last_quality[cad] = c.snapshot
        elif kind == "features":
            cad = m.get("cadence")
            raw = m.get("raw_snapshot")
            for s in _raw_commits(commits, index, raw, cad, with_quality=bool(m.get("quality",
                                                                                  True))):
                g.add_edge(_commit_node(s), node, relation="read")
            for lv in m.get("levels", []):
                if not str(lv).startswith("_"):
                    _link(g, f"table:features/{lv}", node, f"features/{lv}", writer=True)
            for name, h in (m.get("definition_hashes") or {}).items():
                d = f"definition:{name}@{h}"
                g.add_node(d, kind="definition", label=f"{name} #{h[:8]}", feature=name, hash=h)
                g.add_edge(d, node, relation="defines")
                fnode = f"feature:{name}"
                g.add_node(fnode, kind="feature", label=name, feature=name)
                g.add_edge(node, fnode, relation="built")
        elif kind == "definitions":
            for name, h in (m.get("definition_hashes") or {}).items():
                d = f"definition:{name}@{h}"
                g.add_node(d, kind="definition", label=f"{name} #{h[:8]}", feature=name, hash=h)
                g.add_edge(node, d, relation="recorded")
            for out in m.get("outputs", []) or []:
                _link(g, f"table:{out}", node, str(out), writer=True)
        else:
            # any other artefact that stamped its lineage (or names its sources)
            ins = (m.get("inputs") or {}).get("snapshots", []) if isinstance(
                m.get("inputs"), Mapping) else []
            ins = [*ins, *(m.get(k) for k in ("source_snapshot", "features_snapshot")
                           if isinstance(m.get(k), str))]
            for s in dict.fromkeys(ins):
                if _commit_node(s) in g:
                    g.add_edge(_commit_node(s), node, relation="read")
            for name in (m.get("definition_hashes") or {}):
                if f"feature:{name}" in g:
                    g.add_edge(f"feature:{name}", node, relation="used")
            for out in m.get("outputs", []) or []:
                _link(g, f"table:{out}", node, str(out), writer=True)
    _add_signals(g, catalog, _recorded_inputs(lake))
    return g


def _recorded_inputs(lake) -> dict[tuple[str, str], list[str]]:
    """(feature, hash) → inputs, from the definitions recorded in the lake."""
    out: dict[tuple[str, str], list[str]] = {}
    for frame in lake.tables("definitions").values():
        for r in frame.itertuples():
            out[(r.feature, r.hash)] = list(json.loads(r.spec).get("inputs", []))
    return out


def _cadence(m: Mapping) -> str | None:
    """The cadence a commit wrote (quality overrides keep it in their ``override`` row)."""
    return m.get("cadence") or (m.get("override") or {}).get("cadence")


def _link(g: nx.DiGraph, table: str, commit: str, label: str, writer: bool) -> None:
    g.add_node(table, kind="table", label=label)
    if writer:
        g.add_edge(commit, table, relation="wrote")


def _raw_commits(commits, index, raw_snapshot, cadence, with_quality: bool = True) -> list[str]:
    """The last commits at or before ``raw_snapshot`` that wrote what a reader of
    ``cadence`` saw: every ingest of that cadence and the latest quality run."""
    if raw_snapshot not in index:
        return []
    out, quality_seen = [], not with_quality
    for c in reversed(commits[:index[raw_snapshot] + 1]):
        m = c.metadata
        kind = m.get("kind")
        if kind == "ingest" and any(s.get("cadence") == cadence or cadence is None
                                    for s in m.get("sources", []) or []):
            out.append(c.snapshot)
        elif kind in ("quality", "quality_override") and not quality_seen and (
                _cadence(m) in (cadence, None)):
            out.append(c.snapshot)
            quality_seen = kind == "quality"
    return out


def _definitions(catalog) -> Mapping:
    if catalog is not None:
        return catalog
    from .features.definitions import load_catalog

    try:
        return load_catalog()
    except SchemaError:
        return {}


def _add_signals(g: nx.DiGraph, catalog, recorded: Mapping | None = None) -> None:
    """Link each feature to the signals and features it uses: per the definition
    recorded for the hash of its last build, else the current definition."""
    defs = _definitions(catalog)
    recorded = recorded or {}
    for n in [n for n, a in g.nodes(data=True) if a.get("kind") == "feature"]:
        name = g.nodes[n]["feature"]
        builds = [p for p in g.predecessors(n) if g.nodes[p]["kind"] == "commit"]
        last = max(builds, key=lambda b: g.nodes[b]["written_at"]) if builds else None
        h = g.nodes[last]["metadata"].get("definition_hashes", {}).get(name) if last else None
        if (name, h) in recorded:
            inputs = recorded[(name, h)]
        elif name in defs:
            inputs = list(defs[name].inputs)
        else:
            continue
        for inp in inputs:
            if inp in defs or any(k[0] == inp for k in recorded):
                src = f"feature:{inp}"
                g.add_node(src, kind="feature", label=inp, feature=inp)
            elif "." in inp:
                continue                               # an asset attribute
            else:
                src = f"signal:{inp}"
                g.add_node(src, kind="signal", label=inp, signal=inp)
            g.add_edge(src, n, relation="input")


# ---------------------------------------------------------------------------
# views
# ---------------------------------------------------------------------------
@dataclass
class LineageGraph:
    """A lineage (sub)graph with a text view, SVG drawing and OpenLineage export."""

    graph: nx.DiGraph
    title: str = ""
    focus: list[str] = field(default_factory=list)

    def nodes(self, kind: str | None = None) -> list[str]:
        return [n for n, a in self.graph.nodes(data=True) if kind is None or a["kind"] == kind]

    def files(self) -> pd.DataFrame:
        """Source files upstream: path, SHA-256, time span."""
        rows = [{"path": a.get("path"), "sha256": a.get("sha256"), "start": a.get("start"),
                 "end": a.get("end")} for _, a in self.graph.nodes(data=True)
                if a["kind"] == "file"]
        return pd.DataFrame(rows, columns=["path", "sha256", "start", "end"])

    def commits(self) -> pd.DataFrame:
        rows = [{"snapshot": a["snapshot"], "kind": a["commit_kind"],
                 "written_at": a["written_at"], "message": a["message"]}
                for _, a in self.graph.nodes(data=True) if a["kind"] == "commit"]
        return pd.DataFrame(rows, columns=["snapshot", "kind", "written_at", "message"]
                            ).sort_values("written_at", ignore_index=True)

    def text(self) -> str:
        """The graph as indented lines, from the focus upstream (or downstream)."""
        lines = [self.title] if self.title else []
        g = self.graph
        roots = self.focus or [n for n in g if g.out_degree(n) == 0]
        up = self.title.startswith("upstream")
        seen: set[str] = set()

        def walk(n: str, depth: int) -> None:
            a = g.nodes[n]
            extra = ""
            if a["kind"] == "commit":
                extra = f" ({a['written_at']:%Y-%m-%d %H:%M:%S} UTC, {a['message']})"
            elif a["kind"] == "file":
                extra = f" (sha256 {str(a.get('sha256'))[:12]}…)"
            again = " …" if n in seen else ""
            lines.append(f"{'  ' * depth}{'← ' if up and depth else ('→ ' if depth else '')}"
                         f"[{a['kind']}] {a['label']}{extra}{again}")
            if n in seen:
                return
            seen.add(n)
            nxt = g.predecessors(n) if up else g.successors(n)
            for m in sorted(nxt, key=lambda x: (g.nodes[x]["kind"], x)):
                walk(m, depth + 1)

        for r in roots:
            walk(r, 0)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def to_svg(self, path: str | os.PathLike | None = None) -> str:
        """Draw the graph as SVG (layered left to right); written to ``path`` if given."""
        svg = draw_svg(self.graph, title=self.title)
        if path is not None:
            Path(path).write_text(svg)
        return svg

    def _repr_svg_(self) -> str:
        return self.to_svg()

    def to_png(self, path: str | os.PathLike, dpi: int = 110) -> Path:
        """Draw the graph as PNG with matplotlib (same layered layout as :meth:`to_svg`)."""
        return draw_png(self.graph, path, title=self.title, dpi=dpi)

    def to_openlineage(self, namespace: str | None = None) -> list[dict]:
        """OpenLineage RunEvents of the commits in this graph (see :func:`openlineage_events`)."""
        return openlineage_events(self.graph, namespace=namespace)


def _latest_build(g: nx.DiGraph, feature: str, level: str | None) -> str | None:
    node = f"feature:{feature}"
    if node not in g:
        return None
    builds = [p for p in g.predecessors(node) if g.nodes[p]["kind"] == "commit"]
    if level is not None:
        builds = [b for b in builds if f"table:features/{level}" in g.successors(b)]
    if not builds:
        return None
    return max(builds, key=lambda b: g.nodes[b]["written_at"])


def upstream(feature: str, level: str | None = None, store=None, *, snapshot: str | None = None,
             catalog=None) -> LineageGraph:
    """What a feature's stored values were made from, down to the source files.

    The last build of ``feature`` (at ``level`` if given; or the build that
    made ``snapshot``), its definition hash, the signals and features it uses,
    the quality run and raw commits it read, and the source files those
    ingested (path and SHA-256).

    Examples
    --------
    >>> lg = upstream("energy", "1D", store)          # doctest: +SKIP
    >>> lg.files().path.tolist()                       # doctest: +SKIP
    ['data_samples/pumps_1min_4w.parquet', ...]
    """
    g = graph(store, catalog)
    fnode = f"feature:{feature}"
    if fnode not in g:
        built = sorted(n.split(":", 1)[1] for n, a in g.nodes(data=True) if a["kind"] ==
                       "feature")
        raise UnknownNameError("no build of this feature in the lake. "
                               + choices_message("feature", feature, built))
    if snapshot is not None:
        build = _commit_node(snapshot)
        if build not in g or g.nodes[build].get("commit_kind") != "features":
            raise UnknownNameError(f"snapshot {snapshot!r} is not a feature build")
    else:
        build = _latest_build(g, feature, level)
    if build is None:
        levels = sorted({s.split("/", 1)[1] for p in g.predecessors(fnode)
                         for s in g.successors(p) if s.startswith("table:features/")})
        raise UnknownNameError(f"feature {feature!r} was never built at this level. "
                               + choices_message("level", level, levels))
    keep = {fnode, build}
    h = g.nodes[build]["metadata"].get("definition_hashes", {}).get(feature)
    todo = [build, fnode]
    # the definitions and inputs of the feature (and of features it uses)
    feats = [feature]
    while feats:
        f = feats.pop()
        for p in g.predecessors(f"feature:{f}"):
            if g.nodes[p]["kind"] in ("signal", "feature") and p not in keep:
                keep.add(p)
                if g.nodes[p]["kind"] == "feature":
                    feats.append(g.nodes[p]["feature"])
    for name, hh in g.nodes[build]["metadata"].get("definition_hashes", {}).items():
        if name == feature or f"feature:{name}" in keep:
            keep.add(f"definition:{name}@{hh}")
    while todo:
        n = todo.pop()
        for p in g.predecessors(n):
            if g.nodes[p]["kind"] in ("commit", "file") and p not in keep:
                keep.add(p)
                todo.append(p)
    if level is not None:
        keep.add(f"table:features/{level}")
    sub = g.subgraph(keep).copy()
    if level is not None:
        # the feature's values live in the table the build wrote
        sub.add_edge(f"table:features/{level}", fnode, relation="holds")
    title = (f"upstream of {feature}" + (f" at {level}" if level else "")
             + f" (definition {h}, build {g.nodes[build]['snapshot']})")
    return LineageGraph(sub, title, [fnode])


@dataclass
class Impact:
    """What a wrong signal affects: features, periods per level, artefacts, and a graph."""

    asset: str
    signal: str
    start: pd.Timestamp
    end: pd.Timestamp
    features: pd.DataFrame
    artefacts: pd.DataFrame
    lineage: LineageGraph

    def text(self) -> str:
        lines = [f"if {self.signal} of {self.asset} was wrong from {self.start} to {self.end}:"]
        if self.features.empty:
            lines.append("  no stored feature uses it")
        for r in self.features.itertuples():
            lines.append(f"  feature {r.feature} at {r.level}: {r.periods} period(s) "
                         f"{r.first_period} → {r.last_period_end} (columns {r.columns})")
        for r in self.artefacts.itertuples():
            lines.append(f"  {r.kind} {r.snapshot[:12]} ({r.message}): {r.reason}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_svg_(self) -> str:
        return self.lineage.to_svg()


def _uses(defs: Mapping, signal: str) -> list[str]:
    """Features that use ``signal`` directly or through other features."""
    out: list[str] = []
    changed = True
    hit = {n for n, d in defs.items() if signal in d.inputs}
    while changed:
        changed = False
        for n, d in defs.items():
            if n not in hit and any(i in hit for i in d.inputs):
                hit.add(n)
                changed = True
    out = [n for n in defs if n in hit]
    return out


def downstream(signal: str, asset: str, start, end, store=None, *, catalog=None) -> Impact:
    """What is affected if ``signal`` of ``asset`` was wrong in ``[start, end)``.

    Features using the signal (directly or through other features), the
    periods of each stored level that hold data of that span (a wrong hour
    touches its day, week and month), and every later artefact (forecasts,
    outlier runs, recommendations, any commit with a :func:`stamp`) whose
    lineage names an affected feature, or the asset with a feature input.

    Examples
    --------
    >>> imp = downstream("power", "N-P1", "2026-03-23", "2026-03-30", store)  # doctest: +SKIP
    >>> imp.features[["feature", "level", "periods"]]                         # doctest: +SKIP
    """
    from . import signals as _signals
    from .features.aggregations import LEVELS

    lake = _lake(store)
    if signal not in _signals.signals():
        raise UnknownNameError(choices_message("signal", signal, list(_signals.signals())))
    t0, t1 = _ts(start), _ts(end)
    if t1 <= t0:
        raise ArgumentError(f"downstream(): end {t1} is not after start {t0}")
    g = graph(lake, catalog)
    defs = _definitions(catalog)
    names = _uses(defs, signal)
    built = {a["feature"] for _, a in g.nodes(data=True) if a["kind"] == "feature"}
    names = [n for n in names if n in built]
    rows = []
    s0, s1 = int(t0.timestamp()), int(t1.timestamp())
    for lv in LEVELS:
        ds = lake.open_group(f"features/{lv}")
        if ds is None:
            continue
        assets = [str(a) for a in ds.asset.values]
        if asset not in assets:
            raise UnknownNameError(choices_message("asset", asset, assets))
        ts = pd.DatetimeIndex(ds.time.values).as_unit("s").asi8
        te = pd.DatetimeIndex(ds.time_end.values).as_unit("s").asi8
        hit = (ts < s1) & (te > s0)
        if not hit.any():
            continue
        for n in names:
            cols = [v for v in ds.data_vars if ds[v].attrs.get("feature") == n]
            if not cols:
                continue
            idx = hit.nonzero()[0]
            rows.append({"feature": n, "level": lv, "asset": asset, "periods": int(hit.sum()),
                         "first_period": pd.Timestamp(ts[idx[0]], unit="s", tz="UTC"),
                         "last_period_end": pd.Timestamp(te[idx[-1]], unit="s", tz="UTC"),
                         "columns": ",".join(sorted(cols))})
    features = pd.DataFrame(rows, columns=["feature", "level", "asset", "periods",
                                           "first_period", "last_period_end", "columns"])
    hit_feats = set(features.feature)
    artefacts = _artefacts(lake, g, hit_feats, asset, t0, t1)
    # the graph: signal → features (→ features using them) → levels → artefacts
    sub = nx.DiGraph()
    sig = f"signal:{signal}"
    sub.add_node(sig, kind="signal", label=f"{signal} of {asset}", signal=signal)
    hit = [n for n in names if n in hit_feats]
    for n in hit:
        fnode = f"feature:{n}"
        sub.add_node(fnode, **g.nodes[fnode])
    for n in hit:
        ups = [p for p in g.predecessors(f"feature:{n}") if p in sub and p != sig]
        if signal in defs[n].inputs or not ups:
            sub.add_edge(sig, f"feature:{n}", relation="input")
        for p in ups:
            sub.add_edge(p, f"feature:{n}", relation="input")
    for lv, rows in features.groupby("level", sort=False):
        t = f"table:{LEVELS.index(lv)}:features/{lv}"                 # sorts by level
        sub.add_node(t, kind="table", level=lv, periods=int(rows.periods.iloc[0]),
                     label=f"features/{lv}: {int(rows.periods.iloc[0])} period(s)")
        for f in rows.feature:
            sub.add_edge(f"feature:{f}", t, relation="periods")
    for r in artefacts.itertuples():
        node = f"artefact:{r.kind}:{r.snapshot}"
        sub.add_node(node, kind="commit", commit_kind=r.kind, label=f"{r.kind} {r.snapshot[:8]}",
                     snapshot=r.snapshot, message=r.message, written_at=r.written_at,
                     metadata={})
        named = [f for f in hit if f in r.reason] or hit
        for f in named:
            sub.add_edge(f"feature:{f}", node, relation="affects")
    title = f"downstream of {signal} of {asset}, {t0} → {t1}"
    return Impact(asset, signal, t0, t1, features, artefacts, LineageGraph(sub, title, [sig]))


def _artefacts(lake, g, hit_feats: set, asset: str, t0, t1) -> pd.DataFrame:
    """Commits whose lineage names a hit feature; outlier/recommendation rows in the span."""
    arts = []
    for _n, a in g.nodes(data=True):
        if a["kind"] != "commit" or a["commit_kind"] in ("ingest", "quality", "features",
                                                         "quality_override", "root",
                                                         "definitions"):
            continue
        m = a["metadata"]
        used = set(m.get("definition_hashes") or {}) | set(m.get("features", []) or [])
        blob = json.dumps(m, default=str)
        why = sorted(used & hit_feats) or sorted(
            f for f in hit_feats if re.search(rf'"{re.escape(f)}(_[a-z0-9_]+)?"', blob))
        if not why:
            continue
        named = m.get("assets") or (m.get("params") or {}).get("assets")
        if isinstance(named, str):
            named = [named]
        if named and asset not in named:
            continue                                   # made for other assets only
        reason = f"its lineage names feature(s) {', '.join(why)}"
        arts.append({"kind": a["commit_kind"], "snapshot": a["snapshot"],
                     "written_at": a["written_at"], "message": a["message"], "reason": reason})
    for table_kind in ("outliers", "recommendations"):
        for tname, frame in lake.tables(table_kind).items():
            if "asset" not in frame.columns:
                continue
            sel = frame[frame["asset"].astype(str) == asset]
            why = f"rows for {asset} (no period recorded)"
            if {"start", "end"} <= set(sel.columns):
                st = pd.to_datetime(sel["start"], utc=True)
                en = pd.to_datetime(sel["end"], utc=True)
                sel = sel[(st < t1) & (en > t0)]
                why = f"rows for {asset} overlapping the span"
            if len(sel):
                arts.append({"kind": table_kind, "snapshot": tname, "written_at": None,
                             "message": f"{len(sel)} row(s) of {table_kind}/{tname}",
                             "reason": why})
    return pd.DataFrame(arts, columns=["kind", "snapshot", "written_at", "message", "reason"])


def _ts(t) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


# ---------------------------------------------------------------------------
# drawing (no graphviz needed)
# ---------------------------------------------------------------------------
_COLOURS = {"file": "#fde2b3", "commit": "#d6e4f5", "definition": "#e8d7f1",
            "feature": "#c9ebc9", "signal": "#f6d1d1", "table": "#eeeeee"}


def _layout(g: nx.DiGraph, width_per_layer: int, row_height: int
            ) -> tuple[dict[str, tuple[float, float]], int, int]:
    """Left-to-right layers (topological generations) → box positions, width, height."""
    if not nx.is_directed_acyclic_graph(g):
        raise ArgumentError("the lineage graph has a cycle; it cannot be drawn in layers")
    # each node as far right as its longest path to a sink allows, so inputs sit
    # just before what uses them
    depth: dict[str, int] = {}
    for n in reversed(list(nx.topological_sort(g))):
        depth[n] = max((depth[m] + 1 for m in g.successors(n)), default=0)
    top = max(depth.values(), default=0)
    layers: list[list[str]] = [[] for _ in range(top + 1)] if len(g) else []
    for n, d in depth.items():
        layers[top - d].append(n)
    pos: dict[str, tuple[float, float]] = {}
    for i, layer in enumerate(layers):
        for j, n in enumerate(sorted(layer, key=lambda x: (g.nodes[x].get("kind", ""), x))):
            pos[n] = (20 + i * width_per_layer, 40 + j * row_height)
    width = 40 + max(len(layers), 1) * width_per_layer
    height = 60 + max((len(layer) for layer in layers), default=1) * row_height
    return pos, width, height


def draw_png(g: nx.DiGraph, path: str | os.PathLike, title: str = "", dpi: int = 110,
             width_per_layer: int = 230, row_height: int = 46) -> Path:
    """A PNG of the layered drawing of :func:`draw_svg`, made with matplotlib (Agg)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    pos, width, height = _layout(g, width_per_layer, row_height)
    box_w, box_h = width_per_layer - 40, row_height - 14
    fig = plt.figure(figsize=(width / 100, height / 100), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    if title:
        ax.text(20, 20, title, fontsize=9, fontweight="bold", va="center")
    for u, v in g.edges():
        (x0, y0), (x1, y1) = pos[u], pos[v]
        ax.annotate("", xy=(x1, y1 + box_h / 2), xytext=(x0 + box_w, y0 + box_h / 2),
                    arrowprops={"arrowstyle": "->", "color": "#555", "lw": 0.8})
    for n, (x, y) in pos.items():
        a = g.nodes[n]
        label = str(a.get("label", n))
        ax.add_patch(FancyBboxPatch((x, y), box_w, box_h, boxstyle="round,pad=0,rounding_size=5",
                                    facecolor=_COLOURS.get(a.get("kind", ""), "#ffffff"),
                                    edgecolor="#333", lw=0.8))
        ax.text(x + 6, y + 10, a.get("kind", ""), fontsize=6, color="#555", va="center")
        ax.text(x + 6, y + 23, label if len(label) <= 30 else label[:29] + "…", fontsize=7,
                va="center")
    p = Path(path)
    fig.savefig(p, dpi=dpi)
    plt.close(fig)
    return p


def draw_svg(g: nx.DiGraph, title: str = "", width_per_layer: int = 230,
             row_height: int = 46) -> str:
    """A layered left-to-right SVG drawing of a DAG (boxes coloured by node kind).

    Examples
    --------
    >>> g = nx.DiGraph([("a", "b")])
    >>> nx.set_node_attributes(g, {"a": {"kind": "file", "label": "x.csv"},
    ...                            "b": {"kind": "commit", "label": "ingest"}})
    >>> svg = draw_svg(g)
    >>> svg.startswith("<svg") and "x.csv" in svg
    True
    """
    pos, width, height = _layout(g, width_per_layer, row_height)
    box_w, box_h, pad = width_per_layer - 40, row_height - 14, 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
             'markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
             '<path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>']
    if title:
        parts.append(f'<text x="{pad}" y="20" font-size="13" font-weight="bold">'
                     f'{html.escape(title)}</text>')
    for u, v in g.edges():
        x0, y0 = pos[u]
        x1, y1 = pos[v]
        parts.append(f'<line x1="{x0 + box_w}" y1="{y0 + box_h / 2}" x2="{x1}" '
                     f'y2="{y1 + box_h / 2}" stroke="#555" stroke-width="1" '
                     'marker-end="url(#arrow)"/>')
    for n, (x, y) in pos.items():
        a = g.nodes[n]
        kind = a.get("kind", "")
        label = str(a.get("label", n))
        short = label if len(label) <= 30 else label[:29] + "…"
        parts.append(f'<g><title>{html.escape(n)}</title>'
                     f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="5" '
                     f'fill="{_COLOURS.get(kind, "#ffffff")}" stroke="#333"/>'
                     f'<text x="{x + 6}" y="{y + 13}" font-size="9" fill="#555">'
                     f'{html.escape(kind)}</text>'
                     f'<text x="{x + 6}" y="{y + 26}">{html.escape(short)}</text></g>')
    parts.append("</svg>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------
# OpenLineage
# ---------------------------------------------------------------------------
def _schema_path() -> Path:
    return Path(__file__).parent / "data" / "openlineage-2-0-2.json"


def openlineage_schema() -> dict:
    """The vendored OpenLineage 2-0-2 JSON schema (``pumplib/data``)."""
    return json.loads(_schema_path().read_text())


def validate_openlineage(event: Mapping) -> None:
    """Check one event against the OpenLineage 2-0-2 RunEvent schema.

    Raises :class:`~pumplib.errors.SchemaError` naming the failing path.
    """
    import jsonschema

    schema = openlineage_schema()
    sub = {**schema, "$ref": "#/$defs/RunEvent"}
    sub.pop("oneOf", None)
    validator = jsonschema.Draft202012Validator(sub,
                                                format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(dict(event)), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "<event>"
        raise SchemaError(f"OpenLineage event: {where}: {e.message}")


#: schema URLs of the facets the export writes
VERSION_FACET_URL = ("https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json"
                     "#/$defs/DatasetVersionDatasetFacet")
PUMPLIB_FACET_URL = f"{PRODUCER}/blob/main/pumplib/lineage.py#PumplibRunFacet"


def _facet(schema_url: str = VERSION_FACET_URL, **kw) -> dict:
    return {"_producer": PRODUCER, "_schemaURL": schema_url, **kw}


def _uuid_for(snapshot: str, meta: Mapping) -> str:
    rid = meta.get("run_id")
    try:
        return str(uuid.UUID(str(rid)))
    except (ValueError, TypeError):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pumplib:{snapshot}:{rid}"))


def openlineage_events(source=None, *, namespace: str | None = None, catalog=None
                       ) -> list[dict]:
    """One OpenLineage ``COMPLETE`` RunEvent per commit of the lake (oldest first).

    Parameters
    ----------
    source : Lake, URL or networkx graph, optional
        A lake (its whole history) or a graph from :func:`graph` /
        :class:`LineageGraph` (its commits).
    namespace : str, optional
        OpenLineage namespace of jobs and datasets (default ``pumplib://<store>``).

    Notes
    -----
    Each event names the job (``pumplib.<kind>``), the run (a UUID from the
    run id), inputs (source files, lake tables at the snapshots read,
    feature definitions) and outputs (the tables written, with the snapshot
    as ``version`` facet); the commit metadata travels in a ``pumplib`` run
    facet. Every event validates against the vendored 2-0-2 schema.
    """
    if isinstance(source, nx.DiGraph):
        g, ns = source, namespace or "pumplib"
    else:
        lake = _lake(source)
        g, ns = graph(lake, catalog), namespace or f"pumplib://{lake.url}"
    commits = sorted((n for n, a in g.nodes(data=True) if a["kind"] == "commit"
                      and a["commit_kind"] != "root" and a.get("written_at") is not None),
                     key=lambda n: g.nodes[n]["written_at"])
    events = []
    for n in commits:
        a = g.nodes[n]
        m = a["metadata"]
        inputs, outputs = [], []
        for p in g.predecessors(n):
            pa = g.nodes[p]
            if pa["kind"] == "file":
                inputs.append({"namespace": "file", "name": str(pa.get("path")),
                               "facets": {"version": _facet(datasetVersion=pa.get("sha256"))}})
            elif pa["kind"] == "commit":
                for t in g.successors(p):
                    if g.nodes[t]["kind"] == "table":
                        inputs.append({"namespace": ns, "name": g.nodes[t]["label"],
                                       "facets": {"version": _facet(
                                           datasetVersion=pa["snapshot"])}})
            elif pa["kind"] == "definition":
                inputs.append({"namespace": f"{ns}/definitions", "name": pa["feature"],
                               "facets": {"version": _facet(datasetVersion=pa["hash"])}})
        for t in g.successors(n):
            if g.nodes[t]["kind"] == "table":
                outputs.append({"namespace": ns, "name": g.nodes[t]["label"],
                                "facets": {"version": _facet(datasetVersion=a["snapshot"])}})
        from .lake import _jsonable

        event = {
            "eventType": "COMPLETE",
            "eventTime": pd.Timestamp(a["written_at"]).isoformat(),
            "producer": PRODUCER,
            "schemaURL": OPENLINEAGE_SCHEMA_URL,
            "run": {"runId": _uuid_for(a["snapshot"], m),
                    "facets": {"pumplib": _facet(PUMPLIB_FACET_URL, snapshot=a["snapshot"],
                                                 message=a["message"],
                                                 metadata=_jsonable(m))}},
            "job": {"namespace": ns, "name": f"pumplib.{a['commit_kind']}"},
            "inputs": _unique(inputs),
            "outputs": _unique(outputs),
        }
        events.append(event)
    return events


def _unique(items: Sequence[dict]) -> list[dict]:
    seen, out = set(), []
    for i in items:
        key = json.dumps(i, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out


def write_openlineage(events: Sequence[Mapping], path: str | os.PathLike) -> Path:
    """Write events as JSON lines (one event a line, the OpenLineage file transport format)."""
    p = Path(path)
    p.write_text("".join(json.dumps(e, default=str) + "\n" for e in events))
    return p


def raw_source(snapshot: str, store=None) -> str | None:
    """The commit that last changed raw data or quality flags at or before ``snapshot``.

    A feature build records the branch tip it read as ``raw_snapshot``; that
    may be a later commit that wrote something else (another build, recorded
    definitions). Two builds read the same raw data exactly when their
    ``raw_source`` is the same.
    """
    lake = _lake(store)
    seen = False
    for c in lake.log():                      # newest first
        seen = seen or c.snapshot == snapshot
        if seen and c.metadata.get("kind") in RAW_KINDS:
            return c.snapshot
    if not seen:
        raise UnknownNameError(f"snapshot {snapshot!r} is not in the history of {lake.url}")
    return None


def table_lineage(group: str, store=None, snapshot: str | None = None) -> dict:
    """The commit metadata of the last commit that wrote a lake group (at ``snapshot``).

    For ``features/<level>``: the last features build whose levels include
    it; for ``quality/<cadence>``: the last quality run; for ``raw/<cadence>``:
    the last ingest of that cadence. Adds ``snapshot`` and ``written_at``.
    """
    lake = _lake(store)
    commits = lake.log()
    if snapshot is not None:
        ids = [c.snapshot for c in commits]
        if snapshot not in ids:
            raise UnknownNameError(choices_message("snapshot", snapshot, ids))
        commits = commits[ids.index(snapshot):]
    kind, _, sub = group.partition("/")
    for c in commits:
        m = c.metadata
        if kind == "features" and m.get("kind") == "features" and sub in m.get("levels", []) or kind == "quality" and m.get("kind") in ("quality", "quality_override") and \
                _cadence(m) == sub or kind == "raw" and m.get("kind") == "ingest" and any(
                s.get("cadence") == sub for s in m.get("sources", []) or []) or kind not in ("features", "quality", "raw") and group in (m.get("outputs") or []):
            pass
        else:
            continue
        return {**m, "snapshot": c.snapshot, "written_at": c.written_at.isoformat()}
    raise UnknownNameError(f"no commit wrote {group!r} in {lake.url}")
