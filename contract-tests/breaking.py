"""The breaking-change gate: what a new spec changes that breaks a client generated from the
published baseline (baseline/openapi.yaml).

Two judges; a break either finds fails the gate:

- openapi-diff (Atlassian) compares the sets of documents each request and response body
  accepts. It sees paths, methods, status codes and ``application/json`` bodies, and names
  only the body that changed.
- Rules of our own, one small function per class of break, named for it, for what the tool
  does not see and to name the field where the tool names the body:

  - renamed-operation-id: method names of generated clients.
  - new-parameter, removed-parameter: method signatures.
  - changed-parameter-serialization: a parameter's style, explode or media type.
  - removed-request-field, new-required-request-field.
  - request-field-made-optional: a field, parameter or body no longer required (generated
    constructors and the order of arguments change).
  - narrowed-request: a bound, pattern, format or enum refuses what the baseline allowed.
  - changed-type: the type or format of a field, parameter or response header.
  - changed-default: a request's or response's field or parameter lost its default or has
    another one.
  - renamed-schema: a named schema an operation uses no longer exists under its name.
  - removed-response-field, response-field-made-optional, response-field-made-nullable.
  - new-response-enum-value.
  - removed-media-type, removed-response-header.
  - removed-server-url: the document's, a path's or an operation's servers.
  - new-security-requirement, changed-security-scheme (removed, or another type, place or
    name of the credential).

``python contract-tests/breaking.py BASELINE NEW`` prints the findings, one per line as
``class: location: detail [judge]``, and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).parent
BASELINE = HERE / "baseline" / "openapi.yaml"
OPENAPI_DIFF = HERE / "node_modules" / ".bin" / "openapi-diff"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Finding:
    kind: str  # the class of break, e.g. "removed-request-field"
    location: str
    detail: str
    judge: str  # "openapi-diff" or "rule"

    def __str__(self) -> str:
        return f"{self.kind}: {self.location}: {self.detail} [{self.judge}]"


def load(path: Path) -> dict:
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not an OpenAPI document")
    return document


# Set by resolve(named=True) on what a $ref pointed to, so that a finding under a shared
# schema or parameter names it once, not once for each of the operations that use it.
REF = "x-breaking-ref"


def resolve(document: dict, *, named: bool = False) -> dict:
    """A copy of ``document`` with every local ``$ref`` replaced by what it points to (and,
    if ``named``, the ref kept in it as ``REF``)."""

    def follow(ref: str):
        target = document
        for part in ref.removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return target

    def walk(node, refs: tuple[str, ...]):
        if isinstance(node, dict):
            if "$ref" in node:
                ref = node["$ref"]
                if ref in refs:
                    raise ValueError(f"circular $ref {ref}: the gate compares trees")
                target = walk(follow(ref), (*refs, ref))
                return {**target, REF: ref} if named and isinstance(target, dict) else target
            # str(): YAML reads an unquoted status code (200:) as a number.
            return {str(key): walk(value, refs) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item, refs) for item in node]
        return node

    return walk(document, ())


# --- openapi-diff ------------------------------------------------------------------------

# The tool's codes of breaking differences, as classes of break.
TOOL_CLASSES = {
    "path.remove": "removed-path",
    "method.remove": "removed-operation",
    "response.status-code.remove": "removed-response-status",
    "request.body.scope.remove": "narrowed-request-body",
    "response.body.scope.add": "widened-response-body",
}


def close_objects(schema: dict) -> None:
    """Sets ``additionalProperties: false`` on every object of a request schema that leaves
    it open.

    openapi-diff reads an open object as accepting any other field with any value, so a new
    optional request field narrows what that field may hold and it calls that breaking. A
    generated client sends only the fields its spec names: for requests the closed reading is
    the one that matters, and with it a removed request field reads as the break it is.
    Responses stay open: clients skip fields they do not know."""
    if schema.get("type") == "object" or "properties" in schema:
        schema.setdefault("additionalProperties", False)
    for child in schema.get("properties", {}).values():
        close_objects(child)
    if isinstance(schema.get("items"), dict):
        close_objects(schema["items"])


def tool_input(document: dict, path: Path) -> Path:
    """``document`` as openapi-diff should compare it, written to ``path`` (JSON)."""
    resolved = resolve(document)
    for item in resolved.get("paths", {}).values():
        for method in METHODS:
            body = item.get(method, {}).get("requestBody", {})
            for media in body.get("content", {}).values():
                close_objects(media.get("schema", {}))
    path.write_text(json.dumps(resolved, ensure_ascii=False, default=str), encoding="utf-8")
    return path


def tool_findings(baseline: dict, spec: dict, tool: Path = OPENAPI_DIFF) -> list[Finding]:
    """openapi-diff's breaking differences. It prints a sentence, then (unless nothing
    changed) its JSON report; it exits 1 both on a breaking change and on a spec it cannot
    read, and then only the report tells them apart."""
    with tempfile.TemporaryDirectory(prefix="breaking-") as folder:
        old = tool_input(baseline, Path(folder) / "baseline.json")
        new = tool_input(spec, Path(folder) / "spec.json")
        result = subprocess.run(
            [str(tool), str(old), str(new)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    start = result.stdout.find("{")
    if result.returncode not in (0, 1) or (result.returncode == 1 and start < 0):
        output = (result.stderr or result.stdout).strip()
        raise RuntimeError(f"openapi-diff exited {result.returncode}:\n{output}")
    if start < 0:
        return []  # "No changes found between the two specifications"
    findings = []
    for difference in json.loads(result.stdout[start:]).get("breakingDifferences", []):
        # Where the baseline has it; for what only the new spec has, there.
        [entity, *_] = (
            difference["sourceSpecEntityDetails"] or difference["destinationSpecEntityDetails"]
        )
        code = difference["code"]
        findings.append(
            Finding(TOOL_CLASSES.get(code, code), entity["location"], code, "openapi-diff")
        )
    return findings


# --- what the rules compare --------------------------------------------------------------

Field = tuple[dict, bool]  # a field's schema, and whether it must be present


def operations(document: dict) -> dict[str, dict]:
    """'POST /path' -> the operation, its parameters keyed by (in, name) with the path
    item's own merged in (the operation's win, as OpenAPI says), and so its servers."""
    found = {}
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                operation = dict(item[method])
                declared = [*item.get("parameters", []), *operation.get("parameters", [])]
                operation["parameters"] = {parameter_key(p): p for p in declared}
                # Its own servers, else its path item's; None: the document's.
                operation["servers"] = operation.get("servers") or item.get("servers")
                found[f"{method.upper()} {path}"] = operation
    return found


def parameter_label(operation: str, parameter: dict) -> str:
    """A shared parameter by its ref, so that its change is named once."""
    return parameter.get(REF) or f"{operation}, {parameter['in']} parameter {parameter['name']}"


def parameter_key(parameter: dict) -> tuple[str, str]:
    name = parameter["name"]
    # Header names are case-insensitive (RFC 9110); the others are not.
    return parameter["in"], name.lower() if parameter["in"] == "header" else name


def common_operations(old: dict, new: dict) -> Iterator[tuple[str, dict, dict]]:
    """The operations both documents have (a removed one is openapi-diff's to report)."""
    after = operations(new)
    for name, operation in operations(old).items():
        if name in after:
            yield name, operation, after[name]


def fields(
    schema: dict,
    required: bool,
    label: str,
    path: str = "",
    parent: str | None = None,
    base: str = "",
    relative: str = "",
) -> dict[str, tuple[Field, str | None, str]]:
    """Every field of a schema by its path ("" for the whole, ".a.b", ".a[]"), with its
    parent's path and its label in findings: the rules compare field by field. A field
    inside a shared schema is labelled by the schema's ref and its path there."""
    found = {path: ((schema, required), parent, label)}
    if REF in schema:
        base, relative = schema[REF], ""
    elif not path:
        base = label
    children = [
        (f".{name}", child, name in schema.get("required", ()))
        for name, child in schema.get("properties", {}).items()
    ]
    if isinstance(schema.get("items"), dict):
        children.append(("[]", schema["items"], True))
    for step, child, child_required in children:
        inner = relative + step
        name = f"{base}, field {inner.removeprefix('.')}"
        found |= fields(child, child_required, name, path + step, path, base, inner)
    return found


def paired_fields(label: str, before: Field, after: Field):
    """(label, the field in the baseline, in the new spec) for each field of two schemas;
    None where one lacks it. A field under one that is itself new or gone is left out: the
    finding on its parent says it."""
    old, new = fields(*before, label), fields(*after, label)
    for path in {**old, **new}:
        _, parent, name = old.get(path) or new[path]
        if parent is not None and not (parent in old and parent in new):
            continue
        yield name, old[path][0] if path in old else None, new[path][0] if path in new else None


def request_fields(old: dict, new: dict) -> Iterator[tuple[str, Field | None, Field | None]]:
    """The fields of each request body (per media type) and parameter both documents have."""
    for name, before, after in common_operations(old, new):
        body, other = before.get("requestBody", {}), after.get("requestBody", {})
        for media, content in body.get("content", {}).items():
            if media in other.get("content", {}):
                yield from paired_fields(
                    f"{name}, request {media}",
                    (content.get("schema", {}), body.get("required", False)),
                    (other["content"][media].get("schema", {}), other.get("required", False)),
                )
        for key, parameter in before["parameters"].items():
            if key in after["parameters"]:
                changed = after["parameters"][key]
                yield from paired_fields(
                    parameter_label(name, parameter),
                    (parameter.get("schema", {}), parameter.get("required", False)),
                    (changed.get("schema", {}), changed.get("required", False)),
                )


def response_fields(old: dict, new: dict) -> Iterator[tuple[str, Field | None, Field | None]]:
    """The fields of each response body both documents have, by status and media type, and
    the schema of each response header both have."""
    for name, before, after in common_operations(old, new):
        for status, response in before.get("responses", {}).items():
            changed = after.get("responses", {}).get(status, {})
            other = changed.get("content", {})
            for media, content in response.get("content", {}).items():
                if media in other:
                    yield from paired_fields(
                        f"{name}, response {status} {media}",
                        (content.get("schema", {}), True),
                        (other[media].get("schema", {}), True),
                    )
            kept = {header.lower(): value for header, value in changed.get("headers", {}).items()}
            for header, value in response.get("headers", {}).items():
                if header.lower() in kept:
                    where = response.get(REF) or f"{name}, response {status}"
                    yield from paired_fields(
                        value.get(REF) or f"{where}, header {header}",
                        (value.get("schema", {}), value.get("required", False)),
                        (
                            kept[header.lower()].get("schema", {}),
                            kept[header.lower()].get("required", False),
                        ),
                    )


# --- the rules: each yields (location, detail); its name is its class --------------------


def renamed_operation_id(old: dict, new: dict):
    """Generated clients name their methods after operation ids."""
    for name, before, after in common_operations(old, new):
        if before.get("operationId") != after.get("operationId"):
            yield name, f"operationId {before.get('operationId')} -> {after.get('operationId')}"


def new_parameter(old: dict, new: dict):
    """Generators put every parameter in the method's signature (Java and Go by position), so
    even an optional one changes the signature that code written for the baseline calls."""
    for name, before, after in common_operations(old, new):
        for key, parameter in after["parameters"].items():
            if key not in before["parameters"]:
                required = "required" if parameter.get("required") else "optional"
                yield f"{name}, {parameter['in']} parameter {parameter['name']}", f"new, {required}"


def removed_parameter(old: dict, new: dict):
    """A baseline client still sends it, and the service no longer reads it."""
    for name, before, after in common_operations(old, new):
        for key, parameter in before["parameters"].items():
            if key not in after["parameters"]:
                yield f"{name}, {parameter['in']} parameter {parameter['name']}", "removed"


def changed_parameter_serialization(old: dict, new: dict):
    """How a generated client writes a parameter's value is fixed in its code."""
    for name, before, after in common_operations(old, new):
        for key, parameter in before["parameters"].items():
            if key in after["parameters"]:
                was, now = serialization(parameter), serialization(after["parameters"][key])
                if was != now:
                    yield parameter_label(name, parameter), f"{was} -> {now}"


def serialization(parameter: dict) -> str:
    """Its style and explode, the defaults spelled out (OpenAPI 3.0, Parameter Object), or
    the media type it is written in instead."""
    if "content" in parameter:
        return f"content {', '.join(parameter['content'])}"
    default = "form" if parameter["in"] in ("query", "cookie") else "simple"
    style = parameter.get("style", default)
    return f"style {style}, explode {str(parameter.get('explode', style == 'form')).lower()}"


def removed_request_field(old: dict, new: dict):
    for location, before, after in request_fields(old, new):
        if before and not after:
            yield location, "removed (or renamed)"


def new_required_request_field(old: dict, new: dict):
    for location, before, after in request_fields(old, new):
        if after and not before and after[1]:
            yield location, "new and required"


def request_field_made_optional(old: dict, new: dict):
    """Generators put a model's required fields in its constructor (Go's
    NewApplyTenantRequest(companyName, phone, phoneVerifyCode, email)) and an operation's
    required arguments before its optional ones: with its body optional, Java's
    applyTenant(applyTenantRequest, acceptLanguage) becomes applyTenant(acceptLanguage,
    applyTenantRequest). Code written for the baseline no longer compiles."""
    for location, before, after in request_fields(old, new):
        if before and after and before[1] and not after[1]:
            yield location, "no longer required"


def narrowed_request(old: dict, new: dict):
    """A request the baseline allowed that the new spec refuses."""
    for location, before, after in request_fields(old, new):
        if before and after:
            reasons = narrowings(before[0], after[0])
            if after[1] and not before[1]:
                reasons.append("now required")
            if reasons:
                yield location, "; ".join(reasons)


def changed_type(old: dict, new: dict):
    """Generated models type every field by its type and format (int64 is Java's long,
    date-time Python's datetime); any change breaks code, both ways."""
    for location, before, after in [*request_fields(old, new), *response_fields(old, new)]:
        if before and after and declared_type(before[0]) != declared_type(after[0]):
            yield location, f"type {declared_type(before[0])} -> {declared_type(after[0])}"


def declared_type(schema: dict) -> str:
    kind = schema.get("type")
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def changed_default(old: dict, new: dict):
    """A client that leaves a field or parameter out relies on the baseline's default, and
    a generated model fills it in where a response leaves the field out: another default, or
    none, changes what both mean. A default where there was none spells out what absence
    meant, and passes."""
    for location, before, after in [*request_fields(old, new), *response_fields(old, new)]:
        if before and after and "default" in before[0]:
            was, now = before[0]["default"], after[0].get("default", "none")
            if "default" not in after[0] or now != was:
                yield location, f"default {was} -> {now}"


SCHEMAS = "#/components/schemas/"


def renamed_schema(old: dict, new: dict):
    """Generated clients name a class after each named schema (Java's, Python's and Go's
    ApplyTenantRequest), and code written for the baseline names the classes its calls take
    and return. Schemas no operation uses are left out."""
    kept = new.get("components", {}).get("schemas", {})
    used = dict.fromkeys(ref for item in operations(old).values() for ref in schema_refs(item))
    for ref in used:
        if ref.removeprefix(SCHEMAS).replace("~1", "/").replace("~0", "~") not in kept:
            yield ref, "no schema of this name any more (renamed, or inlined)"


def schema_refs(node) -> Iterator[str]:
    """The named schemas a resolved node uses, at any depth."""
    if isinstance(node, dict):
        if str(node.get(REF, "")).startswith(SCHEMAS):
            yield node[REF]
        for value in node.values():
            yield from schema_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from schema_refs(item)


def removed_response_field(old: dict, new: dict):
    for location, before, after in response_fields(old, new):
        if before and not after:
            yield location, "removed (or renamed)"


def response_field_made_optional(old: dict, new: dict):
    """Generated models declare required fields non-null."""
    for location, before, after in response_fields(old, new):
        if before and after and before[1] and not after[1]:
            yield location, "no longer required"


def response_field_made_nullable(old: dict, new: dict):
    """Generated models declare the baseline's fields non-null: a null fails to parse."""
    for location, before, after in response_fields(old, new):
        if before and after and after[0].get("nullable") and not before[0].get("nullable"):
            yield location, "now nullable"


def new_response_enum_value(old: dict, new: dict):
    """Java's and Python's generated enums raise on a value they were not generated with."""
    for location, before, after in response_fields(old, new):
        if before and after and "enum" in before[0]:
            if "enum" not in after[0]:
                yield location, "enum dropped: any value may come"
                continue
            added = [value for value in after[0]["enum"] if value not in before[0]["enum"]]
            if added:
                yield location, f"new values {added}"


def removed_media_type(old: dict, new: dict):
    """openapi-diff reads only application/json, and not even its removal."""
    for name, before, after in common_operations(old, new):
        content = after.get("requestBody", {}).get("content", {})
        for media in before.get("requestBody", {}).get("content", {}):
            if media not in content:
                yield f"{name}, request", f"{media} no longer accepted"
        for status, response in before.get("responses", {}).items():
            if status in after.get("responses", {}):
                content = after["responses"][status].get("content", {})
                for media in response.get("content", {}):
                    if media not in content:
                        yield f"{name}, response {status}", f"{media} no longer sent"


def removed_response_header(old: dict, new: dict):
    """openapi-diff calls this non-breaking; the sign-up page counts down from Retry-After."""
    for name, before, after in common_operations(old, new):
        for status, response in before.get("responses", {}).items():
            if status in after.get("responses", {}):
                kept = {header.lower() for header in after["responses"][status].get("headers", {})}
                for header in response.get("headers", {}):
                    if header.lower() not in kept:
                        yield f"{name}, response {status}", f"header {header} no longer sent"


def removed_server_url(old: dict, new: dict):
    """Clients join the server URL to every path: the operation's own servers, else its path
    item's, else the document's (and no servers means "/", as OpenAPI says)."""
    now = server_urls(new.get("servers"))
    for url in server_urls(old.get("servers")):
        if url not in now:
            yield "servers", f"{url} removed"
    for name, before, after in common_operations(old, new):
        if before["servers"] or after["servers"]:  # else the document's, compared above
            now = server_urls(after["servers"] or new.get("servers"))
            for url in server_urls(before["servers"] or old.get("servers")):
                if url not in now:
                    yield f"{name}, servers", f"{url} removed"


def server_urls(servers: list | None) -> list[str]:
    """The URLs a generated client calls, each variable at its default."""
    urls = []
    for server in servers or [{"url": "/"}]:
        url = server["url"]
        for variable, value in server.get("variables", {}).items():
            url = url.replace(f"{{{variable}}}", str(value.get("default", "")))
        urls.append(url)
    return urls


def new_security_requirement(old: dict, new: dict):
    """A client holds the credentials of one of the baseline's alternatives; with each of
    them, some alternative of the new spec must still be met."""

    def alternatives(document: dict, operation: dict) -> list[frozenset[str]]:
        required = operation.get("security", document.get("security", []))
        return [frozenset(requirement) for requirement in required] or [frozenset()]

    for name, before, after in common_operations(old, new):
        now = alternatives(new, after)
        for held in alternatives(old, before):
            if not any(option <= held for option in now):
                if held:
                    yield name, f"credentials {sorted(held)} are no longer enough"
                else:
                    yield name, "a call without credentials is no longer accepted"


def changed_security_scheme(old: dict, new: dict):
    """Generated clients build each scheme of the baseline into their code: its name is the
    key a caller sets the credential under (Java's getAuthentication("appKey")), and its
    type, place and name say how they send it. Descriptions do not matter."""
    schemes = new.get("components", {}).get("securitySchemes", {})
    for name, scheme in old.get("components", {}).get("securitySchemes", {}).items():
        location = f"#/components/securitySchemes/{name}"
        if name not in schemes:
            yield location, "removed (or renamed)"
            continue
        for key in ("type", "in", "name", "scheme", "openIdConnectUrl", "flows"):
            was, now = scheme.get(key), schemes[name].get(key)
            if scheme_differs(key, scheme, schemes[name]):
                yield location, "flows changed" if key == "flows" else f"{key} {was} -> {now}"


def scheme_differs(key: str, before: dict, after: dict) -> bool:
    was, now = before.get(key), after.get(key)
    if key == "flows":
        # Each flow's URLs; which scopes a call needs is its security requirement's to say.
        return flow_urls(was) != flow_urls(now)
    # HTTP authentication schemes and header names are case-insensitive (RFC 9110).
    if key == "scheme" or (key == "name" and before.get("in") == after.get("in") == "header"):
        return str(was).lower() != str(now).lower()
    return was != now


def flow_urls(flows: dict | None) -> dict:
    return {
        flow: {k: v for k, v in urls.items() if k != "scopes"}
        for flow, urls in (flows or {}).items()
    }


UPPER_BOUNDS = ("maxLength", "maximum", "maxItems", "maxProperties")
LOWER_BOUNDS = ("minLength", "minimum", "minItems", "minProperties")


def narrowings(before: dict, after: dict) -> list[str]:
    """What in ``after`` refuses a value that ``before`` accepts. A new or changed pattern or
    format counts: whether one regular expression contains another is not worth deciding."""
    found = [
        f"{key} {before.get(key, 'none')} -> {after[key]}"
        for key in UPPER_BOUNDS
        if key in after and (key not in before or after[key] < before[key])
    ]
    found += [
        f"{key} {before.get(key, 'none')} -> {after[key]}"
        for key in LOWER_BOUNDS
        if key in after and (key not in before or after[key] > before[key])
    ]
    found += [
        f"{key} {before.get(key, 'none')} -> {after[key]}"
        for key in ("pattern", "format", "multipleOf")
        if key in after and after[key] != before.get(key)
    ]
    found += [
        f"now {key}"
        for key in ("exclusiveMaximum", "exclusiveMinimum", "uniqueItems")
        if after.get(key) and not before.get(key)
    ]
    if before.get("nullable") and not after.get("nullable"):
        found.append("no longer nullable")
    if "enum" in after and "enum" not in before:
        found.append(f"now only {after['enum']}")
    elif "enum" in after:
        lost = [value for value in before["enum"] if value not in after["enum"]]
        if lost:
            found.append(f"no longer {lost}")
    return found


RULES: tuple[Callable[[dict, dict], Iterator[tuple[str, str]]], ...] = (
    renamed_operation_id,
    new_parameter,
    removed_parameter,
    changed_parameter_serialization,
    removed_request_field,
    new_required_request_field,
    request_field_made_optional,
    narrowed_request,
    changed_type,
    changed_default,
    renamed_schema,
    removed_response_field,
    response_field_made_optional,
    response_field_made_nullable,
    new_response_enum_value,
    removed_media_type,
    removed_response_header,
    removed_server_url,
    new_security_requirement,
    changed_security_scheme,
)


def rule_findings(baseline: dict, spec: dict) -> list[Finding]:
    old, new = resolve(baseline, named=True), resolve(spec, named=True)
    found = (
        Finding(rule.__name__.replace("_", "-"), location, detail, "rule")
        for rule in RULES
        for location, detail in rule(old, new)
    )
    return list(dict.fromkeys(found))  # a shared schema's change, once


def compare(baseline: dict, spec: dict, tool: Path = OPENAPI_DIFF) -> list[Finding]:
    """Every change in ``spec`` that breaks a client generated from ``baseline``."""
    return tool_findings(baseline, spec, tool) + rule_findings(baseline, spec)


def report(findings: list[Finding], baseline: Path, spec: Path) -> str:
    verdict = f"{len(findings)} breaking change(s)" if findings else "no breaking change"
    return "\n".join([f"{spec} against {baseline}: {verdict}", *map(str, findings)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fails (exit 1) on any change in NEW that breaks a client generated from "
        "BASELINE, listing each as 'class: location: detail [judge]'."
    )
    parser.add_argument(
        "baseline", type=Path, metavar="BASELINE", help="the published spec: baseline/openapi.yaml"
    )
    parser.add_argument("spec", type=Path, metavar="NEW", help="the new spec")
    parser.add_argument("--report", type=Path, help="also write the findings to this file")
    parser.add_argument(
        "--openapi-diff",
        type=Path,
        default=OPENAPI_DIFF,
        dest="tool",
        help=f"default {OPENAPI_DIFF}",
    )
    args = parser.parse_args(argv)
    try:
        findings = compare(load(args.baseline), load(args.spec), args.tool)
    except (OSError, RuntimeError, ValueError) as error:
        print(f"breaking.py: {error}", file=sys.stderr)
        return 2
    text = report(findings, args.baseline, args.spec)
    print(text, end="")
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text, encoding="utf-8")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
