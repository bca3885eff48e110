"""No verification code in any database column, log line or response; phones masked in logs."""

from __future__ import annotations

import logging
import re

from applytry.db.database import database
from applytry.db.models import MODELS
from conftest import generate

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
    logs = "\n".join(record.getMessage() + " " + str(vars(record)) for record in caplog.records)
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
