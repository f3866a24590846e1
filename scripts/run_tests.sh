#!/usr/bin/env bash
# Set up the environment and run the whole test suite (CPU only; what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python -m pytest -q "$@"
