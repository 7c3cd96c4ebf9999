#!/usr/bin/env bash
# Creates the topics of SPEC §9 (and their dead-letter topics) on Apache Kafka.
set -euo pipefail
BOOTSTRAP=${BOOTSTRAP:-kafka:9092}
PARTITIONS=${PARTITIONS:-6}
create() {  # name, extra --config flags
  local name=$1; shift
  /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$name" --partitions "$PARTITIONS" --replication-factor 1 "$@"
}
for t in mdm.sync-requests.v1 mdm.snapshots.v1 ledger.commands.v1 ledger.changes.v1; do
  create "$t.dlq" --config retention.ms=-1
done
create mdm.sync-requests.v1
create mdm.snapshots.v1
# A CSV import is one command record (all-or-nothing): allow up to 64 MiB.
create ledger.commands.v1 --config max.message.bytes=67108864
# R-E4: the ledger can be rebuilt by replaying every change from the beginning: keep them all.
create ledger.changes.v1 --config retention.ms=-1 --config retention.bytes=-1 --config cleanup.policy=delete
