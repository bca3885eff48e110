"""SQLite's write-ahead log, as docs/operations.md describes it for backups and disk: commits
go to the log, not the database file; the service copies the log back every second from a
thread of its own, and empties it past WAL_LIMIT_BYTES; writers empty it themselves short of
WAL_CEILING_BYTES; start-up and the checkpoint thread empty it while writers wait their turn.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import resource
import shutil
import signal
import sqlite3
import threading
import time
from pathlib import Path

import peewee
import pytest

from applytry.db.database import (
    WAL_CEILING_BYTES,
    WAL_LIMIT_BYTES,
    bind,
    checkpoint_forever,
    classify,
    database,
    truncate,
)
from conftest import BACKEND, wait_until

sqlite_only = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's write-ahead log")

MIB = 1024 * 1024


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "applytry.db"


@pytest.fixture
def bound(path):
    """The service's database bound as at start-up, with a table to write to."""
    target = bind(f"sqlite:///{path}", lock_timeout_s=1.5)
    target.execute_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, payload BLOB)")
    yield target
    target.close()


def _log(path: Path) -> int:
    try:
        return os.path.getsize(f"{path}-wal")
    except FileNotFoundError:
        return 0


def _rows_in_the_file_alone(path: Path) -> int:
    """What a backup that copies the database file without its log would hold."""
    copy = path.with_name("copy.db")
    shutil.copy(path, copy)
    with sqlite3.connect(copy) as reader:
        try:
            return reader.execute("SELECT count(*) FROM item").fetchone()[0]
        except sqlite3.DatabaseError:  # not even the table yet, or copied amid a checkpoint
            return 0


def _grow_the_log(path: Path, past: int) -> int:
    """Adds to the log until it is larger than ``past`` bytes, from a connection that never
    checkpoints (as the writers of another program would), in transactions of 64 KiB (about
    75 KiB of log each); returns the rows added."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA wal_autocheckpoint = 0")
    rows = 0
    while _log(path) <= past:
        other.execute("INSERT INTO item (payload) VALUES (randomblob(65536))")
        rows += 1
    other.close()
    return rows


class FileSizeLimit:
    """A volume that refuses to grow a file past ``limit`` bytes (EFBIG, as RLIMIT_FSIZE
    gives): SQLite's I/O error on any write beyond it."""

    def __init__(self, limit: int):
        self.limit = limit

    def __enter__(self):
        self.soft, self.hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        self.ignored = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.limit, self.hard))

    def __exit__(self, *exc):
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.soft, self.hard))
        signal.signal(signal.SIGXFSZ, self.ignored)


@sqlite_only
def test_commits_go_to_the_log_and_the_file_alone_lags_until_a_checkpoint(bound, path):
    for _ in range(6 * 16):  # 6 MiB, past SQLite's own checkpoint threshold of 1,000 pages
        bound.execute_sql("INSERT INTO item (payload) VALUES (randomblob(65536))")
    assert _rows_in_the_file_alone(path) == 0
    assert _log(path) > 6 * MIB

    truncate()

    assert _rows_in_the_file_alone(path) == 96
    assert _log(path) == 0


@sqlite_only
def test_the_configured_lock_timeout_is_how_long_a_writer_waits(bound):
    assert bound.execute_sql("PRAGMA busy_timeout").fetchone() == (1500,)
    truncate()  # which waits far less for readers meanwhile
    assert bound.execute_sql("PRAGMA busy_timeout").fetchone() == (1500,)


@sqlite_only
def test_commits_are_not_synced_one_by_one(bound):
    """synchronous=NORMAL: in WAL mode a commit survives a crash of the process, and only
    the last ones may be lost with power; each commit is not an fsync."""
    assert bound.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)
    assert bound.execute_sql("PRAGMA synchronous").fetchone() == (1,)


@sqlite_only
def test_a_log_emptied_by_a_checkpoint_is_cut_back_to_the_limit(bound, path):
    bound.execute_sql("INSERT INTO item (payload) VALUES (randomblob(?))", (8 * MIB,))
    assert _log(path) > 8 * MIB
    busy, _, _ = bound.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0
    bound.execute_sql("INSERT INTO item (payload) VALUES (1)")  # starts the log over
    assert _log(path) <= WAL_LIMIT_BYTES


@sqlite_only
def test_emptying_the_log_waits_its_turn_among_the_writers(bound, path):
    _grow_the_log(path, MIB)
    bound.execute_sql("INSERT INTO item (payload) VALUES (1)")
    turn = os.open(f"{path}.lock", os.O_RDWR)
    fcntl.flock(turn, fcntl.LOCK_EX)  # a writer's turn
    emptying = threading.Thread(target=truncate)
    try:
        emptying.start()
        wait_until(lambda: _waiting_in_the_queue(path), "the checkpoint waiting its turn")
        assert _log(path) > MIB
    finally:
        os.close(turn)
        emptying.join(10)
    assert _log(path) == 0


