"""The SMS circuit breaker as operators follow it: one warning a change of state, with the
backend, the new state and the failures in a row, and applytry_sms_breaker_open at 1 exactly
while the circuit is open. The gateway is a real HTTP server on 127.0.0.1; the cool-down runs
on the test's clock."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families

from conftest import generate, wait_until

METRICS = "/apiaccess/rest/ipccprovision/v1/metrics"


def breaker_open(client) -> float:
    for family in text_string_to_metric_families(client.get(METRICS).text):
        for sample in family.samples:
            if sample.name == "applytry_sms_breaker_open" and sample.labels == {
                "backend": "webhook"
            }:
                return sample.value
    raise AssertionError("applytry_sms_breaker_open{backend=webhook} is not exported")


def changes(caplog) -> list[tuple]:
    return [
        (r.levelname, r.getMessage(), r.backend, r.breaker, r.failures)
        for r in caplog.records
        if r.name == "applytry.sms.breaker"
    ]


def retcode(client, phone: str) -> str:
    return generate(client, phone).json()["retCode"]


def webhook(client_for, gateway, **overrides):
    return client_for(
        sms_backend="webhook",
        sms_webhook_url=gateway.url,
        sms_timeout_s=2,
        sms_breaker_failures=2,
        sms_breaker_cooldown_s=30,
        **overrides,
    )


def test_each_change_of_the_circuit_is_logged_and_shown_in_the_metric(
    client_for, gateway, clock, caplog
):
    caplog.set_level(logging.WARNING, logger="applytry.sms.breaker")
    client = webhook(client_for, gateway)
    gateway.status = 503

    assert [retcode(client, "13800138001"), retcode(client, "13800138002")] == ["204", "204"]
    assert changes(caplog) == [("WARNING", "sms circuit open", "webhook", "open", 2)]
    assert breaker_open(client) == 1

    clock.advance(30)
    gateway.status = 200
    assert retcode(client, "13800138003") == "200"  # the probe, and the circuit closes

    assert changes(caplog)[1:] == [
        ("WARNING", "sms circuit half-open", "webhook", "half-open", 2),
        ("WARNING", "sms circuit closed", "webhook", "closed", 0),
    ]
    assert breaker_open(client) == 0
    assert len(gateway.requests) == 3


def test_a_failed_probe_is_logged_as_the_circuit_opening_again(client_for, gateway, clock, caplog):
    caplog.set_level(logging.WARNING, logger="applytry.sms.breaker")
    client = webhook(client_for, gateway)
    gateway.status = 503
    retcode(client, "13800138001")
    retcode(client, "13800138002")

    clock.advance(30)
    assert retcode(client, "13800138003") == "204"  # the probe fails

    assert changes(caplog) == [
        ("WARNING", "sms circuit open", "webhook", "open", 2),
        ("WARNING", "sms circuit half-open", "webhook", "half-open", 2),
        ("WARNING", "sms circuit open", "webhook", "open", 3),
    ]
    assert breaker_open(client) == 1
    assert retcode(client, "13800138004") == "204"  # turned away: not sent
    assert len(gateway.requests) == 3


def test_while_the_probe_is_out_every_other_request_is_turned_away(client_for, gateway, clock):
    client = webhook(client_for, gateway)
    gateway.status = 503
    retcode(client, "13800138001")
    retcode(client, "13800138002")
    clock.advance(30)
    gateway.status, gateway.delay = 200, 1.0  # a gateway slow to come back

    with ThreadPoolExecutor(1) as pool:
        probe = pool.submit(retcode, client, "13800138003")
        wait_until(lambda: len(gateway.requests) == 3, "the probe at the gateway")
        meanwhile = retcode(client, "13800138004")
        assert probe.result(timeout=10) == "200"

    assert meanwhile == "204"
    assert len(gateway.requests) == 3  # one probe, not two
    gateway.delay = 0
    assert retcode(client, "13800138005") == "200"  # closed


def test_a_send_is_timed_within_the_gateways_timeout(client_for, gateway):
    client = webhook(client_for, gateway)

    def within_timeout() -> float:
        # sms_timeout_s is 2: no send can be measured past the bucket of 2 s.
        for family in text_string_to_metric_families(client.get(METRICS).text):
            for sample in family.samples:
                if sample.name == "applytry_sms_send_seconds_bucket" and sample.labels == {
                    "backend": "webhook",
                    "le": "2.0",
                }:
                    return sample.value
        return 0.0

    before = within_timeout()
    assert retcode(client, "13800138001") == "200"
    gateway.status = 503
    assert retcode(client, "13800138002") == "204"

    assert within_timeout() - before == 2
