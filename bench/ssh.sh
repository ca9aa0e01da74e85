#!/usr/bin/env bash
# SSH data-path benchmark: OpenSSH's own `scp` and `ssh` against one test sshd directly and
# through gatehouse's SSH listener, in the same run, rounds interleaved.
#
#   bench/ssh.sh                      # 3 rounds
#   ROUNDS=5 N=100 bench/ssh.sh
#
# The target is Debian's sshd on a free loopback port with its own config, host key and
# authorized keys (as in crates/gatehouse/tests/sshhost), logging in as the user running the
# script, sftp served by `internal-sftp`. Setups, each run with the client's defaults
# (OpenSSH 9.2: `scp` speaks SFTP underneath):
#   direct     ssh/scp straight to the sshd, with a key of its own (key authentication)
#   gatehouse  ssh/scp to gatehouse (quickstart policy, audit log, recordings on) as an
#              `admins` identity, logged in with a certificate from `gatehouse ssh-cert`
#              (batch mode, no prompt); gatehouse logs in to the sshd with the connection's
#              private key and relays (every sftp request is read whole and decided).
# Workloads, one of each per setup per round:
#   upload     `scp` of a SIZE (default 1 GiB, from /dev/urandom, made once) file to the
#              target; MB/s (10^6 bytes per second, wall time of the scp process)
#   download   the same file back; MB/s
#   ssh true   N sequential `ssh HOST true`: mean ms per run. Every run through gatehouse is a
#              new SSH handshake with the gateway plus gatehouse's own handshake and login to
#              the target, so the added time is mostly that second handshake.
# Every copy's size is checked, its sha256 once (first round). Gateway CPU is the user+system
# time of the gatehouse process (/proc/PID/stat, all threads) over each workload, per GiB
# copied and per `ssh true`; sshd CPU is the same for the target's sshd (its listener plus the
# session processes it has reaped), for both setups, so the relay's cost can be compared with
# the endpoint's. Reported as medians over the rounds and as gatehouse/direct ratios.
#
# Environment: ROUNDS=3, N=50, SIZE=1G (any `head -c` size), GATEHOUSE_BIN= (a prebuilt
# release binary), CARGO_TARGET_DIR (default /root/.cache/gatehouse-release-target),
# KEEP_LOGS=0, TIMEOUT=900 (seconds any one scp or ssh loop may take). The work directory
# (the test file, the copies, both servers' files) is `mktemp -d`: TMPDIR=/dev/shm keeps it in
# memory, so that the figures are not the disk's and a disk filled by other jobs fails nothing.
# Installs openssh-client and openssh-server (Debian packages) when missing; needs root or
# sudo for that and for sshd's /run/sshd.

set -euo pipefail

ROUNDS=${ROUNDS:-3}
N=${N:-50}
SIZE=${SIZE:-1G}
KEEP_LOGS=${KEEP_LOGS:-0}
TIMEOUT=${TIMEOUT:-900}
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/gatehouse-release-target}

as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }
if ! command -v ssh > /dev/null || ! command -v scp > /dev/null || ! command -v ssh-keygen > /dev/null \
  || [[ ! -x /usr/sbin/sshd ]]; then
  echo "installing openssh-client and openssh-server (Debian packages)..." >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-client openssh-server > /dev/null
fi
if [[ -z "${GATEHOUSE_BIN:-}" ]]; then
  echo "building the release binary..." >&2
  (cd "$root" && cargo build --release --locked -p gatehouse --bin gatehouse >&2)
  GATEHOUSE_BIN=$CARGO_TARGET_DIR/release/gatehouse
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ "$KEEP_LOGS" == 1 ]]; then
    rm -f "$work"/source.bin "$work"/copy-*
    echo "logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
# sshd, its session processes and the scp clients are this script's children: a TERM or INT
# ends the script through the trap above.
trap 'exit 143' TERM
trap 'exit 130' INT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
keygen() { ssh-keygen -q -t ed25519 -N '' -C bench -f "$1"; }

