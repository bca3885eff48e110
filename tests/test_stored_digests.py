"""The keyed hashes kept in place of phones, codes, tokens, keys and claims: each kind apart from
the others, one per value, and the same from one release to the next, so that a database
written before an upgrade keeps working after it."""

from __future__ import annotations

import pytest

from applytry.db.models import Tenant
from applytry.digests import Digests, new_code
from conftest import SECRET, apply_tenant, generate, load_access_codes


def test_hashes_stored_before_an_upgrade_still_match_after_it():
    # As a database written by this release holds them, under the tests' APPLYTRY_SECRET: live
    # codes, receipt URLs handed to Huawei, the mailed setup tokens, API keys and every
    # tenant's claim must still match once a new release is running.
    digests = Digests(SECRET.encode())
    e164 = "+8613800138000"

    assert digests.phone(e164) == (
        "e35eb37c51e02a00f5436f78db46087399fc791ad08e0fc8942548c0895c2e6f"
    )
    assert digests.client("203.0.113.7") == (
        "31eb4034dfcdffa908a0a53e2de2b0e1b2ba01551cfe62182c56a153fd563299"
    )
    assert digests.code(e164, "123456") == (
        "d2ded84b9e8e46be95736d17d629a02c3505da4ccb288a7fd7d8d2d4b5a0d557"
    )
    assert digests.setup_token("Zm9vYmFyYmF6cXV4cXV1eA") == (
        "523348de96d9a9e736f35fce4ffd769419d57ced69a8584c709bce6c33661f52"
    )
    assert digests.api_key("ak_0123abcd_" + "A" * 32) == (
        "203879327cbad98a6f3c761e418a9c16a419897c612239e6ffea474fecf84347"
    )
    assert digests.receipt("8d4c1a52-4b8e-4c51-9b8a-3f1f2b8f3c11") == (
        "0a82d06f37ccb8b4bbaab29e48ebf1e7"
    )
    assert digests.claim("email", "trial@example.com") == (
        "b3d16e2c8cfee9cf6f260479a02faaf4d84f9a034a063e1626ea452e90045cda"
    )


def open_tenant(client, outbox, phone: str, e164: str, company: str, email: str) -> str:
    assert generate(client, phone).json()["retCode"] == "200"
    reply = apply_tenant(client, phone, outbox.code_for(e164), company=company, email=email)
    return reply.json()["returnCode"]


def test_a_company_named_like_another_tenants_email_or_phone_is_not_that_tenant(client, outbox):
    load_access_codes("95555001", "95555002", "95555003")
    first = open_tenant(client, outbox, "13800138000", "+8613800138000", "Example Ltd", "a@x.com")

    named_like_the_email = open_tenant(
        client, outbox, "13900139000", "+8613900139000", "a@x.com", "b@x.com"
    )
    named_like_the_phone = open_tenant(
        client, outbox, "13700137000", "+8613700137000", "+8613800138000", "c@x.com"
    )

    assert (first, named_like_the_email, named_like_the_phone) == ("000", "000", "000")
    assert Tenant.select().count() == 3


def test_each_account_mail_carries_a_setup_token_of_its_own(client, outbox, mailbox):
    load_access_codes("95555001", "95555002")
    open_tenant(client, outbox, "13800138000", "+8613800138000", "First Ltd", "a@x.com")
    open_tenant(client, outbox, "13900139000", "+8613900139000", "Second Ltd", "b@x.com")

    tokens = [m["text"].split("One-time setup token: ")[1].split()[0] for m in mailbox.messages()]
    stored = [
        Tenant.get(Tenant.email == email).setup_token_digest for email in ("a@x.com", "b@x.com")
    ]

    digests = Digests(SECRET.encode())
    assert stored == [digests.setup_token(token) for token in tokens]
    assert len(set(tokens)) == len(set(stored)) == 2


@pytest.mark.parametrize("length", [6, 8])
def test_codes_use_every_digit_in_every_place(length):
    # Drawn uniformly from all 10**length codes, a thousand of them miss no digit anywhere
    # (the chance that one place lacks one digit is about 1 in 10**44).
    codes = [new_code(length) for _ in range(1000)]

    assert all(len(code) == length and code.isdigit() for code in codes)
    for place in range(length):
        assert {code[place] for code in codes} == set("0123456789"), place
