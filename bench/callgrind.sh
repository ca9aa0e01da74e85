#!/usr/bin/env bash
# Noise-free data-path figure: user-space instructions gatehouse executes per pgbench
# transaction, counted by valgrind's callgrind (the same count whatever else the machine does).
#
#   bench/callgrind.sh                               # simple protocol, masked reader, TLS
#   MODES="simple extended prepared" bench/callgrind.sh
#   GATEHOUSE_BIN=/tmp/gh-before bench/callgrind.sh  # a fixed build
#   PGBOUNCER=1 bench/callgrind.sh                   # also count pgbouncer (session mode)
#   WORKER_THREADS=1 CLIENTS=4 bench/callgrind.sh    # one runtime thread, four sessions
#
# For each mode, gatehouse is started twice under callgrind, each time for one
# `pgbench -S -n -c CLIENTS -t N` (N = SHORT, then LONG, per client) and stopped; the marginal
# count (instructions(LONG) - instructions(SHORT)) / ((LONG - SHORT) * CLIENTS) cancels
# start-up, the TLS handshakes, logins and shutdown, leaving the cost of one transaction in
# steady state. Under valgrind the gateway runs ≈ 50 times slower than its clients, so with
# several clients it always finds other sessions' requests waiting: CLIENTS=4 counts a
# saturated gateway, not the real machine's mix.
#
# The path is the one issue 23 names: a `readers` identity over TLS (sslmode=require), on a
# connection with masking on (every built-in detector) whose readers log in as the
# least-privileged login `gatehouse db-roles --apply` creates; policy, audit log (stored
# before forwarding) and session recordings on, as in production. After every run the script
# checks the guarantees held: the audit log has one statement event and one outcome event per
# transaction and `gatehouse audit verify` passes.
#
# Environment:
#   MODES=simple       pgbench protocols to measure: simple, extended, prepared
#   SHORT=500 LONG=2500  transactions of the two runs (per client)
#   CLIENTS=1          pgbench clients (sessions through the gateway at once)
#   WORKER_THREADS=    gatehouse's `worker_threads` (unset: one per CPU, as shipped). Under
#                      valgrind, which runs one thread at a time, two workers make the count
#                      vary by ±3 % from run to run (how often one parks, steals or finds a
#                      batch to commit)
#   BENCH_DB=gh_bench_cg  database (recreated at scale 1 unless SKIP_INIT=1 and it exists)
#   GATEHOUSE_BIN=     prebuilt release binary (default: cargo build --release)
#   PGBOUNCER=0        1 also measures pgbouncer 1.18 (session mode, plaintext) the same way
#   SYSCALLS=0         1 also counts gatehouse's system calls per transaction (every thread),
#                      the same marginal way, with `strace -f -c` instead of valgrind
#   KEEP=0             1 keeps the work directory (callgrind outputs, logs)
#   TOP=25             how many functions of the marginal profile to print (inclusive cost per
#                      transaction; 0 prints none)
# Needs: PostgreSQL on 127.0.0.1:5432 (trust auth), pgbench, valgrind and, with SYSCALLS=1,
# strace (installed if missing).

set -euo pipefail

MODES=${MODES:-simple}
SHORT=${SHORT:-500}
LONG=${LONG:-2500}
CLIENTS=${CLIENTS:-1}
WORKER_THREADS=${WORKER_THREADS:-}
BENCH_DB=${BENCH_DB:-gh_bench_cg}
SKIP_INIT=${SKIP_INIT:-0}
GATEHOUSE_BIN=${GATEHOUSE_BIN:-}
PGBOUNCER=${PGBOUNCER:-0}
SYSCALLS=${SYSCALLS:-0}
KEEP=${KEEP:-0}
TOP=${TOP:-25}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/gh-callgrind.XXXXXX)
PIDS=()

