"""Bad input of every shape: a documented 4xx problem, never a 500, and nothing changes."""

from __future__ import annotations

import json

import pytest

from applytry import contract
from applytry.db.models import MODELS
from conftest import GENERATE

PATHS = contract.document()["paths"]  # parsed once a process, by libyaml
DOCUMENTED = {
    path: {int(status) for status in item["post"]["responses"]}
    for path, item in PATHS.items()
    if "post" in item
}

JSON = {"Content-Type": "application/json"}

BAD_BODIES = {
    "missing phone": (json.dumps({}).encode(), JSON),
    "null phone": (json.dumps({"phone": None}).encode(), JSON),
    "number": (json.dumps({"phone": 13800138000}).encode(), JSON),
    "array": (json.dumps({"phone": ["13800138000"]}).encode(), JSON),
    "object": (json.dumps({"phone": {"n": "13800138000"}}).encode(), JSON),
    "body is an array": (json.dumps(["13800138000"]).encode(), JSON),
    "body is a string": (json.dumps("13800138000").encode(), JSON),
    "empty phone": (json.dumps({"phone": ""}).encode(), JSON),
    "blank phone": (json.dumps({"phone": "   "}).encode(), JSON),
    "letters": (json.dumps({"phone": "call me maybe"}).encode(), JSON),
    "digits and letters": (json.dumps({"phone": "1380013800O"}).encode(), JSON),
    "too short": (json.dumps({"phone": "138"}).encode(), JSON),
    "too long": (json.dumps({"phone": "1" * 33}).encode(), JSON),
    "long but valid length, not a number": (json.dumps({"phone": "1" * 32}).encode(), JSON),
    "control characters": (json.dumps({"phone": "138\x000138\n8000"}).encode(), JSON),
    "bidi override": (json.dumps({"phone": "\u202e13800138000"}).encode(), JSON),
    "a landline": (json.dumps({"phone": "+86 10 6552 9988"}).encode(), JSON),
    "a country not accepted": (json.dumps({"phone": "+1 415 555 2671"}).encode(), JSON),
    "invalid UTF-8": (b'{"phone": "\xff\xfe138"}', JSON),
    "not JSON": (b"phone=13800138000", JSON),
    "truncated JSON": (b'{"phone": "1380013', JSON),
    "empty body": (b"", JSON),
    "wrong content type": (
        b"phone=13800138000",
        {"Content-Type": "application/x-www-form-urlencoded"},
    ),
    "text/plain JSON": (
        json.dumps({"phone": "13800138000"}).encode(),
        {"Content-Type": "text/plain"},
    ),
    "a megabyte of body": (
        json.dumps({"phone": "13800138000", "pad": "x" * (1 << 20)}).encode(),
        JSON,
    ),
    "deeply nested": (b'{"phone": ' + b"[" * 5000 + b"]" * 5000 + b"}", JSON),
}


# Everything else in BAD_BODIES is a body the service read and refused: 400.
STATUS = {"wrong content type": 415, "text/plain JSON": 415, "a megabyte of body": 413}


def table_rows() -> dict[str, object]:
    """Every table's content, so that any change shows."""
    return {model.__name__: sorted(map(str, model.select().tuples())) for model in MODELS}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bad_input_is_a_documented_problem_and_changes_nothing(client, outbox, name):
    body, headers = BAD_BODIES[name]
    before = table_rows()

    response = client.post(GENERATE, content=body, headers=headers)

    assert response.status_code == STATUS.get(name, 400), response.text
    assert_documented_problem(response, "/applyTry/generateverifycode")
    assert outbox.messages() == []
    assert table_rows() == before


def assert_documented_problem(response, path: str) -> None:
    assert 400 <= response.status_code < 500
    assert response.status_code in DOCUMENTED[path]
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == response.status_code
    assert problem["title"]


GOOD_APPLICATION = {
    "companyName": "一键试用公司",
    "phone": "13800138000",
    "phoneVerifyCode": "123456",
    "email": "trial@example.com",
}
BAD_APPLICATIONS = {
    **{
        f"missing {field}": {k: v for k, v in GOOD_APPLICATION.items() if k != field}
        for field in GOOD_APPLICATION
    },
    **{f"null {field}": {**GOOD_APPLICATION, field: None} for field in GOOD_APPLICATION},
    **{f"number {field}": {**GOOD_APPLICATION, field: 138} for field in GOOD_APPLICATION},
    **{f"empty {field}": {**GOOD_APPLICATION, field: ""} for field in GOOD_APPLICATION},
    "blank company": {**GOOD_APPLICATION, "companyName": "   "},
    "company too long": {**GOOD_APPLICATION, "companyName": "x" * 129},
    "not a phone": {**GOOD_APPLICATION, "phone": "call me"},
    "a landline": {**GOOD_APPLICATION, "phone": "+86 10 6552 9988"},
    "code too long": {**GOOD_APPLICATION, "phoneVerifyCode": "1" * 17},
    "email without @": {**GOOD_APPLICATION, "email": "trial.example.com"},
    "email without domain": {**GOOD_APPLICATION, "email": "trial@"},
    "email with spaces": {**GOOD_APPLICATION, "email": "tri al@example.com"},
    "email with two @": {**GOOD_APPLICATION, "email": "a@b@example.com"},
    "email too long": {**GOOD_APPLICATION, "email": "a" * 250 + "@example.com"},
    "body is an array": [GOOD_APPLICATION],
}


@pytest.mark.parametrize("name", list(BAD_APPLICATIONS))
def test_a_bad_application_is_a_documented_problem_and_changes_nothing(client, outbox, name):
    from conftest import APPLY, load_access_codes

    load_access_codes("95555001")
    assert client.post(GENERATE, json={"phone": "13800138000"}).json()["retCode"] == "200"
    before = table_rows()

    response = client.post(APPLY, json=BAD_APPLICATIONS[name])

    assert_documented_problem(response, "/applyTry/applyTenant")
    assert table_rows() == before


def test_a_chunked_megabyte_is_refused_while_it_streams(client, outbox):
    def chunks():
        yield b'{"phone": "13800138000", "pad": "'
        for _ in range(64):
            yield b"x" * 16384
        yield b'"}'

    response = client.post(GENERATE, content=chunks(), headers=JSON)

    assert response.status_code == 413
    assert outbox.messages() == []


def test_unknown_paths_and_methods_are_problems(client):
    missing = client.post("/apiaccess/rest/ipccprovision/v1/applyTry/nothing", json={})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"

    wrong_method = client.get(GENERATE)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert wrong_method.headers["content-type"] == "application/problem+json"


def test_extra_fields_are_ignored(client, outbox):
    """Additive fields from a newer website must not break an older service."""
    response = client.post(GENERATE, json={"phone": "13800138000", "channel": "web"})
    assert response.json()["retCode"] == "200"


def test_a_chunked_body_is_read_like_any_other(client, outbox):
    def chunks():
        yield b'{"phone": '
        yield b'"13800138000"}'

    response = client.post(GENERATE, content=chunks(), headers=JSON)

    assert response.json()["retCode"] == "200"
    assert len(outbox.messages()) == 1
