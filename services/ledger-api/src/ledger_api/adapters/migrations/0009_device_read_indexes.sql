-- Issue 12 item 4 (SPEC §8 `GET /v1/devices` at 1,000,000 devices): every sort of
-- device_listing.SORTABLE has an index on (tenant_id, sort expression, device_id), so a page of any
-- sort, ascending or descending (a backward scan), and every keyset cursor `(expr, device_id) > ($, $)`
-- reads only the page's rows. The expressions must stay identical to listing.SORTABLE.
-- 0001 already has asset_number and updated_at. Each index costs the projection a little per change.
CREATE INDEX devices_by_serial_number ON ledger.devices (tenant_id, (coalesce(serial_number, '')), device_id);
CREATE INDEX devices_by_device_name ON ledger.devices (tenant_id, (coalesce(mdm ->> 'device_name', '')), device_id);
CREATE INDEX devices_by_os ON ledger.devices (tenant_id, (coalesce(os, '')), device_id);
CREATE INDEX devices_by_manufacturer ON ledger.devices (tenant_id, (coalesce(manufacturer, '')), device_id);
CREATE INDEX devices_by_model ON ledger.devices (tenant_id, (coalesce(model, '')), device_id);
CREATE INDEX devices_by_assigned_user_sort ON ledger.devices (tenant_id, (coalesce(assigned_user, '')), device_id);
CREATE INDEX devices_by_status ON ledger.devices (tenant_id, (coalesce(status, '')), device_id);
CREATE INDEX devices_by_source ON ledger.devices (tenant_id, source, device_id);
CREATE INDEX devices_by_version ON ledger.devices (tenant_id, version, device_id);
CREATE INDEX devices_by_created_at ON ledger.devices (tenant_id, created_at, device_id);
CREATE INDEX devices_by_last_seen_at
    ON ledger.devices (tenant_id, (coalesce(last_seen_at, '1970-01-01T00:00:00Z'::timestamptz)), device_id);

-- Filters. `os=` is a case-insensitive prefix (`lower(os) LIKE 'windows%'`): text_pattern_ops
-- serves LIKE prefixes whatever the collation. A rare status or the devices missing from their MDM
-- (R-M4) in the default order: a composite index gives the first page without sorting them all.
CREATE INDEX devices_by_os_prefix ON ledger.devices (tenant_id, lower(os) text_pattern_ops);
CREATE INDEX devices_by_status_asset
    ON ledger.devices (tenant_id, status, (coalesce(asset_number, '')), device_id);
CREATE INDEX devices_missing_by_asset
    ON ledger.devices (tenant_id, (coalesce(asset_number, '')), device_id) WHERE missing_from_mdm;
DROP INDEX ledger.devices_missing;

-- `q=` (substring of asset/serial/model/user/device name) without a scan: trigrams of search_text,
-- with the tenant in the same GIN index (btree_gin), so `tenant_id = $1 AND search_text LIKE
-- '%…%'` is one index search. Patterns shorter than 3 characters have no trigram: they walk the
-- sort's index and filter, which is fast exactly because such patterns match many devices.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX devices_search_trgm ON ledger.devices USING gin (tenant_id, search_text gin_trgm_ops);
