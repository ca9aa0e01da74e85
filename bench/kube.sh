#!/usr/bin/env bash
# Kubernetes data-path benchmark: real clients against the repository's test API server
# (crates/gatehouse-kube-testserver; no kube-apiserver runs here) directly and through
# gatehouse, in the same run, interleaved.
#
#   bench/kube.sh                     # 3 rounds
#   ROUNDS=5 REQUESTS=3000 bench/kube.sh
#
# Two workloads, each direct and through gatehouse (TLS, policy, audit log, recordings on; an
# `admins` identity, so nothing is masked and nothing held):
#   kubectl   `kubectl get pods` run KUBECTL_RUNS times: wall time per invocation (process start,
#             discovery from kubectl's cache, the list).
#   loop      one keep-alive HTTP/1.1 client (curl with REQUESTS URLs on one connection) GETting
#             /api/v1/namespaces/default/pods: requests per second and time per request.
# Reported as medians over the rounds and as gatehouse/direct ratios.
#
# Environment: ROUNDS=3, KUBECTL_RUNS=20, REQUESTS=2000, GATEHOUSE_BIN= (a prebuilt release
# binary), TESTSERVER_BIN= (a prebuilt `serve` example), CARGO_TARGET_DIR (default
# /root/.cache/gatehouse-release-target), KEEP_LOGS=0.

set -euo pipefail

ROUNDS=${ROUNDS:-3}
KUBECTL_RUNS=${KUBECTL_RUNS:-20}
REQUESTS=${REQUESTS:-2000}
KEEP_LOGS=${KEEP_LOGS:-0}
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/gatehouse-release-target}

if [[ -z "${GATEHOUSE_BIN:-}" || -z "${TESTSERVER_BIN:-}" ]]; then
  echo "building release binaries (gatehouse, the test API server)..." >&2
  (cd "$root" && cargo build --release --locked -p gatehouse >&2 \
    && cargo build --release --locked -p gatehouse-kube-testserver --example serve >&2)
  GATEHOUSE_BIN=${GATEHOUSE_BIN:-$CARGO_TARGET_DIR/release/gatehouse}
  TESTSERVER_BIN=${TESTSERVER_BIN:-$CARGO_TARGET_DIR/release/examples/serve}
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ "$KEEP_LOGS" == 1 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

token="bench-cluster-token-$RANDOM$RANDOM"
"$TESTSERVER_BIN" "$token" "$work/cluster-ca.pem" > "$work/testserver.json" 2> "$work/testserver.log" &
pids+=($!)
for _ in $(seq 100); do [[ -s "$work/testserver.json" ]] && break; sleep 0.1; done
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$work/testserver.json")
printf '%s\n' "$token" > "$work/cluster.token"

cat > "$work/policy.cedar" <<'CEDAR'
@id("bench-admins")
permit (principal in Gatehouse::Group::"admins", action, resource);
CEDAR
cat > "$work/gatehouse.toml" <<TOML
[policy]
files = ["$work/policy.cedar"]
[postgres]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[kubernetes]
listen = "127.0.0.1:0"
[[connections]]
name = "cluster"
kind = "kubernetes"
url = "$url"
ca_file = "$work/cluster-ca.pem"
token_file = "$work/cluster.token"
TOML
GATEHOUSE_LOG=warn "$GATEHOUSE_BIN" --config "$work/gatehouse.toml" --data-dir "$work/data" serve 2> "$work/gatehouse.log" &
pids+=($!)
for _ in $(seq 200); do [[ -s "$work/data/listeners.json" ]] && break; sleep 0.1; done
gateway=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kubernetes"])' "$work/data/listeners.json")
admin_token=$("$GATEHOUSE_BIN" --config "$work/gatehouse.toml" --data-dir "$work/data" keys create --identity bench --groups admins --ttl 2h | tail -n1)
"$GATEHOUSE_BIN" --config "$work/gatehouse.toml" --data-dir "$work/data" kubeconfig cluster --kubeconfig "$work/gateway.kubeconfig" > /dev/null
ca_data=$(base64 -w0 < "$work/cluster-ca.pem")
cat > "$work/direct.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: direct, cluster: {server: "$url", certificate-authority-data: "$ca_data"}}]
users: [{name: direct, user: {token: "$token"}}]
contexts: [{name: direct, context: {cluster: direct, user: direct, namespace: default}}]
current-context: direct
YAML

# kubectl: seconds per `kubectl get pods`.
kubectl_round() {
  local kubeconfig=$1 started ended
  started=$(date +%s%N)
  for _ in $(seq "$KUBECTL_RUNS"); do
    GATEHOUSE_TOKEN=$admin_token HOME=$work kubectl --kubeconfig "$kubeconfig" get pods > /dev/null
  done
  ended=$(date +%s%N)
  echo $(( (ended - started) / KUBECTL_RUNS / 1000 ))
}

# loop: microseconds per request over one keep-alive connection.
loop_round() {
  local base=$1 bearer=$2 ca=$3 started ended statuses
  : > "$work/urls"
  for _ in $(seq "$REQUESTS"); do
    printf 'url = "%s/api/v1/namespaces/default/pods"\noutput = "/dev/null"\n' "$base" >> "$work/urls"
  done
  started=$(date +%s%N)
  statuses=$(curl --http1.1 -s --cacert "$ca" -H "Authorization: Bearer $bearer" -K "$work/urls" -w '%{http_code}\n' | sort | uniq -c)
  ended=$(date +%s%N)
  if [[ "$statuses" != *"$REQUESTS 200"* ]]; then echo "unexpected statuses: $statuses" >&2; exit 1; fi
  echo $(( (ended - started) / REQUESTS / 1000 ))
}

declare -a k_direct k_gateway l_direct l_gateway
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS..." >&2
  k_direct+=("$(kubectl_round "$work/direct.kubeconfig")")
  k_gateway+=("$(kubectl_round "$work/gateway.kubeconfig")")
  l_direct+=("$(loop_round "$url" "$token" "$work/cluster-ca.pem")")
  l_gateway+=("$(loop_round "https://$gateway/c/cluster" "$admin_token" "$work/data/tls/server.crt")")
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
kd=$(median "${k_direct[@]}"); kg=$(median "${k_gateway[@]}")
ld=$(median "${l_direct[@]}"); lg=$(median "${l_gateway[@]}")
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
echo
echo "| workload | direct | through gatehouse | added | gatehouse/direct |"
echo "|---|---|---|---|---|"
echo "| \`kubectl get pods\` (per invocation) | $((kd/1000)) ms | $((kg/1000)) ms | $(( (kg-kd)/1000 )) ms | $(ratio "$kg" "$kd") (time) |"
echo "| keep-alive GET loop (per request) | $ld µs | $lg µs | $((lg-ld)) µs | $(ratio "$lg" "$ld") (time) |"
echo "| keep-alive GET loop (requests/s) | $((1000000/ld)) | $((1000000/lg)) | | $(ratio "$ld" "$lg") (throughput) |"
echo
echo "rounds: kubectl direct ${k_direct[*]} µs, gatehouse ${k_gateway[*]} µs; loop direct ${l_direct[*]} µs, gatehouse ${l_gateway[*]} µs" >&2
