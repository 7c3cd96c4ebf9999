"""Pure rules of the ledger API: custom fields, device CSV, usage history, integration credentials and
their encryption. No I/O: what a rule needs from the database is handed in by the caller."""
