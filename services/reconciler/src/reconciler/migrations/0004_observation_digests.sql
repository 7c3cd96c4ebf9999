-- Issue 12, the no-change fast path (fast_path.py): per binding, the digest of the last applied
-- observation (with the link's settings), the device it is bound to and that device's version right
-- after it. A DeviceObserved with the same digest while the device is still at that version is
-- unchanged: the device document is neither loaded nor written. Any change of the device (a
-- person's edit, another binding, missing, unlink) raises its version and makes the digest stale.
CREATE TABLE reconciler.observation_digests (
    tenant_id       text    NOT NULL,
    integration_id  text    NOT NULL,
    mdm_device_id   text    NOT NULL,
    device_id       uuid    NOT NULL,
    device_version  integer NOT NULL,
    digest          bytea   NOT NULL,
    PRIMARY KEY (tenant_id, integration_id, mdm_device_id)
);
