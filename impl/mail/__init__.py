"""The email seam: one ``send`` for every way of delivering the account mail.

A backend delivers or raises :class:`MailFailed`; what a failure means for the tenant (the
mail is queued and retried) is decided by the caller, never here.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol


@dataclasses.dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


class MailFailed(Exception):
    """The mail did not reach the mail server; the message says why, without its text."""


class MailSender(Protocol):
    name: str

    async def send(self, mail: Mail) -> None: ...


def build_mailer(settings) -> MailSender:
    """The backend ``APPLYTRY_EMAIL_BACKEND`` names."""
    if settings.email_backend == "smtp":
        from .smtp import SmtpSender

        return SmtpSender(settings)
    from .outbox import OutboxMailer

    return OutboxMailer(settings.email_outbox)
