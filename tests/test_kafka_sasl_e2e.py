"""A worker against a broker that wants SASL (PLAIN), in the clear and over TLS: it runs a
workflow end to end with the right password, and stops at once with a clear error with a
wrong one.

A second real broker (dev.kafka with `sasl_users` and a PEM keystore): SASL_PLAINTEXT on
port + 2, SASL_SSL on port + 3 (a throwaway CA, tests/certs.py), its PLAINTEXT listener
kept for the test's own operator calls (tenant keys). The default test broker is
untouched.
"""

from __future__ import annotations

import secrets as random
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from bench.sink import Sink
from dev.kafka import BrokerSettings, port_free, start, stop
from dev.workers import WorkerProcess, free_port
from tests.certs import server_pem
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow
from tests.tenants import KeyAuth

USER = "hopflow-svc"
PASSWORD = f"pw-{random.token_hex(10)}"


def _four_free_ports() -> int:
    for _ in range(200):
        port = free_port()
        if port < 65000 and all(port_free(port + n) for n in (1, 2, 3)):
            return port
    raise RuntimeError("no four free ports in a row")


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerSettings]:
    certs = tmp_path_factory.mktemp("sasl-certs")
    _, keystore = server_pem(certs)
    settings = BrokerSettings(port=_four_free_ports(),
                              data_dir=tmp_path_factory.mktemp("sasl-broker"),
                              sasl_users=((USER, PASSWORD),), tls_keystore_pem=keystore)
    start(settings)
    try:
        yield settings
    finally:
        stop(settings)


@pytest_asyncio.fixture
async def sasl_http(sasl_broker: BrokerSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60.0, auth=KeyAuth(sasl_broker.bootstrap)) as client:
        yield client


def sasl_worker(broker: BrokerSettings, home: Path, password: str,
                protocol: str = "SASL_PLAINTEXT") -> WorkerProcess:
    bootstrap = broker.sasl_ssl_bootstrap if protocol == "SASL_SSL" else broker.sasl_bootstrap
    assert bootstrap is not None and broker.tls_keystore_pem is not None
    return WorkerProcess(
        app_id=fresh_app_id("sasl"), bootstrap=bootstrap, home=home, partitions=2,
        env={"HOPFLOW_KAFKA_SECURITY_PROTOCOL": protocol,
             "HOPFLOW_KAFKA_SASL_MECHANISM": "PLAIN",
             "HOPFLOW_KAFKA_SASL_USERNAME": USER, "HOPFLOW_KAFKA_SASL_PASSWORD": password,
             "HOPFLOW_KAFKA_SSL_CAFILE": str(broker.tls_keystore_pem.parent / "ca.pem"),
             "HOPFLOW_LOG_FORMAT": "json"})


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
async def test_worker_runs_a_workflow_over_sasl(
        sasl_broker: BrokerSettings, tmp_path: Path, sasl_http: httpx.AsyncClient,
        sink: Sink, request: pytest.FixtureRequest, protocol: str) -> None:
    worker = sasl_worker(sasl_broker, tmp_path / "home", PASSWORD, protocol)
    request.node.hopflow_workers = [worker]
    try:
        worker.start()
        tenant = f"sasl-{protocol.lower().replace('_', '-')}"
        workflow_id = await create_workflow(sasl_http, worker.url, {
            "name": "over sasl", "steps": [
                {"id": "call", "type": "webhook", "config": {"url": sink.url("/sasl"),
                                                             "method": "POST"}},
                {"id": "shape", "type": "transform", "config": {"fields": {"ok": True}}}]},
            tenant=tenant)
        response = await sasl_http.post(
            f"{worker.url}/api/workflows/{workflow_id}/run",
            params={"wait": "true", "timeout": "60"}, json={"input": {}},
            headers={"x-tenant-id": tenant})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "completed", response.json()
        assert sink.counts["/sasl"] >= 1
        # the history projector (its own consumer) got there too, over SASL
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            health = httpx.get(f"{worker.url}/healthz").json()
            if health["history"]["projected"] > 0:
                break
            time.sleep(0.3)
        assert health["history"]["projected"] > 0, health
    finally:
        worker.stop()
    assert PASSWORD not in worker.log_path.read_text(errors="replace")


def test_a_wrong_password_stops_the_worker_with_a_clear_error(
        sasl_broker: BrokerSettings, tmp_path: Path) -> None:
    wrong = f"wrong-{random.token_hex(8)}"
    worker = sasl_worker(sasl_broker, tmp_path / "home", wrong)
    worker.start(wait=0)
    assert worker.proc is not None
    try:
        code = worker.proc.wait(timeout=90)  # not forever
    finally:
        worker.kill()
    log = worker.log_path.read_text(errors="replace")
    assert code == 2, log
    assert "SaslAuthenticationFailed" in log, log
    assert f"cannot use Kafka at {sasl_broker.sasl_bootstrap}" in log, log
    assert wrong not in log
