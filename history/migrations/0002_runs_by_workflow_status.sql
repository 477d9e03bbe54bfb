-- A workflow's runs in one status (failed runs of a workflow) without scanning its others.
CREATE INDEX runs_by_workflow_status ON runs (tenant, workflow_id, status, created_ms DESC, run_id DESC)
