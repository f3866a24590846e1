#!/usr/bin/env bash
# The main job on the built-in toy data, on the CPU: draw the toy faces, train a small CycleGAN with
# attention maps (A = unmasked -> B = masked), translate the paired test faces both ways.
# Then masks on real photos that Python packages ship, drawn by the renderer (no training).
# Results: checkpoints/toyfaces/web/index.html (training samples),
#          results/toyfaces/test_latest/index.html (test faces, both directions),
#          results/sample_photos_masked/ (the real photos with masks) and results/sample_photos_figure.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
PY=.venv/bin/python
[ -d datasets/toyfaces/trainA ] || $PY datasets/make_toyfaces.py --out datasets/toyfaces
NAME=${NAME:-toyfaces}
# A small configuration for two CPU cores: 48 px crops, 16 filters, batch size 1 (more steps per minute).
# --attention and the loss weights after it are the toy faces' tuned setting (docs/toy_faces.md:
# "Tuning on the toy faces"); PLAIN=1 trains the plain CycleGAN instead.
TOY_FLAGS=(--dataroot datasets/toyfaces --name "$NAME" --netG resnet_6blocks --ngf 16 --ndf 16
           --load_size 54 --crop_size 48 --display_id 0)
[ "${PLAIN:-0}" = 1 ] || TOY_FLAGS+=(--attention --lambda_identity 0 --lambda_B 2.5 --lambda_attn_mean 0.005
                                    --lambda_attn_tv 0.1)
# One thread: these networks gain little from a second one (15% here), and a fixed thread count makes
# the run the same on every machine with this CPU, so you get docs/toy_faces.md's numbers (a GAN's course
# changes with the summation order that the thread count sets).
export OMP_NUM_THREADS=1
if [ -f "checkpoints/$NAME/latest_net_G_A.pth" ]; then
    echo "checkpoints/$NAME is already trained: testing it (delete the folder or set NAME=... to retrain)"
else
    $PY train.py "${TOY_FLAGS[@]}" --batch_size 1 --n_epochs 4 --n_epochs_decay 4 --num_threads 1 --seed 0
fi
$PY test.py --dataroot datasets/toyfaces --name "$NAME" --model cycle_gan --num_test 50 --batch_size 16
# Real photos (scikit-image's astronaut, matplotlib's Grace Hopper), every face masked by the renderer:
# a random type and wear per face, the masks' opacity saved beside them (docs/masks.md).
$PY scripts/mask_figure.py --out results/sample_photos_figure.png --photos_out results/sample_photos
$PY scripts/mask_photos.py --input results/sample_photos --output results/sample_photos_masked \
    --mask_type random --wear random --seed 0 --save_masks --overwrite
echo "toy_demo.sh: done. Look at checkpoints/$NAME/web/index.html (training), results/$NAME/test_latest/index.html"
echo "  (the test faces, both directions), results/sample_photos_masked/ (real photos, every face masked by the"
echo "  renderer) and results/sample_photos_figure.png (every mask type and wear class)."
