"""Signed JSON for receivers of our webhooks (SMS delivery, tenant provisioning).

The receiver checks ``X-Applytry-Signature: v1=<hex>``, an HMAC-SHA256 under the shared key
over ``<X-Applytry-Timestamp>.<body>``, and can refuse stale timestamps to stop replays.
"""

from __future__ import annotations

import hashlib
import hmac
import time


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    return "v1=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(key: bytes, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-Applytry-Timestamp": timestamp,
        "X-Applytry-Signature": signature(key, timestamp, body),
    }
