"""The sign-up component's committed bundle is what its sources make: rebuilt from
``impl/signup`` (the spec's client, type-checked, bundled by the locked esbuild) it is the
same byte for byte, and a change on either side that was not rebuilt, or that the component's
calls no longer fit, fails."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import SIGNUP, SPEC, require, run

SOURCES = ["build.mjs", "package.json", "tsconfig.json", "applytry-signup.js", "src", "client"]


def check(signup: Path) -> subprocess.CompletedProcess:
    node = require("node")["node"]
    return subprocess.run(
        [node, "build.mjs", "--check"],
        cwd=signup,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def copy(tmp_path, signup_tools):
    """impl/signup and openapi.yaml, laid out as in the repository, to break on purpose."""
    signup = tmp_path / "impl" / "signup"
    signup.mkdir(parents=True)
    for name in SOURCES:
        source = SIGNUP / name
        if source.is_dir():
            shutil.copytree(source, signup / name)
        else:
            shutil.copy(source, signup / name)
    (signup / "node_modules").symlink_to(signup_tools)
    shutil.copy(SPEC, tmp_path / "openapi.yaml")
    return signup


def test_the_committed_bundle_is_what_its_sources_make(signup_tools):
    run([require("node")["node"], "build.mjs", "--check"], cwd=SIGNUP, timeout_s=300)


def test_an_edited_source_without_a_rebuild_fails_the_check(copy):
    messages = copy / "src" / "messages.ts"
    messages.write_text(messages.read_text().replace("Send code", "Send a code"))

    result = check(copy)
    assert result.returncode == 1
    assert "does not match its sources" in result.stderr


def test_a_spec_change_the_components_calls_no_longer_fit_fails_the_check(copy):
    spec_path = copy.parent.parent / "openapi.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    result_schema = spec["components"]["schemas"]["GenerateVerifyCodeResult"]
    result_schema["properties"]["resultCode"] = result_schema["properties"].pop("retCode")
    result_schema["required"] = ["resultCode", "retMsg"]
    spec_path.write_text(yaml.safe_dump(spec, allow_unicode=True))

    result = check(copy)
    assert result.returncode == 1
    assert "retCode" in result.stdout + result.stderr  # tsc names what the component reads