# The target: sshd with its own host key, authorizing gatehouse's key and the direct client's.
as_root mkdir -p /run/sshd
keygen "$work/host_key"
keygen "$work/gatehouse_key"
keygen "$work/direct_key"
cat "$work/gatehouse_key.pub" "$work/direct_key.pub" > "$work/authorized_keys"
user=$(id -un)
sshd_port=$(free_port)
cat > "$work/sshd_config" <<SSHD
Port $sshd_port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
X11Forwarding no
PrintMotd no
PrintLastLog no
MaxStartups 100:30:200
Subsystem sftp internal-sftp
LogLevel VERBOSE
SSHD
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2> "$work/sshd.log" &
sshd_pid=$!
pids+=("$sshd_pid")
for _ in $(seq 100); do
  (exec 3<> "/dev/tcp/127.0.0.1/$sshd_port") 2> /dev/null && break
  kill -0 "$sshd_pid" 2> /dev/null || { cat "$work/sshd.log" >&2; exit 1; }
  sleep 0.1
done
host_key=$(cut -d' ' -f1,2 "$work/host_key.pub")

# The gateway: quickstart policy, one `ssh` connection `bench` to the sshd.
cat > "$work/gatehouse.toml" <<TOML
[policy]
files = ["$root/policies/quickstart.cedar"]
[postgres]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[ssh]
listen = "127.0.0.1:0"
[[connections]]
name = "bench"
kind = "ssh"
host = "127.0.0.1"
port = $sshd_port
user = "$user"
private_key_file = "$work/gatehouse_key"
host_key = "$host_key"
TOML
GATEHOUSE_LOG=warn "$GATEHOUSE_BIN" --config "$work/gatehouse.toml" --data-dir "$work/data" serve 2> "$work/gatehouse.log" &
gatehouse_pid=$!
pids+=("$gatehouse_pid")
for _ in $(seq 200); do [[ -s "$work/data/listeners.json" ]] && break; sleep 0.1; done
[[ -s "$work/data/listeners.json" ]] || { cat "$work/gatehouse.log" >&2; exit 1; }
gateway_port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ssh"].rsplit(":",1)[1])' "$work/data/listeners.json")
gh() { "$GATEHOUSE_BIN" --config "$work/gatehouse.toml" --data-dir "$work/data" "$@"; }
admin_token=$(gh keys create --identity bench-admin --groups admins --ttl 2h | tail -n1)
GATEHOUSE_TOKEN=$admin_token gh ssh-cert --key "$work/gatehouse_client" > /dev/null

# Client options both setups share: no user config, no agent, no known_hosts (both host keys
# are fresh), key authentication only, no prompt.
common=(-F /dev/null -o BatchMode=yes -o PreferredAuthentications=publickey -o IdentitiesOnly=yes
  -o IdentityAgent=none -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o LogLevel=ERROR -o ControlMaster=no -o ControlPath=none)
direct_ssh=(ssh "${common[@]}" -i "$work/direct_key" -p "$sshd_port" "$user@127.0.0.1")
gatehouse_ssh=(ssh "${common[@]}" -i "$work/gatehouse_client" -p "$gateway_port" bench@127.0.0.1)
direct_scp=(scp -q "${common[@]}" -i "$work/direct_key" -P "$sshd_port")
gatehouse_scp=(scp -q "${common[@]}" -i "$work/gatehouse_client" -P "$gateway_port")
direct_dest="$user@127.0.0.1"
gatehouse_dest=bench@127.0.0.1

# Both setups must log in and run a command before anything is measured.
for setup in direct gatehouse; do
  declare -n client="${setup}_ssh"
  said=$(timeout 30 "${client[@]}" echo ready < /dev/null) || { echo "$setup: ssh failed" >&2; tail -n 20 "$work/sshd.log" "$work/gatehouse.log" >&2; exit 1; }
  [[ "$said" == ready ]] || { echo "$setup: ssh said '$said'" >&2; exit 1; }
  unset -n client
done
# What each leg negotiated (the relay's two legs may differ from the direct one).
negotiated() { "$@" -v true < /dev/null 2>&1 | sed -n 's/^debug1: kex: server->client cipher: \([^ ]*\).*/\1/p' | head -n1; }
cipher_direct=$(negotiated "${direct_ssh[@]}")
cipher_gateway=$(negotiated "${gatehouse_ssh[@]}")
echo "ciphers: direct $cipher_direct; client->gatehouse $cipher_gateway" >&2

