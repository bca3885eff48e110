"""`applytry keys`: the key an operator is shown once, revoking one key and no other, and the
listing; the commands run in this process, through the real argument parser, against the app
on this test's database."""

from __future__ import annotations

import re

import pytest

from applytry.cli import parser
from applytry.db.models import ApiKey
from conftest import GENERATE

BODY = {"phone": "13800138000"}
KEY = re.compile(r"ak_([0-9a-f]{8})_[A-Za-z0-9_-]{32}")
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ"


@pytest.fixture
def keys(settings_for, db, capsys):
    """``applytry keys ...``: (exit status, stdout, stderr)."""

    def command(*argv: str) -> tuple[int, str, str]:
        args = parser().parse_args(["keys", *argv])
        status = args.handler(settings_for(settings_refresh_s=0), args)
        out, err = capsys.readouterr()
        return status, out, err

    return command


def test_a_new_key_is_shown_once_with_the_id_that_names_it(keys):
    status, out, err = keys("add", "website", "--by", "alice")

    assert status == 0
    match = KEY.fullmatch(out.strip())
    assert match, out
    stored = ApiKey.get()
    assert (stored.id, stored.name, stored.created_by) == (match.group(1), "website", "alice")
    assert out.strip() not in str(list(ApiKey.select().tuples()))
    assert err == "the key is shown only now; callers send it as X-APP-Key\n"


def test_revoking_a_key_stops_that_key_and_no_other(keys, client_for):
    client = client_for(settings_refresh_s=0)
    website = keys("add", "website", "--by", "alice")[1].strip()
    partner = keys("add", "partner", "--by", "alice")[1].strip()
    website_id = KEY.fullmatch(website).group(1)

    assert keys("revoke", website_id) == (
        0,
        f"revoked {website_id}; every instance refuses it within 0 s\n",
        "",
    )

    assert client.post(GENERATE, json=BODY, headers={"X-APP-Key": website}).status_code == 403
    assert client.post(GENERATE, json=BODY, headers={"X-APP-Key": partner}).status_code == 200
    assert keys("revoke", website_id) == (1, "", f"applytry: no live key {website_id}\n")
    assert keys("revoke", "00000000") == (1, "", "applytry: no live key 00000000\n")
    assert client.post(GENERATE, json=BODY, headers={"X-APP-Key": partner}).status_code == 200


def test_keys_are_listed_oldest_first_live_or_revoked(keys):
    website = keys("add", "website", "--by", "alice")[1].strip()
    # A key made long before, restored from a backup of another database.
    ApiKey.create(
        id="0123abcd", digest="0" * 64, name="legacy", created_at=1_600_000_000, created_by="ops"
    )
    website_id = KEY.fullmatch(website).group(1)
    keys("revoke", "0123abcd")

    status, out, _ = keys("list")

    assert status == 0
    lines = out.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(
        rf"0123abcd\tlegacy\tops\t2020-09-13 12:26:40Z\trevoked {WHEN}", lines[0]
    ), lines[0]
    assert re.fullmatch(rf"{website_id}\twebsite\talice\t{WHEN}\tlive", lines[1]), lines[1]
