"""The database at a distance, for the benchmark: where the servers connect when a delay proxy
stands between them and PostgreSQL, and the round trip they then see."""

from __future__ import annotations

import statistics
import time
from urllib.parse import urlsplit, urlunsplit


def through(url: str, port: int) -> str:
    """``url`` with its host and port replaced by the proxy's on loopback, user and database
    kept."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    netloc = (user + "@" if user else "") + f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def round_trip_ms(url: str, count: int = 200) -> float:
    """The median time of ``SELECT 1`` on one connection to ``url``: the round trip a
    statement costs, proxy and client included, as the servers will see it. The first
    statements are left out: they also teach the proxy how late its timers wake."""
    import psycopg2

    connection = psycopg2.connect(url, connect_timeout=10)
    try:
        connection.autocommit = True
        cursor = connection.cursor()
        times = []
        for _ in range(count + 50):
            start = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            times.append(time.perf_counter() - start)
        return statistics.median(times[50:]) * 1000
    finally:
        connection.close()
