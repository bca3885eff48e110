"""Whether this process can serve: the database answers reads and takes writes, no migration
is pending, and no request of this process met a broken database in the last few seconds
(:mod:`applytry.faults`). A full disk or a read-only file fails only writes, so a probe that
only reads would call such a service ready."""

from __future__ import annotations

import peewee

from applytry import faults, limits
from applytry.db.database import CONTENTION, database, write_transaction
from applytry.db.migrations import pending

PROBE = "readyz"  # the counter a probe writes: one row, counted up, never read


def not_ready_because() -> str | None:
    try:
        database.execute_sql("SELECT 1")
        waiting = pending()
        with write_transaction():
            limits.add(PROBE, "probe", 0, 0, 1)
    except peewee.PeeweeException as exc:
        kind = faults.database_failed(exc, "readiness probe failed")
        if kind != CONTENTION:  # busy is not down: the next request waits its turn
            return f"database {kind}: {type(exc).__name__}"
        waiting = []
    if waiting:
        return "migrations pending: " + ", ".join(waiting)
    broken = faults.recently_broken()
    if broken:
        return f"database {broken} within the last {faults.NOT_READY_S:g} s"
    return None
