"""Clients generated from ``openapi.yaml`` in four languages, built and run unchanged against
a real server through the same scenario (``clients/README.md``).

Generators: openapi-python-client for Python; openapi-generator (the PyPI package bundles it,
and it runs on Java) for TypeScript (``typescript-fetch`` on Node.js's fetch), Go and Java
(``native``, on ``java.net.http.HttpClient``). Nothing generated is edited: where a client's
defaults trip the service, the service is what gets fixed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import BASE_PATH, HERE, SPEC, require, require_files, run

CLIENTS = HERE / "clients"
BIN = Path(sys.executable).parent
GENERATOR = str(BIN / "openapi-generator-cli")
# Where Debian installs Java libraries; another folder for another distribution's.
JAVA_LIBRARIES = Path(os.environ.get("APPLYTRY_JAVA_LIBRARIES", "/usr/share/java"))
DEBIAN_JARS = {
    "jakarta-annotation-api.jar": "libjakarta-annotation-api-java",
    "httpmime.jar": "libhttpmime-java",
    "httpcore.jar": "libhttpcore-java",
}
NO_TESTS_OR_DOCS = "--global-property=apiTests=false,modelTests=false,apiDocs=false,modelDocs=false"


def _bundled_jar() -> str:
    import openapi_generator_cli

    return str(Path(openapi_generator_cli.__file__).with_name("openapi-generator.jar"))


def openapi_generator(work: Path, generator: str, output: str, *options: str) -> None:
    require("java")
    command = [GENERATOR, "generate", "-i", str(SPEC), "-g", generator, "-o", output]
    run([*command, NO_TESTS_OR_DOCS, *options], cwd=work, timeout_s=300)


def python_client(work: Path, _node_tools: Path) -> list[str]:
    run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(SPEC),
            "--output-path",
            "applytry_client",
            "--meta",
            "none",
            "--config",
            str(CLIENTS / "python" / "config.yaml"),
        ],
        cwd=work,
        timeout_s=120,
    )
    shutil.copy(CLIENTS / "python" / "scenario.py", work)
    return [sys.executable, "scenario.py"]


def typescript_client(work: Path, node_tools: Path) -> list[str]:
    tools = require("node")
    openapi_generator(
        work, "typescript-fetch", "applytry", "--additional-properties=supportsES6=true"
    )
    for name in ("scenario.ts", "tsconfig.json"):
        shutil.copy(CLIENTS / "typescript" / name, work)
    types = node_tools.parent / "@types"
    run([str(node_tools / "tsc"), "-p", ".", "--typeRoots", str(types)], cwd=work, timeout_s=300)
    return [tools["node"], "dist/scenario.js"]


def go_client(work: Path, _node_tools: Path) -> list[str]:
    tools = require("go")
    openapi_generator(
        work, "go", "applytry", "--package-name=applytry", "--additional-properties=withGoMod=false"
    )
    shutil.copy(CLIENTS / "go" / "main.go", work)
    (work / "go.mod").write_text("module scenario\n\ngo 1.19\n")
    # The generated client needs only the standard library: no module download.
    offline = {"GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOCACHE": str(work / ".gocache")}
    run([tools["go"], "build", "-o", "scenario", "."], cwd=work, timeout_s=300, env=offline)
    return [str(work / "scenario")]


def java_client(work: Path, _node_tools: Path) -> list[str]:
    tools = require("java", "javac")
    # The client needs Jackson 2.16 or newer with its java.time module; Debian ships 2.14
    # without that module, so Jackson comes from the generator's own jar, which bundles it.
    # The form-encoded operations (the gateways' receipts) need Apache httpmime and httpcore.
    # Looked for before the client is generated, which takes a while.
    debian = require_files({JAVA_LIBRARIES / jar: package for jar, package in DEBIAN_JARS.items()})
    packages = "com.applytry.client"
    openapi_generator(
        work,
        "java",
        "client",
        "--library=native",
        "--additional-properties="
        f"invokerPackage={packages},apiPackage={packages}.api,modelPackage={packages}.model,"
        "openApiNullable=false,useJakartaEe=true,hideGenerationTimestamp=true",
    )
    classpath = ":".join(["classes", _bundled_jar(), *map(str, debian)])
    sources = [str(path) for path in (work / "client").rglob("*.java")]
    sources.append(str(CLIENTS / "java" / "Scenario.java"))
    run(
        [tools["javac"], "-nowarn", "-d", "classes", "-cp", classpath, *sources],
        cwd=work,
        timeout_s=300,
    )
    return [tools["java"], "-cp", classpath, "Scenario"]


@dataclass(frozen=True)
class Language:
    name: str
    build: Callable[[Path, Path], list[str]]
    phone: str


LANGUAGES = [
    Language("python", python_client, "13800138101"),
    Language("typescript", typescript_client, "13800138102"),
    Language("go", go_client, "13800138103"),
    Language("java", java_client, "13800138104"),
]


@pytest.fixture
def node_tools_if_needed(request):
    if request.node.callspec.params["language"].name == "typescript":
        return request.getfixturevalue("node_tools")
    return Path()


@pytest.mark.parametrize("language", LANGUAGES, ids=lambda language: language.name)
def test_a_generated_client_works_unchanged(
    language, shared_service, tmp_path, node_tools_if_needed
):
    command = language.build(tmp_path, node_tools_if_needed)
    base = shared_service.url + BASE_PATH
    output = run([*command, base, language.phone], cwd=tmp_path, timeout_s=120)
    summary = json.loads(output.strip().splitlines()[-1])

    assert summary["first"] == "200"
    assert summary["second"] == "201"
    assert summary["retryAfter"] >= 1
    assert summary["badStatus"] == 400
    assert summary["badTitle"]
    outbox = shared_service.workdir / "outbox" / "sms.jsonl"
    sent = [json.loads(line)["to"] for line in outbox.read_text().splitlines()]
    assert sent.count("+86" + language.phone) == 1
