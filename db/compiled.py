"""Hot statements built once.

peewee builds the SQL of a query every time it runs it, which costs more than SQLite or
PostgreSQL take to execute the statement. A :class:`Compiled` query is built once per database
with a sentinel in place of each argument; later calls swap the real values into the saved
parameter list and execute the saved SQL.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee

from .database import _driver_error, database

# PostgreSQL runs the statements of one simple query as one transaction, so this prefix makes
# the statement after it commit without waiting for the WAL flush, in the same round trip.
NOT_FLUSHED = "SET LOCAL synchronous_commit TO OFF; "


def not_flushed() -> None:
    """Inside a transaction that only counts: on PostgreSQL its commit does not wait for the
    WAL flush (see :meth:`Compiled.execute` for what a crash may lose). SQLite's commits are
    the same either way."""
    target = database.obj
    if isinstance(target, peewee.PostgresqlDatabase) and target.in_transaction():
        target.execute_sql(NOT_FLUSHED.rstrip("; "))


class Compiled:
    def __init__(self, build: Callable[..., peewee.Query], *sentinels):
        self.build = build
        self.sentinels = sentinels
        self._built: dict[int, tuple[peewee.Database, str, list, list[int]]] = {}

    def _for(self, target: peewee.Database) -> tuple[str, list, list[int]]:
        entry = self._built.get(id(target))
        if entry is None or entry[0] is not target:
            context = target.get_sql_context()
            sql, params = context.sql(self.build(*self.sentinels)).query()
            params = list(params)
            positions = []
            for sentinel in self.sentinels:
                if params.count(sentinel) != 1:
                    raise ValueError(f"sentinel {sentinel!r} must appear exactly once")
                positions.append(params.index(sentinel))
            entry = (target, sql, params, positions)
            self._built[id(target)] = entry
        return entry[1], entry[2], entry[3]

    def execute(self, *values, flushed: bool = True) -> list[tuple]:
        """Runs the statement with ``values`` in the sentinels' places; returns its rows (none
        for a statement that returns none).

        ``flushed=False``, for a statement that only counts, run outside a transaction: on
        PostgreSQL its commit does not wait for the WAL to reach the disk. A crash of the
        server (not of the service) may then lose the last moments of such counts
        (``wal_writer_delay``, 200 ms by default, three times at most); they never hold a
        code or spend the SMS budget. SQLite's commits are the same either way.

        The rows are read here, inside peewee's exception wrapping: SQLite runs a statement
        with ``RETURNING`` as its rows are read, so a full disk or a held lock surfaces while
        reading, where the driver's own exception would pass every handler of peewee's."""
        target = database.obj
        sql, params, positions = self._for(target)
        params = list(params)
        for position, value in zip(positions, values, strict=True):
            params[position] = value
        # Checked only when asked: every statement of every request passes here.
        postgresql = not flushed and isinstance(target, peewee.PostgresqlDatabase)
        if postgresql and not target.in_transaction():
            sql = NOT_FLUSHED + sql
        cursor = target.execute_sql(sql, params)
        with peewee.__exception_wrapper__:
            return cursor.fetchall() if cursor.description is not None else []


class Refused(Exception):
    """A step of :func:`at_once` returned other than the rows it had to: nothing was done."""

    def __init__(self, step: int):
        super().__init__(f"step {step} refused")
        self.step = step


# What a refusing step raises inside PostgreSQL, to roll the whole round trip back: a cast of
# text that is no integer (SQLSTATE 22P02), the text naming the step. The count read at run
# time keeps the planner from casting it, and failing, before the step has run.
_REFUSAL = "applytry-refused-"


def at_once(
    steps: list[tuple[Compiled, tuple, int | None]], *, flushed: bool = True
) -> list[tuple]:
    """PostgreSQL only: runs ``steps`` as one transaction in one round trip, or none of them.

    Each step is a statement, its values and how many rows it must return (None: any).
    PostgreSQL runs the statements of one simple query as one transaction; a step that
    returns another number of rows fails inside the server, which rolls every step back, and
    :class:`Refused` names it. Row locks are then held for the server's own work and the
    commit's flush only, never across a round trip to the service; a stepwise transaction
    holds them from its first write until its COMMIT arrives. Outside any transaction.

    Returns the last step's rows when it is one that may return any (a read after the
    writes, in their transaction). ``flushed``: see :meth:`Compiled.execute`."""
    target = database.obj
    if target.in_transaction():
        raise RuntimeError("at_once runs its own transaction")
    statements, params = [], []
    for index, (statement, values, rows) in enumerate(steps):
        sql, built, positions = statement._for(target)
        built = list(built)
        for position, value in zip(positions, values, strict=True):
            built[position] = value
        if rows is not None:
            sql = (
                f"WITH done AS ({sql}) SELECT CASE WHEN count(*) = {int(rows)} THEN 0"  # noqa: S608
                f" ELSE ('{_REFUSAL}{index}-' || count(*))::integer END FROM done"
            )  # our own statement and two integers: nothing of a request's
        statements.append(sql)
        params += built
    sql = "; ".join(statements)
    try:
        cursor = target.execute_sql(sql if flushed else NOT_FLUSHED + sql, params)
        with peewee.__exception_wrapper__:
            return cursor.fetchall() if steps[-1][2] is None and cursor.description else []
    except peewee.DataError as exc:
        step = _refused_step(exc)
        if step is None:
            raise
        raise Refused(step) from None


def _refused_step(exc: peewee.DataError) -> int | None:
    """The step a refusal names, or None for any other error, a cast of another text
    (SQLSTATE 22P02, invalid_text_representation) included."""
    if getattr(_driver_error(exc), "pgcode", None) != "22P02":
        return None
    text = str(exc)
    start = text.find(_REFUSAL)
    if start < 0:
        return None
    number = text[start + len(_REFUSAL) :].split("-", 1)[0]
    return int(number) if number.isdecimal() else None
