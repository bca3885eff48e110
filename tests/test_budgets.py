"""Budgets at their edges, as callers see them: the last request a budget allows and the first
it refuses, the exact Retry-After to the end of each window, windows aligned on the clock and
on midnight in the service's zone, and which refusal answers when several budgets are spent."""

from __future__ import annotations

import pytest

from applytry import limits
from applytry.db.models import Counter
from conftest import generate

MINUTE_START = 1_790_000_000 - 1_790_000_000 % 60
HOUR_START = 1_790_000_000 - 1_790_000_000 % 3600
PHONE = "13800138000"


def phones(n: int) -> list[str]:
    return [f"1390013{i:04d}" for i in range(n)]


def test_the_per_client_budget_allows_exactly_its_limit_each_minute(client_for, clock):
    client = client_for(ip_per_minute=3)
    clock.now = MINUTE_START + 17.25

    statuses = [generate(client, phone).status_code for phone in phones(4)]

    assert statuses == [200, 200, 200, 429]
    refused = generate(client, PHONE)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "43"  # 42.75 s to the minute's end, rounded up
    assert refused.json()["detail"] == "too many requests from this address; retry in 43 seconds"

    clock.now = MINUTE_START + 59.75
    assert generate(client, PHONE).headers["retry-after"] == "1"
    clock.now = MINUTE_START + 60  # the next minute: a fresh budget
    assert [generate(client, phone).status_code for phone in phones(4)] == [200, 200, 200, 429]


def test_a_refused_request_is_not_counted_against_the_client(client_for, clock):
    client = client_for(ip_per_minute=2)
    clock.now = MINUTE_START
    for _ in range(5):
        generate(client, PHONE)

    [row] = Counter.select().where(Counter.scope == limits.CLIENT_MINUTE.scope)
    assert (row.count, row.window, row.ends) == (2, MINUTE_START, MINUTE_START + 60)


def test_the_hourly_allowance_refuses_until_the_top_of_the_hour(client_for, clock, outbox):
    client = client_for(phone_hourly_limit=2, resend_interval_s=1)
    clock.now = HOUR_START + 1000.5
    assert generate(client, PHONE).json()["retCode"] == "200"
    clock.advance(1)
    assert generate(client, PHONE).json()["retCode"] == "200"
    clock.advance(1)

    refused = generate(client, PHONE)

    assert refused.json()["retCode"] == "201"
    assert refused.headers["retry-after"] == str(3600 - 1002)
    clock.now = HOUR_START + 3600
    assert generate(client, PHONE).json()["retCode"] == "200"
    assert len(outbox.messages()) == 3


def test_the_system_threshold_refuses_only_once_the_phones_own_budgets_allow(client_for, clock):
    """A phone past its hourly allowance is told when to come back (201), even when the day's
    SMS threshold is spent too: a 205 would send its owner to the operators for nothing."""
    client = client_for(phone_hourly_limit=1, sms_daily_limit=1, resend_interval_s=1)
    clock.now = HOUR_START
    assert generate(client, PHONE).json()["retCode"] == "200"
    clock.advance(10)

    again = generate(client, PHONE)
    other = generate(client, "13900139000")

    assert (again.json()["retCode"], again.headers["retry-after"]) == ("201", "3590")
    assert other.json()["retCode"] == "205"


@pytest.mark.parametrize(
    ("zone", "local_midnight"),
    [
        ("UTC", 1_790_035_200),  # 2026-09-22 00:00 UTC
        ("Asia/Shanghai", 1_790_006_400),  # 2026-09-22 00:00 CST, 16:00 UTC the day before
        ("America/Los_Angeles", 1_790_060_400),  # 2026-09-22 00:00 PDT
    ],
)
def test_the_daily_allowance_refuses_until_midnight_in_the_service_zone(
    client_for, clock, zone, local_midnight
):
    client = client_for(
        timezone=zone, phone_daily_limit=1, phone_hourly_limit=5, resend_interval_s=1
    )
    clock.now = local_midnight - 7200.5
    assert generate(client, PHONE).json()["retCode"] == "200"
    clock.advance(2)

    refused = generate(client, PHONE)

    assert refused.json()["retCode"] == "201"
    assert refused.headers["retry-after"] == "7199"  # 7198.5 s, rounded up
    clock.now = local_midnight - 0.5
    assert generate(client, PHONE).headers["retry-after"] == "1"
    clock.now = local_midnight
    assert generate(client, PHONE).json()["retCode"] == "200"


def test_a_day_that_loses_an_hour_ends_at_its_own_midnight(client_for, clock):
    # 2027-03-14 in Los Angeles: clocks go from 02:00 to 03:00, so the day is 23 hours long.
    start = 1_805_011_200  # 2027-03-14 00:00 PST
    client = client_for(timezone="America/Los_Angeles", phone_daily_limit=1, phone_hourly_limit=5)
    clock.now = start + 60
    assert generate(client, PHONE).json()["retCode"] == "200"
    clock.advance(60)

    refused = generate(client, PHONE)

    assert refused.headers["retry-after"] == str(23 * 3600 - 120)
