"""Caller authentication by API key: off until a key exists, then 401 without one and 403 with
an unknown or revoked one; managed through the real command line."""

from __future__ import annotations

import httpx
import pytest

from applytry.db.models import ApiKey
from conftest import APPLY, GENERATE

BODY = {"phone": "13800138000"}


def test_no_key_is_needed_until_an_operator_adds_one(client_for):
    client = client_for(settings_refresh_s=0)
    assert client.post(GENERATE, json=BODY).status_code == 200


def test_keys_made_listed_and_revoked_through_the_cli(cli, client_for, db):
    client = client_for(settings_refresh_s=0)
    made = cli("keys", "add", "website", "--by", "alice")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("ak_")
    [stored] = ApiKey.select()
    assert key not in str(list(ApiKey.select().tuples())), "only the hash is kept"

    missing = client.post(GENERATE, json=BODY)
    wrong = client.post(GENERATE, json=BODY, headers={"X-APP-Key": key + "x"})
    right = client.post(GENERATE, json=BODY, headers={"X-APP-Key": key})
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 403, 200)
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["title"].startswith("Unauthorized operation")
    application = {
        "companyName": "Example Ltd",
        "phone": "13800138000",
        "phoneVerifyCode": "123456",
        "email": "a@example.com",
    }
    assert client.post(APPLY, json=application).status_code == 401

    listed = cli("keys", "list").stdout
    assert listed.startswith(f"{stored.id}\twebsite\talice\t") and listed.rstrip().endswith("live")
    assert cli("keys", "revoke", stored.id).returncode == 0
    assert cli("keys", "revoke", stored.id).returncode == 1  # already revoked
    assert client.post(GENERATE, json=BODY, headers={"X-APP-Key": key}).status_code == 403
    assert "revoked" in cli("keys", "list").stdout


@pytest.mark.servers
def test_receipts_do_not_take_api_keys(cli, serve):
    assert cli("keys", "add", "website").returncode == 0
    base = serve()
    with httpx.Client(base_url=base) as http:
        receipt = http.post(
            "/apiaccess/rest/ipccprovision/v1/sms/receipts/huawei",
            params={"message": "m", "token": "t"},
            data={"smsMsgId": "x", "status": "DELIVRD"},
        )
    assert receipt.status_code == 403  # its own proof is checked, not an API key
    assert receipt.json()["detail"].startswith("the receipt's token")
