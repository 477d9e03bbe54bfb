"""Shared fixtures: one real broker per session, worker processes, a local HTTP peer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from bench.sink import Sink
from dev.kafka import BrokerSettings
from dev.workers import LOCAL_PEERS_ENV, WorkerProcess
from tests.tenants import KeyAuth

pytest_plugins = ["tests.kafka_fixture", "tests.postgres_fixture", "tests.s3_peer",
                  "tests.webhook_peer"]


def fresh_app_id(name: str) -> str:
    """A new deployment id: fresh topics and consumer groups, so tests never share state."""
    short = "".join(c if c.isalnum() else "-" for c in name)[:30].strip("-")
    return f"t-{short}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session", autouse=True)
def local_peers_allowed() -> Iterator[None]:
    """In-process steps reach the test peers on 127.0.0.1 too (workers get the same env).

    tests/test_guard.py clears these per test to prove the strict defaults.
    """
    mp = pytest.MonkeyPatch()
    for name, value in LOCAL_PEERS_ENV.items():
        mp.setenv(name, value)
    yield
    mp.undo()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[None]:
    """A failed test's report ends with its workers' state and log tails.

    A CI run shows only the test's output; without this a worker that died mid-test
    shows up as a bare connection error.
    """
    report = yield
    workers: list[WorkerProcess] = getattr(item, "hopflow_workers", [])
    if report.when == "call" and report.failed and workers:
        parts = []
        for worker in workers:
            code = worker.proc.poll() if worker.proc is not None else None
            state = "alive" if worker.proc is not None and code is None else f"exited ({code})"
            parts.append(f"worker :{worker.port} {state}; {worker.log_path} ends:\n"
                         f"{worker.log_tail(60)}")
        report.sections.append(("hopflow workers", "\n\n".join(parts)))
    return report


@pytest.fixture
def spawn_worker(kafka_broker: BrokerSettings, tmp_path: Path, request: pytest.FixtureRequest
                 ) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers of one fresh deployment; all are stopped after the test."""
    app_id = fresh_app_id(request.node.name)
    started: list[WorkerProcess] = []
    request.node.hopflow_workers = started  # read by pytest_runtest_makereport

    def spawn(*, wait: float = 90.0, port: int | None = None,
              env: dict[str, str] | None = None) -> WorkerProcess:
        worker = WorkerProcess(app_id=app_id, bootstrap=kafka_broker.bootstrap,
                               home=tmp_path / "home", env=env or {})
        if port is not None:
            worker.port = port
        started.append(worker)
        return worker.start(wait=wait)

    yield spawn
    for worker in started:
        worker.kill()


@pytest.fixture(scope="module")
def shared_worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory,
                  request: pytest.FixtureRequest) -> Iterator[WorkerProcess]:
    """One worker for a module's tests that need no restart (each makes its own workflows)."""
    worker = WorkerProcess(app_id=fresh_app_id(request.module.__name__),
                           bootstrap=kafka_broker.bootstrap,
                           home=tmp_path_factory.mktemp("shared"))
    worker.start()
    yield worker
    worker.stop()


@pytest_asyncio.fixture
async def sink() -> AsyncIterator[Sink]:
    async with Sink() as peer:
        yield peer


@pytest.fixture(scope="session")
def key_auth(kafka_broker: BrokerSettings) -> KeyAuth:
    return KeyAuth(kafka_broker.bootstrap)


@pytest_asyncio.fixture
async def http(key_auth: KeyAuth) -> AsyncIterator[httpx.AsyncClient]:
    """A client that authenticates as the owner of the tenant its x-tenant-id names."""
    async with httpx.AsyncClient(timeout=60.0, auth=key_auth) as client:
        yield client
