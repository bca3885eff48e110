"""Many requests at once, across two service processes sharing one database."""

from __future__ import annotations

import asyncio
import collections

import httpx
import pytest

from applytry.db.models import AccessCode, Counter, Tenant
from applytry.limits import REFUSED_DAY
from conftest import APPLY, GENERATE, application, load_access_codes

pytestmark = pytest.mark.servers

REQUESTS = 50


async def burst(bases: list[str], bodies: list[dict], path: str = GENERATE) -> list[httpx.Response]:
    """Fires one request per body at once, alternating between the servers."""
    async with httpx.AsyncClient(timeout=30) as client:
        start = asyncio.Event()

        async def one(index: int, body: dict) -> httpx.Response:
            await start.wait()
            return await client.post(bases[index % len(bases)] + path, json=body)

        tasks = [asyncio.create_task(one(i, body)) for i, body in enumerate(bodies)]
        await asyncio.sleep(0.05)
        start.set()
        return await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)


def phones(*numbers: str) -> list[dict]:
    return [{"phone": number} for number in numbers]


def ret_codes(responses: list[httpx.Response], field: str = "retCode") -> collections.Counter:
    assert [r.status_code for r in responses] == [200] * len(responses)
    return collections.Counter(r.json()[field] for r in responses)


def test_fifty_requests_for_one_phone_send_one_sms(serve, outbox, db):
    limits = {"ip_per_minute": 1000}
    bases = [serve(**limits), serve(**limits)]

    responses = asyncio.run(burst(bases, phones(*["13800138000"] * REQUESTS)))

    assert ret_codes(responses) == {"200": 1, "201": REQUESTS - 1}
    assert len(outbox.messages()) == 1
    assert all(int(r.headers["retry-after"]) > 0 for r in responses if r.json()["retCode"] == "201")
    serve.stop_all()  # each process writes the refusals it counted in memory as it stops
    refused = Counter.get(scope=REFUSED_DAY.scope, key="resend-interval")
    assert refused.count == REQUESTS - 1


def test_the_daily_threshold_is_never_overrun(serve, outbox):
    limits = {"ip_per_minute": 1000, "sms_daily_limit": 7}
    bases = [serve(**limits), serve(**limits)]
    numbers = [f"139{n:08d}" for n in range(REQUESTS)]

    responses = asyncio.run(burst(bases, phones(*numbers)))

    assert ret_codes(responses) == {"200": 7, "205": REQUESTS - 7}
    assert len(outbox.messages()) == 7


def test_two_workers_of_one_server_share_the_limits(serve, outbox):
    base = serve(workers=2, ip_per_minute=1000)

    responses = asyncio.run(burst([base], phones(*["13800138000"] * 20)))

    assert ret_codes(responses) == {"200": 1, "201": 19}
    assert len(outbox.messages()) == 1


def test_twenty_applications_with_one_code_open_one_tenant_and_send_one_mail(
    serve, outbox, mailbox, db
):
    load_access_codes("95555001", "95555002")
    bases = [serve(ip_per_minute=1000), serve(ip_per_minute=1000)]
    asyncio.run(burst(bases[:1], phones("13800138000")))
    code = outbox.code_for("+8613800138000")
    body = application("13800138000", code)

    responses = asyncio.run(burst(bases, [body] * 20, APPLY))

    outcomes = ret_codes(responses, "returnCode")
    assert outcomes["000"] == 1
    assert set(outcomes) <= {"000", "001", "005"}, outcomes
    assert Tenant.select().count() == 1
    assert len(mailbox.messages()) == 1


def test_the_last_access_code_goes_to_exactly_one_of_several_racing_applicants(
    serve, outbox, mailbox, db
):
    load_access_codes("95555001")
    bases = [serve(ip_per_minute=1000), serve(ip_per_minute=1000)]
    numbers = [f"1390013{n:04d}" for n in range(8)]
    asyncio.run(burst(bases, phones(*numbers)))
    applications = [
        application(number, outbox.code_for("+86" + number), f"Company {n}", f"o{n}@example.com")
        for n, number in enumerate(numbers)
    ]

    responses = asyncio.run(burst(bases, applications, APPLY))

    assert ret_codes(responses, "returnCode") == {"000": 1, "006": len(numbers) - 1}
    assert Tenant.select().count() == 1
    assert AccessCode.get().tenant_id == Tenant.get().id
    assert len(mailbox.messages()) == 1
