"""Health, readiness, metrics and request ids, as an operator's tools see them."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from applytry.db.database import database
from conftest import GENERATE, SECRET, wait_until

BASE = GENERATE.removesuffix("/applyTry/generateverifycode")


def samples(text: str) -> dict[tuple, float]:
    """Every sample of the applytry_ metrics, keyed by name and labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("applytry_"):
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def requests_of(found: dict, operation: str, status: str) -> float:
    key = ("applytry_requests_total", (("operation", operation), ("status", status)))
    return found.get(key, 0.0)


def test_health_and_readiness(client):
    assert client.get(BASE + "/healthz").json() == {"status": "ok"}
    assert client.get(BASE + "/readyz").json() == {"status": "ready"}


def test_not_ready_while_a_migration_is_pending(client):
    database.execute_sql("DELETE FROM schema_migration WHERE version = '0005_api_keys'")

    reply = client.get(BASE + "/readyz")

    assert reply.status_code == 503
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["detail"] == "migrations pending: 0005_api_keys"


def test_metrics_count_known_traffic(client):
    before = samples(client.get(BASE + "/metrics").text)
    client.post(GENERATE, json={"phone": "13800138000"})
    client.post(GENERATE, json={"phone": "13800138000"})
    client.post(GENERATE, json={"phone": "not a phone"})

    reply = client.get(BASE + "/metrics")

    assert reply.headers["content-type"].startswith("text/plain")
    after = samples(reply.text)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("applytry_requests_total", operation="generateVerifyCode", status="200") == 2
    assert delta("applytry_requests_total", operation="generateVerifyCode", status="400") == 1
    assert delta("applytry_outcomes_total", operation="generateVerifyCode", code="200") == 1
    assert delta("applytry_outcomes_total", operation="generateVerifyCode", code="201") == 1
    assert delta("applytry_sms_total", backend="outbox", outcome="accepted") == 1
    assert delta("applytry_refusals_total", reason="resend-interval") == 1


def test_a_request_id_is_echoed_or_made(client):
    given = client.post(GENERATE, json={"phone": "x"}, headers={"X-Request-ID": "abc-123"})
    made = client.post(GENERATE, json={"phone": "x"})
    insane = client.post(GENERATE, json={"phone": "x"}, headers={"X-Request-ID": "a b\tc"})
    assert given.headers["x-request-id"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", insane.headers["x-request-id"])


@pytest.mark.servers
def test_metrics_add_up_across_two_workers_and_logs_carry_the_request_id(serve, tmp_path):
    base = serve(workers=2, ip_per_minute=1000, conversion_prefix_volume=1000)
    with httpx.Client(base_url=base) as http:
        for n in range(20):
            reply = http.post(
                GENERATE, json={"phone": f"1390013{n:04d}"}, headers={"X-Request-ID": f"req-{n}"}
            )
            assert reply.json()["retCode"] == "200"
        # Each scrape may land on either worker; each must show both workers' counts.
        scrapes = [samples(http.get(BASE + "/metrics").text) for _ in range(6)]

    for found in scrapes:
        assert requests_of(found, "generateVerifyCode", "200") == 20
        key = ("applytry_sms_total", (("backend", "outbox"), ("outcome", "accepted")))
        assert found[key] == 20

    lines = [
        json.loads(line)
        for path in tmp_path.glob("server-*.log")
        for line in path.read_text().splitlines()
    ]
    access = [line for line in lines if line["logger"] == "applytry.access"]
    assert {line["request_id"] for line in access} >= {f"req-{n}" for n in range(20)}
    issued = [line for line in lines if line.get("msg") == "code accepted"]
    assert len(issued) == 20 and all(line["request_id"].startswith("req-") for line in issued)
    assert all("status" in line and "latency_ms" in line for line in access)


@pytest.mark.servers
def test_a_request_in_flight_finishes_when_the_service_is_stopped(serve, gateway, db):
    from concurrent.futures import ThreadPoolExecutor

    from applytry.db.models import SmsMessage

    gateway.delay = 1.0
    base = serve(sms_backend="webhook", sms_webhook_url=gateway.url, sms_timeout_s=5)
    with httpx.Client(base_url=base, timeout=10) as http, ThreadPoolExecutor(1) as pool:
        pending = pool.submit(http.post, GENERATE, json={"phone": "13800138000"})
        wait_until(lambda: gateway.requests, "the request waits on the gateway")
        serve.stop_all()
        reply = pending.result(timeout=10)

    assert reply.status_code == 200 and reply.json()["retCode"] == "200"
    assert SmsMessage.get().status == "accepted"  # recorded, not left pending


@pytest.mark.servers
def test_a_stop_never_turns_an_sms_sent_by_a_slow_gateway_into_a_500(
    tmp_path, database_url, gateway, db
):
    """The gateway answers after 12 s, longer than uvicorn's stock 10 s: the stop must wait
    for it (the SMS went out), not cancel the request into a 500."""
    from concurrent.futures import ThreadPoolExecutor

    from applytry.db.models import SmsMessage
    from applytry.testing import ServiceProcess

    gateway.delay = 12.0
    settings = {
        "database_url": database_url,
        "secret": SECRET,
        "sms_backend": "webhook",
        "sms_webhook_url": gateway.url,
        "sms_timeout_s": 30,
    }
    phones = [f"1380013{n:04d}" for n in range(4)]
    with ServiceProcess(tmp_path, settings=settings) as service:

        def ask(phone):
            return httpx.post(service.url + GENERATE, json={"phone": phone}, timeout=60)

        with ThreadPoolExecutor(len(phones)) as pool:
            pending = [pool.submit(ask, phone) for phone in phones]
            wait_until(lambda: len(gateway.requests) == len(phones), "the gateway holds them all")
            service.process.terminate()
            replies = [future.result(timeout=60) for future in pending]
            # Bounded, not timed: the requests are done, so the stop ends without waiting
            # out its window.
            service.process.wait(timeout=40)

    assert [reply.status_code for reply in replies] == [200] * len(phones)
    assert [reply.json()["retCode"] for reply in replies] == ["200"] * len(phones)
    assert "graceful shutdown exceeded" not in service.log()  # uvicorn cancelled nothing
    assert {message.status for message in SmsMessage.select()} == {"accepted"}


@pytest.mark.servers
def test_metrics_with_one_worker_count_the_requests_just_made(serve):
    base = serve(workers=1)
    with httpx.Client(base_url=base) as http:
        for n in range(3):
            assert http.post(GENERATE, json={"phone": f"1390013{n:04d}"}).status_code == 200
        found = samples(http.get(BASE + "/metrics").text)

    assert requests_of(found, "generateVerifyCode", "200") == 3


@pytest.mark.servers
@pytest.mark.parametrize(("workers", "folders_while_serving"), [(1, 0), (2, 1)])
def test_a_stopped_service_leaves_no_metrics_folder_behind(
    serve, tmp_path, monkeypatch, workers, folders_while_serving
):
    """Several workers share a folder in the temp directory; one keeps its metrics in memory."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    base = serve(workers=workers)
    with httpx.Client(base_url=base) as http:
        assert http.post(GENERATE, json={"phone": "13900130000"}).status_code == 200
        found = samples(http.get(BASE + "/metrics").text)
    assert requests_of(found, "generateVerifyCode", "200") == 1
    assert len(list(temp.glob("applytry-metrics-*"))) == folders_while_serving

    serve.stop_all()

    assert list(temp.glob("applytry-metrics-*")) == []
