"""The one database every model uses, bound at start-up from ``APPLYTRY_DATABASE_URL``.

Models are declared against a proxy (peewee's deferred database) so that the app factory, the
CLI and the tests each bind the store they were configured with, and nothing connects at import.
"""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee

database = peewee.DatabaseProxy()


def open_database(url: str, lock_timeout_s: float = 5.0) -> peewee.Database:
    """Builds the database an URL names, without connecting."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        return peewee.SqliteDatabase(
            path,
            pragmas={
                "journal_mode": "wal",
                # Writers queue for the lock instead of failing at once; past this the
                # request fails with a 500 rather than hanging.
                "busy_timeout": int(lock_timeout_s * 1000),
                "foreign_keys": 1,
                "synchronous": "normal",
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
