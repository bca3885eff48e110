"""applyTenant."""

from __future__ import annotations

from connexion.context import scope

from applytry import messages, metrics
from applytry.handlers import incoming
from applytry.services import Services


async def apply_tenant(services: Services, body: dict):
    caller = incoming(scope, services.trusted)
    services.keys.authorize(caller.api_key)
    decision = await services.applications.apply(body, caller.address, caller.language)
    metrics.outcome("applyTenant", decision.return_code).inc()
    reply = {
        "returnCode": decision.return_code,
        "returnMsg": messages.return_message(
            decision.return_code, caller.language, mail_queued=decision.mail_queued
        ),
    }
    return reply, 200, {"Content-Type": "application/json"}  # connexion issue #1956
