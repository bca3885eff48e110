"""Retention: what the service stops keeping, and when (DESIGN section 3).

Dead verification data goes once it is older than ``APPLYTRY_RETENTION_DAYS`` (30): codes,
budget counters, the SMS log, finished jobs; lapsed application holds and spent challenges go
once they expire. Tenants, access codes, keys, rules and the settings audit trail stay. Every
statement deletes only rows that are past the cut-off, so any number of purges may run at
once, on every instance, from cron.
"""

from __future__ import annotations

import dataclasses

from applytry.db.models import (
    ApplicationLock,
    Counter,
    Job,
    SmsMessage,
    SpentChallenge,
    Verification,
)

DAY_S = 86400


@dataclasses.dataclass(frozen=True)
class PurgeReport:
    removed: dict[str, int]

    def __str__(self) -> str:
        return ", ".join(f"{count} {table}" for table, count in self.removed.items())


def purge(now: float, retention_days: int) -> PurgeReport:
    cutoff = now - retention_days * DAY_S
    removed = {
        "verification": Verification.delete().where(Verification.expires_at < cutoff).execute(),
        "counter": Counter.delete().where(Counter.ends < cutoff).execute(),
        "sms_message": SmsMessage.delete().where(SmsMessage.created_at < cutoff).execute(),
        "job": Job.delete().where((Job.status == "done") & (Job.done_at < cutoff)).execute(),
        "application_lock": ApplicationLock.delete()
        .where(ApplicationLock.expires_at < now)
        .execute(),
        # An expired challenge is refused as expired: its record of use is needed no more.
        "spent_challenge": SpentChallenge.delete().where(SpentChallenge.expires_at < now).execute(),
    }
    return PurgeReport(removed)
