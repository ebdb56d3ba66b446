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
  kcat curl jq maven openssl
  python3-venv
  # the fuzz targets (scripts/fuzz.sh): Debian 12 clang is clang 14, whose libFuzzer runtime
  # (libclang_rt.fuzzer) is in libclang-rt-14-dev, which clang only recommends
  clang libclang-rt-14-dev
  valgrind
  # the chaos scenarios (tests/chaos): network cuts (iptables, ss -K) and a full WAL disk (a
  # loop-mounted ext4 image)
  iptables iproute2 e2fsprogs mount util-linux
  linux-perf # make bench: where the worker and the API spend CPU (pgbench comes with postgresql)
)
# Any Java 17+ runs Kafka 4; only bring Debian's default one when there is none at all.
command -v java >/dev/null 2>&1 || PACKAGES+=(default-jre-headless)

# The validators of the lint tests (scripts/lint-deploy.sh), from PyPI into a venv of the
# checkout: pinned, so every machine checks the same way.
PY_TOOLS=(kubernetes-validate==1.37.0 openapi-spec-validator==0.9.0)
VENV="$ROOT/var/tools/venv"

STAMP="$ROOT/var/.deps-stamp"
# The stamp is only valid for this exact package list, pom and tool list.
stamp_key() {
  { printf '%s\n' "${PACKAGES[@]}" "${PY_TOOLS[@]}"; cat "$ROOT/deploy/kafka/pom.xml"; } | sha256sum | cut -d' ' -f1
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

# --- Python validators for the lint tests ---------------------------------------------------
# Offline-tolerant: without PyPI the lint tests that need them are skipped, nothing else
# fails (LEDGER_DEPS_FORCE=1 tries again). Debian's python3 (with python3-venv) when present.
have_py_tools() { [[ -x $VENV/bin/kubernetes-validate && -x $VENV/bin/openapi-spec-validator ]]; }
if ! have_py_tools; then
  PY=python3
  [[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
  log "installing ${PY_TOOLS[*]} into $VENV"
  if ! { "$PY" -m venv "$VENV" >/dev/null &&
    "$VENV/bin/pip" install -q --disable-pip-version-check --timeout 30 "${PY_TOOLS[@]}"; }; then
    log "warning: could not install the Python validators; the lint tests will be skipped"
  fi
fi

mkdir -p "$(dirname "$STAMP")"
stamp_key >"$STAMP"
log "dependencies OK"
