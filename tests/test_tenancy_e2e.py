"""Tenancy end to end on a real worker: API keys, JWTs, roles, isolation, plans.

The worker trusts an HS256 secret, an RS256 public key file and an ES256 JWKS
file; every token below is signed here with the matching private key.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess
from streams.control import client
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow, run_and_wait
from tests.tenants import NO_AUTH, make_key

HS_SECRET = "test-shared-secret-0123456789abcdef-long-enough-for-hs384"
ISSUER = "https://login.example.test"
AUDIENCE = "hopflow"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RAW = {NO_AUTH: "1"}


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    home = tmp_path_factory.mktemp("tenancy")
    pem = home / "rsa.pub.pem"
    pem.write_bytes(RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(EC_KEY.public_key()))
    jwks = home / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "ec-1", "use": "sig",
                                          "alg": "ES256"}]}))
    proc = WorkerProcess(app_id=fresh_app_id("tenancy"), bootstrap=kafka_broker.bootstrap,
                         home=home, env={
                             "HOPFLOW_JWT_SECRET": HS_SECRET, "HOPFLOW_JWT_ISSUER": ISSUER,
                             "HOPFLOW_JWT_AUDIENCE": AUDIENCE,
                             "HOPFLOW_JWT_PUBLIC_KEYS": str(pem),
                             "HOPFLOW_JWT_JWKS_FILE": str(jwks)})
    proc.start()
    yield proc
    proc.stop()


def token(tenant: str = "jwt-co", role: str = "admin", *, alg: str = "HS256",
          exp: float | None = None, **claims: Any) -> str:
    body = {"sub": "dana@example.test", "tenant": tenant, "role": role, "iss": ISSUER,
            "aud": AUDIENCE, "exp": int(exp if exp is not None else time.time() + 300),
            **claims}
    key: Any = {"HS256": HS_SECRET, "RS256": RSA_KEY, "ES256": EC_KEY}[alg]
    headers = {"kid": "ec-1"} if alg == "ES256" else None
    return jwt.encode(body, key, algorithm=alg, headers=headers)


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


SIMPLE = {"name": "Tenancy", "steps": [
    {"id": "shape", "type": "transform", "config": {"fields": {"v": "{{input.v}}"}}}]}


async def test_x_tenant_id_alone_no_longer_grants_access(worker: WorkerProcess,
                                                         http: httpx.AsyncClient) -> None:
    wf = await create_workflow(http, worker.url, SIMPLE, tenant="acme")
    for method, path in [("GET", "/api/workflows"), ("GET", f"/api/workflows/{wf}"),
                         ("POST", f"/api/workflows/{wf}/run"), ("GET", "/api/workflows/runs"),
                         ("GET", "/api/keys"), ("GET", "/api/workflows/secrets")]:
        response = await http.request(method, worker.url + path, json={},
                                      headers={**RAW, "x-tenant-id": "acme"})
        assert response.status_code == 401, (method, path, response.text)
        assert response.json() == {"error": {"status": 401, "code": "unauthorized",
                                             "message": "missing or invalid credentials"}}
    # the public ones stay public
    assert (await http.get(f"{worker.url}/healthz", headers=RAW)).status_code == 200
    assert (await http.get(f"{worker.url}/metrics", headers=RAW)).status_code == 200


async def test_bad_keys_all_answer_the_same_401(worker: WorkerProcess, kafka_broker: Any,
                                                http: httpx.AsyncClient) -> None:
    key_a = await make_key(kafka_broker.bootstrap, worker.app_id, worker.url, "key-a")
    key_b = await make_key(kafka_broker.bootstrap, worker.app_id, worker.url, "key-b")
    url = f"{worker.url}/api/workflows"
    good = await http.get(url, headers={"x-api-key": key_a, "x-tenant-id": "key-a"})
    assert good.status_code == 200
    bodies = set()
    for headers in [
        {"x-api-key": key_b, "x-tenant-id": "key-a"},  # another tenant's key
        {"x-api-key": key_a[:-1] + ("x" if key_a[-1] != "x" else "y"), "x-tenant-id": "key-a"},
        {"x-api-key": "hf_nope_nope", "x-tenant-id": "key-a"},
        {"x-api-key": "garbage", "x-tenant-id": "key-a"},
        {"x-api-key": key_a},  # no tenant
    ]:
        response = await http.get(url, headers=headers)
        assert response.status_code == 401, headers
        bodies.add(response.text)
    assert len(bodies) == 1


async def test_keys_over_the_api_roles_and_revocation(worker: WorkerProcess,
                                                      http: httpx.AsyncClient) -> None:
    owner = {"x-tenant-id": "roles"}
    made = {}
    for role in ("member", "admin", "owner"):
        response = await http.post(f"{worker.url}/api/keys", headers=owner,
                                   json={"role": role, "name": f"{role} key"})
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["key"].startswith(f"hf_{body['keyId']}_") and body["role"] == role
        made[role] = {"x-api-key": body["key"], "x-tenant-id": "roles"}
    listed = (await http.get(f"{worker.url}/api/keys", headers=owner)).json()["data"]
    assert {k["role"] for k in listed} >= {"member", "admin", "owner"}
    assert all("key" not in k and "hash" not in k for k in listed)  # shown once, never again

    base = worker.url
    wf_body = {**SIMPLE, "name": "by admin"}
    # member reads and runs, but may not manage workflows or keys
    assert (await http.get(f"{base}/api/workflows", headers=made["member"])).status_code == 200
    denied = await http.post(f"{base}/api/workflows", json=wf_body, headers=made["member"])
    assert denied.status_code == 403 and "admin" in denied.json()["error"]["message"]
    created = await http.post(f"{base}/api/workflows", json=wf_body, headers=made["admin"])
    assert created.status_code == 201
    wf = created.json()["id"]
    ran = await http.post(f"{base}/api/workflows/{wf}/run?wait=true",
                          json={"input": {"v": 1}}, headers=made["member"])
    assert ran.status_code == 200 and ran.json()["status"] == "completed"
    assert (await http.get(f"{base}/api/keys", headers=made["admin"])).status_code == 403
    # permanent delete is the owner's
    await http.delete(f"{base}/api/workflows/{wf}", headers=made["admin"])
    assert (await http.delete(f"{base}/api/workflows/{wf}/permanent",
                              headers=made["admin"])).status_code == 403
    assert (await http.delete(f"{base}/api/workflows/{wf}/permanent",
                              headers=made["owner"])).status_code == 200

    key_id = made["member"]["x-api-key"].split("_")[1]
    revoked = await http.delete(f"{base}/api/keys/{key_id}", headers=owner)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert (await http.get(f"{base}/api/workflows", headers=made["member"])).status_code == 401


def test_operator_bootstraps_a_tenant_from_the_command_line(worker: WorkerProcess,
                                                            kafka_broker: Any) -> None:
    common = ["--app-id", worker.app_id, "--bootstrap", kafka_broker.bootstrap]
    made = subprocess.run([sys.executable, "-m", "hopflow", "keys", "create", "--tenant",
                           "boot", "--role", "owner", *common], capture_output=True, text=True,
                          timeout=60, check=True)
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("hf_")
    headers = {"x-api-key": key, "x-tenant-id": "boot"}
    assert httpx.get(f"{worker.url}/api/keys", headers=headers).status_code == 200
    listed = subprocess.run([sys.executable, "-m", "hopflow", "keys", "list", "--tenant",
                             "boot", *common], capture_output=True, text=True, timeout=60,
                            check=True).stdout
    key_id = key.split("_")[1]
    assert key_id in listed and key not in listed
    subprocess.run([sys.executable, "-m", "hopflow", "keys", "revoke", key_id, "--tenant",
                    "boot", *common], capture_output=True, text=True, timeout=60, check=True)
    assert httpx.get(f"{worker.url}/api/keys", headers=headers).status_code == 401


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256"])
async def test_jwt_tenant_and_role_from_claims(worker: WorkerProcess, http: httpx.AsyncClient,
                                               alg: str) -> None:
    tenant = f"jwt-{alg.lower()}"
    admin = bearer(token(tenant, "admin", alg=alg))
    created = await http.post(f"{worker.url}/api/workflows", json=SIMPLE, headers=admin)
    assert created.status_code == 201, created.text
    wf = created.json()["id"]
    assert created.json()["createdBy"] == "jwt:dana@example.test"
    member = bearer(token(tenant, "member", alg=alg))
    assert (await http.get(f"{worker.url}/api/workflows/{wf}", headers=member)
            ).status_code == 200
    assert (await http.put(f"{worker.url}/api/workflows/{wf}", json=SIMPLE, headers=member)
            ).status_code == 403
    # the same id is invisible to another tenant's token
    other = bearer(token("someone-else", "owner", alg=alg))
    assert (await http.get(f"{worker.url}/api/workflows/{wf}", headers=other)
            ).status_code == 404


async def test_bad_jwts_answer_401(worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    now = time.time()
    header, payload, _ = token().split(".")
    unsigned = jwt.encode({"tenant": "jwt-co", "role": "owner", "exp": int(now + 60)}, None,
                          algorithm="none")
    wrong_key = jwt.encode({"sub": "x", "tenant": "jwt-co", "role": "owner", "iss": ISSUER,
                            "aud": AUDIENCE, "exp": int(now + 60)}, "not-the-secret-at-all-" * 3,
                           algorithm="HS256")
    cases = {
        "expired": token(exp=now - 60),
        "not yet valid": token(nbf=int(now + 600)),
        "wrong issuer": token(iss="https://evil.example.test"),
        "wrong audience": token(aud="someone-else"),
        "alg none": unsigned,
        "wrong signature": wrong_key,
        "tampered": f"{header}.{payload}x.{token().split('.')[2]}",
        "malformed": "not.a.jwt",
        "no role": token(role="superuser"),
        "hs384": jwt.encode({"tenant": "jwt-co", "role": "owner", "iss": ISSUER,
                             "aud": AUDIENCE, "exp": int(now + 60)}, HS_SECRET,
                            algorithm="HS384"),
    }
    for name, value in cases.items():
        response = await http.get(f"{worker.url}/api/workflows", headers=bearer(value))
        assert response.status_code == 401, name
        assert response.json()["error"]["message"] == "missing or invalid credentials", name
    ok = await http.get(f"{worker.url}/api/workflows", headers=bearer(token()))
    assert ok.status_code == 200
    mismatch = await http.get(f"{worker.url}/api/workflows",
                              headers={**bearer(token()), "x-tenant-id": "other"})
    assert mismatch.status_code == 401


async def test_tenant_b_sees_nothing_of_tenant_a(worker: WorkerProcess, sink: Any,
                                                 http: httpx.AsyncClient) -> None:
    """Every route, called by tenant B with tenant A's ids: 404 (or an empty list)."""
    a, b = {"x-tenant-id": "tenant-a"}, {"x-tenant-id": "tenant-b"}
    wf = await create_workflow(http, worker.url, SIMPLE, tenant="tenant-a")
    run = (await http.post(f"{worker.url}/api/workflows/{wf}/run?wait=true",
                           json={"input": {"v": 1}}, headers=a)).json()
    run_id = run["runId"]
    paused = (await http.post(f"{worker.url}/api/workflows/{wf}/run", headers=a,
                              json={"input": {"v": 2}})).json()["runId"]
    stored = await http.post(f"{worker.url}/api/files", headers=a,
                             files={"file": ("a.txt", b"tenant a's document")})
    assert stored.status_code == 201, stored.text
    file_id = stored.json()["fileId"]
    routes = routes_with_ids(worker.url, wf, run_id, file_id)
    assert sum(1 for r in routes if r[3]) >= 30
    query = {"run_id": run_id, "workflow_id": wf, "workflowId": wf, "execution_id": run_id,
             "id": wf}
    for method, path, body, names_a_thing in routes:
        response = await http.request(method, worker.url + path, json=body, params=query,
                                      headers=b)
        assert response.status_code < 500, (method, path, response.text)
        if response.status_code < 300:  # B's own (empty) lists, B's own new things
            assert wf not in response.text and run_id not in response.text, (method, path)
            assert "tenant a's document" not in response.text, (method, path)
            assert paused not in response.text, (method, path)
        if names_a_thing:  # a route about A's workflow or run: as if it did not exist
            ghost = await http.request(
                method, worker.url + path.replace(wf, "wf_ghost").replace(run_id, "run_ghost"),
                json=body, params=query, headers=b)
            assert response.status_code == ghost.status_code, (method, path, response.text)
            # 404, or the same 4xx a made-up id gets (a body refused before any lookup)
            assert response.status_code == 404 or 400 <= response.status_code < 500, (
                method, path, response.status_code, response.text)
    # and A still has everything, unchanged
    assert (await http.get(f"{worker.url}/api/workflows/{wf}", headers=a)).json()["status"] \
        == "draft"
    assert (await http.get(f"{worker.url}/api/workflows/runs/{run_id}", headers=a)
            ).status_code == 200


