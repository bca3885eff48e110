"""schemathesis against the service as users run it: every check, every phase, a fixed seed.

Its configuration, with the reason for every choice, is ``schemathesis.toml`` beside this
file; its JUnit report goes to the reports folder (``reports/contract/`` by default).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BASE_PATH, HERE, SPEC

# What the gateways' receipts are checked against; the SMS still go to the outbox.
GATEWAY = {
    "secret": "fuzzing-secret-0123456789abcdef",
    "public_url": "https://trial.example.com",
    "twilio_account_sid": "AC" + "0" * 31 + "1",
    "twilio_auth_token": "fuzzing-twilio-token-0123",
}
EXAMPLES = int(os.environ.get("APPLYTRY_FUZZ_EXAMPLES", "200"))
# schemathesis.toml's seed unless another is asked for: a longer local run tries others.
SEED = os.environ.get("APPLYTRY_FUZZ_SEED")


def api_key(service) -> str:
    """A key made with `applytry keys add` on the service's database: from then on the
    website's operations require one, as the spec's security requirement says, and the
    ``ignored_auth`` check proves that a call without it is refused."""
    env = {**os.environ, **service.environment}
    result = subprocess.run(
        [sys.executable, "-m", "applytry.cli", "keys", "add", "schemathesis"],
        cwd=service.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.split()[-1]


@pytest.mark.timeout(1800)
def test_schemathesis_finds_nothing(start_service, reports):
    # Every request comes from this one client address. At the default 20 a minute, nine in
    # ten positive cases would stop at the per-client limit (429, documented) and never reach
    # the code behind it, which schemathesis rightly reports as untested. The limit itself is
    # tested in tests/test_generate.py; here it is out of the way.
    service = start_service(ip_per_minute=1_000_000, settings_refresh_s=0, **GATEWAY)
    key = api_key(service)
    junit = reports / "schemathesis.xml"
    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        str(SPEC),
        "--url",
        service.url + BASE_PATH,
        "--max-examples",
        str(EXAMPLES),
        "--report-junit-path",
        str(junit),
        "--header",
        f"X-APP-Key: {key}",
        "--no-color",
    ]
    if SEED:
        command += ["--seed", SEED]
    # The auth hook proves receipts with what the service holds.
    env = {**os.environ, **{f"APPLYTRY_{name.upper()}": value for name, value in GATEWAY.items()}}
    result = subprocess.run(
        command, cwd=HERE, env=env, capture_output=True, text=True, timeout=1500, check=False
    )
    output = result.stdout + result.stderr
    (reports / "schemathesis.txt").write_text(output)
    assert result.returncode == 0, output
    assert "generated" in output and junit.exists()
    assert "Traceback" not in service.log()
