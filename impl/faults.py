"""Database failures, handled the same way whichever path meets them.

Every path that catches a database failure (a request, the refusal tally, the job runner, the
checkpoint thread, a readiness probe) hands it here: it is classified
(:func:`applytry.db.database.classify`), counted in ``applytry_database_errors_total`` by that
class, logged once (with a stack trace only when the class is unknown), and the connection is
dropped so that the next statement opens a fresh one. A broken database (anything but lock
contention) also makes ``/readyz`` answer 503 for :data:`NOT_READY_S` seconds, so a load
balancer stops sending requests that would fail; it is ready again once writes work.
"""

from __future__ import annotations

import logging
import time

from applytry import metrics
from applytry.db.database import BROKEN, CONTENTION, classify, forget_connection

log = logging.getLogger(__name__)

NOT_READY_S = 5.0
_broken: dict[str, float] = {}  # class -> when this process last met it (monotonic)


def database_failed(exc: BaseException, what: str, **extra) -> str:
    """Handles one failure met while ``what``; returns its class."""
    kind = classify(exc)
    forget_connection()
    metrics.DATABASE_ERRORS.labels(kind).inc()
    if kind != CONTENTION:
        _broken[kind] = time.monotonic()
    log.error(
        "%s: database %s: %s",
        what,
        kind,
        str(exc).strip(),
        exc_info=exc if kind == BROKEN else None,
        extra={"db_error": kind, **extra},
    )
    return kind


def recently_broken() -> str | None:
    """The class of a failure met in the last :data:`NOT_READY_S` seconds, if any."""
    now = time.monotonic()
    for kind, when in _broken.items():
        if now - when < NOT_READY_S:
            return kind
    return None


def forget() -> None:
    """A new app starts with a clean record (one app per process; tests build many)."""
    _broken.clear()
