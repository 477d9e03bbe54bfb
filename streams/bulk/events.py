"""bulk_job.completed / bulk_job.failed: CloudEvents on run-events for outbound webhooks.

The id is deterministic (`bulk:<job id>:<status>`): a progress agent that
redoes a completion after a crash emits the same id, and the webhook
deliverer's (endpoint, event id) key delivers it once. The history projector
ignores these types (history.projection.apply_event: unknown types change nothing).
"""

from __future__ import annotations

from typing import Any

import orjson

from schemas import codec
from schemas.run_events import rfc3339

COMPLETED = "bulk_job.completed"
FAILED = "bulk_job.failed"
_EVENT = codec("run_event")


def encode(job_id: str, job: dict[str, Any], now_ms: int) -> bytes:
    status = job["status"]
    return _EVENT.encode({
        "specversion": "1.0", "id": f"bulk:{job_id}:{status}", "source": f"/bulk-jobs/{job_id}",
        "type": COMPLETED if status == "completed" else FAILED, "subject": job_id,
        "time": rfc3339(now_ms), "datacontenttype": "application/json",
        "tenant": job["tenant"], "workflowid": "", "workflowversion": 0, "sequence": 0,
        "data": orjson.dumps({
            "jobId": job_id, "type": job["type"], "status": status,
            "totalRows": job["total"], "processed": job["processed"],
            "failed": job["failed"], "creditsUsed": job["credits"],
            "error": job["error"]}).decode()})
