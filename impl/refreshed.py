"""Operator-controlled state read from the database at most every few seconds.

Thresholds, allow and deny lists and API keys change at run time, on any instance; each process
keeps its own copy and reloads it once it is ``refresh_s`` old, so every instance sees a change
within seconds and no request pays a query for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

import peewee

from applytry import faults

T = TypeVar("T")


class Refreshed(Generic[T]):
    def __init__(
        self, load: Callable[[], T], refresh_s: float, clock: Callable[[], float] = time.monotonic
    ):
        self.load = load
        self.refresh_s = refresh_s
        self.clock = clock
        self._value: T | None = None
        self._read_at: float | None = None

    def get(self) -> T:
        """The copy, reloaded when it is old. While the database fails, the last copy stays
        in use and is tried again ``refresh_s`` later: a check that only reads settings must
        not turn every request into a failure (applyTenant's 003 into a 500) meanwhile.
        Without any copy yet, the failure is the caller's."""
        now = self.clock()
        if self._read_at is None or now - self._read_at >= self.refresh_s:
            try:
                self._value = self.load()
            except peewee.PeeweeException as exc:
                if self._read_at is None:
                    raise
                faults.database_failed(exc, "could not reload settings; the last copy is kept")
            self._read_at = now
        return self._value
