#!/usr/bin/env bash
# Render a masked set on a SLURM cluster: a job array of shards, then one merge job that waits for
# them. Every argument goes to datasets/render_masked_faces.py; --out must be on a file system
# every node sees.
#
# From a login node (submits both jobs and prints their ids):
#     SHARDS=32 bash scripts/render_masked_faces.sh --src /data/ffhq/images1024x1024 \
#         --landmarks /data/ffhq/ffhq-dataset-v2.json --out /data/ffhq_masked --size 256
# Each array task renders every SHARDS-th face (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT) with
# --workers = the task's CPUs; a task that fails or is pre-empted can be resubmitted alone
# (sbatch --array=7 ...) and finishes only its missing faces. The merge joins the parts into
# labels.csv and summary.json (and writes paired/ with --paired).
# SBATCH=echo prints the two sbatch command lines instead of submitting them.
#
#SBATCH --job-name=render-masked-faces
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=16
#SBATCH --time=04:00:00
#SBATCH --output=render-masked-faces-%A_%a.out
set -euo pipefail

if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then  # one array task: one shard
    # sbatch runs a copy of this script from its spool folder: the repository is where it was submitted
    cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"
    PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
    exec "$PYTHON" datasets/render_masked_faces.py --workers "${SLURM_CPUS_PER_TASK:-1}" "$@"
fi

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
SHARDS=${SHARDS:-16}
SBATCH=${SBATCH:-sbatch}
out=""
prev=""
for arg in "$@"; do  # the merge needs only --out
    case "$arg" in --out=*) out=${arg#--out=} ;; esac
    if [ "$prev" = "--out" ]; then out=$arg; fi
    prev=$arg
done
if [ -z "$out" ]; then
    echo "render_masked_faces.sh: error: --out is required (the merge job needs it)" >&2
    exit 2
fi
# the arguments are checked here, before anything is queued: a typo fails now, not on 16 nodes
"$PYTHON" datasets/render_masked_faces.py --check_only "$@"

array=$($SBATCH --parsable --array="0-$((SHARDS - 1))" "$0" "$@")
array=${array%%;*}  # --parsable prints "jobid" or "jobid;cluster"
merge=$($SBATCH --parsable --dependency="afterok:$array" --job-name=render-masked-faces-merge \
    --output=render-masked-faces-merge-%j.out --wrap="$PYTHON datasets/render_masked_faces.py --merge --out '$out'")
echo "submitted shards: job $array (array 0-$((SHARDS - 1))), merge: job ${merge%%;*}"
