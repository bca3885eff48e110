"""Each database failure an operator can meet, made for real, and the class it is counted and
logged under (``applytry_database_errors_total{kind=...}``, the ``db_error`` of the faults
line): the class decides the answer (005 for contention, 003 or a 500 otherwise) and what to
alert on (docs/operations.md, "Database faults").

SQLite: a lock held by another connection, a table locked by a statement still reading it,
a folder that is gone, a full volume (its blocks, its inodes), a database that only reads, a
write the operating system refuses. PostgreSQL: a row lock past lock_timeout, a deadlock, a
serialization failure, a read-only transaction, a killed session, a server that refuses or
never answers, a name that does not resolve.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import threading
from pathlib import Path

import peewee
import pytest

from applytry.db.database import (
    BROKEN,
    CONTENTION,
    FULL,
    IO,
    READ_ONLY,
    UNREACHABLE,
    classify,
    open_database,
)
from conftest import BACKEND, postgres_session, wait_until

sqlite_only = pytest.mark.skipif(BACKEND != "sqlite", reason="the embedded database")
postgres_only = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL sessions")


def failure(action) -> peewee.PeeweeException:
    """The database failure ``action`` meets; fails the test if it meets none."""
    with pytest.raises(peewee.PeeweeException) as raised:
        action()
    return raised.value


# --- SQLite ---------------------------------------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path):
    target = open_database(f"sqlite:///{tmp_path / 'applytry.db'}", lock_timeout_s=0.05)
    target.execute_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, payload BLOB)")
    target.execute_sql("INSERT INTO item (payload) VALUES (zeroblob(10)), (zeroblob(10))")
    yield target
    target.close()


@sqlite_only
def test_sqlite_a_lock_held_by_another_writer_is_contention(sqlite_db):
    other = sqlite3.connect(sqlite_db.database, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        exc = failure(lambda: sqlite_db.execute_sql("INSERT INTO item (payload) VALUES (1)"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert classify(exc) == CONTENTION


@sqlite_only
def test_sqlite_a_table_locked_by_a_statement_still_reading_it_is_contention(sqlite_db):
    reading = sqlite_db.execute_sql("SELECT id FROM item")
    reading.fetchone()
    exc = failure(lambda: sqlite_db.execute_sql("DROP TABLE item"))
    assert "table is locked" in str(exc)
    assert classify(exc) == CONTENTION


@sqlite_only
def test_sqlite_a_database_whose_folder_is_gone_is_unreachable(tmp_path):
    target = open_database(f"sqlite:///{tmp_path / 'gone' / 'applytry.db'}")
    assert classify(failure(lambda: target.execute_sql("SELECT 1"))) == UNREACHABLE


@sqlite_only
def test_sqlite_a_database_that_only_answers_reads_is_read_only(sqlite_db):
    sqlite_db.execute_sql("PRAGMA query_only = 1")
    exc = failure(lambda: sqlite_db.execute_sql("INSERT INTO item (payload) VALUES (1)"))
    assert classify(exc) == READ_ONLY


@sqlite_only
def test_sqlite_a_write_the_operating_system_refuses_is_io(sqlite_db):
    """A file-size limit (RLIMIT_FSIZE) makes the write fail with EFBIG: SQLite's I/O error,
    as a volume that fails a write gives."""
    size = os.path.getsize(sqlite_db.database + "-wal")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    ignored = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 4096, hard))
    try:
        exc = failure(
            lambda: sqlite_db.execute_sql("INSERT INTO item (payload) VALUES (randomblob(65536))")
        )
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, ignored)
    assert classify(exc) == IO


@sqlite_only
def test_sqlite_a_statement_that_is_wrong_is_broken(sqlite_db):
    exc = failure(lambda: sqlite_db.execute_sql("INSERT INTO missing VALUES (1)"))
    assert classify(exc) == BROKEN


@pytest.fixture
def volume(tmp_path):
    """A small tmpfs of the test's own (it needs root, as CI has)."""

    def mount(**options) -> Path:
        point = tmp_path / f"volume{len(mounted)}"
        point.mkdir()
        listed = ",".join(f"{name}={value}" for name, value in options.items())
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", listed, "tmpfs", str(point)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    mounted: list[Path] = []
    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _fill(folder: Path) -> None:
    """Takes every free byte of the volume ``folder`` is on."""
    with open(folder / "filler", "wb", buffering=0) as out, contextlib.suppress(OSError):
        for _ in range(64):  # the volumes here are 1 MiB: 4 MiB is more than enough
            out.write(b"\0" * 65536)


