-- Issue 11 (R-P2/R-P3): a device bound to several MDMs. `binding_*` and `mdm` stay the PRIMARY
-- binding (the highest-priority bound MDM); the others, each with its MDM-only fields and its own
-- missing state, and the MDM each synced field currently comes from, are kept as JSON.
ALTER TABLE ledger.devices
    ADD COLUMN other_bindings jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN field_origins  jsonb NOT NULL DEFAULT '{}';

-- R-P1: the tenant's MDM priority as last set over the API (PUT /v1/mdm-priority). No row: the
-- default, the order in which the master links were created.
CREATE TABLE ledger.mdm_priority (
    tenant_id      text PRIMARY KEY,
    priority_order jsonb NOT NULL,   -- integration ids, highest first
    per_os_family  jsonb NOT NULL DEFAULT '{}',
    updated_at     timestamptz NOT NULL DEFAULT now()
);
