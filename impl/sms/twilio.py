"""Twilio Programmable Messaging: ``POST {endpoint}/2010-04-01/Accounts/{sid}/Messages.json``.

HTTP basic authentication with the account SID and auth token; a form with ``To``, ``From`` or
``MessagingServiceSid``, ``Body`` and, with a public address, ``StatusCallback``.

Answers: 2xx (201 Created, a message ``sid``) is accepted. 429 (Twilio's 20429, too many
requests) and 5xx are the gateway failing (204, the breaker counts them). Every other 4xx is a
refusal (202): an invalid or unreachable number (21211, 21614), a blocked destination (21408,
21610), bad credentials (20003).
"""

from __future__ import annotations

from . import Delivery, SendResult, Sms, http


class TwilioSender:
    name = "twilio"

    def __init__(self, settings):
        self.settings = settings
        self.url = (
            f"{settings.twilio_endpoint.rstrip('/')}/2010-04-01/Accounts/"
            f"{settings.twilio_account_sid}/Messages.json"
        )
        self.gateway = http.Gateway(
            self.name,
            settings.sms_timeout_s,
            auth=(settings.twilio_account_sid, settings.twilio_auth_token),
        )

    def form(self, sms: Sms) -> dict[str, str]:
        settings = self.settings
        form = {"To": sms.to, "Body": sms.text}
        if settings.twilio_messaging_service_sid:
            form["MessagingServiceSid"] = settings.twilio_messaging_service_sid
        else:
            form["From"] = settings.twilio_from
        callback = http.receipt_url(settings.public_url, self.name)
        if callback:
            form["StatusCallback"] = callback
        return form

    async def send(self, sms: Sms) -> SendResult:
        response = await self.gateway.post(self.url, data=self.form(sms))
        if isinstance(response, SendResult):
            return response
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        code = answer.get("code") if isinstance(answer, dict) else None
        detail = f"twilio: HTTP {response.status_code}" + (f" {code}" if code else "")
        if response.is_success:
            sid = answer.get("sid") if isinstance(answer, dict) else None
            if not sid:
                return SendResult(Delivery.UNCONFIRMED, detail=detail)
            return SendResult(Delivery.ACCEPTED, provider_ref=sid, detail=detail)
        if response.status_code == 429 or response.status_code >= 500:
            return SendResult(Delivery.FAILED, detail=detail)
        return SendResult(Delivery.REFUSED, detail=detail)

    async def aclose(self) -> None:
        await self.gateway.aclose()