def routes_with_ids(base: str, wf: str, run_id: str, file_id: str = "nope"
                    ) -> list[tuple[str, str, Any, bool]]:
    """Every operation of the OpenAPI description, with A's ids put into its path.

    (method, path, body, whether the path names one of A's things). Bodies and query
    strings carry A's ids too, for the routes that take them there (cancel by runId,
    logs by run_id...).
    """
    spec = httpx.get(f"{base}/api/openapi.json").json()
    found = []
    ids = {"workflow_id": wf, "workflowId": wf, "id": wf, "run_id": run_id,
           "runId": run_id, "step_id": "shape", "stepId": "shape", "key_id": "nope",
           "credential_id": "nope", "template_id": "tpl_nope", "integration_id": "nope",
           "webhook_id": "nope", "token": "whk_nope", "file_id": file_id}
    for path, item in spec["paths"].items():
        if "ingest" in path or path.startswith("/console"):
            continue  # public by design: ingest answers by token, /console is static files
        concrete = path
        for name, value in ids.items():
            concrete = concrete.replace("{" + name + "}", value)
        if "{" in concrete:
            raise AssertionError(f"no id for a parameter of {path}")
        names_a_thing = any(f"{{{n}}}" in path for n in ("workflow_id", "workflowId", "id",
                                                           "run_id", "runId", "file_id"))
        for method in item:
            if method in ("get", "post", "put", "delete", "patch"):
                body = {"runId": run_id, "workflowId": wf, "workflow_id": wf, "name": "x",
                        "version": 1, "type": "transform", "config": {}}
                found.append((method.upper(), concrete, body, names_a_thing))
    return found


