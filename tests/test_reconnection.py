"""PostgreSQL connections found dead are replaced, once (docs/operations.md, "Database
faults"): a session killed by an operator costs no error and one warning line; a server that
stays down fails after one more try; a busy row is not tried again."""

from __future__ import annotations

import logging

import peewee
import pytest

from applytry.db.database import (
    BROKEN,
    CONTENTION,
    UNREACHABLE,
    again_if_lost,
    classify,
    open_database,
)
from conftest import BACKEND, postgres_session

pytestmark = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL sessions")

LOST = "database connection lost, once more on another"


@pytest.fixture
def pg(database_url):
    target = open_database(database_url, lock_timeout_s=0.2)
    other = postgres_session(database_url)
    with other.cursor() as cursor:
        cursor.execute("CREATE TABLE item (id integer PRIMARY KEY, v integer)")
        cursor.execute("INSERT INTO item VALUES (1, 0)")
    yield target, other
    target.close()
    other.close()


def _kill_the_others(other) -> None:
    with other.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchall(), "no session to kill"


def _lost_lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if LOST in record.getMessage()]


def test_a_statement_after_a_killed_session_runs_once_on_a_new_one(pg, caplog):
    target, other = pg
    caplog.set_level(logging.WARNING, logger="applytry.db.database")
    pid = target.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    _kill_the_others(other)

    assert target.execute_sql("UPDATE item SET v = v + 1 WHERE id = 1").rowcount == 1

    assert target.execute_sql("SELECT pg_backend_pid()").fetchone()[0] != pid
    assert target.execute_sql("SELECT v FROM item").fetchone() == (1,)
    [line] = _lost_lines(caplog)
    assert line.startswith(LOST + ": ") and "connection" in line.removeprefix(LOST)


def test_a_transaction_after_a_killed_session_begins_on_a_new_one(pg, caplog):
    target, other = pg
    caplog.set_level(logging.WARNING, logger="applytry.db.database")
    target.execute_sql("SELECT 1")
    _kill_the_others(other)

    with target.atomic():
        target.execute_sql("UPDATE item SET v = v + 1 WHERE id = 1")

    assert target.execute_sql("SELECT v FROM item").fetchone() == (1,)
    assert len(_lost_lines(caplog)) == 1


def test_a_whole_transaction_is_run_once_more_when_its_session_dies_midway(pg, caplog):
    target, other = pg
    caplog.set_level(logging.WARNING, logger="applytry.db.database")
    runs = []

    def transaction():
        runs.append(1)
        with target.atomic():
            target.execute_sql("UPDATE item SET v = v + 1 WHERE id = 1")
            if len(runs) == 1:
                _kill_the_others(other)
            return target.execute_sql("SELECT v FROM item").fetchone()[0]

    assert again_if_lost(transaction, target) == 1
    assert len(runs) == 2
    assert len(_lost_lines(caplog)) == 1


def test_a_server_that_stays_down_fails_after_one_more_try(closed_port, caplog):
    caplog.set_level(logging.WARNING, logger="applytry.db.database")
    target = open_database(f"postgresql://postgres@127.0.0.1:{closed_port}/applytry")

    with pytest.raises(peewee.OperationalError) as raised:
        target.execute_sql("SELECT 1")

    assert classify(raised.value) == UNREACHABLE
    assert len(_lost_lines(caplog)) == 1


def test_a_busy_row_is_not_tried_again(pg, caplog):
    target, other = pg
    caplog.set_level(logging.WARNING, logger="applytry.db.database")
    runs = []

    def update():
        runs.append(1)
        return target.execute_sql("UPDATE item SET v = 1 WHERE id = 1")

    with other.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SELECT * FROM item FOR UPDATE")
        with pytest.raises(peewee.OperationalError) as raised:
            again_if_lost(update, target)
        cursor.execute("ROLLBACK")

    assert classify(raised.value) == CONTENTION
    assert runs == [1]
    assert _lost_lines(caplog) == []


def test_what_the_second_run_meets_is_its_own_failure_not_a_lost_connection(pg, caplog):
    """The run after a lost connection meets an error of its own (here a value that is no
    integer, as the one-round-trip reservation's refusals are): it is that error, not one
    more lost connection, so it is neither run again on a connection closed for nothing nor
    logged and counted as a loss."""
    target, other = pg
    caplog.set_level(logging.WARNING, logger="applytry.db.database")
    target.execute_sql("SELECT 1")
    runs = []

    def work() -> None:
        runs.append(1)
        if len(runs) == 1:
            with target.atomic():
                _kill_the_others(other)  # this run's session dies
                target.execute_sql("UPDATE item SET v = v + 1 WHERE id = 1")
        target.execute_sql("SELECT 'no integer'::integer")

    with pytest.raises(peewee.DataError) as raised:
        again_if_lost(work, target)

    assert classify(raised.value) == BROKEN
    assert len(runs) == 2
    assert len(_lost_lines(caplog)) == 1


def test_a_statement_thread_drops_its_own_failed_connection_and_only_a_failed_one(pg):
    """A request's statements run in a thread (applytry.db.threads); a database failure there
    must drop that thread's connection, which the error handler on the event loop cannot
    reach, so the thread's next request does not meet it first. A busy row is no failure of
    the connection: it is kept."""
    import asyncio

    from applytry.db import database as bound
    from applytry.db.threads import Statements

    target, other = pg
    previous = bound.database.obj
    bound.database.initialize(target)
    statements = Statements(size=1)  # one thread: every call meets the same connection

    def backend() -> int:
        return target.execute_sql("SELECT pg_backend_pid()").fetchone()[0]

    def fails(sql: str) -> None:
        with target.atomic():
            target.execute_sql(sql)

    async def play() -> list[int]:
        pids = [await statements.run(backend)]
        with pytest.raises(peewee.ProgrammingError):
            await statements.run(fails, "SELECT * FROM no_such_table")
        pids.append(await statements.run(backend))
        with other.cursor() as cursor:  # holds the row until the fixture closes the session
            cursor.execute("BEGIN; UPDATE item SET v = v + 1 WHERE id = 1")
        with pytest.raises(peewee.OperationalError) as busy:
            await statements.run(fails, "UPDATE item SET v = v + 1 WHERE id = 1")
        assert classify(busy.value) == CONTENTION
        pids.append(await statements.run(backend))
        return pids

    try:
        failed_before, after_failure, after_busy = asyncio.run(play())
    finally:
        statements.close()
        bound.database.initialize(previous)
    assert failed_before != after_failure
    assert after_failure == after_busy
