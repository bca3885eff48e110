"""applyTenant through the HTTP API: each returnCode, as a website would see it, with the code
read from the SMS outbox and the account mail from the mail outbox."""

from __future__ import annotations

import datetime

import pytest

from applytry import thresholds
from applytry.db.database import database
from applytry.db.models import AccessCode, ApplicationLock, Job, Tenant, Verification
from applytry.digests import Digests
from applytry.messages import MAIL_QUEUED, RETURN_MESSAGES
from conftest import SECRET, apply_tenant, generate, load_access_codes

PHONE, E164 = "13800138000", "+8613800138000"
OTHER_PHONE, OTHER_E164 = "13900139000", "+8613900139000"


def returned(response) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["returnMsg"], body
    return body["returnCode"]


def code_sent_to(client, outbox, phone=PHONE, e164=E164) -> str:
    assert generate(client, phone).json()["retCode"] == "200"
    return outbox.code_for(e164)


@pytest.fixture
def pool():
    """Loads the given access codes into the pool of the app built before it."""
    return load_access_codes


def test_the_whole_flow_opens_one_trial_tenant_and_mails_its_account(
    client, outbox, mailbox, pool, clock
):
    pool("95555001", "95555002")
    code = code_sent_to(client, outbox)

    response = apply_tenant(
        client, PHONE, code, company=" 一键试用公司 ", email="Trial@Example.COM"
    )

    assert response.json() == {"returnCode": "000", "returnMsg": RETURN_MESSAGES["000"][0]}
    [tenant] = Tenant.select()
    assert (tenant.company_name, tenant.phone, tenant.email) == (
        "一键试用公司",
        E164,
        "Trial@example.com",
    )
    assert tenant.status == "trial"
    assert tenant.trial_end - tenant.trial_start == 30 * 86400
    assert tenant.access_code == "95555001"
    assert AccessCode.get_by_id("95555001").tenant_id == tenant.id
    assert AccessCode.get_by_id("95555002").tenant_id is None

    [mail] = mailbox.messages()
    assert mail["to"] == "Trial@example.com"
    assert tenant.admin_account in mail["text"] and "95555001" in mail["text"]
    token = mail["text"].split("One-time setup token: ")[1].split()[0]
    # Only the token's keyed hash is kept.
    assert tenant.setup_token_digest == Digests(SECRET.encode()).setup_token(token)
    assert token not in str(list(Tenant.select().tuples()))
    assert Job.get().status == "done"


def test_the_account_mail_speaks_the_applicants_language(client, outbox, mailbox, pool):
    pool("95555001")
    code = code_sent_to(client, outbox)
    response = apply_tenant(client, PHONE, code, **{"Accept-Language": "zh-CN"})
    assert response.json()["returnMsg"] == RETURN_MESSAGES["000"][1]
    assert mailbox.messages()[0]["subject"] == "您的试用租户已开通"


def test_001_when_no_code_was_ever_sent(client, pool):
    pool("95555001")
    assert returned(apply_tenant(client, PHONE, "123456")) == "001"


def test_001_once_the_code_has_expired(client_for, outbox, clock, pool):
    client = client_for(code_ttl_s=300)
    pool("95555001")
    code = code_sent_to(client, outbox)
    clock.advance(300)
    assert returned(apply_tenant(client, PHONE, code)) == "001"
    assert Tenant.select().count() == 0


def test_a_code_works_once(client, outbox, pool):
    pool("95555001", "95555002")
    code = code_sent_to(client, outbox)
    assert returned(apply_tenant(client, PHONE, code)) == "000"
    assert returned(apply_tenant(client, PHONE, code, company="B", email="b@example.com")) == "001"
    assert Tenant.select().count() == 1


def test_002_for_a_wrong_code_and_the_right_one_still_works(client, outbox, pool):
    pool("95555001")
    code = code_sent_to(client, outbox)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert returned(apply_tenant(client, PHONE, wrong)) == "002"
    assert returned(apply_tenant(client, PHONE, "not even digits")) == "002"
    assert Verification.get().attempts == 2
    assert returned(apply_tenant(client, PHONE, code)) == "000"


def test_the_code_may_be_typed_full_width_or_with_spaces(client, outbox, pool):
    pool("95555001")
    code = code_sent_to(client, outbox)
    typed = (
        " ".join(code[:3])
        + " "
        + code[3:].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    )
    assert returned(apply_tenant(client, PHONE, typed)) == "000"


def test_five_wrong_guesses_void_the_code_and_the_right_one_is_then_refused(
    client_for, outbox, pool
):
    client = client_for(max_attempts=5)
    pool("95555001")
    code = code_sent_to(client, outbox)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert [returned(apply_tenant(client, PHONE, wrong)) for _ in range(5)] == ["002"] * 5
    assert returned(apply_tenant(client, PHONE, code)) == "001"
    assert Tenant.select().count() == 0


