"""Delivery receipts from the SMS gateways."""

from __future__ import annotations

from connexion import request

from applytry.services import Services


async def receive_huawei_receipt(services: Services, body: dict, message: str, token: str):
    services.receipts.huawei(message, token, body)
    return None, 204


async def receive_twilio_receipt(services: Services, body: dict):
    services.receipts.twilio(request.headers["x-twilio-signature"], body)
    return None, 204
