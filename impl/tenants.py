"""applyTenant: check the code, open a trial tenant, then mail its account.

1. Hold the phone and the company for this application, with one atomic upsert each; another
   application in flight for either gets 005 at once instead of queueing on locks.
2. One write transaction: check the code (001, or 002 with the guess counted and committed);
   then claim the phone, the email and the company (004), take an access code (006), spend
   the daily email budget (205) and store the tenant with its jobs. A refusal after the code
   check rolls everything back, the use of the code included, so the applicant can try again.
3. After commit, release the hold and run the jobs: the account mail and, when configured, the
   provisioning hook. A mail that fails is retried later; the reply says it is queued.

A database failure answers 003 (not the caller's fault), or 005 when it was lock contention.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import unicodedata
import uuid
from collections.abc import Callable

import peewee

from applytry import accesscodes, faults, jobs, limits
from applytry.checking import Verdict, check_code
from applytry.config import Settings
from applytry.db.database import CONTENTION, again_if_lost, write_transaction
from applytry.db.models import ApplicationLock, Tenant, TenantClaim
from applytry.db.threads import Statements
from applytry.digests import Digests
from applytry.emails import claim_key, parse_email
from applytry.errors import InvalidInput
from applytry.phones import Phone, parse_phone
from applytry.pumping import Guard
from applytry.thresholds import Thresholds

log = logging.getLogger(__name__)

HOLD_S = 60  # a hold left by a crashed process lapses after this ("try again in a minute")
DAY_S = 86400


@dataclasses.dataclass(frozen=True)
class Decision:
    return_code: str
    mail_queued: bool = False


@dataclasses.dataclass(frozen=True)
class Applicant:
    company_name: str
    phone: Phone
    email: str
    code: str
    language: str

    @property
    def company_key(self) -> str:
        return self.company_name.casefold()


class _Refused(Exception):
    """Raised inside the transaction to roll it back and answer ``return_code``."""

    def __init__(self, return_code: str, reason: str):
        super().__init__(reason)
        self.return_code = return_code


def company_name(raw: str) -> str:
    """The company as shown: full-width forms folded, runs of spaces made one."""
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not name:
        raise InvalidInput("companyName is blank")
    return name


class TenantApplications:
    def __init__(
        self,
        settings: Settings,
        digests: Digests,
        thresholds: Thresholds,
        guard: Guard,
        runner: jobs.JobRunner,
        statements: Statements,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.statements = statements
        self.digests = digests
        self.thresholds = thresholds
        self.guard = guard
        self.runner = runner
        self.clock = clock

    async def apply(self, body: dict, client: str, language: str) -> Decision:
        """Raises InvalidInput (400) or limits.RateLimited (429); answers the rest."""
        applicant = Applicant(
            company_name=company_name(body["companyName"]),
            phone=parse_phone(body["phone"], self.settings.countries),
            email=parse_email(body["email"]),
            code=body["phoneVerifyCode"],
            language=language,
        )
        now = self.clock()
        masked = applicant.phone.masked
        run = self.statements.run
        try:
            tenant_id, job_ids = await run(self._admit_and_open, applicant, client, now)
        except _Refused as refused:
            # Not counted as a use for the range's reputation (applytry.pumping), even when
            # the code was right (004, 006, 205): the code stays valid, and a use that can be
            # repeated would let one code buy a range any allowance.
            log.info(
                "application refused: %s",
                refused,
                extra={"phone": masked, "return_code": refused.return_code},
            )
            return Decision(refused.return_code)
        except peewee.PeeweeException as exc:
            kind = faults.database_failed(exc, "application failed", phone=masked)
            return_code = "005" if kind == CONTENTION else "003"
            log.info(
                "application answered %s",
                return_code,
                extra={"phone": masked, "return_code": return_code},
            )
            return Decision(return_code)

        await run(self.guard.used, applicant.phone, now)
        log.info("tenant opened", extra={"phone": masked, "tenant_id": tenant_id})
        mailed = await self._run_jobs(job_ids)
        return Decision("000", mail_queued=not mailed)

    def _admit_and_open(
        self, applicant: Applicant, client: str, now: float
    ) -> tuple[str, list[str]]:
        limits.admit_client(
            self.digests.client(client),
            self.thresholds.get("ip_per_minute"),
            now,
            self.settings.zone,
        )
        return again_if_lost(lambda: self._open_held(applicant, now))

    def _open_held(self, applicant: Applicant, now: float) -> tuple[str, list[str]]:
        holds = [
            self.digests.claim("phone", applicant.phone.e164),
            self.digests.claim("company", applicant.company_key),
        ]
        owner = str(uuid.uuid4())
        if not _hold(holds, owner, now):
            raise _Refused("005", "another application for this phone or company is in flight")
        try:
            return self._open(applicant, now)
        finally:
            _release(holds, owner)

    def _open(self, applicant: Applicant, now: float) -> tuple[str, list[str]]:
        settings = self.settings
        with write_transaction():
            verdict = check_code(
                self.digests, applicant.phone, applicant.code, now, settings.max_attempts
            )
            if verdict is Verdict.WRONG:
                # Returned, not raised: the counted guess must be committed.
                return_code, reason = "002", "wrong code"
            elif verdict is Verdict.NO_CODE:
                return_code, reason = "001", "no live code"
            else:
                return self._create(applicant, now)
        raise _Refused(return_code, reason)

    def _create(self, applicant: Applicant, now: float) -> tuple[str, list[str]]:
        """Inside the transaction that just used the code."""
        tenant_id = str(uuid.uuid4())
        claims = [
            {"kind": "phone", "key": self.digests.claim("phone", applicant.phone.e164)},
            {"kind": "email", "key": self.digests.claim("email", claim_key(applicant.email))},
            {"kind": "company", "key": self.digests.claim("company", applicant.company_key)},
        ]
        taken = (
            TenantClaim.insert_many([{**claim, "tenant_id": tenant_id} for claim in claims])
            .on_conflict_ignore()
            .returning(TenantClaim.kind)
            .tuples()
            .execute()
        )
        if len(list(taken)) < len(claims):
            raise _Refused("004", "the phone, email or company already holds a tenant")
        access_code = accesscodes.take(tenant_id, now)
        if access_code is None:
            raise _Refused("006", "no trial access code left")
        if limits.spend(
            limits.EMAIL_DAY,
            limits.SYSTEM,
            self.thresholds.get("email_daily_limit"),
            now,
            self.settings.zone,
        ):
            raise _Refused("205", "daily email threshold reached")
        Tenant.insert(
            id=tenant_id,
            company_name=applicant.company_name,
            phone=applicant.phone.e164,
            email=applicant.email,
            status="trial",
            trial_start=now,
            trial_end=now + self.settings.trial_days * DAY_S,
            admin_account=f"admin-{tenant_id[:8]}",
            access_code=access_code,
            language=applicant.language,
            created_at=now,
        ).execute()
        job_ids = [jobs.enqueue(jobs.MAIL, tenant_id, now)]
        if self.settings.provisioning_url:
            job_ids.append(jobs.enqueue(jobs.PROVISION, tenant_id, now))
        return tenant_id, job_ids

    async def _run_jobs(self, job_ids: list[str]) -> bool:
        """Runs the new tenant's jobs once; True if the account mail went out. A failure here
        leaves the job for a retry: the tenant exists whatever happens."""
        mailed = False
        for position, job_id in enumerate(job_ids):
            try:
                done = await self.runner.run(job_id)
            except peewee.PeeweeException as exc:
                faults.database_failed(
                    exc, "could not run a job; it will be retried", job_id=job_id
                )
                done = False
            if position == 0:
                mailed = done
        return mailed


def _hold(keys: list[str], owner: str, now: float) -> bool:
    """Takes every key or none: each is free, or its holder's time is up."""
    try:
        with write_transaction():
            for key in keys:
                cursor = (
                    ApplicationLock.insert(key=key, owner=owner, expires_at=now + HOLD_S)
                    .on_conflict(
                        conflict_target=[ApplicationLock.key],
                        preserve=[ApplicationLock.owner, ApplicationLock.expires_at],
                        where=ApplicationLock.expires_at <= now,
                    )
                    .returning(ApplicationLock.key)
                    .tuples()
                    .execute()
                )
                if not list(cursor):
                    raise _Refused("005", "held")
    except _Refused:
        return False
    return True


def _release(keys: list[str], owner: str) -> None:
    try:
        ApplicationLock.delete().where(
            ApplicationLock.key.in_(keys) & (ApplicationLock.owner == owner)
        ).execute()
    except peewee.PeeweeException as exc:
        # The hold lapses by itself after HOLD_S.
        faults.database_failed(exc, "could not release an application hold")