@sqlite_only
def test_sqlite_a_full_volume_is_full_even_when_the_commit_is_what_fails(volume):
    """SQLite writes a transaction to its log at COMMIT; on a full volume the COMMIT fails and
    has rolled back already, so the ROLLBACK that follows fails in turn: the class is the
    first failure's."""
    folder = volume(size="1m")
    target = open_database(f"sqlite:///{folder / 'applytry.db'}")
    target.execute_sql("CREATE TABLE item (payload BLOB)")
    target.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    _fill(folder)

    def write():
        with target.atomic("IMMEDIATE"):
            target.execute_sql("INSERT INTO item VALUES (randomblob(8192))")

    exc = failure(write)
    target.close()
    assert classify(exc) == FULL


@sqlite_only
def test_sqlite_a_volume_out_of_inodes_for_the_writers_queue_is_full(volume):
    folder = volume(size="1m", nr_inodes=8)
    target = open_database(f"sqlite:///{folder / 'applytry.db'}")
    target.execute_sql("CREATE TABLE item (payload BLOB)")  # not a write that queues
    with contextlib.suppress(OSError):
        for n in range(16):
            (folder / f"file{n}").touch()
    assert not (folder / "applytry.db.lock").exists()

    exc = failure(lambda: target.execute_sql("INSERT INTO item VALUES (1)"))
    target.close()
    assert classify(exc) == FULL


@sqlite_only
def test_sqlite_a_read_only_volume_is_read_only_from_the_writers_queue_on(volume, tmp_path):
    folder = volume(size="1m")
    made = sqlite3.connect(folder / "applytry.db")
    made.execute("CREATE TABLE item (payload BLOB)")
    made.close()
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    target = open_database(f"sqlite:///{folder / 'applytry.db'}")
    exc = failure(lambda: target.execute_sql("INSERT INTO item VALUES (1)"))
    target.close()
    assert classify(exc) == READ_ONLY


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture
def pg(database_url):
    """The service's kind of connection to this test's database, and another session."""
    target = open_database(database_url, lock_timeout_s=30)
    other = postgres_session(database_url)
    with other.cursor() as cursor:
        cursor.execute("CREATE TABLE item (id integer PRIMARY KEY, v integer)")
        cursor.execute("INSERT INTO item VALUES (1, 0), (2, 0)")
    yield target, other
    target.close()
    other.close()


@postgres_only
def test_postgresql_a_row_held_past_lock_timeout_is_contention(database_url, pg):
    _, other = pg
    target = open_database(database_url, lock_timeout_s=0.05)
    with other.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SELECT * FROM item WHERE id = 1 FOR UPDATE")
        exc = failure(lambda: target.execute_sql("UPDATE item SET v = 1 WHERE id = 1"))
        cursor.execute("ROLLBACK")
    target.close()
    assert classify(exc) == CONTENTION


@postgres_only
def test_postgresql_a_deadlock_is_contention(database_url, pg):
    target, other = pg
    with other.cursor() as cursor:
        cursor.execute("SET deadlock_timeout = '1min'")  # ours, not the other, is the victim
        cursor.execute("BEGIN")
        cursor.execute("UPDATE item SET v = 2 WHERE id = 2")
    target.execute_sql("SET deadlock_timeout = '20ms'")
    blocked = threading.Thread(target=_update_row_1_then_roll_back, args=(other,))
    try:
        with pytest.raises(peewee.PeeweeException) as raised, target.atomic():
            target.execute_sql("UPDATE item SET v = 1 WHERE id = 1")
            blocked.start()
            wait_until(lambda: _waiting_for_a_lock(database_url), "the other session waiting")
            target.execute_sql("UPDATE item SET v = 1 WHERE id = 2")
    finally:
        blocked.join(30)
    assert "deadlock" in str(raised.value)
    assert classify(raised.value) == CONTENTION


