#!/usr/bin/env bash
# deploy/kafka/create-topics.sh BOOTSTRAP [--dry-run]
# Creates (or checks) the ledger's topics on a production cluster with the settings of
# deploy/kafka/TOPICS.md: replication factor 3, min.insync.replicas 2, never compacted.
# Runs Apache Kafka's kafka-topics.sh (KAFKA_HOME/bin, or on PATH); for TLS or SASL put the
# client settings in a file and pass it as KAFKA_CLIENT_CONFIG (--command-config).
# Idempotent: an existing topic is left as it is and its configuration is printed.
set -euo pipefail
BOOTSTRAP=${1:?usage: $0 BOOTSTRAP [--dry-run]}
DRY=${2:-}
TOPICS_SH=${KAFKA_HOME:+$KAFKA_HOME/bin/}kafka-topics.sh
CFG=()
[[ -n ${KAFKA_CLIENT_CONFIG:-} ]] && CFG=(--command-config "$KAFKA_CLIENT_CONFIG")
DAY=86400000

# name partitions retention.ms (see TOPICS.md for why each)
TOPICS=(
  "txn.commands ${LEDGER_COMMAND_PARTITIONS:-12} $((7 * DAY))"
  "txn.results 12 $((30 * DAY))"
  "ledger.entries 12 $((90 * DAY))"
  "txn.commands.dlq 3 $((30 * DAY))"
)

for t in "${TOPICS[@]}"; do
  read -r name partitions retention <<<"$t"
  cmd=("$TOPICS_SH" --bootstrap-server "$BOOTSTRAP" "${CFG[@]}" --create --if-not-exists
    --topic "$name" --partitions "$partitions" --replication-factor 3
    --config min.insync.replicas=2
    --config cleanup.policy=delete
    --config retention.ms="$retention"
    --config unclean.leader.election.enable=false
    --config message.timestamp.type=CreateTime)
  if [[ $DRY == --dry-run ]]; then
    printf '%q ' "${cmd[@]}"
    echo
  else
    "${cmd[@]}"
    "$TOPICS_SH" --bootstrap-server "$BOOTSTRAP" "${CFG[@]}" --describe --topic "$name"
  fi
done
