#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/bench-compare.sh OLD_BUILD: before/after in one session on the bench stack. OLD_BUILD
# is a release build of another commit with the bench programs, e.g.
#   git archive 7e030a2 | tar -x -C /tmp/base && cmake -S /tmp/base -B /tmp/base/build-bench \
#     -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEDGER_TESTS=OFF -DLEDGER_BENCH=ON && cmake --build ...
# This tree is built into build-bench/. Alternating old and new, ROUNDS times:
#   drain: bench_drain of DRAIN transfers, batch 500, 1 and 2 workers (rate, worker CPU ticks);
#   ingest: bench_load closed loop for SECS s, no worker, the API of OLD_BUILD, then this one
#   with LEDGER_API_GROUP_COMMIT=0, then with its defaults (twice).
# ACCOUNTS=200 DRAIN=5000 SECS=5 ROUNDS=2 TENANTS=1; SKIP_DRAIN=1 or SKIP_INGEST=1 to run one
# part. TENANTS=N > 1 spreads the ACCOUNTS over N tenants (each batch then spans many tenants).
# Prints one line a run (and writes them to $LEDGER_VAR/compare/summary).
set -euo pipefail
export LEDGER_STACK=bench
source "$(dirname "$0")/env.sh"
S=$ROOT/scripts
OLD=$(cd "${1:?usage: $0 OLD_BUILD}" && pwd) NEW=$ROOT/build-bench
export LEDGER_BUILD=$NEW
CTL=$NEW/ledgerctl PSQL="$PG_BIN/psql"
: "${ACCOUNTS:=200}" "${DRAIN:=5000}" "${SECS:=5}" "${ROUNDS:=2}" "${TENANTS:=1}"
OUT=$LEDGER_VAR/compare
cmake -S "$ROOT" -B "$NEW" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEDGER_TESTS=OFF -DLEDGER_BENCH=ON >/dev/null
cmake --build "$NEW" -j2 >/dev/null
stop_all() {
  "$S/app.sh" stop worker 2 || true
  "$S/app.sh" stop worker || true
  "$S/app.sh" stop api || true
  "$S/kafka.sh" stop || true
  "$S/pg.sh" stop main || true
}
trap 'set +e; stop_all >/dev/null 2>&1' EXIT
stop_all >/dev/null 2>&1; rm -rf "$LEDGER_VAR"; mkdir -p "$OUT"
"$S/pg.sh" start main; "$S/kafka.sh" start
source "$S/stack-env.sh"
(umask 077 && "$CTL" keys generate --file "$LEDGER_MASTER_KEY_FILE")
"$CTL" init >/dev/null
(umask 077 && echo "main $LEDGER_ADMIN_DSN" >"$LEDGER_VAR/pg-servers")
export LEDGER_PG_SERVERS_FILE="$LEDGER_VAR/pg-servers" LEDGER_MASTER_KEY_FILE
provision() {
  local slug=$1 n=$2 file=$3 tid key user cust accts
  tid=$("$CTL" tenant create --slug "$slug" --name "Bench $slug" --currencies USD 2>/dev/null)
  "$CTL" tenant update --slug "$slug" --max-accounts $((n + 100)) >/dev/null 2>&1
  key=$("$CTL" apikey create --tenant "$slug" --name bench --role TELLER 2>/dev/null)
  user=$("$PSQL" "$LEDGER_MASTER_DSN" -Atc "SELECT user_id FROM api_keys WHERE tenant_id = '$tid'")
  cust=$("$CTL" customer create --tenant "$slug" --first-name Bench --last-name Customer --email "bench@$slug.example" 2>/dev/null)
  accts=$(seq "$n" | xargs -P 4 -I{} "$CTL" account open --tenant "$slug" --customer "$cust" \
    --type CHECKING --currency USD --overdraft-limit 1000000000.00 2>/dev/null | paste -sd,)
  echo "$tid $slug $user $key $accts" >>"$file"
}
if ((TENANTS > 1)); then
  for ((i = 1; i <= TENANTS; i++)); do
    provision "$(printf 'bench-t%03d' "$i")" "$(((ACCOUNTS + TENANTS - 1) / TENANTS < 2 ? 2 : (ACCOUNTS + TENANTS - 1) / TENANTS))" "$OUT/main.tenants"
  done
