"""Real service processes on 127.0.0.1, for the test suites and the benchmark.

Each process is ``applytry serve`` exactly as users start it, configured only through the
environment, so what is tested is what runs.
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

HEALTHZ = "/apiaccess/rest/ipccprovision/v1/healthz"

# How Debian's Chromium runs for the browser tests and the solver's benchmark: headless as
# root, and with nothing that calls home, which a closed network refuses many times a second.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Limits loose enough that only the database's own answers decide, for loads that come from
# one address and phones that share prefixes (the benchmark, the scale-out tests).
LOOSE_LIMITS = {
    "ip_per_minute": 1_000_000,
    "phone_hourly_limit": 1000,
    "phone_daily_limit": 10000,
    "sms_daily_limit": 100_000_000,
    "prefix_hourly_limit": 100_000_000,
    "prefix_daily_limit": 100_000_000,
    "conversion_prefix_volume": 100_000_000,
    "conversion_country_volume": 100_000_000,
}

# uvicorn's start-up line names the port it bound, with one worker and with several:
# "Uvicorn running on http://127.0.0.1:43817 (Press CTRL+C to quit)".
_BOUND = re.compile(r"running on https?://\S+:(\d+) ")


def bound_port(log: str) -> int | None:
    """The port a server started with ``--port 0`` says it bound, once its log says so."""
    found = _BOUND.search(log)
    return int(found.group(1)) if found else None


class ServiceProcess:
    """``applytry serve`` on a loopback port of the kernel's choosing (``--port 0``); ``port``
    and ``url`` are known once started.

    The process binds its own socket and names the port in its log: a port picked here and
    released for the process to bind could be taken by another in between. ``settings``
    become ``APPLYTRY_<NAME>`` variables; the process runs in ``workdir``, where its log is
    kept as ``server-*.log``.
    """

    def __init__(self, workdir: Path, *, workers: int = 1, settings: Mapping[str, object] = ()):
        self.workdir = Path(workdir)
        self.workers = workers
        self.settings = dict(settings)
        self.port: int | None = None
        self.url: str | None = None
        self.log_path: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def environment(self) -> dict[str, str]:
        """The ``APPLYTRY_*`` variables the process runs with, for commands on its data."""
        return {f"APPLYTRY_{name.upper()}": str(value) for name, value in self.settings.items()}

    def command(self) -> list[str]:
        """What runs: ``applytry serve``, as users start it."""
        serve = [sys.executable, "-m", "applytry.cli", "serve"]
        return [*serve, "--port", "0", "--workers", str(self.workers)]

    def start(self, timeout_s: float = 30) -> ServiceProcess:
        env = {**os.environ, **self.environment}
        self.workdir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="server-", suffix=".log", dir=self.workdir)
        self.log_path = Path(name)
        with open(handle, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self.command(), env=env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited:\n{self.log()}")
            if self.port is None and (port := bound_port(self.log())) is not None:
                self.port, self.url = port, f"http://127.0.0.1:{port}"
            if self.port is not None and self._healthy():
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"the service did not answer within {timeout_s} s:\n{self.log()}")

    def _healthy(self) -> bool:
        """Ready once a worker answers ``/healthz``: a bare TCP accept only says that the
        supervisor bound the socket, not that the app behind it has started."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", HEALTHZ)
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 15) -> None:
        stop_process(self.process, timeout_s)

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


def stop_process(process: subprocess.Popen | None, timeout_s: float) -> None:
    """SIGTERM, as an operator stops it; SIGKILL if it has not exited within ``timeout_s``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
