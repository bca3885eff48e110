"""Opening trial tenants as operators see it in the database and the log: what each tenant holds
alone, the holds of applications in flight, the daily email threshold's day, every refusal's
log line, and a job that cannot even start after the tenant is open."""

from __future__ import annotations

import contextlib
import logging

import pytest

from applytry.db.database import database
from applytry.db.models import AccessCode, ApplicationLock, Counter, Job, Tenant, TenantClaim
from applytry.digests import Digests
from applytry.errors import InvalidInput
from applytry.messages import MAIL_QUEUED
from applytry.tenants import company_name
from conftest import (
    BACKEND,
    SECRET,
    another_writer_holds,
    apply_tenant,
    generate,
    load_access_codes,
)

DIGESTS = Digests(SECRET.encode())
FIRST = ("13800138000", "+8613800138000", "+86138****8000")
SECOND = ("13900139000", "+8613900139000", "+86139****9000")


def code_for(client, outbox, phone) -> str:
    typed, e164, _ = phone
    assert generate(client, typed).json()["retCode"] == "200"
    return outbox.code_for(e164)


def returned(response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["returnCode"]


def test_each_tenant_has_its_own_id_admin_account_and_access_code(client, outbox, clock):
    load_access_codes("95555001", "95555002")
    first = apply_tenant(
        client, FIRST[0], code_for(client, outbox, FIRST), "Alpha Ltd", "a@example.com"
    )
    clock.advance(10)
    second = apply_tenant(
        client, SECOND[0], code_for(client, outbox, SECOND), "Beta Ltd", "b@example.com"
    )

    assert (returned(first), returned(second)) == ("000", "000")
    alpha, beta = Tenant.select().order_by(Tenant.created_at)
    assert alpha.id != beta.id
    for tenant, access_code, opened in [(alpha, "95555001", 0), (beta, "95555002", 10)]:
        assert tenant.admin_account == "admin-" + tenant.id[:8]
        assert tenant.access_code == access_code
        code = AccessCode.get_by_id(access_code)
        assert (code.tenant_id, code.assigned_at) == (tenant.id, clock.now - 10 + opened)


def test_a_tenant_holds_its_phone_email_and_company_as_keyed_hashes(client, outbox):
    """The claims are what keeps a second trial out, so their keys must stay the same from one
    release to the next: a database written by an earlier one keeps refusing its tenants."""
    load_access_codes("95555001")
    code = code_for(client, outbox, FIRST)

    assert returned(apply_tenant(client, FIRST[0], code, "Alpha Ltd", "A@Example.com")) == "000"

    tenant = Tenant.get()
    claims = {(row.kind, row.key, row.tenant_id) for row in TenantClaim.select()}
    assert claims == {
        ("phone", DIGESTS.claim("phone", FIRST[1]), tenant.id),
        ("email", DIGESTS.claim("email", "a@example.com"), tenant.id),
        ("company", DIGESTS.claim("company", "alpha ltd"), tenant.id),
    }


def test_a_company_held_by_an_application_that_crashed_is_005_until_the_hold_lapses(
    client, outbox, clock
):
    load_access_codes("95555001")
    code = code_for(client, outbox, FIRST)
    ApplicationLock.create(
        key=DIGESTS.claim("company", "alpha ltd"), owner="crashed", expires_at=clock() + 60
    )

    assert returned(apply_tenant(client, FIRST[0], code, "ALPHA Ltd")) == "005"
    assert Tenant.select().count() == 0

    clock.advance(60)
    assert returned(apply_tenant(client, FIRST[0], code, "ALPHA Ltd")) == "000"
    assert ApplicationLock.select().count() == 0


def test_the_daily_email_threshold_starts_again_at_midnight_in_the_service_zone(
    client_for, outbox, clock
):
    client = client_for(email_daily_limit=1, timezone="Asia/Shanghai", code_ttl_s=600)
    load_access_codes("95555001", "95555002")
    clock.now = clock.now - (clock.now + 8 * 3600) % 86400 + 86400 - 300  # 23:55 in Shanghai
    first = apply_tenant(client, FIRST[0], code_for(client, outbox, FIRST), "A", "a@example.com")
    second_code = code_for(client, outbox, SECOND)

    assert returned(first) == "000"
    assert returned(apply_tenant(client, SECOND[0], second_code, "B", "b@example.com")) == "205"

    clock.advance(299)  # 23:59:59: still today
    assert returned(apply_tenant(client, SECOND[0], second_code, "B", "b@example.com")) == "205"
    clock.advance(1)  # midnight in Shanghai, 16:00 in UTC
    assert returned(apply_tenant(client, SECOND[0], second_code, "B", "b@example.com")) == "000"


def _wrong_code(client, outbox, clock):
    code_for(client, outbox, FIRST)
    return apply_tenant(client, FIRST[0], "000000")


def _no_code(client, outbox, clock):
    return apply_tenant(client, FIRST[0], "123456")


def _already_a_tenant(client, outbox, clock):
    load_access_codes("95555001", "95555002")
    apply_tenant(client, SECOND[0], code_for(client, outbox, SECOND), "B", "trial@example.com")
    return apply_tenant(client, FIRST[0], code_for(client, outbox, FIRST))


def _pool_empty(client, outbox, clock):
    return apply_tenant(client, FIRST[0], code_for(client, outbox, FIRST))


def _in_flight(client, outbox, clock):
    code = code_for(client, outbox, FIRST)
    ApplicationLock.create(key=DIGESTS.claim("phone", FIRST[1]), owner="x", expires_at=clock() + 1)
    return apply_tenant(client, FIRST[0], code)


REFUSALS = {
    "001": (_no_code, "no live code"),
    "002": (_wrong_code, "wrong code"),
    "004": (_already_a_tenant, "the phone, email or company already holds a tenant"),
    "005": (_in_flight, "another application for this phone or company is in flight"),
    "006": (_pool_empty, "no trial access code left"),
}


@pytest.mark.parametrize("return_code", REFUSALS)
def test_each_refused_application_is_logged_with_its_reason_and_the_masked_phone(
    client, outbox, clock, caplog, return_code
):
    provoke, reason = REFUSALS[return_code]
    caplog.set_level(logging.INFO, logger="applytry")

    assert returned(provoke(client, outbox, clock)) == return_code

    [line] = [r for r in caplog.records if r.getMessage().startswith("application refused")]
    assert line.levelno == logging.INFO
    assert line.getMessage() == f"application refused: {reason}"
    assert (line.phone, line.return_code) == (FIRST[2], return_code)


def test_the_daily_email_threshold_refusal_is_logged(client_for, outbox, caplog):
    client = client_for(email_daily_limit=0)
    load_access_codes("95555001")
    code = code_for(client, outbox, FIRST)
    caplog.set_level(logging.INFO, logger="applytry")

    assert returned(apply_tenant(client, FIRST[0], code)) == "205"

    [line] = [r for r in caplog.records if r.getMessage().startswith("application refused")]
    assert line.getMessage() == "application refused: daily email threshold reached"
    assert (line.phone, line.return_code) == (FIRST[2], "205")


@contextlib.contextmanager
def jobs_cannot_start():
    """Every change to a job row fails, as on a damaged table: a tenant's jobs are written
    with it, but cannot be claimed to run."""
    if BACKEND == "sqlite":
        database.execute_sql(
            "CREATE TRIGGER job_broken BEFORE UPDATE ON job"
            " BEGIN SELECT RAISE(ABORT, 'job table damaged'); END"
        )
        yield
        database.execute_sql("DROP TRIGGER job_broken")
    else:
        database.execute_sql(
            "CREATE FUNCTION job_broken() RETURNS trigger AS $$ BEGIN"
            " RAISE EXCEPTION 'job table damaged'; END $$ LANGUAGE plpgsql"
        )
        database.execute_sql(
            "CREATE TRIGGER job_broken BEFORE UPDATE ON job"
            " FOR EACH ROW EXECUTE FUNCTION job_broken()"
        )
        yield
        database.execute_sql("DROP TRIGGER job_broken ON job")


def test_a_job_that_cannot_start_leaves_the_tenant_open_and_the_mail_queued(
    client, outbox, mailbox, caplog
):
    load_access_codes("95555001")
    code = code_for(client, outbox, FIRST)
    caplog.set_level(logging.INFO, logger="applytry")

    with jobs_cannot_start():
        reply = apply_tenant(client, FIRST[0], code)

    assert reply.json() == {"returnCode": "000", "returnMsg": MAIL_QUEUED[0]}
    assert Tenant.select().count() == 1 and mailbox.messages() == []
    job = Job.get()
    assert (job.status, job.attempts) == ("pending", 0)
    [line] = [r for r in caplog.records if r.name == "applytry.faults"]
    assert line.levelno == logging.ERROR
    assert line.getMessage().startswith("could not run a job; it will be retried: database ")
    assert "job table damaged" in line.getMessage()
    assert (line.db_error, line.job_id) == ("broken", job.id)


def test_a_company_name_is_kept_with_its_spaces_folded(client, outbox):
    load_access_codes("95555001")
    code = code_for(client, outbox, FIRST)

    assert returned(apply_tenant(client, FIRST[0], code, " Ａｌｐｈａ \t Trading  Ltd ")) == "000"

    assert Tenant.get().company_name == "Alpha Trading Ltd"


def test_a_company_name_of_nothing_but_spaces_is_refused():
    with pytest.raises(InvalidInput) as refused:
        company_name(" \u3000\t ")
    assert str(refused.value) == "companyName is blank"


def used_counts() -> dict[str, int]:
    return {row.key: row.count for row in Counter.select().where(Counter.scope == "used-10m")}


def test_only_an_opened_tenant_counts_as_a_use_for_its_range(client_for, outbox, clock):
    # A refused application leaves its code valid: were a right code's refusal counted, the
    # same code sent again and again (the pool empty, say) would buy its range any allowance.
    client = client_for(resend_interval_s=1)
    code = code_for(client, outbox, FIRST)
    assert returned(apply_tenant(client, FIRST[0], "000000")) == "002"
    assert returned(apply_tenant(client, SECOND[0], "123456")) == "001"
    for _ in range(3):
        assert returned(apply_tenant(client, FIRST[0], code)) == "006"  # the pool is empty
    assert used_counts() == {}

    load_access_codes("95550001")
    assert returned(apply_tenant(client, FIRST[0], code)) == "000"

    assert used_counts() == {"range:+86138": 1, "country:CN": 1}


def test_a_database_another_writer_holds_answers_005_and_says_why(
    client_for, outbox, caplog, database_url
):
    client = client_for(db_lock_timeout_s=0.2)
    load_access_codes("95555001")
    code = code_for(client, outbox, FIRST)
    caplog.set_level(logging.INFO, logger="applytry")

    with another_writer_holds(database_url, "LOCK TABLE application_lock IN ACCESS EXCLUSIVE MODE"):
        assert returned(apply_tenant(client, FIRST[0], code)) == "005"

    [fault] = [r for r in caplog.records if r.name == "applytry.faults"]
    assert fault.getMessage().startswith("application failed: database contention: ")
    assert (fault.levelno, fault.db_error, fault.phone) == (logging.ERROR, "contention", FIRST[2])
    [answer] = [r for r in caplog.records if r.getMessage().startswith("application answered")]
    assert (answer.levelno, answer.getMessage()) == (logging.INFO, "application answered 005")
    assert (answer.phone, answer.return_code) == (FIRST[2], "005")
    assert returned(apply_tenant(client, FIRST[0], code)) == "000"


def test_a_broken_database_answers_003_and_says_why(client, outbox, caplog):
    load_access_codes("95555001")
    code = code_for(client, outbox, FIRST)
    caplog.set_level(logging.INFO, logger="applytry")
    database.execute_sql("ALTER TABLE tenant RENAME TO tenant_away")
    try:
        assert returned(apply_tenant(client, FIRST[0], code)) == "003"
    finally:
        database.execute_sql("ALTER TABLE tenant_away RENAME TO tenant")

    [fault] = [r for r in caplog.records if r.name == "applytry.faults"]
    assert fault.getMessage().startswith("application failed: database ")
    assert (fault.db_error, fault.phone) == ("broken", FIRST[2])
    [answer] = [r for r in caplog.records if r.getMessage().startswith("application answered")]
    assert (answer.getMessage(), answer.phone, answer.return_code) == (
        "application answered 003",
        FIRST[2],
        "003",
    )


@contextlib.contextmanager
def holds_cannot_be_released():
    """Application holds may be taken but not deleted, as on a damaged table."""
    if BACKEND == "sqlite":
        database.execute_sql(
            "CREATE TRIGGER hold_stuck BEFORE DELETE ON application_lock"
            " BEGIN SELECT RAISE(ABORT, 'hold table damaged'); END"
        )
        yield
        database.execute_sql("DROP TRIGGER hold_stuck")
    else:
        database.execute_sql(
            "CREATE FUNCTION hold_stuck() RETURNS trigger AS $$ BEGIN"
            " RAISE EXCEPTION 'hold table damaged'; END $$ LANGUAGE plpgsql"
        )
        database.execute_sql(
            "CREATE TRIGGER hold_stuck BEFORE DELETE ON application_lock"
            " FOR EACH ROW EXECUTE FUNCTION hold_stuck()"
        )
        yield
        database.execute_sql("DROP TRIGGER hold_stuck ON application_lock")


def test_a_hold_that_could_not_be_released_lapses_after_a_minute(client, outbox, clock, caplog):
    load_access_codes("95555001")
    code = code_for(client, outbox, FIRST)
    caplog.set_level(logging.INFO, logger="applytry")

    with holds_cannot_be_released():
        assert returned(apply_tenant(client, FIRST[0], "000000")) == "002"

    [fault] = [r for r in caplog.records if r.name == "applytry.faults"]
    assert fault.getMessage().startswith("could not release an application hold: database ")
    assert "hold table damaged" in fault.getMessage()
    clock.advance(59)
    assert returned(apply_tenant(client, FIRST[0], code)) == "005"
    clock.advance(1)
    assert returned(apply_tenant(client, FIRST[0], code)) == "000"


def test_an_application_releases_its_own_holds_and_no_one_elses(client, outbox, clock):
    load_access_codes("95555001")
    code = code_for(client, outbox, FIRST)
    others = [DIGESTS.claim("phone", SECOND[1]), DIGESTS.claim("company", "beta ltd")]
    for key in others:
        ApplicationLock.create(key=key, owner="another", expires_at=clock() + 60)

    assert returned(apply_tenant(client, FIRST[0], code, "Alpha Ltd")) == "000"

    assert sorted(hold.key for hold in ApplicationLock.select()) == sorted(others)


def test_an_opened_tenant_is_logged_with_its_id_and_the_masked_phone(client, outbox, caplog):
    load_access_codes("95555001")
    code = code_for(client, outbox, FIRST)
    caplog.set_level(logging.INFO, logger="applytry")

    assert returned(apply_tenant(client, FIRST[0], code)) == "000"

    [line] = [r for r in caplog.records if r.name == "applytry.tenants"]
    assert (line.levelno, line.getMessage()) == (logging.INFO, "tenant opened")
    assert (line.phone, line.tenant_id) == (FIRST[2], Tenant.get().id)
