#!/usr/bin/env bash
# Install what building and testing gatehouse need, idempotently: each step runs only when its
# result is missing, so calling this before every run costs a few checks. `scripts/run.sh`,
# `scripts/test.sh` and `.ci/run` all start here. System packages need root (or sudo).
#
#   scripts/setup.sh          what building and running `gatehouse serve` needs
#   scripts/setup.sh --tests  that, plus the real clients and helpers the test suite drives
set -euo pipefail
cd "$(dirname "$0")/.."

for_tests=false
if [ "${1:-}" = "--tests" ]; then for_tests=true; fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "setup: '$*' needs root; run it as root or install sudo" >&2
    return 1
  fi
}

need_packages=()
# pg_query runs bindgen over libpg_query: it needs libclang and clang's headers.
dpkg -s libclang-dev >/dev/null 2>&1 || need_packages+=(libclang-dev)
if $for_tests; then
  # psql and curl are real clients several tests drive (bench/pgbench.sh installs pgbouncer).
  command -v psql >/dev/null 2>&1 || need_packages+=(postgresql-client)
  command -v curl >/dev/null 2>&1 || need_packages+=(curl)
  # The SSH tests' target is Debian's sshd on a loopback port, driven by OpenSSH's own ssh,
  # scp and sftp.
  [ -x /usr/sbin/sshd ] || need_packages+=(openssh-server)
  command -v ssh >/dev/null 2>&1 || need_packages+=(openssh-client)
  command -v rsync >/dev/null 2>&1 || need_packages+=(rsync)
  # The MySQL tests drive the stock MariaDB client against the machine's MariaDB.
  command -v mariadb >/dev/null 2>&1 || need_packages+=(mariadb-client)
fi
if [ "${#need_packages[@]}" -gt 0 ]; then
  echo "setup: installing ${need_packages[*]} (Debian packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

$for_tests || exit 0

command -v cargo-nextest >/dev/null 2>&1 || {
  echo "setup: installing cargo-nextest"
  cargo install --locked cargo-nextest
}
# The identity tests run the OpenID-certified oidc-provider (npm, pinned by the committed lockfile).
[ -f crates/gatehouse/tests/oidc/node_modules/oidc-provider/package.json ] || {
  echo "setup: installing oidc-provider (npm)"
  npm ci --prefix crates/gatehouse/tests/oidc --no-audit --no-fund
}
# The MCP tests drive `gatehouse mcp` with the official Python MCP SDK.
python3 -c "import importlib.metadata as m; assert m.version('mcp') == '2.3.0'" 2>/dev/null || {
  echo "setup: installing the Python MCP SDK"
  python3 -m pip install --quiet --disable-pip-version-check mcp==2.3.0
}
# The Kubernetes tests also drive the official Python client (kubernetes.rs).
python3 -c "import importlib.metadata as m; assert m.version('kubernetes') == '37.0.3'" 2>/dev/null || {
  echo "setup: installing the Python Kubernetes client"
  python3 -m pip install --quiet --disable-pip-version-check kubernetes==37.0.3
}
# The HTTP API tests drive httpx (over HTTP/1.1 and, with h2, HTTP/2).
python3 -c "import importlib.metadata as m; assert m.version('httpx') == '0.28.1' and m.version('h2') == '4.3.0'" 2>/dev/null || {
  echo "setup: installing httpx"
  python3 -m pip install --quiet --disable-pip-version-check 'httpx[http2]==0.28.1' 'h2==4.3.0'
}
# The SSH tests drive paramiko, the SSH library Python agents use (ssh.rs).
python3 -c "import importlib.metadata as m; assert m.version('paramiko') == '4.0.0'" 2>/dev/null || {
  echo "setup: installing paramiko"
  python3 -m pip install --quiet --disable-pip-version-check 'paramiko==4.0.0'
}
# The MySQL tests (mysql.rs) drive PyMySQL (text protocol, multi-statements sent as one
# message) and MySQL's own Connector/Python (server-side prepared statements, binary rows).
python3 -c "import importlib.metadata as m; assert m.version('PyMySQL') == '1.2.4' and m.version('mysql-connector-python') == '26.10.0'" 2>/dev/null || {
  echo "setup: installing PyMySQL and mysql-connector-python"
  python3 -m pip install --quiet --disable-pip-version-check 'PyMySQL==1.2.4' 'mysql-connector-python==26.10.0'
}
# The driver compatibility suite (compat_drivers.rs) drives psycopg 3, whose wheel bundles
# libpq >= 17, and node-postgres with pg-cursor and pg-query-stream (npm, pinned by the
# committed lockfile).
python3 -c "import importlib.metadata as m; assert m.version('psycopg') == m.version('psycopg-binary') == '3.3.9'" 2>/dev/null || {
  echo "setup: installing psycopg 3"
  python3 -m pip install --quiet --disable-pip-version-check 'psycopg[binary]==3.3.9'
}
[ -f crates/gatehouse/tests/compat/node_modules/pg-query-stream/package.json ] || {
  echo "setup: installing node-postgres (npm)"
  npm ci --prefix crates/gatehouse/tests/compat --no-audit --no-fund
}

# The tests talk to the machine's PostgreSQL; start it if it is not running.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "setup: starting the local PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

# The HTTP API tests use RabbitMQ's management API (a real HTTP API that is not ours) as their
# target: enable its plugin (idempotent) and wait for it on 127.0.0.1:15672.
if ! curl -fsS -m 2 -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1; then
  echo "setup: enabling RabbitMQ's management API"
  as_root rabbitmq-plugins enable rabbitmq_management >/dev/null
  for _ in $(seq 1 30); do
    curl -fsS -m 2 -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1 && break
    sleep 1
  done
fi
