"""The README's "Run it" on a fresh clone, as a newcomer follows it: the commands are taken
from the README itself and run by ``sh`` in a clone of this repository (what is committed,
not the work tree) in a temporary folder: a new venv, ``pip install -e .``, ``applytry
serve`` on the embedded defaults, the curl examples answered, the access codes imported, and
the checkout still clean afterwards (``git status --porcelain`` empty).

It takes about 30 s, most of it pip (from the package index pip is configured with), so it
runs in the default run, once: on SQLite, not again on PostgreSQL, which it never touches.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from applytry.testing import HEALTHZ, bound_port
from conftest import BACKEND

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(BACKEND != "sqlite", reason="the README runs on the embedded default"),
    pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout"),
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git"),
]


def run_it_blocks() -> list[str]:
    """The shell blocks of the README's "Run it" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Run it\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def sh(script: str, cwd: Path, env: dict, timeout_s: float) -> str:
    result = subprocess.run(
        ["sh", "-ec", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert result.returncode == 0, f"{script}\nexited {result.returncode}:\n{result.stderr}"
    return result.stdout


def wait_for_health(log: Path, process: subprocess.Popen, bound_s: float) -> str:
    """The origin ``applytry serve --port 0`` says it bound, once ``/healthz`` answers there."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "applytry serve exited"
        port = bound_port(log.read_text(errors="replace"))
        if port is not None:
            origin = f"http://127.0.0.1:{port}"
            try:
                if httpx.get(origin + HEALTHZ, timeout=2).status_code == 200:
                    return origin
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"applytry serve did not answer within {bound_s} s")


@pytest.mark.timeout(600)
def test_the_readme_runs_on_a_fresh_clone_and_leaves_it_clean(tmp_path):
    install, generate, apply = run_it_blocks()[:3]
    setup, serve = install.strip().rsplit(" && ", 1)
    assert serve == ".venv/bin/applytry serve", "the README's first command changed"
    # Only what a newcomer's shell has: none of this run's settings or virtual environment.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("APPLYTRY_", "PROMETHEUS_", "PYTHON"))
        and name not in ("VIRTUAL_ENV", "COVERAGE_PROCESS_START")
    }
    clone = tmp_path / "applytry"
    sh(f"git clone --quiet '{ROOT}' '{clone}'", tmp_path, env, 60)

    sh(setup, clone, env, 300)
    # The README's port, 8080, may be taken on this machine: the same serve on a free one.
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [*serve.split(), "--port", "0"], cwd=clone, env=env, stdout=log, stderr=log
    )
    try:
        origin = wait_for_health(log_path, process, 60)
        on_port = {"http://127.0.0.1:8080": origin}

        generated = sh(local(generate, on_port), clone, env, 60).splitlines()
        assert json.loads(generated[0])["retCode"] == "200"
        code = re.search(r"\d{6}", json.loads(generated[-1])["text"]).group()

        applied = sh(local(apply, {**on_port, "<code>": code}), clone, env, 60).splitlines()
        assert "imported 2 access codes" in applied[0]
        assert json.loads(applied[1])["returnCode"] == "000"
        assert json.loads(applied[-1])["to"] == "you@example.com"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            log.close()

    status = sh("git status --porcelain --untracked-files=all", clone, env, 30)
    assert status == "", f"the README's steps left the checkout unclean:\n{status}"


def local(block: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert old in block, f"the README's example no longer has {old}"
        block = block.replace(old, new)
    return block
