"""Redaction: nested values, overlapping secrets, Basic headers, URL- and JSON-encoded forms."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, urlencode

from steps.redact import MASK, redact, redact_text


def test_nested_structures() -> None:
    value = {
        "url": "https://api.example.com/x?token=tok-123456",
        "headers": {"Authorization": "Bearer tok-123456", "tok-123456": "as key"},
        "body": ["plain", {"deep": ("pw=Passw0rd!", 7, None, True)}],
    }
    out = redact(value, ["tok-123456", "Passw0rd!"])
    assert out == {
        "url": f"https://api.example.com/x?token={MASK}",
        "headers": {"Authorization": f"Bearer {MASK}", MASK: "as key"},
        "body": ["plain", {"deep": (f"pw={MASK}", 7, None, True)}],
    }
    assert "tok-123456" in value["url"], "input must not be modified"


def test_no_secrets_returns_same_object() -> None:
    value = {"a": ["b"]}
    assert redact(value, []) is value
    assert redact(value, ["", ""]) is value
    assert redact(value, iter(())) is value
    assert redact_text("text", []) == "text"


def test_generator_of_secrets_is_read_once() -> None:
    assert redact(["ab-secret", "ab-secret"], (s for s in ["ab-secret"])) == [MASK, MASK]


def test_short_secrets_are_redacted_too() -> None:
    assert redact_text("pin=12;", ["12"]) == f"pin={MASK};"


def test_overlapping_secrets_fully_hidden() -> None:
    text = "x=abcdefghi;y=abc"
    out = redact_text(text, ["defghi", "abcdef", "abc"])
    assert out == f"x={MASK};y={MASK}"
    for part in ("abc", "def", "ghi"):
        assert part not in out
    assert redact_text("secretsecret!", ["secret"]) == f"{MASK}!"


def test_basic_auth_header() -> None:
    b64 = base64.b64encode(b"alice:Tr0ub4dor&3").decode()
    header = f"Basic {b64}"
    assert redact_text(header, ["Tr0ub4dor&3"]) == f"Basic {MASK}"
    assert redact({"Authorization": header}, ["Tr0ub4dor&3"]) == {"Authorization": f"Basic {MASK}"}
    err = f"401 from peer; sent authorization: basic {b64} (retrying)"
    assert redact_text(err, ["Tr0ub4dor&3"]) == \
        f"401 from peer; sent authorization: basic {MASK} (retrying)"


def test_basic_header_without_secret_is_kept() -> None:
    header = "Basic " + base64.b64encode(b"bob:public").decode()
    assert redact_text(header, ["Tr0ub4dor&3"]) == header


def test_url_encoded_forms() -> None:
    secret = "p@ss w/rd&=?"
    url = "https://h/cb?" + urlencode({"key": secret, "q": "1"})
    assert redact_text(url, [secret]) == f"https://h/cb?key={MASK}&q=1"
    path = f"https://h/{quote(secret, safe='')}/x"
    assert redact_text(path, [secret]) == f"https://h/{MASK}/x"


def test_json_escaped_form() -> None:
    secret = 'quo"te\\back'
    body = json.dumps({"error": f"bad token {secret}"})
    out = redact_text(body, [secret])
    assert out == json.dumps({"error": f"bad token {MASK}"}, ensure_ascii=False)


def test_base64_of_secret_alone() -> None:
    encoded = base64.b64encode(b"webhook-secret").decode()
    assert redact_text(f"sig {encoded}", ["webhook-secret"]) == f"sig {MASK}"


def test_non_strings_untouched() -> None:
    assert redact([1, 2.5, None, False, b"bytes"], ["secret"]) == [1, 2.5, None, False, b"bytes"]
