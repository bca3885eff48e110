"""docs/operations.md taken at its word, inside one process: readiness across upgrades and
after a broken database, faults logged once and counted by class, one secret for every
instance, the metrics its table lists, and what a purge keeps."""

from __future__ import annotations

import importlib
import logging
import socket
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from applytry import keys, rules, thresholds
from applytry.db.database import database, is_sqlite
from applytry.db.migrations import available
from applytry.db.models import (
    ApiKey,
    ApplicationLock,
    Job,
    PhoneRule,
    SettingChange,
    SmsMessage,
    Tenant,
)
from applytry.digests import Digests
from applytry.jobs import backoff
from conftest import GENERATE, SECRET, apply_tenant, generate, load_access_codes, wait_until
from imitations import APP_KEY, APP_SECRET, HuaweiImitation

BASE = GENERATE.removesuffix("/applyTry/generateverifycode")
PHONE, E164 = "13800138000", "+8613800138000"


def samples(client) -> dict[tuple, float]:
    found = {}
    for family in text_string_to_metric_families(client.get(BASE + "/metrics").text):
        for sample in family.samples:
            if sample.name.startswith("applytry_"):
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def delta(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


# --- readiness ------------------------------------------------------------------------------


def test_an_instance_that_does_not_know_a_newer_migration_stays_ready(client):
    database.execute_sql(
        "INSERT INTO schema_migration (version, applied_at) VALUES ('9999_from_a_newer_release', 0)"
    )

    reply = client.get(BASE + "/readyz")

    assert (reply.status_code, reply.json()) == (200, {"status": "ready"})


def test_readiness_is_503_after_a_request_met_a_broken_database_then_200_by_itself(client, outbox):
    load_access_codes("95555001")
    generate(client, PHONE)
    database.execute_sql("ALTER TABLE tenant RENAME TO tenant_away")
    try:
        assert apply_tenant(client, PHONE, outbox.code_for(E164)).json()["returnCode"] == "003"
    finally:
        database.execute_sql("ALTER TABLE tenant_away RENAME TO tenant")

    # The database is whole again, yet the probe still says what this process just met.
    held = client.get(BASE + "/readyz")
    assert held.status_code == 503
    assert held.headers["content-type"] == "application/problem+json"
    wait_until(lambda: client.get(BASE + "/readyz").status_code == 200, "ready again")


# --- database faults ------------------------------------------------------------------------


def test_a_database_failure_is_logged_once_as_a_faults_line_and_counted_by_class(
    client, outbox, caplog
):
    load_access_codes("95555001")
    generate(client, PHONE)
    before = samples(client)
    caplog.set_level(logging.INFO, logger="applytry")
    database.execute_sql("ALTER TABLE tenant RENAME TO tenant_away")
    try:
        assert apply_tenant(client, PHONE, outbox.code_for(E164)).json()["returnCode"] == "003"
    finally:
        database.execute_sql("ALTER TABLE tenant_away RENAME TO tenant")

    [line] = [record for record in caplog.records if record.name == "applytry.faults"]
    assert line.db_error == "broken"
    assert delta(before, samples(client), "applytry_database_errors_total", kind="broken") == 1


# --- one secret -----------------------------------------------------------------------------


def test_an_instance_with_another_secret_checks_no_code_and_takes_no_key(client_for, outbox):
    ours = client_for(settings_refresh_s=0)
    load_access_codes("95555001")
    generate(ours, PHONE)
    code = outbox.code_for(E164)
    key = keys.create(Digests(SECRET.encode()), "website", by="test")
    other = client_for(secret="another-secret-0123456789abcdef", settings_refresh_s=0)

    assert apply_tenant(other, PHONE, code, **{"X-APP-Key": key}).status_code == 403
    other_key = keys.create(Digests(b"another-secret-0123456789abcdef"), "theirs", by="test")
    reply = apply_tenant(other, PHONE, code, **{"X-APP-Key": other_key})
    assert reply.json()["returnCode"] in ("001", "002")
    assert Tenant.select().count() == 0
    assert apply_tenant(ours, PHONE, code, **{"X-APP-Key": key}).json()["returnCode"] == "000"


# --- metrics --------------------------------------------------------------------------------


def test_the_metrics_name_every_sms_outcome_and_the_open_circuit(client_for, gateway):
    client = client_for(
        sms_backend="webhook",
        sms_webhook_url=gateway.url,
        sms_timeout_s=0.2,
        sms_breaker_failures=2,
        sms_breaker_cooldown_s=60,
    )
    before = samples(client)

    gateway.status = 422
    assert generate(client, "13800138001").json()["retCode"] == "202"
    gateway.status, gateway.delay = 200, 1.0
    assert generate(client, "13800138002").json()["retCode"] == "204"
    gateway.status, gateway.delay = 503, 0
    assert generate(client, "13800138003").json()["retCode"] == "204"
    assert generate(client, "13800138004").json()["retCode"] == "204"

    after = samples(client)
    for outcome in ("refused", "unconfirmed", "failed", "circuit-open"):
        assert delta(before, after, "applytry_sms_total", backend="webhook", outcome=outcome) == 1
    assert after[("applytry_sms_breaker_open", (("backend", "webhook"),))] == 1
    assert delta(before, after, "applytry_sms_send_seconds_count", backend="webhook") == 3
    assert len(gateway.requests) == 3


def test_traffic_off_the_spec_is_counted_as_other_and_latency_is_measured(client):
    before = samples(client)

    client.get("/wp-login.php")
    client.post(GENERATE, json={"phone": PHONE})

    after = samples(client)
    assert delta(before, after, "applytry_requests_total", operation="other", status="404") == 1
    latency = "applytry_request_duration_seconds_count"
    assert delta(before, after, latency, operation="generateVerifyCode") == 1


# --- retention ------------------------------------------------------------------------------


def test_a_purge_removes_finished_jobs_and_lapsed_holds_and_keeps_keys_rules_and_the_trail(
    client, outbox, clock, cli
):
    load_access_codes("95555001")
    generate(client, PHONE)  # at the test clock's instant, 2026-09-21: long past 30 days
    assert apply_tenant(client, PHONE, outbox.code_for(E164)).json()["returnCode"] == "000"
    ApplicationLock.create(key="a" * 64, owner="crashed", expires_at=clock() + 60)
    keys.create(Digests(SECRET.encode()), "website", by="test")
    rules.add(rules.DENY, "+86170", by="test")
    thresholds.change("sms_daily_limit", "20000", by="test")
    old = clock() - 86400
    ApiKey.update(created_at=old).execute()
    PhoneRule.update(created_at=old).execute()
    SettingChange.update(changed_at=old).execute()
    assert Job.get().status == "done"

    result = cli("purge")

    assert result.returncode == 0, result.stderr
    assert Job.select().count() == 0
    assert ApplicationLock.select().count() == 0
    assert (ApiKey.select().count(), PhoneRule.select().count()) == (1, 1)
    assert SettingChange.select().count() == 1
    assert Tenant.select().count() == 1


# --- upgrades and jobs ----------------------------------------------------------------------


def _schema() -> dict[str, set[str]]:
    return {
        table: {column.name for column in database.get_columns(table)}
        for table in database.get_tables()
    }


def test_each_migration_only_adds_tables_and_columns(db):
    drop_every_table()
    before: dict[str, set[str]] = {}
    for name in available():
        importlib.import_module(f"applytry.db.migrations.{name}").apply(database)
        after = _schema()
        for table, columns in before.items():
            assert table in after, f"{name} removes the table {table}"
            assert columns <= after[table], f"{name} removes {columns - after[table]}"
        assert after != before, f"{name} adds nothing"
        before = after


def drop_every_table() -> None:
    """Leaves the database as no migration has touched it."""
    cascade = "" if is_sqlite() else " CASCADE"
    for table in database.get_tables():
        database.execute_sql(f'DROP TABLE IF EXISTS "{table}"{cascade}')


def test_a_failing_mail_is_retried_after_30_s_doubling_to_at_most_an_hour():
    waits = [backoff(attempts) for attempts in range(1, 11)]

    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]


