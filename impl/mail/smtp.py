"""Real delivery over SMTP: STARTTLS (port 587, the default), implicit TLS (465) or plain (for
a relay on the same host), with credentials from the environment. Certificates are checked
against the system's CAs (``SSL_CERT_FILE`` names others)."""

from __future__ import annotations

import asyncio
import email.message
import email.utils

import aiosmtplib

from . import Mail, MailFailed


class SmtpSender:
    name = "smtp"

    def __init__(self, settings):
        self.settings = settings

    async def send(self, mail: Mail) -> None:
        settings = self.settings
        message = email.message.EmailMessage()
        message["From"] = settings.mail_from
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = email.utils.formatdate(localtime=False)
        message["Message-ID"] = email.utils.make_msgid(domain="applytry")
        message.set_content(mail.text)
        try:
            # aiosmtplib's timeout bounds each step (connect, each command); this bounds the
            # whole send, which a stop of the service waits for (applytry.cli).
            async with asyncio.timeout(settings.smtp_timeout_s):
                await aiosmtplib.send(
                    message,
                    hostname=settings.smtp_host,
                    port=settings.smtp_port,
                    username=settings.smtp_username,
                    password=settings.smtp_password,
                    use_tls=settings.smtp_security == "tls",
                    start_tls=settings.smtp_security == "starttls",
                    timeout=settings.smtp_timeout_s,
                )
        except (aiosmtplib.SMTPException, OSError) as exc:
            # The exception's text names the server's reply, never the credentials.
            raise MailFailed(f"smtp: {type(exc).__name__}: {exc}"[:250]) from exc
