"""A graph of tasks with dependencies, taken by worker threads as they become ready.

An incremental build (:mod:`pumplib.features.incremental`) evaluates each
feature once, as soon as the features it uses are, on one worker per core;
:class:`TaskGraph` hands out the ready task with the longest chain of work
behind it, guessed by :func:`feature_work`, so the workers end close together.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

__all__ = ["BARE_WORK", "TaskGraph", "feature_work"]


#: :func:`feature_work`: a few milliseconds, a small expression's evaluation)
BARE_WORK = 4.0


def feature_work(catalog, name: str) -> float:
    """The guessed work of evaluating and aggregating feature ``name``: the nodes of its
    expression, a condition's twice (masks and ``where``), medians and quantiles (they
    sort raw samples) and starts (they count transitions).

    Examples
    --------
    >>> from pumplib.features import catalog_from_dicts
    >>> cat = catalog_from_dicts([
    ...     {"name": "p2", "version": 1, "unit": "kW", "inputs": ["power"],
    ...      "expression": "power * 2", "aggregations": ["mean"]},
    ...     {"name": "f3", "version": 1, "unit": "m**3/h", "inputs": ["flow"],
    ...      "expression": "flow * 3", "aggregations": ["mean", "median"],
    ...      "levels": ["1min", "1h"]}])
    >>> feature_work(cat, "f3") > feature_work(cat, "p2")     # medians weigh more
    True
    """
    import ast

    d = catalog[name]
    aggs = d.aggregations.values()
    return (6.0 + sum(w * sum(1 for _ in ast.walk(c.parsed.tree))
                      for w, c in ((1.0, d.compiled), (2.0, d.compiled_condition))
                      if c is not None)
            + sum(12.0 for v in aggs if "median" in v or any(str(a).startswith("q") for a in v))
            + (15.0 if any("starts" in v for v in aggs) else 0.0))


class TaskGraph:
    """Tasks with dependencies, taken by worker threads as they become ready: of the
    ready tasks, the one with the longest chain of work behind it (its own and its
    dependents') first, so a long chain of features starts early and the workers end
    close together.

    ``deps`` maps each task to the tasks it needs, in dependency order (a task after
    those it needs); ``weight`` guesses each task's work. A worker calls :meth:`take`
    until it returns None, and :meth:`done` as soon as a task's dependents may start;
    :meth:`fail` wakes every waiting worker when one of them failed.

    Examples
    --------
    >>> g = TaskGraph({"head": [], "power": ["head"], "flow": []},
    ...                {"head": 1.0, "power": 1.0, "flow": 1.5})
    >>> g.take()                  # a chain of 2.0 before a single task of 1.5
    'head'
    >>> g.take(), g.done("head")  # power waits for head; head's dependents now evaluated: none
    ('flow', [])
    >>> g.take(), g.done("power"), g.take()
    ('power', ['head'], None)
    """

    def __init__(self, deps: Mapping[str, Sequence[str]], weight: Mapping[str, float]):
        self._cond = threading.Condition()
        self._deps = {n: list(d) for n, d in deps.items()}
        self._needs = {n: set(d) for n, d in deps.items()}
        self.dependents: dict[str, list[str]] = {n: [] for n in deps}
        for n, d in deps.items():
            for m in d:
                self.dependents[m].append(n)
        self._rank: dict[str, float] = {}
        for n in reversed(list(deps)):
            self._rank[n] = weight[n] + max((self._rank[m] for m in self.dependents[n]),
                                            default=0.0)
        self._users = {n: len(v) for n, v in self.dependents.items()}
        self._ready = [n for n, d in self._needs.items() if not d]
        self._untaken = len(deps)
        self._failed = False

    def take(self) -> str | None:
        """The next task, waiting while every untaken task waits on one in progress;
        None when every task is taken (or a worker failed)."""
        with self._cond:
            while not self._ready and self._untaken and not self._failed:
                self._cond.wait()
            if self._failed or not self._ready:
                return None
            n = max(self._ready, key=self._rank.__getitem__)
            self._ready.remove(n)
            self._untaken -= 1
            return n

    def done(self, name: str) -> list[str]:
        """Mark ``name`` done (its dependents may start); returns the tasks whose
        dependents are all done now (their results may be released)."""
        with self._cond:
            for m in self.dependents[name]:
                self._needs[m].discard(name)
                if not self._needs[m]:
                    self._ready.append(m)
            self._cond.notify_all()
            free = []
            for m in self._deps[name]:
                self._users[m] -= 1
                if not self._users[m]:
                    free.append(m)
            return free

    def fail(self) -> None:
        with self._cond:
            self._failed = True
            self._cond.notify_all()
