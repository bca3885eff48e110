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
# The first test waits for every case's comparison (findings_of), tens of CPU-seconds that a
# busy machine may stretch past the suite's default bound of 120 s.
pytestmark = pytest.mark.timeout(600)


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


def parameter(spec: dict, name: str, parameter_name: str) -> dict:
    [found] = [p for p in operation(spec, name)["parameters"] if p.get("name") == parameter_name]
    return found


def security_scheme(spec: dict) -> dict:
    return spec["components"]["securitySchemes"]["appKey"]


def remove_security_scheme(spec: dict) -> None:
    """appKey gone, and with it every operation's requirement of it."""
    spec["components"]["securitySchemes"].pop("appKey")
    for item in spec["paths"].values():
        for method in item.values():
            if {"appKey": []} in method.get("security", []):
                method["security"] = []


def replace_refs(node, ref: str, replacement: dict) -> None:
    """Puts a copy of ``replacement`` wherever ``node`` refers to ``ref``."""
    children = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in list(children):
        if isinstance(child, dict) and child.get("$ref") == ref:
            node[key] = copy.deepcopy(replacement)
        elif isinstance(child, (dict, list)):
            replace_refs(child, ref, replacement)


def rename_schema(spec: dict, old: str, new: str) -> None:
    rename(spec["components"]["schemas"], old, new)
    replace_refs(spec, f"#/components/schemas/{old}", {"$ref": f"#/components/schemas/{new}"})


def inline_schema(spec: dict, name: str) -> None:
    replace_refs(spec, f"#/components/schemas/{name}", spec["components"]["schemas"].pop(name))


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
        "new base path of a path",
        "removed-server-url",
        lambda s: s["paths"]["/applyTry/applyTenant"].update(
            servers=[{"url": "/apiaccess/rest/ipccprovision/v2"}]
        ),
    ),
    (
        "new base path of an operation",
        "removed-server-url",
        lambda s: operation(s, "GET /healthz").update(servers=[{"url": "/v2"}]),
    ),
    (
        "new security requirement",
        "new-security-requirement",
        lambda s: operation(s, "GET /healthz").update(security=[{"appKey": []}]),
    ),
    (
        "renamed key header",
        "changed-security-scheme",
        lambda s: security_scheme(s).update(name="X-API-Key"),
    ),
    (
        "key moved to the query",
        "changed-security-scheme",
        lambda s: security_scheme(s).update({"in": "query"}),
    ),
    (
        "key became a bearer token",
        "changed-security-scheme",
        lambda s: s["components"]["securitySchemes"].update(
            appKey={"type": "http", "scheme": "bearer"}
        ),
    ),
    ("removed security scheme", "changed-security-scheme", remove_security_scheme),
    (
        "renamed schema",
        "renamed-schema",
        lambda s: rename_schema(s, "ApplyTenantResult", "TenantApplication"),
    ),
    ("inlined schema", "renamed-schema", lambda s: inline_schema(s, "Health")),
    (
        "request field made optional",
        "request-field-made-optional",
        lambda s: schema(s, "ApplyTenantRequest")["required"].remove("email"),
    ),
    (
        "request body made optional",
        "request-field-made-optional",
        lambda s: operation(s, "POST /applyTry/applyTenant")["requestBody"].update(required=False),
    ),
    (
        "parameter made optional",
        "request-field-made-optional",
        lambda s: parameter(s, "POST /sms/receipts/huawei", "token").update(required=False),
    ),
    (
        "new format of a response integer",
        "changed-type",
        lambda s: field(s, "Challenge", "expires").update(format="int64"),
    ),
    (
        "new format of a request string",
        "changed-type",
        lambda s: field(s, "HuaweiReceipt", "updateTime").update(format="date-time"),
    ),
    (
        "new format of a parameter",
        "changed-type",
        lambda s: parameter(s, "POST /sms/receipts/huawei", "message")["schema"].update(
            format="uuid"
        ),
    ),
    (
        "response header type changed",
        "changed-type",
        lambda s: s["components"]["responses"]["TooManyRequests"]["headers"]["Retry-After"][
            "schema"
        ].update(type="string"),
    ),
    (
        "response field made nullable",
        "response-field-made-nullable",
        lambda s: field(s, "ApplyTenantResult", "returnMsg").update(nullable=True),
    ),
    (
        "parameter explode changed",
        "changed-parameter-serialization",
        lambda s: parameter(s, "POST /sms/receipts/huawei", "token").update(explode=False),
    ),
    (
        "changed default",
        "changed-default",
        lambda s: field(s, "Problem", "type").update(default="https://example.com/problems"),
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
    (
        "new optional response header",
        lambda s: operation(s, "POST /applyTry/applyTenant")["responses"]["200"].update(
            headers={"X-Request-Id": {"schema": {"type": "string"}}}
        ),
    ),
    (
        "new schema",
        lambda s: s["components"]["schemas"].update(Tenant={"type": "object"}),
    ),
    ("reworded security scheme", lambda s: security_scheme(s).update(description="Reworded.")),
    (
        "default serialization spelled out",
        lambda s: s["components"]["parameters"]["AcceptLanguage"].update(
            style="simple", explode=False
        ),
    ),
    (
        "new default of a parameter",
        lambda s: s["components"]["parameters"]["AcceptLanguage"]["schema"].update(default="en"),
    ),
    (
        "the base path spelled out on an operation",
        lambda s: operation(s, "GET /healthz").update(
            servers=[{"url": "/apiaccess/rest/ipccprovision/v1"}, {"url": "/v2"}]
        ),
    ),
]


# openapi-diff takes one to two CPU-seconds a comparison, so it judges only the cases where it
# is the judge that must speak: the breaks of its own classes, and the additive changes (where
# a false alarm of its would fail the gate). Our rules judge every case. The gate is both, so
# a break either judge names fails it.
TOOL_JUDGES = set(breaking.TOOL_CLASSES.values())


@pytest.fixture(scope="module")
def findings_of(node_tools, tmp_path_factory, reports):
    """Every case's findings by name, compared at once, then written to one report."""
    baseline = breaking.load(breaking.BASELINE)
    folder = tmp_path_factory.mktemp("edited")
    edits = {case: edit for case, _, edit in BREAKS} | dict(ADDITIONS)
    with_tool = {case for case, kind, _ in BREAKS if kind in TOOL_JUDGES} | dict(ADDITIONS).keys()

    def compare(case: str) -> tuple[str, list[breaking.Finding]]:
        spec = copy.deepcopy(DOCUMENT)
        edits[case](spec)
        if case not in with_tool:
            return case, breaking.rule_findings(baseline, spec)
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


# The spec's request fields have no default today; defaults are checked on one that has.
@pytest.mark.parametrize(
    ("before", "after", "changed"),
    [
        ({"default": 10}, {"default": 20}, True),
        ({"default": 10}, {}, True),
        ({}, {"default": 10}, False),
        ({"default": 10}, {"default": 10, "description": "Items."}, False),
    ],
)
def test_a_request_default_breaks_only_when_the_baseline_had_another(before, after, changed):
    findings = breaking.rule_findings(numeric_request(**before), numeric_request(**after))

    assert [finding.kind for finding in findings] == (["changed-default"] if changed else [])
