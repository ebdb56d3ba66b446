# shellcheck shell=bash source-path=SCRIPTDIR
# Exports what the programs (ledgerctl, producer-api, ledger-worker, the integration tests)
# read, for the stack named by LEDGER_STACK (default up). SOURCE it once the services are up:
#   source scripts/stack-env.sh                      # the `make up` stack, in your shell
#   LEDGER_STACK=test source scripts/stack-env.sh    # the `make test` stack
# No `set -e` here, so sourcing it cannot kill an interactive shell.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh" || return 1

# _ledger_read FILE: the file's first line, or a complaint (the server was never started).
_ledger_read() {
  if [[ -r $1 ]]; then
    head -n1 "$1"
  else
    echo "stack-env.sh: $1 missing: start the services first (scripts/pg.sh start)" >&2
    return 1
  fi
}

LEDGER_ADMIN_DSN=$(_ledger_read "$LEDGER_VAR/pg-main/admin.dsn") || return 1
_ledger_pass=$(_ledger_read "$LEDGER_VAR/pg-main/superuser.pass") || return 1
export LEDGER_ADMIN_DSN
export LEDGER_MASTER_DSN="host=127.0.0.1 port=$LEDGER_PG_PORT user=postgres password=$_ledger_pass dbname=ledger_master"
unset _ledger_pass
if [[ -n $LEDGER_PG2_PORT ]]; then
  # The second server exists in the test stack only: tenants may be placed on either.
  LEDGER_ADMIN_DSN_2=$(_ledger_read "$LEDGER_VAR/pg-second/admin.dsn") || return 1
  export LEDGER_ADMIN_DSN_2
fi
# The servers' ports, for tests that check where a tenant was placed.
export LEDGER_PG_PORT LEDGER_PG2_PORT LEDGER_API_PORT LEDGER_WORKER_PORT
export LEDGER_MASTER_KEY_FILE="$LEDGER_VAR/master.key"
export LEDGER_KAFKA_BROKERS="127.0.0.1:$LEDGER_KAFKA_PORT"
export LEDGER_API_LISTEN="127.0.0.1:$LEDGER_API_PORT"
export LEDGER_API_URL="http://127.0.0.1:$LEDGER_API_PORT"
# The worker's /healthz, /readyz and /metrics (a second worker needs a listener of its own, or
# LEDGER_WORKER_LISTEN=off).
export LEDGER_WORKER_LISTEN="127.0.0.1:$LEDGER_WORKER_PORT"
export LEDGER_WORKER_URL="http://127.0.0.1:$LEDGER_WORKER_PORT"
unset -f _ledger_read
