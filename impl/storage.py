"""Getting the database ready: bound, migrated, and the hashing secret at hand."""

from __future__ import annotations

from applytry.config import Settings
from applytry.db.database import bind
from applytry.db.migrations import migrate


def prepare_storage(settings: Settings) -> bytes:
    """Binds the database, brings its schema up to date and returns the hashing secret."""
    bind(settings.database_url, settings.db_lock_timeout_s)
    migrate()
    return settings.resolve_secret()
