"""Where a worker runs its statements: on the event loop for SQLite, in a few threads for
PostgreSQL.

A SQLite statement costs microseconds and its writers queue on one lock anyway, so it runs on
the event loop, where the request is; a hop to a thread would cost more than the statement.
A PostgreSQL statement waits a network round trip, and run on the loop it would stop every
other request of the worker meanwhile: one request's statement in flight at a time, whatever
the load. So on PostgreSQL the work between two awaits of a request (one transaction, or a
few statements) runs in one of ``size`` threads, and the loop serves other requests while it
waits. peewee keeps one connection a thread, so ``size`` also bounds the connections a worker
opens for requests; the loop's own thread keeps one more, for the rare statements that run
there (settings reloaded every few seconds, refusal counts written once a second).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable
from typing import TypeVar

import peewee

from .database import CONTENTION, classify, database, forget_connection

T = TypeVar("T")

DEFAULT_SIZE = 8


class Statements:
    def __init__(self, size: int = DEFAULT_SIZE):
        self.size = size
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None

    async def run(self, work: Callable[..., T], *args) -> T:
        """``work(*args)``, on the loop (SQLite) or in one of the threads (PostgreSQL); what
        it raises is raised here. The request's context (its id, for the log) goes along."""
        if not isinstance(database.obj, peewee.PostgresqlDatabase):
            return work(*args)
        call = functools.partial(_in_thread, contextvars.copy_context(), work, args)
        return await asyncio.get_running_loop().run_in_executor(self._pool(), call)

    def background(self, work: Callable[[], object]) -> bool:
        """Starts ``work`` in one of the threads and returns True (PostgreSQL), so that the
        caller, maybe the event loop, never waits for the network; False where statements
        run on the loop (SQLite), for the caller to run it itself."""
        if not isinstance(database.obj, peewee.PostgresqlDatabase):
            return False
        self._pool().submit(_in_thread, contextvars.copy_context(), work, ())
        return True

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._threads is None:
            self._threads = concurrent.futures.ThreadPoolExecutor(self.size, "statements")
        return self._threads

    def close(self, timeout_s: float = 5.0) -> None:
        """Closes each thread's connection, then the threads. Every thread takes one closing
        task and holds it until all have one, so no thread's connection is left open."""
        threads, self._threads = self._threads, None
        if threads is None:
            return
        everyone = threading.Barrier(self.size)

        def close_mine() -> None:
            forget_connection()
            # A thread still busy with a request breaks the wait: its connection closes with
            # the process.
            with contextlib.suppress(threading.BrokenBarrierError):
                everyone.wait(timeout_s)

        for _ in range(self.size):
            threads.submit(close_mine)
        threads.shutdown(wait=True)


def _in_thread(context: contextvars.Context, work: Callable[..., T], args: tuple) -> T:
    try:
        return context.run(work, *args)
    except peewee.PeeweeException as exc:
        # A failed database is dropped where it failed, as the service promises
        # (applytry.faults): the handler that answers the request runs on the event loop,
        # where forgetting would close the loop's connection, not this thread's.
        if classify(exc) != CONTENTION:
            forget_connection()
        raise
