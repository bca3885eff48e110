"""Huawei Cloud Message & SMS (MSGSMS): ``POST {endpoint}/sms/batchSendSms/v1``.

The body is a form: ``from`` (the channel number), ``to``, ``templateId`` (per language),
``templateParas`` (a JSON array string: the code and its lifetime in minutes), optional
``signature`` and ``statusCallback``. Authentication is WSSE: ``Authorization: WSSE
realm="SDP",profile="UsernameToken",type="Appkey"`` and ``X-WSSE: UsernameToken Username=...,
PasswordDigest=..., Nonce=..., Created=...``, where PasswordDigest is
``Base64(SHA256(Nonce + Created + AppSecret))`` and, as in Huawei's own samples, the SHA-256 is
base64-encoded as its hex string.

Answers: HTTP 200 with ``code`` 000000 and the number's ``status`` 000000 is accepted; its
``smsMsgId`` is kept. HTTP 5xx is the gateway failing (204, the breaker counts it). Every
E-code is a refusal (202) that a retry would not cure: E000000 ("the system is abnormal",
which Huawei's error table says typically means a request it cannot parse, such as a
template mismatch), the Authorization and WSSE errors (E000001 on), and a per-number failure
whose ``status`` says why (E200027: no gateway matched, and the other E2000xx).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import uuid
from collections.abc import Callable

from . import Delivery, SendResult, Sms, http

SUCCESS = "000000"
AUTHORIZATION = 'WSSE realm="SDP",profile="UsernameToken",type="Appkey"'


def password_digest(nonce: str, created: str, app_secret: str) -> str:
    hex_digest = hashlib.sha256((nonce + created + app_secret).encode()).hexdigest()
    return base64.b64encode(hex_digest.encode()).decode()


def wsse_header(app_key: str, app_secret: str, now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now(datetime.UTC)
    created = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    nonce = uuid.uuid4().hex
    digest = password_digest(nonce, created, app_secret)
    return (
        f'UsernameToken Username="{app_key}",PasswordDigest="{digest}",'
        f'Nonce="{nonce}",Created="{created}"'
    )


class HuaweiSender:
    name = "huawei"

    def __init__(self, settings, receipt_token: Callable[[str], str]):
        self.settings = settings
        self.receipt_token = receipt_token
        self.url = settings.huawei_endpoint.rstrip("/") + "/sms/batchSendSms/v1"
        self.gateway = http.Gateway(self.name, settings.sms_timeout_s)

    def form(self, sms: Sms) -> dict[str, str]:
        settings = self.settings
        template = settings.huawei_template_id_zh
        if sms.language == "en" and settings.huawei_template_id_en:
            template = settings.huawei_template_id_en
        form = {
            "from": settings.huawei_sender,
            "to": sms.to,
            "templateId": template,
            "templateParas": json.dumps([sms.code, str(sms.minutes)]),
        }
        if settings.huawei_signature:
            form["signature"] = settings.huawei_signature
        callback = http.receipt_url(
            settings.public_url, self.name, message=sms.id, token=self.receipt_token(sms.id)
        )
        if callback:
            form["statusCallback"] = callback
        return form

    async def send(self, sms: Sms) -> SendResult:
        settings = self.settings
        headers = {
            "Authorization": AUTHORIZATION,
            "X-WSSE": wsse_header(settings.huawei_app_key, settings.huawei_app_secret),
        }
        response = await self.gateway.post(self.url, data=self.form(sms), headers=headers)
        if isinstance(response, SendResult):
            return response
        try:
            answer = response.json()
            code = str(answer.get("code", ""))
        except (ValueError, AttributeError):
            answer, code = {}, ""
        detail = f"huawei: HTTP {response.status_code} {code}".rstrip()
        if response.status_code >= 500:
            return SendResult(Delivery.FAILED, detail=detail)
        if response.is_success and not code:
            # The gateway answered 2xx but said nothing we can read: it may have sent it.
            return SendResult(Delivery.UNCONFIRMED, detail=detail)
        results = answer.get("result") or [{}]
        number = results[0] if isinstance(results[0], dict) else {}
        status = str(number.get("status", ""))
        if response.is_success and code == SUCCESS and status == SUCCESS:
            return SendResult(Delivery.ACCEPTED, provider_ref=number.get("smsMsgId"), detail=detail)
        return SendResult(Delivery.REFUSED, detail=f"{detail} {status}".rstrip())

    async def aclose(self) -> None:
        await self.gateway.aclose()
