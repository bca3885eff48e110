"""What every HTTP gateway shares: one pooled client a process, and what a failed exchange
means for the message."""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import urllib.request
from urllib.parse import urlencode, urlsplit

import aiohttp

from . import Delivery, SendResult

# The spec's server path, under which the gateways' status callbacks arrive.
API_BASE = "/apiaccess/rest/ipccprovision/v1"
RECEIPT_PATHS = {"huawei": "/sms/receipts/huawei", "twilio": "/sms/receipts/twilio"}


# Sends in flight to one gateway from one process: each holds a connection for the gateway's
# whole answer time, so at 200 ms a process sends up to 1,280 a second. aiohttp rather than
# httpx: with 100 sends in flight httpx's pool bookkeeping, which grows with connections times
# waiting requests (encode/httpcore#1035, open), cost 17 ms of CPU a message; aiohttp's
# connector, 0.24 ms.
IN_FLIGHT = 256


@dataclasses.dataclass(frozen=True)
class Reply:
    status_code: int
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_client_error(self) -> bool:
        return 400 <= self.status_code < 500

    def json(self):
        """The body as JSON; raises ValueError when it is not."""
        return json.loads(self.body)


class Gateway:
    """One pooled HTTP client a process: connections to the gateway are reused. Its session
    is made on first use, inside the event loop that serves the requests."""

    def __init__(self, name: str, timeout_s: float, auth: tuple[str, str] | None = None):
        self.name = name
        # The connect phase has its own bound so that a connect timeout is told apart: then
        # nothing left this process.
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, connect=timeout_s)
        self.headers = {"Authorization": _basic(*auth)} if auth else {}
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=IN_FLIGHT),
                timeout=self.timeout,
                headers=self.headers,
                # Not trust_env: aiohttp would then look up the proxy and read ~/.netrc in a
                # thread for every request; the proxy is read once instead (_proxy_for).
                trust_env=False,
            )
        return self._session

    async def post(self, url: str, **request) -> Reply | SendResult:
        """POSTs ``data`` (bytes, or a dict sent as a form), or says what the failure means:
        a SendResult instead of a reply."""
        try:
            async with self._open().post(url, proxy=_proxy_for(url), **request) as response:
                return Reply(response.status, await response.read())
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # Nothing left this process: the message cannot arrive.
            return SendResult(Delivery.FAILED, detail=f"{self.name}: {type(exc).__name__}")
        except (
            TimeoutError,
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientPayloadError,
            aiohttp.ClientOSError,
        ) as exc:
            # The request went out and no verdict came back: it may still be delivered.
            return SendResult(Delivery.UNCONFIRMED, detail=f"{self.name}: {type(exc).__name__}")
        except aiohttp.ClientError as exc:
            return SendResult(Delivery.FAILED, detail=f"{self.name}: {type(exc).__name__}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


@functools.lru_cache(maxsize=16)
def _proxy_for(url: str) -> str | None:
    """The egress proxy the environment names for ``url`` (HTTPS_PROXY, NO_PROXY, ...)."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def receipt_url(public_url: str | None, backend: str, **query: str) -> str | None:
    """Where the gateway reports delivery, or None when the service has no public address."""
    if not public_url:
        return None
    url = public_url.rstrip("/") + API_BASE + RECEIPT_PATHS[backend]
    return url + ("?" + urlencode(query) if query else "")
