"""The one database every model uses, bound at start-up from ``APPLYTRY_DATABASE_URL``.

Models are declared against a proxy (peewee's deferred database) so that the app factory, the
CLI and the tests each bind the store they were configured with, and nothing connects at import.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import logging
import os
import threading
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee

log = logging.getLogger(__name__)

database = peewee.DatabaseProxy()

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class QueuedSqliteDatabase(peewee.SqliteDatabase):
    """SQLite whose writers queue on an advisory lock file (``<database>.lock``) before they
    take SQLite's write lock.

    A writer that finds SQLite's lock taken waits in SQLite's busy handler, which sleeps 1, 2,
    5, 10 ms and more between tries; the service runs its statements on the event loop, so
    every request of that worker waits too, and at a few thousand writes a second that is
    most of the tail latency. A blocking ``flock`` wakes the next writer as soon as the lock
    is released. SQLite's own lock still decides; a writer that does not queue here (the
    ``sqlite3`` shell) is waited for by the busy handler as before. Each thread has its own
    file description, so threads queue too."""

    def __init__(self, path: str, **kwargs):
        super().__init__(path, **kwargs)
        self._lock_path = None if path == ":memory:" else f"{path}.lock"
        self._queue = threading.local()

    def _enter(self) -> None:
        queue = self._queue
        if getattr(queue, "pid", None) != os.getpid():
            queue.pid, queue.depth, queue.held = os.getpid(), 0, False
            queue.fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if queue.depth == 0:
            fcntl.flock(queue.fd, fcntl.LOCK_EX)
        queue.depth += 1

    def _leave(self) -> None:
        queue = self._queue
        queue.depth -= 1
        if queue.depth == 0:
            fcntl.flock(queue.fd, fcntl.LOCK_UN)

    def begin(self, lock_type=None):
        if lock_type != "IMMEDIATE" or self._lock_path is None:
            super().begin(lock_type)
            return
        self._enter()
        try:
            super().begin(lock_type)
        except BaseException:
            self._leave()
            raise
        self._queue.held = True  # until the transaction ends

    def commit(self):
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self._release()

    def _release(self) -> None:
        if getattr(self._queue, "held", False):
            self._queue.held = False
            self._leave()

    def execute_sql(self, sql, params=None):
        if self._lock_path is None or not sql.startswith(_WRITES) or self.in_transaction():
            return super().execute_sql(sql, params)
        # A write outside a transaction is its own transaction: it queues like one.
        self._enter()
        try:
            return super().execute_sql(sql, params)
        finally:
            self._leave()


def open_database(url: str, lock_timeout_s: float = 5.0) -> peewee.Database:
    """Builds the database an URL names, without connecting."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        return QueuedSqliteDatabase(
            path,
            pragmas={
                "journal_mode": "wal",
                # Writers queue for the lock instead of failing at once; past this the
                # request fails with a 500 rather than hanging.
                "busy_timeout": int(lock_timeout_s * 1000),
                "foreign_keys": 1,
                "synchronous": "normal",
                # No checkpoint inside a commit: it writes the WAL back and syncs both files,
                # milliseconds that a request on the event loop would wait for. The service
                # checkpoints from a thread instead (checkpoint_forever).
                "wal_autocheckpoint": 0,
            },
            # Transactions that write start with BEGIN IMMEDIATE: the write lock is taken
            # before the first read, so two processes never both read "no code yet".
            timeout=lock_timeout_s,
        )
    if parts.scheme in ("postgresql", "postgres"):
        options = dict(parse_qsl(parts.query))
        return peewee.PostgresqlDatabase(
            unquote(parts.path.lstrip("/")),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname,
            port=parts.port,
            # Bounds how long a statement waits for a row lock held by another instance.
            options=f"-c lock_timeout={int(lock_timeout_s * 1000)}",
            **options,
        )
    raise ValueError(f"unsupported database URL scheme {parts.scheme!r}")


def bind(url: str, lock_timeout_s: float = 5.0) -> peewee.Database:
    """Points every model at the database ``url`` names and returns it."""
    target = open_database(url, lock_timeout_s)
    database.initialize(target)
    return target


def is_sqlite() -> bool:
    return isinstance(database.obj, peewee.SqliteDatabase)


def write_transaction():
    """A transaction that takes the write lock up front (SQLite) or row locks as it goes."""
    if is_sqlite():
        return database.atomic("IMMEDIATE")
    return database.atomic()


async def checkpoint_forever(interval_s: float) -> None:
    """Copies the SQLite write-ahead log back into the database every ``interval_s``, in a
    thread of its own with its own connection, so requests never wait for it. A passive
    checkpoint waits for no one: what readers still use is copied next time."""
    if not is_sqlite():
        return
    with concurrent.futures.ThreadPoolExecutor(1, "checkpoint") as thread:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    await loop.run_in_executor(thread, _checkpoint)
                except peewee.PeeweeException as exc:
                    log.warning("checkpoint failed: %s", exc)
        finally:
            thread.submit(database.close)


def _checkpoint() -> None:
    database.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")


def forget_connection() -> None:
    """Drops this thread's connection after a database failure, so the next request opens a
    fresh one: a server restart or a killed session must not poison every later request."""
    with contextlib.suppress(peewee.PeeweeException, Exception):
        database.close()


# SQLSTATEs of a transaction that lost a race for a lock: lock_timeout, deadlock, serialization.
_CONTENTION_STATES = {"55P03", "40P01", "40001"}


def is_contention(exc: peewee.PeeweeException) -> bool:
    """Whether a failure means "busy, try again" rather than "broken": a lock wait that timed
    out (SQLite's busy timeout, PostgreSQL's lock_timeout), a deadlock or a serialization
    failure. peewee keeps the driver's exception as its first argument."""
    original = exc.args[0] if exc.args else None
    if getattr(original, "pgcode", None) in _CONTENTION_STATES:
        return True
    return "database is locked" in str(exc) or "database table is locked" in str(exc)
