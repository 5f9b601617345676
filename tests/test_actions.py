from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import threading

import pandas as pd
import pytest

from pumplib import config
from pumplib.actions import ActionLog, default_url
from pumplib.errors import ArgumentError, PumplibError


def _clock(start=dt.datetime(2026, 4, 1, 8, 0, tzinfo=dt.UTC)):
    t = [start]

    def tick():
        t[0] += dt.timedelta(minutes=1)
        return t[0]

    return tick


def test_state_follows_actions_in_order(tmp_path):
    log = ActionLog(f"sqlite:///{tmp_path / 'a.sqlite'}", clock=_clock())
    log.accept("rec-1", user="ana", details={"saving_kwh": 120.0})
    log.assign("rec-1", user="ana", assignee="maintenance")
    log.comment("rec-1", user="bo", text="parts ordered")
    log.dismiss("rec-2", user="bo", reason="already done")
    log.accept("al-1", user="cy", kind="alert")
    log.dismiss("rec-3", user="bo", reason="not now")
    log.reopen("rec-3", user="bo")
    st = log.state()
    assert st.loc["rec-1", "status"] == "accepted"
    assert st.loc["rec-1", "assignee"] == "maintenance"
    assert st.loc["rec-1", "accepted_by"] == "ana"
    assert st.loc["rec-1", "accepted_at"] == pd.Timestamp("2026-04-01 08:01", tz="UTC")
    assert st.loc["rec-1", "n_comments"] == 1 and st.loc["rec-1", "n_actions"] == 3
    assert st.loc["rec-1", "last_user"] == "bo"
    assert st.loc["rec-2", ["status", "reason"]].tolist() == ["dismissed", "already done"]
    assert st.loc["rec-3", "status"] == "open" and pd.isna(st.loc["rec-3", "reason"])
    assert st.loc["al-1", "kind"] == "alert"
    assert list(log.state(kind="alert").index) == ["al-1"]
    h = log.history("rec-1")
    assert h["action"].tolist() == ["accept", "assign", "comment"]
    assert h["user"].tolist() == ["ana", "ana", "bo"]
    assert '"saving_kwh": 120.0' in h["details"].iloc[0]
    assert str(h["at"].dt.tz) == "UTC"
    # a new connection (another user) sees the same log
    again = ActionLog(log.url)
    assert len(again.history()) == 7
    again.close()
    log.close()


def test_empty_log_has_columns():
    log = ActionLog("sqlite://")
    assert log.state().empty and "status" in log.state().columns
    assert log.history().empty and "user" in log.history().columns


@pytest.mark.parametrize("call, match", [
    (lambda log: log.record("r", "approve", "ana"), "unknown action 'approve'.*'accept'"),
    (lambda log: log.record("r", "accept", "ana", kind="pump"), "unknown item kind 'pump'"),
    (lambda log: log.dismiss("r", "ana", reason=""), "dismiss needs a reason"),
    (lambda log: log.assign("r", "ana", assignee=" "), "assign needs an assignee"),
    (lambda log: log.comment("r", "ana", text=""), "comment needs a text"),
    (lambda log: log.accept("r", user=""), "user must be a non-empty"),
    (lambda log: log.accept("", user="ana"), "item_id must be"),
    (lambda log: log.history(kind="pumps"), "unknown item kind 'pumps'"),
])
def test_invalid_actions_are_refused(call, match):
    log = ActionLog("sqlite://")
    with pytest.raises(ArgumentError, match=match) as info:
        call(log)
    assert isinstance(info.value, PumplibError) and isinstance(info.value, ValueError)
    assert log.history().empty


def test_default_url_is_beside_the_store(tmp_path):
    url = default_url(tmp_path / "lake")
    assert url == f"sqlite:///{tmp_path / 'lake.actions.sqlite'}"
    with config.set({"ops.actions_url": "sqlite:///elsewhere.sqlite"}):
        assert default_url(tmp_path / "lake") == "sqlite:///elsewhere.sqlite"
    log = ActionLog(store=tmp_path / "lake")
    log.accept("rec-1", user="ana")
    assert (tmp_path / "lake.actions.sqlite").is_file()
    log.close()


def _writer(url: str, who: str, n: int, barrier) -> None:
    log = ActionLog(url)
    barrier.wait()
    for i in range(n):
        if i % 3 == 0:
            log.accept(f"rec-{who}-{i}", user=who)
        elif i % 3 == 1:
            log.comment("rec-shared", user=who, text=f"note {i}")
        else:
            log.dismiss(f"rec-{who}-{i}", user=who, reason="duplicate")
    log.close()


