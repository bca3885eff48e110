"""What is particular to SQLite, the embedded default: the write-ahead log is copied back
into the database file while the service runs, not left to grow inside the requests."""

from __future__ import annotations

import shutil
import sqlite3
import time

import httpx
import pytest

from conftest import BACKEND, GENERATE

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite only")


def test_the_database_file_alone_holds_recent_codes_within_seconds(serve, tmp_path):
    base = serve(ip_per_minute=1000)
    with httpx.Client(base_url=base) as client:
        for n in range(20):
            response = client.post(GENERATE, json={"phone": f"139{n:08d}"})
            assert response.json()["retCode"] == "200"

    # What a backup that copies the database file without its -wal file would hold.
    deadline = time.monotonic() + 10
    while True:
        shutil.copy(tmp_path / "applytry.db", tmp_path / "copy.db")
        codes = _codes_in(tmp_path / "copy.db")
        if codes == 20 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert codes == 20


def _codes_in(path) -> int:
    with sqlite3.connect(path) as copy:
        try:
            return copy.execute("SELECT COUNT(*) FROM verification").fetchone()[0]
        except sqlite3.OperationalError:  # not even the schema has been copied back yet
            return 0
