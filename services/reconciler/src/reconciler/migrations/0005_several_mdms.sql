-- Issue 11: one device, several MDMs (R-P1–R-P4).

-- R-P2: the bindings of a device beyond its primary one (`devices.binding_*`): one MDM device per
-- integration. Rewritten with the device row (same transaction); matching and run ends look here
-- as well as at the primary columns.
CREATE TABLE reconciler.device_bindings (
    tenant_id       text NOT NULL,
    integration_id  text NOT NULL,
    mdm_device_id   text NOT NULL,
    device_id       uuid NOT NULL REFERENCES reconciler.devices (device_id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, integration_id, mdm_device_id)
);
CREATE INDEX device_bindings_device ON reconciler.device_bindings (device_id);

-- R-P1: a tenant's MDM priority, as set by a SetMdmPriority command ({"order": [...],
-- "per_os_family": {...}}). No row: the order in which the MDMs came to each device.
CREATE TABLE reconciler.mdm_priority (
    tenant_id   text PRIMARY KEY,
    priority    jsonb NOT NULL,
    changed_at  timestamptz NOT NULL
);
