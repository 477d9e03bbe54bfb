"""Signing (Standard Webhooks), the backoff schedule and event matching."""

from __future__ import annotations

import base64
import hashlib
import hmac

from streams.webhooks import signing
from streams.webhooks.deliverer import matches


def test_secret_shape_and_signature_matches_the_spec() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    assert signing.new_secret() != secret
    body = b'{"type":"run.completed"}'
    sig = signing.signature(secret, "msg_1", 1700000000, body)
    key = base64.b64decode(secret[6:])
    expected = base64.b64encode(hmac.new(key, b"msg_1.1700000000." + body,
                                         hashlib.sha256).digest()).decode()
    assert sig == "v1," + expected
    headers = signing.headers(secret, "msg_1", 1700000000, body)
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == "1700000000"
    assert signing.verify(secret, "msg_1", "1700000000", body, headers["webhook-signature"])
    assert signing.verify(secret, "msg_1", "1700000000", body, "v1,bogus " + sig)


def test_signature_refuses_changed_body_id_time_or_secret() -> None:
    secret = signing.new_secret()
    sig = signing.signature(secret, "a", 1, b"x")
    assert not signing.verify(secret, "a", "1", b"y", sig)
    assert not signing.verify(secret, "b", "1", b"x", sig)
    assert not signing.verify(secret, "a", "2", b"x", sig)
    assert not signing.verify(signing.new_secret(), "a", "1", b"x", sig)
    assert not signing.verify(secret, "a", "not-a-number", b"x", sig)


def test_backoff_doubles_is_capped_and_honours_retry_after() -> None:
    assert [signing.next_delay(n, 30) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert signing.next_delay(30, 30) == signing.MAX_DELAY_SECONDS
    assert signing.next_delay(1, 30, retry_after=300) == 300  # the peer asked for longer
    assert signing.next_delay(3, 30, retry_after=5) == 120  # never shorter than ours
    assert signing.next_delay(1, 30, retry_after=10**9) == signing.MAX_DELAY_SECONDS
    # a day of retries: the schedule's total passes 24 h, so a delivery does give up
    total, n = 0.0, 0
    while total < signing.GIVE_UP_SECONDS:
        n += 1
        total += signing.next_delay(n, 30)
    assert 10 < n < 40


def test_matching_by_type_workflow_enabled_and_age() -> None:
    event = {"type": "run.failed", "workflowid": "wf1", "time": "2026-01-01T00:00:00.000Z"}
    endpoint = {"enabled": True, "event_types": ["run.failed"], "workflow_id": None,
                "created_ms": 0}
    assert matches(endpoint, event)
    assert not matches({**endpoint, "event_types": ["run.completed"]}, event)
    assert matches({**endpoint, "event_types": ["*"]}, event)
    assert not matches({**endpoint, "workflow_id": "other"}, event)
    assert matches({**endpoint, "workflow_id": "wf1"}, event)
    assert not matches({**endpoint, "enabled": False}, event)
    assert not matches({**endpoint, "created_ms": 1_900_000_000_000}, event)  # older event
