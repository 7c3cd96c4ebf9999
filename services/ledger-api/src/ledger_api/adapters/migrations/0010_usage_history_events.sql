-- R-C3: the device changes whose assigned user the projection has already turned into usage
-- periods (API-owned, never rebuilt by a replay): a redelivered or replayed change, or an older
-- version arriving late, appends nothing — even when the period it made was since edited or
-- deleted by hand.
CREATE TABLE ledger.usage_history_events (
    tenant_id    text NOT NULL,
    device_id    uuid NOT NULL,
    event_id     uuid NOT NULL,
    version      integer NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX usage_history_events_by_device ON ledger.usage_history_events (tenant_id, device_id, version);
