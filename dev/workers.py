"""Start and stop `hopflow worker` processes, for tests, bench and local runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# Test/dev only: let steps call the local peers (bench sink, test servers) on 127.0.0.1
# over plain http. Production workers get neither (the guard refuses both by default).
LOCAL_PEERS_ENV = {"HOPFLOW_OUTBOUND_ALLOW": "127.0.0.1/32", "HOPFLOW_ALLOW_HTTP": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WorkerProcess:
    """One worker subprocess; `url` is its HTTP API.

    `local_peers` (on by default, since every user of this class is a test, the bench or
    a local run) adds LOCAL_PEERS_ENV; `env` still overrides it key by key.
    """

    app_id: str
    bootstrap: str
    home: Path
    port: int = field(default_factory=free_port)
    partitions: int = 8
    env: dict[str, str] = field(default_factory=dict)
    local_peers: bool = True
    loglevel: str = "warning"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / f"worker-{self.app_id}-{self.port}.log"

    def start(self, wait: float = 90.0) -> WorkerProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        peers = LOCAL_PEERS_ENV if self.local_peers else {}
        env = {**os.environ, **peers, "HOPFLOW_HOME": str(self.home), **self.env}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hopflow",
                "worker",
                "--app-id",
                self.app_id,
                "--bootstrap",
                self.bootstrap,
                "--web-port",
                str(self.port),
                "--partitions",
                str(self.partitions),
                "--loglevel",
                self.loglevel,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        if wait:
            self.wait_healthy(wait)
        return self

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"worker not healthy after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """kill -9: no shutdown, no final commit, like a crashed machine."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
