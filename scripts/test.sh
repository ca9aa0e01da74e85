#!/usr/bin/env bash
# The whole test suite: unit, property and end-to-end tests (against the machine's real
# PostgreSQL at 127.0.0.1:5432), run in parallel by cargo-nextest. Installs and starts what the
# tests drive first (scripts/setup.sh --tests). Arguments go to nextest (a test name filters).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/gatehouse-target}"
cargo nextest run --workspace --locked --no-fail-fast "$@"
