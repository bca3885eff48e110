"""Codes sent to a range on the operator's allow list count as issued for the conversion
breaker like any other: their uses are counted for the range and the country, so if their
issuing were not, they would lift the country's conversion over codes that bots never use."""

from __future__ import annotations

from applytry import rules
from applytry.db.models import Counter
from conftest import apply_tenant, generate, load_access_codes

ALLOWED = ["+8617000000001", "+8617000000002"]
OTHERS = ["+8613900000000", "+8615000000000", "+8618600000000"]


def ret(response) -> tuple[str, str | None]:
    assert response.status_code == 200, response.text
    return response.json()["retCode"], response.headers.get("retry-after")


def issued() -> dict[str, int]:
    rows = Counter.select().where(Counter.scope == "issued-10m")
    return {row.key: row.count for row in rows}


def test_codes_an_allowed_range_uses_do_not_hide_a_country_whose_other_codes_go_unused(
    client_for, outbox
):
    client = client_for(
        conversion_country_volume=4, conversion_min_percent=50, settings_refresh_s=0
    )
    rules.add(rules.ALLOW, "+861700000", by="test")
    load_access_codes("95555001", "95555002")
    for n, number in enumerate(ALLOWED):
        assert ret(generate(client, number))[0] == "200"
        code = outbox.code_for(number)
        reply = apply_tenant(client, number, code, f"allowed {n}", f"allowed{n}@example.com")
        assert reply.json()["returnCode"] == "000"
    assert issued() == {"range:+8617000": 2, "country:CN": 2}

    for number in OTHERS:
        assert ret(generate(client, number))[0] == "200"

    # Two used in five: under half, and enough codes to judge the country.
    assert ret(generate(client, "+8613500000000")) == ("201", "600")
    assert issued()["country:CN"] == 5
