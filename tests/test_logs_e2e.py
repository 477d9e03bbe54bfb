"""Worker logs end to end: JSON lines with the run context, no ERROR on a normal
start-up, and no secret in a debug-level log of runs that used secrets.

Real broker, real worker processes, a real HTTP peer (bench.sink.Sink).
"""

from __future__ import annotations

import base64
import secrets as random
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from bench.sink import Sink
from dev.kafka import BrokerSettings, port_free, start, stop
from dev.workers import WorkerProcess, free_port
from streams.keyring import generate_key
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow

# WARNING lines a normal start-up may log, with why they need no action: none today.
ALLOWED_WARNINGS: tuple[str, ...] = ()


def read_json_log(path: Path) -> list[dict[str, Any]]:
    """Every line of a --log-format json worker log, parsed (a non-JSON line fails)."""
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        if raw.strip():
            try:
                lines.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                pytest.fail(f"not a JSON log line: {raw[:300]}")
    return lines


@pytest.fixture
def workers(kafka_broker: BrokerSettings, tmp_path: Path, request: pytest.FixtureRequest
            ) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    request.node.hopflow_workers = started
    yield started
    for worker in started:
        worker.kill()


def json_worker(kafka_broker: BrokerSettings, home: Path, app_id: str, loglevel: str,
                env: dict[str, str] | None = None) -> WorkerProcess:
    return WorkerProcess(app_id=app_id, bootstrap=kafka_broker.bootstrap, home=home,
                         loglevel=loglevel,
                         env={"HOPFLOW_LOG_FORMAT": "json", **(env or {})})


async def run(http: httpx.AsyncClient, worker: WorkerProcess, workflow_id: str, tenant: str
              ) -> dict[str, Any]:
    response = await http.post(f"{worker.url}/api/workflows/{workflow_id}/run",
                               params={"wait": "true", "timeout": "60"}, json={"input": {}},
                               headers={"x-tenant-id": tenant})
    assert response.status_code == 200, response.text
    return response.json()


async def test_normal_start_and_restart_log_no_errors_and_tag_run_lines(
        kafka_broker: BrokerSettings, tmp_path: Path, workers: list[WorkerProcess],
        http: httpx.AsyncClient, sink: Sink) -> None:
    app_id, tenant = fresh_app_id("logs-clean"), "logs-clean"
    worker = json_worker(kafka_broker, tmp_path / "home", app_id, "info")
    workers.append(worker)
    worker.start()
    workflow_id = await create_workflow(http, worker.url, {
        "name": "log me", "steps": [
            {"id": "call", "type": "webhook", "config": {"url": sink.url("/ok"),
                                                         "method": "POST"}},
            {"id": "shape", "type": "transform", "config": {"fields": {"done": True}}}]},
        tenant=tenant)
    first = await run(http, worker, workflow_id, tenant)
    assert first["status"] == "completed", first
    worker.stop()
    # the same deployment again: a restart recovers its tables and rejoins its groups
    worker.start()
    second = await run(http, worker, workflow_id, tenant)
    assert second["status"] == "completed", second
    worker.stop()

    lines = read_json_log(worker.log_path)
    assert len(lines) > 20
    for line in lines:
        assert {"ts", "level", "logger", "message"} <= line.keys(), line
    bad = [line for line in lines if line["level"] in ("ERROR", "CRITICAL")]
    assert not bad, bad
    warnings = [line for line in lines if line["level"] == "WARNING"
                and not any(allowed in line["message"] for allowed in ALLOWED_WARNINGS)]
    assert not warnings, warnings
    # the start-up coordinator noise is still there, at INFO (proves the demotion ran)
    assert all(line["level"] == "INFO" for line in lines
               if "GroupCoordinatorNotAvailable" in line["message"])

    # httpx logs each request at INFO from inside the step: the line carries the run
    requests = [line for line in lines if line["logger"] == "httpx"
                and sink.url("/ok") in line["message"]]
    assert len(requests) == 2, requests
    for line, ran in zip(requests, (first, second), strict=True):
        assert line["run_id"] == ran["runId"]
        assert line["step_id"] == "call"
        assert line["tenant"] == tenant
        assert line["workflow_id"] == workflow_id
    untagged = [line for line in lines if line.get("run_id") is None
                and (first["runId"] in line["message"] or second["runId"] in line["message"])]
    assert not untagged, untagged


