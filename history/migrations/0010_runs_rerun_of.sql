-- A re-run (POST /api/workflows/runs/{id}/rerun) names the run it re-runs, so the
-- console links the two; null for every other run. Written from run.started.
ALTER TABLE runs ADD COLUMN rerun_of TEXT;