async def test_plan_caps_name_the_cap(worker: WorkerProcess, kafka_broker: Any,
                                      http: httpx.AsyncClient) -> None:
    tenant = "free-co"
    headers = {"x-tenant-id": tenant}
    await http.get(f"{worker.url}/api/tenant", headers=headers)  # makes the key
    await client.send_command(kafka_broker.bootstrap, worker.app_id, tenant,
                              "tenant.set_plan", {"plan": "free"})
    for _ in range(50):
        plan = (await http.get(f"{worker.url}/api/tenant", headers=headers)).json()
        if plan["plan"] == "free":
            break
        time.sleep(0.1)
    assert plan["limits"]["workflows"] == 3
    six = {"name": "six", "steps": [{"id": f"s{i}", "type": "transform",
                                     "config": {"fields": {}}} for i in range(6)]}
    refused = await http.post(f"{worker.url}/api/workflows", json=six, headers=headers)
    assert refused.status_code == 400
    assert "at most 5 steps" in refused.json()["error"]["message"]
    retries = {**SIMPLE, "retry": {"max_retries": 6}}
    refused = await http.post(f"{worker.url}/api/workflows", json=retries, headers=headers)
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "retry.max_retries"
    for _ in range(3):
        await create_workflow(http, worker.url, SIMPLE, tenant=tenant)
    fourth = await http.post(f"{worker.url}/api/workflows", json=SIMPLE, headers=headers)
    assert fourth.status_code == 400
    assert "plan free allows at most 3 workflows" in fourth.json()["error"]["message"]


