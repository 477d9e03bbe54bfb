"""Conditions, transform ops, Jinja bodies and output templates end to end.

A real broker, a real worker process and a real HTTP peer on 127.0.0.1: a
workflow gates on an all/any condition, reshapes its input with transform
ops, posts a Jinja body (a loop and a secret) and renders an output template.
"""

from __future__ import annotations

import secrets as random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bench.sink import Sink
from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess
from steps.redact import MASK
from streams.keyring import generate_key
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow

TENANT = "pure-e2e"
HEADERS = {"x-tenant-id": TENANT}
BODY = ("{% for i in steps.shape.items %}{{ i.sku }} x{{ i.qty }}\n{% endfor %}"
        "for {{ steps.shape.customer }} key={{ secrets.tok }}")


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(app_id=fresh_app_id("pure"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("pure"),
                         env={"HOPFLOW_SECRETS_KEYS": generate_key()})
    proc.start()
    yield proc
    proc.stop()


def definition(sink: Sink) -> dict[str, Any]:
    return {"name": "pure steps", "steps": [
        {"id": "gate", "type": "condition", "config": {
            "all": [{"field": "input.age", "op": "gte", "value": 18},
                    {"any": [{"field": "input.tags", "op": "contains", "value": "gold"},
                             {"field": "input.email", "op": "regex", "value": r"@acme\.com$"}]}],
            "then": "shape", "else": "reject"}},
        {"id": "reject", "type": "transform", "next": None,
         "config": {"fields": {"rejected": True, "age": "{{input.age}}"}}},
        {"id": "shape", "type": "transform", "config": {"source": "input", "ops": [
            {"op": "map", "field": "items", "expression": "{sku: sku, qty: qty}"},
            {"op": "rename", "from": "name", "to": "customer"},
            {"op": "cast", "field": "age", "to": "int"},
            {"op": "pick", "fields": ["customer", "items", "age"]}]}},
        {"id": "notify", "type": "webhook",
         "output_template": "sent {{ output.status }}"
                            "{% if output.body.body.age > 40 %} senior{% endif %}"
                            " to {{ steps.shape.customer }}",
         "config": {"url": sink.url("/notify"), "method": "POST",
                    "headers": {"Authorization": "Bearer {{secrets.tok}}"},
                    "body": {"text": BODY, "age": "{{steps.shape.age}}"}}},
    ]}


async def test_condition_transform_jinja_body_and_output_template(
        worker: WorkerProcess, http: httpx.AsyncClient, sink: Sink) -> None:
    base = worker.url
    secret = f"sv-{random.token_hex(12)}"
    created = await http.post(f"{base}/api/workflows/secrets",
                              json={"name": "tok", "value": secret}, headers=HEADERS)
    assert created.status_code == 201, created.text
    workflow_id = await create_workflow(http, base, definition(sink), tenant=TENANT)
    payload = {"name": "Ada", "age": "42", "tags": ["vip"], "email": "ada@acme.com",
               "items": [{"sku": "A1", "qty": 2, "color": "red"}, {"sku": "B2", "qty": 1}]}
    response = await http.post(f"{base}/api/workflows/{workflow_id}/run",
                               params={"wait": "true", "timeout": "30"},
                               json={"input": payload}, headers=HEADERS)
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "completed", run
    steps = run["stepExecutionHistory"]
    assert [s["stepId"] for s in steps] == ["gate", "shape", "notify"]
    assert steps[0]["output"] == {"matched": True, "branch": "then"}
    assert steps[1]["output"] == {"customer": "Ada", "age": 42, "items": [
        {"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}]}

    seen = sink.received[-1]
    assert seen.path == "/notify"
    assert {k.lower(): v for k, v in seen.headers.items()}["authorization"] == f"Bearer {secret}"
    assert seen.body == {"text": f"A1 x2\nB2 x1\nfor Ada key={secret}", "age": 42}

    notify = steps[2]["output"]
    assert notify["rendered"] == "sent 200 senior to Ada"
    assert notify["body"]["body"]["text"] == f"A1 x2\nB2 x1\nfor Ada key={MASK}"
    assert steps[2]["request"]["body"]["text"] == f"A1 x2\nB2 x1\nfor Ada key={MASK}"
    assert run["result"]["rendered"] == "sent 200 senior to Ada"

    logs = await http.get(f"{base}/api/workflows/runs/{run['runId']}/logs", headers=HEADERS)
    detail = await http.get(f"{base}/api/workflows/runs/{run['runId']}", headers=HEADERS)
    for answer in (response, logs, detail):
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text
    assert MASK in logs.text
    assert secret not in worker.log_path.read_text(errors="replace")

    young = await http.post(f"{base}/api/workflows/{workflow_id}/run",
                            params={"wait": "true", "timeout": "30"},
                            json={"input": {**payload, "age": "12"}}, headers=HEADERS)
    assert young.status_code == 200, young.text
    assert young.json()["result"] == {"rejected": True, "age": "12"}
    assert [s["stepId"] for s in young.json()["stepExecutionHistory"]] == ["gate", "reject"]


async def test_bad_templates_and_rules_are_400_naming_the_field(
        worker: WorkerProcess, http: httpx.AsyncClient, sink: Sink) -> None:
    body = definition(sink)
    body["steps"][0]["config"]["all"][1]["any"][1]["value"] = "(unclosed"
    body["steps"][2]["config"]["ops"][1]["to"] = ""
    body["steps"][3]["config"]["body"]["text"] = "{% for i in x %}no end"
    body["steps"][3]["output_template"] = "{% if %}"
    response = await http.post(f"{worker.url}/api/workflows", json=body, headers=HEADERS)
    assert response.status_code == 400, response.text
    text = response.text
    for field in ("steps[0].config.all[1].any[1].value", "steps[2].config.ops[1].to",
                  "steps[3].config", "steps[3].output_template"):
        assert field in text, (field, text)
