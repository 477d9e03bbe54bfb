"""Reference shapes: 002's and 004's paths and field names, mapped onto the canonical handlers.

hopflow has one API (the `/api/workflows` family). Clients written against the
reference products keep working through this module, which only translates:
each alias reads the reference body, builds the canonical one, calls the
canonical handler function (api/workflows.py, api/workflow_steps.py,
api/runs.py, api/run_queries.py) and reshapes its answer. No handler logic
lives here, so a fix in a canonical handler fixes its aliases too.

- 002: `POST|PUT /api/workflows` also take `definition` + `trigger_type` +
  `trigger_config` + `enabled` (`normalize_body`, called by the canonical
  create/update); workflows answer with `trigger_type`, `trigger_config`,
  `created_at` too (api/presenters.py); `GET /api/workflows` adds a `workflows`
  key; `POST /api/workflows/{id}/execute` (`trigger_data`, or multipart with the
  file in `attachment` like the other start routes) starts a run.
- 004: `/api/v4/workflows...` with PascalCase fields and enum numbers
  (event types, action types, run statuses). Workflow and step ids are
  hopflow's strings. `DELETE /api/v4/workflows/{id}` removes the workflow for
  good (archive, then permanent delete, with its run history) when the caller
  is an owner; an admin's call archives it (restorable with
  `POST /api/workflows/{id}/unarchive`), since only owners delete permanently.
  HTTP actions (CallApiGet/Post/Put/Delete) are `webhook` steps; the other
  action types map to the step types of the step library (`email`, `sms`,
  `upload_*`, `teams`, `slack`, `discord`), which validation refuses with a
  400 naming `ActionType` until they are registered. A step cannot be
  disabled (`IsEnabled: false` is a 400): delete it instead.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import orjson
from aiohttp import web

from api import attachments, run_queries, runs, test_runs, workflow_steps, workflows
from api.auth import require
from api.errors import ApiError, json_errors, renamed_fields
from api.presenters import iso
from api.requests import parse_json, read_body, read_json, tenant_of
from api.responses import json_response
from schemas import statuses as st
from schemas.event_types import EVENT_TYPES_004
from schemas.event_types import catalog as event_catalog
from streams.engine import Engine, now_ms

# ---------------------------------------------------------------- 002

TRIGGER_TYPES_002 = ("manual", "scheduled", "webhook", "event")
_FIELDS_002 = ("definition", "trigger_type", "trigger_config")


def normalize_body(body: dict[str, Any]) -> dict[str, Any]:
    """A 002 create/update body as the canonical one; a canonical body comes back unchanged.

    `definition` ({steps, edges, initialStep, retry, output, inputSchema...}) is merged
    into the top level; `trigger_type` + `trigger_config` become `trigger`
    ({"type": trigger_type, **trigger_config}); `enabled` is the canonical field already.
    """
    if not any(k in body for k in _FIELDS_002):
        return body
    out = {k: v for k, v in body.items() if k not in _FIELDS_002}
    definition = body.get("definition")
    if definition is not None:
        if not isinstance(definition, dict):
            raise ApiError(400, "definition must be an object", field="definition")
        for key, value in definition.items():
            if key in out and out[key] != value:
                raise ApiError(400, f"{key} is given both at the top level and in definition",
                               field=f"definition.{key}")
            out[key] = value
    trigger_type = body.get("trigger_type")
    config = body.get("trigger_config")
    if trigger_type is not None or config is not None:
        if "trigger" in out:
            raise ApiError(400, "give trigger or trigger_type + trigger_config, not both",
                           field="trigger_type")
        if trigger_type is None:
            trigger_type = "manual"
        if not isinstance(trigger_type, str) or trigger_type not in TRIGGER_TYPES_002:
            raise ApiError(400, f"trigger_type must be one of {', '.join(TRIGGER_TYPES_002)}",
                           field="trigger_type")
        if config is not None and not isinstance(config, dict):
            raise ApiError(400, "trigger_config must be an object", field="trigger_config")
        out["trigger"] = {**(config or {}), "type": trigger_type}
    return out


def execution_002(body: Any, started_ms: int) -> Any:
    """A canonical run answer as 002's `{execution_id, status, started_at}`."""
    if not isinstance(body, dict) or "runId" not in body:
        return body  # already 002's shape (answered by the worker owning the run)
    return {"execution_id": body["runId"], "workflow_id": body.get("workflowId"),
            "status": body["status"], "started_at": body.get("startTime") or iso(started_ms)}


