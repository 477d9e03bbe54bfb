"""schemathesis over the whole API of a live worker: no 5xx, no answer that breaks the document.

One worker (real broker) with a tenant whose owner key signs every request; a
workflow, a run, a victim workflow (for the delete operations), a secret and a
credential are seeded first and given to schemathesis as path examples, so operations reach
real resources as well as 404s. The checks: not_a_server_error,
response_schema_conformance, status_code_conformance, content_type_conformance.
Bounded (20 examples per operation, no shrinking) to stay well under 3 minutes.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess, free_port
from streams.keyring import generate_key
from tests.conftest import fresh_app_id
from tests.tenants import make_key

TENANT = "fuzz"
CHECKS = ("not_a_server_error,response_schema_conformance,status_code_conformance,"
          "content_type_conformance")
MAX_EXAMPLES = 20
RUN_BUDGET_SECONDS = 170
# Providers on a closed port: the inline bulk routes answer (each item failed) instead of
# the 503 of a deployment with no provider at all, which the 5xx check would count.
_CLOSED = f"http://127.0.0.1:{free_port()}/{{query}}"
NO_PROVIDER = {"HOPFLOW_COMPANY_PROVIDER_URL": _CLOSED, "HOPFLOW_GOOGLE_PROVIDER_URL": _CLOSED}


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(app_id=fresh_app_id("openapi"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("openapi"),
                         env={"HOPFLOW_SECRETS_KEYS": generate_key(), **NO_PROVIDER})
    proc.start()
    yield proc
    proc.stop()


async def _seed(base: str, headers: dict[str, str]) -> dict[str, str]:
    """A workflow with a finished run, a victim workflow for the deletes, and a secret."""
    workflow = {"name": "Fuzzed", "description": "seeded for schemathesis",
                "steps": [{"id": "shape", "type": "transform",
                           "config": {"fields": {"v": "{{input.v}}"}}}]}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        main = (await http.post("/api/workflows", json=workflow)).json()["id"]
        victim = (await http.post("/api/workflows", json={**workflow, "name": "Victim"})
                  ).json()["id"]
        run = await http.post(f"/api/workflows/{main}/run", params={"wait": "true"},
                              json={"input": {"v": 1}})
        assert run.status_code == 200, run.text
        assert (await http.post("/api/workflows/secrets", json={
            "name": "fuzz_token", "value": "s3cret"})).status_code in (200, 201)
        credential = await http.post("/api/workflows/credentials", json={
            "name": "fuzz bearer", "type": "http_bearer", "data": {"token": "t0ken"}})
        assert credential.status_code == 201, credential.text
        templates = (await http.get("/api/workflows/templates")).json()["data"]
        hook = await http.post("/api/webhooks", json={
            "url": "https://hooks.example.com/in", "eventTypes": ["run.completed"]})
        assert hook.status_code == 201, hook.text
    return {"workflow_id": main, "victim": victim, "run_id": run.json()["runId"],
            "step_id": "shape", "template_id": templates[0]["id"],
            "credential_id": credential.json()["id"], "webhook_id": hook.json()["id"]}


def with_examples(doc: dict[str, Any], seeds: dict[str, str]) -> dict[str, Any]:
    """The document with the seeded ids as path parameter examples (deletes get the victim)."""
    doc = copy.deepcopy(doc)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for param in op.get("parameters", []):
                if param["in"] != "path" or param["name"] not in seeds:
                    continue
                value = seeds[param["name"]]
                if param["name"] == "workflow_id" and method == "delete" and \
                        "/steps/" not in path:
                    value = seeds["victim"]
                param["example"] = value
    return doc


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        worker: WorkerProcess, kafka_broker: BrokerSettings, tmp_path: Path) -> None:
    base = worker.url
    app_id = httpx.get(f"{base}/healthz").json()["app"]
    key = await make_key(kafka_broker.bootstrap, app_id, base, TENANT)
    headers = {"x-api-key": key, "x-tenant-id": TENANT}
    seeds = await _seed(base, headers)
    doc = httpx.get(f"{base}/api/openapi.json").json()  # public: no credentials
    assert doc["openapi"] == "3.1.0"
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(with_examples(doc, seeds)))
    # schemathesis reuses ids it saw in answers: GET /api/keys shows the key it signs with,
    # so revoking keys runs last, on its own, when losing that key no longer matters.
    revoke = ["--include-path", "/api/keys/{key_id}"]
    for name, selection, budget in (
            ("main", ["--exclude-path", "/api/keys/{key_id}"], RUN_BUDGET_SECONDS),
            ("revoke", revoke, 30)):
        report = _schemathesis(spec, base, key, tmp_path / name, selection, budget)
        assert "Tested: 0" not in report, report[-4000:]


def _schemathesis(spec: Path, base: str, key: str, out: Path, selection: list[str],
                  budget: float) -> str:
    """Run the CLI (pinned in pyproject's test extra); its report, asserting it passed."""
    out.mkdir()
    command = [
        str(Path(sys.executable).with_name("st")), "run", str(spec), "--url", base,
        "--header", f"x-api-key: {key}", "--header", f"x-tenant-id: {TENANT}",
        "--checks", CHECKS, "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(MAX_EXAMPLES), "--seed", "6", "--no-shrink",
        "--workers", "2", "--request-timeout", "60", "--suppress-health-check", "all",
        "--generation-database", "none", "--max-failures", "30", "--no-color",
        "--report", "junit", "--report-dir", str(out), *selection]
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=out,
                              env={**os.environ, "NO_COLOR": "1"}, timeout=budget,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"schemathesis ran past {budget}s:\n"
                             f"{(exc.stdout or b'')[-6000:]!r}") from exc
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-20000:]
    return report
