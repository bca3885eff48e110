"""Clients generated from ``openapi.yaml`` in four languages, packaged as CI publishes them
(``packages.py``, into ``reports/clients/``), installed from those packages and run unchanged
against a real server through the same scenario (``clients/README.md``).

The TypeScript package is the sign-up component's client (openapi-fetch); openapi-generator's
``typescript-fetch`` client is still generated and run, loose, so that it keeps working for
those who generate their own. Nothing generated is edited: where a client's defaults trip the
service, the service is what gets fixed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest

import packages
from conftest import BASE_PATH, HERE, require, require_files, run

CLIENTS = HERE / "clients"
# Where Debian installs Java libraries; another folder for another distribution's.
JAVA_LIBRARIES = Path(os.environ.get("APPLYTRY_JAVA_LIBRARIES", "/usr/share/java"))
DEBIAN_JARS = {
    "jakarta-annotation-api.jar": "libjakarta-annotation-api-java",
    "httpmime.jar": "libhttpmime-java",
    "httpcore.jar": "libhttpcore-java",
}
# The Go scenario builds with the standard library and the client alone: no module download.
GO_OFFLINE = {"GOFLAGS": "-mod=mod", "GOPROXY": "off"}

Packages = Callable[[str], Path]


@pytest.fixture(scope="session")
def client_packages() -> Packages:
    """Each language's package, built into reports/clients/ the first time a test asks."""
    built: dict[str, Path] = {}

    def package(language: str) -> Path:
        if language not in built:
            require(*packages.PACKAGES[language].commands)
            built[language] = packages.build(language)
        return built[language]

    return package


def _bundled_jar() -> str:
    import openapi_generator_cli

    return str(Path(openapi_generator_cli.__file__).with_name("openapi-generator.jar"))


