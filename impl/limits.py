"""Budgets: how many times something may happen in a window.

A budget is a fixed-window counter kept in the database and spent with one atomic upsert that
counts only while the count is under the limit. No process ever reads a count and then writes
it, so any number of instances sharing the database can never overrun a budget together.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import math
from zoneinfo import ZoneInfo

from peewee import EXCLUDED, Case

from applytry.db.compiled import Compiled, Refused, at_once
from applytry.db.database import is_sqlite
from applytry.db.models import Counter


@dataclasses.dataclass(frozen=True)
class Budget:
    scope: str
    seconds: int | None  # window length; None: the calendar day in the service's time zone

    def window(self, now: float, zone: ZoneInfo) -> tuple[int, int]:
        """The [start, end) of the window holding ``now``, in UNIX seconds."""
        if self.seconds is not None:
            start = int(now // self.seconds * self.seconds)
            return start, start + self.seconds
        local = datetime.datetime.fromtimestamp(now, zone)
        midnight = datetime.datetime.combine(local.date(), datetime.time(), zone)
        following = datetime.datetime.combine(
            local.date() + datetime.timedelta(days=1), datetime.time(), zone
        )
        return int(midnight.timestamp()), int(following.timestamp())


CLIENT_MINUTE = Budget("client-minute", 60)
PHONE_HOUR = Budget("phone-hour", 3600)
PHONE_DAY = Budget("phone-day", None)
SMS_DAY = Budget("sms-day", None)

EMAIL_DAY = Budget("email-day", None)
PREFIX_HOUR = Budget("prefix-hour", 3600)
PREFIX_DAY = Budget("prefix-day", None)
REFUSED_DAY = Budget("refused-day", None)  # every refusal, keyed by its reason

SYSTEM = "*"  # the key of system-wide budgets


class RateLimited(Exception):
    """This client sent too many requests (HTTP 429)."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many requests from this address; retry in {retry_after} seconds")
        self.retry_after = retry_after


def admit_client(
    client_key: str,
    limit: int,
    now: float,
    zone: ZoneInfo,
    then: tuple[Compiled, tuple] | None = None,
) -> list[tuple]:
    """Counts one request of a client against its per-minute budget; raises RateLimited
    when the budget is spent. Every operation shares it: a client is one budget.

    ``then``, a read and its values, runs once the request is admitted; its rows are
    returned. On PostgreSQL both go in one round trip (:func:`applytry.db.compiled.at_once`).

    Its commit waits for no flush (every request pays it, refusals included): a database
    crash may forget the last moments' counts, letting a client a few requests more in
    that minute, never a code or an SMS."""
    spends = [Spend(CLIENT_MINUTE, client_key, limit)]
    if is_sqlite() or no_room(spends, now, zone) is not None:
        refused = spend_all(spends, now, zone, flushed=False)
        if refused is not None:
            raise RateLimited(refused[1])
        return then[0].execute(*then[1]) if then is not None else []
    statement, values = spending(spends, now, zone)
    steps = [(statement, tuple(values), 1)] + ([(*then, None)] if then is not None else [])
    try:
        return at_once(steps, flushed=False)
    except Refused:
        raise RateLimited(_wait(spends[0], now, zone)) from None


def _adding(scope, key, window, ends, times):
    query = Counter.insert(scope=scope, key=key, window=window, ends=ends, count=times)
    return query.on_conflict(
        conflict_target=[Counter.scope, Counter.key, Counter.window],
        update={Counter.count: Counter.count + EXCLUDED.count},
    )


# Sentinels of the compiled statement: values no real argument ever takes.
_ADD = Compiled(_adding, "\x00scope", "\x00key", -1_000_001, -1_000_002, -1_000_004)


@dataclasses.dataclass(frozen=True)
class Spend:
    """One use of ``budget`` for ``key``; ``limit`` None counts without a limit."""

    budget: Budget
    key: str
    limit: int | None


