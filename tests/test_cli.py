"""The operators' commands, each through its real entry point (``python -m applytry.cli``)."""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import os
import subprocess
import sys

import httpx
import pytest

from applytry.db.models import AccessCode, Job, SettingChange, Tenant
from conftest import (
    GENERATE,
    SECRET,
    apply_tenant,
    generate,
    load_access_codes,
    run_cli,
    wait_until,
)

PHONE, E164 = "13800138000", "+8613800138000"


def test_access_codes_are_imported_once_and_listed(cli, tmp_path):
    codes = tmp_path / "codes.txt"
    codes.write_text("# trial hotlines\n95555001\n 95555002 \n\n95555001\n")

    first = cli("access-codes", "import", str(codes))
    again = cli("access-codes", "import", str(codes))
    listed = cli("access-codes", "list")

    assert first.returncode == 0, first.stderr
    assert "imported 2 access codes; 0 were already there" in first.stdout
    assert "imported 0 access codes; 2 were already there" in again.stdout
    assert listed.stdout.splitlines() == ["95555001\tfree", "95555002\tfree"]
    assert "2 free of 2" in listed.stderr


def test_a_file_with_a_bad_line_imports_nothing_and_names_the_line(cli, tmp_path):
    codes = tmp_path / "codes.txt"
    codes.write_text("95555001\nnot a code!\n")

    result = cli("access-codes", "import", str(codes))

    assert result.returncode == 2
    assert "line 2" in result.stderr and "Traceback" not in result.stderr
    assert cli("access-codes", "list").stdout == ""


def test_an_assigned_code_is_listed_with_its_tenant(cli, client, outbox):
    load_access_codes("95555001", "95555002")
    assert generate(client, PHONE).json()["retCode"] == "200"
    assert apply_tenant(client, PHONE, outbox.code_for(E164)).json()["returnCode"] == "000"
    tenant = Tenant.get()

    everything = cli("access-codes", "list").stdout.splitlines()
    free = cli("access-codes", "list", "--free").stdout.splitlines()

    assert everything[0].startswith(f"95555001\t{tenant.id}\t")
    assert free == ["95555002\tfree"]


def test_settings_are_set_audited_listed_and_unset(cli, db):
    assert cli("settings", "get", "sms_daily_limit").stdout.strip() == "10000"

    changed = cli("settings", "set", "sms_daily_limit", "25", "--by", "alice")

    assert changed.returncode == 0, changed.stderr
    assert cli("settings", "get", "sms_daily_limit").stdout.strip() == "25"
    assert "sms_daily_limit\t25\t(database)" in cli("settings", "list").stdout
    assert cli("settings", "unset", "sms_daily_limit", "--by", "bob").returncode == 0
    assert "sms_daily_limit\t10000\t(environment)" in cli("settings", "list").stdout
    trail = [(c.old_value, c.new_value, c.changed_by) for c in SettingChange.select()]
    assert trail == [(None, "25", "alice"), ("25", None, "bob")]
    history = [line.split("\t")[1:] for line in cli("settings", "history").stdout.splitlines()]
    assert history == [
        ["alice", "sms_daily_limit", "(default) -> 25"],
        ["bob", "sms_daily_limit", "25 -> (default)"],
    ]


@pytest.mark.parametrize("value", ["-1", "lots", "1e9"])
def test_a_bad_setting_value_is_refused_and_changes_nothing(cli, value):
    result = cli("settings", "set", "sms_daily_limit", value)
    assert result.returncode == 2
    assert "sms_daily_limit" in result.stderr and "Traceback" not in result.stderr
    assert cli("settings", "get", "sms_daily_limit").stdout.strip() == "10000"


@pytest.mark.servers
def test_a_setting_changed_by_the_cli_takes_effect_on_a_running_server(cli, serve):
    base = serve(settings_refresh_s=0.2)
    phones = (f"1380013{n:04d}" for n in itertools.count(1))
    with httpx.Client(base_url=base) as http:

        def ret_code() -> str:
            return http.post(GENERATE, json={"phone": next(phones)}).json()["retCode"]

        assert ret_code() == "200"
        assert cli("settings", "set", "sms_daily_limit", "1").returncode == 0
        # Each phone is new, so 205 can only come from the threshold the server now reads.
        wait_until(lambda: ret_code() == "205", "the server applies the new threshold", 5)


def test_mail_retry_sends_the_account_mail_that_failed(cli, client_for, outbox, mailbox, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    client = client_for(email_outbox=str(blocked))
    load_access_codes("95555001")
    generate(client, PHONE)
    assert apply_tenant(client, PHONE, outbox.code_for(E164)).json()["returnCode"] == "000"
    assert mailbox.messages() == []

    # The test's clock stands in the past, so the job is due for the real one.
    result = cli("mail", "retry")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "mail: 1 done, 0 failed, 0 pending" in result.stdout
    [mail] = mailbox.messages()
    assert mail["to"] == "trial@example.com"
    assert Job.get().status == "done" and Job.get().attempts == 2
    assert AccessCode.get().tenant_id == Tenant.get().id


def test_mail_retry_exits_1_while_a_mail_still_fails(cli, client_for, outbox, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    client = client_for(email_outbox=str(blocked))
    load_access_codes("95555001")
    generate(client, PHONE)
    apply_tenant(client, PHONE, outbox.code_for(E164))

    result = cli("mail", "retry", APPLYTRY_EMAIL_OUTBOX=str(blocked))

    assert result.returncode == 1
    assert "mail: 0 done, 1 failed, 1 pending" in result.stdout
    assert "last error: outbox" in result.stdout


def _actions(parser, path=("applytry",)):
    """Every option and argument of every command, with the command's words."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), "(the command itself)", helps.get(name)
                yield from _actions(sub, (*path, name))
        elif not isinstance(action, argparse._HelpAction):
            yield path, "/".join(action.option_strings) or action.dest, action.help


def test_every_command_option_and_argument_has_help():
    from applytry.cli import parser

    missing = [f"{' '.join(path)} {name}" for path, name, text in _actions(parser()) if not text]
    assert missing == []


def test_serve_help_describes_its_options(tmp_path):
    result = run_cli("serve", "--help", cwd=tmp_path)

    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--host HOST the address to listen on" in text
    assert "--port PORT the TCP port to listen on" in text
    assert "--workers WORKERS worker processes" in text


def test_the_top_level_help_is_plain_text_and_lists_every_command(tmp_path):
    result = run_cli("--help", cwd=tmp_path)

    assert result.returncode == 0
    assert "``" not in result.stdout and ":func:" not in result.stdout
    for command in ("serve", "migrate", "access-codes", "settings", "--version"):
        assert command in result.stdout


def test_version_is_the_installed_one(tmp_path):
    result = run_cli("--version", cwd=tmp_path)

    assert result.returncode == 0
    assert result.stdout.strip() == f"applytry {importlib.metadata.version('applytry')}"


def test_access_codes_are_imported_from_standard_input(cli, database_url, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "applytry.cli", "access-codes", "import", "-"],
        input="# from a pipe\n95555001\n95555002\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "APPLYTRY_DATABASE_URL": database_url, "APPLYTRY_SECRET": SECRET},
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "imported 2 access codes; 0 were already there" in result.stdout
    assert cli("access-codes", "list").stdout.splitlines() == ["95555001\tfree", "95555002\tfree"]
    assert not (tmp_path / "-").exists()
