"""Development and test delivery: each mail becomes one JSON line (``to``, ``subject``,
``text``) in a local file. It holds the setup token in clear: keep it out of production."""

from __future__ import annotations

import json

from applytry.lines import append_line

from . import Mail, MailFailed


class OutboxMailer:
    name = "outbox"

    def __init__(self, path: str):
        self.path = path

    async def send(self, mail: Mail) -> None:
        line = json.dumps(
            {"to": mail.to, "subject": mail.subject, "text": mail.text}, ensure_ascii=False
        )
        try:
            append_line(self.path, line)
        except OSError as exc:
            raise MailFailed(f"outbox: {exc.strerror}") from exc
