#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder that sees outside bytes (AFL++ through cargo-afl,
# on stable Rust). Installs and configures cargo-afl if missing, builds the targets in fuzz/,
# runs each for a bounded time and reports executions, coverage, crashes and hangs. Then the
# differential fuzzer of the PostgreSQL adapter (crates/gatehouse/tests/differential.rs: message
# sequences through the real gateway to a throwaway PostgreSQL 15 cluster, judged against the
# server's own log) runs for its own time budget and reports cases, cases/s and findings, and
# so does the one of the MySQL adapter (crates/gatehouse/tests/mysql_differential.rs: COM_QUERY
# messages through the real gateway to the machine's MariaDB, judged against its general log).
#
#   scripts/fuzz.sh [SECONDS]
#
# SECONDS (default 60) is the wall-clock budget of the fuzzing phase for ALL targets together
# (the build is extra). Targets run FUZZ_JOBS at a time (default: the number of CPUs), so each
# gets SECONDS x FUZZ_JOBS / targets seconds of fuzzing, at least 10, after loading its seeds.
# CI runs `scripts/fuzz.sh 60` as a smoke pass; longer campaigns: `scripts/fuzz.sh 3600`.
#
# Environment:
#   FUZZ_TARGETS      space-separated subset of targets (default: all of them)
#   FUZZ_JOBS         targets fuzzed in parallel (default: nproc)
#   FUZZ_OUT          AFL output directory (default: fuzz/out; one subdirectory per target)
#   FUZZ_RESUME=1     continue from the queue a previous run left in FUZZ_OUT instead of the seeds
#   FUZZ_TARGET_DIR   cargo target directory for the instrumented build (default:
#                     ~/.cache/gatehouse-fuzz-target; never the main workspace's: the AFL
#                     flags would invalidate its cache)
#   FUZZ_DIFFERENTIAL_SECONDS  budget of the differential fuzzer after the AFL targets
#                     (default: SECONDS; 0 skips it). It needs root and PostgreSQL 15 in
#                     /usr/lib/postgresql/15/bin, as the end-to-end tests do, and builds in the
#                     workspace's own target directory (CARGO_TARGET_DIR as given to this script).
#                     Findings are minimized into fuzz/corpus/pg_differential/.
#   FUZZ_MYSQL_DIFFERENTIAL_SECONDS  budget of the MySQL differential fuzzer after that
#                     (default: the PostgreSQL one's; 0 skips it). It needs the machine's
#                     MariaDB at 127.0.0.1:3306 (root without a password), the `mariadb` client
#                     and PyMySQL, as the MySQL end-to-end tests do; it switches MariaDB's
#                     general log on (to a table). Findings are minimized into
#                     fuzz/corpus/mysql_differential/.
#
# Exits non-zero if any target found a crash or a hang (inputs stay in FUZZ_OUT/<target>/
# default/{crashes,hangs}/, with the command that replays them printed), or if a target did
# not run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${1:-60}
differential_seconds=${FUZZ_DIFFERENTIAL_SECONDS:-$seconds}
mysql_differential_seconds=${FUZZ_MYSQL_DIFFERENTIAL_SECONDS:-$differential_seconds}
# The differential fuzzer is an ordinary test: it builds where the workspace's tests build.
workspace_target_dir=${CARGO_TARGET_DIR:-$root/target}
all_targets=(pg_frontend pg_backend sql_classify masking policy_load mask_config recording_parse identity_tokens
  tunnel_gateway tunnel_agent mcp_request gateway_config k8s_attribution json_mask spdy_frames http_attribution
  ssh_command sftp_packets ssh_server mysql_wire_parse mysql_server_responses)
read -r -a targets <<<"${FUZZ_TARGETS:-${all_targets[*]}}"
jobs=${FUZZ_JOBS:-$(nproc)}
out=${FUZZ_OUT:-$root/fuzz/out}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/gatehouse-fuzz-target}
export CARGO_TERM_COLOR=never

# --- AFL++ through cargo-afl (stable Rust; builds AFL++ from source with the system's cc/make).
if ! command -v cargo-afl >/dev/null 2>&1; then
  echo "installing cargo-afl"
  cargo install --locked cargo-afl
fi
if ! cargo afl --version 2>/dev/null | grep -q 'AFL++ version'; then
  echo "building AFL++ for $(rustc --version)"
  cargo afl config --build
fi

# --- Build the instrumented targets.
(cd fuzz && cargo afl build --release --locked --bins)
bin_dir=$CARGO_TARGET_DIR/release

dictionary() {
  case $1 in
    sql_classify) echo "$root/fuzz/dict/sql.dict" ;;
    policy_load) echo "$root/fuzz/dict/cedar.dict" ;;
    mask_config | gateway_config) echo "$root/fuzz/dict/toml.dict" ;;
    masking | pg_backend) echo "$root/fuzz/dict/mask.dict" ;;
    recording_parse) echo "$root/fuzz/dict/recording.dict" ;;
    tunnel_gateway | tunnel_agent) echo "$root/fuzz/dict/h2.dict" ;;
    mcp_request) echo "$root/fuzz/dict/mcp.dict" ;;
    k8s_attribution) echo "$root/fuzz/dict/k8s.dict" ;;
    http_attribution) echo "$root/fuzz/dict/http.dict" ;;
    json_mask) echo "$root/fuzz/dict/json.dict" ;;
  esac
}

