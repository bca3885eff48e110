"""Configuration: defaults, validation at start-up, and the commands' real entry point."""

from __future__ import annotations

import json
import logging

import peewee
import pytest

from applytry.config import ConfigError, Settings
from applytry.db.migrations import available
from applytry.logs import JsonFormatter
from conftest import run_cli


def test_defaults_are_the_documented_ones():
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///applytry.db"
    assert settings.sms_backend == "outbox"
    assert (settings.code_length, settings.code_ttl_s, settings.resend_interval_s) == (6, 300, 60)
    assert (settings.phone_hourly_limit, settings.phone_daily_limit) == (5, 10)
    assert (settings.ip_per_minute, settings.max_attempts) == (20, 5)
    assert (settings.sms_daily_limit, settings.countries, settings.timezone) == (
        10000,
        ("CN",),
        "UTC",
    )


def test_the_environment_overrides_defaults():
    settings = Settings.from_env(
        {
            "APPLYTRY_COUNTRIES": "cn, gb",
            "APPLYTRY_SMS_DAILY_LIMIT": "42",
            "APPLYTRY_LOG_LEVEL": "debug",
        }
    )
    assert settings.countries == ("CN", "GB")
    assert settings.sms_daily_limit == 42
    assert settings.log_level == "DEBUG"


def test_every_bad_value_is_named_at_once():
    with pytest.raises(ConfigError) as error:
        Settings.from_env(
            {
                "APPLYTRY_CODE_LENGTH": "4",
                "APPLYTRY_CODE_TTL_S": "3600",
                "APPLYTRY_SMS_BACKEND": "carrier-pigeon",
                "APPLYTRY_TIMEZONE": "Mars/Olympus",
                "APPLYTRY_COUNTRIES": "XX",
            }
        )
    message = str(error.value)
    for name in ("CODE_LENGTH", "CODE_TTL_S", "SMS_BACKEND", "TIMEZONE", "COUNTRIES"):
        assert f"APPLYTRY_{name}" in message


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        ({"APPLYTRY_SMS_BACKEND": "webhook"}, "APPLYTRY_SMS_WEBHOOK_URL"),
        ({"APPLYTRY_DATABASE_URL": "postgresql://db/applytry"}, "APPLYTRY_SECRET"),
        ({"APPLYTRY_DATABASE_URL": "mysql://db/applytry", "APPLYTRY_SECRET": "x" * 16}, "scheme"),
    ],
)
def test_settings_that_cannot_work_together_are_refused(environ, needle):
    with pytest.raises(ConfigError, match=needle):
        Settings.from_env(environ)


def test_the_embedded_secret_is_generated_once(tmp_path):
    settings = Settings.from_env({"APPLYTRY_DATABASE_URL": f"sqlite:///{tmp_path}/a.db"})
    first = settings.resolve_secret()
    assert len(first) == 64
    assert settings.resolve_secret() == first
    assert oct((tmp_path / "a.db.secret").stat().st_mode & 0o777) == "0o600"


def test_a_bad_configuration_stops_the_command_with_a_clear_message(tmp_path):
    result = run_cli("serve", cwd=tmp_path, APPLYTRY_SMS_TIMEOUT_S="soon")
    assert result.returncode == 2
    assert "APPLYTRY_SMS_TIMEOUT_S" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_brings_the_schema_up_to_date_once(tmp_path, empty_database_url):
    env = {"APPLYTRY_DATABASE_URL": empty_database_url, "APPLYTRY_SECRET": "s" * 16}
    first = run_cli("migrate", cwd=tmp_path, **env)
    again = run_cli("migrate", cwd=tmp_path, **env)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert json.loads(first.stderr.splitlines()[-1])["applied"] == ",".join(available())
    assert json.loads(again.stderr.splitlines()[-1])["applied"] == "none"


def test_log_lines_are_json_and_mask_phone_numbers():
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "sent to %s", ("+86 138 0013 8000",), None
    )
    record.phone = "+86138****8000"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "sent to +86 ****8000"
    assert line["phone"] == "+86138****8000"
    assert line["level"] == "INFO"


def test_secrets_may_come_from_files_and_never_show_in_repr(tmp_path):
    secret_file = tmp_path / "app-secret"
    secret_file.write_text("q4Ii87BhST9vcs8wvrzN80SfD7Al\n")
    settings = Settings.from_env(
        {
            "APPLYTRY_SMS_BACKEND": "huawei",
            "APPLYTRY_HUAWEI_ENDPOINT": "https://smsapi.example.com:443",
            "APPLYTRY_HUAWEI_APP_KEY": "app-key",
            "APPLYTRY_HUAWEI_APP_SECRET_FILE": str(secret_file),
            "APPLYTRY_HUAWEI_SENDER": "8824110605",
            "APPLYTRY_HUAWEI_TEMPLATE_ID_ZH": "tpl-zh",
        }
    )
    assert settings.huawei_app_secret == "q4Ii87BhST9vcs8wvrzN80SfD7Al"
    assert "q4Ii87" not in repr(settings)


