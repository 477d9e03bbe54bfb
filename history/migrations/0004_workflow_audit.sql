-- Audit trail per workflow: lifecycle changes (workflow-events) and run starts (run.started),
-- newest first. event_id makes a replayed batch insert nothing twice.
CREATE TABLE workflow_audit (
    event_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT,
    version INTEGER,
    detail TEXT
);
CREATE INDEX workflow_audit_by_workflow ON workflow_audit (tenant, workflow_id, ts_ms DESC, event_id DESC)
