#!/usr/bin/env bash
# MySQL data-path benchmark: sysbench oltp_read_only straight to MariaDB and through gatehouse,
# interleaved in the same run, with gatehouse's CPU per query.
#
#   bench/sysbench-mysql.sh
#   DURATION=10 CLIENTS="1 4" ROUNDS=3 MODES="text prepared" bench/sysbench-mysql.sh
#
# Targets (each round runs both, for every mode and client count):
#   direct     127.0.0.1:3306 as the least-privileged read account, plain TCP (this MariaDB has
#              no TLS)
#   gh-masked  gatehouse's MySQL listener over TLS (gatehouse's certificate as sysbench's CA),
#              the token as password, audit log and session recordings
#              on, masking on (every built-in detector), the reader logging in to MariaDB as that
#              same read account
# The workload: sysbench's oltp_read_only transaction (BEGIN, 10 point SELECTs, 4 range
# SELECTs with SUM, ORDER BY and DISTINCT, COMMIT) on one table of TABLE_SIZE rows; MODES
# `text` (--db-ps-mode=disable: COM_QUERY) and `prepared` (auto: COM_STMT_PREPARE/EXECUTE,
# binary rows).
#
# Afterwards it checks that the guarantees held while it ran: the audit log holds a statement
# and an outcome event for every query gatehouse forwarded, and `gatehouse audit verify` passes.
#
# Needs: MariaDB on 127.0.0.1:3306 (root, no password), sysbench (installed with apt-get if
# missing), cargo. Leaves the database `$BENCH_DB` and its account in place; everything else is
# removed.
#
# Environment:
#   DURATION=10        seconds per sysbench run
#   CLIENTS="1 4"      client counts (sysbench --threads)
#   MODES="text prepared"
#   ROUNDS=3           interleaved rounds
#   TABLE_SIZE=10000   rows of the table
#   BENCH_DB=gh_bench_mysql   database, also the gatehouse connection's name
#   GATEHOUSE_BIN=     a prebuilt release binary instead of `cargo build --release`
#   CARGO_TARGET_DIR   defaults to /root/.cache/gatehouse-target
#   KEEP_LOGS=0        1 keeps the temp dir (gateway log, config, sysbench outputs)

set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-"1 4"}
MODES=${MODES:-"text prepared"}
ROUNDS=${ROUNDS:-3}
TABLE_SIZE=${TABLE_SIZE:-10000}
BENCH_DB=${BENCH_DB:-gh_bench_mysql}
READER=${BENCH_DB}_read
READER_PASSWORD=bench-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')

command -v sysbench >/dev/null 2>&1 || {
  echo "installing sysbench (Debian package)..." >&2
  apt-get install -y -qq sysbench >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq sysbench >/dev/null; }
}
if [ -z "${GATEHOUSE_BIN:-}" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/gatehouse-target}
  echo "building gatehouse (release)..." >&2
  cargo build --release -q -p gatehouse
  GATEHOUSE_BIN=$CARGO_TARGET_DIR/release/gatehouse
fi

