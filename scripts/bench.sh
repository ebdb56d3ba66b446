#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/bench.sh (make bench): the benchmark suite, on this machine, against a fresh local
# stack of its own (LEDGER_STACK=bench: var/bench, PG 63432, Kafka 63092, API 63080) built with
# the release flags in build-bench/. Prints one table and writes docs/BENCHMARKS.md.
#
#   1. limits:   bench_kafka (producer-api's producer settings, read_committed reads);
#                pgbench: one worker batch of B transfers per transaction (bench/pgbench_batch.sql,
#                the worker's statements) and the plain single-row commit rate
#   2. drain:    bench_drain, 1 and 2 workers, each batch size of BENCH_BATCH_SIZES
#   3. ingest + end to end (bench_load): closed loop (the maximum), then fixed offered rates
#                1000/s, 50% and 90% of the maximum; the same for a hot account (70% of
#                transfers debit one account) and for 100 tenants
#   4. soak:     BENCH_SOAK_SECONDS at BENCH_SOAK_RATE, RSS of the API and worker from /proc
#   5. ingest without Idempotency-Key (what the per-request idempotency commit costs)
# With perf installed, where the worker (drain) and the API (ingest) spend CPU.
#
# Every duration and size is a parameter; the defaults are a modest run (about 15 minutes):
#   BENCH_SECONDS=10 BENCH_DRAIN_COUNT=50000 BENCH_BATCH_SIZES="100 500" BENCH_ACCOUNTS=500
#   BENCH_MANY_TENANTS=100 BENCH_MANY_ACCOUNTS=10 BENCH_CONNECTIONS=64 BENCH_SOAK_SECONDS=120
#   BENCH_SOAK_RATE=auto (half the end-to-end maximum)
#   BENCH_PERF=1 BENCH_WRITE_DOC=1 (0: print the table, leave docs/BENCHMARKS.md alone)
#   BENCH_KEEP=1 leaves the stack running after a successful run (tenants in var/bench/results)
#   BENCH_NOTE="..." a sentence for the document (e.g. "the machine was shared")
#   BENCH_PHASES="limits drain ingest e2e soak nokey": the parts to run (e.g. BENCH_PHASES=ingest
#   BENCH_WRITE_DOC=0 to compare ingest alone); figures of the parts left out read "-"
set -euo pipefail
export LEDGER_STACK=bench
source "$(dirname "$0")/env.sh"
export LEDGER_BUILD="$ROOT/build-bench"
S="$ROOT/scripts"
CTL="$LEDGER_BUILD/ledgerctl"
B="$LEDGER_BUILD/bench"

: "${BENCH_SECONDS:=10}"
: "${BENCH_DRAIN_COUNT:=50000}"
: "${BENCH_BATCH_SIZES:=100 500}"
: "${BENCH_ACCOUNTS:=500}"
: "${BENCH_MANY_TENANTS:=100}"
: "${BENCH_MANY_ACCOUNTS:=10}"
: "${BENCH_CONNECTIONS:=64}"
: "${BENCH_SOAK_SECONDS:=120}"
: "${BENCH_SOAK_RATE:=auto}" # auto: half the end-to-end maximum
: "${BENCH_PERF:=1}"
: "${BENCH_WRITE_DOC:=1}"
: "${BENCH_NOTE:=}"
: "${BENCH_PHASES:=limits drain ingest e2e soak nokey}"
want() { [[ " $BENCH_PHASES " == *" $1 "* ]]; }
export BENCH_CONNECTIONS
OUT="$LEDGER_VAR/results"
DOC="$ROOT/docs/BENCHMARKS.md"
t0=$SECONDS
RUN_TAG=$(date +%s)

stop_all() {
  "$S/app.sh" stop worker 2 || true
  "$S/app.sh" stop worker || true
  "$S/app.sh" stop api || true
  "$S/kafka.sh" stop || true
  "$S/pg.sh" stop main || true
}

