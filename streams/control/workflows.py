"""Workflow ops: create, update (a new immutable version each time), publish, archive, delete.

The head row (`workflow/<tenant>/<id>`) says which versions are latest and
published and the lifecycle status; each version (`version/<tenant>/<id>:<n>`)
is written once and never changed. Plan caps are counted here, by the single
writer of the tenant's rows, so two concurrent creates cannot both pass.
"""

from __future__ import annotations

from typing import Any

import orjson

from schemas import workflow_events as we
from schemas.plans import Plan
from streams.control import schedules
from streams.control.base import Op, Rejected, Tx, required

DRAFT, TESTING, PUBLISHED, ARCHIVED = "draft", "testing", "published", "archived"
STATUSES = (DRAFT, TESTING, PUBLISHED, ARCHIVED)
SETTABLE = (DRAFT, TESTING)  # publish and archive have their own ops


def version_id(workflow_id: str, version: int) -> str:
    return f"{workflow_id}:{version}"


def _head(tx: Tx, workflow_id: str) -> dict[str, Any]:
    head = tx.get("workflow", workflow_id)
    if head is None:
        raise Rejected(404, f"workflow {workflow_id!r} not found")
    return head


def _check_caps(plan: Plan, definition: dict[str, Any]) -> None:
    steps = len(definition.get("steps") or [])
    if plan.steps_per_workflow is not None and steps > plan.steps_per_workflow:
        raise Rejected(400, f"plan {plan.name} allows at most {plan.steps_per_workflow} steps "
                            f"per workflow ({steps} given)", "steps")
    retries = (definition.get("retry") or {}).get("max_retries")
    if isinstance(retries, int) and retries > plan.max_retries:
        raise Rejected(400, f"plan {plan.name} allows retry.max_retries up to "
                            f"{plan.max_retries}", "retry.max_retries")


def _add_version(tx: Tx, workflow_id: str, version: int, definition: dict[str, Any]) -> None:
    tx.put("version", version_id(workflow_id, version), {
        "version": version, "definition": orjson.dumps(definition).decode(),
        "created_ms": tx.now, "created_by": tx.actor,
        "step_count": len(definition.get("steps") or []),
        # read at every run start: kept parsed so an ungated workflow costs one dict lookup
        "concurrency": definition.get("concurrency")})


def _summary(definition: dict[str, Any]) -> dict[str, Any]:
    trigger = definition.get("trigger") or {"type": "manual"}
    return {"name": definition.get("name", ""), "description": definition.get("description"),
            "trigger_type": trigger.get("type", "manual")}


