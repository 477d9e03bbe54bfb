"""Secrets in step configs, without Kafka: kept by the run agent, filled and masked by executors.

Covers the template option the run agent uses, the executor's preparation
(decrypting from a registry stand-in with a real keyring), its redaction of
what leaves a step, the log record masking, the webhook step's HTTP
credentials against a real local peer, and the rotation plan.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from bench.sink import Sink
from hopflow.secrets_cli import plan_rotation
from steps import webhook
from steps.base import ExecContext, Outcome, StepFailed
from steps.redact import MASK
from steps.templates import FENCE, fill_secrets, has_secrets, render, secret_names
from streams import log_redaction
from streams.executor import _execute
from streams.keyring import Keyring, generate_key
from streams.machine import _Run
from streams.step_secrets import Prepared, prepare

KEY = generate_key()
KEYRING = Keyring([KEY])
CONTEXT = {"input": {"name": "Jane", "evil": "{{secrets.tok}}", "nul": "\x00{{secrets.tok}}\x00",
                     "obj": {"a": "\x00{{secrets.tok}}\x00"}},
           "secrets": {}, "steps": {}}


class Registry:
    """What the executor reads: (kind, tenant, id) -> body."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}

    def secret(self, name: str, value: str, tenant: str = "t") -> None:
        self.rows[("secret", tenant, name)] = {"name": name, "ciphertext": KEYRING.encrypt(value)}

    def credential(self, cid: str, ctype: str, public: dict[str, Any], secret: dict[str, str],
                   tenant: str = "t") -> None:
        self.rows[("credential", tenant, cid)] = {
            "id": cid, "type": ctype, "public": public, "secret_names": sorted(secret),
            "ciphertext": KEYRING.encrypt(orjson.dumps(secret).decode())}

    def get(self, kind: str, tenant: str, entry_id: str) -> dict[str, Any] | None:
        return self.rows.get((kind, tenant, entry_id))


# ---------------------------------------------------------------- templates

def test_keep_secrets_leaves_secret_placeholders_for_the_executor() -> None:
    config = {"h": "Bearer {{ secrets.tok }}", "whole": "{{secrets.tok}}",
              "n": "hi {{input.name}}", "list": ["{{secrets.other}}"]}
    kept = render(config, CONTEXT, keep_secrets=True)
    assert kept["n"] == "hi Jane"
    assert kept["h"] == f"Bearer {FENCE}{{{{secrets.tok}}}}{FENCE}"
    assert has_secrets(kept) and secret_names(kept) == {"tok", "other"}
    filled = fill_secrets(kept, {"tok": "S3CR3T", "other": "O"})
    assert filled == {"h": "Bearer S3CR3T", "whole": "S3CR3T", "n": "hi Jane", "list": ["O"]}


def test_without_keep_secrets_secret_placeholders_render_to_nothing() -> None:
    """Pure steps (transform, condition) and output templates: no secrets in the agent."""
    assert render({"a": "x{{secrets.tok}}y", "b": "{{secrets.tok}}"}, CONTEXT) == \
        {"a": "xy", "b": None}


def test_input_cannot_smuggle_a_secret_placeholder() -> None:
    config = {"a": "{{input.evil}}", "b": "see {{input.nul}}", "c": "{{input.nul}}",
              "d": "{{input.obj}}", "e": "x {{input.obj}}"}
    kept = render(config, CONTEXT, keep_secrets=True)
    assert not has_secrets(kept) and secret_names(kept) == set()
    assert kept["a"] == "{{secrets.tok}}"  # plain text, never filled
    assert kept["d"] == {"a": "\ufffd{{secrets.tok}}\ufffd"}
    assert fill_secrets(kept, {"tok": "S3CR3T"}) == kept


def test_machine_dispatches_io_configs_with_secrets_kept() -> None:
    from streams.machine import apply

    definition = {"name": "w", "steps": [{"id": "call", "type": "webhook", "config": {
        "url": "http://127.0.0.1:1/x", "headers": {"Authorization": "Bearer {{secrets.tok}}",
                                                   "X-Who": "{{input.name}}"}}}]}
    command = {"id": "c1", "run_id": "r1", "tenant": "t", "kind": "request", "request": {
        "workflow_id": "w", "workflow_version": 1, "trigger": "api",
        "definition": orjson.dumps(definition).decode(), "input": '{"name": "Jane"}',
        "idempotency_key": None, "body_hash": None}}
    state, effects = apply(None, command, 1000)
    assert effects.dispatch is not None and state is not None
    assert isinstance(_Run(state).context()["secrets"], dict)
    from schemas import codec

    config = orjson.loads(codec("step_dispatch").decode(effects.dispatch)["config"])
    assert config["headers"]["X-Who"] == "Jane"
    assert secret_names(config) == {"tok"}


