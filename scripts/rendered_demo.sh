#!/usr/bin/env bash
# Taking masks off, trained on rendered pairs, on the toy faces at toy_demo.sh's budget (CPU):
# masks rendered onto the toy faces with their true masks, one split for both models, pix2pix
# (BtoA: masked -> unmasked) on the pairs and CycleGAN with attention on the unpaired curation of
# the same faces, both scored by evaluate.py on the same 50 test faces, and a figure.
# docs/rendered_sets.md shows the same recipe on FFHQ. Results:
#   results/<name>/test_latest/metrics.md for each run, results/rendered_demo.png (the figure).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
PY=.venv/bin/python
D=${D:-datasets/toyfaces_rendered}
[ -f datasets/toyfaces/landmarks.json ] || $PY datasets/make_toyfaces.py --out datasets/toyfaces --overwrite
# 400 unmasked toy faces -> masked/CMFD|IMFD, masks/, labels.csv, and paired/ (350 train, 50 test pairs)
$PY datasets/render_masked_faces.py --src datasets/toyfaces/trainA --landmarks datasets/toyfaces/landmarks.json \
    --out "$D" --size 64 --format png --mask_type random --paired --n_test 50
# the unpaired curation of the same faces: the same 50 test faces (same --seed and --n_test), and the
# other 350 split into 175 unmasked and 175 masked faces of different people
$PY datasets/prepare_masked_faces.py --ffhq "$D/unmasked" --maskedfacenet "$D/masked" --masks "$D/masks" \
    --include_imfd --out "$D/unpaired" --n_test 50 --n_train 175 --size 64
# toy_demo.sh's networks and crops; one thread each, the two trainings side by side on two cores.
# Equal CPU time: a pix2pix step costs about a third of a CycleGAN step, so it gets three times the
# steps: 350 pairs x 27 epochs (9,450) against 175 faces x 18 epochs (3,150; toy_demo.sh: 3,200).
COMMON=(--netG resnet_6blocks --ngf 16 --ndf 16 --load_size 54 --crop_size 48 --batch_size 1 --num_threads 1
        --seed 0 --display_id 0)
export OMP_NUM_THREADS=1
train() {  # name, then train.py's flags; a trained run is kept
    local name=$1; shift
    if [ -f "checkpoints/$name/latest_net_G.pth" ] || [ -f "checkpoints/$name/latest_net_G_A.pth" ]; then
        echo "checkpoints/$name is already trained (delete it to retrain)"
    else
        $PY train.py --name "$name" "${COMMON[@]}" "$@"
    fi
}
train rendered_p2p_BtoA --dataroot "$D/paired" --model pix2pix --direction BtoA --n_epochs 14 --n_epochs_decay 13 &
train rendered_cyclegan_attn --dataroot "$D/unpaired" --n_epochs 9 --n_epochs_decay 9 \
    --attention --lambda_identity 0 --lambda_B 2.5 --lambda_attn_mean 0.005 --lambda_attn_tv 0.1 &
wait
$PY test.py --dataroot "$D/paired" --name rendered_p2p_BtoA --model pix2pix --num_test 50 --eval
$PY test.py --dataroot "$D/unpaired" --name rendered_cyclegan_attn --model cycle_gan --num_test 50 --batch_size 16
# both against the same testA/testB/testmask (the unpaired and paired test folders are byte-identical).
# FID needs pytorch-fid's Inception weights, which are yours to download (INCEPTION=FILE); without
# them a random-weights file of the same layout stands in, and the FID columns mean nothing.
if [ -z "${INCEPTION:-}" ]; then
    INCEPTION=results/random_inception.pth
    echo "INCEPTION is not set: FID below uses random Inception weights ($INCEPTION) and means nothing"
    [ -f "$INCEPTION" ] || $PY -c "from util.metrics import inception; inception.make_random_weights('$INCEPTION')"
fi
for name in rendered_p2p_BtoA rendered_cyclegan_attn; do
    $PY scripts/evaluate.py --results_dir "results/$name/test_latest" --dataroot "$D/paired" \
        --inception_weights "$INCEPTION"
done
$PY scripts/results_grid.py results/rendered_cyclegan_attn/test_latest results/rendered_p2p_BtoA/test_latest \
    --labels real_B fake_A attn_A 1:fake_B real_A --titles "masked input" "CycleGAN+attn" "its map" pix2pix truth \
    --rows 8 --out results/rendered_demo.png
