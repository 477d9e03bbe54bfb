"""Standard Webhooks signing, secrets and the retry schedule: pure functions, unit-tested.

Kept apart from the deliverer so a receiver (or a test) can check a signature
with exactly the code that made it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as _secrets

PREFIX = "whsec_"
SUBSCRIBABLE = ("run.completed", "run.failed", "run.cancelled", "run.terminated",
                "run.paused", "bulk_job.completed", "bulk_job.failed")


def new_secret() -> str:
    """`whsec_` + base64 of 24 random bytes (the Standard Webhooks form)."""
    return PREFIX + base64.b64encode(_secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "{id}.{ts}.{body}")>`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"content-type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, msg_id, timestamp, body)}


def verify(secret: str, msg_id: str, timestamp: str, body: bytes, header: str) -> bool:
    """Whether any `v1,` signature in the (space-separated) header matches."""
    try:
        expected = signature(secret, msg_id, int(timestamp), body)
    except ValueError:
        return False
    return any(hmac.compare_digest(expected, s) for s in header.split())


def backoff_seconds() -> float:
    """The first retry's wait (HOPFLOW_WEBHOOK_BACKOFF_SECONDS, default 30 s)."""
    return float(os.environ.get("HOPFLOW_WEBHOOK_BACKOFF_SECONDS", "30"))


MAX_DELAY_SECONDS = 4 * 3600.0
GIVE_UP_SECONDS = 86400.0  # a delivery is retried for up to a day after its event


def next_delay(failures: int, base: float, retry_after: float | None = None) -> float:
    """Seconds before attempt `failures + 1`: base * 2^(failures-1), capped at 4 h.

    A peer's Retry-After (429/503) wins when it asks for longer, within the same cap.
    """
    delay = min(base * (2 ** max(0, failures - 1)), MAX_DELAY_SECONDS)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_DELAY_SECONDS))
    return delay


def disable_after() -> int:
    """Consecutive failed attempts (across deliveries) that disable an endpoint."""
    return int(os.environ.get("HOPFLOW_WEBHOOK_DISABLE_AFTER", "100"))
