"""One way in for every trigger: (tenant, workflow, input, trigger) -> a run request on Kafka.

The HTTP API, webhook ingest, the ingest topic, schedules, platform and monitor
events and test runs all start runs here, so the checks (the workflow may run,
limits, idempotency) are written once. `Refused` carries an HTTP status so the
API can answer with it and a Kafka trigger can record why nothing started.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from schemas import codec
from streams import intake, log_context
from streams.control.workflows import ARCHIVED
from streams.engine import Engine, now_ms
from streams.metrics import DEAD_LETTERS, RUNS_REFUSED
from streams.triggers import admission

log = logging.getLogger(__name__)


class Refused(Exception):
    """No run was started; `status` is the HTTP answer, `retry_after` seconds for a 429.

    `reason` names the check for metrics and the refusal record (runs_per_minute,
    daily_runs, unchecked; else status_<code>).
    """

    def __init__(self, status: int, message: str, *, field: str | None = None,
                 retry_after: float | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.retry_after = retry_after
        self.reason = reason or f"status_{status}"


@dataclass(frozen=True)
class Launch:
    """What a trigger asks for; `idempotency_key` makes a redelivered trigger name one run."""

    tenant: str
    workflow_id: str
    input: dict[str, Any]
    trigger: str  # manual, webhook, ingest_topic, schedule, event, monitor_event, test
    idempotency_key: str | None = None
    actor: str | None = None
    bulk: dict[str, Any] | None = None  # {job, row}: a fan-out job's row (streams/bulk/runs.py)
    version: int | None = None  # a re-run's pinned version; else the published (or latest)
    seed: dict[str, Any] | None = None  # a re-run's {rerun_of, from_step, reused} (machine.py)


def target(engine: Engine, tenant: str, head: dict[str, Any], number: int | None = None
           ) -> dict[str, Any]:
    """What a new run starts on: `number`, else the published version, else the latest.

    409 if the workflow may not run; 400 naming `version` if `number` does not exist."""
    if head["status"] == ARCHIVED:
        raise Refused(409, f"workflow {head['id']!r} is archived; unarchive it to run it")
    if not head["enabled"]:
        raise Refused(409, f"workflow {head['id']!r} is disabled; enable it to run it")
    pinned = number is not None
    if number is None:
        number = head["published"] if head["published"] is not None else head["latest"]
    version = intake.workflow_version(engine, tenant, head["id"], number)
    if version is None and pinned and not 1 <= number <= head["latest"]:
        raise Refused(400, f"workflow {head['id']!r} has no version {number}", field="version")
    if version is None:  # the head arrived before its version row: replica catching up
        raise Refused(503, "workflow version not replicated yet; retry")
    return {"id": head["id"], "version": number, "definition": version["definition"],
            "concurrency": version.get("concurrency")}


async def launch(engine: Engine, request: Launch) -> str:
    """Send the run request (acknowledged by the broker); the run id, or Refused."""
    head = intake.workflow_head(engine, request.tenant, request.workflow_id)
    if head is None:
        raise Refused(404, f"workflow {request.workflow_id!r} not found")
    workflow = target(engine, request.tenant, head, request.version)
    run_id = intake.new_run_id(request.tenant, request.workflow_id, request.idempotency_key)
    token = log_context.bind(run_id, request.tenant, request.workflow_id)
    try:
        await admit(engine, request.tenant, run_id)
        await intake.request_run(
            engine, run_id=run_id, tenant=request.tenant, workflow=workflow,
            input_json=orjson.dumps(request.input).decode(),
            idempotency_key=request.idempotency_key, digest=None, trigger=request.trigger,
            actor=request.actor, gate=intake.gate_of(request.tenant, workflow, request.input),
            bulk=request.bulk, seed=request.seed)
    finally:
        log_context.reset(token)
    return run_id


async def admit(engine: Engine, tenant: str, run_id: str) -> None:
    """The plan's run limits (streams/triggers/admission.py) for one more run, or Refused 429."""
    try:
        await admission.admit(engine, tenant, run_id)
    except admission.Limited as exc:
        raise Refused(exc.status, exc.message, retry_after=exc.retry_after,
                      reason=exc.reason) from None


async def record_refusal(engine: Engine, request: Launch, exc: Refused) -> None:
    """A Kafka trigger's run that did not start: logged, counted, and kept on dead-letters.

    Kafka triggers have no caller to answer, so a refusal must not vanish: the
    dead-letter record names the trigger (`topic`: `refused:<trigger>`), the
    tenant and workflow (`key`), what was asked (`value`, JSON) and why
    (`reason`, with the Retry-After). Counted in hopflow_runs_refused_total{reason}.
    """
    RUNS_REFUSED.labels(reason=exc.reason).inc()
    token = log_context.bind(None, request.tenant, request.workflow_id)
    log.warning("run of %s/%s by %s refused (%s %s): %s", request.tenant, request.workflow_id,
                request.trigger, exc.status, exc.reason, exc.message)
    log_context.reset(token)
    detail = f"{exc.status} {exc.reason}: {exc.message}"
    if exc.retry_after is not None:
        detail += f" (retry after {exc.retry_after:g} s)"
    topic = f"refused:{request.trigger}"
    DEAD_LETTERS.labels("refused", "refused").inc()  # the trigger's topic is in the record
    await engine.dead_letters.send(key=topic, value=codec("dead_letter").encode({
        "topic": topic, "partition": -1, "offset": -1,
        "key": f"{request.tenant}/{request.workflow_id}".encode(),
        "value": orjson.dumps({"tenant": request.tenant, "workflow_id": request.workflow_id,
                               "trigger": request.trigger,
                               "idempotency_key": request.idempotency_key,
                               "actor": request.actor, "input": request.input}),
        "reason": detail, "ts_ms": now_ms()}))