work=$(mktemp -d)
gateway_pid=
cleanup() {
  [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null || true
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

root() { mariadb -h 127.0.0.1 -P 3306 -u root --batch --skip-column-names -e "$1"; }

echo "preparing $BENCH_DB ($TABLE_SIZE rows) and the read account $READER..." >&2
root "DROP DATABASE IF EXISTS \`$BENCH_DB\`; CREATE DATABASE \`$BENCH_DB\`;
      CREATE USER IF NOT EXISTS '$READER'@'%' IDENTIFIED BY '$READER_PASSWORD';
      ALTER USER '$READER'@'%' IDENTIFIED BY '$READER_PASSWORD';
      GRANT SELECT ON \`$BENCH_DB\`.* TO '$READER'@'%';"
sysbench oltp_read_only --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port=3306 --mysql-user=root \
  --mysql-db="$BENCH_DB" --tables=1 --table-size="$TABLE_SIZE" prepare > "$work/prepare.log"

cat > "$work/gatehouse.toml" <<TOML
[postgres]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[mysql]
listen = "127.0.0.1:0"

[[connections]]
name = "$BENCH_DB"
kind = "mysql"
host = "127.0.0.1"
port = 3306
database = "$BENCH_DB"
user = "root"
default_level = "read"
[connections.masking]

[[connections.logins]]
level = "read"
groups = ["readers"]
user = "$READER"
password_env = "BENCH_READ_PASSWORD"
TOML

BENCH_READ_PASSWORD=$READER_PASSWORD GATEHOUSE_LOG=${GATEHOUSE_LOG:-warn} \
  "$GATEHOUSE_BIN" --config "$work/gatehouse.toml" --data-dir "$work/data" serve 2> "$work/gateway.log" &
gateway_pid=$!
for _ in $(seq 1 300); do [ -f "$work/data/listeners.json" ] && break; sleep 0.1; done
[ -f "$work/data/listeners.json" ] || { cat "$work/gateway.log" >&2; echo "gatehouse did not start" >&2; exit 1; }
mysql_port=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['mysql'].rsplit(':',1)[1])" "$work/data/listeners.json")
token=$("$GATEHOUSE_BIN" --config "$work/gatehouse.toml" --data-dir "$work/data" keys create --identity bench --groups readers --ttl 1h | tail -n1)

# sysbench 1.0's --mysql-ssl=on reads cacert.pem, client-cert.pem and client-key.pem from the
# directory it runs in: gatehouse's certificate as the CA, and a throwaway client pair (the
# gateway asks for no client certificate).
mkdir -p "$work/ssl"
cp "$work/data/tls/server.crt" "$work/ssl/cacert.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench \
  -keyout "$work/ssl/client-key.pem" -out "$work/ssl/client-cert.pem" 2> /dev/null

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# One sysbench run; prints "queries_per_second queries".
bench() {
  local mode=$1 clients=$2; shift 2
  local ps=disable
  [ "$mode" = prepared ] && ps=auto
  (cd "$work/ssl" && sysbench oltp_read_only --db-driver=mysql --mysql-host=127.0.0.1 --mysql-db="$BENCH_DB" \
    --tables=1 --table-size="$TABLE_SIZE" --threads="$clients" --time="$DURATION" \
    --db-ps-mode="$ps" "$@" run) > "$work/run.log" 2>&1 || { cat "$work/run.log" >&2; return 1; }
  awk '/queries:/ { gsub(/\(/, "", $3); print $3, $2 }' "$work/run.log"
}

declare -A qps_direct qps_gh cpu_gh
forwarded=0
for round in $(seq 1 "$ROUNDS"); do
  for mode in $MODES; do
    for clients in $CLIENTS; do
      read -r direct _ < <(bench "$mode" "$clients" --mysql-port=3306 --mysql-user="$READER" --mysql-password="$READER_PASSWORD")
      before=$(cpu_ticks "$gateway_pid")
      read -r through queries < <(bench "$mode" "$clients" --mysql-port="$mysql_port" --mysql-user=bench \
        --mysql-password="$token" --mysql-ssl=on)
      after=$(cpu_ticks "$gateway_pid")
      forwarded=$((forwarded + queries))
      key=$mode,$clients,$round
      qps_direct[$key]=$direct
      qps_gh[$key]=$through
      cpu_gh[$key]=$(python3 -c "print(round(($after - $before) / $ticks_per_second / $queries * 1e6, 1))")
      echo "round $round, $mode, $clients client(s): direct $direct q/s, gatehouse $through q/s, gateway CPU ${cpu_gh[$key]} µs/query" >&2
    done
  done
done

echo
echo "| protocol | clients | direct q/s | gatehouse q/s | gatehouse/direct | gateway CPU µs/query |"
echo "|---|---:|---:|---:|---:|---:|"
for mode in $MODES; do
  for clients in $CLIENTS; do
    d=(); g=(); c=()
    for round in $(seq 1 "$ROUNDS"); do
      key=$mode,$clients,$round
      d+=("${qps_direct[$key]}"); g+=("${qps_gh[$key]}"); c+=("${cpu_gh[$key]}")
    done
    python3 -c "
import statistics, sys
d=[float(x) for x in sys.argv[1].split()]; g=[float(x) for x in sys.argv[2].split()]; c=[float(x) for x in sys.argv[3].split()]
r=[b/a for a,b in zip(d,g)]
print(f'| {sys.argv[4]} | {sys.argv[5]} | {statistics.median(d):,.0f} | {statistics.median(g):,.0f} | {min(r):.2f}–{max(r):.2f} | {min(c):.0f}–{max(c):.0f} |')
" "${d[*]}" "${g[*]}" "${c[*]}" "$mode" "$clients"
  done
done

echo >&2
echo "checking the audit log..." >&2
events=$("$GATEHOUSE_BIN" --config "$work/gatehouse.toml" --data-dir "$work/data" audit export)
statements=$(grep -c '"action":"sql:' <<< "$events" || true)
outcomes=$(grep -c '"kind":"outcome"' <<< "$events" || true)
echo "audit: $statements sql:* statement events and $outcomes outcomes for $forwarded queries forwarded" >&2
[ "$statements" -ge "$forwarded" ] && [ "$outcomes" -ge "$forwarded" ] || { echo "the audit log misses statements" >&2; exit 1; }
"$GATEHOUSE_BIN" --config "$work/gatehouse.toml" --data-dir "$work/data" audit verify >&2