# ---------------------------------------------------------------- executor preparation

def test_prepare_decrypts_referenced_secrets_only() -> None:
    registry = Registry()
    registry.secret("tok", "S3CR3T")
    registry.secret("unused", "NOPE")
    config = render({"h": "Bearer {{secrets.tok}}"}, CONTEXT, keep_secrets=True)
    prepared = prepare(config, "t", registry, KEYRING)
    assert prepared.config == {"h": "Bearer S3CR3T"}
    assert prepared.plaintexts == ["S3CR3T"]
    assert prepare({"h": "plain"}, "t", registry, KEYRING).plaintexts == []


def test_prepare_fails_for_good_on_missing_secret_or_other_tenant() -> None:
    registry = Registry()
    registry.secret("tok", "S3CR3T", tenant="other")
    config = render({"h": "{{secrets.tok}}"}, CONTEXT, keep_secrets=True)
    with pytest.raises(StepFailed, match="secret 'tok' is not defined") as failed:
        prepare(config, "t", registry, KEYRING)
    assert failed.value.retryable is False


def test_prepare_refuses_a_wrong_key() -> None:
    registry = Registry()
    registry.secret("tok", "S3CR3T")
    config = render({"h": "{{secrets.tok}}"}, CONTEXT, keep_secrets=True)
    with pytest.raises(StepFailed, match="cannot decrypt secret 'tok'"):
        prepare(config, "t", registry, Keyring([generate_key()]))
    with pytest.raises(StepFailed, match="no secrets key configured"):
        prepare(config, "t", registry, Keyring([]))


def test_prepare_resolves_credentials() -> None:
    registry = Registry()
    registry.credential("c1", "http_basic", {"username": "bot"}, {"password": "pw-123"})
    prepared = prepare({"credential_id": "c1"}, "t", registry, KEYRING)
    assert prepared.extras["credential"] == {"type": "http_basic", "username": "bot",
                                             "password": "pw-123"}
    assert prepared.plaintexts == ["pw-123"]
    with pytest.raises(StepFailed, match=r"credential 'gone' not found \(deleted\?\)"):
        prepare({"credential_id": "gone"}, "t", registry, KEYRING)
    with pytest.raises(StepFailed, match="credential_id must be a string"):
        prepare({"credential_id": 7}, "t", registry, KEYRING)


class Echo:
    """A step module that leaks what it was given, as a careless peer would."""

    def __init__(self, fail: bool = False, crash: bool = False) -> None:
        self.fail, self.crash = fail, crash

    async def execute(self, config: dict[str, Any], ctx: ExecContext) -> Outcome:
        token = config["h"]
        request = {"url": f"http://x/?t={token}", "headers": {"X": token}}
        if self.crash:
            raise RuntimeError(f"boom with {token}")
        if self.fail:
            raise StepFailed(f"peer said no to {token}", request=request,
                             output={"echo": token})
        return Outcome(output={"echo": token, "b64": "Basic czpTM0NSM1Q="}, request=request)


@pytest.mark.parametrize("module", [Echo(), Echo(fail=True), Echo(crash=True)])
async def test_executor_masks_the_secret_everywhere_it_leaves(
        module: Echo, caplog: pytest.LogCaptureFixture) -> None:
    log_redaction.install()
    prepared = Prepared({"h": "S3CR3T"}, plaintexts=["S3CR3T"])
    finished: dict[str, Any] = {"ok": False, "error": None, "request": None, "output": None}
    job = {"step_id": "s", "run_id": "r"}
    with caplog.at_level(logging.ERROR), log_redaction.using(prepared.plaintexts):
        await _execute(module, prepared, ExecContext("r", "t", "s", 1), job, finished)
    stored = orjson.dumps(finished).decode()
    assert "S3CR3T" not in stored and "czpTM0NSM1Q" not in stored
    if not module.crash:
        assert MASK in stored
    assert finished["ok"] is (not module.fail and not module.crash)
    assert "S3CR3T" not in caplog.text
    if module.crash:
        assert "boom with" in caplog.text and MASK in caplog.text


