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
    base = serve(ip_per_minute=1000, conversion_prefix_volume=1000)
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


def test_writers_hold_the_log_under_its_ceiling_when_no_checkpoint_runs(tmp_path):
    """The checkpoint thread can fall behind (starved of CPU, a slow disk); here it does not
    run at all, and writers alone keep the log under its ceiling."""
    from applytry.db.database import WAL_CEILING_BYTES, open_database

    path = tmp_path / "applytry.db"
    target = open_database(f"sqlite:///{path}")
    target.execute_sql("CREATE TABLE filler (payload BLOB)")
    peak = 0
    for _ in range(400):  # 400 transactions of 100 KiB: 40 MiB written through the log
        with target.atomic("IMMEDIATE"):
            target.execute_sql("INSERT INTO filler VALUES (randomblob(102400))")
        peak = max(peak, (tmp_path / "applytry.db-wal").stat().st_size)
    target.close()
    assert peak <= WAL_CEILING_BYTES
