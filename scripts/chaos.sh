#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# scripts/chaos.sh ACTION [ARGS]: the faults the chaos scenarios (tests/chaos/, ctest label
# "chaos") inject into the stack of $LEDGER_STACK (the test stack under make test). Each action
# returns once the fault is in place (or gone again):
#   kafka-kill            SIGKILL the broker JVM and wait until it is gone
#   kafka-start           start the broker again (scripts/kafka.sh start)
#   pg-kill NAME          SIGKILL the postmaster of server NAME (main, second), then its
#                         backends and auxiliary processes (those that have not noticed its
#                         death within 5 s), as after a crash: nothing is flushed or shut down
#                         cleanly; returns once no process of the cluster is left
#   pg-start NAME         start it again (crash recovery replays its WAL); first waits for any
#                         process of the cluster still holding its shared memory
#   net-check             exit 77 unless we are root with iptables and ss (the net-* actions)
#   net-cut PEER          black-hole TCP on the loopback port of PEER (pg-main, pg-second,
#                         kafka, pg-walfull): iptables DROP both ways, so connections hang
#                         rather than fail; rules live in the chain ledger-chaos-$LEDGER_PG_PORT
#   net-heal PEER         remove that cut (connections that survived it carry on)
#   net-forget PEER       destroy the server side of PEER's established connections (ss -K), as
#                         a server host that crashed or a middlebox that dropped the flows would:
#                         during a cut, the clients hear nothing of it
#   net-restore           remove every rule the net-* actions may have added (the chain too)
#   walfull-check         exit 77 unless we are root with losetup, mkfs.ext4 and fallocate
#   walfull-up            a 96 MiB ext4 image (var/test/walfull.img) loop-mounted on
#                         pg-walfull/walmnt, and the PostgreSQL server walfull (pg.sh) whose
#                         pg_wal lives there; its admin conninfo in pg-walfull/admin.dsn
#   walfull-fill          fill that filesystem to the last block (filler files)
#   walfull-free          remove the filler files
#   walfull-start         start the server walfull again when it is not running
#   walfull-down          stop the server walfull, unmount, detach the loop device, delete the
#                         image (idempotent: scripts/test.sh runs it when it stops the stack)
set -euo pipefail
source "$(dirname "$0")/env.sh"
S="$(dirname "$0")"

# SIGKILL pid and wait until it is gone (at most 30 s).
kill_wait() {
  local pid=$1 i
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  die "process $pid still alive 30 s after SIGKILL"
}

CHAIN="ledger-chaos-$LEDGER_PG_PORT"
WALFULL_DIR="$LEDGER_VAR/pg-walfull"
WALFULL_MNT="$WALFULL_DIR/walmnt"
WALFULL_IMG="$LEDGER_VAR/walfull.img"

# The loopback port of a peer of the stack (never a port of another stack).
peer_port() {
  case "$1" in
    pg-main) echo "$LEDGER_PG_PORT" ;;
    pg-second) echo "${LEDGER_PG2_PORT:?no second server in this stack}" ;;
    pg-walfull) echo "$((LEDGER_PG_PORT + 20))" ;;
    kafka) echo "$LEDGER_KAFKA_PORT" ;;
    *) die "unknown peer '$1' (pg-main, pg-second, pg-walfull, kafka)" ;;
  esac
}

# The two DROP rules of a cut: to the port and from it (loopback packets pass INPUT either way).
cut_rule() {
  local op=$1 port=$2
  iptables -w "$op" "$CHAIN" -i lo -p tcp --dport "$port" -j DROP
  iptables -w "$op" "$CHAIN" -i lo -p tcp --sport "$port" -j DROP
}

net_restore() {
  command -v iptables >/dev/null 2>&1 || return 0
  [[ $(id -u) -eq 0 ]] || return 0
  while iptables -w -D INPUT -i lo -p tcp -j "$CHAIN" 2>/dev/null; do :; done
  iptables -w -F "$CHAIN" 2>/dev/null || true
  iptables -w -X "$CHAIN" 2>/dev/null || true
}

walfull_down() {
  local pidfile="$WALFULL_DIR/data/postmaster.pid" dev
  if [[ -d $WALFULL_DIR/data ]]; then
    "$S/pg.sh" stop walfull || true
    # A postmaster that would not stop (its pid file names a live postgres process).
    if [[ -s $pidfile ]] && grep -qa postgres "/proc/$(head -1 "$pidfile")/cmdline" 2>/dev/null; then
      kill_wait "$(head -1 "$pidfile")"
    fi
  fi
  if mountpoint -q "$WALFULL_MNT" 2>/dev/null; then
    umount "$WALFULL_MNT" 2>/dev/null || umount -l "$WALFULL_MNT"
  fi
  if [[ -e $WALFULL_IMG ]]; then
    for dev in $(losetup -n -O NAME -j "$WALFULL_IMG" 2>/dev/null); do
      losetup -d "$dev" || true
    done
    rm -f "$WALFULL_IMG"
  fi
  return 0
}

# The processes of the cluster in DATA: every postgres process has its data directory as its
# working directory (the postmaster changes into it and its children inherit it); after the
# postmaster's death they are orphans, so this is how they are found.
pg_procs() {
  local data pid
  data=$(readlink -f "$1")
  for pid in $(find /proc/[0-9]*/cwd -maxdepth 0 -lname "$data" 2>/dev/null |
    cut -d/ -f3); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q postgres || continue
    alive "$pid" && echo "$pid"
  done
}

