"""Health, readiness and metrics."""

from __future__ import annotations

from connexion.exceptions import ProblemException

from applytry import metrics
from applytry.readiness import not_ready_because
from applytry.services import Services


async def get_health(services: Services):
    return {"status": "ok"}, 200, {"Content-Type": "application/json"}


async def get_readiness(services: Services):
    reason = not_ready_because()
    if reason:
        raise ProblemException(status=503, title="The service is not ready.", detail=reason)
    return {"status": "ready"}, 200, {"Content-Type": "application/json"}


async def get_metrics(services: Services):
    body, content_type = metrics.exposition()
    return body.decode(), 200, {"Content-Type": content_type}
