#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/down.sh (make down): stops what up.sh started, in reverse order. The data stays in
# var/up, so the next `make up` finds the same tenants, keys and balances.
set -euo pipefail
source "$(dirname "$0")/env.sh"
S="$ROOT/scripts"

"$S/app.sh" stop worker
"$S/app.sh" stop api
"$S/kafka.sh" stop
for d in "$LEDGER_VAR"/pg-*/; do
  [[ -d $d ]] || continue
  name=$(basename "$d")
  "$S/pg.sh" stop "${name#pg-}"
done
