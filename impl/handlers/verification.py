"""generateverifycode."""

from __future__ import annotations

from connexion.context import scope

from applytry import messages, metrics
from applytry.handlers import Incoming, incoming
from applytry.services import Services


async def generate_verify_code(services: Services, body: dict):
    caller = incoming(scope, services.trusted)
    return await verify_code_reply(services, body["phone"], caller, body.get("challenge"))


async def verify_code_reply(
    services: Services, phone: str, caller: Incoming, challenge: str | None = None
):
    """The reply, its status and headers: raises keys.MissingKey (401), keys.WrongKey (403),
    errors.InvalidInput (400) or limits.RateLimited (429)."""
    services.keys.authorize(caller.api_key)
    outcome = await services.issuer.issue(phone, caller.address, caller.language, challenge)
    headers = {"Content-Type": "application/json"}  # connexion issue #1956
    if outcome.retry_after is not None:
        headers["Retry-After"] = str(outcome.retry_after)
    metrics.outcome("generateVerifyCode", outcome.ret_code).inc()
    reply = {
        "retCode": outcome.ret_code,
        "retMsg": messages.ret_message(outcome.ret_code, caller.language),
    }
    if outcome.challenge_required:
        # A 201 of its own kind: the caller is told what lets it through now.
        reply.update(retMsg=messages.challenge_message(caller.language), challengeRequired=True)
    return reply, 200, headers