def _update_row_1_then_roll_back(other) -> None:
    with other.cursor() as cursor:
        cursor.execute("UPDATE item SET v = 2 WHERE id = 1")
        cursor.execute("ROLLBACK")


def _waiting_for_a_lock(database_url: str) -> bool:
    """Whether a session of this database waits for a lock (asked from a third one)."""
    checker = postgres_session(database_url)
    try:
        with checker.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0] > 0
    finally:
        checker.close()


@postgres_only
def test_postgresql_a_serialization_failure_is_contention(pg):
    target, other = pg
    target.execute_sql("SET default_transaction_isolation = 'repeatable read'")
    with pytest.raises(peewee.PeeweeException) as raised, target.atomic():
        target.execute_sql("SELECT v FROM item WHERE id = 1").fetchone()
        with other.cursor() as cursor:
            cursor.execute("UPDATE item SET v = 5 WHERE id = 1")
        target.execute_sql("UPDATE item SET v = 6 WHERE id = 1")
    assert classify(raised.value) == CONTENTION


@postgres_only
def test_postgresql_a_read_only_transaction_is_read_only(pg):
    target, _ = pg
    target.execute_sql("SET default_transaction_read_only = on")
    exc = failure(lambda: target.execute_sql("UPDATE item SET v = 1 WHERE id = 1"))
    assert classify(exc) == READ_ONLY


@postgres_only
def test_postgresql_a_session_killed_inside_a_transaction_is_unreachable(pg):
    target, other = pg
    with pytest.raises(peewee.PeeweeException) as raised, target.atomic():
        target.execute_sql("UPDATE item SET v = 1 WHERE id = 1")
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        target.execute_sql("UPDATE item SET v = 1 WHERE id = 2")
    assert classify(raised.value) == UNREACHABLE


@postgres_only
def test_postgresql_a_statement_that_is_wrong_is_broken(pg):
    target, _ = pg
    exc = failure(lambda: target.execute_sql("INSERT INTO item VALUES (1, 1)"))
    assert classify(exc) == BROKEN


@postgres_only
def test_postgresql_a_server_that_refuses_connections_is_unreachable(closed_port):
    target = open_database(f"postgresql://postgres@127.0.0.1:{closed_port}/applytry")
    assert classify(failure(lambda: target.execute_sql("SELECT 1"))) == UNREACHABLE


@postgres_only
def test_postgresql_a_host_name_that_does_not_resolve_is_unreachable():
    target = open_database("postgresql://postgres@applytry-db.invalid/applytry")
    exc = failure(lambda: target.execute_sql("SELECT 1"))
    assert "could not translate host name" in str(exc)
    assert classify(exc) == UNREACHABLE


@postgres_only
def test_postgresql_a_server_that_never_answers_is_unreachable_after_connect_timeout():
    """A port that takes connections and never says a word: libpq gives up after the URL's
    connect_timeout ("timeout expired")."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        target = open_database(f"postgresql://postgres@127.0.0.1:{port}/x?connect_timeout=1")
        exc = failure(lambda: target.execute_sql("SELECT 1"))
    assert "timeout expired" in str(exc)
    assert classify(exc) == UNREACHABLE


# --- after a failure ------------------------------------------------------------------------


def test_forgetting_the_connection_never_fails_even_with_no_database_bound(db):
    """Every failure drops this thread's connection (applytry.faults); that must not fail in
    turn, whether a transaction is still open or nothing is bound yet (a failure at
    start-up)."""
    from applytry.db.database import database, forget_connection

    with database.atomic():
        forget_connection()  # peewee refuses to close inside a transaction
    bound = database.obj
    database.initialize(None)
    try:
        forget_connection()
    finally:
        database.initialize(bound)
    assert database.execute_sql("SELECT 1").fetchone() == (1,)
