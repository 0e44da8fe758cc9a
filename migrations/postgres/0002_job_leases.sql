-- roma-assets on PostgreSQL: job leases (as SQLite's 0003). A job belongs to the replica that
-- runs it, which renews the lease while it runs; a RUNNING job whose lease has expired (its
-- replica died) is marked FAILED by a surviving replica.
ALTER TABLE jobs ADD COLUMN owner TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN lease_until TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX jobs_running_by_lease ON jobs (lease_until) WHERE status = 'RUNNING';
