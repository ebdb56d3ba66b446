#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/test.sh (make test, and CI through .ci/run):
#   1. sanitizer build in build-asan/ and the unit tests (no services needed), then ten seconds
#      of each fuzz target (scripts/fuzz.sh smoke);
#   2. a fresh test stack in var/test: two PostgreSQL servers, Kafka, the API and the worker,
#      all from build-asan/, on ports that do not collide with `make up`;
#   3. the integration tests against it.
# LEDGER_TEST_ONLY=REGEX (a ctest -R pattern) runs only the matching service tests, in their
# phases, on a fresh stack, without the release build, the unit, lint and fuzz steps: for working
# on one test (e.g. LEDGER_TEST_ONLY=chaos_kafka scripts/test.sh).
# Whatever happens, the trap stops every service it started, then fails the run if a
# sanitizer complained in the API's or worker's log. Exits with ctest's status otherwise.
set -euo pipefail
export LEDGER_STACK=test
source "$(dirname "$0")/env.sh"
export LEDGER_BUILD="$ROOT/build-asan"
S="$ROOT/scripts"
CTL="$LEDGER_BUILD/ledgerctl"
t0=$SECONDS

# Exported for everything below (unit tests, ledgerctl, api, worker): report leaks, and make
# any ASan/UBSan finding fatal so that it cannot scroll by unnoticed.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# ctest's --no-tests=error: a label that matches nothing is a failure, not a silent pass.
CTEST=(ctest --test-dir "$ROOT/build-asan" --output-on-failure --no-tests=error)
ONLY=${LEDGER_TEST_ONLY:-}
if [[ -n $ONLY ]]; then
  CTEST=(ctest --test-dir "$ROOT/build-asan" --output-on-failure --no-tests=ignore -R "$ONLY")
fi

stop_all() {
  # The fault scenarios' leftovers: network cuts, the full-WAL server and its loop mount.
  "$S/chaos.sh" net-restore || true
  "$S/chaos.sh" walfull-down || true
  "$S/app.sh" stop worker || true
  "$S/app.sh" stop api || true
  "$S/kafka.sh" stop || true
  "$S/pg.sh" stop tls || true # started by it_pg_tls
  "$S/pg.sh" stop second || true
  "$S/pg.sh" stop main || true
  # Started by the point-in-time recovery test (tests/integration/it_pitr.c).
  "$S/pg.sh" stop pitr-restored || true
  "$S/pg.sh" stop pitr || true
}

finish() {
  local rc=$?
  set +e
  trap - EXIT
  log "stopping the test stack"
  stop_all
  # After the stop: leaks are reported when the programs exit.
  if compgen -G "$LEDGER_VAR/logs/*.log" >/dev/null &&
    grep -nE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$LEDGER_VAR"/logs/*.log; then
    log "FAILED: sanitizer reports in $LEDGER_VAR/logs (above)"
    ((rc != 0)) || rc=1
  fi
  log "$( ((rc == 0)) && echo passed || echo "FAILED (exit $rc)") in $((SECONDS - t0))s"
  exit "$rc"
}
trap finish EXIT
# ^C or a kill: exit through the same trap, so the servers are stopped then too.
trap 'exit 130' INT
trap 'exit 143' TERM

"$S/install-deps.sh"
# The release build too (what make up runs): optimisation finds warnings (-Werror) that the
# sanitizer build at -O0 does not.
[[ -n $ONLY ]] || "$S/build.sh" release
# The worker's fault points are compiled in for the tests only (LEDGER_FAULT_INJECTION).
if [[ -z $ONLY ]] && grep -q "LEDGER_FAULT_" "$ROOT/build/ledger-worker"; then
  die "the release build of ledger-worker holds fault-injection code"
fi
"$S/build.sh" asan

if [[ -z $ONLY ]]; then
  "${CTEST[@]}" -L unit
  "${CTEST[@]}" -L lint # deploy/ and docs checked by their validators (scripts/lint-deploy.sh)
  # A short run of every fuzz target on its seeds (tests/fuzz); any crash fails the run.
  "$S/fuzz.sh" smoke
fi

# A fresh state each run. A previous run that was killed may have left servers running on
# var/test: stop them before their data goes. var/kafka-libs is outside var/test and stays.
stop_all 2>/dev/null
rm -rf "$LEDGER_VAR"

"$S/pg.sh" start main
"$S/pg.sh" start second
"$S/kafka.sh" start
source "$S/stack-env.sh"

(umask 077 && "$CTL" keys generate --file "$LEDGER_MASTER_KEY_FILE")
"$CTL" init
"$CTL" migrate

# The servers the API may provision tenants on (superuser conninfo: mode 600).
(umask 077 && printf 'main %s\nsecond %s\n' "$LEDGER_ADMIN_DSN" "$LEDGER_ADMIN_DSN_2" >"$LEDGER_VAR/pg-servers")
export LEDGER_PG_SERVERS_FILE="$LEDGER_VAR/pg-servers"
# pg_dump and pg_restore of the servers' major version (ledgerctl backup, restore).
export LEDGER_PG_BIN="$PG_BIN"
"$S/app.sh" start api
# Purge expired idempotency records every 2 s instead of every 10 min, so a test can see it.
LEDGER_WORKER_PURGE_INTERVAL_S=2 "$S/app.sh" start worker

"${CTEST[@]}" -L integration

# The crash tests start, kill and restart ledger-workers of their own (tests/integration/
# it_crash_*.c and friends): the stack's worker leaves the consumer group first.
"$S/app.sh" stop worker
"${CTEST[@]}" -L crash
# The fault-injection scenarios (tests/chaos/): each restarts what it broke before it ends.
rm -f "$LEDGER_BUILD/tests/logs/chaos-report.txt"
"${CTEST[@]}" -L chaos
if [[ -s $LEDGER_BUILD/tests/logs/chaos-report.txt ]]; then
  log "chaos scenarios:"
  cat "$LEDGER_BUILD/tests/logs/chaos-report.txt" >&2
fi

# Durable acceptance with the broker gone: the API must answer 503, never 202.
"$S/kafka.sh" stop
"${CTEST[@]}" -L kafka-down