log() { printf '[callgrind.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
    local status=$?
    set +e
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    if [[ "$KEEP" == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT INT TERM

command -v valgrind >/dev/null || { log "installing valgrind"; apt-get install -y -qq valgrind >/dev/null; }
command -v pgbench >/dev/null || die "pgbench is missing (Debian: postgresql-client)"
if [[ "$SYSCALLS" == 1 ]] && ! command -v strace >/dev/null; then
    log "installing strace"
    apt-get install -y -qq strace >/dev/null
fi

if [[ -n "$GATEHOUSE_BIN" ]]; then
    GATEHOUSE=$GATEHOUSE_BIN
else
    log "building gatehouse (release)"
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/gatehouse-target}
    (cd "$REPO" && cargo build --release --quiet -p gatehouse --bin gatehouse)
    GATEHOUSE=$CARGO_TARGET_DIR/release/gatehouse
fi
[[ -x "$GATEHOUSE" ]] || die "no gatehouse binary at $GATEHOUSE"

if [[ "$SKIP_INIT" == 1 ]] && psql -h 127.0.0.1 -U postgres -d postgres -Atc \
    "SELECT 1 FROM pg_database WHERE datname = '$BENCH_DB'" | grep -q 1; then
    log "reusing $BENCH_DB"
else
    log "recreating $BENCH_DB (pgbench -i -s 1)"
    psql -h 127.0.0.1 -U postgres -d postgres -q -c "DROP DATABASE IF EXISTS $BENCH_DB" \
        -c "CREATE DATABASE $BENCH_DB" >/dev/null
    pgbench -h 127.0.0.1 -U postgres -i -s 1 -q "$BENCH_DB" >/dev/null 2>&1
fi

# The gateway's configuration: one masked connection whose readers get a least-privileged
# login. Each run gets a fresh data directory (audit log, recordings, keys).
write_config() { # dir
    {
        [[ -z "$WORKER_THREADS" ]] || printf 'worker_threads = %s\n\n' "$WORKER_THREADS"
        cat <<EOF
[policy]
files = ["$REPO/policies/quickstart.cedar"]

[postgres]
listen = "127.0.0.1:0"
shutdown_grace = "2s"

[admin]
listen = "127.0.0.1:0"

[[connections]]
name = "bench"
kind = "postgres"
host = "127.0.0.1"
port = 5432
database = "$BENCH_DB"
user = "postgres"
default_level = "read"

[[connections.logins]]
level = "admin"
groups = ["admins"]

[[connections.logins]]
level = "read"
groups = ["readers"]
user = "gatehouse_bench_read"
password_file = "$WORK/logins/gatehouse_bench_read.password"

[[connections.logins]]
level = "write"
groups = ["writers"]
user = "gatehouse_bench_write"
password_file = "$WORK/logins/gatehouse_bench_write.password"

[connections.masking]
detectors = ["all"]
EOF
    } >"$1/gatehouse.toml"
}

mkdir -p "$WORK/setup"
write_config "$WORK/setup"
log "creating the least-privileged logins (gatehouse db-roles bench --apply)"
"$GATEHOUSE" --config "$WORK/setup/gatehouse.toml" --data-dir "$WORK/setup/data" \
    db-roles bench --password-dir "$WORK/logins" --apply >"$WORK/setup/db-roles.log" 2>&1 ||
    { cat "$WORK/setup/db-roles.log" >&2; die "db-roles --apply failed"; }

# One gatehouse run of $2 transactions in mode $1 in directory $3, gatehouse started under the
# command $4... (valgrind, strace); checks the guarantees held.
run_gatehouse() { # mode transactions dir wrapper...
    local mode=$1 transactions=$2 dir=$3
    shift 3
    mkdir -p "$dir"
    write_config "$dir"
    local token
    token=$("$GATEHOUSE" --config "$dir/gatehouse.toml" --data-dir "$dir/data" \
        keys create --identity bench --groups readers --ttl 2h 2>/dev/null | tail -n1)
    [[ -n "$token" ]] || die "keys create printed no token"
    GATEHOUSE_LOG=warn "$@" \
        "$GATEHOUSE" --config "$dir/gatehouse.toml" --data-dir "$dir/data" serve \
        >"$dir/serve.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1200); do
        [[ -s "$dir/data/listeners.json" ]] && break
        kill -0 "$pid" 2>/dev/null || { cat "$dir/serve.log" >&2; die "gatehouse exited before listening"; }
        sleep 0.1
    done
    local port
    port=$(sed -n 's/.*"postgres":"[^"]*:\([0-9]*\)".*/\1/p' "$dir/data/listeners.json")
    [[ -n "$port" ]] || die "gatehouse did not start in 120 s"
    PGPASSWORD=$token PGSSLMODE=require pgbench -h 127.0.0.1 -p "$port" -U bench -S -n \
        -M "$mode" -c "$CLIENTS" -t "$transactions" bench >"$dir/pgbench.log" 2>&1 ||
        { cat "$dir/pgbench.log" >&2; die "pgbench through gatehouse failed"; }
    # Under strace, gatehouse is strace's child: stop it, and strace ends with it.
    pkill -TERM -P "$pid" 2>/dev/null || kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    check_guarantees "$dir" "$((transactions * CLIENTS))"
}

# Count one gatehouse run of $2 transactions in mode $1; prints the instruction total.
count_gatehouse() { # mode transactions
    local dir="$WORK/$1-$2"
    run_gatehouse "$1" "$2" "$dir" \
        valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out"
    sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dir/callgrind.out"
}

# Count the system calls of one gatehouse run of $2 transactions in mode $1 (every thread)
# into "calls<TAB>syscall" lines of $WORK/syscalls-$1-$2/counts.
count_syscalls() { # mode transactions
    local dir="$WORK/syscalls-$1-$2"
    run_gatehouse "$1" "$2" "$dir" strace -f -c -o "$dir/strace.txt"
    # Columns: % time, seconds, usecs/call, calls, [errors,] syscall.
    awk 'NF >= 5 && $1 ~ /^[0-9.]+$/ && $NF != "total" { print $4 "\t" $NF }' \
        "$dir/strace.txt" >"$dir/counts"
}

# The audit log must hold a statement event and an outcome event for every transaction, and
# verify; otherwise the count measured a weaker gateway than the one we ship.
check_guarantees() { # dir transactions
    local dir=$1 transactions=$2 statements outcomes
    statements=$("$GATEHOUSE" --config "$dir/gatehouse.toml" --data-dir "$dir/data" \
        audit export 2>/dev/null | grep -c '"kind":"statement"' || true)
    outcomes=$("$GATEHOUSE" --config "$dir/gatehouse.toml" --data-dir "$dir/data" \
        audit export 2>/dev/null | grep -c '"kind":"outcome"' || true)
    ((statements >= transactions)) || die "$dir: $statements statement events for $transactions transactions"
    ((outcomes >= transactions)) || die "$dir: $outcomes outcome events for $transactions transactions"
    "$GATEHOUSE" --config "$dir/gatehouse.toml" --data-dir "$dir/data" audit verify \
        >"$dir/verify.log" 2>&1 || { cat "$dir/verify.log" >&2; die "$dir: audit verify failed"; }
}

count_pgbouncer() { # mode transactions
    local mode=$1 transactions=$2 dir="$WORK/pgbouncer-$1-$2"
    local bouncer=/usr/sbin/pgbouncer
    [[ -x "$bouncer" ]] || { log "installing pgbouncer"; apt-get install -y -qq pgbouncer >/dev/null; }
    mkdir -p "$dir"
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    printf '"postgres" ""\n' >"$dir/userlist.txt"
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=5432 dbname=$BENCH_DB user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = session
unix_socket_dir =
logfile = $dir/pgbouncer.log
EOF
    chown -R postgres "$dir"
    chmod 755 "$WORK" # pgbouncer runs as postgres (it refuses root) and reads its files here
    runuser -u postgres -- valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" \
        "$bouncer" "$dir/pgbouncer.ini" >"$dir/run.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    pgbench -h 127.0.0.1 -p "$port" -U postgres -S -n -M "$mode" -c "$CLIENTS" -t "$transactions" bench \
        >"$dir/pgbench.log" 2>&1 || { cat "$dir/pgbench.log" >&2; die "pgbench through pgbouncer failed"; }
    pkill -TERM -f "pgbouncer $dir/pgbouncer.ini" || true
    wait "$pid" 2>/dev/null || true
    sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dir/callgrind.out"
}

# Per function: (inclusive cost in the long run - in the short run) / transactions between them, largest
# first, as "instructions<TAB>function".
marginal_profile() { # short.out long.out
    python3 - "$1" "$2" "$(((LONG - SHORT) * CLIENTS))" <<'PY'
import re, signal, subprocess, sys

signal.signal(signal.SIGPIPE, signal.SIG_DFL)

def inclusive(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    costs = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*?)(\s+\[[^\]]*\])?$", line)
        if m:
            name = re.sub(r"^(\?\?\?|[^ :]*\.[a-zA-Z]+):", "", m.group(2))
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs

short, long = inclusive(sys.argv[1]), inclusive(sys.argv[2])
count = int(sys.argv[3])
rows = sorted(((long[k] - short.get(k, 0)) / count, k) for k in long)
for cost, name in reversed(rows):
    print(f"{cost:.0f}\t{name}")
PY
}

# The per-stage table: each stage is one function's marginal inclusive cost per transaction
# (stages nest: "client to server" holds decode, classify and decide; "decide" holds policy,
# audit and the recording of the request). Builds before f199aa7 called the
# classifier from inside the session's part, so there the second classify row holds both.
# The whole session is counted at `session::run`, which holds the relay: since the relay's
# select no longer polls the endings branch on every wake-up, the compiler inlines the relay
# into it and its own symbol is gone.
stages() { # short.out long.out
    local profile stage function cost
    profile=$(marginal_profile "$1" "$2")
    printf '\n| stage (%s) | function | instructions per transaction |\n|---|---|---:|\n' "$mode"
    while IFS='|' read -r stage function; do
        cost=$(awk -F'\t' -v f="$function" '$2 == f { print $1; exit }' <<<"$profile")
        printf '| %s | `%s` | %s |\n' "$stage" "$function" "${cost:-0}"
    done <<'EOF'
whole session (both directions)|gatehouse_pg::session::run::{{closure}}
client to server|gatehouse_pg::session::inbound::Inbound<R>::run::{{closure}}
decode (framing)|gatehouse_pg::wire::frame::FrameReader<R>::next::{{closure}}
classify: the classifier (cache lookup, parse on a miss)|gatehouse_sql::cache::Classifier::classify
classify: the session's part (prepared statements, rules, lineage)|gatehouse_pg::session::inbound::Inbound<R>::classify
approval pre-check (would_hold)|gatehouse_pg::session::inbound::Inbound<R>::bind_held_to_session::{{closure}}
decide (policy, audit, recording)|gatehouse_pipeline::pipeline::Pipeline::decide::{{closure}}
policy|gatehouse_policy::engine::PolicyEngine::decide
audit append|<gatehouse_store::audit::AuditLog as gatehouse_pipeline::audit::AuditSink>::record::{{closure}}
chain MAC|gatehouse_store::chain::AuditKey::mac
recording of requests|gatehouse_pipeline::recording::SessionRecorder::requests
outcome events and recording of results|gatehouse_pipeline::pipeline::Pipeline::record_results
masking of results|gatehouse_pg::session::outbound::mask
TLS reads from the client|<tokio_rustls::server::TlsStream<IO> as tokio::io::async_read::AsyncRead>::poll_read
TLS writes to the client|<tokio_rustls::server::TlsStream<IO> as tokio::io::async_write::AsyncWrite>::poll_write
EOF
}

# Per system call: (calls in the long run - in the short run) / transactions between them, most first.
syscall_table() { # short-counts-file long-counts-file
    printf '\n| system call (%s) | calls per transaction |\n|---|---:|\n' "$mode"
    awk -F'\t' -v n=$(((LONG - SHORT) * CLIENTS)) '
        NR == FNR { short[$2] = $1; next }
        { per = ($1 - short[$2]) / n; total += per; if (per >= 0.05) printf "| `%s` | %.2f |\n", $2, per }
        END { printf "| all | %.2f |\n", total }' "$1" "$2" |
        sort -t'|' -k3 -rn
}

marginal() { # short-total long-total
    echo $(( ($2 - $1) / ((LONG - SHORT) * CLIENTS) ))
}

printf '| target | mode | instructions (%s txns) | instructions (%s txns) | per transaction |\n' "$SHORT" "$LONG"
printf '|---|---|---:|---:|---:|\n'
for mode in $MODES; do
    log "gatehouse, $mode: $SHORT then $LONG transactions under callgrind"
    short=$(count_gatehouse "$mode" "$SHORT")
    long=$(count_gatehouse "$mode" "$LONG")
    printf '| gatehouse | %s | %s | %s | %s |\n' "$mode" "$short" "$long" "$(marginal "$short" "$long")"
    if [[ "$PGBOUNCER" == 1 ]]; then
        log "pgbouncer, $mode"
        short=$(count_pgbouncer "$mode" "$SHORT")
        long=$(count_pgbouncer "$mode" "$LONG")
        printf '| pgbouncer | %s | %s | %s | %s |\n' "$mode" "$short" "$long" "$(marginal "$short" "$long")"
    fi
    stages "$WORK/$mode-$SHORT/callgrind.out" "$WORK/$mode-$LONG/callgrind.out"
    if [[ "$SYSCALLS" == 1 ]]; then
        log "gatehouse, $mode: system calls of $SHORT then $LONG transactions under strace"
        count_syscalls "$mode" "$SHORT"
        count_syscalls "$mode" "$LONG"
        syscall_table "$WORK/syscalls-$mode-$SHORT/counts" "$WORK/syscalls-$mode-$LONG/counts"
    fi
    if [[ "$TOP" -gt 0 ]]; then
        log "the $TOP functions with the largest marginal inclusive cost per transaction ($mode):"
        # sed reads to the end (head would leave the writer to die of SIGPIPE, which
        # pipefail and set -e turn into the end of the script, before the next mode).
        marginal_profile "$WORK/$mode-$SHORT/callgrind.out" "$WORK/$mode-$LONG/callgrind.out" |
            sed -n "1,${TOP}p" >&2
    fi
done
