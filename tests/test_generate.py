"""generateverifycode through the HTTP API: each retCode, as a website would see it."""

from __future__ import annotations

import re
import socket

import pytest

from applytry.messages import RET_MESSAGES
from conftest import generate

PHONE = "13800138000"
E164 = "+8613800138000"


def body_of(response) -> dict:
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


def test_200_sends_exactly_one_sms_with_a_six_digit_code(client, outbox):
    reply = body_of(generate(client, PHONE))

    assert reply == {"retCode": "200", "retMsg": "The short message is sent successfully."}
    [sms] = outbox.messages()
    assert sms["to"] == E164
    assert re.search(r"\b\d{6}\b", sms["text"])


def test_201_inside_the_resend_interval_with_retry_after(client_for, outbox, clock):
    client = client_for(resend_interval_s=60)
    assert body_of(generate(client, PHONE))["retCode"] == "200"
    clock.advance(15)

    response = generate(client, PHONE)

    assert body_of(response) == {"retCode": "201", "retMsg": RET_MESSAGES["201"][0]}
    assert response.headers["retry-after"] == "45"
    assert len(outbox.messages()) == 1
    clock.advance(45)
    assert body_of(generate(client, PHONE))["retCode"] == "200"
    assert len(outbox.messages()) == 2


def test_a_new_code_replaces_the_old_one(client_for, outbox, clock):
    client = client_for(resend_interval_s=30)
    generate(client, PHONE)
    clock.advance(30)
    generate(client, PHONE)
    first, second = (re.search(r"\d{6}", sms["text"]).group() for sms in outbox.messages())
    assert len(outbox.messages()) == 2
    # Codes are random: two equal in a row would be a one-in-a-million coincidence.
    assert first != second


def test_201_after_the_hourly_allowance(client_for, outbox, clock):
    client = client_for(resend_interval_s=1, phone_hourly_limit=3, phone_daily_limit=10)
    clock.now = 1_790_000_000.0 - 1_790_000_000.0 % 3600 + 600  # ten minutes into an hour
    for _ in range(3):
        assert body_of(generate(client, PHONE))["retCode"] == "200"
        clock.advance(2)

    response = generate(client, PHONE)

    assert body_of(response)["retCode"] == "201"
    assert response.headers["retry-after"] == str(3600 - 600 - 6)
    assert len(outbox.messages()) == 3
    clock.advance(3600)
    assert body_of(generate(client, PHONE))["retCode"] == "200"


def test_201_after_the_daily_allowance_until_midnight_in_the_service_zone(
    client_for, outbox, clock
):
    client = client_for(
        resend_interval_s=1, phone_hourly_limit=100, phone_daily_limit=2, timezone="Asia/Shanghai"
    )
    clock.now = 1_790_000_000.0 - (1_790_000_000.0 + 8 * 3600) % 86400 + 23 * 3600  # 23:00 CST
    for _ in range(2):
        assert body_of(generate(client, PHONE))["retCode"] == "200"
        clock.advance(5)

    response = generate(client, PHONE)

    assert body_of(response)["retCode"] == "201"
    assert response.headers["retry-after"] == str(3600 - 10)
    clock.advance(3600)
    assert body_of(generate(client, PHONE))["retCode"] == "200"
    assert len(outbox.messages()) == 3


def test_205_at_the_system_daily_threshold_without_overrun(client_for, outbox):
    client = client_for(sms_daily_limit=2)
    codes = [body_of(generate(client, f"1380013800{n}"))["retCode"] for n in range(4)]

    assert codes == ["200", "200", "205", "205"]
    assert len(outbox.messages()) == 2
    response = generate(client, "13800138009")
    assert body_of(response)["retMsg"] == RET_MESSAGES["205"][0]
    assert "retry-after" not in response.headers


def test_a_refused_request_spends_no_allowance(client_for, outbox, clock):
    client = client_for(resend_interval_s=60, phone_hourly_limit=2)
    generate(client, PHONE)
    for _ in range(5):
        clock.advance(1)
        assert body_of(generate(client, PHONE))["retCode"] == "201"
    clock.advance(60)
    assert body_of(generate(client, PHONE))["retCode"] == "200"


def test_429_past_the_per_client_limit(client_for, outbox):
    client = client_for(ip_per_minute=3)
    for n in range(3):
        assert generate(client, f"1380013800{n}").status_code == 200

    response = generate(client, "13800138009")

    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.json()["status"] == 429
    assert len(outbox.messages()) == 3


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", RET_MESSAGES["200"][1]),
        ("zh", RET_MESSAGES["200"][1]),
        ("en-US,en;q=0.9,zh;q=0.8", RET_MESSAGES["200"][0]),
        ("fr-FR", RET_MESSAGES["200"][0]),
        ("en;q=0.2, zh-TW;q=0.5", RET_MESSAGES["200"][1]),
    ],
)
def test_messages_follow_accept_language(client, accept_language, expected):
    response = generate(client, PHONE, **{"Accept-Language": accept_language})
    assert body_of(response)["retMsg"] == expected


