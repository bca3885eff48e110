"""The one database every model uses, bound at start-up from ``APPLYTRY_DATABASE_URL``.

Models are declared against a proxy (peewee's deferred database) so that the app factory, the
CLI and the tests each bind the store they were configured with, and nothing connects at import.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import fcntl
import itertools
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
            try:
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                # A read-only or full volume: a database failure like SQLite's own, classified
                # and answered as one; the next write tries again.
                raise peewee.OperationalError(f"cannot open {self._lock_path}: {exc}") from exc
            queue.pid, queue.depth, queue.held, queue.fd = os.getpid(), 0, False, fd
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
            self._hold_the_log_under_its_ceiling()
            super().begin(lock_type)
        except BaseException:
            self._leave()
            raise
        self._queue.held = True  # until the transaction ends

    def _hold_the_log_under_its_ceiling(self) -> None:
        """The checkpoint thread keeps the write-ahead log near WAL_LIMIT_BYTES, but it can
        fall behind: starved of CPU, or on a slow disk, while the writers are not. The writer
        that finds the log near WAL_CEILING_BYTES empties it before adding to it, first in
        the queue, so the ceiling holds whatever the scheduling. It costs that one write the
        copy; it happens only when the thread has fallen behind."""
        if _size(f"{self.database}-wal") <= WAL_CEILING_BYTES - WAL_LIMIT_BYTES // 2:
            return
        # A log that cannot be emptied now (a long reader, a full disk) is the checkpoint
        # thread's to report; this write goes ahead and meets its own errors, if any.
        with contextlib.suppress(peewee.PeeweeException):
            _empty_log(self.execute_sql)

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


class ReconnectingPostgresqlDatabase(peewee.PostgresqlDatabase):
    """PostgreSQL that opens a new connection, once, when the one it holds turns out to be
    dead before anything was done on it: a server restarted, a session killed by an operator
    (``pg_terminate_backend``), a proxy that dropped an idle connection. Without it the first
    request after such an event answers 500.

    Only at a transaction's ``BEGIN`` and for a statement outside any transaction: inside one,
    what was done is lost with the connection and the caller must decide (003, 005 or a 500).
    A statement outside a transaction that the server ran just before the connection died
    would run twice; here those are counters and idempotent updates, where that is one count
    too many at worst."""

    def begin(self, *args, **kwargs):
        return again_if_lost(lambda: peewee.PostgresqlDatabase.begin(self, *args, **kwargs), self)

    def execute_sql(self, sql, params=None):
        if self.in_transaction():
            return super().execute_sql(sql, params)
        run = lambda: peewee.PostgresqlDatabase.execute_sql(self, sql, params)  # noqa: E731
        return again_if_lost(run, self)


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
                # A log emptied by a checkpoint is cut back to this size, not kept at its peak.
                "journal_size_limit": WAL_LIMIT_BYTES,
            },
            # Transactions that write start with BEGIN IMMEDIATE: the write lock is taken
            # before the first read, so two processes never both read "no code yet".
            timeout=lock_timeout_s,
        )
    if parts.scheme in ("postgresql", "postgres"):
        options = dict(parse_qsl(parts.query))
        return ReconnectingPostgresqlDatabase(
            unquote(parts.path.lstrip("/")),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname,
            port=parts.port,
            # Bounds how long a statement waits for a row lock held by another instance.
            options=f"-c lock_timeout={int(lock_timeout_s * 1000)}",
            # What pg_stat_activity shows an operator counting this service's sessions.
            **{"application_name": "applytry", **options},
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


# How large the write-ahead log may grow before a checkpoint waits for readers to move on and
# truncates it. A passive checkpoint never waits, so under steady load the readers always
# hold a snapshot it must keep and the log only grows: 35 MB beside a 2.4 MB database, and a
# full small volume that a restart did not cure, before this bound.
WAL_LIMIT_BYTES = 4 * 1024 * 1024
# What the log never passes by more than a transaction: writers themselves empty it short of
# this when the checkpoint thread falls behind (QueuedSqliteDatabase).
WAL_CEILING_BYTES = 4 * WAL_LIMIT_BYTES


async def checkpoint_forever(interval_s: float, on_failure=None) -> None:
    """Copies the SQLite write-ahead log back into the database every ``interval_s``, in a
    thread of its own with its own connection, so requests never wait for it. Ten times as
    often it looks at the log's size, and past :data:`WAL_LIMIT_BYTES` it empties it
    (:func:`truncate`): at a few thousand writes a second the log grows by megabytes in a
    second. ``on_failure(exc)`` hears of each failure; the thread's connection is dropped, so one
    that was opened read-only, or that met a full disk, is opened afresh next time."""
    if not is_sqlite():
        return
    log_path = f"{database.obj.database}-wal"
    with concurrent.futures.ThreadPoolExecutor(1, "checkpoint") as thread:
        loop = asyncio.get_running_loop()
        try:
            for tick in itertools.count(1):
                await asyncio.sleep(interval_s / 10)
                if tick % 10 and _size(log_path) <= WAL_LIMIT_BYTES:
                    continue
                try:
                    await loop.run_in_executor(thread, _checkpoint, log_path)
                except peewee.PeeweeException as exc:
                    if on_failure is not None:
                        on_failure(exc)
        finally:
            thread.submit(database.close)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _checkpoint(log_path: str) -> None:
    try:
        database.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")
        if _size(log_path) > WAL_LIMIT_BYTES:
            truncate()
    except peewee.PeeweeException:
        database.close()
        raise


def truncate() -> None:
    """Copies the whole log back and empties it, waiting briefly for readers to leave the old
    snapshot; writers queue behind it. Also run at start-up, so that a service stopped with a
    large log (a full volume) gets its space back first."""
    target = database.obj
    queued = isinstance(target, QueuedSqliteDatabase) and target._lock_path is not None
    if queued:
        target._enter()
    try:
        _empty_log(database.execute_sql)
    finally:
        if queued:
            target._leave()


# How long emptying the log waits for readers: writers queue behind it meanwhile, and a reader
# may hold its snapshot for minutes (a backup). The log is tried again soon anyway.
EMPTY_LOG_WAIT_MS = 50


def _empty_log(execute) -> bool:
    """``wal_checkpoint(TRUNCATE)`` through ``execute``; whether the log was emptied."""
    timeout = execute("PRAGMA busy_timeout").fetchone()[0]
    execute(f"PRAGMA busy_timeout = {EMPTY_LOG_WAIT_MS}")
    try:
        busy, _frames, _copied = execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        execute(f"PRAGMA busy_timeout = {timeout}")
    return not busy


def again_if_lost(run, target: peewee.Database = database):
    """Runs ``run``, and once more on a new connection of ``target`` if the first found its
    connection lost. For a whole transaction: a session killed or a server restarted in the
    middle of one rolls it back, so running it again decides the request as if nothing had
    happened. (Should the server have committed just before the connection died, the second
    run finds the first's work and answers accordingly: a claimed code is a 201.)"""
    try:
        return run()
    except peewee.PeeweeException as exc:
        if classify(exc) != UNREACHABLE:
            raise
        log.warning("database connection lost, once more on another: %s", str(exc).strip())
        with contextlib.suppress(Exception):
            target.close()
    # Outside the handler: what the second run raises is its own failure. Raised inside it,
    # the lost connection would be its context, and classify, which reads the chain, would
    # take a refusal or a busy row met on the new connection for one more lost connection.
    return run()


def forget_connection() -> None:
    """Drops this thread's connection after a database failure, so the next request opens a
    fresh one: a server restart or a killed session must not poison every later request."""
    with contextlib.suppress(peewee.PeeweeException, Exception):
        database.close()


# What a database failure means, for the reply, the log and applytry_database_errors_total:
# "contention" is busy, try again (005, retried); the others are broken until an operator or
# time fixes them (003 or a 500 problem, and /readyz not ready).
CONTENTION, FULL, READ_ONLY, UNREACHABLE, IO, BROKEN = (
    "contention",
    "full",
    "read-only",
    "unreachable",
    "io",  # the volume failed a read or write (SQLite's I/O errors; a full one among them)
    "broken",
)
# SQLSTATEs: lock_timeout, deadlock and serialization failure; disk full; read-only
# transaction; a session killed or the server shutting down. Class 08 is a lost connection.
_PG_KINDS = {
    "55P03": CONTENTION,
    "40P01": CONTENTION,
    "40001": CONTENTION,
    "53100": FULL,
    "25006": READ_ONLY,
    "57P01": UNREACHABLE,
    "57P02": UNREACHABLE,
    "57P03": UNREACHABLE,
}
# SQLite's primary result codes (sqlite3 exceptions name them since Python 3.11).
_SQLITE_KINDS = {
    "SQLITE_BUSY": CONTENTION,
    "SQLITE_LOCKED": CONTENTION,
    "SQLITE_FULL": FULL,
    "SQLITE_READONLY": READ_ONLY,
    "SQLITE_CANTOPEN": UNREACHABLE,
    "SQLITE_IOERR": IO,
}


# What the operating system says when the writers' queue file cannot be opened.
_ERRNO_KINDS = {
    errno.ENOSPC: FULL,
    errno.EDQUOT: FULL,
    errno.EROFS: READ_ONLY,
    errno.EACCES: READ_ONLY,
}


# What libpq says, without a SQLSTATE, when it cannot reach the server or lost it.
_LOST = ("connection", "could not translate host name", "timeout expired")


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception behind peewee's: peewee 4 raises its own class from inside
    the driver's ``except``, with the message as its argument and the driver's exception as
    the context, where its SQLSTATE or SQLite result code is."""
    for candidate in (exc.__cause__, exc.__context__, *exc.args[:1]):
        if isinstance(candidate, Exception):
            return candidate
    return exc


def classify(exc: BaseException) -> str:
    """What a database failure means, whichever path raised it (peewee's, a statement built
    once, the checkpoint thread, a readiness probe). The chain of exceptions is read too: when
    SQLite's COMMIT fails on a full disk it has already rolled back, so peewee's ROLLBACK that
    follows fails in turn, and the meaning is in the first failure, not the last."""
    seen: BaseException | None = exc
    for _ in range(8):  # a chain is a few links long; bounded all the same
        if seen is None:
            break
        kind = _kind(seen)
        if kind != BROKEN:
            return kind
        seen = seen.__cause__ or seen.__context__
    return BROKEN


def _kind(exc: BaseException) -> str:
    original = _driver_error(exc)
    pgcode = getattr(original, "pgcode", None)
    if pgcode:
        return _PG_KINDS.get(pgcode, UNREACHABLE if pgcode.startswith("08") else BROKEN)
    if isinstance(original, OSError) and original.errno in _ERRNO_KINDS:
        return _ERRNO_KINDS[original.errno]
    name = getattr(original, "sqlite_errorname", None)
    if name:  # SQLITE_BUSY_SNAPSHOT is SQLITE_BUSY: the primary code is the first two words
        return _SQLITE_KINDS.get("_".join(name.split("_")[:2]), BROKEN)
    text = str(exc)
    if "database is locked" in text or "database table is locked" in text:
        return CONTENTION
    if isinstance(original, peewee.InterfaceError) or any(map(text.lower().__contains__, _LOST)):
        return UNREACHABLE  # a closed, lost or refused connection: psycopg2 gives no SQLSTATE
    return BROKEN
