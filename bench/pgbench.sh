#!/usr/bin/env bash
# Data-path benchmark: pgbench select-only through gatehouse, compared with the same workload
# straight to PostgreSQL and through pgbouncer (session mode).
#
#   bench/pgbench.sh                 # 15 s per run
#   DURATION=10 bench/pgbench.sh     # shorter runs
#   DURATION=10 TARGETS="direct pgbouncer gh-tls gh-agent" bench/pgbench.sh   # some targets only
#
# Targets (each run with -n and the workload, -S by default; protocols simple and extended, 1 and 4 clients):
#   direct       127.0.0.1:5432, sslmode=disable
#   direct-tls   127.0.0.1:5432, sslmode=require (only with DIRECT_TLS=1 and if the server has ssl=on)
#   pgbouncer    pool_mode=session, sslmode=disable, on a free loopback port
#   pgbouncer-tls the same pgbouncer (client_tls_sslmode=allow, a self-signed ECDSA P-256
#                certificate as gatehouse makes), sslmode=require: what pgbouncer costs once it
#                terminates TLS itself, a proxy that does nothing else
#   gh-tls       gatehouse with its default config (TLS required; audit log and session
#                recordings on), sslmode=require
#   gh-norec     as gh-tls with [recording] enabled = false (audit only)
#   gh-unaudited as gh-tls, recordings off, built with the bench-only feature `bench-unaudited`
#                whose audit sink discards events: the baseline for "what audit+recording cost"
#   gh-plain     gatehouse with allow_plaintext = true, sslmode=disable
#   gh-masked    as gh-tls on a connection with masking on (every built-in detector) whose readers
#                and writers log in as the least-privileged logins `gatehouse db-roles --apply`
#                creates: the path issue 23 measures (a masked reader adds a Describe per Execute)
#   gh-before    as gh-masked, run by another binary (GATEHOUSE_BEFORE_BIN, e.g. the build before
#                a change): before/after in the same run. Only when GATEHOUSE_BEFORE_BIN is set.
#   gh-commit    as gh-masked with `[audit] fsync_changes = "at-commit"`: the row changes of a
#                transaction wait for one fsync before its COMMIT instead of one each (compare
#                with gh-masked under WORKLOAD=tpcb)
#   gh-1thread   as gh-masked with `worker_threads = 1`: the gateway on one thread, as pgbouncer
#                runs on one (the default is one per CPU)
#   gh-agent     as gh-tls, but the gateway's connection only says `agents = ["bench-agent"]`: a
#                `gatehouse agent` process (same binary, enrolled with `agents create`, dialling
#                the gateway's [agents] listener over TLS + HTTP/2) opens the PostgreSQL session.
#                Path: pgbench -> gateway -> TLS/HTTP2 tunnel -> agent -> PostgreSQL. Its proxy
#                CPU column is gateway + agent; the agent's share is also reported on its own.
#
# Needs: PostgreSQL on 127.0.0.1:5432 (trust auth for user postgres), pgbench, cargo; installs
# pgbouncer with apt-get if it is missing. Leaves the database `$BENCH_DB` in place; everything
# else (processes, temp dirs) is removed on exit, also on failure.
#
# Environment:
#   DURATION=15        seconds per pgbench run
#   SCALE=10           pgbench -i scale factor
#   BENCH_DB=gh_bench  database to (re)create
#   TARGETS=           space-separated subset of the targets above to run (default: all of
#                      them, direct-tls only with DIRECT_TLS=1). `direct` is always run, since
#                      every ratio is to it; listing direct-tls implies DIRECT_TLS=1. Processes
#                      and builds that no selected target needs are skipped.
#   DIRECT_TLS=0       1 adds the direct-tls target
#   SKIP_INIT=0        1 reuses an existing $BENCH_DB instead of recreating it
#   MARKDOWN_OUT=      also write the markdown table to this file
#   KEEP_LOGS=0        1 keeps the temp dir (pgbench outputs, gatehouse/agent/pgbouncer logs)
#   GATEHOUSE_LOG=info log filter of the gatehouse gateways and the agent
#   GATEHOUSE_BIN=     a prebuilt release binary to use instead of `cargo build --release`
#                      (e.g. to measure a fixed build while the working tree changes)
#   GATEHOUSE_UNAUDITED_BIN=  likewise for the `--features bench-unaudited` build (gh-unaudited)
#   GATEHOUSE_BEFORE_BIN=  a second release binary for the gh-before target
#   PROTOCOLS="simple extended"  pgbench -M modes to measure (add `prepared`)
#   CLIENTS="1 4"      client counts to measure
#   WORKLOAD=select    `select` (pgbench -S, keys in group readers) or `tpcb` (pgbench's default
#                      read-write transaction: three UPDATEs, a SELECT and an INSERT between
#                      BEGIN and END; keys in group writers, so every transaction takes the
#                      fsync-before-forward path)
#   PERF=0             1 also profiles every proxy (gatehouse, pgbouncer) on the real CPU during
#                      its runs (`perf record -e cpu-clock -g`) and prints where its CPU went —
#                      user space (SQLite apart) and the kernel by system call — with
#                      bench/cpu_split.py
#   LATENCIES=0        1 also logs every transaction's latency (pgbench -l) and prints, per run,
#                      its percentiles (50, 99, 99.9, max) and how many took over 5 ms: stalls
#                      that an average hides
#   CARGO_TARGET_DIR   defaults to /root/.cache/gatehouse-target