def test_a_code_sent_to_one_phone_never_works_for_another(client, outbox, pool):
    pool("95555001")
    code = code_sent_to(client, outbox)
    assert returned(apply_tenant(client, OTHER_PHONE, code)) == "001"
    other_code = code_sent_to(client, outbox, OTHER_PHONE, OTHER_E164)
    if other_code != code:
        assert returned(apply_tenant(client, OTHER_PHONE, code)) == "002"
    assert returned(apply_tenant(client, PHONE, code)) == "000"


@pytest.mark.parametrize(
    ("field", "second"),
    [
        ("phone", {"company": "Other Co", "email": "other@example.com"}),
        ("email", {"company": "Other Co", "email": "TRIAL@example.com"}),
        ("company", {"company": "一键试用公司", "email": "other@example.com"}),
        ("company spelled differently", {"company": "一键试用公司 ", "email": "o@example.com"}),
    ],
)
def test_004_when_the_phone_email_or_company_already_holds_a_tenant(
    client_for, outbox, pool, clock, field, second
):
    client = client_for(resend_interval_s=1)
    pool("95555001", "95555002")
    first_code = code_sent_to(client, outbox)
    assert returned(apply_tenant(client, PHONE, first_code)) == "000"
    clock.advance(2)
    phone, e164 = (PHONE, E164) if field == "phone" else (OTHER_PHONE, OTHER_E164)
    code = code_sent_to(client, outbox, phone, e164)

    assert returned(apply_tenant(client, phone, code, **second)) == "004"

    assert Tenant.select().count() == 1
    assert AccessCode.get_by_id("95555002").tenant_id is None
    # The refusal rolled back the use of the code: it is still live.
    assert Verification.select().where(Verification.code_digest.is_null(False)).count() == 1


def test_006_when_no_access_code_is_left_and_the_code_survives_for_a_retry(
    client, outbox, mailbox, pool
):
    code = code_sent_to(client, outbox)
    assert returned(apply_tenant(client, PHONE, code)) == "006"
    assert Tenant.select().count() == 0 and mailbox.messages() == []

    pool("95555001")
    assert returned(apply_tenant(client, PHONE, code)) == "000"


def test_205_at_the_daily_email_threshold_raised_at_run_time(client_for, outbox, mailbox, pool):
    client = client_for(email_daily_limit=0, settings_refresh_s=0)
    pool("95555001")
    code = code_sent_to(client, outbox)
    assert returned(apply_tenant(client, PHONE, code)) == "205"
    assert Tenant.select().count() == 0 and mailbox.messages() == []

    thresholds.change("email_daily_limit", "10", by="test")
    assert returned(apply_tenant(client, PHONE, code)) == "000"
    assert len(mailbox.messages()) == 1


def test_005_while_another_application_for_the_phone_is_in_flight(client, outbox, pool, clock):
    pool("95555001")
    code = code_sent_to(client, outbox)
    digests = Digests(SECRET.encode())
    ApplicationLock.create(
        key=digests.claim("phone", E164), owner="another", expires_at=clock() + 60
    )

    assert returned(apply_tenant(client, PHONE, code)) == "005"
    assert Tenant.select().count() == 0

    clock.advance(60)  # a hold left by a crashed process lapses
    assert returned(apply_tenant(client, PHONE, code)) == "000"
    assert ApplicationLock.select().count() == 0


def test_003_when_the_database_fails_and_the_code_survives(client, outbox, pool):
    pool("95555001")
    code = code_sent_to(client, outbox)
    database.execute_sql("ALTER TABLE tenant RENAME TO tenant_away")
    try:
        assert returned(apply_tenant(client, PHONE, code)) == "003"
    finally:
        database.execute_sql("ALTER TABLE tenant_away RENAME TO tenant")
    assert returned(apply_tenant(client, PHONE, code)) == "000"


def test_when_the_mail_cannot_be_sent_the_tenant_is_kept_and_the_reply_says_so(
    client_for, outbox, pool, tmp_path
):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    client = client_for(email_outbox=str(blocked))  # a folder: every write fails
    pool("95555001")
    code = code_sent_to(client, outbox)

    response = apply_tenant(client, PHONE, code)

    assert response.json() == {"returnCode": "000", "returnMsg": MAIL_QUEUED[0]}
    assert Tenant.select().count() == 1
    job = Job.get()
    assert (job.status, job.attempts) == ("pending", 1)
    assert "outbox" in job.last_error
    retry_at = datetime.datetime.fromtimestamp(job.next_at) - datetime.datetime.fromtimestamp(
        job.created_at
    )
    assert retry_at.total_seconds() == 30
