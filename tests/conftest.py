"""Fixtures: a fresh database per test (SQLite, or PostgreSQL when APPLYTRY_TEST_DATABASE says
so), the app over it, a real imitation SMS gateway, and real service processes.

The same tests run on both databases: ``tox -e sqlite`` and ``tox -e postgres``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import peewee
import pytest

from applytry import limits
from applytry.app import create_app
from applytry.config import Settings
from applytry.db.database import forget_connection
from applytry.db.models import Counter
from applytry.testing import ServiceProcess
from imitations import (
    ACCOUNT,
    APP_KEY,
    APP_SECRET,
    TOKEN,
    Gateway,
    HuaweiImitation,
    TwilioImitation,
)

GENERATE = "/apiaccess/rest/ipccprovision/v1/applyTry/generateverifycode"
APPLY = "/apiaccess/rest/ipccprovision/v1/applyTry/applyTenant"
SECRET = "test-secret-0123456789abcdef"
BACKEND = os.environ.get("APPLYTRY_TEST_DATABASE", "sqlite")
POSTGRES_ADMIN = os.environ.get(
    "APPLYTRY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def pytest_report_header(config):
    return f"applytry database under test: {BACKEND}"


def pytest_collection_modifyitems(items):
    """Modules that start real servers run first: they hold the longest tests (a load test,
    a fresh clone), and under xdist one of them started last would run on alone while the
    other workers sit idle. Each module stays in one piece, for its module-scoped servers."""
    with_servers = {item.path for item in items if item.get_closest_marker("servers")}
    items.sort(key=lambda item: item.path not in with_servers)


def _postgres_admin():
    parts = urlsplit(POSTGRES_ADMIN)
    admin = peewee.PostgresqlDatabase(
        parts.path.lstrip("/"), user=parts.username, host=parts.hostname, port=parts.port
    )
    admin.connect()
    admin.connection().autocommit = True
    return admin


@pytest.fixture(scope="session")
def postgres_admin():
    admin = _postgres_admin()
    yield admin
    admin.close()


def _database_url(name: str) -> str:
    return urlunsplit(urlsplit(POSTGRES_ADMIN)._replace(path="/" + name))


@pytest.fixture(scope="session")
def postgres_template(postgres_admin, tmp_path_factory):
    """A database migrated once per process (per xdist worker), the template of every test's
    own: copying it is far cheaper than migrating anew for each test."""
    name = f"applytry_template_{os.getpid()}"
    postgres_admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    postgres_admin.execute_sql(f'CREATE DATABASE "{name}"')
    migrated = run_cli(
        "migrate",
        cwd=tmp_path_factory.mktemp("template"),
        APPLYTRY_DATABASE_URL=_database_url(name),
        APPLYTRY_SECRET=SECRET,
    )
    assert migrated.returncode == 0, migrated.stderr
    yield name
    postgres_admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_database(postgres_admin, postgres_template):
    """This test's database, a copy of the migrated template, dropped afterwards with any
    session still on it."""
    name = f"applytry_test_{os.getpid()}"
    postgres_admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    postgres_admin.execute_sql(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield _database_url(name), postgres_admin, name
    forget_connection()
    postgres_admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(request, tmp_path):
    """A database of this test's own: on SQLite a new file, which its first user migrates; on
    PostgreSQL a migrated copy of the template."""
    forget_connection()
    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path / 'applytry.db'}"
    else:
        yield request.getfixturevalue("postgres_database")[0]
    forget_connection()


def empty_database(request, tmp_path, label: str):
    """Yields the URL of an empty database of this test's own, named for ``label``, and
    drops it afterwards."""
    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path / f'{label}.db'}"
        return
    admin, name = request.getfixturevalue("postgres_admin"), f"applytry_{label}_{os.getpid()}"
    admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute_sql(f'CREATE DATABASE "{name}"')
    yield _database_url(name)
    admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(request, tmp_path):
    """A database of this test's own with no schema at all, for tests of migrating one."""
    yield from empty_database(request, tmp_path, "empty")


def _connection_kwargs(url: str) -> dict:
    parts = urlsplit(url)
    return {"user": parts.username, "host": parts.hostname, "port": parts.port}


def postgres_session(database_url: str, autocommit: bool = True):
    """A session of our own on the test's PostgreSQL database, as another instance or an
    operator would open one."""
    import psycopg2

    connection = psycopg2.connect(
        dbname=database_url.rsplit("/", 1)[1], **_connection_kwargs(database_url)
    )
    connection.autocommit = autocommit
    return connection


@contextlib.contextmanager
def another_writer_holds(database_url: str, postgres_lock: str):
    """Another instance's long transaction: on SQLite the write lock, taken by a connection
    that does not queue (as the sqlite3 shell would); on PostgreSQL a session of its own that
    runs ``postgres_lock`` (a LOCK TABLE or SELECT ... FOR UPDATE). Let go on leaving."""
    if BACKEND == "sqlite":
        other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
    else:
        other = postgres_session(database_url, autocommit=False)
        other.cursor().execute(postgres_lock)
    try:
        yield
    finally:
        other.rollback()
        other.close()


