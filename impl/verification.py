"""Issuing verification codes: reserve, commit, then send (DESIGN section 4).

One short transaction applies every rule that can refuse a request and stores the new code
(hashed) before any SMS leaves; the gateway is called after commit, outside any transaction,
and its verdict is recorded afterwards. So concurrent requests for one phone, in any number of
processes, send one SMS between them, and no budget is ever overrun.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
import uuid
from collections.abc import Callable

import peewee

from applytry import faults, limits, messages
from applytry.challenges import Challenges
from applytry.config import Settings
from applytry.db import compiled
from applytry.db.compiled import Compiled
from applytry.db.database import again_if_lost, is_sqlite, write_transaction
from applytry.db.models import SmsMessage, Verification
from applytry.db.threads import Statements
from applytry.digests import Digests, new_code
from applytry.phones import Phone, parse_phone
from applytry.pumping import Guard, Screening
from applytry.sms import Delivery, SendResult, Sms
from applytry.sms.breaker import Breaker
from applytry.thresholds import Thresholds

log = logging.getLogger(__name__)

RET_CODES = {
    Delivery.ACCEPTED: "200",
    Delivery.REFUSED: "202",
    Delivery.FAILED: "204",
    Delivery.UNCONFIRMED: "204",
}


@dataclasses.dataclass(frozen=True)
class Outcome:
    ret_code: str
    retry_after: int | None = None  # seconds, with 201
    challenge_required: bool = False  # with 201: a solved challenge would have let it pass


RESEND_INTERVAL = "resend-interval"  # the refusal reason while a phone's code is fresh
CHALLENGE_REQUIRED = "challenge-required"  # the refusal reason of policy always, unsolved


@dataclasses.dataclass(frozen=True)
class _Request:
    """A request for a code past parsing: what each step of issuing it needs."""

    phone: Phone
    key: str  # the phone's keyed digest
    now: float
    policy: str  # challenge_policy when the request came
    code_length: int

    # Made only for a request that gets as far as a reservation: most are refused before.
    @functools.cached_property
    def code(self) -> str:
        return new_code(self.code_length)

    @functools.cached_property
    def message_id(self) -> str:
        return str(uuid.uuid4())


class _Refused(Exception):
    """Raised inside the reservation to roll it back and answer ``outcome`` instead."""

    def __init__(self, outcome: Outcome, reason: str):
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


def _claiming(key, masked, digest, message_id, issued_at, expires_at, resend_at, now):
    row = {
        Verification.phone_key: key,
        Verification.phone_masked: masked,
        Verification.code_digest: digest,
        Verification.message_id: message_id,
        Verification.issued_at: issued_at,
        Verification.expires_at: expires_at,
        Verification.resend_at: resend_at,
        Verification.attempts: 0,
    }
    return (
        Verification.insert(row)
        .on_conflict(
            conflict_target=[Verification.phone_key],
            preserve=[field for field in row if field is not Verification.phone_key],
            where=Verification.resend_at <= now,
        )
        .returning(Verification.phone_key)
        .tuples()
    )


# The hot statements of issuing, built once (applytry.db.compiled); the sentinels are values
# no argument ever takes.
_CLAIM = Compiled(
    _claiming, "\x00key", "\x00masked", "\x00digest", "\x00message", -1.5, -2.5, -3.5, -4.5
)
_RESEND_AT = Compiled(
    lambda key: Verification.select(Verification.resend_at).where(Verification.phone_key == key),
    "\x00key",
)
_HOLDER = Compiled(
    lambda key: Verification.select(Verification.resend_at, Verification.message_id).where(
        Verification.phone_key == key
    ),
    "\x00key",
)


_RECORD_SMS = Compiled(
    lambda message_id, key, masked, now, backend, status: SmsMessage.insert(
        id=message_id,
        phone_key=key,
        phone_masked=masked,
        created_at=now,
        backend=backend,
        status=status,
    ),
    "\x00message",
    "\x00key",
    "\x00masked",
    -1.5,
    "\x00backend",
    "\x00status",
)
_SENT = Compiled(
    lambda status, reference, detail, message_id: SmsMessage.update(
        status=status, provider_ref=reference, detail=detail
    ).where(SmsMessage.id == message_id),
    "\x00status",
    "\x00reference",
    "\x00detail",
    "\x00message",
)


class CodeIssuer:
    def __init__(
        self,
        settings: Settings,
        digests: Digests,
        sender: Breaker,
        thresholds: Thresholds,
        guard: Guard,
        challenges: Challenges,
        statements: Statements,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.statements = statements
        self.digests = digests
        self.sender = sender
        self.thresholds = thresholds
        self.guard = guard
        self.challenges = challenges
        self.clock = clock
        self.zone = settings.zone
        self.test_codes = dict(settings.test_numbers)

    async def issue(
        self, raw_phone: str, client: str, language: str, challenge: str | None = None
    ) -> Outcome:
        """Sends a fresh code to ``raw_phone`` unless a rule refuses it; ``challenge``, a
        solution for this phone, lifts the reputation allowances (applytry.pumping).

        Raises InvalidPhone (400) or limits.RateLimited (429); database failures propagate (500)
        before anything is sent.
        """
        phone = parse_phone(raw_phone, self.settings.countries)
        now = self.clock()
        if not self.sender.ready():
            # The gateway has been failing: answer at once, spend nothing, void nothing.
            self.sender.turned_away()
            log.info("sms gateway unavailable", extra={"phone": phone.masked, "ret_code": "204"})
            return Outcome("204")
        run = self.statements.run
        key = self.digests.phone(phone.e164)
        policy = self.thresholds.get("challenge_policy")
        # A solution is spent only once the cheap refusals are past; policy off ignores it.
        redeeming = challenge is not None and policy != "off"
        # Without a solution to redeem nothing is awaited between the screening and the
        # reservation, so both run in one call: one hop to a statement thread, not two.
        request = _Request(phone, key, now, policy, self.settings.code_length)
        answer = await run(self._screen, request, client, not redeeming)
        if isinstance(answer, Screening):
            level = await run(self.guard.suspicion, phone, now)
            solved = await self.challenges.redeem(phone, challenge, level)
            answer = await run(self._reserve_unless_refused, request, answer, solved)
        if answer is not None:
            return answer
        code, message_id = request.code, request.message_id

        settings = self.settings
        templates = (settings.sms_template_en, settings.sms_template_zh)
        sms = Sms(
            id=message_id,
            to=phone.e164,
            text=messages.sms_text(templates, code, settings.code_ttl_s, language),
            code=code,
            minutes=messages.minutes(settings.code_ttl_s),
            language=language,
        )
        result = await self.sender.send(sms)
        await run(self._record, phone, key, message_id, result)
        ret_code = RET_CODES[result.delivery]
        log.info(
            "code %s",
            result.delivery.value,
            extra={
                "phone": phone.masked,
                "ret_code": ret_code,
                "message_id": message_id,
                "detail": result.detail,
            },
        )
        return Outcome(ret_code)

    def _screen(self, request: _Request, client: str, reserve: bool) -> Outcome | Screening | None:
        """The cheap refusals, before anything is reserved: the client's budget, a test
        number's own path, the resend interval and the operators' lists. An Outcome is the
        answer. Past them, with ``reserve`` the reservation follows (None: reserved);
        without, the Screening is returned for a challenge to be redeemed first."""
        phone, key, now = request.phone, request.key, request.now
        # Most repeated requests come inside the resend interval: answered from one read,
        # without the write lock, made with the admission. The claim in the reservation
        # still decides any race.
        try:
            resend_at = limits.admit_client(
                self.digests.client(client),
                self.thresholds.get("ip_per_minute"),
                now,
                self.zone,
                then=(_RESEND_AT, (key,)),
            )
        except limits.RateLimited:
            self.guard.refuse(phone, limits.CLIENT_MINUTE.scope, 0, now)
            raise
        if phone.e164 in self.test_codes:
            return self._test_number(phone, key, now)
        waiting = _waiting(resend_at, now)
        if waiting is not None:
            self.guard.refuse(phone, RESEND_INTERVAL, waiting, now)
            return Outcome("201", waiting)
        screening = self.guard.screen(phone, now)
        if screening.refusal:
            return Outcome("201", screening.retry_after)
        if not reserve:
            return screening
        return self._reserve_unless_refused(request, screening, solved=False)

    def _reserve_unless_refused(
        self, request: _Request, screening: Screening, solved: bool
    ) -> Outcome | None:
        """Reserves (:meth:`_reserve`) and returns None, or answers why not."""
        phone, now, policy = request.phone, request.now, request.policy
        if policy == "always" and not (solved or screening.allowed):
            # Waiting does not help here; the resend interval is as good a pause as any.
            retry_after = self.settings.resend_interval_s
            self.guard.refuse(phone, CHALLENGE_REQUIRED, retry_after, now)
            return Outcome("201", retry_after, challenge_required=True)
        spends = self.guard.spends(phone, now, screening.allowed, solved)
        try:
            again_if_lost(lambda: self._reserve(request, spends))
        except _Refused as refused:
            self.guard.refuse(phone, refused.reason, 0, now)
            return refused.outcome
        return None

    def _reserve(self, request: _Request, guarded: list[limits.Spend]) -> None:
        """Stores the code and spends every budget, or changes nothing and raises _Refused."""
        phone, key, now = request.phone, request.key, request.now
        threshold = self.thresholds.get
        spends = [
            limits.Spend(limits.PHONE_HOUR, key, threshold("phone_hourly_limit")),
            limits.Spend(limits.PHONE_DAY, key, threshold("phone_daily_limit")),
            *guarded,
            limits.Spend(limits.SMS_DAY, limits.SYSTEM, threshold("sms_daily_limit")),
        ]
        record = (request.message_id, key, phone.masked, now, self.sender.name, "pending")
        if not is_sqlite() and self._reserved_at_once(request, spends, record):
            return
        with write_transaction():
            if not self._claim_or_refuse(phone, key, request.code, request.message_id, now):
                return
            refused = limits.spend_all(spends, now, self.zone)
            if refused is not None:
                spend, retry_after = refused
                if spend.budget is limits.SMS_DAY:
                    raise _Refused(Outcome("205"), spend.budget.scope)
                reason = self.guard.refused_allowance(spend)
                if reason is not None:
                    # Suspicious, not spent: a solved challenge would let it pass.
                    challenge = request.policy != "off"
                    outcome = Outcome("201", retry_after, challenge_required=challenge)
                    raise _Refused(outcome, reason)
                raise _Refused(Outcome("201", retry_after), spend.budget.scope)
            _RECORD_SMS.execute(*record)

    def _reserved_at_once(
        self, request: _Request, spends: list[limits.Spend], record: tuple
    ) -> bool:
        """PostgreSQL: the claim, every budget and the SMS row in one round trip
        (:func:`applytry.db.compiled.at_once`). False when a rule refused and nothing was
        done: the stepwise transaction then finds out which, and says so."""
        now = request.now
        if limits.no_room(spends, now, self.zone) is not None:
            return False
        claim = self._claiming(request.phone, request.key, request.code, request.message_id, now)
        spending, values = limits.spending(spends, now, self.zone)
        steps = [(_CLAIM, claim, 1), (spending, values, len(spends)), (_RECORD_SMS, record, None)]
        try:
            compiled.at_once(steps)
        except compiled.Refused:
            return False
        return True

    def _claim_or_refuse(
        self, phone: Phone, key: str, code: str, message_id: str, now: float
    ) -> bool:
        """Claims the phone's code row, or raises _Refused while another code holds it.
        False when this very request holds it: its reservation was committed by a run whose
        answer the network lost (again_if_lost runs it once more), and must not be made
        twice; the SMS is still to be sent."""
        if self._claim(phone, key, code, message_id, now):
            return True
        held = _HOLDER.execute(key)
        if held and held[0][1] == message_id:
            log.warning("reservation found committed by a lost run", extra={"phone": phone.masked})
            return False
        raise _Refused(Outcome("201", _waiting(held, now) or 1), RESEND_INTERVAL)

    def _test_number(self, phone: Phone, key: str, now: float) -> Outcome:
        """An operator's test number: its fixed code is stored like any other, no SMS leaves,
        and no budget is spent; only the resend interval holds."""
        message_id = str(uuid.uuid4())
        try:
            with write_transaction():
                if self._claim_or_refuse(phone, key, self.test_codes[phone.e164], message_id, now):
                    _RECORD_SMS.execute(
                        message_id, key, phone.masked, now, "test", Delivery.ACCEPTED.value
                    )
        except _Refused as refused:
            return refused.outcome
        log.info("test number: code stored, no sms", extra={"phone": phone.masked})
        return Outcome("200")

    def _claim(self, phone: Phone, key: str, code: str, message_id: str, now: float) -> bool:
        """Writes the new code unless the phone is inside its resend interval; one statement,
        so of two racing requests exactly one wins."""
        return bool(_CLAIM.execute(*self._claiming(phone, key, code, message_id, now)))

    def _claiming(self, phone: Phone, key: str, code: str, message_id: str, now: float) -> tuple:
        """The claim's values: the code's digest, when it expires and when the phone may ask
        again, unless it is inside its resend interval ``now``."""
        settings = self.settings
        return (
            key,
            phone.masked,
            self.digests.code(phone.e164, code),
            message_id,
            now,
            now + settings.code_ttl_s,
            now + settings.resend_interval_s,
            now,
        )

    def _record(self, phone: Phone, key: str, message_id: str, result: SendResult) -> None:
        """Stores the gateway's verdict. The SMS is out (or not) whatever happens here, so a
        database failure is logged, not turned into an error for the caller."""
        try:
            _SENT.execute(result.delivery.value, result.provider_ref, result.detail, message_id)
            if result.delivery in (Delivery.REFUSED, Delivery.FAILED):
                # The code cannot arrive: void it and let the phone ask again at once.
                Verification.update(code_digest=None, resend_at=self.clock()).where(
                    (Verification.phone_key == key) & (Verification.message_id == message_id)
                ).execute()
        except peewee.PeeweeException as exc:
            faults.database_failed(exc, "could not record the SMS outcome", phone=phone.masked)


def _waiting(resend_at: list[tuple], now: float) -> int | None:
    """Seconds until the phone may have a new code (from its ``resend_at`` row, if any), or
    None if it may now."""
    if resend_at and resend_at[0][0] > now:
        return max(1, math.ceil(resend_at[0][0] - now))
    return None