SAMPLER_PID=
finish() {
  local rc=$?
  set +e
  trap - EXIT
  [[ -z $SAMPLER_PID ]] || kill "$SAMPLER_PID" 2>/dev/null
  if [[ ${BENCH_KEEP:-0} == 1 && $rc == 0 ]]; then
    log "BENCH_KEEP=1: the bench stack stays up (scripts/down.sh with LEDGER_STACK=bench stops it)"
  else
    log "stopping the bench stack"
    stop_all
  fi
  log "$( ((rc == 0)) && echo "done" || echo "FAILED (exit $rc)") in $((SECONDS - t0))s"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the report ------------------------------------------------------------------------------
# report DIR SECONDS: docs/BENCHMARKS.md's text from the key=value files of a run.
report() {
  local d=$1 secs=$2
  f() { # f FILE KEY [DEFAULT]: a figure, or "-"
    local v=""
    [[ -f $d/$1 ]] && v=$(sed -n "s/^$2=//p" "$d/$1" | tail -n1)
    echo "${v:-${3:--}}"
  }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.0f%%", 100*a/b; else printf "-" }'; }
  rss() { # rss NAME PHASE-PREFIX: start/peak/end MiB of a process over the phases starting so
    awk -v n="$1" -v p="$2" '
      $2 == "phase" { on = index($3, p) == 1 || p == "" ; next }
      on && $2 == n { if (first == "") first = $4; last = $4; if ($4 > peak) peak = $4 }
      END { if (first == "") print "-"; else printf "%.0f / %.0f / %.0f", first/1024, peak/1024, last/1024 }' "$d/rss.log"
  }
  cpu_table() { # one row per phase: % of one core by role, from the sampler's cpu: lines
    awk -v hz="$(getconf CLK_TCK)" -v ncpu="$(nproc)" '
      function flush(   r, k, role, row, mb) {
        if (ph == "" || ph == "end") return
        row = "| " ph
        split("api worker postgres kafka client", roles, " ")
        for (r = 1; r <= 5; r++) {
          role = roles[r]; sum = 0
          for (k in first) { split(k, kk, SUBSEP); if (kk[1] == role || (role == "worker" && kk[1] == "worker-2")) sum += last[k] - first[k] }
          row = row sprintf(" | %.0f%%", (t1 > t0) ? 100 * sum / hz / (t1 - t0) : 0)
        }
        mb = (mtot1 > mtot0) ? 100 * ncpu * (mbusy1 - mbusy0) / (mtot1 - mtot0) : 0
        print row sprintf(" | %.0f%% |", mb)
      }
      $2 == "phase" { flush(); ph = $3; t0 = $1; t1 = $1; delete first; delete last; mtot0 = 0; next }
      $2 == "cpu:machine" { if (mtot0 == 0) { mbusy0 = $3; mtot0 = $4 } mbusy1 = $3; mtot1 = $4; t1 = $1; next }
      $2 ~ /^cpu:/ { k = substr($2, 5) SUBSEP $3; if (!(k in first)) first[k] = $4; last[k] = $4; next }
      END { flush() }' "$1"
  }
  local cpu mem
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
  mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
  cat <<EOT
# Benchmarks

Produced by \`make bench\` (scripts/bench.sh, programs in bench/). Everything ran on one machine
against the real local stack: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') with fsync=on and
synchronous_commit=on, one Kafka broker (replication factor 1), producer-api and ledger-worker
built with the release flags (RelWithDebInfo). What limits each figure on this machine, and
what was changed after each profile: [PERFORMANCE.md](PERFORMANCE.md).

- Date: $BENCH_DATE; run took ${secs}s; commit $BENCH_COMMIT
- Machine: $(nproc) CPUs ($cpu), $mem memory, $(uname -sr)
- Load average (1, 5, 15 min) at the start and at the end of the run: $BENCH_LOAD_START; $(cat "$d/loadavg.end" 2>/dev/null || echo '?')
${BENCH_NOTE:+- Note: $BENCH_NOTE
}
Parameters: BENCH_SECONDS=$BENCH_SECONDS BENCH_DRAIN_COUNT=$BENCH_DRAIN_COUNT
BENCH_BATCH_SIZES="$BENCH_BATCH_SIZES" BENCH_ACCOUNTS=$BENCH_ACCOUNTS
BENCH_MANY_TENANTS=$BENCH_MANY_TENANTS BENCH_MANY_ACCOUNTS=$BENCH_MANY_ACCOUNTS
BENCH_CONNECTIONS=$BENCH_CONNECTIONS BENCH_SOAK_SECONDS=$BENCH_SOAK_SECONDS BENCH_SOAK_RATE=$BENCH_SOAK_RATE

Command: \`BENCH_SECONDS=$BENCH_SECONDS BENCH_DRAIN_COUNT=$BENCH_DRAIN_COUNT BENCH_SOAK_SECONDS=$BENCH_SOAK_SECONDS make bench\`

## What is measured

- **Limits** (same run, same machine): \`bench_kafka\` produces real encoded TRANSFER commands
  with producer-api's producer configuration (lg_kafka_producer_conf) to a topic with
  txn.commands' 12 partitions, then reads them back read_committed. pgbench runs
  bench/pgbench_batch.sql on a tenant database made by \`ledgerctl tenant create\`: one
  pgbench transaction is one worker batch of B transfers, the worker's statements
  (ledger_sql.c) with the same arrays, in the same three pipelines (lock accounts + recorded;
  insert transactions, entries, update balances, COMMIT; outcome reads). One pgbench client
  stands for one worker. The plain commit rate is a one-row INSERT per transaction.
- **Drain** (\`bench_drain\`): with the workers stopped, BENCH_DRAIN_COUNT TRANSFER commands are
  produced to txn.commands exactly as producer-api would (ids from the stack's key file,
  key tenant:debited account); then 1 or 2 workers start with LEDGER_WORKER_BATCH_MAX=B and the
  program reads txn.results until every command has its result. Rate = results / (last - first
  result); "steady" is the rate between the 10th and 90th percentile of arrivals.
- **Ingest and end to end** (\`bench_load\`, libcurl multi, keep-alive connections): POST
  /v1/transactions TRANSFERs of one tenant's accounts with unique Idempotency-Keys, API key auth.
  Ingest = 202 answers per second and their latency: first with the API alone (no worker
  consuming; the backlog is drained before the next runs), then while a worker applies the load. End to end = from the moment the request
  was due (open loop: no coordinated omission) to the TransactionResult readable
  (read_committed) on txn.results; the sustained rate counts results read while the load ran.
  The maximum is a closed loop of BENCH_CONNECTIONS connections; then fixed offered rates of
  1000/s, 50% and 90% of that maximum. An API and one worker (batch 500) run during these.
- **RSS** of producer-api and ledger-worker: VmRSS from /proc every second through the whole run.
- **CPU** per process and phase: utime + stime from /proc/PID/stat every second for the API, the
  workers, every PostgreSQL process, the broker and the load generator, and the whole machine
  from /proc/stat, as % of one core. A phase whose machine column is near 100% per core was
  CPU-bound, and the columns say who held the CPU (on a shared machine, the difference between
  the machine and the sum of the columns is other work).
- **Profiles**: \`perf record -g\` on the worker (drain) and the API (closed-loop ingest).

## Limits measured in the same run

| Limit | Figure |
|---|---|
| Kafka: produce, producer-api's settings (acks=all, idempotent, lz4, linger 1 ms), $(f kafka.kv kafka_msg_bytes) B commands | $(f kafka.kv kafka_produce_msgs_per_s) msg/s (at saturation, unbounded queue: ack p50 $(f kafka.kv kafka_produce_ack_p50_ms) ms, p99 $(f kafka.kv kafka_produce_ack_p99_ms) ms) |
| Kafka: consume, read_committed | $(f kafka.kv kafka_consume_msgs_per_s) msg/s |
| PostgreSQL: single-row INSERT + COMMIT, 1 client | $(f pg.kv pg_commit_c1_tps) commits/s |
| PostgreSQL: single-row INSERT + COMMIT, 8 clients | $(f pg.kv pg_commit_c8_tps) commits/s |
EOT
  local bs w
  for bs in $BENCH_BATCH_SIZES; do
    for w in 1 2; do
      echo "| PostgreSQL: a worker batch of $bs transfers (bench/pgbench_batch.sql), $w client(s) | $(f pg.kv "pg_batch_b${bs}_c${w}_transfers_per_s") transfers/s ($(f pg.kv "pg_batch_b${bs}_c${w}_tps") batches/s) |"
    done
  done
  cat <<EOT

## Our figures

| Benchmark | Figure | Target | Ratio to the limit |
|---|---|---|---|
EOT
  for bs in $BENCH_BATCH_SIZES; do
    for w in 1 2; do
      local r
      r=$(f "drain-w$w-b$bs.kv" drain_transfers_per_s)
      echo "| Drain, $w worker(s), batch $bs ($(f "drain-w$w-b$bs.kv" drain_completed)/$(f "drain-w$w-b$bs.kv" drain_commands) COMPLETED) | $r transfers/s (steady $(f "drain-w$w-b$bs.kv" drain_steady_transfers_per_s)) | >= 10000/s, >= 60% of pgbench | $(ratio "$r" "$(f pg.kv "pg_batch_b${bs}_c${w}_transfers_per_s")") of pgbench batch $bs, $w client(s) |"
    done
  done
  local m
  m=$(f ingest-key.kv ingest_req_per_s)
  echo "| Ingest, the API alone (no worker running), closed loop, $BENCH_CONNECTIONS connections: 202 answers | $m req/s; p50 $(f ingest-key.kv ingest_p50_ms) ms, p99 $(f ingest-key.kv ingest_p99_ms) ms, p99.9 $(f ingest-key.kv ingest_p999_ms) ms | >= 15000 req/s | $(ratio "$m" "$(f kafka.kv kafka_produce_msgs_per_s)") of Kafka produce; $(ratio "$m" "$(f pg.kv pg_commit_c8_tps)") of PG commits (8 clients) |"
  m=$(f ingest-nokey.kv ingest_req_per_s)
  echo "| Ingest, the API alone, without Idempotency-Key | $m req/s; p50 $(f ingest-nokey.kv ingest_p50_ms) ms, p99 $(f ingest-nokey.kv ingest_p99_ms) ms | | $(ratio "$m" "$(f kafka.kv kafka_produce_msgs_per_s)") of Kafka produce |"
  m=$(f uniform-max.kv ingest_req_per_s)
  echo "| Ingest while the worker applies the same load (end-to-end maximum), $BENCH_CONNECTIONS connections: 202 answers | $m req/s; p50 $(f uniform-max.kv ingest_p50_ms) ms, p99 $(f uniform-max.kv ingest_p99_ms) ms, p99.9 $(f uniform-max.kv ingest_p999_ms) ms | >= 15000 req/s | $(ratio "$m" "$(f kafka.kv kafka_produce_msgs_per_s)") of Kafka produce; $(ratio "$m" "$(f pg.kv pg_commit_c8_tps)") of PG commits (8 clients) |"
  m=$(f uniform-nokey.kv ingest_req_per_s)
  echo "| Ingest while the worker applies, without Idempotency-Key (no idempotency record committed) | $m req/s; p50 $(f uniform-nokey.kv ingest_p50_ms) ms, p99 $(f uniform-nokey.kv ingest_p99_ms) ms | | $(ratio "$m" "$(f kafka.kv kafka_produce_msgs_per_s)") of Kafka produce |"
  local mix label
  for mix in uniform hot many; do
    case $mix in
      uniform) label="uniform" ;;
      hot) label="hot account (70% debit one account)" ;;
      many) label="$BENCH_MANY_TENANTS tenants" ;;
    esac
    m=$(f "$mix-max.kv" e2e_transfers_per_s)
    echo "| End to end, $label, maximum (closed loop) | $m transfers/s; p50 $(f "$mix-max.kv" e2e_p50_ms) ms, p99 $(f "$mix-max.kv" e2e_p99_ms) ms; $(f "$mix-max.kv" http_202) accepted, $(f "$mix-max.kv" e2e_completed) COMPLETED, $(f "$mix-max.kv" http_other 0) refused | >= 5000/s$([[ $mix == hot ]] && echo ", >= 50% of uniform") | $(ratio "$m" "$(f "drain-w1-b$largest_bs.kv" drain_transfers_per_s)") of drain (1 worker)$([[ $mix != uniform ]] && echo "; $(ratio "$m" "$(f uniform-max.kv e2e_transfers_per_s)") of uniform") |"
    local r
    for r in r1000 r50 r90; do
      echo "| End to end, $label, offered $(f "$mix-$r.kv" offered_per_s)/s ($r) | $(f "$mix-$r.kv" e2e_transfers_per_s) transfers/s; p50 $(f "$mix-$r.kv" e2e_p50_ms) ms, p99 $(f "$mix-$r.kv" e2e_p99_ms) ms; HTTP p99 $(f "$mix-$r.kv" ingest_p99_ms) ms; $(f "$mix-$r.kv" http_other 0) refused | p99 < 50 ms at 1000/s | |"
    done
  done
  cat <<EOT

## Memory (RSS from /proc/PID/status, MiB: start / peak / end)

| Process | Whole run | Soak ($BENCH_SOAK_SECONDS s at $BENCH_SOAK_RATE/s) | Target |
|---|---|---|---|
| producer-api | $(rss api "") | $(rss api soak) | < 200 MiB, no growth |
| ledger-worker | $(rss worker "") | $(rss worker soak) | < 200 MiB, no growth |
| ledger-worker 2 (drain with 2 workers) | $(rss worker-2 "") | - | < 200 MiB |

## CPU by process and phase (% of one core; the machine has $(nproc) cores, so $(($(nproc) * 100))% is all of it)

Sampled every second from /proc (utime + stime): what saturates in each phase.

| Phase | producer-api | ledger-worker(s) | PostgreSQL (all processes) | Kafka broker | load generator | whole machine |
|---|---|---|---|---|---|---|
$(cpu_table "$d/rss.log")

EOT
  local which
  for which in worker api; do
    [[ -s $d/perf-$which.top ]] || continue
    echo "## Where the $which spends CPU ($([[ $which == worker ]] && echo "drain, 1 worker, batch $largest_bs" || echo "ingest, closed loop"); perf, self time)"
    echo
    echo '```'
    cat "$d/perf-$which.top"
    echo '```'
    echo
  done
}

if [[ ${1:-} == report ]]; then # rewrite the report of the last run (var/bench/results)
  # shellcheck disable=SC1091 # written by the run
  source "$OUT/params.sh"
  largest_bs=$(tr ' ' '\n' <<<"$BENCH_BATCH_SIZES" | sort -n | tail -n1)
  trap - EXIT
  report "$OUT" "$BENCH_RUN_SECONDS"
  exit 0
fi

# --- build and a fresh stack ---------------------------------------------------------------
"$S/install-deps.sh"
cmake -S "$ROOT" -B "$LEDGER_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEDGER_TESTS=OFF \
  -DLEDGER_BENCH=ON >/dev/null
cmake --build "$LEDGER_BUILD" -j"${LEDGER_JOBS:-$(nproc)}"
command -v pgbench >/dev/null || [[ -x $PG_BIN/pgbench ]] || die "pgbench missing (postgresql-contrib)"
PGBENCH=$(command -v pgbench || echo "$PG_BIN/pgbench")
PSQL="$PG_BIN/psql"
[[ $BENCH_PERF == 1 ]] && ! command -v perf >/dev/null && { log "perf not installed: no profiles"; BENCH_PERF=0; }

stop_all 2>/dev/null
rm -rf "$LEDGER_VAR"
"$S/pg.sh" start main
"$S/kafka.sh" start
source "$S/stack-env.sh"
mkdir -p "$OUT"
BENCH_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
BENCH_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
BENCH_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
(umask 077 && "$CTL" keys generate --file "$LEDGER_MASTER_KEY_FILE")
"$CTL" init >/dev/null
(umask 077 && echo "main $LEDGER_ADMIN_DSN" >"$LEDGER_VAR/pg-servers")
export LEDGER_PG_SERVERS_FILE="$LEDGER_VAR/pg-servers"

# --- tenants and accounts ------------------------------------------------------------------
# provision SLUG N_ACCOUNTS: a tenant with an API key (TELLER) and N checking accounts with a
# large overdraft (transfers never fail for funds); appends its line to the tenants file $3.
provision() {
  local slug=$1 n=$2 file=$3 tid key user cust accts
  tid=$("$CTL" tenant create --slug "$slug" --name "Bench $slug" --currencies USD 2>/dev/null)
  "$CTL" tenant update --slug "$slug" --max-accounts $((n + 100)) >/dev/null 2>&1
  key=$("$CTL" apikey create --tenant "$slug" --name bench --role TELLER 2>/dev/null)
  user=$("$PSQL" "$LEDGER_MASTER_DSN" -Atc "SELECT user_id FROM api_keys WHERE tenant_id = '$tid'")
  cust=$("$CTL" customer create --tenant "$slug" --first-name Bench --last-name Customer \
    --email "bench@$slug.example" 2>/dev/null)
  accts=$(seq "$n" | xargs -P 4 -I{} "$CTL" account open --tenant "$slug" --customer "$cust" \
    --type CHECKING --currency USD --overdraft-limit 1000000000.00 2>/dev/null | paste -sd,)
  echo "$tid $slug $user $key $accts" >>"$file"
}
tenant_dsn() { # the superuser on the tenant's database
  local db
  db=$("$PSQL" "$LEDGER_MASTER_DSN" -Atc "SELECT db_name FROM tenants WHERE slug = '$1'")
  echo "${LEDGER_ADMIN_DSN/dbname=postgres/dbname=$db}"
}
log "provisioning: bench-main and bench-pg ($BENCH_ACCOUNTS accounts each), $BENCH_MANY_TENANTS tenants of $BENCH_MANY_ACCOUNTS"
rm -f "$OUT/main.tenants" "$OUT/pg.tenants" "$OUT/many.tenants"
provision bench-main "$BENCH_ACCOUNTS" "$OUT/main.tenants"
provision bench-pg "$BENCH_ACCOUNTS" "$OUT/pg.tenants"
for ((i = 1; i <= BENCH_MANY_TENANTS; i++)); do
  provision "$(printf 'bench-m%03d' "$i")" "$BENCH_MANY_ACCOUNTS" "$OUT/many.tenants"
done
export LEDGER_MASTER_KEY_FILE

# --- RSS of the API and the workers, every second, from /proc ---------------------------------
rss_sampler() {
  local name pidfile pid rss now pm files
  while :; do
    now=$(date +%s)
    files=()
    for name in api worker worker-2; do
      pidfile="$LEDGER_VAR/run/$name.pid"
      [[ -s $pidfile ]] || continue
      pid=$(<"$pidfile")
      rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
      [[ -n $rss ]] && echo "$now $name $pid $rss"
      files+=("$name:$pid")
    done
    # CPU time (utime + stime, clock ticks) of every process of the run, by role, and of the
    # whole machine (/proc/stat): the report turns them into % of a core per phase.
    pm=$(head -n1 "$LEDGER_VAR/pg-main/data/postmaster.pid" 2>/dev/null || true)
    if [[ -n $pm ]]; then
      for pid in $pm $(pgrep -P "$pm" 2>/dev/null); do files+=("postgres:$pid"); done
    fi
    [[ -s $LEDGER_VAR/kafka/kafka.pid ]] && files+=("kafka:$(<"$LEDGER_VAR/kafka/kafka.pid")")
    for pid in $(pgrep -x 'bench_load|bench_drain|bench_kafka|pgbench' 2>/dev/null); do
      files+=("client:$pid")
    done
    for name in "${files[@]}"; do
      awk -v t="$now" -v n="${name%%:*}" -v p="${name#*:}" \
        '{ sub(/^.*\) /, ""); print t, "cpu:" n, p, $12 + $13 }' "/proc/${name#*:}/stat" 2>/dev/null || true
    done
    awk -v t="$now" '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print t, "cpu:machine", busy, busy + $5 + $6 }' /proc/stat
    sleep 1
  done
}
rss_sampler >>"$OUT/rss.log" &
SAMPLER_PID=$!

# kv FILE KEY: a key=value figure from a program's output.
kv() { sed -n "s/^$2=//p" "$1" | tail -n1; }
# phase NAME: marks the RSS log, so figures can be cut by phase.
phase() { echo "$(date +%s) phase $1 0 0" >>"$OUT/rss.log"; log "== $1"; }

# profile NAME PID SECONDS: perf record in the background (top symbols read afterwards).
PERF_PID=
profile() {
  [[ $BENCH_PERF == 1 ]] || return 0
  perf record -F 499 -g -p "$2" -o "$OUT/perf-$1.data" -- sleep "$3" >/dev/null 2>&1 &
  PERF_PID=$!
}
perf_top() {
  [[ -s $OUT/perf-$1.data ]] || return 0
  perf report -i "$OUT/perf-$1.data" -g none --no-children --sort dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9.]+%' | sed -E 's/[ -]+$//' | head -n "${2:-15}" >"$OUT/perf-$1.top" || true
}

