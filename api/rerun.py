"""Re-run: `POST /api/workflows/runs/{run_id}/rerun` starts a new run of an earlier one.

Same workflow and input, on the earlier run's version (`?version=same`), the
latest (`latest`) or a number. With `?from_step=` the new run starts at that
step and reuses the earlier run's outputs of the steps before it (they are
recorded as `reused` executions and are `steps.<id>` in its context): a run
that failed at step 5 is retried from step 5 without calling steps 1-4 again.

The rule for from_step is kept simple: the earlier run must have reached the
step (an execution of it exists), and every step execution before its first
one must have completed (its last attempt). Those outputs are what a fresh run
would have had on the path the earlier run took. The run starts through
launch(), like every trigger (limits, idempotency), with trigger `rerun`.
"""

from __future__ import annotations

from typing import Any

import faust
import orjson
from aiohttp import web

from api.auth import require
from api.errors import ApiError, json_errors
from api.responses import json_response
from api.runs import idempotency_key_of, load_run, stored_run
from api.workflows import find_workflow, refused_error
from schemas import statuses as st
from streams import intake
from streams.engine import Engine
from streams.machine import graph_for
from streams.triggers import launch

TRIGGER = "rerun"
_DONE = (st.COMPLETED, st.REUSED)


class CannotReuse(ValueError):
    """from_step cannot start a re-run of this earlier run (the message says why)."""


def reused_steps(history: list[dict[str, Any]], from_step: str) -> list[dict[str, Any]]:
    """The earlier run's completed steps before its first execution of `from_step`, in order.

    Each is {stepId, stepType, output}; CannotReuse when the run never reached the step
    or a step before it did not complete.
    """
    records = sorted(history, key=lambda r: (r["seq"], r["attempt"]))
    first = next((r["seq"] for r in records if r["step_id"] == from_step), None)
    if first is None:
        raise CannotReuse(f"the earlier run never reached step {from_step!r}")
    last: dict[int, dict[str, Any]] = {}
    for record in records:
        if record["seq"] < first:
            last[record["seq"]] = record  # the last attempt of each execution
    reused = []
    for seq in sorted(last):
        record = last[seq]
        if record["status"] not in _DONE:
            raise CannotReuse(f"step {record['step_id']!r} before {from_step!r} did not complete "
                              f"in the earlier run ({record['status']})")
        reused.append({"stepId": record["step_id"], "stepType": record["step_type"],
                       "output": None if record["output"] is None
                       else orjson.loads(record["output"])})
    return reused


def _version(raw: str | None, earlier: dict[str, Any], head: dict[str, Any]) -> int:
    if raw is None or raw == "same":
        return int(earlier["workflow_version"])
    if raw == "latest":
        return int(head["latest"])
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= head["latest"]:
        return int(raw)
    raise ApiError(400, f"version must be same, latest or a version of the workflow "
                        f"(1-{head['latest']})", field="version")


async def rerun(engine: Engine, request: web.Request, run_id: str) -> web.Response:
    principal = require(request, "member")
    tenant = principal.tenant
    key = idempotency_key_of(request)
    earlier = await load_run(engine, tenant, run_id)  # another tenant's run: 404
    workflow_id = earlier["workflow_id"]
    head = await find_workflow(engine, tenant, workflow_id)
    number = _version(request.query.get("version"), earlier, head)
    from_step = request.query.get("from_step") or None
    seed: dict[str, Any] = {"rerun_of": run_id, "from_step": from_step, "reused": "[]"}
    if from_step is not None:
        try:
            target = launch.target(engine, tenant, head, number)
        except launch.Refused as exc:
            raise refused_error(exc) from None
        if from_step not in graph_for(target["definition"]).steps:
            raise ApiError(400, f"step {from_step!r} is not in version {number} of workflow "
                                f"{workflow_id!r}", field="from_step")
        try:
            seed["reused"] = orjson.dumps(reused_steps(earlier["history"], from_step)).decode()
        except CannotReuse as exc:
            raise ApiError(400, str(exc), field="from_step") from None
    run_input = orjson.loads(earlier["input"]) if earlier["input"] else {}
    scoped_key = None if key is None else f"rerun:{run_id}:{key}"
    if scoped_key is not None:  # a retry after the first run ended and left the live table
        known = intake.new_run_id(tenant, workflow_id, scoped_key)
        if engine.runs.get(known) is not None or await stored_run(engine, tenant, known):
            return _accepted(known, workflow_id, number, run_id, from_step)
    try:
        new_id = await launch.launch(engine, launch.Launch(
            tenant=tenant, workflow_id=workflow_id,
            input=run_input if isinstance(run_input, dict) else {"value": run_input},
            trigger=TRIGGER, actor=principal.actor,
            idempotency_key=scoped_key,
            version=number, seed=seed))
    except launch.Refused as exc:
        raise refused_error(exc) from None
    return _accepted(new_id, workflow_id, number, run_id, from_step)


def _accepted(new_id: str, workflow_id: str, number: int, run_id: str, from_step: str | None
              ) -> web.Response:
    return json_response({"runId": new_id, "workflowId": workflow_id, "status": st.PENDING,
                          "workflowVersion": number, "rerunOf": run_id,
                          "fromStep": from_step}, status=202)


def register(engine: Engine) -> None:
    """Before `/api/workflows/{workflow_id}/...`: `runs` is not a workflow id here."""

    @engine.app.page("/api/workflows/runs/{run_id}/rerun")
    class Rerun(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, run_id: str) -> web.Response:
            return await rerun(engine, request, run_id)
