"""The app factory: one connexion app per process, wired from settings.

The spec (``openapi.yaml``) routes and validates; this module only binds the handlers it names
to this process's services, maps errors to problems and adds the body limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib
import re
import time
from collections.abc import Callable

import connexion
from connexion.resolver import Resolver
from connexion.security import ApiKeySecurityHandler

from applytry import contract, cors, docs, faults, framework, logs, problems, signup
from applytry.bodylimit import BodyLimitMiddleware
from applytry.config import Settings
from applytry.db.database import checkpoint_forever
from applytry.requestlog import RequestLog
from applytry.services import Services, build_services
from applytry.storage import prepare_storage

SPEC = contract.PATH
TALLY_FLUSH_S = 1.0  # how far refusal counts may lag (applytry.tally)
CHECKPOINT_S = 1.0  # how often SQLite's write-ahead log is copied back (db.database)


class BoundResolver(Resolver):
    """Finds ``<controller>.<operationId>`` as a snake_case function and binds ``services`` as
    its first argument, so handlers need no module-level state."""

    def __init__(self, services: Services):
        super().__init__(function_resolver=self._resolve)
        self.services = services

    def _resolve(self, operation_id: str):
        module_name, _, name = operation_id.rpartition(".")
        function = getattr(importlib.import_module(module_name), _snake_case(name))
        return functools.partial(function, self.services)


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], float] = time.time,
    configure_logging: bool = True,
    validate_responses: bool = False,
    tuned: bool = True,
) -> connexion.AsyncApp:
    """The app for ``settings`` (default: the environment). ``validate_responses`` checks
    every reply against the spec, at a cost per request: on in tests, off in production.
    ``tuned=False`` builds the same app on stock connexion, without :mod:`applytry.framework`'s
    per-operation caches: the oracle of the differential tests, never served."""
    settings = settings or Settings.from_env()
    if configure_logging:
        logs.configure(settings.log_level)
    services = build_services(settings, prepare_storage(settings), clock)
    faults.forget()

    outer = [functools.partial(RequestLog, operations=operation_paths())]
    if settings.cors_origins:
        outer.append(cors.allowed_origins(settings.cors_origins))
    app = connexion.AsyncApp(
        __name__,
        lifespan=lifespan(services),
        swagger_ui_options=docs.SWAGGER_UI,
        security_map={"apiKey": KeysDecide},
        middlewares=framework.middlewares(
            validate_responses=validate_responses,
            outer=outer,
            unrouted=[BodyLimitMiddleware],
            tuned=tuned,
        ),
    )
    if tuned:
        framework.handle_once(app)
    app.add_api(
        contract.document(),
        resolver=BoundResolver(services),
        validate_responses=validate_responses,
        validator_map=framework.validator_map() if tuned else None,
    )
    problems.register(app)
    docs.publish(app)
    signup.publish(app, settings.signup_page == "on")
    return app


class KeysDecide(ApiKeySecurityHandler):
    """connexion's check of the spec's ``appKey`` requirement, which lets every request
    through: whether keys are required at all (only once one exists), and 401 against 403,
    is decided by :meth:`applytry.keys.Keys.authorize` in the handler, from keys every
    instance refreshes. connexion would answer 401 to a missing key, keys or not."""

    def _get_verify_func(self, api_key_info_func, loc, name, required_scopes):
        return lambda _request: {"sub": "api-key"}


def checkpoint_failed(exc: Exception) -> None:
    faults.database_failed(exc, "checkpoint failed")


def lifespan(services: Services):
    """What a process does besides answering requests, from start to stop: retrying jobs,
    writing refusal counts, checkpointing SQLite; and, at the stop, the last counts and the
    gateways' connections."""

    @contextlib.asynccontextmanager
    async def running(_app):
        # What start-up built (the spec, its validators, modules) lives as long as the process:
        # kept out of the collector's full passes, which otherwise scan it all and pause
        # every request of the worker for tens of milliseconds, a few times a minute under load.
        gc.collect()
        gc.freeze()
        tasks = [
            asyncio.create_task(services.runner.retry_forever(services.settings.job_retry_s)),
            asyncio.create_task(
                services.tally.flush_forever(TALLY_FLUSH_S, services.statements.run)
            ),
            asyncio.create_task(checkpoint_forever(CHECKPOINT_S, checkpoint_failed)),
        ]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        services.tally.flush()
        await services.aclose()

    return running


def operation_paths() -> dict[str, str]:
    """Request path -> operationId, from the spec."""
    document = contract.document()
    base = document["servers"][0]["url"].rstrip("/")
    return {
        base + path: operation["operationId"]
        for path, item in document["paths"].items()
        for operation in item.values()
    }
