-- The ledger API's read model (SPEC §7 R-E3). Everything lives in schema `ledger`.
-- Projected tables carry no foreign keys to `tenants`: the projection must never stall on a
-- change for a tenant this API has not been told about.

CREATE TABLE ledger.tenants (
    tenant_id   text PRIMARY KEY,
    name        text NOT NULL,
    time_zone   text NOT NULL DEFAULT 'UTC',
    sync_time   time NOT NULL DEFAULT '06:00',   -- R-M7: daily sync, in the tenant's zone
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Only the sha256 of a token is stored, never the token.
CREATE TABLE ledger.api_tokens (
    token_hash  text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES ledger.tenants (tenant_id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger.integrations (
    tenant_id       text NOT NULL REFERENCES ledger.tenants (tenant_id) ON DELETE CASCADE,
    integration_id  text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('intune', 'jamf_pro')),
    display_name    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, integration_id)
);

CREATE TABLE ledger.master_links (
    tenant_id       text NOT NULL,
    master_link_id  text NOT NULL,
    integration_id  text NOT NULL,
    settings        jsonb NOT NULL,                 -- ledger_contracts.MasterLinkSettings
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, master_link_id),
    FOREIGN KEY (tenant_id, integration_id) REFERENCES ledger.integrations (tenant_id, integration_id)
        ON DELETE CASCADE
);

CREATE TABLE ledger.devices (
    tenant_id               text NOT NULL,
    device_id               uuid NOT NULL,
    version                 integer NOT NULL,
    source                  text NOT NULL,
    asset_number            text,
    serial_number           text,
    os                      text,
    manufacturer            text,
    model                   text,
    assigned_user           text,
    status                  text,
    notes                   text,
    custom_fields           jsonb NOT NULL DEFAULT '{}',
    binding_integration_id  text,
    binding_mdm_kind        text,
    binding_mdm_device_id   text,
    mdm                     jsonb,                  -- MDM-only fields (R-I8), NULL when not bound
    missing_from_mdm        boolean NOT NULL DEFAULT false,
    last_seen_at            timestamptz,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    -- what `q` searches: asset number, serial, model, assigned user, MDM device name
    search_text             text GENERATED ALWAYS AS (
        lower(
            coalesce(asset_number, '') || ' ' || coalesce(serial_number, '') || ' ' ||
            coalesce(model, '') || ' ' || coalesce(assigned_user, '') || ' ' ||
            coalesce(mdm ->> 'device_name', '')
        )
    ) STORED,
    PRIMARY KEY (tenant_id, device_id)
);

-- Few indexes on purpose: each one costs the projection time on every change (a replay of 100k
-- changes), while one tenant's devices (≤ 100k) filter and search fast enough by scanning them.
-- Keyset pagination on the default and the "recently changed" sorts (expressions = listing.SORTABLE).
CREATE INDEX devices_by_asset_number ON ledger.devices (tenant_id, (coalesce(asset_number, '')), device_id);
CREATE INDEX devices_by_updated_at ON ledger.devices (tenant_id, updated_at, device_id);
-- Selective filters.
CREATE INDEX devices_by_assigned_user ON ledger.devices (tenant_id, lower(assigned_user));
CREATE INDEX devices_missing ON ledger.devices (tenant_id) WHERE missing_from_mdm;

-- The last version of a deleted device, so a redelivered older change cannot resurrect it.
CREATE TABLE ledger.device_tombstones (
    tenant_id   text NOT NULL,
    device_id   uuid NOT NULL,
    version     integer NOT NULL,
    deleted_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, device_id)
);

CREATE TABLE ledger.device_history (
    event_id         uuid PRIMARY KEY,
    tenant_id        text NOT NULL,
    device_id        uuid NOT NULL,
    version          integer NOT NULL,
    change           text NOT NULL,
    changes          jsonb NOT NULL,                -- [FieldChange]
    provenance       jsonb NOT NULL,                -- Provenance (R-M11)
    command_id       uuid,                          -- provenance.command_id, for waiting on commands
    previous_source  text,
    occurred_at      timestamptz NOT NULL,
    projected_at     timestamptz NOT NULL DEFAULT now()
);
-- One entry per device version: a re-emitted change with a new event id is still a duplicate.
CREATE UNIQUE INDEX device_history_by_version ON ledger.device_history (tenant_id, device_id, version);
CREATE INDEX device_history_by_command ON ledger.device_history (command_id) WHERE command_id IS NOT NULL;

CREATE TABLE ledger.sync_runs (
    sync_run_id     uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    master_link_id  text NOT NULL,
    integration_id  text NOT NULL,
    status          text NOT NULL CHECK (status IN ('requested', 'running', 'completed', 'failed')),
    trigger         text,                           -- schedule | manual | link_created; NULL if unknown
    dry_run         boolean NOT NULL DEFAULT false,
    seen            integer NOT NULL DEFAULT 0,
    created         integer NOT NULL DEFAULT 0,
    updated         integer NOT NULL DEFAULT 0,
    unchanged       integer NOT NULL DEFAULT 0,
    conflicts       integer NOT NULL DEFAULT 0,
    missing         integer NOT NULL DEFAULT 0,
    errors          integer NOT NULL DEFAULT 0,
    reported_total  integer,
    requested_at    timestamptz,
    started_at      timestamptz,
    finished_at     timestamptz,
    error           text,
    summary_at      timestamptz,                    -- occurred_at of the last summary applied
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_runs_by_tenant ON ledger.sync_runs (tenant_id, created_at DESC, sync_run_id DESC);
CREATE INDEX sync_runs_by_master_link ON ledger.sync_runs (tenant_id, master_link_id, created_at DESC);

-- Processed position per partition, written in the projection's transaction (idempotent consumer).
CREATE TABLE ledger.consumer_offsets (
    group_id     text NOT NULL,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