def _spending_all(shape, *values):
    """One upsert for several budgets: each row counts while its own limit allows, chosen by
    its scope in the conflict's WHERE; RETURNING names the rows that counted."""
    rows, limits, given = [], [], iter(values)
    for scope, limited in shape:
        key, window, ends = next(given), next(given), next(given)
        rows.append({"scope": scope, "key": key, "window": window, "ends": ends, "count": 1})
        if limited:
            limits.append((scope, next(given)))
    return (
        Counter.insert_many(rows)
        .on_conflict(
            conflict_target=[Counter.scope, Counter.key, Counter.window],
            update={Counter.count: Counter.count + 1},
            # No limit at all: no CASE, which SQL does not allow without a WHEN.
            where=Counter.count < Case(EXCLUDED.scope, limits, Counter.count + 1)
            if limits
            else None,
        )
        .returning(Counter.scope, Counter.key)
        .tuples()
    )


_SPEND_ALL: dict[tuple, Compiled] = {}


def spend_all(
    spends: list[Spend], now: float, zone: ZoneInfo, *, flushed: bool = True
) -> tuple[Spend, int] | None:
    """Spends every budget in one statement (inside the caller's transaction). Returns None
    if all fit, else the first that did not and the seconds until its window ends; the
    caller then rolls back what the others counted. A scope is limited at most once.
    ``flushed``: see :meth:`Compiled.execute`."""
    refused = no_room(spends, now, zone)
    if refused is not None:
        return refused
    statement, values = spending(spends, now, zone)
    counted = set(statement.execute(*values, flushed=flushed))
    for spend in spends:
        if (spend.budget.scope, spend.key) not in counted:
            return spend, _wait(spend, now, zone)
    return None


def spending(spends: list[Spend], now: float, zone: ZoneInfo) -> tuple[Compiled, list]:
    """The statement that spends every budget, and its values; it returns a row for each
    one that counted (:func:`applytry.db.compiled.at_once` runs it with others)."""
    shape = tuple((spend.budget.scope, spend.limit is not None) for spend in spends)
    statement = _SPEND_ALL.get(shape)
    if statement is None:
        sentinels = []
        for i, (_, limited) in enumerate(shape):
            base = -2_000_000 - 10 * i
            sentinels += [f"\x00key{i}", base - 1, base - 2] + ([base - 3] if limited else [])
        statement = _SPEND_ALL[shape] = Compiled(
            functools.partial(_spending_all, shape), *sentinels
        )
    values = []
    for spend in spends:
        start, end = spend.budget.window(now, zone)
        values += [spend.key, start, end] + ([spend.limit] if spend.limit is not None else [])
    return statement, values


def no_room(spends: list[Spend], now: float, zone: ZoneInfo) -> tuple[Spend, int] | None:
    """The first budget with no room at all (a limit of 0), which no statement need ask,
    and the seconds until its window ends; run before :func:`spending`'s statement, which
    would count a first use whatever the limit."""
    for spend in spends:
        if spend.limit is not None and spend.limit <= 0:
            return spend, _wait(spend, now, zone)
    return None


def _wait(spend: Spend, now: float, zone: ZoneInfo) -> int:
    """Seconds until ``spend``'s window ends, at least one."""
    _, end = spend.budget.window(now, zone)
    return max(1, math.ceil(end - now))


def spend(budget: Budget, key: str, limit: int, now: float, zone: ZoneInfo) -> int | None:
    """Counts one use. Returns None if it fit, else the seconds until the window ends (and
    nothing is counted)."""
    refused = spend_all([Spend(budget, key, limit)], now, zone)
    return None if refused is None else refused[1]


def count(budget: Budget, key: str, now: float, zone: ZoneInfo, times: int = 1) -> None:
    """Counts ``times`` events, with no limit: codes issued and used, refusals by reason."""
    start, end = budget.window(now, zone)
    add(budget.scope, key, start, end, times)


def add(scope: str, key: str, window: int, ends: int, times: int) -> None:
    """Adds ``times`` to one window's counter."""
    _ADD.execute(scope, key, window, ends, times)
