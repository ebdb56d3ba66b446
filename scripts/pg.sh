#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/pg.sh start|stop|status [NAME]
# A private PostgreSQL server per NAME (main, and for the test stack also second) in
# $LEDGER_VAR/pg-NAME/, listening on 127.0.0.1 only, password (SCRAM) auth for TCP.
#   data/            the cluster (owned by the OS user that runs postgres)
#   sock/            its unix socket (peer auth only)
#   postgres.log     server log
#   superuser.pass   random password of the `postgres` superuser (mode 600)
#   admin.dsn        libpq conninfo for that superuser (mode 600)
#   server.crt/.key  optional: when both are there at start, the server takes TLS (ssl = on)
#                    with them (copied into data/, readable by the postgres user only)
# status exits 0 when running, 3 when not.
#
# WAL archiving and point-in-time recovery (deploy/postgresql/PITR.md; tests/integration/it_pitr.c):
#   LEDGER_PG_WAL_ARCHIVE=1 pg.sh start NAME   archive every WAL segment into pg-NAME/wal-archive/
#                                              (always on for the server named pitr)
#   pg.sh basebackup NAME                      pg_basebackup of NAME into pg-NAME/basebackup/
#   pg.sh recover DEST SRC 'TIME'              a new server DEST (pitr-restored) from SRC's base
#                                              backup, replaying SRC's archived WAL up to TIME,
#                                              then promoted; its admin.dsn is SRC's superuser
# The pitr servers listen on LEDGER_PG_PITR_PORT (default LEDGER_PG_PORT + 10) and the next port.
#
# walfull (LEDGER_PG_PORT + 20) is the full-WAL-disk scenario's server (tests/chaos/chaos_wal_full.c,
# scripts/chaos.sh walfull-up): its pg_wal lives in pg-walfull/walmnt (a small filesystem the
# scenario mounts there), in 1 MiB segments, at most 32 MB of them.
set -euo pipefail
source "$(dirname "$0")/env.sh"

cmd=${1:-}
NAME=${2:-main}
case "$NAME" in
  main) PORT=$LEDGER_PG_PORT ;;
  second) PORT=$LEDGER_PG2_PORT ;;
  pitr) PORT=${LEDGER_PG_PITR_PORT:-$((LEDGER_PG_PORT + 10))} ;;
  pitr-restored) PORT=$((${LEDGER_PG_PITR_PORT:-$((LEDGER_PG_PORT + 10))} + 1)) ;;
  # A server for the TLS tests (tests/integration/it_pg_tls.c), next to main.
  tls) PORT=${LEDGER_PG_TLS_PORT:-$((LEDGER_PG_PORT + 2))} ;;
  walfull) PORT=$((LEDGER_PG_PORT + 20)) ;;
  *) die "unknown server '$NAME' (main, second, tls, pitr, pitr-restored or walfull)" ;;
esac
[[ -x $PG_BIN/pg_ctl ]] || die "PostgreSQL not found under /usr/lib/postgresql: run scripts/install-deps.sh"

DIR="$LEDGER_VAR/pg-$NAME"
DATA="$DIR/data"
SOCK="$DIR/sock"
LOGFILE="$DIR/postgres.log"

# PostgreSQL refuses to run as root. As root we run it as a dedicated system user; otherwise
# as the caller.
if [[ $(id -u) -eq 0 ]]; then
  PGUSER_OS=ledgerpg
  as_pg() { runuser -u "$PGUSER_OS" -- "$@"; }
else
  PGUSER_OS=$(id -un)
  as_pg() { "$@"; }
fi

ensure_os_user() {
  [[ $(id -u) -eq 0 ]] || return 0
  id -u "$PGUSER_OS" >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PGUSER_OS"
}

# The checkout may live under /root (mode 700) or another private folder, e.g. in CI. The
# postgres user needs search (x) permission on every ancestor of its data dir. We grant
# exactly that, o+x (traverse, not list), on the ancestors that lack it, and say so.
ensure_traversable() {
  [[ $(id -u) -eq 0 ]] || return 0
  local path=$1 d=""
  local IFS=/
  for part in $path; do
    [[ -z $part ]] && continue
    d="$d/$part"
    if ! as_pg test -x "$d"; then
      log "granting o+x on $d so that $PGUSER_OS can reach its data directory"
      chmod o+x "$d"
    fi
  done
}