# --- 1. limits -------------------------------------------------------------------------------
if want limits; then
phase kafka-limit
BENCH_SECONDS=$BENCH_SECONDS "$B/bench_kafka" | tee "$OUT/kafka.kv"

phase pgbench
PG_DSN=$(tenant_dsn bench-pg)
PG_USER=$(awk '{print $3}' "$OUT/pg.tenants")
"$PSQL" "$PG_DSN" -q -v ON_ERROR_STOP=1 <<'EOF'
CREATE TABLE bench_accounts AS
  SELECT row_number() OVER (ORDER BY id)::int AS i, id, account_number AS number, gl_code
  FROM accounts WHERE account_type <> 'INTERNAL';
ALTER TABLE bench_accounts ADD PRIMARY KEY (i);
CREATE TABLE bench_commit (id bigserial PRIMARY KEY, note text, at timestamptz DEFAULT now());
ANALYZE;
EOF
for bs in $BENCH_BATCH_SIZES; do
  for clients in 1 2; do
    "$PGBENCH" -n -M prepared -c "$clients" -j "$clients" -T "$BENCH_SECONDS" \
      -D batch="$bs" -D naccts="$BENCH_ACCOUNTS" -D user_id="$PG_USER" -D empty='{}' \
      -f "$ROOT/bench/pgbench_batch.sql" "$PG_DSN" >"$OUT/pgbench-b$bs-c$clients.out" 2>&1 ||
      { cat "$OUT/pgbench-b$bs-c$clients.out" >&2; die "pgbench batch script failed"; }
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$OUT/pgbench-b$bs-c$clients.out")
    echo "pg_batch_b${bs}_c${clients}_tps=$tps" >>"$OUT/pg.kv"
    echo "pg_batch_b${bs}_c${clients}_transfers_per_s=$(awk -v t="$tps" -v b="$bs" 'BEGIN{printf "%.0f", t*b}')" >>"$OUT/pg.kv"
  done
