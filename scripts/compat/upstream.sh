#!/usr/bin/env bash
# Upstream driver compatibility: run psycopg 3's own test suite and node-postgres's own
# integration suite (packages/pg) twice each, once straight against PostgreSQL and once through
# a gatehouse gateway as an `admins` identity on an unmasked connection, and print the
# pass/fail/skip counts side by side (the numbers in README's compatibility section).
#
# What it does:
#   1. gets the two suites at pinned commits (git clone of the public repositories, or the
#      checkouts named by PSYCOPG_SRC / NODE_PG_SRC), a Python venv with psycopg's `test` extra
#      (+ pytest-timeout; pure-Python psycopg on the system libpq) and `npm install` +
#      `tsc --build` for node-postgres;
#   2. builds gatehouse (release) unless GATEHOUSE_BIN is set, writes a config with one
#      connection per suite (each to its own scratch database, logging in upstream as the
#      PostgreSQL superuser), the quickstart policy, plaintext allowed on loopback, listeners
#      on free ports, and mints a 12h token for identity `root` in group `admins`;
#   3. runs each suite directly and through the gateway, same commit and options:
#        psycopg:  pytest -q -p no:randomly --timeout 60 over tests/ WITHOUT tests/pool,
#                  tests/crdb, tests/test_typing.py (mypy) and the test_leak tests (client
#                  memory-leak checks: a third of the run time, nothing to do with the server)
#        node-pg:  every test/integration/**/*-tests.js file, one `node FILE` each (what
#                  `make test-integration` runs, except that one failing file does not stop
#                  the rest); a test is counted from the suite's `✔` / `FAILED!` lines;
#   4. prints the counts; logs and per-test outcomes stay in $WORK.
#
# Expected through gatehouse with the quickstart policy: tests that run `DO` blocks, or that set
# standard_conforming_strings to off, are refused as `sql:unknown` (policy
# `nobody-runs-unknown-sql`); that is policy, not a defect. The first run of this script (at
# c1c2d66) found two gateway bugs, both fixed since: a column name that is not UTF-8 (LATIN9)
# ended the session, and results of ~10 MB over TLS stalled at their end (a missing flush).
# Results recorded 2026-12-05 after the fixes, PostgreSQL 15.20, libpq 15.20:
#   psycopg  direct 5050 passed / 3 failed / 214 skipped / 37 xfailed (5304 run, 310 s)
#            gateway 5033 passed / 23 failed / 211 skipped / 37 xfailed (353 s)
#   node-pg  direct 230 passed / 0 failed (79 files); gateway 229 passed / 1 failed
#
# Time: about 15-20 minutes on a 2-core machine once the gateway is built (psycopg ~5-6 min
# per run, node-postgres ~1 min per run), plus the first `cargo build --release` and installs.
#
# Needs: git, python3 (>= 3.10) with venv, node >= 18 + npm, psql, a PostgreSQL reachable as a
# superuser (default 127.0.0.1:5432 user postgres, trust auth or PGPASSWORD), network access to
# PyPI and npm. Not run by CI.
#
# Environment (all optional):
#   WORK=/tmp/gatehouse-upstream      work directory (checkouts, venv, logs, gateway data)
#   PSYCOPG_SRC=DIR NODE_PG_SRC=DIR   existing checkouts to use instead of cloning (used as is)
#   PSYCOPG_COMMIT, NODE_PG_COMMIT    commits to clone (defaults: the ones the README numbers used)
#   GATEHOUSE_BIN=PATH                a built gatehouse binary (default: cargo build --release)
#   PG_HOST=127.0.0.1 PG_PORT=5432 PG_SUPERUSER=postgres   the server under test
#   SUITES="psycopg node"             which suites to run
#   PSYCOPG_SELECT="..."              pytest selection, shell words (default: the subset above,
#                                     "--ignore=tests/pool --ignore=tests/crdb
#                                      --ignore=tests/test_typing.py -k 'not test_leak'")
#
# Usage: scripts/compat/upstream.sh
set -euo pipefail

