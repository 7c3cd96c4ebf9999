-- Custom fields (R-C4), CSV imports (R-C2), usage history (R-C3), conflicts (R-M9), dry-run plans,
-- and the reconciler's answers to commands.
--
-- Owned by the API (written by HTTP requests): custom_fields, usage_history, device_imports.
-- Projected from ledger.changes.v1 (rebuilt by `ledger-api replay`): import_results,
-- command_rejections, conflicts, dry_run_items.

-- R-C4: a tenant's own device fields. Values live in devices.custom_fields (text, canonical form).
CREATE TABLE ledger.custom_fields (
    tenant_id   text NOT NULL,
    name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]*$' AND length(name) <= 63),
    type        text NOT NULL CHECK (type IN ('text', 'number', 'date', 'boolean')),
    required    boolean NOT NULL DEFAULT false,
    position    bigint GENERATED ALWAYS AS IDENTITY,   -- CSV column order: order of creation
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

-- R-C3: who used a device from when to when (manual data of the API alone, not an MDM's).
-- Periods are whole days, both ends included; `used_to` NULL = still in use.
CREATE TABLE ledger.usage_history (
    tenant_id   text NOT NULL,
    entry_id    bigint GENERATED ALWAYS AS IDENTITY,
    device_id   uuid NOT NULL,
    user_name   text NOT NULL,
    used_from   date NOT NULL,
    used_to     date CHECK (used_to IS NULL OR used_to >= used_from),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, entry_id)
);
CREATE INDEX usage_history_by_device ON ledger.usage_history (tenant_id, device_id, used_from);

-- R-C2: one row per import, recorded by the API when it publishes `ImportDevices`. Its outcome is
-- projected apart (import_results, or command_rejections by command_id), so a replay rebuilds it.
CREATE TABLE ledger.device_imports (
    import_id     uuid PRIMARY KEY,
    tenant_id     text NOT NULL,
    command_id    uuid NOT NULL UNIQUE,
    rows          integer NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger.import_results (
    import_id    uuid PRIMARY KEY,
    tenant_id    text NOT NULL,
    command_id   uuid NOT NULL,
    created      integer NOT NULL,
    updated      integer NOT NULL,
    unchanged    integer NOT NULL,
    occurred_at  timestamptz NOT NULL
);

-- The reconciler refused a command (R-S6, a taken asset number, an invalid import, a resolution
-- that no longer applies): what a waiting request answers with.
CREATE TABLE ledger.command_rejections (
    command_id   uuid PRIMARY KEY,
    tenant_id    text NOT NULL,
    device_id    uuid,
    code         text NOT NULL,
    message      text NOT NULL,
    occurred_at  timestamptz NOT NULL
);

-- R-M9: conflicts the sync refused to decide. Content comes from ConflictRecorded (the newest
-- wins while open), the end from ConflictResolved (final).
CREATE TABLE ledger.conflicts (
    conflict_id         uuid PRIMARY KEY,
    tenant_id           text NOT NULL,
    status              text NOT NULL CHECK (status IN ('open', 'resolved')),
    integration_id      text,
    mdm_device_id       text,
    sync_run_id         uuid,
    rule                text,
    candidates          uuid[] NOT NULL DEFAULT '{}',
    observed            jsonb,                      -- ObservedDevice: the MDM's snapshot
    message             text,
    recorded_at         timestamptz NOT NULL,       -- first ConflictRecorded (or the end, if seen first)
    updated_at          timestamptz,                -- latest ConflictRecorded applied
    resolution          text,
    resolved_device_id  uuid,
    resolved_by         uuid,                       -- the ResolveConflict command, when a person decided
    resolved_at         timestamptz
);
CREATE INDEX conflicts_by_tenant ON ledger.conflicts (tenant_id, status, recorded_at DESC, conflict_id DESC);
CREATE INDEX conflicts_by_command ON ledger.conflicts (resolved_by) WHERE resolved_by IS NOT NULL;

-- Dry run (issue 4): what a run would change, item by item, in the order the reconciler planned.
-- Keyed by the message's event id (a re-published message adds nothing); ordered by its offset.
CREATE TABLE ledger.dry_run_items (
    event_id         uuid NOT NULL,
    seq              integer NOT NULL,                -- index in the DryRunPlanned message
    tenant_id        text NOT NULL,
    sync_run_id      uuid NOT NULL,
    kafka_partition  integer NOT NULL,
    kafka_offset     bigint NOT NULL,
    action           text NOT NULL,
    mdm_device_id    text,
    device_id        uuid,
    changes          jsonb NOT NULL,                 -- [FieldChange]
    conflict_rule    text,
    message          text,
    PRIMARY KEY (event_id, seq)
);
CREATE INDEX dry_run_items_by_run ON ledger.dry_run_items (sync_run_id, kafka_partition, kafka_offset, seq);
