"""No verification code in any database column, log line or response; phones masked in logs."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest

from applytry.db.database import database
from applytry.db.models import MODELS
from applytry.logs import RECORD_ATTRIBUTES
from conftest import APPLY, GENERATE, application, generate, load_access_codes

PHONES = [f"1380013800{n}" for n in range(5)]


def every_cell() -> str:
    cells = []
    for model in MODELS:
        for row in model.select().tuples():
            cells.extend(str(value) for value in row)
    return "\n".join(cells)


def test_codes_and_phones_stay_out_of_storage_logs_and_replies(client_for, outbox, caplog):
    caplog.set_level(logging.DEBUG)  # the SQL logger (peewee) included
    client = client_for(log_level="DEBUG")
    replies = [generate(client, phone).text for phone in PHONES]
    replies += [generate(client, phone).text for phone in PHONES]  # 201s too

    codes = [re.search(r"\d{6}", sms["text"]).group() for sms in outbox.messages()]
    assert len(codes) == len(PHONES)
    sql_lines = [r.getMessage() for r in caplog.records if r.name == "peewee"]
    assert sql_lines, "the SQL logger was not captured"
    # Messages and the fields code adds, not the record's own timestamps: their digits could
    # hold any six-digit code by chance.
    logs = "\n".join(
        record.getMessage()
        + " "
        + str({k: v for k, v in vars(record).items() if k not in RECORD_ATTRIBUTES})
        for record in caplog.records
    )
    stored = every_cell()
    for code in codes:
        assert code not in stored
        assert code not in logs
        assert all(code not in reply for reply in replies)
    for phone in PHONES:
        assert phone not in stored
        assert phone not in logs
        assert "+86" + phone not in logs
    assert "+86138****8000" in logs  # masked, and still telling


def test_the_stored_code_is_a_keyed_digest(client, outbox):
    generate(client, "13800138000")
    [digest] = database.execute_sql("SELECT code_digest FROM verification").fetchone()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


@pytest.mark.servers
def test_an_application_leaves_no_code_token_phone_or_email_in_the_logs(
    serve, outbox, mailbox, db, tmp_path
):
    load_access_codes("95555001")
    base = serve(log_level="DEBUG")
    with httpx.Client(base_url=base) as http:
        assert http.post(GENERATE, json={"phone": "13800138000"}).json()["retCode"] == "200"
        code = outbox.code_for("+8613800138000")
        body = application("13800138000", code, email="owner@trial-company.com")
        wrong = {**body, "phoneVerifyCode": f"{(int(code) + 1) % 1_000_000:06d}"}
        replies = [http.post(APPLY, json=wrong).text, http.post(APPLY, json=body).text]
    assert '"000"' in replies[1]
    token = mailbox.messages()[0]["text"].split("One-time setup token: ")[1].split()[0]

    logs = "\n".join(path.read_text() for path in tmp_path.glob("server-*.log"))
    lines = [json.loads(line) for line in logs.splitlines()]
    assert any(line.get("tenant_id") for line in lines), "the tenant was logged"
    for secret in (code, token, "13800138000", "owner@trial-company.com"):
        assert secret not in logs
        assert all(secret not in reply for reply in replies)
    assert token not in every_cell()