PSYCOPG_COMMIT=${PSYCOPG_COMMIT:-c079c37c959a89a8684a3d3858cbaff7e5543e71}
NODE_PG_COMMIT=${NODE_PG_COMMIT:-c9e57617bc92c2ded23a75345f50eadc527bd131}
WORK=${WORK:-/tmp/gatehouse-upstream}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_SUPERUSER=${PG_SUPERUSER:-postgres}
SUITES=${SUITES:-"psycopg node"}
PSYCOPG_SELECT=${PSYCOPG_SELECT:-"--ignore=tests/pool --ignore=tests/crdb --ignore=tests/test_typing.py -k 'not test_leak'"}
eval "PSYCOPG_SELECTION=($PSYCOPG_SELECT)"   # shell words, so that quotes in it work
REPO_ROOT=$(cd "$(dirname "$0")/../.." && pwd)

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
log() { printf '==> %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# Sources
checkout() { # URL COMMIT DIR
  if [ ! -d "$3/.git" ]; then
    git clone --quiet "$1" "$3"
  fi
  git -C "$3" fetch --quiet origin "$2" 2>/dev/null || true
  git -C "$3" checkout --quiet --detach "$2"
}
if [ -z "${PSYCOPG_SRC:-}" ]; then
  PSYCOPG_SRC=$WORK/psycopg
  log "psycopg @ $PSYCOPG_COMMIT"
  checkout https://github.com/psycopg/psycopg.git "$PSYCOPG_COMMIT" "$PSYCOPG_SRC"
fi
if [ -z "${NODE_PG_SRC:-}" ]; then
  NODE_PG_SRC=$WORK/node-postgres
  log "node-postgres @ $NODE_PG_COMMIT"
  checkout https://github.com/brianc/node-postgres.git "$NODE_PG_COMMIT" "$NODE_PG_SRC"
fi
PSYCOPG_SRC=$(cd "$PSYCOPG_SRC" && pwd)
NODE_PG_SRC=$(cd "$NODE_PG_SRC" && pwd)

# ---------------------------------------------------------------------------------------------
# Test dependencies
VENV=$WORK/venv
if [[ " $SUITES " == *" psycopg "* ]] && [ ! -x "$VENV/bin/pytest" ]; then
  log "venv for psycopg's tests"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  # editable_mode=compat: a plain editable install is shadowed by the checkout's `psycopg/`
  # directory (a namespace package on pytest's sys.path) and nothing imports.
  "$VENV/bin/pip" install -q --config-settings editable_mode=compat \
    -e "$PSYCOPG_SRC/psycopg[test]" pytest-timeout
fi
if [[ " $SUITES " == *" node "* ]] && [ ! -d "$NODE_PG_SRC/packages/pg-protocol/dist" ]; then
  log "npm install + tsc --build for node-postgres"
  # The root `prepublish` script calls yarn; install without scripts and build with tsc.
  (cd "$NODE_PG_SRC" && npm install --no-audit --no-fund --ignore-scripts >/dev/null && npx tsc --build)
fi

# ---------------------------------------------------------------------------------------------
# Gateway
if [ -z "${GATEHOUSE_BIN:-}" ]; then
  log "cargo build --release -p gatehouse"
  (cd "$REPO_ROOT" && cargo build --release -p gatehouse)
  GATEHOUSE_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/gatehouse
fi

psql_admin() { psql -qX -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres "$@"; }
fresh_db() { psql_admin -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" 2>/dev/null; }

GW=$WORK/gateway
rm -rf "$GW" && mkdir -p "$GW"
password_line=""
if [ -n "${PGPASSWORD:-}" ]; then password_line='password_env = "PGPASSWORD"'; fi
connection() { # NAME DATABASE
  cat <<EOF

[[connections]]
name = "$1"
kind = "postgres"
host = "$PG_HOST"
port = $PG_PORT
database = "$2"
user = "$PG_SUPERUSER"
$password_line
tls = "disable"
EOF
}
{
  cat <<EOF
[policy]
files = ["$REPO_ROOT/policies/quickstart.cedar"]

[postgres]
listen = "127.0.0.1:0"
allow_plaintext = true
shutdown_grace = "2s"

[admin]
listen = "127.0.0.1:0"

[keys]
default_ttl = "12h"
max_ttl = "24h"
EOF
  connection compat_psycopg compat_psycopg_gw
  connection compat_node compat_node_gw
  # node-postgres gh-issues/130-tests.js runs `psql ... template1` with the suite's credentials.
  connection template1 template1
} > "$GW/gatehouse.toml"

GATEHOUSE_PID=""
cleanup() {
  if [ -n "$GATEHOUSE_PID" ]; then kill "$GATEHOUSE_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

log "starting gatehouse ($GATEHOUSE_BIN)"
GATEHOUSE_LOG=info "$GATEHOUSE_BIN" --config "$GW/gatehouse.toml" --data-dir "$GW/data" serve \
  >"$GW/serve.log" 2>&1 &
GATEHOUSE_PID=$!
for _ in $(seq 300); do [ -s "$GW/data/listeners.json" ] && break; sleep 0.1; done
GW_PORT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["postgres"].rsplit(":",1)[1])' \
  "$GW/data/listeners.json")
TOKEN=$("$GATEHOUSE_BIN" --config "$GW/gatehouse.toml" --data-dir "$GW/data" \
  keys create --identity root --groups admins --ttl 12h | tail -n1)
log "gateway on 127.0.0.1:$GW_PORT"

# ---------------------------------------------------------------------------------------------
# Runners
RESULTS=$WORK/results
mkdir -p "$RESULTS"

run_psycopg() { # LABEL DSN -> prints "total passed failed skipped xfailed errors wall"
  local label=$1 dsn=$2 logf=$RESULTS/psycopg-$1.log start end
  start=$(date +%s)
  (cd "$PSYCOPG_SRC" && . "$VENV/bin/activate" && timeout 3600 pytest --test-dsn "$dsn" \
      -q -p no:randomly --timeout 60 -rfEs -o cache_dir="$RESULTS/pytest-cache-$label" \
      --junitxml="$RESULTS/psycopg-$label.xml" \
      "${PSYCOPG_SELECTION[@]}" >"$logf" 2>&1) || true
  end=$(date +%s)
  python3 - "$RESULTS/psycopg-$label.xml" $((end - start)) <<'EOF'
import sys, xml.etree.ElementTree as ET
p = f = s = x = e = 0
for tc in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    kinds = {c.tag: c for c in tc}
    if "error" in kinds: e += 1
    elif "failure" in kinds: f += 1
    elif "skipped" in kinds and kinds["skipped"].get("type") == "pytest.xfail": x += 1
    elif "skipped" in kinds: s += 1
    else: p += 1
print(p + f + s + x + e, p, f, s, x, e, sys.argv[2] + "s")
EOF
}

run_node() { # LABEL PORT USER DATABASE PASSWORD -> prints "total passed failed skipped 0 files_failed wall"
  local label=$1 out=$RESULTS/node-$1 start end f rc
  rm -rf "$out" && mkdir -p "$out"
  start=$(date +%s)
  (
    cd "$NODE_PG_SRC/packages/pg"
    export PGHOST=127.0.0.1 PGPORT=$2 PGUSER=$3 PGDATABASE=$4 PGPASSWORD=$5
    find test/integration -name "*-tests.js" | sort | while read -r f; do
      rc=0; timeout 120 node "$f" >"$out/$(echo "$f" | tr / _).log" 2>&1 || rc=$?
      printf '%s\t%s\t%s\t%s\t%s\n' "$f" "$rc" \
        "$(grep -c '✔' "$out/$(echo "$f" | tr / _).log")" \
        "$(grep -c 'SKIPPED' "$out/$(echo "$f" | tr / _).log")" \
        "$(grep -c -E 'FAILED!|did not complete withint' "$out/$(echo "$f" | tr / _).log")"
    done >"$out/files.tsv"
  )
  end=$(date +%s)
  awk -F'\t' -v wall=$((end - start)) '{ok+=$3; sk+=$4; fl+=$5; if ($2 != 0) ff++}
    END {printf "%d %d %d %d 0 %d/%d %ds\n", ok+fl+sk, ok, fl, sk, ff, NR, wall}' "$out/files.tsv"
}

# ---------------------------------------------------------------------------------------------
declare -A R
if [[ " $SUITES " == *" psycopg "* ]]; then
  fresh_db compat_psycopg_direct; fresh_db compat_psycopg_gw
  log "psycopg direct"
  R[psycopg_direct]=$(run_psycopg direct "host=$PG_HOST port=$PG_PORT user=$PG_SUPERUSER dbname=compat_psycopg_direct")
  log "psycopg through gatehouse"
  R[psycopg_gw]=$(run_psycopg gateway "host=127.0.0.1 port=$GW_PORT user=root password=$TOKEN dbname=compat_psycopg")
fi
if [[ " $SUITES " == *" node "* ]]; then
  fresh_db compat_node_direct; fresh_db compat_node_gw
  log "node-postgres direct"
  R[node_direct]=$(run_node direct "$PG_PORT" "$PG_SUPERUSER" compat_node_direct "${PGPASSWORD:-}")
  log "node-postgres through gatehouse"
  R[node_gw]=$(run_node gateway "$GW_PORT" root compat_node "$TOKEN")
fi

PG_VERSION=$(psql_admin -Atc "SHOW server_version")
LIBPQ=$("$VENV/bin/python" -c 'import psycopg; print(psycopg.pq.__impl__, psycopg.pq.version())' 2>/dev/null || echo "-")
echo
echo "PostgreSQL $PG_VERSION; psycopg $(git -C "$PSYCOPG_SRC" rev-parse --short HEAD) (pq impl, libpq: $LIBPQ);" \
  "node-postgres $(git -C "$NODE_PG_SRC" rev-parse --short HEAD), node $(node --version)"
echo
printf '%-16s %7s %7s %7s %7s %7s %9s %8s\n' "run" total passed failed skipped xfailed "err/files" wall
for key in psycopg_direct psycopg_gw node_direct node_gw; do
  [ -n "${R[$key]:-}" ] || continue
  # shellcheck disable=SC2086
  printf '%-16s %7s %7s %7s %7s %7s %9s %8s\n' "$key" ${R[$key]}
done

if [ -f "$RESULTS/psycopg-direct.xml" ] && [ -f "$RESULTS/psycopg-gateway.xml" ]; then
  echo
  echo "psycopg tests that fail only through gatehouse (first line of each error):"
  python3 - "$RESULTS/psycopg-direct.xml" "$RESULTS/psycopg-gateway.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
def bad(path):
    out = {}
    for tc in ET.parse(path).getroot().iter("testcase"):
        for c in tc:
            if c.tag in ("failure", "error"):
                msg = (c.get("message") or "").strip().splitlines() or [""]
                out[tc.get("classname") + "::" + tc.get("name")] = msg[0][:160]
    return out
direct, gateway = bad(sys.argv[1]), bad(sys.argv[2])
for name in sorted(set(gateway) - set(direct)):
    print(f"  {name}: {gateway[name]}")
EOF
fi
if [ -f "$RESULTS/node-direct/files.tsv" ] && [ -f "$RESULTS/node-gateway/files.tsv" ]; then
  echo
  echo "node-postgres files that fail only through gatehouse (see $RESULTS/node-gateway/):"
  join -t "$(printf '\t')" "$RESULTS/node-direct/files.tsv" "$RESULTS/node-gateway/files.tsv" |
    awk -F'\t' '$2 == 0 && $6 != 0 {print "  " $1}'
fi
echo
echo "xfailed: tests psycopg expects to fail. psycopg err/files = pytest errors;"
echo "node err/files = failing files / files (a failing node file stops at its first failure)."
echo "Logs: $RESULTS (psycopg-*.log list failures; node-*/files.tsv per file)."
