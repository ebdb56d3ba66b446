#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/fuzz.sh build|run|smoke|seeds [target...]   (make fuzz runs `run`)
#   build   the libFuzzer targets of tests/fuzz in build-fuzz/ (clang, -DLEDGER_FUZZ=ON)
#   run     builds, then fuzzes each target for FUZZ_SECONDS (default 120) on a working copy of
#           its seed corpus (var/fuzz/corpus/<target>, which keeps what the fuzzer learns
#           across runs); crashes go to var/fuzz/<target>/, the log to var/fuzz/<target>.log,
#           and one summary line per target (executions, exec/s, cov, crashes) is printed.
#   smoke   what `make test` runs: each target for FUZZ_SMOKE_SECONDS (default 10) on the
#           committed seeds only (no saved corpus), so the result does not depend on history.
#   seeds   rewrites the seeds only the product can make (Avro values, signed tokens).
# Targets default to all of them; name some to run only those ("money jwt").
# Exits non-zero when any target crashed, leaked, timed out or ran out of memory.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

ALL_TARGETS=(txn_request mgmt_body money avro jwt route cursor)
BUILD="$ROOT/build-fuzz"
OUT="$ROOT/var/fuzz"
SEEDS="$ROOT/tests/fuzz/corpus"

# The longest input worth trying per target: a little above what each parser accepts.
max_len() {
  case $1 in
    money) echo 96 ;;           # amounts are refused above 64 characters
    jwt) echo 2600 ;;           # LG_JWT_MAX is 2048
    avro) echo 2048 ;;          # the commands the API produces are well under 1 KiB
    route) echo 1024 ;;         # the server's URL buffer is 256 bytes; headers follow
    cursor) echo 64 ;;          # LG_CURSOR_STRLEN is 48
    txn_request | mgmt_body) echo 8192 ;;
    *) die "unknown target $1" ;;
  esac
}

build() {
  command -v clang >/dev/null || die "clang is not installed (make deps)"
  CC=clang cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DLEDGER_FUZZ=ON -DLEDGER_TESTS=OFF \
    >/dev/null
  cmake --build "$BUILD" -j"${LEDGER_JOBS:-$(nproc)}" --target fuzz_targets
}

# run_target TARGET SECONDS CORPUS...: fuzzes one target, prints its summary line, and
# returns 1 when libFuzzer found something.
run_target() {
  local t=$1 seconds=$2 rc=0 dict
  shift 2
  local artifacts="$OUT/$t" logf="$OUT/$t.log"
  mkdir -p "$artifacts"
  local args=(-max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/")
  dict="$ROOT/tests/fuzz/$t.dict"
  [[ -f $dict ]] && args+=(-dict="$dict")
  # abort_on_error off: libFuzzer's own handler must see the crash to save the input.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$BUILD/tests/fuzz/fuzz_$t" "${args[@]}" "$@" >"$logf" 2>&1 || rc=$?
  local execs rate cov found
  execs=$(grep -a -oE 'stat::number_of_executed_units: *[0-9]+' "$logf" | grep -oE '[0-9]+$' || echo '?')
  rate=$(grep -a -oE 'stat::average_exec_per_sec: *[0-9]+' "$logf" | grep -oE '[0-9]+$' || echo '?')
  cov=$(grep -a -oE 'cov: [0-9]+' "$logf" | tail -n1 | grep -oE '[0-9]+' || echo '?')
  found=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
    -o -name 'timeout-*' -o -name 'oom-*' \) -newer "$logf.start" | wc -l)
  printf '%-12s %6ss  execs %-10s exec/s %-7s cov %-5s crashes %s\n' "$t" "$seconds" "$execs" \
    "$rate" "$cov" "$found"
  if ((rc != 0 || found > 0)); then
    log "FAILED: fuzz_$t (exit $rc); log $logf, input in $artifacts/"
    grep -a -m3 -E 'property failed|ERROR: |runtime error' "$logf" >&2 || true
    return 1
  fi
}

fuzz_all() {
  local mode=$1 seconds=$2 failed=0 t
  shift 2
  local targets=("$@")
  ((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")
  mkdir -p "$OUT"
  for t in "${targets[@]}"; do
    max_len "$t" >/dev/null
    touch "$OUT/$t.log.start"
    if [[ $mode == run ]]; then
      # The working corpus grows across runs; new seeds from the checkout join it each time.
      mkdir -p "$OUT/corpus/$t"
      run_target "$t" "$seconds" "$OUT/corpus/$t" "$SEEDS/$t" || failed=1
    else
      # Seeds are read, never written: with a single read-only corpus dir libFuzzer would add
      # to it, so new inputs go to a scratch dir that is wiped.
      rm -rf "$OUT/smoke/$t" && mkdir -p "$OUT/smoke/$t"
      run_target "$t" "$seconds" "$OUT/smoke/$t" "$SEEDS/$t" || failed=1
    fi
  done
  return "$failed"
}

cmd=${1:-run}
(($#)) && shift
case $cmd in
  build) build ;;
  run)
    build
    log "fuzzing each target for ${FUZZ_SECONDS:-120}s"
    fuzz_all run "${FUZZ_SECONDS:-120}" "$@"
    ;;
  smoke)
    build
    fuzz_all smoke "${FUZZ_SMOKE_SECONDS:-10}" "$@"
    ;;
  seeds)
    build
    "$BUILD/tests/fuzz/fuzz_gen_corpus" "$SEEDS"
    log "seeds written to $SEEDS/avro and $SEEDS/jwt"
    ;;
  *)
    echo "usage: $0 build|run|smoke|seeds [target...]" >&2
    exit 2
    ;;
esac
