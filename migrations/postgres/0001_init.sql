-- roma-assets on PostgreSQL: the schema SQLite reaches after its migrations 0001 and 0002, with
-- the same column types as far as the two engines share them (text timestamps and JSON, 64-bit
-- integer flags, double precision progress), so rows read back alike from either. Applied once
-- by src/service/store/postgres.rs, inside a transaction holding the migrations' advisory lock.
-- Never edit a migration that has shipped: add the next numbered file instead.
--
-- Text that is sorted or compared as SQLite does it (byte order) is COLLATE "C".

CREATE TABLE apps (
    project_id  TEXT COLLATE "C" NOT NULL,
    instance_id TEXT COLLATE "C" NOT NULL,
    id          TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL,
    app_key     TEXT NOT NULL,
    favorite    BIGINT NOT NULL DEFAULT 0 CHECK (favorite IN (0, 1)),
    PRIMARY KEY (project_id, instance_id, id),
    UNIQUE (project_id, instance_id, name),
    UNIQUE (project_id, instance_id, app_key)
);

CREATE TABLE tasks (
    project_id     TEXT COLLATE "C" NOT NULL,
    instance_id    TEXT COLLATE "C" NOT NULL,
    id             TEXT COLLATE "C" NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    app_id         TEXT COLLATE "C" NOT NULL,
    source         TEXT NOT NULL, -- JSON
    target         TEXT NOT NULL, -- JSON
    created_at     TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT COLLATE "C" NOT NULL,
    task_type      TEXT NOT NULL DEFAULT 'REALTIME' CHECK (task_type IN ('REALTIME', 'TIMING')),
    task_tag       TEXT NOT NULL DEFAULT '',
    status         BIGINT NOT NULL DEFAULT 0 CHECK (status IN (0, 1)),
    execute_status TEXT NOT NULL DEFAULT 'UNSTARTED'
        CHECK (execute_status IN ('UNSTARTED', 'WAITING', 'RUNNING', 'SUCCESS', 'CANCELLED', 'ERROR')),
    version        BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1),
    PRIMARY KEY (project_id, instance_id, id),
    UNIQUE (project_id, instance_id, name),
    FOREIGN KEY (project_id, instance_id, app_id) REFERENCES apps (project_id, instance_id, id)
);

CREATE INDEX tasks_by_app ON tasks (project_id, instance_id, app_id);

CREATE TABLE jobs (
    id          TEXT COLLATE "C" PRIMARY KEY,
    project_id  TEXT COLLATE "C" NOT NULL,
    instance_id TEXT COLLATE "C" NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('EXPORT', 'IMPORT', 'DELETE')),
    status      TEXT NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
    progress    DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    archive_id  TEXT,
    reasons     TEXT NOT NULL DEFAULT '[]', -- JSON array of Reason
    begin_time  TEXT COLLATE "C" NOT NULL,
    end_time    TEXT COLLATE "C"
);

-- "Only one running asset job per project", enforced by the database itself, whichever replica
-- inserts.
CREATE UNIQUE INDEX jobs_one_running_per_project ON jobs (project_id) WHERE status = 'RUNNING';

CREATE INDEX jobs_by_status ON jobs (status);

CREATE TABLE archives (
    id            TEXT COLLATE "C" PRIMARY KEY,
    project_id    TEXT COLLATE "C" NOT NULL,
    instance_id   TEXT COLLATE "C" NOT NULL,
    job_id        TEXT NOT NULL REFERENCES jobs (id),
    path          TEXT NOT NULL, -- the blob's name
    created_at    TEXT NOT NULL,
    downloaded_at TEXT          -- set once, by the one allowed download
);
