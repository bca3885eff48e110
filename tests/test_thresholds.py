"""Run-time thresholds (`applytry settings`): a stored value over the environment's default, its
audit trail, what `settings list` and `settings get` show, and how soon a process sees a change;
in this process, on this test's database."""

from __future__ import annotations

import argparse

import pytest

from applytry import thresholds
from applytry.cli import get_setting, list_settings, set_setting, setting_history
from applytry.db.models import Setting, SettingChange
from applytry.thresholds import TUNABLE, Thresholds, UnknownSetting

T0 = 1_790_000_000.0


def trail() -> list[tuple]:
    return [
        (row.name, row.old_value, row.new_value, row.changed_at, row.changed_by)
        for row in SettingChange.select().order_by(SettingChange.changed_at, SettingChange.id)
    ]


def test_every_change_is_audited_with_the_value_it_replaced(db):
    thresholds.change("sms_daily_limit", "25", by="alice", now=T0)
    thresholds.change("phone_daily_limit", "3", by="alice", now=T0 + 1)
    thresholds.change("sms_daily_limit", "30", by="bob", now=T0 + 2)
    thresholds.change("sms_daily_limit", None, by="carol", now=T0 + 3)

    assert trail() == [
        ("sms_daily_limit", None, "25", T0, "alice"),
        ("phone_daily_limit", None, "3", T0 + 1, "alice"),
        ("sms_daily_limit", "25", "30", T0 + 2, "bob"),
        ("sms_daily_limit", "30", None, T0 + 3, "carol"),
    ]
    # Unsetting one threshold leaves the others as they were.
    assert [(row.name, row.value, row.updated_at, row.updated_by) for row in Setting.select()] == [
        ("phone_daily_limit", "3", T0 + 1, "alice")
    ]


def test_a_stored_value_is_kept_in_its_normal_form(db):
    thresholds.change("sms_daily_limit", " 025 ", by="alice", now=T0)

    assert Setting.get().value == "25"
    assert trail() == [("sms_daily_limit", None, "25", T0, "alice")]


@pytest.mark.parametrize("value", ["many", "2.5", "-1", "100000001"])
def test_a_value_its_threshold_cannot_take_is_refused_and_changes_nothing(db, value):
    with pytest.raises(ValueError):
        thresholds.change("sms_daily_limit", value, by="alice", now=T0)

    assert Setting.select().count() == 0 and trail() == []


def test_the_challenges_least_difficulty_never_goes_above_its_most(db, settings_for, capsys):
    # As at start-up: a least above the most would leave every challenge at the most, and an
    # operator who raised the least believing it made challenges harder would be misled.
    settings = settings_for(challenge_min_number=20_000, challenge_max_number=12_000_000)
    raised = argparse.Namespace(name="challenge_min_number", value="100000000", by="alice")
    assert set_setting(settings, raised) == 2
    assert capsys.readouterr().err == (
        "applytry: challenge_min_number: "
        "challenge_min_number (100000000) must not exceed challenge_max_number (12000000)\n"
    )
    thresholds.change("challenge_max_number", "50000", by="alice", settings=settings, now=T0)
    with pytest.raises(ValueError, match="must not exceed"):
        thresholds.change("challenge_min_number", "60000", by="bob", settings=settings)
    with pytest.raises(ValueError, match="must not exceed"):
        thresholds.change("challenge_max_number", "10000", by="bob", settings=settings)

    assert trail() == [("challenge_max_number", None, "50000", T0, "alice")]


def test_only_the_listed_thresholds_change_at_run_time(db, settings_for, capsys):
    with pytest.raises(UnknownSetting) as refused:
        thresholds.change("secret", "x", by="mallory", now=T0)
    assert trail() == []
    assert str(refused.value) == (
        "'secret' is not a run-time setting; they are: phone_hourly_limit, phone_daily_limit, "
        "ip_per_minute, sms_daily_limit, email_daily_limit, prefix_hourly_limit, "
        "prefix_daily_limit, conversion_min_percent, conversion_prefix_volume, "
        "conversion_country_volume, challenge_policy, challenge_min_number, "
        "challenge_max_number"
    )

    assert get_setting(settings_for(), argparse.Namespace(name="retention_days")) == 2
    assert capsys.readouterr().err == f"applytry: {UnknownSetting('retention_days')}\n"


def test_settings_list_shows_each_value_and_where_it_comes_from(db, settings_for, capsys):
    settings = settings_for(sms_daily_limit=500, phone_hourly_limit=4)
    thresholds.change("sms_daily_limit", "25", by="alice", now=T0)

    effective = Thresholds(settings).effective()

    assert list(effective) == list(TUNABLE)
    assert effective["sms_daily_limit"] == (25, "database")
    assert effective["phone_hourly_limit"] == (4, "environment")
    assert effective["conversion_min_percent"] == (20, "environment")

    assert list_settings(settings, argparse.Namespace()) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[:4] == [
        "phone_hourly_limit\t4\t(environment)",
        "phone_daily_limit\t10\t(environment)",
        "ip_per_minute\t20\t(environment)",
        "sms_daily_limit\t25\t(database)",
    ]
    assert len(listed) == len(TUNABLE)


def test_settings_history_shows_who_changed_what(db, settings_for, capsys):
    thresholds.change("sms_daily_limit", "25", by="alice", now=T0)
    thresholds.change("sms_daily_limit", None, by="bob", now=T0 + 60)

    assert setting_history(settings_for(), argparse.Namespace()) == 0

    lines = [line.split("\t")[1:] for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        ["alice", "sms_daily_limit", "(default) -> 25"],
        ["bob", "sms_daily_limit", "25 -> (default)"],
    ]


def test_a_process_sees_a_change_once_its_copy_is_older_than_the_refresh_period(
    db, settings_for, clock
):
    current = Thresholds(settings_for(settings_refresh_s=2), clock)
    assert current.get("sms_daily_limit") == 10000

    thresholds.change("sms_daily_limit", "25", by="alice", now=T0)
    clock.advance(1.9)
    assert current.get("sms_daily_limit") == 10000
    clock.advance(0.1)
    assert current.get("sms_daily_limit") == 25
