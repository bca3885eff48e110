"""Versioned schema changes.

Each module ``NNNN_name.py`` defines ``apply(database)`` with the models frozen as they were
when it was written, so later changes to ``db/models.py`` never rewrite history. ``migrate``
applies the pending ones in order, once, even when several instances start together.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import time

import peewee

from ..database import database, is_sqlite, write_transaction

log = logging.getLogger(__name__)

# Any fixed number: instances that start together queue on it while one migrates.
_PG_LOCK_ID = 0x61707079


class SchemaMigration(peewee.Model):
    version = peewee.CharField(max_length=64, primary_key=True)
    applied_at = peewee.DoubleField()

    class Meta:
        database = database
        table_name = "schema_migration"


def available() -> list[str]:
    names = [info.name for info in pkgutil.iter_modules(__path__) if info.name[:4].isdigit()]
    return sorted(names)


def applied() -> set[str]:
    if not database.table_exists(SchemaMigration._meta.table_name):
        return set()
    return {row.version for row in SchemaMigration.select()}


def pending() -> list[str]:
    done = applied()
    return [name for name in available() if name not in done]


def migrate() -> list[str]:
    """Applies every pending migration in one transaction; returns the versions applied.
    A current schema is seen by a read alone, so that a service can start (and report, and
    recover) on a volume that is read-only or full for the moment."""
    if database.table_exists(SchemaMigration._meta.table_name) and not pending():
        return []
    with write_transaction():
        if not is_sqlite():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_ID,))
        database.create_tables([SchemaMigration], safe=True)
        todo = pending()
        for name in todo:
            module = importlib.import_module(f"{__name__}.{name}")
            module.apply(database)
            SchemaMigration.create(version=name, applied_at=time.time())
            log.info("applied migration %s", name)
    return todo
