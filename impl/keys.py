"""Caller authentication by API key (``X-APP-Key``), off until an operator adds a key.

The published interfaces take no credentials, so with no key in the database every call is
let through. Once one exists, the website's operations need a live key: none is 401, an
unknown or revoked one 403 (DESIGN section 1). Keys are shown once, when made, and kept only as
keyed hashes; each process re-reads them every ``APPLYTRY_SETTINGS_REFRESH_S`` seconds, so a
revocation is in force everywhere within seconds and no request pays a query for it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from applytry.db.models import ApiKey
from applytry.digests import Digests
from applytry.refreshed import Refreshed


class MissingKey(Exception):
    """HTTP 401."""


class WrongKey(Exception):
    """HTTP 403."""


def presented(apikey: str, required_scopes=None) -> dict:
    """connexion's hook for the spec's ``appKey`` scheme. It only passes the key along: whether
    keys are required at all, and 401 versus 403, is :meth:`Keys.authorize`'s to decide."""
    return {"sub": "api-key"}


def create(digests: Digests, name: str, by: str) -> str:
    """Makes a key and returns it; this is the only time it is seen in clear."""
    key_id = secrets.token_hex(4)
    key = f"ak_{key_id}_{secrets.token_urlsafe(24)}"
    ApiKey.create(
        id=key_id,
        digest=digests.api_key(key),
        name=name,
        created_at=time.time(),
        created_by=by,
    )
    return key


def revoke(key_id: str) -> int:
    return (
        ApiKey.update(revoked_at=time.time())
        .where((ApiKey.id == key_id) & ApiKey.revoked_at.is_null())
        .execute()
    )


def listing() -> list[ApiKey]:
    return list(ApiKey.select().order_by(ApiKey.created_at))


def _live_digests() -> tuple[bool, set[str]]:
    """Whether any key exists, and the digests of the live ones."""
    rows = list(ApiKey.select(ApiKey.digest, ApiKey.revoked_at).tuples())
    return bool(rows), {digest for digest, revoked_at in rows if revoked_at is None}


class Keys:
    def __init__(
        self,
        digests: Digests,
        refresh_s: float,
        clock: Callable[[], float] = time.monotonic,
        background: Callable[[Callable[[], object]], bool] | None = None,
    ):
        self.digests = digests
        self._keys = Refreshed(_live_digests, refresh_s, clock, background)

    def authorize(self, presented: str | None) -> None:
        required, live = self._keys.get()
        if not required:
            return
        if not presented:
            raise MissingKey("this service requires an X-APP-Key")
        if self.digests.api_key(presented) not in live:
            raise WrongKey("the X-APP-Key is not valid")
