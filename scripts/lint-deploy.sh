#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/lint-deploy.sh systemd BIN_DIR | k8s | openapi | config
# The deployment checks that ctest runs under the label "lint" (tests/CMakeLists.txt):
#   systemd BIN_DIR  `systemd-analyze verify` on deploy/systemd's units, with their programs
#                    taken from BIN_DIR instead of /opt/ledger/bin; any complaint fails
#   k8s              kubernetes-validate --strict on deploy/k8s's manifests
#   openapi          openapi-spec-validator on docs/openapi.yaml
#   config           every LEDGER_* setting the programs and scripts read is in
#                    docs/CONFIGURATION.md
# The Python validators live in var/tools/venv (scripts/install-deps.sh). A tool that is
# missing (no systemd-analyze; the venv could not be installed offline) exits 77, which ctest
# reports as skipped.
set -euo pipefail
source "$(dirname "$0")/env.sh"
VENV="$ROOT/var/tools/venv"
SKIP=77

need() { [[ -x $1 ]] || command -v "$1" >/dev/null 2>&1 || { log "skipped: $1 not installed (scripts/install-deps.sh)"; exit "$SKIP"; }; }

lint_systemd() {
  local bin=${1:?BIN_DIR} tmp out rc=0
  need systemd-analyze
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  cp "$ROOT"/deploy/systemd/*.service "$ROOT"/deploy/systemd/*.timer "$tmp/"
  # The programs must exist for verify; the environment file is optional here ("-").
  sed -i -e "s|/opt/ledger/bin|$bin|g" -e 's|^EnvironmentFile=/|EnvironmentFile=-/|' "$tmp"/*.service
  # verify exits 0 on an unknown directive or a bad value (it only warns): fail on any output.
  out=$(cd "$tmp" && systemd-analyze verify --man=no producer-api.service ledger-worker.service \
    ledger-worker@1.service ledger-kyc-expire.service ledger-kyc-expire.timer 2>&1) || rc=$?
  if ((rc != 0)) || [[ -n $out ]]; then
    printf '%s\n' "$out" >&2
    die "systemd units: systemd-analyze verify complained"
  fi
  echo "systemd units: OK"
}

lint_k8s() {
  need "$VENV/bin/kubernetes-validate"
  local files=()
  # kustomization.yaml is kustomize's, not a Kubernetes resource.
  for f in "$ROOT"/deploy/k8s/*.yaml; do
    [[ $(basename "$f") == kustomization.yaml ]] || files+=("$f")
  done
  "$VENV/bin/kubernetes-validate" --strict --quiet "${files[@]}"
  # Every resource file is listed in the kustomization (the Secret is created by hand).
  for f in "${files[@]}"; do
    f=$(basename "$f")
    [[ $f == secret.template.yaml ]] && continue
    grep -qE "^  - $f\$" "$ROOT/deploy/k8s/kustomization.yaml" || die "$f is missing from deploy/k8s/kustomization.yaml"
  done
  echo "k8s manifests: OK (${#files[@]} files)"
}

lint_openapi() {
  need "$VENV/bin/openapi-spec-validator"
  "$VENV/bin/openapi-spec-validator" "$ROOT/docs/openapi.yaml"
}

# The names: C string literals that are whole setting names (lg_config_*, getenv), and every
# such name in the scripts. Prefixes ending in "_" (the librdkafka pass-through) are documented
# as patterns and left out here.
lint_config() {
  local doc="$ROOT/docs/CONFIGURATION.md" missing=() names n
  [[ -f $doc ]] || die "docs/CONFIGURATION.md is missing"
  names=$({
    grep -rhoE '"LEDGER_[A-Z0-9_]*[A-Z0-9]"' "$ROOT/src" | tr -d '"'
    grep -rhoP 'LEDGER_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_])' "$ROOT/scripts" "$ROOT/Makefile"
  } | sort -u)
  for n in $names; do
    grep -qE "\`$n\`" "$doc" || missing+=("$n")
  done
  if ((${#missing[@]})); then
    die "settings read by the code but not in docs/CONFIGURATION.md: ${missing[*]}"
  fi
  echo "docs/CONFIGURATION.md: OK ($(wc -w <<<"$names") settings)"
}

case "${1:-}" in
  systemd) lint_systemd "${2:-}" ;;
  k8s) lint_k8s ;;
  openapi) lint_openapi ;;
  config) lint_config ;;
  *)
    echo "usage: $0 systemd BIN_DIR | k8s | openapi | config" >&2
    exit 2
    ;;
esac
