"""generateverifycode."""

from __future__ import annotations

from connexion.context import scope

from applytry import messages, metrics
from applytry.handlers import Incoming, incoming
from applytry.services import Services


async def generate_verify_code(services: Services, body: dict):
    return await verify_code_reply(services, body["phone"], incoming(scope, services.trusted))


async def verify_code_reply(services: Services, phone: str, caller: Incoming):
    """The reply, its status and headers: raises keys.MissingKey (401), keys.WrongKey (403),
    errors.InvalidInput (400) or limits.RateLimited (429)."""
    services.keys.authorize(caller.api_key)
    outcome = await services.issuer.issue(phone, caller.address, caller.language)
    headers = {"Content-Type": "application/json"}  # connexion issue #1956
    if outcome.retry_after is not None:
        headers["Retry-After"] = str(outcome.retry_after)
    metrics.outcome("generateVerifyCode", outcome.ret_code).inc()
    reply = {
        "retCode": outcome.ret_code,
        "retMsg": messages.ret_message(outcome.ret_code, caller.language),
    }
    return reply, 200, headers