def test_an_unreadable_secret_file_is_named_and_its_backend_requirements_listed(tmp_path):
    with pytest.raises(ConfigError, match="APPLYTRY_TWILIO_AUTH_TOKEN_FILE"):
        Settings.from_env({"APPLYTRY_TWILIO_AUTH_TOKEN_FILE": str(tmp_path / "missing")})
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"APPLYTRY_SMS_BACKEND": "twilio"})
    assert "APPLYTRY_TWILIO_ACCOUNT_SID" in str(error.value)
    assert "APPLYTRY_TWILIO_FROM" in str(error.value)


@pytest.mark.parametrize("template", ["no code here", "{code} {sender}", "{code"])
def test_an_sms_template_must_hold_the_code_and_nothing_unknown(template):
    with pytest.raises(ConfigError, match="APPLYTRY_SMS_TEMPLATE_EN"):
        Settings.from_env({"APPLYTRY_SMS_TEMPLATE_EN": template})


@pytest.mark.parametrize(
    ("environ", "named", "not_named"),
    [
        (
            {"APPLYTRY_DATABASE_URL": "mysql://x", "APPLYTRY_CODE_TTL_S": "abc"},
            ["APPLYTRY_DATABASE_URL", "APPLYTRY_CODE_TTL_S"],
            ["APPLYTRY_SECRET"],
        ),
        ({"APPLYTRY_DATABASE_URL": "mysql://x"}, ["APPLYTRY_DATABASE_URL"], ["APPLYTRY_SECRET"]),
        (
            {"APPLYTRY_SMS_BACKEND": "webhook", "APPLYTRY_RETENTION_DAYS": "0"},
            ["APPLYTRY_SMS_WEBHOOK_URL", "APPLYTRY_RETENTION_DAYS"],
            [],
        ),
    ],
)
def test_start_up_names_every_bad_variable_at_once(tmp_path, environ, named, not_named):
    for command in (["serve"], ["migrate"], ["access-codes", "list"]):
        result = run_cli(*command, cwd=tmp_path, **environ)

        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("applytry: invalid configuration:")
        for name in named:
            assert name in result.stderr
        for name in not_named:
            assert name not in result.stderr
        assert "Traceback" not in result.stderr


PASSWORD = "hunter2-not-shown"


@pytest.mark.parametrize(
    "command",
    [["serve"], ["migrate"], ["access-codes", "list"], ["settings", "list"], ["mail", "retry"]],
)
@pytest.mark.parametrize("where", ["postgresql", "sqlite"])
def test_an_unreachable_database_is_one_line_naming_where_and_exit_1(tmp_path, command, where):
    if where == "postgresql":
        url, shown = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/x", "127.0.0.1:1"
    else:
        missing = tmp_path / "no" / "such" / "folder" / "applytry.db"
        url, shown = f"sqlite:///{missing}", str(missing)

    result = run_cli(*command, cwd=tmp_path, APPLYTRY_DATABASE_URL=url, APPLYTRY_SECRET="s" * 16)

    assert result.returncode == 1, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("applytry: ") and "APPLYTRY_DATABASE_URL" in line and shown in line
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything and PASSWORD not in everything


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "70000"],
        ["purge", "--retention-days", "-1"],
        ["purge", "--retention-days", "0"],
    ],
)
def test_numbers_on_the_command_line_are_checked_like_settings(tmp_path, args):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "is not between" in result.stderr


def test_connection_settings_in_the_urls_query_are_refused_and_never_shown(tmp_path):
    url = "postgresql://postgres@127.0.0.1:1/x?password=secretpw"
    result = run_cli("stats", cwd=tmp_path, APPLYTRY_DATABASE_URL=url, APPLYTRY_SECRET="s" * 32)
    assert result.returncode == 2
    assert "give password in the URL itself" in result.stderr
    assert "secretpw" not in result.stderr + result.stdout


def test_a_host_that_does_not_resolve_is_a_database_out_of_reach():
    """What libpq says, with no SQLSTATE, when a host name does not resolve (no lookup here:
    the tests reach no network): the commands then print one line, as for a refused port."""
    from applytry.db.database import UNREACHABLE, classify

    said = 'could not translate host name "db.example" to address: Name or service not known'
    assert classify(peewee.OperationalError(said)) == UNREACHABLE