set -euo pipefail

DURATION=${DURATION:-15}
SCALE=${SCALE:-10}
BENCH_DB=${BENCH_DB:-gh_bench}
DIRECT_TLS=${DIRECT_TLS:-0}
SKIP_INIT=${SKIP_INIT:-0}
MARKDOWN_OUT=${MARKDOWN_OUT:-}
KEEP_LOGS=${KEEP_LOGS:-0}
GATEHOUSE_BIN=${GATEHOUSE_BIN:-}
GATEHOUSE_UNAUDITED_BIN=${GATEHOUSE_UNAUDITED_BIN:-}
GATEHOUSE_BEFORE_BIN=${GATEHOUSE_BEFORE_BIN:-}
PROTOCOLS=${PROTOCOLS:-simple extended}
CLIENTS=${CLIENTS:-1 4}
PERF=${PERF:-0}
LATENCIES=${LATENCIES:-0}
WORKLOAD=${WORKLOAD:-select}
case "$WORKLOAD" in
    select) WORKLOAD_ARGS=(-S) KEY_GROUPS=readers ;;
    tpcb) WORKLOAD_ARGS=() KEY_GROUPS=writers ;;
    *) echo "WORKLOAD must be select or tpcb" >&2; exit 2 ;;
esac
ALL_TARGETS="direct direct-tls pgbouncer pgbouncer-tls gh-tls gh-norec gh-unaudited gh-plain gh-masked gh-before gh-commit gh-1thread gh-agent"
SELECTED=${TARGETS:-}
unset TARGETS
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/gatehouse-target}

