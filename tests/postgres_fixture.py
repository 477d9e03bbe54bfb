"""pytest plugin: one real PostgreSQL 15 cluster per session, a fresh database per test."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev.pgserver import PostgresServer, create_database, free_port, start, stop


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    # Not under pytest's tmp tree: that is root-only (0700), and as root the server runs as
    # the postgres user, who must reach its data directory.
    data_dir = Path(tempfile.mkdtemp(prefix="hopflow-pg-"))
    server = PostgresServer(port=free_port(), data_dir=data_dir)
    try:
        start(server)
        yield server
    finally:
        stop(server)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    return create_database(postgres_server, f"t_{uuid.uuid4().hex[:12]}")
