"""The ``applytry`` command: serve and migrate."""

from __future__ import annotations

import argparse
import logging
import sys

from applytry import logs
from applytry.config import ConfigError, Settings

log = logging.getLogger("applytry.cli")


def serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from applytry.app import prepare_storage

    # Migrate and create the secret once, before the workers start.
    prepare_storage(settings)
    uvicorn.run(
        "applytry.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # h11, not httptools: httptools drops the body of any request that offers an h2c
        # upgrade, as Java's HttpClient and `curl --http2` do by default.
        http="h11",
        log_config=logs.config(settings.log_level),
        timeout_graceful_shutdown=10,
    )
    return 0


def migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from applytry.db.database import bind
    from applytry.db.migrations import migrate as apply_pending

    bind(settings.database_url, settings.db_lock_timeout_s)
    applied = apply_pending()
    log.info("schema is current", extra={"applied": ",".join(applied) or "none"})
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="applytry", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the HTTP service")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8080)
    run.add_argument("--workers", type=int, default=1)
    run.set_defaults(handler=serve)
    commands.add_parser("migrate", help="apply pending schema migrations").set_defaults(
        handler=migrate
    )
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"applytry: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    return args.handler(settings, args)


if __name__ == "__main__":
    sys.exit(main())
