"""Development and test delivery: each SMS becomes one JSON line in a local file.

The file stands in for the phone, so it holds the text (and the code) in clear: keep it out of
production. Several processes append to it at once (:func:`applytry.lines.append_line`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from applytry.lines import append_line

from . import Delivery, SendResult, Sms

log = logging.getLogger(__name__)


class OutboxSender:
    name = "outbox"

    def __init__(self, path: str):
        self.path = Path(path)

    async def send(self, sms: Sms) -> SendResult:
        line = json.dumps({"id": sms.id, "to": sms.to, "text": sms.text}, ensure_ascii=False)
        try:
            append_line(self.path, line)
        except OSError as exc:
            log.error("sms outbox unwritable: %s", exc.strerror, extra={"message_id": sms.id})
            return SendResult(Delivery.FAILED, detail=f"outbox: {exc.strerror}")
        return SendResult(Delivery.ACCEPTED, provider_ref=sms.id)

    async def aclose(self) -> None:
        return None
