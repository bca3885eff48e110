"""Operators' allow and deny lists: a number (``+8613800138000``), a number range
(``+86170``) or a country (``CN``), changed at run time with ``applytry rules``.

The most specific entry that matches decides: a number beats a range, a longer range beats a
shorter one, and any of them beats a country. A denied phone gets no SMS (201, as if asked
again too soon); an allowed one is exempt from the number-range caps, the reputation
allowances and the challenges (applytry.pumping), never from its own allowances. Each
process re-reads the lists every ``APPLYTRY_SETTINGS_REFRESH_S`` seconds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from applytry.db.models import PhoneRule
from applytry.phones import Phone
from applytry.refreshed import Refreshed

ALLOW, DENY = "allow", "deny"
_TARGET = re.compile(r"\+[1-9][0-9]{0,14}|[A-Z]{2}")


def check_target(target: str) -> str:
    text = target.strip().upper()
    if not _TARGET.fullmatch(text):
        raise ValueError(f"{target!r} is not +digits (a number or range) or a country code")
    return text


def add(action: str, target: str, by: str) -> None:
    PhoneRule.insert(
        action=action, target=check_target(target), created_at=time.time(), created_by=by
    ).on_conflict_ignore().execute()


def remove(action: str, target: str) -> int:
    return (
        PhoneRule.delete()
        .where((PhoneRule.action == action) & (PhoneRule.target == check_target(target)))
        .execute()
    )


def listing() -> list[PhoneRule]:
    return list(PhoneRule.select().order_by(PhoneRule.target, PhoneRule.action))


class Rules:
    def __init__(
        self,
        refresh_s: float,
        clock: Callable[[], float] = time.monotonic,
        background: Callable[[Callable[[], object]], bool] | None = None,
    ):
        self._rules = Refreshed(
            lambda: [(rule.action, rule.target) for rule in PhoneRule.select()],
            refresh_s,
            clock,
            background,
        )

    def decide(self, phone: Phone) -> str | None:
        """ALLOW, DENY or None for the phone, by its most specific matching entry."""
        best: tuple[int, str] | None = None
        for action, target in self._rules.get():
            if target.startswith("+"):
                if not phone.e164.startswith(target):
                    continue
                rank = len(target)
            elif target == phone.country:
                rank = 0
            else:
                continue
            # At equal rank, deny wins: an operator who wrote both meant to be careful.
            if best is None or (rank, action == DENY) > (best[0], best[1] == DENY):
                best = (rank, action)
        return best[1] if best else None