echo "making the $SIZE test file..." >&2
head -c "$SIZE" /dev/urandom > "$work/source.bin"
bytes=$(stat -c %s "$work/source.bin")
source_sum=$(sha256sum < "$work/source.bin" | cut -d' ' -f1)

# CPU seconds (user+system, all threads) a process has used; with `reaped`, also its reaped
# children's (sshd's session processes).
cpu_ticks() { awk -v reaped="${2:-}" '{ t = $14 + $15; if (reaped) t += $16 + $17; print t }' "/proc/$1/stat"; }
ticks=$(getconf CLK_TCK)

# One copy: prints "MB/s gateway-CPU-ticks sshd-CPU-ticks" and checks the copy.
copy() {
  local setup=$1 direction=$2 round=$3 from to started ended g0 g1 s0 s1 size
  local -n scp_cmd="${setup}_scp"
  local -n dest="${setup}_dest"
  rm -f "$work/copy-$setup-$direction"
  if [[ "$direction" == upload ]]; then
    from=$work/source.bin; to=$dest:$work/copy-$setup-$direction
  else
    from=$dest:$work/source.bin; to=$work/copy-$setup-$direction
  fi
  g0=$(cpu_ticks "$gatehouse_pid"); s0=$(cpu_ticks "$sshd_pid" reaped)
  started=$(date +%s%N)
  timeout "$TIMEOUT" "${scp_cmd[@]}" "$from" "$to" < /dev/null >&2 || { echo "$setup $direction: scp failed" >&2; exit 1; }
  ended=$(date +%s%N)
  # sshd reaps the session process a moment after the client has gone.
  sleep 0.3
  g1=$(cpu_ticks "$gatehouse_pid"); s1=$(cpu_ticks "$sshd_pid" reaped)
  size=$(stat -c %s "$work/copy-$setup-$direction")
  [[ "$size" == "$bytes" ]] || { echo "$setup $direction: copied $size of $bytes bytes" >&2; exit 1; }
  if [[ "$round" == 1 && "$(sha256sum < "$work/copy-$setup-$direction" | cut -d' ' -f1)" != "$source_sum" ]]; then
    echo "$setup $direction: the copy's sha256 differs" >&2; exit 1
  fi
  rm -f "$work/copy-$setup-$direction"
  echo "$(( bytes * 1000 / (ended - started) )) $((g1 - g0)) $((s1 - s0))"
}

# N sequential `ssh true`: prints "µs-per-run gateway-CPU-ticks sshd-CPU-ticks".
loop() {
  local setup=$1 started ended g0 g1 s0 s1
  local -n ssh_cmd="${setup}_ssh"
  g0=$(cpu_ticks "$gatehouse_pid"); s0=$(cpu_ticks "$sshd_pid" reaped)
  started=$(date +%s%N)
  for _ in $(seq "$N"); do
    timeout "$TIMEOUT" "${ssh_cmd[@]}" true < /dev/null || { echo "$setup: ssh true failed" >&2; exit 1; }
  done
  ended=$(date +%s%N)
  sleep 0.3
  g1=$(cpu_ticks "$gatehouse_pid"); s1=$(cpu_ticks "$sshd_pid" reaped)
  echo "$(( (ended - started) / N / 1000 )) $((g1 - g0)) $((s1 - s0))"
}

declare -a up_direct up_gatehouse down_direct down_gatehouse true_direct true_gatehouse
for round in $(seq "$ROUNDS"); do
  for direction in upload download; do
    for setup in direct gatehouse; do
      echo "round $round/$ROUNDS: $setup $direction..." >&2
      result=$(copy "$setup" "$direction" "$round")
      if [[ "$direction" == upload ]]; then
        if [[ "$setup" == direct ]]; then up_direct+=("$result"); else up_gatehouse+=("$result"); fi
      else
        if [[ "$setup" == direct ]]; then down_direct+=("$result"); else down_gatehouse+=("$result"); fi
      fi
    done
  done
  for setup in direct gatehouse; do
    echo "round $round/$ROUNDS: $setup ssh true x$N..." >&2
    result=$(loop "$setup")
    if [[ "$setup" == direct ]]; then true_direct+=("$result"); else true_gatehouse+=("$result"); fi
  done
