"""Issuing codes as operators see it: the SMS log's rows, the code's row, the budgets spent and
the log line of each outcome, for sent codes, test numbers, refusals and a database that fails
after the SMS went out."""

from __future__ import annotations

import contextlib
import logging

import peewee

from applytry import limits, verification
from applytry.db.database import database
from applytry.db.models import Counter, SmsMessage, Verification
from applytry.digests import Digests
from conftest import BACKEND, SECRET, generate

DIGESTS = Digests(SECRET.encode())
PHONE, E164, MASKED = "13800138000", "+8613800138000", "+86138****8000"


def ret_code(response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["retCode"]


def counters() -> dict[tuple[str, str], int]:
    return {(row.scope, row.key): row.count for row in Counter.select()}


def test_a_sent_code_is_stored_hashed_with_its_lifetime_and_logged(client, outbox, clock, caplog):
    caplog.set_level(logging.INFO, logger="applytry")

    assert ret_code(generate(client, PHONE)) == "200"

    code = outbox.code_for(E164)
    [sms] = SmsMessage.select()
    assert (sms.phone_key, sms.phone_masked, sms.backend, sms.status, sms.created_at) == (
        DIGESTS.phone(E164),
        MASKED,
        "outbox",
        "accepted",
        clock.now,
    )
    row = Verification.get()
    assert (row.phone_key, row.phone_masked, row.code_digest, row.message_id) == (
        DIGESTS.phone(E164),
        MASKED,
        DIGESTS.code(E164, code),
        sms.id,
    )
    assert (row.issued_at, row.expires_at, row.resend_at, row.attempts) == (
        clock.now,
        clock.now + 300,
        clock.now + 60,
        0,
    )
    [line] = [r for r in caplog.records if r.name == "applytry.verification"]
    assert (line.levelno, line.getMessage()) == (logging.INFO, "code accepted")
    assert (line.phone, line.ret_code, line.message_id, line.detail) == (
        MASKED,
        "200",
        sms.id,
        sms.detail,
    )


def test_a_sent_code_spends_the_phone_range_and_system_budgets_once(client, clock):
    assert ret_code(generate(client, PHONE)) == "200"

    key = DIGESTS.phone(E164)
    assert counters() == {
        ("phone-hour", key): 1,
        ("phone-day", key): 1,
        ("prefix-hour", "+8613800"): 1,
        ("prefix-day", "+8613800"): 1,
        ("issued-10m", "range:+86138"): 1,
        ("issued-10m", "country:CN"): 1,
        ("rep-range", "range:+86138"): 1,
        ("rep-country", "country:CN"): 1,  # the range has no code used yet
        ("sms-day", limits.SYSTEM): 1,
        ("client-minute", DIGESTS.client("testclient")): 1,
    }


def test_a_reservation_whose_answer_was_lost_is_found_and_its_code_sent_once(
    client, outbox, monkeypatch
):
    """The database commits the reservation and the connection dies before its answer
    arrives: the run once more on a new connection (again_if_lost) must find this request's
    own reservation and send its code, once, not answer 201 for a code nobody sent while the
    phone waits out its resend interval."""
    reserve = verification.CodeIssuer._reserve
    runs = []

    def committed_then_lost(issuer, request, guarded):
        runs.append(request.message_id)
        reserve(issuer, request, guarded)
        if len(runs) == 1:
            raise peewee.InterfaceError("connection already closed")  # classified unreachable

    monkeypatch.setattr(verification.CodeIssuer, "_reserve", committed_then_lost)

    assert ret_code(generate(client, PHONE)) == "200"

    assert len(runs) == 2 and runs[0] == runs[1]  # the same request, run once more
    assert [message["to"] for message in outbox.messages()] == [E164]
    [sms] = SmsMessage.select()
    assert (sms.id, sms.status) == (runs[0], "accepted")
    key = DIGESTS.phone(E164)
    assert counters()[("sms-day", limits.SYSTEM)] == 1
    assert counters()[("phone-hour", key)] == 1
    # Another request for the phone is refused as usual: the code it holds is not its own.
    assert ret_code(generate(client, PHONE)) == "201"


def test_a_test_number_is_recorded_as_such_and_spends_nothing(client_for, outbox, clock, caplog):
    client = client_for(test_numbers="+8613800000000:246810")
    caplog.set_level(logging.INFO, logger="applytry")

    assert ret_code(generate(client, "13800000000")) == "200"

    assert outbox.messages() == []
    [sms] = SmsMessage.select()
    assert (sms.backend, sms.status, sms.phone_masked, sms.created_at) == (
        "test",
        "accepted",
        "+86138****0000",
        clock.now,
    )
    row = Verification.get()
    assert row.code_digest == DIGESTS.code("+8613800000000", "246810")
    assert row.message_id == sms.id
    # Only the caller's per-minute budget is spent.
    assert [scope for scope, _ in counters()] == ["client-minute"]
    [line] = [r for r in caplog.records if r.name == "applytry.verification"]
    assert (line.levelno, line.getMessage()) == (logging.INFO, "test number: code stored, no sms")
    assert line.phone == "+86138****0000"


@contextlib.contextmanager
def sms_log_cannot_change():
    """The SMS log takes new rows but no change to one, as on a damaged table."""
    if BACKEND == "sqlite":
        database.execute_sql(
            "CREATE TRIGGER sms_broken BEFORE UPDATE ON sms_message"
            " BEGIN SELECT RAISE(ABORT, 'sms table damaged'); END"
        )
        yield
        database.execute_sql("DROP TRIGGER sms_broken")
    else:
        database.execute_sql(
            "CREATE FUNCTION sms_broken() RETURNS trigger AS $$ BEGIN"
            " RAISE EXCEPTION 'sms table damaged'; END $$ LANGUAGE plpgsql"
        )
        database.execute_sql(
            "CREATE TRIGGER sms_broken BEFORE UPDATE ON sms_message"
            " FOR EACH ROW EXECUTE FUNCTION sms_broken()"
        )
        yield
        database.execute_sql("DROP TRIGGER sms_broken ON sms_message")


def test_an_outcome_that_cannot_be_recorded_still_answers_what_the_gateway_said(
    client, outbox, caplog
):
    caplog.set_level(logging.INFO, logger="applytry")

    with sms_log_cannot_change():
        assert ret_code(generate(client, PHONE)) == "200"

    assert len(outbox.messages()) == 1
    assert SmsMessage.get().status == "pending"
    [line] = [r for r in caplog.records if r.name == "applytry.faults"]
    assert line.levelno == logging.ERROR
    assert line.getMessage().startswith("could not record the SMS outcome: database ")
    assert "sms table damaged" in line.getMessage()
    assert (line.db_error, line.phone) == ("broken", MASKED)


def test_a_refusing_gateway_is_logged_with_its_detail_and_the_code_voided(
    client_for, gateway, clock, caplog
):
    gateway.status = 422
    client = client_for(sms_backend="webhook", sms_webhook_url=gateway.url)
    caplog.set_level(logging.INFO, logger="applytry")

    assert ret_code(generate(client, PHONE)) == "202"

    sms = SmsMessage.get()
    assert (sms.status, sms.backend) == ("refused", "webhook")
    assert sms.detail
    row = Verification.get()
    assert (row.code_digest, row.resend_at) == (None, clock.now)
    [line] = [r for r in caplog.records if r.name == "applytry.verification"]
    assert (line.getMessage(), line.ret_code, line.detail) == ("code refused", "202", sms.detail)


def test_while_the_gateway_is_down_requests_are_answered_at_once_and_logged(
    client_for, gateway, caplog
):
    gateway.status = 503
    client = client_for(sms_backend="webhook", sms_webhook_url=gateway.url, sms_breaker_failures=1)
    assert ret_code(generate(client, PHONE)) == "204"
    caplog.set_level(logging.INFO, logger="applytry")

    assert ret_code(generate(client, "13900139000")) == "204"

    assert len(gateway.requests) == 1
    [line] = [r for r in caplog.records if r.name == "applytry.verification"]
    assert (line.levelno, line.getMessage()) == (logging.INFO, "sms gateway unavailable")
    assert (line.phone, line.ret_code) == ("+86139****9000", "204")
    assert SmsMessage.select().count() == 1
