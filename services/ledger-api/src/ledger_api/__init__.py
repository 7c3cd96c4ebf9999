"""The ledger API: projects `ledger.changes.v1` into PostgreSQL and serves the ledger over HTTP."""