def test_problems_are_in_chinese_when_asked(client):
    response = generate(client, "12", **{"Accept-Language": "zh-CN"})
    assert response.status_code == 400
    assert response.json()["title"] == "错误的请求:请检查请求路径及参数"


@pytest.mark.parametrize(
    "spelling",
    [
        "+86 138 0013 8000",
        "13800138000",
        "１３８００１３８０００",
        "+86-138-0013-8000",
        "(+86) 138 0013 8000",
        "８６ １３８ ００１３ ８０００"[3:],
        "＋８６１３８００１３８０００",
    ],
)
def test_spellings_of_one_number_are_one_phone(client_for, outbox, spelling):
    client = client_for(resend_interval_s=60)
    assert body_of(generate(client, "+86 138 0013 8000"))["retCode"] == "200"

    assert body_of(generate(client, spelling))["retCode"] == "201"
    assert [sms["to"] for sms in outbox.messages()] == [E164]


def test_accepted_countries_come_from_configuration(client_for, outbox):
    client = client_for(countries="CN,GB")
    assert body_of(generate(client, "+44 7400 123456"))["retCode"] == "200"
    assert generate(client, "+1 415 555 2671").status_code == 400
    assert [sms["to"] for sms in outbox.messages()] == ["+447400123456"]


# --- the gateway's verdict: 202 and 204 ---------------------------------------------------


def test_202_when_the_gateway_refuses_and_the_code_is_void(client_for, gateway, outbox):
    gateway.status = 422
    client = client_for(sms_backend="webhook", sms_webhook_url=gateway.url)

    assert body_of(generate(client, PHONE)) == {"retCode": "202", "retMsg": RET_MESSAGES["202"][0]}
    # The refused code is void, so the phone may ask again at once.
    gateway.status = 200
    assert body_of(generate(client, PHONE))["retCode"] == "200"
    assert len(gateway.requests) == 2
    assert outbox.messages() == []


def test_204_when_the_gateway_fails(client_for, gateway):
    gateway.status = 503
    client = client_for(sms_backend="webhook", sms_webhook_url=gateway.url)

    assert body_of(generate(client, PHONE)) == {"retCode": "204", "retMsg": RET_MESSAGES["204"][0]}
    gateway.status = 200
    assert body_of(generate(client, PHONE))["retCode"] == "200"


def test_204_when_the_gateway_is_too_slow_and_the_code_stays_valid(client_for, gateway):
    gateway.delay = 1.0
    client = client_for(sms_backend="webhook", sms_webhook_url=gateway.url, sms_timeout_s=0.2)

    assert body_of(generate(client, PHONE))["retCode"] == "204"
    # The message may still arrive: the code holds and so does the resend interval.
    response = generate(client, PHONE)
    assert body_of(response)["retCode"] == "201"
    assert int(response.headers["retry-after"]) > 0
    assert len(gateway.requests) == 1


def test_204_when_the_gateway_refuses_the_connection(client_for, closed_port):
    closed = f"http://127.0.0.1:{closed_port}/sms"
    client = client_for(sms_backend="webhook", sms_webhook_url=closed)

    assert body_of(generate(client, PHONE))["retCode"] == "204"
    assert body_of(generate(client, PHONE))["retCode"] == "204"  # voided, so tried again


def test_the_webhook_request_is_signed_json(client_for, gateway):
    import hashlib
    import hmac
    import json

    client = client_for(
        sms_backend="webhook", sms_webhook_url=gateway.url, sms_webhook_secret="hook-key-0123456789"
    )
    generate(client, PHONE)

    [request] = gateway.requests
    payload = json.loads(request["body"])
    assert payload["to"] == E164 and set(payload) == {"id", "to", "text"}
    expected = hmac.new(
        b"hook-key-0123456789",
        request["headers"]["x-applytry-timestamp"].encode() + b"." + request["body"],
        hashlib.sha256,
    ).hexdigest()
    assert request["headers"]["x-applytry-signature"] == "v1=" + expected


def test_an_unwritable_outbox_is_204(client_for, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    client = client_for(sms_outbox=str(blocker / "sms.jsonl"))
    assert body_of(generate(client, PHONE))["retCode"] == "204"


def test_h2c_upgrade_offers_keep_the_body(serve):
    """Java's HttpClient and `curl --http2` offer an h2c upgrade on plain HTTP."""
    base = serve()
    host, port = base.removeprefix("http://").split(":")
    body = b'{"phone": "13800138000"}'
    request = (
        b"POST /apiaccess/rest/ipccprovision/v1/applyTry/generateverifycode HTTP/1.1\r\n"
        b"Host: " + host.encode() + b"\r\n"
        b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"retCode" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    assert b'"retCode": "200"' in answer


def test_the_gateway_is_reached_through_the_egress_proxy_the_environment_names(
    client_for, gateway, monkeypatch
):
    # The imitation stands in for the proxy: a proxied request names the gateway's host.
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", gateway.url.removesuffix("/sms"))
    client = client_for(sms_backend="webhook", sms_webhook_url="http://sms.gateway.example/hook")

    assert body_of(generate(client, PHONE))["retCode"] == "200"
    [request] = gateway.requests
    assert request["headers"]["host"] == "sms.gateway.example"