def python_client(work: Path, package: Packages, _node_tools: Path) -> list[str]:
    site = work / "site"
    pip = [sys.executable, "-m", "pip"]
    # Its dependencies (httpx, attrs) are the ones this environment has: no download.
    run(
        [*pip, "install", "--no-deps", "--target", str(site), str(package("python"))],
        cwd=work,
        timeout_s=120,
    )
    # ... so pip checks that they satisfy what the wheel declares.
    check = subprocess.run(
        [*pip, "check"],
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "applytry-client" not in check.stdout, check.stdout
    # Next to the installed package, the scenario imports it first.
    shutil.copy(CLIENTS / "python" / "scenario.py", site)
    return [sys.executable, str(site / "scenario.py")]


def typescript_client(work: Path, package: Packages, node_tools: Path) -> list[str]:
    tools = require("node", "npm")
    (work / "package.json").write_text('{"private": true, "type": "module"}\n')
    # openapi-fetch comes from npm's cache, filled when impl/signup was installed.
    install = [tools["npm"], "install", "--prefer-offline", "--no-audit", "--no-fund"]
    run([*install, str(package("typescript"))], cwd=work, timeout_s=300)
    return _compiled(work, node_tools, CLIENTS / "typescript")


def typescript_fetch_client(work: Path, _package: Packages, node_tools: Path) -> list[str]:
    require("java")
    packages.openapi_generator(
        work, "typescript-fetch", "applytry", "--additional-properties=supportsES6=true"
    )
    return _compiled(work, node_tools, CLIENTS / "typescript-fetch")


def _compiled(work: Path, node_tools: Path, scenario: Path) -> list[str]:
    tools = require("node")
    for name in ("scenario.ts", "tsconfig.json"):
        shutil.copy(scenario / name, work)
    types = node_tools.parent / "@types"
    run([str(node_tools / "tsc"), "-p", ".", "--typeRoots", str(types)], cwd=work, timeout_s=300)
    return [tools["node"], "dist/scenario.js"]


def go_client(work: Path, package: Packages, _node_tools: Path) -> list[str]:
    tools = require("go")
    with zipfile.ZipFile(package("go")) as archive:
        archive.extractall(work)
    (module,) = work.glob("applytry-client-go-*")
    scenario = work / "scenario"
    scenario.mkdir()
    shutil.copy(CLIENTS / "go" / "main.go", scenario)
    (scenario / "go.mod").write_text(
        f"module scenario\n\ngo 1.19\n\nrequire {packages.GO_MODULE} v0.0.0\n\n"
        f"replace {packages.GO_MODULE} => {module}\n"
    )
    env = {**GO_OFFLINE, "GOCACHE": str(work / ".gocache")}
    run([tools["go"], "build", "-o", "scenario", "."], cwd=scenario, timeout_s=300, env=env)
    return [str(scenario / "scenario")]


def java_client(work: Path, package: Packages, _node_tools: Path) -> list[str]:
    tools = require("java", "javac")
    # The client needs Jackson 2.16 or newer with its java.time module; Debian ships 2.14
    # without that module, so Jackson comes from the generator's own jar, which bundles it.
    # The form-encoded operations (the gateways' receipts) need Apache httpmime and httpcore.
    # Looked for before the package is built, which takes a while.
    debian = require_files({JAVA_LIBRARIES / jar: package for jar, package in DEBIAN_JARS.items()})
    sources = work / "sources"
    with zipfile.ZipFile(package("java")) as archive:
        archive.extractall(sources)
    classpath = ":".join(["classes", _bundled_jar(), *map(str, debian)])
    files = [str(path) for path in sources.rglob("*.java")]
    files.append(str(CLIENTS / "java" / "Scenario.java"))
    run(
        [tools["javac"], "-nowarn", "-d", "classes", "-cp", classpath, *files],
        cwd=work,
        timeout_s=300,
    )
    return [tools["java"], "-cp", classpath, "Scenario"]


@dataclass(frozen=True)
class Language:
    name: str
    install: Callable[[Path, Packages, Path], list[str]]
    phone: str


LANGUAGES = [
    Language("python", python_client, "13800138101"),
    Language("typescript", typescript_client, "13800138102"),
    Language("go", go_client, "13800138103"),
    Language("java", java_client, "13800138104"),
    Language("typescript-fetch", typescript_fetch_client, "13800138105"),
]


@pytest.fixture
def node_tools_if_needed(request):
    if request.node.callspec.params["language"].name.startswith("typescript"):
        return request.getfixturevalue("node_tools")
    return Path()


@pytest.mark.parametrize("language", LANGUAGES, ids=lambda language: language.name)
def test_a_generated_client_works_unchanged(
    language, shared_service, tmp_path, client_packages, node_tools_if_needed
):
    command = language.install(tmp_path, client_packages, node_tools_if_needed)
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


def _files(artifact: Path) -> dict[str, bytes]:
    """The files inside a package (a gzipped tar or a zip), by their names there."""
    if artifact.name.endswith(".tgz"):
        with tarfile.open(artifact) as archive:
            members = [member for member in archive.getmembers() if member.isfile()]
            return {member.name: archive.extractfile(member).read() for member in members}
    with zipfile.ZipFile(artifact) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _readme(language: str, files: dict[str, bytes], version: str) -> str:
    if language == "python":  # a wheel carries its README as the description
        metadata = files[f"applytry_client-{version}.dist-info/METADATA"].decode()
        return Parser().parsestr(metadata).get_payload()
    name = {
        "typescript": "package/README.md",
        "go": f"applytry-client-go-{version}/README.md",
        "java": "README.md",
    }[language]
    return files[name].decode()


@pytest.mark.parametrize("language", list(packages.PACKAGES))
def test_a_client_package_is_named_for_the_spec_version_with_a_three_line_readme(
    language, client_packages
):
    version = packages.spec_version()
    artifact = client_packages(language)

    assert artifact == packages.OUT / packages.PACKAGES[language].filename.format(version=version)
    what, generated, usage = _readme(language, _files(artifact), version).strip().splitlines()
    assert "applytry API" in what
    assert generated == f"Generated from openapi.yaml, API version {version}."
    assert usage.startswith(("Install: ", "Use: "))


def test_the_npm_package_is_an_es_module_with_its_types_and_openapi_fetch(client_packages):
    files = _files(client_packages("typescript"))
    manifest = json.loads(files["package/package.json"])
    signup = json.loads((packages.SIGNUP / "package.json").read_text())

    assert (manifest["name"], manifest["version"]) == ("applytry-client", packages.spec_version())
    assert manifest["type"] == "module"
    for entry in (manifest["main"], manifest["types"], "./dist/schema.d.ts"):
        assert "package/" + entry.removeprefix("./") in files
    assert manifest["dependencies"] == {"openapi-fetch": signup["dependencies"]["openapi-fetch"]}