done
for clients in 1 8; do
  "$PGBENCH" -n -M prepared -c "$clients" -j "$((clients < 2 ? 1 : 2))" -T "$BENCH_SECONDS" \
    -f "$ROOT/bench/pgbench_commit.sql" "$PG_DSN" >"$OUT/pgbench-commit-c$clients.out" 2>&1 ||
    { cat "$OUT/pgbench-commit-c$clients.out" >&2; die "pgbench commit script failed"; }
  echo "pg_commit_c${clients}_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$OUT/pgbench-commit-c$clients.out" | cut -d. -f1)" >>"$OUT/pg.kv"
done
cat "$OUT/pg.kv"
fi

# --- 2. drain --------------------------------------------------------------------------------
export BENCH_TENANTS_FILE="$OUT/main.tenants"
largest_bs=$(tr ' ' '\n' <<<"$BENCH_BATCH_SIZES" | sort -n | tail -n1)
if want drain; then
for bs in $BENCH_BATCH_SIZES; do
  for workers in 1 2; do
    phase "drain-w$workers-b$bs"
    start="LEDGER_WORKER_BATCH_MAX=$bs '$S/app.sh' start worker >/dev/null"
    ((workers == 1)) || start="{ $start & LEDGER_WORKER_BATCH_MAX=$bs '$S/app.sh' start worker 2 >/dev/null & wait; }"
    if [[ $BENCH_PERF == 1 && $workers == 1 && $bs == "$largest_bs" ]]; then
      start="$start && { perf record -F 499 -g -p \$(cat '$LEDGER_VAR/run/worker.pid') -o '$OUT/perf-worker.data' -- sleep $BENCH_SECONDS >/dev/null 2>&1 & echo \$! >'$OUT/perf-worker.pid'; }"
    fi
    BENCH_START_CMD=$start BENCH_COUNT=$BENCH_DRAIN_COUNT BENCH_RUN="$RUN_TAG-d$workers-$bs" \
      "$B/bench_drain" | tee "$OUT/drain-w$workers-b$bs.kv" ||
      { echo "run_failed=1" >>"$OUT/drain-w$workers-b$bs.kv"; log "drain: not every transfer completed"; }
    "$S/app.sh" stop worker 2
    "$S/app.sh" stop worker
  done
