"""Protection against SMS pumping: bots asking codes for ranges of premium numbers they never
use (OWASP API4, API6).

Three defences, on top of the per-phone and per-client limits:

- **Number-range caps**: hourly and daily budgets per range (the country code and the first
  ``APPLYTRY_PREFIX_DIGITS`` national digits), spent in the same transaction as the code.
- **A conversion breaker**: for each range and each country, the share of issued codes that
  are used (checked right by applyTenant) over the last ``APPLYTRY_CONVERSION_WINDOW_S``.
  Once a range or country has issued enough codes to judge and converts under
  ``conversion_min_percent``, it is throttled (201 with Retry-After, nothing sent) until the
  unused codes age out of the window. Counts live in 10-minute buckets in the database, so
  every instance sees the same rate.
- **Operators' lists** (:mod:`applytry.rules`).

Every refusal is counted by reason (``refused-day`` counters, through :mod:`applytry.tally`)
and logged with the masked phone.
"""

from __future__ import annotations

import dataclasses
import logging
import math

from peewee import fn

from applytry import limits, metrics
from applytry.db.compiled import Compiled
from applytry.db.models import Counter
from applytry.phones import Phone
from applytry.rules import ALLOW, DENY, Rules
from applytry.tally import Tally
from applytry.thresholds import Thresholds

log = logging.getLogger(__name__)

BUCKET_S = 600
ISSUED = limits.Budget("issued-10m", BUCKET_S)
USED = limits.Budget("used-10m", BUCKET_S)
DENIED_RETRY_S = 3600


def _window_totals(range_key, country_key, start):
    return (
        Counter.select(Counter.scope, Counter.key, fn.SUM(Counter.count))
        .where(
            Counter.scope.in_([ISSUED.scope, USED.scope])
            & Counter.key.in_([range_key, country_key])
            & (Counter.window >= start)
        )
        .group_by(Counter.scope, Counter.key)
        .tuples()
    )


# Read before every reservation: built once (applytry.db.compiled).
_WINDOW_TOTALS = Compiled(_window_totals, "\x00range", "\x00country", -1_000_001)


@dataclasses.dataclass(frozen=True)
class Screening:
    refusal: str | None = None  # the reason, when refused
    retry_after: int | None = None
    allowed: bool = False  # an operator's allow entry: exempt from range caps and the breaker


class Guard:
    def __init__(self, settings, thresholds: Thresholds, rules: Rules, tally: Tally):
        self.settings = settings
        self.thresholds = thresholds
        self.rules = rules
        self.tally = tally
        self.zone = settings.zone

    def scopes(self, phone: Phone) -> list[str]:
        """The keys a phone's codes are counted under: its range and its country."""
        return ["range:" + phone.prefix(self.settings.prefix_digits), "country:" + phone.country]

    def screen(self, phone: Phone, now: float) -> Screening:
        """Before anything is reserved: the lists, then the conversion breaker."""
        decision = self.rules.decide(phone)
        if decision == DENY:
            return self.refuse(phone, "denied", DENIED_RETRY_S, now)
        if decision == ALLOW:
            return Screening(allowed=True)
        tripped = self._low_conversion(phone, now)
        if tripped:
            return self.refuse(phone, f"conversion-{tripped}", BUCKET_S, now)
        return Screening()

    def spends(self, phone: Phone, allowed: bool) -> list[limits.Spend]:
        """Inside the reservation: the range's hourly and daily caps (unless an operator
        allows the phone), and the issued counts of the conversion breaker."""
        spends = []
        if not allowed:
            key = phone.prefix(self.settings.prefix_digits)
            spends += [
                limits.Spend(limits.PREFIX_HOUR, key, self.thresholds.get("prefix_hourly_limit")),
                limits.Spend(limits.PREFIX_DAY, key, self.thresholds.get("prefix_daily_limit")),
            ]
        return spends + [limits.Spend(ISSUED, scope, None) for scope in self.scopes(phone)]

    def used(self, phone: Phone, now: float) -> None:
        for key in self.scopes(phone):
            limits.count(USED, key, now, self.zone)

    def refuse(self, phone: Phone, reason: str, retry_after: int, now: float) -> Screening:
        self.tally.count(limits.REFUSED_DAY, reason, now)
        metrics.refusals(reason).inc()
        log.info("code refused: %s", reason, extra={"phone": phone.masked, "reason": reason})
        return Screening(refusal=reason, retry_after=retry_after)

    def _low_conversion(self, phone: Phone, now: float) -> str | None:
        window = self.settings.conversion_window_s
        start = math.floor(now / BUCKET_S) * BUCKET_S - window + BUCKET_S
        keys = self.scopes(phone)
        rows = _WINDOW_TOTALS.execute(*keys, start)
        totals = {(scope, key): total for scope, key, total in rows}
        threshold = self.thresholds.get
        minimum = self.thresholds.get("conversion_min_percent")
        for key, volume in zip(
            keys,
            (threshold("conversion_prefix_volume"), threshold("conversion_country_volume")),
            strict=True,
        ):
            issued = totals.get((ISSUED.scope, key), 0)
            used = totals.get((USED.scope, key), 0)
            if issued >= volume and used * 100 < minimum * issued:
                return key.split(":")[0]
        return None