async def test_input_schema_is_checked_and_described(worker: WorkerProcess,
                                                     http: httpx.AsyncClient) -> None:
    definition = {**SIMPLE, "inputSchema": {
        "type": "object", "required": ["email"],
        "properties": {"email": {"type": "string", "format": "email",
                                 "description": "Contact email"},
                       "tier": {"type": "string", "enum": ["gold", "silver"]}}}}
    wf = await create_workflow(http, worker.url, definition)
    meta = (await http.get(f"{worker.url}/api/workflow/metadata/input/{wf}")).json()
    assert meta["success"] is True and meta["data"]["workflowId"] == wf
    assert meta["data"]["payload"]["email"]["type"] == "string"
    assert meta["data"]["payload"]["email"]["description"] == "Contact email"
    for payload, field in [({}, "input.email"), ({"email": "nope"}, "input.email"),
                           ({"email": "a@b.co", "tier": "bronze"}, "input.tier")]:
        response = await http.post(f"{worker.url}/api/workflows/{wf}/run",
                                   json={"input": payload})
        assert response.status_code == 400, payload
        assert response.json()["error"]["field"] == field
    done = await run_and_wait(http, worker.url, wf, {"email": "a@b.co", "tier": "gold"})
    assert done["status"] == "completed"
    bad_schema = {**SIMPLE, "inputSchema": {"type": "object", "properties": {
        "x": {"type": "strin"}}}}
    refused = await http.post(f"{worker.url}/api/workflows", json=bad_schema)
    assert refused.status_code == 400
    assert refused.json()["error"]["field"].startswith("inputSchema.properties.x")


def _unused(path: Path) -> None:  # keeps imports honest for type checkers
    del path


async def test_a_key_made_on_one_worker_works_on_another_at_once(
        spawn_worker: Any, http: httpx.AsyncClient) -> None:
    """Auth state is on the registry changelog that every worker follows."""
    one, two = spawn_worker(), spawn_worker()
    owner = {"x-tenant-id": "spread"}
    made = (await http.post(f"{one.url}/api/keys", headers=owner,
                            json={"role": "admin"})).json()
    headers = {"x-api-key": made["key"], "x-tenant-id": "spread"}
    created = await http.post(f"{two.url}/api/workflows", json=SIMPLE, headers=headers)
    assert created.status_code == 201, created.text
    wf = created.json()["id"]
    ran = await http.post(f"{one.url}/api/workflows/{wf}/run?wait=true",
                          json={"input": {"v": 1}}, headers=headers)
    assert ran.status_code == 200 and ran.json()["status"] == "completed"
    await http.delete(f"{one.url}/api/keys/{made['keyId']}", headers=owner)
    for _ in range(20):  # the other worker's replica is milliseconds behind
        status = (await http.get(f"{two.url}/api/workflows", headers=headers)).status_code
        if status == 401:
            break
        await asyncio.sleep(0.1)
    assert status == 401
