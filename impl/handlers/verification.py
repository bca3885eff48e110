"""generateverifycode."""

from __future__ import annotations

from connexion import request

from applytry import messages, metrics
from applytry.handlers import authorize, caller
from applytry.services import Services


async def generate_verify_code(services: Services, body: dict):
    authorize(services)
    language = messages.negotiate(request.headers.get("accept-language"))
    outcome = await services.issuer.issue(body["phone"], caller(services.trusted), language)
    headers = {"Content-Type": "application/json"}  # connexion issue #1956
    if outcome.retry_after is not None:
        headers["Retry-After"] = str(outcome.retry_after)
    metrics.OUTCOMES.labels("generateVerifyCode", outcome.ret_code).inc()
    reply = {
        "retCode": outcome.ret_code,
        "retMsg": messages.ret_message(outcome.ret_code, language),
    }
    return reply, 200, headers
