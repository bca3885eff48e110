"""Many requests at once, across two service processes sharing one database."""

from __future__ import annotations

import asyncio
import collections

import httpx
import pytest

from conftest import GENERATE

pytestmark = pytest.mark.servers

REQUESTS = 50


async def burst(bases: list[str], phones: list[str]) -> list[httpx.Response]:
    """Fires one request per phone at once, alternating between the servers."""
    async with httpx.AsyncClient(timeout=30) as client:
        start = asyncio.Event()

        async def one(index: int, phone: str) -> httpx.Response:
            await start.wait()
            return await client.post(bases[index % len(bases)] + GENERATE, json={"phone": phone})

        tasks = [asyncio.create_task(one(i, phone)) for i, phone in enumerate(phones)]
        await asyncio.sleep(0.05)
        start.set()
        return await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)


def ret_codes(responses: list[httpx.Response]) -> collections.Counter:
    assert [r.status_code for r in responses] == [200] * len(responses)
    return collections.Counter(r.json()["retCode"] for r in responses)


def test_fifty_requests_for_one_phone_send_one_sms(serve, outbox):
    limits = {"ip_per_minute": 1000}
    bases = [serve(**limits), serve(**limits)]

    responses = asyncio.run(burst(bases, ["13800138000"] * REQUESTS))

    assert ret_codes(responses) == {"200": 1, "201": REQUESTS - 1}
    assert len(outbox.messages()) == 1
    assert all(int(r.headers["retry-after"]) > 0 for r in responses if r.json()["retCode"] == "201")


def test_the_daily_threshold_is_never_overrun(serve, outbox):
    limits = {"ip_per_minute": 1000, "sms_daily_limit": 7}
    bases = [serve(**limits), serve(**limits)]
    phones = [f"139{n:08d}" for n in range(REQUESTS)]

    responses = asyncio.run(burst(bases, phones))

    assert ret_codes(responses) == {"200": 7, "205": REQUESTS - 7}
    assert len(outbox.messages()) == 7


def test_two_workers_of_one_server_share_the_limits(serve, outbox):
    base = serve(workers=2, ip_per_minute=1000)

    responses = asyncio.run(burst([base], ["13800138000"] * 20))

    assert ret_codes(responses) == {"200": 1, "201": 19}
    assert len(outbox.messages()) == 1
