"""Challenges: what a caller proves before a suspicious code request is let through.

A challenge costs a person one pause and a pumping bot a cost per SMS it asks for. The
service's own is an ALTCHA v1 proof of work (SHA-256): find the number behind
``challenge = SHA-256(salt + number)``, with ``number`` in ``0..maxnumber``; the service signs
the challenge (HMAC), so it keeps nothing between issuing and checking. Its salt carries the
expiry and a keyed digest of the phone, never the phone itself, so that a solution works for
the phone it was asked for only.

An operator may pick a third-party widget instead (Turnstile, hCaptcha, reCAPTCHA): the
browser solves it and the token is checked with the provider's siteverify (:class:`SiteVerify`,
behind the small :class:`Verifier` protocol). Such a token is bound to no phone.

Either way a solution is used once: its keyed digest goes into ``spent_challenge`` with one
insert that does nothing on a conflict, so of any number of requests racing with one
solution, in any number of processes, exactly one gets it in. Outcomes are counted in
``/metrics`` and per day for ``applytry stats``.
"""

from __future__ import annotations

import base64
import datetime
import hmac
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Protocol

import altcha

from applytry import limits, metrics
from applytry.config import Settings
from applytry.db.compiled import Compiled
from applytry.db.database import again_if_lost, write_transaction
from applytry.db.models import SpentChallenge
from applytry.digests import Digests
from applytry.phones import Phone
from applytry.sms.http import Gateway, Reply
from applytry.tally import Tally
from applytry.thresholds import Thresholds

log = logging.getLogger(__name__)

ISSUED, SOLVED, FAILED, EXPIRED, REPLAYED = "issued", "solved", "failed", "expired", "replayed"
OUTCOMES = (ISSUED, SOLVED, FAILED, EXPIRED, REPLAYED)
OUTCOMES_DAY = limits.Budget("challenge-day", None)  # per outcome, for applytry stats

ALGORITHM = "SHA-256"
MAX_TOKEN = 4096  # the spec's bound on generateverifycode's `challenge`; longer is not read
# A solution counts if its challenge was at least this share as hard as the suspicion asks
# now: suspicion may rise while a person solves, but a challenge fetched while a range was
# quiet must not buy codes once it is not (an attacker would fetch them ahead, at the least).
EASIEST_SHARE = 0.5

SITEVERIFY_URLS = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
    "recaptcha": "https://www.google.com/recaptcha/api/siteverify",
}
VERIFY_TIMEOUT_S = 5.0
# How long a third-party token is kept as spent: the providers accept one for at most five
# minutes (Turnstile; hCaptcha and reCAPTCHA two), and refuse a repeat themselves besides.
TOKEN_LIFE_S = 300


class Verifier(Protocol):
    """A third party that checks the tokens its own widget hands out."""

    kind: str  # the Challenge body's `kind`

    async def verify(self, token: str) -> bool:
        """Whether the provider vouches for ``token``; any failure to ask is a no."""
        ...

    async def aclose(self) -> None: ...


class SiteVerify:
    """Turnstile, hCaptcha and reCAPTCHA share one protocol: POST the form ``{secret,
    response}`` to the provider's siteverify; the JSON answer's ``success`` decides."""

    def __init__(
        self, kind: str, secret: str, url: str | None = None, timeout_s: float = VERIFY_TIMEOUT_S
    ):
        self.kind = kind
        self.url = url or SITEVERIFY_URLS[kind]
        self._secret = secret
        # The SMS gateways' pooled client: one session a process, the egress proxy honoured,
        # and every way an exchange can fail turned into a value rather than an exception.
        self._http = Gateway(kind, timeout_s)

    async def verify(self, token: str) -> bool:
        reply = await self._http.post(self.url, data={"secret": self._secret, "response": token})
        if not isinstance(reply, Reply):
            log.warning("%s siteverify unreachable: %s", self.kind, reply.detail)
            return False
        try:
            answer = reply.json()
        except ValueError:
            answer = None
        if not reply.is_success or not isinstance(answer, dict):
            log.warning("%s siteverify answered %s", self.kind, reply.status_code)
            return False
        if answer.get("success") is not True:
            codes = answer.get("error-codes")
            # A wrong secret fails every challenge: the operator's to fix, so louder.
            level = logging.WARNING if "secret" in str(codes) else logging.INFO
            log.log(level, "%s token refused: %s", self.kind, codes)
            return False
        return True

    async def aclose(self) -> None:
        await self._http.aclose()