def test_an_egress_proxy_is_passed_by_for_hosts_in_no_proxy(client_for, gateway, monkeypatch):
    for name in ("no_proxy", "http_proxy", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    client = client_for(sms_backend="webhook", sms_webhook_url=gateway.url)

    assert generate(client, PHONE).json()["retCode"] == "200"
    assert len(gateway.requests) == 1


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_delivery_receipts_are_counted_by_verdict(client_for):
    huawei = HuaweiImitation(APP_KEY, APP_SECRET)
    try:
        client = client_for(
            sms_backend="huawei",
            huawei_endpoint=huawei.url,
            huawei_app_key="c8RWg3ggEcyd4D3p94bf3Y7x1Ile",
            huawei_app_secret="q4Ii87BhST9vcs8wvrzN80SfD7Al",
            huawei_sender="8824110605***",
            huawei_template_id_zh="tpl-zh-0001",
            public_url="https://trial.example.com",
        )
        generate(client, PHONE)
        callback = urlsplit(huawei.requests[0]["form"]["statusCallback"])
    finally:
        huawei.close()
    before = samples(client)
    report = {"smsMsgId": SmsMessage.get().provider_ref, "status": "DELIVRD"}

    accepted = client.post(f"{callback.path}?{callback.query}", data=report)

    assert accepted.status_code == 204
    after = samples(client)
    name = "applytry_sms_receipts_total"
    assert delta(before, after, name, backend="huawei", receipt="delivered") == 1


def test_every_change_of_the_breakers_state_is_logged(client_for, gateway, clock, caplog):
    caplog.set_level(logging.INFO, logger="applytry")
    gateway.status = 503
    client = client_for(
        sms_backend="webhook",
        sms_webhook_url=gateway.url,
        sms_breaker_failures=1,
        sms_breaker_cooldown_s=1,
    )
    assert generate(client, "13800138001").json()["retCode"] == "204"
    gateway.status = 200
    clock.advance(1)  # the cooldown is over: the next request probes the gateway
    assert generate(client, "13800138002").json()["retCode"] == "200"

    changes = [record.breaker for record in caplog.records if hasattr(record, "breaker")]
    assert changes == ["open", "half-open", "closed"]
