#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/valgrind.sh (make valgrind): producer-api and ledger-worker under valgrind memcheck.
#   1. the release build (what runs in production; valgrind cannot run an ASan build) and the
#      sanitizer build for the load program;
#   2. a fresh test stack in var/test as scripts/test.sh starts it (so never at the same time as
#      make test in this checkout), with the API and the worker started through a wrapper that
#      runs them under valgrind --leak-check=full;
#   3. the load: tests/integration/it_valgrind_load.c (ctest label "valgrind"), a few hundred
#      commands and reads over HTTP; ITEST_VALGRIND_N sets the number of transfers;
#   4. SIGTERM to both, a wait for valgrind's exit report, and a summary per program:
#      definitely lost bytes, invalid reads/writes, other memcheck errors.
# Reports: var/valgrind/<program>.<pid>.log. Exits non-zero when the load failed, a program
# lost memory for good, or memcheck saw an invalid access or other error.
set -euo pipefail
export LEDGER_STACK=test
source "$(dirname "$0")/env.sh"
S="$ROOT/scripts"
VG="$ROOT/var/valgrind"
t0=$SECONDS

command -v valgrind >/dev/null || "$S/install-deps.sh"
command -v valgrind >/dev/null || die "valgrind is not installed (make deps)"

stop_all() {
  # valgrind writes its leak report at exit: give it time instead of app.sh's 15 s.
  stop_pid "$LEDGER_VAR/run/worker.pid" ledger-worker 300 || true
  stop_pid "$LEDGER_VAR/run/api.pid" producer-api 300 || true
  "$S/kafka.sh" stop || true
  "$S/pg.sh" stop second || true
  "$S/pg.sh" stop main || true
}
finish() {
  local rc=$?
  set +e
  trap - EXIT
  stop_all
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$S/build.sh" release
"$S/build.sh" asan

stop_all 2>/dev/null
rm -rf "$LEDGER_VAR" "$VG"
mkdir -p "$VG/bin"

# The wrappers app.sh starts in place of the programs: exec keeps the pid, and the command
# line still names the program, so app.sh's pid checks hold.
for prog in producer-api ledger-worker; do
  cat >"$VG/bin/$prog" <<WRAP
#!/bin/sh
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,possible \\
  --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30 \\
  --log-file="$VG/$prog.%p.log" "$ROOT/build/$prog" "\$@"
WRAP
  chmod +x "$VG/bin/$prog"
done

"$S/pg.sh" start main
"$S/pg.sh" start second
"$S/kafka.sh" start
source "$S/stack-env.sh"
CTL="$ROOT/build/ledgerctl"
(umask 077 && "$CTL" keys generate --file "$LEDGER_MASTER_KEY_FILE")
"$CTL" init
"$CTL" migrate
(umask 077 && printf 'main %s\nsecond %s\n' "$LEDGER_ADMIN_DSN" "$LEDGER_ADMIN_DSN_2" >"$LEDGER_VAR/pg-servers")
export LEDGER_PG_SERVERS_FILE="$LEDGER_VAR/pg-servers"

LEDGER_BUILD="$VG/bin" "$S/app.sh" start api
# app.sh waits 30 s for the worker's partitions; under valgrind joining the group can take
# longer. A worker still alive after that gets three more minutes.
if ! LEDGER_BUILD="$VG/bin" "$S/app.sh" start worker; then
  pid_matches "$LEDGER_VAR/run/worker.pid" ledger-worker || die "the worker exited during start-up"
  for ((i = 0; i < 180; i++)); do
    grep -q '"msg":"assigned ' "$LEDGER_VAR/logs/worker.log" && break
    sleep 1
  done
  grep -q '"msg":"assigned ' "$LEDGER_VAR/logs/worker.log" || die "worker: no partitions after 210s"
  log "worker started (after $((30 + i))s)"
fi

load_rc=0
tl=$SECONDS
ctest --test-dir "$ROOT/build-asan" --output-on-failure --no-tests=error -L valgrind || load_rc=$?
log "load finished in $((SECONDS - tl))s (exit $load_rc)"

log "stopping the API and the worker (SIGTERM), waiting for valgrind's reports"
stop_pid "$LEDGER_VAR/run/worker.pid" ledger-worker 300
stop_pid "$LEDGER_VAR/run/api.pid" producer-api 300

bad=0
for f in "$VG"/*.log; do
  [[ -e $f ]] || continue
  definite=$(grep -oE 'definitely lost: [0-9,]+ bytes in [0-9,]+ blocks' "$f" | tail -n1 || true)
  invalid=$(grep -cE '(Invalid (read|write|free)|Use of uninitialised|Conditional jump|Mismatched free|Source and destination overlap)' "$f" || true)
  errors=$(grep -oE 'ERROR SUMMARY: [0-9,]+ errors' "$f" | tail -n1 | grep -oE '[0-9,]+' | head -n1 || true)
  printf '%-28s %-48s invalid accesses %-4s memcheck errors %s\n' "$(basename "$f")" \
    "${definite:-definitely lost: (no leak summary: killed?)}" "$invalid" "${errors:-?}"
  if [[ -z $definite || ${definite#definitely lost: } != 0\ bytes* || $invalid != 0 || ${errors:-1} != 0 ]]; then
    bad=1
  fi
done
log "$( ((load_rc == 0 && bad == 0)) && echo passed || echo FAILED) in $((SECONDS - t0))s; reports in $VG"
((load_rc == 0 && bad == 0))
