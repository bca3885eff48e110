"""Checking a verification code: right once, for its own phone, within its lifetime, and only
until ``APPLYTRY_MAX_ATTEMPTS`` wrong guesses have voided it.

Both outcomes are single conditional UPDATEs, so two requests can never both use one code and
no guess goes uncounted. The code is compared as its keyed digest inside the database: without
the secret, nothing learnt from timing helps an attacker guess.
"""

from __future__ import annotations

import enum
import unicodedata

from peewee import Case

from applytry.db.models import Verification
from applytry.digests import Digests
from applytry.phones import Phone


class Verdict(enum.Enum):
    CORRECT = "correct"  # and now used
    WRONG = "wrong"  # counted; the code is void once the guesses are spent
    NO_CODE = "no code"  # none live: never sent, expired, used, or void


def typed_code(raw: str) -> str:
    """The code as typed, with full-width digits folded and spaces dropped."""
    return "".join(unicodedata.normalize("NFKC", raw).split())


def check_code(
    digests: Digests, phone: Phone, raw_code: str, now: float, max_attempts: int
) -> Verdict:
    """Runs inside the caller's write transaction; rolling it back undoes a CORRECT."""
    key = digests.phone(phone.e164)
    given = digests.code(phone.e164, typed_code(raw_code))
    live = (Verification.phone_key == key) & (Verification.expires_at > now)
    used = (
        Verification.update(code_digest=None)
        .where(live & (Verification.code_digest == given))
        .execute()
    )
    if used:
        return Verdict.CORRECT
    guesses = Verification.attempts + 1
    counted = (
        Verification.update(
            attempts=guesses,
            code_digest=Case(None, ((guesses >= max_attempts, None),), Verification.code_digest),
        )
        .where(live & Verification.code_digest.is_null(False))
        .execute()
    )
    return Verdict.WRONG if counted else Verdict.NO_CODE