running() { [[ -d $DATA ]] && as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

init_cluster() {
  local pass pwfile
  log "initdb $NAME cluster in $DATA"
  # Alphanumeric only, so it needs no quoting inside a conninfo string.
  pass=$(head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9')
  pass=${pass:0:32}
  (umask 077 && printf '%s\n' "$pass" >"$DIR/superuser.pass")
  # initdb runs as the postgres user: hand it a copy of the password it can read, then drop it.
  pwfile=$(mktemp "$DIR/.pwfile.XXXXXX")
  printf '%s\n' "$pass" >"$pwfile"
  chown "$PGUSER_OS" "$pwfile"
  install -d -m 700 -o "$PGUSER_OS" "$DATA"
  local walargs=()
  [[ $NAME != walfull ]] || walargs=(--waldir="$DIR/walmnt/pg_wal" --wal-segsize=1)
  # --auth-local=peer: the unix socket admits only the OS user that owns the cluster.
  # --data-checksums: detect silent storage corruption; this is a ledger.
  if ! as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres --pwfile="$pwfile" \
    --auth-host=scram-sha-256 --auth-local=peer \
    --encoding=UTF8 --locale=C.UTF-8 --data-checksums "${walargs[@]}" >"$DIR/initdb.log" 2>&1; then
    rm -f "$pwfile"
    cat "$DIR/initdb.log" >&2
    rm -rf "$DATA" # a half-made cluster would make the next start skip initdb
    die "initdb failed"
  fi
  rm -f "$pwfile"
  # Our settings live in their own file so a regenerated ledger.conf (new port...) wins.
  echo "include 'ledger.conf'" | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
}

write_conf() {
  local sockdir=$SOCK
  # A unix socket path is limited to 107 bytes; in a deep checkout we go TCP-only instead.
  if ((${#SOCK} + 20 > 107)); then
    log "socket path too long, unix socket disabled for $NAME"
    sockdir=""
  fi
  install -d -m 700 -o "$PGUSER_OS" "$SOCK"
  as_pg tee "$DATA/ledger.conf" >/dev/null <<EOF
# Generated by scripts/pg.sh on every start: edit the script, not this file.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$sockdir'
unix_socket_permissions = 0700
max_connections = 300
shared_buffers = 256MB
# Durability is not negotiable for a ledger, even locally: tests must see the real behaviour.
fsync = on
synchronous_commit = on
full_page_writes = on
password_encryption = scram-sha-256
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  if [[ $NAME == walfull ]]; then
    as_pg tee -a "$DATA/ledger.conf" >/dev/null <<EOF
# pg_wal on a small filesystem (tests/chaos/chaos_wal_full.c): checkpoints keep it small.
max_wal_size = 32MB
min_wal_size = 2MB
shared_buffers = 32MB
EOF
  fi
  if [[ -f $DIR/server.crt && -f $DIR/server.key ]]; then
    install -m 600 -o "$PGUSER_OS" "$DIR/server.crt" "$DATA/server.crt"
    install -m 600 -o "$PGUSER_OS" "$DIR/server.key" "$DATA/server.key"
    as_pg tee -a "$DATA/ledger.conf" >/dev/null <<EOF
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
EOF
    log "$NAME: TLS on with $DIR/server.crt"
  fi
}

# WAL archiving: each completed segment is copied into wal-archive/ (never overwriting one that
# is there), where a base backup's recovery reads it back (restore_command).
archive_conf() {
  [[ $NAME == pitr || ${LEDGER_PG_WAL_ARCHIVE:-0} == 1 ]] || return 0
  install -d -m 700 -o "$PGUSER_OS" "$DIR/wal-archive"
  as_pg tee -a "$DATA/ledger.conf" >/dev/null <<EOF
# WAL archiving (LEDGER_PG_WAL_ARCHIVE=1 or the pitr server): see deploy/postgresql/PITR.md.
wal_level = replica
archive_mode = on
archive_command = 'test ! -f $DIR/wal-archive/%f && cp %p $DIR/wal-archive/%f'
archive_timeout = 60
EOF
}

write_dsn() {
  local pass
  pass=$(<"$DIR/superuser.pass")
  (umask 077 && printf 'host=127.0.0.1 port=%s user=postgres password=%s dbname=postgres\n' \
    "$PORT" "$pass" >"$DIR/admin.dsn")
}

start() {
  [[ -n $PORT ]] || die "no port for server '$NAME' in stack '$LEDGER_STACK' (set LEDGER_PG2_PORT)"
  if running; then
    log "$NAME already running on port $PORT"
    write_dsn
    return 0
  fi
  ! port_in_use "$PORT" || die "port $PORT is already in use (set LEDGER_PG_PORT / LEDGER_PG2_PORT)"
  ensure_os_user
  mkdir -p "$DIR"
  chmod 755 "$DIR" # the postgres user enters it; the secrets inside are 600
  ensure_traversable "$DIR"
  [[ -f $DATA/PG_VERSION ]] || init_cluster
  write_conf
  archive_conf
  # pg_ctl -l opens the log as the postgres user.
  touch "$LOGFILE" && chown "$PGUSER_OS" "$LOGFILE"
  # -w waits until the server accepts connections (it reads postmaster.pid's status line).
  if ! as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 start >/dev/null; then
    tail -n 30 "$LOGFILE" >&2
    die "PostgreSQL $NAME failed to start on port $PORT (log: $LOGFILE)"
  fi
  # And make sure TCP on our port really answers (not only the socket).
  local i
  for ((i = 0; i < 100; i++)); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
    sleep 0.1
  done
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" || die "PostgreSQL $NAME not answering on 127.0.0.1:$PORT"
  write_dsn
  log "$NAME up on 127.0.0.1:$PORT (dsn: $DIR/admin.dsn)"
}

stop() {
  if ! running; then
    log "$NAME not running"
    return 0
  fi
  as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
  log "$NAME stopped"
}

# A base backup of the running server NAME into $DIR/basebackup (replacing an older one), as the
# OS user that runs postgres so that the copy can be started as it is.
basebackup() {
  running || die "$NAME is not running"
  rm -rf "$DIR/basebackup"
  install -d -m 700 -o "$PGUSER_OS" "$DIR/basebackup"
  PGPASSWORD=$(<"$DIR/superuser.pass") as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PORT" \
    -U postgres -D "$DIR/basebackup" -Fp -X stream -c fast
  log "base backup of $NAME in $DIR/basebackup"
}

# recover DEST SRC TIME: DEST (this NAME) becomes a copy of SRC's base backup that replays SRC's
# archived WAL up to TIME, then is promoted (accepts writes, a new timeline).
recover() {
  local src=${3:-} target=${4:-} sdir
  [[ -n $src && -n $target ]] || die "usage: pg.sh recover DEST SRC 'TIME'"
  sdir="$LEDGER_VAR/pg-$src"
  [[ -d $sdir/basebackup ]] || die "no base backup of $src (pg.sh basebackup $src)"
  ! running || stop
  rm -rf "$DIR"
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  cp -a "$sdir/basebackup" "$DATA"
  # The copy's superuser is the source's.
  (umask 077 && cp "$sdir/superuser.pass" "$DIR/superuser.pass")
  # postgresql.auto.conf is read last: the recovery settings win over ledger.conf.
  as_pg tee -a "$DATA/postgresql.auto.conf" >/dev/null <<EOF
restore_command = 'cp $sdir/wal-archive/%f %p'
recovery_target_time = '$target'
recovery_target_action = 'promote'
EOF
  as_pg touch "$DATA/recovery.signal"
  log "recovering $NAME from $src's base backup to $target"
  start
}

case "$cmd" in
  start) start ;;
  basebackup) basebackup ;;
  recover) recover "$@" ;;
  stop) stop ;;
  status)
    if running; then
      echo "$NAME: running on 127.0.0.1:$PORT"
    else
      echo "$NAME: not running"
      exit 3
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status|basebackup [main|second|tls|pitr|pitr-restored|walfull]" >&2
    echo "       $0 recover pitr-restored pitr 'TIME'" >&2
    exit 2
    ;;
esac
