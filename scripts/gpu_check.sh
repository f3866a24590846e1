#!/usr/bin/env bash
# Every GPU claim of docs/speed.md measured in one go: set up ./.venv (scripts/setup_env.sh, nothing
# more), then scripts/gpu_check.py, which writes OUTDIR/gpu_check.json and OUTDIR/gpu_check.md.
#   bash scripts/gpu_check.sh gpu_results/ [--dry_run]
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: bash scripts/gpu_check.sh OUTDIR [--dry_run]" >&2
    exit 2
fi
out="$1"
shift
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python scripts/gpu_check.py --out "$out" "$@"
