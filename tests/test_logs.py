"""hopflow/logs.py and topics/kafka_security.py alone: formats, the level policy, options."""

from __future__ import annotations

import logging
import sys

import orjson
import pytest

from hopflow.logs import DemoteTransient, JsonFormatter, TextFormatter
from streams import log_context, log_redaction
from topics.kafka_security import KafkaSecurity, KafkaSecurityError


def record(name: str, level: int, msg: str, *args: object,
           exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.getLogger(name).makeRecord(name, level, __file__, 1, msg, args, exc_info)


def test_json_line_has_the_fields_and_the_run_context_only_inside_a_run() -> None:
    outside = orjson.loads(JsonFormatter().format(record("x", logging.INFO, "hi %s", "you")))
    assert outside["message"] == "hi you" and outside["level"] == "INFO"
    assert outside["logger"] == "x" and outside["ts"].endswith("+00:00")
    assert "run_id" not in outside
    token = log_context.bind("run_1", "acme", "wf_1", "call")
    try:
        inside = orjson.loads(JsonFormatter().format(record("httpx", logging.WARNING, "w")))
    finally:
        log_context.reset(token)
    assert (inside["run_id"], inside["step_id"], inside["tenant"], inside["workflow_id"]) \
        == ("run_1", "call", "acme", "wf_1")
    assert log_context.current() is None


def test_traceback_is_a_field_and_masked_while_a_step_uses_a_secret() -> None:
    log_redaction.install()
    with log_redaction.using(["s3cr3t-value"]):
        rec = record("steps", logging.ERROR, "failed with s3cr3t-value", exc=True)
    line = orjson.loads(JsonFormatter().format(rec))
    assert "RuntimeError: boom" in line["traceback"]
    assert "s3cr3t-value" not in orjson.dumps(line).decode()


def test_text_lines_name_the_run() -> None:
    token = log_context.bind("run_2", "acme", "wf_2")
    try:
        text = TextFormatter(None).format(record("x", logging.INFO, "hello"))
    finally:
        log_context.reset(token)
    assert text.endswith("hello [run=run_2 tenant=acme workflow=wf_2]")


def test_known_transient_library_errors_become_info() -> None:
    demote = DemoteTransient(logging.WARNING)
    noise = record("aiokafka.consumer.group_coordinator", logging.ERROR,
                   "Group Coordinator Request failed: %s", "[Error 15] "
                   "GroupCoordinatorNotAvailableError")
    assert demote.filter(noise) is False  # below the handler's WARNING: dropped
    assert noise.levelname == "INFO"
    assert DemoteTransient(logging.INFO).filter(
        record("aiokafka.x", logging.ERROR, "LeaderNotAvailable")) is True
    real = record("aiokafka.conn", logging.ERROR, "Unable to request metadata")
    assert demote.filter(real) is True and real.levelname == "ERROR"
    ours = record("streams.run_agent", logging.ERROR, "GroupCoordinatorNotAvailable")
    assert demote.filter(ours) is True and ours.levelname == "ERROR"  # only libraries


def test_kafka_security_options() -> None:
    assert KafkaSecurity().client_options() == {"security_protocol": "PLAINTEXT"}
    assert KafkaSecurity().faust_credentials() is None
    sasl = KafkaSecurity(protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                         sasl_username="u", sasl_password="hunter2-pw")
    assert sasl.client_options() == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "u", "sasl_plain_password": "hunter2-pw"}
    assert "hunter2-pw" not in repr(sasl)
    creds = sasl.faust_credentials()
    assert creds.mechanism.value == "SCRAM-SHA-512" and creds.protocol.value == "SASL_PLAINTEXT"
    tls = KafkaSecurity(protocol="SASL_SSL", sasl_username="u", sasl_password="p")
    assert tls.client_options()["ssl_context"] is not None
    assert tls.faust_credentials().protocol.value == "SASL_SSL"
    for bad in ({"protocol": "TLS"}, {"protocol": "SASL_SSL"},
                {"protocol": "SASL_PLAINTEXT", "sasl_mechanism": "GSSAPI",
                 "sasl_username": "u", "sasl_password": "p"},
                {"ssl_certfile": "/c.pem"}):
        with pytest.raises(KafkaSecurityError):
            KafkaSecurity(**bad)


def test_kafka_security_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPFLOW_KAFKA_SECURITY_PROTOCOL", "sasl_plaintext")
    monkeypatch.setenv("HOPFLOW_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("HOPFLOW_KAFKA_SASL_PASSWORD", "pw")
    security = KafkaSecurity.from_env()
    assert (security.protocol, security.sasl_mechanism, security.sasl_username) \
        == ("SASL_PLAINTEXT", "PLAIN", "svc")


def test_settings_repr_has_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Settings printed in a log line or a traceback's locals must not carry a secret."""
    from streams.settings import Settings
    values = {"SECRETS_KEYS": "fernet-key-sekrit", "JWT_SECRET": "jwt-sekrit",
              "COMPANY_PROVIDER_TOKEN": "company-sekrit", "DARKWEB_PROVIDER_TOKEN": "dw-sekrit",
              "GOOGLE_PROVIDER_TOKEN": "google-sekrit",
              "HISTORY": "postgresql://hopflow:pg-sekrit@db/hopflow",
              "FILE_STORE_SECRET_ACCESS_KEY": "s3-sekrit",
              "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "u",
              "KAFKA_SASL_PASSWORD": "kafka-sekrit"}
    for name, v in values.items():
        monkeypatch.setenv(f"HOPFLOW_{name}", v)
    text = repr(Settings())
    assert "sekrit" not in text, text


def test_json_line_survives_bad_args_and_surrogates() -> None:
    """A caller's bad format args or an undecodable byte must not cost the line."""
    bad = JsonFormatter().format(record("x", logging.ERROR, "count %d", "not-a-number"))
    assert orjson.loads(bad)["level"] == "ERROR" and "count %d" in orjson.loads(bad)["message"]
    odd = JsonFormatter().format(record("x", logging.ERROR, "file %s", b"\xff".decode(
        "utf-8", "surrogateescape")))
    assert orjson.loads(odd)["message"].startswith("file ")
    assert "\n" not in odd


def test_transient_lines_that_persist_are_errors_again() -> None:
    """A coordinator that never comes back (a broker down for good) must reach the operator:
    demoted during the first minute of a streak, ERROR after it, demoted again once a quiet
    minute ended the streak."""
    demote = DemoteTransient(logging.WARNING)

    def line(at: float) -> logging.LogRecord:
        r = record("aiokafka.consumer.group_coordinator", logging.ERROR,
                   "Group Coordinator Request failed: GroupCoordinatorNotAvailableError")
        r.created = at
        return r
    t0 = 1_000_000.0
    for at in (t0, t0 + 5, t0 + 30, t0 + 59):
        assert demote.filter(line(at)) is False
    for at in (t0 + 61, t0 + 90, t0 + 150):
        late = line(at)
        assert demote.filter(late) is True and late.levelname == "ERROR"
    assert demote.filter(line(t0 + 150 + 61)) is False  # after a quiet minute: a new streak
