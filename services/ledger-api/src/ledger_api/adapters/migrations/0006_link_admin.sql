-- Issue 10 (R-A1, R-A2) and issue 9's ordering (R-M12), the API side.

-- R-M12: one generation counter per (tenant, integration), raised when a master link of the
-- integration is created, when its matching settings change (R-A2) and when it is unlinked.
-- The live link's `settings` (MasterLinkSettings JSON) carry its current generation; every
-- SyncRequested, MasterLinkChanged and UnlinkMasterLink carries it. Updating this row also
-- serialises the link operations of one integration.
-- R-A1: the outcome of the last connection test; "connected" = a successful test or sync.
ALTER TABLE ledger.integrations
    ADD COLUMN link_generation     bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_test_at        timestamptz,
    ADD COLUMN last_test_ok        boolean,
    ADD COLUMN last_test_failure   text,   -- authentication | consent_or_permission | network | tls | mdm_error
    ADD COLUMN last_test_message   text,   -- never a secret
    ADD COLUMN last_test_succeeded_at timestamptz;

-- Links created before R-M12 carry generation 0 (legacy): the counter starts at what they carry.
UPDATE ledger.integrations i SET link_generation = greatest(i.link_generation, coalesce((
    SELECT max((m.settings->>'generation')::bigint) FROM ledger.master_links m
    WHERE m.tenant_id = i.tenant_id AND m.integration_id = i.integration_id), 0));

-- R-A2: a paused link is not scheduled (next_run_at NULL) and refuses "sync now".
ALTER TABLE ledger.master_links ADD COLUMN paused_at timestamptz;

-- R-A2: a change of matching key or asset-number source is planned by a dry run (its sync run
-- id is the plan id) and applied by a second, explicit call.
CREATE TABLE ledger.settings_plans (
    plan_id          uuid PRIMARY KEY,          -- = the sync_run_id of the dry run
    tenant_id        text NOT NULL,
    master_link_id   text NOT NULL,
    base_generation  bigint NOT NULL,           -- the link's generation when planned
    settings         jsonb NOT NULL,            -- the proposed MasterLinkSettings (without generation)
    created_at       timestamptz NOT NULL DEFAULT now(),
    applied_at       timestamptz
);
CREATE INDEX settings_plans_link ON ledger.settings_plans (tenant_id, master_link_id, created_at DESC);
