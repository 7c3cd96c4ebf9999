-- Issue 12: `source=` in the default order (asset number). Walking devices_by_asset_number and
-- filtering is slow when the other sources' devices come first in that order (e.g. every manual
-- device without an asset number sorts first: 358 ms for the first page of source=intune at
-- 300,000 devices); this index starts at the source's first device.
CREATE INDEX devices_by_source_asset
    ON ledger.devices (tenant_id, source, (coalesce(asset_number, '')), device_id);
