"""The README's limits as an operator reads them: the per-client budget shared by both
operations, every refusal counted by its reason and logged with a masked phone, the range caps'
Retry-After, allow-listed ranges past the reputation allowances, and every threshold marked *
in the configuration table changed at run time."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from applytry import rules, thresholds
from conftest import apply_tenant, counted_refusals, generate

README = Path(__file__).parents[1] / "README.md"
PHONE, MASKED = "13800138000", "+86138****8000"


def test_applications_spend_the_same_per_client_budget_as_code_requests(client_for):
    client = client_for(ip_per_minute=3)

    assert generate(client, "13800138001").status_code == 200
    assert apply_tenant(client, "13800138001", "123456").status_code == 200
    assert generate(client, "13800138002").status_code == 200

    assert apply_tenant(client, "13800138001", "123456").status_code == 429
    assert generate(client, "13800138003").status_code == 429


def _client_minute(client_for, clock):
    client = client_for(ip_per_minute=1)
    generate(client, "13900139000")
    return generate(client, PHONE)


def _phone_hour(client_for, clock):
    client = client_for(resend_interval_s=1, phone_hourly_limit=1)
    generate(client, PHONE)
    clock.advance(2)
    return generate(client, PHONE)


def _phone_day(client_for, clock):
    client = client_for(resend_interval_s=1, phone_hourly_limit=5, phone_daily_limit=1)
    generate(client, PHONE)
    clock.advance(2)
    return generate(client, PHONE)


def _sms_day(client_for, clock):
    client = client_for(sms_daily_limit=1)
    generate(client, "13900139000")
    return generate(client, PHONE)


def _reputation_range(client_for, clock):
    client = client_for(conversion_prefix_volume=1)
    generate(client, "13800138999")
    return generate(client, PHONE)


def _reputation_country(client_for, clock):
    client = client_for(conversion_country_volume=1)
    generate(client, "13900139000")  # another fresh range of the country
    return generate(client, PHONE)


def _challenge_required(client_for, clock):
    return generate(client_for(challenge_policy="always"), PHONE)


REFUSALS = {
    "client-minute": (_client_minute, 429),
    "phone-hour": (_phone_hour, "201"),
    "phone-day": (_phone_day, "201"),
    "sms-day": (_sms_day, "205"),
    "reputation-range": (_reputation_range, "201"),
    "reputation-country": (_reputation_country, "201"),
    "challenge-required": (_challenge_required, "201"),
}


@pytest.mark.parametrize("reason", REFUSALS)
def test_every_refusal_is_counted_by_its_reason_and_logged_with_the_masked_phone(
    client_for, clock, outbox, caplog, reason
):
    caplog.set_level(logging.INFO, logger="applytry")
    provoke, answer = REFUSALS[reason]

    reply = provoke(client_for, clock)

    if answer == 429:
        assert reply.status_code == 429
    else:
        assert reply.json()["retCode"] == answer
    assert counted_refusals({reason: 1}) == {reason: 1}
    [line] = [r for r in caplog.records if getattr(r, "reason", None) == reason]
    assert line.phone == MASKED
    assert PHONE not in line.getMessage()


def test_the_range_caps_answer_201_with_retry_after(client_for, clock):
    client = client_for(prefix_hourly_limit=1)
    clock.now = clock.now - clock.now % 3600 + 600  # ten minutes into an hour
    assert generate(client, "+8617000000001").json()["retCode"] == "200"

    reply = generate(client, "+8617000000002")

    assert reply.json()["retCode"] == "201"
    assert reply.headers["retry-after"] == "3000"


def test_an_allowed_range_is_exempt_from_the_reputation_allowances(client_for, outbox):
    client = client_for(conversion_prefix_volume=3, conversion_min_percent=20, settings_refresh_s=0)
    rules.add(rules.ALLOW, "+861700000", by="test")

    codes = [generate(client, f"+861700000{n:04d}").json()["retCode"] for n in range(6)]

    assert codes == ["200"] * 6
    # The rest of the range still has its whole allowance; past it, a challenge.
    others = [generate(client, f"+861709999{n:04d}").json() for n in range(4)]
    assert [(o["retCode"], o.get("challengeRequired")) for o in others] == [
        ("200", None),
        ("200", None),
        ("200", None),
        ("201", True),
    ]


def _starred_variables() -> set[str]:
    """The variables the README's configuration table marks with *."""
    section = README.read_text(encoding="utf-8").split("\n## Configuration\n")[1]
    table = section.split("\n### ")[0]
    starred = set()
    for row in table.splitlines():
        cells = row.split("|")
        if len(cells) > 2 and cells[1].strip().endswith("*"):
            starred.update(re.findall(r"APPLYTRY_([A-Z_]+)", cells[1]))
    return starred


def test_every_threshold_marked_in_the_readme_is_a_run_time_setting(cli, db):
    starred = {name.lower() for name in _starred_variables()}
    assert len(starred) == 13

    listed = {line.split("\t")[0] for line in cli("settings", "list").stdout.splitlines()}

    assert listed == starred


def test_a_threshold_changed_at_run_time_applies_without_a_restart(client_for, clock):
    client = client_for(ip_per_minute=1, phone_hourly_limit=1, settings_refresh_s=0)
    clock.now -= clock.now % 60  # at the start of a minute
    assert generate(client, PHONE).status_code == 200
    assert generate(client, "13900139000").status_code == 429

    thresholds.change("ip_per_minute", "10", by="test")
    clock.advance(61)
    assert generate(client, PHONE).json()["retCode"] == "201"  # phone_hourly_limit, 1

    thresholds.change("phone_hourly_limit", "2", by="test")
    clock.advance(61)
    assert generate(client, PHONE).json()["retCode"] == "200"
