"""Stored records as the API shows them (camelCase, ISO times, JSON decoded)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def workflow(record: dict[str, Any]) -> dict[str, Any]:
    definition = orjson.loads(record["definition"])
    return {"id": record["id"], **definition, "version": record["version"],
            "status": "active", "createdAt": iso(record["created_ms"]),
            "updatedAt": iso(record["updated_ms"])}


def step(record: dict[str, Any]) -> dict[str, Any]:
    ended = record["ended_ms"]
    return {"stepId": record["step_id"], "stepType": record["step_type"], "seq": record["seq"],
            "attempt": record["attempt"], "status": record["status"],
            "startTime": iso(record["started_ms"]), "endTime": iso(ended),
            "duration": None if ended is None else ended - record["started_ms"],
            "output": _json(record["output"]), "error": record["error"],
            "request": _json(record["request"])}


def run(state: dict[str, Any]) -> dict[str, Any]:
    ended = state["ended_ms"]
    return {"runId": state["run_id"], "workflowId": state["workflow_id"],
            "workflowVersion": state["workflow_version"], "tenant": state["tenant"],
            "trigger": state["trigger"], "status": state["status"],
            "currentStepId": state["current_step"], "input": _json(state["input"]),
            "result": _json(state["result"]), "error": state["error"],
            "idempotencyKey": state["idempotency_key"],
            "startTime": iso(state["created_ms"]), "endTime": iso(ended),
            "duration": None if ended is None else ended - state["created_ms"],
            "stepExecutionHistory": [step(r) for r in state["history"]]}
