"""Run lifecycle events: the type names and the CloudEvents envelope.

The state machine builds them, the history projector reads them, and
upstream services consume `run-events`: one definition for all three.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from schemas.avro import codec

RUN_STARTED = "run.started"
STEP_COMPLETED = "step.completed"
STEP_FAILED = "step.failed"
RUN_RETRYING = "run.retrying"
RUN_PAUSED = "run.paused"
RUN_RESUMED = "run.resumed"
RUN_COMPLETED = "run.completed"
RUN_FAILED = "run.failed"
RUN_CANCELLED = "run.cancelled"
RUN_TERMINATED = "run.terminated"
RUN_DELETED = "run.deleted"

# Not a run's event: the credits of work done outside runs (inline bulk lookups), one
# record per API call, so the history projector can add it to usage_daily. Not in TYPES
# (no run row) and not subscribable by webhooks.
USAGE_RECORDED = "usage.recorded"

TYPES = (RUN_STARTED, STEP_COMPLETED, STEP_FAILED, RUN_RETRYING, RUN_PAUSED, RUN_RESUMED,
         RUN_COMPLETED, RUN_FAILED, RUN_CANCELLED, RUN_TERMINATED, RUN_DELETED)
TERMINAL_TYPES = {"completed": RUN_COMPLETED, "failed": RUN_FAILED,
                  "cancelled": RUN_CANCELLED, "terminated": RUN_TERMINATED}

_CODEC = codec("run_event")

# The trigger of a test run (POST /api/workflows/{id}/test): its terminal event says
# `"test": true`, and the history store leaves it out of the health figures.
TEST_TRIGGER = "test"


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def encode(*, run_id: str, sequence: int, type: str, tenant: str, workflow_id: str,
           workflow_version: int, time_ms: int, data: dict[str, Any]) -> bytes:
    """One event, Avro-encoded; `data` may hold orjson.Fragment values (JSON kept as text)."""
    return _CODEC.encode({
        "specversion": "1.0", "id": f"{run_id}:{sequence}", "source": f"/workflows/{workflow_id}",
        "type": type, "subject": run_id, "time": rfc3339(time_ms),
        "datacontenttype": "application/json", "tenant": tenant, "workflowid": workflow_id,
        "workflowversion": workflow_version, "sequence": sequence,
        "data": orjson.dumps(data).decode()})


def encode_usage(*, call_id: str, tenant: str, time_ms: int, step_type: str, credits: int,
                 calls: int) -> bytes:
    """A `usage.recorded` event: `calls` calls of `step_type` billed `credits` in one API call.

    Its id is the call's, so the projector (offsets in the rows' transaction) counts it once.
    """
    return _CODEC.encode({
        "specversion": "1.0", "id": f"{call_id}:usage", "source": "/usage", "type": USAGE_RECORDED,
        "subject": call_id, "time": rfc3339(time_ms), "datacontenttype": "application/json",
        "tenant": tenant, "workflowid": "", "workflowversion": 0, "sequence": 1,
        "data": orjson.dumps({"stepType": step_type, "credits": credits,
                              "calls": calls}).decode()})


def decode(raw: bytes) -> dict[str, Any]:
    """The envelope with `data` parsed (raises schemas.DecodeError or ValueError)."""
    event = _CODEC.decode(raw)
    event["data"] = orjson.loads(event["data"])
    return event


def parse_time(text: str) -> int:
    """Epoch ms of an event's `time`."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
