#!/usr/bin/env bash
# Creates the topics of SPEC §9 (and their dead-letter topics) on Apache Kafka.
set -euo pipefail
BOOTSTRAP=${BOOTSTRAP:-kafka:9092}
PARTITIONS=${PARTITIONS:-6}
for t in mdm.sync-requests.v1 mdm.snapshots.v1 ledger.commands.v1 ledger.changes.v1; do
  for name in "$t" "$t.dlq"; do
    /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
      --topic "$name" --partitions "$PARTITIONS" --replication-factor 1
  done
done
