#!/usr/bin/env bash
# Install bubble_abm with its test extras into .venv (Python 3.12; created if missing) and
# Debian's chromium for the browser tests (if missing), then run pytest.
#
#   bash scripts/test.sh                      # the whole suite (.ci/run does this)
#   bash scripts/test.sh tests/test_cli.py -x # arguments go to pytest
#
# Works from any directory. Set BUBBLE_ABM_PYTHON=/path/to/python3.12 to choose the interpreter.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

# The dashboard's browser tests (tests/test_viz_browser.py) drive Debian's chromium with
# Playwright, which cannot download a browser of its own here. Install it if missing (as root,
# or through sudo), and make a missing browser fail those tests instead of skipping them.
if ! command -v chromium >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests ..." >&2
    sudo=""
    if [[ "$(id -u)" != 0 ]] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export BUBBLE_ABM_REQUIRE_BROWSER=1

ensure_venv ".[test]" test
exec .venv/bin/python -m pytest -q "$@"
