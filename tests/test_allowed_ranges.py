"""Codes sent to numbers on the operator's allow list are history like any other: issued and
used for their range and country, so that ``applytry stats`` shows the day's conversion over
every code sent and their uses earn their range its allowance. They spend no allowance, so
what an operator lets through never turns the range's or the country's other numbers away."""

from __future__ import annotations

from applytry import rules
from applytry.db.models import Counter
from conftest import apply_tenant, generate, load_access_codes

ALLOWED = ["+8617000000001", "+8617000000002"]


def ret(response) -> tuple[str, bool | None]:
    assert response.status_code == 200, response.text
    return response.json()["retCode"], response.json().get("challengeRequired")


def counted(scope: str) -> dict[str, int]:
    return {row.key: row.count for row in Counter.select().where(Counter.scope == scope)}


def test_codes_allowed_numbers_use_are_history_and_spend_no_allowance(client_for, outbox):
    client = client_for(
        conversion_prefix_volume=1, conversion_country_volume=1, settings_refresh_s=0
    )
    rules.add(rules.ALLOW, "+861700000", by="test")
    load_access_codes("95555001", "95555002")
    for n, number in enumerate(ALLOWED):
        assert ret(generate(client, number)) == ("200", None)
        code = outbox.code_for(number)
        reply = apply_tenant(client, number, code, f"allowed {n}", f"allowed{n}@example.com")
        assert reply.json()["returnCode"] == "000"

    assert counted("issued-10m") == {"range:+86170": 2, "country:CN": 2}
    assert counted("used-10m") == {"range:+86170": 2, "country:CN": 2}
    assert counted("rep-range") == counted("rep-country") == {}
    # The range has earned 1 + 2 * 5 codes for its other numbers; no fresh budget is spent.
    others = [f"+861709999{n:04d}" for n in range(12)]
    assert [ret(generate(client, number)) for number in others] == [("200", None)] * 11 + [
        ("201", True)
    ]
    assert ret(generate(client, "+8613900000000")) == ("200", None)  # the country's one
