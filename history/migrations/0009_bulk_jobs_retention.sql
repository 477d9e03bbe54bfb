-- Bulk jobs follow run history's retention (history/bulk.py expire_jobs: jobs that
-- ended before the cutoff), and file retention keeps a job's input file while the
-- job is in the store (history/queries.py files_in_use).
CREATE INDEX bulk_jobs_by_completed ON bulk_jobs (completed_ms);
CREATE INDEX bulk_jobs_by_file ON bulk_jobs (file_id)
