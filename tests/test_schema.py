"""The schema an operator's database gets from ``applytry migrate`` (docs/operations.md,
"Upgrades"): exactly what the service's models declare, on SQLite and PostgreSQL alike
(every table, column, type and length, NULL or NOT NULL, primary key, index and unique
constraint: a unique constraint is what makes "already a tenant" and the access-code pool
safe against races); applied once, in order, and left alone when current."""

from __future__ import annotations

import logging
import sqlite3
import threading

import peewee
import pytest

from applytry.db import migrations
from applytry.db.database import bind, database
from applytry.db.models import MODELS
from conftest import BACKEND, empty_database, postgres_session


def _columns(target: peewee.Database, table: str) -> dict[str, tuple]:
    lengths: dict[str, int | None] = {}
    if BACKEND == "postgresql":
        rows = target.execute_sql(
            "SELECT column_name, character_maximum_length FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = %s",
            (table,),
        )
        lengths = dict(rows.fetchall())
    return {
        column.name: (column.data_type.upper(), lengths.get(column.name), column.null)
        for column in target.get_columns(table)
    }


def schema_of(target: peewee.Database) -> dict[str, dict]:
    """Every table's columns, primary key and indexes, as the database itself reports them."""
    return {
        table: {
            "columns": _columns(target, table),
            "primary key": target.get_primary_keys(table),
            "indexes": sorted(
                (tuple(index.columns), index.unique) for index in target.get_indexes(table)
            ),
        }
        for table in target.get_tables()
        if table != migrations.SchemaMigration._meta.table_name
    }


@pytest.fixture
def declared_url(request, tmp_path):
    """An empty database of this test's own for the schema the models declare."""
    yield from empty_database(request, tmp_path, "declared")


def test_migrations_give_exactly_the_schema_the_models_declare(empty_database_url, declared_url):
    declared = bind(declared_url)
    declared.create_tables(MODELS)
    expected = schema_of(declared)
    declared.close()

    migrated = bind(empty_database_url)
    migrations.migrate()
    got = schema_of(migrated)
    migrated.close()

    assert sorted(got) == sorted(expected)
    for table in expected:
        assert got[table] == expected[table], table


def test_migrate_applies_what_is_pending_in_order_once_and_says_so(empty_database_url, caplog):
    bind(empty_database_url)
    first = migrations.available()[:3]
    migrations.SchemaMigration.create_table()
    for name in first:
        migrations.importlib.import_module(f"applytry.db.migrations.{name}").apply(database)
        migrations.SchemaMigration.create(version=name, applied_at=0)
    assert migrations.pending() == migrations.available()[3:]
    caplog.set_level(logging.INFO, logger="applytry.db.migrations")

    assert migrations.migrate() == migrations.available()[3:]

    assert [record.getMessage() for record in caplog.records] == [
        f"applied migration {name}" for name in migrations.available()[3:]
    ]
    assert migrations.applied() == set(migrations.available())
    assert migrations.pending() == []
    assert migrations.migrate() == []
    database.close()


def test_the_migrations_are_the_numbered_modules_in_order():
    names = migrations.available()
    assert names == sorted(names)
    assert names[0] == "0001_initial"
    assert all(name[:4].isdigit() and name[4] == "_" for name in names)
    assert "__init__" not in names


def test_a_database_never_migrated_has_everything_pending(empty_database_url):
    bind(empty_database_url)
    assert migrations.applied() == set()
    assert migrations.pending() == migrations.available()
    database.close()


def test_a_current_schema_is_seen_without_waiting_for_a_writer(database_url, db):
    """An instance that starts while another holds the write lock for long (SQLite) or is in
    the middle of migrating (PostgreSQL's advisory lock) finds its schema current by reading,
    and starts."""
    bind(database_url, lock_timeout_s=0.1)
    if BACKEND == "sqlite":
        other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
    else:
        other = postgres_session(database_url)
        other.cursor().execute("SELECT pg_advisory_lock(%s)", (migrations._PG_LOCK_ID,))
    try:
        assert migrations.migrate() == []
    finally:
        other.close()
        database.close()


@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's advisory lock")
def test_instances_migrating_at_once_apply_each_migration_once(empty_database_url):
    """Several instances started together on one empty database: they queue on one lock, the
    first migrates, the others find nothing pending."""
    bind(empty_database_url)
    start = threading.Barrier(3)
    results: list = []

    def instance() -> None:
        start.wait(10)
        try:
            results.append(migrations.migrate())
        except peewee.PeeweeException as exc:
            results.append(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=instance) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results, key=len) == [[], [], migrations.available()]
