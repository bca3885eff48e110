"""Retries of the work a new tenant sets off (the provisioning hook, the account mail): the
back-off schedule, the lease that keeps two runners off one job, what a retry run reports and
what operators read in the log. The runner is the one `applytry provisioning retry` builds,
over this test's database and the test's clock."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import time

import pytest

from applytry.cli import retry_jobs
from applytry.db.models import Job, Tenant
from applytry.digests import Digests
from applytry.jobs import MAIL, PROVISION, RunReport, held
from applytry.services import build_runner
from conftest import (
    SECRET,
    another_writer_holds,
    apply_tenant,
    generate,
    load_access_codes,
    wait_until,
)

PHONE, E164 = "13800138000", "+8613800138000"
HOOK_SECRET = "provisioning-secret-0123"


@pytest.fixture
def hooked(client_for, settings_for, gateway, clock):
    """The app with a provisioning hook, its background retries asleep, and a runner of the
    same configuration on the test's clock, as another instance's would be."""
    settings = {
        "provisioning_url": gateway.url,
        "provisioning_secret": HOOK_SECRET,
        "provisioning_timeout_s": 10,
        "job_retry_s": 3600,
    }
    client = client_for(**settings)

    def runner():
        return build_runner(settings_for(**settings), Digests(SECRET.encode()), clock)

    return client, runner


def open_tenant(client, outbox) -> None:
    load_access_codes("95555001")
    assert generate(client, PHONE).json()["retCode"] == "200"
    assert apply_tenant(client, PHONE, outbox.code_for(E164)).json()["returnCode"] == "000"


def hook_job() -> Job:
    return Job.get(Job.kind == PROVISION)


def run(build, scenario) -> object:
    """Runs ``scenario(runner)`` with a fresh runner, closing its hook's connections after."""

    async def main():
        runner, hook = build()
        try:
            return await scenario(runner)
        finally:
            await hook.aclose()

    return asyncio.run(main())


def test_a_failing_hook_is_retried_after_30_s_doubling_up_to_an_hour(
    hooked, outbox, gateway, clock, caplog
):
    caplog.set_level(logging.INFO, logger="applytry.jobs")
    client, build = hooked
    gateway.status = 503
    open_tenant(client, outbox)  # the first attempt, at once
    job_id = hook_job().id

    async def scenario(runner):
        waits = [hook_job().next_at - clock.now]
        for _ in range(8):
            clock.now = hook_job().next_at - 1
            assert await runner.run_due(PROVISION) == RunReport(done=0, failed=0)
            clock.advance(1)
            assert await runner.run_due(PROVISION) == RunReport(done=0, failed=1)
            waits.append(hook_job().next_at - clock.now)
        gateway.status = 200
        clock.now = hook_job().next_at
        assert await runner.run_due(PROVISION) == RunReport(done=1, failed=0)
        return waits

    assert run(build, scenario) == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    job = hook_job()
    assert (job.status, job.attempts, job.done_at, job.last_error) == (
        "done",
        10,
        clock.now,
        None,
    )
    assert len(gateway.requests) == 10
    failures = [r for r in caplog.records if r.getMessage() == "job failed; will retry"]
    assert [(r.levelname, r.job, r.job_id, r.attempts, r.why) for r in failures] == [
        ("WARNING", PROVISION, job_id, attempt, "provisioning hook: HTTP 503")
        for attempt in range(1, 10)
    ]
    [done] = [r for r in caplog.records if r.getMessage() == "job done" and r.job == PROVISION]
    assert (done.levelname, done.job_id, done.attempts) == ("INFO", job_id, 10)


def test_a_job_being_run_is_left_alone_until_its_five_minute_lease_runs_out(
    hooked, outbox, gateway, clock
):
    client, build = hooked
    gateway.status = 503
    open_tenant(client, outbox)
    clock.advance(30)
    gateway.status, gateway.delay = 200, 30  # the operator's system is slow to answer

    async def scenario(runner):
        other, hook = build()
        try:
            first = asyncio.create_task(runner.run_due(PROVISION))
            deadline = time.monotonic() + 10
            while len(gateway.requests) < 2:
                assert time.monotonic() < deadline, "the retry never reached the hook"
                await asyncio.sleep(0.01)
            # Another instance's runner finds the job held: not run, and not a failure.
            assert await other.run_due(PROVISION) == RunReport(done=0, failed=0)
            # The first runner dies mid-call (a killed process): its lease is left behind.
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await first
            gateway.delay = 0
            clock.advance(299)
            assert await other.run_due(PROVISION) == RunReport(done=0, failed=0)
            assert held(hook_job(), clock.now)
            clock.advance(1)
            assert not held(hook_job(), clock.now)
            return await other.run_due(PROVISION)
        finally:
            await hook.aclose()

    assert run(build, scenario) == RunReport(done=1, failed=0)
    assert len(gateway.requests) == 3
    assert (hook_job().status, hook_job().attempts) == ("done", 3)


