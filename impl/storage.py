"""Getting the database ready: bound, migrated, and the hashing secret at hand."""

from __future__ import annotations

import logging

import peewee

from applytry.config import Settings
from applytry.db.database import bind, is_sqlite, truncate
from applytry.db.migrations import migrate

log = logging.getLogger(__name__)


def prepare_storage(settings: Settings) -> bytes:
    """Binds the database, brings its schema up to date and returns the hashing secret."""
    bind(settings.database_url, settings.db_lock_timeout_s)
    if is_sqlite():
        _give_back_log_space()
    migrate()
    return settings.resolve_secret()


def _give_back_log_space() -> None:
    """A log left large by the last run (stopped on a full volume, say) is copied back and
    emptied before anything else writes. Best effort: a read-only or still-full volume is
    reported by the first request and by /readyz, and the service recovers once it is fixed."""
    try:
        truncate()
    except peewee.PeeweeException as exc:
        log.warning("could not empty the write-ahead log at start-up: %s", exc)
