"""I/O of the ledger API: the PostgreSQL pool and migrations (`db`, `migrations/`), the repositories
(`repositories/`, one module per table family) and Kafka publishing (`kafka`)."""
