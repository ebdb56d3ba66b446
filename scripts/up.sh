#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/up.sh (make up): builds the programs, starts PostgreSQL, Kafka, the API and the
# worker, and seeds a demo tenant with an API key and an account. Re-running it is safe: the
# services already up stay up, the demo data is created once, and the API and worker are
# restarted so that a fresh build is what runs.
set -euo pipefail
export LEDGER_STACK=${LEDGER_STACK:-up}
source "$(dirname "$0")/env.sh"
S="$ROOT/scripts"
CTL="$LEDGER_BUILD/ledgerctl"
t0=$SECONDS

"$S/install-deps.sh"
"$S/build.sh" release
"$S/pg.sh" start main
# Only the test stack has a second server (LEDGER_STACK=test make up: debug the integration tests).
[[ -z $LEDGER_PG2_PORT ]] || "$S/pg.sh" start second
"$S/kafka.sh" start
source "$S/stack-env.sh"

# The master key encrypts tenant secrets: generate it once, never overwrite it.
[[ -f $LEDGER_MASTER_KEY_FILE ]] || (umask 077 && "$CTL" keys generate --file "$LEDGER_MASTER_KEY_FILE")
"$CTL" init    # creates and migrates the master database
"$CTL" migrate # brings every tenant database to the latest schema

# Demo data, created once. Each step is gated on its own result so that a run that failed
# half-way finishes the seeding next time instead of skipping it.
if ! "$CTL" tenant show --slug demo-bank >/dev/null 2>&1; then
  log "seeding tenant demo-bank"
  "$CTL" tenant create --slug demo-bank --name "Demo Bank"
fi
if [[ ! -s $LEDGER_VAR/demo.apikey ]]; then
  # The key is printed once and stored only hashed: keep our copy private (mode 600).
  (umask 077 && "$CTL" apikey create --tenant demo-bank --name demo --role TELLER >"$LEDGER_VAR/demo.apikey")
fi
if [[ ! -s $LEDGER_VAR/demo.account ]]; then
  customer=$("$CTL" customer create --tenant demo-bank --first-name Ada --last-name Lovelace \
    --email ada@example.com)
  "$CTL" account open --tenant demo-bank --customer "$customer" --type CHECKING --currency USD \
    >"$LEDGER_VAR/demo.account.tmp"
  mv "$LEDGER_VAR/demo.account.tmp" "$LEDGER_VAR/demo.account"
fi

# The servers the API may provision tenants on (superuser conninfo: mode 600).
(umask 077 && { echo "main $LEDGER_ADMIN_DSN"; [[ -z ${LEDGER_ADMIN_DSN_2:-} ]] || echo "second $LEDGER_ADMIN_DSN_2"; } >"$LEDGER_VAR/pg-servers")
export LEDGER_PG_SERVERS_FILE="$LEDGER_VAR/pg-servers"
# Restart rather than start: a process started before this build would keep the old code.
"$S/app.sh" stop worker
"$S/app.sh" stop api
"$S/app.sh" start api
"$S/app.sh" start worker

key=$(cat "$LEDGER_VAR/demo.apikey" 2>/dev/null || echo '<api key: see ledgerctl apikey create>')
acct=$(cat "$LEDGER_VAR/demo.account" 2>/dev/null || echo '<account number>')
cat <<EOT

Stack '$LEDGER_STACK' is up in $((SECONDS - t0))s. API: $LEDGER_API_URL   (stop: make down)
For ledgerctl and friends in your shell:  source scripts/stack-env.sh

Deposit into the demo account:
  curl -i -X POST $LEDGER_API_URL/v1/transactions -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -H "Idempotency-Key: \$(cat /proc/sys/kernel/random/uuid)" -d '{"type":"DEPOSIT","amount":"100.00","currency":"USD","toAccount":"$acct","description":"first deposit"}'
Then look it up, with the id from the answer:
  curl -s $LEDGER_API_URL/v1/transactions/<id> -H "Authorization: Bearer $key"
EOT
