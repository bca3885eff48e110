"""Database faults, made for real: a session of PostgreSQL's own holding a lock or killing
ours, a full or read-only volume under SQLite (a tmpfs mounted for the test), and sustained
load on the write-ahead log. The service must answer what the fault means (005 for a lock,
003 or a 500 problem for a broken database, never an unexpected failure), count it, say so
at /readyz, and serve again by itself once the cause is gone.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from pathlib import Path

import httpx
import peewee
import pytest
from conftest import APPLY, BACKEND, GENERATE, SECRET, apply_tenant, generate, load_access_codes

from applytry.db.database import WAL_LIMIT_BYTES, database
from applytry.testing import ServiceProcess

BASE = "/apiaccess/rest/ipccprovision/v1"
postgres_only = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL sessions")


def _admin(database_url: str):
    """A session of our own on the test's database, as another instance or an operator."""
    from conftest import _connection_kwargs

    import psycopg2

    name = database_url.rsplit("/", 1)[1]
    connection = psycopg2.connect(dbname=name, **_connection_kwargs(database_url))
    connection.autocommit = True
    return connection


@postgres_only
def test_a_row_held_by_another_session_is_005_not_003(client_for, outbox, database_url):
    client = client_for(db_lock_timeout_s=0.5)
    load_access_codes("95555001")
    generate(client, "13800138000")
    code = outbox.code_for("+8613800138000")
    other = _admin(database_url)
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT * FROM verification FOR UPDATE")
            reply = apply_tenant(client, "13800138000", code)
            cursor.execute("ROLLBACK")
    finally:
        other.close()
    assert reply.status_code == 200
    assert reply.json()["returnCode"] == "005"
    # The lock is gone: the same code now opens the tenant.
    assert apply_tenant(client, "13800138000", code).json()["returnCode"] == "000"


@postgres_only
def test_a_killed_session_is_replaced_without_a_500(client_for, outbox, database_url):
    client = client_for()
    load_access_codes("95555001")
    assert generate(client, "13800138000").json()["retCode"] == "200"
    code = outbox.code_for("+8613800138000")
    for _ in range(2):  # once before a plain request, once before applyTenant's transaction
        other = _admin(database_url)
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchall(), "no session of the service was there to kill"
        other.close()
        if _ == 0:
            assert generate(client, "13800138001").json()["retCode"] == "200"
        else:
            assert apply_tenant(client, "13800138000", code).json()["returnCode"] == "000"