def test_a_retry_of_one_kind_leaves_the_other_alone(hooked, outbox, gateway, clock, mailbox):
    client, build = hooked
    gateway.status = 503
    open_tenant(client, outbox)
    clock.advance(30)
    gateway.status = 200

    async def scenario(runner):
        return await runner.run_due(MAIL)

    assert run(build, scenario) == RunReport(done=0, failed=0)  # the mail went out at once
    assert len(gateway.requests) == 1
    assert hook_job().status == "pending"
    assert len(mailbox.messages()) == 1


def crowd(count: int, kind: str, status: str, next_at: float, **fields) -> None:
    """``count`` jobs made before this test's tenant, of other tenants."""
    Job.insert_many(
        [
            {
                "id": f"{kind[:4]}-{status[:4]}-{next_at:.0f}-{n:05d}",
                "kind": kind,
                "tenant_id": f"other-{n}",
                "status": status,
                "next_at": next_at,
                "created_at": 1_700_000_000 + n,
                **fields,
            }
            for n in range(count)
        ]
    ).execute()


def test_a_retry_pass_reaches_a_due_job_behind_a_thousand_it_must_not_run(
    hooked, outbox, gateway, clock
):
    client, build = hooked
    gateway.status = 503
    open_tenant(client, outbox)
    clock.advance(30)
    gateway.status = 200
    # Older jobs, each of which a retry of the hook must pass over: done, not yet due, and
    # mails, whose handler is not the hook's.
    crowd(1000, PROVISION, "done", clock.now - 60, done_at=clock.now - 60)
    crowd(1000, PROVISION, "pending", clock.now + 60)
    crowd(1000, MAIL, "pending", clock.now - 60, claimed_until=clock.now + 300)

    async def scenario(runner):
        return await runner.run_due(PROVISION)

    assert run(build, scenario) == RunReport(done=1, failed=0)
    assert hook_job().status == "done"


def test_a_retry_pass_takes_at_most_a_thousand_jobs_and_leaves_the_rest_to_the_next(
    hooked, outbox, gateway, clock
):
    client, build = hooked
    gateway.status = 503
    open_tenant(client, outbox)
    clock.advance(30)
    gateway.status = 200
    # A thousand older due hook jobs that other runners hold right now.
    crowd(1000, PROVISION, "pending", clock.now - 60, claimed_until=clock.now + 300)

    async def scenario(runner):
        first = await runner.run_due(PROVISION)
        Job.update(claimed_until=0).where(Job.tenant_id.startswith("other-")).execute()
        Job.update(status="done").where(Job.tenant_id.startswith("other-")).execute()
        return first, await runner.run_due(PROVISION)

    assert run(build, scenario) == (RunReport(done=0, failed=0), RunReport(done=1, failed=0))
    assert len(gateway.requests) == 2


def test_the_oldest_job_is_retried_first_whichever_instance_wrote_it_first(
    client_for, settings_for, outbox, gateway, clock
):
    settings = {
        "provisioning_url": gateway.url,
        "provisioning_secret": HOOK_SECRET,
        "job_retry_s": 3600,
    }
    client = client_for(**settings)
    gateway.status = 503
    load_access_codes("95555001", "95555002")
    start = clock.now
    # The first tenant is opened on an instance whose clock is 50 s ahead of the other's.
    clock.now = start + 50
    generate(client, PHONE)
    apply_tenant(client, PHONE, outbox.code_for(E164), company="Ahead Ltd", email="a@x.com")
    clock.now = start
    generate(client, "13900139000")
    apply_tenant(client, "13900139000", outbox.code_for("+8613900139000"), company="Behind Ltd")
    runner, hook = build_runner(settings_for(**settings), Digests(SECRET.encode()), clock)

    async def scenario():
        try:
            clock.now = start + 30
            assert await runner.run_due(PROVISION) == RunReport(done=0, failed=1)
            gateway.status = 200
            clock.now = start + 90
            return await runner.run_due(PROVISION)
        finally:
            await hook.aclose()

    assert asyncio.run(scenario()) == RunReport(done=2, failed=0)
    announced = [
        json.loads(request["body"])["tenant"]["companyName"] for request in gateway.requests
    ]
    assert announced == ["Ahead Ltd", "Behind Ltd", "Behind Ltd", "Behind Ltd", "Ahead Ltd"]