done
# The profile of the drain ends on its own; its report needs it finished.
if [[ -s $OUT/perf-worker.pid ]]; then
  while kill -0 "$(<"$OUT/perf-worker.pid")" 2>/dev/null; do sleep 1; done
fi
perf_top worker
fi

# --- 3. ingest and end to end ------------------------------------------------------------------
# A port overridden into Linux's ephemeral range (ip_local_port_range, 32768-60999 by default)
# may be held for a while by an outgoing connection of any program. Try again rather than fail.
for attempt in 1 2 3 4 5 6; do
  "$S/app.sh" start api && break
  ((attempt < 6)) || die "the API cannot listen on port $LEDGER_API_PORT (LEDGER_API_PORT=... to move it)"
  log "retrying the API start in 10 s"
  sleep 10
done
API_PID=$(<"$LEDGER_VAR/run/api.pid")
# Until the worker has read everything on txn.commands (its consumer lag is 0 on every partition).
wait_drained() {
  local i lag
  for ((i = 0; i < 600; i++)); do
    lag=$(curl -fsS "http://127.0.0.1:$LEDGER_WORKER_PORT/metrics" 2>/dev/null |
      awk '/^ledger_worker_consumer_lag\{/ { s += $2; n++ } END { print (n > 0 ? s : -1) }')
    [[ $lag == 0 ]] && return 0
    sleep 1
  done
  log "the worker still has a backlog after 600 s"
}
if want ingest; then
  # The API alone, no worker consuming: what producer-api itself accepts (202 after acks=all),
  # with and without the Idempotency-Key's synchronous record. Its backlog is drained before
  # the end-to-end runs.
  BENCH_SECONDS=2 BENCH_TENANTS_FILE="$OUT/main.tenants" BENCH_RUN="$RUN_TAG-iwarm" \
    "$B/bench_load" >/dev/null
  phase ingest-key
  profile api "$API_PID" "$BENCH_SECONDS"
  BENCH_TENANTS_FILE="$OUT/main.tenants" BENCH_RUN="$RUN_TAG-ikey" "$B/bench_load" |
    tee "$OUT/ingest-key.kv" || echo "run_failed=1" >>"$OUT/ingest-key.kv"
  if [[ -n $PERF_PID ]]; then
    wait "$PERF_PID" || true
    PERF_PID=
  fi
  phase ingest-nokey
  BENCH_TENANTS_FILE="$OUT/main.tenants" BENCH_IDEMPOTENCY=0 BENCH_RUN="$RUN_TAG-inokey" \
    "$B/bench_load" | tee "$OUT/ingest-nokey.kv" || echo "run_failed=1" >>"$OUT/ingest-nokey.kv"
