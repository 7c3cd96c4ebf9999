-- Issue 4: conflicts that end (R-M9), ignored MDM devices, what each run saw (R-M10, re-enrollment).

-- A conflict is kept once it ends (how, by whom, into which device); one may be open per MDM device.
-- `master_link` holds the settings of the run that recorded it: a resolution applies those.
ALTER TABLE reconciler.conflicts
    ADD COLUMN master_link        jsonb,
    ADD COLUMN resolution         text,
    ADD COLUMN resolved_device_id uuid,
    ADD COLUMN resolved_by        uuid,
    ADD COLUMN resolved_at        timestamptz;
UPDATE reconciler.conflicts c SET master_link = r.master_link
    FROM reconciler.sync_runs r WHERE r.sync_run_id = c.sync_run_id;
ALTER TABLE reconciler.conflicts DROP CONSTRAINT conflicts_tenant_id_integration_id_mdm_device_id_key;
CREATE UNIQUE INDEX conflicts_open ON reconciler.conflicts (tenant_id, integration_id, mdm_device_id)
    WHERE status = 'open';

ALTER TABLE reconciler.sync_runs ADD COLUMN integration_id text;
UPDATE reconciler.sync_runs SET integration_id = master_link->>'integration_id';
CREATE INDEX sync_runs_integration ON reconciler.sync_runs (tenant_id, integration_id);

-- MDM devices a person chose to leave out (ResolveConflict `ignore`): later syncs skip them.
CREATE TABLE reconciler.ignored (
    tenant_id       text NOT NULL,
    integration_id  text NOT NULL,
    mdm_device_id   text NOT NULL,
    conflict_id     uuid NOT NULL,
    PRIMARY KEY (tenant_id, integration_id, mdm_device_id)
);

-- The MDM ids each run reported, one row per consumed batch (arrays: 100,000 devices are 20 rows,
-- one INSERT per batch). A run's rows are read once it completes (which bound devices it
-- did not report: R-M10; which old MDM ids left: re-enrollment) and kept until the integration's
-- next complete run, because they date when a device was last seen: a no-change re-sync writes no
-- device row. UNLOGGED: cheap to fill; a crash that empties it shows as fewer ids than the run
-- counted, and the run then marks nothing (see core/lifecycle.py). No index: it is read whole,
-- once per completed run.
CREATE UNLOGGED TABLE reconciler.run_seen (
    sync_run_id          uuid NOT NULL,
    seen_at              timestamptz NOT NULL,  -- the latest report of the batch
    mdm_device_ids       text[] NOT NULL,
    -- observations that conflicted with a device bound to another MDM id of the integration
    reenroll_ids         text[] NOT NULL,
    reenroll_candidates  uuid[] NOT NULL
);
