"""The Q&A index of a store: where it lives, and building it or bringing it up to date.

Three rooms make the index:

* :mod:`pumplib.qa.chunks` — :class:`Chunk` and the chunks cut from every source
  (documents, modules, feature definitions, catalog, registry, lineage, quality,
  golden tables, outliers, forecasts, recommendations);
* :mod:`pumplib.qa.retrieval` — embeddings, BM25 and :class:`QAIndex` (hybrid search,
  one folder written and read);
* this module — where the index of a store is kept and when it is rebuilt.

The index is persisted in a folder (default: ``.pumplib/qa_index/<store
name>`` beside a local store): ``chunks.parquet``, ``embeddings.npy`` and
``manifest.json``. The manifest records the lake's tip snapshot and the
hashes of the indexed files; :func:`build_index` returns the stored index
when neither changed and otherwise embeds only new or changed chunks (chunk
ids are hashes of kind, reference and text). The names of the other two rooms
are importable from here too, as they were before the split.

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

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..errors import LakeError
from .chunks import (
    DEFAULT_DOCS,
    FILE_KINDS,
    KINDS,
    LAKE_KINDS,
    MAX_WORDS,
    PACKAGE,
    ROOT,
    Chunk,
    _check_sources,
    _dedupe,
    _doc_files,
    asset_chunks,
    catalog_chunks,
    collect_chunks,
    feature_chunks,
    forecast_chunks,
    lake_chunks,
    lineage_chunks,
    markdown_chunks,
    module_chunks,
    outlier_chunks,
    quality_chunks,
    recommendation_chunks,
    table_chunks,
)
from .retrieval import (
    _QCACHE,
    BM25,
    INDEX_FORMAT,
    MAX_TOKENS,
    MODEL_NAME,
    STOPWORDS,
    Hit,
    QAIndex,
    _stem,
    _top,
    embed,
    embed_query,
    embedding_model,
    tokenize,
)

#: names this module gave before it was split (``from pumplib.qa.index import …`` still works)
__all__ = ["BM25", "DEFAULT_DOCS", "FILE_KINDS", "INDEX_FORMAT", "KINDS", "LAKE_KINDS",
           "MAX_TOKENS", "MAX_WORDS", "MODEL_NAME", "PACKAGE", "ROOT", "STOPWORDS", "Chunk",
           "Hit", "QAIndex", "_QCACHE", "_check_sources", "_dedupe", "_doc_files", "_file_sha",
           "_stem", "_top", "asset_chunks", "build_index", "catalog_chunks", "collect_chunks",
           "default_index_dir", "embed", "embed_query", "embedding_model", "feature_chunks",
           "forecast_chunks", "lake_chunks", "lineage_chunks", "load_index", "markdown_chunks",
           "module_chunks", "outlier_chunks", "quality_chunks", "recommendation_chunks",
           "table_chunks", "tokenize"]


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


def load_index(store: str | os.PathLike | None = None, *,
               index_dir: str | os.PathLike | None = None) -> QAIndex:
    """The persisted index of ``store`` (no rebuilding; see :func:`build_index`)."""
    return QAIndex.load(index_dir or default_index_dir(store))


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
