"""Bad input of every shape: a documented 4xx problem, never a 500, and nothing changes."""

from __future__ import annotations

import json

import pytest
import yaml

from applytry.app import SPEC
from applytry.db.models import MODELS
from conftest import GENERATE

DOCUMENTED = {
    int(status)
    for status in yaml.safe_load(SPEC.read_text())["paths"]["/applyTry/generateverifycode"]["post"][
        "responses"
    ]
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


def table_rows() -> dict[str, int]:
    return {model.__name__: model.select().count() for model in MODELS}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bad_input_is_a_documented_problem_and_changes_nothing(client, outbox, name):
    body, headers = BAD_BODIES[name]
    before = table_rows()

    response = client.post(GENERATE, content=body, headers=headers)

    assert 400 <= response.status_code < 500
    assert response.status_code in DOCUMENTED
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == response.status_code
    assert problem["title"]
    assert outbox.messages() == []
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
