"""Phone numbers as callers type them: what each refusal tells the caller, the number read in
the first accepted country, masks that tell numbers apart in logs without showing them, and the
number ranges the pumping defences count."""

from __future__ import annotations

import pytest

from applytry.phones import Phone, parse_phone
from conftest import generate

ONLY_TYPED = "phone may contain only digits, spaces, brackets, dashes, dots and +"


@pytest.mark.parametrize(
    ("typed", "detail"),
    [
        ("   ", ONLY_TYPED),
        ("+86 138_0013_8000", ONLY_TYPED),
        ("+", "phone is not a phone number"),
        ("+999 1234", "phone is not a phone number"),
        ("1380013800", "phone is not a valid phone number"),
        ("+86 10 6552 9988", "phone is not a mobile number"),
        ("+44 7400 123456", "phone numbers of this country are not accepted"),
    ],
)
def test_each_refused_number_gets_a_400_problem_saying_why(client, outbox, typed, detail):
    reply = generate(client, typed)

    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json() == {
        "type": "about:blank",
        "title": "Incorrect request. Check the request path and parameters.",
        "status": 400,
        "detail": detail,
    }
    assert outbox.messages() == []


@pytest.mark.parametrize(
    ("typed", "countries", "phone"),
    [
        ("1.3.8 0013-8000", ("CN",), Phone("+8613800138000", "+86138****8000", "CN", 86)),
        ("13800138000", ("*",), Phone("+8613800138000", "+86138****8000", "CN", 86)),
        ("07400 123456", ("GB", "CN"), Phone("+447400123456", "+44740***3456", "GB", 44)),
        ("+86 138 0013 8000", ("GB", "CN"), Phone("+8613800138000", "+86138****8000", "CN", 86)),
        # Numbers that may be mobile or fixed (the United States') count as mobile.
        ("(201) 555-0123", ("US",), Phone("+12015550123", "+1201***0123", "US", 1)),
        # Nine national digits or more show three of them, fewer show one.
        ("+33 6 12 34 56 78", ("*",), Phone("+33612345678", "+33612**5678", "FR", 33)),
        ("+65 8123 4567", ("*",), Phone("+6581234567", "+658***4567", "SG", 65)),
        ("+354 611 1234", ("*",), Phone("+3546111234", "+3546**1234", "IS", 354)),
    ],
)
def test_a_number_is_read_in_the_first_accepted_country_unless_it_carries_its_own(
    typed, countries, phone
):
    assert parse_phone(typed, countries) == phone


@pytest.mark.parametrize(
    ("e164", "digits", "prefix"),
    [
        ("+8613800138000", 5, "+8613800"),
        ("+8613800138000", 1, "+861"),
        ("+12015550123", 3, "+1201"),
        ("+3546111234", 2, "+35461"),
    ],
)
def test_a_number_range_is_the_country_code_and_the_leading_national_digits(e164, digits, prefix):
    assert parse_phone(e164, ("*",)).prefix(digits) == prefix
