"""The conversion breaker at its edges: the share of used codes that keeps a range or a country
open, the volume at which it is judged, and the second at which unused codes leave its window."""

from __future__ import annotations

import logging

from applytry.db.models import Counter
from conftest import apply_tenant, generate, load_access_codes

BUCKET_START = 1_790_000_000 - 1_790_000_000 % 600


def ret(response) -> tuple[str, str | None]:
    assert response.status_code == 200, response.text
    return response.json()["retCode"], response.headers.get("retry-after")


def use(client, outbox, number: str, company: str) -> None:
    code = outbox.code_for(number)
    reply = apply_tenant(client, number, code, company=company, email=f"{company}@example.com")
    assert reply.json()["returnCode"] == "000"


def test_one_used_code_in_ten_is_under_a_fifth_and_throttles_the_range(client_for, outbox):
    client = client_for(conversion_prefix_volume=10, conversion_min_percent=20)
    load_access_codes("95555001", "95555002")
    numbers = [f"+861700000{n:04d}" for n in range(10)]
    for number in numbers:
        assert ret(generate(client, number))[0] == "200"
    use(client, outbox, numbers[0], "a")

    assert ret(generate(client, "+8617000009999")) == ("201", "600")

    use(client, outbox, numbers[1], "b")  # two in ten: a fifth
    assert ret(generate(client, "+8617000009999"))[0] == "200"


def test_used_codes_count_for_the_country_too(client_for, outbox):
    client = client_for(conversion_country_volume=4, conversion_min_percent=50)
    load_access_codes("95555001", "95555002")
    numbers = [f"+86{prefix}00000000" for prefix in ["139", "150", "186", "188"]]
    for number in numbers:
        assert ret(generate(client, number))[0] == "200"
    use(client, outbox, numbers[0], "a")
    assert ret(generate(client, "+8613500000000")) == ("201", "600")

    use(client, outbox, numbers[1], "b")  # two in four: half

    assert ret(generate(client, "+8613500000000"))[0] == "200"
    used = {row.key: row.count for row in Counter.select().where(Counter.scope == "used-10m")}
    assert used == {"range:+8613900": 1, "range:+8615000": 1, "country:CN": 2}


def test_unused_codes_leave_the_window_with_the_ten_minutes_they_were_issued_in(
    client_for, outbox, clock
):
    client = client_for(
        conversion_prefix_volume=3, conversion_min_percent=20, conversion_window_s=1800
    )
    clock.now = BUCKET_START + 250
    for n in range(3):
        assert ret(generate(client, f"+861700000{n:04d}"))[0] == "200"

    clock.now = BUCKET_START + 1799
    assert ret(generate(client, "+8617000009999")) == ("201", "600")
    clock.now = BUCKET_START + 1800
    assert ret(generate(client, "+8617000009999"))[0] == "200"


def test_codes_issued_in_different_buckets_of_the_window_are_judged_together(
    client_for, outbox, clock
):
    client = client_for(conversion_prefix_volume=3, conversion_min_percent=20)
    for n, minute in enumerate([0, 20, 40]):
        clock.now = BUCKET_START + minute * 60
        assert ret(generate(client, f"+861700000{n:04d}"))[0] == "200"

    clock.now = BUCKET_START + 59 * 60 + 59
    assert ret(generate(client, "+8617000009999")) == ("201", "600")
    clock.now = BUCKET_START + 60 * 60  # the first code has left the hour
    assert ret(generate(client, "+8617000009999"))[0] == "200"


def test_a_throttled_range_is_logged_with_the_masked_phone(client_for, outbox, caplog):
    client = client_for(conversion_prefix_volume=1, conversion_min_percent=20)
    assert ret(generate(client, "+8617000000000"))[0] == "200"
    caplog.set_level(logging.INFO, logger="applytry")

    assert ret(generate(client, "+8617000009999")) == ("201", "600")

    [line] = [r for r in caplog.records if r.name == "applytry.pumping"]
    assert (line.levelno, line.getMessage()) == (logging.INFO, "code refused: conversion-range")
    assert (line.phone, line.reason) == ("+86170****9999", "conversion-range")
