"""The `file_upload` trigger: a stored file starts the workflows whose filters take it.

Shared by `POST /api/workflows/{id}/upload` and the `uploads` topic agent, so
both apply the same checks: the workflow's trigger must be `file_upload`
(409 naming `trigger` otherwise), its `content_types` and `max_size` filters
must take the file (415 / 413 naming `file`), then `launch()` as every trigger.
The run's input is `{"file": ref, "attachment": ref, "fileId": ..., **fields}`.
A `fan_out: "rows"` trigger starts a bulk job instead, one run per CSV row
(`fan_out`, streams/bulk/runs.py).
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

from steps import file_trigger
from steps.files import FileRef
from streams import intake
from streams.bulk import runs as bulk_runs
from streams.control.workflows import ARCHIVED
from streams.engine import Engine
from streams.triggers.launch import Launch, Refused, launch, target

TRIGGER = file_trigger.TYPE


@functools.lru_cache(maxsize=1024)
def _trigger_of(definition: str) -> dict[str, Any]:
    trigger = orjson.loads(definition).get("trigger") or {"type": "manual"}
    return trigger if isinstance(trigger, dict) else {"type": "manual"}


def trigger_of(engine: Engine, tenant: str, head: dict[str, Any]) -> dict[str, Any]:
    """The trigger of the version a new run would start on (published, else latest)."""
    number = head["published"] if head["published"] is not None else head["latest"]
    version = intake.workflow_version(engine, tenant, head["id"], number)
    if version is None:
        raise Refused(503, "workflow version not replicated yet; retry")
    return _trigger_of(version["definition"])


def upload_trigger(engine: Engine, tenant: str, workflow_id: str) -> dict[str, Any]:
    """The workflow's file_upload trigger; Refused 404 / 409 naming `trigger`."""
    head = intake.workflow_head(engine, tenant, workflow_id)
    if head is None:
        raise Refused(404, f"workflow {workflow_id!r} not found")
    trigger = trigger_of(engine, tenant, head)
    if trigger.get("type") != TRIGGER:
        raise Refused(409, f"workflow {workflow_id!r} is not started by file uploads (its "
                           f"trigger is {trigger.get('type')!r}, not file_upload)",
                      field="trigger", reason="not_file_upload")
    return trigger


def check_filters(trigger: dict[str, Any], ref: FileRef) -> None:
    """Refused 415 / 413 naming `file` when the trigger's filters do not take the file."""
    refused = file_trigger.refusal(trigger, ref.content_type, ref.size)
    if refused is not None:
        status, field, message = refused
        raise Refused(status, message, field=field, reason="file_filter")


def run_input(ref: FileRef, fields: dict[str, Any] | None) -> dict[str, Any]:
    reference = ref.to_json()
    return {**(fields or {}), "file": reference, "attachment": reference,
            "fileId": ref.file_id}


def default_key(ref: FileRef, workflow_id: str) -> str:
    """A redelivered upload of the same file to the same workflow names the same run."""
    return f"upload:{ref.file_id}:{workflow_id}"


async def start(engine: Engine, tenant: str, workflow_id: str, ref: FileRef, *,
                fields: dict[str, Any] | None = None, idempotency_key: str | None = None,
                actor: str | None = None) -> tuple[str, Launch]:
    """Check the trigger and its filters, then launch; (run id, what was launched)."""
    trigger = upload_trigger(engine, tenant, workflow_id)
    request = Launch(tenant, workflow_id, run_input(ref, fields), TRIGGER,
                     idempotency_key or default_key(ref, workflow_id), actor=actor or TRIGGER)
    check_filters(trigger, ref)
    return await launch(engine, request), request


def fans_out(engine: Engine, tenant: str, workflow_id: str) -> bool:
    """Whether an upload to this workflow starts a fan-out job (404 / 409 as upload_trigger)."""
    return file_trigger.fans_out(upload_trigger(engine, tenant, workflow_id))


async def fan_out(engine: Engine, tenant: str, workflow_id: str, ref: FileRef, *,
                  idempotency_key: str | None = None, actor: str | None = None
                  ) -> bulk_runs.Created:
    """Check the trigger, its filters and that the workflow may run; send the job.

    The job id derives from the idempotency key (default: the file and the
    workflow), so a redelivered upload names the same job, whose rows name the
    same runs: nothing starts twice."""
    trigger = upload_trigger(engine, tenant, workflow_id)
    check_filters(trigger, ref)
    head = intake.workflow_head(engine, tenant, workflow_id)
    if head is None:
        raise Refused(404, f"workflow {workflow_id!r} not found")
    target(engine, tenant, head)  # archived / disabled: 409 before any row is read
    return await bulk_runs.create(engine, tenant, workflow_id, ref,
                                  key=idempotency_key or default_key(ref, workflow_id),
                                  actor=actor or TRIGGER)


def matching(engine: Engine, tenant: str, ref: FileRef) -> tuple[list[str], list[str]]:
    """(workflows whose file_upload filters take the file, those whose filters refuse it).

    A scan of the tenant's workflows: a tenant has few, and uploads are rare next
    to runs. Archived and disabled workflows are not candidates."""
    taken: list[str] = []
    refused: list[str] = []
    for head in engine.registry.entries("workflow", tenant).values():
        if head.get("trigger_type") != TRIGGER or not head["enabled"] or \
                head["status"] == ARCHIVED:
            continue
        try:
            trigger = trigger_of(engine, tenant, head)
        except Refused:
            continue
        if trigger.get("type") != TRIGGER:
            continue
        if file_trigger.refusal(trigger, ref.content_type, ref.size) is None:
            taken.append(head["id"])
        else:
            refused.append(head["id"])
    return sorted(taken), sorted(refused)
