"""The README's "On the wire" and "Decisions on the published contract", at their edges: the
16 KiB body, the 100-character number, the 64-character request id, the messages' wording,
email addresses, and one trial whatever the spelling."""

from __future__ import annotations

import json
import re

import pytest

from applytry import messages
from applytry.db.models import Tenant
from conftest import APPLY, GENERATE, application, apply_tenant, generate, load_access_codes

PHONE, E164 = "13800138000", "+8613800138000"
JSON = {"Content-Type": "application/json"}


def body_of_length(length: int, phone: str = PHONE) -> bytes:
    start = json.dumps({"phone": phone, "pad": ""}).encode()
    return start[:-2] + b"x" * (length - len(start)) + b'"}'


def test_a_body_of_16_kib_is_read_and_one_byte_more_is_413(client, outbox):
    whole = client.post(GENERATE, content=body_of_length(16 * 1024), headers=JSON)
    over = client.post(GENERATE, content=body_of_length(16 * 1024 + 1, "13900139000"), headers=JSON)

    assert whole.json()["retCode"] == "200"
    assert over.status_code == 413
    assert over.headers["content-type"] == "application/problem+json"
    assert [sms["to"] for sms in outbox.messages()] == [E164]


def test_a_number_of_100_characters_is_read_and_one_of_101_is_400(client, outbox):
    hundred = b'{"phone": "13800138000", "x": 1' + b"0" * 99 + b"}"
    longer = b'{"phone": "13900139000", "x": 1' + b"0" * 100 + b"}"

    assert client.post(GENERATE, content=hundred, headers=JSON).json()["retCode"] == "200"
    refused = client.post(GENERATE, content=longer, headers=JSON)
    assert refused.status_code == 400
    assert "longer than 100 characters" in refused.json()["detail"]


def test_a_request_id_of_64_allowed_characters_is_kept_and_a_longer_one_replaced(client):
    kept = "a._:-" + "9" * 59
    given = client.post(GENERATE, json={"phone": "x"}, headers={"X-Request-ID": kept})
    longer = client.post(GENERATE, json={"phone": "x"}, headers={"X-Request-ID": kept + "z"})

    assert given.headers["x-request-id"] == kept
    assert re.fullmatch(r"[0-9a-f]{32}", longer.headers["x-request-id"])


def test_205_on_generateverifycode_speaks_of_sms(client_for):
    client = client_for(sms_daily_limit=0)
    english = generate(client, PHONE).json()
    chinese = generate(client, PHONE, **{"Accept-Language": "zh"}).json()

    assert english["retCode"] == chinese["retCode"] == "205"
    assert "SMS" in english["retMsg"] and "email" not in english["retMsg"]
    assert "短信" in chinese["retMsg"] and "邮件" not in chinese["retMsg"]


def test_chinese_messages_drop_the_published_means_prefix():
    for code in messages.RET_MESSAGES:
        assert not messages.ret_message(code, "zh").startswith("表示"), code
    for code in messages.RETURN_MESSAGES:
        assert not messages.return_message(code, "zh").startswith("表示"), code


@pytest.mark.parametrize(
    "email", ["owner@trial.test", "owner@trial.invalid", "owner@trial.localhost"]
)
def test_addresses_under_special_use_domains_are_400(client, email):
    load_access_codes("95555001")
    reply = client.post(APPLY, json=application(PHONE, "123456", email=email))

    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/problem+json"
    assert "email" in reply.json()["detail"]


def test_an_internationalized_address_opens_a_tenant(client, outbox, mailbox):
    load_access_codes("95555001")
    generate(client, PHONE)

    reply = apply_tenant(client, PHONE, outbox.code_for(E164), email="试用@例子.广告")

    assert reply.json()["returnCode"] == "000"
    assert mailbox.messages()[0]["to"] == "试用@例子.广告"


@pytest.mark.parametrize(
    ("field", "second"),
    [
        ("company", {"company": "ＥＸＡＭＰＬＥ　 ｌｔｄ", "email": "other@example.com"}),
        ("email", {"company": "Other Co", "email": "ＯＷＮＥＲ@ＥＸＡＭＰＬＥ.com"}),
    ],
)
def test_case_spacing_and_full_width_forms_make_no_second_trial(
    client_for, outbox, clock, field, second
):
    client = client_for(resend_interval_s=1)
    load_access_codes("95555001", "95555002")
    generate(client, PHONE)
    first = apply_tenant(
        client, PHONE, outbox.code_for(E164), company="Example Ltd", email="owner@example.com"
    )
    assert first.json()["returnCode"] == "000"
    generate(client, "13900139000")

    again = apply_tenant(client, "13900139000", outbox.code_for("+8613900139000"), **second)

    assert again.json()["returnCode"] == "004"
    assert Tenant.select().count() == 1
