-- Issue 9: one order per master link (R-M12), exact runs (R-M13), warnings and skips (R-M14),
-- re-link remembers (R-S7).

-- R-M12: the generation of each (tenant, integration) the reconciler has applied, and how it got
-- there (created / settings_changed / unlinked). Written in the batch's transaction.
CREATE TABLE reconciler.link_generations (
    tenant_id       text    NOT NULL,
    integration_id  text    NOT NULL,
    master_link_id  text    NOT NULL,
    generation      integer NOT NULL,
    change          text    NOT NULL,
    changed_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, integration_id)
);

-- R-M12: records of runs whose generation is newer than the applied one (their MasterLinkChanged,
-- on the commands topic, has not been consumed yet). Re-folded in `seq` order once it has.
CREATE TABLE reconciler.parked (
    seq             bigserial PRIMARY KEY,
    tenant_id       text    NOT NULL,
    integration_id  text    NOT NULL,
    generation      integer NOT NULL,
    sync_run_id     uuid    NOT NULL,
    topic           text    NOT NULL,
    partition       integer NOT NULL,
    record_offset   bigint  NOT NULL,
    message         bytea   NOT NULL
);
CREATE INDEX parked_link ON reconciler.parked (tenant_id, integration_id, generation);

-- R-M13 / R-M14: attempts of a run and its first 1,000 issues (RunState.progress()).
ALTER TABLE reconciler.sync_runs ADD COLUMN progress jsonb NOT NULL DEFAULT '{}';

-- R-S7: bindings an unlink (keep) removed: a re-link binds the kept device back before any key.
CREATE TABLE reconciler.former_bindings (
    tenant_id       text NOT NULL,
    integration_id  text NOT NULL,
    mdm_device_id   text NOT NULL,
    device_id       uuid NOT NULL,
    PRIMARY KEY (tenant_id, integration_id, mdm_device_id)
);
