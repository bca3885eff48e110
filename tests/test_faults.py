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
import pytest

from applytry.db.database import WAL_CEILING_BYTES, WAL_LIMIT_BYTES, database
from applytry.testing import ServiceProcess
from conftest import (
    BACKEND,
    GENERATE,
    SECRET,
    apply_tenant,
    generate,
    load_access_codes,
    postgres_session,
    wait_until,
)

BASE = "/apiaccess/rest/ipccprovision/v1"
postgres_only = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL sessions")


def _admin(database_url: str):
    return postgres_session(database_url)


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


def _load(url: str, seconds: float, threads: int = 8) -> int:
    """Requests for fresh phones from ``threads`` clients for ``seconds``; returns how many
    codes were sent (retCode 200)."""
    stop = time.monotonic() + seconds
    answered = [0] * threads

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            serial = 0
            while time.monotonic() < stop and serial < 100_000:
                serial += 1
                reply = http.post(GENERATE, json={"phone": f"13{n % 10}{n // 10}{serial:07d}"})
                answered[n] += reply.json().get("retCode") == "200"

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 30)
    return sum(answered)


@sqlite_only
@pytest.mark.servers
def test_the_write_ahead_log_stays_bounded_under_sustained_load(serve, tmp_path):
    # Every request issues a code, so every request writes: no limit is in the way.
    loose = {"sms_daily_limit": 10**8, "prefix_hourly_limit": 10**8, "prefix_daily_limit": 10**8}
    loose |= {"conversion_prefix_volume": 10**8, "conversion_country_volume": 10**8}
    url = serve(ip_per_minute=1_000_000, **loose)
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
    # Emptied whenever it passes the limit and its readers let go: under writes as fast as
    # one worker goes (600 codes a second here) it plateaus at two to three times the limit;
    # before, it reached 1.35 GB in these 30 s. Writers empty it themselves short of the
    # ceiling, but only once readers let go within 50 ms: with the CPU shared with another
    # suite it went past the ceiling (17.3 MiB), never past twice it.
    assert peak <= 2 * WAL_CEILING_BYTES
    # Once the load is over, the log is cut back to its limit (journal_size_limit).
    wait_until(lambda: log_file.stat().st_size <= WAL_LIMIT_BYTES, "the log cut back", 10)


@pytest.fixture
def volume(tmp_path):
    """A small tmpfs of the test's own, for a full or read-only disk; skipped where mounting
    is not allowed (it needs root, as CI has)."""
    mount_point = tmp_path / "volume"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _remount(mount_point: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mount_point)], check=True)


