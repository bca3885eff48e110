"""Counts that only reports read, kept in memory and written once a second.

Refusals are counted by reason for ``applytry stats``; nothing decides on those counts. Writing
each one at once would make the cheapest answer of a flood (a 201 for a phone inside its resend
interval) take the database's write lock on every request. Instead each process adds them up
in memory and writes the sums in one transaction every ``interval_s`` and when it stops, so a
flood costs one write a second per process. A crash loses at most that second of counts.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import peewee

from applytry import faults, limits
from applytry.db.compiled import not_flushed
from applytry.db.database import write_transaction

log = logging.getLogger(__name__)


class Tally:
    def __init__(self, zone: ZoneInfo):
        self.zone = zone
        self._pending: collections.Counter[tuple[str, str, int, int]] = collections.Counter()
        # Requests count from the statement threads too (applytry.db.threads): an increment
        # is a read and a write, and the flush swaps the counter out between them.
        self._lock = threading.Lock()

    def count(self, budget: limits.Budget, key: str, now: float) -> None:
        start, end = budget.window(now, self.zone)
        with self._lock:
            self._pending[(budget.scope, key, start, end)] += 1

    def flush(self) -> None:
        """Writes what has been counted. On a database failure the counts are kept for the
        next flush."""
        with self._lock:
            pending, self._pending = self._pending, collections.Counter()
        if not pending:
            return
        try:
            with write_transaction():
                # Counts that only reports read: a database crash may lose the last second.
                not_flushed()
                # In one order, so two processes' flushes never deadlock on PostgreSQL.
                for (scope, key, start, end), times in sorted(pending.items()):
                    limits.add(scope, key, start, end, times)
        except peewee.PeeweeException as exc:
            faults.database_failed(exc, f"could not write {len(pending)} counts; kept for later")
            with self._lock:
                self._pending.update(pending)

    async def flush_forever(
        self, interval_s: float, run: Callable[..., Awaitable[object]] | None = None
    ) -> None:
        """Flushes every ``interval_s``, through ``run`` (a statement thread's, on
        PostgreSQL: applytry.db.threads) when given."""
        while True:
            await asyncio.sleep(interval_s)
            if run is None:
                self.flush()
            else:
                await run(self.flush)
