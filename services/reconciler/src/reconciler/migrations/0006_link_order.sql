-- Issue 11 (R-P1): the default MDM priority is the order in which a tenant's integrations were
-- first linked. Per (tenant, integration): its first master link's creation, as the ledger API
-- announced it (MasterLinkChanged change="created": occurred_at = the link row's created_at, and
-- its master_link_id). The earliest (created_at, master_link_id) wins, so redeliveries and the
-- API's start-up announcements change nothing. The API orders GET /v1/mdm-priority's default the
-- same way. An integration with no row (never announced) ranks after these, by its id.
CREATE TABLE reconciler.link_order (
    tenant_id       text        NOT NULL,
    integration_id  text        NOT NULL,
    created_at      timestamptz NOT NULL,
    master_link_id  text        NOT NULL,
    PRIMARY KEY (tenant_id, integration_id)
);
