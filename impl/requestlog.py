"""One place that sees every request: its id, its access log line and its metrics.

The id comes from ``X-Request-ID`` when the caller (or a proxy) sent a sane one (at most 64
letters, digits and ``._:-``, holding no phone number), else it is made here. It is
echoed in the reply and attached, unmasked, to every log line written while the request is
handled (:class:`RequestIdFilter`), so one id finds all of a request's lines.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid

from applytry import logs, metrics

log = logging.getLogger("applytry.access")

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


class RequestLog:
    """Pure ASGI middleware; ``operations`` maps a request path to its operationId, so metric
    labels stay few whatever paths a scanner tries."""

    def __init__(self, app, operations: dict[str, str]):
        self.app = app
        self.operations = operations

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        sane = _SANE.fullmatch(given) and not logs.names_a_phone(given)
        request_id = given if sane else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def reply(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, reply)
        finally:
            elapsed = time.perf_counter() - started
            operation = self.operations.get(scope["path"], "other")
            metrics.requests(operation, status).inc()
            metrics.latency(operation).observe(elapsed)
            log.info(
                "%s %s %s",
                scope["method"],
                scope["path"] if operation != "other" else "(other)",
                status,
                extra={
                    "operation": operation,
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 1),
                },
            )
            REQUEST_ID.reset(token)
