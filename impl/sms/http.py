"""What every HTTP gateway shares: one pooled client a process, and what a failed exchange
means for the message."""

from __future__ import annotations

import httpx

from . import Delivery, SendResult

# The spec's server path, under which the gateways' status callbacks arrive.
API_BASE = "/apiaccess/rest/ipccprovision/v1"
RECEIPT_PATHS = {"huawei": "/sms/receipts/huawei", "twilio": "/sms/receipts/twilio"}


def client(timeout_s: float, **options) -> httpx.AsyncClient:
    # One client a process: connections to the gateway are reused across requests.
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), **options)


async def post(
    client: httpx.AsyncClient, name: str, url: str, **request
) -> httpx.Response | SendResult:
    """POSTs, or says what the failure means: a SendResult instead of a response."""
    try:
        return await client.post(url, **request)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # Nothing left this process: the message cannot arrive.
        return SendResult(Delivery.FAILED, detail=f"{name}: {type(exc).__name__}")
    except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
        # The request went out and no verdict came back: it may still be delivered.
        return SendResult(Delivery.UNCONFIRMED, detail=f"{name}: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return SendResult(Delivery.FAILED, detail=f"{name}: {type(exc).__name__}")


def receipt_url(public_url: str | None, backend: str, **query: str) -> str | None:
    """Where the gateway reports delivery, or None when the service has no public address."""
    if not public_url:
        return None
    url = public_url.rstrip("/") + API_BASE + RECEIPT_PATHS[backend]
    return url + ("?" + str(httpx.QueryParams(query)) if query else "")
