"""The reconciler's I/O: PostgreSQL (state, outbox, offsets) and Kafka (the consumer loop)."""
