-- Issue 5, the administrator's workflow: integrations carry their credentials (encrypted), master
-- links carry a daily schedule (R-M7) and can be removed (R-S4, R-S5).

-- `connection`: the non-secret settings the API shows (tenant/client id, URLs).
-- `credentials`: a Fernet token of the connector's integrations-file entry (secrets included),
-- under the key whose fingerprint is `credentials_key_id` (crypto.KeyRing). Never returned.
ALTER TABLE ledger.integrations
    ADD COLUMN connection          jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN credentials         text,
    ADD COLUMN credentials_key_id  text,
    ADD COLUMN updated_at          timestamptz NOT NULL DEFAULT now();

-- The schedule is stored resolved (local time + IANA zone); `next_run_at` is the claim token of
-- the scheduler: a replica triggers a run only by moving it forward under a row lock.
-- A removed link keeps its row (its sync runs still name it) but never syncs again.
ALTER TABLE ledger.master_links
    ADD COLUMN local_time         time NOT NULL DEFAULT '06:00',
    ADD COLUMN time_zone          text NOT NULL DEFAULT 'UTC',
    ADD COLUMN next_run_at        timestamptz,
    ADD COLUMN removed_at         timestamptz,
    ADD COLUMN keep_devices       boolean,
    ADD COLUMN unlink_command_id  uuid;

UPDATE ledger.master_links m SET local_time = t.sync_time, time_zone = t.time_zone
FROM ledger.tenants t WHERE t.tenant_id = m.tenant_id;

-- One live master link per integration.
CREATE UNIQUE INDEX master_links_one_live_per_integration
    ON ledger.master_links (tenant_id, integration_id) WHERE removed_at IS NULL;
CREATE INDEX master_links_due ON ledger.master_links (next_run_at) WHERE removed_at IS NULL;
