"""What one process of the service holds: its settings and the collaborators built from them."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

from applytry.accountmail import AccountMail
from applytry.challenges import Challenges
from applytry.clients import Network, parse_networks
from applytry.config import Settings
from applytry.db.threads import Statements
from applytry.digests import Digests
from applytry.jobs import MAIL, PROVISION, JobRunner
from applytry.keys import Keys
from applytry.mail import build_mailer
from applytry.provisioning import ProvisioningHook
from applytry.pumping import Guard
from applytry.receipts import Receipts
from applytry.rules import Rules
from applytry.sms import build_sender
from applytry.sms.breaker import Breaker
from applytry.tally import Tally
from applytry.tenants import TenantApplications
from applytry.thresholds import Thresholds
from applytry.verification import CodeIssuer


@dataclasses.dataclass
class Services:
    settings: Settings
    sender: Breaker
    issuer: CodeIssuer
    applications: TenantApplications
    runner: JobRunner
    receipts: Receipts
    keys: Keys
    tally: Tally
    challenges: Challenges
    guard: Guard
    statements: Statements
    trusted: tuple[Network, ...] = ()
    hook: ProvisioningHook | None = None

    async def aclose(self) -> None:
        await self.sender.aclose()
        await self.challenges.aclose()
        if self.hook is not None:
            await self.hook.aclose()
        await asyncio.to_thread(self.statements.close)


def build_runner(
    settings: Settings, digests: Digests, clock: Callable[[], float] = time.time
) -> tuple[JobRunner, ProvisioningHook | None]:
    """The job runner with a handler for each kind of job; also used by the CLI's retries."""
    handlers = {MAIL: AccountMail(build_mailer(settings), digests)}
    hook = None
    if settings.provisioning_url:
        key = (settings.provisioning_secret or settings.resolve_secret().decode()).encode()
        hook = ProvisioningHook(settings.provisioning_url, key, settings.provisioning_timeout_s)
        handlers[PROVISION] = hook
    return JobRunner(handlers, clock), hook


def build_services(
    settings: Settings, secret: bytes, clock: Callable[[], float] = time.time
) -> Services:
    digests = Digests(secret)
    # Settings, rules and keys are reread in a statement thread on PostgreSQL
    # (applytry.refreshed): no request waits for it.
    statements = Statements(settings.db_pool_size)
    background = statements.background
    thresholds = Thresholds(settings, background=background)
    tally = Tally(settings.zone)
    rules = Rules(settings.settings_refresh_s, background=background)
    guard = Guard(settings, thresholds, rules, tally)
    challenges = Challenges(settings, thresholds, tally, digests, clock)
    sender = build_sender(settings, secret, clock)
    runner, hook = build_runner(settings, digests, clock)
    return Services(
        settings=settings,
        sender=sender,
        issuer=CodeIssuer(
            settings, digests, sender, thresholds, guard, challenges, statements, clock
        ),
        applications=TenantApplications(
            settings, digests, thresholds, guard, runner, statements, clock
        ),
        runner=runner,
        receipts=Receipts(settings, digests, clock),
        keys=Keys(digests, settings.settings_refresh_s, background=background),
        tally=tally,
        challenges=challenges,
        guard=guard,
        statements=statements,
        trusted=parse_networks(settings.trusted_proxies),
        hook=hook,
    )
