#!/usr/bin/env bash
# Load test: 1,000 concurrent pgbench sessions straight to PostgreSQL and through gatehouse, in
# the same run, with p50/p99 latency from pgbench's per-transaction logs, errors, and the
# gateway's resident memory with no sessions, with 1,000 idle sessions and with 1,000 active
# ones.
#
#   bench/load.sh                          # 1,000 clients, 20 s per active run (~3 min)
#   DURATION=10 IDLE_HOLD=8 bench/load.sh  # shorter
#   CLIENTS=200 bench/load.sh              # fewer sessions
#   RATE=5000 bench/load.sh                # throttled (pgbench -R, total tx/s): latency below saturation
#
# What it does:
#   1. builds gatehouse (cargo build --release -p gatehouse --bin gatehouse);
#   2. starts a throwaway PostgreSQL cluster (initdb from /usr/lib/postgresql/<newest>/bin, trust
#      auth, max_connections = CLIENTS + 100 and at least 1100, fsync off, on a free loopback
#      port, in a temp dir; as root the cluster runs as $PG_OS_USER via runuser, since initdb
#      refuses root) and fills it with pgbench -i -s $SCALE — the machine's own PostgreSQL
#      allows only 100 connections;
#   3. starts gatehouse with its default configuration (TLS required, audit log and session
#      recordings on), as bench/pgbench.sh starts its gh-tls target, with a connection `bench`
#      to the cluster and a key for identity `bench` in group `readers`;
#   4. idle: CLIENTS pgbench sessions through gatehouse (sslmode=require, the key as password)
#      that connect, sleep IDLE_HOLD seconds, run SELECT 1 and leave: the gateway's RSS is read
#      while all of them are open (gatehouse_pg_sessions_active = CLIENTS on /metrics);
#   5. active: pgbench -n -S -c CLIENTS -j THREADS -T DURATION --log, first direct to the cluster
#      (sslmode=disable, as bench/pgbench.sh's `direct`), then through gatehouse (sslmode=require);
#      p50/p99 come from the per-transaction logs, without the first and last TRIM seconds;
#      the gateway's RSS, descriptors and sessions, and the CPU time of gatehouse, pgbench and
#      the cluster, are sampled every second;
#   6. checks the gateway's RSS once all sessions are gone (after each of ACTIVE_ROUNDS runs
#      through gatehouse), and runs `gatehouse audit verify`.
# Every pgbench run is under `timeout`, so the script stops by itself. Processes it started
# (gatehouse, pgbench, the cluster's postmaster, the sampler) and the temp dir are removed on
# exit, also on failure or Ctrl-C.
#
# Output: progress on stderr; the tables (markdown) on stdout. Exit status 0 when the run
# completed (the error counts are reported, not asserted), non-zero when it could not be done.
#
# Needs: pgbench, psql, initdb/pg_ctl (/usr/lib/postgresql/*/bin), curl, cargo; as root, the
# OS user $PG_OS_USER and runuser.
#
# Environment:
#   CLIENTS=1000       concurrent sessions (idle and active phases)
#   THREADS=2          pgbench -j
#   DURATION=20        seconds of each active run (direct, then gatehouse)
#   IDLE_HOLD=10       seconds the idle sessions stay open once all are connected
#   TRIM=2             seconds left out at each end of the active runs for p50/p99/mean (the
#                      connection burst at the start, the disconnections at the end)
#   RATE=              pgbench -R (total transactions/s) for both active runs; empty = as fast as possible
#   SCALE=10           pgbench -i scale factor
#   CONNECT_BUDGET=120 seconds allowed, on top of DURATION/IDLE_HOLD, for pgbench to connect all
#                      sessions and finish before `timeout` stops it
#   ACTIVE_ROUNDS=1    runs of the active phase through gatehouse; with more, the gateway's RSS once
#                      each round's sessions have closed is reported (latency is from round 1)
#   GATEHOUSE_WRAPPER= command words put before `gatehouse serve`, e.g.
#                      "env LD_PRELOAD=/lib/x86_64-linux-gnu/libjemalloc.so.2" to try another malloc
#   POLICY_FILE=       Cedar policy for gatehouse (default policies/quickstart.cedar; the key is
#                      in group `readers`, which must be allowed to connect and read)
#   PG_OS_USER=postgres  OS user that runs the throwaway cluster when this script runs as root
#   PG_BIN=            directory with initdb and pg_ctl (default: newest /usr/lib/postgresql/*/bin)
#   SKIP_BUILD=0       1 uses the existing $CARGO_TARGET_DIR/release/gatehouse without cargo build
#   MARKDOWN_OUT=      also write the markdown tables to this file
#   KEEP_LOGS=0        1 keeps the temp dir (pgbench outputs and logs, gatehouse and cluster logs)
#   CARGO_TARGET_DIR   defaults to /root/.cache/gatehouse-target

