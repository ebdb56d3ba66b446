#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/build.sh release|asan
#   release: build/       RelWithDebInfo, no tests (what `make up` runs)
#   asan:    build-asan/  Debug + AddressSanitizer/UBSan, with the tests (what `make test` runs)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

JOBS=${LEDGER_JOBS:-$(nproc)}
case "${1:-release}" in
  release)
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEDGER_TESTS=OFF
    cmake --build build -j"$JOBS"
    ;;
  asan)
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLEDGER_SANITIZE=ON -DLEDGER_FAULT_INJECTION=ON
    cmake --build build-asan -j"$JOBS"
    ;;
  *)
    echo "usage: $0 release|asan" >&2
    exit 2
    ;;
esac
