#!/usr/bin/env bash
# Run gatehouse on its embedded defaults: install what the build needs (scripts/setup.sh), then
# `gatehouse serve` with the quickstart (SQLite store and self-signed TLS in ./.gatehouse, the
# demo policy, connection `demo` to the PostgreSQL on 127.0.0.1:5432). Arguments go to `serve`
# (`scripts/run.sh --help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec cargo run --release --locked -- serve "$@"