@pytest.fixture
def settings_for(database_url, tmp_path):
    def build(**overrides) -> Settings:
        values = {
            "database_url": database_url,
            "secret": SECRET,
            "sms_outbox": str(tmp_path / "outbox" / "sms.jsonl"),
            "email_outbox": str(tmp_path / "outbox" / "mail.jsonl"),
            "db_lock_timeout_s": 1,
        }
        values.update(overrides)
        return Settings.parse(values)

    return build


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1_790_000_000.0  # a fixed instant, 2026-09-21 (UTC)
        self.reads = 0  # a background loop's passes show here, each reading the time

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client_for(settings_for, clock):
    """Builds the app with settings overrides and returns a test client over it."""
    stack = contextlib.ExitStack()

    def build(**overrides):
        app = create_app(
            settings_for(**overrides), clock=clock, configure_logging=False, validate_responses=True
        )
        return stack.enter_context(app.test_client())

    with stack:
        yield build


@pytest.fixture
def client(client_for):
    return client_for()


class Outbox:
    """A local outbox file: what was sent, one JSON object a line."""

    def __init__(self, path: Path):
        self.path = path

    def messages(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]

    def code_for(self, e164: str) -> str:
        """The code in the newest SMS to ``e164``."""
        texts = [sms["text"] for sms in self.messages() if sms["to"] == e164]
        assert texts, f"no SMS to {e164}"
        return re.search(r"\d{6,10}", texts[-1]).group()


@pytest.fixture
def outbox(tmp_path):
    return Outbox(tmp_path / "outbox" / "sms.jsonl")


@pytest.fixture
def mailbox(tmp_path):
    return Outbox(tmp_path / "outbox" / "mail.jsonl")


def wait_until(condition, what: str, bound_s: float = 10, step_s: float = 0.05) -> None:
    """Polls ``condition`` until it holds; fails naming ``what`` after ``bound_s``."""
    deadline = time.monotonic() + bound_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {bound_s} s: {what}"
        time.sleep(step_s)


def generate(client, phone, **headers):
    return client.post(GENERATE, json={"phone": phone}, headers=headers)


def application(phone, code, company="一键试用公司", email="trial@example.com") -> dict:
    return {"companyName": company, "phone": phone, "phoneVerifyCode": code, "email": email}


def apply_tenant(client, phone, code, company="一键试用公司", email="trial@example.com", **headers):
    return client.post(APPLY, json=application(phone, code, company, email), headers=headers)


def load_access_codes(*codes: str) -> None:
    from applytry import accesscodes

    accesscodes.import_codes(list(codes), time.time())


# --- an imitation SMS gateway: a real HTTP server on 127.0.0.1 ---------------------------


@pytest.fixture
def gateway():
    server = Gateway()
    yield server
    server.close()


@pytest.fixture
def huawei():
    """An imitation of Huawei Cloud's SMS API on 127.0.0.1, holding APP_KEY and APP_SECRET."""
    imitation = HuaweiImitation(APP_KEY, APP_SECRET)
    yield imitation
    imitation.close()


@pytest.fixture
def twilio():
    """An imitation of Twilio's Messages API on 127.0.0.1, holding ACCOUNT and TOKEN."""
    imitation = TwilioImitation(ACCOUNT, TOKEN)
    yield imitation
    imitation.close()


@pytest.fixture
def closed_port():
    """A loopback port where connections are refused: bound here and never listened on, so
    that no other process can start listening there during the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def db(settings_for):
    """This test's database, migrated and bound in this process too, for setting up and
    reading what a command or a server process did."""
    from applytry.storage import prepare_storage

    prepare_storage(settings_for())


# --- the command line, through its real entry point ---------------------------------------


def run_cli(*args, cwd, **env):
    return subprocess.run(
        [sys.executable, "-m", "applytry.cli", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def cli(tmp_path, database_url):
    """``applytry ...`` against this test's database, in its folder (outboxes included)."""

    def command(*args, **env):
        settings = {
            "APPLYTRY_DATABASE_URL": database_url,
            "APPLYTRY_SECRET": SECRET,
            "APPLYTRY_SMS_OUTBOX": str(tmp_path / "outbox" / "sms.jsonl"),
            "APPLYTRY_EMAIL_OUTBOX": str(tmp_path / "outbox" / "mail.jsonl"),
        }
        return run_cli(*args, cwd=tmp_path, **{**settings, **env})

    return command


# --- real service processes ---------------------------------------------------------------


@pytest.fixture
def serve(tmp_path, database_url):
    """Starts ``applytry serve`` processes on 127.0.0.1 sharing this test's database."""
    processes: list[ServiceProcess] = []

    def start(workers: int = 1, **overrides) -> str:
        settings = {
            "database_url": database_url,
            "secret": SECRET,
            "sms_outbox": tmp_path / "outbox" / "sms.jsonl",
            **overrides,
        }
        process = ServiceProcess(tmp_path, workers=workers, settings=settings)
        processes.append(process)
        return process.start().url

    def stop_all() -> None:
        """SIGTERM to every process started, as an orchestrator would send; waits for exits."""
        for process in processes:
            process.stop()

    start.stop_all = stop_all
    yield start
    for process in processes:
        process.stop()


def counted_refusals(expected: dict[str, int]) -> dict[str, int]:
    """The refusals counted so far by reason, once the service has written what is expected
    (refusals are counted in memory and written within a second, applytry.tally)."""
    deadline = time.monotonic() + 10
    while True:
        rows = Counter.select().where(Counter.scope == limits.REFUSED_DAY.scope)
        found = {row.key: row.count for row in rows}
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
