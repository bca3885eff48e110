"""What `applytry purge` removes and keeps, at the edge of the retention period, run in this
process on this test's database."""

from __future__ import annotations

import argparse
import time
import uuid

from applytry.cli import run_purge
from applytry.db.models import ApplicationLock, Counter, Job, SmsMessage, Verification
from applytry.retention import purge

NOW = 1_790_000_000.0
DAY_S = 86400


def verification(expires_at: float) -> None:
    Verification.create(
        phone_key=uuid.uuid4().hex,
        phone_masked="+86138****8000",
        message_id=str(uuid.uuid4()),
        issued_at=expires_at - 300,
        expires_at=expires_at,
        resend_at=expires_at - 240,
    )


def counter(ends: int) -> None:
    Counter.create(scope="phone-hour", key=uuid.uuid4().hex, window=ends - 3600, ends=ends, count=1)


def sms(created_at: float) -> None:
    SmsMessage.create(
        id=str(uuid.uuid4()),
        phone_key=uuid.uuid4().hex,
        phone_masked="+86138****8000",
        created_at=created_at,
        backend="outbox",
        status="accepted",
    )


def job(status: str, done_at: float | None, created_at: float = NOW - 90 * DAY_S) -> None:
    Job.create(
        id=str(uuid.uuid4()),
        kind="mail",
        tenant_id=str(uuid.uuid4()),
        status=status,
        next_at=created_at,
        created_at=created_at,
        done_at=done_at,
    )


def hold(expires_at: float) -> None:
    ApplicationLock.create(key=uuid.uuid4().hex, owner=str(uuid.uuid4()), expires_at=expires_at)


def test_a_purge_removes_only_what_is_past_the_retention_period(db):
    cutoff = NOW - 30 * DAY_S
    for at in (cutoff - 1, cutoff, cutoff + 1):
        verification(at)
        counter(int(at))
        sms(at)
        job("done", at)
    job("pending", None)  # ninety days old and never done: kept until it is
    for at in (NOW - 1, NOW, NOW + 60):
        hold(at)  # an application hold goes once it has lapsed, not after 30 days

    report = purge(NOW, 30)

    assert report.removed == {
        "verification": 1,
        "counter": 1,
        "sms_message": 1,
        "job": 1,
        "application_lock": 1,
        "spent_challenge": 0,
    }
    assert sorted(row.expires_at for row in Verification.select()) == [cutoff, cutoff + 1]
    assert sorted(row.ends for row in Counter.select()) == [cutoff, cutoff + 1]
    assert sorted(row.created_at for row in SmsMessage.select()) == [cutoff, cutoff + 1]
    assert sorted((row.status, row.done_at or 0) for row in Job.select()) == [
        ("done", cutoff),
        ("done", cutoff + 1),
        ("pending", 0),
    ]
    assert sorted(row.expires_at for row in ApplicationLock.select()) == [NOW, NOW + 60]


def test_the_retention_period_is_counted_in_whole_days(db):
    verification(NOW - 8 * DAY_S)
    verification(NOW - 6 * DAY_S)
    verification(NOW - 2 * DAY_S)

    assert purge(NOW, 7).removed["verification"] == 1
    assert purge(NOW, 1).removed["verification"] == 2
    assert Verification.select().count() == 0


def test_purge_tells_the_operator_what_it_removed(db, settings_for, capsys):

    now = time.time()  # the command purges on the real clock
    for _ in range(2):
        verification(now - 40 * DAY_S)
    counter(int(now - 40 * DAY_S))
    counter(int(now))
    for _ in range(3):
        sms(now - 40 * DAY_S)
    job("done", now - 40 * DAY_S)
    hold(now - 60)

    assert run_purge(settings_for(), argparse.Namespace(retention_days=None)) == 0

    assert capsys.readouterr().out == (
        "removed 2 verification, 1 counter, 3 sms_message, 1 job, 1 application_lock,"
        " 0 spent_challenge (older than 30 days)\n"
    )


def test_purge_takes_its_period_from_the_command_line_over_the_setting(db, settings_for, capsys):

    verification(time.time() - 10 * DAY_S)

    assert run_purge(settings_for(retention_days=30), argparse.Namespace(retention_days=7)) == 0

    assert capsys.readouterr().out == (
        "removed 1 verification, 0 counter, 0 sms_message, 0 job, 0 application_lock,"
        " 0 spent_challenge (older than 7 days)\n"
    )