[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || { echo "DURATION must be a whole number of seconds" >&2; exit 2; }
[[ "$SCALE" =~ ^[1-9][0-9]*$ ]] || { echo "SCALE must be a positive integer" >&2; exit 2; }
[[ "$BENCH_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "BENCH_DB must be a plain lower-case identifier" >&2; exit 2; }
if [[ -z "${SELECTED// /}" ]]; then
    SELECTED=$ALL_TARGETS
    [[ -n "$GATEHOUSE_BEFORE_BIN" ]] || SELECTED=${SELECTED/ gh-before/}
else
    for t in $SELECTED; do
        [[ " $ALL_TARGETS " == *" $t "* ]] || { echo "unknown target \`$t' in TARGETS (known: $ALL_TARGETS)" >&2; exit 2; }
    done
    [[ " $SELECTED " == *" direct-tls "* ]] && DIRECT_TLS=1
    SELECTED="direct $SELECTED"
fi
# Is target $1 selected?
wanted() { [[ " $SELECTED " == *" $1 "* ]]; }

PG_HOST=127.0.0.1
PG_PORT=5432
PG_SUPERUSER=postgres

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /tmp/gh-pgbench.XXXXXX)
PIDS=()

log() { printf '[pgbench.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
    local status=$?
    set +e
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
        fi
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [[ "$KEEP_LOGS" == 1 ]]; then
        log "kept logs in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
[[ "$PERF" != 1 ]] || command -v perf >/dev/null || die "PERF=1 needs perf (apt-get install linux-perf)"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

psql_admin() {
    psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres "$@"
}

free_port() {
    python3 - <<'EOF' 2>/dev/null && return 0
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
    # Fallback without python: probe random ports with ss.
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

wait_for_port() { # host port name
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$3 is not listening on $1:$2"
}

# Sum of user+system CPU ticks of a process (for CPU per transaction).
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
CLK_TCK=$(getconf CLK_TCK)
# The whole machine's busy and idle ticks, summed over its CPUs ("busy idle").
machine_ticks() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat
}
# CPU seconds (user + system) of this shell's waited-for children so far, into CHILD_SECONDS:
# around one pgbench run, what that pgbench spent. `times` must run in this shell itself (a
# subshell's children are not this shell's).
children_seconds() {
    times >"$WORK/times.txt"
    CHILD_SECONDS=$(awk 'NR == 2 { gsub(/s/, ""); for (i = 1; i <= 2; i++) { split($i, t, "m"); s += t[1] * 60 + t[2] } }
        END { printf "%.3f", s }' "$WORK/times.txt")
}

# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------
command -v pgbench >/dev/null || die "pgbench is not installed"
command -v psql >/dev/null || die "psql is not installed"
if { wanted pgbouncer || wanted pgbouncer-tls; } && ! command -v pgbouncer >/dev/null && [[ ! -x /usr/sbin/pgbouncer ]]; then
    log "installing pgbouncer"
    DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer >&2
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
psql_admin -c 'SELECT 1' >/dev/null || die "cannot reach PostgreSQL on $PG_HOST:$PG_PORT as $PG_SUPERUSER"

# ---------------------------------------------------------------------------------------------
# Build gatehouse (release)
# ---------------------------------------------------------------------------------------------
if wanted gh-unaudited; then
    if [[ -n "$GATEHOUSE_UNAUDITED_BIN" ]]; then
        [[ -x "$GATEHOUSE_UNAUDITED_BIN" ]] || die "GATEHOUSE_UNAUDITED_BIN=$GATEHOUSE_UNAUDITED_BIN is not executable"
        log "using the prebuilt bench-unaudited binary $GATEHOUSE_UNAUDITED_BIN"
        cp "$GATEHOUSE_UNAUDITED_BIN" "$WORK/gatehouse-unaudited"
    else
        log "building gatehouse (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR) with --features bench-unaudited"
        (cd "$REPO" && cargo build --release -p gatehouse --features bench-unaudited) >&2
        cp "$CARGO_TARGET_DIR/release/gatehouse" "$WORK/gatehouse-unaudited"
    fi
fi
if [[ -n "$GATEHOUSE_BIN" ]]; then
    log "using the prebuilt gatehouse binary $GATEHOUSE_BIN"
    GATEHOUSE=$GATEHOUSE_BIN
else
    log "building gatehouse (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    (cd "$REPO" && cargo build --release -p gatehouse) >&2
    GATEHOUSE="$CARGO_TARGET_DIR/release/gatehouse"
fi
[[ -x "$GATEHOUSE" ]] || die "no binary at $GATEHOUSE"

# ---------------------------------------------------------------------------------------------
# Benchmark database
# ---------------------------------------------------------------------------------------------
if [[ "$SKIP_INIT" == 1 ]] && psql_admin -Atc "SELECT 1 FROM pg_database WHERE datname = '$BENCH_DB'" | grep -q 1; then
    log "reusing database $BENCH_DB"
else
    log "creating database $BENCH_DB (pgbench -i -s $SCALE)"
    psql_admin -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)"
    psql_admin -c "CREATE DATABASE $BENCH_DB"
    pgbench -i -q -s "$SCALE" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" "$BENCH_DB" >"$WORK/init.log" 2>&1 \
        || { cat "$WORK/init.log" >&2; die "pgbench -i failed"; }
fi

# ---------------------------------------------------------------------------------------------
# pgbouncer (session mode). It refuses to run as root, so `-u postgres` drops privileges.
# ---------------------------------------------------------------------------------------------
BOUNCER_DIR="$WORK/pgbouncer"
BOUNCER_PORT='' BOUNCER_PID=''
if wanted pgbouncer || wanted pgbouncer-tls; then
    mkdir -p "$BOUNCER_DIR"
    chmod 755 "$WORK" "$BOUNCER_DIR"
    BOUNCER_PORT=$(free_port)
    # TLS for the clients that ask for it (pgbouncer-tls); plaintext for those that do not.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=127.0.0.1 -keyout "$BOUNCER_DIR/key.pem" -out "$BOUNCER_DIR/cert.pem" \
        >"$BOUNCER_DIR/openssl.log" 2>&1 || { cat "$BOUNCER_DIR/openssl.log" >&2; die "openssl could not make pgbouncer's certificate"; }
    cat >"$BOUNCER_DIR/userlist.txt" <<EOF
"$PG_SUPERUSER" ""
EOF
    cat >"$BOUNCER_DIR/pgbouncer.ini" <<EOF
[databases]
$BENCH_DB = host=$PG_HOST port=$PG_PORT dbname=$BENCH_DB user=$PG_SUPERUSER

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $BOUNCER_DIR/userlist.txt
pool_mode = session
max_client_conn = 100
default_pool_size = 10
logfile =
pidfile =
log_connections = 0
log_disconnections = 0
client_tls_sslmode = allow
client_tls_key_file = $BOUNCER_DIR/key.pem
client_tls_cert_file = $BOUNCER_DIR/cert.pem
EOF
    chmod 644 "$BOUNCER_DIR"/*
    log "starting pgbouncer on 127.0.0.1:$BOUNCER_PORT"
    if [[ $(id -u) == 0 ]]; then
        "$PGBOUNCER" -u "$PG_SUPERUSER" "$BOUNCER_DIR/pgbouncer.ini" >"$BOUNCER_DIR/pgbouncer.log" 2>&1 &
    else
        "$PGBOUNCER" "$BOUNCER_DIR/pgbouncer.ini" >"$BOUNCER_DIR/pgbouncer.log" 2>&1 &
    fi
    BOUNCER_PID=$!
    PIDS+=("$BOUNCER_PID")
    wait_for_port 127.0.0.1 "$BOUNCER_PORT" pgbouncer
fi

# ---------------------------------------------------------------------------------------------
# gatehouse: one instance per gh-* target (default TLS-required listener unless noted).
# ---------------------------------------------------------------------------------------------
BENCH_CONNECTION="host = \"$PG_HOST\"
port = $PG_PORT
database = \"$BENCH_DB\"
user = \"$PG_SUPERUSER\""

# name extra-postgres-toml [extra-tables-toml] [binary] [connection-body-toml] [top-level-keys-toml]
#   -> sets GH_PORT, GH_PID, GH_TOKEN
start_gatehouse() {
    local name=$1 extra=$2 top_extra=${3:-} binary=${4:-$GATEHOUSE} connection=${5:-$BENCH_CONNECTION}
    local top_keys=${6:-}
    local dir="$WORK/$name"
    mkdir -p "$dir"
    cat >"$dir/gatehouse.toml" <<EOF
$top_keys

[policy]
files = ["$REPO/policies/quickstart.cedar"]

[postgres]
listen = "127.0.0.1:0"
shutdown_grace = "2s"
$extra

[admin]
listen = "127.0.0.1:0"

$top_extra

[[connections]]
name = "bench"
kind = "postgres"
$connection
EOF
    # The key is created by the binary that will serve (an older one may not read a newer
    # audit format); the bench-unaudited build discards audit events, so not by that one.
    local keys_binary=$binary
    [[ "$name" == gh-unaudited ]] && keys_binary=$GATEHOUSE
    GH_TOKEN=$("$keys_binary" --config "$dir/gatehouse.toml" --data-dir "$dir/data" \
        keys create --identity bench --groups "$KEY_GROUPS" --ttl 2h | tail -n1)
    [[ -n "$GH_TOKEN" ]] || die "$name: keys create printed no token"
    GATEHOUSE_LOG=${GATEHOUSE_LOG:-info} "$binary" --config "$dir/gatehouse.toml" --data-dir "$dir/data" serve \
        >"$dir/serve.log" 2>&1 &
    GH_PID=$!
    PIDS+=("$GH_PID")
    for _ in $(seq 300); do
        [[ -s "$dir/data/listeners.json" ]] && break
        kill -0 "$GH_PID" 2>/dev/null || { cat "$dir/serve.log" >&2; die "$name exited before listening"; }
        sleep 0.1
    done
    [[ -s "$dir/data/listeners.json" ]] || die "$name did not start in 30 s"
    GH_PORT=$(sed -n 's/.*"postgres":"[^"]*:\([0-9]*\)".*/\1/p' "$dir/data/listeners.json")
    [[ -n "$GH_PORT" ]] || die "$name: cannot read the port from listeners.json"
    log "$name listening on 127.0.0.1:$GH_PORT (pid $GH_PID)"
}

# Enrol and start a `gatehouse agent` for gateway instance $1 (started with an [agents]
# listener and a connection naming agent $2); waits until the gateway lists it as connected.
#   -> sets AGENT_PID
start_agent() { # gateway-name agent-name
    local name=$1 agent=$2
    local dir="$WORK/$name" adir="$WORK/$name/agent"
    local listen host port enrolment
    mkdir -p "$adir"
    listen=$(sed -n 's/.*"agents":"\([^"]*\)".*/\1/p' "$dir/data/listeners.json")
    [[ -n "$listen" ]] || die "$name: no agent listener in listeners.json: $(cat "$dir/data/listeners.json")"
    host=${listen%:*} port=${listen##*:}
    wait_for_port "$host" "$port" "$name agent listener"
    "$GATEHOUSE" --config "$dir/gatehouse.toml" --data-dir "$dir/data" \
        agents create "$agent" --output json >"$adir/enrolment.json" 2>"$adir/enrolment.err" \
        || { cat "$adir/enrolment.err" >&2; die "$name: agents create $agent failed"; }
    enrolment=$(tr -d '\n' <"$adir/enrolment.json" | sed -n 's/.*"enrolment_token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
    [[ -n "$enrolment" ]] || die "$name: agents create printed no enrolment_token"
    rm -f "$adir/enrolment.json"
    cat >"$adir/agent.toml" <<EOF
name = "$agent"
gateway = "$listen"
ca_file = "$dir/data/tls/server.crt"
state_dir = "state"
enrolment_token_env = "GATEHOUSE_ENROLMENT_TOKEN"

[[connections]]
name = "bench"
kind = "postgres"
$BENCH_CONNECTION
EOF
    GATEHOUSE_ENROLMENT_TOKEN=$enrolment GATEHOUSE_LOG=${GATEHOUSE_LOG:-info} \
        "$GATEHOUSE" agent --config "$adir/agent.toml" </dev/null >"$adir/agent.log" 2>&1 &
    AGENT_PID=$!
    PIDS+=("$AGENT_PID")
    for _ in $(seq 150); do
        if "$GATEHOUSE" --config "$dir/gatehouse.toml" --data-dir "$dir/data" agents list --output json 2>/dev/null \
            | tr -d ' \n' | grep -q "\"name\":\"$agent\"[^}]*\"connected\":true"; then
            log "$name: agent $agent connected from pid $AGENT_PID (gateway $listen)"
            return 0
        fi
        kill -0 "$AGENT_PID" 2>/dev/null || { cat "$adir/agent.log" >&2; die "agent $agent exited before connecting"; }
        sleep 0.1
    done
    cat "$adir/agent.log" >&2
    die "agent $agent did not connect to $name in 15 s"
}

GH_TLS_PID='' GH_NOREC_PID='' GH_UNAUDITED_PID='' GH_PLAIN_PID='' GH_AGENT_PID='' AGENT_PID=''
if wanted gh-tls; then
    start_gatehouse gh-tls ""
    GH_TLS_PORT=$GH_PORT GH_TLS_PID=$GH_PID GH_TLS_TOKEN=$GH_TOKEN
fi
if wanted gh-norec; then
    start_gatehouse gh-norec "" "[recording]
enabled = false"
    GH_NOREC_PORT=$GH_PORT GH_NOREC_PID=$GH_PID GH_NOREC_TOKEN=$GH_TOKEN
fi
if wanted gh-unaudited; then
    start_gatehouse gh-unaudited "" "[recording]
enabled = false" "$WORK/gatehouse-unaudited"
    GH_UNAUDITED_PORT=$GH_PORT GH_UNAUDITED_PID=$GH_PID GH_UNAUDITED_TOKEN=$GH_TOKEN
fi
if wanted gh-plain; then
    start_gatehouse gh-plain "allow_plaintext = true"
    GH_PLAIN_PORT=$GH_PORT GH_PLAIN_PID=$GH_PID GH_PLAIN_TOKEN=$GH_TOKEN
fi
# The masked connection with least-privileged logins (gh-masked, gh-before, gh-commit, gh-1thread).
MASKED_CONNECTION="$BENCH_CONNECTION
default_level = \"read\"

[[connections.logins]]
level = \"admin\"
groups = [\"admins\"]

[[connections.logins]]
level = \"write\"
groups = [\"writers\"]
user = \"gatehouse_bench_write\"
password_file = \"$WORK/logins/gatehouse_bench_write.password\"

[[connections.logins]]
level = \"read\"
groups = [\"readers\"]
user = \"gatehouse_bench_read\"
password_file = \"$WORK/logins/gatehouse_bench_read.password\"

[connections.masking]
detectors = [\"all\"]"
if wanted gh-masked || wanted gh-before || wanted gh-commit || wanted gh-1thread; then
    mkdir -p "$WORK/db-roles"
    printf '[[connections]]\nname = "bench"\nkind = "postgres"\n%s\n' "$MASKED_CONNECTION" \
        >"$WORK/db-roles/gatehouse.toml"
    log "creating the least-privileged logins (gatehouse db-roles bench --apply)"
    "$GATEHOUSE" --config "$WORK/db-roles/gatehouse.toml" --data-dir "$WORK/db-roles/data" \
        db-roles bench --password-dir "$WORK/logins" --apply >"$WORK/db-roles/apply.log" 2>&1 ||
        { cat "$WORK/db-roles/apply.log" >&2; die "db-roles --apply failed"; }
fi
if wanted gh-masked; then
    start_gatehouse gh-masked "" "" "$GATEHOUSE" "$MASKED_CONNECTION"
    GH_MASKED_PORT=$GH_PORT GH_MASKED_PID=$GH_PID GH_MASKED_TOKEN=$GH_TOKEN
fi
if wanted gh-before; then
    [[ -x "$GATEHOUSE_BEFORE_BIN" ]] || die "gh-before needs GATEHOUSE_BEFORE_BIN (an executable)"
    start_gatehouse gh-before "" "" "$GATEHOUSE_BEFORE_BIN" "$MASKED_CONNECTION"
    GH_BEFORE_PORT=$GH_PORT GH_BEFORE_PID=$GH_PID GH_BEFORE_TOKEN=$GH_TOKEN
fi
if wanted gh-commit; then
    start_gatehouse gh-commit "" "[audit]
fsync_changes = \"at-commit\"" "$GATEHOUSE" "$MASKED_CONNECTION"
    GH_COMMIT_PORT=$GH_PORT GH_COMMIT_PID=$GH_PID GH_COMMIT_TOKEN=$GH_TOKEN
fi
if wanted gh-1thread; then
    start_gatehouse gh-1thread "" "" "$GATEHOUSE" "$MASKED_CONNECTION" "worker_threads = 1"
    GH_1THREAD_PORT=$GH_PORT GH_1THREAD_PID=$GH_PID GH_1THREAD_TOKEN=$GH_TOKEN
fi
if wanted gh-agent; then
    # Same defaults as gh-tls; the connection holds nothing of the target but the agent's name.
    start_gatehouse gh-agent "" "[agents]
listen = \"127.0.0.1:0\"" "$GATEHOUSE" "agents = [\"bench-agent\"]"
    GH_AGENT_PORT=$GH_PORT GH_AGENT_PID=$GH_PID GH_AGENT_TOKEN=$GH_TOKEN
    start_agent gh-agent bench-agent
fi

# ---------------------------------------------------------------------------------------------
# Targets: name|host|port|user|dbname|password|sslmode|pid-of-proxy|pid-of-agent (for CPU accounting)
# ---------------------------------------------------------------------------------------------
RUN_TARGETS=("direct|$PG_HOST|$PG_PORT|$PG_SUPERUSER|$BENCH_DB||disable||")
if [[ "$DIRECT_TLS" == 1 ]]; then
    if [[ $(psql_admin -Atc 'SHOW ssl') == on ]]; then
        RUN_TARGETS+=("direct-tls|$PG_HOST|$PG_PORT|$PG_SUPERUSER|$BENCH_DB||require||")
    else
        log "DIRECT_TLS=1 but the server has ssl=off; skipping direct-tls"
    fi
fi
wanted pgbouncer && RUN_TARGETS+=("pgbouncer|127.0.0.1|$BOUNCER_PORT|$PG_SUPERUSER|$BENCH_DB||disable|$BOUNCER_PID|")
wanted pgbouncer-tls && RUN_TARGETS+=("pgbouncer-tls|127.0.0.1|$BOUNCER_PORT|$PG_SUPERUSER|$BENCH_DB||require|$BOUNCER_PID|")
wanted gh-tls && RUN_TARGETS+=("gh-tls|127.0.0.1|$GH_TLS_PORT|bench|bench|$GH_TLS_TOKEN|require|$GH_TLS_PID|")
wanted gh-norec && RUN_TARGETS+=("gh-norec|127.0.0.1|$GH_NOREC_PORT|bench|bench|$GH_NOREC_TOKEN|require|$GH_NOREC_PID|")
wanted gh-unaudited && RUN_TARGETS+=("gh-unaudited|127.0.0.1|$GH_UNAUDITED_PORT|bench|bench|$GH_UNAUDITED_TOKEN|require|$GH_UNAUDITED_PID|")
wanted gh-plain && RUN_TARGETS+=("gh-plain|127.0.0.1|$GH_PLAIN_PORT|bench|bench|$GH_PLAIN_TOKEN|disable|$GH_PLAIN_PID|")
wanted gh-masked && RUN_TARGETS+=("gh-masked|127.0.0.1|$GH_MASKED_PORT|bench|bench|$GH_MASKED_TOKEN|require|$GH_MASKED_PID|")
wanted gh-before && RUN_TARGETS+=("gh-before|127.0.0.1|$GH_BEFORE_PORT|bench|bench|$GH_BEFORE_TOKEN|require|$GH_BEFORE_PID|")
wanted gh-commit && RUN_TARGETS+=("gh-commit|127.0.0.1|$GH_COMMIT_PORT|bench|bench|$GH_COMMIT_TOKEN|require|$GH_COMMIT_PID|")
wanted gh-1thread && RUN_TARGETS+=("gh-1thread|127.0.0.1|$GH_1THREAD_PORT|bench|bench|$GH_1THREAD_TOKEN|require|$GH_1THREAD_PID|")
wanted gh-agent && RUN_TARGETS+=("gh-agent|127.0.0.1|$GH_AGENT_PORT|bench|bench|$GH_AGENT_TOKEN|require|$GH_AGENT_PID|$AGENT_PID")
log "targets:$(for t in "${RUN_TARGETS[@]}"; do printf ' %s' "${t%%|*}"; done)"

run_pgbench() { # out-file host port user db password sslmode -- pgbench args...
    local out=$1 host=$2 port=$3 user=$4 db=$5 password=$6 sslmode=$7
    shift 7
    PGPASSWORD=$password PGSSLMODE=$sslmode PGCONNECT_TIMEOUT=10 \
        pgbench -h "$host" -p "$port" -U "$user" "$@" "$db" >"$out" 2>&1
}

# Smoke test every target (also warms the buffer cache) before measuring.
for target in "${RUN_TARGETS[@]}"; do
    IFS='|' read -r name host port user db password sslmode _ <<<"$target"
    if ! run_pgbench "$WORK/smoke-$name.log" "$host" "$port" "$user" "$db" "$password" "$sslmode" \
        -n "${WORKLOAD_ARGS[@]}" -T 2 -c 1 -j 1; then
        cat "$WORK/smoke-$name.log" >&2
        for f in "$WORK"/gh-*/serve.log "$WORK"/gh-*/agent/agent.log "$BOUNCER_DIR/pgbouncer.log"; do
            [[ -f "$f" ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
        done
        die "smoke test against $name failed"
    fi
done

# ---------------------------------------------------------------------------------------------
# Measure. For each (protocol, clients) cell all targets run back to back, so that ratios to
# direct compare runs made under the same background load.
# ---------------------------------------------------------------------------------------------
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
CELLS=()
for clients in $CLIENTS; do
    for protocol in $PROTOCOLS; do
        CELLS+=("$protocol $clients $((clients > 1 ? 2 : 1))")
    done
done
runs=$((${#CELLS[@]} * ${#RUN_TARGETS[@]}))
log "measuring: $runs runs of ${DURATION}s (about $((runs * (DURATION + 1) / 60 + 1)) min)"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for cell in "${CELLS[@]}"; do
    read -r protocol clients threads <<<"$cell"
    for target in "${RUN_TARGETS[@]}"; do
        IFS='|' read -r name host port user db password sslmode proxy_pid agent_pid <<<"$target"
        out="$WORK/run-$name-$protocol-$clients.log"
        before=0 agent_before=0
        [[ -n "$proxy_pid" ]] && before=$(cpu_ticks "$proxy_pid")
        [[ -n "$agent_pid" ]] && agent_before=$(cpu_ticks "$agent_pid")
        read -r busy_before idle_before < <(machine_ticks)
        children_seconds
        client_before=$CHILD_SECONDS
        perf_pid=
        if [[ "$PERF" == 1 && -n "$proxy_pid" ]]; then
            perf record -q -e cpu-clock -F 1999 -g -p "$proxy_pid" \
                -o "$WORK/perf-$name-$protocol-$clients.data" -- sleep "$DURATION" 2>/dev/null &
            perf_pid=$!
        fi
        latency_log=()
        [[ "$LATENCIES" != 1 ]] || latency_log=(-l "--log-prefix=$WORK/latency-$name-$protocol-$clients")
        if ! run_pgbench "$out" "$host" "$port" "$user" "$db" "$password" "$sslmode" \
            -n "${WORKLOAD_ARGS[@]}" -M "$protocol" -c "$clients" -j "$threads" -T "$DURATION" "${latency_log[@]}"; then
            cat "$out" >&2
            die "pgbench against $name ($protocol, $clients clients) failed"
        fi
        children_seconds
        client_after=$CHILD_SECONDS
        read -r busy_after idle_after < <(machine_ticks)
        if [[ -n "$perf_pid" ]]; then
            wait "$perf_pid" || true
            perf script -i "$WORK/perf-$name-$protocol-$clients.data" -F comm,ip,sym,dso 2>/dev/null |
                "$REPO/bench/cpu_split.py" >"$WORK/cpu-split-$name-$protocol-$clients.txt" || true
        fi
        after=0 agent_after=0
        [[ -n "$proxy_pid" ]] && after=$(cpu_ticks "$proxy_pid")
        [[ -n "$agent_pid" ]] && agent_after=$(cpu_ticks "$agent_pid")
        tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | head -n1)
        latency=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$out")
        txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
        failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
        [[ -n "$tps" && -n "$latency" && -n "$txns" ]] || { cat "$out" >&2; die "cannot parse pgbench output ($name)"; }
        if [[ "${failed:-0}" != 0 ]]; then
            cat "$out" >&2
            die "$name: $failed failed transactions"
        fi
        # Proxy CPU: the gateway (or pgbouncer) plus, for gh-agent, the agent; the agent's
        # share is also reported on its own.
        cpu_us="-" agent_us="-"
        if [[ -n "$proxy_pid" && "$txns" -gt 0 ]]; then
            cpu_us=$(awk -v t=$((after - before + agent_after - agent_before)) -v hz="$CLK_TCK" -v n="$txns" \
                'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
        fi
        if [[ -n "$agent_pid" && "$txns" -gt 0 ]]; then
            agent_us=$(awk -v t=$((agent_after - agent_before)) -v hz="$CLK_TCK" -v n="$txns" \
                'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
        fi
        # The client's CPU (pgbench's own, TLS included; not shown with PERF=1, whose perf would
        # be counted in with it), and the whole machine's: busy CPU per transaction and the
        # share of both CPUs left idle. When idle is near 0 the machine is saturated, and TPS is
        # its CPUs over the busy time.
        client_us="-" machine_us="-" idle_pct="-"
        if [[ "$txns" -gt 0 ]]; then
            [[ "$PERF" == 1 ]] || client_us=$(awk -v a="$client_before" -v b="$client_after" -v n="$txns" \
                'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
            machine_us=$(awk -v t=$((busy_after - busy_before)) -v hz="$CLK_TCK" -v n="$txns" \
                'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
            idle_pct=$(awk -v b=$((busy_after - busy_before)) -v i=$((idle_after - idle_before)) \
                'BEGIN { printf "%.0f", (b + i > 0) ? 100 * i / (b + i) : 0 }')
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$protocol" "$clients" "$tps" "$latency" \
            "$cpu_us" "$agent_us" "$client_us" "$machine_us" "$idle_pct" >>"$RESULTS"
        log "$(printf '%-13s %-8s c=%s  tps=%-10s lat=%s ms  proxy-cpu=%s us/txn (agent %s)  pgbench-cpu=%s  machine-busy=%s us/txn, idle %s%%' \
            "$name" "$protocol" "$clients" "$tps" "$latency" "$cpu_us" "$agent_us" "$client_us" "$machine_us" "$idle_pct")"
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Audit sanity check: gatehouse recorded the statements it forwarded, and the chain verifies.
for name in gh-tls gh-norec gh-plain gh-masked gh-before gh-commit gh-1thread gh-agent; do
    wanted "$name" || continue
    events=$(python3 - "$WORK/$name/data/gatehouse.db" <<'EOF' 2>/dev/null || echo "?"
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM audit_log").fetchone()[0])
EOF
    )
    verified=$("$GATEHOUSE" --config "$WORK/$name/gatehouse.toml" --data-dir "$WORK/$name/data" audit verify 2>&1 | head -n1)
    log "$name audit_log rows: $events; $verified"
done

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
report() { # format: text | markdown
    awk -F'\t' -v fmt="$1" '
    { name[NR]=$1; proto[NR]=$2; cl[NR]=$3; tps[NR]=$4; lat[NR]=$5; cpu[NR]=$6; acpu[NR]=$7
      ccpu[NR]=$8; mcpu[NR]=$9; idle[NR]=$10
      if ($1 == "direct") { dtps[$2 "/" $3]=$4; dlat[$2 "/" $3]=$5 }
      if ($1 == "gh-unaudited") { utps[$2 "/" $3]=$4 } }
    END {
      if (fmt == "markdown") {
        print "| target | protocol | clients | TPS | avg latency (ms) | TPS vs direct | TPS vs gh-unaudited | added latency (µs) | proxy CPU (µs/txn) | of which agent (µs/txn) | pgbench CPU (µs/txn) | machine busy (µs/txn) | machine idle |"
        print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
      } else {
        printf "%-13s %-9s %7s %10s %10s %9s %11s %10s %12s %12s %12s %12s %5s\n", "target", "protocol", "clients", "TPS", "lat ms", "vs direct", "vs unaudit", "added µs", "proxy CPU µs", "agent CPU µs", "pgbench µs", "machine µs", "idle"
      }
      for (i = 1; i <= NR; i++) {
        key = proto[i] "/" cl[i]
        ratio = (dtps[key] > 0) ? sprintf("%.2f", tps[i] / dtps[key]) : "-"
        uratio = (name[i] ~ /^gh-(tls|norec)$/ && utps[key] > 0) ? sprintf("%.2f", tps[i] / utps[key]) : "-"
        added = (key in dlat) ? sprintf("%+.0f", (lat[i] - dlat[key]) * 1000) : "-"
        if (name[i] == "direct") added = "0"
        if (fmt == "markdown")
          printf "| %s | %s | %s | %.0f | %.3f | %s | %s | %s | %s | %s | %s | %s | %s %% |\n", name[i], proto[i], cl[i], tps[i], lat[i], ratio, uratio, added, cpu[i], acpu[i], ccpu[i], mcpu[i], idle[i]
        else
          printf "%-13s %-9s %7s %10.0f %10.3f %9s %11s %10s %12s %12s %12s %12s %4s%%\n", name[i], proto[i], cl[i], tps[i], lat[i], ratio, uratio, added, cpu[i], acpu[i], ccpu[i], mcpu[i], idle[i]
      }
    }' "$RESULTS"
}

{
    echo
    echo "pgbench ${WORKLOAD_ARGS[*]} -n ($WORKLOAD), ${DURATION}s per run, scale $SCALE, $(nproc) CPUs; load average before $LOAD_BEFORE, after $LOAD_AFTER"
    echo
    report text
    echo
    echo "Markdown:"
    echo
    report markdown
}
if [[ "$LATENCIES" == 1 ]]; then
    echo
    echo "Latency percentiles per run (µs, from pgbench -l; column 3 of its log is each transaction's latency):"
    echo
    printf '%-13s %-9s %7s %9s %9s %9s %9s %12s\n' target protocol clients p50 p99 p99.9 max "over 5 ms"
    for cell in "${CELLS[@]}"; do
        read -r protocol clients _ <<<"$cell"
        for target in "${RUN_TARGETS[@]}"; do
            name=${target%%|*}
            cat "$WORK/latency-$name-$protocol-$clients".* 2>/dev/null | awk '{ print $3 }' | sort -n |
                awk -v t="$name" -v p="$protocol" -v c="$clients" '
                { v[NR] = $1; if ($1 > 5000) slow++ }
                END {
                  if (NR == 0) exit
                  i50 = int(NR * 0.5); i99 = int(NR * 0.99); i999 = int(NR * 0.999)
                  if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1; if (i999 < 1) i999 = 1
                  printf "%-13s %-9s %7s %9d %9d %9d %9d %12d\n", t, p, c, v[i50], v[i99], v[i999], v[NR], slow
                }'
        done
    done
fi
if [[ "$PERF" == 1 ]]; then
    for split in "$WORK"/cpu-split-*.txt; do
        [[ -f "$split" ]] || continue
        name=${split##*/cpu-split-}
        echo
        echo "Where the CPU of ${name%.txt} went (perf, cpu-clock):"
        cat "$split"
    done
fi
if [[ -n "$MARKDOWN_OUT" ]]; then
    report markdown >"$MARKDOWN_OUT"
fi