# ---------------------------------------------------------------- 004 enums

EVENT_TYPES = EVENT_TYPES_004  # schemas/event_types.py: one list for every event view
_EVENT_VALUE = {name: value for value, (name, _) in enumerate(EVENT_TYPES)}

# ActionType -> (004 name, step type, HTTP method for the webhook step)
ACTION_TYPES: tuple[tuple[str, str, str | None], ...] = (
    ("SendEmail", "email", None),
    ("SendSms", "sms", None),
    ("CallApiGet", "webhook", "GET"),
    ("CallApiPost", "webhook", "POST"),
    ("CallApiPut", "webhook", "PUT"),
    ("CallApiDelete", "webhook", "DELETE"),
    ("UploadFileFtp", "upload_ftp", None),
    ("UploadFileSftp", "upload_sftp", None),
    ("UploadFileS3", "upload_s3", None),
    ("SendTeamsMessage", "teams", None),
    ("SendSlackMessage", "slack", None),
    ("SendDiscordMessage", "discord", None),
    ("UploadFileAzureBlob", "upload_azure_blob", None),
    ("UploadFileBox", "upload_box", None),
    ("UploadFileDropbox", "upload_dropbox", None),
)
_ACTION_OF_TYPE = {t: i for i, (_, t, m) in enumerate(ACTION_TYPES) if m is None}
_ACTION_OF_METHOD = {m: i for i, (_, _, m) in enumerate(ACTION_TYPES) if m is not None}

# Run Status Values (004); hopflow's terminated and paused have no 004 value of their own.
RUN_STATUS = {st.PENDING: 0, st.RUNNING: 1, st.COMPLETED: 2, st.FAILED: 3, st.CANCELLED: 4,
              st.RETRYING: 5, st.TERMINATED: 4, st.PAUSED: 1, st.WAITING: 1}

MAX_RETRY_CEILING = 5  # 004: "capped at a server-side ceiling of 5 regardless of the value"
DEFAULT_MAX_RETRIES = 3
DEFAULT_BACKOFF_SECONDS = 5
MAX_TEMPLATE_BYTES = 64 * 1024
_RESERVED = "(?!(?:runs|eventtypes|credentials|secrets)$)"  # other views' plain paths
V4 = "/api/v4/workflows"
V4_WORKFLOW = V4 + "/{workflow_id:" + _RESERVED + "[^/]+}"


# ---------------------------------------------------------------- 004 errors

_WORKFLOW_FIELDS = {"name": "Name", "description": "Description", "trigger": "TriggerEventType",
                    "retry.max_retries": "MaxRetryCount",
                    "retry.backoff_seconds": "RetryBackoffBaseSeconds", "enabled": "IsEnabled"}
_STEP_FIELD = re.compile(r"^steps\[\d+\]\.(type|config)(?:\.([\w.\[\]-]+))?")


def _field_004(field: str | None) -> str | None:
    """A canonical field name as 004 calls it (what the caller sent)."""
    if field is None:
        return None
    if field in _WORKFLOW_FIELDS:
        return _WORKFLOW_FIELDS[field]
    if field == "order":
        return "StepOrder"
    match = _STEP_FIELD.match(field)
    if match is None:
        return field
    part, sub = match.groups()
    if part == "type":
        return "ActionType"
    if sub is None:
        return "ActionConfig"
    if sub in ("body", "template"):
        return "OutputTemplate"
    if sub == "credential_id":
        return "WorkflowCredentialId"
    return f"ActionConfig.{sub}"


async def _in_004(call: Awaitable[web.Response]) -> web.Response:
    """The canonical handler's answer; its errors with 004's field names."""
    return await renamed_fields(call, _field_004)


def _body(response: web.Response) -> Any:
    return orjson.loads(response.body)  # type: ignore[arg-type]


def _answer(response: web.Response, shape: Callable[[Any], Any],
            status: int | None = None) -> web.Response:
    """The canonical response reshaped (errors pass through as they are)."""
    if response.status >= 400:
        return response
    reshaped = json_response(shape(_body(response)), status=status or response.status)
    for name, value in response.headers.items():
        if name.lower().startswith("x-hopflow-"):
            reshaped.headers[name] = value
    return reshaped


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# ---------------------------------------------------------------- 004 workflows