fi
"$S/app.sh" start worker
if want ingest; then
  phase ingest-backlog
  wait_drained
fi
# load NAME TENANTS HOT RATE [SECONDS]
load() {
  phase "$1"
  BENCH_TENANTS_FILE=$2 BENCH_HOT=$3 BENCH_RATE=$4 BENCH_SECONDS=${5:-$BENCH_SECONDS} BENCH_E2E=1 \
    BENCH_RUN="$RUN_TAG-$1" "$B/bench_load" | tee "$OUT/$1.kv" ||
    { echo "run_failed=1" >>"$OUT/$1.kv"; log "$1: not every request was accepted and completed (see above)"; }
}
if want e2e; then
# A short warm-up: connections, pools and caches are made before anything is measured.
BENCH_SECONDS=2 BENCH_TENANTS_FILE="$OUT/main.tenants" BENCH_E2E=1 BENCH_RUN="$RUN_TAG-warm" \
  "$B/bench_load" >/dev/null
for mix in uniform hot many; do
  case $mix in
    uniform) tf="$OUT/main.tenants" hot=0 ;;
    hot) tf="$OUT/main.tenants" hot=0.7 ;;
    many) tf="$OUT/many.tenants" hot=0 ;;
  esac
  [[ $mix == uniform ]] && ! want ingest && profile api "$API_PID" "$BENCH_SECONDS"
  load "$mix-max" "$tf" "$hot" 0
  if [[ -n $PERF_PID ]]; then
    wait "$PERF_PID" || true
    PERF_PID=
  fi
  max=$(kv "$OUT/$mix-max.kv" e2e_transfers_per_s)
  load "$mix-r1000" "$tf" "$hot" 1000
  load "$mix-r50" "$tf" "$hot" "$((max / 2))"
  load "$mix-r90" "$tf" "$hot" "$((max * 9 / 10))"