def test_two_processes_never_lose_actions(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    ActionLog(url).close()  # create the schema once
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    n = 60
    procs = [ctx.Process(target=_writer, args=(url, who, n, barrier)) for who in ("ana", "bo")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    log = ActionLog(url)
    h = log.history()
    assert len(h) == 2 * n
    assert h.groupby("user").size().to_dict() == {"ana": n, "bo": n}
    assert log.state().loc["rec-shared", "n_comments"] == 2 * (n // 3)
    assert h["id"].is_unique
    log.close()


def test_two_threads_never_lose_actions(tmp_path):
    url = f"sqlite:///{tmp_path / 'threads.sqlite'}"
    logs = [ActionLog(url), ActionLog(url)]
    barrier = threading.Barrier(2)

    def run(log, who):
        barrier.wait()
        for i in range(40):
            log.comment("rec-1", user=who, text=str(i))

    threads = [threading.Thread(target=run, args=(lg, w)) for lg, w in zip(logs, "ab", strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(logs[0].history("rec-1")) == 80
    assert logs[1].state().loc["rec-1", "n_comments"] == 80
    for lg in logs:
        lg.close()


def test_doctests():
    import doctest

    import pumplib.actions

    res = doctest.testmod(pumplib.actions)
    assert res.failed == 0 and res.attempted > 0


# -- idempotent accept: a uniqueness rule in the database ------------------------------------
def test_a_second_accept_stores_nothing_and_says_who_and_when(tmp_path):
    log = ActionLog(f"sqlite:///{tmp_path / 'a.sqlite'}", clock=_clock())
    first = log.accept("rec-1", user="ana")
    assert first.created and first.user == "ana"
    assert first.at == pd.Timestamp("2026-04-01 08:01", tz="UTC")
    again = log.accept("rec-1", user="bo")
    assert not again.created
    assert (again.id, again.user, again.at) == (first.id, "ana", first.at)
    assert again.message("Europe/Amsterdam") == (
        f"rec-1 was already accepted by ana at 2026-04-01 10:01 CEST (action #{first.id}); "
        "nothing new was recorded.")
    h = log.history("rec-1")
    assert h["action"].tolist() == ["accept"] and h["user"].tolist() == ["ana"]
    # the same id as an alert is another item
    assert log.accept("rec-1", user="bo", kind="alert").created
    # a comment or assignment keeps it accepted: still no second accept
    log.comment("rec-1", user="bo", text="parts ordered")
    assert not log.accept("rec-1", user="cy").created
    # after a dismissal or a reopen it can be accepted again, once
    log.dismiss("rec-1", user="bo", reason="not this month")
    third = log.accept("rec-1", user="cy")
    assert third.created and log.state().loc["rec-1", "accepted_by"] == "cy"
    assert not log.accept("rec-1", user="ana").created
    log.reopen("rec-1", user="ana")
    assert log.accept("rec-1", user="ana").created
    assert not log.accept("rec-1", user="bo").created
    assert (log.history("rec-1", kind="recommendation")["action"] == "accept").sum() == 3
    log.close()


def test_the_database_refuses_a_duplicate_accept_row(tmp_path):
    """The rule lives in the database: a row written past the Python code is refused too."""
    import sqlalchemy as sa
    from sqlalchemy.exc import IntegrityError

    from pumplib.actions import Action

    log = ActionLog(f"sqlite:///{tmp_path / 'a.sqlite'}")
    log.accept("rec-1", user="ana")
    key = log.history("rec-1").iloc[0]
    with pytest.raises(IntegrityError), log.engine.begin() as conn:
        conn.execute(sa.insert(Action).values(
            kind="recommendation", item_id="rec-1", action="accept", user="bo",
            at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC), once_key="recommendation|rec-1|accept|0"))
    assert len(log.history("rec-1")) == 1 and key["user"] == "ana"
    log.close()


def test_two_action_logs_accept_an_item_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'two.sqlite'}"
    logs = [ActionLog(url), ActionLog(url)]
    barrier = threading.Barrier(2)
    results: dict[str, list] = {"ana": [], "bo": []}

    def run(log, who):
        barrier.wait()
        for i in range(25):
            results[who].append(log.accept(f"rec-{i}", user=who))

    threads = [threading.Thread(target=run, args=(lg, w))
               for lg, w in zip(logs, ("ana", "bo"), strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    h = logs[0].history()
    assert len(h) == 25 and h["item_id"].is_unique
    created = [r for rs in results.values() for r in rs if r.created]
    assert len(created) == 25
    # whoever lost is told who won
    owner = h.set_index("item_id")["user"]
    for rs in results.values():
        for r in rs:
            assert r.user == owner[r.item_id]
    for lg in logs:
        lg.close()


def _accepter(url: str, who: str, n: int, barrier, queue) -> None:
    log = ActionLog(url)
    barrier.wait()
    made = [log.accept(f"rec-{i}", user=who).created for i in range(n)]
    log.close()
    queue.put((who, made))


def test_two_processes_accept_an_item_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'procs.sqlite'}"
    ActionLog(url).close()
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    n = 30
    procs = [ctx.Process(target=_accepter, args=(url, who, n, barrier, queue))
             for who in ("ana", "bo")]
    for p in procs:
        p.start()
    made = dict(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    log = ActionLog(url)
    h = log.history()
    assert len(h) == n and h["item_id"].is_unique            # one accept per item
    assert sum(made["ana"]) + sum(made["bo"]) == n            # each told the truth
    for i in range(n):
        assert made["ana"][i] != made["bo"][i]
    log.close()


def test_a_log_of_an_older_pumplib_is_migrated(tmp_path):
    """A log written before the uniqueness rule (duplicate accepts in it) gets the rule."""
    import sqlite3

    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE pumplib_actions (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "kind VARCHAR(32), item_id VARCHAR(200), action VARCHAR(32), "
                "user VARCHAR(200), at DATETIME, reason TEXT, assignee VARCHAR(200), "
                "comment TEXT, details TEXT)")
    for who, at in (("ana", "2026-04-01 08:00:00"), ("bo", "2026-04-01 09:00:00")):
        con.execute("INSERT INTO pumplib_actions (kind, item_id, action, user, at) "
                    "VALUES ('recommendation', 'rec-1', 'accept', ?, ?)", (who, at))
    con.commit()
    con.close()
    log = ActionLog(f"sqlite:///{path}")
    again = log.accept("rec-1", user="cy")
    assert not again.created and again.user == "ana"
    assert again.at == pd.Timestamp("2026-04-01 08:00", tz="UTC")
    assert len(log.history("rec-1")) == 2                    # the old rows stay as they were
    log.close()
    ActionLog(f"sqlite:///{path}").close()                     # a second open: nothing to do
