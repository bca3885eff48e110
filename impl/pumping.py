"""Protection against SMS pumping: bots asking codes for ranges of premium numbers they never
use (OWASP API4, API6), held off without turning real visitors of the same country away.

Three defences, on top of the per-phone and per-client limits:

- **Number-range caps**: hourly and daily budgets per range (the country code and the first
  ``APPLYTRY_PREFIX_DIGITS`` national digits), spent in the same transaction as the code.
- **Reputation allowances**: a reputation range (the country code and the first
  ``APPLYTRY_REPUTATION_DIGITS`` national digits) may get ``conversion_prefix_volume`` codes
  per window of ``APPLYTRY_CONVERSION_WINDOW_S``, plus ``100 / conversion_min_percent`` for
  each of its codes used (checked right by applyTenant) over the last such window. A range
  with no code used is unproven, and its codes also spend its country's fresh budget
  (``conversion_country_volume`` a window): a burst over many fresh ranges is one attack,
  while ranges with real users keep flowing. Both are budgets spent in the reservation's
  one statement; a request past one is suspicious and, by ``challenge_policy``, is asked
  for a solved challenge (applytry.challenges), which lifts the allowances for that request.
  History lives in 10-minute buckets in the database, so every instance sees the same.
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
# Refusal reasons of the two allowances (a counter's scope holds at most 16 characters).
RANGE_REFUSED, COUNTRY_REFUSED = "reputation-range", "reputation-country"


def _used_since(key, start):
    return Counter.select(fn.SUM(Counter.count)).where(
        (Counter.scope == USED.scope) & (Counter.key == key) & (Counter.window >= start)
    )


# Read before every reservation: built once (applytry.db.compiled).
_USED_SINCE = Compiled(_used_since, "\x00range", -1_000_001)


@dataclasses.dataclass(frozen=True)
class Screening:
    refusal: str | None = None  # the reason, when refused
    retry_after: int | None = None
    allowed: bool = False  # an operator's allow entry: exempt from range caps and reputation


class Guard:
    def __init__(self, settings, thresholds: Thresholds, rules: Rules, tally: Tally):
        self.settings = settings
        self.thresholds = thresholds
        self.rules = rules
        self.tally = tally
        self.zone = settings.zone
        # Fixed windows as long as the history: a range turned away waits at most one window.
        self._range = limits.Budget("rep-range", settings.conversion_window_s)
        self._country = limits.Budget("rep-country", settings.conversion_window_s)
        self._reasons = {self._range: RANGE_REFUSED, self._country: COUNTRY_REFUSED}

    def _keys(self, phone: Phone) -> tuple[str, str]:
        """The keys a phone's history is counted under: its reputation range and country."""
        return "range:" + phone.prefix(self.settings.reputation_digits), "country:" + phone.country

    def screen(self, phone: Phone, now: float) -> Screening:
        """Before anything is reserved: the operators' lists."""
        decision = self.rules.decide(phone)
        if decision == DENY:
            return self.refuse(phone, "denied", DENIED_RETRY_S, now)
        return Screening(allowed=decision == ALLOW)

    def spends(self, phone: Phone, now: float, allowed: bool, solved: bool) -> list[limits.Spend]:
        """For the reservation: the range caps and the reputation allowances (unless an
        operator allows the phone; without limit after a solved challenge), and the history.
        Reads the range's codes used before the transaction: they only grow, so a stale read
        gives a smaller allowance, never a larger one."""
        range_key, country_key = self._keys(phone)
        history = [limits.Spend(ISSUED, range_key, None), limits.Spend(ISSUED, country_key, None)]
        if allowed:
            return history
        prefix = phone.prefix(self.settings.prefix_digits)
        threshold = self.thresholds.get
        caps = [
            limits.Spend(limits.PREFIX_HOUR, prefix, threshold("prefix_hourly_limit")),
            limits.Spend(limits.PREFIX_DAY, prefix, threshold("prefix_daily_limit")),
        ]
        allowances = self._allowances(phone, now)
        if solved:
            allowances = [dataclasses.replace(spend, limit=None) for spend in allowances]
        return caps + allowances + history

    def refused_allowance(self, spend: limits.Spend) -> str | None:
        """The refusal reason if ``spend`` is a reputation allowance, else None."""
        return self._reasons.get(spend.budget)

    def suspicion(self, phone: Phone, now: float) -> float:
        """0 while the phone's range (and, if unproven, its country) is within its allowance,
        rising to 1 at four times the allowance: how hard a challenge to set."""
        allowances = [spend for spend in self._allowances(phone, now) if spend.limit is not None]
        if not allowances:
            return 0.0
        start, _ = self._range.window(now, self.zone)
        counted = dict(
            Counter.select(Counter.scope, Counter.count)
            .where(
                Counter.scope.in_([spend.budget.scope for spend in allowances])
                & Counter.key.in_([spend.key for spend in allowances])
                & (Counter.window == start)
            )
            .tuples()
        )
        over = max(counted.get(spend.budget.scope, 0) / spend.limit for spend in allowances)
        return min(1.0, max(0.0, (over - 1) / 3))

    def used(self, phone: Phone, now: float) -> None:
        """A code checked right: its range earns allowance, in the history of every instance."""
        for key in self._keys(phone):
            limits.count(USED, key, now, self.zone)

    def refuse(self, phone: Phone, reason: str, retry_after: int, now: float) -> Screening:
        self.tally.count(limits.REFUSED_DAY, reason, now)
        metrics.refusals(reason).inc()
        log.info("code refused: %s", reason, extra={"phone": phone.masked, "reason": reason})
        return Screening(refusal=reason, retry_after=retry_after)

    def _allowances(self, phone: Phone, now: float) -> list[limits.Spend]:
        """The range's allowance and, while none of its codes is used, the country's fresh
        budget; ``conversion_min_percent`` 0 lifts both (no use is asked of a range)."""
        range_key, country_key = self._keys(phone)
        start = math.floor(now / BUCKET_S) * BUCKET_S - self.settings.conversion_window_s
        [(used,)] = _USED_SINCE.execute(range_key, start + BUCKET_S)
        used = used or 0
        threshold = self.thresholds.get
        minimum = threshold("conversion_min_percent")
        range_limit = country_limit = None
        if minimum:
            range_limit = threshold("conversion_prefix_volume") + used * 100 // minimum
            country_limit = threshold("conversion_country_volume")
        spends = [limits.Spend(self._range, range_key, range_limit)]
        if not used:
            spends.append(limits.Spend(self._country, country_key, country_limit))
        return spends
