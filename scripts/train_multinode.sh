#!/usr/bin/env bash
# Train on several machines at once: one torchrun per node, one process per GPU, DDP over NCCL.
#
# Under SLURM (edit the #SBATCH lines; every argument goes to train.py):
#     sbatch scripts/train_multinode.sh --dataroot /data/faces --name ffhq_mask --amp bf16 --channels_last
# By hand, on every node (node 0's address as MASTER_ADDR, NODE_RANK 0..NNODES-1):
#     NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 GPUS_PER_NODE=8 bash scripts/train_multinode.sh --dataroot ...
#     NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 GPUS_PER_NODE=8 bash scripts/train_multinode.sh --dataroot ...
# With RDZV_ENDPOINT=host:port set, torchrun's elastic c10d rendezvous is used instead of a fixed
# node 0 (--rdzv_backend c10d --rdzv_endpoint --rdzv_id), so nodes may start in any order.
#
# --batch_size is per GPU: the global batch is batch_size x GPUS_PER_NODE x NNODES. Only rank 0
# writes checkpoints, logs and pages, so --checkpoints_dir must be reachable from node 0 (a shared
# file system also lets any node resume). --continue_train resumes under any number of processes.
#
#SBATCH --job-name=masked-cyclegan
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=24:00:00
#SBATCH --output=masked-cyclegan-%j.out
set -euo pipefail

# SLURM runs this script once on the first node; re-run it as one task per node.
if [ -n "${SLURM_JOB_ID:-}" ] && [ -z "${SLURM_STEP_ID:-}" ]; then
    exec srun --kill-on-bad-exit=1 bash "$0" "$@"
fi

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
NNODES=${NNODES:-${SLURM_NNODES:-1}}
NODE_RANK=${NODE_RANK:-${SLURM_NODEID:-0}}
GPUS_PER_NODE=${GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-$(nvidia-smi -L 2>/dev/null | wc -l)}}
GPUS_PER_NODE=${GPUS_PER_NODE:-1}
if [ "$GPUS_PER_NODE" -lt 1 ]; then GPUS_PER_NODE=1; fi
if [ -z "${MASTER_ADDR:-}" ]; then
    if [ -n "${SLURM_JOB_NODELIST:-}" ]; then
        MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
    else
        MASTER_ADDR=127.0.0.1
    fi
fi
MASTER_PORT=${MASTER_PORT:-29500}

if [ -n "${RDZV_ENDPOINT:-}" ]; then
    rendezvous=(--rdzv_backend c10d --rdzv_endpoint "$RDZV_ENDPOINT" --rdzv_id "${RDZV_ID:-${SLURM_JOB_ID:-masked-cyclegan}}")
else
    rendezvous=(--node_rank "$NODE_RANK" --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT")
fi

echo "node $NODE_RANK of $NNODES: $GPUS_PER_NODE processes, rendezvous ${RDZV_ENDPOINT:-$MASTER_ADDR:$MASTER_PORT}"
exec "$PYTHON" -m torch.distributed.run --nnodes "$NNODES" --nproc_per_node "$GPUS_PER_NODE" "${rendezvous[@]}" \
    train.py "$@"