def test_mail_retry_lists_what_still_waits_oldest_first_and_what_another_runner_holds(
    client_for, settings_for, outbox, gateway, clock, tmp_path, capsys
):
    clock.now = time.time() - 3600  # the command retries on the real clock: all is due
    blocked = tmp_path / "blocked"
    blocked.mkdir()  # a mail outbox that cannot be written
    settings = {
        "email_outbox": str(blocked),
        "provisioning_url": gateway.url,
        "provisioning_secret": HOOK_SECRET,
        "job_retry_s": 3600,
    }
    gateway.status = 503
    client = client_for(**settings)
    load_access_codes("95555001", "95555002", "95555003")
    start = clock.now
    clock.now = start + 50  # an instance whose clock is ahead opens the first tenant
    generate(client, PHONE)
    apply_tenant(client, PHONE, outbox.code_for(E164), company="Ahead Ltd", email="a@x.com")
    clock.now = start
    generate(client, "13900139000")
    apply_tenant(client, "13900139000", outbox.code_for("+8613900139000"), company="Behind Ltd")
    mailing = client_for(job_retry_s=3600)  # an instance whose mail goes out
    generate(mailing, "13700137000")
    apply_tenant(mailing, "13700137000", outbox.code_for("+8613700137000"), company="Sent Ltd")
    ahead, behind = (
        Job.get((Job.kind == MAIL) & (Job.tenant_id == tenant.id))
        for tenant in (Tenant.get(company_name=name) for name in ("Ahead Ltd", "Behind Ltd"))
    )
    # Another runner is sending the second tenant's mail right now.
    Job.update(claimed_until=time.time() + 300).where(Job.id == behind.id).execute()

    assert retry_jobs(settings_for(**settings), argparse.Namespace(kind=MAIL)) == 1

    printed = capsys.readouterr().out.splitlines()
    error = "last error: outbox: Is a directory"
    assert printed[:2] == [
        "mail: 0 done, 1 failed, 2 pending",
        f"  {behind.id} tenant {behind.tenant_id}: 1 attempts, running elsewhere, {error}",
    ]
    assert re.fullmatch(
        rf"  {ahead.id} tenant {ahead.tenant_id}: 2 attempts, "
        rf"next \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\dZ, {error}",
        printed[2],
    ), printed[2]
    assert len(printed) == 3


def test_a_retry_pass_reports_every_job_that_failed_again(hooked, outbox, gateway, clock):
    client, build = hooked
    gateway.status = 503
    load_access_codes("95555001", "95555002")
    tenants = [(PHONE, E164, "First Ltd"), ("13900139000", "+8613900139000", "Second Ltd")]
    for phone, e164, company in tenants:
        generate(client, phone)
        apply_tenant(client, phone, outbox.code_for(e164), company=company, email=f"{phone}@x.com")
    clock.advance(30)

    async def scenario(runner):
        return await runner.run_due(PROVISION)

    assert run(build, scenario) == RunReport(done=0, failed=2)
    assert len(gateway.requests) == 4


def test_a_failure_that_cannot_be_recorded_is_logged_and_retried_after_the_lease(
    hooked, outbox, gateway, clock, caplog, database_url
):
    caplog.set_level(logging.INFO, logger="applytry.faults")
    client, build = hooked
    gateway.status = 503
    open_tenant(client, outbox)
    clock.advance(30)
    claimed_at = clock.now
    gateway.delay = 1.0

    async def scenario(runner):
        attempt = asyncio.create_task(runner.run_due(PROVISION))
        deadline = time.monotonic() + 10
        while len(gateway.requests) < 2:
            assert time.monotonic() < deadline, "the retry never reached the hook"
            await asyncio.sleep(0.01)
        with another_writer_holds(database_url, "SELECT * FROM job FOR UPDATE"):
            first = await attempt  # the hook fails; recording it waits out the lock
        gateway.status, gateway.delay = 200, 0
        clock.advance(299)
        during_lease = await runner.run_due(PROVISION)
        clock.advance(1)
        return first, during_lease, await runner.run_due(PROVISION)

    assert run(build, scenario) == (
        RunReport(done=0, failed=1),
        RunReport(done=0, failed=0),
        RunReport(done=1, failed=0),
    )
    [fault] = [r for r in caplog.records if r.name == "applytry.faults"]
    assert fault.levelname == "ERROR"
    assert fault.getMessage().startswith("could not record a job's failure: database contention")
    assert (fault.db_error, fault.job_id) == ("contention", hook_job().id)
    assert len(gateway.requests) == 3
    assert hook_job().done_at == claimed_at + 300


def test_the_services_own_retries_outlast_a_database_fault(
    client_for, outbox, gateway, clock, caplog, database_url
):
    caplog.set_level(logging.INFO, logger="applytry.faults")
    gateway.status = 503
    client = client_for(
        provisioning_url=gateway.url, provisioning_secret=HOOK_SECRET, job_retry_s=0.05
    )
    open_tenant(client, outbox)
    gateway.status = 200

    def faults() -> list:
        return [r for r in caplog.records if r.name == "applytry.faults"]

    with another_writer_holds(database_url, "SELECT * FROM job FOR UPDATE"):
        clock.advance(30)  # due: the next pass tries to claim it, and waits out the lock
        wait_until(lambda: faults(), "the retry loop meeting the lock")
    wait_until(lambda: hook_job().status == "done", "the retry after the fault")

    fault = faults()[0]
    assert fault.levelname == "ERROR"
    assert fault.getMessage().startswith("could not retry jobs: database contention")
    assert (fault.db_error, fault.job) == ("contention", PROVISION)
    assert len(gateway.requests) == 2
