"""Workflow lifecycle events: CloudEvents on the workflow-events topic (the audit source).

Same envelope as run events (schemas/run_event.avsc): subject is the workflow
id, `data` carries the actor and what changed.
"""

from __future__ import annotations

from typing import Any

import orjson

from schemas.avro import codec
from schemas.run_events import rfc3339

CREATED = "workflow.created"
UPDATED = "workflow.updated"
PUBLISHED = "workflow.published"
ARCHIVED = "workflow.archived"
UNARCHIVED = "workflow.unarchived"
CLONED = "workflow.cloned"
DELETED = "workflow.deleted"
TYPES = (CREATED, UPDATED, PUBLISHED, ARCHIVED, UNARCHIVED, CLONED, DELETED)

_CODEC = codec("run_event")


def encode(*, event_id: str, type: str, tenant: str, workflow_id: str, version: int,
           time_ms: int, data: dict[str, Any]) -> bytes:
    return _CODEC.encode({
        "specversion": "1.0", "id": event_id, "source": f"/workflows/{workflow_id}",
        "type": type, "subject": workflow_id, "time": rfc3339(time_ms),
        "datacontenttype": "application/json", "tenant": tenant, "workflowid": workflow_id,
        "workflowversion": version, "sequence": 0, "data": orjson.dumps(data).decode()})
