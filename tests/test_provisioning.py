"""The provisioning hook against a real HTTP server on 127.0.0.1: each new tenant announced once,
signed, and retried until the operator's system takes it."""

from __future__ import annotations

import hashlib
import hmac
import json

from applytry.db.models import Job, Tenant
from applytry.messages import RETURN_MESSAGES
from conftest import apply_tenant, generate, load_access_codes, wait_until

PHONE, E164 = "13800138000", "+8613800138000"
HOOK_SECRET = "provisioning-secret-0123"


def _open_tenant(client, outbox) -> dict:
    load_access_codes("95555001")
    assert generate(client, PHONE).json()["retCode"] == "200"
    return apply_tenant(client, PHONE, outbox.code_for(E164)).json()


def _verify(request: dict) -> dict:
    """Checks the signature the way a receiver would, and returns the event."""
    headers = {name.lower(): value for name, value in request["headers"].items()}
    signed = headers["x-applytry-timestamp"].encode() + b"." + request["body"]
    expected = "v1=" + hmac.new(HOOK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-applytry-signature"], expected)
    assert headers["content-type"] == "application/json"
    return json.loads(request["body"])


def test_a_new_tenant_is_announced_signed(client_for, outbox, gateway):
    client = client_for(provisioning_url=gateway.url, provisioning_secret=HOOK_SECRET)

    reply = _open_tenant(client, outbox)

    assert reply["returnCode"] == "000"
    [request] = gateway.requests
    event = _verify(request)
    tenant = Tenant.get()
    assert event["type"] == "tenant.created"
    assert event["tenant"] == {
        "id": tenant.id,
        "companyName": "一键试用公司",
        "phone": E164,
        "email": "trial@example.com",
        "adminAccount": tenant.admin_account,
        "accessCode": "95555001",
        "status": "trial",
        "trialStart": event["tenant"]["trialStart"],
        "trialEnd": event["tenant"]["trialEnd"],
    }
    assert event["tenant"]["trialStart"].startswith("2026-09-21T")  # the test's clock
    assert {job.kind: job.status for job in Job.select()} == {"mail": "done", "provision": "done"}


def test_a_failed_announcement_is_kept_and_retried_with_the_same_event_id(
    client_for, outbox, gateway, cli
):
    gateway.status = 503
    client = client_for(provisioning_url=gateway.url, provisioning_secret=HOOK_SECRET)

    reply = _open_tenant(client, outbox)

    # The applicant is not told about the operator's own systems: the tenant is open.
    assert reply == {"returnCode": "000", "returnMsg": RETURN_MESSAGES["000"][0]}
    job = Job.get(Job.kind == "provision")
    assert (job.status, job.last_error) == ("pending", "provisioning hook: HTTP 503")

    gateway.status = 200
    env = {"APPLYTRY_PROVISIONING_URL": gateway.url, "APPLYTRY_PROVISIONING_SECRET": HOOK_SECRET}
    result = cli("provisioning", "retry", **env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "provision: 1 done, 0 failed, 0 pending" in result.stdout
    first, second = (_verify(request) for request in gateway.requests)
    assert first == second  # one event, delivered twice: the receiver drops the duplicate
    assert Job.get(Job.kind == "provision").status == "done"


def test_an_unreachable_hook_times_out_and_is_retried(client_for, outbox, gateway):
    gateway.delay = 1.0
    client = client_for(
        provisioning_url=gateway.url,
        provisioning_secret=HOOK_SECRET,
        provisioning_timeout_s=0.2,
    )

    assert _open_tenant(client, outbox)["returnCode"] == "000"

    job = Job.get(Job.kind == "provision")
    assert job.status == "pending" and "Timeout" in job.last_error


def test_retry_without_a_hook_configured_says_so(cli):
    result = cli("provisioning", "retry")
    assert result.returncode == 2
    assert "APPLYTRY_PROVISIONING_URL" in result.stderr


def test_the_running_service_retries_on_its_own(client_for, outbox, gateway, clock):
    gateway.status = 503
    client = client_for(
        provisioning_url=gateway.url, provisioning_secret=HOOK_SECRET, job_retry_s=0.05
    )
    _open_tenant(client, outbox)
    gateway.status = 200
    # Each pass of the retry loop reads the clock once for each kind of job (mail, provision).
    reads = clock.reads
    wait_until(lambda: clock.reads >= reads + 6, "three passes of the retry loop")
    assert len(gateway.requests) == 1, "retried before its back-off was over"

    clock.advance(30)
    wait_until(lambda: Job.get(Job.kind == "provision").status == "done", "the retry", 5)
    assert len(gateway.requests) == 2
