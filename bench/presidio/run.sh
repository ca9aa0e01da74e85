#!/usr/bin/env bash
# Presidio baseline for the masking benchmark: sets up (once) a virtualenv with
# presidio-analyzer under /root/.cache/presidio-venv and runs baseline.py in it.
# Extra arguments go to baseline.py (e.g. --rows 100 --passes 5 --skip-large).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PRESIDIO_VENV:-/root/.cache/presidio-venv}"
version="2.2.366"

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import presidio_analyzer, sys; sys.exit(0)" 2>/dev/null \
    || [[ "$("$venv/bin/pip" show presidio-analyzer 2>/dev/null | awk '/^Version:/ {print $2}')" != "$version" ]]; then
    "$venv/bin/pip" install --quiet "presidio-analyzer==$version"
fi

exec "$venv/bin/python" "$here/baseline.py" --model-dir "$venv/blank-en" "$@"
