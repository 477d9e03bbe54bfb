-- Outbound webhook deliveries: one row per (endpoint, event id), which is also the
-- dedup rule. A pending row (next_attempt_ms set) is the durable retry: any worker's
-- scanner claims it by moving next_attempt_ms, so a restart loses none.
CREATE TABLE webhook_deliveries (
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    last_attempt_ms BIGINT,
    next_attempt_ms BIGINT,
    created_ms BIGINT NOT NULL,
    history TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_ms);

-- Consecutive failed attempts per endpoint (reset by a success): disables an endpoint.
CREATE TABLE webhook_endpoint_health (
    endpoint_id TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    updated_ms BIGINT NOT NULL
)
