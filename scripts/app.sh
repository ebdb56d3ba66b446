#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/app.sh start|stop|status api|worker [INSTANCE]
# Runs $LEDGER_BUILD/producer-api or $LEDGER_BUILD/ledger-worker in the background. The
# program's configuration comes from the environment the caller exported (stack-env.sh).
#   log: $LEDGER_VAR/logs/NAME.log   pid: $LEDGER_VAR/run/NAME.pid
# NAME is api or worker, or api-INSTANCE / worker-INSTANCE for extra instances (an extra api
# instance needs its own LEDGER_API_LISTEN). status exits 0 when running, 3 when not.
set -euo pipefail
source "$(dirname "$0")/env.sh"

cmd=${1:-} kind=${2:-} instance=${3:-}
case "$kind" in
  api) BIN="$LEDGER_BUILD/producer-api" ;;
  worker) BIN="$LEDGER_BUILD/ledger-worker" ;;
  *)
    echo "usage: $0 start|stop|status api|worker [INSTANCE]" >&2
    exit 2
    ;;
esac
NAME=$kind${instance:+-$instance}
LOGFILE="$LEDGER_VAR/logs/$NAME.log"
PIDFILE="$LEDGER_VAR/run/$NAME.pid"
# Where the program's HTTP listener is: what the program itself is told, else the stack's
# default port. The worker's may be `off` or port 0 (any free port): then there is nothing to
# probe, and its log says when it is ready.
if [[ $kind == api ]]; then
  LISTEN=${LEDGER_API_LISTEN:-127.0.0.1:$LEDGER_API_PORT}
elif [[ $instance =~ ^[0-9]+$ && -n $LEDGER_WORKER_PORT ]]; then
  # An extra worker instance N listens on the stack's worker port + N.
  LISTEN=127.0.0.1:$((LEDGER_WORKER_PORT + instance))
  export LEDGER_WORKER_LISTEN=$LISTEN
else
  LISTEN=${LEDGER_WORKER_LISTEN:-127.0.0.1:$LEDGER_WORKER_PORT}
fi
PROBE=1
[[ $LISTEN == off || ${LISTEN##*:} == 0 ]] && PROBE=0

running() { pid_matches "$PIDFILE" "$(basename "$BIN")"; }

healthy() { curl -fsS -o /dev/null --max-time 2 "http://$LISTEN/healthz" 2>/dev/null; }
ready() { curl -fsS -o /dev/null --max-time 3 "http://$LISTEN/readyz" 2>/dev/null; }

start() {
  if running; then
    log "$NAME already running (pid $(<"$PIDFILE"))"
    return 0
  fi
  [[ -x $BIN ]] || die "$BIN not built"
  if [[ $kind == api ]] && port_in_use "${LISTEN##*:}"; then
    die "port ${LISTEN##*:} is already in use: is another api running? (LEDGER_API_LISTEN=$LISTEN)"
  fi
  if [[ $kind == worker ]] && ((PROBE)) && port_in_use "${LISTEN##*:}"; then
    die "port ${LISTEN##*:} is already in use: is another worker running? (LEDGER_WORKER_LISTEN=$LISTEN)"
  fi
  mkdir -p "$(dirname "$LOGFILE")" "$(dirname "$PIDFILE")"
  # Append: a restart must not erase the log of the previous run (it may hold the crash).
  printf '=== %s start %s (%s)\n' "$NAME" "$(date -Is)" "$BIN" >>"$LOGFILE"
  # A worker's transactional id is derived from LEDGER_WORKER_INSTANCE (default 0): two
  # instances sharing one would fence each other, so an extra instance gets its own.
  if [[ $kind == worker && -n $instance ]]; then
    export LEDGER_WORKER_INSTANCE=${LEDGER_WORKER_INSTANCE:-$instance}
  fi
  local log_start
  log_start=$(($(stat -c %s "$LOGFILE" 2>/dev/null || echo 0) + 1))
  nohup "$BIN" >>"$LOGFILE" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  # The api is ready when /healthz answers; the worker when its /readyz says so (it has joined
  # its consumer group and received its partitions, Kafka and the master database answer), so
  # the first command sent after start-up is applied at once - or, without a listener, when its
  # log says "assigned". 30 s at most either way.
  local wait_s=30
  local deadline=$((SECONDS + wait_s))
  while :; do
    if ! alive "$pid"; then
      tail -n 30 "$LOGFILE" >&2
      rm -f "$PIDFILE"
      die "$NAME exited during start-up (log: $LOGFILE)"
    fi
    [[ $kind == api ]] && healthy && break
    [[ $kind == worker ]] && ((PROBE)) && ready && break
    [[ $kind == worker ]] && ((!PROBE)) && tail -c +"$log_start" "$LOGFILE" | grep -q '"msg":"assigned ' && break
    if ((SECONDS >= deadline)); then
      tail -n 30 "$LOGFILE" >&2
      [[ $kind == api ]] &&
        die "$NAME: no answer from http://$LISTEN/healthz after 30s (pid $pid, log: $LOGFILE)"
      ((PROBE)) && die "$NAME: http://$LISTEN/readyz not ready after 30s (pid $pid, log: $LOGFILE)"
      die "$NAME: no partitions assigned after 30s (pid $pid, log: $LOGFILE)"
    fi
    sleep 0.2
  done
  log "$NAME started (pid $pid, log: $LOGFILE)"
}

case "$cmd" in
  start) start ;;
  stop)
    if running; then
      # SIGTERM lets the program drain and commit; a sanitizer build reports leaks at exit.
      stop_pid "$PIDFILE" "$(basename "$BIN")" 15
      log "$NAME stopped"
    else
      rm -f "$PIDFILE"
    fi
    ;;
  status)
    if running; then
      echo "$NAME: running (pid $(<"$PIDFILE"))"
    else
      echo "$NAME: not running"
      exit 3
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status api|worker [INSTANCE]" >&2
    exit 2
    ;;
esac
