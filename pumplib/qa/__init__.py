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

* :mod:`pumplib.qa.chunks` — chunks of every source (documents, registry, lake…);
* :mod:`pumplib.qa.retrieval` — embeddings, BM25, the hybrid search of :class:`QAIndex`;
* :mod:`pumplib.qa.index` — the index of a store: built, brought up to date, kept beside it;
* :mod:`pumplib.qa.parse` — reading a question: metric, names, period, typos, what was not
  understood;
* :mod:`pumplib.qa.suggest` — the answerable questions nearest to one not understood;
* :mod:`pumplib.qa.answer` — retrieval, data questions, composed answers with citations;
* :mod:`pumplib.qa.facts` — registry facts (rated values, BEP, curves, tariffs) as data;
* :mod:`pumplib.qa.define` — feature definitions traced to raw signals and source files;
* :mod:`pumplib.qa.refuse` — plain refusals of questions nothing answers;
* :mod:`pumplib.qa.service` — the warm answer service (`pumplib qa serve`) and its client;
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

import importlib

#: what the package exports, and the module each name lives in (imported on first use, so
#: ``pumplib.qa.service``'s client and the CLI stay light)
_EXPORTS = {"Answer": "answer", "Citation": "answer", "DataQuery": "answer", "ask": "answer",
            "parse_question": "answer", "Chunk": "index", "Hit": "index", "QAIndex": "index",
            "build_index": "index", "collect_chunks": "index", "default_index_dir": "index",
            "load_index": "index", "Reading": "parse", "read_question": "parse",
            "suggest_questions": "suggest"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