done
perf_top api
fi

# --- 4. soak: RSS over a longer run at half the maximum ---------------------------------------
if want soak; then
  if [[ $BENCH_SOAK_RATE == auto ]]; then
    max=$(kv "$OUT/uniform-max.kv" e2e_transfers_per_s 2>/dev/null)
    BENCH_SOAK_RATE=$((${max:-0} / 2))
  fi
  ((BENCH_SOAK_RATE > 0)) || BENCH_SOAK_RATE=200
  load soak "$OUT/main.tenants" 0 "$BENCH_SOAK_RATE" "$BENCH_SOAK_SECONDS"
fi

# --- 5. ingest without Idempotency-Key -----------------------------------------------------------
# No idempotency record is committed per request, so the difference from uniform-max is what that
# synchronous commit costs the API. Last: the backlog it leaves the worker must not delay the
# end-to-end runs.
if want nokey; then
  phase uniform-nokey
  BENCH_TENANTS_FILE="$OUT/main.tenants" BENCH_IDEMPOTENCY=0 BENCH_RUN="$RUN_TAG-nokey" \
    "$B/bench_load" | tee "$OUT/uniform-nokey.kv" || echo "run_failed=1" >>"$OUT/uniform-nokey.kv"
fi
phase end
cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg.end"
BENCH_RUN_SECONDS=$((SECONDS - t0))
# What `bench.sh report` needs to write the same document again.
declare -p BENCH_SECONDS BENCH_DRAIN_COUNT BENCH_BATCH_SIZES BENCH_ACCOUNTS BENCH_MANY_TENANTS \
  BENCH_MANY_ACCOUNTS BENCH_CONNECTIONS BENCH_SOAK_SECONDS BENCH_SOAK_RATE BENCH_NOTE BENCH_DATE \
  BENCH_LOAD_START BENCH_COMMIT BENCH_RUN_SECONDS | sed 's/^declare -- /declare -g /' >"$OUT/params.sh"

# --- the table -------------------------------------------------------------------------------
report "$OUT" "$BENCH_RUN_SECONDS" >"$OUT/report.md"
cat "$OUT/report.md"
if [[ $BENCH_WRITE_DOC == 1 ]]; then
  cp "$OUT/report.md" "$DOC"
  log "wrote $DOC"
fi