def _fill(mount_point: Path) -> Path:
    """Takes every free byte of the volume; bounded by its size."""
    filler = mount_point / "filler"
    with open(filler, "wb", buffering=0) as out:
        for _ in range(4 * 1024 * 1024 // 4096 + 1):
            try:
                out.write(b"\0" * 4096)
                out.flush()
            except OSError:
                break
    return filler


def _database_service(tmp_path: Path, mount_point: Path, **settings) -> ServiceProcess:
    return ServiceProcess(
        tmp_path,
        settings={
            "database_url": f"sqlite:///{mount_point / 'applytry.db'}",
            "secret": SECRET,
            "sms_outbox": tmp_path / "outbox" / "sms.jsonl",
            "email_outbox": tmp_path / "outbox" / "mail.jsonl",
            "ip_per_minute": 1_000_000,
            **settings,
        },
    )


def _errors_of_kind(http: httpx.Client, kind: str) -> float:
    for line in http.get(BASE + "/metrics").text.splitlines():
        if line.startswith(f'applytry_database_errors_total{{kind="{kind}"}}'):
            return float(line.split()[-1])
    return 0.0


def _problem_or_result(reply: httpx.Response) -> str:
    """A reply the client can read: a result, or a problem. Anything else fails the test."""
    if reply.status_code == 200:
        return "result"
    assert reply.status_code == 500, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    return "problem"


def _no_unexpected_failure(service: ServiceProcess) -> None:
    lines = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    assert not [line for line in lines if line["msg"] == "unexpected failure"]
    assert "Traceback" not in service.log()


@sqlite_only
@pytest.mark.servers
def test_a_full_volume_is_named_counted_refused_and_survived(tmp_path, volume, outbox):
    with _database_service(tmp_path, volume) as service, httpx.Client(base_url=service.url) as http:
        from applytry.config import Settings
        from applytry.storage import prepare_storage

        prepare_storage(Settings(database_url=f"sqlite:///{volume / 'applytry.db'}", secret=SECRET))
        load_access_codes("95555001")
        assert generate(http, "13800138000").json()["retCode"] == "200"
        code = outbox.code_for("+8613800138000")
        # An empty log, then no free byte: the next write must grow the log, and cannot.
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        database.close()
        filler = _fill(volume)

        applied = apply_tenant(http, "13800138000", code)
        assert applied.status_code == 200 and applied.json()["returnCode"] == "003"
        answers = {_problem_or_result(generate(http, f"1380013{n:04d}")) for n in range(10)}
        assert answers == {"problem"}
        ready = http.get(BASE + "/readyz")
        assert ready.status_code == 503 and "database full" in ready.json()["detail"]
        assert _errors_of_kind(http, "full") >= 11
        _no_unexpected_failure(service)

        filler.unlink()
        wait_until(lambda: http.get(BASE + "/readyz").status_code == 200, "ready again", 15)
        assert generate(http, "13800130099").json()["retCode"] == "200"
        assert apply_tenant(http, "13800138000", code).json()["returnCode"] == "000"


@sqlite_only
@pytest.mark.servers
def test_a_worker_started_on_a_read_only_volume_recovers_once_it_is_writable(tmp_path, volume):
    with _database_service(tmp_path, volume) as service:  # made, migrated, then stopped
        pass
    _remount(volume, "ro")
    try:
        service = _database_service(tmp_path, volume, conversion_prefix_volume=1000).start()
        with httpx.Client(base_url=service.url) as http:
            assert _problem_or_result(generate(http, "13800138000")) == "problem"
            assert http.get(BASE + "/readyz").status_code == 503
            _remount(volume, "rw")
            wait_until(lambda: http.get(BASE + "/readyz").status_code == 200, "ready again", 15)
            replies = [generate(http, f"1380013{n:04d}") for n in range(20)]
            assert [reply.json()["retCode"] for reply in replies] == ["200"] * 20
        _no_unexpected_failure(service)
    finally:
        _remount(volume, "rw")
        service.stop()


def _kill_once_on_insert(database_url: str, table: str) -> None:
    """The first INSERT into ``table`` kills its own session, in the middle of its
    transaction, as an operator's pg_terminate_backend or a failover would. A sequence counts,
    because it is not rolled back with the transaction."""
    other = _admin(database_url)
    with other.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE IF NOT EXISTS kill_once")
        cursor.execute(
            "CREATE OR REPLACE FUNCTION kill_once() RETURNS trigger AS $$ BEGIN"
            " IF nextval('kill_once') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid());"
            " END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            f"CREATE TRIGGER kill_once BEFORE INSERT ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION kill_once()"
        )
    other.close()


@postgres_only
def test_a_session_killed_inside_generates_transaction_costs_no_500(
    client_for, outbox, database_url
):
    client = client_for()
    _kill_once_on_insert(database_url, "verification")
    reply = generate(client, "13800138000")
    assert reply.status_code == 200 and reply.json()["retCode"] == "200"
    assert len(outbox.messages()) == 1


@postgres_only
def test_a_session_killed_inside_applytenants_transaction_costs_no_003(
    client_for, outbox, database_url
):
    client = client_for()
    load_access_codes("95555001")
    generate(client, "13800138000")
    code = outbox.code_for("+8613800138000")
    _kill_once_on_insert(database_url, "tenant")
    assert apply_tenant(client, "13800138000", code).json()["returnCode"] == "000"
