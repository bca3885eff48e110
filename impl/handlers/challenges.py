"""createChallenge."""

from __future__ import annotations

from connexion.context import scope

from applytry.handlers import incoming
from applytry.phones import parse_phone
from applytry.services import Services

# Every challenge is new and single use: no cache, shared or private, may keep or replay one.
HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}  # connexion #1956


async def create_challenge(services: Services, body: dict):
    """Raises keys.MissingKey (401), keys.WrongKey (403), phones.InvalidPhone (400) or
    limits.RateLimited (429)."""
    caller = incoming(scope, services.trusted)
    services.keys.authorize(caller.api_key)
    challenges = services.challenges
    # The phone first, as generateverifycode reads it: a bad one is the same 400, and costs
    # the client's budget nothing.
    phone = parse_phone(body["phone"], services.settings.countries)
    challenges.admit(caller.address)
    # The harder, the more the phone's range or country is past its allowance (applytry.pumping).
    level = services.guard.suspicion(phone, challenges.clock())
    return challenges.issue(phone, level), 200, dict(HEADERS)
