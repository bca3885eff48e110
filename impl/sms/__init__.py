"""The SMS seam: one ``send`` for every gateway, and what its answer means for the code.

Backends know nothing of limits or codes; they deliver a text and classify the gateway's
answer into a :class:`Delivery`. The verification flow turns that into a retCode.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .breaker import Breaker


class Delivery(enum.Enum):
    ACCEPTED = "accepted"  # the gateway took the message: retCode 200
    REFUSED = "refused"  # the gateway answered no: retCode 202, the code is void
    FAILED = "failed"  # never reached the gateway, or it failed: 204, the code is void
    UNCONFIRMED = "unconfirmed"  # sent, but no answer in time: 204, the code may still arrive


@dataclasses.dataclass(frozen=True)
class Sms:
    id: str
    to: str  # E.164
    text: str  # the whole message, for gateways that take text
    code: str  # the parts, for gateways that fill a registered template (huawei)
    minutes: int
    language: str


@dataclasses.dataclass(frozen=True)
class SendResult:
    delivery: Delivery
    provider_ref: str | None = None
    detail: str | None = None  # for operators: never holds the text or the number


class SmsSender(Protocol):
    name: str

    async def send(self, sms: Sms) -> SendResult: ...

    async def aclose(self) -> None: ...


def build_sender(settings, secret: bytes, clock: Callable[[], float] = time.monotonic) -> Breaker:
    """The backend ``APPLYTRY_SMS_BACKEND`` names, built once per process, behind its circuit
    breaker, whose cool-down runs on ``clock`` (the app's, so that tests can move it)."""
    from .breaker import Breaker

    backend = settings.sms_backend
    if backend == "webhook":
        from .webhook import WebhookSender

        signing_key = (settings.sms_webhook_secret or "").encode() or secret
        sender = WebhookSender(settings.sms_webhook_url, signing_key, settings.sms_timeout_s)
    elif backend == "huawei":
        from applytry.digests import Digests

        from .huawei import HuaweiSender

        sender = HuaweiSender(settings, Digests(secret).receipt)
    elif backend == "twilio":
        from .twilio import TwilioSender

        sender = TwilioSender(settings)
    else:
        from .outbox import OutboxSender

        sender = OutboxSender(settings.sms_outbox)
    return Breaker(sender, settings.sms_breaker_failures, settings.sms_breaker_cooldown_s, clock)
