"""Delivery receipts as the gateways send them: which message each one marks, what it records
and counts, what operators read in the log, and the exact problem a refused one gets. Messages
go out through imitations of Huawei and Twilio on 127.0.0.1, as in test_gateways."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_gateways import PUBLIC, huawei_settings, twilio_settings

from applytry.db.models import SmsMessage
from applytry.receipts import twilio_signature
from conftest import generate
from imitations import ACCOUNT, TOKEN

RECEIPTS = "/apiaccess/rest/ipccprovision/v1/sms/receipts"
PHONES = {"13800138000": "+8613800138000", "13900139000": "+8613900139000"}


def receipts_counted(client) -> dict[tuple[str, str], float]:
    found = {}
    metrics = client.get("/apiaccess/rest/ipccprovision/v1/metrics").text
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "applytry_sms_receipts_total":
                found[sample.labels["backend"], sample.labels["receipt"]] = sample.value
    return found


def receipt_lines(caplog) -> list[tuple]:
    return [
        (r.levelname, r.backend, r.receipt, r.status, r.matched)
        for r in caplog.records
        if r.name == "applytry.receipts" and r.getMessage() == "sms receipt"
    ]


def message_to(e164: str) -> SmsMessage:
    """The message to ``e164`` (the masked phones of this file differ in their last digits)."""
    [message] = [m for m in SmsMessage.select() if m.phone_masked[-4:] == e164[-4:]]
    return message


def stored(e164: str) -> tuple:
    message = message_to(e164)
    return message.receipt, message.receipt_detail, message.receipt_at


def refused(reply) -> str:
    assert reply.status_code == 403, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    return reply.json()["detail"]


# --- huawei ---------------------------------------------------------------------------------


def test_a_huawei_receipt_marks_its_own_message_and_no_other(client_for, huawei, clock, caplog):
    caplog.set_level(logging.INFO, logger="applytry.receipts")
    client = client_for(**huawei_settings(huawei))
    for phone in PHONES:
        assert generate(client, phone).json()["retCode"] == "200"
    first, second = (urlsplit(r["form"]["statusCallback"]) for r in huawei.requests)
    before = receipts_counted(client)

    clock.advance(7)
    reply = client.post(
        f"{first.path}?{first.query}", data={"smsMsgId": "x_1", "status": "UNDELIV"}
    )
    assert reply.status_code == 204

    assert stored("+8613800138000") == ("undelivered", "UNDELIV", clock.now)
    assert stored("+8613900139000") == (None, None, None)

    clock.advance(3)
    reply = client.post(
        f"{second.path}?{second.query}", data={"smsMsgId": "x_2", "status": "DELIVRD"}
    )
    assert reply.status_code == 204
    assert stored("+8613900139000") == ("delivered", "DELIVRD", clock.now)
    assert stored("+8613800138000")[:2] == ("undelivered", "UNDELIV")

    after = receipts_counted(client)
    assert after[("huawei", "undelivered")] - before.get(("huawei", "undelivered"), 0) == 1
    assert after[("huawei", "delivered")] - before.get(("huawei", "delivered"), 0) == 1
    assert receipt_lines(caplog) == [
        ("INFO", "huawei", "undelivered", "UNDELIV", 1),
        ("INFO", "huawei", "delivered", "DELIVRD", 1),
    ]


def test_a_receipt_for_a_message_no_longer_kept_is_taken_and_dropped(client_for, huawei, caplog):
    caplog.set_level(logging.INFO, logger="applytry.receipts")
    client = client_for(**huawei_settings(huawei))
    generate(client, "13800138000")
    callback = urlsplit(huawei.requests[0]["form"]["statusCallback"])
    SmsMessage.delete().execute()  # purged since

    reply = client.post(
        f"{callback.path}?{callback.query}", data={"smsMsgId": "x_1", "status": "DELIVRD"}
    )

    assert reply.status_code == 204  # or the gateway would retry it forever
    assert receipt_lines(caplog) == [("INFO", "huawei", "delivered", "DELIVRD", 0)]


def test_a_huawei_receipt_without_its_token_is_refused_with_a_reason(client_for, huawei):
    client = client_for(**huawei_settings(huawei))
    generate(client, "13800138000")
    message = SmsMessage.get()

    reply = client.post(
        f"{RECEIPTS}/huawei?message={message.id}&token={'0' * 32}",
        data={"smsMsgId": "x_1", "status": "DELIVRD"},
    )

    assert refused(reply) == "the receipt's token does not match its message"
    assert SmsMessage.get().receipt is None


def test_a_huawei_receipt_without_a_status_is_a_bad_request(client_for, huawei):
    client = client_for(**huawei_settings(huawei))
    generate(client, "13800138000")
    callback = urlsplit(huawei.requests[0]["form"]["statusCallback"])

    reply = client.post(f"{callback.path}?{callback.query}", data={"smsMsgId": "x_1"})

    assert reply.status_code == 400
    assert SmsMessage.get().receipt is None


# --- twilio ---------------------------------------------------------------------------------


def test_twilio_signatures_are_computed_as_twilio_documents_them():
    # The example of Twilio's "Webhooks security" page, with its published signature.
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"

    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def twilio_receipt(client, form: dict, signed_with: str = TOKEN):
    signature = twilio_signature(signed_with, PUBLIC + RECEIPTS + "/twilio", form)
    return client.post(RECEIPTS + "/twilio", data=form, headers={"X-Twilio-Signature": signature})


def twilio_form(sid: str, status: str, **more: str) -> dict:
    return {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT, **more}


def test_twilio_receipts_record_the_status_and_any_error_code(client_for, twilio, clock, caplog):
    caplog.set_level(logging.INFO, logger="applytry.receipts")
    client = client_for(**twilio_settings(twilio))
    for phone in PHONES:
        generate(client, phone)
    sids = {e164: message_to(e164).provider_ref for e164 in PHONES.values()}
    before = receipts_counted(client)

    clock.advance(5)
    delivered = twilio_form(sids["+8613800138000"], "delivered")
    assert twilio_receipt(client, delivered).status_code == 204
    failed = twilio_form(sids["+8613900139000"], "failed", ErrorCode="30008")
    assert twilio_receipt(client, failed).status_code == 204

    assert stored("+8613800138000") == ("delivered", "delivered", clock.now)
    assert stored("+8613900139000") == ("undelivered", "failed 30008", clock.now)
    after = receipts_counted(client)
    assert after[("twilio", "delivered")] - before.get(("twilio", "delivered"), 0) == 1
    assert after[("twilio", "undelivered")] - before.get(("twilio", "undelivered"), 0) == 1
    assert receipt_lines(caplog) == [
        ("INFO", "twilio", "delivered", "delivered", 1),
        ("INFO", "twilio", "undelivered", "failed 30008", 1),
    ]


def test_twilio_receipts_that_fail_a_check_are_refused_with_the_reason(client_for, twilio):
    client = client_for(**twilio_settings(twilio))
    generate(client, "13800138000")
    sid = SmsMessage.get().provider_ref

    forged = twilio_receipt(client, twilio_form(sid, "delivered"), signed_with="not-the-token")
    other = twilio_receipt(client, {**twilio_form(sid, "delivered"), "AccountSid": "AC" + "9" * 32})

    assert refused(forged) == "X-Twilio-Signature does not match"
    assert refused(other) == "the receipt is for another account"
    assert SmsMessage.get().receipt is None


@pytest.mark.parametrize("configured", ["no public address", "another backend"])
def test_twilio_receipts_are_refused_where_twilio_is_not_configured(client_for, huawei, configured):
    if configured == "no public address":
        settings = {"twilio_auth_token": TOKEN, "twilio_account_sid": ACCOUNT}
    else:
        settings = huawei_settings(huawei)
    client = client_for(**settings)

    reply = twilio_receipt(client, twilio_form("SM" + "0" * 32, "delivered"))

    assert refused(reply) == "twilio receipts are not expected here"


def test_a_twilio_receipt_without_a_status_is_a_bad_request(client_for, twilio):
    client = client_for(**twilio_settings(twilio))
    generate(client, "13800138000")
    form = twilio_form(SmsMessage.get().provider_ref, "delivered")
    del form["MessageStatus"]

    assert twilio_receipt(client, form).status_code == 400
    assert SmsMessage.get().receipt is None


def test_a_status_word_longer_than_the_spec_allows_is_a_bad_request(client_for, huawei):
    client = client_for(**huawei_settings(huawei))
    generate(client, "13800138000")
    callback = urlsplit(huawei.requests[0]["form"]["statusCallback"])

    reply = client.post(
        f"{callback.path}?{callback.query}", data={"smsMsgId": "x_1", "status": "U" * 33}
    )

    assert reply.status_code == 400
    assert SmsMessage.get().receipt is None
