"""Prometheus metrics, right with any number of worker processes.

With several workers, ``applytry serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
folder before they start: each worker is a new interpreter that sees the variable before it
imports prometheus_client (the client picks its storage at import), writes its samples there,
and a scrape of ``GET .../metrics`` on any worker adds them all up. Without that variable (one
worker, tests) the process's own registry is served. The two must agree: a process that
imported prometheus_client before the variable was set keeps its samples in memory, and would
serve an empty folder (applytry.cli._metrics_folder).
"""

from __future__ import annotations

import functools
import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
# The text format (0.0.4) every Prometheus reads; plain "text/plain" is how it is announced,
# because connexion matches a reply's media type against the spec's without parameters.
CONTENT_TYPE = "text/plain"

REQUESTS = Counter("applytry_requests_total", "HTTP requests answered", ["operation", "status"])
LATENCY = Histogram(
    "applytry_request_duration_seconds",
    "Time to answer a request",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTCOMES = Counter(
    "applytry_outcomes_total", "Business outcomes: retCode and returnCode", ["operation", "code"]
)
SMS = Counter("applytry_sms_total", "SMS send attempts by outcome", ["backend", "outcome"])
SMS_LATENCY = Histogram(
    "applytry_sms_send_seconds",
    "Time the SMS gateway took to answer",
    ["backend"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
BREAKER = Gauge(
    "applytry_sms_breaker_open",
    "1 while an SMS backend's circuit is open in some process",
    ["backend"],
    multiprocess_mode="max",
)
REFUSALS = Counter("applytry_refusals_total", "Codes refused, by reason", ["reason"])
CHALLENGES = Counter(
    "applytry_challenges_total",
    "Challenges issued, and solutions by outcome: solved, failed, expired, replayed",
    ["outcome"],
)
RECEIPTS = Counter("applytry_sms_receipts_total", "Delivery receipts", ["backend", "receipt"])
DATABASE_ERRORS = Counter("applytry_database_errors_total", "Database failures", ["kind"])


# A labelled child costs a lookup under a lock; the label sets are few and fixed (operations
# from the spec, closed code sets, HTTP statuses), so each child is looked up once.
@functools.lru_cache(maxsize=512)
def outcome(operation: str, code: str):
    return OUTCOMES.labels(operation, code)


@functools.lru_cache(maxsize=512)
def requests(operation: str, status: int):
    return REQUESTS.labels(operation, str(status))


@functools.lru_cache(maxsize=64)
def refusals(reason: str):
    return REFUSALS.labels(reason)


@functools.lru_cache(maxsize=8)
def challenges(outcome: str):
    return CHALLENGES.labels(outcome)


@functools.lru_cache(maxsize=64)
def latency(operation: str):
    return LATENCY.labels(operation)


def exposition() -> tuple[bytes, str]:
    """The scrape: every worker's samples when they share a folder, else this process's."""
    if os.environ.get(MULTIPROC_DIR):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE
    return generate_latest(), CONTENT_TYPE


def worker_exited(pid: int) -> None:
    if os.environ.get(MULTIPROC_DIR):
        _multiprocess.mark_process_dead(pid)
