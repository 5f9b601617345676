"""Question answering over the lake, its catalogs and the project's documents.

Retrieval-augmented and offline: documents, feature definitions, the asset
registry, the lake's commit log (lineage), quality reports and the tables of
the ML layers (outliers, forecasts, recommendations) are cut into chunks,
embedded with the packaged ``all-MiniLM-L6-v2`` sentence-transformers model
(never a hub download) and ranked together with BM25 for names and tags
(reciprocal rank fusion). Questions about data ("how many starts did P3 have
yesterday?") are parsed and answered by reading the golden tables, quoting
the numbers with their lineage; nothing is guessed. Typos are read as the one
name they are close to, and the answer says so; a question (or part of one)
that is not understood, or finds nothing relevant, is answered with what was
not understood and the nearest questions that can be answered.

Modules:

* :mod:`pumplib.qa.index` — chunking, embeddings, BM25, persistence beside the store;
* :mod:`pumplib.qa.parse` — reading a question: metric, names, period, typos, what was not
  understood;
* :mod:`pumplib.qa.suggest` — the answerable questions nearest to one not understood;
* :mod:`pumplib.qa.answer` — retrieval, data questions, composed answers with citations;
* :mod:`pumplib.qa.generator` — optional OpenAI-compatible HTTP generator;
* :mod:`pumplib.qa.widgets` — ipywidgets and marimo panels.

Examples
--------
>>> from pumplib import qa
>>> index = qa.build_index(store="./store")                    # doctest: +SKIP
>>> a = qa.ask("how many starts did P3 have yesterday?", index=index)  # doctest: +SKIP
>>> a.text, a.citations[0].ref                                  # doctest: +SKIP
"""

from __future__ import annotations

from .answer import Answer, Citation, DataQuery, ask, parse_question
from .index import Chunk, Hit, QAIndex, build_index, collect_chunks, default_index_dir, load_index
from .parse import Reading, read_question
from .suggest import suggest_questions

__all__ = ["Answer", "Chunk", "Citation", "DataQuery", "Hit", "QAIndex", "Reading", "ask",
           "build_index", "collect_chunks", "default_index_dir", "load_index", "parse_question",
           "read_question", "suggest_questions"]
