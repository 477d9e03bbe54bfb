"""Worker settings, from the command line or HOPFLOW_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(f"HOPFLOW_{name}", default)


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs to join a deployment."""

    app_id: str = field(default_factory=lambda: _env("APP_ID", "hopflow"))
    bootstrap: str = field(default_factory=lambda: _env("BOOTSTRAP", "127.0.0.1:9092"))
    # web_host is how other workers reach this one (routing); web_bind is the listen address.
    web_host: str = field(default_factory=lambda: _env("WEB_HOST", "127.0.0.1"))
    web_bind: str = field(default_factory=lambda: _env("WEB_BIND", "127.0.0.1"))
    web_port: int = field(default_factory=lambda: int(_env("WEB_PORT", "6066")))
    partitions: int = field(default_factory=lambda: int(_env("PARTITIONS", "8")))
    step_concurrency: int = field(default_factory=lambda: int(_env("STEP_CONCURRENCY", "100")))
    home: Path = field(default_factory=lambda: Path(
        _env("HOME", str(Path.home() / ".cache" / "hopflow"))).expanduser())
    loglevel: str = field(default_factory=lambda: _env("LOGLEVEL", "warning"))
    # History store: "sqlite" (a file under the worker's home) or "postgresql://...".
    history: str = field(default_factory=lambda: _env("HISTORY", "sqlite"))
    history_retention_days: float = field(
        default_factory=lambda: float(_env("HISTORY_RETENTION_DAYS", "30")))
    # How long an ended run stays in the live runs table before only history has it.
    run_grace_seconds: float = field(
        default_factory=lambda: float(_env("RUN_GRACE_SECONDS", "600")))

    @property
    def datadir(self) -> Path:
        return self.home / "workers" / f"{self.app_id}-{self.web_port}"

    @property
    def history_url(self) -> str:
        """The store's URL; the embedded default is per worker (each projects everything)."""
        if self.history == "sqlite":
            return f"sqlite:///{self.datadir / 'history.sqlite3'}"
        return self.history

    @property
    def canonical_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"
