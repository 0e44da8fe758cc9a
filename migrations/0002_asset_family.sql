-- roma-assets: what the real API's shapes need (ServerAppInfo, BriefTaskRespBean) and deletion
-- jobs. Applied once, inside the migration transaction.

-- Applications: the access key (generated, unique per instance) and the favourite flag. Who
-- created them needs no column: the reference server has one user per project.
ALTER TABLE apps ADD COLUMN app_key TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN favorite INTEGER NOT NULL DEFAULT 0 CHECK (favorite IN (0, 1));
UPDATE apps SET app_key = upper(hex(randomblob(8))) WHERE app_key = '';
CREATE UNIQUE INDEX apps_key ON apps (project_id, instance_id, app_key);

-- Tasks: FDI's type, tag, run state and version.
ALTER TABLE tasks ADD COLUMN task_type TEXT NOT NULL DEFAULT 'REALTIME'
    CHECK (task_type IN ('REALTIME', 'TIMING'));
ALTER TABLE tasks ADD COLUMN task_tag TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN status INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1));
ALTER TABLE tasks ADD COLUMN execute_status TEXT NOT NULL DEFAULT 'UNSTARTED'
    CHECK (execute_status IN ('UNSTARTED', 'WAITING', 'RUNNING', 'SUCCESS', 'CANCELLED', 'ERROR'));
ALTER TABLE tasks ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);

-- Jobs: a third kind, DELETE. SQLite cannot change a CHECK in place: the table is rebuilt.
-- Foreign keys (archives.job_id) are checked at commit, when the rebuilt table holds every row.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE jobs_rebuilt (
    id          TEXT PRIMARY KEY NOT NULL,
    project_id  TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('EXPORT', 'IMPORT', 'DELETE')),
    status      TEXT NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
    progress    REAL NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    archive_id  TEXT,
    reasons     TEXT NOT NULL DEFAULT '[]', -- JSON array of Reason
    begin_time  TEXT NOT NULL,
    end_time    TEXT
) STRICT;
INSERT INTO jobs_rebuilt SELECT id, project_id, instance_id, kind, status, progress, archive_id,
                                reasons, begin_time, end_time FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_rebuilt RENAME TO jobs;
CREATE UNIQUE INDEX jobs_one_running_per_project ON jobs (project_id) WHERE status = 'RUNNING';
CREATE INDEX jobs_by_status ON jobs (status);