def create(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    workflow_id = required(payload, "id")
    definition = required(payload, "definition", dict)
    if tx.get("workflow", workflow_id) is not None:
        raise Rejected(409, f"workflow {workflow_id!r} already exists", "id")
    plan = tx.plan
    if plan.workflows is not None:
        live = sum(1 for w in tx.entries("workflow").values() if w["status"] != ARCHIVED)
        if live >= plan.workflows:
            raise Rejected(400, f"plan {plan.name} allows at most {plan.workflows} workflows "
                                f"(archive or delete one first)", "plan.workflows")
    _check_caps(plan, definition)
    _add_version(tx, workflow_id, 1, definition)
    schedules.sync_definition(tx, workflow_id, definition)
    head = {"id": workflow_id, **_summary(definition), "status": DRAFT,
            "enabled": payload.get("enabled") is not False, "latest": 1, "published": None,
            "created_ms": tx.now, "updated_ms": tx.now, "created_by": tx.actor,
            "updated_by": tx.actor, "archived_from": None}
    tx.put("workflow", workflow_id, head)
    how = payload.get("how", "created")
    if how == "cloned":
        tx.emit(we.CLONED, workflow_id, 1, {"source": payload.get("source")})
    else:
        tx.emit(we.CREATED, workflow_id, 1, {"template": payload.get("template")})
    return {"id": workflow_id, "version": 1}


def update(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    workflow_id = required(payload, "id")
    head = dict(_head(tx, workflow_id))
    if head["status"] == ARCHIVED:
        raise Rejected(409, f"workflow {workflow_id!r} is archived; unarchive it first")
    base = payload.get("base_version")
    if base is not None and base != head["latest"]:
        raise Rejected(409, f"workflow {workflow_id!r} changed meanwhile (now version "
                            f"{head['latest']}, you edited {base}); reload and retry")
    changed: dict[str, Any] = {}
    definition = payload.get("definition")
    if isinstance(definition, dict):
        _check_caps(tx.plan, definition)
        head["latest"] += 1
        _add_version(tx, workflow_id, head["latest"], definition)
        schedules.sync_definition(tx, workflow_id, definition)
        head.update(_summary(definition))
        changed["version"] = head["latest"]
    if "enabled" in payload and payload["enabled"] is not None:
        head["enabled"] = bool(payload["enabled"])
        changed["enabled"] = head["enabled"]
    status = payload.get("status")
    if status is not None:
        if status not in SETTABLE:
            raise Rejected(400, f"status can be set to {' or '.join(SETTABLE)}; use publish "
                                f"or archive for the others", "status")
        head["status"] = status
        changed["status"] = status
    head["updated_ms"], head["updated_by"] = tx.now, tx.actor
    tx.put("workflow", workflow_id, head)
    tx.emit(we.UPDATED, workflow_id, head["latest"], {"step": payload.get("step"), **changed})
    return {"id": workflow_id, "version": head["latest"]}


def publish(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    workflow_id = required(payload, "id")
    version = required(payload, "version", int)
    head = dict(_head(tx, workflow_id))
    if head["status"] == ARCHIVED:
        raise Rejected(409, f"workflow {workflow_id!r} is archived; unarchive it first")
    if tx.get("version", version_id(workflow_id, version)) is None:
        raise Rejected(404, f"workflow {workflow_id!r} has no version {version}", "version")
    head.update(published=version, status=PUBLISHED, updated_ms=tx.now, updated_by=tx.actor)
    tx.put("workflow", workflow_id, head)
    tx.emit(we.PUBLISHED, workflow_id, version, {})
    return {"id": workflow_id, "version": version}


def archive(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    workflow_id = required(payload, "id")
    head = dict(_head(tx, workflow_id))
    if head["status"] != ARCHIVED:
        head.update(archived_from=head["status"], status=ARCHIVED, updated_ms=tx.now,
                    updated_by=tx.actor)
        tx.put("workflow", workflow_id, head)
        tx.emit(we.ARCHIVED, workflow_id, head["latest"], {})
    return {"id": workflow_id, "version": head["latest"]}


def unarchive(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    workflow_id = required(payload, "id")
    head = dict(_head(tx, workflow_id))
    if head["status"] != ARCHIVED:
        raise Rejected(409, f"workflow {workflow_id!r} is not archived")
    plan = tx.plan
    if plan.workflows is not None:
        live = sum(1 for w in tx.entries("workflow").values() if w["status"] != ARCHIVED)
        if live >= plan.workflows:
            raise Rejected(400, f"plan {plan.name} allows at most {plan.workflows} workflows",
                           "plan.workflows")
    head.update(status=DRAFT, archived_from=None, updated_ms=tx.now, updated_by=tx.actor)
    tx.put("workflow", workflow_id, head)
    tx.emit(we.UNARCHIVED, workflow_id, head["latest"], {})
    return {"id": workflow_id, "version": head["latest"]}


def delete(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    """Permanent: the head, every version; the projector drops the run history."""
    workflow_id = required(payload, "id")
    head = _head(tx, workflow_id)
    if head["status"] != ARCHIVED:
        raise Rejected(409, f"workflow {workflow_id!r} must be archived before it is "
                            f"permanently deleted")
    for version in range(1, head["latest"] + 1):
        tx.delete("version", version_id(workflow_id, version))
    tx.delete("workflow", workflow_id)
    if tx.get(schedules.KIND, workflow_id) is not None:
        tx.delete(schedules.KIND, workflow_id)
    tx.emit(we.DELETED, workflow_id, head["latest"], {})
    return {"id": workflow_id, "deleted": True}


OPS: dict[str, Op] = {
    "workflow.create": create, "workflow.update": update, "workflow.publish": publish,
    "workflow.archive": archive, "workflow.unarchive": unarchive, "workflow.delete": delete,
}
