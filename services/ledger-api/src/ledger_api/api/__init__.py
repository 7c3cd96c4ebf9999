"""The HTTP side of the ledger API (SPEC §8)."""
