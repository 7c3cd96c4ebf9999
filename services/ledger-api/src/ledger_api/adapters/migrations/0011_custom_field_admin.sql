-- R-C4 (issue 10 item 5): a custom field has a label (shown instead of its name) and, for text
-- fields, an optional list of allowed values (NULL = any text).
ALTER TABLE ledger.custom_fields ADD COLUMN label text CHECK (label IS NULL OR length(label) BETWEEN 1 AND 200);
ALTER TABLE ledger.custom_fields ADD COLUMN choices text[];
ALTER TABLE ledger.custom_fields ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
