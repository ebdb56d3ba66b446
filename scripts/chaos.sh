#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/chaos.sh ACTION [ARGS]: the faults the chaos scenarios (tests/chaos/, ctest label
# "chaos") inject into the stack of $LEDGER_STACK (the test stack under make test). Each action
# returns once the fault is in place (or gone again):
#   kafka-kill            SIGKILL the broker JVM and wait until it is gone
#   kafka-start           start the broker again (scripts/kafka.sh start)
#   pg-kill NAME          SIGKILL the postmaster of server NAME (main, second): its backends
#                         end too, as after a crash; nothing is flushed or shut down cleanly
#   pg-start NAME         start it again (crash recovery replays its WAL)
set -euo pipefail
source "$(dirname "$0")/env.sh"
S="$(dirname "$0")"

# SIGKILL pid and wait until it is gone (at most 30 s).
kill_wait() {
  local pid=$1 i
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  die "process $pid still alive 30 s after SIGKILL"
}

action=${1:-}
shift || true
case "$action" in
  kafka-kill)
    pidfile="$LEDGER_VAR/kafka/kafka.pid"
    [[ -s $pidfile ]] || die "no broker pid in $pidfile"
    kill_wait "$(<"$pidfile")"
    ;;
  kafka-start) "$S/kafka.sh" start ;;
  pg-kill)
    name=${1:?pg-kill NAME}
    pidfile="$LEDGER_VAR/pg-$name/data/postmaster.pid"
    [[ -s $pidfile ]] || die "no postmaster.pid for server $name"
    kill_wait "$(head -1 "$pidfile")"
    ;;
  pg-start) "$S/pg.sh" start "${1:?pg-start NAME}" ;;
  *) die "usage: scripts/chaos.sh kafka-kill|kafka-start|pg-kill NAME|pg-start NAME" ;;
esac
