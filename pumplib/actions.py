"""The action log: what people decided about recommendations and alerts.

An append-only table in a real database (SQLAlchemy 2): each row is one
action — ``accept``, ``dismiss`` (with a reason), ``assign``, ``comment`` or
``reopen`` — on one item (a recommendation or an alert), by one user, at one
time (UTC). The current state of an item is derived from its rows, so two
people acting at once never overwrite each other: both rows land.

By default the database is a SQLite file beside the store
(``./store`` → ``./store.actions.sqlite``), opened in WAL mode with a busy
timeout and retries, so several processes (the marimo app, a Voila kernel,
the CLI) write to it safely. Shared deployments pass any SQLAlchemy URL, e.g.
``postgresql+psycopg://user@host/ops``; the setting ``ops.actions_url``
(``PUMPLIB_OPS__ACTIONS_URL``) overrides the default.

Examples
--------
>>> log = ActionLog("sqlite://")                     # in memory
>>> _ = log.accept("rec-1", user="ana", comment="do it next week")
>>> _ = log.dismiss("alert-7", user="bo", reason="sensor swapped", kind="alert")
>>> log.state().loc["rec-1", "status"]
'accepted'
>>> len(log.history())
2
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from . import config
from .errors import ArgumentError, choices_message

#: what a person can do to an item
ACTIONS = ("accept", "dismiss", "assign", "comment", "reopen")
#: what an action can be about
ITEM_KINDS = ("recommendation", "alert")
#: the status an action leaves an item in (``assign``/``comment`` keep the status)
STATUS_OF = {"accept": "accepted", "dismiss": "dismissed", "reopen": "open"}

STATE_COLUMNS = ["kind", "status", "assignee", "reason", "last_action", "last_user",
                 "last_at", "accepted_at", "accepted_by", "n_comments", "n_actions"]
HISTORY_COLUMNS = ["id", "kind", "item_id", "action", "user", "at", "reason", "assignee",
                   "comment", "details"]


class Base(DeclarativeBase):
    pass


class Action(Base):
    """One row of the action log."""

    __tablename__ = "pumplib_actions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(32), index=True)
    item_id: Mapped[str] = mapped_column(sa.String(200), index=True)
    action: Mapped[str] = mapped_column(sa.String(32))
    user: Mapped[str] = mapped_column(sa.String(200))
    at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    assignee: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    comment: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    details: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


def default_url(store: str | os.PathLike | None = None) -> str:
    """The action log URL for a store: ``ops.actions_url`` if set, else a SQLite file
    beside a local store (``<store>.actions.sqlite``), else ``./pumplib-actions.sqlite``.

    Examples
    --------
    >>> default_url("/data/store")
    'sqlite:////data/store.actions.sqlite'
    """
    url = config.get("ops.actions_url", None)
    if url:
        return str(url)
    store = os.fspath(config.get("store.url", override_with=store))
    parsed = urlparse(store)
    if parsed.scheme in ("", "file") and not store.startswith("memory://"):
        path = Path(parsed.path if parsed.scheme == "file" else store).expanduser().resolve()
        return f"sqlite:///{path.parent / (path.name + '.actions.sqlite')}"
    return f"sqlite:///{Path('pumplib-actions.sqlite').resolve()}"


class ActionLog:
    """An append-only log of actions on recommendations and alerts.

    Parameters
    ----------
    url : str, optional
        Any SQLAlchemy URL (``sqlite:///path.sqlite``, ``sqlite://`` in memory,
        ``postgresql+psycopg://…``). Default: :func:`default_url` of ``store``.
    store : str or path, optional
        The store whose action log to open when ``url`` is not given.
    retries : int
        Times a write is tried again when the database is busy (SQLite).
    clock : callable, optional
        Returns the current UTC time (tests pin it).

    Examples
    --------
    >>> log = ActionLog("sqlite://")
    >>> _ = log.assign("rec-2", user="ana", assignee="bo")
    >>> log.state().loc["rec-2", ["status", "assignee"]].tolist()
    ['open', 'bo']
    """

    def __init__(self, url: str | None = None, *, store: str | os.PathLike | None = None,
                 retries: int = 20, clock: Callable[[], dt.datetime] | None = None):
        self.url = str(url) if url else default_url(store)
        self.retries = int(retries)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            if self.url in ("sqlite://", "sqlite:///:memory:"):
                kwargs["poolclass"] = sa.pool.StaticPool
            else:
                Path(sa.engine.make_url(self.url).database).parent.mkdir(
                    parents=True, exist_ok=True)
        self.engine = sa.create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._retry(lambda: Base.metadata.create_all(self.engine))

    def __repr__(self) -> str:
        return f"ActionLog({self.url!r})"

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> ActionLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing --------------------------------------------------------------
    def record(self, item_id: str, action: str, user: str, *, kind: str = "recommendation",
               reason: str | None = None, assignee: str | None = None,
               comment: str | None = None, details: dict | None = None) -> int:
        """Append one action; return its row id.

        Parameters
        ----------
        item_id : str
            The recommendation's ``rec_id`` or the alert's ``alert_id``.
        action : {"accept", "dismiss", "assign", "comment", "reopen"}
        user : str
            Who acts (non-empty).
        kind : {"recommendation", "alert"}
        reason : str, optional
            Required for ``dismiss``.
        assignee : str, optional
            Required for ``assign``.
        comment : str, optional
            Required for ``comment``; optional note for the others.
        details : dict, optional
            Extra JSON-able context (e.g. the estimated saving when accepted).
        """
        if action not in ACTIONS:
            raise ArgumentError(choices_message("action", action, ACTIONS))
        if kind not in ITEM_KINDS:
            raise ArgumentError(choices_message("item kind", kind, ITEM_KINDS))
        if not item_id or not str(item_id).strip():
            raise ArgumentError("item_id must be a non-empty string (a rec_id or alert_id)")
        if not user or not str(user).strip():
            raise ArgumentError("user must be a non-empty name: every action says who took it")
        if action == "dismiss" and not (reason and reason.strip()):
            raise ArgumentError("dismiss needs a reason (e.g. reason='sensor replaced')")
        if action == "assign" and not (assignee and assignee.strip()):
            raise ArgumentError("assign needs an assignee (e.g. assignee='maintenance')")
        if action == "comment" and not (comment and comment.strip()):
            raise ArgumentError("comment needs a text (comment='…')")
        row = dict(kind=kind, item_id=str(item_id), action=action, user=str(user).strip(),
                   at=self._clock(), reason=reason, assignee=assignee, comment=comment,
                   details=json.dumps(details, default=str) if details else None)

        def write() -> int:
            with self.engine.begin() as conn:
                res = conn.execute(sa.insert(Action).values(**row))
                return int(res.inserted_primary_key[0])

        return self._retry(write)

    def accept(self, item_id: str, user: str, *, kind: str = "recommendation",
               comment: str | None = None, details: dict | None = None) -> int:
        """Accept a recommendation (or acknowledge an alert)."""
        return self.record(item_id, "accept", user, kind=kind, comment=comment, details=details)

    def dismiss(self, item_id: str, user: str, reason: str, *, kind: str = "recommendation",
                comment: str | None = None) -> int:
        """Dismiss an item, saying why."""
        return self.record(item_id, "dismiss", user, kind=kind, reason=reason, comment=comment)

    def assign(self, item_id: str, user: str, assignee: str, *,
               kind: str = "recommendation", comment: str | None = None) -> int:
        """Give an item to someone (the status does not change)."""
        return self.record(item_id, "assign", user, kind=kind, assignee=assignee,
                           comment=comment)

    def comment(self, item_id: str, user: str, text: str, *,
                kind: str = "recommendation") -> int:
        """Add a comment to an item."""
        return self.record(item_id, "comment", user, kind=kind, comment=text)

    def reopen(self, item_id: str, user: str, *, kind: str = "recommendation",
               comment: str | None = None) -> int:
        """Undo an accept or dismiss: the item is open again."""
        return self.record(item_id, "reopen", user, kind=kind, comment=comment)

    # -- reading --------------------------------------------------------------
    def history(self, item_id: str | None = None, kind: str | None = None) -> pd.DataFrame:
        """Every action (oldest first), optionally of one item or one kind."""
        if kind is not None and kind not in ITEM_KINDS:
            raise ArgumentError(choices_message("item kind", kind, ITEM_KINDS))
        q = sa.select(Action).order_by(Action.id)
        if item_id is not None:
            q = q.where(Action.item_id == str(item_id))
        if kind is not None:
            q = q.where(Action.kind == kind)

        def read() -> list:
            with self.engine.connect() as conn:
                return conn.execute(q).mappings().all()

        rows = self._retry(read)
        frame = pd.DataFrame([dict(r) for r in rows], columns=HISTORY_COLUMNS)
        if len(frame):
            frame["at"] = pd.to_datetime(frame["at"], utc=True)
        return frame

    def state(self, kind: str | None = None) -> pd.DataFrame:
        """The current state of every item acted on, indexed by ``item_id``.

        Columns: ``kind, status`` (open | accepted | dismissed), ``assignee``,
        ``reason`` (of the last dismissal), ``last_action, last_user, last_at``,
        ``accepted_at, accepted_by``, ``n_comments``, ``n_actions``.
        """
        hist = self.history(kind=kind)
        rows = {}
        for item, g in hist.groupby("item_id", sort=False):
            status, assignee, reason, acc_at, acc_by = "open", None, None, None, None
            for r in g.itertuples():
                if r.action in STATUS_OF:
                    status = STATUS_OF[r.action]
                if r.action == "accept":
                    acc_at, acc_by = r.at, r.user
                if r.action == "dismiss":
                    reason = r.reason
                if r.action == "reopen":
                    acc_at = acc_by = reason = None
                if r.action == "assign":
                    assignee = r.assignee
            last = g.iloc[-1]
            rows[item] = {"kind": last["kind"], "status": status, "assignee": assignee,
                          "reason": reason, "last_action": last["action"],
                          "last_user": last["user"], "last_at": last["at"],
                          "accepted_at": acc_at, "accepted_by": acc_by,
                          "n_comments": int((g["action"] == "comment").sum()),
                          "n_actions": len(g)}
        out = pd.DataFrame.from_dict(rows, orient="index", columns=STATE_COLUMNS)
        out.index.name = "item_id"
        return out

    # -- internals ------------------------------------------------------------
    def _retry(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn``, trying again with jittered back-off while SQLite is busy."""
        delay = 0.02
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except OperationalError as exc:
                msg = str(exc).lower()
                busy = "locked" in msg or "busy" in msg
                if not (self.is_sqlite and busy) or attempt == self.retries:
                    raise
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()
