"""Operators' allow and deny lists as ``applytry rules`` manages them: which entry decides a
phone, what removing one takes away, the order of the listing, and the refusal of a target that
is no number, range or country."""

from __future__ import annotations

import pytest

from applytry import rules
from applytry.phones import parse_phone

ANY = ("*",)


def decision(entries: list[tuple[str, str]], phone: str) -> str | None:
    for action, target in entries:
        rules.add(action, target, by="test")
    return rules.Rules(refresh_s=0).decide(parse_phone(phone, ANY))


@pytest.mark.parametrize(
    "entries, phone, decided",
    [
        ([], "+8613800138000", None),
        ([("deny", "CN")], "+8613800138000", "deny"),
        ([("deny", "US")], "+8613800138000", None),
        ([("deny", "CN")], "+12015550123", None),
        ([("deny", "+86170")], "+8613800138000", None),
        ([("deny", "+86138")], "+8613800138000", "deny"),
        ([("allow", "+8613800138000")], "+8613800138000", "allow"),
        # A range beats its country, a longer range a shorter one, a number any range.
        ([("deny", "CN"), ("allow", "+86")], "+8613800138000", "allow"),
        ([("allow", "CN"), ("deny", "+86")], "+8613800138000", "deny"),
        ([("deny", "+86138"), ("allow", "+861380")], "+8613800138000", "allow"),
        ([("allow", "+86138"), ("deny", "+861380")], "+8613800138000", "deny"),
        ([("deny", "+861380013"), ("allow", "+8613800138000")], "+8613800138000", "allow"),
        # An entry that does not match never decides, however specific.
        ([("allow", "CN"), ("deny", "+8613800138001")], "+8613800138000", "allow"),
        # Both at once for one target: deny, whichever was written first.
        ([("allow", "+86138"), ("deny", "+86138")], "+8613800138000", "deny"),
        ([("deny", "+86138"), ("allow", "+86138")], "+8613800138000", "deny"),
        ([("allow", "CN"), ("deny", "CN")], "+8613800138000", "deny"),
        ([("deny", "CN"), ("allow", "CN")], "+8613800138000", "deny"),
    ],
)
def test_the_most_specific_matching_entry_decides(db, entries, phone, decided):
    assert decision(entries, phone) == decided


def test_a_country_is_told_by_the_numbers_region_not_its_calling_code(db):
    # Canada shares +1 with the United States.
    assert decision([("deny", "US")], "+16135550123") is None
    assert decision([("deny", "CA")], "+16135550123") == "deny"


def test_removing_takes_away_only_the_entry_of_that_action_and_target(db):
    rules.add(rules.DENY, "+86170", by="alice")
    rules.add(rules.ALLOW, "+86170", by="alice")
    rules.add(rules.DENY, "cn", by="alice")

    assert rules.remove(rules.ALLOW, " +86170 ") == 1
    assert rules.remove(rules.ALLOW, "+86170") == 0
    assert rules.remove(rules.ALLOW, "CN") == 0

    assert [(rule.target, rule.action) for rule in rules.listing()] == [
        ("+86170", "deny"),
        ("CN", "deny"),
    ]
    assert rules.Rules(refresh_s=0).decide(parse_phone("+8617000000001", ANY)) == "deny"


def test_the_listing_is_ordered_by_target_then_action(db):
    for action, target in [
        ("deny", "US"),
        ("allow", "+8617000000001"),
        ("deny", "+86170"),
        ("allow", "CN"),
        ("allow", "+86170"),
    ]:
        rules.add(action, target, by="alice")

    assert [(rule.target, rule.action) for rule in rules.listing()] == [
        ("+86170", "allow"),
        ("+86170", "deny"),
        ("+8617000000001", "allow"),
        ("CN", "allow"),
        ("US", "deny"),
    ]


@pytest.mark.parametrize("target", ["170-premium", "+0861", "86170", "CHN", "+8617000000000000"])
def test_a_target_that_is_no_number_range_or_country_is_refused_by_name(db, target):
    with pytest.raises(ValueError) as refused:
        rules.add(rules.DENY, target, by="alice")

    assert str(refused.value) == (
        f"{target!r} is not +digits (a number or range) or a country code"
    )
    assert rules.listing() == []
