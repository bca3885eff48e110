"""Health, readiness and metrics."""

from __future__ import annotations

import asyncio

from connexion.exceptions import ProblemException

from applytry import metrics
from applytry.readiness import not_ready_because
from applytry.services import Services


async def get_health(services: Services):
    return {"status": "ok"}, 200, {"Content-Type": "application/json"}


async def get_readiness(services: Services):
    # In a statement thread, within a bound: a database that does not answer at all (a hung
    # server or proxy) must make this 503, not hang the probe and the worker's event loop.
    wait_s = services.settings.db_lock_timeout_s + 1
    try:
        reason = await asyncio.wait_for(services.statements.run(not_ready_because), wait_s)
    except TimeoutError:
        reason = f"database not answering within {wait_s:g} s"
    if reason:
        raise ProblemException(status=503, title="The service is not ready.", detail=reason)
    return {"status": "ready"}, 200, {"Content-Type": "application/json"}


async def get_metrics(services: Services):
    body, content_type = metrics.exposition()
    return body.decode(), 200, {"Content-Type": content_type}
