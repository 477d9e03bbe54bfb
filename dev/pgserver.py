"""A throwaway PostgreSQL 15 cluster for tests and local runs (no Docker).

initdb and postgres refuse to run as root, and CI runs as root: then the
server runs as the `postgres` user, in a data directory it owns, with its
socket inside that directory. Trust auth on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

_FALLBACK_BIN = Path("/usr/lib/postgresql/15/bin")


class PostgresError(RuntimeError):
    """The cluster could not be created or started."""


def bindir() -> Path:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    if (_FALLBACK_BIN / "initdb").exists():
        return _FALLBACK_BIN
    raise PostgresError("PostgreSQL 15 binaries not found (apt-get install postgresql-15)")


@dataclass(frozen=True)
class PostgresServer:
    port: int
    data_dir: Path

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def _as_owner(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def start(server: PostgresServer, timeout: float = 30.0) -> PostgresServer:
    """initdb if needed, start, and wait until it answers a query."""
    bins = bindir()
    data = server.data_dir / "data"
    server.data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(server.data_dir, "postgres", "postgres")
    if not (data / "PG_VERSION").exists():
        result = subprocess.run(_as_owner([str(bins / "initdb"), "-D", str(data), "-A", "trust",
                                           "-U", "postgres", "--encoding", "UTF8",
                                           "--locale", "C"]),
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PostgresError(f"initdb failed: {result.stderr[-2000:]}")
    options = (f"-p {server.port} -k {server.data_dir} -c listen_addresses=127.0.0.1 "
               f"-c shared_buffers=128MB -c max_connections=100")
    log = server.data_dir / "postgres.log"
    result = subprocess.run(_as_owner([str(bins / "pg_ctl"), "-D", str(data), "-o", options,
                                       "-l", str(log), "-w", "-t", str(int(timeout)), "start"]),
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise PostgresError(f"postgres did not start: {result.stderr[-1000:]}\n{tail}")
    _wait_ready(server, timeout)
    return server


def _wait_ready(server: PostgresServer, timeout: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(server.dsn, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PostgresError(f"postgres not answering on {server.port}: {exc}") from exc
            time.sleep(0.2)


def stop(server: PostgresServer) -> None:
    data = server.data_dir / "data"
    if (data / "postmaster.pid").exists():
        subprocess.run(_as_owner([str(bindir() / "pg_ctl"), "-D", str(data), "-m", "fast",
                                  "-w", "stop"]), capture_output=True, check=False)


def create_database(server: PostgresServer, name: str) -> str:
    """A new empty database; returns its DSN."""
    import psycopg

    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.dsn_for(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
