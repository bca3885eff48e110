"""A circuit breaker in front of an SMS backend.

After ``failures`` transport failures in a row (no connection, a 5xx, no answer in time) the
breaker opens: for ``cooldown_s`` the service answers 204 at once, spending no budget and
holding no request for the gateway's full timeout. Then one request is let through as a probe;
its success closes the breaker, its failure opens it again. A refusal (4xx) is an answer, so it
counts as the gateway being up. State is per process; every change is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from applytry import metrics

from . import Delivery, SendResult, Sms, SmsSender

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
_DOWN = (Delivery.FAILED, Delivery.UNCONFIRMED)


class Breaker:
    def __init__(
        self,
        sender: SmsSender,
        failures: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.sender = sender
        self.name = sender.name
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.probing = False

    def ready(self) -> bool:
        """Whether a message may go to the gateway now."""
        if self.state == OPEN and self.clock() - self.opened_at >= self.cooldown_s:
            self._change(HALF_OPEN)
        if self.state == HALF_OPEN:
            return not self.probing
        return self.state == CLOSED

    def turned_away(self) -> None:
        """Counts a message not sent because the circuit is open (applytry_sms_total's
        circuit-open), whether the caller asked ready() first or sent straight away."""
        metrics.SMS.labels(self.name, "circuit-open").inc()

    async def send(self, sms: Sms) -> SendResult:
        if not self.ready():
            self.turned_away()
            return SendResult(Delivery.FAILED, detail=f"{self.name}: circuit open")
        probe = self.state == HALF_OPEN
        self.probing = probe
        started = time.perf_counter()
        try:
            result = await self.sender.send(sms)
        finally:
            self.probing = False
        metrics.SMS_LATENCY.labels(self.name).observe(time.perf_counter() - started)
        metrics.SMS.labels(self.name, result.delivery.value).inc()
        if result.delivery in _DOWN:
            self.failures += 1
            if probe or self.failures >= self.threshold:
                self.opened_at = self.clock()
                self._change(OPEN)
        else:
            self.failures = 0
            if self.state != CLOSED:
                self._change(CLOSED)
        return result

    def _change(self, state: str) -> None:
        log.warning(
            "sms circuit %s",
            state,
            extra={"backend": self.name, "breaker": state, "failures": self.failures},
        )
        self.state = state
        metrics.BREAKER.labels(self.name).set(1 if state == OPEN else 0)

    async def aclose(self) -> None:
        await self.sender.aclose()