def _event_value(trigger: Any) -> int | None:
    if isinstance(trigger, dict) and trigger.get("type") == "event":
        return _EVENT_VALUE.get(trigger.get("event"))  # type: ignore[arg-type]
    return None


def step_004(step: dict[str, Any], order: int) -> dict[str, Any]:
    """A canonical step as 004's WorkflowStepResult."""
    config = dict(step.get("config") or {})
    if step.get("type") == "webhook":
        action = _ACTION_OF_METHOD.get(str(config.pop("method", "POST")).upper())
        template = config.pop("body", None)
    else:
        action = _ACTION_OF_TYPE.get(step.get("type"))  # type: ignore[arg-type]
        template = config.pop("template", None)
    if template is not None and not isinstance(template, str):
        template = orjson.dumps(template).decode()
    credential = config.pop("credential_id", None)
    return {"WorkflowStepId": step.get("id"), "ActionType": action, "StepOrder": order,
            "OutputTemplate": template or "", "ActionConfig": orjson.dumps(config).decode(),
            "WorkflowCredentialId": credential, "IsEnabled": True,
            "StepType": step.get("type"), "Name": step.get("name")}


def workflow_004(body: dict[str, Any]) -> dict[str, Any]:
    """A canonical workflow (api/presenters.workflow) as 004's WorkflowResult."""
    retry = body.get("retry") or {}
    return {"WorkflowId": body["id"], "Name": body.get("name"),
            "Description": body.get("description"),
            "TriggerEventType": _event_value(body.get("trigger")),
            "IsEnabled": body.get("enabled"),
            "MaxRetryCount": retry.get("max_retries", DEFAULT_MAX_RETRIES),
            "RetryBackoffBaseSeconds": _number(retry.get("backoff_seconds", 1.0)),
            "Steps": [step_004(s, i + 1) for i, s in enumerate(body.get("steps") or [])],
            "CreatedOn": body.get("createdAt"), "UpdatedOn": body.get("updatedAt"),
            "Status": body.get("status"), "Version": body.get("version")}


