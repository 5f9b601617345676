"""Q&A panels: ipywidgets (JupyterLab, Voila) and marimo.

Both are thin: a text box, and the HTML of :meth:`Answer.html` (answer text
with linked ``[n]`` markers and the numbered sources; for a question not
understood, what was not and the suggested questions as a list). The index is built or
refreshed once, when the panel is made.

ipywidgets::

    from pumplib.qa.widgets import ipywidgets_panel
    ipywidgets_panel(store="./store")          # the last expression of a cell shows it

marimo (the question box in one cell, the answer in the next, so marimo's
reactivity re-runs the answer when the text changes)::

    box = marimo_input()                       # cell 1: shows the text box
    marimo_answer(box.value, store="./store")  # cell 2: the answer (mo.Html)

Examples
--------
>>> panel = QAPanel(store="./store")                  # doctest: +SKIP
>>> panel.ask("which tariff does SOUTH use?").citations[0].ref   # doctest: +SKIP
'assets.yaml#stations.SOUTH'
"""

from __future__ import annotations

import html
import os
from typing import Any

from .answer import Answer, ask

PLACEHOLDER = "Ask about the data, e.g. “how many starts did P3 have yesterday?”"
_INDEXES: dict[tuple, Any] = {}


def _index_for(store, index_dir, registry):
    """One index per (store, folder) per process, refreshed by the first panel that asks."""
    from .index import build_index

    key = (os.fspath(store) if store is not None else None,
           os.fspath(index_dir) if index_dir is not None else None)
    if key not in _INDEXES:
        _INDEXES[key] = build_index(store, index_dir=index_dir, registry=registry)
    return _INDEXES[key]


class QAPanel:
    """The state behind both front ends: store, index, registry and the last answer.

    Parameters
    ----------
    store, index_dir, registry, now, generator :
        As for :func:`pumplib.qa.ask`.
    index : QAIndex, optional
        An index already built (default: built or refreshed on first use).
    """

    def __init__(self, store=None, *, index=None, index_dir=None, registry=None, now=None,
                 generator=None):
        self.store, self.index_dir, self.registry = store, index_dir, registry
        self.now, self.generator = now, generator
        self._index = index
        self.last: Answer | None = None

    @property
    def index(self):
        if self._index is None:
            self._index = _index_for(self.store, self.index_dir, self.registry)
        return self._index

    def ask(self, question: str) -> Answer:
        """Answer ``question`` (kept in :attr:`last`)."""
        self.last = ask(question, self.store, index=self.index, registry=self.registry,
                        now=self.now, generator=self.generator)
        return self.last

    def render(self, question: str | None) -> str:
        """HTML of the answer to ``question`` (a hint when it is empty)."""
        if not question or not question.strip():
            return f"<p><i>{html.escape(PLACEHOLDER)}</i></p>"
        return self.ask(question).html()


def ipywidgets_panel(store=None, *, index=None, index_dir=None, registry=None, now=None,
                     generator=None):
    """A JupyterLab/Voila panel: a text box, an *Ask* button and the answer with its sources.

    Returns
    -------
    ipywidgets.VBox
        With ``.panel`` (the :class:`QAPanel`), ``.question`` (Text), ``.button``
        and ``.output`` (HTML) attributes; pressing Enter or the button answers.
    """
    import ipywidgets as w

    panel = QAPanel(store, index=index, index_dir=index_dir, registry=registry, now=now,
                    generator=generator)
    question = w.Text(placeholder=PLACEHOLDER, layout=w.Layout(width="70%"),
                      continuous_update=False)
    button = w.Button(description="Ask", button_style="primary")
    output = w.HTML(value=panel.render(None))

    def answer(*_):
        output.value = "<p><i>…</i></p>"
        output.value = panel.render(question.value)

    button.on_click(answer)
    question.observe(lambda change: answer(), names="value")
    box = w.VBox([w.HBox([question, button]), output])
    box.panel, box.question, box.button, box.output = panel, question, button, output
    return box


def marimo_input(value: str = "", **kwargs):
    """The question box of a marimo app (``mo.ui.text``); read ``.value`` in another cell."""
    import marimo as mo

    return mo.ui.text(value=value, placeholder=PLACEHOLDER, full_width=True,
                      label=kwargs.pop("label", "Question"), **kwargs)


def marimo_answer(question: str, store=None, *, panel: QAPanel | None = None, **kwargs):
    """The answer to ``question`` as ``mo.Html`` (answer text and numbered sources)."""
    import marimo as mo

    panel = panel or QAPanel(store, **kwargs)
    return mo.Html(panel.render(question))


def marimo_panel(store=None, *, value: str = "", **kwargs):
    """Both parts at once: ``(box, answer)`` where ``answer(box.value)`` gives ``mo.Html``.

    Examples
    --------
    >>> box, answer = marimo_panel(store="./store")    # doctest: +SKIP
    >>> box                                            # doctest: +SKIP
    >>> answer(box.value)                              # doctest: +SKIP
    """
    panel = QAPanel(store, **kwargs)
    box = marimo_input(value)
    return box, (lambda q: marimo_answer(q, panel=panel))
