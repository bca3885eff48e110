"""Thresholds that operators change at run time (DESIGN section 2, the ones marked *).

The environment gives each its default; a value set with ``applytry settings set`` is stored in
the database and overrides it on every instance. Each process re-reads the stored values at
most every ``APPLYTRY_SETTINGS_REFRESH_S`` seconds (2), so a change takes effect everywhere
within seconds, without a restart and without a query per request. Every change is audited.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from applytry.config import Settings, convert
from applytry.db.database import write_transaction
from applytry.db.models import Setting, SettingChange
from applytry.refreshed import Refreshed

TUNABLE = (
    "phone_hourly_limit",
    "phone_daily_limit",
    "ip_per_minute",
    "sms_daily_limit",
    "email_daily_limit",
    "prefix_hourly_limit",
    "prefix_daily_limit",
    "conversion_min_percent",
    "conversion_prefix_volume",
    "conversion_country_volume",
    "challenge_policy",
    "challenge_min_number",
    "challenge_max_number",
)


class UnknownSetting(KeyError):
    def __str__(self) -> str:
        return f"{self.args[0]!r} is not a run-time setting; they are: {', '.join(TUNABLE)}"


class Thresholds:
    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        background: Callable[[Callable[[], object]], bool] | None = None,
    ):
        self.settings = settings
        self._stored = Refreshed(stored, settings.settings_refresh_s, clock, background)

    def get(self, name: str):
        _check(name)
        return self._stored.get().get(name, getattr(self.settings, name))

    def effective(self) -> dict[str, tuple[object, str]]:
        """Every threshold with where its value comes from (``database`` or ``environment``)."""
        current = stored()
        return {
            name: (current[name], "database")
            if name in current
            else (getattr(self.settings, name), "environment")
            for name in TUNABLE
        }


def stored() -> dict[str, object]:
    """The values operators stored, each read as the environment's would be."""
    return {
        row.name: convert(row.name, row.value) for row in Setting.select() if row.name in TUNABLE
    }


# Pairs that must stay in order, as at start-up (Settings.problems): a least above a most.
ORDERED = (("challenge_min_number", "challenge_max_number"),)


def change(
    name: str,
    value: str | None,
    by: str,
    now: float | None = None,
    settings: Settings | None = None,
) -> None:
    """Stores ``value`` for ``name`` (None: back to the environment's default), audited.
    Raises ValueError for a bad value, or one out of order with its pair's value now in
    force (stored, else ``settings``'s)."""
    _check(name)
    text = None if value is None else str(convert(name, value))
    now = time.time() if now is None else now
    with write_transaction():
        _keep_in_order(name, text, settings)
        old = Setting.get_or_none(Setting.name == name)
        if text is None:
            Setting.delete().where(Setting.name == name).execute()
        else:
            Setting.insert(name=name, value=text, updated_at=now, updated_by=by).on_conflict(
                conflict_target=[Setting.name],
                preserve=[Setting.value, Setting.updated_at, Setting.updated_by],
            ).execute()
        SettingChange.create(
            name=name,
            old_value=old.value if old else None,
            new_value=text,
            changed_at=now,
            changed_by=by,
        )


def _keep_in_order(name: str, text: str | None, settings: Settings | None) -> None:
    for least, most in ORDERED:
        if name not in (least, most):
            continue
        current = stored()
        other = most if name == least else least
        if other in current:
            value = current[other]
        elif settings is not None:
            value = getattr(settings, other)
        else:
            continue
        mine = convert(name, text) if text is not None else getattr(settings, name, None)
        if mine is None:
            continue
        low, high = (mine, value) if name == least else (value, mine)
        if low > high:
            raise ValueError(f"{least} ({low}) must not exceed {most} ({high})")


def _check(name: str) -> None:
    if name not in TUNABLE:
        raise UnknownSetting(name)
