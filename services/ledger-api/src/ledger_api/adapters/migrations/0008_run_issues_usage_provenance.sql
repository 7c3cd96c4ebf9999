-- R-M12/R-M14: a sync run may be `refused` (work of a removed or superseded master-link generation);
-- it carries its generation, how many records were skipped and devices kept with warnings, and its
-- first 1,000 issues (projected from SyncRunSummary, rebuilt by a replay).
ALTER TABLE ledger.sync_runs DROP CONSTRAINT sync_runs_status_check;
ALTER TABLE ledger.sync_runs ADD CONSTRAINT sync_runs_status_check
    CHECK (status IN ('requested', 'running', 'completed', 'failed', 'refused'));
ALTER TABLE ledger.sync_runs ADD COLUMN generation integer NOT NULL DEFAULT 0;
ALTER TABLE ledger.sync_runs ADD COLUMN skipped integer NOT NULL DEFAULT 0;
ALTER TABLE ledger.sync_runs ADD COLUMN warnings integer NOT NULL DEFAULT 0;

CREATE TABLE ledger.sync_run_issues (
    sync_run_id    uuid NOT NULL,
    seq            integer NOT NULL,              -- position in SyncRunSummary.issues
    tenant_id      text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('warning', 'skipped')),
    mdm_device_id  text,
    field          text,
    reason         text NOT NULL,
    PRIMARY KEY (sync_run_id, seq)
);

-- R-C3: a period appended by the projection when the MDM's assigned user of a bound device changed
-- carries its provenance; `source_event_id` makes the append idempotent under redelivery and replay.
ALTER TABLE ledger.usage_history ADD COLUMN origin text NOT NULL DEFAULT 'manual'
    CHECK (origin IN ('manual', 'import', 'sync'));
ALTER TABLE ledger.usage_history ADD COLUMN sync_run_id uuid;
ALTER TABLE ledger.usage_history ADD COLUMN integration_id text;
ALTER TABLE ledger.usage_history ADD COLUMN source_event_id uuid;
ALTER TABLE ledger.usage_history ADD COLUMN source_version integer;
ALTER TABLE ledger.usage_history ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE UNIQUE INDEX usage_history_by_event ON ledger.usage_history (tenant_id, source_event_id)
    WHERE source_event_id IS NOT NULL;
