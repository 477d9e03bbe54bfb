"""Webhook ingest, one way for both doors: the public HTTP URL and the `ingest` topic.

A delivery (raw body bytes, lower-case headers) names its workflow by ingest
token (looked up by SHA-256, compared in constant time) or, on the topic only,
by `tenant/workflow_id`. When the workflow has a Standard Webhooks secret the
signature is checked first (401, nothing started), then the body becomes the
run's input and `launch()` starts the run. `webhook-id` is the idempotency key,
so a sender's retry (over either door) names the run it already started.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from streams.engine import Engine
from streams.keyring import KeyringError
from streams.triggers import signatures
from streams.triggers.launch import Launch, Refused, launch

TOKEN_PREFIX = "whk_"
UNKNOWN_TOKEN = "unknown ingest token"  # the same answer for a token never issued or rotated


@dataclass(frozen=True)
class Target:
    tenant: str
    workflow_id: str
    config: dict[str, Any] | None  # the workflow's webhook row (token, secret), if any


def new_token() -> tuple[str, str, str]:
    """(token to show, its sha256 hex to store, a masked hint)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token), f"{TOKEN_PREFIX}…{token[-4:]}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def by_token(engine: Engine, token: str) -> Target:
    """The workflow a token names; Refused(404) for an unknown or rotated one."""
    digest = hash_token(token)
    found = engine.registry.lookup("ingesttoken", digest)
    if found is None:
        raise Refused(404, UNKNOWN_TOKEN)
    tenant, body = found
    config = engine.registry.get("webhook", tenant, body["workflow_id"])
    # the index row and the workflow's current token must agree (a rotation in flight)
    if config is None or not hmac.compare_digest(config["token_hash"], digest):
        raise Refused(404, UNKNOWN_TOKEN)
    return Target(tenant, body["workflow_id"], config)


def by_key(engine: Engine, key: str) -> Target:
    """An ingest-topic key: an ingest token, or `tenant/workflow_id`."""
    if key.startswith(TOKEN_PREFIX):
        return by_token(engine, key)
    tenant, sep, workflow_id = key.partition("/")
    if not sep or not tenant or not workflow_id:
        raise Refused(400, "key must be an ingest token or tenant/workflow_id", field="key")
    return Target(tenant, workflow_id, engine.registry.get("webhook", tenant, workflow_id))


def verified_id(engine: Engine, target: Target, headers: Mapping[str, str], raw: bytes
                ) -> str | None:
    """The checked `webhook-id` when the workflow signs; Refused(401) for a bad signature."""
    config = target.config
    if config is None or config.get("ciphertext") is None:
        return None
    try:
        secret = engine.keyring.decrypt(config["ciphertext"])
    except KeyringError:
        raise Refused(503, "the webhook signing secret cannot be decrypted on this worker"
                      ) from None
    try:
        return signatures.verify(secret, headers, raw)
    except signatures.BadSignature as exc:
        raise Refused(401, str(exc), field="webhook-signature") from None


def input_of(raw: bytes, content_type: str) -> dict[str, Any]:
    """JSON object as is, form fields as a dict, anything else as {body, contentType}."""
    media = content_type.split(";", 1)[0].strip().lower()
    if not raw.strip():
        return {}
    if media == "application/json" or media.endswith("+json"):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Refused(400, f"body is not valid JSON: {exc}", field="body") from None
        return value if isinstance(value, dict) else {"body": value}
    text = raw.decode("utf-8", errors="replace")
    if media == "application/x-www-form-urlencoded":
        fields = parse_qs(text, keep_blank_values=True)
        return {k: v[0] if len(v) == 1 else v for k, v in fields.items()}
    return {"body": text, "contentType": media or None}


def idempotency_key(headers: Mapping[str, str], verified: str | None,
                    fallback: str | None) -> str | None:
    """`webhook-id` (checked when signed), else the caller's fallback (topic position)."""
    msg_id = verified or headers.get("webhook-id")
    if msg_id:
        if len(msg_id) > signatures.MAX_ID_LENGTH:
            raise Refused(400, f"webhook-id longer than {signatures.MAX_ID_LENGTH} characters",
                          field="webhook-id")
        return f"webhook:{msg_id}"
    return fallback


async def deliver(engine: Engine, target: Target, raw: bytes, headers: Mapping[str, str],
                  *, trigger: str, fallback_key: str | None = None) -> str:
    """Verify, parse and launch one delivery: the run id, or Refused."""
    verified = verified_id(engine, target, headers, raw)
    payload = input_of(raw, headers.get("content-type", ""))
    key = idempotency_key(headers, verified, fallback_key)
    return await launch(engine, Launch(target.tenant, target.workflow_id, payload, trigger,
                                       idempotency_key=key, actor=f"{trigger}:ingest"))
