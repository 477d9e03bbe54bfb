-- Files a run's input names (an attachment, a file_upload trigger's file): file
-- retention keeps a file while any run in history names it, so a run waiting on a
-- delay or a person never loses its file, and the file leaves with the run's history.
-- Written by the projector from run.started; removed with the run.
CREATE TABLE run_files (
    tenant TEXT NOT NULL,
    file_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (tenant, file_id, run_id)
);
CREATE INDEX run_files_by_run ON run_files (run_id);
