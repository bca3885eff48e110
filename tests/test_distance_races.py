"""The race guarantees hold with PostgreSQL a network's distance away.

On loopback a statement's round trip is a few dozen microseconds, so racing requests barely
overlap inside the database, and a check-then-write that is not atomic can still win every
race by luck. Here two real ``applytry serve`` processes reach PostgreSQL through
``bench/delay_proxy.py`` at 2.5 ms of round trip, so that racing requests stay in flight
together for many milliseconds, and still: one SMS for 50 and for 200 requests for one phone
(every other request told to wait, with a Retry-After), and never more SMS in a day than the
daily threshold when 60 phones race for 7. Each test also shows that the servers' statements
went through the proxy and that the proxy really delayed them, so that it cannot pass at
loopback speed. Last, a database that stops answering altogether stalls only the requests
that wait on it, never a worker's event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from test_concurrency import burst, phones, ret_codes

from conftest import BACKEND, GENERATE, POSTGRES_ADMIN, wait_until

# The benchmark's tools live in bench/, beside tests/, which is not on the path by itself
# (bench/run.py does the same). Appended: nothing already importable is shadowed.
sys.path.append(str(Path(__file__).resolve().parents[1]))
from bench import distance
from bench.delay_proxy import DelayProxy

POSTGRES = urlsplit(POSTGRES_ADMIN)

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(
        BACKEND != "postgresql",
        reason="PostgreSQL only: its round trips at a distance (APPLYTRY_TEST_DATABASE=postgresql)",
    ),
    pytest.mark.skipif(
        POSTGRES.hostname not in ("127.0.0.1", "localhost"),
        reason="the delay proxy only forwards to a PostgreSQL on loopback",
    ),
]

RTT_MS = 2.5
HEALTHZ = "/apiaccess/rest/ipccprovision/v1/healthz"
READYZ = "/apiaccess/rest/ipccprovision/v1/readyz"
# A SELECT 1 through the proxy must cost at least this much: on loopback it costs ~0.05 ms.
DISTANT_MS = 2.0
# Every request comes from 127.0.0.1: the per-address limit would otherwise answer first.
LOOSE = {"ip_per_minute": 1_000_000}
# httpx's default pool opens at most 100 connections a client: a larger race is fired as
# several bursts at once, each with its own client, so that every request is in flight at once.
CLIENT_POOL = 100
# A race that takes longer than this is a hang, not a slow machine (each takes seconds).
RACE_BOUND_S = 45


@pytest.fixture(scope="module")
def proxy():
    """One delay proxy for the module, in front of the test server's PostgreSQL; each test's
    database is reached through it by name."""
    with DelayProxy(f"{POSTGRES.hostname}:{POSTGRES.port or 5432}", RTT_MS) as started:
        yield started


@pytest.fixture
def distant_servers(serve, database_url, proxy):
    """Starts two ``applytry serve`` processes on this test's database, through the proxy."""

    def start(**overrides) -> list[str]:
        distant = distance.through(database_url, proxy.port)
        settings = {**LOOSE, **overrides, "database_url": distant}
        return [serve(**settings), serve(**settings)]

    return start


def race(proxy: DelayProxy, bases: list[str], bodies: list[dict]) -> tuple[list, int]:
    """Every body's request at once, spread over ``bases``; the responses in order, and the
    statements the servers sent through the proxy meanwhile."""

    async def all_at_once():
        groups = [bodies[i : i + CLIENT_POOL] for i in range(0, len(bodies), CLIENT_POOL)]
        answered = await asyncio.gather(*(burst(bases, group) for group in groups))
        return [response for group in answered for response in group]

    before = proxy.chunks()
    responses = asyncio.run(asyncio.wait_for(all_at_once(), RACE_BOUND_S))
    return responses, proxy.chunks() - before


def assert_at_a_distance(proxy: DelayProxy, database_url: str, statements: int, requests: int):
    """The servers' statements went through the proxy, at least one a request (a request
    that reads nothing cannot take part in a race), and the proxy delays each by the round
    trip: the median SELECT 1 through it, measured as the servers would see it."""
    assert statements >= requests, f"{statements} statements through the proxy"
    round_trip = distance.round_trip_ms(distance.through(database_url, proxy.port), count=50)
    assert round_trip >= DISTANT_MS, f"a round trip through the proxy took {round_trip:.2f} ms"


def assert_one_sms_for_one_phone(responses, outbox):
    assert ret_codes(responses) == {"200": 1, "201": len(responses) - 1}
    waits = [r.headers.get("retry-after") for r in responses if r.json()["retCode"] == "201"]
    assert all(wait is not None and int(wait) > 0 for wait in waits), waits
    assert len(outbox.messages()) == 1


@pytest.mark.parametrize("requests", [50, 200])
def test_racing_requests_for_one_phone_at_a_distance_send_one_sms(
    distant_servers, proxy, database_url, outbox, requests
):
    bases = distant_servers()

    responses, statements = race(proxy, bases, phones(*["13800138000"] * requests))

    assert_one_sms_for_one_phone(responses, outbox)
    assert_at_a_distance(proxy, database_url, statements, len(responses))


def test_sixty_phones_racing_at_a_distance_never_overrun_the_daily_threshold(
    distant_servers, proxy, database_url, outbox
):
    bases = distant_servers(sms_daily_limit=7)
    numbers = [f"139{n:08d}" for n in range(60)]

    responses, statements = race(proxy, bases, phones(*numbers))

    assert ret_codes(responses) == {"200": 7, "205": 60 - 7}
    assert len(outbox.messages()) == 7
    assert_at_a_distance(proxy, database_url, statements, len(responses))


def test_a_database_that_stops_answering_stops_no_event_loop(serve, database_url):
    """A database that neither answers nor refuses (a hung server or proxy: its kernel still
    takes the bytes) stalls the requests that wait on it, and only those: /healthz answers at
    once, /readyz says 503 within its bound, and once the database answers again the stalled
    request is answered and the service is ready. A statement on the event loop (a settings
    reload, the readiness probe) would hang the whole worker instead."""
    hung = DelayProxy(f"{POSTGRES.hostname}:{POSTGRES.port or 5432}", 0).start()
    try:
        base = serve(
            workers=1,
            database_url=distance.through(database_url, hung.port),
            settings_refresh_s=0.2,
            db_lock_timeout_s=1,
            **LOOSE,
        )
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.post(GENERATE, json={"phone": "13900007001"}).json()["retCode"] == "200"
            assert client.get(READYZ).status_code == 200
            os.kill(hung.pid, signal.SIGSTOP)
            try:
                time.sleep(0.3)  # the settings are old now: the next request rereads them
                with concurrent.futures.ThreadPoolExecutor(1) as waiting:
                    stalled = waiting.submit(client.post, GENERATE, json={"phone": "13900007002"})
                    time.sleep(0.3)
                    started = time.monotonic()
                    health = client.get(HEALTHZ, timeout=2)
                    ready = client.get(READYZ, timeout=5)
                    waited = time.monotonic() - started
                    assert not stalled.done()
                    os.kill(hung.pid, signal.SIGCONT)
                    answer = stalled.result(timeout=30)
            finally:
                os.kill(hung.pid, signal.SIGCONT)
            assert health.status_code == 200
            assert ready.status_code == 503 and "not answering" in ready.json()["detail"]
            assert waited < 4  # /healthz at once, /readyz within lock timeout + 1 s
            assert (answer.status_code, answer.json()["retCode"]) == (200, "200")
            wait_until(lambda: client.get(READYZ).status_code == 200, "ready again", 15)
    finally:
        hung.stop()
