# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR disable=SC2034 # the variables are used by the scripts that source this
# Common settings for the local-services scripts. SOURCED, never run: it sets no `set -e`
# itself (the scripts that source it do) so that sourcing it from an interactive shell
# cannot make that shell exit on the first failing command.
#
# Two stacks never share state or ports, so `make test` can run while `make up` is up:
#   LEDGER_STACK=up   (default)  var/up    PG 62432            Kafka 62092/62093  API 8080   worker 8081
#   LEDGER_STACK=test            var/test  PG 61432 and 61433  Kafka 61092/61093  API 61080  worker 61081
#   LEDGER_STACK=bench           var/bench PG 63432            Kafka 63092/63093  API 63080  worker 63081
#                                (make bench: scripts/bench.sh, docs/BENCHMARKS.md)
# (worker: the ledger-worker's /healthz, /readyz and /metrics.)
# The ports sit above Linux's default ephemeral range (32768-60999): a port inside it can be
# taken at any moment as the local end of some outgoing connection, and a server starting then
# fails to bind. Every port can be overridden through the environment (LEDGER_PG_PORT, LEDGER_PG2_PORT,
# LEDGER_KAFKA_PORT, LEDGER_KAFKA_CONTROLLER_PORT, LEDGER_API_PORT, LEDGER_WORKER_PORT). LEDGER_VAR is deliberately
# NOT overridable: test.sh wipes it, and a stray export must never point it at var/up.

LEDGER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$LEDGER_ROOT"

LEDGER_STACK="${LEDGER_STACK:-up}"
case "$LEDGER_STACK" in
  up)
    : "${LEDGER_PG_PORT:=62432}"
    : "${LEDGER_PG2_PORT:=}" # the up stack has a single PostgreSQL server
    : "${LEDGER_KAFKA_PORT:=62092}"
    : "${LEDGER_KAFKA_CONTROLLER_PORT:=62093}"
    : "${LEDGER_API_PORT:=8080}"
    : "${LEDGER_WORKER_PORT:=8081}"
    ;;
  test)
    : "${LEDGER_PG_PORT:=61432}"
    : "${LEDGER_PG2_PORT:=61433}" # tenants may live on two servers: the tests cover that
    : "${LEDGER_KAFKA_PORT:=61092}"
    : "${LEDGER_KAFKA_CONTROLLER_PORT:=61093}"
    : "${LEDGER_API_PORT:=61080}"
    : "${LEDGER_WORKER_PORT:=61081}"
    ;;
  bench)
    : "${LEDGER_PG_PORT:=63432}"
    : "${LEDGER_PG2_PORT:=}" # one server: the benchmarks measure one box, not placement
    : "${LEDGER_KAFKA_PORT:=63092}"
    : "${LEDGER_KAFKA_CONTROLLER_PORT:=63093}"
    : "${LEDGER_API_PORT:=63080}"
    : "${LEDGER_WORKER_PORT:=63081}"
    ;;
  *)
    echo "env.sh: LEDGER_STACK must be 'up', 'test' or 'bench', not '$LEDGER_STACK'" >&2
    return 2
    ;;
esac

LEDGER_VAR="$ROOT/var/$LEDGER_STACK"
LEDGER_BUILD="${LEDGER_BUILD:-$ROOT/build}"
# The Kafka jars are shared by both stacks and survive test.sh's wipe of var/test.
KAFKA_LIBS="$ROOT/var/kafka-libs"
KAFKA_LOG4J2="$ROOT/deploy/kafka/log4j2.xml"

# PostgreSQL binaries: Debian keeps them out of PATH, one folder per major version.
# Pick the newest installed; empty when PostgreSQL is not installed yet (install-deps.sh).
# (`|| true`: on a fresh machine the folder is missing, and under `set -e -o pipefail` the
# failing find would otherwise end install-deps.sh before it installs anything.)
PG_BIN="${PG_BIN:-$({ find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null || true; } | sort -V | tail -n1)}"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# pid_matches PIDFILE PATTERN: true when the pid in PIDFILE is alive AND its command line
# contains PATTERN. The pattern check guards against killing an unrelated process that
# reused the pid of one of ours that died without cleaning up.
pid_matches() {
  local pidfile=$1 pattern=$2 pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

# port_in_use PORT: something already accepts connections on 127.0.0.1:PORT. Checked before
# every start, or a readiness probe would happily take another process for ours.
port_in_use() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# alive PID: running and not a zombie (a zombie still answers kill -0 until it is reaped).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# stop_pid PIDFILE PATTERN GRACE_SECONDS: SIGTERM the process, SIGKILL after the grace period,
# then remove the pid file. Only ever touches the one pid we recorded ourselves.
stop_pid() {
  local pidfile=$1 pattern=$2 grace=$3 pid i
  if ! pid_matches "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    return 0
  fi
  pid=$(<"$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    log "pid $pid still alive after ${grace}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}
