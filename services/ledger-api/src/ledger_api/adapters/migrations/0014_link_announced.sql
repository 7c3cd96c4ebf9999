-- R-P1 (issue 11): the default MDM priority is the order in which the tenant's integrations were
-- first linked, as the reconciler learnt it from each "created" MasterLinkChanged. A link created
-- over the API is announced in the transaction that inserts it; one seeded by the bootstrap file
-- never is (both sides then rank it after the announced ones, by integration id).
ALTER TABLE ledger.master_links ADD COLUMN announced boolean NOT NULL DEFAULT false;

-- Links created over the API before this column: their `master_link.create` audit entry was
-- written in the same transaction as the announcement.
UPDATE ledger.master_links m SET announced = true
WHERE EXISTS (SELECT 1 FROM ledger.audit_log a
              WHERE a.tenant_id = m.tenant_id AND a.action = 'master_link.create'
                AND a.target_type = 'master_link' AND a.target_id = m.master_link_id);