def _waiting_in_the_queue(path: Path) -> bool:
    inode = os.stat(f"{path}.lock").st_ino
    return any(
        "->" in line and f":{inode} " in line
        for line in Path("/proc/locks").read_text().split("\n")
    )


@sqlite_only
def test_a_reader_holding_a_snapshot_keeps_the_log_and_does_not_hold_up_the_writers(path):
    """The log cannot be emptied while a reader holds an old snapshot (a backup running):
    emptying gives up after a moment instead of the lock timeout, here ten minutes."""
    target = bind(f"sqlite:///{path}", lock_timeout_s=600)
    target.execute_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, payload BLOB)")
    target.execute_sql("INSERT INTO item (payload) VALUES (1)")
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM item").fetchone()
    try:
        target.execute_sql("INSERT INTO item (payload) VALUES (2)")
        truncate()
        assert _log(path) > 0
        assert target.execute_sql("PRAGMA busy_timeout").fetchone() == (600_000,)
    finally:
        reader.close()
        target.close()


@sqlite_only
def test_a_writer_empties_a_log_near_its_ceiling_before_adding_to_it(bound, path):
    near = WAL_CEILING_BYTES - WAL_LIMIT_BYTES // 2  # where writers step in
    _grow_the_log(path, near - 300 * 1024)
    below = _log(path)
    assert below <= near
    with bound.atomic("IMMEDIATE"):
        bound.execute_sql("INSERT INTO item (payload) VALUES (1)")
    assert _log(path) > below, "emptied short of where writers step in"

    _grow_the_log(path, near)
    assert _log(path) < near + WAL_LIMIT_BYTES // 8
    with bound.atomic("IMMEDIATE"):
        bound.execute_sql("INSERT INTO item (payload) VALUES (1)")
    assert _log(path) < 64 * 1024


@sqlite_only
def test_a_writer_that_cannot_empty_the_log_meets_its_own_failure(bound, path):
    """On a volume that refuses to grow the database file, emptying the log fails; the write
    goes ahead and fails for what it is, a database failure of a known class."""
    _grow_the_log(path, WAL_CEILING_BYTES)
    with (
        FileSizeLimit(os.path.getsize(path) + MIB),
        pytest.raises(peewee.PeeweeException) as raised,
        bound.atomic("IMMEDIATE"),
    ):
        bound.execute_sql("INSERT INTO item (payload) VALUES (randomblob(65536))")
    assert classify(raised.value) == "io"


# --- the checkpoint thread ------------------------------------------------------------------


def _run_checkpoints(interval_s: float, until, bound_s: float = 10, on_failure=None) -> None:
    """Runs checkpoint_forever until ``until()`` holds, then stops it as the service does."""

    async def main():
        task = asyncio.create_task(checkpoint_forever(interval_s, on_failure))
        deadline = time.monotonic() + bound_s
        try:
            while not await asyncio.to_thread(until):
                assert not task.done(), "the checkpoint loop ended by itself"
                assert time.monotonic() < deadline, f"not within {bound_s} s"
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


@sqlite_only
def test_the_checkpoint_thread_copies_the_log_back_within_seconds(bound, path):
    for n in range(20):
        bound.execute_sql("INSERT INTO item (payload) VALUES (?)", (n,))
    assert _rows_in_the_file_alone(path) == 0
    _run_checkpoints(0.2, lambda: _rows_in_the_file_alone(path) == 20)


@sqlite_only
def test_the_checkpoint_thread_empties_a_log_past_the_limit(bound, path):
    rows = _grow_the_log(path, WAL_LIMIT_BYTES + MIB)
    _run_checkpoints(0.2, lambda: _log(path) == 0)
    assert _rows_in_the_file_alone(path) == rows


@sqlite_only
def test_the_checkpoint_thread_reports_each_failure_and_carries_on(bound, path):
    """A volume that refuses to grow the database file fails the checkpoint; each failure is
    handed on, and once the volume takes writes again the log is copied back."""
    rows = _grow_the_log(path, 2 * MIB)
    failures: list[BaseException] = []
    with FileSizeLimit(MIB):
        _run_checkpoints(0.05, lambda: len(failures) >= 2, on_failure=failures.append)
    assert {classify(failure) for failure in failures} == {"io"}
    _run_checkpoints(0.05, lambda: _rows_in_the_file_alone(path) == rows)


@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL keeps no log of ours")
def test_on_postgresql_there_is_no_checkpoint_thread(db):
    failures: list[BaseException] = []

    async def main():
        await asyncio.wait_for(checkpoint_forever(0.01, failures.append), 10)

    asyncio.run(main())
    assert failures == []
    assert database.execute_sql("SELECT 1").fetchone() == (1,)
