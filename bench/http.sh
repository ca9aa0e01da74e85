#!/usr/bin/env bash
# HTTP API data-path benchmark: wrk against one target directly, through a plain TLS reverse
# proxy (nginx from Debian) and through gatehouse, in the same run, rounds interleaved.
#
#   bench/http.sh                        # 3 rounds of 10 s per setup
#   ROUNDS=5 DURATION=15s CONNECTIONS=8 bench/http.sh
#
# The target is nginx serving a 2 KB JSON document (a list of 10 items with names and emails)
# on loopback. Setups, each measured with `wrk -t2 -c$CONNECTIONS -d$DURATION` (keep-alive):
#   direct     plain HTTP to the target
#   nginx      HTTPS to nginx, which proxies to the target (keep-alive upstream)
#   gatehouse  HTTPS to gatehouse (policy, audit log, recordings on; the connection injects a
#              bearer token), as an `admins` identity (answers scrubbed, not masked)
#   masked     the same as a machine identity: the JSON answer also goes through the masking
# Reported: requests/s (median of the rounds) and the ratios against direct and nginx.
#
# Environment: ROUNDS=3, DURATION=10s, CONNECTIONS=4, GATEHOUSE_BIN= (a prebuilt release
# binary), CARGO_TARGET_DIR (default /root/.cache/gatehouse-release-target), KEEP_LOGS=0.
# Installs nginx and wrk (Debian packages) when missing.

set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-4}
KEEP_LOGS=${KEEP_LOGS:-0}
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/gatehouse-release-target}

as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }
if ! command -v nginx > /dev/null || ! command -v wrk > /dev/null; then
  echo "installing nginx and wrk (Debian packages)..." >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk > /dev/null
fi
if [[ -z "${GATEHOUSE_BIN:-}" ]]; then
  echo "building the release binary..." >&2
  (cd "$root" && cargo build --release --locked -p gatehouse >&2)
  GATEHOUSE_BIN=$CARGO_TARGET_DIR/release/gatehouse
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ "$KEEP_LOGS" == 1 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
target_port=$(free_port)
proxy_port=$(free_port)
mkdir -p "$work/www/api" "$work/nginx-temp"
# nginx's workers run as an unprivileged user: they must reach the document.
chmod o+x "$work"
python3 - "$work/www/api/items.json" <<'PY'
import json, sys
items = [{"id": i, "name": f"item {i}", "owner": f"user{i}@example.com", "note": "x" * 100} for i in range(10)]
open(sys.argv[1], "w").write(json.dumps({"items": items}))
PY
chmod -R a+rX "$work/www"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -keyout "$work/proxy.key" -out "$work/proxy.crt" 2> /dev/null
cat > "$work/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx-temp/body;
  proxy_temp_path $work/nginx-temp/proxy;
  fastcgi_temp_path $work/nginx-temp/fastcgi;
  uwsgi_temp_path $work/nginx-temp/uwsgi;
  scgi_temp_path $work/nginx-temp/scgi;
  types { application/json json; }
  upstream target { server 127.0.0.1:$target_port; keepalive 16; }
  server {
    listen 127.0.0.1:$target_port;
    root $work/www;
  }
  server {
    listen 127.0.0.1:$proxy_port ssl;
    ssl_certificate $work/proxy.crt;
    ssl_certificate_key $work/proxy.key;
    location / {
      proxy_pass http://target;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer target-token";
    }
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" 2> "$work/nginx.log" &
pids+=($!)

printf 'bench-target-token-%s\n' "$RANDOM$RANDOM" > "$work/target.token"
cat > "$work/policy.cedar" <<'CEDAR'
@id("bench-everyone")
permit (principal, action in [Gatehouse::Action::"connect", Gatehouse::Action::"http:read"], resource);
@id("bench-admins-unmasked")
permit (principal in Gatehouse::Group::"admins", action == Gatehouse::Action::"data:unmasked", resource)
  unless { principal.kind == "machine" };
CEDAR
cat > "$work/gatehouse.toml" <<TOML
[policy]
files = ["$work/policy.cedar"]
[postgres]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[http]
listen = "127.0.0.1:0"
[[connections]]
name = "bench"
kind = "http"
url = "http://127.0.0.1:$target_port"
token_file = "$work/target.token"
TOML
GATEHOUSE_LOG=warn "$GATEHOUSE_BIN" --config "$work/gatehouse.toml" --data-dir "$work/data" serve 2> "$work/gatehouse.log" &
pids+=($!)
for _ in $(seq 200); do [[ -s "$work/data/listeners.json" ]] && break; sleep 0.1; done
gateway=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$work/data/listeners.json")
gh() { "$GATEHOUSE_BIN" --config "$work/gatehouse.toml" --data-dir "$work/data" "$@"; }
admin_token=$(gh keys create --identity bench-admin --groups admins --ttl 2h | tail -n1)
machine_token=$(gh keys create --identity bench-bot --groups automation --kind machine --ttl 2h | tail -n1)

for _ in $(seq 50); do curl -fs "http://127.0.0.1:$target_port/api/items.json" > /dev/null && break; sleep 0.1; done
# Every setup must answer 200 with the document before it is measured.
check() {
  local url=$1; shift
  local status
  status=$(curl -s -k -o /dev/null -w '%{http_code}' "$@" "$url")
  [[ "$status" == 200 ]] || { echo "$url answered $status" >&2; exit 1; }
}
check "http://127.0.0.1:$target_port/api/items.json"
check "https://127.0.0.1:$proxy_port/api/items.json"
check "https://$gateway/c/bench/api/items.json" -H "Authorization: Bearer $admin_token"
check "https://$gateway/c/bench/api/items.json" -H "Authorization: Bearer $machine_token"

# requests/s of one wrk run.
run() {
  local url=$1; shift
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "$@" "$url" | awk '/^Requests\/sec/ {printf "%d\n", $2}'
}

declare -a direct nginx gatehouse masked
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS..." >&2
  direct+=("$(run "http://127.0.0.1:$target_port/api/items.json")")
  nginx+=("$(run "https://127.0.0.1:$proxy_port/api/items.json")")
  gatehouse+=("$(run "https://$gateway/c/bench/api/items.json" -H "Authorization: Bearer $admin_token")")
  masked+=("$(run "https://$gateway/c/bench/api/items.json" -H "Authorization: Bearer $machine_token")")
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
d=$(median "${direct[@]}"); n=$(median "${nginx[@]}"); g=$(median "${gatehouse[@]}"); m=$(median "${masked[@]}")
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
echo
echo "| setup ($CONNECTIONS connections) | requests/s | /direct | /nginx |"
echo "|---|---|---|---|"
echo "| direct (plain HTTP to the target) | $d | 1.00 | $(ratio "$d" "$n") |"
echo "| nginx (TLS reverse proxy) | $n | $(ratio "$n" "$d") | 1.00 |"
echo "| gatehouse (admins: scrubbed) | $g | $(ratio "$g" "$d") | $(ratio "$g" "$n") |"
echo "| gatehouse (machine: masked JSON) | $m | $(ratio "$m" "$d") | $(ratio "$m" "$n") |"
echo
echo "rounds: direct ${direct[*]}; nginx ${nginx[*]}; gatehouse ${gatehouse[*]}; masked ${masked[*]}" >&2
