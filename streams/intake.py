"""Intake: turn API calls into commands on the right topics, and read what they did."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson

from schemas import codec
from steps import concurrency
from streams.engine import Engine, now_ms

_RUN_COMMAND = codec("run_command")
_CONTROL_COMMAND = codec("control_command")
_RUN_GATE = codec("run_gate")
_IDEMPOTENCY_NS = uuid.UUID("6f1c7f5e-3b0a-4c55-9a7e-1d2c3b4a5f60")


def new_run_id(tenant: str, workflow_id: str, idempotency_key: str | None) -> str:
    """Random, or derived from the idempotency key so a retried call names the same run."""
    if idempotency_key is None:
        return f"run_{uuid.uuid4().hex}"
    name = f"{tenant}/{workflow_id}/{idempotency_key}"
    return f"run_{uuid.uuid5(_IDEMPOTENCY_NS, name).hex}"


def body_hash(workflow_id: str, payload: Any) -> str:
    canonical = orjson.dumps([workflow_id, payload], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


async def _send_durably(topic: Any, key: str, value: bytes) -> None:
    """Send and wait for the broker's acknowledgement, so an accepted call is never lost."""
    await (await topic.send(key=key, value=value))


async def request_run(engine: Engine, *, run_id: str, tenant: str, workflow: dict[str, Any],
                      input_json: str, idempotency_key: str | None, digest: str | None,
                      trigger: str = "manual", actor: str | None = None,
                      gate: tuple[str, int] | None = None,
                      bulk: dict[str, Any] | None = None,
                      seed: dict[str, Any] | None = None) -> None:
    """Send a run request; with `gate` (key, limit) it waits its turn at the run gate.

    `bulk` ({job, row}) marks a run of a workflow fan-out job: its end reports to the job.
    `seed` ({rerun_of, from_step, reused}) makes it a re-run (streams/machine.py)."""
    command = _RUN_COMMAND.encode({
        "id": f"request:{uuid.uuid4().hex}", "run_id": run_id, "tenant": tenant,
        "ts_ms": now_ms(),
        "kind": "request", "finished": None, "timer_token": None, "reason": None,
        "request": {"workflow_id": workflow["id"], "workflow_version": workflow["version"],
                    "definition": workflow["definition"], "input": input_json,
                    "trigger": trigger, "actor": actor, "idempotency_key": idempotency_key,
                    "body_hash": digest, "gate": gate[0] if gate else None},
        "bulk": bulk, "seed": seed})
    if gate is None:
        await _send_durably(engine.run_commands, run_id, command)
    else:
        await _send_durably(engine.run_gate, gate[0], _RUN_GATE.encode({
            "kind": "request", "gate": gate[0], "run_id": run_id, "limit": gate[1],
            "command": command}))


def gate_of(tenant: str, workflow: dict[str, Any], run_input: dict[str, Any]
            ) -> tuple[str, int] | None:
    """The run-gate (key, limit) of a run of a workflow with a concurrency block, else None."""
    block = workflow.get("concurrency")
    if not block:
        return None
    value, limit = concurrency.key_of(block, run_input)
    return f"{tenant}/{workflow['id']}/{value}", limit


async def control_run(engine: Engine, kind: str, run_id: str, tenant: str,
                      reason: str | None = None, workflow_id: str | None = None) -> None:
    """cancel (graceful), terminate (at once) or delete (an ended run, everywhere)."""
    await _send_durably(engine.run_commands, run_id, _RUN_COMMAND.encode({
        "id": f"{kind}:{uuid.uuid4().hex}", "run_id": run_id, "tenant": tenant,
        "ts_ms": now_ms(), "kind": kind, "reason": reason, "workflow_id": workflow_id}))


async def resume_run(engine: Engine, run_id: str, tenant: str, payload: str) -> None:
    """A paused run's answer (checked by the API): JSON {seq, stepId, output, actor}."""
    await _send_durably(engine.run_commands, run_id, _RUN_COMMAND.encode({
        "id": f"resume:{uuid.uuid4().hex}", "run_id": run_id, "tenant": tenant,
        "ts_ms": now_ms(), "kind": "resume", "payload": payload}))


async def send_control(engine: Engine, tenant: str, op: str, actor: str,
                       payload: dict[str, Any]) -> str:
    """Send a registry command (acknowledged by the broker); returns its id to wait for."""
    command_id = uuid.uuid4().hex
    await _send_durably(engine.control_commands, tenant, _CONTROL_COMMAND.encode({
        "id": command_id, "tenant": tenant, "op": op, "actor": actor,
        "payload": orjson.dumps(payload).decode(), "ts_ms": now_ms()}))
    return command_id


def workflow_head(engine: Engine, tenant: str, workflow_id: str) -> dict[str, Any] | None:
    return engine.registry.get("workflow", tenant, workflow_id)


def workflow_version(engine: Engine, tenant: str, workflow_id: str, version: int
                     ) -> dict[str, Any] | None:
    return engine.registry.get("version", tenant, f"{workflow_id}:{version}")
