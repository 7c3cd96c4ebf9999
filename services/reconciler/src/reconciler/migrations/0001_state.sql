-- The reconciler's own state (its schema, apart from the ledger API's projection).
CREATE SCHEMA IF NOT EXISTS reconciler;

-- The authoritative ledger: one row per device, the full state as a LedgerDevice JSON document,
-- plus the columns matching needs (R-M1, R-M4) and the uniqueness the core guarantees.
CREATE TABLE reconciler.devices (
    tenant_id               text    NOT NULL,
    device_id               uuid    PRIMARY KEY,
    version                 integer NOT NULL,
    binding_integration_id  text,
    binding_mdm_device_id   text,
    serial_key              text COLLATE "C",
    asset_key               text COLLATE "C",
    doc                     jsonb   NOT NULL
);
CREATE UNIQUE INDEX devices_binding ON reconciler.devices (tenant_id, binding_integration_id, binding_mdm_device_id)
    WHERE binding_integration_id IS NOT NULL;
CREATE UNIQUE INDEX devices_asset ON reconciler.devices (tenant_id, asset_key) WHERE asset_key IS NOT NULL;
CREATE INDEX devices_serial ON reconciler.devices (tenant_id, serial_key) WHERE serial_key IS NOT NULL;

CREATE TABLE reconciler.sync_runs (
    sync_run_id      uuid PRIMARY KEY,
    tenant_id        text NOT NULL,
    master_link      jsonb NOT NULL,
    dry_run          boolean NOT NULL DEFAULT false,
    status           text NOT NULL,
    counts           jsonb NOT NULL,
    reported_total   integer,
    started_at       timestamptz,
    finished_at      timestamptz,
    error            text
);

-- R-M9: what the sync refused to decide, with the candidates and the rule that stopped it.
CREATE TABLE reconciler.conflicts (
    conflict_id      uuid PRIMARY KEY,
    tenant_id        text NOT NULL,
    integration_id   text NOT NULL,
    mdm_device_id    text NOT NULL,
    sync_run_id      uuid NOT NULL,
    rule             text NOT NULL,
    candidates       uuid[] NOT NULL,
    observed         jsonb NOT NULL,
    message          text NOT NULL,
    status           text NOT NULL DEFAULT 'open',
    first_seen_at    timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    UNIQUE (tenant_id, integration_id, mdm_device_id)
);

-- Idempotent consumption: the next offset to process, written in the same transaction as the state.
CREATE TABLE reconciler.consumer_offsets (
    group_id    text    NOT NULL,
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
);

-- Transactional outbox: events are stored with the state change and published after commit,
-- so a crash between commit and publish loses nothing (they are published on restart).
CREATE TABLE reconciler.outbox (
    seq      bigserial PRIMARY KEY,
    topic    text  NOT NULL,
    key      bytea,
    value    bytea NOT NULL,
    headers  jsonb NOT NULL DEFAULT '[]'
);