def encodings(value: str) -> set[str]:
    """The forms a secret could leak in: plain, URL-encoded, base64 (alone and in Basic auth)."""
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value),
             base64.b64encode(value.encode()).decode(),
             base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")}
    return {form for form in forms if len(form) >= 8}


async def test_no_secret_in_a_debug_log_of_runs_that_used_them(
        kafka_broker: BrokerSettings, tmp_path: Path, workers: list[WorkerProcess],
        http: httpx.AsyncClient, sink: Sink) -> None:
    app_id, tenant = fresh_app_id("logs-secret"), "logs-secret"
    h = {"x-tenant-id": tenant}
    worker = json_worker(kafka_broker, tmp_path / "home", app_id, "debug",
                         env={"HOPFLOW_SECRETS_KEYS": generate_key()})
    workers.append(worker)
    worker.start()
    token = f"tok/{random.token_hex(12)}+=?&"  # URL-encoding changes it: both forms checked
    user, password = f"user-{random.token_hex(6)}", f"pw-{random.token_hex(12)}"
    assert (await http.post(f"{worker.url}/api/workflows/secrets", headers=h,
                            json={"name": "tok", "value": token})).status_code == 201
    created = await http.post(f"{worker.url}/api/workflows/credentials", headers=h, json={
        "name": "basic", "type": "http_basic",
        "data": {"username": user, "password": password}})
    assert created.status_code == 201, created.text
    cred_id = created.json()["id"]

    def workflow(name: str, url: str, retries: int) -> dict[str, Any]:
        return {"name": name, "retry": {"max_retries": retries, "backoff_seconds": 0.1},
                "steps": [{"id": "call", "type": "webhook", "config": {
                    "url": url + "?t={{secrets.tok}}", "method": "POST",
                    "credential_id": cred_id,
                    "headers": {"X-Token": "{{secrets.tok}}"},
                    "body": {"token": "{{secrets.tok}}"}}}]}

    ok = await create_workflow(http, worker.url, workflow("ok", sink.url("/ok"), 0), tenant)
    failing = await create_workflow(http, worker.url, workflow("500", sink.url("/fail"), 1),
                                    tenant)
    dead = await create_workflow(http, worker.url, workflow(
        "refused", f"http://127.0.0.1:{free_port()}/gone", 1), tenant)
    sink.fail_next("/fail", times=5, status=500)

    assert (await run(http, worker, ok, tenant))["status"] == "completed"
    assert (await run(http, worker, failing, tenant))["status"] == "failed"
    assert (await run(http, worker, dead, tenant))["status"] == "failed"
    seen = sink.received[-1]
    assert any(token in str(value) for value in seen.headers.values())  # it was really used
    worker.stop()

    text = worker.log_path.read_text(errors="replace")
    lines = read_json_log(worker.log_path)
    assert sum(1 for line in lines if line["level"] == "DEBUG") > 50  # debug really was on
    assert any(line.get("workflow_id") == failing for line in lines)  # run lines are tagged
    leaks = [form for secret in (token, password, f"{user}:{password}")
             for form in encodings(secret) if form in text]
    assert not leaks, leaks


def test_start_after_a_broker_restart_logs_no_errors(tmp_path: Path,
                                                     request: pytest.FixtureRequest) -> None:
    """A broker of its own, restarted between two starts of one deployment: the second
    start meets a coordinator and partition leaders still being elected."""
    port = next(p for p in iter(free_port, None) if p < 65000 and port_free(p + 1))
    broker = BrokerSettings(port=port, data_dir=tmp_path / "broker")
    start(broker)
    worker = WorkerProcess(app_id=fresh_app_id("logs-restart"), bootstrap=broker.bootstrap,
                           home=tmp_path / "home", partitions=4, loglevel="info",
                           env={"HOPFLOW_LOG_FORMAT": "json"})
    request.node.hopflow_workers = [worker]
    try:
        worker.start()
        worker.stop()
        stop(broker)
        start(broker)
        first_run = len(read_json_log(worker.log_path))
        worker.start()
        worker.stop()
    finally:
        worker.kill()
        stop(broker)
    lines = read_json_log(worker.log_path)
    assert len(lines) > first_run + 20
    noisy = [line for line in lines if line["level"] in ("WARNING", "ERROR", "CRITICAL")]
    assert not noisy, noisy
