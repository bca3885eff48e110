"""Operator-controlled state read from the database at most every few seconds.

Thresholds, allow and deny lists and API keys change at run time, on any instance; each process
keeps its own copy and reloads it once it is ``refresh_s`` old, so every instance sees a change
within seconds and no request pays a query for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import peewee

from applytry import faults

T = TypeVar("T")


class Refreshed(Generic[T]):
    """``background(work)``, when given and it returns True, has started ``work`` elsewhere
    (a statement thread, :meth:`applytry.db.threads.Statements.background`): an old copy is
    then reloaded there while requests go on with it, so that no request, and no event loop,
    waits on a database that is far away or not answering. The first copy, and every copy
    with ``refresh_s`` 0, is read by the caller."""

    def __init__(
        self,
        load: Callable[[], T],
        refresh_s: float,
        clock: Callable[[], float] = time.monotonic,
        background: Callable[[Callable[[], object]], bool] | None = None,
    ):
        self.load = load
        self.refresh_s = refresh_s
        self.clock = clock
        self.background = background
        self._value: T | None = None
        self._read_at: float | None = None
        self._reloading = threading.Lock()  # held while a reload is under way elsewhere

    def get(self) -> T:
        """The copy, reloaded when it is old. While the database fails, the last copy stays
        in use and is tried again ``refresh_s`` later: a check that only reads settings must
        not turn every request into a failure (applyTenant's 003 into a 500) meanwhile.
        Without any copy yet, the failure is the caller's."""
        now = self.clock()
        if self._read_at is not None and now - self._read_at < self.refresh_s:
            return self._value
        if self._read_at is not None and self.refresh_s > 0 and self.background is not None:
            # One reload at a time; the old copy meanwhile.
            started = self._reloading.acquire(blocking=False)
            if started and not self.background(self._reload_elsewhere):
                self._reloading.release()  # statements run here (SQLite): read it now
                self._reload(now)
            return self._value
        self._reload(now)
        return self._value

    def _reload(self, now: float) -> None:
        try:
            self._value = self.load()
        except peewee.PeeweeException as exc:
            if self._read_at is None:
                raise
            faults.database_failed(exc, "could not reload settings; the last copy is kept")
        self._read_at = now

    def _reload_elsewhere(self) -> None:
        try:
            self._reload(self.clock())
        finally:
            self._reloading.release()
