"""The breaking-change gate (breaking.py): today's spec keeps the published v1 contract
(baseline/openapi.yaml); each class of break the gate promises to catch fails it, named; and
additive changes pass it."""

from __future__ import annotations

import copy
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import breaking
import pytest
import yaml

from conftest import HERE, ROOT, SPEC

DOCUMENT = yaml.safe_load(SPEC.read_text(encoding="utf-8"))


def gate(node_tools, *args: str) -> subprocess.CompletedProcess:
    """``python contract-tests/breaking.py ARGS``, as CI and a reviewer run it."""
    tool = str(node_tools / "openapi-diff")
    return subprocess.run(
        [sys.executable, str(HERE / "breaking.py"), *args, "--openapi-diff", tool],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_spec_keeps_the_published_contract(node_tools, reports):
    report = reports / "breaking-changes.txt"
    result = gate(node_tools, str(breaking.BASELINE), str(SPEC), "--report", str(report))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no breaking change" in report.read_text()


# --- edits to a copy of the spec ---------------------------------------------------------


def operation(spec: dict, name: str) -> dict:
    method, path = name.split(" ")
    return spec["paths"][path][method.lower()]


def schema(spec: dict, name: str) -> dict:
    return spec["components"]["schemas"][name]


def field(spec: dict, name: str, field_name: str) -> dict:
    return schema(spec, name)["properties"][field_name]


def rename(mapping: dict, old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


def add_parameter(spec: dict, name: str, where: str, required: bool) -> None:
    parameter = {"name": "X-Request-Id", "in": where, "required": required}
    parameter["schema"] = {"type": "string", "maxLength": 64}
    operation(spec, name).setdefault("parameters", []).append(parameter)


def rename_request_field(spec: dict) -> None:
    request = schema(spec, "ApplyTenantRequest")
    rename(request["properties"], "email", "mail")
    request["required"] = [("mail" if name == "email" else name) for name in request["required"]]


def add_request_field(spec: dict, required: bool) -> None:
    request = schema(spec, "ChallengeRequest")
    request["properties"]["locale"] = {"type": "string", "maxLength": 16}
    if required:
        request["required"].append("locale")


def add_operation(spec: dict, path: str, method: str, operation_id: str) -> None:
    responses = {"200": {"description": "Alive.", "content": {"text/plain": {}}}}
    new = {"operationId": operation_id, "summary": "New", "responses": responses}
    spec["paths"].setdefault(path, {})[method] = new


def reword(spec: dict) -> None:
    spec["info"]["description"] = "Reworded."
    operation(spec, "POST /applyTry/applyTenant")["summary"] = "Open a trial tenant"
    field(spec, "ApplyTenantRequest", "companyName").update(
        description="Reworded.", example="Example Ltd"
    )
    content = operation(spec, "GET /healthz")["responses"]["200"]["content"]
    content["application/json"]["example"] = {"status": "ok"}


# (case, the class the gate must name, the edit that breaks v1 clients)
BREAKS = [
    ("removed path", "removed-path", lambda s: s["paths"].pop("/readyz")),
    ("renamed path", "removed-path", lambda s: rename(s["paths"], "/metrics", "/stats")),
    ("removed method", "removed-operation", lambda s: rename(s["paths"]["/healthz"], "get", "put")),
    (
        "renamed operationId",
        "renamed-operation-id",
        lambda s: operation(s, "GET /healthz").update(operationId="getLiveness"),
    ),
    (
        "new optional header",
        "new-parameter",
        lambda s: add_parameter(s, "GET /healthz", "header", required=False),
    ),
    (
        "new required query parameter",
        "new-parameter",
        lambda s: add_parameter(s, "POST /applyTry/challenge", "query", required=True),
    ),
    (
        "removed parameter",
        "removed-parameter",
        lambda s: operation(s, "POST /sms/receipts/huawei")["parameters"].pop(),
    ),
    (
        "removed request field",
        "removed-request-field",
        lambda s: schema(s, "GenerateVerifyCodeRequest")["properties"].pop("challenge"),
    ),
    ("renamed request field", "removed-request-field", rename_request_field),
    (
        "removed form field",
        "removed-request-field",
        lambda s: schema(s, "HuaweiReceipt")["properties"].pop("extend"),
    ),
    (
        "new required request field",
        "new-required-request-field",
        lambda s: add_request_field(s, required=True),
    ),
    (
        "request field made required",
        "narrowed-request",
        lambda s: schema(s, "GenerateVerifyCodeRequest")["required"].append("challenge"),
    ),
    (
        "narrower maxLength",
        "narrowed-request",
        lambda s: field(s, "ApplyTenantRequest", "companyName").update(maxLength=64),
    ),
    (
        "larger minLength",
        "narrowed-request",
        lambda s: field(s, "ApplyTenantRequest", "email").update(minLength=6),
    ),
    (
        "new pattern",
        "narrowed-request",
        lambda s: field(s, "ApplyTenantRequest", "phoneVerifyCode").update(pattern="^[0-9]{6}$"),
    ),
    (
        "narrower parameter enum",
        "narrowed-request",
        lambda s: s["components"]["parameters"]["AcceptLanguage"]["schema"].update(
            enum=["en", "zh"]
        ),
    ),
    (
        "parameter made required",
        "narrowed-request",
        lambda s: s["components"]["parameters"]["AcceptLanguage"].update(required=True),
    ),
    (
        "request type changed",
        "changed-type",
        lambda s: field(s, "ApplyTenantRequest", "phoneVerifyCode").update(type="integer"),
    ),
    (
        "response type changed",
        "changed-type",
        lambda s: field(s, "Challenge", "expires").update(type="string"),
    ),
    (
        "removed response field",
        "removed-response-field",
        lambda s: schema(s, "GenerateVerifyCodeResult")["properties"].pop("challengeRequired"),
    ),
    (
        "removed problem field",
        "removed-response-field",
        lambda s: schema(s, "Problem")["properties"].pop("detail"),
    ),
    (
        "response field made optional",
        "response-field-made-optional",
        lambda s: schema(s, "ApplyTenantResult")["required"].remove("returnMsg"),
    ),
    (
        "new response enum value",
        "new-response-enum-value",
        lambda s: field(s, "GenerateVerifyCodeResult", "retCode")["enum"].append("206"),
    ),
    (
        "removed request media type",
        "removed-media-type",
        lambda s: rename(
            operation(s, "POST /applyTry/challenge")["requestBody"]["content"],
            "application/json",
            "application/xml",
        ),
    ),
    (
        "removed response status",
        "removed-response-status",
        lambda s: operation(s, "GET /readyz")["responses"].pop("503"),
    ),
    (
        "removed response header",
        "removed-response-header",
        lambda s: operation(s, "POST /applyTry/generateverifycode")["responses"]["200"].pop(
            "headers"
        ),
    ),
    (
        "new base path",
        "removed-server-url",
        lambda s: s["servers"][0].update(url="/apiaccess/rest/ipccprovision/v2"),
    ),
    (
        "new security requirement",
        "new-security-requirement",
        lambda s: operation(s, "GET /healthz").update(security=[{"appKey": []}]),
    ),
]

ADDITIONS = [
    ("new optional request field", lambda s: add_request_field(s, required=False)),
    (
        "new response field",
        lambda s: schema(s, "Health")["properties"].update(version={"type": "string"}),
    ),
    ("new path", lambda s: add_operation(s, "/version", "get", "getVersion")),
    ("new method on a path", lambda s: add_operation(s, "/healthz", "head", "headHealth")),
    (
        "wider maxLength",
        lambda s: field(s, "ApplyTenantRequest", "companyName").update(maxLength=256),
    ),
    ("descriptions and examples", reword),
]


@pytest.fixture(scope="module")
def findings_of(node_tools, tmp_path_factory, reports):
    """Every case's findings by name: the edited copies are compared at once (each comparison
    waits on openapi-diff for about a second and a half), then written to one report."""
    baseline = breaking.load(breaking.BASELINE)
    folder = tmp_path_factory.mktemp("edited")
    edits = {case: edit for case, _, edit in BREAKS} | dict(ADDITIONS)

    def compare(case: str) -> tuple[str, list[breaking.Finding]]:
        spec = copy.deepcopy(DOCUMENT)
        edits[case](spec)
        edited = folder / (case.replace(" ", "-") + ".yaml")
        text = yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)
        edited.write_text(text, encoding="utf-8")
        return case, breaking.compare(baseline, breaking.load(edited), node_tools / "openapi-diff")

    with ThreadPoolExecutor(max_workers=4) as pool:
        findings = dict(pool.map(compare, edits))
    lines = []
    for case, found in findings.items():
        lines += [f"{case}:", *(f"  {finding}" for finding in found or ["(none)"]), ""]
    (reports / "breaking-changes-cases.txt").write_text("\n".join(lines), encoding="utf-8")
    return findings


@pytest.mark.parametrize(("case", "kind"), [(case, kind) for case, kind, _ in BREAKS])
def test_a_break_fails_the_gate_naming_its_class(case, kind, findings_of):
    findings = findings_of[case]

    assert kind in {finding.kind for finding in findings}, "\n".join(map(str, findings))


@pytest.mark.parametrize("case", [case for case, _ in ADDITIONS])
def test_an_additive_change_passes_the_gate(case, findings_of):
    findings = findings_of[case]

    assert findings == [], "\n".join(map(str, findings))


def test_the_command_exits_1_listing_each_break(node_tools, tmp_path):
    spec = copy.deepcopy(DOCUMENT)
    operation(spec, "GET /healthz")["operationId"] = "getLiveness"
    schema(spec, "GenerateVerifyCodeResult")["properties"].pop("challengeRequired")
    edited = tmp_path / "openapi.yaml"
    edited.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")

    result = gate(node_tools, str(breaking.BASELINE), str(edited))

    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert (
        "renamed-operation-id: GET /healthz: operationId getHealth -> getLiveness [rule]" in lines
    )
    removed = "#/components/schemas/GenerateVerifyCodeResult, field challengeRequired"
    assert f"removed-response-field: {removed}: removed (or renamed) [rule]" in lines
    assert any(line.startswith("widened-response-body: ") for line in lines)


def test_a_spec_the_tool_cannot_read_is_an_error_not_a_verdict(node_tools, tmp_path):
    unreadable = tmp_path / "openapi.yaml"
    unreadable.write_text("openapi: 3.0.3\n", encoding="utf-8")

    result = gate(node_tools, str(breaking.BASELINE), str(unreadable))

    assert result.returncode == 2, result.stdout + result.stderr
    assert "openapi-diff exited 1" in result.stderr


def numeric_request(**bounds) -> dict:
    """A one-operation spec whose request has a number field with ``bounds``."""
    number = {"type": "integer", **bounds}
    body = {"type": "object", "properties": {"count": number}}
    post = {
        "operationId": "count",
        "requestBody": {"content": {"application/json": {"schema": body}}},
        "responses": {"204": {"description": "Counted."}},
    }
    return {"openapi": "3.0.3", "paths": {"/count": {"post": post}}}


# The spec has no number in a request today; the bounds are checked on a spec that has one.
@pytest.mark.parametrize(
    ("before", "after", "narrowed"),
    [
        ({"maximum": 100}, {"maximum": 99}, True),
        ({"minimum": 1}, {"minimum": 2}, True),
        ({}, {"maximum": 100}, True),
        ({"maximum": 100}, {"maximum": 100, "exclusiveMaximum": True}, True),
        ({"maximum": 100}, {"maximum": 1000}, False),
        ({"minimum": 1}, {}, False),
    ],
)
def test_numeric_bounds_narrow_a_request_only_when_they_refuse_more(before, after, narrowed):
    findings = breaking.rule_findings(numeric_request(**before), numeric_request(**after))

    assert [finding.kind for finding in findings] == (["narrowed-request"] if narrowed else [])