def _int_field(body: dict[str, Any], name: str, low: int, high: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (
            high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ApiError(400, f"{name} must be an integer {bounds}", field=name)
    return value


def _workflow_in(body: Any, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """004's WorkflowInput as a canonical body; on update, absent fields keep `current`."""
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    out: dict[str, Any] = dict(current) if current is not None else {"steps": []}
    for name, key in (("Name", "name"), ("Description", "description")):
        if name in body:
            if body[name] is not None and not isinstance(body[name], str):
                raise ApiError(400, f"{name} must be a string", field=name)
            out[key] = body[name]
    if current is None and not isinstance(body.get("Name"), str):
        raise ApiError(400, "Name is required", field="Name")
    event = body.get("TriggerEventType")
    if isinstance(event, str) and event in _EVENT_VALUE:  # the name is accepted too
        event = _EVENT_VALUE[event]
        body = {**body, "TriggerEventType": event}
    event = _int_field(body, "TriggerEventType", 0, len(EVENT_TYPES) - 1)
    if event is not None:
        out["trigger"] = {**(out.get("trigger") if _event_value(out.get("trigger")) is not None
                             else {}), "type": "event", "event": EVENT_TYPES[event][0]}
    elif current is None:
        raise ApiError(400, "TriggerEventType is required (0-27, see /api/v4/workflows/"
                            "eventtypes)", field="TriggerEventType")
    retry = dict(out.get("retry") or {})
    retries = _int_field(body, "MaxRetryCount", 0)
    if retries is not None:
        retry["max_retries"] = min(retries, MAX_RETRY_CEILING)
    backoff = body.get("RetryBackoffBaseSeconds")
    if backoff is not None:
        if isinstance(backoff, bool) or not isinstance(backoff, int | float):
            raise ApiError(400, "RetryBackoffBaseSeconds must be a number of seconds",
                           field="RetryBackoffBaseSeconds")
        retry["backoff_seconds"] = backoff
    if current is None:
        retry.setdefault("max_retries", DEFAULT_MAX_RETRIES)
        retry.setdefault("backoff_seconds", DEFAULT_BACKOFF_SECONDS)
    if retry:
        out["retry"] = retry
    enabled = body.get("IsEnabled")
    if enabled is not None:
        if not isinstance(enabled, bool):
            raise ApiError(400, "IsEnabled must be true or false", field="IsEnabled")
        out["enabled"] = enabled
    return out


def _step_in(body: Any) -> dict[str, Any]:
    """004's WorkflowStepInput as a canonical step body (api/workflow_steps.py)."""
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    action = _int_field(body, "ActionType", 0, len(ACTION_TYPES) - 1)
    if action is None:
        raise ApiError(400, "ActionType is required (0-14)", field="ActionType")
    order = _int_field(body, "StepOrder", 1)
    if body.get("IsEnabled") is False:
        raise ApiError(400, "a step cannot be disabled here; delete it instead",
                       field="IsEnabled")
    raw = body.get("ActionConfig")
    config: Any = {}
    if isinstance(raw, str) and raw.strip():
        try:
            config = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"ActionConfig is not valid JSON: {exc}",
                           field="ActionConfig") from exc
    elif raw is not None and not isinstance(raw, str):
        config = raw  # an object sent as is
    if not isinstance(config, dict):
        raise ApiError(400, "ActionConfig must be a JSON object", field="ActionConfig")
    template = body.get("OutputTemplate")
    if template is not None and not isinstance(template, str):
        raise ApiError(400, "OutputTemplate must be a string", field="OutputTemplate")
    if template is not None and len(template.encode()) > MAX_TEMPLATE_BYTES:
        raise ApiError(400, "OutputTemplate is larger than 64 KB", field="OutputTemplate")
    _, step_type, method = ACTION_TYPES[action]
    if method is not None:
        config["method"] = method
        if template:
            try:  # a JSON template keeps its structure; placeholders live in its strings
                parsed = orjson.loads(template)
                config["body"] = parsed if isinstance(parsed, dict | list) else template
            except orjson.JSONDecodeError:
                config["body"] = template
    elif template is not None:
        config["template"] = template
    credential = body.get("WorkflowCredentialId")
    if credential is not None:
        if isinstance(credential, bool) or not isinstance(credential, str | int):
            raise ApiError(400, "WorkflowCredentialId must be a credential id",
                           field="WorkflowCredentialId")
        config["credential_id"] = str(credential)
    step: dict[str, Any] = {"type": step_type, "config": config}
    if isinstance(body.get("Name"), str):
        step["name"] = body["Name"]
    if order is not None:
        step["order"] = order
    return step


def _step_answer(body: Any) -> Any:
    if not isinstance(body, dict) or "step" not in body:
        return body
    step = body["step"]
    return {**step_004(step, step["order"]), "WorkflowId": body["workflowId"],
            "Version": body["version"]}


# ---------------------------------------------------------------- 004 runs

def run_004(body: Any) -> Any:
    """A canonical run (summary or detail) as 004's WorkflowRunResult."""
    if not isinstance(body, dict) or "runId" not in body:
        return body  # already 004's shape (answered by the worker owning the run)
    out = {"WorkflowRunId": body["runId"], "WorkflowId": body.get("workflowId"),
           "WorkflowVersion": body.get("workflowVersion"),
           "Status": RUN_STATUS.get(body["status"]), "StatusName": body["status"],
           "Trigger": body.get("trigger"), "InputPayload": body.get("input"),
           "Result": body.get("result"), "ErrorMessage": body.get("error"),
           "StartedOn": body.get("startTime"), "CompletedOn": body.get("endTime"),
           "DurationMs": body.get("duration"),
           "CancelRequested": bool(body.get("cancelRequested"))}
    if "stepExecutionHistory" in body:
        out["Logs"] = [log_004(s, i + 1) for i, s in enumerate(body["stepExecutionHistory"])]
    return out


def log_004(entry: dict[str, Any], number: int) -> dict[str, Any]:
    """One step execution (api/presenters.step or .log_entry) as 004's WorkflowRunLogResult."""
    output = entry.get("output")
    if entry.get("httpStatus") is not None:
        result: str | None = f"HTTP {entry['httpStatus']}"
    elif output is None or isinstance(output, str):
        result = output
    else:
        result = orjson.dumps(output).decode()
    request = entry.get("request")
    return {"WorkflowRunLogId": number, "WorkflowStepId": entry.get("stepId"),
            "StepType": entry.get("stepType"), "Attempt": entry.get("attempt"),
            "Status": RUN_STATUS.get(entry.get("status")),  # type: ignore[arg-type]
            "StatusName": entry.get("status"),
            "RenderedOutput": None if request is None else orjson.dumps(request).decode(),
            "ActionResult": result, "ErrorMessage": entry.get("error"),
            "StartedOn": entry.get("startTime"), "CompletedOn": entry.get("endTime"),
            "DurationMs": entry.get("duration")}


def _logs_004(body: Any) -> Any:
    if not isinstance(body, dict) or "logs" not in body:
        return body
    return [log_004(e, i + 1) for i, e in enumerate(body["logs"])]


def _runs_004(body: Any) -> Any:
    if not isinstance(body, dict) or "data" not in body:
        return body
    return [run_004(r) for r in body["data"]]


def health_004(body: Any) -> Any:
    if not isinstance(body, dict) or "workflowId" not in body:
        return body
    out: dict[str, Any] = {"WorkflowId": body["workflowId"]}
    for window in ("24h", "7d", "30d"):
        for kind in ("total", "success", "failed"):
            out[f"{kind.title()}Runs{window}"] = body[f"{kind}Runs{window}"]
    average = body.get("averageDurationMs")
    out.update({"SuccessRatePercent": body.get("successRatePercent"),
                "AverageDurationMs": None if average is None else round(average),
                "LastRunOn": body.get("lastRunAt"), "LastStatus": body.get("lastStatus"),
                "LastError": body.get("lastError"), "LastErrorOn": body.get("lastErrorAt")})
    return out


def event_types() -> list[dict[str, Any]]:
    """004's 28 TriggerEventType values in order, then 002's event types (no number)."""
    return [{"Value": entry["value"], "Name": entry["type"],
             "Description": entry["description"],
             "TemplateVariables": entry["templateVariables"],
             "SamplePayload": entry["samplePayload"]["data"]}
            for entry in event_catalog()]


def _sample_payload(engine: Engine, tenant: str, head: dict[str, Any]) -> dict[str, Any]:
    """004's sample event for a test run: the trigger's event type's sample, marked as one."""
    value = _event_value(test_runs.trigger_of(engine, tenant, head))
    name = None if value is None else EVENT_TYPES[value][0]
    return {**test_runs.sample_for(engine, tenant, head), "EventType": value,
            "EventName": name, "Sample": True}


def _test_payload(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    return test_runs.event_payload(body)


def _with_query(request: web.Request, **defaults: str) -> web.Request:
    """The request with default query parameters (the caller's own win)."""
    missing = {k: v for k, v in defaults.items() if k not in request.query}
    if not missing:
        return request
    return request.clone(rel_url=request.rel_url.update_query(missing))


# ---------------------------------------------------------------- views

def register(engine: Engine) -> None:
    app = engine.app

    async def latest_body(request: web.Request, workflow_id: str) -> dict[str, Any]:
        tenant = tenant_of(request)
        head = await workflows.find_workflow(engine, tenant, workflow_id)
        return orjson.loads(  # type: ignore[no-any-return]
            workflows.version_of(engine, tenant, head, "latest")["definition"])

    @app.page("/api/workflows/{workflow_id}/execute")
    class Execute002(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            started = now_ms()
            if attachments.is_multipart(request):  # 003's attachment, as on the start routes
                response = await runs.start_with_file(engine, request, workflow_id,
                                                      field="trigger_data", wait=False)
                return _answer(response, lambda b: execution_002(b, started))
            response = await runs.start_run(engine, request, workflow_id,
                                            field="trigger_data", wait=False)
            return _answer(response, lambda b: execution_002(b, started))

    @app.page(V4 + "/eventtypes")
    class EventTypes(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            tenant_of(request)
            return json_response(event_types())

    @app.page(V4 + "/runs")
    class Runs(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            return _answer(await run_queries.list_runs(engine, request), _runs_004)

    @app.page(V4 + "/runs/pending")
    class Pending(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            every = _with_query(request, limit=str(200))  # 004: all of them, not a page
            return _answer(await run_queries.list_runs(engine, every, statuses=st.ACTIVE),
                           _runs_004)

    @app.page(V4 + "/runs/clear")
    class Clear(faust.web.View):
        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            return _answer(await run_queries.clear_pending(engine, request),
                           lambda b: {"Count": b["cancelled"], "WorkflowRunIds": b["runIds"]})

    @app.page(V4 + "/runs/{run_id}/logs")
    class RunLogs(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, run_id: str) -> web.Response:
            return _answer(await run_queries.logs(engine, request, run_id), _logs_004)

    @app.page(V4 + "/runs/{run_id}/cancel")
    class Cancel(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, run_id: str) -> web.Response:
            await read_body(request)  # 004 sends none; a body is not forwarded
            response = await runs.stop_run(engine, request, run_id, None, "cancel")
            return _answer(response, run_004, status=200)  # 004: 200 once requested

    @app.page(V4)
    class Workflows(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            tenant = tenant_of(request)
            found, _ = workflows._listed(engine, request, tenant)
            return json_response([workflow_004(workflows.present(engine, tenant, head))
                                  for head in found])

        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            body = _workflow_in(await read_json(request))
            response = await _in_004(workflows.create(engine, request, body))
            return _answer(response, workflow_004)

    @app.page(V4_WORKFLOW)
    class Workflow(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            tenant = tenant_of(request)
            head = await workflows.find_workflow(engine, tenant, workflow_id)
            return json_response(workflow_004(workflows.present(
                engine, tenant, head, request.query.get("version"))))

        @json_errors
        async def put(self, request: web.Request, workflow_id: str) -> web.Response:
            require(request, "admin")
            raw = await read_json(request)
            if isinstance(raw, dict) and set(raw) <= {"IsEnabled"}:  # a toggle, no version
                body: dict[str, Any] = {"enabled": raw.get("IsEnabled")}
            else:
                body = _workflow_in(raw, await latest_body(request, workflow_id))
            response = await _in_004(workflows.update(engine, request, workflow_id, body))
            return _answer(response, workflow_004)

        @json_errors
        async def delete(self, request: web.Request, workflow_id: str) -> web.Response:
            """Owner: archive, then delete for good; admin: archive (see the module doc)."""
            principal = require(request, "admin")
            await workflows.workflow_op(engine, request, workflow_id, "workflow.archive",
                                        "admin")
            permanent = principal.role == "owner"
            if permanent:
                await workflows.workflow_op(engine, request, workflow_id, "workflow.delete",
                                            "owner")
            return json_response({"WorkflowId": workflow_id, "Deleted": True,
                                  "Permanent": permanent,
                                  "Status": None if permanent else "archived"})

    @app.page(V4_WORKFLOW + "/steps")
    class Steps(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            step = _step_in(await read_json(request))
            response = await _in_004(workflow_steps.add_step(engine, request, workflow_id,
                                                             step))
            return _answer(response, _step_answer)

    @app.page(V4_WORKFLOW + "/steps/{step_id}")
    class Step(faust.web.View):
        @json_errors
        async def put(self, request: web.Request, workflow_id: str, step_id: str
                      ) -> web.Response:
            step = _step_in(await read_json(request))
            response = await _in_004(workflow_steps.replace_step(
                engine, request, workflow_id, step_id, step))
            return _answer(response, _step_answer)

        @json_errors
        async def delete(self, request: web.Request, workflow_id: str, step_id: str
                         ) -> web.Response:
            response = await workflow_steps.delete_step(engine, request, workflow_id, step_id)
            return _answer(response, lambda b: {
                "WorkflowId": b["workflowId"], "WorkflowStepId": b["stepId"],
                "Version": b["version"], "Deleted": True})

    @app.page(V4_WORKFLOW + "/runs")
    class WorkflowRuns(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            await workflows.find_workflow(engine, tenant_of(request), workflow_id)
            return _answer(await run_queries.list_runs(engine, request, workflow_id),
                           _runs_004)

    @app.page(V4_WORKFLOW + "/health")
    class Health(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            return _answer(await run_queries.workflow_health(engine, request, workflow_id),
                           health_004)

    @app.page(V4_WORKFLOW + "/test")
    class Test(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            """A run with the caller's EventPayloadJson (else a sample event), waited for."""
            tenant = tenant_of(request)
            raw = await read_body(request)
            payload = _test_payload(parse_json(raw, required=False))
            if payload is None:
                head = await workflows.find_workflow(engine, tenant, workflow_id)
                payload = _sample_payload(engine, tenant, head)
            response = await runs.start_run(engine, request, workflow_id, field="input",
                                            wait=True, raw=raw, payload=payload,
                                            trigger="test")
            return _answer(response, run_004)

