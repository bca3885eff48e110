"""Whether this process can serve: the database answers and no migration is pending."""

from __future__ import annotations

import peewee

from applytry.db.database import database, forget_connection
from applytry.db.migrations import pending


def not_ready_because() -> str | None:
    try:
        database.execute_sql("SELECT 1")
        waiting = pending()
    except peewee.PeeweeException as exc:
        forget_connection()
        return f"database unreachable: {type(exc).__name__}"
    if waiting:
        return "migrations pending: " + ", ".join(waiting)
    return None
