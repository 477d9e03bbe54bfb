"""Worker settings, from the command line or HOPFLOW_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from topics.kafka_security import KafkaSecurity


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
    # "text" (Faust's lines) or "json" (one object a line, hopflow/logs.py).
    log_format: str = field(default_factory=lambda: _env("LOG_FORMAT", "text"))
    # Kafka authentication (HOPFLOW_KAFKA_SECURITY_PROTOCOL, _SASL_*, _SSL_*) for every client.
    kafka: KafkaSecurity = field(default_factory=KafkaSecurity.from_env)
    # Topics hopflow and Faust create: 1 for a single broker, 3 (with min.insync 2) in
    # production. Existing topics keep theirs.
    topic_replication_factor: int = field(
        default_factory=lambda: int(_env("TOPIC_REPLICATION_FACTOR", "1")))
    topic_min_insync_replicas: int | None = field(
        default_factory=lambda: int(_env("TOPIC_MIN_INSYNC_REPLICAS", ""))
        if _env("TOPIC_MIN_INSYNC_REPLICAS", "") else None)
    # History store: "sqlite" (a file under the worker's home) or "postgresql://...".
    # (not in the repr: a PostgreSQL URL may carry its password; history.Database masks it)
    history: str = field(repr=False, default_factory=lambda: _env("HISTORY", "sqlite"))
    history_retention_days: float = field(
        default_factory=lambda: float(_env("HISTORY_RETENTION_DAYS", "30")))
    # Files (attachments, uploads): "local" (under home) or "s3://bucket/prefix"
    # (streams/file_store.py).
    file_store: str = field(default_factory=lambda: _env("FILE_STORE", "local"))
    # The S3 store's endpoint (an S3-compatible server; empty: AWS), region and keys (the
    # standard AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when these are unset).
    file_store_endpoint: str = field(default_factory=lambda: _env("FILE_STORE_ENDPOINT", ""))
    file_store_region: str = field(
        default_factory=lambda: _env("FILE_STORE_REGION", "") or "us-east-1")
    file_store_access_key_id: str = field(repr=False, default_factory=lambda: _env(
        "FILE_STORE_ACCESS_KEY_ID", "") or os.environ.get("AWS_ACCESS_KEY_ID", ""))
    file_store_secret_access_key: str = field(repr=False, default_factory=lambda: _env(
        "FILE_STORE_SECRET_ACCESS_KEY", "") or os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
    # Create the S3 store's bucket at first use when it is missing (tests, compose).
    file_store_create_bucket: bool = field(
        default_factory=lambda: _env("FILE_STORE_CREATE_BUCKET", "0") == "1")
    # How long an ended run stays in the live runs table before only history has it.
    run_grace_seconds: float = field(
        default_factory=lambda: float(_env("RUN_GRACE_SECONDS", "600")))

    # Plan of a tenant the operator has not set one for (hopflow tenants set-plan).
    default_plan: str = field(default_factory=lambda: _env("DEFAULT_PLAN", "free"))
    # A daily run cap for every tenant whose plan limits runs (trial deployments, tests):
    # lowers the plan's own (004: free 50 a day); unlimited plans stay unlimited.
    daily_runs_cap: int | None = field(
        default_factory=lambda: int(_env("DAILY_RUNS_CAP", "")) if _env("DAILY_RUNS_CAP", "")
        else None)
    # Shortest interval a cron schedule may fire at; below 60 a 6-field cron (seconds
    # first) is accepted, which tests use (streams/triggers/slots.py).
    schedule_min_interval_seconds: int = field(
        default_factory=lambda: int(_env("SCHEDULE_MIN_INTERVAL_SECONDS", "60")))
    # Secrets at rest: Fernet keys, newest first (comma-separated), or a file of them.
    secrets_keys: str | None = field(
        repr=False, default_factory=lambda: _env("SECRETS_KEYS", "") or None)
    secrets_key_file: str | None = field(
        default_factory=lambda: _env("SECRETS_KEY_FILE", "") or None)
    # JWT (dashboards): HS256 shared secret, and/or PEM public keys / a JWKS file for
    # RS256 and ES256; iss and aud are checked when set.
    jwt_secret: str | None = field(
        repr=False, default_factory=lambda: _env("JWT_SECRET", "") or None)
    jwt_public_keys: str | None = field(
        default_factory=lambda: _env("JWT_PUBLIC_KEYS", "") or None)  # PEM file paths, comma
    jwt_jwks_file: str | None = field(default_factory=lambda: _env("JWT_JWKS_FILE", "") or None)
    jwt_issuer: str | None = field(default_factory=lambda: _env("JWT_ISSUER", "") or None)
    jwt_audience: str | None = field(default_factory=lambda: _env("JWT_AUDIENCE", "") or None)
    jwt_tenant_claim: str = field(default_factory=lambda: _env("JWT_TENANT_CLAIM", "tenant"))
    jwt_role_claim: str = field(default_factory=lambda: _env("JWT_ROLE_CLAIM", "role"))

    # Lookup providers (company_lookup, darkweb_lookup, google_search): one per deployment,
    # operator-set.
    # URL: a template with {query} (URL-encoded input); TOKEN: sent as a Bearer token.
    company_provider_url: str | None = field(
        default_factory=lambda: _env("COMPANY_PROVIDER_URL", "") or None)
    company_provider_token: str | None = field(
        repr=False, default_factory=lambda: _env("COMPANY_PROVIDER_TOKEN", "") or None)
    darkweb_provider_url: str | None = field(
        default_factory=lambda: _env("DARKWEB_PROVIDER_URL", "") or None)
    darkweb_provider_token: str | None = field(
        repr=False, default_factory=lambda: _env("DARKWEB_PROVIDER_TOKEN", "") or None)
    google_provider_url: str | None = field(  # google_search (and /api/bulk-google-search)
        default_factory=lambda: _env("GOOGLE_PROVIDER_URL", "") or None)
    google_provider_token: str | None = field(
        repr=False, default_factory=lambda: _env("GOOGLE_PROVIDER_TOKEN", "") or None)

    # Metrics (streams/run_metrics.py): how many workflow ids get their own label before the
    # rest count as "_other", and whether per-tenant counters are exported at all. Both are
    # off by default: /metrics answers without auth, and a workflow id is a tenant's data;
    # turn them on where only your Prometheus reaches /metrics (docker-compose.yml does).
    metrics_max_workflows: int = field(
        default_factory=lambda: int(_env("METRICS_MAX_WORKFLOWS", "0")))
    metrics_tenants: bool = field(default_factory=lambda: _env("METRICS_TENANTS", "0") == "1")

    def provider(self, name: str) -> dict[str, str | None] | None:
        """A lookup provider's {url, token} for steps (ctx.extras["provider"]), None if unset."""
        url = getattr(self, f"{name}_provider_url", None)
        if not url:
            return None
        return {"url": url, "token": getattr(self, f"{name}_provider_token", None)}

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
