#!/usr/bin/env bash
# Install bubble_abm with its test extras into .venv (Python 3.12; created if missing), run pytest.
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

ensure_venv ".[test]" test
exec .venv/bin/python -m pytest -q "$@"
