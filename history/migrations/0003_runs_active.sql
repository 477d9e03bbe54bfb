-- Pending runs (pending, running, retrying, paused) newest first, without reading a tenant's
-- ended runs: SQLite uses a partial index only when the query repeats its condition, so
-- queries.RunFilter writes these statuses into the SQL for the pending list.
CREATE INDEX runs_active ON runs (tenant, created_ms DESC, run_id DESC)
    WHERE status IN ('pending', 'running', 'retrying', 'paused')
