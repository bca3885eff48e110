"""Real service processes on 127.0.0.1, for the test suites and the benchmark.

Each process is ``applytry serve`` exactly as users start it, configured only through the
environment, so what is tested is what runs.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

HEALTHZ = "/apiaccess/rest/ipccprovision/v1/healthz"


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """``applytry serve`` on an unused loopback port; ``url`` is its origin once started.

    ``settings`` become ``APPLYTRY_<NAME>`` variables; the process runs in ``workdir``, where
    its log is kept as ``server-<port>.log``.
    """

    def __init__(self, workdir: Path, *, workers: int = 1, settings: Mapping[str, object] = ()):
        self.workdir = Path(workdir)
        self.workers = workers
        self.settings = dict(settings)
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / f"server-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def environment(self) -> dict[str, str]:
        """The ``APPLYTRY_*`` variables the process runs with, for commands on its data."""
        return {f"APPLYTRY_{name.upper()}": str(value) for name, value in self.settings.items()}

    def command(self) -> list[str]:
        """What runs: ``applytry serve``, as users start it."""
        serve = [sys.executable, "-m", "applytry.cli", "serve"]
        return [*serve, "--port", str(self.port), "--workers", str(self.workers)]

    def start(self, timeout_s: float = 30) -> ServiceProcess:
        env = {**os.environ, **self.environment}
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self.command(), env=env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited:\n{self.log()}")
            if self._healthy():
                return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"the service did not listen within {timeout_s} s:\n{self.log()}")

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
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 15) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
