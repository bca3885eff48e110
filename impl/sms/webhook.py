"""Delivery through any HTTP endpoint: ``{id, to, text}`` POSTed as JSON, signed as
:mod:`applytry.signing` describes.

2xx is accepted; 4xx refused (202); 5xx or no connection failed (204, code void); no answer
within the timeout unconfirmed (204, the message may still arrive, so the code is kept).
"""

from __future__ import annotations

import json

from applytry.signing import signed_headers

from . import Delivery, SendResult, Sms, http


class WebhookSender:
    name = "webhook"

    def __init__(self, url: str, key: bytes, timeout_s: float):
        self.url = url
        self.key = key
        self.gateway = http.Gateway(self.name, timeout_s)

    async def send(self, sms: Sms) -> SendResult:
        body = json.dumps({"id": sms.id, "to": sms.to, "text": sms.text}).encode()
        response = await self.gateway.post(
            self.url, data=body, headers=signed_headers(self.key, body)
        )
        if isinstance(response, SendResult):
            return response
        detail = f"webhook: HTTP {response.status_code}"
        if response.is_success:
            return SendResult(Delivery.ACCEPTED, provider_ref=sms.id, detail=detail)
        if response.is_client_error:
            return SendResult(Delivery.REFUSED, detail=detail)
        return SendResult(Delivery.FAILED, detail=detail)

    async def aclose(self) -> None:
        await self.gateway.aclose()
