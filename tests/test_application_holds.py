"""An application's holds on its phone and company, when one outlives its lease: an application
stuck past its minute loses its holds to the next one, and when it finally finishes it lets go
of its own holds only, never of the holds the next application took over."""

from __future__ import annotations

from applytry import tenants
from applytry.db.models import ApplicationLock, Tenant
from applytry.digests import Digests
from conftest import SECRET, apply_tenant, generate, load_access_codes

DIGESTS = Digests(SECRET.encode())
PHONE, E164 = "13800138000", "+8613800138000"
HOLDS = [DIGESTS.claim("phone", E164), DIGESTS.claim("company", "alpha ltd")]


def returned(response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["returnCode"]


def test_a_stuck_application_that_finishes_late_leaves_the_next_ones_holds_in_place(
    client, outbox, clock
):
    load_access_codes("95555001")
    assert generate(client, PHONE).json()["retCode"] == "200"
    code = outbox.code_for(E164)

    assert tenants._hold(HOLDS, "stuck", clock())  # its process stalls past the lease
    clock.advance(tenants.HOLD_S)
    assert tenants._hold(HOLDS, "next", clock())  # the lease is up: the next one takes over
    tenants._release(HOLDS, "stuck")  # the stuck one finishes at last

    assert {(hold.key, hold.owner) for hold in ApplicationLock.select()} == {
        (key, "next") for key in HOLDS
    }
    assert returned(apply_tenant(client, PHONE, code, "Alpha Ltd")) == "005"
    assert Tenant.select().count() == 0

    tenants._release(HOLDS, "next")
    assert returned(apply_tenant(client, PHONE, code, "Alpha Ltd")) == "000"
    assert ApplicationLock.select().count() == 0
