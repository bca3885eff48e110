"""Database faults, made for real: a session of PostgreSQL's own holding a lock or killing
ours, a full or read-only volume under SQLite (a tmpfs mounted for the test), and sustained
load on the write-ahead log. The service must answer what the fault means (005 for a lock,
003 or a 500 problem for a broken database, never an unexpected failure), count it, say so
at /readyz, and serve again by itself once the cause is gone.
"""

from __future__ import annotations

import contextlib
import threading
import time

import httpx
import pytest

from applytry.db.database import WAL_LIMIT_BYTES
from conftest import (
    BACKEND,
    GENERATE,
    apply_tenant,
    generate,
    load_access_codes,
    wait_until,
)

BASE = "/apiaccess/rest/ipccprovision/v1"
postgres_only = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL sessions")


def _admin(database_url: str):
    """A session of our own on the test's database, as another instance or an operator."""
    import psycopg2

    from conftest import _connection_kwargs

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


# --- SQLite: the write-ahead log, a full volume, a read-only one -----------------------------

sqlite_only = pytest.mark.skipif(BACKEND != "sqlite", reason="the embedded database")


def _load(url: str, seconds: float, threads: int = 6) -> int:
    """Requests for fresh phones from ``threads`` clients for ``seconds``; returns how many
    were answered 200."""
    stop = time.monotonic() + seconds
    answered = [0] * threads

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            serial = 0
            while time.monotonic() < stop and serial < 100_000:
                serial += 1
                reply = http.post(GENERATE, json={"phone": f"13{n}{serial:08d}"})
                answered[n] += reply.status_code == 200

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 30)
    return sum(answered)


@sqlite_only
@pytest.mark.servers
def test_the_write_ahead_log_stays_bounded_under_sustained_load(serve, tmp_path):
    url = serve(workers=2, ip_per_minute=1_000_000)
    log_file = tmp_path / "applytry.db-wal"
    sizes: list[int] = []
    loading = threading.Thread(target=lambda: sizes.append(_load(url, 30)))
    loading.start()
    peak = 0
    while loading.is_alive():
        with contextlib.suppress(FileNotFoundError):
            peak = max(peak, log_file.stat().st_size)
        time.sleep(0.05)
    loading.join()
    answered = sizes[0]
    size = (tmp_path / "applytry.db").stat().st_size
    mib = 2**20
    print(f"{answered} codes in 30 s; log peak {peak / mib:.1f} MiB, file {size / mib:.1f} MiB")
    assert answered > 1000, "too little load to say anything about the log"
    assert peak <= 2 * WAL_LIMIT_BYTES
    # Once the load is over, the log is cut back to its limit (journal_size_limit).
    wait_until(lambda: log_file.stat().st_size <= WAL_LIMIT_BYTES, "the log cut back", 10)
