"""One way in for every trigger: (tenant, workflow, input, trigger) -> a run request on Kafka.

The HTTP API, webhook ingest, the ingest topic, schedules, platform and monitor
events and test runs all start runs here, so the checks (the workflow may run,
limits, idempotency) are written once. `Refused` carries an HTTP status so the
API can answer with it and a Kafka trigger can record why nothing started.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from streams import intake
from streams.control.workflows import ARCHIVED
from streams.engine import Engine


class Refused(Exception):
    """No run was started; `status` is the HTTP answer, `retry_after` seconds for a 429."""

    def __init__(self, status: int, message: str, *, field: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.retry_after = retry_after


@dataclass(frozen=True)
class Launch:
    """What a trigger asks for; `idempotency_key` makes a redelivered trigger name one run."""

    tenant: str
    workflow_id: str
    input: dict[str, Any]
    trigger: str  # manual, webhook, ingest_topic, schedule, event, monitor_event, test
    idempotency_key: str | None = None
    actor: str | None = None


def target(engine: Engine, tenant: str, head: dict[str, Any]) -> dict[str, Any]:
    """What a new run starts on: the published version, else the latest (409 if it may not run)."""
    if head["status"] == ARCHIVED:
        raise Refused(409, f"workflow {head['id']!r} is archived; unarchive it to run it")
    if not head["enabled"]:
        raise Refused(409, f"workflow {head['id']!r} is disabled; enable it to run it")
    number = head["published"] if head["published"] is not None else head["latest"]
    version = intake.workflow_version(engine, tenant, head["id"], number)
    if version is None:  # the head arrived before its version row: replica catching up
        raise Refused(503, "workflow version not replicated yet; retry")
    return {"id": head["id"], "version": number, "definition": version["definition"]}


async def launch(engine: Engine, request: Launch) -> str:
    """Send the run request (acknowledged by the broker); the run id, or Refused."""
    head = intake.workflow_head(engine, request.tenant, request.workflow_id)
    if head is None:
        raise Refused(404, f"workflow {request.workflow_id!r} not found")
    workflow = target(engine, request.tenant, head)
    run_id = intake.new_run_id(request.tenant, request.workflow_id, request.idempotency_key)
    await intake.request_run(
        engine, run_id=run_id, tenant=request.tenant, workflow=workflow,
        input_json=orjson.dumps(request.input).decode(),
        idempotency_key=request.idempotency_key, digest=None, trigger=request.trigger,
        actor=request.actor)
    return run_id