set -euo pipefail

CLIENTS=${CLIENTS:-1000}
THREADS=${THREADS:-2}
DURATION=${DURATION:-20}
IDLE_HOLD=${IDLE_HOLD:-10}
RATE=${RATE:-}
SCALE=${SCALE:-10}
CONNECT_BUDGET=${CONNECT_BUDGET:-120}
TRIM=${TRIM:-2}
ACTIVE_ROUNDS=${ACTIVE_ROUNDS:-1}
GATEHOUSE_WRAPPER=${GATEHOUSE_WRAPPER:-}
POLICY_FILE=${POLICY_FILE:-}
PG_OS_USER=${PG_OS_USER:-postgres}
PG_BIN=${PG_BIN:-}
SKIP_BUILD=${SKIP_BUILD:-0}
MARKDOWN_OUT=${MARKDOWN_OUT:-}
KEEP_LOGS=${KEEP_LOGS:-0}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/gatehouse-target}

[[ "${TRIM:-2}" =~ ^[0-9]+$ ]] || { echo "TRIM must be a whole number of seconds" >&2; exit 2; }
for var in CLIENTS THREADS DURATION IDLE_HOLD SCALE CONNECT_BUDGET ACTIVE_ROUNDS; do
    [[ "${!var}" =~ ^[1-9][0-9]*$ ]] || { echo "$var must be a positive whole number" >&2; exit 2; }
done
[[ -z "$RATE" || "$RATE" =~ ^[1-9][0-9]*$ ]] || { echo "RATE must be empty or a positive whole number" >&2; exit 2; }
((THREADS <= CLIENTS)) || { echo "THREADS must not exceed CLIENTS" >&2; exit 2; }
((2 * TRIM < DURATION)) || { echo "2 * TRIM must be less than DURATION" >&2; exit 2; }

BENCH_DB=gh_load
PG_HOST=127.0.0.1
PG_SUPERUSER=postgres

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
POLICY_FILE=${POLICY_FILE:-$REPO/policies/quickstart.cedar}
WORK=$(mktemp -d /tmp/gh-load.XXXXXX)
PIDS=()
PGDATA=
AS_PG=()

log() { printf '[load.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
    local status=$?
    set +e
    for pid in "${PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    # The postmaster is pg_ctl's grandchild, not ours: stop it by its pid file, then by its pid.
    if [[ -n "$PGDATA" && -s "$PGDATA/postmaster.pid" ]]; then
        local postmaster
        postmaster=$(head -n1 "$PGDATA/postmaster.pid")
        "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 20 stop >/dev/null 2>&1
        if [[ "$postmaster" =~ ^[0-9]+$ ]] && kill -0 "$postmaster" 2>/dev/null; then
            kill -KILL "$postmaster" 2>/dev/null
        fi
    fi
    if [[ "$KEEP_LOGS" == 1 ]]; then
        log "kept logs in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 - <<'EOF' 2>/dev/null && return 0
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if ! ss -Hltn "sport = :$port" | grep -q .; then
            echo "$port"
            return 0
        fi
    done
    die "no free loopback port found"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# Busy and total jiffies of the whole machine (for "how loaded were the 2 cores").
machine_ticks() { awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 }' /proc/stat; }
CLK_TCK=$(getconf CLK_TCK)

# gatehouse_pg_sessions_active from the admin listener (0 before the gauge exists).
gh_sessions() {
    local body
    body=$(curl -fsS --max-time 2 "http://$GH_ADMIN/metrics" 2>/dev/null) || { echo "?"; return 0; }
    awk '$1 == "gatehouse_pg_sessions_active" { n = $2 } END { printf "%d\n", n + 0 }' <<<"$body"
}

field() { # file sed-expression
    sed -n "$2" "$1" | head -n1
}

# Errors in one pgbench output: failed transactions, aborted clients, pgbench error lines
# (connection failures and the like).
count_errors() { # file -> "failed aborted errors"
    local failed aborted errors
    failed=$(field "$1" 's/^number of failed transactions: \([0-9]*\).*/\1/p')
    aborted=$(grep -c -E 'client [0-9]+ aborted' "$1" || true)
    errors=$(grep -c -E 'pgbench: error|could not create connection|connection to (server|database).* failed' "$1" || true)
    echo "${failed:-?} $aborted $errors"
}

psql_cluster() {
    psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" "$@"
}

# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------
for tool in pgbench psql curl timeout; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
if [[ -z "$PG_BIN" ]]; then
    PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)
