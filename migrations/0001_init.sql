-- roma-assets: first schema. Applied once by src/service/store.rs, inside a transaction.
-- Never edit a migration that has shipped: add the next numbered file instead.
--
-- Instances are implicit (no instances table): every row carries its (project_id, instance_id),
-- and an instance not seen before is simply empty. Timestamps are RFC 3339 UTC text with
-- microseconds (fixed width, so they sort as text). JSON columns hold serde_json text.

CREATE TABLE apps (
    project_id  TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (project_id, instance_id, id),
    UNIQUE (project_id, instance_id, name)
) STRICT;

CREATE TABLE tasks (
    project_id  TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    app_id      TEXT NOT NULL,
    source      TEXT NOT NULL, -- JSON
    target      TEXT NOT NULL, -- JSON
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (project_id, instance_id, id),
    UNIQUE (project_id, instance_id, name),
    FOREIGN KEY (project_id, instance_id, app_id) REFERENCES apps (project_id, instance_id, id)
) STRICT;

CREATE INDEX tasks_by_app ON tasks (project_id, instance_id, app_id);

CREATE TABLE jobs (
    id          TEXT PRIMARY KEY NOT NULL,
    project_id  TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('EXPORT', 'IMPORT')),
    status      TEXT NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
    progress    REAL NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    archive_id  TEXT,
    reasons     TEXT NOT NULL DEFAULT '[]', -- JSON array of Reason
    begin_time  TEXT NOT NULL,
    end_time    TEXT
) STRICT;

-- "Only one running asset job per project", enforced by the database itself: a second INSERT of a
-- RUNNING job for the same project fails with a UNIQUE constraint violation, however many
-- connections or processes race.
CREATE UNIQUE INDEX jobs_one_running_per_project ON jobs (project_id) WHERE status = 'RUNNING';

CREATE INDEX jobs_by_status ON jobs (status);

CREATE TABLE archives (
    id            TEXT PRIMARY KEY NOT NULL,
    project_id    TEXT NOT NULL,
    instance_id   TEXT NOT NULL,
    job_id        TEXT NOT NULL REFERENCES jobs (id),
    path          TEXT NOT NULL, -- file name inside the server's archive directory
    created_at    TEXT NOT NULL,
    downloaded_at TEXT             -- set once, by the one allowed download
) STRICT;
