"""Stored records as the API shows them (camelCase, ISO times, JSON decoded)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from schemas.statuses import PAUSED, RETRYING, TERMINAL, WAITING
from steps import registry

# What a step's bar on a timeline is, when it is a wait rather than work.
_WAIT_KINDS = {"delay": "delay", "human": "approval"}


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def workflow(head: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
    """One version of a workflow with the workflow's lifecycle fields."""
    definition = orjson.loads(version["definition"])
    trigger = definition.get("trigger") or {"type": "manual"}
    return {"id": head["id"], **definition, "version": version["version"],
            "latestVersion": head["latest"], "publishedVersion": head["published"],
            "status": head["status"], "enabled": head["enabled"],
            "createdAt": iso(head["created_ms"]), "updatedAt": iso(head["updated_ms"]),
            "createdBy": head["created_by"], "updatedBy": head["updated_by"],
            # reference 002's names for the same facts
            "trigger_type": trigger.get("type", "manual"),
            "trigger_config": {k: v for k, v in trigger.items() if k != "type"},
            "created_at": iso(head["created_ms"])}


def version(head: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    number = record["version"]
    return {"version": number, "createdAt": iso(record["created_ms"]),
            "createdBy": record["created_by"], "stepCount": record["step_count"],
            "latest": number == head["latest"], "published": number == head["published"]}


def step(record: dict[str, Any]) -> dict[str, Any]:
    ended = record["ended_ms"]
    return {"stepId": record["step_id"], "stepType": record["step_type"], "seq": record["seq"],
            "attempt": record["attempt"], "status": record["status"],
            "startTime": iso(record["started_ms"]), "endTime": iso(ended),
            "startedMs": record["started_ms"], "endedMs": ended,
            "duration": None if ended is None else ended - record["started_ms"],
            "output": _json(record["output"]), "error": record["error"],
            "request": _json(record["request"]),
            "errorClass": record.get("error_class"), "waitKind": wait_kind(record["step_type"])}


def wait_kind(step_type: str) -> str | None:
    """delay (a timer) or approval (a person), for the console's timeline; None for work."""
    module = registry.STEP_TYPES.get(step_type)
    return None if module is None else _WAIT_KINDS.get(module.kind)


def run(state: dict[str, Any]) -> dict[str, Any]:
    """A run with its step history; the same body from the live table and the store."""
    body = run_summary(state)
    body["stepExecutionHistory"] = [step(r) for r in state["history"]]
    return body


def run_summary(state: dict[str, Any]) -> dict[str, Any]:
    ended = state["ended_ms"]
    body = {"runId": state["run_id"], "workflowId": state["workflow_id"],
            "workflowVersion": state["workflow_version"], "tenant": state["tenant"],
            "trigger": state["trigger"], "status": state["status"],
            "currentStepId": state["current_step"], "input": _json(state["input"]),
            "result": _json(state["result"]), "error": state["error"],
            "idempotencyKey": state["idempotency_key"],
            "startTime": iso(state["created_ms"]), "endTime": iso(ended),
            "duration": None if ended is None else ended - state["created_ms"],
            "rerunOf": state.get("rerun_of")}
    body["pauseSignal"] = pause_signal(state)
    # when a retrying run's next attempt is due (the live state's timer; null from history)
    body["retryAtMs"] = state.get("timer_due_ms") if state["status"] == RETRYING else None
    if state.get("cancel_reason") and state["status"] not in TERMINAL:
        body["cancelRequested"] = True
    return body


def pause_signal(state: dict[str, Any]) -> Any:
    """003's pauseSignal: what a paused run waits for (its waiting step's request), else null."""
    if state["status"] != PAUSED or not state.get("history"):
        return None
    record = state["history"][-1]
    return _json(record["request"]) if record["status"] == WAITING else None


LOG_OUTPUT_CAP = 16 * 1024  # bytes of JSON per step output in logs


def log_entry(record: dict[str, Any]) -> dict[str, Any]:
    """One step execution as a log line: timing, rendered request, result (capped), error."""
    entry = step(record)
    output = entry.pop("output")
    raw = record["output"] or ""
    if len(raw) > LOG_OUTPUT_CAP:
        entry["output"] = raw[:LOG_OUTPUT_CAP]
        entry["outputTruncated"] = True
    else:
        entry["output"] = output
    if isinstance(output, dict) and isinstance(output.get("status"), int) and "body" in output:
        entry["httpStatus"] = output["status"]
    if record.get("retryable") is not None:
        entry["retryable"] = record["retryable"]
    return entry


def execution(state: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Reference 002's execution shape."""
    ended = state["ended_ms"]
    return {"id": state["run_id"], "workflow_id": state["workflow_id"],
            "version": state["workflow_version"], "status": state["status"],
            "triggered_by": state["trigger"], "started_at": iso(state["created_ms"]),
            "completed_at": iso(ended),
            "duration_ms": None if ended is None else ended - state["created_ms"],
            "error": state["error"],
            "execution_log": [{"step_id": s["step_id"], "step_type": s["step_type"],
                               "status": s["status"], "attempt": s["attempt"],
                               "started_at": iso(s["started_ms"]),
                               "completed_at": iso(s["ended_ms"]),
                               "duration_ms": None if s["ended_ms"] is None
                               else s["ended_ms"] - s["started_ms"], "error": s["error"]}
                              for s in steps]}


def health(workflow_id: str, figures: dict[str, Any]) -> dict[str, Any]:
    """Reference 004's health figures (camelCase), plus the per-window breakdown."""
    body: dict[str, Any] = {"workflowId": workflow_id}
    windows = {}
    for name, w in figures["windows"].items():
        ended = w["completed"] + w["failed"]
        windows[name] = {
            "total": w["started"], "success": w["completed"], "failed": w["failed"],
            "cancelled": w["cancelled"],
            "successRatePercent": None if not ended else round(100 * w["completed"] / ended, 2),
            "averageDurationMs": None if not w["completed"]
            else round(w["completed_ms_sum"] / w["completed"], 1)}
        body[f"totalRuns{name}"] = w["started"]
        body[f"successRuns{name}"] = w["completed"]
        body[f"failedRuns{name}"] = w["failed"]
    body["successRatePercent"] = windows["30d"]["successRatePercent"]
    body["averageDurationMs"] = windows["30d"]["averageDurationMs"]
    body["lastRunAt"] = iso(figures["last_run_ms"])
    body["lastStatus"] = figures["last_status"]
    body["lastError"] = figures["last_error"]
    body["lastErrorAt"] = iso(figures["last_error_ms"])
    body["windows"] = windows
    body["hourly"] = [{"hour": iso(b["hour_ms"]), "hourMs": b["hour_ms"],
                       "started": b["started"], "completed": b["completed"],
                       "failed": b["failed"], "cancelled": b["cancelled"]}
                      for b in figures.get("hourly", ())]
    return body
