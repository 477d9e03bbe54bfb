-- Bulk jobs (streams/bulk): one row per job, moved by the bulk projector from the
-- bulk-control topic in the same transaction as its Kafka offsets.
CREATE TABLE bulk_jobs (
    job_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    lookup_type TEXT NOT NULL,
    status TEXT NOT NULL,
    total INTEGER NOT NULL,
    column_index INTEGER NOT NULL,
    file_id TEXT NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    credits BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    created_ms BIGINT NOT NULL,
    completed_ms BIGINT
);
CREATE INDEX bulk_jobs_by_tenant ON bulk_jobs (tenant, created_ms);

-- One row per (job, CSV row): the primary key is the exactly-once rule. Counters,
-- credits and usage move only for rows this insert really added.
CREATE TABLE bulk_results (
    job_id TEXT NOT NULL,
    row_index INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    output TEXT,
    error TEXT,
    credits INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, row_index)
)
