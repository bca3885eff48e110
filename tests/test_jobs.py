"""Retries of the work a new tenant sets off (the provisioning hook, the account mail): the
back-off schedule, the lease that keeps two runners off one job, what a retry run reports and
what operators read in the log. The runner is the one `applytry provisioning retry` builds,
over this test's database and the test's clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest

from applytry.db.models import Job
from applytry.digests import Digests
from applytry.jobs import MAIL, PROVISION, RunReport
from applytry.services import build_runner
from conftest import SECRET, apply_tenant, generate, load_access_codes

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
            clock.advance(1)
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
