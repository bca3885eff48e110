"""PostgreSQL connections found dead are replaced, once (docs/operations.md, "Database
faults"): a session killed by an operator costs no error and one warning line; a server that
stays down fails after one more try; a busy row is not tried again."""

from __future__ import annotations

import logging

import peewee
import pytest

from applytry.db.database import CONTENTION, UNREACHABLE, again_if_lost, classify, open_database
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
