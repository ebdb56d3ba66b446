#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/chaos.sh ACTION [ARGS]: the faults the chaos scenarios (tests/chaos/, ctest label
# "chaos") inject into the stack of $LEDGER_STACK (the test stack under make test). Each action
# returns once the fault is in place (or gone again):
#   kafka-kill            SIGKILL the broker JVM and wait until it is gone
#   kafka-start           start the broker again (scripts/kafka.sh start)
#   pg-kill NAME          SIGKILL the postmaster of server NAME (main, second), then its
#                         backends and auxiliary processes (those that have not noticed its
#                         death within 5 s), as after a crash: nothing is flushed or shut down
#                         cleanly; returns once no process of the cluster is left
#   pg-start NAME         start it again (crash recovery replays its WAL); first waits for any
#                         process of the cluster still holding its shared memory
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

# The processes of the cluster in DATA: every postgres process has its data directory as its
# working directory (the postmaster changes into it and its children inherit it); after the
# postmaster's death they are orphans, so this is how they are found.
pg_procs() {
  local data pid
  data=$(readlink -f "$1")
  for pid in $(find /proc/[0-9]*/cwd -maxdepth 0 -lname "$data" 2>/dev/null |
    cut -d/ -f3); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q postgres || continue
    alive "$pid" && echo "$pid"
  done
}

# Waits up to $2 tenths of a second until no process of the cluster in $1 is left; with "kill"
# as $3, SIGKILLs those still there after that and waits for them (at most 10 s more).
pg_wait_gone() {
  local data=$1 tenths=$2 i pids
  for ((i = 0; i < tenths; i++)); do
    pids=$(pg_procs "$data")
    [[ -z $pids ]] && return 0
    sleep 0.1
  done
  [[ ${3:-} == kill ]] || die "processes of $data still running: $pids"
  log "SIGKILL to the processes of $data left after the postmaster: ${pids//$'\n'/ }"
  # shellcheck disable=SC2086 # one pid a word
  kill -KILL $pids 2>/dev/null || true
  pg_wait_gone "$data" 100
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
    # Backends notice the postmaster's death at their next wait and exit; one busy in a long
    # statement may linger and keep the shared memory attached, which makes a new postmaster
    # refuse to start. A real crash leaves nothing behind: kill what is left after 5 s.
    pg_wait_gone "$LEDGER_VAR/pg-$name/data" 50 kill
    ;;
  pg-start)
    name=${1:?pg-start NAME}
    # pg.sh start runs pg_ctl as the server's user; postmaster.pid is stale and is replaced
    # once no process of the old cluster holds its shared memory.
    pg_wait_gone "$LEDGER_VAR/pg-$name/data" 300
    "$S/pg.sh" start "$name"
    ;;
  *) die "usage: scripts/chaos.sh kafka-kill|kafka-start|pg-kill NAME|pg-start NAME" ;;
esac
