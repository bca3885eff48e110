"""A database that is locked, read-only or gone: a 500 problem, nothing sent, then recovery."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

import pytest

from conftest import BACKEND, generate


class SqliteLocked:
    """Another process holds the write lock longer than the service waits for it."""

    def __init__(self, url: str):
        self.path = urlsplit(url).path[1:]

    def begin(self):
        self.connection = sqlite3.connect(self.path, isolation_level=None)
        self.connection.execute("BEGIN EXCLUSIVE")

    def end(self):
        self.connection.execute("ROLLBACK")
        self.connection.close()


class PostgresReadOnly:
    """The database turns read-only (a failover to a replica, say) and drops every session."""

    def __init__(self, admin, name: str):
        self.admin, self.name = admin, name

    def _kick(self):
        self.admin.execute_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (self.name,),
        )

    def begin(self):
        self.admin.execute_sql(
            f'ALTER DATABASE "{self.name}" SET default_transaction_read_only = on'
        )
        self._kick()

    def end(self):
        self.admin.execute_sql(f'ALTER DATABASE "{self.name}" RESET default_transaction_read_only')
        self._kick()


@pytest.fixture
def outage(request, database_url):
    if BACKEND == "sqlite":
        return SqliteLocked(database_url)
    _, admin, name = request.getfixturevalue("postgres_database")
    return PostgresReadOnly(admin, name)


def test_a_database_outage_is_a_500_problem_and_sends_nothing(client, outbox, outage):
    assert generate(client, "13800138001").json()["retCode"] == "200"
    outage.begin()
    try:
        for phone in ("13800138002", "13800138003"):
            response = generate(client, phone)
            assert response.status_code == 500
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["status"] == 500
            assert set(problem) <= {"type", "title", "status"}
            assert "Traceback" not in response.text
    finally:
        outage.end()
    assert len(outbox.messages()) == 1

    # Back: the service reconnects by itself (a killed session fails one request at most).
    codes = [generate(client, "13800138004").status_code for _ in range(2)]
    assert 200 in codes and set(codes) <= {200, 500}
    assert generate(client, "13800138005").json()["retCode"] == "200"
    assert len(outbox.messages()) == 3