# Waits up to $2 tenths of a second until no process of the cluster in $1 is left; with "kill"
# as $3, SIGKILLs those still there after that and waits for them (at most 10 s more).
pg_wait_gone() {
  local data=$1 tenths=$2 i pids
  for ((i = 0; i < tenths; i++)); do
    pids=$(pg_procs "$data")
    [[ -z $pids ]] && return 0
    sleep 0.1
  done
  [[ ${3:-} == kill ]] || die "processes of $data still running: $pids"
  log "SIGKILL to the processes of $data left after the postmaster: ${pids//$'\n'/ }"
  # shellcheck disable=SC2086 # one pid a word
  kill -KILL $pids 2>/dev/null || true
  pg_wait_gone "$data" 100
}

action=${1:-}
shift || true
case "$action" in
  kafka-kill)
    pidfile="$LEDGER_VAR/kafka/kafka.pid"
    [[ -s $pidfile ]] || die "no broker pid in $pidfile"
    kill_wait "$(<"$pidfile")"
    ;;
  kafka-start) "$S/kafka.sh" start ;;
  pg-kill)
    name=${1:?pg-kill NAME}
    pidfile="$LEDGER_VAR/pg-$name/data/postmaster.pid"
    [[ -s $pidfile ]] || die "no postmaster.pid for server $name"
    kill_wait "$(head -1 "$pidfile")"
    # Backends notice the postmaster's death at their next wait and exit; one busy in a long
    # statement may linger and keep the shared memory attached, which makes a new postmaster
    # refuse to start. A real crash leaves nothing behind: kill what is left after 5 s.
    pg_wait_gone "$LEDGER_VAR/pg-$name/data" 50 kill
    ;;
  pg-start)
    name=${1:?pg-start NAME}
    # pg.sh start runs pg_ctl as the server's user; postmaster.pid is stale and is replaced
    # once no process of the old cluster holds its shared memory.
    pg_wait_gone "$LEDGER_VAR/pg-$name/data" 300
    "$S/pg.sh" start "$name"
    ;;
  net-check)
    [[ $(id -u) -eq 0 ]] && command -v iptables >/dev/null && command -v ss >/dev/null || exit 77
    iptables -w -S INPUT >/dev/null 2>&1 || exit 77
    ;;
  net-cut)
    port=$(peer_port "${1:?net-cut PEER}")
    if ! iptables -w -S "$CHAIN" >/dev/null 2>&1; then
      iptables -w -N "$CHAIN"
    fi
    iptables -w -C INPUT -i lo -p tcp -j "$CHAIN" 2>/dev/null ||
      iptables -w -I INPUT 1 -i lo -p tcp -j "$CHAIN"
    cut_rule -A "$port"
    log "cut: TCP on 127.0.0.1:$port dropped ($CHAIN)"
    ;;
  net-heal)
    port=$(peer_port "${1:?net-heal PEER}")
    while cut_rule -D "$port" 2>/dev/null; do :; done
    log "healed: 127.0.0.1:$port"
    ;;
  net-forget)
    port=$(peer_port "${1:?net-forget PEER}")
    ss -K -t state established "( sport = :$port )" >/dev/null
    ;;
  net-restore) net_restore ;;
  walfull-check)
    [[ $(id -u) -eq 0 ]] || exit 77
    for tool in losetup mkfs.ext4 fallocate mountpoint; do
      command -v "$tool" >/dev/null || exit 77
    done
    ;;
  walfull-up)
    walfull_down
    rm -rf "$WALFULL_DIR" # its pg_wal was on the image just deleted
    mkdir -p "$WALFULL_MNT"
    truncate -s 96M "$WALFULL_IMG"
    mkfs.ext4 -q -F -m 0 "$WALFULL_IMG"
    mount -o loop "$WALFULL_IMG" "$WALFULL_MNT"
    rmdir "$WALFULL_MNT/lost+found" 2>/dev/null || true
    chown ledgerpg "$WALFULL_MNT" 2>/dev/null || true # pg.sh makes the user on its first start
    "$S/pg.sh" start walfull
    ;;
  walfull-fill)
    # fallocate takes the free blocks at once; dd then takes any left over.
    avail=$(df -B1 --output=avail "$WALFULL_MNT" | tail -1 | tr -d ' ')
    ((avail <= 0)) || fallocate -l "$avail" "$WALFULL_MNT/filler" 2>/dev/null || true
    dd if=/dev/zero of="$WALFULL_MNT/filler2" bs=4k status=none 2>/dev/null || true
    sync -f "$WALFULL_MNT"
    log "walfull: $(df -h --output=used,avail "$WALFULL_MNT" | tail -1) (used, free)"
    ;;
  walfull-free)
    rm -f "$WALFULL_MNT/filler" "$WALFULL_MNT/filler2"
    log "walfull: $(df -h --output=used,avail "$WALFULL_MNT" | tail -1) (used, free)"
    ;;
  walfull-start)
    "$S/pg.sh" status walfull >/dev/null || "$S/pg.sh" start walfull
    ;;
  walfull-down) walfull_down ;;
  *)
    die "usage: scripts/chaos.sh kafka-kill|kafka-start|pg-kill NAME|pg-start NAME|net-check|net-cut PEER|net-heal PEER|net-forget PEER|net-restore|walfull-check|walfull-up|walfull-fill|walfull-free|walfull-start|walfull-down"
    ;;
esac
