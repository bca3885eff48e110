"""Delivery through any HTTP endpoint: ``{id, to, text}`` POSTed as JSON, signed as
:mod:`applytry.signing` describes.

2xx is accepted; 4xx refused (202); 5xx or no connection failed (204, code void); no answer
within the timeout unconfirmed (204, the message may still arrive, so the code is kept).
"""

from __future__ import annotations

import json

import httpx

from applytry.signing import signed_headers

from . import Delivery, SendResult, Sms


class WebhookSender:
    name = "webhook"

    def __init__(self, url: str, key: bytes, timeout_s: float):
        self.url = url
        self.key = key
        # One pooled client a process: connections to the gateway are reused across requests.
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s))

    async def send(self, sms: Sms) -> SendResult:
        body = json.dumps({"id": sms.id, "to": sms.to, "text": sms.text}).encode()
        headers = signed_headers(self.key, body)
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing left this process: the message cannot arrive.
            return SendResult(Delivery.FAILED, detail=f"webhook: {type(exc).__name__}")
        except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            # The request went out and no verdict came back: it may still be delivered.
            return SendResult(Delivery.UNCONFIRMED, detail=f"webhook: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            return SendResult(Delivery.FAILED, detail=f"webhook: {type(exc).__name__}")
        detail = f"webhook: HTTP {response.status_code}"
        if response.is_success:
            return SendResult(Delivery.ACCEPTED, provider_ref=sms.id, detail=detail)
        if response.is_client_error:
            return SendResult(Delivery.REFUSED, detail=detail)
        return SendResult(Delivery.FAILED, detail=detail)

    async def aclose(self) -> None:
        await self.client.aclose()
