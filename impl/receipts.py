"""Delivery receipts: the gateway's final word on a message it accepted.

Each gateway authenticates its receipts its own way, checked here before anything is stored:
Twilio signs the request (``X-Twilio-Signature``: HMAC-SHA1 under the auth token over the
callback URL and the sorted form fields, base64); Huawei signs nothing, so the status-callback
URL we hand it carries a per-message token (a keyed hash of our message id). A receipt that
fails the check is refused and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping

from applytry import metrics
from applytry.db.models import SmsMessage
from applytry.digests import Digests
from applytry.sms import http

log = logging.getLogger(__name__)

DELIVERED, UNDELIVERED = "delivered", "undelivered"
# Twilio's final statuses; queued, sending, sent and accepted come before them.
_TWILIO_FINAL = {"delivered": DELIVERED, "undelivered": UNDELIVERED, "failed": UNDELIVERED}


class ForgedReceipt(Exception):
    """The receipt does not carry the gateway's proof (HTTP 403)."""


def twilio_signature(auth_token: str, url: str, form: Mapping[str, str]) -> str:
    signed = url + "".join(f"{name}{form[name]}" for name in sorted(form))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _same(given: str, expected: str) -> bool:
    # Bytes, not str: compare_digest refuses non-ASCII text, and a forger may send any.
    return hmac.compare_digest(given.encode(), expected.encode())


class Receipts:
    def __init__(self, settings, digests: Digests, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.digests = digests
        self.clock = clock

    def huawei(self, message_id: str, token: str, form: Mapping[str, str]) -> None:
        if not _same(token, self.digests.receipt(message_id)):
            raise ForgedReceipt("the receipt's token does not match its message")
        status = str(form.get("status", ""))
        outcome = DELIVERED if status == "DELIVRD" else UNDELIVERED
        self._record(SmsMessage.id == message_id, outcome, status, "huawei")

    def twilio(self, signature: str, form: Mapping[str, str]) -> None:
        settings = self.settings
        url = http.receipt_url(settings.public_url, "twilio")
        if not (url and settings.twilio_auth_token):
            raise ForgedReceipt("twilio receipts are not expected here")
        expected = twilio_signature(settings.twilio_auth_token, url, form)
        if not _same(signature, expected):
            raise ForgedReceipt("X-Twilio-Signature does not match")
        if form.get("AccountSid") != settings.twilio_account_sid:
            raise ForgedReceipt("the receipt is for another account")
        status = str(form.get("MessageStatus", ""))
        if status not in _TWILIO_FINAL:
            return  # progress, not a verdict
        detail = status + (f" {form['ErrorCode']}" if form.get("ErrorCode") else "")
        self._record(
            SmsMessage.provider_ref == form.get("MessageSid"),
            _TWILIO_FINAL[status],
            detail,
            "twilio",
        )

    def _record(self, which, outcome: str, detail: str, backend: str) -> None:
        updated = (
            SmsMessage.update(receipt=outcome, receipt_at=self.clock(), receipt_detail=detail[:64])
            .where(which & (SmsMessage.backend == backend))
            .execute()
        )
        metrics.RECEIPTS.labels(backend, outcome).inc()
        # A receipt for a message purged since, or sent by another backend, is dropped: the
        # gateway must not retry it forever.
        log.info(
            "sms receipt",
            extra={"backend": backend, "receipt": outcome, "status": detail, "matched": updated},
        )
