"""The oracle of the differential test: the service's app on stock connexion, served.

``create_app(settings, tuned=False)`` builds the same app as ``applytry serve`` without
:mod:`applytry.framework`'s caches. It runs in a process of its own because the database is a
module-level peewee database bound at start-up: two apps in one process would share it.

Run as ``python oracle.py --port PORT`` (0 for any free one) with the ``APPLYTRY_*`` settings in
the environment; :class:`OracleProcess` does that and waits, as
:class:`applytry.testing.ServiceProcess` does, until ``/healthz`` answers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from applytry.testing import ServiceProcess

HERE = Path(__file__).resolve().parent


class OracleProcess(ServiceProcess):
    """This module as a server on a loopback port the kernel picks, started like ``applytry
    serve``, which names the port in uvicorn's start-up line."""

    def command(self) -> list[str]:
        return [sys.executable, str(HERE / "oracle.py"), "--port", "0"]


def main() -> None:
    parser = argparse.ArgumentParser(description="the app on stock connexion, for tests only")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    import uvicorn

    from applytry import logs
    from applytry.app import create_app
    from applytry.config import Settings

    settings = Settings.from_env()
    uvicorn.run(
        create_app(settings, tuned=False),
        host="127.0.0.1",
        port=args.port,
        http="h11",
        proxy_headers=False,
        log_config=logs.config(settings.log_level),
        access_log=False,
    )


if __name__ == "__main__":
    main()
