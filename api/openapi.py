"""OpenAPI 3.1 description of the whole HTTP API, served at `GET /api/openapi.json` (public).

The document is built once (then cached) from the declarative table `ENDPOINTS`:
one `Endpoint` per (method, path) the worker serves, canonical routes and the
reference aliases (api/aliases.py) alike. Each names its role (None: public),
parameters, request body schema and success answers; the error answers are
derived from it (401 for every authenticated call, 403 when the role is above
member, 404 when the path names a resource, 400 when it reads parameters or a
body, 413 with a body) plus the extra ones it declares (409, 503, 504...), all
with the one error schema of api/errors.py. `tests/test_openapi.py` checks that
the table and the router agree both ways, and `tests/test_openapi_e2e.py` runs
schemathesis against a live worker with it.

HEAD is answered for every GET path by Faust's views and is not listed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import faust
import orjson
from aiohttp import web

from api import aliases
from schemas import statuses as st
from streams.control.workflows import STATUSES as WORKFLOW_STATUSES
from streams.engine import Engine
from streams.inline_bulk import KINDS, BulkKind

PATH = "/api/openapi.json"
TITLE = "hopflow"
VERSION = "0.1.0"

# ------------------------------------------------------------------ schema helpers

Schema = dict[str, Any]
STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
DATE: Schema = {"type": "string", "format": "date"}
ANY: Schema = {}
OBJ: Schema = {"type": "object"}
TIME: Schema = {"type": "string", "format": "date-time"}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def null(schema: Schema) -> Schema:
    """The schema, or null."""
    if set(schema) <= {"type", "format", "enum"} and isinstance(schema.get("type"), str):
        out = {**schema, "type": [schema["type"], "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def obj(props: dict[str, Schema], required: tuple[str, ...] | list[str] | None = None,
        **extra: Any) -> Schema:
    """An object; `required` defaults to every property listed."""
    out: Schema = {"type": "object", "properties": props}
    needed = list(props) if required is None else list(required)
    if needed:
        out["required"] = needed
    out.update(extra)
    return out


def arr(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def enum(*values: Any) -> Schema:
    return {"type": "string", "enum": list(values)}


ID: Schema = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"}
RUN_STATUS = enum(*st.RUN_STATUSES)
SECRET_NAME: Schema = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"}
JSON_TEXT: Schema = {"type": "string", "contentMediaType": "application/json"}
STEP_STATUS = enum(st.RUNNING, st.WAITING, st.COMPLETED, st.FAILED, st.CANCELLED,
                   st.TERMINATED, st.REUSED)

# ------------------------------------------------------------------ components

_STEP = obj({"id": ID, "type": STR, "name": STR, "config": OBJ, "next": null(STR),
             "output_template": STR},
            required=("id", "type"))
_RETRY = obj({"max_retries": {"type": "integer", "minimum": 0, "maximum": 10},
              "backoff_seconds": {"type": "number", "minimum": 0, "maximum": 86400},
              "max_backoff_seconds": {"type": "number", "minimum": 0, "maximum": 86400}},
             required=())
_TRIGGER = obj({"type": STR}, required=("type",))
_EDGE = obj({"from": STR, "to": STR, "condition": OBJ}, required=("from", "to"))
_DEFINITION_PROPS: dict[str, Schema] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 250},
    "description": null({"type": "string", "maxLength": 1000}),
    "trigger": _TRIGGER, "steps": arr(_STEP, maxItems=200), "edges": arr(_EDGE),
    "initialStep": STR, "retry": _RETRY, "output": ANY,
    "inputSchema": OBJ, "payload": OBJ,
    "concurrency": obj({"key": {"type": "string", "minLength": 1},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 100}},
                       required=("key",))}

SCHEMAS: dict[str, Schema] = {
    "Error": obj({"error": obj({
        "status": INT, "code": STR, "message": STR, "field": STR,
        "issues": arr(obj({"field": STR, "message": STR})), "retryAfter": INT},
        required=("status", "code", "message"))}),
    "BulkJob": obj({
        "id": STR, "type": STR, "status": enum("queued", "processing", "completed", "failed",
                                               "cancelled"),
        "total_rows": INT, "processed": INT, "failed": INT, "credits_used": INT,
        "created_at": TIME, "completed_at": null(TIME), "error": null(STR)}),
    "BulkJobList": obj({"data": arr(ref("BulkJob")), "page": INT, "limit": INT, "offset": INT,
                        "total": INT, "hasMore": BOOL}),
    "Health": obj({"status": enum("ok", "starting"), "app": STR, "history": OBJ}),
    "Step": _STEP,
    "OrderedStep": {"allOf": [_STEP, obj({"order": {"type": "integer", "minimum": 1}})]},
    "WorkflowInput": obj({
        **_DEFINITION_PROPS, "id": ID, "enabled": BOOL, "status": enum("draft", "testing"),
        "template_id": STR,
        "definition": obj({k: v for k, v in _DEFINITION_PROPS.items()
                           if k not in ("name", "description")}, required=()),
        "trigger_type": enum(*aliases.TRIGGER_TYPES_002), "trigger_config": OBJ},
        required=(), description="A workflow definition (steps/graph.py); also 002's "
                                 "`definition` + `trigger_type` + `trigger_config`."),
    "Workflow": obj({
        "id": STR, "name": STR, "description": null(STR), "trigger": _TRIGGER,
        "steps": arr(ref("Step")), "edges": arr(OBJ), "initialStep": STR, "retry": OBJ,
        "output": ANY, "inputSchema": OBJ, "payload": OBJ,
        "version": INT, "latestVersion": INT, "publishedVersion": null(INT),
        "status": enum(*WORKFLOW_STATUSES), "enabled": BOOL,
        "createdAt": TIME, "updatedAt": TIME, "createdBy": null(STR), "updatedBy": null(STR),
        "trigger_type": STR, "trigger_config": OBJ, "created_at": TIME},
        required=("id", "name", "version", "latestVersion", "publishedVersion", "status",
                  "enabled", "createdAt", "updatedAt", "createdBy", "updatedBy",
                  "trigger_type", "trigger_config", "created_at")),
    "WorkflowList": obj({
        "data": arr(ref("Workflow")), "workflows": arr(ref("Workflow")), "page": INT,
        "limit": INT, "offset": INT, "total": INT, "hasMore": BOOL}),
    "VersionList": obj({
        "workflowId": STR, "data": arr(obj({
            "version": INT, "createdAt": null(TIME), "createdBy": null(STR), "stepCount": INT,
            "latest": BOOL, "published": BOOL})),
        "page": INT, "limit": INT, "offset": INT, "total": INT, "latest": INT,
        "published": null(INT)}),
    "AuditList": obj({
        "workflowId": STR, "data": arr(obj({
            "action": STR, "actor": null(STR), "version": null(INT), "at": null(TIME),
            "detail": ANY, "id": {"type": ["string", "integer"]}})),
        "page": INT, "limit": INT, "offset": INT, "total": INT, "hasMore": BOOL}),
    "StepInput": obj({"id": ID, "type": STR, "name": STR, "config": OBJ, "next": null(STR),
                      "output_template": STR, "order": {"type": "integer", "minimum": 1}},
                     required=("type",)),
    "StepList": obj({"workflowId": STR, "version": INT, "data": arr(ref("OrderedStep"))}),
    "StepResult": obj({"workflowId": STR, "version": INT, "step": ref("OrderedStep")}),
    "StepDeleted": obj({"workflowId": STR, "version": INT, "stepId": STR,
                        "deleted": {"const": True}}),
    "Deleted": obj({"id": STR, "deleted": {"const": True}}),
    "WebhookToken": obj({
        "workflowId": STR, "tokenId": STR, "token": null(STR), "maskedToken": STR,
        "url": null(STR), "verify": BOOL, "createdAt": STR, "created": BOOL,
        "signingSecret": STR}, required=("workflowId", "tokenId", "token", "maskedToken",
                                         "url", "verify", "createdAt", "created"),
        description="token and url only in the answer that made the token; signingSecret "
                    "only when this call turned verification on"),
    "RunAccepted": obj({"runId": STR, "workflowId": STR, "status": STR},
                       required=("runId", "status"),
                       description="A run accepted and not over yet (a full Run when known)."),
    "RunSummary": obj({
        "runId": STR, "workflowId": STR, "workflowVersion": null(INT), "tenant": STR,
        "trigger": null(STR), "status": RUN_STATUS, "currentStepId": null(STR),
        "input": ANY, "result": ANY, "error": null(STR), "idempotencyKey": null(STR),
        "startTime": null(TIME), "endTime": null(TIME), "duration": null(INT),
        "cancelRequested": BOOL,
        "rerunOf": {**null(STR), "description": "the run this one re-runs (POST .../rerun)"},
        "retryAtMs": {**null(INT), "description": "a retrying run's next attempt (live)"},
        "pauseSignal": {"anyOf": [ref("PauseSignal"), {"type": "null"}]}},
        required=("runId", "workflowId", "workflowVersion", "tenant", "trigger", "status",
                  "currentStepId", "input", "result", "error", "idempotencyKey", "startTime",
                  "endTime", "duration")),
    "PauseSignal": obj({
        "type": {"enum": ["collect_inputs", "request_user_action"]}, "stepId": STR,
        "stepType": STR, "title": null(STR), "message": null(STR), "expiresAtMs": null(INT),
        "fields": arr(obj({"name": STR, "type": STR, "required": BOOL, "label": null(STR),
                           "description": null(STR), "options": arr(ANY)},
                          required=("name", "type", "required"))),
        "actions": arr(obj({"id": STR, "label": null(STR), "values": arr(ANY),
                            "valueLabels": arr(null(STR))}, required=("id", "values")))},
        required=("type", "stepId", "stepType", "title", "message", "expiresAtMs"),
        description="What a paused run waits for: fields (collect_inputs) or actions "
                    "(request_user_action)."),
    "StepExecution": obj({
        "stepId": STR, "stepType": STR, "seq": INT, "attempt": INT, "status": STEP_STATUS,
        "startTime": null(TIME), "endTime": null(TIME), "duration": null(INT),
        "output": ANY, "error": null(STR), "request": ANY,
        "startedMs": INT, "endedMs": null(INT),
        "waitKind": {"enum": ["delay", "approval", None],
                     "description": "a wait (timer or person) rather than work"},
        "errorClass": {"enum": ["transient", "permanent", None],
                       "description": "a failed attempt's class (transient ones retry)"}},
        required=("stepId", "stepType", "seq", "attempt", "status", "startTime", "endTime",
                  "duration", "error")),
    "Run": {"allOf": [ref("RunSummary"), obj({
        "stepExecutionHistory": arr(ref("StepExecution"))})]},
    "RerunAccepted": obj({"runId": STR, "workflowId": STR, "status": STR,
                          "workflowVersion": INT, "rerunOf": STR, "fromStep": null(STR)}),
    "RunList": obj({"data": arr(ref("RunSummary")), "page": INT, "limit": INT, "offset": INT,
                    "total": INT, "totalCapped": BOOL, "hasMore": BOOL}),
    "RunLogs": obj({"runId": STR, "workflowId": STR, "status": RUN_STATUS,
                    "logs": arr({"allOf": [ref("StepExecution"), obj({
                        "outputTruncated": BOOL, "httpStatus": INT, "retryable": BOOL},
                        required=())]})}),
    "Cleared": obj({"cancelled": INT, "runIds": arr(STR)}),
    "RunDeleted": obj({"runId": STR, "deleted": {"const": True}}),
    "Executions": obj({
        "executions": arr(obj({
            "id": STR, "workflow_id": STR, "version": null(INT), "status": RUN_STATUS,
            "triggered_by": null(STR), "started_at": null(TIME), "completed_at": null(TIME),
            "duration_ms": null(INT), "error": null(STR),
            "execution_log": arr(obj({
                "step_id": STR, "step_type": STR, "status": STEP_STATUS, "attempt": INT,
                "started_at": null(TIME), "completed_at": null(TIME),
                "duration_ms": null(INT), "error": null(STR)}))})),
        "page": INT, "limit": INT, "total": INT, "has_more": BOOL}),
    "WorkflowHealth": obj({
        "workflowId": STR,
        **{f"{kind}Runs{w}": INT for w in ("24h", "7d", "30d")
           for kind in ("total", "success", "failed")},
        "successRatePercent": null(NUM), "averageDurationMs": null(NUM),
        "lastRunAt": null(TIME), "lastStatus": null(STR), "lastError": null(STR),
        "lastErrorAt": null(TIME),
        "windows": obj({w: obj({
            "total": INT, "success": INT, "failed": INT, "cancelled": INT,
            "successRatePercent": null(NUM), "averageDurationMs": null(NUM)})
            for w in ("24h", "7d", "30d")}),
        "hourly": arr(obj({"hour": TIME, "hourMs": INT, "started": INT, "completed": INT,
                           "failed": INT, "cancelled": INT}), minItems=24, maxItems=24,
                      description="runs per hour over the last 24 h, oldest first, by "
                                  "the hour they started in and how they ended so far")}),
    "TemplateSummary": obj({"id": STR, "category": STR, "name": STR, "description": STR,
                            "stepCount": INT, "triggerType": STR}),
    "TemplateList": obj({"data": arr(ref("TemplateSummary")), "total": INT,
                         "categories": arr(STR)}),
    "Template": obj({"id": STR, "category": STR, "name": STR, "description": STR,
                     "definition": OBJ}),
    "InputMetadata": obj({"success": BOOL, "data": obj({
        "workflowId": STR, "payload": OBJ, "schema": null(OBJ)})}),
    "Key": obj({"keyId": STR, "name": STR, "role": enum("member", "admin", "owner"),
                "prefix": STR, "createdAt": null(TIME), "createdBy": null(STR),
                "revokedAt": null(TIME), "active": BOOL}),
    "Tenant": obj({
        "tenant": STR, "role": enum("member", "admin", "owner"), "actor": STR, "plan": STR,
        "limits": obj({k: null(INT) for k in (
            "workflows", "stepsPerWorkflow", "credentials", "executionsPerMinute",
            "dailyRuns")} | {"maxRetries": INT}),
        "usage": obj({"workflows": INT, "credentials": INT})}),
    "Usage": obj({
        "tenant": STR, "from": DATE, "to": DATE,
        "totals": obj({"credits": INT, "calls": INT}),
        "byType": arr(obj({"stepType": STR, "credits": INT, "calls": INT})),
        "days": arr(obj({"day": DATE, "stepType": STR, "credits": INT, "calls": INT}))},
        description="Credits billed and I/O step calls, per UTC day and step type."),
    "BulkResult": obj({
        "index": INT, "input": STR, "ok": BOOL, "output": null(OBJ), "error": null(STR),
        "credits": INT}, description="One item of an inline bulk call: output is the "
                                     "lookup's (also for invalid input), null when it failed"),
    "BulkSummary": obj({"total": INT, "succeeded": INT, "failed": INT, "credits": INT,
                        "cancelled": BOOL}),
    "BulkAnswer": obj({"results": arr(ref("BulkResult")), "summary": ref("BulkSummary")},
                      description="Without Accept: text/event-stream. With it, the same as "
                                  "Server-Sent Events: `result` (a BulkResult) per item as it "
                                  "finishes, then `summary` (a BulkSummary)."),
    "Webhook": obj({
        "id": STR, "url": STR, "eventTypes": arr(STR), "workflowId": null(STR),
        "enabled": BOOL, "disabledReason": null(STR), "secretSet": BOOL,
        "secret": {"type": "string", "description": "whsec_...: only in the create and "
                                                    "rotate answers"},
        "createdAt": TIME, "updatedAt": TIME},
        required=("id", "url", "eventTypes", "enabled", "secretSet")),
    "WebhookInput": obj({
        "url": {"type": "string", "minLength": 1, "description": "https:// URL"},
        "eventTypes": arr(enum("run.completed", "run.failed", "run.cancelled",
                               "run.terminated", "run.paused", "bulk_job.completed", "*"),
                          minItems=1),
        "workflowId": null(STR), "enabled": BOOL}, required=()),
    "WebhookDelivery": obj({
        "eventId": STR, "eventType": STR, "status": enum("pending", "delivered", "failed"),
        "attempts": INT, "lastStatus": null(INT), "lastError": null(STR),
        "lastAttemptAt": null(TIME), "nextAttemptAt": null(TIME), "createdAt": TIME,
        "attemptLog": arr(obj({"attempt": INT, "status": null(INT), "error": null(STR),
                               "at": TIME, "nextAttemptAt": null(TIME)}))}),
    "Secret": obj({"name": STR, "createdAt": null(TIME), "updatedAt": null(TIME),
                   "updatedBy": null(STR)}, required=("name",)),
    "CredentialInput": obj({
        "name": {"type": "string", "minLength": 1},
        "type": {"type": ["string", "integer"],
                 "description": "smtp, twilio, ftp, sftp, s3, http_bearer, http_basic, "
                                "http_api_key, teams, slack, discord, azure_blob, box, "
                                "dropbox (or 0-13)"},
        "data": {"type": "object", "description": "the type's fields; secrets in plain "
                                                  "text here, never shown again"}},
        required=()),
    "Schedule": obj({
        "workflow_id": STR, "cron_expression": STR, "timezone": STR, "enabled": BOOL,
        "catch_up": enum("skip", "run_once"), "source": enum("api", "definition"),
        "next_run_at": null({"type": "string", "format": "date-time"}),
        "last_run_at": null({"type": "string", "format": "date-time"}),
        "last_run_id": null(STR), "last_refusal": null(STR),
        "created_at": STR, "updated_at": STR}),
    "ScheduleInput": obj({
        "cron_expression": {"type": "string", "description": "5 fields (minute hour "
                            "day-of-month month day-of-week); 6 with seconds first only "
                            "when the minimum interval setting is below 60 s"},
        "timezone": {"type": "string", "description": "IANA name, default UTC"},
        "enabled": BOOL, "catch_up": enum("skip", "run_once")}, required=()),
    "Credential": obj({"id": STR, "name": STR, "type": STR, "typeId": INT,
                       "data": {"type": "object", "description": "secret fields masked"},
                       "createdAt": null(TIME), "updatedAt": null(TIME)}),
    "CredentialInput004": obj({"Name": STR, "CredentialType": {"type": ["integer", "string"]},
                               "Data": OBJ}, required=()),
    "Credential004": obj({"WorkflowCredentialId": STR, "Name": STR, "CredentialType": INT,
                          "CredentialTypeName": STR, "Data": OBJ, "CreatedOn": null(TIME),
                          "UpdatedOn": null(TIME)}),
    "IntegrationInput": obj({
        "name": {"type": "string", "minLength": 1, "maxLength": 250},
        "integration_type": enum("slack", "teams", "discord", "email", "webhook"),
        "workflow_id": null(STR),
        "config": {"type": "object", "description": "slack/teams/discord: webhook_url "
                   "(secret), channel; email: credential_id, to, cc, bcc, subject, template; "
                   "webhook: url, method, headers (secret)"}}, required=()),
    "Integration": obj({"id": STR, "name": STR, "integration_type": STR,
                        "workflow_id": null(STR),
                        "config": {"type": "object", "description": "secret fields masked"},
                        "created_at": null(TIME), "updated_at": null(TIME)}),
    "IntegrationList": obj({"data": arr(ref("Integration")),
                            "integrations": arr(ref("Integration")), "total": INT,
                            "page": INT, "limit": INT, "offset": INT, "hasMore": BOOL}),
    # reference 002
    "Execution002": obj({"execution_id": STR, "workflow_id": null(STR), "status": STR,
                         "started_at": null(TIME)}, required=("execution_id", "status")),
    # reference 004
    "WorkflowInput004": obj({
        "Name": {"type": "string", "minLength": 1, "maxLength": 250},
        "Description": null({"type": "string", "maxLength": 1000}),
        "TriggerEventType": {"anyOf": [
            {"type": "integer", "minimum": 0, "maximum": len(aliases.EVENT_TYPES) - 1},
            enum(*(name for name, _ in aliases.EVENT_TYPES))]},
        "IsEnabled": BOOL,
        "MaxRetryCount": {"type": "integer", "minimum": 0,
                          "description": "capped at 5 (004's server-side ceiling)"},
        "RetryBackoffBaseSeconds": {"type": "number", "minimum": 0, "maximum": 86400}},
        required=(), description="004's WorkflowInput: Name and TriggerEventType are "
                                 "required on create."),
    "Step004": obj({
        "WorkflowStepId": STR, "ActionType": null({"type": "integer", "minimum": 0,
                                                   "maximum": len(aliases.ACTION_TYPES) - 1}),
        "StepOrder": INT, "OutputTemplate": STR, "ActionConfig": STR,
        "WorkflowCredentialId": null(STR), "IsEnabled": BOOL, "StepType": STR,
        "Name": null(STR)}),
    "StepInput004": obj({
        "ActionType": {"type": "integer", "minimum": 0,
                       "maximum": len(aliases.ACTION_TYPES) - 1},
        "StepOrder": {"type": "integer", "minimum": 1},
        "OutputTemplate": {"type": "string", "maxLength": aliases.MAX_TEMPLATE_BYTES},
        "ActionConfig": {**JSON_TEXT, "description": "a JSON object, as a string"},
        "WorkflowCredentialId": null({"type": ["string", "integer"]}),
        "IsEnabled": BOOL, "Name": STR}, required=("ActionType",)),
    "StepResult004": {"allOf": [ref("Step004"), obj({"WorkflowId": STR, "Version": INT})]},
    "StepDeleted004": obj({"WorkflowId": STR, "WorkflowStepId": STR, "Version": INT,
                           "Deleted": {"const": True}}),
    "Workflow004": obj({
        "WorkflowId": STR, "Name": STR, "Description": null(STR),
        "TriggerEventType": null(INT), "IsEnabled": BOOL, "MaxRetryCount": INT,
        "RetryBackoffBaseSeconds": NUM, "Steps": arr(ref("Step004")), "CreatedOn": TIME,
        "UpdatedOn": TIME, "Status": enum(*WORKFLOW_STATUSES), "Version": INT}),
    "Deleted004": obj({"WorkflowId": STR, "Deleted": {"const": True}, "Permanent": BOOL,
                       "Status": null(STR)}),
    "RunLog004": obj({
        "WorkflowRunLogId": INT, "WorkflowStepId": STR, "StepType": STR, "Attempt": INT,
        "Status": null(INT), "StatusName": STR, "RenderedOutput": null(STR),
        "ActionResult": null(STR), "ErrorMessage": null(STR), "StartedOn": null(TIME),
        "CompletedOn": null(TIME), "DurationMs": null(INT)}),
    "Run004": obj({
        "WorkflowRunId": STR, "WorkflowId": null(STR), "WorkflowVersion": null(INT),
        "Status": null({"type": "integer", "minimum": 0, "maximum": 5}), "StatusName": STR,
        "Trigger": null(STR), "InputPayload": ANY, "Result": ANY, "ErrorMessage": null(STR),
        "StartedOn": null(TIME), "CompletedOn": null(TIME), "DurationMs": null(INT),
        "CancelRequested": BOOL, "Logs": arr(ref("RunLog004"))},
        required=("WorkflowRunId", "WorkflowId", "Status", "StatusName", "StartedOn",
                  "CompletedOn")),
    "Health004": obj({
        "WorkflowId": STR,
        **{f"{kind}Runs{w}": INT for w in ("24h", "7d", "30d")
           for kind in ("Total", "Success", "Failed")},
        "SuccessRatePercent": null(NUM), "AverageDurationMs": null(INT),
        "LastRunOn": null(TIME), "LastStatus": null(STR), "LastError": null(STR),
        "LastErrorOn": null(TIME)}),
    "EventType004": obj({"Value": null(INT), "Name": STR, "Description": STR,
                         "TemplateVariables": arr(STR), "SamplePayload": OBJ}),
    "EventType": obj({"type": STR, "description": STR, "value": null(INT), "source": STR,
                      "templateVariables": arr(STR), "samplePayload": ref("PlatformEvent")}),
    "PlatformEvent": obj({"specversion": STR, "id": STR, "type": STR, "source": STR,
                          "time": STR, "tenant": STR, "data": ANY}),
    "EventAccepted": obj({"id": STR, "type": STR, "topic": STR}),
    "Cleared004": obj({"Count": INT, "WorkflowRunIds": arr(STR)}),
    "FileRef": obj({"fileId": {"type": "string", "format": "uuid"}, "name": STR, "size": INT,
                    "contentType": STR, "sha256": STR},
                   description="A stored file's reference: what a run's input names."),
    "UploadAccepted": obj({"runId": STR, "workflowId": STR, "status": STR,
                           "file": ref("FileRef")}),
    "UploadFannedOut": obj({"job": ref("BulkJob"), "file": ref("FileRef")},
                           description="A fan_out: rows workflow: the bulk job of one run "
                                       "per CSV row"),
}

# ------------------------------------------------------------------ parameters


@dataclass(frozen=True)
class Param:
    name: str
    schema: Schema
    where: str = "query"
    description: str = ""
    required: bool = False

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "in": self.where, "schema": self.schema,
                               "required": self.required or self.where == "path"}
        if self.description:
            out["description"] = self.description
        return out


_PATH_IDS = {
    "workflow_id": ("a workflow id", ID),
    "run_id": ("a run id", {"type": "string", "minLength": 1, "maxLength": 200}),
    "step_id": ("a step id", ID),
    "key_id": ("an API key id", {"type": "string", "minLength": 1, "maxLength": 64}),
    "template_id": ("a template id", {"type": "string", "minLength": 1, "maxLength": 200}),
    "credential_id": ("a credential id", {"type": "string", "minLength": 1,
                                          "maxLength": 200}),
    "webhook_id": ("a webhook endpoint id", {"type": "string", "minLength": 1,
                                             "maxLength": 200}),
    "integration_id": ("an integration id", {"type": "string", "minLength": 1,
                                             "maxLength": 200}),
    "file_id": ("a stored file's id (a UUID)", {"type": "string", "minLength": 1,
                                                "maxLength": 200}),
    "token": ("a workflow's ingest token (whk_...)", {"type": "string", "minLength": 1,
                                                      "maxLength": 200}),
    "path": ("a file of the web console, e.g. app.js or js/api.js",
             {"type": "string", "minLength": 1, "maxLength": 200}),
}
PAGE = (Param("page", {"type": "integer", "minimum": 1}, description="1-based page"),
        Param("limit", {"type": "integer", "minimum": 1, "maximum": 200},
              description="page size (default 20)"),
        Param("pageSize", {"type": "integer", "minimum": 1, "maximum": 200},
              description="page size (004's name for limit)"),
        Param("offset", {"type": "integer", "minimum": 0},
              description="rows to skip (instead of page)"))
IF_NONE_MATCH = Param("If-None-Match", STR, where="header",
                      description="the ETag of the page you have: 304 if unchanged")
LIST_ANSWERS = {200: ref("RunList"), 304: None}
RUN_FILTERS = (
    Param("workflow_id", STR, description="only this workflow's runs"),
    Param("workflowId", STR, description="same as workflow_id"),
    Param("status", STR, description="one status or several, comma-separated: "
                                     + ", ".join(st.RUN_STATUSES)),
    Param("from", STR, description="started at or after (ISO 8601 or epoch ms)"),
    Param("to", STR, description="started at or before (ISO 8601 or epoch ms)"),
    Param("trigger", {"type": "string", "maxLength": 64},
          description="only runs started this way: manual, event, monitor_event, test..."),
    *PAGE)
VERSION_SELECTOR = Param("version", {"type": "string", "pattern": r"^(latest|published|\d+)$"},
                         description="latest (default), published, or a version number")
START = (Param("wait", BOOL, description="wait for the run to end (200) or the timeout (202)"),
         Param("timeout", {"type": "number", "minimum": 0.1, "maximum": 300},
               description="seconds to wait with wait=true (default 30)"),
         Param("Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255},
               where="header", description="the same key and body name the same run"))

# ------------------------------------------------------------------ endpoints


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    tag: str
    ok: dict[int, Any]  # status -> schema (application/json), or (media type, schema)
    role: str | None = "member"  # None: public
    params: tuple[Param, ...] = ()
    body: Schema | None = None
    body_required: bool = False
    errors: tuple[int, ...] = ()
    description: str = ""
    form: Schema | None = None  # a multipart/form-data request body (files)

    @property
    def path_params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]

    def error_statuses(self) -> list[int]:
        found = set(self.errors)
        if self.role is not None:
            found.add(401)
            if self.role != "member":
                found.add(403)
        if self.path_params:
            found.add(404)
        if self.params or self.body is not None:
            found.add(400)
        if self.body is not None or self.form is not None:
            found.update((400, 413))
        return sorted(found)


WRITE = (400, 404, 409, 504)  # a registry command: refusals and a timeout
HISTORY = (503,)  # read from the history store, which may be down or starting
WF = "/api/workflows/{workflow_id}"
RUN = "/api/workflows/runs/{run_id}"
V4 = aliases.V4
V4WF = V4 + "/{workflow_id}"
CRED = "/api/workflows/credentials"
V4CRED = V4 + "/credentials"
INTEG = "/api/workflows/integrations"
HOOKS = "/api/webhooks"
START_ANSWERS = {200: ref("Run"), 202: ref("RunAccepted")}
STOP_ANSWERS = {200: ref("Run"), 202: ref("RunAccepted")}
RESUME_BODY = obj({"type": {"enum": ["collect_inputs", "request_user_action"]},
                   "data": OBJ, "actionId": STR,
                   "actionValue": {"type": ["string", "number"]}}, required=())


def _body(**props: Schema) -> Schema:
    return obj(props, required=())


def _bulk_body(kind: BulkKind) -> Schema:
    items = arr({"type": "string", "maxLength": 2048}, minItems=1, maxItems=kind.cap)
    props: dict[str, Schema] = {name: items for name in kind.fields}
    if kind.module.name == "phone_lookup":
        props["default_region"] = {"type": "string", "pattern": "^[A-Za-z]{2}$",
                                   "description": "for numbers without +country, e.g. US"}
    return obj(props, required=(kind.fields[0],) if len(kind.fields) == 1 else (),
               description=" or ".join(kind.fields) + " names the items")


BINARY: Schema = {"type": "string", "format": "binary"}
ATTACHMENT_FORM = obj({"attachment": {**BINARY, "description": "the file (3.75 MB at most); "
                                                              "its reference is "
                                                              "input.attachment"}},
                      required=(), additionalProperties={"type": "string"},
                      description="003's file upload: every other field is an input string")
UPLOAD_FORM = obj({"file": {**BINARY, "description": "the file (or in attachment)"}},
                  required=(), additionalProperties={"type": "string"})


BULK_FORM = obj({"file": {**BINARY, "description": "the CSV (up to 16 MB, 10,000 rows)"},
                 "type": enum("email", "phone", "company", "domain", "ip", "darkweb"),
                 "column": {"type": "string", "description": "the column's name or 0-based "
                                                             "index (auto-detected if omitted)"}},
                required=("file", "type"))
BULK_ID = Param("id", STR, required=True, description="the bulk job (job_...)")
BULK_ID_OPTIONAL = Param("id", STR, description="one job instead of the list")


ENDPOINTS: tuple[Endpoint, ...] = (
    # -- service
    Endpoint("GET", "/healthz", "Readiness: topics, tables and the replica", "service",
             {200: ref("Health"), 503: ref("Health")}, role=None),
    Endpoint("GET", "/metrics", "Prometheus metrics", "service",
             {200: ("text/plain", STR)}, role=None),
    Endpoint("GET", PATH, "This document", "service", {200: OBJ}, role=None),
    Endpoint("GET", "/console", "The web console (its page; it logs in with a key or JWT)",
             "service", {200: ("text/html", STR)}, role=None),
    Endpoint("GET", "/console/{path}", "The web console's static files (html, js, css)",
             "service", {200: ("*/*", STR)}, role=None,
             description="Only files of the console folder; anything else is a 404."),
    # -- keys and tenant
    Endpoint("GET", "/api/keys", "List API keys", "keys",
             {200: obj({"data": arr(ref("Key")), "total": INT})}, role="owner"),
    Endpoint("POST", "/api/keys", "Create an API key (shown once)", "keys",
             {201: {"allOf": [ref("Key"), obj({"key": STR})]}}, role="owner",
             body=_body(role=enum("member", "admin", "owner"),
                        name={"type": "string", "maxLength": 100}), errors=WRITE),
    Endpoint("DELETE", "/api/keys/{key_id}", "Revoke an API key", "keys", {200: ref("Key")},
             role="owner", errors=WRITE),
    Endpoint("GET", "/api/usage", "Credits and step calls of the caller's tenant per UTC day "
             "and step type (default: this month)", "keys", {200: ref("Usage")},
             params=(Param("from", DATE, description="first UTC day, YYYY-MM-DD"),
                     Param("to", DATE, description="last UTC day (inclusive), at most 366 "
                                                   "days after from")), errors=(503,)),
    Endpoint("GET", "/api/tenant", "The caller's tenant, role, plan, limits and usage",
             "keys", {200: ref("Tenant")}),
    # -- inline bulk lookups (001), streamed as Server-Sent Events on request
    *(Endpoint("POST", kind.path, kind.summary, "bulk", {200: ref("BulkAnswer")},
               body=_bulk_body(kind), body_required=True,
               errors=(429, 503),
               description=f"`{kind.fields[0]}`: at most {kind.cap} strings (more: 413). "
                           "With `Accept: text/event-stream` the answer is a stream of "
                           "`result` events, one per item as it finishes, then one `summary`; "
                           "otherwise one JSON body in input order. Credits (usage step type "
                           f"`{kind.usage_type}`) for the items that finished. 429 (naming "
                           "the items field) when the items would go over the plan's "
                           "monthly_credits cap; 503 while the history store is unreachable."
                           + (" 503 when the deployment has no provider for it."
                              if kind.provider else ""))
      for kind in KINDS),
    # -- secrets (000)
    Endpoint("GET", "/api/workflows/secrets", "List secrets (names only)", "secrets",
             {200: obj({"data": arr(ref("Secret")), "total": INT})}),
    Endpoint("POST", "/api/workflows/secrets", "Create or replace a secret", "secrets",
             {200: {"allOf": [ref("Secret"), obj({"created": BOOL})]},
              201: {"allOf": [ref("Secret"), obj({"created": BOOL})]}}, role="admin",
             body=obj({"name": SECRET_NAME, "value": {"type": "string", "minLength": 1}}),
             body_required=True, errors=(*WRITE, 503)),
    Endpoint("DELETE", "/api/workflows/secrets", "Delete a secret", "secrets",
             {200: obj({"name": STR, "deleted": {"const": True}})}, role="admin",
             params=(Param("name", SECRET_NAME, description="the secret (or in the body)"),),
             body=_body(name=SECRET_NAME), errors=WRITE),
    # -- credentials (004's types)
    Endpoint("GET", CRED, "List credentials (secrets masked)", "credentials",
             {200: obj({"data": arr(ref("Credential")), "total": INT})}),
    Endpoint("POST", CRED, "Create a credential", "credentials", {201: ref("Credential")},
             role="admin", body=ref("CredentialInput"), body_required=True,
             errors=(*WRITE, 503)),
    Endpoint("GET", CRED + "/{credential_id}", "One credential (secrets masked)",
             "credentials", {200: ref("Credential")}),
    Endpoint("PUT", CRED + "/{credential_id}", "Update; secrets not resent are kept",
             "credentials", {200: ref("Credential")}, role="admin",
             body=ref("CredentialInput"), body_required=True, errors=(*WRITE, 503)),
    Endpoint("DELETE", CRED + "/{credential_id}", "Delete a credential", "credentials",
             {200: ref("Deleted")}, role="admin", errors=WRITE),
    Endpoint("GET", V4CRED, "List credentials (004)", "reference 004",
             {200: arr(ref("Credential004"))}),
    Endpoint("POST", V4CRED, "Create a credential (004)", "reference 004",
             {201: ref("Credential004")}, role="admin", body=ref("CredentialInput004"),
             body_required=True, errors=(*WRITE, 503)),
    Endpoint("GET", V4CRED + "/{credential_id}", "One credential (004)", "reference 004",
             {200: ref("Credential004")}),
    Endpoint("PUT", V4CRED + "/{credential_id}", "Update a credential (004)",
             "reference 004", {200: ref("Credential004")}, role="admin",
             body=ref("CredentialInput004"), body_required=True, errors=(*WRITE, 503)),
    Endpoint("DELETE", V4CRED + "/{credential_id}", "Delete a credential (004)",
             "reference 004",
             {200: obj({"WorkflowCredentialId": STR, "Deleted": {"const": True}})},
             role="admin", errors=WRITE),
    # -- webhook ingest (000)
    Endpoint("GET", WF + "/webhook-token", "The workflow's ingest token (made and shown on "
             "the first call, masked afterwards)", "ingest", {200: ref("WebhookToken")},
             role="admin", errors=(409, 504)),
    Endpoint("POST", WF + "/webhook-token", "Rotate the ingest token (shown once); verify: "
             "true makes a Standard Webhooks signing secret", "ingest",
             {200: ref("WebhookToken")}, role="admin", body=_body(verify=BOOL),
             errors=(*WRITE, 503)),
    Endpoint("POST", "/api/workflows/ingest/{token}", "Start a run with the body as input "
             "(JSON, form-encoded or raw); no login", "ingest", {202: ref("RunAccepted")},
             role=None, body=OBJ,
             params=(Param("webhook-id", STR, where="header",
                           description="idempotency key (and signed, with verification)"),
                     Param("webhook-timestamp", STR, where="header"),
                     Param("webhook-signature", STR, where="header",
                           description="v1,<base64 HMAC-SHA256>, space-separated")),
             errors=(401, 409, 429, 503)),
    # -- integrations (002)
    Endpoint("GET", INTEG, "List integrations, or one with ?id= (secrets masked)",
             "integrations", {200: {"anyOf": [ref("IntegrationList"), ref("Integration")]}},
             params=(Param("id", STR, description="one integration instead of the list"),
                     Param("workflow_id", STR, description="only this workflow's"), *PAGE),
             errors=(404,)),  # ?id= names one: it may not exist
    Endpoint("POST", INTEG, "Create an integration (002)", "integrations",
             {201: ref("Integration")}, role="admin", body=ref("IntegrationInput"),
             body_required=True, errors=(*WRITE, 503)),
    Endpoint("PUT", INTEG, "Update the integration ?id= (masked secrets kept)", "integrations",
             {200: ref("Integration")}, role="admin",
             params=(Param("id", STR, required=True, description="the integration"),),
             body=ref("IntegrationInput"), body_required=True, errors=(*WRITE, 503)),
    Endpoint("DELETE", INTEG, "Delete the integration ?id=", "integrations",
             {200: ref("Deleted")}, role="admin",
             params=(Param("id", STR, required=True, description="the integration"),),
             errors=WRITE),
    Endpoint("GET", INTEG + "/{integration_id}", "One integration (secrets masked)",
             "integrations", {200: ref("Integration")}),
    Endpoint("PUT", INTEG + "/{integration_id}", "Update an integration", "integrations",
             {200: ref("Integration")}, role="admin", body=ref("IntegrationInput"),
             body_required=True, errors=(*WRITE, 503)),
    Endpoint("DELETE", INTEG + "/{integration_id}", "Delete an integration", "integrations",
             {200: ref("Deleted")}, role="admin", errors=WRITE),
    # -- outbound webhook endpoints
    Endpoint("GET", HOOKS, "List webhook endpoints (secrets never shown)", "webhooks",
             {200: obj({"data": arr(ref("Webhook")), "total": INT})}),
    Endpoint("POST", HOOKS, "Register an endpoint; the signing secret is shown once",
             "webhooks", {201: ref("Webhook")}, role="admin", body=ref("WebhookInput"),
             body_required=True, errors=(*WRITE, 503)),
    Endpoint("GET", HOOKS + "/{webhook_id}", "One webhook endpoint", "webhooks",
             {200: ref("Webhook")}),
    Endpoint("PUT", HOOKS + "/{webhook_id}", "Update; enabled=true clears the disabled reason",
             "webhooks", {200: ref("Webhook")}, role="admin", body=ref("WebhookInput"),
             body_required=True, errors=WRITE),
    Endpoint("DELETE", HOOKS + "/{webhook_id}", "Delete a webhook endpoint", "webhooks",
             {200: ref("Deleted")}, role="admin", errors=WRITE),
    Endpoint("POST", HOOKS + "/{webhook_id}/rotate-secret",
             "A new signing secret, shown once", "webhooks", {200: ref("Webhook")},
             role="admin", errors=(*WRITE, 503)),
    Endpoint("GET", HOOKS + "/{webhook_id}/deliveries", "Deliveries, newest first, with "
             "their attempts", "webhooks",
             {200: obj({"data": arr(ref("WebhookDelivery")), "total": INT, "page": INT,
                        "limit": INT, "offset": INT})}, params=PAGE, errors=HISTORY),
    # -- workflows
    Endpoint("GET", "/api/workflows", "List workflows", "workflows", {200: ref("WorkflowList")},
             params=(Param("search", STR, description="in name or description"),
                     Param("status", STR, description="comma-separated: draft, testing, "
                                                      "published, archived, active, paused"),
                     Param("includeArchived", BOOL), *PAGE)),
    Endpoint("POST", "/api/workflows", "Create a workflow (also from template_id)", "workflows",
             {201: ref("Workflow")}, role="admin",
             body={"allOf": [ref("WorkflowInput")],
                   "anyOf": [{"required": ["name"]}, {"required": ["template_id"]}]},
             body_required=True, errors=WRITE),
    Endpoint("GET", WF, "One version of a workflow", "workflows", {200: ref("Workflow")},
             params=(VERSION_SELECTOR,)),
    Endpoint("PUT", WF, "Update: a new version, or an enabled/status toggle", "workflows",
             {200: ref("Workflow")}, role="admin", body=ref("WorkflowInput"),
             body_required=True, errors=WRITE),
    Endpoint("DELETE", WF, "Archive (soft delete)", "workflows", {200: ref("Workflow")},
             role="admin", errors=WRITE),
    Endpoint("GET", WF + "/versions", "Versions, newest first", "workflows",
             {200: ref("VersionList")}, params=PAGE),
    Endpoint("GET", WF + "/audit", "Audit trail, newest first", "workflows",
             {200: ref("AuditList")}, params=PAGE, errors=HISTORY),
    Endpoint("POST", WF + "/publish", "Publish a version (runs start it)", "workflows",
             {200: ref("Workflow")}, role="admin",
             body=_body(version={"type": ["integer", "string"]}), errors=WRITE),
    Endpoint("POST", WF + "/unarchive", "Back to draft", "workflows", {200: ref("Workflow")},
             role="admin", errors=WRITE),
    Endpoint("DELETE", WF + "/permanent", "Delete an archived workflow for good", "workflows",
             {200: ref("Deleted")}, role="owner", errors=WRITE),
    Endpoint("POST", WF + "/clone", "Clone as a draft \"(Copy)\"", "workflows",
             {201: ref("Workflow")}, role="admin", body=_body(id=ID), errors=WRITE),
    Endpoint("GET", WF + "/schedule", "The workflow's cron schedule, with next_run_at",
             "schedules", {200: ref("Schedule")}),
    Endpoint("POST", WF + "/schedule", "Create the workflow's cron schedule", "schedules",
             {201: ref("Schedule")}, role="admin",
             body={"allOf": [ref("ScheduleInput")], "required": ["cron_expression"]},
             body_required=True, errors=WRITE),
    Endpoint("PUT", WF + "/schedule", "Change the schedule (fields not sent are kept)",
             "schedules", {200: ref("Schedule")}, role="admin", body=ref("ScheduleInput"),
             body_required=True, errors=WRITE),
    Endpoint("DELETE", WF + "/schedule", "Delete the schedule", "schedules",
             {200: obj({"workflow_id": STR, "deleted": BOOL})}, role="admin", errors=WRITE),
    Endpoint("GET", WF + "/steps", "Steps with their order", "steps", {200: ref("StepList")}),
    Endpoint("POST", WF + "/steps", "Add a step (a new version)", "steps",
             {201: ref("StepResult")}, role="admin", body=ref("StepInput"),
             body_required=True, errors=WRITE),
    Endpoint("PUT", WF + "/steps/{step_id}", "Replace or move a step", "steps",
             {200: ref("StepResult")}, role="admin", body=ref("StepInput"),
             body_required=True, errors=WRITE),
    Endpoint("DELETE", WF + "/steps/{step_id}", "Delete a step", "steps",
             {200: ref("StepDeleted")}, role="admin", errors=WRITE),
    Endpoint("GET", "/api/workflows/step-types",
             "Every step type: config fields, output shape, 004 ActionType numbers", "steps",
             {200: obj({"data": arr(obj({"type": STR, "aliases": arr(STR), "kind": STR,
                                         "title": STR, "config": arr(OBJ),
                                         "output": arr(OBJ), "actionTypes": arr(OBJ)})),
                        "total": INT, "actionTypes": arr(OBJ)})}),
    Endpoint("GET", "/api/workflows/templates", "The template catalog", "templates",
             {200: ref("TemplateList")}, params=(Param("category", STR),)),
    Endpoint("POST", "/api/workflows/templates", "Create a workflow from a template (002)",
             "templates", {201: ref("Workflow")}, role="admin",
             body=obj({"template_id": STR, "name": STR, "description": STR, "id": ID,
                       "enabled": BOOL}, required=("template_id",)),
             body_required=True, errors=WRITE),
    Endpoint("GET", "/api/workflows/templates/{template_id}", "One template", "templates",
             {200: ref("Template")}),
    Endpoint("GET", "/api/workflow/metadata/input/{workflow_id}", "Declared input (003)",
             "workflows", {200: ref("InputMetadata")}, params=(VERSION_SELECTOR,)),
    # -- runs
    Endpoint("POST", WF + "/run", "Start a run (async, or sync with wait=true)", "runs",
             START_ANSWERS, params=START, body=_body(input=OBJ), errors=(409, 429, 503, 504),
             form=ATTACHMENT_FORM),
    Endpoint("POST", WF + "/upload", "Start a file_upload workflow with a file", "files",
             {202: {"anyOf": [ref("UploadAccepted"), ref("UploadFannedOut")]}},
             params=(START[2],), form=UPLOAD_FORM, body_required=True,
             errors=(409, 415, 429, 503),
             description="A workflow whose trigger has fan_out: rows answers with a bulk job "
                         "(GET /api/bulk-jobs?id=) of one run per CSV row; 400 names file "
                         "(empty), 413 names file (over 10,000 rows), 429 names file (more "
                         "rows than the plan starts a minute)."),
    # -- bulk jobs (api/bulk_jobs.py)
    Endpoint("POST", "/api/bulk-jobs", "Create an async bulk lookup job from a CSV", "bulk",
             {201: ref("BulkJob")}, form=BULK_FORM, body_required=True, errors=(415, 429, 503),
             description="Answers at once (status queued); the rows are looked up by every "
                         "worker. 400 names file, type or column; 413 names file (16 MB or "
                         "10,000 rows); 429: the plan's monthly_credits would be exceeded."),
    Endpoint("GET", "/api/bulk-jobs", "One bulk job (id) or the tenant's jobs, newest first",
             "bulk", {200: {"anyOf": [ref("BulkJob"), ref("BulkJobList")]}},
             params=(BULK_ID_OPTIONAL, *PAGE), errors=(404, 503)),
    Endpoint("DELETE", "/api/bulk-jobs", "Cancel a bulk job (the rows done are kept)", "bulk",
             {200: ref("BulkJob")}, params=(BULK_ID,), errors=(404, 409, 503)),
    Endpoint("GET", "/api/bulk-jobs/download", "A bulk job's results CSV (input columns, the "
             "lookup's fields, error; rows not done yet have empty result cells)", "bulk",
             {200: ("text/csv", {"type": "string"})}, params=(BULK_ID,),
             errors=(404, 409, 503)),
    Endpoint("GET", "/api/bulk-jobs/events", "A bulk job's progress as Server-Sent Events "
             "(progress ..., then done)", "bulk", {200: ("text/event-stream", {"type": "string"})},
             params=(BULK_ID,), errors=(404, 503)),
    Endpoint("POST", "/api/files", "Store a file (for the uploads topic)", "files",
             {201: ref("FileRef")}, form=UPLOAD_FORM, body_required=True, errors=(415,)),
    Endpoint("GET", "/api/files/{file_id}", "Download a stored file (the owner tenant)",
             "files", {200: ("*/*", {"type": "string", "format": "binary"})},
             description="The stored bytes, with the type sniffed at upload, as an "
                         "attachment download (nosniff); ETag and Digest carry the sha256."),
    Endpoint("GET", "/api/files/{file_id}/meta", "A stored file's reference", "files",
             {200: ref("FileRef")}),
    Endpoint("POST", WF + "/test", "A test run (trigger test) with a payload or the sample "
             "event of the workflow's trigger", "runs", START_ANSWERS,
             params=(START[1], START[2]), body=_body(payload=OBJ, EventPayloadJson=JSON_TEXT),
             errors=(409, 429, 503, 504)),
    Endpoint("POST", "/api/events", "Publish a platform event (starts the workflows whose "
             "event trigger it matches)", "events", {202: ref("EventAccepted")},
             body=obj({"type": STR, "id": STR, "source": STR, "time": STR, "specversion": STR,
                       "tenant": STR, "data": OBJ}, required=("type",)), body_required=True),
    Endpoint("GET", "/api/workflows/event-types", "Every platform event type with its "
             "template variables and a sample payload", "events", {200: arr(ref("EventType"))}),
    Endpoint("POST", "/api/workflow/start/{workflow_id}", "Start a run and wait (003)",
             "runs", START_ANSWERS, params=START, body=_body(data=OBJ),
             errors=(409, 429, 503, 504), form=ATTACHMENT_FORM),
    Endpoint("POST", "/api/workflow/start-async/{workflow_id}", "Start a run (003)", "runs",
             START_ANSWERS, params=START, body=_body(data=OBJ), errors=(409, 429, 503, 504),
             form=ATTACHMENT_FORM),
    Endpoint("GET", RUN, "A run with its step history", "runs", {200: ref("Run")},
             errors=HISTORY),
    Endpoint("DELETE", RUN, "Delete an ended run", "runs", {200: ref("RunDeleted")},
             role="admin", errors=(409, *HISTORY)),
    Endpoint("GET", "/api/workflow/status/{run_id}", "A run (003's path)", "runs",
             {200: ref("Run")}, errors=HISTORY),
    Endpoint("POST", RUN + "/cancel", "Cancel (the step in flight finishes first)", "runs",
             STOP_ANSWERS, body=_body(reason={"type": "string", "maxLength": 1000}),
             errors=(409, *HISTORY)),
    Endpoint("POST", RUN + "/terminate", "Terminate at once", "runs", STOP_ANSWERS,
             body=_body(reason={"type": "string", "maxLength": 1000}),
             errors=(409, *HISTORY)),
    Endpoint("POST", RUN + "/rerun", "Re-run: a new run of the same workflow and input",
             "runs", {202: ref("RerunAccepted")},
             params=(Param("version", STR, description="same (default: the earlier run's), "
                                                       "latest, or a version number"),
                     Param("from_step", STR, description="start at this step, reusing the "
                                                         "earlier run's outputs before it"),
                     START[2]),
             errors=(409, 429, 503)),
    Endpoint("POST", RUN + "/resume", "Resume a paused run with the awaited answer", "runs",
             STOP_ANSWERS, body=RESUME_BODY, body_required=True, errors=(409, 503, *HISTORY)),
    Endpoint("POST", "/api/workflow/resume/{run_id}", "Resume a paused run (003)", "runs",
             STOP_ANSWERS, body=RESUME_BODY, body_required=True, errors=(409, 503, *HISTORY)),
    Endpoint("POST", "/api/workflow/management/cancel", "Cancel (003)", "runs", STOP_ANSWERS,
             body=obj({"runId": STR, "reason": {"type": "string", "maxLength": 1000}},
                      required=("runId",)), body_required=True, errors=(404, 409, *HISTORY)),
    Endpoint("POST", "/api/workflow/management/terminate", "Terminate (003)", "runs",
             STOP_ANSWERS,
             body=obj({"runId": STR, "reason": {"type": "string", "maxLength": 1000}},
                      required=("runId",)), body_required=True, errors=(404, 409, *HISTORY)),
    Endpoint("GET", "/api/workflows/runs", "The tenant's runs, newest first (ETag)", "runs",
             LIST_ANSWERS, params=(*RUN_FILTERS, IF_NONE_MATCH), errors=HISTORY),
    Endpoint("GET", "/api/workflows/runs/pending", "Runs not over yet (ETag)", "runs",
             LIST_ANSWERS, params=(*RUN_FILTERS, IF_NONE_MATCH), errors=HISTORY),
    Endpoint("POST", "/api/workflows/runs/clear", "Cancel every pending run", "runs",
             {200: ref("Cleared")}, role="admin",
             params=(Param("workflow_id", STR, description="only this workflow's"),),
             body=_body(workflowId=STR), errors=HISTORY),
    Endpoint("GET", "/api/workflows/logs", "A run's step logs (run_id)", "runs",
             {200: ref("RunLogs")}, params=(Param("run_id", STR), Param("runId", STR)),
             errors=(404, *HISTORY)),
    Endpoint("GET", RUN + "/logs", "A run's step logs", "runs", {200: ref("RunLogs")},
             errors=HISTORY),
    Endpoint("GET", WF + "/runs", "One workflow's runs (ETag)", "runs", LIST_ANSWERS,
             params=(*RUN_FILTERS, IF_NONE_MATCH), errors=HISTORY),
    Endpoint("GET", WF + "/executions", "Executions with logs (002)", "runs",
             {200: ref("Executions")},
             params=(*RUN_FILTERS, Param("execution_id", STR)), errors=HISTORY),
    Endpoint("GET", WF + "/health", "Health over 24 h / 7 d / 30 d", "runs",
             {200: ref("WorkflowHealth")}, errors=HISTORY),
    # -- reference 002
    Endpoint("POST", WF + "/execute", "Start a run (002)", "reference 002",
             {200: ref("Execution002"), 202: ref("Execution002")},
             params=START[2:], body=_body(trigger_data=OBJ), errors=(409, 429, 503, 504),
             form=ATTACHMENT_FORM),
    # -- reference 004
    Endpoint("GET", V4, "List workflows (004)", "reference 004",
             {200: arr(ref("Workflow004"))},
             params=(Param("search", STR), Param("status", STR),
                     Param("includeArchived", BOOL))),
    Endpoint("POST", V4, "Create a workflow (004)", "reference 004",
             {201: ref("Workflow004")}, role="admin",
             body={"allOf": [ref("WorkflowInput004")], "required": ["Name", "TriggerEventType"]},
             body_required=True, errors=WRITE),
    Endpoint("GET", V4WF, "A workflow with its steps (004)", "reference 004",
             {200: ref("Workflow004")}, params=(VERSION_SELECTOR,)),
    Endpoint("PUT", V4WF, "Update a workflow (004); steps are kept", "reference 004",
             {200: ref("Workflow004")}, role="admin", body=ref("WorkflowInput004"),
             body_required=True, errors=WRITE),
    Endpoint("DELETE", V4WF, "Delete (owner: for good; admin: archive) (004)",
             "reference 004", {200: ref("Deleted004")}, role="admin", errors=WRITE),
    Endpoint("POST", V4WF + "/steps", "Add a step (004)", "reference 004",
             {201: ref("StepResult004")}, role="admin", body=ref("StepInput004"),
             body_required=True, errors=WRITE),
    Endpoint("PUT", V4WF + "/steps/{step_id}", "Update a step (004)", "reference 004",
             {200: ref("StepResult004")}, role="admin", body=ref("StepInput004"),
             body_required=True, errors=WRITE),
    Endpoint("DELETE", V4WF + "/steps/{step_id}", "Delete a step (004)", "reference 004",
             {200: ref("StepDeleted004")}, role="admin", errors=WRITE),
    Endpoint("GET", V4WF + "/runs", "One workflow's runs (004)", "reference 004",
             {200: arr(ref("Run004"))}, params=RUN_FILTERS, errors=HISTORY),
    Endpoint("GET", V4WF + "/health", "Health (004)", "reference 004",
             {200: ref("Health004")}, errors=HISTORY),
    Endpoint("POST", V4WF + "/test", "A test run with a sample or given event (004)",
             "reference 004", {200: ref("Run004"), 202: ref("Run004")},
             body=_body(EventPayloadJson={**JSON_TEXT, "description": "a JSON object, "
                                                                     "as a string"}),
             errors=(409, 429, 503, 504)),
    Endpoint("GET", V4 + "/runs", "The tenant's runs (004)", "reference 004",
             {200: arr(ref("Run004"))}, params=RUN_FILTERS, errors=HISTORY),
    Endpoint("GET", V4 + "/runs/pending", "Pending and running runs (004)", "reference 004",
             {200: arr(ref("Run004"))}, params=RUN_FILTERS, errors=HISTORY),
    Endpoint("GET", V4 + "/runs/{run_id}/logs", "A run's step logs (004)", "reference 004",
             {200: arr(ref("RunLog004"))}, errors=HISTORY),
    Endpoint("POST", V4 + "/runs/{run_id}/cancel", "Cancel a run (004)", "reference 004",
             {200: ref("Run004")}, errors=(409, *HISTORY)),
    Endpoint("POST", V4 + "/runs/clear", "Cancel every pending run (004)", "reference 004",
             {200: ref("Cleared004")}, role="admin",
             params=(Param("workflow_id", STR),), body=_body(workflowId=STR),
             errors=HISTORY),
    Endpoint("GET", V4 + "/eventtypes", "Trigger event types (004)", "reference 004",
             {200: arr(ref("EventType004"))}),
)

# ------------------------------------------------------------------ the document

SECURITY_SCHEMES = {
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
               "description": "hf_<key id>_<secret>, with x-tenant-id (servers)"},
    "tenantId": {"type": "apiKey", "in": "header", "name": "x-tenant-id",
                 "description": "the tenant the API key belongs to"},
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
               "description": "HS256, RS256 or ES256; tenant and role from claims"},
}
SECURITY = [{"apiKey": [], "tenantId": []}, {"bearer": []}]
# status -> (name in components/responses, description); the body is always the Error schema
ERROR_RESPONSES = {
    400: ("BadRequest", "Bad request: `field` names what is wrong"),
    401: ("Unauthorized", "Missing or invalid credentials (the same body for every cause)"),
    403: ("Forbidden", "The caller's role is too low"),
    404: ("NotFound", "No such resource (or another tenant's)"),
    409: ("Conflict", "Conflicts with the current state (archived, disabled, ended, changed)"),
    413: ("PayloadTooLarge", "Body larger than 1 MiB (an attachment: 3.75 MB; `field` names "
                             "it)"),
    415: ("UnsupportedMediaType", "The file's content type is not one the workflow's "
                                  "file_upload trigger takes, or the body is not multipart"),
    429: ("TooManyRequests", "A rate limit or daily cap is used up: retry after the "
                             "Retry-After header's seconds"),
    503: ("Unavailable", "Unavailable for now (store starting or down, no keyring): retry"),
    504: ("Timeout", "Accepted, but not visible in time: retry the read"),
}


def _error_headers(status: int) -> dict[str, Any]:
    if status != 429:
        return {}
    return {"headers": {"Retry-After": {"description": "seconds to wait before retrying",
                                        "schema": {"type": "integer", "minimum": 1}}}}


def _operation_id(endpoint: Endpoint) -> str:
    words = [p.strip("{}").replace("-", "_") for p in endpoint.path.split("/")
             if p and p != "api"]
    return "_".join([endpoint.method.lower(), *words]).replace(".", "_")


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    params = [Param(name, _PATH_IDS[name][1], "path", _PATH_IDS[name][0]).spec()
              for name in endpoint.path_params]
    params += [p.spec() for p in endpoint.params]
    responses: dict[str, Any] = {}
    for status, answer in sorted(endpoint.ok.items()):
        if answer is None:  # no body: 304 Not Modified
            responses[str(status)] = {"description": "Not modified: the If-None-Match ETag "
                                                     "is still current"}
            continue
        media, schema = answer if isinstance(answer, tuple) else ("application/json", answer)
        responses[str(status)] = {"description": "OK" if status < 300 else "Not ready",
                                  "content": {media: {"schema": schema}}}
    for status in endpoint.error_statuses():
        responses[str(status)] = {
            "$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
    op: dict[str, Any] = {"operationId": _operation_id(endpoint), "summary": endpoint.summary,
                          "tags": [endpoint.tag], "responses": responses,
                          "security": [] if endpoint.role is None else SECURITY}
    if endpoint.role is not None:
        op["x-role"] = endpoint.role
    if endpoint.description:
        op["description"] = endpoint.description
    if params:
        op["parameters"] = params
    content: dict[str, Any] = {}
    if endpoint.body is not None:
        content["application/json"] = {"schema": endpoint.body}
    if endpoint.form is not None:
        content["multipart/form-data"] = {"schema": endpoint.form}
    if content:
        op["requestBody"] = {"required": endpoint.body_required, "content": content}
    return op


@functools.cache
def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION,
                 "description": "Multi-tenant workflow automation on Kafka. The canonical API "
                                "is the /api/workflows family; reference 002, 003 and 004 "
                                "paths and fields are served as aliases (api/aliases.py)."},
        "servers": [{"url": "/"}],
        "security": SECURITY,
        "tags": [{"name": t} for t in dict.fromkeys(e.tag for e in ENDPOINTS)],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES,
            "responses": {name: {"description": text, "content": {
                "application/json": {"schema": ref("Error")}}, **_error_headers(status)}
                for status, (name, text) in ERROR_RESPONSES.items()}},
    }


@functools.cache
def document_bytes() -> bytes:
    return orjson.dumps(document())


def register(engine: Engine) -> None:
    @engine.app.page(PATH)
    class OpenApi(faust.web.View):
        async def get(self, request: web.Request) -> web.Response:
            return web.Response(body=document_bytes(), content_type="application/json")
