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
