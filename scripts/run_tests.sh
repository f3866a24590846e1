#!/usr/bin/env bash
# Set up the environment and run the whole test suite (CPU only; what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
bash scripts/install_browser.sh || echo "run_tests.sh: Chromium could not be installed; the survey's browser tests will be skipped" >&2
exec .venv/bin/python -m pytest -q "$@"
