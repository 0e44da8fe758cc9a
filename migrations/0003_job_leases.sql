-- roma-assets: job leases. A job belongs to the server (replica) that runs it, which renews
-- the lease while it runs; a RUNNING job whose lease has expired is marked FAILED by whoever
-- sees it first. Jobs from before this migration have no owner and an expired lease.
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN lease_until TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_running_by_lease ON jobs (lease_until) WHERE status = 'RUNNING';
