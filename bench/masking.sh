#!/usr/bin/env bash
# Masking in the data path: stream a wide result (ROWS rows, 8 columns, 10% of rows carrying an
# email and a card number) with psql through one gatehouse whose connection masks, once as a
# reader (masked) and once as an admin (exempt by the quickstart policy: same path, nothing
# masked), plus straight to PostgreSQL, back to back, REPEAT times each; reports the median
# wall time of each and the masked/unmasked ratio.
#
#   bench/masking.sh                  # 1,000,000 rows, 3 repetitions
#   ROWS=200000 REPEAT=5 bench/masking.sh
#
# Needs PostgreSQL on 127.0.0.1:5432 (trust auth for postgres), psql, cargo.
set -euo pipefail

ROWS=${ROWS:-1000000}
REPEAT=${REPEAT:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/gatehouse-target}
[[ "$ROWS" =~ ^[1-9][0-9]*$ ]] || { echo "ROWS must be a positive integer" >&2; exit 2; }
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || { echo "REPEAT must be a positive integer" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /tmp/gh-maskbench.XXXXXX)
GH_PID=
cleanup() {
    if [[ -n "$GH_PID" ]]; then
        kill "$GH_PID" 2>/dev/null || true
        wait "$GH_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf '[masking.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

log "building gatehouse (release)"
(cd "$REPO" && cargo build --release -p gatehouse) >&2
GATEHOUSE="$CARGO_TARGET_DIR/release/gatehouse"

cat >"$WORK/gatehouse.toml" <<EOF
[policy]
files = ["$REPO/policies/quickstart.cedar"]

[postgres]
listen = "127.0.0.1:0"

[admin]
listen = "127.0.0.1:0"

[recording]
enabled = false

[[connections]]
name = "bench"
kind = "postgres"
host = "127.0.0.1"
port = 5432
database = "postgres"
user = "postgres"

[connections.masking]
EOF
gh() { "$GATEHOUSE" --config "$WORK/gatehouse.toml" --data-dir "$WORK/data" "$@"; }
READER=$(gh keys create --identity reader --groups readers --ttl 2h | tail -n1)
ADMIN=$(gh keys create --identity admin --groups admins --ttl 2h | tail -n1)
# Started directly, not through gh(): $! must be gatehouse itself for the cleanup to stop it.
"$GATEHOUSE" --config "$WORK/gatehouse.toml" --data-dir "$WORK/data" serve >"$WORK/serve.log" 2>&1 &
GH_PID=$!
for _ in $(seq 300); do [[ -s "$WORK/data/listeners.json" ]] && break; sleep 0.1; done
PORT=$(sed -n 's/.*"postgres":"[^"]*:\([0-9]*\)".*/\1/p' "$WORK/data/listeners.json")
[[ -n "$PORT" ]] || { cat "$WORK/serve.log" >&2; exit 1; }

QUERY="SELECT g AS id,
  'customer ' || g AS name,
  now() - g * interval '1 minute' AS created_at,
  (g * 37) % 10000 / 100.0 AS amount,
  CASE WHEN g % 10 = 0 THEN 'user' || g || '@example.com' ELSE 'no contact on file' END AS email,
  CASE WHEN g % 10 = 0 THEN '4111 1111 1111 1111' ELSE 'n/a' END AS card,
  md5(g::text) AS token_hash,
  'order shipped to warehouse ' || (g % 97) AS note
FROM generate_series(1, $ROWS) AS g"

run() { # name conninfo -> seconds
    local start end
    start=$(date +%s%N)
    psql -X -q -A -t "$2" -c "$QUERY" >"$WORK/out-$1.txt"
    end=$(date +%s%N)
    awk -v ns=$((end - start)) 'BEGIN { printf "%.3f", ns / 1e9 }'
}

declare -A TIMES
for i in $(seq "$REPEAT"); do
    d=$(run direct "host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=disable")
    u=$(PGPASSWORD=$ADMIN run unmasked "host=127.0.0.1 port=$PORT user=admin dbname=bench sslmode=require")
    m=$(PGPASSWORD=$READER run masked "host=127.0.0.1 port=$PORT user=reader dbname=bench sslmode=require")
    TIMES[direct]+="$d " TIMES[unmasked]+="$u " TIMES[masked]+="$m "
    log "repetition $i: direct ${d}s, unmasked ${u}s, masked ${m}s"
done
grep -q '@example.com' "$WORK/out-masked.txt" && { echo "masked output still holds emails" >&2; exit 1; }
[[ $(wc -l <"$WORK/out-masked.txt") == "$ROWS" ]] || { echo "masked output lost rows" >&2; exit 1; }

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
D=$(median "${TIMES[direct]}") U=$(median "${TIMES[unmasked]}") M=$(median "${TIMES[masked]}")
echo
echo "$ROWS rows x 8 columns, 10% with PII; psql -A -t to a file; median of $REPEAT (seconds)"
echo "| path | seconds | vs direct | vs unmasked |"
echo "|---|---:|---:|---:|"
awk -v d="$D" -v u="$U" -v m="$M" 'BEGIN {
  printf "| direct | %.2f | 1.00 | - |\n", d
  printf "| gatehouse, unmasked (admin) | %.2f | %.2f | 1.00 |\n", u, u / d
  printf "| gatehouse, masked (reader) | %.2f | %.2f | %.2f |\n", m, m / d, m / u
}'
