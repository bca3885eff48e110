"""applyTenant."""

from __future__ import annotations

from connexion import request

from applytry import messages, metrics
from applytry.handlers import authorize, caller
from applytry.services import Services


async def apply_tenant(services: Services, body: dict):
    authorize(services)
    language = messages.negotiate(request.headers.get("accept-language"))
    decision = await services.applications.apply(body, caller(services.trusted), language)
    metrics.OUTCOMES.labels("applyTenant", decision.return_code).inc()
    reply = {
        "returnCode": decision.return_code,
        "returnMsg": messages.return_message(
            decision.return_code, language, mail_queued=decision.mail_queued
        ),
    }
    return reply, 200, {"Content-Type": "application/json"}  # connexion issue #1956
