"""Fixtures of the contract tests: real ``applytry serve`` processes and the toolchains that
the published spec is exercised with (schemathesis, Node.js, Go, Java, Chromium).

A part whose toolchain is missing is skipped with the reason, so the README's test command
works on a machine that has only Python. CI sets ``APPLYTRY_REQUIRE_TOOLCHAINS=1`` after
installing them all, and there a missing toolchain fails instead: CI proves every part.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NoReturn

import pytest

import packages
from applytry.testing import CHROMIUM_ARGS, ServiceProcess

HERE = Path(__file__).parent
ROOT = HERE.parent
SPEC = ROOT / "openapi.yaml"
SIGNUP = ROOT / "impl" / "signup"
BASE_PATH = "/apiaccess/rest/ipccprovision/v1"
GENERATE = BASE_PATH + "/applyTry/generateverifycode"
REPORTS = Path(os.environ.get("APPLYTRY_REPORTS", ROOT / "reports" / "contract"))
REQUIRE_TOOLCHAINS = os.environ.get("APPLYTRY_REQUIRE_TOOLCHAINS") == "1"


# The Debian package that brings each command of the toolchains (.ci/run installs them all).
DEBIAN_PACKAGES = {
    "chromium": "chromium",
    "go": "golang-go",
    "java": "openjdk-17-jdk-headless",
    "javac": "openjdk-17-jdk-headless",
    "node": "nodejs",
    "npm": "npm",
}


def missing_toolchain(what: list[str], packages: list[str]) -> NoReturn:
    """Skips the test (fails it under CI), naming what is missing and the apt-get line that
    brings it, so that whoever reads the skip can install it."""
    reason = f"needs {', '.join(what)}: apt-get install {' '.join(dict.fromkeys(packages))}"
    if REQUIRE_TOOLCHAINS:
        pytest.fail(reason)
    pytest.skip(reason)


def require(*commands: str) -> dict[str, str]:
    """The full paths of ``commands``; skips the test (fails it under CI) if one is missing."""
    found = {command: shutil.which(command) for command in commands}
    missing = [command for command, path in found.items() if path is None]
    if missing:
        missing_toolchain(
            [f"{command} on PATH" for command in missing],
            [DEBIAN_PACKAGES[command] for command in missing],
        )
    return found


def require_files(files: dict[Path, str]) -> list[Path]:
    """``files`` (each with the Debian package that installs it) when they all exist; else
    skips the test (fails it under CI), as :func:`require` does."""
    missing = {path: package for path, package in files.items() if not path.exists()}
    if missing:
        missing_toolchain([str(path) for path in missing], list(missing.values()))
    return list(files)


def run(command: list[str], *, cwd: Path, timeout_s: float, env: dict | None = None) -> str:
    """Runs a build or client step; a failure shows the step's own output."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{output}"
    return output


@pytest.fixture(scope="session")
def reports() -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    return REPORTS


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """contract-tests/node_modules/.bin, installed from package-lock.json when out of date."""
    return npm_installed(HERE) / ".bin"


def npm_installed(project: Path) -> Path:
    """``project``'s node_modules, installed from its package-lock.json when out of date."""
    require("node", "npm")
    try:
        return packages.npm_installed(project)
    except packages.StepFailed as failed:
        pytest.fail(str(failed))


@pytest.fixture(scope="session")
def signup_tools() -> Path:
    """impl/signup/node_modules: the sign-up component's build tools (esbuild,
    openapi-typescript, openapi-fetch, TypeScript)."""
    return npm_installed(SIGNUP)


@pytest.fixture
def start_service(tmp_path_factory):
    """Starts ``applytry serve`` on its embedded defaults (SQLite, SMS outbox) in a fresh
    folder, with ``settings`` on top; returns the process (``.url``, ``.workdir``)."""
    started: list[ServiceProcess] = []

    def start(**settings) -> ServiceProcess:
        workdir = tmp_path_factory.mktemp("service")
        process = ServiceProcess(workdir, settings=settings)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def shared_service(tmp_path_factory):
    """One server for the tests that each use phones of their own."""
    with ServiceProcess(tmp_path_factory.mktemp("shared-service")) as process:
        yield process


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, driven by Playwright (its own browser download cannot run here)."""
    from playwright.sync_api import sync_playwright

    chromium = require("chromium")["chromium"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Website:
    """A trial website on its own loopback origin: every GET answers ``body``, which a test
    may set once it knows the service's address (the service must list the origin first)."""

    def __init__(self, body: bytes = b"<!doctype html><title>Free trial</title><p>Try it free</p>"):
        self.body = body
        self.headers: dict[str, str] = {}  # more response headers, e.g. the site's own CSP
        website = self

        class Page(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                for name, value in website.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(website.body)))
                self.end_headers()
                self.wfile.write(website.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def website():
    server = Website()
    yield server
    server.close()
