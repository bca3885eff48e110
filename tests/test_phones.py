"""Phone normalisation and masking, and language negotiation."""

from __future__ import annotations

import pytest

from applytry.messages import negotiate
from applytry.phones import InvalidPhone, parse_phone


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "+86 138 0013 8000",
        "+86-138-0013-8000",
        "１３８ ００１３ ８０００",
        "(+86)13800138000",
        "＋８６　１３８００１３８０００",
    ],
)
def test_spellings_reduce_to_one_e164_number(typed):
    phone = parse_phone(typed, ("CN",))
    assert phone.e164 == "+8613800138000"
    assert phone.masked == "+86138****8000"


@pytest.mark.parametrize(
    "typed", ["", "1380013800", "138001380001", "+86 10 6552 9988", "abc", "+999 1234"]
)
def test_what_is_not_a_chinese_mobile_number_is_refused(typed):
    with pytest.raises(InvalidPhone):
        parse_phone(typed, ("CN",))


def test_any_country_when_configured_so():
    assert parse_phone("+44 7400 123456", ("*",)).masked == "+44740***3456"
    with pytest.raises(InvalidPhone):
        parse_phone("+44 7400 123456", ("CN",))


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN", "zh"),
        ("en, zh", "en"),
        ("zh, en", "zh"),
        ("en;q=0.5, zh;q=0.6", "zh"),
        ("zh;q=0, en;q=0.1", "en"),
        ("de, *;q=0.5", "en"),
        ("zh;q=bogus", "en"),
    ],
)
def test_language_negotiation(header, language):
    assert negotiate(header) == language
