"""Projecting `ledger.changes.v1` into PostgreSQL: decode and plan (pure), write (one transaction per
batch), the consumer that drives it, and the replay that rebuilds the projected tables (R-E3, R-E4)."""
