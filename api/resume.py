"""Resume a paused run: 003's `POST /api/workflow/resume/{runId}` and the canonical route.

The answer is checked here, against the pause signal in the live run state on
the worker owning the run's partition, before any command is sent: a run that
is not paused is a 409, an answer that does not fit is a 400 naming the field.
Only then is a `resume` command sent; the run agent applies it only if the run
still waits at the same step execution, so racing or repeated resumes move it
once.
"""

from __future__ import annotations

from typing import Any

import faust
import orjson
from aiohttp import web

from api import presenters
from api.auth import principal_of
from api.errors import ApiError, json_errors
from api.requests import parse_json, read_body
from api.responses import json_response
from api.routing import forward
from api.runs import _await_state, load_run
from schemas import statuses as st
from steps.human import ResumeInvalid
from steps.resume import check_resume
from streams import intake
from streams.engine import Engine

RESUME_WAIT_SECONDS = 10.0


def pause_of(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The waiting step record and its pause signal, when the run is paused at one."""
    if state.get("status") != st.PAUSED or not state.get("history"):
        return None
    record = state["history"][-1]
    if record["status"] != st.WAITING or not record.get("request"):
        return None
    return record, orjson.loads(record["request"])


def _moved_on(seq: int) -> Any:
    """True once the run no longer waits at step execution `seq`."""
    def done(state: dict[str, Any] | None) -> bool:
        if state is None:
            return False
        record = state["history"][-1] if state["history"] else None
        return state["status"] != st.PAUSED or record is None or record["seq"] != seq
    return done


async def resume_run(engine: Engine, request: web.Request, run_id: str) -> web.Response:
    principal = principal_of(request)
    raw = await read_body(request)
    remote = await forward(engine, request, run_id, body=raw)
    if remote is not None:
        return remote
    state = await load_run(engine, principal.tenant, run_id)  # another tenant's run: 404
    if state["status"] != st.PAUSED:
        raise ApiError(409, f"run {run_id} is {state['status']}, not paused")
    paused = pause_of(state) if engine.runs.get(run_id) is state else None
    if paused is None:  # only the history store's copy is here (the owner is restarting)
        raise ApiError(503, "the run's live state is not available on this worker yet; retry")
    record, signal = paused
    try:
        output = check_resume(signal, parse_json(raw))
    except ResumeInvalid as exc:
        raise ApiError(400, str(exc), field=exc.field) from exc
    payload = {"seq": record["seq"], "stepId": record["step_id"], "output": output,
               "actor": principal.actor}
    await intake.resume_run(engine, run_id, principal.tenant, orjson.dumps(payload).decode())
    state = await _await_state(engine, run_id, _moved_on(record["seq"]), RESUME_WAIT_SECONDS)
    if state is None:  # the run's partition moved meanwhile
        return json_response({"runId": run_id, "status": "unknown"}, status=202)
    moved = _moved_on(record["seq"])(state)
    return json_response(presenters.run(state), status=200 if moved else 202)


def register(engine: Engine) -> None:
    app = engine.app

    @app.page("/api/workflows/runs/{run_id}/resume")
    class Resume(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, run_id: str) -> web.Response:
            return await resume_run(engine, request, run_id)

    @app.page("/api/workflow/resume/{run_id}")
    class Resume003(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, run_id: str) -> web.Response:
            return await resume_run(engine, request, run_id)
