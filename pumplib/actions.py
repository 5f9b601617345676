"""The action log: what people decided about recommendations and alerts.

An append-only table in a real database (SQLAlchemy 2): each row is one
action — ``accept``, ``dismiss`` (with a reason), ``assign``, ``comment`` or
``reopen`` — on one item (a recommendation or an alert), by one user, at one
time (UTC). The current state of an item is derived from its rows, so two
people acting at once never overwrite each other: both rows land.

Accepting is idempotent: a second ``accept`` of an item that is still
accepted stores nothing and returns the first one (who, when), with
``created=False``. The database enforces it, not a read-then-write check: an
accept row carries a key ``kind|item|accept|n`` (``n`` counts the item's
``dismiss``/``reopen`` rows before it) under a UNIQUE constraint, so of two
processes accepting at the same moment exactly one row lands and the other
is told who was first. After a ``dismiss`` or ``reopen`` the item can be
accepted again.

By default the database is a SQLite file beside the store
(``./store`` → ``./store.actions.sqlite``), opened in WAL mode with a busy
timeout and retries, so several processes (the marimo app, a Voila kernel,
the CLI) write to it safely. Shared deployments pass any SQLAlchemy URL, e.g.
``postgresql+psycopg://user@host/ops``; the setting ``ops.actions_url``
(``PUMPLIB_OPS__ACTIONS_URL``) overrides the default.

Examples
--------
>>> log = ActionLog("sqlite://")                     # in memory
>>> first = log.accept("rec-1", user="ana", comment="do it next week")
>>> _ = log.dismiss("alert-7", user="bo", reason="sensor swapped", kind="alert")
>>> log.state().loc["rec-1", "status"]
'accepted'
>>> again = log.accept("rec-1", user="bo")           # stores nothing new
>>> again.created, again.user, again.id == first.id
(False, 'ana', True)
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from . import config
from .errors import ArgumentError, choices_message

#: what a person can do to an item
ACTIONS = ("accept", "dismiss", "assign", "comment", "reopen")
#: what an action can be about
ITEM_KINDS = ("recommendation", "alert")
#: the status an action leaves an item in (``assign``/``comment`` keep the status)
STATUS_OF = {"accept": "accepted", "dismiss": "dismissed", "reopen": "open"}
#: actions that end an acceptance: after one of them the item may be accepted again
RESETS_ACCEPT = ("dismiss", "reopen")

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
    #: ``kind|item_id|accept|n`` on accept rows (NULL otherwise): UNIQUE, so an item is
    #: accepted once until a dismiss/reopen (n counts those), whoever writes at once
    once_key: Mapped[str | None] = mapped_column(sa.String(300), nullable=True, unique=True)


@dataclass(frozen=True)
class Recorded:
    """What :meth:`ActionLog.record` did.

    ``created`` is False when nothing new was stored because the action was
    already in force (an item accepted twice): ``id``, ``user`` and ``at`` are
    then those of the earlier row.
    """

    id: int
    item_id: str
    kind: str
    action: str
    user: str
    at: pd.Timestamp
    created: bool = True

    def when(self, timezone: str | None = None) -> str:
        """``at`` as text, in ``timezone`` (default UTC), e.g. ``2026-04-01 10:00 CEST``."""
        t = pd.Timestamp(self.at)
        t = t.tz_localize("UTC") if t.tzinfo is None else t
        t = t.tz_convert(timezone or "UTC")
        return t.strftime("%Y-%m-%d %H:%M %Z")

    def message(self, timezone: str | None = None) -> str:
        """One line for a person: what was stored, or that it already was.

        Examples
        --------
        >>> r = Recorded(7, "rec-1", "recommendation", "accept", "ana",
        ...              pd.Timestamp("2026-04-01 08:00", tz="UTC"), created=False)
        >>> r.message("Europe/Amsterdam")
        'rec-1 was already accepted by ana at 2026-04-01 10:00 CEST (action #7); nothing new was recorded.'
        """
        if not self.created:
            done = STATUS_OF.get(self.action, self.action)
            return (f"{self.item_id} was already {done} by {self.user} at "
                    f"{self.when(timezone)} (action #{self.id}); nothing new was recorded.")
        return (f"Recorded action #{self.id}: {self.action} {self.item_id} by {self.user} "
                f"at {self.when(timezone)}.")


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
        self._retry(self._migrate)

    def _migrate(self) -> None:
        """Bring a log written by an older pumplib up to date: add the ``once_key``
        column with its UNIQUE index, and key the accept rows already there (of
        duplicate accepts only the first keeps the key)."""
        if self._has_once_key():
            return
        try:
            self._add_once_key()
        except sa.exc.DBAPIError:
            if not self._has_once_key():     # another process migrated it meanwhile: fine
                raise

    def _has_once_key(self) -> bool:
        cols = sa.inspect(self.engine).get_columns(Action.__tablename__)
        return "once_key" in {c["name"] for c in cols}

    def _add_once_key(self) -> None:
        table = Action.__tablename__
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN once_key VARCHAR(300)"))
            rows = conn.execute(sa.select(Action.id, Action.kind, Action.item_id, Action.action)
                                .order_by(Action.id)).all()
            resets: dict[tuple[str, str], int] = {}
            taken: set[str] = set()
            for rid, kind, item, action in rows:
                if action in RESETS_ACCEPT:
                    resets[kind, item] = resets.get((kind, item), 0) + 1
                elif action == "accept":
                    key = _once_key(kind, item, resets.get((kind, item), 0))
                    if key not in taken:
                        taken.add(key)
                        conn.execute(sa.update(Action).where(Action.id == rid)
                                     .values(once_key=key))
            conn.execute(sa.text(f"CREATE UNIQUE INDEX IF NOT EXISTS ix_{table}_once_key "
                                 f"ON {table} (once_key)"))

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
               comment: str | None = None, details: dict | None = None) -> Recorded:
        """Append one action; return what was stored (:class:`Recorded`).

        An ``accept`` of an item that is already accepted (no ``dismiss`` or
        ``reopen`` since) stores nothing: the returned :class:`Recorded` has
        ``created=False`` and names who accepted it and when. This holds for
        any number of processes writing at once (a UNIQUE constraint decides).

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

        def write() -> Recorded:
            with self.engine.begin() as conn:
                values = dict(row)
                if action == "accept":
                    # the UNIQUE once_key, not this count, is what keeps a second accept out:
                    # two writers that count alike make the same key, and one insert fails
                    n = conn.execute(sa.select(sa.func.count()).select_from(Action).where(
                        Action.kind == kind, Action.item_id == str(item_id),
                        Action.action.in_(RESETS_ACCEPT))).scalar_one()
                    values["once_key"] = _once_key(kind, str(item_id), int(n))
                res = conn.execute(sa.insert(Action).values(**values))
                rid = int(res.inserted_primary_key[0])
            return Recorded(rid, str(item_id), kind, action, row["user"], _utc(row["at"]))

        try:
            return self._retry(write)
        except IntegrityError:
            if action != "accept":
                raise
        return self._retry(lambda: self._accepted(kind, str(item_id)))

    def _accepted(self, kind: str, item_id: str) -> Recorded:
        """The accept row in force for an item (after a refused second accept)."""
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(Action).where(
                Action.kind == kind, Action.item_id == item_id, Action.action == "accept",
                Action.once_key.is_not(None)).order_by(Action.id.desc()).limit(1)
            ).mappings().first()
            if r is None:  # pragma: no cover - the constraint failed for another reason
                raise ArgumentError(f"could not record accept of {item_id!r}")
            return Recorded(int(r["id"]), r["item_id"], r["kind"], r["action"], r["user"],
                            _utc(r["at"]), created=False)

    def accept(self, item_id: str, user: str, *, kind: str = "recommendation",
               comment: str | None = None, details: dict | None = None) -> Recorded:
        """Accept a recommendation (or acknowledge an alert); idempotent (see :meth:`record`)."""
        return self.record(item_id, "accept", user, kind=kind, comment=comment, details=details)

    def dismiss(self, item_id: str, user: str, reason: str, *, kind: str = "recommendation",
                comment: str | None = None) -> Recorded:
        """Dismiss an item, saying why."""
        return self.record(item_id, "dismiss", user, kind=kind, reason=reason, comment=comment)

    def assign(self, item_id: str, user: str, assignee: str, *,
               kind: str = "recommendation", comment: str | None = None) -> Recorded:
        """Give an item to someone (the status does not change)."""
        return self.record(item_id, "assign", user, kind=kind, assignee=assignee,
                           comment=comment)

    def comment(self, item_id: str, user: str, text: str, *,
                kind: str = "recommendation") -> Recorded:
        """Add a comment to an item."""
        return self.record(item_id, "comment", user, kind=kind, comment=text)

    def reopen(self, item_id: str, user: str, *, kind: str = "recommendation",
               comment: str | None = None) -> Recorded:
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


def _once_key(kind: str, item_id: str, resets: int) -> str:
    return f"{kind}|{item_id}|accept|{resets}"


def _utc(t) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()
