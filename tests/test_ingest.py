"""Webhook ingest without Kafka: Standard Webhooks signatures, body parsing, the token op."""

from __future__ import annotations

import time

import orjson
import pytest

from streams.triggers import signatures
from streams.triggers.ingest import idempotency_key, input_of
from streams.triggers.ingest_topic import BadRecord, parse
from streams.triggers.launch import Refused
from tests.control_table import Table

BODY = b'{"order": 42}'
DEF = {"name": "W", "steps": [{"id": "a", "type": "transform", "config": {"fields": {}}}]}


def signed(secret: str, body: bytes = BODY, *, msg_id: str = "msg_1",
           at: int | None = None, extra: str = "") -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    sig = signatures.sign(secret, msg_id, stamp, body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
            "webhook-signature": f"{extra} {sig}".strip()}


def test_a_valid_signature_gives_the_webhook_id() -> None:
    secret = signatures.new_secret()
    assert secret.startswith("whsec_")
    assert signatures.verify(secret, signed(secret), BODY) == "msg_1"


def test_the_known_standard_webhooks_vector() -> None:
    """The example of the Standard Webhooks spec's reference libraries."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    assert signatures.verify(secret, headers, b'{"test": 2432232314}', now=1614265330) \
        == "msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_several_signatures_one_of_them_current_is_accepted() -> None:
    old, new = signatures.new_secret(), signatures.new_secret()
    stamp = int(time.time())
    by_old = signatures.sign(old, "msg_1", stamp, BODY)
    headers = signed(new, at=stamp, extra=f"v1a,junk {by_old}")
    assert signatures.verify(new, headers, BODY) == "msg_1"
    assert signatures.verify(old, headers, BODY) == "msg_1"
    with pytest.raises(signatures.BadSignature):
        signatures.verify(signatures.new_secret(), headers, BODY)


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_a_timestamp_outside_five_minutes_is_refused(offset: int) -> None:
    secret = signatures.new_secret()
    headers = signed(secret, at=int(time.time()) + offset)
    with pytest.raises(signatures.BadSignature, match="5-minute"):
        signatures.verify(secret, headers, BODY)


def test_a_bad_signature_or_changed_body_is_refused() -> None:
    secret = signatures.new_secret()
    with pytest.raises(signatures.BadSignature):
        signatures.verify(secret, signed(secret), b'{"order": 43}')
    tampered = {**signed(secret), "webhook-id": "msg_2"}
    with pytest.raises(signatures.BadSignature):
        signatures.verify(secret, tampered, BODY)
    with pytest.raises(signatures.BadSignature, match="required"):
        signatures.verify(secret, {"webhook-id": "x"}, BODY)
    with pytest.raises(signatures.BadSignature):
        signatures.verify(secret, {**signed(secret), "webhook-signature": "v1,AAAA"}, BODY)


def test_bodies_become_inputs() -> None:
    assert input_of(BODY, "application/json; charset=utf-8") == {"order": 42}
    assert input_of(b"[1,2]", "application/json") == {"body": [1, 2]}
    assert input_of(b"a=1&b=x&b=y", "application/x-www-form-urlencoded") == \
        {"a": "1", "b": ["x", "y"]}
    assert input_of(b"<x/>", "text/xml") == {"body": "<x/>", "contentType": "text/xml"}
    assert input_of(b"", "application/json") == {}
    with pytest.raises(Refused) as refused:
        input_of(b"{nope", "application/json")
    assert (refused.value.status, refused.value.field) == (400, "body")


def test_webhook_id_is_the_idempotency_key() -> None:
    assert idempotency_key({"webhook-id": "m1"}, None, "ingest:t:0:5") == "webhook:m1"
    assert idempotency_key({}, None, "ingest:t:0:5") == "ingest:t:0:5"
    assert idempotency_key({}, None, None) is None


def test_ingest_records_parse() -> None:
    key, raw, headers = parse(b"t/w", orjson.dumps({"body": {"a": 1},
                                                    "headers": {"Webhook-Id": "m"}}), None)
    assert (key, orjson.loads(raw), headers["webhook-id"]) == ("t/w", {"a": 1}, "m")
    assert headers["content-type"] == "application/json"
    _, raw, headers = parse(b"t/w", orjson.dumps({"body": "a=1", "headers": {
        "content-type": "application/x-www-form-urlencoded"}}), [(b"webhook-id", b"k")])
    assert raw == b"a=1" and headers["webhook-id"] == "k"
    for value in (b"not json", b"[1]", b'{"headers": {}}', b'{"body": 1, "headers": 3}'):
        with pytest.raises(BadRecord):
            parse(b"t/w", value, None)
    with pytest.raises(BadRecord, match="key"):
        parse(None, b'{"body": 1}', None)


def test_token_op_issues_once_and_rotates() -> None:
    table = Table()
    assert table.run("webhook.token", {"workflow_id": "w", "token_hash": "h1", "hint": "x",
                                       "rotate": False})["status"] == 404
    table.run("workflow.create", {"id": "w", "definition": DEF})
    first = table.run("webhook.token", {"workflow_id": "w", "token_hash": "h1", "hint": "x",
                                        "rotate": False})["result"]
    assert first["created"] and not first["verify"]
    assert table.body("ingesttoken/t/h1") == {"tenant": "t", "workflow_id": "w"}
    again = table.run("webhook.token", {"workflow_id": "w", "token_hash": "h2", "hint": "y",
                                        "rotate": False})["result"]
    assert not again["created"] and "ingesttoken/t/h2" not in table
    signed_on = table.run("webhook.token", {"workflow_id": "w", "token_hash": "h3",
                                            "hint": "z", "rotate": True, "verify": "on",
                                            "ciphertext": "c"})["result"]
    assert signed_on["created"] and signed_on["verify"]
    assert "ingesttoken/t/h1" not in table and "ingesttoken/t/h3" in table
    kept = table.run("webhook.token", {"workflow_id": "w", "token_hash": "h4", "hint": "z",
                                       "rotate": True})["result"]
    assert kept["verify"] and table.body("webhook/t/w")["ciphertext"] == "c"
    off = table.run("webhook.token", {"workflow_id": "w", "token_hash": "h5", "hint": "z",
                                      "rotate": True, "verify": "off"})["result"]
    assert not off["verify"]
