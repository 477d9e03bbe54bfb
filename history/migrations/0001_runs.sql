-- Runs, their step executions, hourly health counters, and the projector's offsets.
-- One dialect for SQLite and PostgreSQL: TEXT for JSON, BIGINT for epoch ms, INTEGER for flags.

CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    workflow_version INTEGER NOT NULL,
    trigger_type TEXT NOT NULL,
    status TEXT NOT NULL,
    current_step TEXT,
    input TEXT,
    result TEXT,
    error TEXT,
    idempotency_key TEXT,
    body_hash TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    ended_ms BIGINT,
    event_seq INTEGER NOT NULL
);
CREATE INDEX runs_by_tenant ON runs (tenant, created_ms DESC, run_id DESC);
CREATE INDEX runs_by_workflow ON runs (tenant, workflow_id, created_ms DESC, run_id DESC);
CREATE INDEX runs_by_status ON runs (tenant, status, created_ms DESC, run_id DESC);
CREATE INDEX runs_by_ended ON runs (ended_ms);

CREATE TABLE step_executions (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    step_type TEXT NOT NULL,
    status TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    ended_ms BIGINT,
    output TEXT,
    error TEXT,
    request TEXT,
    retryable INTEGER,
    PRIMARY KEY (run_id, seq, attempt)
);

-- Health in O(hours), not O(runs): counted once per run, in the hour it started.
CREATE TABLE run_stats_hourly (
    tenant TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    hour_ms BIGINT NOT NULL,
    started INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0,
    completed_ms_sum BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, workflow_id, hour_ms)
);

CREATE TABLE workflow_stats (
    tenant TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    last_run_ms BIGINT,
    last_status TEXT,
    last_error TEXT,
    last_error_ms BIGINT,
    PRIMARY KEY (tenant, workflow_id)
);

-- A deleted workflow's late events must not bring its history back.
CREATE TABLE deleted_workflows (
    tenant TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    deleted_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, workflow_id)
);

-- Written in the same transaction as the rows they produced: no duplicate, no gap.
CREATE TABLE projector_offsets (
    topic TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
)
