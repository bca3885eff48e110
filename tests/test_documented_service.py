"""The README and docs/operations.md about the running service and its commands, against real
processes: the stop's window in the start-up log, refusal counts kept at a stop, an operator's
metrics folder, the writers' lock file, JSON log lines, concurrent migrations and concurrent
mail retries, and the tox environments the README names."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from test_documented_operations import drop_every_table

from applytry import limits
from applytry.cli import parser
from applytry.db.database import forget_connection
from applytry.db.migrations import SchemaMigration, available
from applytry.db.models import Counter, Job
from applytry.testing import ServiceProcess
from conftest import (
    BACKEND,
    GENERATE,
    SECRET,
    apply_tenant,
    generate,
    load_access_codes,
    wait_until,
)

ROOT = Path(__file__).parents[1]
BASE = GENERATE.removesuffix("/applyTry/generateverifycode")
PHONE, E164 = "13800138000", "+8613800138000"


def log_lines(tmp_path: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in tmp_path.glob("server-*.log")
        for line in path.read_text().splitlines()
    ]


@pytest.mark.servers
def test_serve_logs_how_long_a_stop_waits_ten_seconds_by_default(serve, tmp_path):
    serve()
    said = [line["msg"] for line in log_lines(tmp_path) if "a stop waits" in line["msg"]]
    assert said == ["a stop waits up to 10 s for requests in flight"]


@pytest.mark.servers
def test_serve_logs_a_forty_second_stop_for_a_webhook_given_thirty(serve, tmp_path, gateway):
    serve(sms_backend="webhook", sms_webhook_url=gateway.url, sms_timeout_s=30)
    said = [line["msg"] for line in log_lines(tmp_path) if "a stop waits" in line["msg"]]
    assert said == ["a stop waits up to 40 s for requests in flight"]


@pytest.mark.servers
def test_every_line_the_service_writes_is_json_uvicorns_included(serve, tmp_path):
    base = serve()
    with httpx.Client(base_url=base) as http:
        http.post(GENERATE, json={"phone": PHONE})
    serve.stop_all()

    lines = log_lines(tmp_path)  # json.loads fails on any line that is not JSON

    loggers = {line["logger"] for line in lines}
    assert "applytry.access" in loggers
    assert any(name.startswith("uvicorn") for name in loggers)


@pytest.mark.servers
def test_refusals_counted_in_memory_are_written_by_the_stop(serve, db):
    base = serve()
    with httpx.Client(base_url=base) as http:
        assert http.post(GENERATE, json={"phone": PHONE}).json()["retCode"] == "200"
        assert http.post(GENERATE, json={"phone": PHONE}).json()["retCode"] == "201"
    serve.stop_all()

    rows = Counter.select().where(Counter.scope == limits.REFUSED_DAY.scope)
    assert {row.key: row.count for row in rows} == {"resend-interval": 1}


@pytest.mark.servers
def test_a_metrics_folder_the_operator_names_is_emptied_at_start_and_kept(
    serve, tmp_path, monkeypatch
):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_4242.db").write_bytes(b"the last run's counters")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))

    base = serve(workers=2)
    with httpx.Client(base_url=base) as http:
        assert http.post(GENERATE, json={"phone": PHONE}).status_code == 200
        scraped = http.get(BASE + "/metrics").text
    serve.stop_all()

    assert not (folder / "counter_4242.db").exists()
    assert 'applytry_requests_total{operation="generateVerifyCode",status="200"} 1.0' in scraped
    assert folder.is_dir() and list(folder.iterdir())


@pytest.mark.servers
@pytest.mark.skipif(BACKEND != "sqlite", reason="the embedded database")
def test_writers_queue_on_a_lock_file_beside_the_sqlite_database(serve, tmp_path):
    base = serve()
    with httpx.Client(base_url=base) as http:
        assert http.post(GENERATE, json={"phone": PHONE}).json()["retCode"] == "200"
    assert (tmp_path / "applytry.db.lock").is_file()


def test_migrate_run_twice_at_once_applies_each_migration_once(tmp_path, database_url, db):
    drop_every_table()
    forget_connection()
    env = {**os.environ, "APPLYTRY_DATABASE_URL": database_url, "APPLYTRY_SECRET": SECRET}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "applytry.cli", "migrate"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    applied = {json.loads(err.splitlines()[-1])["applied"] for _, err in outputs}
    assert applied == {"none", ",".join(available())}  # one run did it all, the other waited
    versions = [row.version for row in SchemaMigration.select()]
    assert sorted(versions) == available()


def test_two_mail_retry_runners_at_once_send_a_failed_mail_once(
    client_for, outbox, mailbox, tmp_path, database_url
):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    client = client_for(email_outbox=str(blocked))  # a folder: the first send fails
    load_access_codes("95555001")
    generate(client, PHONE)
    assert apply_tenant(client, PHONE, outbox.code_for(E164)).json()["returnCode"] == "000"
    assert Job.get(Job.kind == "mail").status == "pending"
    env = {
        **os.environ,
        "APPLYTRY_DATABASE_URL": database_url,
        "APPLYTRY_SECRET": SECRET,
        "APPLYTRY_EMAIL_OUTBOX": str(mailbox.path),
    }

    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "applytry.cli", "mail", "retry"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60) for run in runs]

    # Neither reports a failure: the mail went out once, whichever runner sent it.
    assert [run.returncode for run in runs] == [0, 0], outputs
    reported = [out.splitlines()[0] for out, _ in outputs]
    assert all(", 0 failed," in line for line in reported), reported
    assert sum(line.startswith("mail: 1 done") for line in reported) == 1, reported
    assert len(mailbox.messages()) == 1
    wait_until(lambda: Job.get(Job.kind == "mail").status == "done", "the mail job done")


def test_tox_has_every_environment_the_readme_names():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")

    assert [name.strip() for name in tox["tox"]["env_list"].split(",")] == [
        "sqlite",
        "contract",
        "lint",
    ]
    for name in ("postgres", "contract", "lint", "bench"):
        assert tox.has_section(f"testenv:{name}"), name
    assert "{posargs}" in tox["testenv"]["commands"]
    assert "APPLYTRY_TEST_DATABASE = postgresql" in tox["testenv:postgres"]["set_env"]
    assert "APPLYTRY_TEST_POSTGRES" in tox["testenv"]["pass_env"]
    assert "--junitxml=reports/contract/pytest.xml" in tox["testenv:contract"]["commands"]
    assert "ruff check" in tox["testenv:lint"]["commands"]


def test_serve_listens_on_the_loopback_port_8080_unless_told_otherwise():
    told = parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "9090", "--workers", "4"])
    default = parser().parse_args(["serve"])

    assert (default.host, default.port) == ("127.0.0.1", 8080)
    assert (told.host, told.port, told.workers) == ("0.0.0.0", 9090, 4)


@pytest.mark.servers
def test_a_service_with_nothing_in_flight_stops_at_once(tmp_path, database_url):
    service = ServiceProcess(tmp_path, settings={"database_url": database_url, "secret": SECRET})
    service.start()
    try:
        service.process.terminate()
        # The stop's window is 10 s; with nothing in flight it is not waited out.
        assert service.process.wait(timeout=5) in (0, -15)
    finally:
        service.stop()


@pytest.mark.servers
def test_the_log_level_decides_which_lines_are_written(serve, tmp_path):
    base = serve(log_level="WARNING")
    with httpx.Client(base_url=base) as http:
        assert http.post(GENERATE, json={"phone": PHONE}).json()["retCode"] == "200"
    serve.stop_all()

    # uvicorn's line naming the address passes at any level: it is how --port 0 is read.
    quieter = [
        line for line in log_lines(tmp_path) if not line["msg"].startswith("Uvicorn running on")
    ]
    assert all(line["level"] in ("WARNING", "ERROR", "CRITICAL") for line in quieter), quieter


def test_a_mail_another_runner_is_sending_raises_no_alarm(client_for, outbox, cli, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    client = client_for(email_outbox=str(blocked))
    load_access_codes("95555001")
    generate(client, PHONE)
    apply_tenant(client, PHONE, outbox.code_for(E164))
    # Another runner (a service process, a cron elsewhere) holds the job's lease.
    Job.update(claimed_until=time.time() + 60, next_at=0).execute()

    result = cli("mail", "retry")

    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[0] == "mail: 0 done, 0 failed, 1 pending"
    assert "running elsewhere" in result.stdout
