#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/kafka.sh start|stop|status
# A single Kafka 4 node (KRaft: broker and controller in one JVM) on 127.0.0.1, run from the
# jars in var/kafka-libs (deploy/kafka/pom.xml, fetched by install-deps.sh). Everything lives in
# $LEDGER_VAR/kafka/:
#   server.properties  generated from deploy/kafka/server.properties.template on every start
#   cluster.id         the KRaft cluster id the storage was formatted with
#   data/              the log dir
#   server.log         broker log (deploy/kafka/log4j2.xml); kafka.out: JVM stdout/stderr
#   kafka.pid          pid of the broker JVM this script started
# status exits 0 when running, 3 when not.
set -euo pipefail
source "$(dirname "$0")/env.sh"

PORT=$LEDGER_KAFKA_PORT
CPORT=$LEDGER_KAFKA_CONTROLLER_PORT
BOOTSTRAP="127.0.0.1:$PORT"
DIR="$LEDGER_VAR/kafka"
PROPS="$DIR/server.properties"
PIDFILE="$DIR/kafka.pid"
JAVA=${JAVA:-java}
# The release scripts default to 1 GiB; 512 MiB is plenty for a local node and two of them
# (up and test stacks) fit comfortably next to everything else on a 2-core machine.
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms512m -Xmx512m}
START_TIMEOUT=${LEDGER_KAFKA_START_TIMEOUT:-90}

# name:partitions. The command topic's partition count bounds the workers' parallelism.
TOPICS=(
  "txn.commands:${LEDGER_COMMAND_PARTITIONS:-12}"
  "txn.results:12"
  "ledger.entries:12"
  "txn.commands.dlq:3"
)

# Short-lived tool JVMs (StorageTool, TopicCommand) start faster with the C1 compiler only
# and a small heap.
java_tool() { "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -cp "$KAFKA_LIBS/*" "$@"; }

running() { pid_matches "$PIDFILE" "$PROPS"; }

# existing_topics: "name partitions" per line, from a metadata request.
existing_topics() {
  kcat -b "$BOOTSTRAP" -m 5 -L 2>/dev/null |
    awk '$1 == "topic" { gsub(/"/, "", $2); print $2, $4 }'
}

write_props() {
  sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CPORT|g" -e "s|@LOG_DIR@|$DIR/data|g" \
    "$ROOT/deploy/kafka/server.properties.template" >"$PROPS"
}

format_storage() {
  # Formatting is once per log dir: meta.properties marks it done and saves a JVM start.
  [[ -f $DIR/data/meta.properties ]] && return 0
  [[ -s $DIR/cluster.id ]] || java_tool kafka.tools.StorageTool random-uuid >"$DIR/cluster.id"
  java_tool kafka.tools.StorageTool format -t "$(<"$DIR/cluster.id")" -c "$PROPS" \
    --ignore-formatted >>"$DIR/kafka.out" 2>&1 || {
    tail -n 20 "$DIR/kafka.out" >&2
    die "kafka storage format failed"
  }
}

wait_ready() {
  local pid deadline=$((SECONDS + START_TIMEOUT))
  pid=$(<"$PIDFILE")
  # The bash TCP probe fails at once while the port is closed (kcat would retry for its whole
  # timeout); once it is open, a metadata request proves the broker really serves clients.
  until port_in_use "$PORT" && kcat -b "$BOOTSTRAP" -m 2 -L >/dev/null 2>&1; do
    if ! alive "$pid"; then
      tail -n 30 "$DIR/kafka.out" "$DIR/server.log" >&2 || true
      rm -f "$PIDFILE"
      die "Kafka exited during start-up (logs: $DIR/server.log, $DIR/kafka.out)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$DIR/server.log" >&2 || true
      die "Kafka not answering on $BOOTSTRAP after ${START_TIMEOUT}s (still running, pid $pid)"
    fi
    sleep 0.2
  done
}

create_topics() {
  local have t name parts cur pids=() failed=0 i
  have=$(existing_topics)
  # Ask kcat first which topics exist: on a restart no TopicCommand JVM is started at all.
  # TopicCommand creates one topic per run, so the missing ones are created in parallel JVMs.
  for t in "${TOPICS[@]}"; do
    name=${t%%:*} parts=${t##*:}
    cur=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$have")
    if [[ -n $cur ]]; then
      ((cur == parts)) || log "warning: topic $name has $cur partitions, expected $parts"
      continue
    fi
    java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
      --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 \
      >"$DIR/topic-$name.log" 2>&1 &
    pids+=("$!:$name")
  done
  for i in "${pids[@]}"; do
    if ! wait "${i%%:*}"; then
      cat "$DIR/topic-${i#*:}.log" >&2
      failed=1
    fi
  done
  ((failed == 0)) || die "topic creation failed"
  # Creation is asynchronous on the controller: wait until metadata shows every topic.
  local missing
  for ((i = 0; i < 40; i++)); do
    have=$(existing_topics) missing=0
    for t in "${TOPICS[@]}"; do
      grep -q "^${t%%:*} " <<<"$have" || missing=1
    done
    ((missing)) || return 0
    sleep 0.25
  done
  die "topics not visible in metadata: $(tr '\n' ' ' <<<"$have")"
}

start() {
  local t0=$SECONDS
  if running; then
    log "already running on $BOOTSTRAP (pid $(<"$PIDFILE"))"
    return 0
  fi
  compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null || die "no Kafka jars in $KAFKA_LIBS: run scripts/install-deps.sh"
  command -v kcat >/dev/null || die "kcat missing: run scripts/install-deps.sh"
  local p
  for p in "$PORT" "$CPORT"; do
    ! port_in_use "$p" || die "port $p is already in use (another Kafka? set LEDGER_KAFKA_PORT/LEDGER_KAFKA_CONTROLLER_PORT)"
  done
  mkdir -p "$DIR/data"
  write_props
  format_storage
  # nohup: the broker outlives this script (and `make up`); a background job of a
  # non-interactive shell already ignores SIGINT, so ^C in the terminal leaves it alone.
  # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS holds several words
  nohup "$JAVA" $KAFKA_HEAP_OPTS ${KAFKA_JVM_OPTS:-} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$KAFKA_LOG4J2" "-Dledger.kafka.log=$DIR/server.log" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$PROPS" >>"$DIR/kafka.out" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  wait_ready
  log "broker up on $BOOTSTRAP after $((SECONDS - t0))s, creating topics"
  create_topics
  log "ready on $BOOTSTRAP in $((SECONDS - t0))s (log: $DIR/server.log)"
}

case "${1:-}" in
  start) start ;;
  stop)
    if running; then
      # SIGTERM makes the broker shut down cleanly (no log recovery on the next start).
      stop_pid "$PIDFILE" "$PROPS" 30
      log "stopped"
    else
      rm -f "$PIDFILE"
      log "not running"
    fi
    ;;
  status)
    if running; then
      echo "kafka: running on $BOOTSTRAP (pid $(<"$PIDFILE"))"
    else
      echo "kafka: not running"
      exit 3
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
