"""SQLite's writers queue on ``<database>.lock`` (docs/operations.md: "Writers queue on
applytry.db.lock; leave that file alone"): a transaction that writes, or a write outside
any transaction, waits its turn there and lets go when it ends, however it ends; reads never
wait; and the queue costs no file descriptor per write."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
import threading
from pathlib import Path

import peewee
import pytest

from applytry.db.database import open_database
from conftest import BACKEND, wait_until

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's writers' queue")


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "applytry.db"


@pytest.fixture
def target(path):
    database = open_database(f"sqlite:///{path}", lock_timeout_s=0.05)
    database.execute_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, payload BLOB)")
    yield database
    database.close()


def _rows(path: Path) -> int:
    """What another reader sees committed."""
    with sqlite3.connect(path) as reader:
        return reader.execute("SELECT count(*) FROM item").fetchone()[0]


def _queue_is_free(path: Path) -> bool:
    """Whether another writer (another process, another thread) could take the queue now."""
    fd = os.open(f"{path}.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # and with it the lock, if taken
    return True


def _waiting_in_the_queue(path: Path) -> int:
    """How many writers wait for the queue (the kernel's list of blocked flocks)."""
    inode = os.stat(f"{path}.lock").st_ino
    lines = Path("/proc/locks").read_text().splitlines()
    return sum("->" in line and f":{inode} " in line for line in lines)


def test_a_writing_transaction_holds_the_queue_until_it_commits(target, path):
    target.execute_sql("INSERT INTO item (payload) VALUES (1)")  # a write on its own first
    with target.atomic():  # a read, which takes no turn in the queue
        target.execute_sql("SELECT count(*) FROM item").fetchone()
    assert _queue_is_free(path)

    with target.atomic("IMMEDIATE"):
        target.execute_sql("INSERT INTO item (payload) VALUES (2)")
        assert not _queue_is_free(path)
    assert _queue_is_free(path)
    assert _rows(path) == 2


def test_a_writing_transaction_that_rolls_back_lets_the_queue_go(target, path):
    with pytest.raises(ZeroDivisionError), target.atomic("IMMEDIATE"):
        target.execute_sql("INSERT INTO item (payload) VALUES (1)")
        assert not _queue_is_free(path)
        _ = 1 / 0
    assert _queue_is_free(path)
    assert _rows(path) == 0


def test_a_transaction_that_cannot_begin_lets_the_queue_go(target, path):
    """Another program (the sqlite3 shell) holds SQLite's own lock past the lock timeout."""
    target.execute_sql("INSERT INTO item (payload) VALUES (1)")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(peewee.OperationalError), target.atomic("IMMEDIATE"):
            pass
        assert _queue_is_free(path)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with target.atomic("IMMEDIATE"):
        target.execute_sql("INSERT INTO item (payload) VALUES (2)")
    assert _rows(path) == 2


@pytest.mark.parametrize("how", ["a transaction", "a write on its own"])
def test_a_writer_waits_its_turn_and_a_reader_does_not(target, path, how):
    target.execute_sql("INSERT INTO item (payload) VALUES (0)")  # the queue's file exists now
    turn = os.open(f"{path}.lock", os.O_RDWR)
    fcntl.flock(turn, fcntl.LOCK_EX)  # another writer's turn

    def write() -> None:
        if how == "a transaction":
            with target.atomic("IMMEDIATE"):
                target.execute_sql("INSERT INTO item (payload) VALUES (1)")
        else:
            target.execute_sql("INSERT INTO item (payload) VALUES (1)")
        target.close()

    read: list[int] = []

    def reader() -> None:
        read.append(target.execute_sql("SELECT count(*) FROM item").fetchone()[0])
        with target.atomic():
            read.append(target.execute_sql("SELECT count(*) FROM item").fetchone()[0])
        target.close()

    writer = threading.Thread(target=write)
    try:
        writer.start()
        wait_until(lambda: _waiting_in_the_queue(path) == 1, "the writer waiting its turn")
        reading = threading.Thread(target=reader)
        reading.start()
        reading.join(10)
        assert read == [1, 1], "a reader waited for the queue"
        assert _rows(path) == 1
    finally:
        os.close(turn)
        writer.join(10)
    assert not writer.is_alive()
    assert _rows(path) == 2


def test_the_queue_file_is_beside_the_database_and_private(target, path):
    target.execute_sql("INSERT INTO item (payload) VALUES (1)")
    mode = os.stat(f"{path}.lock").st_mode
    assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o600


def test_writes_cost_no_file_descriptor_each(target):
    target.execute_sql("INSERT INTO item (payload) VALUES (0)")
    before = len(os.listdir("/proc/self/fd"))
    for n in range(100):
        target.execute_sql("INSERT INTO item (payload) VALUES (?)", (n,))
        with target.atomic("IMMEDIATE"):
            target.execute_sql("UPDATE item SET payload = ? WHERE id = 1", (n,))
    assert len(os.listdir("/proc/self/fd")) - before < 5


def test_an_in_memory_database_leaves_no_queue_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    memory = open_database("sqlite:///:memory:")
    memory.execute_sql("CREATE TABLE item (payload BLOB)")
    with memory.atomic("IMMEDIATE"):
        memory.execute_sql("INSERT INTO item VALUES (1)")
    memory.execute_sql("INSERT INTO item VALUES (2)")
    assert memory.execute_sql("SELECT count(*) FROM item").fetchone() == (2,)
    memory.close()
    assert os.listdir(tmp_path) == []


def test_a_write_transaction_takes_its_turn_and_the_write_lock_before_it_reads(path):
    """Two processes must never both read "no code yet" and both issue one: the service's
    write transactions queue, and hold SQLite's write lock from their first statement on."""
    from applytry.db.database import bind, write_transaction

    target = bind(f"sqlite:///{path}", lock_timeout_s=0.05)
    target.execute_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, payload BLOB)")
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        with write_transaction():
            target.execute_sql("SELECT count(*) FROM item").fetchone()  # a read, nothing more
            assert not _queue_is_free(path)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
        target.close()
