"""The pool of access codes hands them out in the order the operator imported them: a code
loaded earlier goes first, whatever its digits."""

from __future__ import annotations

from applytry import accesscodes
from applytry.db.models import Tenant
from conftest import apply_tenant, generate


def open_tenant(client, outbox, phone: str, company: str) -> str:
    assert generate(client, phone).json()["retCode"] == "200"
    code = outbox.code_for("+86" + phone)
    reply = apply_tenant(client, phone, code, company, f"{company}@example.com")
    assert reply.json()["returnCode"] == "000", reply.text
    return Tenant.get(Tenant.company_name == company).access_code


def test_the_code_imported_first_goes_to_the_first_tenant_even_when_a_later_one_sorts_lower(
    client, outbox, clock
):
    accesscodes.import_codes(["95555009"], clock())
    clock.advance(60)
    accesscodes.import_codes(["95555001"], clock())

    assert open_tenant(client, outbox, "13800138000", "alpha") == "95555009"
    assert open_tenant(client, outbox, "13900139000", "beta") == "95555001"
