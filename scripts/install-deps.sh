#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Installs what building and running the stack needs, on a fresh Debian 12 machine too.
# Idempotent: apt runs only when a package is missing, Maven only when the Kafka jars are.
# A stamp file lets later runs skip all checks in a few milliseconds; LEDGER_DEPS_FORCE=1
# (or deleting var/.deps-stamp) forces a full check.
set -euo pipefail
source "$(dirname "$0")/env.sh"

PACKAGES=(
  build-essential cmake pkg-config
  librdkafka-dev libpq-dev libavro-dev libjansson-dev libsodium-dev libmicrohttpd-dev
  check libsubunit-dev libcurl4-openssl-dev
  postgresql postgresql-contrib
  kcat curl jq maven
  linux-perf # make bench: where the worker and the API spend CPU (pgbench comes with postgresql)
)
# Any Java 17+ runs Kafka 4; only bring Debian's default one when there is none at all.
command -v java >/dev/null 2>&1 || PACKAGES+=(default-jre-headless)

STAMP="$ROOT/var/.deps-stamp"
# The stamp is only valid for this exact package list and pom.
stamp_key() {
  { printf '%s\n' "${PACKAGES[@]}"; cat "$ROOT/deploy/kafka/pom.xml"; } | sha256sum | cut -d' ' -f1
}
have_kafka_jars() { compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; }

if [[ ${LEDGER_DEPS_FORCE:-0} != 1 && -f $STAMP && "$(<"$STAMP")" == "$(stamp_key)" ]] && have_kafka_jars; then
  exit 0
fi

# --- Debian packages ---------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
  # `dpkg -s` also succeeds for removed-but-not-purged packages; require "install ok installed".
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  log "installing: ${missing[*]}"
  SUDO=()
  [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
  # noninteractive: CI has no stdin, and postgresql/tzdata must not prompt.
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# --- Kafka jars from Maven Central ---------------------------------------------------------
if ! have_kafka_jars; then
  mkdir -p "$KAFKA_LIBS"
  mvn_copy=(mvn -B -q dependency:copy-dependencies -DincludeScope=runtime
    "-DoutputDirectory=$KAFKA_LIBS" -f "$ROOT/deploy/kafka/pom.xml")
  # Offline first: a fresh clone on a machine that fetched them once has them in ~/.m2.
  if ! "${mvn_copy[@]}" -o >/dev/null 2>&1; then
    log "fetching the Kafka jars from Maven Central (once)"
    "${mvn_copy[@]}"
  fi
  have_kafka_jars || die "Maven ran but $KAFKA_LIBS has no kafka_2.13 jar"
fi

mkdir -p "$(dirname "$STAMP")"
stamp_key >"$STAMP"
log "dependencies OK"
