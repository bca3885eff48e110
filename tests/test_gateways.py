"""The huawei and twilio SMS backends against imitations of the providers on 127.0.0.1: the exact
request on the wire, each class of answer mapped to a retCode and stored state, delivery
receipts accepted and forged ones refused, and the circuit breaker."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from applytry.db.models import SmsMessage, Verification
from applytry.receipts import twilio_signature
from conftest import generate
from imitations import ACCOUNT, APP_KEY, APP_SECRET, TOKEN

PHONE, E164 = "13800138000", "+8613800138000"
PUBLIC = "https://trial.example.com"
RECEIPTS = "/apiaccess/rest/ipccprovision/v1/sms/receipts"


def huawei_settings(imitation, **overrides) -> dict:
    return {
        "sms_backend": "huawei",
        "huawei_endpoint": imitation.url,
        "huawei_app_key": APP_KEY,
        "huawei_app_secret": APP_SECRET,
        "huawei_sender": "8824110605***",
        "huawei_signature": "华为云",
        "huawei_template_id_zh": "tpl-zh-0001",
        "huawei_template_id_en": "tpl-en-0001",
        "public_url": PUBLIC,
        "sms_timeout_s": 0.5,
        **overrides,
    }


def twilio_settings(imitation, **overrides) -> dict:
    return {
        "sms_backend": "twilio",
        "twilio_endpoint": imitation.url,
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": TOKEN,
        "twilio_from": "+15017122661",
        "public_url": PUBLIC,
        "sms_timeout_s": 0.5,
        **overrides,
    }


def ret_code(response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["retCode"]


def code_is_live() -> bool:
    return Verification.get().code_digest is not None


# --- huawei ---------------------------------------------------------------------------------


def test_huawei_gets_a_wsse_signed_form_with_the_template_for_the_language(client_for, huawei):
    client = client_for(**huawei_settings(huawei))

    assert ret_code(generate(client, PHONE, **{"Accept-Language": "zh-CN"})) == "200"
    assert ret_code(generate(client, "13900139000", **{"Accept-Language": "en"})) == "200"

    first, second = huawei.requests
    assert first["path"] == "/sms/batchSendSms/v1"
    assert first["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert first["headers"]["authorization"] == (
        'WSSE realm="SDP",profile="UsernameToken",type="Appkey"'
    )
    assert huawei.authenticate(first["headers"]) is None  # the digest checks out
    nonces = {re.search(r'Nonce="(\w+)"', r["headers"]["x-wsse"]).group(1) for r in (first, second)}
    assert len(nonces) == 2, "a fresh nonce for every request"
    form = first["form"]
    assert (form["from"], form["to"], form["signature"]) == ("8824110605***", E164, "华为云")
    assert (form["templateId"], second["form"]["templateId"]) == ("tpl-zh-0001", "tpl-en-0001")
    code, minutes = json.loads(form["templateParas"])
    assert re.fullmatch(r"\d{6}", code) and minutes == "5"
    callback = urlsplit(form["statusCallback"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == PUBLIC + RECEIPTS + "/huawei"
    message = SmsMessage.get(SmsMessage.phone_masked == "+86138****8000")
    assert parse_qs(callback.query)["message"] == [message.id]
    assert message.status == "accepted" and message.provider_ref.endswith("_8539659")


@pytest.mark.parametrize(
    ("behaviour", "expected", "live"),
    [
        ("ok", "200", True),
        ("no-route", "202", False),  # E000510 with the number's status E200027
        ("template-mismatch", "202", False),  # E000000: a request Huawei cannot parse
        ("down", "204", False),  # HTTP 503
        ("drop", "204", True),  # the request went out; no answer came back
    ],
)
def test_huawei_answers_map_to_retcodes(client_for, huawei, behaviour, expected, live):
    huawei.behaviour = behaviour
    client = client_for(**huawei_settings(huawei))

    assert ret_code(generate(client, PHONE)) == expected
    assert code_is_live() is live
    assert SmsMessage.get().detail.startswith("huawei")


def test_huawei_refuses_a_wrong_app_secret_and_the_secret_never_shows(client_for, huawei, caplog):
    caplog.set_level(logging.DEBUG)  # every line the service would write, HTTP clients' too
    client = client_for(**huawei_settings(huawei, huawei_app_secret="not-the-secret-000"))

    assert ret_code(generate(client, PHONE)) == "202"
    assert SmsMessage.get().detail == "huawei: HTTP 401 E000020"
    logs = "\n".join(
        record.getMessage() + " " + str(vars(record))
        for record in caplog.records
        if record.name.startswith("applytry")
    )
    assert "huawei: HTTP 401 E000020" in logs, "the refusal's log line was not captured"
    assert "not-the-secret-000" not in logs


def test_a_slow_huawei_answer_is_204_and_the_code_may_still_arrive(client_for, huawei):
    huawei.delay = 1.0
    client = client_for(**huawei_settings(huawei, sms_timeout_s=0.2))

    # Had the service waited for the answer, it would have read Huawei's success: 200.
    assert ret_code(generate(client, PHONE)) == "204"
    assert len(huawei.requests) == 1
    assert code_is_live()


def test_huawei_receipts_are_recorded_and_forged_ones_refused(client_for, huawei):
    client = client_for(**huawei_settings(huawei))
    generate(client, PHONE)
    callback = urlsplit(huawei.requests[0]["form"]["statusCallback"])
    message = SmsMessage.get()
    report = {
        "sequence": "1",
        "total": "1",
        "orgCode": "000",
        "updateTime": "2026-11-25T06:31:46Z",
        "source": "2",
        "smsMsgId": message.provider_ref,
        "status": "DELIVRD",
    }
    forged = f"{RECEIPTS}/huawei?message={message.id}&token={'0' * 32}"

    refused = client.post(forged, data=report)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert SmsMessage.get().receipt is None

    accepted = client.post(f"{callback.path}?{callback.query}", data=report)
    assert accepted.status_code == 204
    assert "content-type" not in accepted.headers and accepted.content == b""
    assert (SmsMessage.get().receipt, SmsMessage.get().receipt_detail) == ("delivered", "DELIVRD")


# --- twilio ---------------------------------------------------------------------------------


def test_twilio_gets_a_basic_auth_form_with_the_text(client_for, twilio):
    client = client_for(**twilio_settings(twilio))

    assert ret_code(generate(client, PHONE)) == "200"

    [request] = twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert request["headers"]["content-type"] == "application/x-www-form-urlencoded"
    form = request["form"]
    assert (form["To"], form["From"]) == (E164, "+15017122661")
    assert "MessagingServiceSid" not in form
    assert re.search(r"Your verification code is \d{6}\. It expires in 5 minutes", form["Body"])
    assert form["StatusCallback"] == PUBLIC + RECEIPTS + "/twilio"
    assert SmsMessage.get().provider_ref.startswith("SM")


def test_twilio_can_send_through_a_messaging_service(client_for, twilio):
    client = client_for(
        **twilio_settings(twilio, twilio_from=None, twilio_messaging_service_sid="MG1")
    )
    assert ret_code(generate(client, PHONE)) == "200"
    form = twilio.requests[0]["form"]
    assert form["MessagingServiceSid"] == "MG1" and "From" not in form


@pytest.mark.parametrize(
    ("behaviour", "expected", "live"),
    [
        ("ok", "200", True),
        ("invalid-number", "202", False),  # 400, error 21211
        ("busy", "204", False),  # 429, error 20429
        ("down", "204", False),  # 503
        ("drop", "204", True),
    ],
)
def test_twilio_answers_map_to_retcodes(client_for, twilio, behaviour, expected, live):
    twilio.behaviour = behaviour
    client = client_for(**twilio_settings(twilio))
    assert ret_code(generate(client, PHONE)) == expected
    assert code_is_live() is live


def test_twilio_refuses_a_wrong_auth_token(client_for, twilio):
    client = client_for(**twilio_settings(twilio, twilio_auth_token="wrong-token-0123456789"))
    assert ret_code(generate(client, PHONE)) == "202"
    assert SmsMessage.get().detail == "twilio: HTTP 401 20003"


def test_twilio_receipts_are_verified_by_signature(client_for, twilio):
    client = client_for(**twilio_settings(twilio))
    generate(client, PHONE)
    sid = SmsMessage.get().provider_ref
    url = PUBLIC + RECEIPTS + "/twilio"

    def receipt(status: str, signed_with: str = TOKEN, account: str = ACCOUNT):
        form = {
            "MessageSid": sid,
            "MessageStatus": status,
            "AccountSid": account,
            "To": E164,
            "From": "+15017122661",
            "ApiVersion": "2010-04-01",
        }
        if status == "undelivered":
            form["ErrorCode"] = "30003"
        signature = twilio_signature(signed_with, url, form)
        return client.post(
            RECEIPTS + "/twilio", data=form, headers={"X-Twilio-Signature": signature}
        )

    assert receipt("delivered", signed_with="someone-elses-token").status_code == 403
    assert receipt("delivered", account="AC" + "9" * 32).status_code == 403
    assert SmsMessage.get().receipt is None
    assert receipt("sent").status_code == 204
    assert SmsMessage.get().receipt is None  # progress, not a verdict
    assert receipt("undelivered").status_code == 204
    assert (SmsMessage.get().receipt, SmsMessage.get().receipt_detail) == (
        "undelivered",
        "undelivered 30003",
    )


# --- the circuit breaker --------------------------------------------------------------------


def test_the_breaker_opens_after_repeated_failures_and_closes_after_a_good_probe(
    client_for, twilio, outbox, clock
):
    twilio.behaviour = "down"
    client = client_for(
        **twilio_settings(twilio),
        sms_breaker_failures=3,
        sms_breaker_cooldown_s=1,
        phone_hourly_limit=3,
        resend_interval_s=1,
    )
    phones = [f"1390013900{n}" for n in range(6)]
    assert [ret_code(generate(client, phone)) for phone in phones[:3]] == ["204"] * 3
    assert len(twilio.requests) == 3

    # Open: the gateway is not even asked, and no allowance is spent.
    assert [ret_code(generate(client, PHONE)) for _ in range(4)] == ["204"] * 4
    assert len(twilio.requests) == 3
    assert Verification.select().count() == 3  # the open breaker reserved nothing

    clock.advance(0.9)
    assert ret_code(generate(client, phones[5])) == "204"  # still cooling down: not sent
    assert len(twilio.requests) == 3

    clock.advance(0.2)
    twilio.behaviour = "ok"
    assert ret_code(generate(client, phones[3])) == "200"  # the probe
    assert ret_code(generate(client, phones[4])) == "200"  # closed again
    assert len(twilio.requests) == 5


def test_a_failed_probe_opens_the_breaker_again(client_for, twilio, clock):
    twilio.behaviour = "down"
    client = client_for(**twilio_settings(twilio), sms_breaker_failures=1, sms_breaker_cooldown_s=1)
    assert ret_code(generate(client, "13900139001")) == "204"
    clock.advance(1.1)
    assert ret_code(generate(client, "13900139002")) == "204"  # the probe, failed
    assert ret_code(generate(client, "13900139003")) == "204"  # open again: not sent
    assert len(twilio.requests) == 2


def test_refusals_do_not_open_the_breaker(client_for, twilio):
    twilio.behaviour = "invalid-number"
    client = client_for(**twilio_settings(twilio), sms_breaker_failures=2)
    phones = [f"1390013900{n}" for n in range(4)]
    assert [ret_code(generate(client, phone)) for phone in phones] == ["202"] * 4
    assert len(twilio.requests) == 4
