#!/usr/bin/env bash
# Debian's Chromium for the survey page's browser tests (tests/test_survey_browser.py), if it is missing.
# Playwright drives this system browser; nothing downloads a browser of its own. Needs root or sudo;
# without either it says so and the browser tests are skipped (CI sets SURVEY_REQUIRE_BROWSER=1 to fail instead).
set -euo pipefail
if [ -x "${SURVEY_CHROMIUM:-/usr/bin/chromium}" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "install_browser.sh: no root or sudo to install Debian's chromium; the browser tests will be skipped" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install_browser.sh: no apt-get here; install Chromium and set SURVEY_CHROMIUM to it, or the browser tests are skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
