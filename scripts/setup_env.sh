#!/usr/bin/env bash
# Create ./.venv with this repository's requirements (idempotent; pip skips what is there).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
