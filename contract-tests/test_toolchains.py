"""A part whose toolchain is missing is skipped with the apt-get line that brings it, as the
README promises, and fails instead under ``APPLYTRY_REQUIRE_TOOLCHAINS=1`` (CI)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

import conftest
from conftest import DEBIAN_PACKAGES, ROOT, require, require_files


@pytest.mark.parametrize("command", sorted(DEBIAN_PACKAGES))
def test_a_missing_command_is_skipped_with_its_apt_get_line(command, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: nothing is found
    monkeypatch.setattr(conftest, "REQUIRE_TOOLCHAINS", False)

    with pytest.raises(pytest.skip.Exception) as skipped:
        require(command)

    assert f"{command} on PATH: apt-get install {DEBIAN_PACKAGES[command]}" in str(skipped.value)


def test_a_missing_command_fails_when_toolchains_are_required(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(conftest, "REQUIRE_TOOLCHAINS", True)

    with pytest.raises(pytest.fail.Exception, match="apt-get install golang-go"):
        require("go")


def test_missing_files_are_named_with_one_apt_get_line(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "REQUIRE_TOOLCHAINS", False)
    (tmp_path / "here.jar").touch()
    files = {
        tmp_path / "here.jar": "libhere-java",
        tmp_path / "a.jar": "liba-java",
        tmp_path / "b.jar": "libb-java",
    }

    with pytest.raises(pytest.skip.Exception) as skipped:
        require_files(files)

    reason = str(skipped.value)
    assert reason.endswith("apt-get install liba-java libb-java")
    assert str(tmp_path / "a.jar") in reason and "here.jar" not in reason


def _java_client_test(tmp_path, **env) -> subprocess.CompletedProcess:
    """The Java client's contract test, run as the README's test command runs it, on a
    machine without Debian's jars (an empty folder stands for /usr/share/java)."""
    empty = tmp_path / "java"
    empty.mkdir(exist_ok=True)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "contract-tests/test_clients.py::test_a_generated_client_works_unchanged[java]",
            "-rs",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'run'}",
        ],
        cwd=ROOT,
        env={**os.environ, "APPLYTRY_JAVA_LIBRARIES": str(empty), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _expected_line() -> str:
    if shutil.which("java") and shutil.which("javac"):
        return "apt-get install libjakarta-annotation-api-java libhttpmime-java libhttpcore-java"
    return "apt-get install openjdk-17-jdk-headless"


def test_the_java_client_without_debian_jars_is_skipped_with_the_apt_get_line(tmp_path):
    result = _java_client_test(tmp_path, APPLYTRY_REQUIRE_TOOLCHAINS="")

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b1 skipped\b", result.stdout), result.stdout
    assert _expected_line() in result.stdout


def test_the_java_client_without_debian_jars_fails_under_ci(tmp_path):
    result = _java_client_test(tmp_path, APPLYTRY_REQUIRE_TOOLCHAINS="1")

    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"\b1 failed\b", result.stdout), result.stdout
    assert _expected_line() in result.stdout


def test_every_debian_package_named_is_installed_by_ci():
    ci = (ROOT / ".ci" / "run").read_text()
    from test_clients import DEBIAN_JARS

    for package in {*DEBIAN_PACKAGES.values(), *DEBIAN_JARS.values()}:
        assert re.search(rf"\s{re.escape(package)}(\s|$)", ci), package
