#!/usr/bin/env bash
# Hyperparameter sweep: train -> test -> evaluate for every point of a grid (see scripts/sweep.py --help).
# Paths are taken relative to the folder you run it from.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}
exec "$PYTHON" "$ROOT/scripts/sweep.py" "$@"
