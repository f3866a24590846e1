#!/usr/bin/env bash
# The main job on the built-in toy data, on the CPU: draw the toy faces, train a small CycleGAN
# (A = unmasked -> B = masked), translate the paired test faces both ways.
# Results: checkpoints/toyfaces/web/index.html (training samples) and
#          results/toyfaces/test_latest/index.html (test faces, both directions).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
PY=.venv/bin/python
[ -d datasets/toyfaces/trainA ] || $PY datasets/make_toyfaces.py --out datasets/toyfaces
NAME=${NAME:-toyfaces}
# A small configuration for two CPU cores: 48 px crops, 16 filters, batch size 1 (more steps per minute).
TOY_FLAGS=(--dataroot datasets/toyfaces --name "$NAME" --netG resnet_6blocks --ngf 16 --ndf 16
           --load_size 54 --crop_size 48 --display_id 0)
if [ -f "checkpoints/$NAME/latest_net_G_A.pth" ]; then
    echo "checkpoints/$NAME is already trained: testing it (delete the folder or set NAME=... to retrain)"
else
    $PY train.py "${TOY_FLAGS[@]}" --batch_size 1 --n_epochs 4 --n_epochs_decay 4 --num_threads 1 --seed 0
fi
$PY test.py --dataroot datasets/toyfaces --name "$NAME" --model cycle_gan --num_test 50 --batch_size 16
