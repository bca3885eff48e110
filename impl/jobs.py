"""Work that must happen once after a commit and may fail: the account mail, the provisioning
hook. A job row is written in the same transaction as the tenant, so it exists exactly when
the tenant does; it is then run at once, and, if that fails, again later with back-off: by
every running service every ``APPLYTRY_JOB_RETRY_S`` seconds, and on demand by
``applytry mail retry`` / ``applytry provisioning retry``.

Running a job first claims it with one conditional UPDATE that sets a lease, so two runners
(two instances' crons, or a retry racing the first attempt) never run the same job together.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import peewee

from applytry import faults
from applytry.db.models import Job

log = logging.getLogger(__name__)

MAIL, PROVISION = "mail", "provision"
LEASE_S = 300  # longer than any one attempt can take (every gateway call has a timeout)


class JobFailed(Exception):
    """The job's work did not happen; the message says why, for operators."""


@dataclasses.dataclass(frozen=True)
class RunReport:
    done: int = 0
    failed: int = 0


def backoff(attempts: int) -> float:
    """Seconds before the next attempt: 30 s, doubling, at most an hour."""
    return float(min(3600, 30 * 2 ** max(0, attempts - 1)))


def enqueue(kind: str, tenant_id: str, now: float) -> str:
    """Adds a job, inside the caller's transaction; returns its id."""
    job_id = str(uuid.uuid4())
    Job.insert(
        id=job_id, kind=kind, tenant_id=tenant_id, status="pending", next_at=now, created_at=now
    ).execute()
    return job_id


class JobRunner:
    def __init__(
        self,
        handlers: dict[str, Callable[[Job], Awaitable[None]]],
        clock: Callable[[], float] = time.time,
    ):
        self.handlers = handlers
        self.clock = clock

    async def run(self, job_id: str) -> bool | None:
        """Runs one job if it is due and nobody else holds it: True once it is done, False if
        it failed, None if it was not this runner's to run (done, not due, or held)."""
        now = self.clock()
        claimed = (
            Job.update(claimed_until=now + LEASE_S, attempts=Job.attempts + 1)
            .where(
                (Job.id == job_id)
                & (Job.status == "pending")
                & (Job.claimed_until <= now)
                & (Job.next_at <= now)
            )
            .execute()
        )
        if not claimed:
            return None
        job = Job.get_by_id(job_id)
        try:
            await self.handlers[job.kind](job)
        except JobFailed as exc:
            self._failed(job, str(exc))
            return False
        Job.update(status="done", done_at=self.clock(), last_error=None).where(
            Job.id == job_id
        ).execute()
        log.info("job done", extra={"job": job.kind, "job_id": job_id, "attempts": job.attempts})
        return True

    async def run_due(self, kind: str, limit: int = 1000) -> RunReport:
        """Runs every job of ``kind`` that is due, oldest first, at most ``limit``."""
        due = (
            Job.select(Job.id)
            .where((Job.kind == kind) & (Job.status == "pending") & (Job.next_at <= self.clock()))
            .order_by(Job.created_at)
            .limit(limit)
            .tuples()
        )
        done = failed = 0
        for (job_id,) in list(due):
            ran = await self.run(job_id)
            # A job another runner holds is theirs to report, not a failure of this run.
            if ran is True:
                done += 1
            elif ran is False:
                failed += 1
        return RunReport(done=done, failed=failed)

    async def retry_forever(self, every_s: float) -> None:
        """Runs the due jobs of every kind every ``every_s`` seconds, until cancelled. Each
        worker of each instance does this; the lease keeps them from running one job twice."""
        while True:
            await asyncio.sleep(every_s)
            for kind in self.handlers:
                try:
                    await self.run_due(kind)
                except peewee.PeeweeException as exc:
                    faults.database_failed(exc, "could not retry jobs", job=kind)

    def _failed(self, job: Job, reason: str) -> None:
        log.warning(
            "job failed; will retry",
            extra={"job": job.kind, "job_id": job.id, "attempts": job.attempts, "why": reason},
        )
        try:
            Job.update(
                claimed_until=0,
                next_at=self.clock() + backoff(job.attempts),
                last_error=reason[:250],
            ).where(Job.id == job.id).execute()
        except peewee.PeeweeException as exc:
            # The lease runs out by itself; the job is retried after it.
            faults.database_failed(exc, "could not record a job's failure", job_id=job.id)


def held(job: Job, now: float) -> bool:
    """Whether another runner is running ``job`` now (its lease has not run out)."""
    return job.claimed_until > now


def pending(kind: str) -> list[Job]:
    return list(
        Job.select().where((Job.kind == kind) & (Job.status == "pending")).order_by(Job.created_at)
    )