else
  provision bench-main "$ACCOUNTS" "$OUT/main.tenants"
fi
export BENCH_TENANTS_FILE="$OUT/main.tenants"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/summary"
tag=$(date +%s)
# Drain: 1 and 2 workers, batch 500
if [[ ${SKIP_DRAIN:-0} != 1 ]]; then
for round in $(seq "$ROUNDS"); do
  for v in old new; do
    for w in 1 2; do
      b=$([[ $v == old ]] && echo "$OLD" || echo "$NEW")
      start="LEDGER_BUILD='$b' LEDGER_WORKER_BATCH_MAX=500 '$S/app.sh' start worker >/dev/null"
      ((w == 1)) || start="{ $start & LEDGER_BUILD='$b' LEDGER_WORKER_BATCH_MAX=500 '$S/app.sh' start worker 2 >/dev/null & wait; }"
      BENCH_START_CMD=$start BENCH_COUNT=$DRAIN BENCH_RUN="$tag-d$round$v$w" "$NEW/bench/bench_drain" >"$OUT/drain-$v-w$w-r$round.kv" 2>"$OUT/drain-$v-w$w-r$round.err" || echo "run_failed=1" >>"$OUT/drain-$v-w$w-r$round.kv"
      cpu=0
      for p in "$LEDGER_VAR/run/worker.pid" "$LEDGER_VAR/run/worker-2.pid"; do
        if [[ ! -s $p ]] || ! kill -0 "$(<"$p")" 2>/dev/null; then continue; fi
        cpu=$((cpu + $(awk '{print $14 + $15}' "/proc/$(<"$p")/stat")))
      done
      "$S/app.sh" stop worker 2 >/dev/null || true; "$S/app.sh" stop worker >/dev/null
      echo "drain $v workers=$w round=$round: $(sed -n 's/^drain_transfers_per_s=//p' "$OUT/drain-$v-w$w-r$round.kv") transfers/s (steady $(sed -n 's/^drain_steady_transfers_per_s=//p' "$OUT/drain-$v-w$w-r$round.kv")); worker CPU ${cpu} ticks (1/$(getconf CLK_TCK) s, start-up included)" | tee -a "$OUT/summary"
    done
  done
done
fi
[[ ${SKIP_INGEST:-0} == 1 ]] && exit 0
# Ingest (closed loop, 64 connections, no worker: 202 answers only)
for round in $(seq "$ROUNDS"); do
  for cfg in old new-gc0 new new-again; do
    case $cfg in
      old) env="LEDGER_BUILD=$OLD" ;;
      new-gc0) env="LEDGER_API_GROUP_COMMIT=0" ;;
      new) env="" ;;
      new-again) env="" ;;
    esac
    # shellcheck disable=SC2086 # $env: zero or more NAME=value words
    env $env "$S/app.sh" start api >/dev/null
    BENCH_SECONDS=$SECS BENCH_RUN="$tag-i$round$cfg" "$NEW/bench/bench_load" >"$OUT/ingest-$cfg-r$round.kv" 2>"$OUT/ingest-$cfg-r$round.err" || true
    "$S/app.sh" stop api >/dev/null
    echo "ingest $cfg round=$round: $(sed -n 's/^ingest_req_per_s=//p' "$OUT/ingest-$cfg-r$round.kv") req/s p50 $(sed -n 's/^ingest_p50_ms=//p' "$OUT/ingest-$cfg-r$round.kv") ms p99 $(sed -n 's/^ingest_p99_ms=//p' "$OUT/ingest-$cfg-r$round.kv") ms; other $(sed -n 's/^http_other=//p' "$OUT/ingest-$cfg-r$round.kv")" | tee -a "$OUT/summary"
  done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary"
