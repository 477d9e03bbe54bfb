-- Step logs say how a failed attempt failed: transient (retried) or permanent.
ALTER TABLE step_executions ADD COLUMN error_class TEXT;

-- Usage per tenant, UTC day and step type: credits billed and I/O step calls made.
-- Moved by the projector in the batch's transaction, only when a step row really
-- changed, so a redelivered event counts nothing twice. Not removed with runs or
-- workflows: usage is what was spent.
CREATE TABLE usage_daily (
    tenant TEXT NOT NULL,
    day TEXT NOT NULL,
    step_type TEXT NOT NULL,
    credits BIGINT NOT NULL DEFAULT 0,
    calls BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, day, step_type)
)