fi
[[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] || die "no initdb/pg_ctl in '${PG_BIN}' (set PG_BIN)"
if [[ $(id -u) == 0 ]]; then
    id "$PG_OS_USER" >/dev/null 2>&1 || die "running as root needs the OS user $PG_OS_USER for the cluster (set PG_OS_USER)"
    command -v runuser >/dev/null || die "running as root needs runuser"
    AS_PG=(runuser -u "$PG_OS_USER" --)
fi

# File descriptors: the gateway holds a client and a server socket per session, pgbench one per
# client. Children inherit this shell's limit.
FD_NEED=$((4 * CLIENTS + 1024))
if (($(ulimit -n) < FD_NEED)); then
    ulimit -n "$FD_NEED" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    (($(ulimit -n) >= 2 * CLIENTS + 256)) || die "open files limit $(ulimit -n) is too low for $CLIENTS sessions (hard limit $(ulimit -Hn))"
fi
log "open files limit: $(ulimit -n); $(nproc) CPUs; $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"

# ---------------------------------------------------------------------------------------------
# Build gatehouse (release)
# ---------------------------------------------------------------------------------------------
if [[ "$SKIP_BUILD" != 1 ]]; then
    log "building gatehouse (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    (cd "$REPO" && cargo build --release -p gatehouse --bin gatehouse) >&2
fi
GATEHOUSE="$CARGO_TARGET_DIR/release/gatehouse"
[[ -x "$GATEHOUSE" ]] || die "no binary at $GATEHOUSE"
REVISION=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD -- 2>/dev/null || REVISION="$REVISION + uncommitted changes"
if [[ "$SKIP_BUILD" == 1 ]]; then
    REVISION="binary built $(date -u -r "$GATEHOUSE" '+%Y-%m-%d %H:%M UTC') (SKIP_BUILD=1; the tree is now at $REVISION)"
fi
[[ -r "$POLICY_FILE" ]] || die "cannot read POLICY_FILE $POLICY_FILE"

# ---------------------------------------------------------------------------------------------
# Throwaway PostgreSQL cluster
# ---------------------------------------------------------------------------------------------
chmod 755 "$WORK"
PGDATA="$WORK/pgdata"
PG_PORT=$(free_port)
MAX_CONNECTIONS=$((CLIENTS + 100 > 1100 ? CLIENTS + 100 : 1100))
mkdir -p "$PGDATA"
chmod 700 "$PGDATA"
[[ ${#AS_PG[@]} -gt 0 ]] && chown "$PG_OS_USER" "$PGDATA"
log "initdb $PGDATA ($("$PG_BIN/postgres" --version))"
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$PGDATA" -U "$PG_SUPERUSER" -A trust -E UTF8 --no-sync >"$WORK/initdb.log" 2>&1 \
    || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
cat >>"$PGDATA/postgresql.conf" <<EOF

# bench/load.sh
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PGDATA'
max_connections = $MAX_CONNECTIONS
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
log "starting the cluster on $PG_HOST:$PG_PORT (max_connections = $MAX_CONNECTIONS)"
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start >"$WORK/pg_ctl.log" 2>&1 \
    || { cat "$WORK/pg_ctl.log" "$PGDATA/server.log" >&2; die "the cluster did not start"; }
[[ $(psql_cluster -d postgres -Atc 'SHOW max_connections') == "$MAX_CONNECTIONS" ]] || die "max_connections was not applied"
POSTMASTER=$(head -n1 "$PGDATA/postmaster.pid")
psql_cluster -d postgres -c "CREATE DATABASE $BENCH_DB"
log "pgbench -i -s $SCALE"
pgbench -i -q -s "$SCALE" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" "$BENCH_DB" >"$WORK/init.log" 2>&1 \
    || { cat "$WORK/init.log" >&2; die "pgbench -i failed"; }

# ---------------------------------------------------------------------------------------------
# gatehouse, configured as bench/pgbench.sh's gh-tls (defaults: TLS required, audit and
# recordings on). max_sessions stays at its default (1024) unless CLIENTS needs more.
# ---------------------------------------------------------------------------------------------
GH_DIR="$WORK/gatehouse"
mkdir -p "$GH_DIR"
MAX_SESSIONS_LINE=""
((CLIENTS + 8 > 1024)) && MAX_SESSIONS_LINE="max_sessions = $((CLIENTS + 64))"
cat >"$GH_DIR/gatehouse.toml" <<EOF
[policy]
files = ["$POLICY_FILE"]

[postgres]
listen = "127.0.0.1:0"
shutdown_grace = "2s"
$MAX_SESSIONS_LINE

[admin]
listen = "127.0.0.1:0"

[[connections]]
name = "bench"
kind = "postgres"
host = "$PG_HOST"
port = $PG_PORT
database = "$BENCH_DB"
user = "$PG_SUPERUSER"
EOF
GH_TOKEN=$("$GATEHOUSE" --config "$GH_DIR/gatehouse.toml" --data-dir "$GH_DIR/data" \
    keys create --identity bench --groups readers --ttl 2h | tail -n1)
[[ -n "$GH_TOKEN" ]] || die "keys create printed no token"
read -r -a WRAPPER <<<"$GATEHOUSE_WRAPPER"
GATEHOUSE_LOG=${GATEHOUSE_LOG:-info} "${WRAPPER[@]}" "$GATEHOUSE" --config "$GH_DIR/gatehouse.toml" --data-dir "$GH_DIR/data" serve \
    >"$GH_DIR/serve.log" 2>&1 &
GH_PID=$!
PIDS+=("$GH_PID")
for _ in $(seq 300); do
    [[ -s "$GH_DIR/data/listeners.json" ]] && break
    kill -0 "$GH_PID" 2>/dev/null || { cat "$GH_DIR/serve.log" >&2; die "gatehouse exited before listening"; }
    sleep 0.1
done
[[ -s "$GH_DIR/data/listeners.json" ]] || die "gatehouse did not start in 30 s"
GH_PORT=$(sed -n 's/.*"postgres":"[^"]*:\([0-9]*\)".*/\1/p' "$GH_DIR/data/listeners.json")
GH_ADMIN=$(sed -n 's/.*"admin":"\([^"]*\)".*/\1/p' "$GH_DIR/data/listeners.json")
[[ -n "$GH_PORT" && -n "$GH_ADMIN" ]] || die "cannot read the listeners from listeners.json"
log "gatehouse listening on 127.0.0.1:$GH_PORT, admin $GH_ADMIN (pid $GH_PID, open files limit $(awk '/Max open files/ { print $4 }' "/proc/$GH_PID/limits"))"
sleep 1
RSS_START=$(rss_kib "$GH_PID")

# ---------------------------------------------------------------------------------------------
# pgbench runs: in the background (so cleanup can stop them), under timeout.
# ---------------------------------------------------------------------------------------------
PGBENCH_PID=
start_pgbench() { # target(direct|gatehouse) out-file time-limit -- pgbench args...
    local target=$1 out=$2 limit=$3
    shift 3
    local host port user db password sslmode
    if [[ "$target" == direct ]]; then
        host=$PG_HOST port=$PG_PORT user=$PG_SUPERUSER db=$BENCH_DB password="" sslmode=disable
    else
        host=127.0.0.1 port=$GH_PORT user=bench db=bench password=$GH_TOKEN sslmode=require
    fi
    PGPASSWORD=$password PGSSLMODE=$sslmode PGCONNECT_TIMEOUT=30 \
        timeout -k 10 "$limit" pgbench -h "$host" -p "$port" -U "$user" "$@" "$db" >"$out" 2>&1 &
    PGBENCH_PID=$!
    PIDS+=("$PGBENCH_PID")
}

wait_pgbench() { # -> status of the last started pgbench
    local status=0
    wait "$PGBENCH_PID" || status=$?
    return "$status"
}

wait_sessions() { # count timeout-seconds -> 0 when gatehouse_pg_sessions_active == count
    local want=$1 deadline=$((SECONDS + $2)) now
    while ((SECONDS < deadline)); do
        now=$(gh_sessions)
        [[ "$now" == "$want" ]] && return 0
        sleep 0.5
    done
    return 1
}

wait_quiet() { # gateway sessions 0 and no client backends left on the cluster
    wait_sessions 0 60 || log "warning: gatehouse still reports $(gh_sessions) sessions"
    for _ in $(seq 120); do
        [[ $(psql_cluster -d postgres -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()") == 0 ]] && return 0
        sleep 0.5
    done
    log "warning: client backends are still open on the cluster"
}

# Smoke test both paths (also warms caches and the gateway's allocator) before measuring.
for target in direct gatehouse; do
    start_pgbench "$target" "$WORK/smoke-$target.log" 60 -n -S -T 2 -c 1 -j 1
    wait_pgbench || { cat "$WORK/smoke-$target.log" >&2; tail -n 20 "$GH_DIR/serve.log" >&2; die "smoke test $target failed"; }
done
wait_quiet
sleep 1
RSS_BASE=$(rss_kib "$GH_PID")
FD_BASE=$(fd_count "$GH_PID")
log "gatehouse RSS: $RSS_START KiB at start, $RSS_BASE KiB with no sessions after warm-up ($FD_BASE fds)"

# ---------------------------------------------------------------------------------------------
# Idle: CLIENTS sessions through gatehouse that connect, then sleep IDLE_HOLD seconds.
# pgbench connects every client before the script starts, so all are open during the sleep.
# ---------------------------------------------------------------------------------------------
printf '\\sleep %s s\nSELECT 1;\n' "$IDLE_HOLD" >"$WORK/idle.sql"
log "idle: opening $CLIENTS sessions through gatehouse (each sleeps ${IDLE_HOLD}s, then SELECT 1)"
t0=$SECONDS
start_pgbench gatehouse "$WORK/idle.log" $((IDLE_HOLD + CONNECT_BUDGET)) -n -c "$CLIENTS" -j "$THREADS" -t 1 -f "$WORK/idle.sql"
RSS_IDLE=0 FD_IDLE=0 IDLE_OK=0
if wait_sessions "$CLIENTS" "$CONNECT_BUDGET"; then
    log "idle: $CLIENTS sessions open after $((SECONDS - t0)) s"
    # Read a few times while they sit idle; keep the largest.
    for _ in 1 2 3; do
        sleep 1
        [[ $(gh_sessions) == "$CLIENTS" ]] || break
        rss=$(rss_kib "$GH_PID")
        ((rss > RSS_IDLE)) && RSS_IDLE=$rss
        fds=$(fd_count "$GH_PID")
        ((fds > FD_IDLE)) && FD_IDLE=$fds
    done
    IDLE_OK=1
else
    log "warning: gatehouse reached only $(gh_sessions) of $CLIENTS sessions in ${CONNECT_BUDGET}s"
fi
IDLE_STATUS=0
wait_pgbench || IDLE_STATUS=$?
log "idle: RSS $RSS_IDLE KiB, $FD_IDLE fds with $CLIENTS idle sessions; pgbench exit status $IDLE_STATUS"
wait_quiet

# ---------------------------------------------------------------------------------------------
# Active: direct, then through gatehouse; the gateway is sampled every second meanwhile.
# ---------------------------------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
ACTIVE_ARGS=(-n -S -c "$CLIENTS" -j "$THREADS" -T "$DURATION")
[[ -n "$RATE" ]] && ACTIVE_ARGS+=(-R "$RATE")

children() { cat /proc/"$1"/task/*/children 2>/dev/null || true; }
sched_ns() { # pids... -> nanoseconds on CPU, all threads (/proc/PID/task/*/schedstat; exact,
    # unlike the 10-ms ticks of /proc/PID/stat, which lose the short runs of 1,000 light backends)
    local pid files=()
    for pid in "$@"; do files+=(/proc/"$pid"/task/*/schedstat); done
    if ((${#files[@]} == 0)); then echo 0; return 0; fi
    cat "${files[@]}" 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# CPU time (ns) of a whole process from /proc/PID/stat, which also counts threads that have
# exited (gatehouse's blocking and SQLite threads come and go); 10-ms ticks, fine for one busy
# process.
process_ns() { awk -v hz="$CLK_TCK" '{ printf "%.0f\n", ($14 + $15) * 1e9 / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# Every second: epoch, gateway RSS (KiB), fds, sessions, then CPU time (ns) of the gateway, of
# pgbench, of the cluster (postmaster and its children), the cluster's child count, and the
# machine's busy and total ticks.
sampler() { # out-file
    local pg_kids bench_kids
    while kill -0 "$GH_PID" 2>/dev/null; do
        read -r -d '' -a pg_kids < <(children "$POSTMASTER") || true
        read -r -d '' -a bench_kids < <(children "$PGBENCH_PID") || true
        printf '%s %s %s %s %s %s %s %s %s\n' "$EPOCHREALTIME" "$(rss_kib "$GH_PID")" "$(fd_count "$GH_PID")" \
            "$(gh_sessions)" "$(process_ns "$GH_PID")" "$(sched_ns "${bench_kids[@]}")" \
            "$(sched_ns "$POSTMASTER" "${pg_kids[@]}")" "${#pg_kids[@]}" "$(machine_ticks)" >>"$1"
        sleep 1
    done
}

# CPU while all sessions were connected (the cluster had >= CLIENTS children), from the first
# to the last such sample: cores of gatehouse, pgbench, PostgreSQL, the rest of the machine,
# the window's length and the transactions completed in it (from the per-transaction log).
cpu_window() { # samples-file txlog-prefix -> "gh pgbench pg other seconds txns"
    local window
    window=$(awk -v want="$CLIENTS" '$8 >= want { if (!n++) first = $0; last = $0 }
        END { if (n < 2) exit 1; print first; print last }' "$1") || { echo "- - - - 0 0"; return 0; }
    awk -v hz="$CLK_TCK" 'NR == 1 { t0 = $1; g0 = $5; b0 = $6; p0 = $7; busy0 = $9 }
        NR == 2 { d = $1 - t0; g = ($5 - g0) / 1e9 / d; b = ($6 - b0) / 1e9 / d; p = ($7 - p0) / 1e9 / d
                  busy = ($9 - busy0) / hz / d
                  printf "%.2f %.2f %.2f %.2f %.1f %d %d\n", g, b, p, busy - g - b - p, d, t0, $1 }' <<<"$window" |
        while read -r g b p o d t0 t1; do
            txns=$(cat "$2".* 2>/dev/null | awk -v a="$t0" -v z="$t1" '{ t = $5 + $6 / 1e6 } t >= a && t <= z { n++ } END { print n + 0 }')
            echo "$g $b $p $o $d $txns"
        done
}

declare -A STATUS CPU
DISTURBED=""
for target in direct gatehouse; do
    log "active: $CLIENTS clients $target for ${DURATION}s${RATE:+ at $RATE tx/s}"
    : >"$WORK/samples-$target.txt"
    start_pgbench "$target" "$WORK/active-$target.log" $((DURATION + CONNECT_BUDGET)) \
        "${ACTIVE_ARGS[@]}" --log --log-prefix="$WORK/txlog-$target"
    sampler "$WORK/samples-$target.txt" &
    SAMPLER_PID=$!
    PIDS+=("$SAMPLER_PID")
    STATUS[$target]=0
    wait_pgbench || STATUS[$target]=$?
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    CPU[$target]=$(cpu_window "$WORK/samples-$target.txt" "$WORK/txlog-$target")
    # The machine is shared: CPU that none of this run's processes used means someone else's
    # work competed with it (this run's own kernel work is about 0.1-0.2 cores).
    rest=$(cut -d' ' -f4 <<<"${CPU[$target]}")
    if awk -v r="$rest" 'BEGIN { exit !(r != "-" && r > 0.3) }'; then
        log "warning: $rest cores went to other work on the machine during the $target run; its figures are disturbed"
        DISTURBED="$DISTURBED $target ($rest cores)"
    fi
    log "active $target: pgbench exit status ${STATUS[$target]}; $(grep -E '^(tps|latency average|initial connection time|number of failed)' "$WORK/active-$target.log" | tr '\n' ';') cores gatehouse/pgbench/postgres/other, window s, txns: ${CPU[$target]}"
    wait_quiet
done

sleep 1
RSS_AFTER=$(rss_kib "$GH_PID")
FD_AFTER=$(fd_count "$GH_PID")
kill -0 "$GH_PID" 2>/dev/null || die "gatehouse exited during the run (see $GH_DIR/serve.log; KEEP_LOGS=1 keeps it)"
log "after: gatehouse RSS $RSS_AFTER KiB, $FD_AFTER fds, $(gh_sessions) sessions"

# More rounds through gatehouse (ACTIVE_ROUNDS > 1): does the memory come back once the
# sessions are gone? Latency figures are from round 1 only.
ROUNDS_LINE="1: $RSS_AFTER"
ROUND_ERRORS=""
for ((round = 2; round <= ACTIVE_ROUNDS; round++)); do
    log "active round $round/$ACTIVE_ROUNDS: $CLIENTS clients through gatehouse for ${DURATION}s"
    round_status=0
    start_pgbench gatehouse "$WORK/active-gatehouse-r$round.log" $((DURATION + CONNECT_BUDGET)) "${ACTIVE_ARGS[@]}"
    wait_pgbench || round_status=$?
    wait_quiet
    sleep 1
    rss=$(rss_kib "$GH_PID")
    ROUNDS_LINE="$ROUNDS_LINE, $round: $rss"
    read -r failed aborted errors < <(count_errors "$WORK/active-gatehouse-r$round.log")
    if [[ "$round_status$failed$aborted$errors" != 0000 ]]; then
        ROUND_ERRORS="$ROUND_ERRORS round $round: $failed failed txns, $aborted aborted clients, $errors error lines, exit status $round_status;"
    fi
    log "round $round: $(field "$WORK/active-gatehouse-r$round.log" 's/^\(tps = [0-9]*\).*/\1/p'); RSS after $rss KiB"
done
kill -0 "$GH_PID" 2>/dev/null || die "gatehouse exited during the run (see $GH_DIR/serve.log; KEEP_LOGS=1 keeps it)"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
VERIFY=$("$GATEHOUSE" --config "$GH_DIR/gatehouse.toml" --data-dir "$GH_DIR/data" audit verify 2>&1 | head -n1) || true
log "audit verify: $VERIFY"
GH_ERRORS=$(grep -c -E '"level":"(ERROR|WARN)"| (ERROR|WARN) ' "$GH_DIR/serve.log" || true)
log "gatehouse log: $GH_ERRORS ERROR/WARN lines"

# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
# Percentiles (ms) of a per-transaction log (one file per thread): column 3 is the latency in
# µs ("failed"/"skipped" otherwise), columns 5-6 when the transaction ended. p50/p99/mean are
# over the steady part, without the first and last TRIM seconds (the connection burst at the
# start; at the end pgbench closes 1,000 connections while the last transactions run, which
# adds up to a second to them, direct or not); p99 and max over all transactions are given too.
percentiles() { # log-prefix -> "count p50 p99 mean p99-all max-all failed-or-skipped"
    local files bad
    files=("$1".*)
    [[ -e "${files[0]}" ]] || { echo "0 - - - - - 0"; return 0; }
    bad=$(awk '$3 !~ /^[0-9]+$/ { n++ } END { print n + 0 }' "${files[@]}")
    awk '$3 ~ /^[0-9]+$/ { printf "%.6f %s\n", $5 + $6 / 1e6, $3 }' "${files[@]}" >"$1-lat"
    read -r first last < <(awk 'NR == 1 { a = $1; z = $1 } { if ($1 < a) a = $1; if ($1 > z) z = $1 } END { printf "%.6f %.6f\n", a, z }' "$1-lat")
    local all_p99 all_max
    read -r all_p99 all_max < <(cut -d' ' -f2 "$1-lat" | sort -n | awk '{ v[NR] = $1 }
        END { if (NR == 0) { print "- -"; exit } i = int(NR * 0.99); if (i < NR * 0.99) i++
              printf "%.3f %.3f\n", v[i] / 1000, v[NR] / 1000 }')
    awk -v a="$first" -v z="$last" -v trim="$TRIM" '$1 >= a + trim && $1 <= z - trim { print $2 }' "$1-lat" |
        sort -n | awk -v bad="$bad" -v p99all="$all_p99" -v maxall="$all_max" '
        { v[NR] = $1; sum += $1 }
        END {
            if (NR == 0) { print 0, "-", "-", "-", p99all, maxall, bad; exit }
            i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++
            i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++
            printf "%d %.3f %.3f %.3f %s %s %d\n", NR, v[i50] / 1000, v[i99] / 1000, sum / NR / 1000, p99all, maxall, bad
        }'
}

declare -A N P50 P99 MEAN P99ALL MAX BAD TPS CONN ERR
for target in direct gatehouse; do
    out="$WORK/active-$target.log"
    read -r "N[$target]" "P50[$target]" "P99[$target]" "MEAN[$target]" "P99ALL[$target]" "MAX[$target]" "BAD[$target]" < <(percentiles "$WORK/txlog-$target")
    TPS[$target]=$(field "$out" 's/^tps = \([0-9]*\)[.0-9]* .*/\1/p')
    CONN[$target]=$(field "$out" 's/^initial connection time = \([0-9.]*\) ms.*/\1/p')
    read -r failed aborted errors < <(count_errors "$out")
    ERR[$target]="$failed failed txns, $aborted aborted clients, $errors error lines"
    if [[ "${STATUS[$target]}" != 0 ]]; then
        ERR[$target]="${ERR[$target]}; pgbench exit status ${STATUS[$target]}"
    fi
done
read -r idle_failed idle_aborted idle_errors < <(count_errors "$WORK/idle.log")
IDLE_ERR="$idle_failed failed txns, $idle_aborted aborted clients, $idle_errors error lines"
[[ "$IDLE_STATUS" != 0 ]] && IDLE_ERR="$IDLE_ERR; pgbench exit status $IDLE_STATUS"
IDLE_CONN=$(field "$WORK/idle.log" 's/^initial connection time = \([0-9.]*\) ms.*/\1/p')

# Gateway during the active run: largest RSS / fds while all sessions were open.
read -r RSS_ACTIVE FD_ACTIVE ACTIVE_SAMPLES < <(awk -v want="$CLIENTS" '
    $4 == want { n++; if ($2 > r) r = $2; if ($3 > f) f = $3 }
    END { print r + 0, f + 0, n + 0 }' "$WORK/samples-gatehouse.txt")
if [[ "$ACTIVE_SAMPLES" == 0 ]]; then
    log "warning: no sample saw all $CLIENTS sessions open; using the largest RSS of the run"
    read -r RSS_ACTIVE FD_ACTIVE < <(awk '{ if ($2 > r) r = $2; if ($3 > f) f = $3 } END { print r + 0, f + 0 }' "$WORK/samples-gatehouse.txt")
fi

line_count() { if [[ -f "$1" ]]; then wc -l <"$1"; else echo 0; fi; }
per_session() { awk -v a="$1" -v b="$RSS_BASE" -v n="$CLIENTS" 'BEGIN { if (a > 0) printf "%.1f", (a - b) / n; else print "-" }'; }
diff_ms() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "") print "-"; else printf "%+.3f", a - b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
us_per_txn() { # cores seconds txns
    awk -v c="$1" -v d="$2" -v n="$3" 'BEGIN { if (c != "-" && n > 0) printf "%.0f", c * d * 1e6 / n; else print "-" }'
}
IDLE_PER=$(per_session "$RSS_IDLE")
ACTIVE_PER=$(per_session "$RSS_ACTIVE")
IDLE_VERDICT="meets the ≤ 100 KiB target"
[[ "$IDLE_OK" == 1 ]] || IDLE_VERDICT="not all sessions were open"
[[ "$IDLE_OK" == 1 ]] && awk -v p="$IDLE_PER" 'BEGIN { exit !(p > 100) }' && IDLE_VERDICT="MISSES the ≤ 100 KiB target"

markdown() {
    echo "Load: $CLIENTS concurrent sessions, pgbench -n -S -c $CLIENTS -j $THREADS -T $DURATION${RATE:+ -R $RATE} (scale $SCALE), $(nproc) CPUs; gatehouse default config (TLS, audit, recordings); direct = sslmode=disable to the same throwaway cluster (max_connections $MAX_CONNECTIONS). Load average before the active runs $LOAD_BEFORE, after $LOAD_AFTER. gatehouse $REVISION${GATEHOUSE_WRAPPER:+, run under \`$GATEHOUSE_WRAPPER\`}."
    echo
    echo "| figure | direct | through gatehouse | gatehouse − direct | gatehouse / direct |"
    echo "|---|---:|---:|---:|---:|"
    echo "| errors | ${ERR[direct]} | ${ERR[gatehouse]} | | |"
    echo "| transactions (all; failed/skipped) | $(line_count "$WORK/txlog-direct-lat") (${BAD[direct]}) | $(line_count "$WORK/txlog-gatehouse-lat") (${BAD[gatehouse]}) | | |"
    echo "| TPS (pgbench, without connection time) | ${TPS[direct]:-"-"} | ${TPS[gatehouse]:-"-"} | | $(ratio "${TPS[gatehouse]}" "${TPS[direct]}") |"
    echo "| connecting all $CLIENTS sessions (ms) | ${CONN[direct]:-"-"} | ${CONN[gatehouse]:-"-"} | $(diff_ms "${CONN[gatehouse]:-"-"}" "${CONN[direct]:-"-"}") | $(ratio "${CONN[gatehouse]}" "${CONN[direct]}") |"
    echo "| transactions in the steady part (first and last ${TRIM} s left out) | ${N[direct]} | ${N[gatehouse]} | | |"
    echo "| latency p50 (ms) | ${P50[direct]} | ${P50[gatehouse]} | $(diff_ms "${P50[gatehouse]}" "${P50[direct]}") | $(ratio "${P50[gatehouse]}" "${P50[direct]}") |"
    echo "| latency p99 (ms) | ${P99[direct]} | ${P99[gatehouse]} | $(diff_ms "${P99[gatehouse]}" "${P99[direct]}") | $(ratio "${P99[gatehouse]}" "${P99[direct]}") |"
    echo "| latency mean (ms) | ${MEAN[direct]} | ${MEAN[gatehouse]} | $(diff_ms "${MEAN[gatehouse]}" "${MEAN[direct]}") | $(ratio "${MEAN[gatehouse]}" "${MEAN[direct]}") |"
    echo "| latency p99 / max, all transactions (ms) | ${P99ALL[direct]} / ${MAX[direct]} | ${P99ALL[gatehouse]} / ${MAX[gatehouse]} | | |"
    local dg db dp dr dd gg gb gp gr gd gn
    read -r dg db dp dr dd _ <<<"${CPU[direct]}"
    read -r gg gb gp gr gd gn <<<"${CPU[gatehouse]}"
    echo "| CPU while all sessions were connected (cores): gatehouse / pgbench / PostgreSQL / rest (kernel softirq, other processes) | $dg / $db / $dp / $dr (${dd} s) | $gg / $gb / $gp / $gr (${gd} s) | | |"
    echo "| gatehouse CPU per transaction (µs) | | $(us_per_txn "$gg" "$gd" "$gn") | | |"
    echo
    echo "| gatehouse | RSS (KiB) | per session (KiB) | open fds |"
    echo "|---|---:|---:|---:|"
    echo "| at start | $RSS_START | | |"
    echo "| no sessions (after a warm-up session) | $RSS_BASE | | $FD_BASE |"
    echo "| $CLIENTS idle sessions | $RSS_IDLE | $IDLE_PER ($IDLE_VERDICT) | $FD_IDLE |"
    echo "| $CLIENTS active sessions (largest sample, $ACTIVE_SAMPLES samples) | $RSS_ACTIVE | $ACTIVE_PER | $FD_ACTIVE |"
    echo "| after all sessions closed | $RSS_AFTER | | $FD_AFTER |"
    echo
    if ((ACTIVE_ROUNDS > 1)); then
        echo "RSS (KiB) once all sessions of each active round through gatehouse had closed: $ROUNDS_LINE.${ROUND_ERRORS:+ Errors in later rounds:$ROUND_ERRORS}"
        echo
    fi
    if [[ -n "$DISTURBED" ]]; then
        echo "**Disturbed:** other work on the machine took CPU during the active run(s):$DISTURBED. Run again on a quiet machine."
        echo
    fi
    echo "Idle phase: $IDLE_ERR; connecting $CLIENTS TLS sessions took ${IDLE_CONN:-"-"} ms. \`gatehouse audit verify\`: $VERIFY. ERROR/WARN lines in the gateway's log: $GH_ERRORS."
}

markdown
if [[ -n "$MARKDOWN_OUT" ]]; then
    markdown >"$MARKDOWN_OUT"
fi
