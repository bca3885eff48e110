"""The published contract itself: a valid OpenAPI 3.0 document, clean under Redocly's
strictest rules, whose examples obey it."""

from __future__ import annotations

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

from applytry.app import SPEC
from conftest import HERE, run

DOCUMENT = yaml.safe_load(SPEC.read_text())
BASE = "/apiaccess/rest/ipccprovision/v1"


def node_ref(ref: str) -> list[str]:
    return ref.removeprefix("#/").split("/")


def deref(node):
    """The node with every $ref replaced by what it points to."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = DOCUMENT
            for part in node_ref(node["$ref"]):
                target = target[part]
            return deref(target)
        return {key: deref(value) for key, value in node.items()}
    if isinstance(node, list):
        return [deref(item) for item in node]
    return node


def operations():
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", deref(operation)


def test_the_spec_is_valid_openapi_3_0():
    validate(DOCUMENT)
    assert DOCUMENT["openapi"] == "3.0.3"
    assert DOCUMENT["servers"][0]["url"] == BASE


def test_the_published_paths_and_operation_ids():
    post = DOCUMENT["paths"]["/applyTry/generateverifycode"]["post"]
    assert post["operationId"] == "generateVerifyCode"


# What each kind of operation can answer besides 200/204: the website's operations take
# caller authentication and the per-client limit; the gateways' receipts take neither.
PROBLEMS = {
    "applyTry": ("400", "401", "403", "404", "413", "415", "429", "500"),
    "receipts": ("400", "403", "404", "413", "415", "500"),
    "operations": ("500",),
}


@pytest.mark.parametrize(("name", "operation"), list(operations()))
def test_every_operation_is_described_with_every_error_as_a_problem(name, operation):
    assert operation["summary"] and operation["description"]
    [tag] = operation["tags"]
    for status in PROBLEMS[tag]:
        content = operation["responses"][status]["content"]
        assert list(content) == ["application/problem+json"], (name, status)


@pytest.mark.parametrize(("name", "operation"), list(operations()))
def test_every_body_has_examples_that_obey_its_schema(name, operation):
    bodies = [operation["requestBody"]["content"]] if "requestBody" in operation else []
    bodies += [response.get("content", {}) for response in operation["responses"].values()]
    for content in bodies:
        for media_type, media in content.items():
            examples = [e["value"] for e in media.get("examples", {}).values()]
            examples += [media["example"]] if "example" in media else []
            assert examples, (name, media_type)
            for example in examples:
                jsonschema.validate(example, media["schema"])


def test_every_business_outcome_has_an_example():
    for path, field, codes in (
        ("/applyTry/generateverifycode", "retCode", ("200", "201", "202", "204", "205")),
        (
            "/applyTry/applyTenant",
            "returnCode",
            ("000", "001", "002", "003", "004", "005", "006", "205"),
        ),
    ):
        media = DOCUMENT["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]
        shown = {example["value"][field] for example in media["examples"].values()}
        assert shown == set(codes), path


def test_the_receipt_paths_are_where_the_gateways_are_sent():
    from applytry.sms.http import API_BASE, RECEIPT_PATHS

    assert DOCUMENT["servers"][0]["url"] == API_BASE
    for path in RECEIPT_PATHS.values():
        assert "post" in DOCUMENT["paths"][path]


def test_the_published_example_reply_is_what_the_service_says():
    from applytry.messages import CHALLENGE_REQUIRED, RET_MESSAGES

    examples = DOCUMENT["paths"]["/applyTry/generateverifycode"]["post"]["responses"]["200"]
    for example in examples["content"]["application/json"]["examples"].values():
        reply = example["value"]
        challenged = reply.get("challengeRequired")
        said = CHALLENGE_REQUIRED if challenged else RET_MESSAGES[reply["retCode"]]
        assert reply["retMsg"] == said[0]


def test_the_spec_passes_redocly_lint(node_tools):
    output = run(
        [str(node_tools / "redocly"), "lint", "--config", "redocly.yaml", "../openapi.yaml"],
        cwd=HERE,
        timeout_s=120,
    )
    assert "valid" in output
