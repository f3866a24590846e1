#!/usr/bin/env bash
# Create ./.venv with this repository's requirements (idempotent; pip skips what is there).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
# visdom 0.2.4 (0.3 needs Python >= 3.12) is an sdist whose build needs pkg_resources: an older
# setuptools, and no build isolation so the build sees it.
if ! .venv/bin/python -c "import visdom" 2>/dev/null; then
    .venv/bin/python -m pip install -q --disable-pip-version-check "setuptools<81"
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation visdom==0.2.4
fi
# Faces in photos (scripts/mask_photos.py, identity in evaluate.py): dlib from the prebuilt dlib-bin
# wheel (never built from source here), and dlib's 68-landmark predictor, CNN face detector and face
# descriptor from face_recognition_models, a 100 MB sdist that, like visdom, builds only with an older
# setuptools (it imports pkg_resources, so setuptools<81 stays) and no build isolation.
if ! .venv/bin/python -c "import dlib, face_recognition_models" 2>/dev/null; then
    .venv/bin/python -m pip install -q --disable-pip-version-check "setuptools<81" wheel dlib-bin==20.0.1.post1
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation face_recognition_models==0.3.0
fi