per_target=$((seconds * jobs / ${#targets[@]}))
[ "$per_target" -ge 10 ] || per_target=10
echo "fuzzing ${#targets[@]} targets, $jobs at a time, ${per_target}s each"

# AFL++ settings for containers and CI: no CPU pinning (cores are shared), no complaints about
# core_pattern or frequency scaling, no curses UI.
export AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1

run_target() {
  local target=$1 input=$root/fuzz/corpus/$1 dir=$out/$1 dict
  local args=(-V "$per_target" -t 2000 -m none -o "$dir")
  if [ "${FUZZ_RESUME:-0}" = 1 ] && [ -d "$dir/default/queue" ]; then
    args+=(-i -)
  else
    rm -rf "$dir"
    args+=(-i "$input")
  fi
  dict=$(dictionary "$target")
  [ -z "$dict" ] || args+=(-x "$dict")
  mkdir -p "$out"
  # -V stops AFL after the budget; timeout is the backstop should it not. timeout leads a
  # process group of its own (cargo-afl, afl-fuzz): stopping this function stops that group,
  # and afl-fuzz stops the target processes it started.
  timeout --kill-after=10 $((per_target + 120)) \
    cargo afl fuzz "${args[@]}" -- "$bin_dir/$target" \
    > >(grep --line-buffered -v 'Fuzzing test case' >"$out/$target.log") 2>&1 &
  local fuzzer=$!
  trap 'kill -TERM -- -$fuzzer 2>/dev/null; exit 1' INT TERM
  wait "$fuzzer" || true
}

workers=()
stop_workers() {
  trap - INT TERM
  for worker in "${workers[@]}"; do kill -TERM "$worker" 2>/dev/null || true; done
  wait
  echo "interrupted" >&2
  exit 130
}
trap stop_workers INT TERM

running=0
for target in "${targets[@]}"; do
  run_target "$target" &
  workers+=($!)
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
trap - INT TERM

field() { sed -n "s/^$2 *: //p" "$1" 2>/dev/null | head -1; }
failed=0
printf '\n%-16s %10s %12s %9s %8s %8s %6s %6s\n' target seconds execs "exec/s" corpus coverage crashes hangs
for target in "${targets[@]}"; do
  stats=$out/$target/default/fuzzer_stats
  if [ ! -f "$stats" ]; then
    printf '%-16s did not run; see %s\n' "$target" "$out/$target.log"
    tail -n 20 "$out/$target.log" || true
    failed=1
    continue
  fi
  crashes=$(find "$out/$target/default/crashes" -type f -name 'id:*' 2>/dev/null | wc -l)
  hangs=$(find "$out/$target/default/hangs" -type f -name 'id:*' 2>/dev/null | wc -l)
  printf '%-16s %10s %12s %9s %8s %8s %6s %6s\n' "$target" "$(field "$stats" run_time)" \
    "$(field "$stats" execs_done)" "$(field "$stats" execs_per_sec)" "$(field "$stats" corpus_count)" \
    "$(field "$stats" bitmap_cvg)" "$crashes" "$hangs"
  if [ "$crashes" -gt 0 ] || [ "$hangs" -gt 0 ]; then
    failed=1
  fi
done

# --- The differential fuzzer of the PostgreSQL adapter, for its own budget (its build is extra).
if [ "$differential_seconds" -gt 0 ]; then
  echo
  echo "differential fuzzing of the PostgreSQL adapter for ${differential_seconds}s"
  log=$out/pg_differential.log
  mkdir -p "$out"
  if CARGO_TARGET_DIR=$workspace_target_dir DIFF_FUZZ_SECONDS=$differential_seconds \
    cargo nextest run -p gatehouse --test differential --run-ignored only --no-capture \
    -E 'test(differential_fuzzing_for_a_time_budget)' >"$log" 2>&1; then
    grep -h '^differential fuzzer:' "$log" | tail -n 1 || true
  else
    grep -h '^differential fuzzer:' "$log" | tail -n 1 || true
    echo "pg_differential: findings or a failure; the cases, their server and audit logs are in $log"
    grep -h -e '^new finding' -e '^corpus file .* still fails' "$log" | sort -u || true
    failed=1
  fi
fi

# --- The differential fuzzer of the MySQL adapter, for its own budget.
if [ "$mysql_differential_seconds" -gt 0 ]; then
  echo
  echo "differential fuzzing of the MySQL adapter for ${mysql_differential_seconds}s"
  log=$out/mysql_differential.log
  mkdir -p "$out"
  if CARGO_TARGET_DIR=$workspace_target_dir MYSQL_DIFF_FUZZ_SECONDS=$mysql_differential_seconds \
    cargo nextest run -p gatehouse --test mysql_differential --run-ignored only --no-capture \
    -E 'test(mysql_differential_fuzzing_for_a_time_budget)' >"$log" 2>&1; then
    grep -h '^mysql differential fuzzer:' "$log" | tail -n 1 || true
  else
    grep -h '^mysql differential fuzzer:' "$log" | tail -n 1 || true
    echo "mysql_differential: findings or a failure; the cases, the general log and audit log are in $log"
    grep -h -e '^new finding' -e '^corpus file .* still fails' "$log" | sort -u || true
    failed=1
  fi
fi

if [ "$failed" -ne 0 ]; then
  echo
  for target in "${targets[@]}"; do
    for kind in crashes hangs; do
      for input in "$out/$target/default/$kind"/id:*; do
        [ -f "$input" ] || continue
        echo "$target $kind: reproduce with"
        echo "  $bin_dir/$target < '$input'"
      done
    done
  done
  echo "fuzzing found problems (or a target did not run); see above"
  exit 1
fi
echo "no crashes, no hangs, no differential findings"