def test_log_records_are_masked_only_inside_the_block(caplog: pytest.LogCaptureFixture
                                                      ) -> None:
    log_redaction.install()
    log = logging.getLogger("tests.secrets")
    with caplog.at_level(logging.INFO):
        with log_redaction.using(["S3CR3T"]):
            log.info("calling %s", "http://x/?k=S3CR3T")
            try:
                raise ValueError("S3CR3T in a traceback")
            except ValueError:
                log.exception("failed")
        log.info("outside: %s", "S3CR3T")
    lines = caplog.text
    assert lines.count("S3CR3T") == 1 and "outside: S3CR3T" in lines
    assert f"calling http://x/?k={MASK}" in lines
    assert f"{MASK} in a traceback" in lines


# ---------------------------------------------------------------- webhook credentials

@pytest.mark.parametrize("credential, check", [
    ({"type": "http_bearer", "token": "tok-1"},
     lambda r: r.headers["Authorization"] == "Bearer tok-1"),
    ({"type": "http_basic", "username": "bot", "password": "pw-1"},
     lambda r: r.headers["Authorization"] == "Basic Ym90OnB3LTE="),
    ({"type": "http_api_key", "header_name": "X-Key", "api_key": "k-1", "location": "header"},
     lambda r: {k.lower(): v for k, v in r.headers.items()}["x-key"] == "k-1"),
    ({"type": "http_api_key", "header_name": "key", "api_key": "k-1", "location": "query"},
     lambda r: r.query == {"key": "k-1", "a": "b"}),
])
async def test_webhook_applies_http_credentials(sink: Sink, credential: dict[str, Any],
                                                check: Any) -> None:
    registry = Registry()
    registry.credential("c1", credential["type"],
                        {k: v for k, v in credential.items()
                         if k not in ("type", "token", "password", "api_key")},
                        {k: v for k, v in credential.items()
                         if k in ("token", "password", "api_key")})
    config = {"url": sink.url("/echo"), "method": "POST", "query": {"a": "b"},
              "body": {"x": 1}, "credential_id": "c1"}
    prepared = prepare(config, "t", registry, KEYRING)
    ctx = ExecContext("r", "t", "s", 1)
    ctx.extras.update(prepared.extras)
    finished: dict[str, Any] = {}
    await _execute(webhook, prepared, ctx, {"step_id": "s", "run_id": "r"}, finished)
    assert finished["ok"], finished
    assert check(sink.received[-1])
    stored = orjson.dumps(finished).decode()
    for secret in prepared.plaintexts:
        assert secret not in stored
    assert orjson.loads(finished["request"])["auth"] == credential["type"]


async def test_webhook_refuses_a_non_http_credential() -> None:
    ctx = ExecContext("r", "t", "s", 1, {"credential": {"type": "smtp", "password": "p"}})
    with pytest.raises(StepFailed, match="cannot use a smtp credential"):
        await webhook.execute({"url": "http://127.0.0.1:1/"}, ctx)


def test_webhook_validation_wants_a_string_credential_id() -> None:
    issues = webhook.validate({"url": "http://x/", "credential_id": 3}, "steps[0].config")
    assert [i.field for i in issues] == ["steps[0].config.credential_id"]
    assert webhook.validate({"url": "http://x/", "credential_id": "c1"}, "c") == []


# ---------------------------------------------------------------- rotation plan

def test_rotation_plan_rewrites_only_old_values() -> None:
    old, new = generate_key(), generate_key()
    before = Keyring([old])
    rows = {
        "secret/t/a": {"kind": "secret", "tenant": "t", "id": "a",
                       "body": {"ciphertext": before.encrypt("va")}},
        "secret/t/b": {"kind": "secret", "tenant": "t", "id": "b",
                       "body": {"ciphertext": Keyring([new]).encrypt("vb")}},
        "credential/u/c": {"kind": "credential", "tenant": "u", "id": "c",
                           "body": {"ciphertext": before.encrypt('{"token": "x"}')}},
        "secret/t/z": {"kind": "secret", "tenant": "t", "id": "z",
                       "body": {"ciphertext": Keyring([generate_key()]).encrypt("lost")}},
        "workflow/t/w": {"kind": "workflow", "tenant": "t", "id": "w", "body": {}},
    }
    both = Keyring([new, old])
    commands, current, problems = plan_rotation(rows, both)
    assert current == 1 and len(problems) == 1 and "secret t/z" in problems[0]
    by_op = {(op, payload.get("name") or payload.get("id")): (tenant, payload)
             for tenant, op, payload in commands}
    assert set(by_op) == {("secret.rotate", "a"), ("credential.rotate", "c")}
    tenant, payload = by_op[("secret.rotate", "a")]
    assert tenant == "t" and payload["previous"] == rows["secret/t/a"]["body"]["ciphertext"]
    assert Keyring([new]).decrypt(payload["ciphertext"]) == "va"
