"""Standard Webhooks signatures (https://www.standardwebhooks.com), verified by hand.

`webhook-signature` is a space-separated list of `v1,<base64 HMAC-SHA256>` of
`{webhook-id}.{webhook-timestamp}.{body}` keyed by the base64 part of a
`whsec_` secret. Several signatures are accepted (a sender rotating its key
signs with both), a timestamp more than five minutes away is refused (replay),
and signatures are compared in constant time. Written with the standard
library: the `standardwebhooks` package would add httpx, attrs, dateutil and
Deprecated to do these twenty lines, and accepts one secret only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60
MAX_ID_LENGTH = 255


class BadSignature(Exception):
    """Why a signed request is refused (the message is safe to show: it names no secret)."""


def new_secret() -> str:
    """A `whsec_` secret: 32 random bytes, base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    raw = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise ValueError("webhook secret is not base64") from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<signature>` as a sender computes it (tests and outbound deliveries)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes,
           now: float | None = None) -> str:
    """The `webhook-id` of a correctly signed, fresh request; BadSignature otherwise.

    `headers` must answer lower-case names (aiohttp's are case-insensitive).
    """
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise BadSignature("webhook-id, webhook-timestamp and webhook-signature are required")
    if len(msg_id) > MAX_ID_LENGTH:
        raise BadSignature(f"webhook-id longer than {MAX_ID_LENGTH} characters")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise BadSignature("webhook-timestamp is not a Unix time in seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > TOLERANCE_SECONDS:
        raise BadSignature("webhook-timestamp is outside the 5-minute window")
    expected = sign(secret, msg_id, timestamp, body).encode()
    for candidate in signatures.split():
        version, _, _ = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(candidate.encode(), expected):
            return msg_id
    raise BadSignature("no webhook-signature matches")
