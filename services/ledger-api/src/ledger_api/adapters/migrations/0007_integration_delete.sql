-- R-A1: a deleted integration keeps its row (its removed master links and sync runs still name
-- it) without its credentials, hidden from the API. Its R-M12 generation counter survives, so an
-- integration created again under the same id continues the count instead of restarting at 0
-- (the reconciler would refuse a lower generation as superseded).
ALTER TABLE ledger.integrations ADD COLUMN deleted_at timestamptz;