done

# Everything through gatehouse was decided and audited: the chain verifies, and there is an
# allowed ssh:exec per `ssh true` (plus the check) and an ssh:sftp decision per copy at least.
gh audit verify >&2
gh audit export 2> /dev/null | python3 -c '
import collections, json, sys
counts = collections.Counter(e["action"] for e in map(json.loads, sys.stdin) if e.get("decision") == "allow")
print("audited (allowed): ssh:exec %d, ssh:sftp %d, connect %d" % (counts["ssh:exec"], counts["ssh:sftp"], counts["connect"]), file=sys.stderr)
if counts["ssh:exec"] < int(sys.argv[1]) * int(sys.argv[2]) or counts["ssh:sftp"] < 2 * int(sys.argv[1]):
    sys.exit("fewer audit events than sessions")
' "$ROUNDS" "$N"

# Median of one field (1: the measure, 2: gateway ticks, 3: sshd ticks) over the rounds.
median() { local field=$1; shift; printf '%s\n' "$@" | awk -v f="$field" '{print $f}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
calc() { python3 -c "print(f'{$1:$2}')"; }
gib=$(calc "$bytes / 2**30" .3f)
ud=$(median 1 "${up_direct[@]}"); ug=$(median 1 "${up_gatehouse[@]}")
dd=$(median 1 "${down_direct[@]}"); dg=$(median 1 "${down_gatehouse[@]}")
td=$(median 1 "${true_direct[@]}"); tg=$(median 1 "${true_gatehouse[@]}")
# CPU per GiB (seconds) and per `ssh true` (ms).
per_gib() { calc "$1 / $ticks / $gib" .2f; }
per_run() { calc "$1 / $ticks / $N * 1000" .1f; }
echo
echo "| workload | direct | through gatehouse | gatehouse/direct | gateway CPU | sshd CPU direct / via gatehouse |"
echo "|---|---|---|---|---|---|"
echo "| scp upload ($gib GiB) | $ud MB/s | $ug MB/s | $(calc "$ug / $ud" .2f) (throughput) | $(per_gib "$(median 2 "${up_gatehouse[@]}")") s/GiB | $(per_gib "$(median 3 "${up_direct[@]}")") / $(per_gib "$(median 3 "${up_gatehouse[@]}")") s/GiB |"
echo "| scp download ($gib GiB) | $dd MB/s | $dg MB/s | $(calc "$dg / $dd" .2f) (throughput) | $(per_gib "$(median 2 "${down_gatehouse[@]}")") s/GiB | $(per_gib "$(median 3 "${down_direct[@]}")") / $(per_gib "$(median 3 "${down_gatehouse[@]}")") s/GiB |"
echo "| \`ssh true\` (mean of $N, sequential) | $(calc "$td / 1000" .1f) ms | $(calc "$tg / 1000" .1f) ms | $(calc "$tg / $td" .2f) (time), +$(calc "($tg - $td) / 1000" .1f) ms | $(per_run "$(median 2 "${true_gatehouse[@]}")") ms/run | $(per_run "$(median 3 "${true_direct[@]}")") / $(per_run "$(median 3 "${true_gatehouse[@]}")") ms/run |"
echo
# Each round as MEASURE/GATEWAY-TICKS/SSHD-TICKS.
rounds() { printf '%s\n' "$@" | tr ' ' / | paste -sd, | sed 's/,/, /g'; }
echo "rounds (measure/gateway CPU ticks/sshd CPU ticks, ticks of 1/$ticks s): upload MB/s direct $(rounds "${up_direct[@]}"), gatehouse $(rounds "${up_gatehouse[@]}"); download MB/s direct $(rounds "${down_direct[@]}"), gatehouse $(rounds "${down_gatehouse[@]}"); ssh true µs direct $(rounds "${true_direct[@]}"), gatehouse $(rounds "${true_gatehouse[@]}")" >&2
echo "ciphers: direct $cipher_direct; client->gatehouse $cipher_gateway" >&2