def verifier_for(settings: Settings) -> Verifier | None:
    """The operator's third-party provider, or None for the service's own ALTCHA."""
    if settings.challenge_provider == "altcha":
        return None
    return SiteVerify(
        settings.challenge_provider, settings.challenge_secret, settings.challenge_verify_url
    )


class Challenges:
    def __init__(
        self,
        settings: Settings,
        thresholds: Thresholds,
        tally: Tally,
        digests: Digests,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.thresholds = thresholds
        self.tally = tally
        self.clock = clock
        self.verifier = verifier_for(settings)
        self.digests = digests
        self._signing = digests.challenge_key()

    def admit(self, address: str) -> None:
        """Counts a createChallenge against the client's per-minute budget, which every
        operation shares; raises limits.RateLimited (429) when it is spent."""
        limits.admit_client(
            self.digests.client(address),
            self.thresholds.get("ip_per_minute"),
            self.clock(),
            self.settings.zone,
        )

    def issue(self, phone: Phone, level: float) -> dict:
        """The createChallenge body for ``phone``, the harder the higher ``level`` (0..1, the
        phone's suspicion). A third party's token is bound neither to the phone nor to this
        expiry: its provider decides how long it holds, a few minutes."""
        now = self.clock()
        expires = int(now) + self.settings.challenge_ttl_s
        if self.verifier is not None:
            body = {
                "kind": self.verifier.kind,
                "siteKey": self.settings.challenge_site_key,
                "expires": expires,
            }
        else:
            hardness = self.difficulty(level)
            made = altcha.create_challenge_v1(
                algorithm=ALGORITHM,
                max_number=hardness,
                hmac_key=self._signing,
                expires=datetime.datetime.fromtimestamp(expires, datetime.UTC),
                # Signed with the rest: the phone it is for, and how hard it was set.
                params={
                    "phone": self.digests.challenge_phone(phone.e164),
                    "maxnumber": str(hardness),
                },
            )
            body = {
                "kind": "altcha",
                "algorithm": made.algorithm,
                "challenge": made.challenge,
                "maxnumber": made.max_number,
                "salt": made.salt,
                "signature": made.signature,
                "expires": expires,
            }
        self._count(ISSUED, phone, now)
        return body

    def difficulty(self, level: float) -> int:
        """ALTCHA's maxnumber: from the least to the most at ``level`` 0 to 1, geometrically,
        so that each step of suspicion multiplies the work alike. A run-time minimum above
        the maximum is taken as the maximum."""
        most = self.thresholds.get("challenge_max_number")
        least = min(self.thresholds.get("challenge_min_number"), most)
        return round(least * (most / least) ** min(1.0, max(0.0, level)))

    def redeem(self, phone: Phone, token: str | None, level: float = 0.0) -> _Verdict:
        """Awaits to True only if ``token`` is a valid solution for ``phone`` now, at least
        about as hard as ``level`` (the phone's suspicion now) asks, and this call used it up;
        every offered token's outcome is counted. No token: False, uncounted. Database
        failures propagate; a provider that cannot be asked is a False."""
        return _Verdict(self._redeem(phone, token, level))

    async def _redeem(self, phone: Phone, token: str | None, level: float) -> bool:
        if not token:
            return False
        now = self.clock()
        if self.verifier is None:
            least = self.difficulty(level) * EASIEST_SHARE
            outcome, spent, until = self._check(phone, token, now, least)
        else:
            outcome, spent, until = await self._ask(token, now)
        if outcome == SOLVED and not _spend(spent, until):
            outcome = REPLAYED
        self._count(outcome, phone, now)
        return outcome == SOLVED

    def _check(self, phone: Phone, token: str, now: float, least: float) -> tuple[str, str, float]:
        """An ALTCHA solution's outcome before it is spent, the key it is spent under and
        until when; one set easier than ``least`` is a failure."""
        solution = _solution(token)
        if solution is None or solution["algorithm"] != ALGORITHM:
            return FAILED, "", 0
        # The signature first, in constant time (altcha compares with ==), then altcha's own
        # check that the number solves the challenge of this salt. Expiry is ours to check,
        # with the service's clock; the signature covers the salt, so what it says was said
        # by the service.
        signed = altcha.hmac_hex(ALGORITHM, solution["challenge"].encode(), self._signing)
        if not hmac.compare_digest(signed.encode(), solution["signature"].encode()):
            return FAILED, "", 0
        valid, _ = altcha.verify_solution_v1(solution, self._signing, check_expires=False)
        if not valid:
            return FAILED, "", 0
        params = altcha.extract_params_v1(solution)
        bound, expires = params.get("phone", []), params.get("expires", [])
        hardness = params.get("maxnumber", [])
        binding = self.digests.challenge_phone(phone.e164).encode()
        if len(bound) != 1 or not hmac.compare_digest(bound[0].encode(), binding):
            return FAILED, "", 0
        if len(expires) != 1 or not expires[0].isdecimal():
            return FAILED, "", 0
        if len(hardness) != 1 or not hardness[0].isdecimal() or int(hardness[0]) < least:
            return FAILED, "", 0
        if int(expires[0]) < now:
            return EXPIRED, "", 0
        spent = self.digests.spent_challenge("altcha", solution["signature"])
        return SOLVED, spent, int(expires[0])

    async def _ask(self, token: str, now: float) -> tuple[str, str, float]:
        """A third-party token's outcome before it is spent, its key and until when."""
        if len(token) > MAX_TOKEN:
            return FAILED, "", 0
        key = self.digests.spent_challenge(self.verifier.kind, token)
        # Already used here: said without asking the provider, which would call it a failure.
        if SpentChallenge.select().where(SpentChallenge.key == key).exists():
            return REPLAYED, key, 0
        if not await self.verifier.verify(token):
            return FAILED, "", 0
        return SOLVED, key, now + max(self.settings.challenge_ttl_s, TOKEN_LIFE_S)

    def _count(self, outcome: str, phone: Phone, now: float) -> None:
        self.tally.count(OUTCOMES_DAY, outcome, now)
        metrics.challenges(outcome).inc()
        log.info("challenge %s", outcome, extra={"phone": phone.masked, "outcome": outcome})

    async def aclose(self) -> None:
        if self.verifier is not None:
            await self.verifier.aclose()


class _Verdict:
    """What :meth:`Challenges.redeem` returns, to be awaited. Not awaited, a coroutine would
    test true and let every token pass (``if challenges.redeem(...)``); this refuses to be
    tested at all."""

    __slots__ = ("_coroutine",)

    def __init__(self, coroutine: Coroutine[None, None, bool]):
        self._coroutine = coroutine

    def __await__(self):
        return self._coroutine.__await__()

    def __bool__(self):
        self._coroutine.close()
        raise TypeError("Challenges.redeem(...) must be awaited")


def _solution(token: str) -> dict | None:
    """The fields of an ALTCHA solution in ``token`` (base64 of a JSON object; the widget adds
    others, such as ``took``), or None if it is not one. Bounded before it is decoded, and
    any malformation, nesting deep enough to exhaust the parser included, is a None."""
    if len(token) > MAX_TOKEN:
        return None
    try:
        data = json.loads(base64.b64decode(token, validate=True))
    except (ValueError, RecursionError):  # binascii.Error and UnicodeDecodeError included
        return None
    if not isinstance(data, dict):
        return None
    fields = {name: data.get(name) for name in ("algorithm", "challenge", "salt", "signature")}
    number = data.get("number")
    # Every field the service makes is ASCII; anything else (a lone surrogate cannot even be
    # encoded to be hashed) is no solution.
    if not all(isinstance(value, str) and value.isascii() for value in fields.values()):
        return None
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        return None
    return {**fields, "number": number}


_SPEND = Compiled(
    lambda key, until: (
        SpentChallenge.insert(key=key, expires_at=until)
        .on_conflict(conflict_target=[SpentChallenge.key], action="NOTHING")
        .returning(SpentChallenge.key)
        .tuples()
    ),
    "\x00key",
    -1.5,
)


def _spend(key: str, until: float) -> bool:
    """Records a solution as used; False if it already was. One statement: of two racing
    requests the database lets one insert, and the other's returns no row."""

    def run() -> bool:
        # In a write transaction so that SQLite's rows, read after the insert, are read
        # while this writer still holds its place in the queue (applytry.db.database).
        with write_transaction():
            return bool(_SPEND.execute(key, until))

    return again_if_lost(run)
