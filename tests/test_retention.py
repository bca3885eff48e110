"""`applytry purge` and `applytry stats` through their real entry point."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time

from applytry.db.models import AccessCode, Counter, SmsMessage, Tenant, Verification
from conftest import SECRET, apply_tenant, generate, load_access_codes


def test_two_purges_at_once_remove_what_is_old_and_nothing_else(
    client, outbox, clock, database_url, tmp_path
):
    # purge runs on the real clock: old and fresh are told from it, whatever today is.
    clock.now = time.time() - 40 * 86400  # older than the 30 days kept
    load_access_codes("95555001")
    generate(client, "13800138000")
    apply_tenant(client, "13800138000", outbox.code_for("+8613800138000"))
    clock.now = time.time()  # today: fresh
    generate(client, "13900139000")
    before_fresh = SmsMessage.select().where(SmsMessage.created_at > clock.now - 60).count()

    env = {"APPLYTRY_DATABASE_URL": database_url, "APPLYTRY_SECRET": SECRET}
    purges = [
        subprocess.Popen(
            [sys.executable, "-m", "applytry.cli", "purge"],
            cwd=tmp_path,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [process.communicate(timeout=60) for process in purges]

    assert [process.returncode for process in purges] == [0, 0], results
    assert all("older than 30 days" in stdout for stdout, _ in results)
    assert SmsMessage.select().count() == before_fresh == 1
    assert Verification.select().count() == 1
    assert Counter.select().where(Counter.ends < clock.now - 31 * 86400).count() == 0
    assert Counter.select().count() > 0  # today's budgets stay
    assert Tenant.select().count() == 1 and AccessCode.get().tenant_id  # account data stays


def test_stats_tell_a_day_in_numbers(client_for, outbox, clock, cli):
    client = client_for()
    load_access_codes("95555001")
    generate(client, "13800138000")
    generate(client, "13800138000")  # 201: resend interval
    generate(client, "13900139000")
    apply_tenant(client, "13800138000", outbox.code_for("+8613800138000"))

    day = datetime.datetime.fromtimestamp(clock.now, datetime.UTC).date().isoformat()
    # Refusals reach the database within a second (applytry.tally).
    deadline = time.monotonic() + 10
    while True:
        result = cli("stats", "--day", day, "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        if report["refused"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert report["requested"] == 3 and report["sent"] == 2
    assert report["refused"] == {"resend-interval": 1}
    assert (report["issued"], report["used"], report["conversion"]) == (2, 1, 0.5)
    assert report["sms"] == {"spent": 2, "threshold": 10000}
    assert report["email"] == {"spent": 1, "threshold": 1000}
    text = cli("stats", "--day", day).stdout
    assert "used           1 of 2 issued (50.0%)" in text
    assert cli("stats", "--day", "yesterday").returncode == 2
