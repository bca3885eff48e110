"""Delivery receipts from the SMS gateways."""

from __future__ import annotations

from connexion import request
from starlette.responses import Response

from applytry.services import Services


def _no_content() -> Response:
    """A 204 without a Content-Type: from ``None, 204`` connexion would label the empty body
    with the operation's only documented media type, application/problem+json."""
    return Response(status_code=204)


async def receive_huawei_receipt(services: Services, body: dict, message: str, token: str):
    services.receipts.huawei(message, token, body)
    return _no_content()


async def receive_twilio_receipt(services: Services, body: dict):
    services.receipts.twilio(request.headers["x-twilio-signature"], body)
    return _no_content()
