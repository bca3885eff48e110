"""APPLYTRY_DATABASE_URL as the README writes it: ``sqlite:///applytry.db`` (a file in the
working folder), an absolute SQLite path, ``postgresql://`` or ``postgres://`` with a user,
password and database percent-encoded and libpq options in the query; anything else is
refused by name. The lock timeout is the one the database enforces."""

from __future__ import annotations

import os
import uuid

import pytest

from applytry.db.database import open_database
from conftest import BACKEND, _connection_kwargs

sqlite_only = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite files")
postgres_only = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL roles")


@sqlite_only
@pytest.mark.parametrize("url", ["sqlite:///applytry.db", "sqlite:applytry.db"])
def test_a_relative_sqlite_path_is_a_file_in_the_working_folder(tmp_path, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    target = open_database(url)
    target.execute_sql("CREATE TABLE item (payload BLOB)")
    target.execute_sql("INSERT INTO item VALUES (1)")
    target.close()
    assert sorted(os.listdir(tmp_path))[:2] == ["applytry.db", "applytry.db.lock"]


@sqlite_only
def test_an_absolute_sqlite_path_is_that_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    target = open_database(f"sqlite:///{tmp_path / 'data' / 'applytry.db'}")
    target.execute_sql("CREATE TABLE item (payload BLOB)")
    target.close()
    assert (tmp_path / "data" / "applytry.db").exists()
    assert not (tmp_path / "applytry.db").exists()


def test_another_scheme_is_refused_by_name():
    with pytest.raises(ValueError, match="'mysql'"):
        open_database("mysql://root@127.0.0.1/applytry")


@postgres_only
def test_postgres_is_postgresql(database_url):
    target = open_database(database_url.replace("postgresql://", "postgres://", 1))
    assert target.execute_sql("SELECT 1").fetchone() == (1,)
    target.close()


@pytest.fixture
def role(postgres_admin):
    """A role whose name and password need percent-encoding in a URL."""
    name, password = f"trial user@{uuid.uuid4().hex[:6]}", "p@ss:w/rd"
    postgres_admin.execute_sql(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
    yield name, password
    postgres_admin.execute_sql(f'DROP ROLE IF EXISTS "{name}"')


@postgres_only
def test_user_and_password_are_read_percent_decoded(database_url, role):
    from urllib.parse import quote

    name, password = role
    where = _connection_kwargs(database_url)
    database = database_url.rsplit("/", 1)[1]
    url = (
        f"postgresql://{quote(name, safe='')}:{quote(password, safe='')}"
        f"@{where['host']}:{where['port']}/{database}?application_name=applytry-test"
    )
    target = open_database(url)
    assert target.execute_sql("SELECT current_user").fetchone() == (name,)
    assert target.execute_sql("SHOW application_name").fetchone() == ("applytry-test",)
    assert "password=" in target.connection().dsn  # handed to libpq (shown masked)
    target.close()


@postgres_only
def test_the_lock_timeout_is_postgresqls_lock_timeout(database_url):
    target = open_database(database_url, lock_timeout_s=1.5)
    assert target.execute_sql("SHOW lock_timeout").fetchone() == ("1500ms",)
    target.close()
